/**
 * Ingestion before and after the network table (issue 14: it may cost ingestion at most 10 %), side by
 * side: two builds of the CLI (`--old <package folder>`, `--new <package folder>`, each built by `npm run
 * build`) ingest the same night into fresh state files, runs alternated (old, new, old, ...) so that a
 * busy machine weighs on both alike. The night: `--lines` generated lines (default 1 M) as one file, and
 * the same lines cut into log objects of `--per-object` lines (default 200), as S3 delivers them.
 *
 *   tsx bench/network-compare.ts --old /path/to/main --new . [--lines 1000000] [--per-object 200] [--runs 3]
 *                                [--only file|objects|both]
 *
 * Prints every run (the ingest command's own `seconds` and the wall time) with the load average, then
 * the medians and minimums. No assertion: a timing is a measurement, not a test.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDataset } from '../functions/cli/generate/generator.js';
import { splitLogFile } from './split-logs.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const roots = { old: resolve(option('old', '.')), new: resolve(option('new', '.')) };
const lines = Number(option('lines', '1000000'));
const perObject = Number(option('per-object', '200'));
const runs = Number(option('runs', '3'));
const dataDir = resolve(option('data', 'bench-data/network-compare'));
/** `file`, `objects` or `both` (default): which shape of the night to ingest. */
const only = option('only', 'both');

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Runs `node args` to its end: wall seconds and stdout. */
async function run(args: readonly string[]): Promise<{ seconds: number; stdout: string }> {
  const started = performance.now();
  const child = spawn('node', [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code}: ${stderr.slice(-500)}`);
  return { seconds: (performance.now() - started) / 1000, stdout };
}

/** The generated night (made once, reused): one file, a folder of objects, and its registry. */
async function night(): Promise<{ plain: string; objects: string; registry: string }> {
  const setDir = join(dataDir, String(lines));
  const simple = join(setDir, 'logs', 'simple');
  let names: string[] = [];
  try {
    names = await readdir(simple);
  } catch {
    // Not generated yet.
  }
  if (names.length === 0) {
    await rm(setDir, { recursive: true, force: true });
    await generateDataset({ outDir: setDir, start: '2026-11-01', days: 1, seed: 42, singleFile: { lines } });
    names = await readdir(simple);
  }
  const plain = join(simple, names[0]!);
  const objects = join(setDir, `objects-${perObject}`);
  let made = 0;
  try {
    made = (await readdir(objects)).length;
  } catch {
    // Not cut yet.
  }
  if (made === 0) {
    await mkdir(objects, { recursive: true });
    await splitLogFile(plain, objects, { lines: perObject, layout: 'simple' });
  }
  return { plain, objects, registry: join(setDir, 'registry.yaml') };
}

async function main(): Promise<void> {
  const { plain, objects, registry } = await night();
  const states = join(tmpdir(), `network-compare-${process.pid}`);
  await mkdir(states, { recursive: true });
  console.log(`old ${roots.old}, new ${roots.new}; load average before: ${load()}`);
  const inputs = [
    { shape: 'file', name: `${lines} lines, one file`, logs: plain },
    { shape: 'objects', name: `${lines} lines, objects of ${perObject}`, logs: objects },
  ];
  for (const input of inputs.filter((i) => only === 'both' || i.shape === only)) {
    const seconds = { old: [] as number[], new: [] as number[] };
    for (let r = 0; r < runs; r++) {
      for (const which of ['old', 'new'] as const) {
        const db = join(states, `${which}-${r}.duckdb`);
        await rm(db, { force: true });
        const m = await run([
          join(roots[which], 'bin/partner-audit.mjs'),
          'ingest',
          '--logs',
          input.logs,
          '--registry',
          registry,
          '--db',
          db,
          '--json',
        ]);
        const out = JSON.parse(m.stdout) as { seconds: number; lines: number };
        seconds[which].push(out.seconds);
        console.log(
          `${input.name}: ${which} run ${r + 1}: ${out.seconds.toFixed(2)} s in-process, ${m.seconds.toFixed(2)} s wall, ` +
            `${out.lines} lines, load ${load()}`,
        );
        await rm(db, { force: true });
        await rm(`${db}.wal`, { force: true });
      }
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const change = (o: number, n: number) => `${((n / o - 1) * 100).toFixed(1)} %`;
    const [mo, mn] = [median(seconds.old), median(seconds.new)];
    const [lo, ln] = [Math.min(...seconds.old), Math.min(...seconds.new)];
    console.log(
      `${input.name}: median old ${mo.toFixed(2)} s, new ${mn.toFixed(2)} s (${change(mo, mn)}); ` +
        `minimum old ${lo.toFixed(2)} s, new ${ln.toFixed(2)} s (${change(lo, ln)})`,
    );
  }
  console.log(`load average after: ${load()}`);
  await rm(states, { recursive: true, force: true });
}

await main();
