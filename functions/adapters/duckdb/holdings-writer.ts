/**
 * The key-level holdings table (see ../../domain/HOLDINGS.md): one row per batch, 15-minute UTC slot,
 * requester, access point, bucket and object (key, version id, object size as logged) of the
 * whole-object reads (200 and 206) of that batch's files, with its first and last retrieval, retrievals
 * and bytes sent. The slot, as in the rollup, lets any partner's local days cut it exactly. Written from the
 * same staged lines as the rollup, in the same transaction (DuckDbIngestLog.writeStagedFiles), so the
 * logs are read once; replaced with its batch, like the rollup.
 *
 * A repeated delivery of a request counts once: the lines carry the request's identity, and after the
 * request claims of the group were made (request-claims.ts) a line with an identity counts only when
 * the group itself claimed that identity (not a file recorded before), and then only once (the first
 * line in the group's order). Lines without a request id always count, as in the rollup.
 */
import { BIGINT, DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import { SLOT_MS } from '../../domain/usage.js';
import { appendColumns } from './append-columns.js';

/** The holdings table: a plain table whose shape an Iceberg table can take as it is. */
export const HOLDINGS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS holdings (
    slot_start BIGINT NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    bucket VARCHAR NOT NULL,
    object_key VARCHAR NOT NULL,
    version_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    object_size BIGINT,
    object_records BIGINT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    retrievals BIGINT NOT NULL,
    full_retrievals BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    batch VARCHAR NOT NULL
  )`,
];

/** Per-connection staging of whole-object reads, beside rollup_stream (see rollup-writer.ts). */
export const HELD_STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS held_stream (
    item INTEGER NOT NULL,
    hash_high INTEGER NOT NULL,
    hash_low INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    object_key INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    status INTEGER NOT NULL,
    time_ms DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    object_size DOUBLE NOT NULL,
    records DOUBLE NOT NULL
  )`,
  'DELETE FROM held_stream',
];

const HELD_STREAM_TYPES = [
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
];

/** The identity hash as one BIGINT, as request-claims.ts computes it. */
const ID_HASH = 'hash_high::BIGINT * 4294967296 + (hash_low::BIGINT & 4294967295)';

/**
 * The INSERT of holdings from the staged lines `lines` selects out of `staged`. Times and counts are
 * exact in a double (below 2^53) and summed as integers.
 */
const insertHeld = (
  lines: string,
): string => `INSERT INTO holdings (slot_start, requester, access_point, bucket, object_key, version_id, dataset,
      object_size, object_records, first_ms, last_ms, retrievals, full_retrievals, bytes_sent, batch)
    WITH staged AS (
      SELECT s.*, f.batch, f.ord,
        CASE WHEN s.hash_high = 0 AND s.hash_low = 0 THEN 0 ELSE ${ID_HASH} END AS id
      FROM held_stream s
        -- batch: the place in $2 of the item's batch (an integer groups faster than its text).
        JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($5::INTEGER[]) AS batch,
          unnest(range(len($1::INTEGER[]))) AS ord) f ON f.item = s.item
    )
    SELECT g.slot * $4::BIGINT, r.value, a.value, b.value, k.value, v.value, d.value, g.object_size, g.object_records,
      g.first_ms, g.last_ms, g.retrievals, g.full_retrievals, g.bytes_sent,
      list_extract($2::VARCHAR[], g.batch + 1)
    FROM (
      SELECT batch, requester, access_point, bucket, object_key, version_id, dataset,
        time_ms::BIGINT // $4::BIGINT AS slot,
        CASE WHEN object_size < 0 THEN NULL ELSE object_size::BIGINT END AS object_size,
        max(records::BIGINT)::BIGINT AS object_records,
        min(time_ms::BIGINT)::BIGINT AS first_ms,
        max(time_ms::BIGINT)::BIGINT AS last_ms,
        count(*)::BIGINT AS retrievals,
        (count(*) FILTER (WHERE status = 200))::BIGINT AS full_retrievals,
        sum(bytes_sent::BIGINT)::BIGINT AS bytes_sent
      FROM (${lines})
      GROUP BY batch, requester, access_point, bucket, object_key, version_id, dataset, 8, 9
    ) g
      JOIN rollup_stream_strings b ON b.id = g.bucket
      JOIN rollup_stream_strings r ON r.id = g.requester
      JOIN rollup_stream_strings a ON a.id = g.access_point
      JOIN rollup_stream_strings d ON d.id = g.dataset
      JOIN rollup_stream_strings k ON k.id = g.object_key
      JOIN rollup_stream_strings v ON v.id = g.version_id`;

/** SQL of the holdings writer; constant text, values only as parameters. */
export const HOLDINGS_SQL = {
  /** The newest claim file before the group's claims are made. */
  lastClaimFile: 'SELECT coalesce(max(file), 0)::INTEGER FROM request_claim_files',
  /**
   * Sums the staged reads of the items in $1 (their batches in $2, parallel) into holdings, one row per
   * batch, slot and object, every line counted: when the group's claims found no repeat (no line of it
   * carries an identity claimed before, or carried twice), as on most nights. $4 is SLOT_MS ($3 unused,
   * so that both statements take the same parameters).
   */
  insertAll: insertHeld('SELECT * FROM staged WHERE $3::INTEGER IS NOT NULL'),
  /**
   * The same, each request once when the group held repeats: a line with an identity counts only when
   * this group claimed it (a claim file after $3, see the file comment), and then once, the first in
   * the group's order. Lines without a request id always count.
   */
  insertOnce: insertHeld(`
        -- Lines without a request id: each counts.
        SELECT * FROM staged WHERE id = 0
        UNION ALL
        -- Lines with one: once per identity that this group claimed.
        SELECT * FROM staged
        WHERE id <> 0 AND id IN (SELECT id_hash FROM request_claims WHERE file > $3::INTEGER)
        QUALIFY row_number() OVER (
          PARTITION BY id ORDER BY ord, time_ms, bytes_sent, object_key, requester
        ) = 1`),
  discard: 'DELETE FROM held_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  deleteOf: 'DELETE FROM holdings WHERE batch IN (SELECT unnest($1::VARCHAR[]))',
  clear: 'DELETE FROM holdings',
} as const;

/** Stages the whole-object reads of a batch of rows. */
export async function stageHeldReads(connection: DuckDBConnection, reads: ColumnarHeldReads): Promise<void> {
  if (reads.count === 0) return;
  const columns = [
    reads.item,
    reads.hashHigh,
    reads.hashLow,
    reads.bucket,
    reads.requester,
    reads.accessPoint,
    reads.dataset,
    reads.objectKey,
    reads.versionId,
    reads.status,
    reads.timeMs,
    reads.bytesSent,
    reads.objectSize,
    reads.records,
  ];
  await appendColumns(connection, 'held_stream', HELD_STREAM_TYPES, columns, reads.count);
}

/** Drops the staged reads of `items`. */
export async function discardHeldReads(
  connection: DuckDBConnection,
  items: readonly number[],
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(HOLDINGS_SQL.discard, [listValue([...items])], [LIST(INTEGER)]);
}

/** The newest request claim file: call before the group's claims are made, for `insertHoldings`. */
export async function lastClaimFile(connection: DuckDBConnection): Promise<number> {
  const reader = await connection.runAndReadAll(HOLDINGS_SQL.lastClaimFile);
  return Number(reader.getRows()[0]![0]);
}

/**
 * Sums the staged reads of `items` (in the group's order) into holdings and unstages them. Inside the
 * caller's transaction, after the group's request claims were made (`claimsBefore`: the newest claim
 * file before them; `anyRepeats`: whether they found any repeat in the group) and before the staged
 * strings are dropped. Returns the holdings rows written.
 */
export async function insertHoldings(
  connection: DuckDBConnection,
  items: readonly { readonly item: number; readonly batch: string }[],
  claimsBefore: number,
  anyRepeats: boolean,
): Promise<number> {
  if (items.length === 0) return 0;
  const ids = items.map((i) => i.item);
  const batches = items.map((i) => i.batch);
  const firstOf = new Map<string, number>();
  batches.forEach((b, i) => {
    if (!firstOf.has(b)) firstOf.set(b, i);
  });
  const result = await connection.run(
    anyRepeats ? HOLDINGS_SQL.insertOnce : HOLDINGS_SQL.insertAll,
    [
      listValue(ids),
      listValue(batches),
      claimsBefore,
      BigInt(SLOT_MS),
      listValue(batches.map((b) => firstOf.get(b)!)),
    ],
    [LIST(INTEGER), LIST(VARCHAR), INTEGER, BIGINT, LIST(INTEGER)],
  );
  await discardHeldReads(connection, ids);
  return Number(result.rowsChanged);
}

/** Removes the holdings of whole batches (files replaced or read again). */
export async function deleteHoldingsOf(
  connection: DuckDBConnection,
  batches: readonly string[],
): Promise<void> {
  if (batches.length === 0) return;
  await connection.run(HOLDINGS_SQL.deleteOf, [listValue([...batches])], [LIST(VARCHAR)]);
}
