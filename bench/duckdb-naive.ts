/**
 * The baselines of `npm run bench`: DuckDB's own CSV reader over an access log, split on spaces with `"`
 * as the quote, every column VARCHAR, bad rows skipped. It is not a correct reader of S3 access logs (an
 * unescaped quote inside a field shifts every column after it), only a fast one. Runs in its own
 * process; prints one JSON line: mode, rows, groups, columns, query seconds, peak RSS.
 *
 * The same reader is asked four things, from the lightest to the heaviest, because DuckDB reads only the
 * columns a query needs (projection pushdown) and a "naive read_csv" can mean any of them:
 * - (default) grouped by the requester column: one column materialised; the bench's headline baseline;
 * - `--count`: `SELECT count(*)`, no column kept;
 * - `--all-columns`: `CREATE TABLE t AS SELECT *` in an in-memory database, every column materialised
 *   (memory grows with the text: several GB at 10 M lines);
 * - `--rollup`: grouped as the ingester groups (15-minute slot, bucket, requester, access point, dataset
 *   of depth 2, operation, status class; requests and bytes summed), still naively: columns counted from
 *   the left, keys not URL-decoded.
 *
 *   node --import tsx bench/duckdb-naive.ts <log file, plain or gzip, or a glob> [--count | --all-columns | --rollup]
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { startsWithGzipMagic } from './gzip-magic.js';

/**
 * The naive reading: space-delimited, quote `"`, all VARCHAR, errors ignored, any column count; the
 * compression is given ($2) rather than guessed from the name, so a gzip log without `.gz` reads too.
 * The time `[06/Feb/2019:00:00:38 +0000]` holds a space, so it takes two columns and the requester, the
 * fifth field of the format, is column05.
 */
const READ_CSV = `read_csv($1, delim = ' ', quote = '"', escape = '"', header = false, all_varchar = true,
    ignore_errors = true, strict_mode = false, null_padding = true, compression = $2)`;

/** What each mode runs, and where its answer is. */
interface Mode {
  readonly sql: string;
  /** The column of the result holding a row count, summed over the result's rows. */
  readonly countColumn: number;
}

const MODES = {
  requester: {
    sql: `SELECT column05 AS requester, count(*) AS n FROM ${READ_CSV} GROUP BY 1`,
    countColumn: 1,
  },
  count: { sql: `SELECT count(*) AS n FROM ${READ_CSV}`, countColumn: 0 },
  // CREATE TABLE AS answers with the number of rows it inserted.
  'all-columns': { sql: `CREATE TABLE t AS SELECT * FROM ${READ_CSV}`, countColumn: 0 },
  // The ingester's grouping, read the same naive way (the access point is column25 of a 27-field line).
  rollup: {
    sql: `SELECT
    time_bucket(INTERVAL 15 MINUTE, try_strptime(column02 || ' ' || column03, '[%d/%b/%Y:%H:%M:%S %z]')) AS slot,
    column01 AS bucket, column05 AS requester, coalesce(column25, '-') AS access_point,
    CASE WHEN column08 = '-' THEN '-'
      ELSE split_part(column08, '/', 1) || '/' || split_part(column08, '/', 2) || '/' END AS dataset,
    column07 AS operation, left(column10, 1) || 'xx' AS status_class,
    count(*) AS n, sum(TRY_CAST(column12 AS BIGINT)) AS bytes_sent
  FROM ${READ_CSV}
  GROUP BY ALL`,
    countColumn: 7,
  },
} as const satisfies Record<string, Mode>;

const FLAGS: Readonly<Record<string, keyof typeof MODES>> = {
  '--count': 'count',
  '--all-columns': 'all-columns',
  '--rollup': 'rollup',
};

const [file, flag, ...rest] = process.argv.slice(2);
const modeName = flag === undefined ? 'requester' : FLAGS[flag];
if (file === undefined || modeName === undefined || rest.length > 0) {
  process.stderr.write('usage: duckdb-naive.ts <log file> [--count | --all-columns | --rollup]\n');
  process.exit(2);
}

const mode: Mode = MODES[modeName];
const started = performance.now();
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
// A glob (many small log objects) is read as DuckDB reads globs: compression told by each name.
const compression = file.includes('*') ? 'auto' : startsWithGzipMagic(file) ? 'gzip' : 'none';
const result = await connection.runAndReadAll(mode.sql, [file, compression]);
const rows = result.getRows().reduce((n, row) => n + Number(row[mode.countColumn]), 0);
const seconds = (performance.now() - started) / 1000;
// Outside the timed part: how wide the materialised table is, to show that every column was kept.
const columns =
  modeName === 'all-columns'
    ? Number(
        (
          await connection.runAndReadAll('SELECT count(*) FROM duckdb_columns() WHERE table_name = $1', ['t'])
        ).getRows()[0]?.[0],
      )
    : undefined;
connection.closeSync();
instance.closeSync();
process.stdout.write(
  `${JSON.stringify({
    mode: modeName,
    rows,
    groups: modeName === 'requester' || modeName === 'rollup' ? result.currentRowCount : undefined,
    columns,
    seconds,
    maxRssKb: process.resourceUsage().maxRSS,
  })}\n`,
);
