/** The local engine's DuckDB store: usage source, notice ledger and ingestion bookkeeping. */
export {
  DuckDbStore,
  type DuckDbStoreOptions,
  type FileIngestion,
  type FileStats,
  type IngestedFile,
  type InputSummaryOptions,
  type RollupStream,
  type StagedFileIngestion,
} from './duckdb-store.js';
export { DuckDbStoreError, InvalidRollupRowError } from './errors.js';
export type { ColumnarRollupRows } from './rollup-writer.js';
export { type Query, usageQuery } from './schema.js';
