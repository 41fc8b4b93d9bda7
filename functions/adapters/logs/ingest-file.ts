/**
 * Reads one access-log file (plain or gzip) into usage rollup rows, streaming it: memory grows with the
 * number of distinct rollup keys, not with the size of the file.
 *
 * Every line is accounted for: `lines = parsedLines + malformedLines`. A blank line is a malformed line
 * (`empty-line`), since S3 never writes one; the newline that ends the last line does not start another.
 * One bad file never stops a run: a file that cannot be opened, or a gzip stream that breaks off, comes
 * back with `unreadable` set and with whatever was read before the break counted.
 */
import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { datasetOf, type RollupRow, slotOf, statusClassOf } from '../../domain/usage.js';
import type { MalformedSample } from '../../ports.js';
import { FIELD, LineScanner, type MalformedReason } from './access-log-parser.js';
import { fingerprintFile } from './log-files.js';
import type { Manifest } from './manifest.js';

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
const SAMPLE_CHARS = 300;
const READ_CHUNK_BYTES = 1024 * 1024;

/** Ingest one log file. Never rejects for a problem with the file itself (only for invalid options). */
export async function ingestLogFile(path: string, opts: IngestOptions): Promise<IngestFileResult> {
  const sampleLimit = opts.sampleLimit ?? DEFAULT_SAMPLE_LIMIT;
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isInteger(opts.datasetDepth) || opts.datasetDepth < 1) {
    throw new RangeError(`datasetDepth must be a whole number >= 1, got ${opts.datasetDepth}`);
  }
  if (!Number.isInteger(sampleLimit) || sampleLimit < 0) {
    throw new RangeError(`sampleLimit must be a whole number >= 0, got ${sampleLimit}`);
  }
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new RangeError(`maxLineBytes must be a whole number >= 1, got ${maxLineBytes}`);
  }

  const sink = new RollupSink(path, opts.datasetDepth, opts.manifest, sampleLimit);
  let size = 0;
  let fingerprint = opts.fingerprint ?? '';
  let compressed = false;
  const result = (unreadable?: string): IngestFileResult => ({
    file: path,
    fingerprint,
    compressed,
    rows: sink.rows(fingerprint),
    stats: sink.stats(size),
    ...(unreadable === undefined ? {} : { unreadable }),
  });

  try {
    const st = await stat(path);
    if (!st.isFile()) return result('not a regular file');
    size = st.size;
    if (fingerprint === '') fingerprint = await fingerprintFile(path);
    compressed = size > 0 && ((await startsWithGzipMagic(path)) || path.endsWith('.gz'));
  } catch (e) {
    return result(`cannot open: ${messageOf(e)}`);
  }

  const splitter = new LineSplitter(
    maxLineBytes,
    (line, ascii) => sink.line(line, ascii),
    (preview, length) =>
      sink.malformed('line-too-long', `over ${maxLineBytes} bytes (${length} read)`, preview),
  );
  const file = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  let source: NodeJS.ReadableStream = file;
  let readFailed = false;
  if (compressed) {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    file.on('error', (e) => {
      readFailed = true;
      gunzip.destroy(e);
    });
    source = file.pipe(gunzip);
  }
  try {
    for await (const chunk of source) {
      sink.decodedBytes += (chunk as Buffer).length;
      splitter.push(chunk as Buffer);
    }
  } catch (e) {
    const pending = splitter.end();
    // A stream that broke off mid-line leaves a cut record: counting it as parsed could invent a short
    // key or a smaller byte count, so it is evidence of the break instead.
    if (pending !== null) sink.malformed('truncated-line', 'the file breaks off inside this line', pending);
    return result(`${compressed && !readFailed ? 'corrupt gzip' : 'read error'}: ${messageOf(e)}`);
  } finally {
    file.destroy();
  }
  const last = splitter.end();
  if (last !== null) sink.line(last, false);
  return result();
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function startsWithGzipMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Cuts a byte stream into lines, decoding them as latin1: one byte is one char, so the length cap is
 * exact and decoding is cheap. Lines holding non-ASCII bytes are re-decoded as UTF-8 by the sink.
 * Exported for its tests; callers use ingestLogFile.
 */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryLength = 0;
  /** Inside an over-long line (already counted), dropping bytes up to the next newline. */
  private skipping = false;

  constructor(
    private readonly maxBytes: number,
    /** `ascii` is true when the line is known to hold only ASCII bytes. */
    private readonly onLine: (line: string, ascii: boolean) => void,
    private readonly onTooLong: (preview: string, lengthSeen: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    if (this.skipping) {
      const nl = chunk.indexOf(10);
      if (nl === -1) return;
      this.skipping = false;
      start = nl + 1;
    } else if (this.carryLength > 0) {
      const nl = chunk.indexOf(10);
      if (nl === -1) {
        this.addCarry(chunk, 0, chunk.length);
        return;
      }
      const line = Buffer.concat([...this.carry, chunk.subarray(0, nl)]);
      this.carry = [];
      this.carryLength = 0;
      if (line.length > this.maxBytes) this.onTooLong(previewOf(line), line.length);
      else this.onLine(line.toString('latin1'), isAscii(line));
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) {
      const block = chunk.toString('latin1', start, last);
      // One vectorised check per block spares a per-line scan in the common, all-ASCII case.
      const ascii = isAscii(chunk.subarray(start, last));
      let p = 0;
      for (;;) {
        const nl = block.indexOf('\n', p);
        const e = nl === -1 ? block.length : nl;
        if (e - p > this.maxBytes) this.onTooLong(block.slice(p, p + SAMPLE_CHARS * 4), e - p);
        else this.onLine(block.slice(p, e), ascii);
        if (nl === -1) break;
        p = nl + 1;
      }
      start = last + 1;
    }
    if (start < chunk.length) this.addCarry(chunk, start, chunk.length);
  }

  /** The unfinished last line (no newline after it), or null. */
  end(): string | null {
    if (this.carryLength === 0) return null;
    const line = Buffer.concat(this.carry).toString('latin1');
    this.carry = [];
    this.carryLength = 0;
    return line;
  }

  private addCarry(chunk: Buffer, a: number, b: number): void {
    const length = this.carryLength + (b - a);
    if (length > this.maxBytes) {
      this.onTooLong(previewOf(Buffer.concat([...this.carry, chunk.subarray(a, b)])), length);
      this.carry = [];
      this.carryLength = 0;
      this.skipping = true;
      return;
    }
    // A copy, so a small tail does not pin the whole read buffer.
    this.carry.push(Buffer.from(chunk.subarray(a, b)));
    this.carryLength = length;
  }
}

function previewOf(bytes: Buffer): string {
  return bytes.toString('latin1', 0, Math.min(bytes.length, SAMPLE_CHARS * 4));
}

/** Any char above 0x7f: the latin1-decoded line held non-ASCII bytes. */
const NON_ASCII = /[^\x00-\x7f]/;

function fromLatin1(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8');
}

/** The object key a logged key stands for: S3 logs keys URL-encoded; manifests list them plain. */
function objectKey(logged: string): string {
  if (!logged.includes('%')) return logged;
  try {
    return decodeURIComponent(logged);
  } catch {
    return logged;
  }
}

/** Operations that read a whole object when they succeed with 200. */
const FULL_READ_OPERATIONS = new Set(['REST.GET.OBJECT', 'WEBSITE.GET.OBJECT']);

interface Accumulator {
  readonly slotStart: number;
  readonly bucket: string;
  readonly requester: string;
  readonly accessPoint: string;
  readonly dataset: string;
  readonly operation: string;
  readonly statusClass: RollupRow['statusClass'];
  readonly sortKey: string;
  requests: number;
  /** Bytes below 2^53, moved into bytesHigh before an addition could lose precision. */
  bytes: number;
  bytesHigh: bigint;
  records: bigint;
}

/** Counts lines and sums parsed ones by rollup key. */
class RollupSink {
  decodedBytes = 0;
  private lines = 0;
  private parsed = 0;
  private malformedCount = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly samples: MalformedSample[] = [];
  /** Groups by slot, then by the rest of the key: a number key spares a number-to-text per line. */
  private readonly groups = new Map<number, Map<string, Accumulator>>();
  private lastSlot = Number.NaN;
  private slotGroups = new Map<string, Accumulator>();
  private readonly scanner = new LineScanner();

  constructor(
    private readonly file: string,
    private readonly datasetDepth: number,
    private readonly manifest: Manifest | undefined,
    private readonly sampleLimit: number,
  ) {}

  line(raw: string, ascii: boolean): void {
    const scanner = this.scanner;
    if (scanner.scan(ascii || !NON_ASCII.test(raw) ? raw : fromLatin1(raw))) {
      this.lines++;
      this.parsed++;
      this.add(scanner);
    } else {
      this.malformed(scanner.reason, scanner.detail, raw);
    }
  }

  /** Count one malformed line; `rawText` is latin1-decoded bytes of (the start of) the line. */
  malformed(reason: MalformedReason, detail: string, rawText: string): void {
    this.lines++;
    this.malformedCount++;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    if (this.samples.length < this.sampleLimit) {
      this.samples.push({
        file: this.file,
        line: this.lines,
        reason: `${reason}: ${detail}`,
        text: fromLatin1(rawText.slice(0, SAMPLE_CHARS * 4)).slice(0, SAMPLE_CHARS),
      });
    }
  }

  /** Adds the line just scanned, taking only the fields the rollup keeps. */
  private add(scan: LineScanner): void {
    const slotStart = slotOf(scan.timeMs);
    const httpStatus = scan.text(FIELD.httpStatus);
    const statusClass = statusClassOf(httpStatus);
    const bucket = scan.text(FIELD.bucket);
    const requester = scan.text(FIELD.requester);
    const accessPoint = scan.text(FIELD.accessPointArn);
    const operation = scan.text(FIELD.operation);
    const loggedKey = scan.text(FIELD.key);
    const key = loggedKey === '-' ? '-' : objectKey(loggedKey);
    const dataset = datasetOf(key, this.datasetDepth);
    const sortKey = `${bucket}\n${requester}\n${accessPoint}\n${dataset}\n${operation}\n${statusClass}`;
    if (slotStart !== this.lastSlot) {
      let groups = this.groups.get(slotStart);
      if (groups === undefined) {
        groups = new Map();
        this.groups.set(slotStart, groups);
      }
      this.slotGroups = groups;
      this.lastSlot = slotStart;
    }
    let acc = this.slotGroups.get(sortKey);
    if (acc === undefined) {
      acc = {
        slotStart,
        bucket,
        requester,
        accessPoint,
        dataset,
        operation,
        statusClass,
        sortKey,
        requests: 0,
        bytes: 0,
        bytesHigh: 0n,
        records: 0n,
      };
      this.slotGroups.set(sortKey, acc);
    }
    acc.requests++;
    const bytesSent = scan.bytesSent;
    if (acc.bytes + bytesSent > Number.MAX_SAFE_INTEGER) {
      acc.bytesHigh += BigInt(acc.bytes);
      acc.bytes = 0;
    }
    acc.bytes += bytesSent;
    // Records count only for a whole object delivered: a 206 range read returns part of an object, and
    // its share of records cannot be known from the log, so it counts none (its bytes still count).
    if (this.manifest !== undefined && httpStatus === '200' && FULL_READ_OPERATIONS.has(operation)) {
      acc.records += this.manifest.recordsFor(key);
    }
  }

  rows(batch: string): RollupRow[] {
    const accs = [...this.groups.values()].flatMap((g) => [...g.values()]);
    accs.sort((a, b) =>
      a.slotStart !== b.slotStart ? a.slotStart - b.slotStart : a.sortKey < b.sortKey ? -1 : 1,
    );
    return accs.map((a) => ({
      slotStart: a.slotStart,
      bucket: a.bucket,
      requester: a.requester,
      accessPoint: a.accessPoint,
      dataset: a.dataset,
      operation: a.operation,
      statusClass: a.statusClass,
      requests: BigInt(a.requests),
      bytesSent: a.bytesHigh + BigInt(a.bytes),
      records: a.records,
      batch,
    }));
  }

  stats(bytes: number): IngestFileStats {
    return {
      bytes,
      decodedBytes: this.decodedBytes,
      lines: this.lines,
      parsedLines: this.parsed,
      malformedLines: this.malformedCount,
      malformedByReason: { ...this.byReason },
      samples: [...this.samples],
    };
  }
}
