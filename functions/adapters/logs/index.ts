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
  parseLogTime,
} from './access-log-parser.js';
export {
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_SAMPLE_LIMIT,
  type IngestFileResult,
  type IngestFileStats,
  type IngestOptions,
  ingestLogFile,
} from './ingest-file.js';
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
export { loadManifest, type Manifest, ManifestError, parseManifest } from './manifest.js';
