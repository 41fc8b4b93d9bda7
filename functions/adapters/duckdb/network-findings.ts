/**
 * The network findings on the local engine (NETWORKS.md), by SQL over the network table joined with the
 * attribution tables the usage aggregation writes (usage-aggregation.ts), so that a registry change
 * applies to past usage without reading the logs again.
 *
 * A network row (requester, access point, address, VPC endpoint, source region, slot) belongs to the
 * application its requester and access point are attributed to, by the rules of the rollup's
 * attribution (the same CTEs). For an application that declares networks, a row none of its
 * declarations holds (CIDR by address key range, VPC endpoint, source region) is outside; an outside row
 * that another partner's declaration holds is also a shared credential. Rows are summed by source
 * prefix; the range is local dates in each partner's zone, cut at the table's 15-minute slots.
 */
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import {
  type DeclaredNetworkRow,
  declaredNetworkRows,
  type NetworkFinding,
  type NetworkFindingKind,
} from '../../domain/network-findings.js';
import type { Registry } from '../../domain/registry.js';
import { startOfLocalDate } from '../../domain/time.js';
import { SqlInputError } from '../athena/sql.js';
import {
  type AggregationQuery,
  attributionCtes,
  checkDate,
  DUCKDB,
  Parameters,
} from '../sql/usage-aggregation-sql.js';
import type { DuckDbDatabase } from './duckdb-database.js';
import { LOCAL_AGGREGATION_TABLES, writeAttributionTables } from './usage-aggregation.js';

export const NETWORKS_TABLE = 'registry_networks';

/** Replaces the connection's declared-networks table with `rows`. */
export async function writeDeclaredNetworks(
  connection: DuckDBConnection,
  rows: readonly DeclaredNetworkRow[],
): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${NETWORKS_TABLE} (
    partner_id VARCHAR NOT NULL, application_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    lo VARCHAR NOT NULL, hi VARCHAR NOT NULL, value VARCHAR NOT NULL)`);
  if (rows.length === 0) return;
  const column = (pick: (r: DeclaredNetworkRow) => string) => listValue(rows.map(pick));
  await connection.run(
    `INSERT INTO ${NETWORKS_TABLE} SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]),
      unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[])`,
    [
      column((r) => r.partner_id),
      column((r) => r.application_id),
      column((r) => r.kind),
      column((r) => r.lo),
      column((r) => r.hi),
      column((r) => r.value),
    ],
  );
}

/**
 * Local dates [fromDate, toDate), each taken in the time zone of the partner a finding is of, as usage
 * is (OVERAGES.md): a request belongs to a partner's period by its slot's local date.
 */
export interface NetworkFindingsRequest {
  readonly fromDate: string;
  readonly toDate: string;
}

/**
 * Zones are at most 14 hours east and 12 west of UTC: the local date `toDate` starts, in any zone,
 * before its UTC start plus this (a day, with room to spare): the statement reads no slot past it.
 */
const LATEST_ZONE_MS = 86_400_000;

/**
 * The network findings of the local dates [fromDate, toDate) in each finding's partner zone: columns
 * kind, partner_id, application_id, requester, access_point, source_prefix, address_class, vpce,
 * source_region, by_partner, by_application, requests, bytes_sent, first_ms, last_ms, first_ever_ms;
 * ordered by the first eleven. A slot belongs to the local date it starts in, as a rollup slot does
 * (every zone's offset is a multiple of 15 minutes); first_ever_ms is over every slot before toDate.
 */
export function networkFindingsSql(request: NetworkFindingsRequest): AggregationQuery<string | number> {
  const fromDate = checkDate("the network findings' fromDate", request.fromDate);
  const toDate = checkDate("the network findings' toDate", request.toDate);
  if (fromDate > toDate) {
    throw new SqlInputError(`the network findings' fromDate ${fromDate} is after their toDate ${toDate}`);
  }
  const d = DUCKDB;
  const p = new Parameters<string | number>();
  const readEndMs = startOfLocalDate(toDate, 'UTC') + LATEST_ZONE_MS;
  const ctes = attributionCtes(
    d,
    LOCAL_AGGREGATION_TABLES,
    { startMs: 0, endMs: readEndMs },
    p,
    (q) => `  SELECT slot_start, requester, access_point, source_prefix, address_key, address_class, vpce,
    source_region, requests, bytes_sent, first_ms, last_ms
  FROM network_usage
  WHERE slot_start < CAST(${q.add(d.instant(readEndMs))} AS BIGINT)`,
  );
  const to = p.add(d.text(toDate));
  const sql = `WITH ${ctes},
declared AS (SELECT * FROM "${NETWORKS_TABLE}"),
own AS (
  SELECT u.*, a.partner_id, a.application_id, a.time_zone
  FROM usage u
  JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
  WHERE (a.partner_id, a.application_id) IN (SELECT (partner_id, application_id) FROM declared)
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
  SELECT '${'credential-used-outside-declared-network' satisfies NetworkFindingKind}' AS kind, o.*,
    NULL AS by_partner, NULL AS by_application
  FROM outside o
  UNION ALL
  SELECT '${'shared-credential' satisfies NetworkFindingKind}' AS kind, o.*,
    h.partner_id AS by_partner, h.application_id AS by_application
  FROM outside o
  JOIN holders h ON h.address_key = o.address_key AND h.vpce = o.vpce AND h.source_region = o.source_region
    AND h.partner_id <> o.partner_id
),
in_range AS (
  SELECT *, local_date >= CAST(${p.add(d.text(fromDate))} AS VARCHAR) AS within FROM sourced
)
SELECT kind, partner_id, application_id, requester, access_point, source_prefix, address_class, vpce,
  source_region, by_partner, by_application,
  sum(requests) FILTER (WHERE within)::BIGINT AS requests,
  sum(bytes_sent) FILTER (WHERE within)::BIGINT AS bytes_sent,
  min(first_ms) FILTER (WHERE within) AS first_ms,
  max(last_ms) FILTER (WHERE within) AS last_ms,
  min(first_ms) AS first_ever_ms
FROM in_range
GROUP BY ALL
HAVING count(*) FILTER (WHERE within) > 0
ORDER BY kind, partner_id, application_id, requester, access_point, source_prefix, address_class, vpce,
  source_region, by_partner NULLS FIRST, by_application NULLS FIRST`;
  return { sql, params: p.values };
}

/** Runs the findings on a connection, with `registry`'s attribution and declared-network tables. */
export async function networkFindings(
  connection: DuckDBConnection,
  registry: Registry,
  request: NetworkFindingsRequest,
): Promise<NetworkFinding[]> {
  const declared = declaredNetworkRows(registry);
  if (declared.length === 0) return [];
  await writeAttributionTables(connection, registry);
  await writeDeclaredNetworks(connection, declared);
  const q = networkFindingsSql(request);
  const reader = await connection.runAndReadAll(q.sql, [...q.params]);
  return reader.getRows().map((r) => ({
    kind: r[0] as NetworkFindingKind,
    partnerId: String(r[1]),
    applicationId: String(r[2]),
    requester: String(r[3]),
    accessPoint: String(r[4]),
    sourcePrefix: String(r[5]),
    addressClass: String(r[6]),
    vpcEndpoint: String(r[7]),
    sourceRegion: String(r[8]),
    declaredBy: r[9] === null ? null : { partnerId: String(r[9]), applicationId: String(r[10]) },
    requests: BigInt(r[11] as bigint),
    bytesSent: BigInt(r[12] as bigint),
    firstSeenMs: Number(r[13]),
    lastSeenMs: Number(r[14]),
    firstEverMs: Number(r[15]),
  }));
}

/** The network findings of a state file, on the database's serial queue. */
export class DuckDbNetworkFindings {
  constructor(private readonly database: DuckDbDatabase) {}

  findings(registry: Registry, request: NetworkFindingsRequest): Promise<NetworkFinding[]> {
    return this.database.serial('networkFindings', (connection) =>
      networkFindings(connection, registry, request),
    );
  }
}
