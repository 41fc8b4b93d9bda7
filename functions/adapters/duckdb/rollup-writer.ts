/**
 * Bulk write of rollup rows through DuckDB's appender. Rows go in as integer codes plus a small string
 * dictionary and are recoded to the codes of `rollup_strings` by one INSERT ... SELECT inside DuckDB
 * (the rollup is stored coded, see schema.ts): numbers cross into DuckDB as a memory copy per column
 * chunk, whereas each string crosses with a native call of its own.
 */
import {
  BIGINT,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import {
  type ColumnarRequestIds,
  type ColumnarUsageRows,
  type RollupRow,
  SLOT_MS,
  STATUS_BY_INDEX,
} from '../../domain/usage.js';
import type { ColumnarNetworkRows } from '../logs/network-rows.js';
import { PendingAppend } from './append-columns.js';
import { collectGarbage } from './collect-garbage.js';
import { InvalidRollupRowError } from './errors.js';
import { discardHeldReads, HELD_STREAM_SCHEMA, resetHeldReads, stageHeldReads } from './holdings-writer.js';
import {
  discardNetworkRows,
  insertNetworkRows,
  NETWORK_STREAM_SCHEMA,
  networkStreamAppend,
  stageNetworkRows,
} from './network-store.js';
import {
  CLAIM_WORK_SCHEMA,
  COLLECT_AFTER_LINES,
  type RepeatsDropped,
  RequestIdStage,
} from './request-claims.js';
import { batchCodeOf, stringCodes } from './rollup-strings.js';
import { ROLLUP_CODE, SQL } from './schema.js';

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;

const STAGE_TYPES = [BIGINT, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, BIGINT, BIGINT, BIGINT];

/**
 * Appends `rows` to `rollup`, tagged with `batch`. Must run inside the caller's transaction: the staging
 * tables are emptied again before it returns, and a failure part-way leaves staged rows that only the
 * caller's ROLLBACK removes.
 *
 * @throws InvalidRollupRowError when a row's batch is not `batch`, its slot is not a whole slot start,
 *   or a count is negative.
 */
export async function appendRollupRows(
  connection: DuckDBConnection,
  batch: string,
  rows: readonly RollupRow[],
): Promise<void> {
  if (rows.length === 0) return;
  const codes = new Map<string, number>();
  const code = (value: string): number => {
    let id = codes.get(value);
    if (id === undefined) {
      id = codes.size;
      codes.set(value, id);
    }
    return id;
  };

  const stage = await connection.createAppender('rollup_stage');
  try {
    let chunk = DuckDBDataChunk.create(STAGE_TYPES, CHUNK_ROWS);
    for (let offset = 0; offset < rows.length; offset += CHUNK_ROWS) {
      const count = Math.min(CHUNK_ROWS, rows.length - offset);
      const columns: unknown[][] = STAGE_TYPES.map(() => new Array(count));
      for (let i = 0; i < count; i++) {
        const index = offset + i;
        const row = rows[index]!;
        checkRow(row, batch, index);
        columns[0]![i] = BigInt(row.slotStart);
        columns[1]![i] = code(row.bucket);
        columns[2]![i] = code(row.requester);
        columns[3]![i] = code(row.accessPoint);
        columns[4]![i] = code(row.dataset);
        columns[5]![i] = code(row.operation);
        columns[6]![i] = code(row.statusClass);
        columns[7]![i] = row.requests;
        columns[8]![i] = row.bytesSent;
        columns[9]![i] = row.records;
      }
      if (count !== chunk.rowCount) chunk = DuckDBDataChunk.create(STAGE_TYPES, count);
      chunk.setColumns(columns as never);
      stage.appendDataChunk(chunk);
    }
    stage.closeSync();
  } catch (error) {
    stage.clear();
    stage.closeSync();
    throw error;
  }

  const dictionary = await connection.createAppender('stage_strings');
  try {
    for (const [value, id] of codes) {
      dictionary.appendInteger(id);
      dictionary.appendVarchar(value);
      dictionary.endRow();
    }
    dictionary.closeSync();
  } catch (error) {
    dictionary.clear();
    dictionary.closeSync();
    throw error;
  }

  await connection.run(SQL.addStagedStrings, [batch]);
  const batchCode = (await connection.runAndReadAll(SQL.rollupCode, [batch])).getRows()[0]![0];
  const inserted = await connection.run(SQL.unstageRollup, [batchCode as number]);
  if (inserted.rowsChanged !== rows.length) {
    // Cannot happen while every code has a dictionary entry; checked because a silent loss would undercount.
    throw new Error(`staged ${rows.length} rollup rows but decoded ${inserted.rowsChanged}`);
  }
  await connection.run(SQL.clearStage);
  await connection.run(SQL.clearStageStrings);
}

/** The rollup's columns as the view `rollup` shows them, for rows given as strings (see insertUncodedRollup). */
const ROLLUP_INPUT: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS rollup_input (
    slot_start BIGINT NOT NULL,
    bucket VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,
    status_class VARCHAR NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    records BIGINT NOT NULL,
    batch VARCHAR NOT NULL
  )`,
  'DELETE FROM rollup_input',
];

/**
 * Writes rows given with the columns of the view `rollup`, in its order and as strings, as
 * `INSERT INTO rollup <rows>` wrote them into the table it was: `rows` is the SELECT or VALUES clause
 * of that INSERT, with its parameters. For synthetic data (bench, tests), which is written in bulk by
 * SQL; the ingester stages coded rows instead. Returns the rows written.
 */
export async function insertUncodedRollup(
  connection: DuckDBConnection,
  rows: string,
  params: DuckDBValue[] = [],
  types?: DuckDBType[],
): Promise<number> {
  for (const statement of ROLLUP_INPUT) await connection.run(statement);
  const given = await connection.run(`INSERT INTO rollup_input ${rows}`, params, types);
  await connection.run(ROLLUP_CODE.addInputStrings);
  const written = await connection.run(ROLLUP_CODE.insertInput);
  await connection.run('DELETE FROM rollup_input');
  if (written.rowsChanged !== given.rowsChanged) {
    throw new Error(`given ${given.rowsChanged} rollup rows but coded ${written.rowsChanged}`);
  }
  return Number(written.rowsChanged);
}

function checkRow(row: RollupRow, batch: string, index: number): void {
  if (row.batch !== batch) {
    throw new InvalidRollupRowError(index, `batch ${row.batch} differs from the file's fingerprint ${batch}`);
  }
  if (!Number.isSafeInteger(row.slotStart) || row.slotStart % SLOT_MS !== 0) {
    throw new InvalidRollupRowError(index, `slotStart ${row.slotStart} is not the start of a slot`);
  }
  if (row.requests < 0n || row.bytesSent < 0n || row.records < 0n) {
    throw new InvalidRollupRowError(index, 'counts must not be negative');
  }
}

/**
 * Rollup rows in columns; `item` holds the id the rows were staged under (see StagedRollup). With
 * `task`, `ref` and `lines`, the request identities of the lines summed into them, so that a request
 * delivered twice is counted once (see request-claims.ts); rows without them are never deduplicated.
 */
export type ColumnarRollupRows = ColumnarUsageRows & {
  readonly task?: number;
  readonly ref?: Int32Array;
  readonly lines?: ColumnarRequestIds;
  /** The network rows read with them (see network-store.ts). */
  readonly network?: ColumnarNetworkRows;
  /** Whole-object reads of the same lines, for the holdings table (see holdings-writer.ts). */
  readonly holdings?: ColumnarHeldReads;
};

/**
 * Per-connection staging for streamed rows, summed into `rollup` per file when the file is complete.
 * TEMP tables: a crash loses only rows of files not yet recorded, which the next run reads again.
 */
const STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS rollup_stream (
    item INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    status INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    operation INTEGER NOT NULL,
    requests DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    records DOUBLE NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL
  )`,
  // A group's file records, appended before one INSERT into ingested_files (thousands of small log
  // objects a group: list parameters of that length cost more than the rest of the group's write).
  // Counts as DOUBLE (whole numbers below 2^53), cast to BIGINT on the way in.
  `CREATE TEMP TABLE IF NOT EXISTS file_stage (
    ord INTEGER NOT NULL,
    fingerprint VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    basename VARCHAR NOT NULL,
    size DOUBLE NOT NULL,
    layout VARCHAR NOT NULL,
    lines DOUBLE NOT NULL,
    parsed_lines DOUBLE NOT NULL,
    malformed_lines DOUBLE NOT NULL,
    malformed_by_reason VARCHAR NOT NULL,
    unreadable_reason VARCHAR,
    repeats_dropped DOUBLE NOT NULL,
    batch VARCHAR NOT NULL
  )`,
  'DELETE FROM rollup_stream',
  'DELETE FROM file_stage',
  ...CLAIM_WORK_SCHEMA,
  ...NETWORK_STREAM_SCHEMA,
  ...HELD_STREAM_SCHEMA,
];

/** file_stage's columns, in order (STREAM_SCHEMA). */
export const FILE_STAGE_TYPES = [
  INTEGER,
  VARCHAR,
  VARCHAR,
  VARCHAR,
  DOUBLE,
  VARCHAR,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  VARCHAR,
  VARCHAR,
  DOUBLE,
  VARCHAR,
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
  DOUBLE,
  DOUBLE,
  DOUBLE,
  INTEGER,
  INTEGER,
];

/** SQL of StagedRollup; constant text, values only as parameters. */
export const STREAM_SQL = {
  /**
   * Sums the staged rows of the items in $1 by batch and key (each partial count is exact as a double,
   * and is summed as an integer), the batch of each item the code in `rollup_strings` in $2 (in the
   * same order as $1: items of one batch are summed together). Their string columns and status already
   * hold the codes of `rollup_strings` (StagedRollup.stage); $3 is SLOT_MS.
   */
  insertSummed: `INSERT INTO rollup_rows (slot_start, bucket, requester, access_point, dataset, operation,
      status_class, requests, bytes_sent, records, batch)
    SELECT slot::BIGINT * $3::BIGINT, bucket, requester, access_point, dataset, operation, status,
      sum(requests::BIGINT)::BIGINT, sum(bytes_sent::BIGINT)::BIGINT, sum(records::BIGINT)::BIGINT, f.batch
    FROM rollup_stream s
      JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($2::INTEGER[]) AS batch) f ON f.item = s.item
    GROUP BY f.batch, slot, status, bucket, requester, access_point, dataset, operation`,
  discardItems: 'DELETE FROM rollup_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  /** The group's file records from `file_stage`, stamped with the time $1 (epoch ms). */
  insertFiles: `INSERT INTO ingested_files (fingerprint, path, basename, size, layout, lines, parsed_lines,
      malformed_lines, malformed_by_reason, unreadable_reason, ingested_at, repeats_dropped, batch)
    SELECT fingerprint, path, basename, size::BIGINT, layout, lines::BIGINT, parsed_lines::BIGINT,
      malformed_lines::BIGINT, malformed_by_reason, unreadable_reason, epoch_ms($1::BIGINT),
      repeats_dropped::BIGINT, batch
    FROM file_stage ORDER BY ord`,
  clearFileStage: 'DELETE FROM file_stage',
  insertSamples: `INSERT INTO malformed_samples (fingerprint, path, line, reason, text)
    SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::BIGINT[]), unnest($4::VARCHAR[]),
      unnest($5::VARCHAR[])`,
} as const;

/**
 * Rows staged on a connection while files are read, keyed by an item id per file; `insertInto` sums a
 * finished file's rows into `rollup`. Their strings are staged as codes of `rollup_strings`, each
 * added there once, when a row first names it (codeStrings).
 */
export class StagedRollup {
  /**
   * `codes[id]`: the code in `rollup_strings` of staged string `id`, -1 until a row names it. Strings
   * are added to `rollup_strings` as rows first name them, outside the group's transaction, and are
   * never removed from it, so a code once read stays valid for the connection's life.
   */
  private codes = new Int32Array(0);
  /** The codes of STATUS_BY_INDEX, by index, once read. */
  private statusCodeList: readonly number[] | undefined;
  /** The request identities of the staged rows, kept on this thread (see request-claims.ts). */
  private readonly requestIds = new RequestIdStage();
  /** Rows bound for rollup_stream and network_stream, appended in bulk (flushStaged before reading). */
  private readonly pendingRows = new PendingAppend('rollup_stream', STREAM_TYPES);
  private readonly pendingNetwork = networkStreamAppend();

  private constructor(private readonly connection: DuckDBConnection) {}

  /** Creates (or empties) the staging tables. */
  static async open(connection: DuckDBConnection): Promise<StagedRollup> {
    for (const statement of STREAM_SCHEMA) await connection.run(statement);
    resetHeldReads(connection);
    return new StagedRollup(connection);
  }

  /**
   * Stages `rows`; `strings[id]` is the text of every id its string columns hold. The same `strings`
   * (growing) must be passed each time: the code of an id is looked up once.
   */
  async stage(rows: ColumnarRollupRows, strings: readonly string[]): Promise<void> {
    if (rows.lines !== undefined) this.requestIds.stage(rows.task ?? 0, rows.lines);
    if (rows.network !== undefined) await this.stageNetwork(rows.task ?? 0, rows.network, strings);
    if (rows.holdings !== undefined) stageHeldReads(this.connection, rows.task ?? 0, rows.holdings, strings);
    if (rows.count === 0) return;
    const n = rows.count;
    const keys = [rows.bucket, rows.requester, rows.accessPoint, rows.dataset, rows.operation];
    await this.codeStrings(keys, n, strings);
    const codes = this.codes;
    const coded = keys.map((column) => {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = codes[column[i]!]!;
      return out;
    });
    const statusCodes = await this.statusCodes();
    const status = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const code = statusCodes[rows.status[i]!];
      if (code === undefined)
        throw new RangeError(`staged rollup row ${i}: no status class ${rows.status[i]}`);
      status[i] = code;
    }
    const task = new Int32Array(n).fill(rows.task ?? 0);
    const ref = rows.ref ?? new Int32Array(n);
    const columns = [
      rows.item,
      rows.slot,
      status,
      ...coded,
      rows.requests,
      rows.bytesSent,
      rows.records,
      task,
      ref,
    ];
    await this.pendingRows.add(this.connection, columns, rows.count);
  }

  /** Appends the rows still held to rollup_stream and network_stream: before anything reads them. */
  private async flushStaged(): Promise<void> {
    await this.pendingRows.flush(this.connection);
    await this.pendingNetwork.flush(this.connection);
  }

  /** Stages network rows with their string columns as codes of `rollup_strings` (network-store.ts). */
  private async stageNetwork(
    task: number,
    rows: ColumnarNetworkRows,
    strings: readonly string[],
  ): Promise<void> {
    if (rows.count === 0) return;
    const n = rows.count;
    const columns = [
      rows.requester,
      rows.accessPoint,
      rows.address,
      rows.prefix,
      rows.addressKey,
      rows.addressClass,
      rows.vpce,
      rows.region,
    ];
    await this.codeStrings(columns, n, strings);
    const codes = this.codes;
    const [requester, accessPoint, address, prefix, addressKey, addressClass, vpce, region] = columns.map(
      (column) => {
        const out = new Int32Array(n);
        for (let i = 0; i < n; i++) out[i] = codes[column[i]!]!;
        return out;
      },
    ) as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
    await stageNetworkRows(this.pendingNetwork, this.connection, task, {
      ...rows,
      requester,
      accessPoint,
      address,
      prefix,
      addressKey,
      addressClass,
      vpce,
      region,
    });
  }

  /** Gives every staged string that `columns` name (their first `n` rows) its code in `rollup_strings`. */
  private async codeStrings(
    columns: readonly Int32Array[],
    n: number,
    strings: readonly string[],
  ): Promise<void> {
    if (this.codes.length < strings.length) {
      const grown = new Int32Array(strings.length).fill(-1);
      grown.set(this.codes);
      this.codes = grown;
    }
    const codes = this.codes;
    const missing = new Set<number>();
    for (const column of columns) {
      for (let i = 0; i < n; i++) {
        const id = column[i]!;
        if (codes[id] === -1) missing.add(id);
        else if (codes[id] === undefined) throw new RangeError(`staged rollup row ${i}: no string ${id}`);
      }
    }
    if (missing.size === 0) return;
    const ids = [...missing];
    const found = await stringCodes(
      this.connection,
      ids.map((id) => strings[id]!),
    );
    for (const id of ids) codes[id] = found.get(strings[id]!)!;
  }

  private async statusCodes(): Promise<readonly number[]> {
    if (this.statusCodeList === undefined) {
      const found = await stringCodes(this.connection, STATUS_BY_INDEX);
      this.statusCodeList = STATUS_BY_INDEX.map((status) => found.get(status)!);
    }
    return this.statusCodeList;
  }

  /**
   * Sums the staged rows of `items` into `rollup`, one row per batch and key (items sharing a batch
   * are summed together), and unstages them; `batchCodes` holds each batch's code in `rollup_strings`
   * (stringCodes, in the same transaction). Run it inside the caller's transaction. Returns the rollup
   * rows written.
   */
  async insertInto(
    items: readonly { readonly item: number; readonly batch: string }[],
    batchCodes: ReadonlyMap<string, number>,
  ): Promise<number> {
    if (items.length === 0) return 0;
    await this.flushStaged();
    const ids = listValue(items.map((i) => i.item));
    const codes = listValue(items.map((i) => batchCodeOf(batchCodes, i.batch)));
    const result = await this.connection.run(
      STREAM_SQL.insertSummed,
      [ids, codes, BigInt(SLOT_MS)],
      [LIST(INTEGER), LIST(INTEGER), BIGINT],
    );
    await insertNetworkRows(this.connection, items, batchCodes);
    await this.discard(items.map((i) => i.item));
    return Number(result.rowsChanged);
  }

  /** Drops the staged rows (and request identities) of `items` without writing them. */
  async discard(items: readonly number[]): Promise<void> {
    if (items.length === 0) return;
    await this.flushStaged();
    await this.connection.run(STREAM_SQL.discardItems, [listValue([...items])], [LIST(INTEGER)]);
    this.requestIds.discard(items);
    await discardNetworkRows(this.connection, items);
    discardHeldReads(this.connection, items);
  }

  /**
   * Takes requests already counted (by another file, or earlier in `items` or in the same file) back
   * out of the staged rows of `items`, before `insertInto` sums them; see request-claims.ts.
   */
  async dropRepeats(
    items: readonly { readonly item: number; readonly batch: string }[],
  ): Promise<RepeatsDropped> {
    const lines = this.requestIds.count;
    // The repeats are taken out of staged rows by SQL (request-claims.ts): every row must be there.
    await this.flushStaged();
    const dropped = await this.requestIds.dropRepeats(this.connection, items);
    // The check's typed arrays (tens of bytes a line) are garbage now; freed before the rollup write.
    if (lines >= COLLECT_AFTER_LINES) collectGarbage();
    return dropped;
  }
}
