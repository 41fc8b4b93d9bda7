/**
 * The local engine's attribution and aggregation in SQL: the registry's tables
 * (functions/domain/attribution-table.ts) written into DuckDB, and the statements of
 * functions/adapters/sql/usage-aggregation-sql.ts run over the rollup, so that JavaScript receives sums
 * per partner, application, dataset and local day instead of every rollup row.
 *
 * The registry tables are TEMP tables of the connection: they are derived data, rewritten from the
 * registry before each evaluation (a registry change applies to past usage without reading logs
 * again), and never part of the state file's schema.
 */
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { type AttributionTables, attributionTables, LIKE_ESCAPE } from '../../domain/attribution-table.js';
import type { Registry } from '../../domain/registry.js';
import type { AggregatedUsageSource, DailyUsage, UnattributedDatasetUsage } from '../../ports.js';
import {
  type AggregationQuery,
  type AggregationTables,
  type AttributedCache,
  cachedPartnerDailyUsageStatement,
  cachedUnattributedUsageStatement,
  type DailySource,
  DUCKDB,
  type PartnerDailyUsageRequest,
  partnerDailyUsageSql,
  type UnattributedUsageRequest,
  unattributedUsageSql,
} from '../sql/usage-aggregation-sql.js';
import {
  type AttributedDailyOptions,
  type AttributedDailyRefresh,
  attributedCache,
  attributedDigest,
  refreshAttributedDaily,
} from './attributed-daily.js';
import {
  CODED_SLOT_ROWS,
  type CodedRead,
  codedPartnerDailyUsageStatement,
  codedUnattributedUsageStatement,
} from './coded-usage-sql.js';
import {
  DAILY_ROLLUP_TABLES,
  type DailyRollupOptions,
  type DailyRollupRefresh,
  refreshDailyRollup,
} from './daily-rollup.js';
import type { DuckDbDatabase } from './duckdb-database.js';
import { withLoweredMemoryLimit } from './memory-limit.js';

/** The table names the local statements read. */
export const LOCAL_AGGREGATION_TABLES: AggregationTables = Object.freeze({
  rollup: 'rollup',
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
});

/** One row of {@link DuckDbUsageAggregation.partnerDailyUsage}: counted use of one local day. */
export type PartnerDailyUsage = DailyUsage;

/** One row of {@link DuckDbUsageAggregation.unattributedUsage}. */
export interface UnattributedUsage extends UnattributedDatasetUsage {
  /** 1 for the pair with the most requests. */
  readonly position: number;
  /** Totals over every unattributed pair, not only the top N. */
  readonly totals: {
    readonly pairs: number;
    readonly requests: bigint;
    readonly bytesSent: bigint;
    readonly records: bigint;
  };
}

/**
 * The text a LIKE pattern (escape `\`) requires at the start of every match: its characters before
 * the first unescaped `%` or `_`, unescaped. A registry glob's patterns hold `%` for `*` and escape
 * every literal `%`, `_` and `\` (attribution-table.ts `globToLike`).
 */
export function likeLiteralPrefix(pattern: string): string {
  let prefix = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '%' || c === '_') break;
    if (c === LIKE_ESCAPE) {
      i++;
      if (i < pattern.length) prefix += pattern[i];
      continue;
    }
    prefix += c;
  }
  return prefix;
}

/** Replaces the registry tables of `connection` with `registry`'s. */
export async function writeAttributionTables(
  connection: DuckDBConnection,
  registry: Registry,
  names: AggregationTables = LOCAL_AGGREGATION_TABLES,
): Promise<AttributionTables> {
  const t = attributionTables(registry);
  const { principals, contractTerms, ignoredRequesters } = names;
  // literal_prefix: a glob's text before its first wildcard, for the DuckDB dialect's prefix join.
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${principals} (
    rank INTEGER NOT NULL, match_on VARCHAR NOT NULL, match_key VARCHAR NOT NULL,
    partner_id VARCHAR NOT NULL, application_id VARCHAR NOT NULL, time_zone VARCHAR NOT NULL,
    literal_prefix VARCHAR NOT NULL)`);
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${contractTerms} (
    partner_id VARCHAR NOT NULL, contract_ordinal INTEGER NOT NULL, contract_id VARCHAR NOT NULL,
    effective_from VARCHAR NOT NULL, effective_to VARCHAR, term VARCHAR NOT NULL, match_key VARCHAR NOT NULL)`);
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${ignoredRequesters} (
    match_key VARCHAR NOT NULL, anonymous BOOLEAN NOT NULL)`);
  const column = <R>(rows: readonly R[], pick: (r: R) => string | number | boolean | null) =>
    listValue(rows.map(pick));
  if (t.principals.length > 0) {
    await connection.run(
      `INSERT INTO ${principals} SELECT unnest($1::INTEGER[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]),
        unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[]), unnest($7::VARCHAR[])`,
      [
        column(t.principals, (r) => r.rank),
        column(t.principals, (r) => r.match_on),
        column(t.principals, (r) => r.match_key),
        column(t.principals, (r) => r.partner_id),
        column(t.principals, (r) => r.application_id),
        column(t.principals, (r) => r.time_zone),
        column(t.principals, (r) => (r.match_on === 'glob' ? likeLiteralPrefix(r.match_key) : '')),
      ],
    );
  }
  if (t.terms.length > 0) {
    await connection.run(
      `INSERT INTO ${contractTerms} SELECT unnest($1::VARCHAR[]), unnest($2::INTEGER[]), unnest($3::VARCHAR[]),
        unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[]), unnest($7::VARCHAR[])`,
      [
        column(t.terms, (r) => r.partner_id),
        column(t.terms, (r) => r.contract_ordinal),
        column(t.terms, (r) => r.contract_id),
        column(t.terms, (r) => r.effective_from),
        column(t.terms, (r) => r.effective_to),
        column(t.terms, (r) => r.term),
        column(t.terms, (r) => r.match_key),
      ],
    );
  }
  if (t.ignored.length > 0) {
    await connection.run(
      `INSERT INTO ${ignoredRequesters} SELECT unnest($1::VARCHAR[]), unnest($2::BOOLEAN[])`,
      [column(t.ignored, (r) => r.match_key), column(t.ignored, (r) => r.anonymous)],
    );
  }
  return t;
}

/**
 * Runs the aggregation statements on a connection whose registry tables {@link writeAttributionTables}
 * wrote; {@link DuckDbAggregatedUsageSource} offers it as the port, on the database's serial queue.
 */
export class DuckDbUsageAggregation {
  /**
   * @param daily where given, the statements read the daily pre-aggregate of these zones (which
   *   {@link refreshDailyRollup} brought up to date) instead of the slot rows: every zone a partner of
   *   the registry tables uses for counted usage; UTC for unattributed usage.
   * @param cache where given (with `daily`), whole days come from the attributed caches of this digest
   *   (attributed-daily.ts, brought up to date by {@link refreshAttributedDaily}) instead.
   */
  constructor(
    private readonly connection: DuckDBConnection,
    private readonly tables: AggregationTables = LOCAL_AGGREGATION_TABLES,
    private readonly daily?: { readonly partners: DailySource; readonly unattributed: DailySource },
    private readonly cache?: AttributedCache,
  ) {}

  /** Counted use per partner, application, dataset and local day (usage-aggregation-sql.ts). */
  async partnerDailyUsage(request: PartnerDailyUsageRequest): Promise<PartnerDailyUsage[]> {
    const q = await this.partnerDailyQuery(request);
    try {
      const reader = await this.connection.runAndReadAll(q.sql, [...q.params]);
      // An empty result has no column vectors at all.
      if (reader.currentRowCount === 0) return [];
      return dailyRowsOf(reader.getColumns(), 0, reader.currentRowCount);
    } finally {
      await this.dropTemporary(q.temporary);
    }
  }

  /**
   * {@link partnerDailyUsage}, partner by partner: the statement's result (ordered by partner) is
   * streamed chunk by chunk, and each partner's rows are handed to `visit` as soon as the next
   * partner's first row shows they are complete, so that JavaScript never holds more than one
   * partner's rows and one chunk (the statement's sort stays in DuckDB, under its memory limit).
   * Partners without counted use are not visited. Returns the rows read.
   *
   * @throws Error when a partner's rows are not contiguous (the statement's order broken).
   */
  async eachPartnerDailyUsage(
    request: PartnerDailyUsageRequest,
    visit: (partnerId: string, rows: PartnerDailyUsage[]) => void,
  ): Promise<number> {
    const q = await this.partnerDailyQuery(request);
    try {
      return await this.streamPartners(q, visit);
    } finally {
      await this.dropTemporary(q.temporary);
    }
  }

  private async streamPartners(
    q: AggregationQuery<string | number>,
    visit: (partnerId: string, rows: PartnerDailyUsage[]) => void,
  ): Promise<number> {
    const result = await this.connection.stream(q.sql, [...q.params]);
    const seen = new Set<string>();
    let partner: string | undefined;
    let rows: PartnerDailyUsage[] = [];
    let read = 0;
    const hand = () => {
      if (partner !== undefined) visit(partner, rows);
    };
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      read += chunk.rowCount;
      for (const row of dailyRowsOf(chunk.getColumns(), 0, chunk.rowCount)) {
        if (row.partnerId !== partner) {
          hand();
          if (seen.has(row.partnerId)) {
            throw new Error(`partner "${row.partnerId}"'s daily rows are not contiguous in the result`);
          }
          seen.add(row.partnerId);
          partner = row.partnerId;
          rows = [];
        }
        rows.push(row);
      }
    }
    hand();
    return read;
  }

  private async partnerDailyQuery(request: PartnerDailyUsageRequest): Promise<Prepared> {
    if (this.daily && this.cache) {
      return unprepared(
        cachedPartnerDailyUsageStatement(DUCKDB, this.tables, request, this.daily.partners, this.cache),
      );
    }
    if (this.daily)
      return unprepared(partnerDailyUsageSql(DUCKDB, this.tables, request, this.daily.partners));
    if (!this.codedSlots()) return unprepared(partnerDailyUsageSql(DUCKDB, this.tables, request));
    return this.prepared(codedPartnerDailyUsageStatement(this.tables, request));
  }

  private async unattributedQuery(request: UnattributedUsageRequest): Promise<Prepared> {
    if (this.daily && this.cache) {
      return unprepared(
        cachedUnattributedUsageStatement(DUCKDB, this.tables, request, this.daily.unattributed, this.cache),
      );
    }
    if (this.daily)
      return unprepared(unattributedUsageSql(DUCKDB, this.tables, request, this.daily.unattributed));
    if (!this.codedSlots()) return unprepared(unattributedUsageSql(DUCKDB, this.tables, request));
    return this.prepared(codedUnattributedUsageStatement(this.tables, request));
  }

  /** Runs a coded read's first statements (its TEMP tables); returns the one that reads. */
  private async prepared(read: CodedRead): Promise<Prepared> {
    try {
      for (const statement of read.prepare) await this.connection.run(statement.sql, [...statement.params]);
    } catch (error) {
      await this.dropTemporary(read.temporary);
      throw error;
    }
    return { ...read.query, temporary: read.temporary };
  }

  /** Drops a coded read's TEMP tables once it has been read (they hold a few thousand rows). */
  private async dropTemporary(tables: readonly string[]): Promise<void> {
    for (const table of tables) await this.connection.run(`DROP TABLE IF EXISTS ${table}`);
  }

  /**
   * Whether the slot rows are the local state's coded rollup (schema.ts), read by code
   * (coded-usage-sql.ts) rather than through the view that decodes every row.
   */
  private codedSlots(): boolean {
    return this.tables.rollup === LOCAL_AGGREGATION_TABLES.rollup;
  }

  /** The busiest `top` unattributed requester and access point pairs, by dataset, with totals. */
  async unattributedUsage(request: UnattributedUsageRequest): Promise<UnattributedUsage[]> {
    const q = await this.unattributedQuery(request);
    let reader: Awaited<ReturnType<DuckDBConnection['runAndReadAll']>>;
    try {
      reader = await this.connection.runAndReadAll(q.sql, [...q.params]);
    } finally {
      await this.dropTemporary(q.temporary);
    }
    if (reader.currentRowCount === 0) return [];
    const c = reader.getColumns() as unknown[][];
    return (c[0] as bigint[]).map((position, i) => ({
      position: Number(position),
      requester: c[1]![i] as string,
      accessPoint: c[2]![i] as string,
      dataset: c[3]![i] as string,
      requests: BigInt(c[4]![i] as bigint),
      bytesSent: BigInt(c[5]![i] as bigint),
      records: BigInt(c[6]![i] as bigint),
      touchedPartnerData: Number(c[7]![i]) === 1,
      totals: {
        pairs: Number(c[8]![i]),
        requests: BigInt(c[9]![i] as bigint),
        bytesSent: BigInt(c[10]![i] as bigint),
        records: BigInt(c[11]![i] as bigint),
      },
    }));
  }
}

/** A statement to run, and the TEMP tables to drop after it (coded-usage-sql.ts). */
type Prepared = AggregationQuery<string | number> & { readonly temporary: readonly string[] };

function unprepared(query: AggregationQuery<string | number>): Prepared {
  return { ...query, temporary: [] };
}

/** The statement's rows `from` to `to` of its columns (partner_id ... records), as the port's rows. */
function dailyRowsOf(columns: readonly unknown[][], from: number, to: number): PartnerDailyUsage[] {
  const [partner, app, dataset, date, requests, bytes, records] = columns as [
    string[],
    string[],
    string[],
    string[],
    bigint[],
    bigint[],
    bigint[],
  ];
  const out: PartnerDailyUsage[] = [];
  for (let i = from; i < to; i++) {
    out.push({
      partnerId: partner[i]!,
      applicationId: app[i]!,
      dataset: dataset[i]!,
      date: date[i]!,
      requests: BigInt(requests[i]!),
      bytesSent: BigInt(bytes[i]!),
      records: BigInt(records[i]!),
    });
  }
  return out;
}

/**
 * DuckDB's memory limit while the counted rows are read partner by partner: the statement's grouping
 * and sort are DuckDB's, and under the database's own limit (80 % of the machine) they took some
 * 650 MB at 1,000 partners (960,000 rows) where 256 MB gave the same rows (BENCHMARKS.md).
 */
export const READ_MEMORY_LIMIT = 256 * 2 ** 20;

/** The zone the unattributed figures' days are taken in (evaluate-window.ts reads them in UTC). */
const UNATTRIBUTED_ZONE = 'UTC';

/**
 * Brings the daily pre-aggregate up to date for `registry`'s zones and UTC, and returns where the
 * statements read it.
 */
export async function prepareDailyRead(
  connection: DuckDBConnection,
  registry: Registry,
  options: DailyRollupOptions = {},
): Promise<{
  readonly refresh: DailyRollupRefresh;
  readonly partners: DailySource;
  readonly unattributed: DailySource;
}> {
  const partnerZones = [...new Set(registry.partners.map((p) => p.timeZone))].sort();
  const refresh = await refreshDailyRollup(connection, [UNATTRIBUTED_ZONE, ...partnerZones], options);
  const id = new Map(refresh.zones.map((z) => [z.timeZone, z.id]));
  const source = (zones: readonly string[]): DailySource => ({
    table: DAILY_ROLLUP_TABLES.daily,
    batches: DAILY_ROLLUP_TABLES.batches,
    zones: zones.map((timeZone) => ({ timeZone, id: id.get(timeZone)! })),
    coded: CODED_SLOT_ROWS,
  });
  // A registry without partners still reads its (empty) counted usage through one zone.
  return {
    refresh,
    partners: source(partnerZones.length > 0 ? partnerZones : [UNATTRIBUTED_ZONE]),
    unattributed: source([UNATTRIBUTED_ZONE]),
  };
}

/**
 * {@link prepareDailyRead}, then the attributed caches of the registry's digest brought up to date
 * (attributed-daily.ts): the registry tables must have been written by {@link writeAttributionTables},
 * which returned `tables`.
 */
export async function prepareAttributedRead(
  connection: DuckDBConnection,
  registry: Registry,
  tables: AttributionTables,
  options: AttributedDailyOptions = {},
  dailyOptions: DailyRollupOptions = {},
): Promise<{
  readonly refresh: DailyRollupRefresh;
  readonly attributed: AttributedDailyRefresh;
  readonly partners: DailySource;
  readonly unattributed: DailySource;
  readonly cache: AttributedCache;
}> {
  const { refresh, ...daily } = await prepareDailyRead(connection, registry, dailyOptions);
  const digest = attributedDigest(tables, refresh.zones);
  const attributed = await refreshAttributedDaily(
    connection,
    digest,
    { tables: LOCAL_AGGREGATION_TABLES, ...daily },
    options,
  );
  return { refresh, attributed, ...daily, cache: attributedCache(digest) };
}

/** How {@link DuckDbAggregatedUsageSource} reads the rollup. */
export interface AggregatedUsageOptions {
  /**
   * Read the daily pre-aggregate per zone (daily-rollup.ts), brought up to date before each statement,
   * instead of the slot rows. @default true
   */
  readonly preAggregate?: boolean;
  /**
   * With the pre-aggregate, read whole days from the attributed caches of the registry's digest
   * (attributed-daily.ts), brought up to date before each statement. @default true
   */
  readonly attributedCache?: boolean;
}

/**
 * The `AggregatedUsageSource` of the local state file: each call writes the registry tables and runs
 * its statement in one call of the database's serial queue, so no other caller sees or changes the
 * tables in between, and each evaluation attributes with the registry it was given.
 */
export class DuckDbAggregatedUsageSource implements AggregatedUsageSource {
  readonly engine = 'duckdb';
  /** Rows the statements returned to JavaScript since this source was made (for measuring). */
  rowsReturned = 0;
  /** What the last refresh of the daily pre-aggregate found and did (for measuring). */
  lastRefresh: DailyRollupRefresh | undefined;
  /** What the last refresh of the attributed caches found and did (for measuring). */
  lastAttributedRefresh: AttributedDailyRefresh | undefined;
  private readonly preAggregate: boolean;
  private readonly attributedCache: boolean;

  constructor(
    private readonly database: DuckDbDatabase,
    options: AggregatedUsageOptions = {},
  ) {
    this.preAggregate = options.preAggregate ?? true;
    this.attributedCache = options.attributedCache ?? true;
  }

  private async aggregation(connection: DuckDBConnection, registry: Registry) {
    const tables = await writeAttributionTables(connection, registry);
    if (!this.preAggregate) return new DuckDbUsageAggregation(connection);
    // The refresh lowers DuckDB's limit while it runs and sets the database's own back, exactly.
    const dailyOptions: DailyRollupOptions = { databaseMemoryLimit: this.database.memoryLimit };
    if (this.attributedCache) {
      const { refresh, attributed, cache, ...daily } = await prepareAttributedRead(
        connection,
        registry,
        tables,
        {},
        dailyOptions,
      );
      this.lastRefresh = refresh;
      this.lastAttributedRefresh = attributed;
      return new DuckDbUsageAggregation(connection, LOCAL_AGGREGATION_TABLES, daily, cache);
    }
    const { refresh, ...daily } = await prepareDailyRead(connection, registry, dailyOptions);
    this.lastRefresh = refresh;
    return new DuckDbUsageAggregation(connection, LOCAL_AGGREGATION_TABLES, daily);
  }

  partnerDailyUsage(registry: Registry, request: PartnerDailyUsageRequest): Promise<PartnerDailyUsage[]> {
    return this.database.serial('partnerDailyUsage', async (connection) => {
      const rows = await (await this.aggregation(connection, registry)).partnerDailyUsage(request);
      this.rowsReturned += rows.length;
      return rows;
    });
  }

  eachPartnerDailyUsage(
    registry: Registry,
    request: PartnerDailyUsageRequest,
    visit: (partnerId: string, rows: PartnerDailyUsage[]) => void,
  ): Promise<void> {
    return this.database.serial('eachPartnerDailyUsage', async (connection) => {
      const aggregation = await this.aggregation(connection, registry);
      this.rowsReturned += await withLoweredMemoryLimit(
        connection,
        READ_MEMORY_LIMIT,
        this.database.memoryLimit,
        () => aggregation.eachPartnerDailyUsage(request, visit),
      );
    });
  }

  unattributedUsage(registry: Registry, request: UnattributedUsageRequest): Promise<UnattributedUsage[]> {
    return this.database.serial('unattributedUsage', async (connection) => {
      const rows = await (await this.aggregation(connection, registry)).unattributedUsage(request);
      this.rowsReturned += rows.length;
      return rows;
    });
  }
}
