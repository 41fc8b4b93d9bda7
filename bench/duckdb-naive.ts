/**
 * The baseline of `npm run bench`: DuckDB's own CSV reader over an access log, split on spaces with `"`
 * as the quote, every column VARCHAR, bad rows skipped, grouped by the requester column. It is not a
 * correct reader of S3 access logs (an unescaped quote inside a field shifts every column after it),
 * only a fast one. Runs in its own process; prints one JSON line: rows, groups, query seconds, peak RSS.
 *
 * With `--rollup` it groups as the ingester does instead (15-minute slot, bucket, requester, access
 * point, dataset of depth 2, operation, status class; requests and bytes summed), still naively:
 * columns counted from the left, keys not URL-decoded.
 *
 *   node --import tsx bench/duckdb-naive.ts <log file, plain or .gz> [--rollup]
 */
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
const rollup = process.argv[3] === '--rollup';
if (file === undefined) {
  process.stderr.write('usage: duckdb-naive.ts <log file> [--rollup]\n');
  process.exit(2);
}

/**
 * The naive reading: space-delimited, quote `"`, all VARCHAR, errors ignored, any column count. The
 * time `[06/Feb/2019:00:00:38 +0000]` holds a space, so it takes two columns and the requester, the
 * fifth field of the format, is column05.
 */
const NAIVE_QUERY = `SELECT column05 AS requester, count(*) AS n
  FROM read_csv($1, delim = ' ', quote = '"', escape = '"', header = false, all_varchar = true,
    ignore_errors = true, strict_mode = false, null_padding = true)
  GROUP BY 1`;

/** The ingester's grouping, read the same naive way (the access point is column25 of a 27-field line). */
const NAIVE_ROLLUP = `SELECT
    time_bucket(INTERVAL 15 MINUTE, try_strptime(column02 || ' ' || column03, '[%d/%b/%Y:%H:%M:%S %z]')) AS slot,
    column01 AS bucket, column05 AS requester, coalesce(column25, '-') AS access_point,
    CASE WHEN column08 = '-' THEN '-'
      ELSE split_part(column08, '/', 1) || '/' || split_part(column08, '/', 2) || '/' END AS dataset,
    column07 AS operation, left(column10, 1) || 'xx' AS status_class,
    count(*) AS n, sum(TRY_CAST(column12 AS BIGINT)) AS bytes_sent
  FROM read_csv($1, delim = ' ', quote = '"', escape = '"', header = false, all_varchar = true,
    ignore_errors = true, strict_mode = false, null_padding = true)
  GROUP BY ALL`;

const started = performance.now();
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
const result = await connection.runAndReadAll(rollup ? NAIVE_ROLLUP : NAIVE_QUERY, [file]);
const countColumn = rollup ? 7 : 1;
const rows = result.getRows().reduce((n, row) => n + Number(row[countColumn]), 0);
const seconds = (performance.now() - started) / 1000;
connection.closeSync();
instance.closeSync();
process.stdout.write(
  `${JSON.stringify({ rows, groups: result.currentRowCount, seconds, maxRssKb: process.resourceUsage().maxRSS })}\n`,
);
