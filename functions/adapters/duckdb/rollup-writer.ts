/**
 * Bulk write of rollup rows through DuckDB's appender. Rows go in as integer codes plus a small string
 * dictionary and are decoded by one INSERT ... SELECT inside DuckDB: numbers cross into DuckDB as a
 * memory copy per column chunk, whereas each string crosses with a native call of its own.
 */
import {
  BIGINT,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
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
import { appendColumns } from './append-columns.js';
import { InvalidRollupRowError } from './errors.js';
import { discardHeldReads, HELD_STREAM_SCHEMA, resetHeldReads, stageHeldReads } from './holdings-writer.js';
import {
  discardNetworkRows,
  insertNetworkRows,
  NETWORK_STREAM_SCHEMA,
  stageNetworkRows,
} from './network-store.js';
import { CLAIM_WORK_SCHEMA, type RepeatsDropped, RequestIdStage } from './request-claims.js';
import { SQL } from './schema.js';

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

  const inserted = await connection.run(SQL.unstageRollup, [batch]);
  if (inserted.rowsChanged !== rows.length) {
    // Cannot happen while every code has a dictionary entry; checked because a silent loss would undercount.
    throw new Error(`staged ${rows.length} rollup rows but decoded ${inserted.rowsChanged}`);
  }
  await connection.run(SQL.clearStage);
  await connection.run(SQL.clearStageStrings);
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
  `CREATE TEMP TABLE IF NOT EXISTS rollup_stream_strings (
    id INTEGER NOT NULL,
    value VARCHAR NOT NULL
  )`,
  'DELETE FROM rollup_stream',
  'DELETE FROM rollup_stream_strings',
  ...CLAIM_WORK_SCHEMA,
  ...NETWORK_STREAM_SCHEMA,
  ...HELD_STREAM_SCHEMA,
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
   * and is summed as an integer), the batch of each item from $2 (in the same order as $1: items of
   * one batch are summed together), and decodes ids through the staged strings. $3 is SLOT_MS, $4 the
   * status classes.
   */
  insertSummed: `INSERT INTO rollup (slot_start, bucket, requester, access_point, dataset, operation,
      status_class, requests, bytes_sent, records, batch)
    SELECT g.slot::BIGINT * $3::BIGINT, b.value, r.value, a.value, d.value, o.value,
      list_extract($4::VARCHAR[], g.status + 1), g.requests, g.bytes_sent, g.records, g.batch
    FROM (
      SELECT f.batch, slot, status, bucket, requester, access_point, dataset, operation,
        sum(requests::BIGINT)::BIGINT AS requests,
        sum(bytes_sent::BIGINT)::BIGINT AS bytes_sent,
        sum(records::BIGINT)::BIGINT AS records
      FROM rollup_stream s
        JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($2::VARCHAR[]) AS batch) f ON f.item = s.item
      GROUP BY f.batch, slot, status, bucket, requester, access_point, dataset, operation
    ) g
      JOIN rollup_stream_strings b ON b.id = g.bucket
      JOIN rollup_stream_strings r ON r.id = g.requester
      JOIN rollup_stream_strings a ON a.id = g.access_point
      JOIN rollup_stream_strings d ON d.id = g.dataset
      JOIN rollup_stream_strings o ON o.id = g.operation`,
  discardItems: 'DELETE FROM rollup_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  /** Bookkeeping of many files in one statement: parallel lists, one element per file. */
  insertFiles: `INSERT INTO ingested_files (fingerprint, path, basename, size, layout, lines, parsed_lines,
      malformed_lines, malformed_by_reason, unreadable_reason, ingested_at, batch)
    SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]), unnest($4::BIGINT[]),
      unnest($5::VARCHAR[]), unnest($6::BIGINT[]), unnest($7::BIGINT[]), unnest($8::BIGINT[]),
      unnest($9::VARCHAR[]), unnest($10::VARCHAR[]), epoch_ms($11::BIGINT), unnest($12::VARCHAR[])`,
  /** Repeated requests dropped per file ($2, parallel to the fingerprints $1). */
  setRepeatsDropped: `UPDATE ingested_files SET repeats_dropped = r.n
    FROM (SELECT unnest($1::VARCHAR[]) AS fingerprint, unnest($2::BIGINT[]) AS n) r
    WHERE ingested_files.fingerprint = r.fingerprint`,
  insertSamples: `INSERT INTO malformed_samples (fingerprint, path, line, reason, text)
    SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::BIGINT[]), unnest($4::VARCHAR[]),
      unnest($5::VARCHAR[])`,
} as const;

/**
 * Rows staged on a connection while files are read, keyed by an item id per file; `insertInto` sums a
 * finished file's rows into `rollup`. Strings are staged once, as they first appear.
 */
export class StagedRollup {
  private stagedStrings = 0;
  /** The request identities of the staged rows, kept on this thread (see request-claims.ts). */
  private readonly requestIds = new RequestIdStage();

  private constructor(private readonly connection: DuckDBConnection) {}

  /** Creates (or empties) the staging tables. */
  static async open(connection: DuckDBConnection): Promise<StagedRollup> {
    for (const statement of STREAM_SCHEMA) await connection.run(statement);
    resetHeldReads(connection);
    return new StagedRollup(connection);
  }

  /**
   * Stages `rows`; `strings[id]` is the text of every id its string columns hold. The same `strings`
   * (growing) must be passed each time: ids already staged are not staged again.
   */
  async stage(rows: ColumnarRollupRows, strings: readonly string[]): Promise<void> {
    if (strings.length > this.stagedStrings) {
      const appender = await this.connection.createAppender('rollup_stream_strings');
      try {
        for (let id = this.stagedStrings; id < strings.length; id++) {
          appender.appendInteger(id);
          appender.appendVarchar(strings[id]!);
          appender.endRow();
        }
        appender.closeSync();
      } catch (error) {
        appender.clear();
        appender.closeSync();
        throw error;
      }
      this.stagedStrings = strings.length;
    }
    if (rows.lines !== undefined) this.requestIds.stage(rows.task ?? 0, rows.lines);
    if (rows.network !== undefined) await stageNetworkRows(this.connection, rows.task ?? 0, rows.network);
    if (rows.holdings !== undefined) await stageHeldReads(this.connection, rows.task ?? 0, rows.holdings);
    if (rows.count === 0) return;
    const task = new Int32Array(rows.count).fill(rows.task ?? 0);
    const ref = rows.ref ?? new Int32Array(rows.count);
    const columns = [
      rows.item,
      rows.slot,
      rows.status,
      rows.bucket,
      rows.requester,
      rows.accessPoint,
      rows.dataset,
      rows.operation,
      rows.requests,
      rows.bytesSent,
      rows.records,
      task,
      ref,
    ];
    await appendColumns(this.connection, 'rollup_stream', STREAM_TYPES, columns, rows.count);
  }

  /**
   * Sums the staged rows of `items` into `rollup`, one row per batch and key (items sharing a batch
   * are summed together), and unstages them. Run it inside the caller's transaction. Returns the rollup rows written.
   */
  async insertInto(items: readonly { readonly item: number; readonly batch: string }[]): Promise<number> {
    if (items.length === 0) return 0;
    const ids = listValue(items.map((i) => i.item));
    const batches = listValue(items.map((i) => i.batch));
    const result = await this.connection.run(
      STREAM_SQL.insertSummed,
      [ids, batches, BigInt(SLOT_MS), listValue([...STATUS_BY_INDEX])],
      [LIST(INTEGER), LIST(VARCHAR), BIGINT, LIST(VARCHAR)],
    );
    await insertNetworkRows(this.connection, items);
    await this.discard(items.map((i) => i.item));
    return Number(result.rowsChanged);
  }

  /** Drops the staged rows (and request identities) of `items` without writing them. */
  async discard(items: readonly number[]): Promise<void> {
    if (items.length === 0) return;
    await this.connection.run(STREAM_SQL.discardItems, [listValue([...items])], [LIST(INTEGER)]);
    this.requestIds.discard(items);
    await discardNetworkRows(this.connection, items);
    await discardHeldReads(this.connection, items);
  }

  /**
   * Takes requests already counted (by another file, or earlier in `items` or in the same file) back
   * out of the staged rows of `items`, before `insertInto` sums them; see request-claims.ts.
   */
  dropRepeats(items: readonly { readonly item: number; readonly batch: string }[]): Promise<RepeatsDropped> {
    return this.requestIds.dropRepeats(this.connection, items);
  }
}
