/**
 * The key-level holdings table's growth over nights at the founding case's density (issue 14: one
 * partner's eight applications, about 2.1 M log lines a day): generated days of logs ingested night by
 * night into one state with holdings on (and, beside it, one with holdings off), measuring after each
 * night the state file's size, the rows of held_rows, held_keys and held_objects (and rollup for
 * scale), and the ingest command's own seconds and its CPU seconds (user + system of every thread). A measurement, not a test; BENCHMARKS.md extrapolates
 * to 30 nights from what it prints.
 *
 *   tsx bench/holdings-month.ts [--nights 4] [--requests-per-day 2000000] [--partners 4]
 *     [--apps-per-partner 2] [--data bench-data/holdings-month] [--build .]
 *
 * The generator gives a partner at most five applications, so the founding case's eight applications
 * are four partners of two by default (the table's rows are per requester and object: which partner an
 * application belongs to does not change them). The days are generated once (simple layout, one set
 * of log objects per delivery hour) and a night is the log objects S3 delivered on that UTC date, as
 * the nightly run reads them. `--build` is the package folder whose built CLI ingests (`npm run build`).
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateDataset } from '../functions/cli/generate/generator.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const nights = Number(arg('nights', '4'));
const requestsPerDay = Number(arg('requests-per-day', '2000000'));
const partners = Number(arg('partners', '4'));
const appsPerPartner = Number(arg('apps-per-partner', '2'));
const dataDir = resolve(arg('data', 'bench-data/holdings-month'));
const build = resolve(arg('build', '.'));

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Runs the built CLI's ingest under /usr/bin/time; its JSON summary and its CPU seconds (user + system). */
async function ingest(
  logs: string,
  registry: string,
  db: string,
): Promise<{ seconds: number; lines: number; cpu: number }> {
  const child = spawn(
    '/usr/bin/time',
    [
      '-f',
      'CPU %U %S',
      'node',
      join(build, 'bin/partner-audit.mjs'),
      'ingest',
      '--logs',
      logs,
      '--registry',
      registry,
      '--db',
      db,
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`ingest ${logs} exited with ${code}: ${stderr.slice(-500)}`);
  const times = /^CPU ([\d.]+) ([\d.]+)$/m.exec(stderr);
  if (times === null) throw new Error(`/usr/bin/time printed no CPU line: ${stderr.slice(-500)}`);
  const summary = JSON.parse(stdout) as { seconds: number; lines: number };
  return { ...summary, cpu: Number(times[1]) + Number(times[2]) };
}

/** Rows of the holdings tables and the rollup in a state file (opened read-only after the ingest closed it). */
async function counts(db: string): Promise<Record<string, number>> {
  const instance = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  const out: Record<string, number> = {};
  for (const table of ['held_rows', 'held_keys', 'held_objects', 'rollup']) {
    const rows = (await connection.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows();
    out[table] = Number(rows[0]![0]);
  }
  connection.closeSync();
  instance.closeSync();
  return out;
}

async function bytesOf(db: string): Promise<number> {
  let total = 0;
  for (const f of [db, `${db}.wal`]) {
    try {
      total += (await stat(f)).size;
    } catch {
      // No WAL: the ingest checkpointed at close.
    }
  }
  return total;
}

async function main(): Promise<void> {
  const marker = join(dataDir, 'made.json');
  const want = { nights, requestsPerDay, partners, appsPerPartner, version: 1 };
  let made = false;
  try {
    made = JSON.stringify(JSON.parse(await readFile(marker, 'utf8'))) === JSON.stringify(want);
  } catch {
    // Not made yet.
  }
  if (!made) {
    await rm(dataDir, { recursive: true, force: true });
    const started = performance.now();
    const summary = await generateDataset({
      outDir: dataDir,
      start: '2026-11-02',
      days: nights,
      seed: 42,
      partners,
      appsPerPartner,
      requestsPerDay,
      layout: 'simple',
      // Limits sized for the days written: `month` would simulate the rest of the month's traffic too.
      limits: 'data',
    });
    console.log(
      `generated ${summary.lines} lines in ${summary.files} files (${(summary.bytes / 2 ** 20).toFixed(0)} MiB) ` +
        `in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    const text = await readFile(summary.registryPath, 'utf8');
    if (!/^settings:\n/m.test(text)) throw new Error(`${summary.registryPath}: no settings: block`);
    await writeFile(
      join(dataDir, 'registry-holdings.yaml'),
      text.replace(/^settings:\n/m, 'settings:\n  holdings: true\n'),
    );
    await writeFile(marker, JSON.stringify(want));
  }
  // A night: the log objects delivered on one UTC date (simple layout: the name starts with it).
  const logs = join(dataDir, 'logs', 'simple');
  const byDate = new Map<string, string[]>();
  for (const name of (await readdir(logs)).sort()) {
    const date = name.slice(0, 10);
    byDate.set(date, [...(byDate.get(date) ?? []), name]);
  }
  const nightsDir = join(dataDir, 'nights');
  await rm(nightsDir, { recursive: true, force: true });
  const states = join(dataDir, 'states');
  await rm(states, { recursive: true, force: true });
  await mkdir(states, { recursive: true });
  const on = join(states, 'on.duckdb');
  const off = join(states, 'off.duckdb');
  console.log(`load average before: ${load()}`);
  console.log(
    '| night (delivery date) | lines | on: s (CPU s) | off: s (CPU s) | on: MiB | off: MiB | held_rows | held_keys | held_objects | rollup | load |',
  );
  let n = 0;
  for (const [date, names] of byDate) {
    n++;
    const dir = join(nightsDir, date);
    await mkdir(dir, { recursive: true });
    for (const name of names) await symlink(join(logs, name), join(dir, name));
    const a = await ingest(dir, join(dataDir, 'registry-holdings.yaml'), on);
    const b = await ingest(dir, join(dataDir, 'registry.yaml'), off);
    const c = await counts(on);
    console.log(
      `| ${n} (${date}) | ${a.lines} | ${a.seconds.toFixed(2)} (${a.cpu.toFixed(2)}) | ` +
        `${b.seconds.toFixed(2)} (${b.cpu.toFixed(2)}) | ` +
        `${((await bytesOf(on)) / 2 ** 20).toFixed(1)} | ${((await bytesOf(off)) / 2 ** 20).toFixed(1)} | ` +
        `${c.held_rows} | ${c.held_keys} | ${c.held_objects} | ${c.rollup} | ${load()} |`,
    );
  }
  console.log(`load average after: ${load()}`);
}

await main();
