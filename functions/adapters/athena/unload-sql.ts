/**
 * The aggregation statements (functions/adapters/sql/usage-aggregation-sql.ts, Trino dialect) wrapped in
 * Athena's UNLOAD, so that their results leave through S3 as gzip JSON Lines rather than through
 * GetQueryResults pages (issue 13): the daily sums partitioned by partner (`partner_id=<id>/` folders,
 * Hive style, as Athena writes `partitioned_by`), so that each partner's evaluation reads only its own
 * part, and the unattributed pairs in one folder.
 *
 * Counts leave as text: Athena writes a bigint into JSON as a number, which JavaScript's JSON.parse
 * rounds past 2^53; as varchar they reach BigInt exactly.
 *
 * Athena refuses an UNLOAD to a location that already holds objects, so each location is the run's
 * own (`runs/<runId>/aggregate/...`), and within it the submission's own (`.../<tag>/`, named after its
 * ClientRequestToken by AthenaQueryRunner.runPerSubmission): a step retry presents the same token and
 * gets the same execution, and its folder, back rather than unloading a second time; a new submission
 * (after a failure that may have written part of a folder) writes into an empty folder.
 */
import type { HoldingsRequest } from '../../ports.js';
import { type HoldingsTables, heldDatasetsSql, heldDaysSql, TRINO_HOLDINGS } from '../sql/holdings-sql.js';
import {
  NETWORK_FINDING_COLUMNS,
  type NetworkFindingsRequest,
  type NetworkFindingsTables,
  networkFindingsSql,
} from '../sql/network-findings-sql.js';
import {
  type AggregationTables,
  type PartnerDailyUsageRequest,
  partnerDailyUsageSql,
  TRINO,
  type UnattributedUsageRequest,
  unattributedUsageSql,
} from '../sql/usage-aggregation-sql.js';
import { SqlInputError, type SqlQuery } from './sql.js';

/** An S3 folder an UNLOAD may write to: `s3://bucket/some/prefix/`, nothing that could end a literal. */
const UNLOAD_LOCATION = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/(?:[A-Za-z0-9._=-]+\/)+$/;

/** The folder `s3://bucket/prefix` names, checked. */
export function unloadLocation(bucket: string, prefix: string): string {
  const location = `s3://${bucket}/${prefix}`;
  if (!UNLOAD_LOCATION.test(location) || prefix.split('/').some((s) => s === '.' || s === '..')) {
    throw new SqlInputError(
      `"${location}" is not an UNLOAD location (s3://bucket/prefix/ of letters, digits, . _ = -)`,
    );
  }
  return location;
}

/** The columns the daily UNLOAD writes, in order, before the partition column `partner_id`. */
export const DAILY_UNLOAD_COLUMNS = [
  'application_id',
  'dataset',
  'local_date',
  'requests',
  'bytes_sent',
  'records',
] as const;

/** The columns the unattributed UNLOAD writes, in order. */
export const UNATTRIBUTED_UNLOAD_COLUMNS = [
  'position',
  'requester',
  'access_point',
  'dataset',
  'requests',
  'bytes_sent',
  'records',
  'touched',
] as const;

/** The columns the network findings UNLOAD writes, in order, before the partition column `partner_id`. */
export const NETWORK_FINDINGS_UNLOAD_COLUMNS = NETWORK_FINDING_COLUMNS.filter((c) => c !== 'partner_id');

function unload(select: string, location: string, partitionedBy?: string): string {
  const partition = partitionedBy ? `, partitioned_by = ARRAY['${partitionedBy}']` : '';
  return `UNLOAD (${select})
TO '${location}'
WITH (format = 'JSON', compression = 'GZIP'${partition})`;
}

/**
 * partnerDailyUsageSql's rows written to `location`, one folder per partner (`partner_id=<id>/`):
 * columns DAILY_UNLOAD_COLUMNS, counts as text. Athena wants the partition column last.
 */
export function unloadPartnerDailyUsageSql(
  tables: AggregationTables,
  request: PartnerDailyUsageRequest,
  location: string,
): SqlQuery {
  const inner = partnerDailyUsageSql(TRINO, tables, request);
  const select = `SELECT application_id, dataset, local_date,
  CAST(requests AS varchar) AS requests, CAST(bytes_sent AS varchar) AS bytes_sent,
  CAST(records AS varchar) AS records, partner_id
FROM (${inner.sql}) daily`;
  return { sql: unload(select, checkLocation(location), 'partner_id'), params: inner.params };
}

/**
 * The network findings (network-findings-sql.ts, Trino dialect: the rollup's network grain) written to
 * `location`, one folder per partner (`partner_id=<id>/`): columns NETWORK_FINDINGS_UNLOAD_COLUMNS,
 * counts and instants as text; by_partner and by_application null for an outside finding.
 */
export function unloadNetworkFindingsSql(
  tables: NetworkFindingsTables,
  request: NetworkFindingsRequest,
  location: string,
): SqlQuery {
  const inner = networkFindingsSql(TRINO, tables, request);
  const text = new Set(['requests', 'bytes_sent', 'first_ms', 'last_ms', 'first_ever_ms']);
  const select = `SELECT ${NETWORK_FINDINGS_UNLOAD_COLUMNS.map((c) => (text.has(c) ? `CAST(${c} AS varchar) AS ${c}` : c)).join(', ')},
  partner_id
FROM (${inner.sql}) findings`;
  return { sql: unload(select, checkLocation(location), 'partner_id'), params: inner.params };
}

/** unattributedUsageSql's rows written to `location` in one folder: UNATTRIBUTED_UNLOAD_COLUMNS, counts as text. */
export function unloadUnattributedUsageSql(
  tables: AggregationTables,
  request: UnattributedUsageRequest,
  location: string,
): SqlQuery {
  const inner = unattributedUsageSql(TRINO, tables, request);
  const select = `SELECT CAST(position AS varchar) AS position, requester, access_point, dataset,
  CAST(requests AS varchar) AS requests, CAST(bytes_sent AS varchar) AS bytes_sent,
  CAST(records AS varchar) AS records, CAST(touched AS varchar) AS touched
FROM (${inner.sql}) strangers`;
  return { sql: unload(select, checkLocation(location)), params: inner.params };
}

function checkLocation(location: string): string {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(location);
  return unloadLocation(m?.[1] ?? '', m?.[2] ?? '');
}

/** The columns the held-datasets UNLOAD writes, in order, before the partition column `partner_id`. */
export const HELD_DATASETS_UNLOAD_COLUMNS = [
  'application_id',
  'dataset',
  'objects',
  'partial_objects',
  'unknown_size_objects',
  'object_bytes',
  'records',
  'retrievals',
  'full_retrievals',
  'bytes_sent',
  'first_ms',
  'last_ms',
] as const;

/** The columns the held-days UNLOAD writes, in order, before the partition column `partner_id`. */
export const HELD_DAYS_UNLOAD_COLUMNS = ['application_id', 'dataset', 'local_date', 'new_objects'] as const;

/**
 * heldDatasetsSql's rows (functions/adapters/sql/holdings-sql.ts, Trino dialect: the rollup table's held
 * grain) written to `location`, one folder per partner (`partner_id=<id>/`): columns
 * HELD_DATASETS_UNLOAD_COLUMNS, counts and instants as text.
 */
export function unloadHeldDatasetsSql(
  tables: HoldingsTables,
  request: HoldingsRequest,
  location: string,
): SqlQuery {
  const inner = heldDatasetsSql(TRINO_HOLDINGS, tables, request);
  const counts = HELD_DATASETS_UNLOAD_COLUMNS.slice(2)
    .map((c) => `CAST(${c} AS varchar) AS ${c}`)
    .join(', ');
  const select = `SELECT application_id, dataset, ${counts}, partner_id
FROM (${inner.sql}) held`;
  return { sql: unload(select, checkLocation(location), 'partner_id'), params: inner.params };
}

/** heldDaysSql's rows written to `location` by partner: columns HELD_DAYS_UNLOAD_COLUMNS. */
export function unloadHeldDaysSql(
  tables: HoldingsTables,
  request: HoldingsRequest,
  location: string,
): SqlQuery {
  const inner = heldDaysSql(TRINO_HOLDINGS, tables, request);
  const select = `SELECT application_id, dataset, local_date, CAST(new_objects AS varchar) AS new_objects, partner_id
FROM (${inner.sql}) held_days`;
  return { sql: unload(select, checkLocation(location), 'partner_id'), params: inner.params };
}
