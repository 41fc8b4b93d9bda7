/**
 * The ingestion hot loop. Blocks of whole lines go to the WebAssembly scanner (wasm-scanner.ts), which
 * scans each line and finds its rollup key (bucket, requester, operation, access point, dataset) in a
 * table of byte strings of its own; what comes back is a few integers a line: key entry, slot, status
 * class, bytes sent. This side adds them to rollup rows in a table keyed by small integers, decodes each
 * new key's text once, and turns failure codes into malformed-line counts and samples, so the loop
 * allocates nothing per line. Rows leave through a RowBatchBuilder.
 *
 * Memory is bounded: the row table is emptied into the builder whenever it reaches its limit, so a
 * file spanning months costs no more than one spanning an hour; rows with the same key from two
 * emptyings are summed where the rows are written.
 */
import { datasetOf, SLOT_MS } from '../../domain/usage.js';
import { describeFailure, type MalformedReason } from './access-log-parser.js';
import { PREVIEW_BYTES } from './byte-lines.js';
import type { Manifest } from './manifest.js';
import type { RowBatchBuilder } from './row-batch.js';
import { StringTable } from './string-table.js';
import {
  BLOCK_SIZES,
  DATASET_KIND,
  FAIL,
  RECORD_INTS,
  type ScannerSizes,
  STOP,
  TABLE,
  WasmScanner,
} from './wasm-scanner.js';

export interface AggregatorOptions {
  /** Path segments of a key that name its dataset (see datasetOf); a whole number of at least 1. */
  readonly datasetDepth: number;
  /** Records per object; without one every row counts 0 records. */
  readonly manifest?: Manifest;
  /** Malformed lines kept as evidence per item, from its start. */
  readonly sampleLimit: number;
  /** Rows the table holds before it is emptied into the builder. @default 65536 */
  readonly maxTableRows?: number;
  /** The compiled scanner (a worker thread is handed the main thread's). @default compiled here */
  readonly scanner?: WebAssembly.Module;
  /** Sizes of the scanner's memory areas (tests make them small to reach their limits). */
  readonly scannerSizes?: ScannerSizes;
}

/** A malformed line kept as evidence; `line` counts from 1 within the item. */
export interface LineSample {
  readonly line: number;
  readonly reason: string;
  readonly text: string;
}

/** What one item (a file, or a range of one) held besides its rows. */
export interface ItemCounts {
  lines: number;
  parsedLines: number;
  malformedLines: number;
  malformedByReason: Record<string, number>;
  samples: LineSample[];
}

/** Characters of a malformed line kept as its sample. */
export const SAMPLE_CHARS = 300;

const NEWLINE = 10;
const MAX_I32 = 0x7fffffff;
/** A count past this is moved out of the table before an addition could lose precision. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** Counts lines of items and sums parsed lines into rollup rows. */
export class LogAggregator {
  /** Every string the rows' id columns refer to. */
  readonly strings = new StringTable();
  private readonly scanner: WasmScanner;
  private readonly manifest: Manifest | undefined;
  private readonly sampleLimit: number;
  private readonly keys: KeyTexts;
  /** Records per the manifest of each entry of the scanner's object-key table. */
  private recordValues = new Float64Array(1024);
  private objectsKnown = 0;
  private readonly table: RollupTable;
  private counts: ItemCounts = newCounts();

  constructor(options: AggregatorOptions, output: RowBatchBuilder) {
    this.manifest = options.manifest;
    this.sampleLimit = options.sampleLimit;
    this.scanner = new WasmScanner(
      options.datasetDepth,
      SLOT_MS,
      options.manifest !== undefined,
      options.scannerSizes ?? BLOCK_SIZES,
      options.scanner,
    );
    this.keys = new KeyTexts(this.strings, options.datasetDepth);
    this.table = new RollupTable(options.maxTableRows ?? 65536, this.keys, output);
  }

  /** Start counting a new item; rows added from now on carry `item`. */
  begin(item: number): void {
    this.table.setItem(item);
    this.counts = newCounts();
  }

  /** One line: bytes [a, e) of `b`, without its newline. */
  line(b: Buffer, a: number, e: number): void {
    if (e === a) {
      // A block of no bytes holds no line for the scanner to report: the blank line is counted here.
      const blank = describeFailure(FAIL.empty, 0, b, a, a, a);
      this.malformed(blank.reason, blank.detail, b, a, a);
      return;
    }
    this.run(this.scanner.load(b, a, e), e - a, MAX_I32);
  }

  /**
   * Whole lines: bytes [a, e) of `b`, each line ended by a newline (the last one may lack it). A line of
   * more than `maxLine` bytes is malformed (`line-too-long`). Lines longer than the scanner's input area
   * are cut out and read one at a time.
   */
  block(b: Buffer, a: number, e: number, maxLine: number): void {
    const capacity = this.scanner.exports.inputCapacity();
    let p = a;
    while (p < e) {
      let cut = e;
      if (e - p > capacity) {
        const nl = b.lastIndexOf(NEWLINE, p + capacity - 1);
        if (nl < p) {
          // One line longer than the input area: alone, as a line of its own.
          const next = b.indexOf(NEWLINE, p);
          const end = next === -1 || next >= e ? e : next;
          if (end - p > maxLine) this.tooLong(b, p, end - p, maxLine);
          else this.line(b, p, end);
          p = end + 1;
          continue;
        }
        cut = nl + 1;
      }
      this.run(this.scanner.load(b, p, cut), cut - p, maxLine);
      p = cut;
    }
  }

  /** Scans the `length` bytes loaded at `at`, emptying the key table whenever it fills. */
  private run(at: number, length: number, maxLine: number): void {
    const x = this.scanner.exports;
    let start = 0;
    let emptied = false;
    for (;;) {
      const n = x.scanBlock(start, length, Math.min(maxLine, MAX_I32));
      this.drain(n, at, maxLine);
      const stop = x.stoppedBecause();
      start = x.resumeAt();
      if (stop === STOP.done) return;
      if (stop === STOP.outputFull) {
        emptied = false;
        continue;
      }
      if (n === 0 && emptied) throw new RangeError('a line holds more key text than the scanner tables take');
      emptied = true;
      if (stop === STOP.keysFull) {
        // Rows refer to entries: they go to the builder before the entries are forgotten.
        this.table.flush();
        this.keys.reset();
        x.resetTable(TABLE.keys);
      } else {
        // Records are added as lines are drained: nothing holds an object entry past that.
        this.objectsKnown = 0;
        x.resetTable(TABLE.objects);
      }
    }
  }

  /** Adds the `n` output records of the last scanBlock over the bytes loaded at `at`. */
  private drain(n: number, at: number, maxLine: number): void {
    const w = this.scanner;
    const ints = w.ints;
    const floats = w.floats;
    const out = w.exports.outPtr() >> 2;
    const outBytes = w.exports.outBytesPtr() >> 3;
    const counts = this.counts;
    const keys = this.keys;
    const table = this.table;
    for (let i = 0; i < n; i++) {
      const r = out + i * RECORD_INTS;
      const entry = ints[r]!;
      if (entry < 0) {
        this.failed(-entry, r, at, maxLine);
        continue;
      }
      if (entry >= keys.size) keys.learn(w);
      counts.lines++;
      counts.parsedLines++;
      // The scanner names an object only for a whole object delivered (see assembly/scanner.ts).
      const object = ints[r + 7]!;
      let records = 0;
      if (object >= 0) {
        if (object >= this.objectsKnown) this.learnObjects();
        records = this.recordValues[object]!;
      }
      table.add(ints[r + 3]!, ints[r + 4]! & 255, entry, floats[outBytes + i]!, records);
    }
  }

  /** A malformed line's output record `r`. */
  private failed(kind: number, r: number, at: number, maxLine: number): void {
    const w = this.scanner;
    const ints = w.ints;
    const a = at + ints[r + 1]!;
    if (kind === FAIL.tooLong) {
      this.tooLong(w.bytes, a, ints[r + 3]!, maxLine);
      return;
    }
    const e = at + ints[r + 2]!;
    const failure = describeFailure(kind, ints[r + 3]!, w.bytes, a, at + ints[r + 5]!, at + ints[r + 6]!);
    this.malformed(failure.reason, failure.detail, w.bytes, a, Math.min(e, a + PREVIEW_BYTES));
  }

  private tooLong(b: Buffer, a: number, length: number, maxLine: number): void {
    this.malformed('line-too-long', `over ${maxLine} bytes (${length} read)`, b, a, a + PREVIEW_BYTES);
  }

  /** Count one malformed line, keeping bytes [a, e) (the start of the line) as its sample. */
  malformed(reason: MalformedReason, detail: string, b: Buffer, a: number, e: number): void {
    const counts = this.counts;
    counts.lines++;
    counts.malformedLines++;
    counts.malformedByReason[reason] = (counts.malformedByReason[reason] ?? 0) + 1;
    if (counts.samples.length < this.sampleLimit) {
      counts.samples.push({
        line: counts.lines,
        reason: `${reason}: ${detail}`,
        text: b.toString('utf8', a, Math.min(e, a + PREVIEW_BYTES, b.length)).slice(0, SAMPLE_CHARS),
      });
    }
  }

  /** Ends the current item: its rows go to the builder; returns its counts. */
  finish(): ItemCounts {
    this.table.flush();
    return this.counts;
  }

  /** Records per the manifest of the object keys the scanner added since the last call. */
  private learnObjects(): void {
    const w = this.scanner;
    const count = w.entryCount(TABLE.objects);
    if (count > this.recordValues.length) {
      const bigger = new Float64Array(Math.max(count, this.recordValues.length * 2));
      bigger.set(this.recordValues);
      this.recordValues = bigger;
    }
    for (let object = this.objectsKnown; object < count; object++) {
      const at = w.entry(TABLE.objects, object);
      const length = w.ints[at.int + 1]!;
      const logged = w.bytes.toString('utf8', at.text, at.text + length);
      const key = logged === '' || logged === '-' ? '-' : objectKey(logged);
      this.recordValues[object] = recordsAsNumber(this.manifest!.recordsFor(key), key);
    }
    this.objectsKnown = count;
  }
}

function newCounts(): ItemCounts {
  return { lines: 0, parsedLines: 0, malformedLines: 0, malformedByReason: {}, samples: [] };
}

function recordsAsNumber(records: bigint, key: string): number {
  if (records > BigInt(MAX_EXACT)) {
    throw new RangeError(`the manifest gives ${key} ${records} records, more than 2^53 - 1 per object`);
  }
  return Number(records);
}

/** The object key a logged key stands for: S3 logs keys URL-encoded; manifests list them plain. */
export function objectKey(logged: string): string {
  if (!logged.includes('%')) return logged;
  try {
    return decodeURIComponent(logged);
  } catch {
    return logged;
  }
}

/**
 * The text of each key entry of the scanner's table (bucket, requester, operation, access point,
 * dataset) as string ids, decoded once when the entry first appears. Two byte spellings of the same text
 * (an empty field and `-`; `a/` and `%61/`) are two entries with the same string ids; their rows are
 * summed with the rest where rows are written.
 */
class KeyTexts {
  /** Entries learnt so far (the scanner's entries are numbered from 0 in the order they were added). */
  size = 0;
  bucket = new Int32Array(256);
  requester = new Int32Array(256);
  operation = new Int32Array(256);
  accessPoint = new Int32Array(256);
  dataset = new Int32Array(256);
  private readonly dashId: number;
  private readonly rootId: number;

  constructor(
    private readonly strings: StringTable,
    private readonly depth: number,
  ) {
    this.dashId = strings.id('-');
    this.rootId = strings.id('/');
  }

  /** Decodes the entries the scanner added since the last call. */
  learn(w: WasmScanner): void {
    const count = w.entryCount(TABLE.keys);
    if (count > this.bucket.length) this.grow(count);
    const ints = w.ints;
    const mem = w.bytes;
    const strings = this.strings;
    for (let entry = this.size; entry < count; entry++) {
      const at = w.entry(TABLE.keys, entry);
      const k = at.int;
      let p = at.text;
      const next = (length: number) => {
        const text = length > 0 ? mem.toString('utf8', p, p + length) : '-';
        p += length;
        return text;
      };
      this.bucket[entry] = strings.id(next(ints[k + 1]!));
      this.requester[entry] = strings.id(next(ints[k + 2]!));
      this.operation[entry] = strings.id(next(ints[k + 3]!));
      this.accessPoint[entry] = strings.id(next(ints[k + 4]!));
      const kind = ints[k + 6]!;
      const dataset = kind === DATASET_KIND.raw || kind === DATASET_KIND.encoded ? next(ints[k + 5]!) : '';
      this.dataset[entry] =
        kind === DATASET_KIND.dash
          ? this.dashId
          : kind === DATASET_KIND.root
            ? this.rootId
            : kind === DATASET_KIND.raw
              ? strings.id(dataset)
              : // An escape before the dataset's end may hide a `/` (%2F) or change the text: decode the key.
                strings.id(datasetOf(objectKey(dataset), this.depth));
    }
    this.size = count;
  }

  /** Forgets every entry (the scanner's table was emptied). */
  reset(): void {
    this.size = 0;
  }

  private grow(count: number): void {
    let n = this.bucket.length;
    while (n < count) n *= 2;
    this.bucket = growInt(this.bucket, n);
    this.requester = growInt(this.requester, n);
    this.operation = growInt(this.operation, n);
    this.accessPoint = growInt(this.accessPoint, n);
    this.dataset = growInt(this.dataset, n);
  }
}

function growInt(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

/**
 * Rollup rows under construction, keyed by slot, status class and key entry in an open-addressing
 * table. Emptied into the builder when full, at the end of an item, and row by row when a count would
 * pass 2^53.
 */
class RollupTable {
  private size = 0;
  private slots: Int32Array;
  private readonly mask: number;
  private readonly keySlot: Int32Array;
  private readonly keyStatus: Int32Array;
  private readonly keyText: Int32Array;
  private readonly requests: Float64Array;
  private readonly bytes: Float64Array;
  private readonly records: Float64Array;
  private item = 0;

  constructor(
    private readonly maxRows: number,
    private readonly texts: KeyTexts,
    private readonly output: RowBatchBuilder,
  ) {
    let capacity = 16;
    while (capacity < maxRows * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.keySlot = new Int32Array(maxRows);
    this.keyStatus = new Int32Array(maxRows);
    this.keyText = new Int32Array(maxRows);
    this.requests = new Float64Array(maxRows);
    this.bytes = new Float64Array(maxRows);
    this.records = new Float64Array(maxRows);
  }

  /** Rows from now on belong to `item` (the rows of the previous one go to the builder first). */
  setItem(item: number): void {
    this.flush();
    this.item = item;
  }

  add(slot: number, status: number, text: number, bytesSent: number, records: number): void {
    let h = Math.imul(slot, 0x9e3779b1) ^ status;
    h = Math.imul(h ^ text, 0x85ebca6b);
    h ^= h >>> 15;
    const mask = this.mask;
    let s = h & mask;
    let entry: number;
    for (;;) {
      entry = this.slots[s]! - 1;
      if (entry < 0) break;
      if (this.keyText[entry] === text && this.keySlot[entry] === slot && this.keyStatus[entry] === status)
        break;
      s = (s + 1) & mask;
    }
    if (entry < 0) {
      if (this.size === this.maxRows) {
        this.flush();
        s = h & mask;
      }
      entry = this.size++;
      this.keySlot[entry] = slot;
      this.keyStatus[entry] = status;
      this.keyText[entry] = text;
      this.requests[entry] = 0;
      this.bytes[entry] = 0;
      this.records[entry] = 0;
      this.slots[s] = entry + 1;
    }
    if (this.bytes[entry]! + bytesSent > MAX_EXACT || this.records[entry]! + records > MAX_EXACT) {
      this.emit(entry);
      this.requests[entry] = 0;
      this.bytes[entry] = 0;
      this.records[entry] = 0;
    }
    this.requests[entry] = this.requests[entry]! + 1;
    this.bytes[entry] = this.bytes[entry]! + bytesSent;
    this.records[entry] = this.records[entry]! + records;
  }

  /** Moves every row into the builder and empties the table. */
  flush(): void {
    for (let entry = 0; entry < this.size; entry++) this.emit(entry);
    if (this.size > 0) this.slots.fill(0);
    this.size = 0;
  }

  private emit(entry: number): void {
    const t = this.keyText[entry]!;
    const texts = this.texts;
    this.output.push(
      this.item,
      this.keySlot[entry]!,
      this.keyStatus[entry]!,
      texts.bucket[t]!,
      texts.requester[t]!,
      texts.accessPoint[t]!,
      texts.dataset[t]!,
      texts.operation[t]!,
      this.requests[entry]!,
      this.bytes[entry]!,
      this.records[entry]!,
    );
  }
}
