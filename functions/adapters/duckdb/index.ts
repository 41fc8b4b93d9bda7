/** The local engine's DuckDB store: usage source, notice ledger and ingestion bookkeeping. */
export {
  DuckDbStore,
  type DuckDbStoreOptions,
  type FileIngestion,
  type FileStats,
  type IngestedFile,
  type InputSummaryOptions,
} from './duckdb-store.js';
export { DuckDbStoreError, InvalidRollupRowError } from './errors.js';
export { type Query, usageQuery } from './schema.js';
