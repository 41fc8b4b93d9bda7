/**
 * A month of nightly runs on the AWS path, offline (test/support/athena-month.ts): per night the bytes
 * S3 delivered, the bytes the rollup and the evaluation scanned, and the running ratio of scanned to
 * delivered. Fails (exit 1) when the month's rollup bytes exceed 1.05 x the bytes delivered, when
 * evaluation reads the logs table, or when a rerun of a night changes the rollup.
 *
 *   npx tsx bench/athena-month.ts [--days 30] [--requests-per-day 4000] [--seed 11] [--markdown]
 *     [--holdings] [--partners N] [--apps N]
 *
 * `--holdings` keeps holdings (the rollup also writes the held grain, HOLDINGS.md); each night then
 * shows the rollup table's rows added per grain, and the summary the held rows per line delivered.
 *
 * Bytes scanned are the local Athena server's DataScannedInBytes: the raw size of the log partitions a
 * statement names, plus 32 bytes per rollup row its WHERE clauses select (a stand-in for Parquet).
 */
import { type MonthResult, type NightFigures, simulateMonth } from '../test/support/athena-month.js';

/** The month may scan at most this many bytes per byte delivered. */
const MAX_RATIO = 1.05;

interface Args {
  readonly days: number;
  readonly requestsPerDay: number;
  readonly seed: number;
  readonly markdown: boolean;
  readonly holdings: boolean;
  readonly partners?: number;
  readonly apps?: number;
}

/** A command-line option that is not what this script takes. */
class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

function parseArgs(argv: readonly string[]): Args {
  const out: { -readonly [K in keyof Args]: Args[K] } = {
    days: 30,
    requestsPerDay: 4000,
    seed: 11,
    markdown: false,
    holdings: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--markdown' || a === '--holdings') {
      out[a === '--markdown' ? 'markdown' : 'holdings'] = true;
      continue;
    }
    const names: Record<string, 'days' | 'requestsPerDay' | 'seed' | 'partners' | 'apps'> = {
      '--days': 'days',
      '--requests-per-day': 'requestsPerDay',
      '--seed': 'seed',
      '--partners': 'partners',
      '--apps': 'apps',
    };
    const name = names[a];
    const value = Number(argv[i + 1]);
    if (name === undefined || !Number.isInteger(value) || value < 1) {
      throw new BenchArgsError(`unknown option or bad value: ${a} ${argv[i + 1] ?? ''}`.trim());
    }
    (out as Record<string, number | boolean>)[name] = value;
    i++;
  }
  return out;
}

const mb = (n: number) => (n / 1e6).toFixed(2);
const ratio = (a: number, b: number) => (b === 0 ? '-' : (a / b).toFixed(3));

/** Rows the night added to the rollup table, per grain. */
function added(n: NightFigures, before: NightFigures | undefined): string {
  const d = (g: 'usage' | 'network' | 'held') => n.rollupRows[g] - (before?.rollupRows[g] ?? 0);
  return `${d('usage')}/${d('network')}/${d('held')}`;
}

function row(n: NightFigures, before: NightFigures | undefined): string[] {
  return [
    String(n.night),
    n.batch,
    `${n.objects} (${n.lateObjects} late)`,
    mb(n.bytesDelivered),
    mb(n.rollupBytes),
    mb(n.evaluateBytes),
    ratio(n.cumulativeRollup, n.cumulativeDelivered),
    ratio(n.cumulativeRollup + n.cumulativeEvaluate, n.cumulativeDelivered),
    String(n.linesDelivered),
    added(n, before),
  ];
}

const HEADER = [
  'night',
  'delivery date',
  'objects',
  'delivered MB',
  'rollup scanned MB',
  'evaluate scanned MB',
  'cum. rollup/delivered',
  'cum. (rollup+evaluate)/delivered',
  'lines delivered',
  'rollup rows added usage/network/held',
];

function summary(r: MonthResult, args: Args): string[] {
  return [
    `${r.nights.length} nights, ${args.days} days of logs at ${args.requestsPerDay} partner requests a day (seed ${args.seed})`,
    `delivered ${mb(r.totalDelivered)} MB; rollup scanned ${mb(r.totalRollup)} MB (ratio ${ratio(r.totalRollup, r.totalDelivered)}, bound ${MAX_RATIO}); evaluation scanned ${mb(r.totalEvaluate)} MB of rollup rows, no logs`,
    `lines written ${r.linesWritten}, lines rolled up ${r.linesRolledUp}`,
    ...heldSummary(r),
    `rerun of night ${r.rerun.night} (${r.rerun.batch}): scanned ${mb(r.rerun.bytesScanned)} MB, rollup totals ${r.rerun.totalsBefore === r.rerun.totalsAfter ? 'unchanged' : 'CHANGED'}`,
    ...r.partners.map(
      (p) =>
        `${p.partnerId}: ${p.requests} requests, ${p.bytesSent} bytes (ground truth ${p.truthRequests}, ${p.truthBytesSent})`,
    ),
  ];
}

/** The held grain's size: rows in the table, per line delivered and per night. */
function heldSummary(r: MonthResult): string[] {
  const last = r.nights.at(-1);
  if (!last || last.rollupRows.held === 0) return [];
  const lines = r.nights.reduce((n, x) => n + x.linesDelivered, 0);
  return [
    `rollup rows at the end: usage ${last.rollupRows.usage}, network ${last.rollupRows.network}, held ${last.rollupRows.held} (${(last.rollupRows.held / lines).toFixed(4)} held rows per line delivered, ${Math.round(last.rollupRows.held / r.nights.length)} per night)`,
  ];
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const nights: NightFigures[] = [];
  if (!args.markdown) console.log(HEADER.join('\t'));
  const result = await simulateMonth({
    days: args.days,
    requestsPerDay: args.requestsPerDay,
    seed: args.seed,
    holdings: args.holdings,
    ...(args.partners === undefined ? {} : { partners: args.partners }),
    ...(args.apps === undefined ? {} : { appsPerPartner: args.apps }),
    onNight: (n) => {
      if (!args.markdown) console.log(row(n, nights.at(-1)).join('\t'));
      nights.push(n);
    },
  });
  if (args.markdown) {
    console.log(`| ${HEADER.join(' | ')} |`);
    console.log(`|${HEADER.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`);
    for (const [i, n] of result.nights.entries()) {
      console.log(`| ${row(n, result.nights[i - 1]).join(' | ')} |`);
    }
    console.log('');
    for (const line of summary(result, args)) console.log(`- ${line}`);
  } else {
    for (const line of summary(result, args)) console.log(line);
  }
  const problems = [
    ...(result.ratio > MAX_RATIO ? [`rollup scanned ${result.ratio.toFixed(3)} x the bytes delivered`] : []),
    ...(result.rerun.totalsBefore !== result.rerun.totalsAfter ? ['the rerun changed the rollup'] : []),
    ...(result.linesRolledUp !== result.linesWritten ? ['the rollup lost or added lines'] : []),
    ...result.partners
      .filter((p) => p.requests !== p.truthRequests || p.bytesSent !== p.truthBytesSent)
      .map((p) => `${p.partnerId} differs from the ground truth`),
  ];
  for (const p of problems) console.error(`FAIL: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
