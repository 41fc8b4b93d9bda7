/**
 * The local engine's HoldingsSource: the registry tables written into the connection (as for usage,
 * usage-aggregation.ts) and the statements of ../sql/holdings-sql.ts run over the holdings table.
 */
import type { HeldDatasetRow, HeldDayRow } from '../../domain/holdings.js';
import type { Registry } from '../../domain/registry.js';
import type { HoldingsRequest, HoldingsSource } from '../../ports.js';
import {
  type HoldingsDialect,
  type HoldingsTables,
  heldDatasetsSql,
  heldDaysSql,
} from '../sql/holdings-sql.js';
import { DUCKDB } from '../sql/usage-aggregation-sql.js';
import { type DuckDbDatabase, readSetting } from './duckdb-database.js';
import { SETTING_HOLDINGS } from './schema.js';
import { LOCAL_AGGREGATION_TABLES, writeAttributionTables } from './usage-aggregation.js';

/** The table names the local holdings statements read. */
export const LOCAL_HOLDINGS_TABLES: HoldingsTables = Object.freeze({
  ...LOCAL_AGGREGATION_TABLES,
  holdings: 'holdings',
});

/** The DuckDB dialect of the holdings statements: the `holdings` view holds nothing else. */
export const DUCKDB_HOLDINGS: HoldingsDialect<string | number> = Object.freeze({
  ...DUCKDB,
  heldRowsOnly: 'TRUE',
});

const big = (v: unknown): bigint => BigInt(v as bigint | number);

/** Holdings of the local state file, each call on the database's serial queue with its own registry. */
export class DuckDbHoldingsSource implements HoldingsSource {
  readonly engine = 'duckdb';

  constructor(private readonly database: DuckDbDatabase) {}

  /**
   * Whether the state keeps holdings: its last ingestion ran with the registry's `settings.holdings`
   * true (local-ingest.ts). Without it the table is empty, and a statement read from it would say
   * "nothing held" where nothing was looked at.
   */
  kept(): Promise<boolean> {
    return this.database.serial('holdingsKept', async (connection) => {
      return (await readSetting(connection, SETTING_HOLDINGS)) === 'on';
    });
  }

  heldDatasets(registry: Registry, request: HoldingsRequest): Promise<HeldDatasetRow[]> {
    return this.database.serial('heldDatasets', async (connection) => {
      await writeAttributionTables(connection, registry);
      const q = heldDatasetsSql(DUCKDB_HOLDINGS, LOCAL_HOLDINGS_TABLES, request);
      const reader = await connection.runAndReadAll(q.sql, [...q.params]);
      return reader.getRows().map((r) => ({
        partnerId: String(r[0]),
        applicationId: String(r[1]),
        dataset: String(r[2]),
        objects: big(r[3]),
        partialObjects: big(r[4]),
        unknownSizeObjects: big(r[5]),
        objectBytes: big(r[6]),
        records: big(r[7]),
        retrievals: big(r[8]),
        fullRetrievals: big(r[9]),
        bytesSent: big(r[10]),
        firstMs: Number(r[11]),
        lastMs: Number(r[12]),
      }));
    });
  }

  heldDays(registry: Registry, request: HoldingsRequest): Promise<HeldDayRow[]> {
    return this.database.serial('heldDays', async (connection) => {
      await writeAttributionTables(connection, registry);
      const q = heldDaysSql(DUCKDB_HOLDINGS, LOCAL_HOLDINGS_TABLES, request);
      const reader = await connection.runAndReadAll(q.sql, [...q.params]);
      return reader.getRows().map((r) => ({
        partnerId: String(r[0]),
        applicationId: String(r[1]),
        dataset: String(r[2]),
        date: String(r[3]),
        newObjects: big(r[4]),
      }));
    });
  }
}
