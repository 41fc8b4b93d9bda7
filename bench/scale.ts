/**
 * `npm run bench:scale`: how evaluation's cost grows with partners, today's whole-row path and the
 * aggregation in SQL side by side in one run, over a month of synthesised rollup rows at the founding
 * case's density (bench/rollup-synthesiser.ts: eight applications a partner, 512 rollup rows a partner
 * and slot, about 2.1 M requests a partner and day).
 *
 *   npm run bench:scale [-- --partners 1,4,10,100] [-- --days 30] [-- --rows-per-slot 512]
 *                       [-- --paths old,new,cold,warm,hot] [-- --old-max-rows 8000000]
 *                       [-- --data-dir bench-data/scale] [-- --markdown]
 *
 * Each state is synthesised once into --data-dir (git-ignored) and reused. Each path runs in its own
 * child process (under `nice`), in the order given, which reports its own figures:
 * - old: `evaluateWindow` over `DuckDbState`'s usage source: `UsageSource.usage` returns every
 *   rollup row of the window into JavaScript, attributed and summed per partner by the domain;
 * - new: the registry's tables written into DuckDB, `partnerDailyUsageSql` and `unattributedUsageSql`
 *   (top 100) run there over the slot rows, and the domain evaluates from the aggregated rows
 *   (aggregated-evaluation.ts);
 * - cold, warm, hot: the same statements over the daily pre-aggregate (daily-rollup.ts), refreshed
 *   first: cold drops the pre-aggregate and builds it whole; warm removes the last batch's daily rows
 *   (as if a night's ingestion had just added that batch) and builds that batch; hot finds nothing to
 *   build. Each includes its refresh in its seconds, and says how much of them it was. Run cold before
 *   warm and hot.
 * Seconds are the evaluation's wall time in the child (opening the state excluded), peak memory the
 * child's peak resident set (VmHWM: V8's heap and DuckDB's native memory alike), rows the rows that
 * crossed from DuckDB into JavaScript. The old path is skipped past --old-max-rows rollup rows (it holds
 * every row as an object; past a few million rows that is several GB). Each path's evaluations are
 * compared with the first path's (a digest of every figure, finding and fee).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { CREATE_DAILY_ROLLUP, DAILY_ROLLUP_TABLES } from '../functions/adapters/duckdb/daily-rollup.js';
import { DuckDbState } from '../functions/adapters/duckdb/index.js';
import {
  DuckDbUsageAggregation,
  prepareDailyRead,
  writeAttributionTables,
} from '../functions/adapters/duckdb/usage-aggregation.js';
import { evaluateDailyUsage, evaluateUnattributedUsage } from '../functions/audit/aggregated-evaluation.js';
import {
  partnerDailyUsageRequest,
  unattributedUsageRequest,
} from '../functions/audit/aggregation-request.js';
import { type AuditWindow, evaluateWindow } from '../functions/audit/evaluate-window.js';
import { addDays } from '../functions/domain/time.js';
import type { UsageSource } from '../functions/ports.js';
import { synthesisedRegistry, synthesiseRollup } from './rollup-synthesiser.js';

const START = '2026-03-01';
const TOP_UNATTRIBUTED = 100;

/**
 * old: whole rows into JavaScript; new: SQL aggregation over the slot rows; cold: the daily
 * pre-aggregate built from nothing, then read; warm: one batch (the last day's) added since the last
 * build, as a night's ingestion leaves it, then read; hot: nothing to build.
 */
type BenchPath = 'old' | 'new' | 'cold' | 'warm' | 'hot';
const PATHS: readonly BenchPath[] = ['old', 'new', 'cold', 'warm', 'hot'];
const LABEL: Record<BenchPath, string> = {
  old: 'old (whole rows)',
  new: 'SQL aggregation, slot rows',
  cold: 'daily pre-aggregate, cold (first build)',
  warm: 'daily pre-aggregate, warm (one new batch)',
  hot: 'daily pre-aggregate, nothing new',
};

interface ChildResult {
  readonly path: BenchPath;
  /** Of `seconds`, the refresh of the daily pre-aggregate (daily paths). */
  readonly refreshSeconds?: number;
  /** Rollup rows the refresh read, and the batch and zone pairs it built. */
  readonly refreshRowsRead?: number;
  readonly refreshBuilt?: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly rowsToJs: number;
  readonly evaluations: number;
  readonly digest: string;
}

/** Every figure of an evaluation, as text, hashed: two paths agree when their digests do. */
function digestOf(value: unknown): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

async function runChild(
  path: BenchPath,
  state: string,
  partners: number,
  days: number,
): Promise<ChildResult> {
  const registry = synthesisedRegistry(partners);
  const window: AuditWindow = { from: START, to: addDays(START, days) };
  const dataEndMs = Date.parse(`${window.to}T00:00:00Z`);
  if (path === 'old') {
    const store = await DuckDbState.open(state);
    let rowsToJs = 0;
    const counting: UsageSource = {
      engine: store.usageSource.engine,
      usage: async (range) => {
        const rows = await store.usageSource.usage(range);
        rowsToJs += rows.length;
        return rows;
      },
    };
    const t0 = performance.now();
    const result = await evaluateWindow({ registry, usage: counting }, { window, dataEndMs });
    const seconds = (performance.now() - t0) / 1000;
    await store.close();
    return {
      path,
      seconds,
      peakRssMb: peakRssMb(),
      rowsToJs,
      evaluations: result.evaluations.length,
      digest: digestOf({ e: result.evaluations, u: result.unattributed, c: result.uncovered }),
    };
  }
  const db = await DuckDBInstance.create(state);
  const connection = await db.connect();
  // Set the state up as the path finds it (not timed): no pre-aggregate, or all but the last batch.
  if (path === 'cold') {
    for (const table of Object.values(DAILY_ROLLUP_TABLES))
      await connection.run(`DROP TABLE IF EXISTS ${table}`);
  }
  if (path === 'warm') {
    for (const statement of CREATE_DAILY_ROLLUP) await connection.run(statement);
    const last = await connection.runAndReadAll(
      'SELECT max(batch) FROM rollup_daily_batches WHERE rollup_rows > 0',
    );
    const batch = last.getRows()[0]?.[0];
    if (batch === null || batch === undefined)
      throw new Error('warm needs a built pre-aggregate: run cold first');
    await connection.run('DELETE FROM rollup_daily WHERE batch = $1', [String(batch)]);
    await connection.run('DELETE FROM rollup_daily_batches WHERE batch = $1', [String(batch)]);
    await connection.run('CHECKPOINT');
  }
  const t0 = performance.now();
  await writeAttributionTables(connection, registry);
  let refresh: { seconds: number; rowsRead: number; built: number } | undefined;
  let engine = new DuckDbUsageAggregation(connection);
  if (path !== 'new') {
    const r0 = performance.now();
    const { refresh: done, ...daily } = await prepareDailyRead(connection, registry);
    refresh = { seconds: (performance.now() - r0) / 1000, rowsRead: done.rowsRead, built: done.built };
    engine = new DuckDbUsageAggregation(connection, undefined, daily);
  }
  const daily = await engine.partnerDailyUsage(
    partnerDailyUsageRequest(registry.partners, window, dataEndMs),
  );
  const request = unattributedUsageRequest(window, TOP_UNATTRIBUTED);
  const strangers = await engine.unattributedUsage(request);
  const evaluated = evaluateDailyUsage(registry, registry.partners, window, daily, dataEndMs);
  const unattributed = evaluateUnattributedUsage(registry, request.range, strangers);
  const seconds = (performance.now() - t0) / 1000;
  connection.closeSync();
  db.closeSync();
  return {
    path,
    ...(refresh && {
      refreshSeconds: refresh.seconds,
      refreshRowsRead: refresh.rowsRead,
      refreshBuilt: refresh.built,
    }),
    seconds,
    peakRssMb: peakRssMb(),
    rowsToJs: daily.length + strangers.length,
    evaluations: evaluated.evaluations.length,
    digest: digestOf({ e: evaluated.evaluations, u: unattributed, c: evaluated.uncovered }),
  };
}

function spawnChild(path: BenchPath, state: string, partners: number, days: number): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  const args = [
    '-n',
    '5',
    process.execPath,
    '--import',
    'tsx',
    self,
    '--child',
    path,
    '--state',
    state,
    '--partners',
    String(partners),
    '--days',
    String(days),
  ];
  return new Promise((resolvePromise, reject) => {
    const child = spawn('nice', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`the ${path} path exited with ${code} (partners ${partners})`));
      else resolvePromise(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      state: { type: 'string' },
      partners: { type: 'string', default: '1,4,10,100' },
      days: { type: 'string', default: '30' },
      'rows-per-slot': { type: 'string', default: '512' },
      'old-max-rows': { type: 'string', default: '8000000' },
      paths: { type: 'string', default: PATHS.join(',') },
      'data-dir': { type: 'string', default: 'bench-data/scale' },
      markdown: { type: 'boolean', default: false },
    },
  });
  const days = Number(values.days);
  if (values.child !== undefined) {
    if (!PATHS.includes(values.child as BenchPath)) throw new Error(`unknown path ${values.child}`);
    const result = await runChild(values.child as BenchPath, values.state!, Number(values.partners), days);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const partnerCounts = values.partners.split(',').map(Number);
  const rowsPerSlot = Number(values['rows-per-slot']);
  const oldMaxRows = Number(values['old-max-rows']);
  const dataDir = resolve(values['data-dir']);
  await mkdir(dataDir, { recursive: true });
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    if (!values.markdown) console.log(line);
  };
  const paths = values.paths.split(',') as BenchPath[];
  for (const p of paths) if (!PATHS.includes(p)) throw new Error(`--paths: unknown path "${p}"`);
  say(
    '| partners | rollup rows | path | seconds | of which refresh | rollup rows read by refresh | peak MB | rows into JS | evaluations | same figures |',
  );
  say('|---:|---:|---|---:|---:|---:|---:|---:|---:|---|');
  for (const partners of partnerCounts) {
    const state = join(dataDir, `scale-${partners}p-${days}d-${rowsPerSlot}.duckdb`);
    const expectedRows = partners * days * 96 * rowsPerSlot;
    if (!existsSync(state)) {
      const t0 = performance.now();
      const made = await synthesiseRollup({ path: state, partners, start: START, days, rowsPerSlot });
      console.error(
        `synthesised ${made.rows.toLocaleString('en-US')} rows for ${partners} partners in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    const results: ChildResult[] = [];
    for (const path of paths) {
      if (path === 'old' && expectedRows > oldMaxRows) {
        say(
          `| ${partners} | ${expectedRows.toLocaleString('en-US')} | ${LABEL.old} | not run: past --old-max-rows | | | | | | |`,
        );
        continue;
      }
      const r = await spawnChild(path, state, partners, days);
      results.push(r);
      const same = results.length > 1 ? (r.digest === results[0]!.digest ? 'yes' : 'NO') : '-';
      const opt = (v: number | undefined, f: (n: number) => string) => (v === undefined ? '' : f(v));
      say(
        `| ${partners} | ${expectedRows.toLocaleString('en-US')} | ${LABEL[r.path]} | ${r.seconds.toFixed(2)} | ${opt(r.refreshSeconds, (n) => n.toFixed(2))} | ${opt(r.refreshRowsRead, (n) => n.toLocaleString('en-US'))} | ${r.peakRssMb} | ${r.rowsToJs.toLocaleString('en-US')} | ${r.evaluations} | ${same} |`,
      );
    }
  }
  if (values.markdown) console.log(lines.join('\n'));
}

await main();
