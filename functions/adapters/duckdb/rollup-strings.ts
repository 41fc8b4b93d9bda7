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

/** Adds the strings of the list $1 that `rollup_strings` does not hold yet, each once. */
export const ADD_STRINGS = `INSERT INTO rollup_strings (id, value)
    SELECT (SELECT coalesce(max(id), -1) FROM rollup_strings) + row_number() OVER (ORDER BY value), value
    FROM (SELECT DISTINCT unnest($1::VARCHAR[]) AS value)
    WHERE value NOT IN (SELECT value FROM rollup_strings)`;

/** The codes in `rollup_strings` of the strings $1 (all of them there). */
export const CODES_OF = 'SELECT value, id FROM rollup_strings WHERE value IN (SELECT unnest($1::VARCHAR[]))';
