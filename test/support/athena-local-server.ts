/**
 * A local stand-in for Amazon Athena, for tests: an HTTP server on 127.0.0.1 (port 0) that speaks the
 * Athena JSON 1.1 protocol the real SDK client uses (StartQueryExecution, GetQueryExecution,
 * GetQueryResults, StopQueryExecution) and answers from an in-memory DuckDB.
 *
 * UNLOAD (issue 13) runs its query on DuckDB and writes the rows to an S3 stand-in (setUnloadStore,
 * s3rver in the tests) as gzip JSON Lines, one object per `partitioned_by` folder, refusing a folder
 * that already holds objects as Athena does; the registry's Glue tables are loaded from the canonical
 * JSON Lines (putRegistryTables). `stats()` counts statements executed, result pages and rows served,
 * bytes scanned and bytes unloaded, for the AWS scale bench (bench/aws-scale.ts).
 *
 * What is real: the SQL text the adapter sends is executed as sent (DuckDB binds the
 * ExecutionParameters to the `?` placeholders); the logs table is a view that applies
 * ACCESS_LOG_REGEX_PORTABLE (ACCESS_LOG_REGEX without the possessive quantifiers and the atomic group,
 * which RE2 does not read; the one difference is written there) to raw log lines with DuckDB's RE2
 * `regexp_extract`, like the Glue RegexSerDe
 * (a line that does not match gives a row of NULLs; absent trailing fields are NULL); the rollup
 * table is a plain table with the Iceberg table's columns (lib/constructs/rollup-table.ts); the dataset manifest table, when the
 * options name one, is a view that applies MANIFEST_LINE_REGEX to the lines of the canonical manifest
 * CSV (putManifest) the same way. ClientRequestToken idempotency, the
 * QUEUED/RUNNING/terminal life cycle, AthenaError on failures, paging with a header row and
 * throttling errors behave as Athena documents them.
 *
 * The minimal translation from Trino to DuckDB, as DuckDB macros (the only dialect shims):
 * - `parse_datetime(text, format)` for the one Joda format in LOG_TIME_FORMAT (any other format is
 *   refused when the query is submitted);
 * - `to_unixtime(timestamp)` = DuckDB `epoch`; `from_unixtime(seconds)` = DuckDB `to_timestamp`, and
 *   `from_unixtime(seconds, zone)` = `timezone(zone, to_timestamp(seconds))` (a local time without zone,
 *   whose date is the one Trino's zoned timestamp gives);
 * - `sequence(start, stop)` = DuckDB `generate_series` (a list, both ends included);
 * - `max_by(x, y)` = DuckDB `arg_max_null`: like Trino it skips a NULL `y` but returns a NULL `x`
 *   (DuckDB's own max_by skips that row too, which would hide a query that relies on it);
 * - `regexp_like(text, pattern)` = DuckDB `regexp_matches` (both search, RE2 and Java alike for the
 *   patterns the SQL uses);
 * - `array_join(list, separator)` = DuckDB `array_to_string`;
 * - `from_big_endian_64(xxhash64(to_utf8(s)))`, a request's identity, = DuckDB's own 64-bit `hash`
 *   of the text as a signed BIGINT (another hash function: identities are only compared within one
 *   engine).
 * The session time zone is UTC, as in Athena.
 *
 * Departures, kept on purpose: parameters are refused before the first WHERE and in statements other
 * than SELECT, INSERT INTO, CTAS and UNLOAD (as Athena refuses them); DataScannedInBytes is the raw
 * size of the log partitions a query names (projection-style pruning), plus the manifest's size when
 * a query reads it, plus 32 bytes per rollup row (and 8 per request identity, in a statement that
 * names `request_ids`) its WHERE clauses select (partition and file-statistics pruning), a stand-in for columnar scanning; values come back via DuckDB's text form (a timestamp reads
 * `2026-03-01 00:15:00`, where Athena writes `.000`).
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue, listValue } from '@duckdb/node-api';
import {
  ACCESS_LOG_COLUMNS,
  ACCESS_LOG_REGEX_PORTABLE,
} from '../../functions/adapters/athena/access-log-regex.js';
import { partitionFolder } from '../../functions/adapters/athena/athena-aggregated-usage.js';
import { MANIFEST_LINE_REGEX, MANIFEST_TABLE_COLUMNS } from '../../functions/adapters/athena/manifest-csv.js';
import { LOG_TIME_FORMAT } from '../../functions/adapters/athena/sql.js';
import { attributionTables, toJsonLines } from '../../functions/domain/attribution-table.js';
import { declaredNetworkRows } from '../../functions/domain/network-findings.js';
import type { Registry } from '../../functions/domain/registry.js';
import { ROLLUP_COLUMNS as ROLLUP_TABLE_COLUMNS } from '../../lib/constructs/rollup-table.js';

/** The Iceberg rollup table's column types (lib/constructs/rollup-table.ts) as DuckDB's. */
const ICEBERG_TO_DUCKDB: Readonly<Record<(typeof ROLLUP_TABLE_COLUMNS)[number][1], string>> = {
  timestamp: 'TIMESTAMP',
  string: 'VARCHAR',
  long: 'BIGINT',
};

export type AthenaOperation =
  | 'StartQueryExecution'
  | 'GetQueryExecution'
  | 'GetQueryResults'
  | 'StopQueryExecution';

/** A fault to inject; each applies to the next `times` (default 1) matching calls or queries. */
export type AthenaFault =
  | {
      readonly kind: 'throttle';
      readonly operation: AthenaOperation;
      readonly error?: 'TooManyRequestsException' | 'ThrottlingException';
      times?: number;
    }
  /** The query ends FAILED with this AthenaError, without running. */
  | {
      readonly kind: 'fail';
      readonly retryable: boolean;
      readonly match?: RegExp;
      readonly message?: string;
      times?: number;
    }
  /** The query ends CANCELLED, without running. */
  | { readonly kind: 'cancel'; readonly match?: RegExp; times?: number }
  /** Polls see these states first (e.g. QUEUED, RUNNING, QUEUED, RUNNING) before the real outcome. */
  | {
      readonly kind: 'states';
      readonly states: readonly ('QUEUED' | 'RUNNING')[];
      readonly match?: RegExp;
      times?: number;
    };

/**
 * Where UNLOAD writes (the s3rver bucket of a test): Athena writes as the caller, into an S3 folder
 * that must be empty.
 */
export interface UnloadStore {
  /** Keys under `prefix` in `bucket`. */
  list(bucket: string, prefix: string): Promise<readonly string[]>;
  put(bucket: string, key: string, body: Uint8Array): Promise<void>;
}

/** What the server did, for benches: counted over every execution and call since it started. */
export interface AthenaLocalStats {
  /** Statements executed (a token answered by an earlier execution is not one). */
  readonly queries: number;
  /** GetQueryResults calls answered: result pages served. */
  readonly resultPages: number;
  /** Result rows served through those pages (header rows not counted). */
  readonly resultRows: number;
  /** DataScannedInBytes summed over the successful executions. */
  readonly bytesScanned: number;
  /** Objects and bytes (gzip) UNLOAD wrote. */
  readonly objectsUnloaded: number;
  readonly bytesUnloaded: number;
}

export interface AthenaLocalServerOptions {
  readonly database: string;
  readonly logsTable: string;
  readonly rollupTable: string;
  /**
   * The dataset manifest table, read from what putManifest gives it.
   * @default none (a query naming one fails, as on a stack without a manifest)
   */
  readonly manifestTable?: string;
}

type State = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

interface ResultSet {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: readonly (readonly (string | null)[])[];
}

interface Execution {
  readonly id: string;
  readonly sql: string;
  readonly params: readonly string[];
  readonly workGroup: string | undefined;
  readonly token: string | undefined;
  readonly database: string | undefined;
  readonly submittedAt: number;
  readonly statementType: 'DDL' | 'DML' | 'UTILITY';
  /** States still to report before the outcome. */
  pending: ('QUEUED' | 'RUNNING')[];
  /** Settles when the query has run (or was decided without running). */
  done: Promise<void>;
  state: State;
  error?: { category: number; type: number; retryable: boolean; message: string };
  result?: ResultSet;
  updateCount?: number;
  bytesScanned: number;
  completedAt?: number;
}

/** A request the server refused (4xx), as Athena would name it. */
class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Joda formats `parse_datetime` understands here, and their DuckDB strptime equivalents. */
const JODA_FORMATS: Readonly<Record<string, string>> = { [LOG_TIME_FORMAT]: '%d/%b/%Y:%H:%M:%S %z' };

const RAW_TABLE = 'main.raw_log_lines';
const RAW_MANIFEST_TABLE = 'raw_manifest_lines';

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Positions of `?` placeholders and of the first WHERE, outside string literals and quoted names. */
function scanSql(sql: string): { placeholders: number[]; firstWhere: number } {
  const placeholders: number[] = [];
  let firstWhere = -1;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const close = sql.indexOf(c, i + 1);
      i = close === -1 ? sql.length : close + 1;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? sql.length : nl;
      continue;
    }
    if (c === '?') placeholders.push(i);
    if (firstWhere === -1 && /^where\b/i.test(sql.slice(i, i + 6)) && !/\w/.test(sql[i - 1] ?? ' '))
      firstWhere = i;
    i++;
  }
  return { placeholders, firstWhere };
}

/** An ExecutionParameter, read as the SQL literal it is written as. */
function parameterValue(text: string): DuckDBValue {
  const t = text.trim();
  if (/^'(?:[^']|'')*'$/.test(t)) return t.slice(1, -1).replaceAll("''", "'");
  if (/^-?\d+$/.test(t)) return BigInt(t);
  if (/^-?\d+\.\d+$/.test(t)) return Number(t);
  if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
  throw new Error(`ExecutionParameter ${text} is not a literal (strings need their quotes)`);
}

function athenaType(duckType: string): string {
  if (duckType === 'VARCHAR') return 'varchar';
  if (duckType === 'BIGINT' || duckType === 'HUGEINT' || duckType === 'UBIGINT') return 'bigint';
  if (duckType === 'INTEGER') return 'integer';
  if (duckType === 'DOUBLE') return 'double';
  if (duckType === 'BOOLEAN') return 'boolean';
  if (duckType.startsWith('TIMESTAMP')) return 'timestamp';
  if (duckType === 'DATE') return 'date';
  return 'varchar';
}

/** The delivery date of a log object from its key: PartitionedPrefix `.../YYYY/MM/DD/<name>`. */
export function deliveryDateOfKey(key: string): string | undefined {
  const m = /(?:^|\/)(\d{4})\/(\d{2})\/(\d{2})\/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[^/]+$/.exec(key);
  return m ? `${m[1]}/${m[2]}/${m[3]}` : undefined;
}

/** Splits text into records as Hadoop's LineReader does: on LF, CRLF or a lone CR. */
function records(text: string): string[] {
  const out = text.split(/\r\n|\n|\r/);
  if (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * Each read of `table` in a statement (`FROM <table> [AS x] [WHERE ...]`): the WHERE clause (up to
 * GROUP BY, ORDER BY, LIMIT or the end of its subquery), with the indexes of the `?` placeholders in
 * it, so that the rows it selects can be counted with the same parameters.
 */
function rollupReads(
  sql: string,
  table: string,
): { clause: string; placeholders: number[]; idsOnly: boolean }[] {
  const all = scanSql(sql).placeholders;
  const out: { clause: string; placeholders: number[]; idsOnly: boolean }[] = [];
  const from = new RegExp(
    `FROM\\s+${table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:\\s+(?:AS\\s+)?(?!(?:WHERE|GROUP|ORDER|LIMIT|JOIN|LEFT|RIGHT|FULL|INNER|CROSS|ON|UNION)\\b)\\w+)?\\s*`,
    'gi',
  );
  for (const m of sql.matchAll(from)) {
    const start = (m.index ?? 0) + m[0].length;
    const idsOnly = /SELECT\s+request_ids\s+$/i.test(sql.slice(0, m.index ?? 0));
    if (!/^WHERE\b/i.test(sql.slice(start))) {
      out.push({ clause: '', placeholders: [], idsOnly });
      continue;
    }
    let depth = 0;
    let end = start;
    for (; end < sql.length; end++) {
      const c = sql[end]!;
      if (c === "'") {
        const close = sql.indexOf("'", end + 1);
        end = close === -1 ? sql.length : close;
        continue;
      }
      if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) break;
        depth--;
      } else if (depth === 0 && /^(GROUP\s+BY|ORDER\s+BY|LIMIT)\b/i.test(sql.slice(end, end + 10))) break;
    }
    out.push({
      clause: sql.slice(start, end),
      placeholders: all.flatMap((p, i) => (p >= start && p < end ? [i] : [])),
      idsOnly,
    });
  }
  return out;
}

export class AthenaLocalServer {
  /** Every API call received, in order. */
  readonly calls: { readonly operation: string; readonly input: Record<string, unknown> }[] = [];
  private readonly executions = new Map<string, Execution>();
  private readonly tokens = new Map<string, string>();
  private readonly faults: AthenaFault[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly partitionBytes = new Map<string, number>();
  private manifestBytes = 0;
  private unloadStore: UnloadStore | undefined;
  private counts = {
    queries: 0,
    resultPages: 0,
    resultRows: 0,
    bytesScanned: 0,
    objectsUnloaded: 0,
    bytesUnloaded: 0,
  };

  private constructor(
    private readonly server: Server,
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    readonly options: AthenaLocalServerOptions,
    /** `http://127.0.0.1:<port>`: the `endpoint` of an AthenaClient. */
    readonly endpoint: string,
  ) {}

  static async start(options: AthenaLocalServerOptions): Promise<AthenaLocalServer> {
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    await AthenaLocalServer.createSchema(db, options);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const local = new AthenaLocalServer(server, instance, db, options, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => {
      void local.handle(req, res);
    });
    return local;
  }

  private static async createSchema(db: DuckDBConnection, o: AthenaLocalServerOptions): Promise<void> {
    const formats = Object.entries(JODA_FORMATS)
      .map(([joda, strp]) => `WHEN f = ${literal(joda)} THEN strptime(s, ${literal(strp)})`)
      .join(' ');
    const rx = literal(ACCESS_LOG_REGEX_PORTABLE);
    const names = `[${ACCESS_LOG_COLUMNS.map(literal).join(', ')}]`;
    // Groups 18-27 capture non-empty text when they take part, so '' means "absent": Java gives NULL.
    const cols = ACCESS_LOG_COLUMNS.map((c, i) =>
      i < 17
        ? `CASE WHEN ok THEN f.${quoted(c)} END AS ${quoted(c)}`
        : `CASE WHEN ok THEN nullif(f.${quoted(c)}, '') END AS ${quoted(c)}`,
    ).join(',\n  ');
    const schema = quoted(o.database);
    await db.run(`
SET TimeZone = 'UTC';
CREATE MACRO parse_datetime(s, f) AS CASE ${formats} END;
CREATE MACRO to_unixtime(t) AS epoch(t);
CREATE MACRO from_unixtime(x) AS to_timestamp(x), (x, z) AS timezone(z, to_timestamp(x));
CREATE MACRO sequence(a, b) AS generate_series(a, b);
CREATE MACRO max_by(x, y) AS arg_max_null(x, y);
CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p);
CREATE MACRO to_utf8(s) AS encode(s);
CREATE MACRO xxhash64(b) AS hash(b);
CREATE MACRO array_join(l, sep) AS array_to_string(l, sep);
CREATE MACRO from_big_endian_64(h) AS CAST(h::HUGEINT - CASE WHEN h >= 9223372036854775808 THEN 18446744073709551616::HUGEINT ELSE 0 END AS BIGINT);
CREATE TABLE ${RAW_TABLE} (delivery_date VARCHAR, object_key VARCHAR, line_no BIGINT, line VARCHAR);
CREATE SCHEMA ${schema};
CREATE VIEW ${schema}.${quoted(o.logsTable)} AS
SELECT
  ${cols},
  delivery_date
FROM (SELECT regexp_matches(line, ${rx}) AS ok, regexp_extract(line, ${rx}, ${names}) AS f, delivery_date
      FROM ${RAW_TABLE});
CREATE TABLE ${schema}.${quoted(o.rollupTable)} (
  ${ROLLUP_TABLE_COLUMNS.map(([name, type]) => `${name} ${ICEBERG_TO_DUCKDB[type]}`).join(', ')});
`);
    if (o.manifestTable !== undefined) {
      const mrx = literal(MANIFEST_LINE_REGEX);
      const [keyColumn, recordsColumn] = MANIFEST_TABLE_COLUMNS.map((c) => quoted(c.name));
      const manifestNames = `[${MANIFEST_TABLE_COLUMNS.map((c) => literal(c.name)).join(', ')}]`;
      // As the RegexSerDe: a line that does not match (the header) is a row of NULLs; a bigint that
      // does not fit is NULL.
      await db.run(`
CREATE TABLE main.${RAW_MANIFEST_TABLE} (line_no BIGINT, line VARCHAR);
CREATE VIEW ${schema}.${quoted(o.manifestTable)} AS
SELECT
  CASE WHEN ok THEN f.${keyColumn} END AS ${keyColumn},
  CASE WHEN ok THEN TRY_CAST(f.${recordsColumn} AS BIGINT) END AS ${recordsColumn}
FROM (SELECT regexp_matches(line, ${mrx}) AS ok,
             regexp_extract(line, ${mrx}, ${manifestNames}) AS f
      FROM main.${RAW_MANIFEST_TABLE});
`);
    }
  }

  /**
   * Replaces the manifest table's data with the object `text` (the canonical CSV the stack deploys,
   * see manifest-csv.ts), split into lines as Hadoop's LineReader splits them.
   */
  async putManifest(text: string): Promise<void> {
    if (this.options.manifestTable === undefined) {
      throw new Error('this server was started without a manifestTable');
    }
    const lines = records(text);
    await this.serial(async () => {
      await this.db.run(`DELETE FROM main.${RAW_MANIFEST_TABLE}`);
      const appender = await this.db.createAppender(RAW_MANIFEST_TABLE, 'main');
      lines.forEach((line, i) => {
        appender.appendBigInt(BigInt(i + 1));
        appender.appendVarchar(line);
        appender.endRow();
      });
      appender.closeSync();
    });
    this.manifestBytes = Buffer.byteLength(text, 'utf8');
  }

  /**
   * Adds one log object as the logs table would see it under partition projection: its delivery
   * date comes from its PartitionedPrefix key (or is given). `.gz` objects are gunzipped.
   */
  async addLogObject(key: string, body: string | Uint8Array, deliveryDate?: string): Promise<void> {
    const date = deliveryDate ?? deliveryDateOfKey(key);
    if (!date)
      throw new Error(`no delivery date in log object key ${key} (PartitionedPrefix layout expected)`);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    const text = (key.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
    const lines = records(text);
    await this.serial(async () => {
      const appender = await this.db.createAppender('raw_log_lines', 'main');
      lines.forEach((line, i) => {
        appender.appendVarchar(date);
        appender.appendVarchar(key);
        appender.appendBigInt(BigInt(i + 1));
        appender.appendVarchar(line);
        appender.endRow();
      });
      appender.closeSync();
    });
    this.partitionBytes.set(date, (this.partitionBytes.get(date) ?? 0) + Buffer.byteLength(text, 'utf8'));
  }

  /** Adds every log object under `dir` whose path (relative to `dir`) is a PartitionedPrefix key. */
  async addLogDirectory(dir: string): Promise<number> {
    let added = 0;
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      const key = relative(dir, path).split(sep).join('/');
      if (deliveryDateOfKey(key) === undefined) continue;
      await this.addLogObject(key, await readFile(path));
      added++;
    }
    return added;
  }

  /** Where UNLOAD writes; without one an UNLOAD fails as Athena fails without access to its location. */
  setUnloadStore(store: UnloadStore): void {
    this.unloadStore = store;
  }

  /** What the server did since it started (see AthenaLocalStats). */
  stats(): AthenaLocalStats {
    return { ...this.counts };
  }

  /**
   * The registry's Glue tables (lib/constructs/registry-tables.ts) as Athena reads them: the canonical
   * JSON Lines the deployment writes for `registry`, one table each, under the stack's default names.
   */
  async putRegistryTables(
    registry: Registry,
    names: {
      readonly principals: string;
      readonly contractTerms: string;
      readonly ignoredRequesters: string;
      /** @default registry_networks */
      readonly networks?: string;
    } = {
      principals: 'registry_principals',
      contractTerms: 'registry_contract_terms',
      ignoredRequesters: 'registry_ignored_requesters',
    },
  ): Promise<void> {
    const t = attributionTables(registry);
    const tables: [string, readonly object[], string][] = [
      [
        names.principals,
        t.principals,
        'rank INTEGER, match_on VARCHAR, match_key VARCHAR, partner_id VARCHAR, application_id VARCHAR, time_zone VARCHAR',
      ],
      [
        names.contractTerms,
        t.terms,
        'partner_id VARCHAR, contract_ordinal INTEGER, contract_id VARCHAR, effective_from VARCHAR, effective_to VARCHAR, term VARCHAR, match_key VARCHAR',
      ],
      [names.ignoredRequesters, t.ignored, 'match_key VARCHAR, anonymous BOOLEAN'],
      [
        names.networks ?? 'registry_networks',
        declaredNetworkRows(registry),
        'partner_id VARCHAR, application_id VARCHAR, kind VARCHAR, lo VARCHAR, hi VARCHAR, value VARCHAR',
      ],
    ];
    const schema = quoted(this.options.database);
    await this.serial(async () => {
      for (const [name, rows, columns] of tables) {
        await this.db.run(`CREATE OR REPLACE TABLE ${schema}.${quoted(name)} (${columns})`);
        const lines = toJsonLines(rows)
          .split('\n')
          .filter((l) => l !== '');
        if (lines.length === 0) continue;
        // As the JsonSerDe reads each line: by column name, a missing key NULL.
        const names = columns.split(', ').map((c) => c.split(' ')[0]!);
        await this.db.run(
          `INSERT INTO ${schema}.${quoted(name)} SELECT ${names
            .map((n) => `json_extract_string(j, '$.' || ${literal(n)})`)
            .join(', ')} FROM (SELECT unnest($1::VARCHAR[])::JSON AS j)`,
          [listValue(lines)],
        );
      }
    });
  }

  /** Makes the next matching calls or queries misbehave. */
  inject(fault: AthenaFault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  /** Run SQL directly against the DuckDB behind the server (for assertions), bypassing the API. */
  async sql(text: string): Promise<Record<string, unknown>[]> {
    return this.serial(async () => (await this.db.runAndReadAll(text)).getRowObjectsJS());
  }

  /** The executions the server knows, in submission order. */
  queryExecutions(): readonly {
    id: string;
    sql: string;
    params: readonly string[];
    state: State;
    token?: string;
  }[] {
    return [...this.executions.values()].map((e) => ({
      id: e.id,
      sql: e.sql,
      params: e.params,
      state: e.state,
      token: e.token,
    }));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.queue.catch(() => undefined);
    this.db.closeSync();
    this.instance.closeSync();
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private takeFault(test: (f: AthenaFault) => boolean): AthenaFault | undefined {
    const i = this.faults.findIndex(test);
    if (i === -1) return undefined;
    const f = this.faults[i]!;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AmazonAthena.') ? target.slice('AmazonAthena.'.length) : target;
    let status = 200;
    let body: unknown;
    try {
      if (req.method !== 'POST') throw new ApiError('InvalidRequestException', 'POST expected');
      const input = (chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}) as Record<
        string,
        unknown
      >;
      this.calls.push({ operation, input });
      const throttle = this.takeFault((f) => f.kind === 'throttle' && f.operation === operation);
      if (throttle?.kind === 'throttle') {
        const type = throttle.error ?? 'TooManyRequestsException';
        throw new ApiError(
          type,
          type === 'ThrottlingException' ? 'Rate exceeded' : 'Too many queries running',
        );
      }
      body = await this.dispatch(operation, input);
    } catch (error) {
      const e =
        error instanceof ApiError ? error : new ApiError('InternalServerException', String(error), 500);
      status = e.status;
      body = { __type: e.type, Message: e.message };
    }
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify(body));
  }

  private dispatch(operation: string, input: Record<string, unknown>): Promise<unknown> | unknown {
    switch (operation) {
      case 'StartQueryExecution':
        return this.start(input);
      case 'GetQueryExecution':
        return this.describe(this.execution(input['QueryExecutionId']));
      case 'GetQueryResults':
        return this.results(this.execution(input['QueryExecutionId']), input);
      case 'StopQueryExecution':
        return this.cancel(this.execution(input['QueryExecutionId']));
      default:
        throw new ApiError('UnknownOperationException', `operation ${operation} is not supported here`);
    }
  }

  private execution(id: unknown): Execution {
    const e = typeof id === 'string' ? this.executions.get(id) : undefined;
    if (!e) throw new ApiError('InvalidRequestException', `QueryExecution ${String(id)} was not found`);
    return e;
  }

  private start(input: Record<string, unknown>): { QueryExecutionId: string } {
    const sql = input['QueryString'];
    if (typeof sql !== 'string' || sql.trim() === '')
      throw new ApiError('InvalidRequestException', 'QueryString is required');
    const params = (input['ExecutionParameters'] as string[] | undefined) ?? [];
    const workGroup = input['WorkGroup'] as string | undefined;
    const token = input['ClientRequestToken'] as string | undefined;
    const database = (input['QueryExecutionContext'] as { Database?: string } | undefined)?.Database;
    if (token !== undefined) {
      if (token.length < 32 || token.length > 128) {
        throw new ApiError('InvalidRequestException', 'ClientRequestToken must be 32 to 128 characters');
      }
      const known = this.tokens.get(token);
      if (known) {
        const prior = this.executions.get(known)!;
        if (
          prior.sql !== sql ||
          JSON.stringify(prior.params) !== JSON.stringify(params) ||
          prior.workGroup !== workGroup
        ) {
          throw new ApiError('InvalidRequestException', 'Idempotent parameters do not match');
        }
        return { QueryExecutionId: known };
      }
    }
    const keyword = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? '';
    const statementType = ['SELECT', 'WITH', 'INSERT', 'DELETE', 'UPDATE', 'MERGE'].includes(keyword)
      ? 'DML'
      : ['CREATE', 'DROP', 'ALTER', 'MSCK'].includes(keyword)
        ? 'DDL'
        : 'UTILITY';
    const e: Execution = {
      id: randomUUID(),
      sql,
      params,
      workGroup,
      token,
      database,
      submittedAt: Date.now(),
      statementType,
      pending: [],
      done: Promise.resolve(),
      state: 'QUEUED',
      bytesScanned: 0,
    };
    this.executions.set(e.id, e);
    if (token !== undefined) this.tokens.set(token, e.id);
    const matches = (f: AthenaFault) => f.kind !== 'throttle' && (f.match === undefined || f.match.test(sql));
    const states = this.takeFault((f) => f.kind === 'states' && matches(f));
    if (states?.kind === 'states') e.pending = [...states.states];
    const decided = this.takeFault((f) => (f.kind === 'fail' || f.kind === 'cancel') && matches(f));
    if (decided?.kind === 'fail') {
      e.done = Promise.resolve().then(() => {
        e.state = 'FAILED';
        e.completedAt = Date.now();
        e.error = {
          category: decided.retryable ? 1 : 2,
          type: decided.retryable ? 401 : 1000,
          retryable: decided.retryable,
          message: decided.message ?? (decided.retryable ? 'Internal error, try again' : 'Query failed'),
        };
      });
    } else if (decided?.kind === 'cancel') {
      e.done = Promise.resolve().then(() => {
        e.state = 'CANCELLED';
        e.completedAt = Date.now();
      });
    } else {
      e.done = this.serial(() => this.execute(e));
    }
    return { QueryExecutionId: e.id };
  }

  private async execute(e: Execution): Promise<void> {
    // StopQueryExecution may land while DuckDB runs; DuckDB cannot be interrupted, the state wins.
    const cancelled = (): boolean => e.state === 'CANCELLED';
    if (cancelled()) return;
    try {
      const { placeholders, firstWhere } = scanSql(e.sql);
      if (placeholders.length !== e.params.length) {
        throw new Error(
          `the query has ${placeholders.length} parameters but ${e.params.length} values were given`,
        );
      }
      if (placeholders.some((p) => firstWhere === -1 || p < firstWhere)) {
        throw new Error('parameters are supported only in the WHERE clause');
      }
      const keyword = /^\s*(\w+)/.exec(e.sql)?.[1]?.toUpperCase() ?? '';
      const ctas = keyword === 'CREATE' && /^\s*CREATE\s+TABLE\b[\s\S]*\bAS\s+(SELECT|WITH)\b/i.test(e.sql);
      if (e.params.length > 0 && !['SELECT', 'WITH', 'INSERT', 'UNLOAD'].includes(keyword) && !ctas) {
        throw new Error('parameterized queries are supported only for SELECT, INSERT INTO, CTAS and UNLOAD');
      }
      for (const m of e.sql.matchAll(/parse_datetime\s*\([^,]*,\s*'([^']*)'\s*\)/g)) {
        if (JODA_FORMATS[m[1]!] === undefined)
          throw new Error(`parse_datetime format '${m[1]}' is not supported here`);
      }
      const values = e.params.map(parameterValue);
      // Counted before the statement runs: a DELETE or MERGE reads the rows it then changes.
      const scanned = await this.scannedBytes(e);
      this.counts.queries++;
      if (keyword === 'UNLOAD') {
        await this.unload(e, values);
        e.bytesScanned = scanned;
        this.counts.bytesScanned += scanned;
        if (!cancelled()) e.state = 'SUCCEEDED';
        return;
      }
      const reader = await this.db.runAndReadAll(e.sql, values.length > 0 ? values : undefined);
      if (/^\s*(SELECT|WITH)\b/i.test(e.sql)) {
        const types = reader.columnTypes().map((t) => athenaType(t.toString()));
        e.result = {
          columns: reader.columnNames().map((name, i) => ({ name, type: types[i] ?? 'varchar' })),
          rows: reader.getRows().map((row) => row.map((v) => (v === null ? null : String(v)))),
        };
      } else {
        e.updateCount = reader.rowsChanged;
      }
      e.bytesScanned = scanned;
      this.counts.bytesScanned += scanned;
      if (!cancelled()) e.state = 'SUCCEEDED';
    } catch (error) {
      if (cancelled()) return;
      e.state = 'FAILED';
      e.error = { category: 2, type: 1000, retryable: false, message: (error as Error).message };
    } finally {
      e.completedAt = Date.now();
    }
  }

  /**
   * Athena's UNLOAD: `UNLOAD (<query>) TO 's3://bucket/folder/' WITH (format = 'JSON', compression =
   * 'GZIP'[, partitioned_by = ARRAY['col']])`, the only shape the adapters send (any other format or
   * property is refused). The query runs on DuckDB; its rows go to the UnloadStore as gzip JSON Lines,
   * one object per partition folder (`col=value/`, the partition column left out of the rows, as Athena
   * does), a NULL value leaving its key out. As on Athena, the folder must be empty.
   */
  private async unload(e: Execution, values: DuckDBValue[]): Promise<void> {
    const m = /^\s*UNLOAD\s*\(([\s\S]*)\)\s*TO\s*'([^']*)'\s*WITH\s*\(([\s\S]*)\)\s*$/i.exec(e.sql);
    if (!m) throw new Error("UNLOAD must read UNLOAD (<query>) TO 's3://...' WITH (...)");
    const [, query, location, withText] = m as unknown as [string, string, string, string];
    const target = /^s3:\/\/([^/]+)\/(.*\/)?$/.exec(location);
    if (!target) throw new Error(`UNLOAD location ${location} is not an S3 folder s3://bucket/prefix/`);
    const props = new Map<string, string>();
    for (const p of withText.split(/,(?![^[]*\])/)) {
      const kv = /^\s*(\w+)\s*=\s*([\s\S]+?)\s*$/.exec(p);
      if (!kv) throw new Error(`UNLOAD property "${p.trim()}" is not name = value`);
      props.set(kv[1]!.toLowerCase(), kv[2]!);
    }
    if (props.get('format') !== "'JSON'") throw new Error("this server unloads only format = 'JSON'");
    if (props.get('compression') !== "'GZIP'")
      throw new Error("this server unloads only compression = 'GZIP'");
    const partitionedBy = props.get('partitioned_by');
    const partitionColumn =
      partitionedBy === undefined ? undefined : /^ARRAY\['(\w+)'\]$/.exec(partitionedBy)?.[1];
    if (partitionedBy !== undefined && partitionColumn === undefined)
      throw new Error(`partitioned_by ${partitionedBy} is not ARRAY['<one column>']`);
    for (const k of props.keys())
      if (!['format', 'compression', 'partitioned_by'].includes(k))
        throw new Error(`UNLOAD property ${k} is not supported here`);
    const store = this.unloadStore;
    if (!store) throw new Error(`Access Denied: no UnloadStore for ${location}`);
    const [, bucket, prefix = ''] = target as unknown as [string, string, string | undefined];
    if ((await store.list(bucket, prefix)).length > 0)
      throw new Error(`HIVE_PATH_ALREADY_EXISTS: Target directory for table already exists: ${location}`);
    const reader = await this.db.runAndReadAll(query, values.length > 0 ? values : undefined);
    const names = reader.columnNames();
    if (partitionColumn !== undefined && names.at(-1) !== partitionColumn)
      throw new Error(`the partition column ${partitionColumn} must be the query's last column`);
    const parts = new Map<string, string[]>();
    for (const row of reader.getRows()) {
      const folder =
        partitionColumn === undefined ? '' : partitionFolder(partitionColumn, String(row.at(-1)));
      const o: Record<string, unknown> = {};
      names.forEach((n, i) => {
        const v = row[i];
        if (n === partitionColumn || v === null || v === undefined) return;
        o[n] =
          typeof v === 'bigint'
            ? Number(v)
            : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
              ? v
              : String(v);
      });
      let lines = parts.get(folder);
      if (!lines) {
        lines = [];
        parts.set(folder, lines);
      }
      lines.push(JSON.stringify(o));
    }
    for (const [folder, lines] of parts) {
      const body = gzipSync(`${lines.join('\n')}\n`);
      await store.put(bucket, `${prefix}${folder}${e.id}_00000.gz`, body);
      this.counts.objectsUnloaded++;
      this.counts.bytesUnloaded += body.length;
    }
  }

  /**
   * What a query scanned, as partition projection and Iceberg pruning would have it: the raw size of
   * the log partitions it names (by a string parameter or a `delivery_date = '...'` literal; all of
   * them if none), plus the whole manifest object when it reads the manifest table, plus 32 bytes per
   * rollup row that the WHERE clause of each read of the rollup table selects (all its rows when a
   * read has no WHERE clause).
   */
  private async scannedBytes(e: Execution): Promise<number> {
    const { database, logsTable, rollupTable, manifestTable } = this.options;
    const reads = (t: string) => new RegExp(`FROM\\s+${quoted(database)}\\.${quoted(t)}`, 'i').test(e.sql);
    let bytes = 0;
    if (reads(logsTable)) {
      const named = [
        ...e.params.map((p) => /^'(\d{4}\/\d{2}\/\d{2})'$/.exec(p)?.[1]),
        ...[...e.sql.matchAll(/delivery_date\s*=\s*'(\d{4}\/\d{2}\/\d{2})'/g)].map((m) => m[1]),
      ].filter((d) => d !== undefined);
      for (const [date, n] of this.partitionBytes) if (named.length === 0 || named.includes(date)) bytes += n;
    }
    if (manifestTable !== undefined && reads(manifestTable)) bytes += this.manifestBytes;
    for (const where of rollupReads(e.sql, `${quoted(database)}.${quoted(rollupTable)}`)) {
      const values = where.placeholders.map((i) => parameterValue(e.params[i] ?? "''"));
      // Identities cost 8 bytes each (64 random bits: zstd brings their decimal digits near that) where a statement names
      // request_ids; a read of that column alone (the identities other batches counted) reads no
      // other column of the rows, and only its own and the two pruning columns' bytes are counted.
      const ids = /\brequest_ids\b/.test(e.sql)
        ? "coalesce(sum(length(request_ids) - length(replace(request_ids, ',', '')) + 1), 0) * 8"
        : '0';
      const perRow = where.idsOnly ? 2 : 32;
      const r = await this.db.runAndReadAll(
        `SELECT count(*) * ${perRow} + ${ids} FROM ${quoted(database)}.${quoted(rollupTable)} ${where.clause}`,
        values.length > 0 ? values : undefined,
      );
      bytes += Number(r.getRows()[0]?.[0] ?? 0);
    }
    return bytes;
  }

  private async describe(e: Execution): Promise<unknown> {
    if (e.state !== 'CANCELLED') {
      const next = e.pending.shift();
      if (next) return this.describeAs(e, next);
      await e.done;
    }
    return this.describeAs(e, e.state);
  }

  private describeAs(e: Execution, state: State): unknown {
    const terminal = state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED';
    return {
      QueryExecution: {
        QueryExecutionId: e.id,
        Query: e.sql,
        StatementType: e.statementType,
        ExecutionParameters: e.params.length > 0 ? e.params : undefined,
        WorkGroup: e.workGroup,
        QueryExecutionContext: e.database ? { Database: e.database } : undefined,
        Status: {
          State: state,
          SubmissionDateTime: e.submittedAt / 1000,
          ...(terminal && e.completedAt ? { CompletionDateTime: e.completedAt / 1000 } : {}),
          ...(state === 'FAILED' && e.error
            ? {
                StateChangeReason: e.error.message,
                AthenaError: {
                  ErrorCategory: e.error.category,
                  ErrorType: e.error.type,
                  Retryable: e.error.retryable,
                  ErrorMessage: e.error.message,
                },
              }
            : {}),
        },
        Statistics: terminal ? { DataScannedInBytes: e.bytesScanned, EngineExecutionTimeInMillis: 1 } : {},
      },
    };
  }

  private async results(e: Execution, input: Record<string, unknown>): Promise<unknown> {
    if (e.pending.length === 0) await e.done;
    if (e.state !== 'SUCCEEDED' || e.pending.length > 0) {
      throw new ApiError('InvalidRequestException', `Query has not yet finished. Current state: ${e.state}`);
    }
    const max = (input['MaxResults'] as number | undefined) ?? 1000;
    if (max < 1 || max > 1000) throw new ApiError('InvalidRequestException', 'MaxResults must be 1 to 1000');
    const result = e.result ?? { columns: [], rows: [] };
    const header = result.columns.length > 0 ? [result.columns.map((c) => c.name)] : [];
    const all = [...header, ...result.rows];
    const offset = input['NextToken'] === undefined ? 0 : Number(input['NextToken']);
    if (!Number.isInteger(offset) || offset < 0 || offset > all.length) {
      throw new ApiError('InvalidRequestException', 'NextToken is not valid');
    }
    const page = all.slice(offset, offset + max);
    const next = offset + max < all.length ? String(offset + max) : undefined;
    this.counts.resultPages++;
    this.counts.resultRows += page.length - (offset === 0 ? header.length : 0);
    return {
      ...(e.updateCount !== undefined ? { UpdateCount: e.updateCount } : {}),
      ResultSet: {
        Rows: page.map((row) => ({ Data: row.map((v) => (v === null ? {} : { VarCharValue: v })) })),
        ResultSetMetadata: {
          ColumnInfo: result.columns.map((c) => ({
            Name: c.name,
            Label: c.name,
            Type: c.type,
            Nullable: 'UNKNOWN',
          })),
        },
      },
      ...(next ? { NextToken: next } : {}),
    };
  }

  private cancel(e: Execution): unknown {
    if (e.state === 'QUEUED' || e.state === 'RUNNING') {
      e.state = 'CANCELLED';
      e.pending = [];
      e.completedAt = Date.now();
    }
    return {};
  }
}
