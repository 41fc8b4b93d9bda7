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
 *
 * Stored coded, as the rollup is (schema.ts): `network_rows` holds every string column and the batch
 * as codes of `rollup_strings`, and the view `network_usage` decodes them under the columns the table
 * had, so its readers are unchanged. Written as strings, 28 days of traffic in one file (253,552 rows a
 * million lines) cost the ingestion about 0.6 s and 70 to 100 MB (BENCHMARKS.md, issue 15).
 */
import { DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue } from '@duckdb/node-api';
import { SLOT_MS } from '../../domain/usage.js';
import type { ColumnarNetworkRows } from '../logs/network-rows.js';
import { PendingAppend } from './append-columns.js';
import { batchCodeOf, DICTIONARY_LIST } from './rollup-strings.js';

/** A network row's grain, the rollup's slot: its slot_start is its slot (as the scanner numbers it) x this. */
export const NETWORK_SLOT_MS = SLOT_MS;

/** The string columns of the network table, in its order (each a code of `rollup_strings` when stored). */
const STRING_COLUMNS = [
  'requester',
  'access_point',
  'source_address',
  'source_prefix',
  'address_key',
  'address_class',
  'vpce',
  'source_region',
] as const;

/** The stored table; created with the rest of the schema (schema.ts), after `rollup_strings`. */
const NETWORK_ROWS_SCHEMA = `CREATE TABLE IF NOT EXISTS network_rows (
    slot_start BIGINT NOT NULL,
    ${STRING_COLUMNS.map((c) => `${c} INTEGER NOT NULL`).join(',\n    ')},
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    batch INTEGER NOT NULL
  )`;

/** The network table as its readers know it: the table's columns, decoded (replaced at every open). */
const NETWORK_VIEW = `CREATE OR REPLACE VIEW network_usage AS
  SELECT r.slot_start, ${STRING_COLUMNS.map((c) => `l.v[r.${c} + 1] AS ${c}`).join(', ')},
    r.requests, r.bytes_sent, r.first_ms, r.last_ms, l.v[r.batch + 1] AS batch
  FROM network_rows r, ${DICTIONARY_LIST} l`;

/** The table and its view, in order. */
export const NETWORK_TABLE_SCHEMA: readonly string[] = [NETWORK_ROWS_SCHEMA, NETWORK_VIEW];

/** A network table per slot still stored as strings (the release before the coded one): a table, not the view. */
export const NETWORK_UNCODED = `SELECT 1 FROM duckdb_tables()
  WHERE table_name = 'network_usage' AND schema_name = 'main' AND NOT temporary`;

/**
 * Codes a `network_usage` table of strings into `network_rows` (every row, the same figures) and drops
 * it; the schema then creates the view in its place. Run in one transaction, after the rollup's upgrade
 * (`rollup_strings` must exist: `dictionary` creates it if not) and before the schema.
 */
export function upgradeNetwork(dictionary: readonly string[]): readonly string[] {
  return [
    'ALTER TABLE network_usage RENAME TO network_input',
    ...dictionary,
    NETWORK_ROWS_SCHEMA,
    `INSERT INTO rollup_strings (id, value)
      SELECT (SELECT coalesce(max(id), -1) FROM rollup_strings) + row_number() OVER (ORDER BY value), value
      FROM (SELECT DISTINCT unnest([${STRING_COLUMNS.join(', ')}, batch]) AS value FROM network_input)
      WHERE value NOT IN (SELECT value FROM rollup_strings)`,
    `INSERT INTO network_rows
      SELECT x.slot_start, ${STRING_COLUMNS.map((c) => `s_${c}.id`).join(', ')},
        x.requests, x.bytes_sent, x.first_ms, x.last_ms, s_batch.id
      FROM network_input x
        ${[...STRING_COLUMNS, 'batch'].map((c) => `JOIN rollup_strings s_${c} ON s_${c}.value = x.${c}`).join('\n        ')}`,
    'DROP TABLE network_input',
  ];
}

/**
 * A network table of the first release (a row per UTC day, `day_start`): dropped when the state opens,
 * as the ingestion settings fingerprint (rollup: 5, local-ingest.ts) makes the next ingestion rebuild
 * the rollup and this table from the logs anyway. A row per day cannot be cut at a local midnight.
 */
export const OLD_NETWORK_SHAPE = `SELECT 1 FROM duckdb_columns()
  WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'network_usage'
    AND column_name = 'day_start'`;
export const DROP_OLD_NETWORK = 'DROP TABLE network_usage';

/** Per-connection staging, beside rollup_stream; string columns are codes of rollup_strings (StagedRollup.stage). */
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

/** The string columns of network_stream, by position those of the network table (STRING_COLUMNS). */
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
   * Sums the staged rows of the items $1 (the codes of their batches in `rollup_strings` $2, parallel) by
   * batch and key into network_rows, codes as staged; $3 is NETWORK_SLOT_MS. First and
   * last time come from the lines counted (a repeat taken back out was logged at the time of the
   * request it repeats); a key whose every request was a repeat is not written.
   */
  insertSummed: `INSERT INTO network_rows (slot_start, ${STRING_COLUMNS.join(', ')}, requests, bytes_sent,
      first_ms, last_ms, batch)
    SELECT slot::BIGINT * $3::BIGINT, ${KEY_COLUMNS.join(', ')},
      sum(requests::BIGINT)::BIGINT AS requests,
      sum(bytes_sent::BIGINT)::BIGINT AS bytes_sent,
      min(first_ms::BIGINT) FILTER (WHERE requests > 0) AS first_ms,
      max(last_ms::BIGINT) FILTER (WHERE requests > 0) AS last_ms,
      f.batch
    FROM network_stream s
      JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($2::INTEGER[]) AS batch) f ON f.item = s.item
    GROUP BY f.batch, slot, ${KEY_COLUMNS.join(', ')}
    HAVING sum(requests::BIGINT) > 0`,
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
  deleteOf: `DELETE FROM network_rows WHERE batch IN
    (SELECT id FROM rollup_strings WHERE value IN (SELECT unnest($1::VARCHAR[])))`,
  clear: 'DELETE FROM network_rows',
} as const;

/** Rows bound for network_stream, appended a few tens of thousands at a time (see PendingAppend). */
export function networkStreamAppend(): PendingAppend {
  return new PendingAppend('network_stream', STREAM_TYPES);
}

/**
 * Stages network rows read in task `task`, their string columns already codes of `rollup_strings`,
 * through `pending` (networkStreamAppend): flush it before anything reads network_stream.
 */
export async function stageNetworkRows(
  pending: PendingAppend,
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
  await pending.add(connection, columns, rows.count);
}

/**
 * Sums the staged network rows of `items` into network_rows and unstages them (caller's transaction);
 * `batchCodes` holds each batch's code in `rollup_strings`.
 */
export async function insertNetworkRows(
  connection: DuckDBConnection,
  items: readonly { readonly item: number; readonly batch: string }[],
  batchCodes: ReadonlyMap<string, number>,
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(
    NETWORK_SQL.insertSummed,
    [
      listValue(items.map((i) => i.item)),
      listValue(items.map((i) => batchCodeOf(batchCodes, i.batch))),
      NETWORK_SLOT_MS,
    ],
    [LIST(INTEGER), LIST(INTEGER), INTEGER],
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
