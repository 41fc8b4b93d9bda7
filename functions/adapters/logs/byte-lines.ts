/**
 * Cutting a byte stream into lines without copying them: each complete line is handed on as a range of
 * the chunk it arrived in, and only the piece of a line that straddles two chunks is copied (into one
 * reused carry buffer). A line longer than the cap is reported once, from a bounded preview, and never
 * held whole, however many chunks it spans.
 */
import { isAscii } from 'node:buffer';

/** Bytes of an over-long or cut-off line kept for its sample (300 characters of up to 4 bytes). */
export const PREVIEW_BYTES = 1200;

const NEWLINE = 10;
const EMPTY = Buffer.alloc(0);

/** Receives each complete line as bytes [start, end) of `bytes`, without its newline. */
export type ByteLineHandler = (bytes: Buffer, start: number, end: number) => void;

/**
 * Receives bytes [start, end) of `bytes` holding whole lines, each ended by a newline: the line cap is
 * the receiver's to apply.
 */
export type ByteBlockHandler = (bytes: Buffer, start: number, end: number) => void;

/** Receives the start of an over-long line (at most PREVIEW_BYTES) and how many bytes of it were seen. */
export type TooLongHandler = (preview: Buffer, lengthSeen: number) => void;

/** The byte-level line splitter every ingestion path uses. */
export class ByteLineSplitter {
  private carry: Buffer;
  private carryLength = 0;
  /** Inside an over-long line (already reported), dropping bytes up to the next newline. */
  private skipping = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: ByteLineHandler,
    private readonly onTooLong: TooLongHandler,
    /** When given, the complete lines of each chunk go here in one piece instead of one by one to onLine. */
    private readonly onBlock?: ByteBlockHandler,
  ) {
    // Allocated when a line first straddles two chunks: most small files never need it.
    this.carry = EMPTY;
  }

  /** Feed the next bytes of the stream. `chunk` may be reused by the caller once this returns. */
  push(chunk: Buffer, from = 0, to = chunk.length): void {
    let p = from;
    if (this.skipping) {
      const nl = indexOfNewline(chunk, p, to);
      if (nl === -1) return;
      this.skipping = false;
      p = nl + 1;
    } else if (this.carryLength > 0) {
      const nl = indexOfNewline(chunk, p, to);
      if (nl === -1) {
        this.addCarry(chunk, p, to);
        return;
      }
      const length = this.carryLength + (nl - p);
      if (length > this.maxBytes) {
        this.onTooLong(this.preview(chunk, p, nl), length);
      } else {
        this.ensureCarry(length);
        chunk.copy(this.carry, this.carryLength, p, nl);
        this.onLine(this.carry, 0, length);
      }
      this.carryLength = 0;
      p = nl + 1;
    }
    if (this.onBlock !== undefined) {
      const last = p < to ? chunk.lastIndexOf(NEWLINE, to - 1) : -1;
      if (last >= p) {
        this.onBlock(chunk, p, last + 1);
        p = last + 1;
      }
      if (p < to) this.addCarry(chunk, p, to);
      return;
    }
    const max = this.maxBytes;
    const onLine = this.onLine;
    while (p < to) {
      const nl = indexOfNewline(chunk, p, to);
      if (nl === -1) break;
      if (nl - p > max) this.onTooLong(chunk.subarray(p, p + PREVIEW_BYTES), nl - p);
      else onLine(chunk, p, nl);
      p = nl + 1;
    }
    if (p < to) this.addCarry(chunk, p, to);
  }

  /** The unfinished last line (no newline after it) as bytes, or null; the splitter is then empty. */
  end(): Buffer | null {
    if (this.carryLength === 0) return null;
    const line = this.carry.subarray(0, this.carryLength);
    this.carryLength = 0;
    return line;
  }

  private addCarry(chunk: Buffer, a: number, b: number): void {
    const length = this.carryLength + (b - a);
    if (length > this.maxBytes) {
      this.onTooLong(this.preview(chunk, a, b), length);
      this.carryLength = 0;
      this.skipping = true;
      return;
    }
    this.ensureCarry(length);
    chunk.copy(this.carry, this.carryLength, a, b);
    this.carryLength = length;
  }

  private ensureCarry(length: number): void {
    if (length <= this.carry.length) return;
    const bigger = Buffer.allocUnsafe(
      Math.min(Math.max(length, this.carry.length * 2, 1024), this.maxBytes + 1),
    );
    this.carry.copy(bigger, 0, 0, this.carryLength);
    this.carry = bigger;
  }

  /** The first PREVIEW_BYTES of the carried bytes followed by chunk[a, b). */
  private preview(chunk: Buffer, a: number, b: number): Buffer {
    const fromCarry = Math.min(this.carryLength, PREVIEW_BYTES);
    const fromChunk = Math.min(b - a, PREVIEW_BYTES - fromCarry);
    const out = Buffer.allocUnsafe(fromCarry + fromChunk);
    this.carry.copy(out, 0, 0, fromCarry);
    chunk.copy(out, fromCarry, a, a + fromChunk);
    return out;
  }
}

/** Index of the next newline in [from, to), or -1. */
function indexOfNewline(chunk: Buffer, from: number, to: number): number {
  const nl = chunk.indexOf(NEWLINE, from);
  return nl === -1 || nl >= to ? -1 : nl;
}

/**
 * The splitter with lines as text, decoded as latin1 (one byte is one char, so the cap is exact); `ascii`
 * says whether the line held only ASCII bytes. For callers that want strings; ingestion uses the bytes.
 */
export class LineSplitter {
  private readonly bytes: ByteLineSplitter;

  constructor(
    maxBytes: number,
    onLine: (line: string, ascii: boolean) => void,
    onTooLong: (preview: string, lengthSeen: number) => void,
  ) {
    this.bytes = new ByteLineSplitter(
      maxBytes,
      (b, start, end) => onLine(b.toString('latin1', start, end), isAscii(b.subarray(start, end))),
      (preview, length) => onTooLong(preview.toString('latin1'), length),
    );
  }

  push(chunk: Buffer): void {
    this.bytes.push(chunk);
  }

  /** The unfinished last line (no newline after it), or null. */
  end(): string | null {
    const rest = this.bytes.end();
    return rest === null ? null : rest.toString('latin1');
  }
}
