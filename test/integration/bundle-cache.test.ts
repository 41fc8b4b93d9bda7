/**
 * The bundle cache that the ingest pool uses when it runs from the TypeScript sources (vitest, tsx): a
 * bundle is reused while its sources are unchanged, and npm packages are bundled except native ones.
 * (The package bin runs the build instead: test/integration/cli-main.test.ts.)
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedBundle } from '../../functions/adapters/logs/bundle-cache.mjs';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bundle-cache-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('cachedBundle', () => {
  it('reuses the bundle of unchanged sources and makes a new one when a source changes', async () => {
    const project = join(dir, 'bundled');
    await mkdir(join(project, 'node_modules'), { recursive: true });
    const entry = join(project, 'src/entry.ts');
    await mkdir(dirname(entry), { recursive: true });
    await writeFile(entry, "export { answer, where } from './dep.js';\n");
    await writeFile(
      join(project, 'src/dep.ts'),
      'export const answer: number = 1;\nexport const where = import.meta.url;\n',
    );

    const first = await cachedBundle(entry);
    expect(first).toMatch(/node_modules\/\.cache\/partner-audit\/entry-[0-9a-f]{16}\/entry\.mjs$/);
    expect(await cachedBundle(entry)).toBe(first);
    const loaded = await import(pathToFileURL(first!).href);
    // Each module keeps its own URL: a file next to a source is found as it is unbundled.
    expect(loaded).toMatchObject({ answer: 1, where: pathToFileURL(join(project, 'src/dep.ts')).href });

    await writeFile(
      join(project, 'src/dep.ts'),
      'export const answer: number = 2;\nexport const where = 0;\n',
    );
    const second = await cachedBundle(entry);
    expect(second).not.toBe(first);
    expect(await import(pathToFileURL(second!).href)).toMatchObject({ answer: 2 });
  });

  it('bundles npm packages (by their version) but leaves the native ones to node_modules', async () => {
    const project = join(dir, 'with-packages');
    const modules = join(project, 'node_modules');
    const pkg = async (name: string, version: string, code: string) => {
      await mkdir(join(modules, name), { recursive: true });
      await writeFile(
        join(modules, name, 'package.json'),
        JSON.stringify({ name, version, main: 'index.js' }),
      );
      await writeFile(join(modules, name, 'index.js'), code);
    };
    // CommonJS requiring a Node module: the ES module bundle must give it a working `require`.
    await pkg('plain-pkg', '1.0.0', "exports.sep = require('node:path').sep;\nexports.tag = 'first';\n");
    await pkg('@duckdb/node-bindings', '1.0.0', "exports.native = 'from node_modules';\n");
    const entry = join(project, 'src/entry.ts');
    await mkdir(dirname(entry), { recursive: true });
    await writeFile(
      entry,
      "import { sep, tag } from 'plain-pkg';\nimport { native } from '@duckdb/node-bindings';\nexport { sep, tag, native };\n",
    );

    const first = await cachedBundle(entry);
    expect(first).toBeDefined();
    const text = await readFile(first!, 'utf8');
    expect(text).toMatch(/tag = ["']first["']/);
    expect(text).not.toContain('from node_modules');
    expect(await import(pathToFileURL(first!).href)).toMatchObject({
      sep: '/',
      tag: 'first',
      native: 'from node_modules',
    });

    // A package counts by its package.json: the same version is the same bundle, a new one a new bundle.
    await writeFile(join(modules, 'plain-pkg', 'index.js'), "exports.sep = '?';\nexports.tag = 'second';\n");
    expect(await cachedBundle(entry)).toBe(first);
    await pkg('plain-pkg', '1.0.1', "exports.sep = '?';\nexports.tag = 'second';\n");
    const second = await cachedBundle(entry);
    expect(second).not.toBe(first);
    expect(await import(pathToFileURL(second!).href)).toMatchObject({ tag: 'second' });
  });
});
