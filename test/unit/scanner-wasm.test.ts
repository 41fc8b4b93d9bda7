import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The part of the AssemblyScript compiler's API this test uses. Its own type declarations are not
 * imported: they declare the AssemblyScript standard library globally (a `console` without `error`).
 */
interface AscApi {
  main(
    argv: string[],
    options: {
      writeFile(name: string, contents: Uint8Array | string): void;
      stderr: { write(text: string | Uint8Array): void };
    },
  ): Promise<{ error?: Error | null }>;
}
const ASC_MODULE = 'assemblyscript/asc';

const dir = fileURLToPath(new URL('../../functions/adapters/logs/assembly/', import.meta.url));

describe('the committed WebAssembly scanner', () => {
  it('is exactly what its AssemblyScript source compiles to (run `npm run build:wasm` after editing it)', async () => {
    const written = new Map<string, Uint8Array>();
    const errors: string[] = [];
    const asc = ((await import(ASC_MODULE)) as { default: AscApi }).default;
    const result = await asc.main(
      [`${dir}scanner.ts`, '--config', `${dir}asconfig.json`, '--target', 'release'],
      {
        writeFile: (name, contents) => {
          written.set(name, typeof contents === 'string' ? Buffer.from(contents) : contents);
        },
        stderr: { write: (text: string | Uint8Array) => errors.push(String(text)) },
      },
    );
    expect(result.error ?? errors.join('')).toBeFalsy();
    const compiled = [...written.entries()].find(([name]) => name.endsWith('scanner.wasm'))?.[1];
    expect(compiled).toBeDefined();
    const committed = readFileSync(`${dir}scanner.wasm`);
    expect(Buffer.from(compiled!).equals(committed)).toBe(true);
  });
});
