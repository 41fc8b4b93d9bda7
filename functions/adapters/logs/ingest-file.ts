/**
 * Reads one access-log file (plain or gzip) into usage rollup rows, streaming it: memory grows with the
 * number of distinct rollup keys, not with the size of the file.
 *
 * Every line is accounted for: `lines = parsedLines + malformedLines`. A blank line is a malformed line
 * (`empty-line`), since S3 never writes one; the newline that ends the last line does not start another.
 * One bad file never stops a run: a file that cannot be opened, or a gzip stream that breaks off, comes
 * back with `unreadable` set and with whatever was read before the break counted.
 *
 * This is the single-file, single-thread form of ingestion (tests, tools); the CLI reads many files and
 * large ones in parallel through IngestPool. Both run the same reader, scanner and aggregator.
 */
import { type ColumnarUsageRows, type RollupRow, SLOT_MS } from '../../domain/usage.js';
import type { MalformedSample } from '../../ports.js';
import { LogAggregator } from './log-aggregator.js';
import { fingerprintFile } from './log-files.js';
import { readLogItem } from './log-reader.js';
import type { Manifest } from './manifest.js';
import { RowBatchBuilder, STATUS_BY_INDEX } from './row-batch.js';
import { BLOCK_SIZES } from './wasm-scanner.js';

export interface IngestOptions {
  /** Path segments of a key that name its dataset (see datasetOf); a whole number of at least 1. */
  readonly datasetDepth: number;
  /** Records per object; without one every row counts 0 records. */
  readonly manifest?: Manifest;
  /** Malformed lines kept as evidence, from the start of the file. @default 5 */
  readonly sampleLimit?: number;
  /** A line longer than this many bytes is malformed (`line-too-long`) and never held whole. @default 65536 */
  readonly maxLineBytes?: number;
  /** The file's fingerprint when the caller already has it (it is the rows' batch). @default fingerprintFile(path) */
  readonly fingerprint?: string;
}

export interface IngestFileStats {
  /** Size of the file on disk (compressed size for gzip). */
  readonly bytes: number;
  /** Bytes of log text read (after decompression). */
  readonly decodedBytes: number;
  readonly lines: number;
  readonly parsedLines: number;
  readonly malformedLines: number;
  readonly malformedByReason: Readonly<Record<string, number>>;
  readonly samples: readonly MalformedSample[];
}

export interface IngestFileResult {
  readonly file: string;
  /** The batch every row carries; empty when the file could not even be fingerprinted. */
  readonly fingerprint: string;
  /** Whether the file was read as gzip (by its magic bytes or a `.gz` name). */
  readonly compressed: boolean;
  /** One row per rollup key, sorted by slot and then key. */
  readonly rows: RollupRow[];
  readonly stats: IngestFileStats;
  /** Why the file could not be read to its end; what was read before that is still counted. */
  readonly unreadable?: string;
}

export const DEFAULT_SAMPLE_LIMIT = 5;
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
/**
 * The longest line cap allowed: the scanner keeps a line's key text (bucket .. dataset) in a table of
 * this many bytes, so any line up to it fits in an emptied table.
 */
export const MAX_LINE_BYTES_LIMIT = BLOCK_SIZES.arenaBytes;

/** Checks ingestion options, throwing RangeError naming the first bad one. */
export function checkIngestOptions(datasetDepth: number, sampleLimit: number, maxLineBytes: number): void {
  if (!Number.isInteger(datasetDepth) || datasetDepth < 1) {
    throw new RangeError(`datasetDepth must be a whole number >= 1, got ${datasetDepth}`);
  }
  if (!Number.isInteger(sampleLimit) || sampleLimit < 0) {
    throw new RangeError(`sampleLimit must be a whole number >= 0, got ${sampleLimit}`);
  }
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1 || maxLineBytes > MAX_LINE_BYTES_LIMIT) {
    throw new RangeError(
      `maxLineBytes must be a whole number from 1 to ${MAX_LINE_BYTES_LIMIT}, got ${maxLineBytes}`,
    );
  }
}

/** Ingest one log file. Never rejects for a problem with the file itself (only for invalid options). */
export async function ingestLogFile(path: string, opts: IngestOptions): Promise<IngestFileResult> {
  const sampleLimit = opts.sampleLimit ?? DEFAULT_SAMPLE_LIMIT;
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  checkIngestOptions(opts.datasetDepth, sampleLimit, maxLineBytes);

  let fingerprint = opts.fingerprint ?? '';
  if (fingerprint === '') {
    try {
      fingerprint = await fingerprintFile(path);
    } catch {
      // The reader below names the problem (missing file, a directory) as the file's unreadable reason.
    }
  }
  const builder = new RowBatchBuilder();
  const aggregator = new LogAggregator(
    { datasetDepth: opts.datasetDepth, manifest: opts.manifest, sampleLimit },
    builder,
  );
  const read = await readLogItem({ path }, 0, aggregator, { maxLineBytes });
  const merged = new RowMerger(aggregator.strings.values);
  merged.add(builder.take(), fingerprint);
  const counts = read.counts;
  return {
    file: path,
    fingerprint,
    compressed: read.compressed,
    rows: merged.rows(),
    stats: {
      bytes: read.size,
      decodedBytes: read.decodedBytes,
      lines: counts.lines,
      parsedLines: counts.parsedLines,
      malformedLines: counts.malformedLines,
      malformedByReason: { ...counts.malformedByReason },
      samples: counts.samples.map((s) => ({ file: path, ...s })),
    },
    ...(read.unreadable === undefined ? {} : { unreadable: read.unreadable }),
  };
}

/**
 * Sums partial rows of batches into one RollupRow per key, sorted by slot and then key. For one file's
 * worth of rows; bulk writes sum inside DuckDB instead.
 */
export class RowMerger {
  private readonly byKey = new Map<string, { row: Mutable<RollupRow>; sortKey: string }>();

  constructor(private readonly strings: readonly string[]) {}

  add(batch: ColumnarUsageRows, rowBatch: string): void {
    const s = this.strings;
    for (let i = 0; i < batch.count; i++) {
      const slotStart = batch.slot[i]! * SLOT_MS;
      const statusClass = STATUS_BY_INDEX[batch.status[i]!]!;
      const bucket = s[batch.bucket[i]!]!;
      const requester = s[batch.requester[i]!]!;
      const accessPoint = s[batch.accessPoint[i]!]!;
      const dataset = s[batch.dataset[i]!]!;
      const operation = s[batch.operation[i]!]!;
      const sortKey = `${bucket}\n${requester}\n${accessPoint}\n${dataset}\n${operation}\n${statusClass}`;
      const key = `${slotStart}\n${sortKey}`;
      let entry = this.byKey.get(key);
      if (entry === undefined) {
        entry = {
          row: {
            slotStart,
            bucket,
            requester,
            accessPoint,
            dataset,
            operation,
            statusClass,
            requests: 0n,
            bytesSent: 0n,
            records: 0n,
            batch: rowBatch,
          },
          sortKey,
        };
        this.byKey.set(key, entry);
      }
      entry.row.requests += BigInt(batch.requests[i]!);
      entry.row.bytesSent += BigInt(batch.bytesSent[i]!);
      entry.row.records += BigInt(batch.records[i]!);
    }
  }

  rows(): RollupRow[] {
    const entries = [...this.byKey.values()];
    entries.sort((a, b) =>
      a.row.slotStart !== b.row.slotStart
        ? a.row.slotStart - b.row.slotStart
        : a.sortKey < b.sortKey
          ? -1
          : a.sortKey > b.sortKey
            ? 1
            : 0,
    );
    return entries.map((e) => e.row);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
