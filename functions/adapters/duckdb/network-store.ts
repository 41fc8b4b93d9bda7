/**
 * The network table beside the rollup, on the local engine: per 15-minute UTC slot (the rollup's, so
 * that a partner's local period cuts it exactly), batch and who (raw requester,
 * access point) asked from where (remote address as logged, its source prefix and address key, the VPC
 * endpoint of the host header, the source region), the requests, bytes sent and first and last time.
 * Filled from the same worker pass as the rollup (../logs/network-rows.ts), staged per connection and
 * summed into `network_usage` in the same transaction as the rollup rows of the same files, with the same
 * batch: re-ingesting a batch replaces its rows, a crash before the commit leaves none, and a repeated
 * delivery of a request is taken back out as it is from the rollup (request-claims.ts). The findings
 * (network-findings.ts) join it with the attribution tables, so a registry change applies to past use.
 */
import { DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { SLOT_MS } from '../../domain/usage.js';
import type { ColumnarNetworkRows } from '../logs/network-rows.js';
import { appendColumns } from './append-columns.js';

/** A network row's grain, the rollup's slot: its slot_start is its slot (as the scanner numbers it) x this. */
export const NETWORK_SLOT_MS = SLOT_MS;

/** The stored table; created with the rest of the schema (schema.ts). */
export const NETWORK_TABLE_SCHEMA = `CREATE TABLE IF NOT EXISTS network_usage (
    slot_start BIGINT NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    source_address VARCHAR NOT NULL,
    source_prefix VARCHAR NOT NULL,
    address_key VARCHAR NOT NULL,
    address_class VARCHAR NOT NULL,
    vpce VARCHAR NOT NULL,
    source_region VARCHAR NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    batch VARCHAR NOT NULL
  )`;

/**
 * A network table of the first release (a row per UTC day, `day_start`): dropped when the state opens,
 * as the ingestion settings fingerprint (rollup: 5, local-ingest.ts) makes the next ingestion rebuild
 * the rollup and this table from the logs anyway. A row per day cannot be cut at a local midnight.
 */
export const OLD_NETWORK_SHAPE = `SELECT 1 FROM information_schema.columns
  WHERE table_name = 'network_usage' AND column_name = 'day_start' AND table_schema = 'main'`;
export const DROP_OLD_NETWORK = 'DROP TABLE network_usage';

/** Per-connection staging, beside rollup_stream; string columns are ids into rollup_stream_strings. */
export const NETWORK_STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS network_stream (
    item INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    address INTEGER NOT NULL,
    prefix INTEGER NOT NULL,
    address_key INTEGER NOT NULL,
    address_class INTEGER NOT NULL,
    vpce INTEGER NOT NULL,
    region INTEGER NOT NULL,
    requests DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    first_ms DOUBLE NOT NULL,
    last_ms DOUBLE NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL
  )`,
  'DELETE FROM network_stream',
];

const STREAM_TYPES = [
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  INTEGER,
  INTEGER,
];

/** The string-id columns of network_stream, decoded through rollup_stream_strings. */
const KEY_COLUMNS = [
  'requester',
  'access_point',
  'address',
  'prefix',
  'address_key',
  'address_class',
  'vpce',
  'region',
] as const;

/** SQL of the network table; constant text, values only as parameters. */
export const NETWORK_SQL = {
  /**
   * Sums the staged rows of the items $1 (batches $2, parallel) by batch and key into network_usage; $3
   * is NETWORK_SLOT_MS. First and last time come from the lines counted (a repeat taken back out was logged at
   * the time of the request it repeats); a key whose every request was a repeat is not written.
   */
  insertSummed: `INSERT INTO network_usage (slot_start, requester, access_point, source_address, source_prefix,
      address_key, address_class, vpce, source_region, requests, bytes_sent, first_ms, last_ms, batch)
    SELECT g.slot::BIGINT * $3::BIGINT, ${KEY_COLUMNS.map((c) => `s_${c}.value`).join(', ')},
      g.requests, g.bytes_sent, g.first_ms, g.last_ms, g.batch
    FROM (
      SELECT f.batch, slot, ${KEY_COLUMNS.join(', ')},
        sum(requests::BIGINT)::BIGINT AS requests,
        sum(bytes_sent::BIGINT)::BIGINT AS bytes_sent,
        min(first_ms::BIGINT) FILTER (WHERE requests > 0) AS first_ms,
        max(last_ms::BIGINT) FILTER (WHERE requests > 0) AS last_ms
      FROM network_stream s
        JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($2::VARCHAR[]) AS batch) f ON f.item = s.item
      GROUP BY f.batch, slot, ${KEY_COLUMNS.join(', ')}
      HAVING sum(requests::BIGINT) > 0
    ) g
      ${KEY_COLUMNS.map((c) => `JOIN rollup_stream_strings s_${c} ON s_${c}.id = g.${c}`).join('\n      ')}`,
  discardItems: 'DELETE FROM network_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  /**
   * Repeated requests taken back out of the network rows they went into, as request-claims.ts takes
   * them out of the rollup rows: the same lines (claimed before, or not the first of their identity in
   * the group, in the same order), summed per network row (task, net_ref) in network_repeats by
   * RequestIdStage.dropRepeats, become negative partial rows of that row.
   */
  stageNegatives: `INSERT INTO network_stream (item, slot, ${KEY_COLUMNS.join(', ')}, requests, bytes_sent,
      first_ms, last_ms, task, ref)
    SELECT k.item, k.slot, ${KEY_COLUMNS.map((c) => `k.${c}`).join(', ')}, -r.requests, -r.bytes_sent, 0, 0,
      r.task, r.net_ref
    FROM network_repeats r
      JOIN (
        SELECT DISTINCT item, task, ref, slot, ${KEY_COLUMNS.join(', ')}
        FROM network_stream
        WHERE (task, ref) IN (SELECT (task, net_ref) FROM network_repeats)
      ) k ON k.task = r.task AND k.ref = r.net_ref`,
  deleteOf: 'DELETE FROM network_usage WHERE batch IN (SELECT unnest($1::VARCHAR[]))',
  clear: 'DELETE FROM network_usage',
} as const;

/** Stages network rows read in task `task`; their strings are staged with the rollup's. */
export async function stageNetworkRows(
  connection: DuckDBConnection,
  task: number,
  rows: ColumnarNetworkRows,
): Promise<void> {
  if (rows.count === 0) return;
  const columns = [
    rows.item,
    rows.slot,
    rows.requester,
    rows.accessPoint,
    rows.address,
    rows.prefix,
    rows.addressKey,
    rows.addressClass,
    rows.vpce,
    rows.region,
    rows.requests,
    rows.bytesSent,
    rows.firstMs,
    rows.lastMs,
    new Int32Array(rows.count).fill(task),
    rows.ref,
  ];
  await appendColumns(connection, 'network_stream', STREAM_TYPES, columns, rows.count);
}

/** Sums the staged network rows of `items` into network_usage and unstages them (caller's transaction). */
export async function insertNetworkRows(
  connection: DuckDBConnection,
  items: readonly { readonly item: number; readonly batch: string }[],
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(
    NETWORK_SQL.insertSummed,
    [listValue(items.map((i) => i.item)), listValue(items.map((i) => i.batch)), NETWORK_SLOT_MS],
    [LIST(INTEGER), LIST(VARCHAR), INTEGER],
  );
  await discardNetworkRows(
    connection,
    items.map((i) => i.item),
  );
}

/** Drops the staged network rows of `items`. */
export async function discardNetworkRows(
  connection: DuckDBConnection,
  items: readonly number[],
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(NETWORK_SQL.discardItems, [listValue([...items])], [LIST(INTEGER)]);
}

/** Stages the group's repeats (network_repeats, per partial network row) as negative network rows. */
export async function stageNetworkRepeats(connection: DuckDBConnection): Promise<void> {
  await connection.run(NETWORK_SQL.stageNegatives);
}
