/**
 * The command line's entry points: main() reaches every command (each is imported only when it runs),
 * and the package bin runs the CLI from any folder, commands, exit codes and worker threads included,
 * from the build (`npm run build`, scripts/build.mjs), made here from the current sources.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../functions/cli/args.js';
import { main } from '../../functions/cli/main.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/partner-audit.mjs');
const FIXTURES = join(ROOT, 'test/fixtures/logs');

const BUILD = join(ROOT, 'build');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-main-'));
  // As `npm run build` (and `npm ci`, through `prepare`) makes it.
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
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
      'unknown command "frobnicate" (commands: audit, ingest, generate, demo, holdings, report, verify, help)',
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

  it('audits from the build, stating the code version of package.json in the report', async () => {
    const out = join(dir, 'audit');
    const r = await runBin([
      'audit',
      '--logs',
      join(FIXTURES, 'simple-sample.log'),
      '--registry',
      join(ROOT, 'examples/registry.yaml'),
      '--out',
      out,
      '--dry-run',
      '--quiet',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as { holdings: unknown };
    expect(report).toMatchObject({ codeVersion: version, dryRun: true });
    // The example registry keeps no holdings: no section, no holdings.csv in the run's bundle.
    expect(report.holdings).toBeNull();
    const runId = (await readFile(join(out, 'LATEST_RUN'), 'utf8')).trim();
    expect(existsSync(join(out, 'runs', runId, 'usage.csv'))).toBe(true);
    expect(existsSync(join(out, 'runs', runId, 'holdings.csv'))).toBe(false);
    expect(await readFile(join(out, 'report.html'), 'utf8')).not.toContain('class="holdings"');
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

  it('exits 2 for holdings of a state ingested without them, saying to set settings.holdings', async () => {
    // examples/registry.yaml keeps no holdings (settings.holdings is off by default).
    const db = join(dir, 'no-holdings.duckdb');
    const registry = join(ROOT, 'examples/registry.yaml');
    const logs = ['--logs', join(FIXTURES, 'simple-sample.log')];
    const ingest = await runBin(['ingest', ...logs, '--registry', registry, '--db', db, '--json']);
    expect(ingest).toMatchObject({ code: 0, stderr: '' });
    const r = await runBin([
      'holdings',
      '--partner',
      'acme-analytics',
      '--from',
      '2026-03-01',
      '--to',
      '2026-04-01',
      '--registry',
      registry,
      '--db',
      db,
    ]);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(
      /^partner-audit: holdings: --db [^\n]*no-holdings\.duckdb keeps no holdings: set `settings\.holdings: true` in the registry and run ingest[^\n]*\n$/,
    );
  });

  it('exits 2 with one line for an unknown command', async () => {
    const r = await runBin(['frobnicate']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^partner-audit: unknown command "frobnicate"[^\n]*\n$/);
  });
});

interface Metafile {
  readonly inputs: Record<string, unknown>;
  readonly outputs: Record<
    string,
    { readonly entryPoint?: string; readonly imports: readonly { path: string; external?: boolean }[] }
  >;
}

describe('the build (npm run build)', () => {
  const meta = async () => JSON.parse(await readFile(join(BUILD, 'meta.json'), 'utf8')) as Metafile;

  it('writes the CLI and its ingest worker side by side, with the scanner where the pool looks', async () => {
    const outputs = Object.entries((await meta()).outputs);
    const entries = outputs
      .filter(([path, o]) => o.entryPoint !== undefined && !path.startsWith('build/cli/chunk-'))
      .map(([path, o]) => [path, o.entryPoint]);
    expect(entries.sort()).toEqual([
      ['build/cli/ingest-worker.js', 'functions/adapters/logs/ingest-worker.ts'],
      ['build/cli/main.js', 'functions/cli/main.ts'],
    ]);
    // One folder: the pool finds `./ingest-worker.js` and `./assembly/scanner.wasm` from any chunk, and
    // the claims `./assembly/identities.wasm`.
    expect(outputs.every(([path]) => /^build\/cli\/[^/]+\.js$/.test(path))).toBe(true);
    expect(existsSync(join(BUILD, 'cli/assembly/scanner.wasm'))).toBe(true);
    expect(existsSync(join(BUILD, 'cli/assembly/identities.wasm'))).toBe(true);
  });

  it('bundles npm packages but leaves the native DuckDB binding to node_modules', async () => {
    const { inputs, outputs } = await meta();
    const paths = Object.keys(inputs);
    expect(paths.some((p) => p.startsWith('node_modules/@duckdb/node-api/'))).toBe(true);
    expect(paths.some((p) => p.startsWith('node_modules/zod/'))).toBe(true);
    // Of zod's message locales, English alone (scripts/build.mjs), the one the CLI prints.
    expect(paths.filter((p) => /node_modules\/zod\/v4\/locales\/(?!en\.js$)/.test(p))).toEqual([]);
    expect(paths).toContain('node_modules/zod/v4/locales/en.js');
    expect(paths.filter((p) => p.includes('node_modules/@duckdb/node-bindings'))).toEqual([]);
    const external = new Set(
      Object.values(outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)),
    );
    expect(external.has('@duckdb/node-bindings')).toBe(true);
    expect([...external].filter((p) => !isBuiltin(p) && p !== '@duckdb/node-bindings')).toEqual([]);
  });

  it('bundles nothing at run time: neither the bundle cache nor esbuild nor tsx is in it', async () => {
    const paths = Object.keys((await meta()).inputs);
    expect(
      paths.filter((p) => /^functions\/adapters\/logs\/bundle-cache|node_modules\/(esbuild|tsx)\//.test(p)),
    ).toEqual([]);
    for (const file of await readdir(join(BUILD, 'cli'))) {
      if (!file.endsWith('.js')) continue;
      expect(await readFile(join(BUILD, 'cli', file), 'utf8')).not.toMatch(
        /from ["']esbuild["']|["']tsx["']/,
      );
    }
  });
});
