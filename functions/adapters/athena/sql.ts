/**
 * The Athena (Trino) statements of the AWS path, as data: each builder returns `{ sql, params }` with
 * positional `?` placeholders, filled by StartQueryExecution's ExecutionParameters. Athena accepts
 * parameters only in WHERE, and takes each as a literal written out, so strings go with their quotes
 * (`'2026/03/01'`). Values do not enter the SQL text; what does (database and table names, the dataset
 * depth, and the batch of a DELETE, which Athena does not parameterise) is validated against a strict
 * shape first.
 *
 * The SQL keeps to what Trino and DuckDB both read, except four Trino functions (parse_datetime,
 * to_unixtime, from_unixtime, sequence) that the local Athena server in test/support defines for
 * DuckDB. Athena runs queries in UTC, which the timestamp casts below rely on.
 */
import type { Interval } from '../../domain/time.js';
import {
  classifiedAddressesSql,
  SOURCE_ADDRESS_SQL,
  SOURCE_REGION_SQL,
  VPC_ENDPOINT_SQL,
} from './network-sql.js';

/** A statement and its ExecutionParameters, in placeholder order. */
export interface SqlQuery {
  readonly sql: string;
  readonly params: readonly string[];
}

/** Where the statements read and write: the Glue database and its tables. */
export interface AthenaTables {
  readonly database: string;
  /** The access-log table (RegexSerDe over raw logs, partitioned by `delivery_date`). */
  readonly logsTable: string;
  /** The Iceberg rollup table. */
  readonly rollupTable: string;
  /**
   * The dataset manifest table (RegexSerDe over the canonical CSV of manifest-csv.ts), when the
   * registry names a manifest.
   * @default none: the rollup writes 0 records
   */
  readonly manifestTable?: string;
}

/** A value that may not enter a statement: an identifier, a batch or a depth of the wrong shape. */
export class SqlInputError extends Error {
  override readonly name = 'SqlInputError';
}

/** The access-log timestamp as Joda reads it: `14/Mar/2026:09:12:44 +0000`, any offset. */
export const LOG_TIME_FORMAT = 'dd/MMM/yyyy:HH:mm:ss Z';

/**
 * The time as S3 writes it, `06/Feb/2019:00:00:38 -0500`, and nothing looser: parse_datetime (Joda)
 * alone would also take `6/feb/2019:0:0:38 -05:00` and years before 1970, DuckDB's strptime an offset of
 * +2400, and the local scanner takes none of them (functions/adapters/logs/LOG-LINES.md). A time of
 * another shape is a `bad-time` line, as locally; what is left to parse_datetime is the calendar
 * (31/Feb), which all three reject.
 */
export const LOG_TIME_SHAPE =
  '^(0[1-9]|[12][0-9]|3[01])/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/' +
  '(19[7-9][0-9]|[2-9][0-9]{3}):([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] [+-]([01][0-9]|2[0-3])[0-5][0-9]$';

/**
 * What a row of the rollup table counts. Athena has no multi-table INSERT, and the logs must be scanned
 * about once a night, so one statement writes every grain into the one Iceberg table (batchAggregateSql):
 * - `usage`: per 15-minute slot and usage key (bucket, requester, access point, dataset, operation,
 *   status class), with the malformed-line and repeat markers; what every usage reader reads. A row
 *   written before the grains existed has grain NULL and is usage (USAGE_GRAIN_ONLY);
 * - `network`: per slot, requester, access point and source (address as logged, its prefix, key and
 *   class, VPC endpoint, region), with first and last time (network-sql.ts, NETWORKS.md);
 * - `held`: per slot, bucket, requester, access point, dataset and object retrieved (object_key,
 *   version_id, object_size), written only when the registry keeps holdings (RollupSqlOptions.holdings;
 *   functions/domain/HOLDINGS.md).
 * Key columns that do not apply to a grain hold `-` (never NULL, so that the MERGE's ON compares with
 * `=`); numeric columns that do not apply hold NULL. The object size keys a held row and may be NULL
 * (not logged): the MERGE compares it NULL-safe (keyEquals).
 */
export const GRAINS = { usage: 'usage', network: 'network', held: 'held' } as const;
export type Grain = (typeof GRAINS)[keyof typeof GRAINS];

/**
 * A predicate that keeps the usage rows of the rollup table (rows from before the grains are usage).
 * Written as `IS NULL OR =` rather than coalesce(): Trino turns it into a domain of the column (one
 * value, NULL allowed) that Iceberg prunes partitions and files with (the table is partitioned by grain,
 * lib/constructs/rollup-table.ts), so a usage read scans no network or held rows.
 */
export const USAGE_GRAIN_ONLY = `(grain IS NULL OR grain = '${GRAINS.usage}')`;

/** The key columns of the network grain, after the usage key's slot, requester and access point. */
export const NETWORK_KEY_COLUMNS = [
  'source_address',
  'source_prefix',
  'address_key',
  'address_class',
  'vpce',
  'source_region',
] as const;
/** The key columns of the held grain. */
export const HELD_KEY_COLUMNS = ['object_key', 'version_id'] as const;
/** Numeric columns of the network and held grains (NULL on a grain they do not apply to). */
export const GRAIN_MEASURE_COLUMNS = [
  'first_ms',
  'last_ms',
  'object_size',
  'object_records',
  'retrievals',
  'full_retrievals',
] as const;

/**
 * The rollup table's columns, in the order the INSERT writes them: the usage row of the first release,
 * then the grain and the other grains' columns (appended, as ALTER TABLE ADD COLUMNS appends them; see
 * lib/constructs/rollup-table.ts).
 */
export const ROLLUP_COLUMNS = [
  'slot_start',
  'bucket',
  'requester',
  'access_point',
  'dataset',
  'operation',
  'status_class',
  'requests',
  'bytes_sent',
  'records',
  'batch',
  'request_ids',
  'grain',
  ...NETWORK_KEY_COLUMNS,
  ...HELD_KEY_COLUMNS,
  ...GRAIN_MEASURE_COLUMNS,
] as const;

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,127}$/;
const BATCH = /^(\d{4})\/(\d{2})\/(\d{2})$/;

/** `"name"`, after checking it is a Glue-style name (lower-case letters, digits, `_`). */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new SqlInputError(
      `"${name}" is not a valid Glue database or table name (lower-case letters, digits and _, at most 128)`,
    );
  }
  return `"${name}"`;
}

/** A string as an Athena ExecutionParameter: a SQL literal with its quotes, inner quotes doubled. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** True for a delivery-date batch, `yyyy/MM/dd`, that is a calendar date. */
export function isBatch(batch: string): boolean {
  const m = BATCH.exec(batch);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

function checkBatch(batch: string): void {
  if (!isBatch(batch)) throw new SqlInputError(`"${batch}" is not a delivery date (yyyy/MM/dd)`);
}

function checkDepth(depth: number): number {
  if (!Number.isInteger(depth) || depth < 1 || depth > 8) {
    throw new SqlInputError(`dataset depth must be an integer from 1 to 8, got ${depth}`);
  }
  return depth;
}

function table(tables: AthenaTables, name: string): string {
  return `${quoteIdentifier(tables.database)}.${quoteIdentifier(name)}`;
}

/**
 * Removes one delivery date's rows from the rollup, so that inserting it again replaces them.
 *
 * The one statement that carries its value in the SQL text: Athena takes ExecutionParameters only in
 * SELECT, INSERT INTO, CTAS and UNLOAD, not in DELETE. The batch is checked to be exactly a calendar
 * date `yyyy/MM/dd` first (digits and slashes, nothing that could end a literal), and still quoted as
 * a literal with inner quotes doubled.
 */
export function clearBatchSql(tables: AthenaTables, batch: string): SqlQuery {
  checkBatch(batch);
  return {
    sql: `DELETE FROM ${table(tables, tables.rollupTable)} WHERE batch = ${sqlString(batch)}`,
    params: [],
  };
}

/**
 * Operations of the marker rows that count a batch's malformed lines: `no-match` for lines the regex
 * did not read (Athena gives them NULL columns), `bad-time` for a time that does not parse, `bad-bytes`
 * and `bad-duration` for a count the local scanner would not read either (more than 16 digits, or past
 * 2^53 - 1: see COUNT_LIMIT), named as the local engine names them. S3 operations are upper-case dotted
 * names, so these never collide with one. The rules, for both engines: functions/adapters/logs/LOG-LINES.md.
 */
export const MALFORMED_OPERATIONS = {
  noMatch: '(malformed:no-match)',
  badTime: '(malformed:bad-time)',
  badBytes: '(malformed:bad-bytes)',
  badDuration: '(malformed:bad-duration)',
} as const;
/** What every malformed-line marker operation begins with: statements that read usage leave them out. */
export const MALFORMED_PREFIX = '(malformed:';

/**
 * The largest count a line may hold, 2^53 - 1, as in the local scanner (whose sums stay exact in
 * float64 below it): no object is that large (S3's limit is 5 TB), so a larger count is a broken line.
 * A count of 20 digits must not fail the whole statement (a CAST would, every night): try_cast gives
 * NULL, which reads as "not a count".
 */
const COUNT_LIMIT = '9007199254740991';

/** SQL that is true when `column` (digits or `-`, as the regex leaves it) is a count the scanner reads. */
function countOk(column: string): string {
  return `(${column} = '-' OR coalesce(length(${column}) <= 16 AND try_cast(${column} AS bigint) <= ${COUNT_LIMIT}, false))`;
}

/**
 * Operation of the marker row that counts a batch's repeated requests: lines whose request (request id
 * and host id) was already counted, earlier in the batch or by another batch, are not usage; they are
 * summed into this row (slot = the delivery date, every other key `-`, no bytes), like the malformed
 * lines, so that the report can say how many were dropped.
 */
export const REPEATS_OPERATION = '(repeats-dropped)';

/**
 * Days of event time before a batch's delivery date (by default; and two after it) over which its
 * requests are checked against the identities other batches counted. S3 delivers most records within
 * hours; a repeat whose event lies further back is not recognised (it still is within its own batch).
 * Each day costs reading the identities other batches counted that day, 8 bytes a request: about 2 %
 * of a day's log bytes (BENCHMARKS.md). 0 by default, so that a night scans its logs once and nothing
 * more; a deployment sets it with REQUEST_ID_LOOKBACK_DAYS.
 */
export const DEFAULT_REQUEST_ID_LOOKBACK_DAYS = 0;
/** The longest lookback a statement accepts. */
export const MAX_REQUEST_ID_LOOKBACK_DAYS = 31;
const REQUEST_ID_DAYS_AFTER = 2;

/** Options of the roll-up statements. */
export interface RollupSqlOptions {
  readonly datasetDepth: number;
  /**
   * Days of event time before the delivery date over which a request is checked against the
   * identities other batches counted (see countedLinesSql); 0 checks within the batch only.
   * @default DEFAULT_REQUEST_ID_LOOKBACK_DAYS
   */
  readonly requestIdLookbackDays?: number;
  /**
   * Also write the held grain (functions/domain/HOLDINGS.md): the registry keeps holdings
   * (settings.holdings). Without it the statement writes no held rows, and is the statement as before.
   * @default false
   */
  readonly holdings?: boolean;
}

function checkLookback(days: number | undefined): number {
  const d = days ?? DEFAULT_REQUEST_ID_LOOKBACK_DAYS;
  if (!Number.isInteger(d) || d < 0 || d > MAX_REQUEST_ID_LOOKBACK_DAYS) {
    throw new SqlInputError(
      `the request id lookback must be a whole number of days from 0 to ${MAX_REQUEST_ID_LOOKBACK_DAYS}, got ${days}`,
    );
  }
  return d;
}

/** Operations that read a whole object when they succeed with 200, as in the local ingester. */
const FULL_READ_OPERATIONS = "'REST.GET.OBJECT', 'WEBSITE.GET.OBJECT'";

/**
 * Rolls up the access logs delivered on one date (one `delivery_date` partition) into the rollup,
 * with the same rules as the local ingester (functions/adapters/logs):
 * - the time is normalised to UTC from its offset and cut to its 15-minute slot;
 * - the key is URL-decoded when it holds `%` (a `+` stays a `+`, as in decodeURIComponent; a key
 *   that does not decode is kept as logged), and the dataset is its first `datasetDepth` segments
 *   plus `/`, `/` for a key without one, `-` for no key;
 * - status class `1xx`..`5xx`, or `-`; bytes sent `-` counts as 0; the access point `-` when absent;
 *   an empty bucket, requester or operation (two spaces in a row) reads as `-`, as locally;
 * - a key whose escapes do not decode to UTF-8 (`%FF`) is kept as logged, as locally: Trino's
 *   url_decode would put U+FFFD in its place (unless the key itself encodes U+FFFD);
 * - records, with a manifest table (`tables.manifestTable`): a whole-object read (REST.GET.OBJECT or
 *   WEBSITE.GET.OBJECT with status 200) counts the records the manifest gives its decoded key (an
 *   exact key, else the longest listed prefix ending in `/`, else 0); a 206 range read and every
 *   other line count 0. Without a manifest table (the registry names no manifest) records are
 *   written as 0.
 * Malformed lines are not usage: they become marker rows (MALFORMED_OPERATIONS, slot = the delivery
 * date, every other key `-`), so that the run's report can count them without a second scan of the
 * logs; the usage query leaves them out.
 * With `options.holdings`, the same scan also writes the held grain: what each requester retrieved, per
 * object (functions/domain/HOLDINGS.md, "On AWS").
 */
export function insertBatchRollupSql(
  tables: AthenaTables,
  batch: string,
  options: RollupSqlOptions,
): SqlQuery {
  checkBatch(batch);
  const lookback = checkLookback(options.requestIdLookbackDays);
  const sql = `INSERT INTO ${table(tables, tables.rollupTable)} (${ROLLUP_COLUMNS.join(', ')})
${batchAggregateSql(tables, '?', checkDepth(options.datasetDepth), batch, lookback, options.holdings === true)}`;
  return { sql, params: [sqlString(batch)] };
}

/** The rollup columns that key a line's usage, before the batch. */
const LINE_KEY_COLUMNS = 'slot_start, bucket, requester, access_point, dataset, operation, status_class';

/** The columns of a network row's source that the batch's lines give (the rest is derived from them). */
const LINE_NETWORK_COLUMNS = 'source_address, vpce, source_region';
/** The held grain's key columns beyond the usage key's, as grainsSql writes them. */
const LINE_HELD_COLUMNS = 'object_key, version_id, object_size';
/** Every column that keys a row of `grainsSql`, grain first (with the held grain's when it is written). */
function grainKeyColumns(holdings: boolean): string {
  return `grain, ${LINE_KEY_COLUMNS}, ${LINE_NETWORK_COLUMNS}${holdings ? `, ${LINE_HELD_COLUMNS}` : ''}`;
}

/**
 * The batch's counted lines grouped into the rows of each grain in ONE aggregation (GROUPING SETS: the
 * logs are read once, and a repeated request, which countedLinesSql already took out, counts once on
 * every grain), one grouping set per grain:
 * - usage: the usage key and batch (and `record_key`, when the records are looked up after);
 * - network: slot, requester, access point and the line's source, for counted lines only (a malformed
 *   line or a repeat has no source: its group is left out by the HAVING);
 * - held, with `holdings`: slot, bucket, requester, access point, dataset and the object (decoded key,
 *   version id, logged size) of each retrieval (`held_key`, see shapedLinesSql; other lines have none,
 *   and their group is left out by the HAVING), with retrievals, whole retrievals (200s) and first and
 *   last time. Its `record_key` is its object key, so that the manifest lookup gives its records.
 * Columns a grain's set does not hold come out NULL, read as `-` (a held row's unknown size stays NULL).
 * Columns: grainKeyColumns, [record_key,] requests, bytes_sent, batch, request_ids (usage), first_ms and
 * last_ms (network, held), retrievals and full_retrievals (held).
 */
function grainsSql(counted: string, recordKey: boolean, holdings: boolean): string {
  // The held set groups the dataset too: with it, usage is told by its operation.
  const usage = holdings ? 'grouping(operation) = 0' : 'grouping(dataset) = 0';
  const network = 'grouping(source_address) = 0';
  const held = 'grouping(held_key) = 0';
  const dash = (c: string) => `coalesce(${c}, '-') AS ${c}`;
  const timed = holdings ? `${network} OR ${held}` : network;
  const heldColumns = holdings
    ? `
  coalesce(held_key, '-') AS object_key, coalesce(held_version, '-') AS version_id, held_size AS object_size,`
    : '';
  const recordKeyColumn = recordKey
    ? holdings
      ? ' coalesce(record_key, held_key) AS record_key,'
      : ' record_key,'
    : '';
  const heldMeasures = holdings
    ? `,
  CASE WHEN ${held} THEN count(*) END AS retrievals,
  CASE WHEN ${held} THEN sum(held_full) END AS full_retrievals`
    : '';
  return `SELECT
  CASE WHEN ${usage} THEN '${GRAINS.usage}' WHEN ${network} THEN '${GRAINS.network}'${holdings ? ` WHEN ${held} THEN '${GRAINS.held}'` : ''} END AS grain,
  slot_start, ${dash('bucket')}, requester, access_point, ${['dataset', 'operation', 'status_class'].map(dash).join(', ')},
  ${LINE_NETWORK_COLUMNS.split(', ').map(dash).join(', ')},${heldColumns}${recordKeyColumn}
  count(*) AS requests,
  sum(bytes_sent) AS bytes_sent,
  batch,
  CASE WHEN ${usage} THEN nullif(array_join(array_agg(CAST(request_hash AS varchar)), ','), '') END AS request_ids,
  CASE WHEN ${timed} THEN min(line_ms) END AS first_ms,
  CASE WHEN ${timed} THEN max(line_ms) END AS last_ms${heldMeasures}
FROM (
  ${counted}
) AS shaped
GROUP BY GROUPING SETS (
  (${LINE_KEY_COLUMNS}, batch${recordKey ? ', record_key' : ''}),
  (slot_start, requester, access_point, ${LINE_NETWORK_COLUMNS}, batch)${
    holdings
      ? `,
  (slot_start, bucket, requester, access_point, dataset, held_key, held_version, held_size, batch)`
      : ''
  }
)
HAVING ${
    holdings
      ? `(NOT ${network} OR source_address IS NOT NULL) AND (NOT ${held} OR held_key IS NOT NULL)`
      : `NOT ${network} OR source_address IS NOT NULL`
  }`;
}

/**
 * The rows of every grain in ROLLUP_COLUMNS order, from rows keyed by GRAIN_KEY_COLUMNS with requests,
 * bytes_sent, records, batch, request_ids, first_ms and last_ms: the network rows get their source's
 * prefix, key and class (network-sql.ts); a column a grain does not use is `-` (key) or NULL.
 */
function rollupRowsSql(rows: string, holdings: boolean): string {
  const network = (c: string) => `CASE WHEN grain = '${GRAINS.network}' THEN ${c} ELSE '-' END AS ${c}`;
  // With holdings, the rows carry the held grain's columns (grainsSql); without, none is held.
  const heldKeys = holdings
    ? HELD_KEY_COLUMNS.join(', ')
    : HELD_KEY_COLUMNS.map((c) => `'-' AS ${c}`).join(', ');
  const measures = holdings
    ? GRAIN_MEASURE_COLUMNS.join(', ')
    : `first_ms, last_ms, ${GRAIN_MEASURE_COLUMNS.slice(2)
        .map((c) => `CAST(NULL AS bigint) AS ${c}`)
        .join(', ')}`;
  return `SELECT
  ${LINE_KEY_COLUMNS}, requests, bytes_sent, records, batch, request_ids,
  grain, source_address, ${['source_prefix', 'address_key', 'address_class'].map(network).join(', ')}, vpce, source_region,
  ${heldKeys},
  ${measures}
FROM (
  ${classifiedAddressesSql(rows).replaceAll('\n', '\n  ')}
) AS classified`;
}

/**
 * The rollup rows of one delivery date, as insertBatchRollupSql describes them, of every grain (GRAINS),
 * in ROLLUP_COLUMNS order; `partition` is `?` or a literal, `batch` the (checked) delivery date. Each
 * usage row also carries `request_ids`, the identities of the requests it counted (see countedLinesSql),
 * in decimal, comma separated (array_join leaves out the NULL of a line without one); NULL when none
 * has one, and on the other grains. No FILTER (WHERE ...): the first WHERE of the text stays the
 * partition's, where Athena's parameters may go.
 */
function batchAggregateSql(
  tables: AthenaTables,
  partition: string,
  depth: number,
  batch: string,
  lookback: number,
  holdings: boolean,
): string {
  const counted = (recordKey: boolean) =>
    countedLinesSql(
      tables,
      shapedLinesSql(tables, partition, depth, recordKey, holdings),
      batch,
      lookback,
      recordKey,
      holdings,
    );
  const heldRow = `grain = '${GRAINS.held}'`;
  if (tables.manifestTable === undefined) {
    // Without a manifest, a held object's records are 0, as locally.
    const objectRecords = holdings
      ? `, CASE WHEN g.${heldRow} THEN CAST(0 AS bigint) END AS object_records`
      : '';
    return rollupRowsSql(
      `SELECT g.*, CAST(0 AS bigint) AS records${objectRecords}
FROM (
  ${grainsSql(counted(false).replaceAll('\n', '\n  '), false, holdings).replaceAll('\n', '\n  ')}
) AS g`,
      holdings,
    );
  }
  const GRAIN_KEY_COLUMNS = grainKeyColumns(holdings);
  const manifest = table(tables, tables.manifestTable);
  const g = (columns: string) =>
    columns
      .split(', ')
      .map((c) => `g.${c}`)
      .join(', ');
  // Three steps, so that the logs are scanned once and no join can multiply a row:
  // 1. `g`: the lines summed per grain (grainsSql), the usage rows per rollup key and `record_key` (the
  //    decoded key of a full read with 200, else NULL), so a lookup runs per distinct key in a slot,
  //    not per line; a network row has no record_key.
  // 2. `looked_up`: each `g` row against every manifest entry that could apply to it, found by
  //    equality: the key itself and each of its prefixes that ends in `/` (lengths p.i). Grouped back
  //    by every column of `g`, which is unique per `g` row, so each row comes out exactly once, with
  //    the records of its longest match (an exact key is longer than any of its prefixes). Entries
  //    are unique (see manifest-csv.ts); even a repeated one could only change which records win,
  //    never count a row's requests or bytes twice. max_by orders by NULL where a candidate has no
  //    entry: Trino skips a NULL ordering value, but would return the NULL records of the longest
  //    candidate if it were ordered by p.i alone.
  // 3. The rows: requests x records per read, summed over the keys of each row; a held row (one `g`
  //    row: its key columns hold the object) keeps its object's records per read as object_records.
  const records = holdings
    ? `CASE WHEN ${heldRow} THEN CAST(0 AS bigint) ELSE sum(requests * records_per_read) END AS records`
    : 'sum(requests * records_per_read) AS records';
  const heldSums = holdings
    ? `,
  CASE WHEN ${heldRow} THEN max(records_per_read) END AS object_records,
  sum(retrievals) AS retrievals,
  sum(full_retrievals) AS full_retrievals`
    : '';
  const heldPassed = holdings
    ? `
    arbitrary(g.retrievals) AS retrievals, arbitrary(g.full_retrievals) AS full_retrievals,`
    : '';
  return rollupRowsSql(
    `SELECT
  ${GRAIN_KEY_COLUMNS},
  sum(requests) AS requests,
  sum(bytes_sent) AS bytes_sent,
  ${records},
  batch,
  nullif(array_join(array_agg(request_ids), ','), '') AS request_ids,
  min(first_ms) AS first_ms,
  max(last_ms) AS last_ms${heldSums}
FROM (
  SELECT
    ${g(GRAIN_KEY_COLUMNS)}, g.batch, g.requests, g.bytes_sent, arbitrary(g.request_ids) AS request_ids,
    arbitrary(g.first_ms) AS first_ms, arbitrary(g.last_ms) AS last_ms,${heldPassed}
    coalesce(max_by(m.records, CASE WHEN m.records IS NOT NULL THEN p.i END), 0) AS records_per_read
  FROM (
    ${grainsSql(counted(true).replaceAll('\n', '\n  '), true, holdings).replaceAll('\n', '\n    ')}
  ) AS g
  CROSS JOIN UNNEST(sequence(1, coalesce(length(g.record_key), 1))) AS p(i)
  LEFT JOIN (
    SELECT replace(key_or_prefix, '""', '"') AS key_or_prefix, records
    FROM ${manifest}
    WHERE records IS NOT NULL
  ) AS m
  ON m.key_or_prefix = substr(g.record_key, 1, p.i)
  WHERE g.record_key IS NULL OR p.i = length(g.record_key) OR substr(g.record_key, p.i, 1) = '/'
  GROUP BY ${g(GRAIN_KEY_COLUMNS)}, g.batch, g.record_key, g.requests, g.bytes_sent
) AS looked_up
GROUP BY ${GRAIN_KEY_COLUMNS}, batch`,
    holdings,
  );
}

/**
 * One row per log line of the partition, shaped into the rollup's key columns and bytes sent; with
 * `recordKey`, also `record_key`: the decoded key of a whole-object read with status 200 (`-` for an
 * empty key, as the local ingester reads it, so it is never empty), NULL for any other line.
 */
function shapedLinesSql(
  tables: AthenaTables,
  partition: string,
  depth: number,
  recordKey: boolean,
  holdings: boolean,
): string {
  const recordKeyColumn = recordKey
    ? `
    CASE
      WHEN ok AND operation IN (${FULL_READ_OPERATIONS}) AND httpstatus = '200'
      THEN CASE WHEN object_key = '' THEN '-' ELSE object_key END
    END AS record_key,`
    : '';
  // What HOLDINGS.md counts as held, as the local scanner reads it: a counted whole-object read with
  // status 200 or 206 retrieves the object (decoded key, `-` for none; the version id as logged, `-`
  // without one; the object size as logged, NULL for `-` or none); other lines retrieve nothing.
  const heldColumns = holdings
    ? `
    CASE
      WHEN ok AND operation IN (${FULL_READ_OPERATIONS}) AND httpstatus IN ('200', '206')
      THEN CASE WHEN object_key = '' THEN '-' ELSE object_key END
    END AS held_key,
    coalesce(nullif(versionid, ''), '-') AS held_version,
    try_cast(nullif(objectsize, '-') AS bigint) AS held_size,
    CASE WHEN httpstatus = '200' THEN 1 ELSE 0 END AS held_full,`
    : '';
  const heldFields = holdings ? ', versionid, objectsize' : '';
  return `SELECT${REQUEST_HASH_COLUMN}
    CASE WHEN ok
      THEN CAST(from_unixtime(floor(to_unixtime(event_time) / 900) * 900) AS timestamp)
      ELSE CAST(CAST(replace(delivery_date, '/', '-') AS date) AS timestamp)
    END AS slot_start,
    CASE WHEN ok THEN coalesce(nullif(bucket_name, ''), '-') ELSE '-' END AS bucket,
    CASE WHEN ok THEN coalesce(nullif(requester, ''), '-') ELSE '-' END AS requester,
    CASE WHEN ok THEN coalesce(nullif(accesspointarn, ''), '-') ELSE '-' END AS access_point,
    CASE
      WHEN NOT ok OR object_key = '-' OR object_key = '' THEN '-'
      WHEN strpos(object_key, '/') = 0 THEN '/'
      ELSE regexp_extract(object_key, '^([^/]*/){1,${depth}}')
    END AS dataset,
    CASE
      WHEN requestdatetime IS NULL THEN '${MALFORMED_OPERATIONS.noMatch}'
      WHEN event_time IS NULL THEN '${MALFORMED_OPERATIONS.badTime}'
      WHEN NOT bytes_ok THEN '${MALFORMED_OPERATIONS.badBytes}'
      WHEN NOT ok THEN '${MALFORMED_OPERATIONS.badDuration}'
      ELSE coalesce(nullif(operation, ''), '-')
    END AS operation,
    CASE
      WHEN ok AND length(httpstatus) = 3 AND substr(httpstatus, 1, 1) BETWEEN '1' AND '5'
      THEN substr(httpstatus, 1, 1) || 'xx'
      ELSE '-'
    END AS status_class,
    CASE WHEN NOT ok OR bytessent = '-' THEN CAST(0 AS bigint) ELSE try_cast(bytessent AS bigint) END AS bytes_sent,${recordKeyColumn}
    CASE WHEN ok THEN ${SOURCE_ADDRESS_SQL} END AS source_address,
    CASE WHEN ok THEN ${VPC_ENDPOINT_SQL} END AS vpce,
    CASE WHEN ok THEN ${SOURCE_REGION_SQL} END AS source_region,
    CASE WHEN ok THEN CAST(to_unixtime(event_time) * 1000 AS bigint) END AS line_ms,${heldColumns}
    delivery_date AS batch
  FROM (
    SELECT
      bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
      requestid, hostid, remoteip, endpoint, sourceregion${heldFields},
      event_time, bytes_ok, event_time IS NOT NULL AND bytes_ok AND times_ok AS ok,
      CASE
        WHEN strpos("key", '%') = 0 OR decoded_key IS NULL THEN "key"
        WHEN strpos(decoded_key, chr(65533)) > 0 AND strpos(upper("key"), '%EF%BF%BD') = 0 THEN "key"
        ELSE decoded_key
      END AS object_key
    FROM (
      SELECT
        bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
        requestid, hostid, remoteip, endpoint, sourceregion${heldFields},
        "key",
        CASE WHEN regexp_like(requestdatetime, '${LOG_TIME_SHAPE}')
          THEN try(parse_datetime(requestdatetime, '${LOG_TIME_FORMAT}'))
        END AS event_time,
        CASE WHEN strpos("key", '%') > 0 THEN try(url_decode(replace("key", '+', '%2B'))) END AS decoded_key,
        ${countOk('bytessent')} AND ${countOk('objectsize')} AS bytes_ok,
        ${countOk('totaltime')} AND ${countOk('turnaroundtime')} AS times_ok
      FROM ${table(tables, tables.logsTable)}
      WHERE delivery_date = ${partition}
    ) AS logged
  ) AS parsed`;
}

/** The usage key: one usage row per key and batch. */
const KEY_COLUMNS = ROLLUP_COLUMNS.slice(0, 7);

/**
 * Every key column of every grain: one row per these and batch. A held object is its key, version id
 * AND logged size (HOLDINGS.md: an overwrite that changes the size is another object), so the size keys
 * a held row too; it is the one key that may be NULL (unknown size, and every other grain), compared by
 * keyEquals.
 */
const MERGE_KEY_COLUMNS = [
  ...KEY_COLUMNS,
  'grain',
  ...NETWORK_KEY_COLUMNS,
  ...HELD_KEY_COLUMNS,
  'object_size',
] as const;

/** `a.column = b.column`, NULL equal to NULL for the object size (sizes are never negative). */
function keyEquals(a: string, b: string, column: string): string {
  return column === 'object_size'
    ? `coalesce(${a}.${column}, -1) = coalesce(${b}.${column}, -1)`
    : `${a}.${column} = ${b}.${column}`;
}

/** A key column as a stored row gives it: a row written before the grains existed is usage, its new keys `-`. */
function storedKey(column: string, alias?: string): string {
  const c = alias === undefined ? column : `${alias}.${column}`;
  if (column === 'grain') return `coalesce(${c}, '${GRAINS.usage}')`;
  if (column === 'object_size') return c;
  return (KEY_COLUMNS as readonly string[]).includes(column) ? c : `coalesce(${c}, '-')`;
}

/**
 * Replaces one delivery date's rows of the rollup in ONE statement (an Iceberg MERGE), with the rows
 * insertBatchRollupSql would insert: a row whose key is rolled up again gets the new counts, a new key
 * is inserted, and a row of the batch that the logs no longer give (say, after a dataset depth
 * change) is deleted. Unlike clearBatchSql followed by insertBatchRollupSql, nothing can run between a
 * delete and an insert: a reader never sees the batch missing, and two runs rolling up the same date
 * at once cannot both insert it (Iceberg commits row-level changes with optimistic concurrency, so
 * the later MERGE either sees the earlier one's rows or fails to commit; it never adds to them).
 *
 * The rows are matched on every key column of every grain (MERGE_KEY_COLUMNS). A row written before the
 * grains existed (grain and the later key columns NULL) is read as a usage row with `-` keys, so that
 * the first re-roll of an old batch updates its rows (and fills those columns) instead of adding to them.
 *
 * Athena takes no ExecutionParameters in MERGE, so the batch enters the text as a literal after the
 * same check as in clearBatchSql: a calendar date `yyyy/MM/dd`, digits and slashes only.
 */
export function replaceBatchRollupSql(
  tables: AthenaTables,
  batch: string,
  options: RollupSqlOptions,
): SqlQuery {
  checkBatch(batch);
  const depth = checkDepth(options.datasetDepth);
  const lookback = checkLookback(options.requestIdLookbackDays);
  const rollup = table(tables, tables.rollupTable);
  const literal = sqlString(batch);
  const on = (a: string, b: string) => MERGE_KEY_COLUMNS.map((c) => keyEquals(a, b, c)).join(' AND ');
  const aggregate = batchAggregateSql(
    tables,
    literal,
    depth,
    batch,
    lookback,
    options.holdings === true,
  ).replaceAll('\n', '\n    ');
  const values = ROLLUP_COLUMNS.filter(
    (c) => !(MERGE_KEY_COLUMNS as readonly string[]).includes(c) && c !== 'batch',
  );
  const set = (columns: readonly string[]) => columns.map((c) => `${c} = s.${c}`).join(', ');
  const sql = `MERGE INTO ${rollup} AS r
USING (
  SELECT
    ${MERGE_KEY_COLUMNS.map((c) => `coalesce(n.${c}, o.${c}) AS ${c}`).join(',\n    ')},
    ${values.map((c) => `n.${c}`).join(', ')},
    n.slot_start IS NULL AS stale
  FROM (
    ${aggregate}
  ) AS n
  FULL OUTER JOIN (
    SELECT ${MERGE_KEY_COLUMNS.map((c) => (storedKey(c) === c ? c : `${storedKey(c)} AS ${c}`)).join(', ')}
    FROM ${rollup}
    WHERE batch = ${literal}
  ) AS o
  ON ${on('n', 'o')}
) AS s
ON r.batch = ${literal} AND ${MERGE_KEY_COLUMNS.map((c) => (c === 'object_size' ? keyEquals('r', 's', c) : `${storedKey(c, 'r')} = s.${c}`)).join(' AND ')}
WHEN MATCHED AND s.stale THEN DELETE
WHEN MATCHED THEN UPDATE SET ${set(values.slice(0, 3))},
  ${set(values.slice(3))},
  ${set(MERGE_KEY_COLUMNS.slice(KEY_COLUMNS.length))}
WHEN NOT MATCHED THEN INSERT (${ROLLUP_COLUMNS.join(', ')})
  VALUES (${ROLLUP_COLUMNS.map((c) => (c === 'batch' ? literal : `s.${c}`)).join(', ')})`;
  return { sql, params: [] };
}

/**
 * Lines read per delivery date in [fromBatch, toBatch], split into usage and the malformed-line
 * markers (`kind` is '' for usage, else the marker's operation): the input section of a report.
 */
export function readInputSql(tables: AthenaTables, fromBatch: string, toBatch: string): SqlQuery {
  checkBatch(fromBatch);
  checkBatch(toBatch);
  return {
    sql: `SELECT
  batch,
  CASE
    WHEN substr(operation, 1, ${MALFORMED_PREFIX.length}) = '${MALFORMED_PREFIX}' OR operation = '${REPEATS_OPERATION}'
    THEN operation
    ELSE ''
  END AS kind,
  sum(requests) AS line_count
FROM ${table(tables, tables.rollupTable)}
WHERE batch >= ? AND batch <= ? AND ${USAGE_GRAIN_ONLY}
GROUP BY 1, 2
ORDER BY 1, 2`,
    params: [sqlString(fromBatch), sqlString(toBatch)],
  };
}

/** `2026-03-01 00:15:00.000`: an instant as a UTC timestamp literal for a parameter. */
export function timestampLiteral(epochMs: number): string {
  if (!Number.isFinite(epochMs)) throw new SqlInputError(`not an instant: ${epochMs}`);
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * Usage with a slot starting in [range.startMs, range.endMs), summed over batches and grouped by
 * the UsageKey columns, leaving out the malformed-line markers. The slot comes back as text (`CAST(... AS varchar)`), read by
 * `parseSlotStart`, since Athena returns every value as text anyway.
 */
export function readUsageSql(tables: AthenaTables, range: Interval): SqlQuery {
  return {
    sql: `SELECT
  CAST(slot_start AS varchar) AS slot,
  bucket, requester, access_point, dataset, operation, status_class,
  sum(requests) AS requests,
  sum(bytes_sent) AS bytes_sent,
  sum(records) AS records
FROM ${table(tables, tables.rollupTable)}
WHERE slot_start >= CAST(? AS timestamp) AND slot_start < CAST(? AS timestamp)
  AND substr(operation, 1, ${MALFORMED_PREFIX.length}) <> '${MALFORMED_PREFIX}'
  AND operation <> '${REPEATS_OPERATION}'
  AND ${USAGE_GRAIN_ONLY}
GROUP BY slot_start, bucket, requester, access_point, dataset, operation, status_class
ORDER BY slot_start, bucket, requester, access_point, dataset, operation, status_class`,
    params: [sqlString(timestampLiteral(range.startMs)), sqlString(timestampLiteral(range.endMs))],
  };
}

/**
 * The start of the newest usage slot in [range.startMs, range.endMs) (NULL when there is none): where
 * the data ends, so that an open period's forecast runs from the data seen, not from hours no log has
 * reached yet.
 */
export function readLastSlotSql(tables: AthenaTables, range: Interval): SqlQuery {
  return {
    sql: `SELECT CAST(max(slot_start) AS varchar) AS last_slot
FROM ${table(tables, tables.rollupTable)}
WHERE slot_start >= CAST(? AS timestamp) AND slot_start < CAST(? AS timestamp)
  AND substr(operation, 1, ${MALFORMED_PREFIX.length}) <> '${MALFORMED_PREFIX}'
  AND operation <> '${REPEATS_OPERATION}'
  AND ${USAGE_GRAIN_ONLY}`,
    params: [sqlString(timestampLiteral(range.startMs)), sqlString(timestampLiteral(range.endMs))],
  };
}

const TIMESTAMP_TEXT = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

/** Epoch milliseconds of a UTC timestamp as Athena (`.000000`) or DuckDB (no fraction) writes it. */
export function parseSlotStart(text: string): number {
  const m = TIMESTAMP_TEXT.exec(text);
  if (!m) throw new SqlInputError(`not a timestamp: "${text}"`);
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
}

// ---- each request counted once ---------------------------------------------------------------------------

/**
 * A line's identity: a 64-bit hash of its request id and host id (`-` when the line has none), NULL for a
 * malformed line or one without a request id, which nothing identifies. Athena's xxhash64; the local
 * Athena server shims the three functions (the local engine hashes in its scanner: identities are never
 * compared across engines).
 */
const REQUEST_HASH_COLUMN = `
    CASE
      WHEN ok AND requestid IS NOT NULL AND requestid NOT IN ('', '-')
      THEN from_big_endian_64(xxhash64(to_utf8(requestid || ' ' || coalesce(nullif(hostid, ''), '-'))))
    END AS request_hash,`;

/** `yyyy/MM/dd` plus `days` as a UTC timestamp literal (the batch is checked before). */
function batchDayLiteral(batch: string, days: number): string {
  const [y, m, d] = batch.split('/').map(Number) as [number, number, number];
  return `TIMESTAMP '${new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10)} 00:00:00'`;
}

/**
 * The shaped lines of a batch with each request counted once. A line is a repeat when an earlier line
 * of this batch (by slot, then bytes) carries its identity, or, with a lookback of some days, when
 * another batch counted it (any delivery date, so that whichever of two overlapping batches is rolled
 * up first keeps the request, and rolling either up again changes nothing) for an event from
 * `lookback` days before the delivery date on. A repeat keeps its line in the count of lines read, as the REPEATS_OPERATION
 * marker row, and adds nothing else: no usage, no records, no identity.
 *
 * Cost: the identities of the other batches' rows in those days (column `request_ids`, about 8 bytes a
 * request in Parquet with zstd) are read besides the logs; the logs are still scanned once.
 */
function countedLinesSql(
  tables: AthenaTables,
  shaped: string,
  batch: string,
  lookback: number,
  recordKey: boolean,
  holdings: boolean,
): string {
  const rollup = table(tables, tables.rollupTable);
  const keep = (c: string, marker: string) => `CASE WHEN is_repeat THEN ${marker} ELSE ${c} END AS ${c}`;
  const otherBatches =
    lookback === 0
      ? ''
      : `
        OR s.request_hash IN (
          SELECT CAST(c.id AS bigint)
          FROM (
            SELECT request_ids
            FROM ${rollup}
            WHERE batch <> ${sqlString(batch)} AND request_ids IS NOT NULL
              AND slot_start >= ${batchDayLiteral(batch, -lookback)}
              AND slot_start < ${batchDayLiteral(batch, REQUEST_ID_DAYS_AFTER)}
          ) AS m
          CROSS JOIN UNNEST(split(m.request_ids, ',')) AS c(id)
        )`;
  return `SELECT
    ${keep('slot_start', "CAST(CAST(replace(batch, '/', '-') AS date) AS timestamp)")},
    ${['bucket', 'requester', 'access_point', 'dataset'].map((c) => keep(c, "'-'")).join(',\n    ')},
    ${keep('operation', `'${REPEATS_OPERATION}'`)},
    ${keep('status_class', "'-'")},
    ${keep('bytes_sent', 'CAST(0 AS bigint)')},${recordKey ? `\n    ${keep('record_key', 'NULL')},` : ''}
    ${['source_address', 'vpce', 'source_region', 'line_ms'].map((c) => keep(c, 'NULL')).join(',\n    ')},${
      // A repeat retrieves nothing: no held key, so no held row.
      holdings ? `\n    ${keep('held_key', 'NULL')}, held_version, held_size, held_full,` : ''
    }
    ${keep('request_hash', 'NULL')},
    batch
  FROM (
    SELECT
      s.*,
      s.request_hash IS NOT NULL AND (
        row_number() OVER (PARTITION BY s.request_hash ORDER BY s.slot_start, s.bytes_sent) > 1${otherBatches}
      ) AS is_repeat
    FROM (
      ${shaped.replaceAll('\n', '\n      ')}
    ) AS s
  ) AS counted`;
}

/**
 * Forgets the request identities of rows with a slot before `beforeMs` (events older than any batch
 * still to be rolled up checks, see RollupSqlOptions.requestIdLookbackDays): they cost storage and nothing reads them.
 * For a periodic maintenance statement; the usage counts stay.
 */
export function forgetRequestIdsSql(tables: AthenaTables, beforeMs: number): SqlQuery {
  // A literal: Athena takes no ExecutionParameters in UPDATE. timestampLiteral writes digits only.
  return {
    sql: `UPDATE ${table(tables, tables.rollupTable)} SET request_ids = NULL
WHERE slot_start < TIMESTAMP '${timestampLiteral(beforeMs)}' AND request_ids IS NOT NULL`,
    params: [],
  };
}
