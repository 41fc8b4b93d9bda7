/** Log ingestion for the local engine: S3 server access-log files in, usage rollup rows out. */
export {
  FIELD,
  KNOWN_FIELDS,
  type LineError,
  LineScanner,
  type MalformedReason,
  MIN_FIELDS,
  type ParsedLine,
  type ParseResult,
  parseAccessLogLine,
} from './access-log-parser.js';
export {
  checkIngestOptions,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_SAMPLE_LIMIT,
  type IngestFileResult,
  type IngestFileStats,
  type IngestOptions,
  ingestLogFile,
  RowMerger,
} from './ingest-file.js';
export {
  type CombinedOutcome,
  combineOutcomes,
  DEFAULT_SPLIT_ABOVE,
  IngestPool,
  IngestWorkerError,
  type PlanFile,
  type PlanOptions,
  type PoolHandlers,
  type PoolItem,
  type PoolOptions,
  type PoolTask,
  planTasks,
} from './ingest-pool.js';
export type { RunnerSettings } from './ingest-task.js';
export { type AggregatorOptions, type ItemCounts, type LineSample, LogAggregator } from './log-aggregator.js';
export {
  detectLayout,
  FINGERPRINT_EDGE_BYTES,
  fingerprintFile,
  type KeyLayout,
  type LayoutInfo,
  type LogFileEntry,
  type LogFileListing,
  LogPathError,
  listLogFiles,
} from './log-files.js';
export { type ItemOutcome, type ReadItem, readLogItem } from './log-reader.js';
export {
  loadManifest,
  type Manifest,
  type ManifestData,
  ManifestError,
  manifestFromData,
  manifestToData,
  parseManifest,
} from './manifest.js';
export { type RowBatch, RowBatchBuilder, STATUS_BY_INDEX } from './row-batch.js';
