/**
 * The dictionary the coded tables share (schema.ts `rollup_strings`: each string once, dense integer
 * codes from 0, never removed), and how their views decode it: by position in one list of every
 * string, built once per statement, rather than a join per column (seven joins in a view that readers
 * join further let DuckDB's join order put the coded rows on a build side).
 */

/** A one-row relation with the column `v`: every string of the dictionary, `v[code + 1]` its text. */
export const DICTIONARY_LIST = `(
    SELECT list(s.value ORDER BY t.i) AS v
    FROM range((SELECT coalesce(max(id), -1) + 1 FROM rollup_strings)) t(i)
      LEFT JOIN rollup_strings s ON s.id = t.i
  )`;
