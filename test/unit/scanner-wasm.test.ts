import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileAssembly } from '../support/assemblyscript.js';

const dir = fileURLToPath(new URL('../../functions/adapters/logs/assembly/', import.meta.url));

describe('the committed WebAssembly scanner', () => {
  it('is exactly what its AssemblyScript source compiles to (run `npm run build:wasm` after editing it)', async () => {
    const { wasm, errors } = await compileAssembly(dir, 'scanner.ts', 'scanner.wasm');
    expect(errors).toBe('');
    expect(wasm).toBeDefined();
    expect(Buffer.from(wasm!).equals(readFileSync(`${dir}scanner.wasm`))).toBe(true);
  });
});
