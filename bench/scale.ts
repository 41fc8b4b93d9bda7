/**
 * `npm run bench:scale`: how evaluation's cost grows with partners, today's whole-row path and the
 * aggregation in SQL side by side in one run, over a month of synthesised rollup rows at the founding
 * case's density (bench/rollup-synthesiser.ts: eight applications a partner, 512 rollup rows a partner
 * and slot, about 2.1 M requests a partner and day).
 *
 *   npm run bench:scale [-- --partners 1,4,10,100] [-- --days 30] [-- --rows-per-slot 512]
 *                       [-- --paths old,new,build,daily,cold,warm,hot,hotwhole] [-- --old-max-rows 8000000]
 *                       [-- --compact] [-- --daily-memory 512MB] [-- --data-dir bench-data/scale]
 *                       [-- --markdown]
 *
 * Each state is synthesised once into --data-dir (git-ignored) and reused. Each path runs in its own
 * child process (under `nice`), in the order given, which reports its own figures:
 * - old: `evaluateWindow` over `DuckDbState`'s usage source: `UsageSource.usage` returns every
 *   rollup row of the window into JavaScript, attributed and summed per partner by the domain;
 * - new: the registry's tables written into DuckDB, `partnerDailyUsageSql` and `unattributedUsageSql`
 *   (top 100) run there over the slot rows, and the domain evaluates from the aggregated rows
 *   (aggregated-evaluation.ts);
 * - daily: the same statements over the daily pre-aggregate (daily-rollup.ts), attributing at read
 *   time (the previous branch's path), after its refresh;
 * - build, cold, warm, hot: the statements over the attributed caches of the registry's digest
 *   (attributed-daily.ts) beside the pre-aggregate, refreshed first: build drops the pre-aggregate and
 *   the caches and builds both from the slot rows (a state's first evaluation); cold drops the caches
 *   only (a registry never seen: every pair attributed, every batch counted from the daily rows); warm
 *   removes the last batch from the pre-aggregate and the caches, and the pairs only it holds (the
 *   state a night's ingestion leaves: one new batch), then builds that batch; hot finds nothing to
 *   build. Each includes its refreshes in its seconds, and says how much of them they were. Run build
 *   (or daily) before the others on a new state. These paths hand the counted rows to the evaluation
 *   partner by partner, streamed out of DuckDB (`eachPartnerDailyUsage`); hotwhole is hot reading
 *   them whole into JavaScript first (main before issue 13's memory step), for comparison.
 * --compact synthesises the days before the last one a row per key and segment (rollup-synthesiser.ts
 * `fullDaysFrom`: the same daily rows and figures, 16 times fewer slot rows for those days), into its
 * own state file; the last day, the warm path's batch, is slot by slot.
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
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  ATTRIBUTED_DAILY_TABLES,
  attributedCache,
  attributedDigest,
  CREATE_ATTRIBUTED_DAILY,
  refreshAttributedDaily,
} from '../functions/adapters/duckdb/attributed-daily.js';
import { CREATE_DAILY_ROLLUP, DAILY_ROLLUP_TABLES } from '../functions/adapters/duckdb/daily-rollup.js';
import { DuckDbState } from '../functions/adapters/duckdb/index.js';
import {
  memoryLimitSetting,
  stateMemoryLimit,
  withLoweredMemoryLimit,
} from '../functions/adapters/duckdb/memory-limit.js';
import {
  DuckDbUsageAggregation,
  LOCAL_AGGREGATION_TABLES,
  prepareDailyRead,
  READ_MEMORY_LIMIT,
  writeAttributionTables,
} from '../functions/adapters/duckdb/usage-aggregation.js';
import {
  evaluateDailyUsage,
  evaluateDailyUsageByPartner,
  evaluateUnattributedUsage,
} from '../functions/audit/aggregated-evaluation.js';
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

/** See the file's comment. */
type BenchPath = 'old' | 'new' | 'daily' | 'build' | 'cold' | 'warm' | 'hot' | 'hotwhole';
const PATHS: readonly BenchPath[] = ['old', 'new', 'build', 'daily', 'cold', 'warm', 'hot', 'hotwhole'];
const LABEL: Record<BenchPath, string> = {
  old: 'old (whole rows)',
  new: 'SQL over slot rows',
  daily: 'SQL over daily rows, attributed at read',
  build: 'cached, first build (pre-aggregate too)',
  cold: 'cached, cold (registry new)',
  warm: 'cached, warm (one new batch)',
  hot: 'cached, hot (nothing new)',
  hotwhole: 'cached, hot, counted rows read whole (main)',
};

interface ChildResult {
  readonly path: BenchPath;
  /** Of `seconds`, the refresh of the daily pre-aggregate (daily paths). */
  readonly refreshSeconds?: number;
  /** Rollup rows the refresh read, and the batch and zone pairs it built. */
  readonly refreshRowsRead?: number;
  readonly refreshBuilt?: number;
  /** Of `refreshSeconds`, the attributed caches' refresh; the pairs it attributed and batches it counted. */
  readonly cacheSeconds?: number;
  readonly pairsAttributed?: number;
  readonly batchesCounted?: number;
  /** One-minute load average at the child's start and end. */
  readonly load: readonly [number, number];
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
  dailyMemory: string | undefined,
): Promise<ChildResult> {
  const load0 = loadavg()[0]!;
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
      load: [load0, loadavg()[0]!],
      seconds,
      peakRssMb: peakRssMb(),
      rowsToJs,
      evaluations: result.evaluations.length,
      digest: digestOf({ e: result.evaluations, u: result.unattributed, c: result.uncovered }),
    };
  }
  // Opened as DuckDbDatabase opens a state (memory-limit.ts), so the refresh can set the limit back.
  const databaseMemoryLimit = stateMemoryLimit();
  const db = await DuckDBInstance.create(state, { memory_limit: memoryLimitSetting(databaseMemoryLimit) });
  const connection = await db.connect();
  // Set the state up as the path finds it (not timed).
  if (path === 'build') {
    for (const table of [...Object.values(DAILY_ROLLUP_TABLES), ...Object.values(ATTRIBUTED_DAILY_TABLES)])
      await connection.run(`DROP TABLE IF EXISTS ${table}`);
  }
  if (path === 'cold') {
    for (const table of Object.values(ATTRIBUTED_DAILY_TABLES))
      await connection.run(`DROP TABLE IF EXISTS ${table}`);
  }
  if (path === 'warm') {
    for (const statement of [...CREATE_DAILY_ROLLUP, ...CREATE_ATTRIBUTED_DAILY])
      await connection.run(statement);
    const last =
      await connection.runAndReadAll(`SELECT batch FROM rollup_daily_batches WHERE batch IN (SELECT batch FROM counted_daily_batches)
        ORDER BY max_slot DESC NULLS LAST, batch DESC LIMIT 1`);
    const batch = last.getRows()[0]?.[0];
    if (batch === null || batch === undefined)
      throw new Error('warm needs built caches: run build or cold first');
    const utc = Number(
      (
        await connection.runAndReadAll("SELECT zone_id FROM rollup_daily_zones WHERE time_zone = 'UTC'")
      ).getRows()[0]![0],
    );
    // The pairs only the last batch holds, as a night's new sessions are.
    await connection.run(
      `DELETE FROM attributed_pairs a USING (
        SELECT requester, access_point FROM rollup_daily WHERE batch = $1 AND zone_id = $2
        EXCEPT SELECT requester, access_point FROM rollup_daily WHERE batch <> $1 AND zone_id = $2) n
        WHERE a.requester = n.requester AND a.access_point = n.access_point`,
      [String(batch), utc],
    );
    for (const table of [
      'rollup_daily',
      'rollup_daily_batches',
      'counted_daily',
      'unattributed_daily',
      'counted_daily_batches',
    ])
      await connection.run(`DELETE FROM ${table} WHERE batch = $1`, [String(batch)]);
    await connection.run('CHECKPOINT');
  }
  const t0 = performance.now();
  const tables = await writeAttributionTables(connection, registry);
  let refresh: Pick<
    ChildResult,
    | 'refreshSeconds'
    | 'refreshRowsRead'
    | 'refreshBuilt'
    | 'cacheSeconds'
    | 'pairsAttributed'
    | 'batchesCounted'
  > = {};
  let engine = new DuckDbUsageAggregation(connection);
  if (path !== 'new') {
    const r0 = performance.now();
    const { refresh: done, ...daily } = await prepareDailyRead(
      connection,
      registry,
      dailyMemory ? { memoryLimit: dailyMemory, databaseMemoryLimit } : { databaseMemoryLimit },
    );
    refresh = {
      refreshSeconds: (performance.now() - r0) / 1000,
      refreshRowsRead: done.rowsRead,
      refreshBuilt: done.built,
    };
    if (path === 'daily') {
      engine = new DuckDbUsageAggregation(connection, undefined, daily);
    } else {
      const c0 = performance.now();
      const digest = attributedDigest(tables, done.zones);
      const cached = await refreshAttributedDaily(connection, digest, {
        tables: LOCAL_AGGREGATION_TABLES,
        ...daily,
      });
      const cacheSeconds = (performance.now() - c0) / 1000;
      refresh = {
        ...refresh,
        refreshSeconds: (performance.now() - r0) / 1000,
        cacheSeconds,
        pairsAttributed: cached.pairsAttributed,
        batchesCounted: cached.built,
      };
      engine = new DuckDbUsageAggregation(connection, undefined, daily, attributedCache(digest));
    }
  }
  const dailyRequest = partnerDailyUsageRequest(registry.partners, window, dataEndMs);
  let dailyRows = 0;
  let evaluated: Awaited<ReturnType<typeof evaluateDailyUsageByPartner>>;
  if (path === 'hotwhole') {
    // Main's way: every counted row into JavaScript at once, then the evaluation.
    const daily = await engine.partnerDailyUsage(dailyRequest);
    dailyRows = daily.length;
    evaluated = evaluateDailyUsage(registry, registry.partners, window, daily, dataEndMs);
  } else {
    evaluated = await evaluateDailyUsageByPartner(
      registry,
      registry.partners,
      window,
      async (visit) => {
        // As DuckDbAggregatedUsageSource reads them: under READ_MEMORY_LIMIT.
        dailyRows = await withLoweredMemoryLimit(connection, READ_MEMORY_LIMIT, databaseMemoryLimit, () =>
          engine.eachPartnerDailyUsage(dailyRequest, visit),
        );
      },
      dataEndMs,
    );
  }
  const request = unattributedUsageRequest(window, TOP_UNATTRIBUTED);
  const strangers = await engine.unattributedUsage(request);
  const unattributed = evaluateUnattributedUsage(registry, request.range, strangers);
  const seconds = (performance.now() - t0) / 1000;
  connection.closeSync();
  db.closeSync();
  return {
    path,
    load: [load0, loadavg()[0]!],
    ...refresh,
    seconds,
    peakRssMb: peakRssMb(),
    rowsToJs: dailyRows + strangers.length,
    evaluations: evaluated.evaluations.length,
    digest: digestOf({ e: evaluated.evaluations, u: unattributed, c: evaluated.uncovered }),
  };
}

function spawnChild(
  path: BenchPath,
  state: string,
  partners: number,
  days: number,
  dailyMemory: string | undefined,
): Promise<ChildResult> {
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
    ...(dailyMemory ? ['--daily-memory', dailyMemory] : []),
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

/** The rollup rows of a state file. */
async function rollupRows(state: string): Promise<number> {
  const db = await DuckDBInstance.create(state);
  const c = await db.connect();
  try {
    return Number((await c.runAndReadAll('SELECT count(*) FROM rollup')).getRows()[0]![0]);
  } finally {
    c.closeSync();
    db.closeSync();
  }
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
      compact: { type: 'boolean', default: false },
      'daily-memory': { type: 'string' },
      markdown: { type: 'boolean', default: false },
    },
  });
  const days = Number(values.days);
  if (values.child !== undefined) {
    if (!PATHS.includes(values.child as BenchPath)) throw new Error(`unknown path ${values.child}`);
    const result = await runChild(
      values.child as BenchPath,
      values.state!,
      Number(values.partners),
      days,
      values['daily-memory'],
    );
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
    '| partners | rollup rows | path | seconds | of which refresh | of which caches | rollup rows read by refresh | pairs attributed | peak MB | rows into JS | evaluations | digest | same figures | load |',
  );
  say('|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|');
  for (const partners of partnerCounts) {
    const state = join(
      dataDir,
      `scale-${partners}p-${days}d-${rowsPerSlot}${values.compact ? '-compact' : ''}.duckdb`,
    );
    if (!existsSync(state)) {
      const t0 = performance.now();
      const made = await synthesiseRollup({
        path: state,
        partners,
        start: START,
        days,
        rowsPerSlot,
        ...(values.compact && { fullDaysFrom: days - 1 }),
        onDay: (day) =>
          console.error(`day ${day} written at ${((performance.now() - t0) / 1000).toFixed(1)} s`),
      });
      console.error(
        `synthesised ${made.rows.toLocaleString('en-US')} rows for ${partners} partners in ${((performance.now() - t0) / 1000).toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})`,
      );
    }
    const expectedRows = await rollupRows(state);
    const results: ChildResult[] = [];
    for (const path of paths) {
      if (path === 'old' && expectedRows > oldMaxRows) {
        say(
          `| ${partners} | ${expectedRows.toLocaleString('en-US')} | ${LABEL.old} | not run: past --old-max-rows | | | | | | | | | | |`,
        );
        continue;
      }
      const r = await spawnChild(path, state, partners, days, values['daily-memory']);
      results.push(r);
      const same = results.length > 1 ? (r.digest === results[0]!.digest ? 'yes' : 'NO') : '-';
      const opt = (v: number | undefined, f: (n: number) => string) => (v === undefined ? '' : f(v));
      say(
        `| ${partners} | ${expectedRows.toLocaleString('en-US')} | ${LABEL[r.path]} | ${r.seconds.toFixed(2)} | ${opt(r.refreshSeconds, (n) => n.toFixed(2))} | ${opt(r.cacheSeconds, (n) => n.toFixed(2))} | ${opt(r.refreshRowsRead, (n) => n.toLocaleString('en-US'))} | ${opt(r.pairsAttributed, (n) => n.toLocaleString('en-US'))} | ${r.peakRssMb} | ${r.rowsToJs.toLocaleString('en-US')} | ${r.evaluations} | ${r.digest} | ${same} | ${r.load[0].toFixed(1)}-${r.load[1].toFixed(1)} |`,
      );
    }
  }
  if (values.markdown) console.log(lines.join('\n'));
}

await main();
