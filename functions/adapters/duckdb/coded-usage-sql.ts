/**
 * The slot path's two statements (usage-aggregation-sql.ts `partnerDailyUsageSql` and
 * `unattributedUsageSql` without a daily source) over the rollup as the local state stores it, by
 * integer code (schema.ts: `rollup_rows` and `rollup_strings`): the same columns, rows and order, but
 * the slot rows are grouped by their codes first and strings joined after, once per distinct code.
 *
 * Read through the decoding view `rollup`, every slot row's six strings were looked up before the
 * statement compared them, and the statement then joined and grouped by strings: at 4 partners (5.9 M
 * slot rows) that made the slot path 1.7 to 2.6 times slower than the table of strings it replaced
 * (BENCHMARKS.md, issue 15). Here only the distinct requester and access point pairs of the range are
 * decoded and attributed (by the shared CTEs, unchanged), the slot rows join the attribution by code,
 * and dataset, operation and status class are decoded after the grouping by partner, application and
 * local day (or, unattributed, by pair, dataset and status class).
 *
 * Each read first writes the range's pairs and their verdicts (SLOT_PAIRS, a few thousand rows) and,
 * for counted use, the local day of each slot in each zone (SLOT_DAYS) into TEMP tables, then reads the
 * slot rows against them. In one statement DuckDB estimated those CTEs (joins, a window, a cross join)
 * at billions of rows and built its hash tables on the 5.9 M slot rows instead, which cost more than
 * the codes saved; a table's row count is exact.
 *
 * DuckDB only (Athena's rollup is not coded), hence named `...Statement`, not `...Sql` (the builders
 * test/support/athena-statements.ts samples for Trino).
 */
import type { Interval } from '../../domain/time.js';
import type { PartnerDailyUsageRequest, UnattributedUsageRequest } from '../../ports.js';
import { SqlInputError } from '../athena/sql.js';
import {
  type AggregationQuery,
  type AggregationTables,
  attributionCtes,
  countedTail,
  DUCKDB,
  IGNORED_MATCH,
  Parameters,
  unattributedTail,
} from '../sql/usage-aggregation-sql.js';

type P = string | number;
const d = DUCKDB;

/** The coded rollup's tables (schema.ts). */
const ROWS = '"rollup_rows"';
const STRINGS = '"rollup_strings"';
/** The coded rollup's tables, for a daily read's edges (usage-aggregation-sql.ts, DailySource `coded`). */
export const CODED_SLOT_ROWS = Object.freeze({ rows: ROWS, strings: STRINGS });

/** The TEMP table of the range's pairs (see the file's comment); replaced by each read. */
export const SLOT_PAIRS = 'slot_pairs';
/** The TEMP table of the range's slots' local days in the attributed pairs' zones; likewise. */
export const SLOT_DAYS = 'slot_days';

/** A read of the coded slot rows: the `prepare` statements write the TEMP tables, then `query` reads. */
export interface CodedRead {
  readonly prepare: readonly AggregationQuery<P>[];
  readonly query: AggregationQuery<P>;
  /** The TEMP tables `prepare` wrote, for the caller to drop after reading. */
  readonly temporary: readonly string[];
}

/** The slot rows of `range`, codes as stored, as the CTE `coded`. */
function codedCte(range: Interval, p: Parameters<P>): string {
  const slot = d.slotParameter;
  return `coded AS ${d.inlineCte}(
  SELECT slot_start, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records
  FROM ${ROWS}
  WHERE slot_start >= ${slot.replace('?', p.add(d.instant(range.startMs)))}
    AND slot_start < ${slot.replace('?', p.add(d.instant(range.endMs)))}
)`;
}

/**
 * SLOT_PAIRS for `range`: each distinct requester and access point code pair of the slot rows, with
 * the partner application and zone the shared attribution CTEs give its strings (NULL: unattributed)
 * and whether the registry ignores its requester (unattributedUsageSql's `ignored`).
 */
function slotPairs(tables: AggregationTables, range: Interval): AggregationQuery<P> {
  const p = new Parameters<P>();
  const sql = `CREATE OR REPLACE TEMP TABLE ${SLOT_PAIRS} AS
WITH ${codedCte(range, p)},
coded_pairs AS (
  SELECT q.value AS requester, a.value AS access_point,
    c.requester AS requester_code, c.access_point AS access_point_code
  FROM (SELECT DISTINCT requester, access_point FROM coded) c
  JOIN ${STRINGS} q ON q.id = c.requester
  JOIN ${STRINGS} a ON a.id = c.access_point
),
${attributionCtes(d, tables, range, p, () => 'SELECT * FROM coded_pairs')},
ignored AS (
  SELECT DISTINCT q.requester
  FROM pairs q
  JOIN ${d.table(tables, tables.ignoredRequesters)} i
    ON ${IGNORED_MATCH}
)
SELECT u.requester_code, u.access_point_code, a.partner_id, a.application_id, a.time_zone,
  i.requester IS NOT NULL AS ignored
FROM usage u
LEFT JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
LEFT JOIN ignored i ON i.requester = u.requester`;
  return { sql, params: p.values };
}

/**
 * `partnerDailyUsageSql(DUCKDB, tables, request)` over the coded rollup: counted use per partner,
 * application, dataset and local day; the same columns, rows and order.
 */
export function codedPartnerDailyUsageStatement(
  tables: AggregationTables,
  request: PartnerDailyUsageRequest,
): CodedRead {
  const p = new Parameters<P>();
  const dates = { from: request.fromDate, to: request.toDate };
  const coded = codedCte(request.range, p);
  const tail = countedTail(d, tables, p, dates);
  const sql = `WITH ${coded},
attributed_codes AS (
  SELECT requester_code, access_point_code, partner_id, application_id, time_zone
  FROM ${SLOT_PAIRS} WHERE partner_id IS NOT NULL
),
by_day_coded AS (
  SELECT a.partner_id, a.application_id, u.dataset, u.operation, u.status_class, z.local_date,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM coded u
  JOIN attributed_codes a ON a.requester_code = u.requester AND a.access_point_code = u.access_point
  JOIN ${SLOT_DAYS} z ON z.slot_start = u.slot_start AND z.time_zone = a.time_zone
  GROUP BY 1, 2, 3, 4, 5, 6
),
by_day AS (
  SELECT b.partner_id, b.application_id, t.value AS dataset, o.value AS operation, c.value AS status_class,
    b.local_date, b.requests, b.bytes_sent, b.records
  FROM by_day_coded b
  JOIN ${STRINGS} t ON t.id = b.dataset
  JOIN ${STRINGS} o ON o.id = b.operation
  JOIN ${STRINGS} c ON c.id = b.status_class
),
${tail.ctes}
${tail.select}
ORDER BY g.partner_id, g.application_id, g.dataset, g.local_date`;
  return {
    prepare: [slotPairs(tables, request.range), slotDays(request.range)],
    query: { sql, params: p.values },
    temporary: [SLOT_PAIRS, SLOT_DAYS],
  };
}

/**
 * SLOT_DAYS for `range` (after SLOT_PAIRS): each slot of the range's rows with its local date in each
 * zone of an attributed pair, converted once per distinct slot and zone (partnerDailyUsageSql's
 * `slot_days`).
 */
function slotDays(range: Interval): AggregationQuery<P> {
  const p = new Parameters<P>();
  const sql = `CREATE OR REPLACE TEMP TABLE ${SLOT_DAYS} AS
WITH ${codedCte(range, p)}
SELECT s.slot_start, z.time_zone, ${d.localDate('s.slot_start', 'z.time_zone')} AS local_date
FROM (SELECT DISTINCT slot_start FROM coded) s
CROSS JOIN (SELECT DISTINCT time_zone FROM ${SLOT_PAIRS} WHERE partner_id IS NOT NULL) z`;
  return { sql, params: p.values };
}

/**
 * `unattributedUsageSql(DUCKDB, tables, request)` over the coded rollup: the busiest `top`
 * unattributed pairs by dataset, with the totals; the same columns, rows and order.
 */
export function codedUnattributedUsageStatement(
  tables: AggregationTables,
  request: UnattributedUsageRequest,
): CodedRead {
  if (!Number.isSafeInteger(request.top) || request.top < 1) {
    throw new SqlInputError(`top must be a whole number of at least 1, got ${request.top}`);
  }
  const p = new Parameters<P>();
  const coded = codedCte(request.range, p);
  const sql = `WITH ${coded},
strangers_coded AS (
  SELECT u.requester, u.access_point, u.dataset, u.status_class,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM coded u
  JOIN ${SLOT_PAIRS} a ON a.requester_code = u.requester AND a.access_point_code = u.access_point
    AND a.partner_id IS NULL AND NOT a.ignored
  GROUP BY 1, 2, 3, 4
),
strangers AS (
  SELECT q.value AS requester, a.value AS access_point, t.value AS dataset, c.value AS status_class,
    s.requests, s.bytes_sent, s.records
  FROM strangers_coded s
  JOIN ${STRINGS} q ON q.id = s.requester
  JOIN ${STRINGS} a ON a.id = s.access_point
  JOIN ${STRINGS} t ON t.id = s.dataset
  JOIN ${STRINGS} c ON c.id = s.status_class
),
${unattributedTail(d, tables, p, request.top)}
ORDER BY r.position, b.dataset`;
  return {
    prepare: [slotPairs(tables, request.range)],
    query: { sql, params: p.values },
    temporary: [SLOT_PAIRS],
  };
}
