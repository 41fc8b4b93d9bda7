/** Appending typed-array columns to a DuckDB table in data chunks (the staging tables' fast path). */
import type { DuckDBConnection, DuckDBType } from '@duckdb/node-api';
import { DuckDBDataChunk } from '@duckdb/node-api';

const CHUNK_ROWS = 2048;

/** A column of `count` numbers: what INTEGER and DOUBLE vectors take. */
export type NumberColumn = Int32Array | Float64Array;

/**
 * Appends the first `count` values of each column to `table`, whose columns have `types` in order.
 * On failure nothing of this call is appended (the appender is cleared) and the error is rethrown.
 */
export async function appendColumns(
  connection: DuckDBConnection,
  table: string,
  types: readonly DuckDBType[],
  columns: readonly NumberColumn[],
  count: number,
): Promise<void> {
  const appender = await connection.createAppender(table);
  try {
    let chunk = DuckDBDataChunk.create([...types], CHUNK_ROWS);
    for (let offset = 0; offset < count; offset += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, count - offset);
      if (rows !== chunk.rowCount) chunk = DuckDBDataChunk.create([...types], rows);
      // Typed arrays read like arrays of numbers, which is what INTEGER and DOUBLE vectors take.
      chunk.setColumns(columns.map((c) => c.subarray(offset, offset + rows)) as unknown as number[][]);
      appender.appendDataChunk(chunk);
    }
    appender.closeSync();
  } catch (error) {
    appender.clear();
    appender.closeSync();
    throw error;
  }
}
