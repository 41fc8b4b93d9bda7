/**
 * The network findings (functions/domain/NETWORKS.md) as ONE statement for both engines, with a dialect
 * per engine as usage-aggregation-sql.ts has for usage: the rules are written once here, and each engine
 * gives only where its network rows are and how it writes a slot, a parameter and a local date.
 *
 * A network row (requester, access point, address, VPC endpoint, source region, slot) belongs to the
 * application its requester and access point are attributed to, by the rules of the rollup's
 * attribution (the same CTEs). For an application that declares networks, a row none of its
 * declarations holds (CIDR by address key range, VPC endpoint, source region) is outside; an outside row
 * that another partner's declaration holds is also a shared credential. Rows are summed by source
 * prefix; the range is local dates in each partner's zone, cut at the rows' 15-minute slots.
 *
 * Where the rows are: locally the network table (functions/adapters/duckdb/network-store.ts); on AWS the
 * rollup table's `network` grain (functions/adapters/athena/sql.ts, GRAINS). The declared networks are
 * the registry's `networks` table (functions/domain/network-findings.ts, declaredNetworkRows): a temp
 * table locally, a Glue table on AWS (lib/constructs/registry-tables.ts).
 *
 * Parameters only in WHERE clauses (Athena takes them nowhere else), so the range's first date cuts the
 * rows in a WHERE of their own (`windowed`) and the first time ever seen comes from all of them (`ever`).
 */
import { OUTSIDE_DECLARED_NETWORK, SHARED_CREDENTIAL } from '../../domain/network-findings.js';
import { startOfLocalDate } from '../../domain/time.js';
import { GRAINS, SqlInputError } from '../athena/sql.js';
import {
  type AggregationDialect,
  type AggregationQuery,
  type AggregationTables,
  attributionCtes,
  checkDate,
  Parameters,
} from './usage-aggregation-sql.js';

/** The tables the findings read: the attribution tables, the declared networks, the network rows. */
export interface NetworkFindingsTables extends AggregationTables {
  /** The declared networks (partner_id, application_id, kind, lo, hi, value). */
  readonly networks: string;
  /**
   * The network rows, on the local engine (slot_start in epoch ms). On Trino they are the rollup's
   * `network` grain. @default the rollup table's network grain
   */
  readonly networkUsage?: string;
}

/**
 * Local dates [fromDate, toDate), each taken in the time zone of the partner a finding is of, as usage
 * is (OVERAGES.md): a request belongs to a partner's period by its slot's local date.
 */
export interface NetworkFindingsRequest {
  readonly fromDate: string;
  readonly toDate: string;
}

/** The columns of a finding, in the order the statement returns them. */
export const NETWORK_FINDING_COLUMNS = [
  'kind',
  'partner_id',
  'application_id',
  'requester',
  'access_point',
  'source_prefix',
  'address_class',
  'vpce',
  'source_region',
  'by_partner',
  'by_application',
  'requests',
  'bytes_sent',
  'first_ms',
  'last_ms',
  'first_ever_ms',
] as const;

/**
 * Zones are at most 14 hours east and 12 west of UTC: the local date `toDate` starts, in any zone,
 * before its UTC start plus this (a day, with room to spare): the statement reads no slot past it.
 */
const LATEST_ZONE_MS = 86_400_000;

/** The columns a network row gives, as `usage` holds them. */
const ROW_COLUMNS = `slot_start, requester, access_point, source_prefix, address_key, address_class, vpce,
    source_region, requests, bytes_sent, first_ms, last_ms`;

/** What a finding is keyed by (`by_partner` and `by_application` are '' for an outside finding until the end). */
const FINDING_KEY = `kind, partner_id, application_id, requester, access_point, source_prefix, address_class, vpce,
    source_region, by_partner, by_application`;

/**
 * The network findings of the local dates [fromDate, toDate) in each finding's partner zone: columns
 * NETWORK_FINDING_COLUMNS (by_partner and by_application NULL for an outside finding), ordered by the
 * first eleven. A slot belongs to the local date it starts in, as a rollup slot does (every zone's
 * offset is a multiple of 15 minutes); first_ever_ms is over every slot before toDate.
 */
export function networkFindingsSql<P>(
  d: AggregationDialect<P>,
  tables: NetworkFindingsTables,
  request: NetworkFindingsRequest,
): AggregationQuery<P> {
  const fromDate = checkDate("the network findings' fromDate", request.fromDate);
  const toDate = checkDate("the network findings' toDate", request.toDate);
  if (fromDate > toDate) {
    throw new SqlInputError(`the network findings' fromDate ${fromDate} is after their toDate ${toDate}`);
  }
  const p = new Parameters<P>();
  const readEndMs = startOfLocalDate(toDate, 'UTC') + LATEST_ZONE_MS;
  const rows =
    tables.networkUsage === undefined
      ? { table: d.table(tables, tables.rollup), grain: `\n    AND grain = '${GRAINS.network}'` }
      : { table: d.table(tables, tables.networkUsage), grain: '' };
  const ctes = attributionCtes(
    d,
    tables,
    { startMs: 0, endMs: readEndMs },
    p,
    (q) => `  SELECT ${ROW_COLUMNS}
  FROM ${rows.table}
  WHERE slot_start < ${d.slotParameter.replace('?', q.add(d.instant(readEndMs)))}${rows.grain}`,
  );
  const to = p.add(d.text(toDate));
  const from = p.add(d.text(fromDate));
  const sql = `WITH ${ctes},
declared AS (SELECT partner_id, application_id, kind, lo, hi, value FROM ${d.table(tables, tables.networks)}),
own AS (
  SELECT u.*, a.partner_id, a.application_id, a.time_zone
  FROM usage u
  JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
  JOIN (SELECT DISTINCT partner_id, application_id FROM declared) da
    ON da.partner_id = a.partner_id AND da.application_id = a.application_id
),
slot_days AS (
  SELECT s.slot_start, s.time_zone, ${d.localDate('s.slot_start', 's.time_zone')} AS local_date
  FROM (SELECT DISTINCT slot_start, time_zone FROM own) s
),
dated AS (
  SELECT o.*, z.local_date
  FROM own o
  JOIN slot_days z ON z.slot_start = o.slot_start AND z.time_zone = o.time_zone
  WHERE z.local_date < CAST(${to} AS VARCHAR)
),
places AS (SELECT DISTINCT address_key, vpce, source_region FROM dated),
holders AS (
  SELECT DISTINCT p.address_key, p.vpce, p.source_region, n.partner_id, n.application_id
  FROM places p
  JOIN declared n ON (n.kind = 'cidr' AND length(p.address_key) = length(n.lo)
      AND p.address_key BETWEEN n.lo AND n.hi)
    OR (n.kind = 'vpce' AND p.vpce = n.value)
    OR (n.kind = 'region' AND p.source_region = n.value)
),
outside AS (
  SELECT o.* FROM dated o
  WHERE NOT EXISTS (
    SELECT 1 FROM holders h
    WHERE h.address_key = o.address_key AND h.vpce = o.vpce AND h.source_region = o.source_region
      AND h.partner_id = o.partner_id AND h.application_id = o.application_id
  )
),
sourced AS (
  SELECT '${OUTSIDE_DECLARED_NETWORK}' AS kind, o.*, '' AS by_partner, '' AS by_application
  FROM outside o
  UNION ALL
  SELECT '${SHARED_CREDENTIAL}' AS kind, o.*, h.partner_id AS by_partner, h.application_id AS by_application
  FROM outside o
  JOIN holders h ON h.address_key = o.address_key AND h.vpce = o.vpce AND h.source_region = o.source_region
    AND h.partner_id <> o.partner_id
),
windowed AS (
  SELECT ${FINDING_KEY},
    sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, min(first_ms) AS first_ms, max(last_ms) AS last_ms
  FROM sourced
  WHERE local_date >= CAST(${from} AS VARCHAR)
  GROUP BY ${FINDING_KEY}
),
ever AS (
  SELECT ${FINDING_KEY}, min(first_ms) AS first_ever_ms
  FROM sourced
  GROUP BY ${FINDING_KEY}
)
SELECT w.kind, w.partner_id, w.application_id, w.requester, w.access_point, w.source_prefix, w.address_class,
  w.vpce, w.source_region, nullif(w.by_partner, '') AS by_partner, nullif(w.by_application, '') AS by_application,
  CAST(w.requests AS BIGINT) AS requests, CAST(w.bytes_sent AS BIGINT) AS bytes_sent,
  w.first_ms, w.last_ms, e.first_ever_ms
FROM windowed w
JOIN ever e ON ${FINDING_KEY.split(',')
    .map((c) => c.trim())
    .map((c) => `e.${c} = w.${c}`)
    .join(' AND ')}
ORDER BY w.kind, w.partner_id, w.application_id, w.requester, w.access_point, w.source_prefix, w.address_class,
  w.vpce, w.source_region, w.by_partner, w.by_application`;
  return { sql, params: p.values };
}
