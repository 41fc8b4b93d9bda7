/**
 * The key-level holdings table (see ../../domain/HOLDINGS.md): one row per batch, 15-minute UTC slot,
 * requester, access point, bucket and object (key, version id, object size as logged) of the
 * whole-object reads (200 and 206) of that batch's files, with its first and last retrieval, retrievals
 * and bytes sent. The slot, as in the rollup, lets any partner's local days cut it exactly. Written from the
 * same staged lines as the rollup, in the same transaction (DuckDbIngestLog.writeStagedFiles), so the
 * logs are read once; replaced with its batch, like the rollup.
 *
 * The scanner sums reads into partial rows itself (one per object, key and slot, its 200s counted apart;
 * see ../logs/holdings-batch.ts), and each line's request identity names the holdings row it went into
 * and whether it was a 200 (`heldRef`, as `netRef` names its network row). A repeated delivery of a
 * request counts once: the group's request check (request-claims.ts) sums the repeats per holdings row
 * and status into held_repeats, and they are taken back out of that row, as the rollup
 * and the network table take theirs out. Lines without a request id always count, as in the rollup.
 *
 * Nothing of holdings is staged in DuckDB while the workers read: as each batch of partial rows
 * arrives, this thread (HeldStage) names its keys and objects in dictionaries of the stream (tuples of
 * string ids) and keeps its rows as they came. Recording a group of files then gives the stream's new
 * dictionary entries their stored ids (a lookup of the entries new to the stream only), sums the
 * group's rows per batch, slot, key and object, and appends the sums to held_rows, in the recording
 * transaction.
 */
import { DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import { SLOT_MS } from '../../domain/usage.js';
import { growInt } from '../logs/grow-arrays.js';
import { TupleDictionary } from '../logs/tuple-dictionary.js';
import { appendColumns } from './append-columns.js';
import { batchCodeOf, DICTIONARY_LIST } from './rollup-strings.js';

/**
 * The holdings table, stored in three: `held_rows` (integers: one row per batch, slot, key and object,
 * its times in ms after the slot's start and its batch coded in `rollup_strings` as the rollup's is),
 * and two dictionaries, `held_keys` (bucket,
 * requester, access point, dataset) and `held_objects` (key, version id, logged size, records), each
 * entry written once, when first read. A row's texts are not written per row: a night of 1 M lines
 * leaves some 176,000 rows over a few thousand objects (BENCHMARKS.md). The view `holdings` joins them
 * into the shape an Iceberg table takes on AWS, which the statements of ../sql/holdings-sql.ts read on
 * both engines. Dictionary entries whose rows a replaced batch took away stay: they are never read
 * without a row.
 */
export const HOLDINGS_SCHEMA: readonly string[] = [
  // 32-bit where the values allow (a slot's number, ms within it, one object's reads by one requester in
  // 15 minutes), which DuckDB appends as they are: a night's 176,000 rows took 80-95 ms to append, as
  // BIGINTs cast from doubles 130-230 ms (BENCHMARKS.md, hold14h).
  `CREATE TABLE IF NOT EXISTS held_rows (
    slot INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    first_in_slot INTEGER NOT NULL,
    last_in_slot INTEGER NOT NULL,
    retrievals INTEGER NOT NULL,
    full_retrievals INTEGER NOT NULL,
    bytes_sent BIGINT NOT NULL,
    batch INTEGER NOT NULL
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
    SELECT h.slot::BIGINT * ${SLOT_MS} AS slot_start, k.requester, k.access_point, k.bucket, o.object_key,
      o.version_id, k.dataset, o.object_size, o.object_records,
      h.slot::BIGINT * ${SLOT_MS} + h.first_in_slot AS first_ms,
      h.slot::BIGINT * ${SLOT_MS} + h.last_in_slot AS last_ms,
      h.retrievals::BIGINT AS retrievals, h.full_retrievals::BIGINT AS full_retrievals, h.bytes_sent,
      l.v[h.batch + 1] AS batch
    FROM held_rows h
      JOIN held_keys k ON k.key_id = h.key_id
      JOIN held_objects o ON o.object_id = h.object_id
      CROSS JOIN ${DICTIONARY_LIST} l`,
];

/**
 * held_rows of the earlier shape: BIGINT times and counts, and its batch a text on every row (appending
 * that text cost about as much as the rest of the row: BENCHMARKS.md, hold14h). Such a table is dropped
 * when the state opens (DROP_OLD_HELD_ROWS); the ingestion settings fingerprint changed with it
 * (holdings: 2, ../../cli/local-ingest.ts), so the next ingestion that keeps holdings rebuilds them
 * from the logs.
 */
export const OLD_HELD_ROWS_SHAPE = `SELECT 1 FROM duckdb_columns()
  WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'held_rows'
    AND column_name = 'slot_start'`;
export const DROP_OLD_HELD_ROWS: readonly string[] = ['DROP VIEW IF EXISTS holdings', 'DROP TABLE held_rows'];

/** Per-connection staging (see rollup-writer.ts): the repeats to take out of the holdings sums. */
export const HELD_STREAM_SCHEMA: readonly string[] = [
  // The group's repeats summed per holdings row they were counted in and status (held_ref: the row's
  // ref * 2, + 1 for 200s; request-claims.ts).
  `CREATE TEMP TABLE IF NOT EXISTS held_repeats (
    task INTEGER NOT NULL,
    held_ref INTEGER NOT NULL,
    retrievals DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL
  )`,
  'DELETE FROM held_repeats',
];

/**
 * The columns of held_rows as appended, in order: its BIGINT bytes go in as a DOUBLE chunk, which the
 * appender casts to BIGINT in DuckDB (whole numbers below 2^53, so exactly), rather than as a bigint
 * made in JavaScript per value.
 */
const HELD_ROW_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, DOUBLE, INTEGER];

/** SQL of the holdings writer; constant text, values only as parameters. */
export const HOLDINGS_SQL = {
  /** The group's repeats per holdings row (task, held_ref), to take out of the sums (HeldStage). */
  repeats: 'SELECT task, held_ref, retrievals, bytes_sent FROM held_repeats',
  clearRepeats: 'DELETE FROM held_repeats',
  /** The largest ids in held_keys and held_objects (-1 when empty): new entries are numbered after them. */
  lastIds: `SELECT (SELECT coalesce(max(key_id), -1) FROM held_keys),
    (SELECT coalesce(max(object_id), -1) FROM held_objects)`,
  /**
   * The ids in held_keys of keys given as parallel lists (bucket $1, requester $2, access point $3,
   * dataset $4), each with its place $5 in the lists.
   */
  findKeys: `SELECT t.i, min(k.key_id)
    FROM (SELECT unnest($1::VARCHAR[]) AS b, unnest($2::VARCHAR[]) AS r, unnest($3::VARCHAR[]) AS a,
      unnest($4::VARCHAR[]) AS d, unnest($5::INTEGER[]) AS i) t
      JOIN held_keys k ON k.bucket = t.b AND k.requester = t.r AND k.access_point = t.a AND k.dataset = t.d
    GROUP BY t.i`,
  /** New entries of held_keys: ids $1, then the columns as findKeys takes them. */
  addKeys: `INSERT INTO held_keys (key_id, bucket, requester, access_point, dataset)
    SELECT unnest($1::INTEGER[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]), unnest($4::VARCHAR[]),
      unnest($5::VARCHAR[])`,
  /**
   * The ids in held_objects of objects given as parallel lists (key $1, version id $2, logged size $3,
   * -1 for `-`, records $4), each with its place $5 in the lists.
   */
  findObjects: `SELECT t.i, min(o.object_id)
    FROM (SELECT unnest($1::VARCHAR[]) AS k, unnest($2::VARCHAR[]) AS v, unnest($3::DOUBLE[]) AS s,
      unnest($4::DOUBLE[]) AS n, unnest($5::INTEGER[]) AS i) t
      JOIN held_objects o ON o.object_key = t.k AND o.version_id = t.v
        AND coalesce(o.object_size, -1) = t.s::BIGINT AND o.object_records = t.n::BIGINT
    GROUP BY t.i`,
  /** New entries of held_objects: ids $1, then the columns as findObjects takes them. */
  addObjects: `INSERT INTO held_objects (object_id, object_key, version_id, object_size, object_records)
    SELECT id, k, v, CASE WHEN s < 0 THEN NULL ELSE s::BIGINT END, n::BIGINT
    FROM (SELECT unnest($1::INTEGER[]) AS id, unnest($2::VARCHAR[]) AS k, unnest($3::VARCHAR[]) AS v,
      unnest($4::DOUBLE[]) AS s, unnest($5::DOUBLE[]) AS n)`,
  deleteOf: `DELETE FROM held_rows WHERE batch IN
    (SELECT id FROM rollup_strings WHERE value IN (SELECT unnest($1::VARCHAR[])))`,
  clear: ['DELETE FROM held_rows', 'DELETE FROM held_keys', 'DELETE FROM held_objects'],
} as const;

/**
 * Adds a batch of partial holdings rows read in task `task` (with its task's new dictionary entries,
 * their string ids indexing `strings`, the stream's growing string table) to the stream's rows.
 */
export function stageHeldReads(
  connection: DuckDBConnection,
  task: number,
  reads: ColumnarHeldReads,
  strings: readonly string[],
): void {
  heldStageOf(connection).stage(task, reads, strings);
}

/** Drops the rows of `items`. */
export function discardHeldReads(connection: DuckDBConnection, items: readonly number[]): void {
  if (items.length === 0) return;
  stages.get(connection)?.discard(new Set(items));
}

/**
 * Empties the staged rows of the connection (a stream opens: what an earlier one left, were it stopped
 * by an error, is not of this one), as the schema's DELETEs empty the staging tables.
 */
export function resetHeldReads(connection: DuckDBConnection): void {
  stages.delete(connection);
}

/** Takes the group's repeats (held_repeats, per holdings row) out of the rows they were counted in. */
export async function stageHeldRepeats(connection: DuckDBConnection): Promise<void> {
  const stage = heldStageOf(connection);
  const repeats = await connection.runAndReadAll(HOLDINGS_SQL.repeats);
  for (const [task, ref, retrievals, bytes] of repeats.getRows()) {
    stage.repeat(Number(task), Number(ref), Number(retrievals), Number(bytes));
  }
  await connection.run(HOLDINGS_SQL.clearRepeats);
}

/**
 * Writes the sums of `items` into holdings and unstages them; `batchCodes` holds each batch's code in
 * `rollup_strings` (coded once per group for the rollup, the network table and this). Inside the
 * caller's transaction, after the group's repeats were taken out (RequestIdStage.dropRepeats). Returns
 * the holdings rows written.
 */
export async function insertHoldings(
  connection: DuckDBConnection,
  items: readonly { readonly item: number; readonly batch: string }[],
  batchCodes: ReadonlyMap<string, number>,
): Promise<number> {
  if (items.length === 0) return 0;
  const batches = [...new Set(items.map((i) => i.batch))];
  // Items of one batch are summed together: each item names its batch by its place in `batches`.
  const ordOf = new Map<number, number>();
  for (const { item, batch } of items) if (!ordOf.has(item)) ordOf.set(item, batches.indexOf(batch));
  const stage = heldStageOf(connection);
  if (!stage.holdsAny(ordOf)) return 0;
  // New keys and objects get their dictionary entries first; the rows then carry only their ids.
  await stage.mapEntries(connection);
  const summed = stage.take(ordOf);
  if (summed.count === 0) return 0;
  const codeOf = batches.map((b) => batchCodeOf(batchCodes, b));
  const [ord, slot, key, object, first, last, retrievals, full, bytes] = summed.columns as [
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Float64Array,
  ];
  const n = summed.count;
  const batch = new Int32Array(n);
  for (let i = 0; i < n; i++) batch[i] = codeOf[ord[i]!]!;
  // Appended to held_rows in the caller's transaction, in held_rows' column order.
  const columns = [slot, key, object, first, last, retrievals, full, bytes, batch];
  await appendColumns(connection, 'held_rows', HELD_ROW_TYPES, columns, n);
  return n;
}

/** Removes the holdings of whole batches (files replaced or read again). */
export async function deleteHoldingsOf(
  connection: DuckDBConnection,
  batches: readonly string[],
): Promise<void> {
  if (batches.length === 0) return;
  await connection.run(HOLDINGS_SQL.deleteOf, [listValue([...batches])], [LIST(VARCHAR)]);
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

/** What the stream keeps of one task: its dictionaries in the stream's, and where its rows went. */
interface TaskRows {
  /** Per index of the task's key (object) dictionary, the stream's entry. */
  keyOf: Int32Array;
  objectOf: Int32Array;
  /** Per partial row received, in order: its ref, and where it is kept among the stream's rows. */
  ref: Int32Array;
  into: Int32Array;
  count: number;
  /** `into` by ref, made when a repeat first names a row of the task. */
  byRef: Map<number, number> | undefined;
}

/**
 * The holdings of the open stream, kept on this thread as the workers' batches arrive, until their
 * files are recorded (as the request identities are kept, request-claims.ts), and summed per batch,
 * slot, key and object when their group is written. Summed once, then: adding each row into sums per
 * file as it arrived, then the sums of a group's files into sums per batch, hashed every row twice
 * where the files of many small-file tasks make one batch (BENCHMARKS.md, held15), and took that time
 * from the workers while they read. What a crash loses is what TEMP tables would have lost: rows of
 * files not yet recorded.
 */
class HeldStage {
  private strings: readonly string[] = [];
  /** The stream's keys: bucket, requester, access point and dataset (string ids). */
  private readonly keys = new TupleDictionary(4, 0);
  /** The stream's objects: key and version id (string ids), logged size (-1: `-`) and records. */
  private readonly objects = new TupleDictionary(2, 2);
  /** Per stream key (object) below `keysMapped` (`objectsMapped`), its id in held_keys (held_objects). */
  private keyIds = new Int32Array(256);
  private objectIds = new Int32Array(256);
  private keysMapped = 0;
  private objectsMapped = 0;
  /** The largest ids in held_keys and held_objects after this stream's last new entries. */
  private lastIds: readonly [number, number] | undefined;
  private readonly tasks = new Map<number, TaskRows>();
  /**
   * The partial rows as received (item, stream key and stream object); a row written or dropped has
   * item -1. Room for a night of 1 M lines (192,000 to 224,000 rows) from the start (the memory is
   * taken from the system as the rows fill it).
   */
  private rows = new HeldRows(1 << 18);
  private deadRows = 0;

  stage(task: number, r: ColumnarHeldReads, strings: readonly string[]): void {
    this.strings = strings;
    let t = this.tasks.get(task);
    if (t === undefined) {
      t = {
        keyOf: new Int32Array(16),
        objectOf: new Int32Array(64),
        ref: new Int32Array(0),
        into: new Int32Array(0),
        count: 0,
        byRef: undefined,
      };
      this.tasks.set(task, t);
    }
    const k = r.keys;
    if (r.keyFrom + k.count > t.keyOf.length) t.keyOf = growInt(t.keyOf, capacity(r.keyFrom + k.count));
    for (let i = 0; i < k.count; i++) {
      t.keyOf[r.keyFrom + i] = this.keys.index(
        k.bucket[i]!,
        k.requester[i]!,
        k.accessPoint[i]!,
        k.dataset[i]!,
        0,
        0,
      );
    }
    const o = r.objects;
    if (r.objectFrom + o.count > t.objectOf.length) {
      t.objectOf = growInt(t.objectOf, capacity(r.objectFrom + o.count));
    }
    for (let i = 0; i < o.count; i++) {
      t.objectOf[r.objectFrom + i] = this.objects.index(
        o.objectKey[i]!,
        o.versionId[i]!,
        0,
        0,
        o.objectSize[i]!,
        o.records[i]!,
      );
    }
    if (r.count === 0) return;
    if (t.count + r.count > t.ref.length) {
      const n = capacity(t.count + r.count);
      t.ref = growInt(t.ref, n);
      t.into = growInt(t.into, n);
    }
    const { keyOf, objectOf, ref, into } = t;
    const rows = this.rows;
    const from = t.count;
    for (let i = 0; i < r.count; i++) {
      const retrievals = r.retrievals[i]!;
      // The times of a sum are its reads' (a row without reads, were there one, brings none).
      const positive = retrievals > 0;
      const g = rows.append(
        r.item[i]!,
        r.slot[i]!,
        keyOf[r.key[i]!]!,
        objectOf[r.object[i]!]!,
        retrievals,
        r.full[i]!,
        r.bytesSent[i]!,
        positive ? r.firstMs[i]! : Number.POSITIVE_INFINITY,
        positive ? r.lastMs[i]! : Number.NEGATIVE_INFINITY,
      );
      ref[from + i] = r.ref[i]!;
      into[from + i] = g;
    }
    t.count = from + r.count;
    if (t.byRef !== undefined) for (let i = from; i < t.count; i++) t.byRef.set(ref[i]!, into[i]!);
  }

  /**
   * Takes repeats out of the row (task, heldRef >> 1) they were counted in: their retrievals, whole
   * retrievals when they were 200s (heldRef odd), and bytes sent. Their times stay: a repeat was logged
   * at the time of the request it repeats, counted elsewhere.
   */
  repeat(task: number, heldRef: number, retrievals: number, bytes: number): void {
    const t = this.tasks.get(task);
    if (t === undefined) return;
    if (t.byRef === undefined) {
      t.byRef = new Map();
      for (let i = 0; i < t.count; i++) t.byRef.set(t.ref[i]!, t.into[i]!);
    }
    const into = t.byRef.get(heldRef >> 1);
    if (into === undefined) return;
    this.rows.subtract(into, retrievals, (heldRef & 1) === 1 ? retrievals : 0, bytes);
  }

  /** Whether a row of an item `ords` names is staged. */
  holdsAny(ords: ReadonlyMap<number, number>): boolean {
    const s = this.rows;
    for (let g = 0; g < s.count; g++) if (s.item(g) >= 0 && ords.has(s.item(g))) return true;
    return false;
  }

  /** Drops the rows of `items`. */
  discard(items: ReadonlySet<number>): void {
    const rows = this.rows;
    for (let g = 0; g < rows.count; g++) {
      if (rows.item(g) >= 0 && items.has(rows.item(g))) {
        rows.kill(g);
        this.deadRows++;
      }
    }
    this.compact();
  }

  /**
   * Gives every stream key and object without one an id in held_keys and held_objects: the stored
   * entry's, or a new entry's (written here, in the caller's transaction) numbered after the largest.
   * The ids are kept for the stream; should the tables' largest ids not be those this stream left (a
   * group's transaction rolled back), every entry is looked up again.
   */
  async mapEntries(connection: DuckDBConnection): Promise<void> {
    const [row] = (await connection.runAndReadAll(HOLDINGS_SQL.lastIds)).getRows();
    const last = [Number(row![0]), Number(row![1])];
    if (this.lastIds !== undefined && (this.lastIds[0] !== last[0] || this.lastIds[1] !== last[1])) {
      this.keysMapped = 0;
      this.objectsMapped = 0;
    }
    const strings = this.strings;
    const keys = this.keys;
    if (keys.size > this.keysMapped) {
      const from = this.keysMapped;
      if (keys.size > this.keyIds.length) this.keyIds = growInt(this.keyIds, capacity(keys.size));
      const texts = [0, 1, 2, 3].map((c) =>
        Array.from({ length: keys.size - from }, (_, i) => strings[keys.int(from + i, c)]!),
      );
      last[0] = await mapNew(connection, this.keyIds, from, last[0]!, texts, [], {
        find: HOLDINGS_SQL.findKeys,
        add: HOLDINGS_SQL.addKeys,
      });
      this.keysMapped = keys.size;
    }
    const objects = this.objects;
    if (objects.size > this.objectsMapped) {
      const from = this.objectsMapped;
      if (objects.size > this.objectIds.length)
        this.objectIds = growInt(this.objectIds, capacity(objects.size));
      const n = objects.size - from;
      const texts = [0, 1].map((c) =>
        Array.from({ length: n }, (_, i) => strings[objects.int(from + i, c)]!),
      );
      const numbers = [0, 1].map((c) => Array.from({ length: n }, (_, i) => objects.float(from + i, c)));
      last[1] = await mapNew(connection, this.objectIds, from, last[1]!, texts, numbers, {
        find: HOLDINGS_SQL.findObjects,
        add: HOLDINGS_SQL.addObjects,
      });
      this.objectsMapped = objects.size;
    }
    this.lastIds = [last[0]!, last[1]!];
  }

  /**
   * The sums of the rows of the items `ords` names (item -> its batch's place) per batch, slot, key id
   * and object id (mapEntries first), unstaged. A sum whose every retrieval was a repeat is left out.
   * Columns: batch place, slot, key id, object id, first and last ms after the slot's start,
   * retrievals, whole retrievals, bytes sent.
   */
  take(ords: ReadonlyMap<number, number>): {
    readonly count: number;
    readonly columns: (Int32Array | Float64Array)[];
  } {
    const s = this.rows;
    const keyIds = this.keyIds;
    const objectIds = this.objectIds;
    const idOf = (ids: Int32Array, mapped: number, e: number): number => {
      const id = e < mapped ? ids[e]! : -1;
      if (id < 0) throw new RangeError(`holdings: a row's key or object ${e} has no id in the dictionaries`);
      return id;
    };
    const taken = new Int32Array(s.count);
    let n = 0;
    let lastItem = -2;
    let lastOrd = -1;
    for (let g = 0; g < s.count; g++) {
      const item = s.item(g);
      if (item < 0) continue;
      if (item !== lastItem) {
        lastItem = item;
        lastOrd = ords.get(item) ?? -1;
      }
      if (lastOrd < 0) continue;
      // Named as held_rows names it: rows of one batch, slot, key and object are then one sum.
      s.rename(
        g,
        lastOrd,
        idOf(keyIds, this.keysMapped, s.key(g)),
        idOf(objectIds, this.objectsMapped, s.object(g)),
      );
      taken[n++] = g;
    }
    const sums = s.sumInPlace(taken, n);
    const out = s.columns(taken, sums);
    for (let j = 0; j < sums; j++) s.kill(taken[j]!);
    this.deadRows += n;
    this.compact();
    return out;
  }

  /**
   * When most rows are written or dropped, keeps the live ones only, in a table of their own: the
   * stream's memory follows the files being read, not every file it recorded.
   */
  private compact(): void {
    const s = this.rows;
    if (this.deadRows * 2 <= s.count) return;
    const moved = new Int32Array(s.count).fill(-1);
    const next = new HeldRows(s.count - this.deadRows);
    for (let g = 0; g < s.count; g++) if (s.item(g) >= 0) moved[g] = next.copy(s, g);
    for (const t of this.tasks.values()) {
      let j = 0;
      for (let i = 0; i < t.count; i++) {
        const g = moved[t.into[i]!]!;
        if (g < 0) continue;
        t.ref[j] = t.ref[i]!;
        t.into[j] = g;
        j++;
      }
      t.count = j;
      t.byRef = undefined;
      // A task keeps its dictionaries: its later batches name entries of its earlier ones.
      if (j === 0) {
        t.ref = new Int32Array(0);
        t.into = new Int32Array(0);
      }
    }
    this.rows = next;
    this.deadRows = 0;
  }
}

/**
 * Gives the entries of `ids` from `from` on (their columns `texts` and `numbers`, list parameters in
 * that order) their stored ids: those `sql.find` finds (none when the table is empty, `last` -1), else
 * new ones after `last`, added by `sql.add`. Returns the largest id now stored.
 */
async function mapNew(
  connection: DuckDBConnection,
  ids: Int32Array,
  from: number,
  last: number,
  texts: readonly string[][],
  numbers: readonly number[][],
  sql: { readonly find: string; readonly add: string },
): Promise<number> {
  const n = texts[0]!.length;
  const lists = [...texts.map((c) => listValue(c)), ...numbers.map((c) => listValue(c))];
  const types = [...texts.map(() => LIST(VARCHAR)), ...numbers.map(() => LIST(DOUBLE))];
  ids.fill(-1, from, from + n);
  if (last >= 0) {
    const places = listValue(Array.from({ length: n }, (_, i) => i));
    const found = await connection.runAndReadAll(sql.find, [...lists, places], [...types, LIST(INTEGER)]);
    for (const [i, id] of found.getRows()) ids[from + Number(i)] = Number(id);
  }
  const fresh: number[] = [];
  for (let i = 0; i < n; i++) if (ids[from + i] === -1) fresh.push(i);
  if (fresh.length === 0) return last;
  const added = fresh.map((i) => {
    ids[from + i] = ++last;
    return last;
  });
  await connection.run(
    sql.add,
    [
      listValue(added),
      ...texts.map((c) => listValue(fresh.map((i) => c[i]!))),
      ...numbers.map((c) => listValue(fresh.map((i) => c[i]!))),
    ],
    [LIST(INTEGER), ...types],
  );
  return last;
}

const MAX_INT32 = 2 ** 31 - 1;

/** Room for `n` entries: a power of two, at least 16. */
function capacity(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

/** Bytes of a row: four int32 (a, slot, key, object), then five float64, in one cache line. */
const SUM_BYTES = 64;
const SUM_INTS = SUM_BYTES / 4;
const SUM_FLOATS = SUM_BYTES / 8;
/** Where a row's numbers sit among its float64: after the four int32. */
const RETRIEVALS = 2;
const FULL = 3;
const BYTES = 4;
const FIRST = 5;
const LAST = 6;

/**
 * Partial holdings rows of (a, slot, key, object), `a` an item or a batch's place: retrievals, whole
 * retrievals, bytes sent, and first and last time (infinite while no read brought one), one cache line
 * each, in the order they were appended; `sumInPlace` adds up those of one (a, slot, key, object).
 */
class HeldRows {
  count = 0;
  private ints: Int32Array;
  private floats: Float64Array;

  /** Room for `expected` rows before growing. */
  constructor(expected: number) {
    const n = Math.max(1024, expected);
    const buffer = new ArrayBuffer(n * SUM_BYTES);
    this.ints = new Int32Array(buffer);
    this.floats = new Float64Array(buffer);
  }

  item(g: number): number {
    return this.ints[g * SUM_INTS]!;
  }
  key(g: number): number {
    return this.ints[g * SUM_INTS + 2]!;
  }
  object(g: number): number {
    return this.ints[g * SUM_INTS + 3]!;
  }

  /** Marks row `g` written or dropped (item -1). */
  kill(g: number): void {
    this.ints[g * SUM_INTS] = -1;
  }

  /** Gives row `g` another `a`, key and object. */
  rename(g: number, a: number, key: number, object: number): void {
    const i = g * SUM_INTS;
    this.ints[i] = a;
    this.ints[i + 2] = key;
    this.ints[i + 3] = object;
  }

  /**
   * Adds each of the rows `rows[0 .. n)` names into the first of them of its (a, slot, key, object),
   * killing the others; returns how many are left, which `rows` then names first (in their order). An
   * open-addressing table (linear probing, at most half full) of the rows' indexes, made for the call,
   * beside each place the row's hash, so that a probe reads a row only when the hashes match.
   */
  sumInPlace(rows: Int32Array, n: number): number {
    let size = 1 << 12;
    while (size < n * 2) size *= 2;
    const mask = size - 1;
    const places = new Int32Array(size);
    const hashes = new Int32Array(size);
    const ints = this.ints;
    const floats = this.floats;
    let kept = 0;
    for (let j = 0; j < n; j++) {
      const g = rows[j]!;
      const i = g * SUM_INTS;
      const a = ints[i]!;
      const slot = ints[i + 1]!;
      const key = ints[i + 2]!;
      const object = ints[i + 3]!;
      const h = hash(a, slot, key, object);
      let p = h & mask;
      let into = -1;
      for (;;) {
        const t = places[p]! - 1;
        if (t < 0) break;
        if (hashes[p] === h) {
          const k = t * SUM_INTS;
          if (ints[k + 3] === object && ints[k + 2] === key && ints[k + 1] === slot && ints[k] === a) {
            into = t;
            break;
          }
        }
        p = (p + 1) & mask;
      }
      if (into < 0) {
        places[p] = g + 1;
        hashes[p] = h;
        rows[kept++] = g;
        continue;
      }
      const f = g * SUM_FLOATS;
      const e = into * SUM_FLOATS;
      floats[e + RETRIEVALS]! += floats[f + RETRIEVALS]!;
      floats[e + FULL]! += floats[f + FULL]!;
      floats[e + BYTES]! += floats[f + BYTES]!;
      if (floats[f + FIRST]! < floats[e + FIRST]!) floats[e + FIRST] = floats[f + FIRST]!;
      if (floats[f + LAST]! > floats[e + LAST]!) floats[e + LAST] = floats[f + LAST]!;
      ints[i] = -1;
    }
    return kept;
  }

  /** A new row at the end; returns its index. */
  append(
    a: number,
    slot: number,
    key: number,
    object: number,
    retrievals: number,
    full: number,
    bytes: number,
    first: number,
    last: number,
  ): number {
    const g = this.count++;
    if (g * SUM_INTS === this.ints.length) this.grow();
    const i = g * SUM_INTS;
    const ints = this.ints;
    ints[i] = a;
    ints[i + 1] = slot;
    ints[i + 2] = key;
    ints[i + 3] = object;
    const f = g * SUM_FLOATS;
    const floats = this.floats;
    floats[f + RETRIEVALS] = retrievals;
    floats[f + FULL] = full;
    floats[f + BYTES] = bytes;
    floats[f + FIRST] = first;
    floats[f + LAST] = last;
    return g;
  }

  /** A copy of row `g` of `from` at the end; returns its index. */
  copy(from: HeldRows, g: number): number {
    const at = this.count++;
    if (at * SUM_INTS === this.ints.length) this.grow();
    this.ints.set(from.ints.subarray(g * SUM_INTS, (g + 1) * SUM_INTS), at * SUM_INTS);
    return at;
  }

  /** Takes a repeat's retrievals, whole retrievals and bytes out of row `g`. */
  subtract(g: number, retrievals: number, full: number, bytes: number): void {
    const f = g * SUM_FLOATS;
    this.floats[f + RETRIEVALS]! -= retrievals;
    this.floats[f + FULL]! -= full;
    this.floats[f + BYTES]! -= bytes;
  }

  /**
   * The rows `rows[0 .. n)` names that have at least one retrieval left, as held_rows takes them: `a`,
   * slot, key, object, first and last ms after the slot's start, retrievals, whole retrievals, bytes
   * sent.
   */
  columns(
    rows: Int32Array,
    n: number,
  ): { readonly count: number; readonly columns: (Int32Array | Float64Array)[] } {
    const ints = this.ints;
    const floats = this.floats;
    let kept = 0;
    for (let j = 0; j < n; j++) if (floats[rows[j]! * SUM_FLOATS + RETRIEVALS]! > 0) kept++;
    const a = new Int32Array(kept);
    const slot = new Int32Array(kept);
    const key = new Int32Array(kept);
    const object = new Int32Array(kept);
    const first = new Int32Array(kept);
    const last = new Int32Array(kept);
    const retrievals = new Int32Array(kept);
    const full = new Int32Array(kept);
    const bytes = new Float64Array(kept);
    let o = 0;
    for (let j = 0; j < n; j++) {
      const g = rows[j]!;
      const i = g * SUM_INTS;
      const f = g * SUM_FLOATS;
      if (!(floats[f + RETRIEVALS]! > 0)) continue;
      // Stored exactly or not at all: bytes travel as doubles (exact up to 2^53), retrievals as int32.
      if (floats[f + BYTES]! > Number.MAX_SAFE_INTEGER || floats[f + RETRIEVALS]! > MAX_INT32)
        throw new RangeError(
          `holdings: a sum of one object's reads in a slot passed what is stored exactly (bytes ${floats[f + BYTES]}, retrievals ${floats[f + RETRIEVALS]})`,
        );
      const start = ints[i + 1]! * SLOT_MS;
      a[o] = ints[i]!;
      slot[o] = ints[i + 1]!;
      key[o] = ints[i + 2]!;
      object[o] = ints[i + 3]!;
      first[o] = floats[f + FIRST]! - start;
      last[o] = floats[f + LAST]! - start;
      retrievals[o] = floats[f + RETRIEVALS]!;
      full[o] = floats[f + FULL]!;
      bytes[o] = floats[f + BYTES]!;
      o++;
    }
    return { count: kept, columns: [a, slot, key, object, first, last, retrievals, full, bytes] };
  }

  private grow(): void {
    const buffer = new ArrayBuffer(this.ints.byteLength * 2);
    const ints = new Int32Array(buffer);
    ints.set(this.ints);
    this.ints = ints;
    this.floats = new Float64Array(buffer);
  }
}

function hash(a: number, slot: number, key: number, object: number): number {
  let h = Math.imul(a ^ 0x3c6ef372, 0x9e3779b1);
  h = Math.imul(h ^ slot, 0x85ebca6b);
  h = Math.imul(h ^ key, 0xc2b2ae35);
  h = Math.imul(h ^ object, 0x27d4eb2f);
  return h ^ (h >>> 15);
}
