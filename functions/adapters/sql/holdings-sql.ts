/**
 * Holdings (functions/domain/HOLDINGS.md) attributed and aggregated in the engine, one builder with the
 * Trino and DuckDB dialects of usage-aggregation-sql.ts: the holdings table's requester and access
 * point pairs are attributed by the same CTEs as the rollup's (pairAttributionCtes), each slot is
 * given its local date in the partner's zone, and objects are counted distinct per partner application
 * and per partner (all applications, `*`), by GROUPING SETS, so JavaScript receives rows per partner x
 * application x dataset (x local date for the chart).
 *
 * A held object is (bucket, key, version id, object size as logged). Reads that logged no size (`-`)
 * join the sized object of the same key and version where the same principal group read one in the
 * window; alone, they are one object of unknown size.
 *
 * The holdings table differs by engine: locally a view of its own (holdings-writer.ts); on AWS the
 * rollup's Iceberg table, whose `grain = 'held'` rows it is (one table for every grain, so that a night
 * scans its logs once: functions/adapters/athena/sql.ts). The dialects below say which rows to read.
 *
 * SQL is data: values (instants, dates, the partner) are parameters; table names are validated.
 */
import type { HoldingsRequest } from '../../ports.js';
import {
  type AggregationDialect,
  type AggregationQuery,
  type AggregationTables,
  checkDate,
  Parameters,
  pairAttributionCtes,
  TRINO,
} from './usage-aggregation-sql.js';

/** An aggregation dialect that also says which rows of its holdings table are holdings. */
export interface HoldingsDialect<P> extends AggregationDialect<P> {
  /** A predicate that keeps the holdings rows of `HoldingsTables.holdings`. */
  readonly heldRowsOnly: string;
}

/** Athena: the holdings are the rollup table's held grain (`HoldingsTables.holdings` names the rollup). */
export const TRINO_HOLDINGS: HoldingsDialect<string> = Object.freeze({
  ...TRINO,
  heldRowsOnly: "grain = 'held'",
});

/** Where the holdings statements read: the holdings table and the registry tables. */
export interface HoldingsTables extends AggregationTables {
  readonly holdings: string;
}

/** The application id of the all-applications rows (ALL_APPLICATIONS in domain/holdings.ts). */
const ALL = '*';

function heldCtes<P>(
  d: HoldingsDialect<P>,
  tables: HoldingsTables,
  request: HoldingsRequest,
  p: Parameters<P>,
): string {
  const slot = d.slotParameter;
  // Parameters in the order their placeholders appear in the text.
  const ranges = `WHERE slot_start >= ${slot.replace('?', p.add(d.instant(request.range.startMs)))}
    AND slot_start < ${slot.replace('?', p.add(d.instant(request.range.endMs)))}
    AND ${d.heldRowsOnly}`;
  const attribution = pairAttributionCtes(d, tables, 'held_rows');
  const from = p.add(d.text(checkDate('fromDate', request.fromDate)));
  const to = p.add(d.text(checkDate('toDate', request.toDate)));
  const partner =
    request.partnerId === undefined ? '' : `\n    AND a.partner_id = ${p.add(d.text(request.partnerId))}`;
  return `held_rows AS ${d.inlineCte}(
  SELECT slot_start, requester, access_point, bucket, object_key, version_id, dataset, object_size,
    object_records, first_ms, last_ms, retrievals, full_retrievals, bytes_sent
  FROM ${d.table(tables, tables.holdings)}
  ${ranges}
),
${attribution},
slot_days AS (
  SELECT s.slot_start, z.time_zone, ${d.localDate('s.slot_start', 'z.time_zone')} AS local_date
  FROM (SELECT DISTINCT slot_start FROM held_rows) s
  CROSS JOIN (SELECT DISTINCT time_zone FROM attributed) z
),
held AS (
  SELECT a.partner_id, a.application_id, h.dataset, h.bucket, h.object_key, h.version_id, h.object_size,
    h.object_records, h.first_ms, h.last_ms, h.retrievals, h.full_retrievals, h.bytes_sent, z.local_date
  FROM held_rows h
  JOIN attributed a ON a.requester = h.requester AND a.access_point = h.access_point
  JOIN slot_days z ON z.slot_start = h.slot_start AND z.time_zone = a.time_zone
  WHERE z.local_date >= ${from} AND z.local_date < ${to}${partner}
),
grouped AS (
  SELECT partner_id, coalesce(application_id, '${ALL}') AS application_id, dataset, bucket, object_key,
    version_id, object_size, max(object_records) AS object_records, min(first_ms) AS first_ms,
    max(last_ms) AS last_ms, sum(retrievals) AS retrievals, sum(full_retrievals) AS full_retrievals,
    sum(bytes_sent) AS bytes_sent, min(local_date) AS first_date
  FROM held
  GROUP BY GROUPING SETS (
    (partner_id, application_id, dataset, bucket, object_key, version_id, object_size),
    (partner_id, dataset, bucket, object_key, version_id, object_size)
  )
),
sized AS (
  SELECT DISTINCT partner_id, application_id, dataset, bucket, object_key, version_id
  FROM grouped WHERE object_size IS NOT NULL
),
objects AS (
  SELECT g.*, CASE WHEN s.partner_id IS NULL THEN 1 ELSE 0 END AS distinct_object
  FROM grouped g
  LEFT JOIN sized s ON g.object_size IS NULL AND s.partner_id = g.partner_id
    AND s.application_id = g.application_id AND s.dataset = g.dataset AND s.bucket = g.bucket
    AND s.object_key = g.object_key AND s.version_id = g.version_id
)`;
}

/**
 * What each partner application, and each partner over all its applications (`*`), holds per dataset
 * in the request's window. Columns: partner_id, application_id, dataset, objects, partial_objects,
 * unknown_size_objects, object_bytes, records, retrievals, full_retrievals, bytes_sent, first_ms,
 * last_ms; ordered by the first three.
 */
export function heldDatasetsSql<P>(
  d: HoldingsDialect<P>,
  tables: HoldingsTables,
  request: HoldingsRequest,
): AggregationQuery<P> {
  const p = new Parameters<P>();
  const sql = `WITH ${heldCtes(d, tables, request, p)}
SELECT partner_id, application_id, dataset,
  sum(distinct_object) AS objects,
  sum(CASE WHEN distinct_object = 1 AND full_retrievals = 0 THEN 1 ELSE 0 END) AS partial_objects,
  sum(CASE WHEN distinct_object = 1 AND object_size IS NULL THEN 1 ELSE 0 END) AS unknown_size_objects,
  sum(CASE WHEN distinct_object = 1 THEN coalesce(object_size, 0) ELSE 0 END) AS object_bytes,
  sum(CASE WHEN distinct_object = 1 AND full_retrievals > 0 THEN object_records ELSE 0 END) AS records,
  sum(retrievals) AS retrievals, sum(full_retrievals) AS full_retrievals, sum(bytes_sent) AS bytes_sent,
  min(first_ms) AS first_ms, max(last_ms) AS last_ms
FROM objects
GROUP BY partner_id, application_id, dataset
ORDER BY partner_id, application_id, dataset`;
  return { sql, params: p.values };
}

/**
 * Distinct objects first read on each local date of the window, per partner application (and `*`)
 * and dataset: the steps of the chart of distinct objects over time. Columns: partner_id,
 * application_id, dataset, local_date, new_objects; ordered by the first four.
 */
export function heldDaysSql<P>(
  d: HoldingsDialect<P>,
  tables: HoldingsTables,
  request: HoldingsRequest,
): AggregationQuery<P> {
  const p = new Parameters<P>();
  const sql = `WITH ${heldCtes(d, tables, request, p)}
SELECT partner_id, application_id, dataset, first_date AS local_date, count(*) AS new_objects
FROM objects
WHERE distinct_object = 1
GROUP BY partner_id, application_id, dataset, first_date
ORDER BY partner_id, application_id, dataset, local_date`;
  return { sql, params: p.values };
}
