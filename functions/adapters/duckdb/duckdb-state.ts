/**
 * The local engine's state file opened once, as the ports the CLI wires: a usage source, a notice
 * ledger and an ingest log over one database (its connection, lock and queue).
 */

import { DuckDbDatabase } from './duckdb-database.js';
import { DuckDbIngestLog, type DuckDbIngestLogOptions } from './duckdb-ingest-log.js';
import { DuckDbNoticeLedger } from './duckdb-notice-ledger.js';
import { DuckDbUsageSource } from './duckdb-usage-source.js';
import { DuckDbHoldingsSource } from './holdings-source.js';
import { DuckDbAggregatedUsageSource } from './usage-aggregation.js';

export class DuckDbState {
  readonly usageSource: DuckDbUsageSource;
  /** The rollup attributed and aggregated in DuckDB: what the local evaluation reads. */
  readonly aggregatedUsage: DuckDbAggregatedUsageSource;
  readonly ledger: DuckDbNoticeLedger;
  readonly ingestLog: DuckDbIngestLog;
  /** What each partner holds (the holdings table, attributed in DuckDB). */
  readonly holdings: DuckDbHoldingsSource;

  private constructor(
    readonly database: DuckDbDatabase,
    options: DuckDbIngestLogOptions,
  ) {
    this.usageSource = new DuckDbUsageSource(database);
    this.aggregatedUsage = new DuckDbAggregatedUsageSource(database);
    this.ledger = new DuckDbNoticeLedger(database);
    this.ingestLog = new DuckDbIngestLog(database, options);
    this.holdings = new DuckDbHoldingsSource(database);
  }

  /** Opens the state file (see `DuckDbDatabase.open`); `:memory:` for a state that is not kept. */
  static async open(path: string, options: DuckDbIngestLogOptions = {}): Promise<DuckDbState> {
    return new DuckDbState(await DuckDbDatabase.open(path), options);
  }

  get path(): string {
    return this.database.path;
  }

  /** Waits for queued calls, then closes the database. */
  close(): Promise<void> {
    return this.database.close();
  }
}
