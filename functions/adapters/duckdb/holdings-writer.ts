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

/**
 * Per-connection staging of partial holdings rows, of the tasks' key and object dictionaries their
 * rows name by index, and of the repeats to take out of them (see rollup-writer.ts). A task's
 * dictionary entries stay staged for the session: its later rows may name them.
 */
export const HELD_STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS held_stream (
    item INTEGER NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL,
    key_idx INTEGER NOT NULL,
    object_idx INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    full_reads INTEGER NOT NULL,
    retrievals DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    first_ms DOUBLE NOT NULL,
    last_ms DOUBLE NOT NULL
  )`,
  `CREATE TEMP TABLE IF NOT EXISTS held_key_stream (
    task INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL
  )`,
  `CREATE TEMP TABLE IF NOT EXISTS held_object_stream (
    task INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    object_key INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    object_size DOUBLE NOT NULL,
    records DOUBLE NOT NULL
  )`,
  // The group's repeats summed per holdings row they were counted in (request-claims.ts).
  `CREATE TEMP TABLE IF NOT EXISTS held_repeats (
    task INTEGER NOT NULL,
    held_ref INTEGER NOT NULL,
    retrievals DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL
  )`,
  // The group's dictionary entries with their ids in held_keys and held_objects (insertHoldings).
  `CREATE TEMP TABLE IF NOT EXISTS held_key_ids (
    task INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    bucket VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL
  )`,
  `CREATE TEMP TABLE IF NOT EXISTS held_object_ids (
    task INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    object_key VARCHAR NOT NULL,
    version_id VARCHAR NOT NULL,
    object_size BIGINT,
    object_records BIGINT NOT NULL
  )`,
  'DELETE FROM held_stream',
  'DELETE FROM held_key_stream',
  'DELETE FROM held_object_stream',
  'DELETE FROM held_repeats',
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
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
];
const HELD_KEY_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER];
const HELD_OBJECT_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, DOUBLE, DOUBLE];

/** The columns of a holdings row's key in held_stream (a negative row copies them from its row). */
const HELD_KEY = 'key_idx, object_idx, slot, full_reads';

/** The tasks of the staged rows of the items $1. */
const GROUP_TASKS = '(SELECT DISTINCT task FROM held_stream WHERE item IN (SELECT unnest($1::INTEGER[])))';

/** SQL of the holdings writer; constant text, values only as parameters. */
export const HOLDINGS_SQL = {
  /**
   * Each repeat taken back out: the repeats of the group summed per holdings row (task, held_ref) in
   * held_repeats become a negative partial row of that row (with that row's item: in a merged task it
   * may be another file of the task, recorded in the same group). First and last time are left to the
   * reads counted (a repeat was logged at the time of the request it repeats).
   */
  stageNegatives: `INSERT INTO held_stream (item, task, ref, ${HELD_KEY}, retrievals, bytes_sent, first_ms, last_ms)
    SELECT k.item, r.task, r.held_ref, k.key_idx, k.object_idx, k.slot, k.full_reads, -r.retrievals,
      -r.bytes_sent, 0, 0
    FROM held_repeats r
      JOIN (
        SELECT DISTINCT item, task, ref, ${HELD_KEY}
        FROM held_stream
        WHERE (task, ref) IN (SELECT (task, held_ref) FROM held_repeats)
      ) k ON k.task = r.task AND k.ref = r.held_ref`,
  clearRepeats: 'DELETE FROM held_repeats',
  /**
   * The key dictionary entries of the tasks of the group (items $1) with their ids in held_keys: an
   * existing entry's, or a new one numbered after the largest. Strings decoded through the staged ones.
   */
  mapKeys: `INSERT INTO held_key_ids (task, idx, key_id, bucket, requester, access_point, dataset)
    WITH group_keys AS (
      SELECT s.task, s.idx, b.value AS b, r.value AS r, a.value AS a, d.value AS d
      FROM held_key_stream s
        JOIN rollup_stream_strings b ON b.id = s.bucket
        JOIN rollup_stream_strings r ON r.id = s.requester
        JOIN rollup_stream_strings a ON a.id = s.access_point
        JOIN rollup_stream_strings d ON d.id = s.dataset
      WHERE s.task IN ${GROUP_TASKS}
    ), numbered AS (
      SELECT t.b, t.r, t.a, t.d,
        coalesce(k.key_id, (SELECT coalesce(max(key_id), 0) FROM held_keys)
          + row_number() OVER (PARTITION BY k.key_id IS NULL ORDER BY t.b, t.r, t.a, t.d))::INTEGER AS key_id
      FROM (SELECT DISTINCT b, r, a, d FROM group_keys) t
        LEFT JOIN held_keys k ON k.bucket = t.b AND k.requester = t.r AND k.access_point = t.a AND k.dataset = t.d
    )
    SELECT g.task, g.idx, n.key_id, g.b, g.r, g.a, g.d
    FROM group_keys g JOIN numbered n ON n.b = g.b AND n.r = g.r AND n.a = g.a AND n.d = g.d`,
  addKeys: `INSERT INTO held_keys (key_id, bucket, requester, access_point, dataset)
    SELECT DISTINCT key_id, bucket, requester, access_point, dataset FROM held_key_ids
    WHERE key_id > (SELECT coalesce(max(key_id), 0) FROM held_keys)`,
  /** The same for the objects (key, version id, logged size, records) of the group's tasks. */
  mapObjects: `INSERT INTO held_object_ids (task, idx, object_id, object_key, version_id, object_size,
      object_records)
    WITH group_objects AS (
      SELECT s.task, s.idx, k.value AS k, v.value AS v,
        CASE WHEN s.object_size < 0 THEN NULL ELSE s.object_size::BIGINT END AS size, s.records::BIGINT AS n
      FROM held_object_stream s
        JOIN rollup_stream_strings k ON k.id = s.object_key
        JOIN rollup_stream_strings v ON v.id = s.version_id
      WHERE s.task IN ${GROUP_TASKS}
    ), numbered AS (
      SELECT t.k, t.v, t.size, t.n,
        coalesce(o.object_id, (SELECT coalesce(max(object_id), 0) FROM held_objects)
          + row_number() OVER (PARTITION BY o.object_id IS NULL ORDER BY t.k, t.v, t.size, t.n))::INTEGER AS object_id
      FROM (SELECT DISTINCT k, v, size, n FROM group_objects) t
        LEFT JOIN held_objects o ON o.object_key = t.k AND o.version_id = t.v
          AND o.object_size IS NOT DISTINCT FROM t.size AND o.object_records = t.n
    )
    SELECT g.task, g.idx, n.object_id, g.k, g.v, g.size, g.n
    FROM group_objects g
      JOIN numbered n ON n.k = g.k AND n.v = g.v AND n.size IS NOT DISTINCT FROM g.size AND n.n = g.n`,
  addObjects: `INSERT INTO held_objects (object_id, object_key, version_id, object_size, object_records)
    SELECT DISTINCT object_id, object_key, version_id, object_size, object_records FROM held_object_ids
    WHERE object_id > (SELECT coalesce(max(object_id), 0) FROM held_objects)`,
  clearIds: ['DELETE FROM held_key_ids', 'DELETE FROM held_object_ids'],
  /**
   * Sums the staged partial rows of the items in $1 (their batches in $2, parallel; $4 the place in $2
   * of each item's batch) into held_rows, one row per batch, slot, key and object, with their ids from
   * held_key_ids and held_object_ids; rows whose every read was a repeat are left out. $3 is SLOT_MS.
   * Counts are exact in a double (below 2^53), summed as integers.
   */
  insert: `INSERT INTO held_rows (slot_start, key_id, object_id, first_ms, last_ms, retrievals, full_retrievals,
      bytes_sent, batch)
    SELECT g.slot::BIGINT * $3::BIGINT, g.key_id, g.object_id, g.first_ms, g.last_ms, g.retrievals,
      g.full_retrievals, g.bytes_sent, list_extract($2::VARCHAR[], g.batch + 1)
    FROM (
      SELECT f.batch, k.key_id, o.object_id, s.slot,
        min(s.first_ms::BIGINT) FILTER (WHERE s.retrievals > 0)::BIGINT AS first_ms,
        max(s.last_ms::BIGINT) FILTER (WHERE s.retrievals > 0)::BIGINT AS last_ms,
        sum(s.retrievals::BIGINT)::BIGINT AS retrievals,
        coalesce(sum(s.retrievals::BIGINT) FILTER (WHERE s.full_reads = 1), 0)::BIGINT AS full_retrievals,
        sum(s.bytes_sent::BIGINT)::BIGINT AS bytes_sent
      FROM held_stream s
        -- batch: the place in $2 of the item's batch (an integer groups faster than its text).
        JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($4::INTEGER[]) AS batch) f ON f.item = s.item
        JOIN held_key_ids k ON k.task = s.task AND k.idx = s.key_idx
        JOIN held_object_ids o ON o.task = s.task AND o.idx = s.object_idx
      GROUP BY f.batch, k.key_id, o.object_id, s.slot
      HAVING sum(s.retrievals::BIGINT) > 0
    ) g`,
  discard: 'DELETE FROM held_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  deleteOf: 'DELETE FROM held_rows WHERE batch IN (SELECT unnest($1::VARCHAR[]))',
  clear: ['DELETE FROM held_rows', 'DELETE FROM held_keys', 'DELETE FROM held_objects'],
} as const;

/** Stages the partial holdings rows of a batch of rows read in task `task`, and its new dictionary entries. */
export async function stageHeldReads(
  connection: DuckDBConnection,
  task: number,
  reads: ColumnarHeldReads,
): Promise<void> {
  const taskColumn = (n: number) => new Int32Array(n).fill(task);
  const index = (from: number, n: number) => Int32Array.from({ length: n }, (_, i) => from + i);
  const k = reads.keys;
  if (k.count > 0) {
    const columns = [
      taskColumn(k.count),
      index(reads.keyFrom, k.count),
      k.bucket,
      k.requester,
      k.accessPoint,
      k.dataset,
    ];
    await appendColumns(connection, 'held_key_stream', HELD_KEY_TYPES, columns, k.count);
  }
  const o = reads.objects;
  if (o.count > 0) {
    const columns = [
      taskColumn(o.count),
      index(reads.objectFrom, o.count),
      o.objectKey,
      o.versionId,
      o.objectSize,
      o.records,
    ];
    await appendColumns(connection, 'held_object_stream', HELD_OBJECT_TYPES, columns, o.count);
  }
  if (reads.count === 0) return;
  const columns = [
    reads.item,
    taskColumn(reads.count),
    reads.ref,
    reads.key,
    reads.object,
    reads.slot,
    reads.full,
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
