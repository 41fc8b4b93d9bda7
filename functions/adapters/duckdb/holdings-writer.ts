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
 * they are taken back out of that row when the group's rows are summed, as the rollup and the network
 * table take theirs out. Lines without a request id always count, as in the rollup.
 *
 * The partial rows are not staged in DuckDB: they stay on this thread as the workers sent them
 * (HeldStage), and a group's rows are summed here, per batch, slot, key id and object id, so that only
 * the sums are written (appended to held_rows in the recording transaction). Only the tasks' dictionaries (a few thousand
 * entries a night) are staged and mapped to the stored ids in SQL.
 */
import { DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import { SLOT_MS } from '../../domain/usage.js';
import { growFloat, growInt } from '../logs/grow-arrays.js';
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
 * Per-connection staging (see rollup-writer.ts) of the tasks' key and object dictionaries that partial
 * holdings rows name by index, and of the repeats to take out of the rows. A
 * task's dictionary entries stay staged for the session: its later rows may name them.
 */
export const HELD_STREAM_SCHEMA: readonly string[] = [
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
  'DELETE FROM held_key_stream',
  'DELETE FROM held_object_stream',
  'DELETE FROM held_repeats',
  'DELETE FROM held_key_ids',
  'DELETE FROM held_object_ids',
];

/**
 * The columns of held_rows as appended, in order: its BIGINT columns go in as DOUBLE chunks, which the
 * appender casts to the table's BIGINT in DuckDB (whole numbers below 2^53, so exactly), rather than
 * as a bigint made in JavaScript per value.
 */
const HELD_ROW_TYPES = [DOUBLE, INTEGER, INTEGER, DOUBLE, DOUBLE, DOUBLE, DOUBLE, DOUBLE, VARCHAR];
const HELD_KEY_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER];
const HELD_OBJECT_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, DOUBLE, DOUBLE];

/** The tasks of the group's rows: $1. */
const GROUP_TASKS = '(SELECT unnest($1::INTEGER[]))';

/** SQL of the holdings writer; constant text, values only as parameters. */
export const HOLDINGS_SQL = {
  /** The group's repeats per holdings row (task, held_ref), to take out of the rows (HeldStage). */
  repeats: 'SELECT task, held_ref, retrievals, bytes_sent FROM held_repeats',
  clearRepeats: 'DELETE FROM held_repeats',
  /**
   * The key dictionary entries of the tasks of the group ($1) with their ids in held_keys: an
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
  /** Task and index of each of the group's dictionary entries, with its id. */
  keyIds: 'SELECT task, idx, key_id FROM held_key_ids',
  objectIds: 'SELECT task, idx, object_id FROM held_object_ids',
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
  if (reads.count > 0) heldStageOf(connection).stage(task, reads);
}

/** Drops the staged rows of `items`. */
export async function discardHeldReads(
  connection: DuckDBConnection,
  items: readonly number[],
): Promise<void> {
  if (items.length === 0) return;
  heldStageOf(connection).discard(new Set(items));
}

/**
 * Empties the staged rows of the connection (a stream opens: what an earlier one left, were it stopped
 * by an error, is not of this one), as the schema's DELETEs empty the staging tables.
 */
export function resetHeldReads(connection: DuckDBConnection): void {
  stages.delete(connection);
}

/**
 * Notes the group's repeats (held_repeats, per holdings row), to be taken out of their rows when the
 * rows are summed (insertHoldings), and empties held_repeats.
 */
export async function stageHeldRepeats(connection: DuckDBConnection): Promise<void> {
  const stage = heldStageOf(connection);
  const repeats = await connection.runAndReadAll(HOLDINGS_SQL.repeats);
  for (const [task, ref, retrievals, bytes] of repeats.getRows()) {
    stage.repeat(Number(task), Number(ref), Number(retrievals), Number(bytes));
  }
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
  const batches = items.map((i) => i.batch);
  // Items of one batch are summed together: each item names its batch by its first place in `batches`.
  const firstOf = new Map<string, number>();
  batches.forEach((b, i) => {
    if (!firstOf.has(b)) firstOf.set(b, i);
  });
  const ordOf = new Map<number, number>();
  for (const { item, batch } of items) if (!ordOf.has(item)) ordOf.set(item, firstOf.get(batch)!);
  const stage = heldStageOf(connection);
  const tasks = stage.tasksOf(ordOf);
  if (tasks.length === 0) return 0;
  const taskList = [listValue(tasks)];
  const taskTypes = [LIST(INTEGER)];
  // New keys and objects get their dictionary entries first; the rows then carry only their ids.
  await connection.run(HOLDINGS_SQL.mapKeys, taskList, taskTypes);
  await connection.run(HOLDINGS_SQL.addKeys);
  await connection.run(HOLDINGS_SQL.mapObjects, taskList, taskTypes);
  await connection.run(HOLDINGS_SQL.addObjects);
  const keyIds = await idsByTask(connection, HOLDINGS_SQL.keyIds);
  const objectIds = await idsByTask(connection, HOLDINGS_SQL.objectIds);
  for (const statement of HOLDINGS_SQL.clearIds) await connection.run(statement);
  const summed = stage.sum(ordOf, keyIds, objectIds);
  if (summed.count > 0) {
    // Appended to held_rows in the caller's transaction, in held_rows' column order.
    const [batch, slotStart, key, object, first, last, retrievals, full, bytes] = summed.columns as [
      Int32Array,
      Float64Array,
      Int32Array,
      Int32Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    const n = summed.count;
    const batchOf = Array.from({ length: n }, (_, i) => batches[batch[i]!]!);
    const columns = [slotStart, key, object, first, last, retrievals, full, bytes, batchOf];
    await appendColumns(connection, 'held_rows', HELD_ROW_TYPES, columns, n);
  }
  return summed.count;
}

/** (task, idx, id) rows of `sql` as, per task, an array of ids by index (-1: none). */
async function idsByTask(connection: DuckDBConnection, sql: string): Promise<Map<number, Int32Array>> {
  const rows = (await connection.runAndReadAll(sql)).getRows();
  const size = new Map<number, number>();
  for (const [task, idx] of rows) {
    const t = Number(task);
    size.set(t, Math.max(size.get(t) ?? 0, Number(idx) + 1));
  }
  const out = new Map<number, Int32Array>();
  for (const [task, n] of size) out.set(task, new Int32Array(n).fill(-1));
  for (const [task, idx, id] of rows) out.get(Number(task))![Number(idx)] = Number(id);
  return out;
}

/** The staged rows of each connection's open stream. */
const stages = new WeakMap<DuckDBConnection, HeldStage>();

function heldStageOf(connection: DuckDBConnection): HeldStage {
  let stage = stages.get(connection);
  if (stage === undefined) {
    stage = new HeldStage();
    stages.set(connection, stage);
  }
  return stage;
}

/** The row columns of staged holdings rows (the dictionaries are staged in DuckDB). */
type HeldRowColumns = Pick<
  ColumnarHeldReads,
  | 'count'
  | 'item'
  | 'ref'
  | 'key'
  | 'object'
  | 'slot'
  | 'full'
  | 'retrievals'
  | 'bytesSent'
  | 'firstMs'
  | 'lastMs'
>;

/** Rows `keep` selects (`n` of them) of `r`, as columns of their own. */
function selectRows(r: HeldRowColumns, keep: (i: number) => boolean, n: number): HeldRowColumns {
  const ints = () => new Int32Array(n);
  const floats = () => new Float64Array(n);
  const out = {
    count: n,
    item: ints(),
    ref: ints(),
    key: ints(),
    object: ints(),
    slot: ints(),
    full: ints(),
    retrievals: floats(),
    bytesSent: floats(),
    firstMs: floats(),
    lastMs: floats(),
  };
  let j = 0;
  for (let i = 0; i < r.count; i++) {
    if (!keep(i)) continue;
    out.item[j] = r.item[i]!;
    out.ref[j] = r.ref[i]!;
    out.key[j] = r.key[i]!;
    out.object[j] = r.object[i]!;
    out.slot[j] = r.slot[i]!;
    out.full[j] = r.full[i]!;
    out.retrievals[j] = r.retrievals[i]!;
    out.bytesSent[j] = r.bytesSent[i]!;
    out.firstMs[j] = r.firstMs[i]!;
    out.lastMs[j] = r.lastMs[i]!;
    j++;
  }
  return out;
}

/**
 * The partial holdings rows of the open stream, kept on this thread as the workers sent them (typed
 * arrays, no copy) until their files are recorded, as the request identities are (request-claims.ts):
 * a group's rows are then summed here, one per batch, slot, key and object, and only the sums are
 * written. What a crash loses is what TEMP tables would have lost: rows of files not yet recorded.
 */
class HeldStage {
  private chunks: { readonly task: number; rows: HeldRowColumns }[] = [];
  /** Repeats to take out of rows (task, ref) when they are summed: per task, by ref, retrievals and bytes sent. */
  private readonly repeats = new Map<number, Map<number, [number, number]>>();

  stage(task: number, rows: HeldRowColumns): void {
    this.chunks.push({ task, rows });
  }

  repeat(task: number, ref: number, retrievals: number, bytes: number): void {
    let ofTask = this.repeats.get(task);
    if (ofTask === undefined) {
      ofTask = new Map();
      this.repeats.set(task, ofTask);
    }
    const was = ofTask.get(ref);
    ofTask.set(ref, was === undefined ? [retrievals, bytes] : [was[0] + retrievals, was[1] + bytes]);
  }

  /** The tasks of the staged rows of the items `ords` names. */
  tasksOf(ords: ReadonlyMap<number, number>): number[] {
    const tasks = new Set<number>();
    for (const { task, rows } of this.chunks) {
      if (tasks.has(task)) continue;
      for (let i = 0; i < rows.count; i++) {
        if (ords.has(rows.item[i]!)) {
          tasks.add(task);
          break;
        }
      }
    }
    return [...tasks];
  }

  /** Unstages the rows of `items` (and their repeats). */
  discard(items: ReadonlySet<number>): void {
    const taken = this.take(new Map([...items].map((item) => [item, 0])));
    if (this.repeats.size === 0) return;
    for (const { task, rows, ord } of taken) {
      const ofTask = this.repeats.get(task);
      if (ofTask === undefined) continue;
      for (let i = 0; i < rows.count; i++) if (ord[i]! >= 0) ofTask.delete(rows.ref[i]!);
      if (ofTask.size === 0) this.repeats.delete(task);
    }
  }

  /**
   * Sums the staged rows of the items `ords` names (item -> its batch's place) per batch, slot, key id
   * and object id (ids by task and dictionary index), their repeats taken out, and unstages them. A sum
   * whose every retrieval was a repeat is left out; first and last times are those of the rows' reads
   * (a repeat was logged at the time of the request it repeats). Columns: batch, slot start (ms), key id, object id,
   * first and last ms, retrievals, whole retrievals, bytes sent.
   */
  sum(
    ords: ReadonlyMap<number, number>,
    keyIds: ReadonlyMap<number, Int32Array>,
    objectIds: ReadonlyMap<number, Int32Array>,
  ): { readonly count: number; readonly columns: (Int32Array | Float64Array)[] } {
    const taken = this.take(ords);
    let rowCount = 0;
    for (const { rows } of taken) rowCount += rows.count;
    // Sized for every row a sum of its own: the table is never grown or rehashed on the way.
    const sums = new GroupSums(rowCount);
    for (const { task, rows, ord } of taken) {
      const keys = keyIds.get(task);
      const objects = objectIds.get(task);
      const repeats = this.repeats.get(task);
      for (let i = 0; i < rows.count; i++) {
        const batch = ord[i]!;
        if (batch < 0) continue;
        const key = keys?.[rows.key[i]!] ?? -1;
        const object = objects?.[rows.object[i]!] ?? -1;
        if (key < 0 || object < 0) {
          throw new RangeError(
            `holdings row of task ${task}: its key or object has no id in the dictionaries`,
          );
        }
        let retrievals = rows.retrievals[i]!;
        let bytes = rows.bytesSent[i]!;
        if (repeats !== undefined) {
          const repeat = repeats.get(rows.ref[i]!);
          if (repeat !== undefined) {
            retrievals -= repeat[0];
            bytes -= repeat[1];
            repeats.delete(rows.ref[i]!);
          }
        }
        sums.add(
          batch,
          rows.slot[i]!,
          key,
          object,
          rows.full[i] === 1,
          rows.retrievals[i]! > 0,
          retrievals,
          bytes,
          rows.firstMs[i]!,
          rows.lastMs[i]!,
        );
      }
      if (repeats?.size === 0) this.repeats.delete(task);
    }
    return sums.columns();
  }

  /**
   * Unstages the rows of the items `ords` names and hands them on: each chunk with `ord`, per row the
   * value `ords` gives its item, -1 for a row of another item (which stays).
   */
  private take(ords: ReadonlyMap<number, number>): { task: number; rows: HeldRowColumns; ord: Int32Array }[] {
    const taken: { task: number; rows: HeldRowColumns; ord: Int32Array }[] = [];
    const kept: { readonly task: number; rows: HeldRowColumns }[] = [];
    for (const chunk of this.chunks) {
      const { rows } = chunk;
      const ord = new Int32Array(rows.count);
      let n = 0;
      // A chunk's rows come item by item: the last item's place is looked up once.
      let lastItem = -1;
      let lastOrd = -1;
      for (let i = 0; i < rows.count; i++) {
        const item = rows.item[i]!;
        if (item !== lastItem) {
          lastItem = item;
          lastOrd = ords.get(item) ?? -1;
        }
        ord[i] = lastOrd;
        if (lastOrd >= 0) n++;
      }
      if (n === 0) {
        kept.push(chunk);
        continue;
      }
      taken.push({ task: chunk.task, rows, ord });
      if (n < rows.count) {
        kept.push({ task: chunk.task, rows: selectRows(rows, (i) => ord[i]! < 0, rows.count - n) });
      }
    }
    this.chunks = kept;
    return taken;
  }
}

/**
 * Sums per (batch, slot, key id, object id): an open-addressing table (linear probing, at most half
 * full) over columns that grow as needed.
 */
class GroupSums {
  count = 0;
  private slots: Int32Array;
  private mask: number;
  private batch: Int32Array;
  private slot: Int32Array;
  private key: Int32Array;
  private object: Int32Array;
  private first: Float64Array;
  private last: Float64Array;
  private retrievals: Float64Array;
  private full: Float64Array;
  private bytes: Float64Array;

  /** Room for `expected` sums before growing. */
  constructor(expected: number) {
    const n = Math.max(1024, expected);
    let slots = 1 << 12;
    while (slots < n * 2) slots *= 2;
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
    this.batch = new Int32Array(n);
    this.slot = new Int32Array(n);
    this.key = new Int32Array(n);
    this.object = new Int32Array(n);
    this.first = new Float64Array(n);
    this.last = new Float64Array(n);
    this.retrievals = new Float64Array(n);
    this.full = new Float64Array(n);
    this.bytes = new Float64Array(n);
  }

  /**
   * Adds a row: `positive`, whether the staged row had reads of its own (its times count: the times of
   * a row are its reads', whatever repeats are taken out of it).
   */
  add(
    batch: number,
    slot: number,
    key: number,
    object: number,
    full: boolean,
    positive: boolean,
    retrievals: number,
    bytes: number,
    first: number,
    last: number,
  ): void {
    let h = Math.imul(batch ^ 0x3c6ef372, 0x9e3779b1);
    h = Math.imul(h ^ slot, 0x85ebca6b);
    h = Math.imul(h ^ key, 0xc2b2ae35);
    h = Math.imul(h ^ object, 0x27d4eb2f);
    h ^= h >>> 15;
    let s = h & this.mask;
    let g = -1;
    for (;;) {
      const e = this.slots[s]! - 1;
      if (e < 0) break;
      if (
        this.object[e] === object &&
        this.slot[e] === slot &&
        this.key[e] === key &&
        this.batch[e] === batch
      ) {
        g = e;
        break;
      }
      s = (s + 1) & this.mask;
    }
    if (g < 0) {
      g = this.count++;
      if (g === this.batch.length) this.grow();
      this.batch[g] = batch;
      this.slot[g] = slot;
      this.key[g] = key;
      this.object[g] = object;
      this.first[g] = Number.POSITIVE_INFINITY;
      this.last[g] = Number.NEGATIVE_INFINITY;
      this.retrievals[g] = 0;
      this.full[g] = 0;
      this.bytes[g] = 0;
      if (this.count * 2 > this.slots.length) this.rehash();
      else this.slots[s] = g + 1;
    }
    this.retrievals[g]! += retrievals;
    if (full) this.full[g]! += retrievals;
    this.bytes[g]! += bytes;
    if (positive) {
      if (first < this.first[g]!) this.first[g] = first;
      if (last > this.last[g]!) this.last[g] = last;
    }
  }

  /** The sums with at least one retrieval left, as the columns `sum` returns. */
  columns(): { readonly count: number; readonly columns: (Int32Array | Float64Array)[] } {
    let n = 0;
    for (let g = 0; g < this.count; g++) if (this.retrievals[g]! > 0) n++;
    const out = [
      new Int32Array(n),
      new Float64Array(n),
      new Int32Array(n),
      new Int32Array(n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
    ];
    let j = 0;
    for (let g = 0; g < this.count; g++) {
      if (!(this.retrievals[g]! > 0)) continue;
      // The counts travel as doubles (HELD_ROW_TYPES): exact only up to 2^53, so a sum beyond it stops
      // the write rather than store a rounded figure.
      if (this.bytes[g]! > Number.MAX_SAFE_INTEGER || this.retrievals[g]! > Number.MAX_SAFE_INTEGER)
        throw new RangeError(
          `holdings: a sum of one object's reads in a slot passed 2^53 (bytes ${this.bytes[g]}, retrievals ${this.retrievals[g]}), beyond what is counted exactly`,
        );
      out[0]![j] = this.batch[g]!;
      out[1]![j] = this.slot[g]! * SLOT_MS;
      out[2]![j] = this.key[g]!;
      out[3]![j] = this.object[g]!;
      out[4]![j] = this.first[g]!;
      out[5]![j] = this.last[g]!;
      out[6]![j] = this.retrievals[g]!;
      out[7]![j] = this.full[g]!;
      out[8]![j] = this.bytes[g]!;
      j++;
    }
    return { count: n, columns: out };
  }

  private grow(): void {
    const n = this.batch.length * 2;
    this.batch = growInt(this.batch, n);
    this.slot = growInt(this.slot, n);
    this.key = growInt(this.key, n);
    this.object = growInt(this.object, n);
    this.first = growFloat(this.first, n);
    this.last = growFloat(this.last, n);
    this.retrievals = growFloat(this.retrievals, n);
    this.full = growFloat(this.full, n);
    this.bytes = growFloat(this.bytes, n);
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.mask = this.slots.length - 1;
    for (let g = 0; g < this.count; g++) {
      let h = Math.imul(this.batch[g]! ^ 0x3c6ef372, 0x9e3779b1);
      h = Math.imul(h ^ this.slot[g]!, 0x85ebca6b);
      h = Math.imul(h ^ this.key[g]!, 0xc2b2ae35);
      h = Math.imul(h ^ this.object[g]!, 0x27d4eb2f);
      h ^= h >>> 15;
      let s = h & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = g + 1;
    }
  }
}

/** Removes the holdings of whole batches (files replaced or read again). */
export async function deleteHoldingsOf(
  connection: DuckDBConnection,
  batches: readonly string[],
): Promise<void> {
  if (batches.length === 0) return;
  await connection.run(HOLDINGS_SQL.deleteOf, [listValue([...batches])], [LIST(VARCHAR)]);
}
