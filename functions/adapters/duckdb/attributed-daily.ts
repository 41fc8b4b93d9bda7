/**
 * The attributed caches of the daily pre-aggregate (daily-rollup.ts), kept per registry digest, so that
 * an evaluation with an unchanged registry reads sums that grow with partners x applications x datasets
 * x days and attributes nothing, and a night attributes and counts only its new batch:
 * - `attributed_pairs`: each requester and access point seen in the pre-aggregate, with its winning
 *   partner application and the partner's zone (NULLs when no application claims it) and whether the
 *   provider's own requesters (ignoredRequesters) hold it; a batch attributes only the pairs the digest
 *   has not seen;
 * - `counted_daily`: per batch, the counted sums per partner, application, dataset and local day in the
 *   partner's zone, after the contract version in force's counted operations and statuses (exactly
 *   the statement's `by_day` to its final grouping, usage-aggregation-sql.ts `countedTail`);
 * - `unattributed_daily`: per batch, the unattributed and not ignored usage per UTC day, requester,
 *   access point, dataset and status class.
 * The digest is that of the registry's canonical tables (attribution-table.ts: principals with ranks
 * and zones, contract terms, ignored requesters) and of the pre-aggregate's zone ids: a registry change
 * is a new digest, attributed and counted afresh from the daily rows (never from the slot rows or the
 * logs), so it applies to past usage; the rows of every other digest are dropped then.
 * Each batch's cache rows carry the signature of the pre-aggregate's markers of that batch (its rollup
 * rows and recorded files, per zone), so a batch that re-ingestion replaced or removed loses them and
 * is rebuilt. One refresh is one transaction: a failure part-way leaves the tables as they were.
 * Days that the range's ends cut through the data are read from the slot rows by the statements
 * (usage-aggregation-sql.ts `cachedPartnerDailyUsageStatement`), with this file's pairs.
 */
import { createHash } from 'node:crypto';
import { type DuckDBConnection, type DuckDBValue, listValue } from '@duckdb/node-api';
import type { AttributionTables } from '../../domain/attribution-table.js';
import {
  type AggregationTables,
  type AttributedCache,
  attributedFromPairs,
  countedTail,
  type DailySource,
  DUCKDB,
  IGNORED_MATCH,
  Parameters,
} from '../sql/usage-aggregation-sql.js';
import { DAILY_ROLLUP_TABLES } from './daily-rollup.js';

/** The tables of the caches, in the state file beside the pre-aggregate. */
export const ATTRIBUTED_DAILY_TABLES = Object.freeze({
  pairs: 'attributed_pairs',
  counted: 'counted_daily',
  unattributed: 'unattributed_daily',
  batches: 'counted_daily_batches',
});

/** Idempotent; no constraints, so that a batch's rows can be dropped and rebuilt in one transaction. */
export const CREATE_ATTRIBUTED_DAILY: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS attributed_pairs (
    digest VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    partner_id VARCHAR,
    application_id VARCHAR,
    time_zone VARCHAR,
    ignored BOOLEAN NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS counted_daily (
    digest VARCHAR NOT NULL,
    zone_id INTEGER NOT NULL,
    batch VARCHAR NOT NULL,
    local_date VARCHAR NOT NULL,
    partner_id VARCHAR NOT NULL,
    application_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    records BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS unattributed_daily (
    digest VARCHAR NOT NULL,
    zone_id INTEGER NOT NULL,
    batch VARCHAR NOT NULL,
    local_date VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    status_class VARCHAR NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    records BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS counted_daily_batches (
    digest VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    signature VARCHAR NOT NULL
  )`,
];

/** The digest the caches are kept under: the registry's canonical tables and the zones' ids. */
export function attributedDigest(
  tables: AttributionTables,
  zones: readonly { readonly timeZone: string; readonly id: number }[],
): string {
  const canonical = JSON.stringify({
    version: 1,
    principals: tables.principals,
    terms: tables.terms,
    ignored: tables.ignored,
    zones: [...zones].sort((a, b) => a.id - b.id).map((z) => [z.id, z.timeZone]),
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** What a refresh of the caches found and did. */
export interface AttributedDailyRefresh {
  readonly digest: string;
  /** Cache rows of other digests dropped (a registry change). */
  readonly otherDigests: number;
  /** Batches whose cache rows were dropped (replaced or removed). */
  readonly dropped: number;
  /** Batches counted. */
  readonly built: number;
  /** Requester and access point pairs attributed (those the digest had not seen). */
  readonly pairsAttributed: number;
}

/** Steps a refresh reports, for tests that fail it part-way. */
export type AttributedDailyStep = 'dropped' | 'attributed' | 'built';

export interface AttributedDailyOptions {
  /** Called after each step (a test throws here to fail the refresh part-way). */
  readonly onStep?: (step: AttributedDailyStep, batch?: string) => void;
}

/** Where the caches are read, and the zones they were built for. */
export interface AttributedDailyRead {
  /** The registry tables (written by writeAttributionTables on this connection). */
  readonly tables: AggregationTables;
  /** The partners' zones of the pre-aggregate (counted usage). */
  readonly partners: DailySource;
  /** The one zone of unattributed usage (UTC). */
  readonly unattributed: DailySource;
}

function rowsOf(reader: { getRows(): unknown[][] }): unknown[][] {
  return reader.getRows();
}

/** The cache's names for `digest`, as the statements read them. */
export function attributedCache(digest: string): AttributedCache {
  const { pairs, counted, unattributed } = ATTRIBUTED_DAILY_TABLES;
  return { digest, pairs, counted, unattributed };
}

/**
 * Brings the caches of `digest` up to date with the daily pre-aggregate (which must be up to date for
 * every zone of `read`), in one transaction on `connection` (which must not be inside one).
 */
export async function refreshAttributedDaily(
  connection: DuckDBConnection,
  digest: string,
  read: AttributedDailyRead,
  options: AttributedDailyOptions = {},
): Promise<AttributedDailyRefresh> {
  for (const statement of CREATE_ATTRIBUTED_DAILY) await connection.run(statement);
  const zoneIds = [...new Set([...read.partners.zones, ...read.unattributed.zones].map((z) => z.id))];
  // Per batch, the pre-aggregate's markers of every zone read: what the cache rows were counted from.
  const signatures = new Map<string, string>();
  for (const [batch, signature] of rowsOf(
    await connection.runAndReadAll(
      `SELECT batch, string_agg(zone_id || ':' || rollup_rows || ':' || files, '|' ORDER BY zone_id)
      FROM ${DAILY_ROLLUP_TABLES.batches} WHERE zone_id IN (SELECT unnest($1::INTEGER[])) GROUP BY batch`,
      [listValue(zoneIds)],
    ),
  )) {
    signatures.set(String(batch), String(signature));
  }
  const markers = new Map<string, string>();
  let others = 0;
  for (const [d, batch, signature] of rowsOf(
    await connection.runAndReadAll(`SELECT digest, batch, signature FROM ${ATTRIBUTED_DAILY_TABLES.batches}`),
  )) {
    if (d === digest) markers.set(String(batch), String(signature));
    else others++;
  }
  const stale = [...markers].filter(([batch, s]) => signatures.get(batch) !== s).map(([batch]) => batch);
  const toBuild = [...signatures.keys()].filter((b) => !markers.has(b) || stale.includes(b)).sort();
  const otherPairs = others > 0 ? 1 : await hasOtherDigest(connection, digest);
  if (stale.length === 0 && toBuild.length === 0 && otherPairs === 0) {
    return { digest, otherDigests: 0, dropped: 0, built: 0, pairsAttributed: 0 };
  }
  await connection.run('BEGIN TRANSACTION');
  try {
    const result = await refreshInTransaction(connection, digest, read, {
      stale,
      toBuild,
      signatures,
      others,
      options,
    });
    await connection.run('COMMIT');
    return result;
  } catch (error) {
    try {
      await connection.run('ROLLBACK');
    } catch {
      // A failed COMMIT has already ended the transaction; the first error is the one to report.
    }
    throw error;
  }
}

async function hasOtherDigest(connection: DuckDBConnection, digest: string): Promise<number> {
  const r = await connection.runAndReadAll(
    `SELECT count(*) FROM (SELECT 1 FROM ${ATTRIBUTED_DAILY_TABLES.pairs} WHERE digest <> $1 LIMIT 1)`,
    [digest],
  );
  return Number(rowsOf(r)[0]![0]);
}

async function refreshInTransaction(
  connection: DuckDBConnection,
  digest: string,
  read: AttributedDailyRead,
  plan: {
    readonly stale: readonly string[];
    readonly toBuild: readonly string[];
    readonly signatures: ReadonlyMap<string, string>;
    readonly others: number;
    readonly options: AttributedDailyOptions;
  },
): Promise<AttributedDailyRefresh> {
  const { pairs, counted, unattributed, batches } = ATTRIBUTED_DAILY_TABLES;
  const cacheTables = [pairs, counted, unattributed, batches];
  // Another digest's rows: a registry change (or a rollback of one); the new digest counts afresh.
  for (const table of cacheTables) await connection.run(`DELETE FROM ${table} WHERE digest <> $1`, [digest]);
  if (plan.stale.length > 0) {
    for (const table of [counted, unattributed, batches]) {
      await connection.run(
        `DELETE FROM ${table} WHERE digest = $1 AND batch IN (SELECT unnest($2::VARCHAR[]))`,
        [digest, listValue([...plan.stale])],
      );
    }
  }
  plan.options.onStep?.('dropped');
  const pairsAttributed = await attributeNewPairs(connection, digest, read, plan.toBuild);
  plan.options.onStep?.('attributed');
  // Batches counted a few at a time: one statement a batch would scan the daily rows once a batch.
  for (let i = 0; i < plan.toBuild.length; i += BATCHES_A_STATEMENT) {
    const some = plan.toBuild.slice(i, i + BATCHES_A_STATEMENT);
    await countBatches(connection, digest, read, some);
    for (const batch of some) {
      await connection.run(`INSERT INTO ${batches} (digest, batch, signature) VALUES ($1, $2, $3)`, [
        digest,
        batch,
        plan.signatures.get(batch)!,
      ]);
    }
    plan.options.onStep?.('built', some.at(-1));
  }
  return {
    digest,
    otherDigests: plan.others,
    dropped: plan.stale.length,
    built: plan.toBuild.length,
    pairsAttributed,
  };
}

/** Attributes the pairs of `batches` that `digest` has not seen; returns how many. */
async function attributeNewPairs(
  connection: DuckDBConnection,
  digest: string,
  read: AttributedDailyRead,
  batches: readonly string[],
): Promise<number> {
  if (batches.length === 0) return 0;
  const t = read.tables;
  const daily = DAILY_ROLLUP_TABLES.daily;
  const { pairs } = ATTRIBUTED_DAILY_TABLES;
  // Every zone's daily rows hold the same pairs; the unattributed zone's are read.
  const zone = read.unattributed.zones[0]!.id;
  const sql = `INSERT INTO ${pairs} (digest, requester, access_point, partner_id, application_id, time_zone, ignored)
WITH pairs AS (
  SELECT DISTINCT r.requester, r.access_point FROM ${daily} r
  WHERE r.zone_id = $2::INTEGER AND r.batch IN (SELECT unnest($3::VARCHAR[]))
    AND NOT EXISTS (SELECT 1 FROM ${pairs} c
      WHERE c.digest = $1 AND c.requester = r.requester AND c.access_point = r.access_point)
),
${attributedFromPairs(DUCKDB, t)},
ignored AS (
  SELECT DISTINCT q.requester
  FROM pairs q
  JOIN ${DUCKDB.table(t, t.ignoredRequesters)} i
    ON ${IGNORED_MATCH}
)
SELECT $1, q.requester, q.access_point, a.partner_id, a.application_id, a.time_zone, i.requester IS NOT NULL
FROM pairs q
LEFT JOIN attributed a ON a.requester = q.requester AND a.access_point = q.access_point
LEFT JOIN ignored i ON i.requester = q.requester`;
  const r = await connection.run(sql, [digest, zone, listValue([...batches])]);
  return Number(r.rowsChanged);
}

/**
 * Batches counted by one statement: a cold refresh (a registry never seen) counts every batch of the
 * state, and a statement's groups are held in memory (a night is one batch).
 */
const BATCHES_A_STATEMENT = 8;

/** The counted and unattributed rows of `batches`, from their daily rows and the pairs cache. */
async function countBatches(
  connection: DuckDBConnection,
  digest: string,
  read: AttributedDailyRead,
  batches: readonly string[],
): Promise<void> {
  const daily = DAILY_ROLLUP_TABLES.daily;
  const { pairs, counted, unattributed } = ATTRIBUTED_DAILY_TABLES;
  const p = new Parameters<DuckDBValue>();
  // Placeholders are numbered in the order of the text: each piece adds its values where it stands.
  const zones = read.partners.zones
    .map((z) => `(CAST(${p.add(z.id)} AS INTEGER), CAST(${p.add(z.timeZone)} AS VARCHAR))`)
    .join(', ');
  const byDay = `by_day AS (
  SELECT r.zone_id, r.batch, a.partner_id, a.application_id, r.dataset, r.operation, r.status_class, r.local_date,
    sum(r.requests) AS requests, sum(r.bytes_sent) AS bytes_sent, sum(r.records) AS records
  FROM ${daily} r
  JOIN (VALUES ${zones}) z(zone_id, time_zone) ON z.zone_id = r.zone_id
  JOIN ${pairs} a ON a.digest = ${p.add(digest)} AND a.requester = r.requester
    AND a.access_point = r.access_point AND a.time_zone = z.time_zone
  WHERE r.batch IN (SELECT unnest(${p.add(listValue([...batches]))}::VARCHAR[]))
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)`;
  const tail = countedTail(DUCKDB, read.tables, p, undefined, ['zone_id', 'batch']);
  await connection.run(
    `INSERT INTO ${counted} (digest, zone_id, batch, local_date, partner_id, application_id, dataset,
      requests, bytes_sent, records)
WITH ${byDay},
${tail.ctes},
sums AS (
${tail.select}
)
SELECT ${p.add(digest)}, zone_id, batch, local_date, partner_id, application_id, dataset,
  CAST(requests AS BIGINT), CAST(bytes_sent AS BIGINT), CAST(records AS BIGINT)
FROM sums`,
    [...p.values],
  );
  await connection.run(
    `INSERT INTO ${unattributed} (digest, zone_id, batch, local_date, requester, access_point, dataset,
      status_class, requests, bytes_sent, records)
SELECT $1, r.zone_id, r.batch, r.local_date, r.requester, r.access_point, r.dataset, r.status_class,
  CAST(sum(r.requests) AS BIGINT), CAST(sum(r.bytes_sent) AS BIGINT), CAST(sum(r.records) AS BIGINT)
FROM ${daily} r
JOIN ${pairs} a ON a.digest = $1 AND a.requester = r.requester AND a.access_point = r.access_point
WHERE r.zone_id = $3::INTEGER AND r.batch IN (SELECT unnest($2::VARCHAR[])) AND a.partner_id IS NULL
  AND NOT a.ignored
GROUP BY r.zone_id, r.batch, r.local_date, r.requester, r.access_point, r.dataset, r.status_class`,
    [digest, listValue([...batches]), read.unattributed.zones[0]!.id],
  );
}
