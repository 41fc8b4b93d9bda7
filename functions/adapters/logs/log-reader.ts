/**
 * Reading one log file, or one byte range of a large plain file, into a LogAggregator.
 *
 * A plain file can be cut into ranges that separate threads read at once. Each range owns the lines
 * that START inside it: a range that begins mid-line skips to the next line, and a range reads past its
 * end to finish its last line, so the ranges of a file see every line exactly once whatever the cut
 * points are. A gzip stream cannot be entered in the middle: it is read whole, by one thread, while
 * zlib inflates the next piece on the thread pool.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { ItemCounts, LogAggregator } from './log-aggregator.js';
import { fingerprintFileSync, fingerprintOfWhole } from './log-files.js';

/** A file to read, whole or the lines starting in bytes [range[0], range[1]) of it (plain files only). */
export interface ReadItem {
  readonly path: string;
  readonly range?: readonly [number, number];
  /**
   * Fingerprint the file while reading it (fingerprintFile's answer, see ItemOutcome.fingerprint): a
   * small file is then opened and read once, and hashed on the reading thread. Whole files only.
   */
  readonly fingerprint?: boolean;
}

/** What reading one item found. */
export interface ItemOutcome {
  /** Size of the file on disk (compressed size for gzip), whether whole or a range was read. */
  readonly size: number;
  /** Bytes of log text read: the range's own bytes, or the decompressed size. */
  readonly decodedBytes: number;
  readonly compressed: boolean;
  readonly counts: ItemCounts;
  /** Why the item could not be read to its end; what was read before that is still counted. */
  readonly unreadable?: string;
  /** The file's fingerprint, when the item asked for it and the file could be fingerprinted. */
  readonly fingerprint?: string;
}

export interface ReadOptions {
  /** A line longer than this many bytes is malformed (`line-too-long`) and never held whole. */
  readonly maxLineBytes: number;
  /** Sum this item's rows with those of the items before it (see LogAggregator.begin). */
  readonly merged?: boolean;
  /** Leave this item's rows in the aggregator for the next item to sum on (see LogAggregator.finish). */
  readonly keepRows?: boolean;
  /** Called after each chunk, e.g. to send the rows collected so far. */
  readonly afterChunk?: () => void;
}

const READ_CHUNK_BYTES = 1024 * 1024;
const GUNZIP_CHUNK_BYTES = 512 * 1024;
const PROBE_BYTES = 64 * 1024;
const NEWLINE = 10;

/**
 * Reads `item` into `aggregator` as its item `index`. A problem with the file (missing, unreadable,
 * corrupt gzip) is an outcome; only an error of the parsing itself (a bug, or a manifest count past
 * 2^53) rejects.
 */
export async function readLogItem(
  item: ReadItem,
  index: number,
  aggregator: LogAggregator,
  options: ReadOptions,
): Promise<ItemOutcome> {
  aggregator.begin(index, options.merged === true);
  const maxLineBytes = options.maxLineBytes;
  let size = 0;
  let decodedBytes = 0;
  let compressed = false;
  let fingerprint: string | undefined;
  const outcome = (unreadable?: string): ItemOutcome => ({
    size,
    decodedBytes,
    compressed,
    counts: aggregator.finish(options.keepRows === true),
    ...(unreadable === undefined ? {} : { unreadable }),
    ...(fingerprint === undefined ? {} : { fingerprint }),
  });

  // Plain files are read with synchronous calls: the reading thread is a worker with nothing else to
  // do, and a page-cache read costs far less than a round trip through the thread pool, which matters
  // for thousands of small log objects (open, stat, read, close each).
  let fd: number;
  try {
    fd = openSync(item.path, 'r');
  } catch (e) {
    return outcome(`cannot open: ${messageOf(e)}`);
  }
  // Plain text is read straight into the scanner's input area, gzip text is inflated and copied there:
  // one carry of an unfinished line, one rule for over-long and for cut-off lines (see AreaLines).
  const lines = new AreaLines(aggregator, maxLineBytes);
  let start = 0;
  let end = 0;
  let first = 0;
  try {
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return outcome('not a regular file');
      size = st.size;
      if (item.range === undefined) {
        end = size;
        // The first chunk tells gzip (its magic bytes) from text; it is parsed as text if it is text.
        const area = lines.area;
        first = size > 0 ? readSync(fd, area, 0, Math.min(READ_CHUNK_BYTES, size, area.length), 0) : 0;
        compressed =
          size > 0 && ((first >= 2 && area[0] === 0x1f && area[1] === 0x8b) || item.path.endsWith('.gz'));
        if (item.fingerprint === true) {
          // A file read whole in its first chunk is hashed from that chunk, before scanning moves it.
          fingerprint =
            first === size
              ? fingerprintOfWhole(item.path, area.subarray(0, size))
              : fingerprintFileSync(item.path);
        }
      } else {
        start = lineStartAtOrAfter(fd, item.range[0], size);
        end = lineStartAtOrAfter(fd, item.range[1], size);
      }
    } catch (e) {
      return outcome(`cannot open: ${messageOf(e)}`);
    }

    // Only the reads are guarded: a failure to read is the file's problem (recorded, the run goes on),
    // while an error from the parsing itself is a bug or a bad setting, and must stop the run.
    if (!compressed) {
      let position = start;
      let n = first;
      for (;;) {
        if (n > 0) {
          position += n;
          decodedBytes += n;
          lines.add(n);
          options.afterChunk?.();
        }
        if (position >= end) break;
        try {
          const room = Math.min(READ_CHUNK_BYTES, lines.area.length - lines.filled, end - position);
          n = readSync(fd, lines.area, lines.filled, room, position);
        } catch (e) {
          lines.cutOff();
          return outcome(`read error: ${messageOf(e)}`);
        }
        if (n === 0) break;
      }
      lines.finish();
    }
  } finally {
    closeSync(fd);
  }

  if (compressed) {
    const file = createReadStream(item.path, { highWaterMark: 1024 * 1024 });
    const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
    let readFailed = false;
    file.on('error', (e) => {
      readFailed = true;
      gunzip.destroy(e);
    });
    const chunks = file.pipe(gunzip)[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await chunks.next();
        } catch (e) {
          lines.cutOff();
          return outcome(`${readFailed ? 'read error' : 'corrupt gzip'}: ${messageOf(e)}`);
        }
        if (next.done === true) break;
        decodedBytes += next.value.length;
        lines.push(next.value);
        options.afterChunk?.();
      }
    } finally {
      file.destroy();
      gunzip.destroy();
    }
    lines.finish();
  }
  return outcome();
}

/** For lineStartAtOrAfter; reads are synchronous, so one per thread serves every call. */
const probe = Buffer.allocUnsafe(PROBE_BYTES);

/**
 * Lines of one item in the scanner's input area (LogAggregator.inputArea): text is read or copied into
 * the area at `filled`, the whole lines there are scanned where they lie, and the unfinished last one
 * moves to the front of the area, where the next text lands after it. A line longer than the cap is
 * reported once, from its first bytes, and skipped to its end without being held. Exported for tests.
 */
export class AreaLines {
  /** The scanner's input area; replaced when a line the cap allows outgrows it (see add). */
  area: Buffer;
  /** Bytes of an unfinished line at the front of the area; the next text goes after them. */
  filled = 0;
  private skipping = false;

  constructor(
    private readonly aggregator: LogAggregator,
    private readonly maxLine: number,
  ) {
    this.area = aggregator.inputArea();
  }

  /** Copies `chunk` into the area and scans its whole lines, in pieces when it does not fit at once. */
  push(chunk: Buffer): void {
    let p = 0;
    while (p < chunk.length) {
      const n = Math.min(this.area.length - this.filled, chunk.length - p);
      chunk.copy(this.area, this.filled, p, p + n);
      this.add(n);
      p += n;
    }
  }

  /** `n` bytes were put into the area at `filled`. Leaves room for at least one more byte. */
  add(n: number): void {
    const area = this.area;
    const end = this.filled + n;
    let p = 0;
    if (this.skipping) {
      const nl = area.indexOf(NEWLINE, this.filled);
      if (nl === -1 || nl >= end) {
        this.filled = 0;
        return;
      }
      this.skipping = false;
      p = nl + 1;
    }
    const last = area.lastIndexOf(NEWLINE, end - 1);
    if (last >= p) {
      this.aggregator.scanInPlace(p, last + 1, this.maxLine);
      p = last + 1;
    }
    const tail = end - p;
    if (tail > this.maxLine) {
      this.aggregator.tooLong(area, p, tail, this.maxLine);
      this.skipping = true;
      this.filled = 0;
      return;
    }
    if (tail > 0 && p > 0) area.copyWithin(0, p, end);
    this.filled = tail;
    // A line within the cap fills the whole area: only a scanner made smaller than the cap (tests') has
    // such an area. It grows to hold any line the cap allows and its newline, so the line is read whole.
    if (tail === area.length) this.area = this.aggregator.growInputArea(tail, this.maxLine + 1);
  }

  /** The end of the item: an unfinished last line (no newline after it) is a line all the same. */
  finish(): void {
    if (!this.skipping && this.filled > 0) this.aggregator.scanInPlace(0, this.filled, this.maxLine);
    this.filled = 0;
  }

  /** The reading broke off: an unfinished line is a cut record, evidence of the break, not usage. */
  cutOff(): void {
    if (!this.skipping && this.filled > 0) {
      this.aggregator.malformed(
        'truncated-line',
        'the file breaks off inside this line',
        this.area,
        0,
        this.filled,
      );
    }
    this.filled = 0;
  }
}

/**
 * Where the first line starting at or after byte `pos` begins: `pos` itself when a newline precedes
 * it, else just after the next newline (or the end of the file). Both neighbours of a cut point compute
 * the same answer, which is what makes ranges meet without gap or overlap.
 */
export function lineStartAtOrAfter(fd: number, pos: number, size: number): number {
  if (pos <= 0) return 0;
  if (pos >= size) return size;
  let p = pos - 1;
  while (p < size) {
    const bytesRead = readSync(fd, probe, 0, Math.min(PROBE_BYTES, size - p), p);
    if (bytesRead === 0) break;
    const nl = probe.indexOf(10);
    if (nl !== -1 && nl < bytesRead) return p + nl + 1;
    p += bytesRead;
  }
  return size;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
