/**
 * The baseline of `npm run bench`: DuckDB's own CSV reader over an access log, split on spaces with `"`
 * as the quote, every column VARCHAR, bad rows skipped, grouped by the requester column. It is not a
 * correct reader of S3 access logs (an unescaped quote inside a field shifts every column after it),
 * only a fast one. Runs in its own process; prints one JSON line: rows, groups, query seconds, peak RSS.
 *
 *   node --import tsx bench/duckdb-naive.ts <log file, plain or .gz>
 */
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: duckdb-naive.ts <log file>\n');
  process.exit(2);
}

/** The naive reading: space-delimited, quote `"`, all VARCHAR, errors ignored, any column count. */
const NAIVE_QUERY = `SELECT column04 AS requester, count(*) AS n
  FROM read_csv($1, delim = ' ', quote = '"', escape = '"', header = false, all_varchar = true,
    ignore_errors = true, strict_mode = false, null_padding = true)
  GROUP BY 1`;

const started = performance.now();
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
const result = await connection.runAndReadAll(NAIVE_QUERY, [file]);
const rows = result.getRows().reduce((n, row) => n + Number(row[1]), 0);
const seconds = (performance.now() - started) / 1000;
connection.closeSync();
instance.closeSync();
process.stdout.write(
  `${JSON.stringify({ rows, groups: result.currentRowCount, seconds, maxRssKb: process.resourceUsage().maxRSS })}\n`,
);
