/**
 * A month of usage rollup rows at the founding case's density, written straight into a local DuckDB
 * state (no log text): the scale bench's data (bench/scale.ts). The founding case is one partner with
 * eight applications and about 2.1 M log lines a day; at a few hundred rollup rows per 15-minute slot
 * that is one to two million rollup rows a month. Here each partner gets `rowsPerSlot` rows in every
 * slot (512 by default: 1.47 M rows in 30 days), about 43 requests a row on average (2.1 M a day).
 *
 * Each partner has eight applications, one principal each, of every kind attribution knows: a user
 * ARN, an IAM role (its sessions), an ARN glob, an account, a canonical id, an access point, a second
 * role with a path, and a user glob. Session names change daily, as STS session names do, so the
 * distinct requesters grow with days (16 sessions per application and day). About one row in 64 is a
 * stranger's (an unregistered crawler, anonymous reads, the provider's own CloudFront), so the
 * unattributed figures have something to find.
 *
 * Rows are made inside DuckDB (INSERT ... SELECT over `range`), one statement a day, with counts from
 * DuckDB's `hash` of the row's coordinates: the same arguments give the same rows.
 *
 * `fullDaysFrom` (for 100 and 1,000 partners, whose synthesis slot by slot takes 13 minutes and some
 * 3.5 hours here) holds the days before it in fewer rows: one per key and "segment" (the runs of a
 * day's slots that share their local day in every zone of {@link SYNTHESIS_ZONES}, six or seven a day),
 * at the segment's first slot, carrying the sums of the segment's slot rows. Every local day of every
 * zone, and so every daily row, figure and evaluation, is the one the slot-by-slot rows give (the
 * scale bench shows the digests equal at 4 partners); only the rollup rows of those days are fewer (16
 * times), so what reads slot rows (the slot path, building the pre-aggregate) reads fewer.
 */
import { DuckDBInstance, listValue } from '@duckdb/node-api';
import { DuckDbState } from '../functions/adapters/duckdb/index.js';
import { insertUncodedRollup } from '../functions/adapters/duckdb/rollup-writer.js';
import { SQL } from '../functions/adapters/duckdb/schema.js';
import { type Registry, RegistrySchema } from '../functions/domain/registry.js';
import { SLOT_MS } from '../functions/domain/usage.js';

export interface SynthesiseOptions {
  /** The DuckDB state file to write (created if absent; its rollup is replaced). */
  readonly path: string;
  readonly partners: number;
  /** First UTC day, `YYYY-MM-DD`. */
  readonly start: string;
  readonly days: number;
  /** Rollup rows per partner and slot. @default 512 */
  readonly rowsPerSlot?: number;
  /** Called after each day is written (progress of a long synthesis). */
  readonly onDay?: (day: number) => void;
  /**
   * Days from this one (0-based) are written slot by slot; the days before it one row per key and
   * segment (see the file's comment). @default 0 (every day slot by slot)
   */
  readonly fullDaysFrom?: number;
}

/** Applications per partner, as in the founding case. */
export const APPS_PER_PARTNER = 8;
const DATASETS = ['feeds/prices/', 'feeds/weather/', 'archive/ticks/', 'reference/static/'];
const ZONES = [
  'America/New_York',
  'Europe/Berlin',
  'Asia/Kolkata',
  'UTC',
  'Australia/Sydney',
  'Asia/Kathmandu',
];
/** The partners' zones (and UTC, the unattributed figures' zone, among them). */
export const SYNTHESIS_ZONES: readonly string[] = ZONES;
const PROVIDER_ACCOUNT = '999999999999';

const mainAccount = (p: number) => String(100_000_000_000 + 2 * p);
const secondAccount = (p: number) => String(100_000_000_001 + 2 * p);
/**
 * 64 hex digits, one per partner: the partner number in hex padded with `c` below 192 (as the states
 * synthesised before had it), past that `a` and the number padded with `f`, since `c` padding makes
 * 192 (`c0`) the same id as 0.
 */
const canonicalId = (p: number) =>
  p < 192 ? p.toString(16).padStart(64, 'c') : `a${p.toString(16)}`.padStart(64, 'f');

/** The registry of a synthesised world: `partners` partners of eight applications each. */
export function synthesisedRegistry(partners: number): Registry {
  return RegistrySchema.parse({
    version: 1,
    provider: { name: 'Provider', noticeFrom: 'p@provider.example', contactEmail: 'p@provider.example' },
    partners: Array.from({ length: partners }, (_, p) => {
      const a = mainAccount(p);
      const principals = [
        { arn: `arn:aws:iam::${a}:user/app0-svc` },
        { arn: `arn:aws:iam::${a}:role/app1-reader` },
        { arnGlob: `arn:aws:sts::${a}:assumed-role/app2-*` },
        { account: secondAccount(p) },
        { canonicalUserId: canonicalId(p) },
        { accessPoint: `arn:aws:s3:us-east-1:${PROVIDER_ACCOUNT}:accesspoint/p${p}-app5` },
        { arn: `arn:aws:iam::${a}:role/team/app6-etl` },
        { arnGlob: `arn:aws:iam::${a}:user/app7-*` },
      ];
      return {
        id: `partner-${p}`,
        name: `Partner ${p}`,
        timeZone: ZONES[p % ZONES.length],
        accountOwners: [{ email: `owner@partner-${p}.example` }],
        applications: principals.map((principal, i) => ({
          id: `app${i}`,
          name: `App ${i}`,
          principals: [principal],
        })),
        contracts: [
          {
            id: 'c1',
            effectiveFrom: '2020-01-01',
            currency: 'USD',
            datasets: DATASETS.slice(0, 3),
            limits: { monthly: { requests: 60_000_000 }, daily: { requests: 2_500_000 } },
            overage: {
              requests: { per: 1000, tiers: [{ upTo: 10_000_000, price: '0.40' }, { price: '0.25' }] },
            },
          },
        ],
      };
    }),
  });
}

/** What {@link synthesiseRollup} wrote. */
export interface SynthesisedRollup {
  readonly rows: number;
  readonly startMs: number;
  readonly endMs: number;
}

const SLOTS_PER_DAY = 86_400_000 / SLOT_MS;

/**
 * The day's slot rows before their sums: per partner p, row k of the slot and slot s of the day
 * ($1 the first instant, $2 the day, $3 partners, $4 rows a slot), with the counts' hash `h`.
 * k: row within the slot; app = k % 8; j = k // 8 picks the session (j // 4) and the dataset (j % 4).
 * A row's strings depend on the partner, the day and k only, so they are made once per day (`keys`)
 * and crossed with the day's slots, where only the counts are computed per row.
 */
const SLOT_ROWS = `(
          SELECT keys.*, s, hash(p, s, k) AS h, 1 + (hash(p, s, k) % 85)::BIGINT AS requests
          FROM (
            SELECT p, k, j,
              CASE
                WHEN k % 64 = 63 THEN CASE (j // 4) % 3
                  WHEN 0 THEN 'arn:aws:iam::888888888888:user/crawler-' || (j // 4)
                  WHEN 1 THEN '-'
                  ELSE 'svc:cloudfront.amazonaws.com' END
                WHEN app = 0 THEN 'arn:aws:iam::' || acct || ':user/app0-svc'
                WHEN app = 1 THEN 'arn:aws:sts::' || acct || ':assumed-role/app1-reader/worker-' || day || '-' || session
                WHEN app = 2 THEN 'arn:aws:sts::' || acct || ':assumed-role/app2-prod/airflow-' || day || '-' || session
                WHEN app = 3 THEN 'arn:aws:sts::' || acct2 || ':assumed-role/DataScience/user-' || session
                WHEN app = 4 THEN CASE WHEN p < 192 THEN lpad(printf('%x', p), 64, 'c') ELSE lpad('a' || printf('%x', p), 64, 'f') END
                WHEN app = 5 THEN 'arn:aws:sts::' || acct || ':assumed-role/dash/lambda-' || day || '-' || session
                WHEN app = 6 THEN 'arn:aws:sts::' || acct || ':assumed-role/app6-etl/run-' || day || '-' || session
                ELSE 'arn:aws:iam::' || acct || ':user/app7-' || session
              END AS requester,
              CASE WHEN app = 5 AND k % 64 <> 63
                THEN 'arn:aws:s3:us-east-1:${PROVIDER_ACCOUNT}:accesspoint/p' || p || '-app5' ELSE '-' END AS access_point,
              ['${DATASETS.join("', '")}'][1 + j % 4] AS dataset,
              CASE WHEN j % 10 = 9 THEN 'REST.HEAD.OBJECT' ELSE 'REST.GET.OBJECT' END AS operation,
              CASE WHEN j % 17 = 16 THEN '4xx' WHEN j % 7 = 6 THEN '3xx' ELSE '2xx' END AS status_class,
              'synthetic-' || day AS batch
            FROM (
              SELECT p, k, k % 8 AS app, k // 8 AS j, $2::BIGINT AS day, (k // 8) // 4 AS session,
                (100000000000 + 2 * p)::VARCHAR AS acct, (100000000001 + 2 * p)::VARCHAR AS acct2
              FROM range(0, $3::BIGINT) t1(p), range(0, $4::BIGINT) t3(k)
            )
          ) keys, range($2::BIGINT * ${SLOTS_PER_DAY}, ($2::BIGINT + 1) * ${SLOTS_PER_DAY}) t2(s)
)`;

/**
 * Writes the rollup of `partners` partners over `days` days into the state at `path`, replacing any
 * rollup there. Returns the number of rows and the time span.
 */
export async function synthesiseRollup(options: SynthesiseOptions): Promise<SynthesisedRollup> {
  const rowsPerSlot = options.rowsPerSlot ?? 512;
  if (
    !Number.isInteger(rowsPerSlot) ||
    rowsPerSlot < APPS_PER_PARTNER ||
    rowsPerSlot % APPS_PER_PARTNER !== 0
  ) {
    throw new RangeError(
      `rowsPerSlot must be a positive multiple of ${APPS_PER_PARTNER}, got ${rowsPerSlot}`,
    );
  }
  const startMs = Date.parse(`${options.start}T00:00:00Z`);
  if (Number.isNaN(startMs)) throw new RangeError(`start must be a date YYYY-MM-DD, got "${options.start}"`);
  const slots = options.days * (86_400_000 / SLOT_MS);
  if (!Number.isInteger(options.days) || options.days < 1) {
    throw new RangeError(`days must be a whole number of at least 1, got ${options.days}`);
  }
  // The store creates the schema (and its settings) as the CLI would find it.
  await (await DuckDbState.open(options.path)).close();
  const db = await DuckDBInstance.create(options.path);
  const c = await db.connect();
  try {
    await c.run(SQL.clearRollup);
    // One INSERT a day, in order: the rollup is ordered by time as nightly ingestion leaves it.
    const perApp = rowsPerSlot / APPS_PER_PARTNER;
    const slotsPerDay = SLOTS_PER_DAY;
    // The rows are those one statement over every slot made (a hash of every row compared); it is not
    // faster: DuckDB's writing of the rows' strings is what costs (100 partners: 1,383 s at a load near 13).
    const fullDaysFrom = options.fullDaysFrom ?? 0;
    for (let day = 0; day < options.days; day++) {
      const params = [
        BigInt(startMs),
        BigInt(day),
        BigInt(options.partners),
        BigInt(perApp * APPS_PER_PARTNER),
      ];
      if (day >= fullDaysFrom) {
        await insertUncodedRollup(
          c,
          `SELECT
          ($1::BIGINT + s * ${SLOT_MS})::BIGINT AS slot_start,
          'data' AS bucket, requester, access_point, dataset, operation, status_class,
          requests,
          requests * (1000 + h % 250000) AS bytes_sent,
          CASE WHEN j % 4 = 0 THEN requests * 12 ELSE 0 END AS records,
          batch
        FROM ${SLOT_ROWS}`,
          params,
        );
      } else {
        // The day's segments: runs of slots whose local days agree in every zone, named by their first slot.
        await c.run(
          `CREATE OR REPLACE TEMP TABLE synth_segments AS
          SELECT s, min(s) OVER (PARTITION BY days) AS segment FROM (
            SELECT s, string_agg(CAST(CAST(timezone(z, to_timestamp(($1::BIGINT + s * ${SLOT_MS}) // 1000)) AS DATE) AS VARCHAR), ',' ORDER BY z) AS days
            FROM range($2::BIGINT * ${slotsPerDay}, ($2::BIGINT + 1) * ${slotsPerDay}) t(s),
              (SELECT unnest($3::VARCHAR[]) AS z) zones
            GROUP BY s)`,
          [BigInt(startMs), BigInt(day), listValue([...ZONES])],
        );
        await insertUncodedRollup(
          c,
          `SELECT
          ($1::BIGINT + g.segment * ${SLOT_MS})::BIGINT AS slot_start,
          'data' AS bucket, requester, access_point, dataset, operation, status_class,
          sum(requests)::BIGINT,
          sum(requests * (1000 + h % 250000))::BIGINT AS bytes_sent,
          sum(CASE WHEN j % 4 = 0 THEN requests * 12 ELSE 0 END)::BIGINT AS records,
          batch
        FROM ${SLOT_ROWS} x JOIN synth_segments g ON g.s = x.s
        GROUP BY g.segment, requester, access_point, dataset, operation, status_class, batch`,
          params,
        );
      }
      options.onDay?.(day);
    }
    const reader = await c.runAndReadAll('SELECT count(*) FROM rollup');
    const rows = Number(reader.getRows()[0]![0]);
    await c.run('CHECKPOINT');
    return { rows, startMs, endMs: startMs + slots * SLOT_MS };
  } finally {
    c.closeSync();
    db.closeSync();
  }
}
