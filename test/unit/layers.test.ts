import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** Every module specifier imported (or re-exported) by the .ts files of a folder of functions/. */
function importsOf(folder: string): { file: string; from: string }[] {
  const dir = join(ROOT, 'functions', folder);
  const out: { file: string; from: string }[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.tsx?$/.test(f))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)) {
      out.push({ file, from: m[1]! });
    }
  }
  return out;
}

describe('the layers', () => {
  it('functions/domain imports nothing that renders HTML, lays out text or composes MIME', () => {
    const imports = importsOf('domain');
    expect(imports.length).toBeGreaterThan(10);
    const outward = imports.filter(
      (i) => /^\.\.\/(?!ports\.js$)/.test(i.from) || /nodemailer|preact|mime|html/i.test(i.from),
    );
    expect(outward).toEqual([]);
  });

  it('functions/render reads the domain and no adapter, handler, CLI or use case', () => {
    const imports = importsOf('render');
    expect(imports.some((i) => i.from.startsWith('../domain/'))).toBe(true);
    const wrong = imports.filter((i) => /^\.\.\/(adapters|handlers|cli|audit)\//.test(i.from));
    expect(wrong).toEqual([]);
  });
});
