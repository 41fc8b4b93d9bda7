/** The local engine's DuckDB state: a database shared by a usage source, a notice ledger and an ingest log. */
export { DuckDbDatabase } from './duckdb-database.js';
export {
  DuckDbIngestLog,
  type DuckDbIngestLogOptions,
  type FileIngestion,
  type FileStats,
  type IngestedFile,
  type InputSummaryOptions,
  type RollupStream,
  type StagedFileIngestion,
} from './duckdb-ingest-log.js';
export { DuckDbNoticeLedger } from './duckdb-notice-ledger.js';
export { DuckDbState } from './duckdb-state.js';
export { DuckDbUsageSource } from './duckdb-usage-source.js';
export { DuckDbStoreError, InvalidRollupRowError } from './errors.js';
export type { ColumnarRollupRows } from './rollup-writer.js';
export { type Query, usageQuery } from './schema.js';
