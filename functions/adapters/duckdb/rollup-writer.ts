/**
 * Bulk write of rollup rows through DuckDB's appender. Rows go in as integer codes plus a small string
 * dictionary and are decoded by one INSERT ... SELECT inside DuckDB: numbers cross into DuckDB as a
 * memory copy per column chunk, whereas each string crosses with a native call of its own.
 */
import { BIGINT, type DuckDBConnection, DuckDBDataChunk, INTEGER } from '@duckdb/node-api';
import { type RollupRow, SLOT_MS } from '../../domain/usage.js';
import { InvalidRollupRowError } from './errors.js';
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
