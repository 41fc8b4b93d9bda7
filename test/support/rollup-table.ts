/**
 * Tests that write the rollup by SQL: the rollup is stored coded (`rollup_rows` and `rollup_strings`)
 * and read through the view `rollup`, which cannot be written. These write and delete what
 * `INSERT INTO rollup` and `DELETE FROM rollup` did when it was a table.
 */
import {
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import { insertUncodedRollup } from '../../functions/adapters/duckdb/rollup-writer.js';
import { SQL } from '../../functions/adapters/duckdb/schema.js';

/** `INSERT INTO rollup <rows>`: `rows` a SELECT or VALUES clause with the view's columns in order. */
export function insertRollup(
  connection: DuckDBConnection,
  rows: string,
  params: DuckDBValue[] = [],
  types?: DuckDBType[],
): Promise<number> {
  return insertUncodedRollup(connection, rows, params, types);
}

/** `DELETE FROM rollup WHERE batch IN (batches)`, or every row without `batches`. */
export async function deleteRollup(connection: DuckDBConnection, batches?: readonly string[]): Promise<void> {
  if (batches === undefined) await connection.run(SQL.clearRollup);
  else await connection.run(SQL.deleteRollupOf, [listValue([...batches])], [LIST(VARCHAR)]);
}
