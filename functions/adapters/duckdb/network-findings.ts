/**
 * The network findings on the local engine (NETWORKS.md), by SQL over the network table joined with the
 * attribution tables the usage aggregation writes (usage-aggregation.ts), so that a registry change
 * applies to past usage without reading the logs again. The statement is ../sql/network-findings-sql.ts,
 * which the AWS path runs in Trino over the rollup's network grain.
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
import {
  type NetworkFindingsRequest,
  networkFindingsSql as sharedNetworkFindingsSql,
} from '../sql/network-findings-sql.js';
import { type AggregationQuery, DUCKDB } from '../sql/usage-aggregation-sql.js';
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

export type { NetworkFindingsRequest } from '../sql/network-findings-sql.js';

/**
 * The network findings of the local dates [fromDate, toDate) in each finding's partner zone, over the
 * network table (network-findings-sql.ts: the rules both engines run, DuckDB dialect).
 */
export function networkFindingsSql(request: NetworkFindingsRequest): AggregationQuery<string | number> {
  return sharedNetworkFindingsSql(
    DUCKDB,
    { ...LOCAL_AGGREGATION_TABLES, networks: NETWORKS_TABLE, networkUsage: 'network_usage' },
    request,
  );
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
