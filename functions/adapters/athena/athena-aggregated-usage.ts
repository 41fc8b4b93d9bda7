/**
 * The AWS implementation of the AggregatedUsageSource port (issue 13): Athena attributes and sums the
 * rollup (usage-aggregation-sql.ts, Trino dialect, over the registry's Glue tables), UNLOADs the sums
 * to the report bucket as gzip JSON Lines (unload-sql.ts), and the caller reads back only what it
 * needs: one partner's folder, or the unattributed pairs. No result crosses GetQueryResults, so what a
 * Lambda pages through never grows with the rollup's rows, and no Lambda needs every partner's sums.
 *
 * The two halves are apart because on AWS they run in different steps: the aggregate step unloads
 * once per run ({@link AthenaUsageUnloader}, here); each partner's step, and the step that assembles the
 * evaluation, read (UnloadedUsageReader, unloaded-usage-reader.ts, which also joins both halves behind
 * the port as AthenaAggregatedUsageSource for a caller that does both in one process). Apart, too, so
 * that a step that only unloads does not import the S3 reads (test/infra/iam-permissions.test.ts).
 *
 * The registry tables Athena attributes with are those the stack deployed with the registry
 * (lib/constructs/registry-tables.ts), so the registry a caller passes must be the deployed one; the
 * steps check that by the registry's hash (functions/handlers/aggregate.handler.ts).
 */
import type { HoldingsRequest, PartnerDailyUsageRequest, UnattributedUsageRequest } from '../../ports.js';
import type { HoldingsTables } from '../sql/holdings-sql.js';
import type { NetworkFindingsRequest } from '../sql/network-findings-sql.js';
import type { AggregationTables } from '../sql/usage-aggregation-sql.js';
import type { AthenaQueryRunner } from './athena-client.js';
import type { RecordedQuery } from './athena-usage-source.js';
import { SqlInputError, type SqlQuery } from './sql.js';
import {
  unloadHeldDatasetsSql,
  unloadHeldDaysSql,
  unloadLocation,
  unloadNetworkFindingsSql,
  unloadPartnerDailyUsageSql,
  unloadUnattributedUsageSql,
} from './unload-sql.js';

/** Where a run's unloaded sums live: two folders of one bucket. */
export interface UnloadedUsageLocation {
  readonly bucket: string;
  /** Folder of the daily sums, one `partner_id=<id>/` folder per partner, ending in `/`. */
  readonly dailyPrefix: string;
  /** Folder of the unattributed pairs, ending in `/`. */
  readonly unattributedPrefix: string;
  /**
   * Folders of what each partner holds per dataset, and of its distinct objects first read per day
   * (functions/domain/HOLDINGS.md), one `partner_id=<id>/` folder per partner, each ending in `/`;
   * absent when the registry keeps no holdings (settings.holdings).
   */
  readonly heldPrefix?: string;
  readonly heldDaysPrefix?: string;
  /**
   * Folder of the network findings over the window's dates, one `partner_id=<id>/` folder per partner
   * with findings; absent when the run computed none (no application declares networks).
   */
  readonly networkPrefix?: string;
  /**
   * Folder of the network findings over the dates of the periods evaluated (what the unexplained-access
   * notice asks, NETWORKS.md), when they differ from the window's; else the same as networkPrefix.
   */
  readonly networkNoticePrefix?: string;
}

/** The folders under `runs/<runId>/aggregate/` the network findings UNLOADs write into (per submission). */
export const NETWORK_FINDINGS_FOLDERS = {
  window: 'aggregate/network/',
  notice: 'aggregate/network-notice/',
} as const;

/**
 * The folders of a run's aggregation under `runs/<runId>/aggregate/`; with `holdings`, also the
 * holdings' folders.
 */
export function unloadedUsageLocation(
  bucket: string,
  runPrefix: string,
  holdings = false,
): UnloadedUsageLocation {
  return {
    bucket,
    dailyPrefix: `${runPrefix}aggregate/daily/`,
    unattributedPrefix: `${runPrefix}aggregate/unattributed/`,
    ...(holdings
      ? { heldPrefix: `${runPrefix}aggregate/held/`, heldDaysPrefix: `${runPrefix}aggregate/held-days/` }
      : {}),
  };
}

/**
 * Athena's (Hive's) escaping of a partition value in a folder name: the characters a path cannot
 * hold as they are become `%XX`. Registry ids are `[a-z0-9][a-z0-9-_]*`, which it leaves alone.
 */
export function partitionFolder(column: string, value: string): string {
  const escaped = value.replace(
    /[\x00-\x1f"#%'*/:=?\\\x7f{[\]^]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
  return `${column}=${escaped}/`;
}

function span(request: UnattributedUsageRequest): string {
  return `${new Date(request.range.startMs).toISOString()}..${new Date(request.range.endMs).toISOString()}`;
}

/** Runs the UNLOADs of one run. Keeps what each statement scanned, for the report. */
export class AthenaUsageUnloader {
  private readonly recorded: RecordedQuery[] = [];

  constructor(
    private readonly runner: AthenaQueryRunner,
    private readonly tables: AggregationTables,
    /** Makes the queries' ClientRequestTokens unique to this audit run. */
    private readonly runId: string,
  ) {}

  /** Unloads the daily sums of `request` into `location.dailyPrefix`, by partner. */
  async unloadPartnerDailyUsage(
    request: PartnerDailyUsageRequest,
    location: UnloadedUsageLocation,
  ): Promise<RecordedQuery> {
    const query = unloadPartnerDailyUsageSql(
      this.tables,
      request,
      unloadLocation(location.bucket, location.dailyPrefix),
    );
    const out = await this.runner.run(query, this.runId);
    return this.record(`daily usage by partner ${request.fromDate}..${request.toDate}`, query, out);
  }

  /** Unloads the unattributed pairs of `request` into `location.unattributedPrefix`. */
  async unloadUnattributedUsage(
    request: UnattributedUsageRequest,
    location: UnloadedUsageLocation,
  ): Promise<RecordedQuery> {
    const query = unloadUnattributedUsageSql(
      this.tables,
      request,
      unloadLocation(location.bucket, location.unattributedPrefix),
    );
    const out = await this.runner.run(query, this.runId);
    return this.record(`unattributed usage ${span(request)}`, query, out);
  }

  /**
   * As {@link unloadPartnerDailyUsage}, for a step that may be retried: each submission writes into a
   * folder of its own, `<location.dailyPrefix><tag>/` (AthenaQueryRunner.runPerSubmission), so a retry
   * never meets the folder an earlier submission wrote (part of), and a retry that resumes a succeeded
   * execution reuses its folder without running it again. Returns `location` with the folder written.
   */
  async unloadPartnerDailyUsagePerSubmission(
    request: PartnerDailyUsageRequest,
    location: UnloadedUsageLocation,
  ): Promise<UnloadedUsageLocation> {
    const dailyPrefix = await this.unloadPerSubmission(
      `daily usage by partner ${request.fromDate}..${request.toDate}`,
      location.bucket,
      location.dailyPrefix,
      (target) => unloadPartnerDailyUsageSql(this.tables, request, target),
    );
    return { ...location, dailyPrefix };
  }

  /** As {@link unloadUnattributedUsage}, a folder per submission as {@link unloadPartnerDailyUsagePerSubmission}. */
  async unloadUnattributedUsagePerSubmission(
    request: UnattributedUsageRequest,
    location: UnloadedUsageLocation,
  ): Promise<UnloadedUsageLocation> {
    const unattributedPrefix = await this.unloadPerSubmission(
      `unattributed usage ${span(request)}`,
      location.bucket,
      location.unattributedPrefix,
      (target) => unloadUnattributedUsageSql(this.tables, request, target),
    );
    return { ...location, unattributedPrefix };
  }

  /**
   * Unloads what each partner holds over `request` (the rollup table's held grain, HOLDINGS.md) into
   * `location.heldPrefix` and `location.heldDaysPrefix`, by partner, a folder per submission as
   * {@link unloadPartnerDailyUsagePerSubmission}. Returns `location` with the folders written.
   */
  async unloadHoldingsPerSubmission(
    request: HoldingsRequest,
    location: UnloadedUsageLocation,
  ): Promise<UnloadedUsageLocation> {
    const { heldPrefix, heldDaysPrefix } = location;
    if (heldPrefix === undefined || heldDaysPrefix === undefined)
      throw new SqlInputError('unloadHoldingsPerSubmission: the location has no holdings folders');
    const tables = this.holdingsTables();
    const span = `${request.fromDate}..${request.toDate}`;
    const held = await this.unloadPerSubmission(
      `holdings by partner ${span}`,
      location.bucket,
      heldPrefix,
      (target) => unloadHeldDatasetsSql(tables, request, target),
    );
    const days = await this.unloadPerSubmission(
      `holdings over time by partner ${span}`,
      location.bucket,
      heldDaysPrefix,
      (target) => unloadHeldDaysSql(tables, request, target),
    );
    return { ...location, heldPrefix: held, heldDaysPrefix: days };
  }

  /** On AWS the holdings are the rollup table's held grain. */
  private holdingsTables(): HoldingsTables {
    return { ...this.tables, holdings: this.tables.rollup };
  }

  /**
   * Unloads the network findings of `request` (local dates in each partner's zone) over the registry's
   * declared-networks table `networks`, by partner, into `<prefix><tag>/` per submission as
   * {@link unloadPartnerDailyUsagePerSubmission}; returns the folder written.
   */
  unloadNetworkFindingsPerSubmission(
    networks: string,
    request: NetworkFindingsRequest,
    bucket: string,
    prefix: string,
  ): Promise<string> {
    return this.unloadPerSubmission(
      `network findings ${request.fromDate}..${request.toDate}`,
      bucket,
      prefix,
      (target) => unloadNetworkFindingsSql({ ...this.tables, networks }, request, target),
    );
  }

  /** Runs `unload` into `<prefix><tag>/` per submission; the folder the successful one wrote. */
  private async unloadPerSubmission(
    purpose: string,
    bucket: string,
    prefix: string,
    unload: (target: string) => SqlQuery,
  ): Promise<string> {
    let folder = prefix;
    const out = await this.runner.runPerSubmission(
      unload(unloadLocation(bucket, prefix)),
      this.runId,
      (tag) => {
        folder = `${prefix}${tag}/`;
        return unload(unloadLocation(bucket, folder));
      },
    );
    this.record(purpose, out.query, out);
    return folder;
  }

  get queries(): readonly RecordedQuery[] {
    return this.recorded;
  }

  get bytesScanned(): number {
    return this.recorded.reduce((n, q) => n + q.bytesScanned, 0);
  }

  private record(
    purpose: string,
    query: { sql: string; params: readonly string[] },
    out: { queryExecutionId: string; bytesScanned: number },
  ): RecordedQuery {
    const q: RecordedQuery = {
      purpose,
      sql: query.sql,
      params: query.params,
      queryExecutionId: out.queryExecutionId,
      bytesScanned: out.bytesScanned,
    };
    this.recorded.push(q);
    return q;
  }
}
