/**
 * The dictionary the coded tables share (schema.ts `rollup_strings`: each string once, dense integer
 * codes from 0, never removed), and how their views decode it: by position in one list of every
 * string, built once per statement, rather than a join per column (seven joins in a view that readers
 * join further let DuckDB's join order put the coded rows on a build side).
 */
import { type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';

/** A one-row relation with the column `v`: every string of the dictionary, `v[code + 1]` its text. */
export const DICTIONARY_LIST = `(
    SELECT list(s.value ORDER BY t.i) AS v
    FROM range((SELECT coalesce(max(id), -1) + 1 FROM rollup_strings)) t(i)
      LEFT JOIN rollup_strings s ON s.id = t.i
  )`;

/** The codes in `rollup_strings` of those of the strings $1 it holds, then (value NULL) its largest code. */
const FIND_CODES = `SELECT value, id FROM rollup_strings WHERE value IN (SELECT unnest($1::VARCHAR[]))
  UNION ALL SELECT NULL, coalesce(max(id), -1) FROM rollup_strings`;

/** Adds the strings $2 under the codes $1 (parallel lists). */
const INSERT_CODED =
  'INSERT INTO rollup_strings (id, value) SELECT unnest($1::INTEGER[]), unnest($2::VARCHAR[])';

/**
 * The codes of `values` in `rollup_strings`, adding those it does not hold yet (codes after its largest,
 * in sorted order). Two short statements: an insert of the strings not held (by a window and an
 * anti-join) followed by a look-up of every code took about twice as long for a handful of strings
 * (BENCHMARKS.md, issue 15, tenth session). One writer holds a state file, so nothing adds codes between the look-up and the
 * insert; inside a transaction, codes added are the transaction's, gone if it rolls back (callers that
 * keep codes across transactions, StagedRollup, code outside them).
 */
export async function stringCodes(
  connection: DuckDBConnection,
  values: readonly string[],
): Promise<Map<string, number>> {
  const distinct = [...new Set(values)];
  const codes = new Map<string, number>();
  if (distinct.length === 0) return codes;
  let last = -1;
  for (const [value, id] of (
    await connection.runAndReadAll(FIND_CODES, [listValue(distinct)], [LIST(VARCHAR)])
  ).getRows()) {
    if (value === null) last = Number(id);
    else codes.set(String(value), Number(id));
  }
  const fresh = distinct.filter((v) => !codes.has(v)).sort();
  if (fresh.length === 0) return codes;
  const ids = fresh.map((v) => {
    codes.set(v, ++last);
    return last;
  });
  await connection.run(INSERT_CODED, [listValue(ids), listValue(fresh)], [LIST(INTEGER), LIST(VARCHAR)]);
  return codes;
}

/** The code of `batch` in `codes` (stringCodes of the group's batches); a batch not coded is a bug. */
export function batchCodeOf(codes: ReadonlyMap<string, number>, batch: string): number {
  const code = codes.get(batch);
  if (code === undefined)
    throw new RangeError(`batch ${JSON.stringify(batch)} has no code in rollup_strings`);
  return code;
}
