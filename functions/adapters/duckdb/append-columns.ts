/** Appending typed-array columns to a DuckDB table in data chunks (the staging tables' fast path). */
import type { DuckDBConnection, DuckDBType } from '@duckdb/node-api';
import {
  DuckDBBigIntVector,
  DuckDBDataChunk,
  DuckDBDoubleVector,
  DuckDBIntegerVector,
} from '@duckdb/node-api';

const CHUNK_ROWS = 2048;

/** A column of `count` numbers: what INTEGER, DOUBLE and BIGINT vectors take. */
export type NumberColumn = Int32Array | Float64Array | BigInt64Array;

/** A column of numbers, or of texts (a VARCHAR column, whose values go in one by one; null is NULL). */
export type AppendColumn = NumberColumn | readonly (string | null)[];

/**
 * The typed array behind an INTEGER or DOUBLE vector of the client (its `items`, which `flush` copies
 * to DuckDB), when it is one of the same kind as `column`: then a chunk's values are set in one copy
 * instead of one checked `setItem` call a value. Undefined otherwise (the client changed), and the
 * values go in one by one.
 */
function itemsOf(chunk: DuckDBDataChunk, index: number, column: AppendColumn): NumberColumn | undefined {
  const vector = chunk.getColumnVector(index);
  if (
    !(
      vector instanceof DuckDBIntegerVector ||
      vector instanceof DuckDBDoubleVector ||
      vector instanceof DuckDBBigIntVector
    )
  ) {
    return undefined;
  }
  const items = (vector as unknown as { readonly items?: unknown }).items;
  if (column instanceof Int32Array && items instanceof Int32Array) return items;
  if (column instanceof Float64Array && items instanceof Float64Array) return items;
  if (column instanceof BigInt64Array && items instanceof BigInt64Array) return items;
  return undefined;
}

/** Whether `b` has the texts of `a`, in order. */
function sameTexts(a: readonly (string | null)[] | undefined, b: readonly (string | null)[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Appends the first `count` values of each column to `table`, whose columns have `types` in order.
 * On failure nothing of this call is appended (the appender is cleared) and the error is rethrown.
 */
export async function appendColumns(
  connection: DuckDBConnection,
  table: string,
  types: readonly DuckDBType[],
  columns: readonly AppendColumn[],
  count: number,
): Promise<void> {
  if (columns.length !== types.length) {
    throw new RangeError(`${table}: ${columns.length} columns given for ${types.length} types`);
  }
  const appender = await connection.createAppender(table);
  try {
    let chunk = DuckDBDataChunk.create([...types], CHUNK_ROWS);
    // Per text column, the values its vector in `chunk` holds (the chunk keeps them once appended).
    let held: (readonly (string | null)[] | undefined)[] = [];
    for (let offset = 0; offset < count; offset += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, count - offset);
      // A chunk of another size is a new one. One of the same size is used again with its vectors (the
      // values are set afresh into each, and appending leaves the chunk as it was), so that the
      // client's vectors, whose making copies each vector's data out of DuckDB, are made once a call.
      if (rows !== chunk.rowCount) {
        chunk = DuckDBDataChunk.create([...types], rows);
        held = [];
      }
      for (let c = 0; c < columns.length; c++) {
        const column = columns[c]!;
        if (Array.isArray(column)) {
          const texts = (column as readonly (string | null)[]).slice(offset, offset + rows);
          // Texts the vector holds already (a batch's name on every row, say) are not set again: one
          // call into DuckDB a value is what a text column costs.
          if (!sameTexts(held[c], texts)) {
            chunk.setColumnValues(c, texts);
            held[c] = texts;
          }
          continue;
        }
        const values = (column as NumberColumn).subarray(offset, offset + rows);
        const items = itemsOf(chunk, c, values);
        if (items === undefined || items.length !== rows) {
          // Typed arrays read like arrays of numbers (or bigints), which is what the vectors take.
          chunk.setColumnValues(c, values as unknown as number[]);
          continue;
        }
        // Every value is a number (never null): the vector's validity stays all valid.
        (items as { set(values: ArrayLike<number | bigint>): void }).set(values as NumberColumn);
        chunk.getColumnVector(c).flush();
      }
      appender.appendDataChunk(chunk);
    }
    appender.closeSync();
  } catch (error) {
    appender.clear();
    appender.closeSync();
    throw error;
  }
}

/** Rows a PendingAppend holds before it appends them without being asked. */
const PENDING_ROWS = 65_536;

/**
 * Columns bound for one table, gathered over several calls and appended in one: each append costs
 * DuckDB about a millisecond whatever its rows (an appender made, flushed and committed), and the
 * staging of a night of small log objects made a few hundred of them. Rows are appended once
 * PENDING_ROWS are waiting, or when `flush` is called: before anything reads or changes the table.
 */
export class PendingAppend {
  private parts: { readonly columns: readonly AppendColumn[]; readonly count: number }[] = [];
  private rows = 0;

  constructor(
    private readonly table: string,
    private readonly types: readonly DuckDBType[],
  ) {}

  /** Holds `count` rows of `columns` (not copied: the caller does not change them afterwards). */
  async add(connection: DuckDBConnection, columns: readonly AppendColumn[], count: number): Promise<void> {
    if (columns.length !== this.types.length) {
      throw new RangeError(`${this.table}: ${columns.length} columns given for ${this.types.length} types`);
    }
    if (count === 0) return;
    this.parts.push({ columns, count });
    this.rows += count;
    if (this.rows >= PENDING_ROWS) await this.flush(connection);
  }

  /** Appends every row held, in the order given. */
  async flush(connection: DuckDBConnection): Promise<void> {
    if (this.rows === 0) return;
    const parts = this.parts;
    const rows = this.rows;
    this.clear();
    const columns =
      parts.length === 1
        ? parts[0]!.columns
        : this.types.map((_, c) =>
            joined(
              parts.map((p) => ({ column: p.columns[c]!, count: p.count })),
              rows,
            ),
          );
    await appendColumns(connection, this.table, this.types, columns, rows);
  }

  /** Drops every row held. */
  clear(): void {
    this.parts = [];
    this.rows = 0;
  }
}

/** The first `count` values of each part, one after the other, as one column of the parts' kind. */
function joined(parts: readonly { column: AppendColumn; count: number }[], rows: number): AppendColumn {
  const first = parts[0]!.column;
  if (Array.isArray(first)) return parts.flatMap((p) => (p.column as (string | null)[]).slice(0, p.count));
  const out =
    first instanceof Int32Array
      ? new Int32Array(rows)
      : first instanceof Float64Array
        ? new Float64Array(rows)
        : new BigInt64Array(rows);
  let at = 0;
  for (const { column, count } of parts) {
    (out as NumberColumn).set((column as NumberColumn).subarray(0, count) as never, at);
    at += count;
  }
  return out;
}
