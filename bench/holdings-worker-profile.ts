/**
 * The worker's side of holdings, on one thread: the night's one file read through the scanner
 * (LogAggregator, as a worker reads it: rows out every 65,536 rows and at the end) with holdings off and
 * on, runs alternated, timing the scan (scanBlock and the JavaScript that reads rows and line records
 * out) apart from the builder's `take` (the batch as it leaves the worker). A measurement, not a test.
 *
 *   tsx bench/holdings-worker-profile.ts [--data bench-data/holdings-compare] [--lines 1000000] [--runs 5]
 *     [--no-manifest]
 *
 * The night's manifest is used as the ingest command uses it (the generated registry names it), so a
 * whole-object GET looks its object up off as well as on; `--no-manifest` leaves it out.
 *
 * Uses the night bench/holdings-compare.ts generates (run it once first).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { RowBatchBuilder } from '../functions/adapters/logs/index.js';
import { LogAggregator } from '../functions/adapters/logs/log-aggregator.js';
import { AreaLines } from '../functions/adapters/logs/log-reader.js';
import { parseManifest } from '../functions/adapters/logs/manifest.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const dataDir = resolve(arg('data', 'bench-data/holdings-compare'));
const lines = arg('lines', '1000000');
const runs = Number(arg('runs', '5'));
const simple = join(dataDir, lines, 'logs', 'simple');
const text = readFileSync(join(simple, readdirSync(simple)[0]!));
/** The night's manifest, as the ingest command reads it from the registry (`--no-manifest`: none). */
const manifestPath = join(dataDir, lines, 'manifest.csv');
const manifest = process.argv.includes('--no-manifest')
  ? undefined
  : parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
/** The worker's send thresholds (ingest-task.ts DEFAULT_SEND_ROWS, DEFAULT_SEND_LINES). */
const SEND_ROWS = 32_768;
const SEND_LINES = 262_144;

function once(holdings: boolean): { scan: number; take: number; held: number; lines: number } {
  const builder = new RowBatchBuilder();
  const aggregator = new LogAggregator(
    { datasetDepth: 2, sampleLimit: 5, manifest },
    builder,
    holdings ? builder.held : undefined,
  );
  aggregator.newRefSpace();
  aggregator.begin(0);
  const area = new AreaLines(aggregator, 64 * 1024);
  let take = 0;
  let held = 0;
  let lineCount = 0;
  const send = () => {
    const t = performance.now();
    const batch = builder.take();
    take += performance.now() - t;
    held += batch.holdings?.count ?? 0;
    lineCount += batch.lines.count;
  };
  const started = performance.now();
  const CHUNK = 1 << 20;
  for (let p = 0; p < text.length; p += CHUNK) {
    area.push(text.subarray(p, Math.min(text.length, p + CHUNK)));
    if (builder.count >= SEND_ROWS || builder.lineCount >= SEND_LINES || builder.held.count >= SEND_ROWS)
      send();
  }
  area.finish();
  aggregator.finish();
  send();
  const total = performance.now() - started;
  return { scan: total - take, take, held, lines: lineCount };
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`load average before: ${load()}`);
const results: Record<'off' | 'on', { scan: number[]; take: number[] }> = {
  off: { scan: [], take: [] },
  on: { scan: [], take: [] },
};
const modes = (process.env.ONLY ? [process.env.ONLY] : ['off', 'on']) as ('off' | 'on')[];
// A first run of each mode, not counted: the engine compiles the hot paths.
for (const mode of modes) once(mode === 'on');
for (let r = 0; r < runs; r++) {
  for (const mode of modes) {
    const m = once(mode === 'on');
    results[mode].scan.push(m.scan);
    results[mode].take.push(m.take);
    console.log(
      `${mode} run ${r + 1}: scan ${m.scan.toFixed(0)} ms, take ${m.take.toFixed(0)} ms, ` +
        `${m.lines} line records, ${m.held} holdings rows, load ${load()}`,
    );
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
for (const mode of modes) {
  const r = results[mode];
  console.log(
    `${mode}: scan median ${med(r.scan).toFixed(0)} ms, minimum ${Math.min(...r.scan).toFixed(0)} ms; ` +
      `take median ${med(r.take).toFixed(0)} ms`,
  );
}
console.log(`load average after: ${load()}`);
