/**
 * `npm run bench:scale`: how evaluation's cost grows with partners, today's whole-row path and the
 * aggregation in SQL side by side in one run, over a month of synthesised rollup rows at the founding
 * case's density (bench/rollup-synthesiser.ts: eight applications a partner, 512 rollup rows a partner
 * and slot, about 2.1 M requests a partner and day).
 *
 *   npm run bench:scale [-- --partners 1,4,10,100] [-- --days 30] [-- --rows-per-slot 512]
 *                       [-- --old-max-rows 8000000] [-- --data-dir bench-data/scale] [-- --markdown]
 *
 * Each state is synthesised once into --data-dir (git-ignored) and reused. Each path runs in its own
 * child process (under `nice`), which reports its own figures:
 * - old: `evaluateWindow` over `DuckDbState`'s usage source as the CLI runs it today: `UsageSource.usage` returns every
 *   rollup row of the window into JavaScript, attributed and summed per partner by the domain;
 * - new: the registry's tables written into DuckDB, `partnerDailyUsageSql` and `unattributedUsageSql`
 *   (top 100) run there, and the domain evaluates from the aggregated rows (aggregated-evaluation.ts).
 * Seconds are the evaluation's wall time in the child (opening the state excluded), peak memory the
 * child's peak resident set (VmHWM: V8's heap and DuckDB's native memory alike), rows the rows that
 * crossed from DuckDB into JavaScript. The old path is skipped past --old-max-rows rollup rows (it holds
 * every row as an object; past a few million rows that is several GB). Where both ran, the bench checks
 * that their evaluations are identical (a digest of every figure, finding and fee).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbState } from '../functions/adapters/duckdb/index.js';
import {
  DuckDbUsageAggregation,
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

interface ChildResult {
  readonly path: 'old' | 'new';
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
  path: 'old' | 'new',
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
  const t0 = performance.now();
  await writeAttributionTables(connection, registry);
  const engine = new DuckDbUsageAggregation(connection);
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
    seconds,
    peakRssMb: peakRssMb(),
    rowsToJs: daily.length + strangers.length,
    evaluations: evaluated.evaluations.length,
    digest: digestOf({ e: evaluated.evaluations, u: unattributed, c: evaluated.uncovered }),
  };
}

function spawnChild(
  path: 'old' | 'new',
  state: string,
  partners: number,
  days: number,
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
      'data-dir': { type: 'string', default: 'bench-data/scale' },
      markdown: { type: 'boolean', default: false },
    },
  });
  const days = Number(values.days);
  if (values.child === 'old' || values.child === 'new') {
    const result = await runChild(values.child, values.state!, Number(values.partners), days);
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
  say(`| partners | rollup rows | path | seconds | peak MB | rows into JS | evaluations | same figures |`);
  say(`|---:|---:|---|---:|---:|---:|---:|---|`);
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
    if (expectedRows <= oldMaxRows) results.push(await spawnChild('old', state, partners, days));
    results.push(await spawnChild('new', state, partners, days));
    const same = results.length === 2 ? (results[0]!.digest === results[1]!.digest ? 'yes' : 'NO') : '-';
    if (expectedRows > oldMaxRows) {
      say(
        `| ${partners} | ${expectedRows.toLocaleString('en-US')} | old (whole rows) | not run: past --old-max-rows | | | | |`,
      );
    }
    for (const r of results) {
      say(
        `| ${partners} | ${expectedRows.toLocaleString('en-US')} | ${r.path === 'old' ? 'old (whole rows)' : 'new (SQL aggregation)'} | ${r.seconds.toFixed(2)} | ${r.peakRssMb} | ${r.rowsToJs.toLocaleString('en-US')} | ${r.evaluations} | ${same} |`,
      );
    }
  }
  if (values.markdown) console.log(lines.join('\n'));
}

await main();
