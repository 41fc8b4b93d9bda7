/**
 * The command line's entry points: main() reaches every command (each is imported only when it runs),
 * and the package bin runs the CLI from any folder, commands, exit codes and worker threads included,
 * from a bundle of the sources cached by their hash.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cachedBundle } from '../../functions/adapters/logs/bundle-cache.mjs';
import { UsageError } from '../../functions/cli/args.js';
import { main } from '../../functions/cli/main.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/partner-audit.mjs');
const FIXTURES = join(ROOT, 'test/fixtures/logs');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-main-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('main', () => {
  it.each(['audit', 'ingest', 'generate', 'demo', 'report', 'verify'])(
    'hands %s its arguments: the command itself refuses an unknown option',
    async (command) => {
      const run = main([command, '--no-such-option']);
      await expect(run).rejects.toBeInstanceOf(UsageError);
      await expect(run).rejects.toThrow(new RegExp(`^${command}: Unknown option '--no-such-option'`));
    },
  );

  it.each([[['help']], [['--help']], [['-h']], [[]]])('prints the usage for %j', async (argv) => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(argv)).toBe(0);
      const text = write.mock.calls.map((c) => String(c[0])).join('');
      for (const command of ['audit', 'ingest', 'generate', 'demo', 'report', 'verify', 'help']) {
        expect(text).toContain(`partner-audit ${command}`);
      }
    } finally {
      write.mockRestore();
    }
  });

  it('refuses an unknown command, naming the commands', async () => {
    await expect(main(['frobnicate'])).rejects.toThrow(
      'unknown command "frobnicate" (commands: audit, ingest, generate, demo, report, verify, help)',
    );
  });
});

interface BinResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the package bin as npx would, from a folder outside the package. */
function runBin(args: readonly string[]): Promise<BinResult> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

describe('bin/partner-audit.mjs', () => {
  it('prints the usage from another folder', async () => {
    const r = await runBin(['help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain('Usage:');
  });

  it('ingests logs on worker threads and reports them as JSON', async () => {
    const r = await runBin([
      'ingest',
      '--logs',
      join(FIXTURES, 'simple-sample.log'),
      '--logs',
      join(FIXTURES, 'partitioned-sample.log'),
      '--registry',
      join(ROOT, 'examples/registry.yaml'),
      '--db',
      join(dir, 'state.duckdb'),
      '--workers',
      '2',
      '--json',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ files: 2, filesSkipped: 0, lines: 14, parsedLines: 14 });
  });

  it('exits 2 for a registry with problems, naming them, before opening the state', async () => {
    const registry = join(dir, 'bad-registry.yaml');
    await writeFile(registry, 'version: 2\n');
    const db = join(dir, 'never.duckdb');
    const r = await runBin(['ingest', '--logs', FIXTURES, '--registry', registry, '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^partner-audit: [^\n]*bad-registry\.yaml: \d+ problems? in the partner registry:\n {2}version:/,
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(db)).toBe(false);
  });

  it('exits 2 with one line for an unknown command', async () => {
    const r = await runBin(['frobnicate']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^partner-audit: unknown command "frobnicate"[^\n]*\n$/);
  });
});

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
