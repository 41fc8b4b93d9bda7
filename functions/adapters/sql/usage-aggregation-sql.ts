/**
 * Attribution and aggregation of the usage rollup inside the engine, one builder with a dialect per
 * engine (Trino for Athena, DuckDB locally), so that JavaScript receives rows whose number grows with
 * partners x applications x datasets x local days, never with rollup slots or requesters.
 *
 * The rules are those of functions/domain/OVERAGES.md as attribution.ts and evaluate.ts implement them;
 * the registry enters as the tables of functions/domain/attribution-table.ts, whose rows carry the
 * precedence (`rank`), the LIKE patterns and the time zones, so the SQL holds no registry value:
 * - attribution runs once per distinct (requester, access point) of the range, by one equality join
 *   per kind (exact ARN or canonical id, role of an assumed-role session, access point, account) and a
 *   LIKE join for globs; the matching row with the lowest rank wins;
 * - a counted row's local day is its slot in the partner's time zone, converted once per distinct slot
 *   and zone in use (a time zone conversion per row costs more than all the rest of the statement: 36 s
 *   against under 1 s for a month of one founding-case partner on DuckDB); the contract version in force is
 *   the partner's first whose dates hold the first local date of that day's month; its counted
 *   operations (LIKE) and statuses (equality) filter the rows.
 *
 * An ARN requester is read as attribution.ts's `^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$`: the
 * prefix by a regular expression of ASCII classes only (which RE2 and Java read alike), the rest by
 * `split_part` and `substr`, and "(.+)$" without the `s` flag, i.e. a non-empty rest without a line
 * terminator (\n, \r, U+2028, U+2029), by `strpos` of each.
 *
 * SQL is data: each builder returns `{ sql, params }` with positional `?`; values (instants, dates,
 * the top N) are parameters, and table names are validated identifiers.
 */
import type { Interval } from '../../domain/time.js';
import { SLOT_MS } from '../../domain/usage.js';
import type { PartnerDailyUsageRequest, UnattributedUsageRequest } from '../../ports.js';
import {
  MALFORMED_PREFIX,
  REPEATS_OPERATION,
  SqlInputError,
  sqlString,
  timestampLiteral,
  USAGE_GRAIN_ONLY,
} from '../athena/sql.js';

/** A statement and its positional parameters, in placeholder order. */
export interface AggregationQuery<P> {
  readonly sql: string;
  readonly params: readonly P[];
}

/** Where the statements read: the rollup and the three registry tables. */
export interface AggregationTables {
  /** The Glue database (Trino); none for DuckDB. */
  readonly database?: string;
  readonly rollup: string;
  readonly principals: string;
  readonly contractTerms: string;
  readonly ignoredRequesters: string;
}

/**
 * The rollup's daily pre-aggregate per time zone (functions/adapters/duckdb/daily-rollup.ts), read
 * instead of the slot rows (DuckDB only). A local day is read from the daily rows when every slot of
 * it is in the statement's range, or when the range's end (start) lies past the newest (before the
 * oldest) slot of the data, so that the day's rows hold only slots in range; otherwise (a day the
 * range's start or end cuts through the data) from the slot rows, as the slot path reads it.
 */
export interface DailySource {
  /** The daily rows: zone_id, batch, local_date, the usage key less slot and bucket, the sums. */
  readonly table: string;
  /** Per zone and batch: zone_id, time_zone, batch, min_slot, max_slot (the data the rows hold). */
  readonly batches: string;
  /** The zones read, each with its id in `table`, all materialised; the first also gives the pairs. */
  readonly zones: readonly { readonly timeZone: string; readonly id: number }[];
  /**
   * The slot rows as the local state stores them, by integer code (functions/adapters/duckdb/schema.ts:
   * `rows` like the rollup with its string columns as codes of `strings`, id and value): the days the
   * range cuts through are then read from `rows`, grouped by zone, local day and codes, and decoded
   * after the grouping, instead of through the view `rollup`, which decodes every slot row from a list
   * of every string (built for each statement that reads it, even when no edge slot matches).
   * None: the edges read the rollup table or view of the statement's tables.
   */
  readonly coded?: { readonly rows: string; readonly strings: string };
}

/** What differs between the engines; everything else is SQL both read alike. */
export interface AggregationDialect<P> {
  readonly name: 'trino' | 'duckdb';
  /** A qualified, quoted table name. */
  table(tables: AggregationTables, name: string): string;
  /** A placeholder value for an instant compared with `slot_start`. */
  instant(epochMs: number): P;
  /** A placeholder value for a text (a `YYYY-MM-DD` date, a level). */
  text(value: string): P;
  /** A placeholder value for a whole number. */
  integer(value: number): P;
  /** `slot_start` compared with a placeholder. */
  readonly slotParameter: string;
  /** The local date, as `YYYY-MM-DD` text, of the slot starting at `slot` in the zone `zone`. */
  localDate(slot: string, zone: string): string;
  /** True when `text` contains a match of `pattern` (a literal of ASCII classes). */
  regexpLike(text: string, pattern: string): string;
  /**
   * A predicate that keeps usage rows (on AWS the rollup also holds markers of malformed lines, and the
   * rows of its other grains: sql.ts, GRAINS).
   */
  readonly usageRowsOnly: string;
  /**
   * Globs joined by their literal prefix (the principals table's `literal_prefix`, the pattern's text
   * before its first `*`) before LIKE, instead of LIKE against every pair: a hash join per distinct
   * prefix length rather than pairs x globs LIKE tests (2 M pairs and 2,000 globs at 1,000 partners).
   */
  readonly globPrefixJoin: boolean;
  /** Whether the engine holds the rollup's daily pre-aggregate (the local engine only). */
  readonly dailyReads: boolean;
  /**
   * What keeps the `usage` CTE, which the statement reads three times, a view rather than a table
   * held in memory. Trino inlines every CTE; DuckDB materialises one read more than once unless told.
   */
  readonly inlineCte: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,127}$/;

function identifier(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new SqlInputError(
      `"${name}" is not a valid table name (lower-case letters, digits and _, at most 128)`,
    );
  }
  return `"${name}"`;
}

/** Athena engine v3: the rollup's slot_start is a UTC timestamp; parameters are SQL literals. */
export const TRINO: AggregationDialect<string> = {
  name: 'trino',
  table(tables, name) {
    if (!tables.database) throw new SqlInputError('the Trino dialect needs the Glue database');
    return `${identifier(tables.database)}.${identifier(name)}`;
  },
  instant: (ms) => sqlString(timestampLiteral(ms)),
  text: (value) => sqlString(value),
  integer(value) {
    if (!Number.isSafeInteger(value)) throw new SqlInputError(`not a whole number: ${value}`);
    return String(value);
  },
  slotParameter: 'CAST(? AS timestamp)',
  localDate: (slot, zone) => `CAST(CAST(from_unixtime(to_unixtime(${slot}), ${zone}) AS date) AS varchar)`,
  regexpLike: (text, pattern) => `regexp_like(${text}, '${pattern}')`,
  usageRowsOnly: `${USAGE_GRAIN_ONLY} AND substr(operation, 1, ${MALFORMED_PREFIX.length}) <> '${MALFORMED_PREFIX}' AND operation <> '${REPEATS_OPERATION}'`,
  globPrefixJoin: false,
  dailyReads: false,
  inlineCte: '',
};

/** The local store: slot_start is BIGINT epoch milliseconds; parameters are bound values. */
export const DUCKDB: AggregationDialect<string | number> = {
  name: 'duckdb',
  table: (_tables, name) => identifier(name),
  instant(ms) {
    if (!Number.isSafeInteger(ms)) throw new SqlInputError(`not an instant in whole milliseconds: ${ms}`);
    return ms;
  },
  text: (value) => value,
  integer(value) {
    if (!Number.isSafeInteger(value)) throw new SqlInputError(`not a whole number: ${value}`);
    return value;
  },
  slotParameter: 'CAST(? AS BIGINT)',
  localDate: (slot, zone) =>
    `CAST(CAST(timezone(${zone}, to_timestamp(${slot} // 1000)) AS DATE) AS VARCHAR)`,
  regexpLike: (text, pattern) => `regexp_matches(${text}, '${pattern}')`,
  usageRowsOnly: 'TRUE',
  globPrefixJoin: true,
  dailyReads: true,
  // Materialised, a month of ten founding-case partners (14.7 M rows) took 70 s and 2 GB; inlined, 8.5 s and 0.3 GB.
  inlineCte: 'NOT MATERIALIZED ',
};

/** Collects parameters in the order their placeholders appear in the text. */
export class Parameters<P> {
  readonly values: P[] = [];
  add(value: P): '?' {
    this.values.push(value);
    return '?';
  }
}

const ARN_PREFIX = '^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:';
/** Characters before the resource of `arn:<partition>:<service>::<12 digits>:`, less the two names. */
const ARN_FIXED_LENGTH = 'arn:'.length + ':'.length + '::'.length + 12 + ':'.length;

/** A daily read: the source, and for counted usage the local dates it needs, [from, to). */
interface DailyRead {
  readonly source: DailySource;
  readonly dates?: { readonly from: string; readonly to: string };
  /**
   * `edges`: `usage` holds only the rows of the days the range cuts through the data (from the slot
   * rows), and no `pairs` CTE is made: the whole days come from the attributed caches
   * (functions/adapters/duckdb/attributed-daily.ts). @default 'all'
   */
  readonly only?: 'all' | 'edges';
}

/**
 * The `usage` and `pairs` CTEs over the daily pre-aggregate: `usage` holds, per zone read, the zone's
 * rows of the range (zone_id, time_zone, local_date, then the slot path's columns less slot_start), one
 * branch a zone so that each scan keeps to its zone's row groups; `pairs` is read from the first zone's
 * rows alone (every zone's rows hold the same requesters). Days the range cuts through the data come
 * from the slot rows (`edge_slots`: the range's slots whose local day in a zone is such a day).
 */
function dailyUsageCtes<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  range: Interval,
  p: Parameters<P>,
  read: DailyRead,
): string {
  if (!d.dailyReads) throw new SqlInputError('the daily pre-aggregate is read on the local engine only');
  const { source, dates } = read;
  if (source.zones.length === 0) throw new SqlInputError('a daily read needs at least one time zone');
  const daily = d.table(tables, source.table);
  const slot = d.slotParameter;
  const start = () => slot.replace('?', p.add(d.instant(range.startMs)));
  const end = () => slot.replace('?', p.add(d.instant(range.endMs)));
  const zoneId = (id: number) => `CAST(${p.add(d.integer(id))} AS INTEGER)`;
  const inDates = (column: string) =>
    dates
      ? ` AND ${column} >= ${p.add(d.text(checkDate('fromDate', dates.from)))} AND ${column} < ${p.add(d.text(checkDate('toDate', dates.to)))}`
      : '';
  // Placeholders are numbered in the order of the text: each piece adds its values where it stands.
  const values = () =>
    source.zones.map((z) => `(CAST(${p.add(d.text(z.timeZone))} AS VARCHAR), ${zoneId(z.id)})`).join(', ');
  const zonesCte = `zones AS (
  SELECT z.time_zone, z.zone_id,
    ${d.localDate(`(${start()} - 1)`, 'z.time_zone')} AS before_range,
    ${d.localDate(end(), 'z.time_zone')} AS end_date,
    coalesce(${start()} <= m.min_slot, TRUE) AS whole_first,
    coalesce(${end()} > m.max_slot, TRUE) AS whole_last
  FROM (VALUES ${values()}) z(time_zone, zone_id)
  LEFT JOIN (SELECT zone_id, min(min_slot) AS min_slot, max(max_slot) AS max_slot
    FROM ${d.table(tables, source.batches)} GROUP BY zone_id) m ON m.zone_id = z.zone_id
)`;
  const edgeCte = `edge_slots AS (
  SELECT slot_start, zone_id, time_zone, local_date FROM (
    SELECT s.slot_start, z.zone_id, z.time_zone, z.before_range, z.end_date, z.whole_first, z.whole_last,
      ${d.localDate('s.slot_start', 'z.time_zone')} AS local_date
    FROM (SELECT unnest(range((${start()} + ${SLOT_MS - 1}) // ${SLOT_MS} * ${SLOT_MS}, ${end()}, ${SLOT_MS})) AS slot_start) s
    CROSS JOIN zones z
  )
  WHERE (local_date = before_range AND NOT whole_first) OR (local_date = end_date AND NOT whole_last)
)`;
  const columns = 'requester, access_point, dataset, operation, status_class, requests, bytes_sent, records';
  // The counted days narrow the usage read; the pairs are every pair of the range in the first zone,
  // whose local days differ from the other zones'.
  const branch = (
    id: number,
    counted: boolean,
  ) => `SELECT z.zone_id, z.time_zone, r.local_date, ${columns.replace(/(\w+)/g, 'r.$1')}
  FROM ${daily} r, (SELECT * FROM zones WHERE zone_id = ${zoneId(id)}) z
  WHERE r.zone_id = ${zoneId(id)}
    AND (z.whole_first OR r.local_date > z.before_range)
    AND (z.whole_last OR r.local_date < z.end_date)${counted ? inDates('r.local_date') : ''}`;
  const edgeJoin = (only?: number) =>
    `JOIN edge_slots e ON e.slot_start = r.slot_start${only === undefined ? inDates('e.local_date') : ` AND e.zone_id = ${zoneId(only)}`}
  WHERE r.slot_start >= ${start()} AND r.slot_start < ${end()} AND ${d.usageRowsOnly}`;
  const edges = (only?: number) =>
    source.coded
      ? codedEdges(source.coded, edgeJoin(only))
      : `SELECT e.zone_id, e.time_zone, e.local_date, ${columns.replace(/(\w+)/g, 'r.$1')}
  FROM ${d.table(tables, tables.rollup)} r
  ${edgeJoin(only)}`;
  if (read.only === 'edges') {
    return `${zonesCte},
${edgeCte},
usage AS ${d.inlineCte}(
  ${edges()}
)`;
  }
  const first = source.zones[0]!.id;
  return `${zonesCte},
${edgeCte},
usage AS ${d.inlineCte}(
  ${[...source.zones.map((z) => branch(z.id, true)), edges()].join('\n  UNION ALL\n  ')}
),
pairs AS (
  SELECT DISTINCT requester, access_point FROM (
  ${branch(first, false)}
  UNION ALL
  ${edges(first)}
  )
)`;
}

/**
 * The edge rows of a daily read over the coded slot rows (DailySource `coded`): the rows `join` keeps
 * (the join with `edge_slots` and the range's WHERE, over `r`), grouped by zone, local day and the five
 * codes, then decoded: the same columns as the edges read through the view, fewer rows (every reader of
 * `usage` sums them).
 */
function codedEdges(coded: { readonly rows: string; readonly strings: string }, join: string): string {
  const codes = ['requester', 'access_point', 'dataset', 'operation', 'status_class'];
  return `SELECT g.zone_id, g.time_zone, g.local_date, ${codes.map((c) => `${c}_s.value AS ${c}`).join(', ')},
    g.requests, g.bytes_sent, g.records
  FROM (
    SELECT e.zone_id, e.time_zone, e.local_date, ${codes.map((c) => `r.${c}`).join(', ')},
      sum(r.requests) AS requests, sum(r.bytes_sent) AS bytes_sent, sum(r.records) AS records
    FROM ${coded.rows} r
  ${join}
    GROUP BY e.zone_id, e.time_zone, e.local_date, ${codes.map((c) => `r.${c}`).join(', ')}
  ) g
  ${codes.map((c) => `JOIN ${coded.strings} ${c}_s ON ${c}_s.id = g.${c}`).join('\n  ')}`;
}

/**
 * The CTEs every statement shares: `usage` (the rollup rows of [range) that are usage) and
 * `attributed` (each distinct requester and access point with the winning partner application and
 * the partner's time zone). Unattributed pairs are absent from `attributed`. `source` chooses where
 * `usage` comes from: the slot rows (none), the daily pre-aggregate (a `DailyRead`), or a CTE body of
 * the caller's (a function, called first so that its parameters come first; it must have requester
 * and access_point columns): the network findings attribute the network table so.
 */
export function attributionCtes<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  range: Interval,
  p: Parameters<P>,
  source?: DailyRead | ((p: Parameters<P>) => string),
): string {
  if (typeof source === 'function') {
    return `usage AS ${d.inlineCte}(\n${source(p)}\n),\n${pairAttributionCtes(d, tables, 'usage')}`;
  }
  if (source !== undefined)
    return `${dailyUsageCtes(d, tables, range, p, source)},\n${attributedFromPairs(d, tables)}`;
  const slot = d.slotParameter;
  return `usage AS ${d.inlineCte}(
  SELECT slot_start, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records
  FROM ${d.table(tables, tables.rollup)}
  WHERE slot_start >= ${slot.replace('?', p.add(d.instant(range.startMs)))}
    AND slot_start < ${slot.replace('?', p.add(d.instant(range.endMs)))}
    AND ${d.usageRowsOnly}
),
${pairAttributionCtes(d, tables, 'usage')}`;
}

/**
 * The CTEs from `pairs` to `attributed` over the CTE `source` (any with requester and access_point
 * columns): each distinct requester and access point with the winning partner application and the
 * partner's time zone. Also used over the holdings table (holdings-sql.ts).
 */
export function pairAttributionCtes<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  source: string,
): string {
  return `pairs AS (
  SELECT DISTINCT requester, access_point FROM ${source}
),
${attributedFromPairs(d, tables)}`;
}

/**
 * When the provider's own requester `q.requester` is one the ignored row `i` (registry settings'
 * ignoredRequesters) names: its LIKE pattern, the anonymous `-` only where the row says so.
 */
export const IGNORED_MATCH =
  "q.requester LIKE i.match_key ESCAPE '\\' AND (q.requester <> '-' OR i.anonymous)";

/** The CTEs from `arns` to `attributed`, over a CTE `pairs` of distinct requester and access_point. */
export function attributedFromPairs<P>(d: AggregationDialect<P>, tables: AggregationTables): string {
  const principals = d.table(tables, tables.principals);
  const matchColumns = 'q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone';
  const resourceStart = `length(split_part(requester, ':', 2)) + length(split_part(requester, ':', 3)) + ${ARN_FIXED_LENGTH + 1}`;
  const globMatches = d.globPrefixJoin
    ? `SELECT ${matchColumns} FROM (
      SELECT q.requester, q.access_point, g.n, substr(q.requester, 1, g.n) AS head
      FROM pairs q
      CROSS JOIN (SELECT DISTINCT length(literal_prefix) AS n FROM ${principals} WHERE match_on = 'glob') g
    ) q
    JOIN ${principals} p ON p.match_on = 'glob' AND length(p.literal_prefix) = q.n
      AND p.literal_prefix = q.head AND q.requester LIKE p.match_key ESCAPE '\\'`
    : `SELECT ${matchColumns} FROM pairs q
    JOIN ${principals} p ON p.match_on = 'glob' AND q.requester LIKE p.match_key ESCAPE '\\'`;
  const noLineTerminator = [10, 13, 8232, 8233]
    .map((c) => `strpos(arn_resource, chr(${c})) = 0`)
    .join(' AND ');
  return `arns AS (
  SELECT requester, access_point,
    split_part(requester, ':', 2) AS arn_partition,
    split_part(requester, ':', 3) AS arn_service,
    split_part(requester, ':', 5) AS arn_account,
    substr(requester, ${resourceStart}) AS arn_resource
  FROM pairs
  WHERE ${d.regexpLike('requester', ARN_PREFIX)}
),
parsed_arns AS (
  SELECT * FROM arns
  WHERE length(arn_resource) > 0 AND ${noLineTerminator}
),
sessions AS (
  SELECT requester, access_point,
    arn_partition || ':' || arn_account || ':' || split_part(substr(arn_resource, 14), '/', 1) AS role_key
  FROM parsed_arns
  WHERE arn_service = 'sts' AND substr(arn_resource, 1, 13) = 'assumed-role/'
    AND split_part(substr(arn_resource, 14), '/', 1) <> ''
),
matches AS (
  SELECT ${matchColumns} FROM pairs q
    JOIN ${principals} p ON p.match_on = 'requester' AND p.match_key = q.requester
  UNION ALL
  SELECT ${matchColumns} FROM sessions q
    JOIN ${principals} p ON p.match_on = 'role' AND p.match_key = q.role_key
  UNION ALL
  SELECT ${matchColumns} FROM pairs q
    JOIN ${principals} p ON p.match_on = 'access-point' AND q.access_point <> '-' AND p.match_key = q.access_point
  UNION ALL
  ${globMatches}
  UNION ALL
  SELECT ${matchColumns} FROM parsed_arns q
    JOIN ${principals} p ON p.match_on = 'account' AND p.match_key = q.arn_account
),
ranked AS (
  SELECT requester, access_point, partner_id, application_id, time_zone,
    row_number() OVER (PARTITION BY requester, access_point ORDER BY rank) AS position
  FROM matches
),
attributed AS (
  SELECT requester, access_point, partner_id, application_id, time_zone FROM ranked WHERE position = 1
)`;
}

/**
 * The partner application of each distinct requester and access point of `range` that one claims:
 * columns requester, access_point, partner_id, application_id; ordered by the first two. The join the
 * other statements build on, on its own for tests and for a report's "who is who".
 */
export function attributionSql<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  range: Interval,
): AggregationQuery<P> {
  const p = new Parameters<P>();
  const sql = `WITH ${attributionCtes(d, tables, range, p)}
SELECT requester, access_point, partner_id, application_id
FROM attributed
ORDER BY requester, access_point`;
  return { sql, params: p.values };
}

export type { PartnerDailyUsageRequest, UnattributedUsageRequest };

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

export function checkDate(field: string, value: string): string {
  if (!ISO_DATE.test(value)) throw new SqlInputError(`${field} must be a date YYYY-MM-DD, got "${value}"`);
  return value;
}

/**
 * Counted usage per partner, application, dataset and local day, the figures evaluate.ts sums from rows:
 * rows attributed to a partner application, whose slot is in `range` and whose local day (partner's
 * zone) is in [fromDate, toDate), whose operation and status class the contract version in force for
 * that day's month counts. Columns: partner_id, application_id, dataset, local_date, requests,
 * bytes_sent, records; ordered by the first four.
 */
export function partnerDailyUsageSql<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  request: PartnerDailyUsageRequest,
  daily?: DailySource,
): AggregationQuery<P> {
  const p = new Parameters<P>();
  const dates = { from: request.fromDate, to: request.toDate };
  const ctes = attributionCtes(d, tables, request.range, p, daily && { source: daily, dates });
  // Daily rows carry their zone's local day; slot rows get it once per distinct slot and zone.
  const byDay = daily
    ? `by_day AS (
  SELECT a.partner_id, a.application_id, u.dataset, u.operation, u.status_class, u.local_date,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM usage u
  JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
    AND a.time_zone = u.time_zone
  GROUP BY 1, 2, 3, 4, 5, 6
)`
    : `slot_days AS (
  SELECT s.slot_start, z.time_zone, ${d.localDate('s.slot_start', 'z.time_zone')} AS local_date
  FROM (SELECT DISTINCT slot_start FROM usage) s
  CROSS JOIN (SELECT DISTINCT time_zone FROM attributed) z
),
by_day AS (
  SELECT a.partner_id, a.application_id, u.dataset, u.operation, u.status_class, z.local_date,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM usage u
  JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
  JOIN slot_days z ON z.slot_start = u.slot_start AND z.time_zone = a.time_zone
  GROUP BY 1, 2, 3, 4, 5, 6
)`;
  const tail = countedTail(d, tables, p, dates);
  const sql = `WITH ${ctes},
${byDay},
${tail.ctes}
${tail.select}
ORDER BY g.partner_id, g.application_id, g.dataset, g.local_date`;
  return { sql, params: p.values };
}

/**
 * The CTEs from `dated` to `counted_operations` and the final grouping of counted usage, over a CTE
 * `by_day` (partner_id, application_id, dataset, operation, status_class, local_date and the sums, and
 * the `carry` columns first, e.g. a zone and a batch): the contract version in force for each local day's month, and its
 * counted operations and statuses. `dates` keeps local days in [from, to); none keeps every day. The
 * select has no ORDER BY, so that a caller can use it as a CTE.
 */
export function countedTail<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  p: Parameters<P>,
  dates: { readonly from: string; readonly to: string } | undefined,
  carry: readonly ('zone_id' | 'batch')[] = [],
): { readonly ctes: string; readonly select: string } {
  const terms = d.table(tables, tables.contractTerms);
  const z = (prefix: string) => carry.map((c) => `${prefix}${c}, `).join('');
  const where = dates
    ? `
  WHERE local_date >= ${p.add(d.text(checkDate('fromDate', dates.from)))}
    AND local_date < ${p.add(d.text(checkDate('toDate', dates.to)))}`
    : '';
  const ctes = `dated AS (
  SELECT ${z('')}partner_id, application_id, dataset, operation, status_class, local_date,
    substr(local_date, 1, 8) || '01' AS month_start, requests, bytes_sent, records
  FROM by_day${where}
),
versions AS (
  SELECT DISTINCT partner_id, contract_ordinal, effective_from, effective_to FROM ${terms}
),
in_force AS (
  SELECT m.partner_id, m.month_start, min(v.contract_ordinal) AS contract_ordinal
  FROM (SELECT DISTINCT partner_id, month_start FROM dated) m
  JOIN versions v ON v.partner_id = m.partner_id AND v.effective_from <= m.month_start
    AND (v.effective_to IS NULL OR m.month_start < v.effective_to)
  GROUP BY m.partner_id, m.month_start
),
governed AS (
  SELECT ${z('t.')}t.partner_id, t.application_id, t.dataset, t.operation, t.status_class, t.local_date,
    f.contract_ordinal, t.requests, t.bytes_sent, t.records
  FROM dated t
  JOIN in_force f ON f.partner_id = t.partner_id AND f.month_start = t.month_start
),
counted_operations AS (
  SELECT DISTINCT g.partner_id, g.contract_ordinal, g.operation
  FROM (SELECT DISTINCT partner_id, contract_ordinal, operation FROM governed) g
  JOIN ${terms} o ON o.partner_id = g.partner_id AND o.contract_ordinal = g.contract_ordinal
    AND o.term = 'operation' AND g.operation LIKE o.match_key ESCAPE '\\'
)`;
  const select = `SELECT ${z('g.')}g.partner_id, g.application_id, g.dataset, g.local_date,
  sum(g.requests) AS requests, sum(g.bytes_sent) AS bytes_sent, sum(g.records) AS records
FROM governed g
JOIN counted_operations o ON o.partner_id = g.partner_id AND o.contract_ordinal = g.contract_ordinal
  AND o.operation = g.operation
JOIN ${terms} s ON s.partner_id = g.partner_id AND s.contract_ordinal = g.contract_ordinal
  AND s.term = 'status' AND s.match_key = g.status_class
GROUP BY ${z('g.')}g.partner_id, g.application_id, g.dataset, g.local_date`;
  return { ctes, select };
}

/**
 * Usage no partner application claims, by requester, access point and dataset, every operation and
 * status class (OVERAGES.md, Findings), leaving out the provider's own requesters; for the `top` pairs
 * with the most requests (then by requester, access point). `touched` is 1 where a 2xx or 3xx request
 * read a dataset inside some contract's datasets. Every row also carries the totals over all
 * unattributed pairs (`pairs_total`, `requests_total`, `bytes_sent_total`, `records_total`), so a
 * report can say how much the top N leaves out. Ordered by position, then dataset.
 */
export function unattributedUsageSql<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  request: UnattributedUsageRequest,
  daily?: DailySource,
): AggregationQuery<P> {
  if (!Number.isSafeInteger(request.top) || request.top < 1) {
    throw new SqlInputError(`top must be a whole number of at least 1, got ${request.top}`);
  }
  if (daily && daily.zones.length !== 1) {
    throw new SqlInputError('unattributed usage reads the daily rows of one time zone');
  }
  const p = new Parameters<P>();
  const ctes = attributionCtes(d, tables, request.range, p, daily && { source: daily });
  const sql = `WITH ${ctes},
ignored AS (
  SELECT DISTINCT q.requester
  FROM pairs q
  JOIN ${d.table(tables, tables.ignoredRequesters)} i
    ON ${IGNORED_MATCH}
),
strangers AS (
  SELECT u.requester, u.access_point, u.dataset, u.status_class,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM usage u
  LEFT JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
  LEFT JOIN ignored i ON i.requester = u.requester
  WHERE a.partner_id IS NULL AND i.requester IS NULL
  GROUP BY 1, 2, 3, 4
),
${unattributedTail(d, tables, p, request.top)}
ORDER BY r.position, b.dataset`;
  return { sql, params: p.values };
}

/**
 * The unattributed statement from `partner_datasets` to its final select, over a CTE `strangers`
 * (requester, access_point, dataset, status_class and the sums of unattributed, not ignored usage):
 * the top `top` pairs, by dataset, with the totals over every pair. No ORDER BY.
 */
export function unattributedTail<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  p: Parameters<P>,
  top: number,
): string {
  return `partner_datasets AS (
  SELECT DISTINCT s.dataset
  FROM (SELECT DISTINCT dataset FROM strangers WHERE dataset <> '-') s
  JOIN ${d.table(tables, tables.contractTerms)} t ON t.term = 'dataset' AND s.dataset LIKE t.match_key ESCAPE '\\'
),
by_dataset AS (
  SELECT s.requester, s.access_point, s.dataset,
    sum(s.requests) AS requests, sum(s.bytes_sent) AS bytes_sent, sum(s.records) AS records,
    max(CASE WHEN s.status_class IN ('2xx', '3xx') AND pd.dataset IS NOT NULL THEN 1 ELSE 0 END) AS touched
  FROM strangers s
  LEFT JOIN partner_datasets pd ON pd.dataset = s.dataset
  GROUP BY 1, 2, 3
),
by_pair AS (
  SELECT requester, access_point,
    sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, sum(records) AS records
  FROM by_dataset
  GROUP BY 1, 2
),
ranked_pairs AS (
  SELECT requester, access_point,
    row_number() OVER (ORDER BY requests DESC, requester, access_point) AS position,
    count(*) OVER () AS pairs_total,
    sum(requests) OVER () AS requests_total,
    sum(bytes_sent) OVER () AS bytes_sent_total,
    sum(records) OVER () AS records_total
  FROM by_pair
)
SELECT r.position, b.requester, b.access_point, b.dataset, b.requests, b.bytes_sent, b.records, b.touched,
  r.pairs_total, r.requests_total, r.bytes_sent_total, r.records_total
FROM by_dataset b
JOIN ranked_pairs r ON r.requester = b.requester AND r.access_point = b.access_point
WHERE r.position <= ${p.add(d.integer(top))}`;
}

/**
 * The attributed caches of one registry digest (functions/adapters/duckdb/attributed-daily.ts), read
 * for the whole days of the range, beside the daily pre-aggregate's zones (whose `zones` and edge
 * slots decide, as a daily read does, which days are whole and which come from the slot rows).
 */
export interface AttributedCache {
  readonly digest: string;
  /** digest, requester, access_point, partner_id, application_id, time_zone (NULLs: unattributed), ignored. */
  readonly pairs: string;
  /** digest, zone_id, batch, local_date, partner_id, application_id, dataset and the counted sums. */
  readonly counted: string;
  /** digest, zone_id, batch, local_date, requester, access_point, dataset, status_class and the sums. */
  readonly unattributed: string;
}

/** Whole days of `zones` (the zones CTE of a daily read) for a cache row `c`. */
const WHOLE_DAY = `(z.whole_first OR c.local_date > z.before_range)
    AND (z.whole_last OR c.local_date < z.end_date)`;

/**
 * {@link partnerDailyUsageSql} from the counted cache: whole local days are the cache's counted sums
 * (already attributed and filtered by the contract version in force); days the range cuts through the
 * data are attributed from the pairs cache and counted from the slot rows, as the daily read does.
 * Columns and order as partnerDailyUsageSql's. DuckDB only (the caches are the local engine's), hence
 * not named `...Sql`, the name of the builders test/support/athena-statements.ts samples for Trino.
 */
export function cachedPartnerDailyUsageStatement<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  request: PartnerDailyUsageRequest,
  daily: DailySource,
  cache: AttributedCache,
): AggregationQuery<P> {
  const p = new Parameters<P>();
  const dates = { from: request.fromDate, to: request.toDate };
  const ctes = dailyUsageCtes(d, tables, request.range, p, { source: daily, dates, only: 'edges' });
  const digest = () => p.add(d.text(cache.digest));
  const attributed = `attributed AS (
  SELECT requester, access_point, partner_id, application_id, time_zone FROM ${d.table(tables, cache.pairs)}
  WHERE digest = ${digest()} AND partner_id IS NOT NULL
)`;
  const byDay = `by_day AS (
  SELECT a.partner_id, a.application_id, u.dataset, u.operation, u.status_class, u.local_date,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM usage u
  JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
    AND a.time_zone = u.time_zone
  GROUP BY 1, 2, 3, 4, 5, 6
)`;
  const tail = countedTail(d, tables, p, dates);
  const sql = `WITH ${ctes},
${attributed},
${byDay},
${tail.ctes},
edge_counted AS (
${tail.select}
),
whole_days AS (
  SELECT c.partner_id, c.application_id, c.dataset, c.local_date, c.requests, c.bytes_sent, c.records
  FROM ${d.table(tables, cache.counted)} c
  JOIN zones z ON z.zone_id = c.zone_id
  WHERE c.digest = ${digest()}
    AND ${WHOLE_DAY}
    AND c.local_date >= ${p.add(d.text(checkDate('fromDate', dates.from)))}
    AND c.local_date < ${p.add(d.text(checkDate('toDate', dates.to)))}
)
SELECT partner_id, application_id, dataset, local_date,
  sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, sum(records) AS records
FROM (SELECT * FROM edge_counted UNION ALL SELECT * FROM whole_days)
GROUP BY partner_id, application_id, dataset, local_date
ORDER BY partner_id, application_id, dataset, local_date`;
  return { sql, params: p.values };
}

/**
 * {@link unattributedUsageSql} from the unattributed cache (one zone, UTC): whole days' unattributed
 * and not ignored usage from the cache, days the range cuts through the data from the slot rows with
 * the pairs cache's verdicts. Columns and order as unattributedUsageSql's. DuckDB only.
 */
export function cachedUnattributedUsageStatement<P>(
  d: AggregationDialect<P>,
  tables: AggregationTables,
  request: UnattributedUsageRequest,
  daily: DailySource,
  cache: AttributedCache,
): AggregationQuery<P> {
  if (!Number.isSafeInteger(request.top) || request.top < 1) {
    throw new SqlInputError(`top must be a whole number of at least 1, got ${request.top}`);
  }
  if (daily.zones.length !== 1) {
    throw new SqlInputError('unattributed usage reads the daily rows of one time zone');
  }
  const p = new Parameters<P>();
  const ctes = dailyUsageCtes(d, tables, request.range, p, { source: daily, only: 'edges' });
  const digest = () => p.add(d.text(cache.digest));
  const sql = `WITH ${ctes},
strangers AS (
  SELECT requester, access_point, dataset, status_class,
    sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, sum(records) AS records
  FROM (
    SELECT u.requester, u.access_point, u.dataset, u.status_class, u.requests, u.bytes_sent, u.records
    FROM usage u
    JOIN ${d.table(tables, cache.pairs)} a ON a.digest = ${digest()}
      AND a.requester = u.requester AND a.access_point = u.access_point
    WHERE a.partner_id IS NULL AND NOT a.ignored
    UNION ALL
    SELECT c.requester, c.access_point, c.dataset, c.status_class, c.requests, c.bytes_sent, c.records
    FROM ${d.table(tables, cache.unattributed)} c
    JOIN zones z ON z.zone_id = c.zone_id
    WHERE c.digest = ${digest()}
      AND ${WHOLE_DAY}
  )
  GROUP BY 1, 2, 3, 4
),
${unattributedTail(d, tables, p, request.top)}
ORDER BY r.position, b.dataset`;
  return { sql, params: p.values };
}
