/**
 * The key-level holdings table (see ../../domain/HOLDINGS.md): one row per batch, 15-minute UTC slot,
 * requester, access point, bucket and object (key, version id, object size as logged) of the
 * whole-object reads (200 and 206) of that batch's files, with its first and last retrieval, retrievals
 * and bytes sent. The slot, as in the rollup, lets any partner's local days cut it exactly. Written from the
 * same staged lines as the rollup, in the same transaction (DuckDbIngestLog.writeStagedFiles), so the
 * logs are read once; replaced with its batch, like the rollup.
 *
 * The scanner sums reads into partial rows itself (one per object, key, slot and status; see
 * ../logs/holdings-batch.ts), and each line's request identity names the holdings row it went into
 * (`heldRef`, as `netRef` names its network row). A repeated delivery of a request counts once: the
 * group's request check (request-claims.ts) sums the repeats per holdings row into held_repeats, and
 * they are taken back out of that row as a negative partial row, as the rollup and the network table
 * take theirs out. Lines without a request id always count, as in the rollup.
 */
import { BIGINT, DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import { SLOT_MS } from '../../domain/usage.js';
import { appendColumns } from './append-columns.js';

/**
 * The holdings table, stored in three: `held_rows` (integers and the batch: one row per batch, slot,
 * key and object), and two dictionaries, `held_keys` (bucket, requester, access point, dataset) and
 * `held_objects` (key, version id, logged size, records), each entry written once, when first read. A
 * row's texts are not written per row: a night of 1 M lines leaves some 176,000 rows over a few
 * thousand objects (BENCHMARKS.md). The view `holdings` joins them into the shape an Iceberg table
 * takes on AWS, which the statements of ../sql/holdings-sql.ts read on both engines. Dictionary entries
 * whose rows a replaced batch took away stay: they are never read without a row.
 */
export const HOLDINGS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS held_rows (
    slot_start BIGINT NOT NULL,
    key_id INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    retrievals BIGINT NOT NULL,
    full_retrievals BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    batch VARCHAR NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS held_keys (
    key_id INTEGER NOT NULL,
    bucket VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS held_objects (
    object_id INTEGER NOT NULL,
    object_key VARCHAR NOT NULL,
    version_id VARCHAR NOT NULL,
    object_size BIGINT,
    object_records BIGINT NOT NULL
  )`,
  `CREATE OR REPLACE VIEW holdings AS
    SELECT h.slot_start, k.requester, k.access_point, k.bucket, o.object_key, o.version_id, k.dataset,
      o.object_size, o.object_records, h.first_ms, h.last_ms, h.retrievals, h.full_retrievals,
      h.bytes_sent, h.batch
    FROM held_rows h
      JOIN held_keys k ON k.key_id = h.key_id
      JOIN held_objects o ON o.object_id = h.object_id`,
];

/** Per-connection staging of partial holdings rows and of the repeats to take out of them (see rollup-writer.ts). */
export const HELD_STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS held_stream (
    item INTEGER NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    object_key INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    full_reads INTEGER NOT NULL,
    object_size DOUBLE NOT NULL,
    records DOUBLE NOT NULL,
    retrievals DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    first_ms DOUBLE NOT NULL,
    last_ms DOUBLE NOT NULL
  )`,
  'DELETE FROM held_stream',
  // The group's repeats summed per holdings row they were counted in (request-claims.ts).
  `CREATE TEMP TABLE IF NOT EXISTS held_repeats (
    task INTEGER NOT NULL,
    held_ref INTEGER NOT NULL,
    retrievals DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL
  )`,
  'DELETE FROM held_repeats',
  // The group's dictionary ids, by staged string ids: filled and emptied by insertHoldings.
  `CREATE TEMP TABLE IF NOT EXISTS held_key_ids (
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    key_id INTEGER NOT NULL
  )`,
  `CREATE TEMP TABLE IF NOT EXISTS held_object_ids (
    object_key INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    object_size DOUBLE NOT NULL,
    records DOUBLE NOT NULL,
    object_id INTEGER NOT NULL
  )`,
  'DELETE FROM held_key_ids',
  'DELETE FROM held_object_ids',
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
  INTEGER,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
];

/** The columns of a holdings row's key in held_stream (a negative row copies them from its row). */
const HELD_KEY = `bucket, requester, access_point, dataset, object_key, version_id, slot, full_reads, object_size, records`;

/** SQL of the holdings writer; constant text, values only as parameters. */
export const HOLDINGS_SQL = {
  /**
   * Each repeat taken back out: the repeats of the group summed per holdings row (task, held_ref) in
   * held_repeats become a negative partial row of that row (with that row's item: in a merged task it
   * may be another file of the task, recorded in the same group). First and last time are left to the
   * reads counted (a repeat was logged at the time of the request it repeats).
   */
  stageNegatives: `INSERT INTO held_stream (item, task, ref, ${HELD_KEY}, retrievals, bytes_sent, first_ms, last_ms)
    SELECT k.item, r.task, r.held_ref, ${HELD_KEY.split(', ')
      .map((c) => `k.${c}`)
      .join(', ')}, -r.retrievals, -r.bytes_sent, 0, 0
    FROM held_repeats r
      JOIN (
        SELECT DISTINCT item, task, ref, ${HELD_KEY}
        FROM held_stream
        WHERE (task, ref) IN (SELECT (task, held_ref) FROM held_repeats)
      ) k ON k.task = r.task AND k.ref = r.held_ref`,
  clearRepeats: 'DELETE FROM held_repeats',
  /**
   * The dictionary ids of the keys of the staged rows of the items $1: an existing entry's, or a new one
   * (numbered after the largest), added to held_keys. Strings decoded through the staged strings.
   */
  mapKeys: `INSERT INTO held_key_ids (bucket, requester, access_point, dataset, key_id)
    WITH distinct_keys AS (
      SELECT DISTINCT s.bucket, s.requester, s.access_point, s.dataset
      FROM held_stream s WHERE s.item IN (SELECT unnest($1::INTEGER[]))
    ), texts AS (
      SELECT g.*, b.value AS b, r.value AS r, a.value AS a, d.value AS d
      FROM distinct_keys g
        JOIN rollup_stream_strings b ON b.id = g.bucket
        JOIN rollup_stream_strings r ON r.id = g.requester
        JOIN rollup_stream_strings a ON a.id = g.access_point
        JOIN rollup_stream_strings d ON d.id = g.dataset
    )
    SELECT t.bucket, t.requester, t.access_point, t.dataset,
      coalesce(k.key_id, (SELECT coalesce(max(key_id), 0) FROM held_keys)
        + row_number() OVER (PARTITION BY k.key_id IS NULL ORDER BY t.b, t.r, t.a, t.d))::INTEGER
    FROM texts t
      LEFT JOIN held_keys k ON k.bucket = t.b AND k.requester = t.r AND k.access_point = t.a AND k.dataset = t.d`,
  addKeys: `INSERT INTO held_keys (key_id, bucket, requester, access_point, dataset)
    SELECT m.key_id, b.value, r.value, a.value, d.value
    FROM held_key_ids m
      JOIN rollup_stream_strings b ON b.id = m.bucket
      JOIN rollup_stream_strings r ON r.id = m.requester
      JOIN rollup_stream_strings a ON a.id = m.access_point
      JOIN rollup_stream_strings d ON d.id = m.dataset
    WHERE m.key_id > (SELECT coalesce(max(key_id), 0) FROM held_keys)`,
  /** The same for the objects (key, version id, logged size, records) of the staged rows of the items $1. */
  mapObjects: `INSERT INTO held_object_ids (object_key, version_id, object_size, records, object_id)
    WITH distinct_objects AS (
      SELECT DISTINCT s.object_key, s.version_id, s.object_size, s.records
      FROM held_stream s WHERE s.item IN (SELECT unnest($1::INTEGER[]))
    ), texts AS (
      SELECT g.*, k.value AS k, v.value AS v,
        CASE WHEN g.object_size < 0 THEN NULL ELSE g.object_size::BIGINT END AS size
      FROM distinct_objects g
        JOIN rollup_stream_strings k ON k.id = g.object_key
        JOIN rollup_stream_strings v ON v.id = g.version_id
    )
    SELECT t.object_key, t.version_id, t.object_size, t.records,
      coalesce(o.object_id, (SELECT coalesce(max(object_id), 0) FROM held_objects)
        + row_number() OVER (PARTITION BY o.object_id IS NULL ORDER BY t.k, t.v, t.size, t.records))::INTEGER
    FROM texts t
      LEFT JOIN held_objects o ON o.object_key = t.k AND o.version_id = t.v
        AND o.object_size IS NOT DISTINCT FROM t.size AND o.object_records = t.records::BIGINT`,
  addObjects: `INSERT INTO held_objects (object_id, object_key, version_id, object_size, object_records)
    SELECT m.object_id, k.value, v.value, CASE WHEN m.object_size < 0 THEN NULL ELSE m.object_size::BIGINT END,
      m.records::BIGINT
    FROM held_object_ids m
      JOIN rollup_stream_strings k ON k.id = m.object_key
      JOIN rollup_stream_strings v ON v.id = m.version_id
    WHERE m.object_id > (SELECT coalesce(max(object_id), 0) FROM held_objects)`,
  clearIds: ['DELETE FROM held_key_ids', 'DELETE FROM held_object_ids'],
  /**
   * Sums the staged partial rows of the items in $1 (their batches in $2, parallel; $4 the place in $2
   * of each item's batch) into held_rows, one row per batch, slot, key and object, their dictionary ids
   * from held_key_ids and held_object_ids; rows whose every read was a repeat are left out. $3 is
   * SLOT_MS. Counts are exact in a double (below 2^53), summed as integers.
   */
  insert: `INSERT INTO held_rows (slot_start, key_id, object_id, first_ms, last_ms, retrievals, full_retrievals,
      bytes_sent, batch)
    SELECT g.slot::BIGINT * $3::BIGINT, k.key_id, o.object_id, g.first_ms, g.last_ms, g.retrievals,
      g.full_retrievals, g.bytes_sent, list_extract($2::VARCHAR[], g.batch + 1)
    FROM (
      SELECT f.batch, s.bucket, s.requester, s.access_point, s.dataset, s.object_key, s.version_id,
        s.object_size, s.records, s.slot,
        min(s.first_ms::BIGINT) FILTER (WHERE s.retrievals > 0)::BIGINT AS first_ms,
        max(s.last_ms::BIGINT) FILTER (WHERE s.retrievals > 0)::BIGINT AS last_ms,
        sum(s.retrievals::BIGINT)::BIGINT AS retrievals,
        coalesce(sum(s.retrievals::BIGINT) FILTER (WHERE s.full_reads = 1), 0)::BIGINT AS full_retrievals,
        sum(s.bytes_sent::BIGINT)::BIGINT AS bytes_sent
      FROM held_stream s
        -- batch: the place in $2 of the item's batch (an integer groups faster than its text).
        JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($4::INTEGER[]) AS batch) f ON f.item = s.item
      GROUP BY ALL
      HAVING sum(s.retrievals::BIGINT) > 0
    ) g
      JOIN held_key_ids k ON k.bucket = g.bucket AND k.requester = g.requester
        AND k.access_point = g.access_point AND k.dataset = g.dataset
      JOIN held_object_ids o ON o.object_key = g.object_key AND o.version_id = g.version_id
        AND o.object_size = g.object_size AND o.records = g.records`,
  discard: 'DELETE FROM held_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  deleteOf: 'DELETE FROM held_rows WHERE batch IN (SELECT unnest($1::VARCHAR[]))',
  clear: ['DELETE FROM held_rows', 'DELETE FROM held_keys', 'DELETE FROM held_objects'],
} as const;

/** Stages the partial holdings rows of a batch of rows read in task `task`. */
export async function stageHeldReads(
  connection: DuckDBConnection,
  task: number,
  reads: ColumnarHeldReads,
): Promise<void> {
  if (reads.count === 0) return;
  const columns = [
    reads.item,
    new Int32Array(reads.count).fill(task),
    reads.ref,
    reads.bucket,
    reads.requester,
    reads.accessPoint,
    reads.dataset,
    reads.objectKey,
    reads.versionId,
    reads.slot,
    reads.full,
    reads.objectSize,
    reads.records,
    reads.retrievals,
    reads.bytesSent,
    reads.firstMs,
    reads.lastMs,
  ];
  await appendColumns(connection, 'held_stream', HELD_STREAM_TYPES, columns, reads.count);
}

/** Drops the staged rows of `items`. */
export async function discardHeldReads(
  connection: DuckDBConnection,
  items: readonly number[],
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(HOLDINGS_SQL.discard, [listValue([...items])], [LIST(INTEGER)]);
}

/** Stages the group's repeats (held_repeats, per holdings row) as negative holdings rows. */
export async function stageHeldRepeats(connection: DuckDBConnection): Promise<void> {
  await connection.run(HOLDINGS_SQL.stageNegatives);
  await connection.run(HOLDINGS_SQL.clearRepeats);
}

/**
 * Sums the staged rows of `items` into holdings and unstages them. Inside the caller's transaction,
 * after the group's repeats were taken out (RequestIdStage.dropRepeats) and before the staged strings
 * are dropped. Returns the holdings rows written.
 */
export async function insertHoldings(
  connection: DuckDBConnection,
  items: readonly { readonly item: number; readonly batch: string }[],
): Promise<number> {
  if (items.length === 0) return 0;
  const ids = items.map((i) => i.item);
  const batches = items.map((i) => i.batch);
  const firstOf = new Map<string, number>();
  batches.forEach((b, i) => {
    if (!firstOf.has(b)) firstOf.set(b, i);
  });
  const itemList = [listValue(ids)];
  const itemTypes = [LIST(INTEGER)];
  // New keys and objects get their dictionary entries first; the rows then carry only their ids.
  await connection.run(HOLDINGS_SQL.mapKeys, itemList, itemTypes);
  await connection.run(HOLDINGS_SQL.addKeys);
  await connection.run(HOLDINGS_SQL.mapObjects, itemList, itemTypes);
  await connection.run(HOLDINGS_SQL.addObjects);
  const result = await connection.run(
    HOLDINGS_SQL.insert,
    [listValue(ids), listValue(batches), BigInt(SLOT_MS), listValue(batches.map((b) => firstOf.get(b)!))],
    [LIST(INTEGER), LIST(VARCHAR), BIGINT, LIST(INTEGER)],
  );
  for (const statement of HOLDINGS_SQL.clearIds) await connection.run(statement);
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
