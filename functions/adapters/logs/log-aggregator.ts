/**
 * The ingestion hot loop. Blocks of whole lines go to the WebAssembly scanner (wasm-scanner.ts), which
 * scans each line, finds its rollup key (bucket, requester, operation, access point, dataset) in a table
 * of byte strings of its own, and adds the line to its rollup row (slot, status class, key): a good line
 * comes back to JavaScript only as a 32-byte line record of its request's identity (for counting each
 * request once; see ../duckdb/request-claims.ts), read out in bulk with the rows. This side decodes each key's text once, looks each new object's
 * records up in the manifest, turns failure codes into malformed-line counts and samples, and reads the
 * rows out into a RowBatchBuilder when the item ends or the scanner's rows fill.
 *
 * Memory is bounded: the scanner's rows and tables are emptied whenever they fill, so a file spanning
 * months costs no more than one spanning an hour; rows with the same key from two emptyings are summed
 * where the rows are written. A sum that would pass 2^53 leaves as a partial row first, so every sum
 * stays exact.
 */
import { datasetOf, SLOT_MS } from '../../domain/usage.js';
import { describeFailure, type MalformedReason } from './access-log-parser.js';
import { growInt } from './grow-arrays.js';
import { type HeldReadBuilder, ObjectTexts } from './holdings-batch.js';
import type { Manifest } from './manifest.js';
import { NetworkKeyTexts } from './network-rows.js';
import type { RowBatchBuilder } from './row-batch.js';
import { StringTable } from './string-table.js';
import {
  BLOCK_SIZES,
  DATASET_KIND,
  FAIL,
  heldObjectOf,
  NET_STATUS,
  RECORD_INTS,
  ScannerMemoryError,
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
  /** Line records (request identities) the scanner holds before they are read out. @default 32768 */
  readonly lineRecords?: number;
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
/** Bytes of a malformed line kept for its sample (SAMPLE_CHARS characters of up to 4 bytes). */
const PREVIEW_BYTES = 1200;

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
  private readonly output: RowBatchBuilder;
  /** Where whole-object reads go (see HOLDINGS.md); without it none are kept. */
  private readonly held: HeldReadBuilder | undefined;
  private readonly objects: ObjectTexts;
  /** The item the rows summed now belong to. */
  private item = 0;
  /** Entries of the scanner's object-key table whose records it has been given. */
  private objectsKnown = 0;
  private counts: ItemCounts = newCounts();
  /** The `ref` of the scanner's row 0: rows emptied so far in this ref space (see newRefSpace). */
  private refBase = 0;

  constructor(options: AggregatorOptions, output: RowBatchBuilder, held?: HeldReadBuilder) {
    this.manifest = options.manifest;
    this.sampleLimit = options.sampleLimit;
    this.scanner = new WasmScanner(
      options.datasetDepth,
      SLOT_MS,
      options.manifest !== undefined,
      options.scannerSizes ?? BLOCK_SIZES,
      // A line takes a rollup row and a network row: with one row, no line could ever be added.
      Math.max(2, options.maxTableRows ?? 65536),
      options.scanner,
    );
    this.keys = new KeyTexts(this.strings, options.datasetDepth);
    this.output = output;
    this.held = held;
    const manifest = options.manifest;
    this.objects = new ObjectTexts(
      this.strings,
      objectKey,
      manifest === undefined ? undefined : (key) => recordsAsNumber(manifest.recordsFor(key), key),
    );
    if (this.scanner.exports.initLineRecords(options.lineRecords ?? 32768) !== 0) {
      throw new ScannerMemoryError('the log scanner could not allocate its line records');
    }
    if (held !== undefined) {
      this.scanner.exports.initHoldings();
      held.kept = true;
    }
    this.scanner.refresh();
  }

  /**
   * Numbers partial rows from 0 again, for a new task (rows are then named by task and ref). Between
   * tasks every row has gone out already: `finish` ended the last item.
   */
  newRefSpace(): void {
    if (this.scanner.exports.rowCount_() !== 0 || this.scanner.exports.lineRecordCount_() !== 0) {
      throw new RangeError('newRefSpace: rows of the last item were not read out (call finish first)');
    }
    this.refBase = 0;
    // Holdings rows name their keys and objects by index in dictionaries of the task.
    this.held?.newTask();
  }

  /**
   * Start counting a new item; rows added from now on carry `item` (the previous item's go out first).
   * With `merged`, the rows summed so far stay and go on summing the new item's lines: one partial row
   * per key for many small files (a row then carries the item that was current when it went out, so
   * the caller must treat the merged items as one). Counts, samples and request identities stay the
   * item's own either way.
   */
  begin(item: number, merged = false): void {
    if (merged) this.drainLines();
    else this.flushRows();
    this.item = item;
    this.counts = newCounts();
  }

  /**
   * The scanner's input area, for a reader that puts text straight into it and hands whole lines to
   * `scanInPlace`: the bytes are then scanned where they lie. Valid until `growInputArea` (which moves it).
   */
  inputArea(): Buffer {
    const w = this.scanner;
    w.refresh();
    const at = w.exports.inputPtr();
    return w.bytes.subarray(at, at + w.exports.inputCapacity());
  }

  /**
   * Makes the input area at least `capacity` bytes, keeping its first `keep` bytes, and returns it (the
   * area moves): for a line within the cap that the area cannot hold, in a scanner made smaller than the
   * cap.
   */
  growInputArea(keep: number, capacity: number): Buffer {
    // A copy: the area moves to fresh memory, which may reuse the old area's bytes.
    const kept = Buffer.from(this.inputArea().subarray(0, keep));
    this.scanner.exports.reserveInput(capacity);
    const area = this.inputArea();
    kept.copy(area, 0);
    return area;
  }

  /**
   * Whole lines at bytes [from, to) of the input area (see inputArea): each ended by a newline, the last
   * one may lack it. A line of more than `maxLine` bytes is malformed (`line-too-long`).
   */
  scanInPlace(from: number, to: number, maxLine: number): void {
    this.run(this.scanner.exports.inputPtr(), from, to, maxLine);
  }

  /**
   * Scans bytes [from, length) of the input area (at `at`). The scanner sums good lines into its rows and
   * stops when it needs this side: to read rows out, to empty a table, or to look a new object's records
   * up.
   */
  private run(at: number, from: number, length: number, maxLine: number): void {
    const x = this.scanner.exports;
    let start = from;
    // The table emptied last with no line scanned since: full again at once, a line cannot fit it.
    let emptied = -1;
    for (;;) {
      const n = x.scanBlock(start, length, Math.min(maxLine, MAX_I32));
      const seen = x.linesSeen_();
      this.drain(n, at, seen, maxLine);
      const stop = x.stoppedBecause();
      start = x.resumeAt();
      if (stop === STOP.done) return;
      if (seen > 0) emptied = -1;
      if (stop === STOP.keysFull || stop === STOP.objectsFull) {
        if (stop === emptied) throw new RangeError('a line holds more key text than the scanner tables take');
        emptied = stop;
      }
      switch (stop) {
        case STOP.outputFull:
          break;
        case STOP.keysFull:
          // Rows refer to key entries: they go out before the entries are forgotten.
          this.flushRows();
          this.keys.reset();
          x.resetTable(TABLE.keys);
          break;
        case STOP.objectsFull:
          // Holdings rows name object entries: they go out before the entries are forgotten (rollup
          // rows hold an object's records already).
          if (this.held !== undefined) this.flushRows();
          x.resetTable(TABLE.objects);
          this.objects.reset();
          this.objectsKnown = 0;
          break;
        case STOP.rowsFull:
          this.flushRows();
          break;
        case STOP.newObjects:
          this.learnObjects();
          break;
        case STOP.linesFull:
          this.drainLines();
          break;
        case STOP.rowOverflow: {
          const row = x.overflowRow_();
          this.emitRow(row);
          x.zeroRow(row);
          break;
        }
        default:
          throw new RangeError(`the log scanner stopped for an unknown reason ${stop}`);
      }
    }
  }

  /** Counts the `seen` lines of the last scanBlock call, `n` of them malformed (their records out). */
  private drain(n: number, at: number, seen: number, maxLine: number): void {
    const counts = this.counts;
    const before = counts.lines;
    if (n > 0) {
      const w = this.scanner;
      const ints = w.ints;
      const out = w.exports.outPtr() >> 2;
      for (let i = 0; i < n; i++) {
        const r = out + i * RECORD_INTS;
        // The lines before this one in the call, good or not, come first in the numbering.
        counts.lines = before + ints[r + 7]!;
        this.failed(-ints[r]!, r, at, maxLine);
      }
    }
    counts.lines = before + seen;
    counts.parsedLines += seen - n;
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

  /** Moves every row the scanner summed to the output and empties its rows. */
  private flushRows(): void {
    const x = this.scanner.exports;
    // Line records name rows of this emptying: they go out before the rows are renumbered.
    this.drainLines();
    const count = x.rowCount_();
    for (let row = 0; row < count; row++) this.emitRow(row);
    if (count > 0) x.resetRows();
    this.refBase += count;
  }

  /** Moves the scanner's line records (request identities) to the output. */
  private drainLines(): void {
    const w = this.scanner;
    const n = w.exports.lineRecordCount_();
    if (n === 0) return;
    w.refresh();
    this.output.pushLines(w.exports.memory.buffer, w.exports.lineRecordsPtr(), n, this.item, this.refBase);
    w.exports.resetLineRecords();
  }

  /**
   * Row `row` of the scanner to the output, its text columns as string ids: a rollup row, a network row
   * (status NET_STATUS) to the output's network rows, or a holdings row (status below 0) to the held
   * reads. An empty row (added for a line the scanner then stopped at) is skipped.
   */
  private emitRow(row: number): void {
    const w = this.scanner;
    const k = (w.exports.rowKeysPtr() >> 2) + row * 4;
    const f = (w.exports.rowSumsPtr() >> 3) + row * 4;
    if (w.floats[f] === 0) return;
    const entry = w.ints[k + 2]!;
    const keys = this.keys;
    if (entry >= keys.size) keys.learn(w);
    const status = w.ints[k + 1]!;
    if (status < 0) {
      this.held!.push(
        this.item,
        w.ints[k]!,
        keys,
        entry,
        this.objects,
        this.objects.learn(w, heldObjectOf(status)),
        w.ints[k + 3]!,
        w.floats[f]!,
        w.floats[f + 1]!,
        w.floats[f + 2]!,
        w.floats[f + 3]!,
        this.refBase + row,
      );
      return;
    }
    if (status === NET_STATUS) {
      this.output.network.push(
        this.item,
        w.ints[k]!,
        keys.network,
        entry,
        w.floats[f]!,
        w.floats[f + 1]!,
        w.floats[f + 2]!,
        w.floats[f + 3]!,
        this.refBase + row,
      );
      return;
    }
    this.output.push(
      this.item,
      w.ints[k]!,
      w.ints[k + 1]!,
      keys.bucket[entry]!,
      keys.requester[entry]!,
      keys.accessPoint[entry]!,
      keys.dataset[entry]!,
      keys.operation[entry]!,
      w.floats[f]!,
      w.floats[f + 1]!,
      w.floats[f + 2]!,
      this.refBase + row,
    );
  }

  /** Count one line of `length` bytes, over the cap `maxLine`, its start at `a` in `b` kept as its sample. */
  tooLong(b: Buffer, a: number, length: number, maxLine: number): void {
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

  /**
   * Ends the current item: its rows go to the builder (with `keepRows`, they stay, for the next item to
   * go on summing: see `begin`, merged); returns its counts.
   */
  finish(keepRows = false): ItemCounts {
    if (keepRows) this.drainLines();
    else this.flushRows();
    return this.counts;
  }

  /** Looks the records of the object keys the scanner added up in the manifest, and hands them back. */
  private learnObjects(): void {
    const w = this.scanner;
    const count = w.entryCount(TABLE.objects);
    const records = w.exports.objectRecordsPtr() >> 3;
    for (let object = this.objectsKnown; object < count; object++) {
      const at = w.entry(TABLE.objects, object);
      const length = w.ints[at.int + 1]!;
      const logged = w.bytes.toString('utf8', at.text, at.text + length);
      const key = logged === '' || logged === '-' ? '-' : objectKey(logged);
      w.floats[records + object] = recordsAsNumber(this.manifest!.recordsFor(key), key);
    }
    w.exports.objectsLearnt(count);
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
  /** The texts of network key entries (kind DATASET_KIND.network), by entry. */
  readonly network: NetworkKeyTexts;
  private readonly dashId: number;
  private readonly rootId: number;

  constructor(
    private readonly strings: StringTable,
    private readonly depth: number,
  ) {
    this.dashId = strings.id('-');
    this.rootId = strings.id('/');
    this.network = new NetworkKeyTexts(strings);
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
      const kind = ints[k + 6]!;
      if (kind === DATASET_KIND.network) {
        // The principal (a rollup entry with the line's requester and access point, an earlier one, so
        // learnt), remote address, host header, source region (scanner.ts, networkEntry).
        const rollup = mem.readInt32LE(p);
        p += 4;
        this.network.learn(
          entry,
          this.requester[rollup]!,
          this.accessPoint[rollup]!,
          next(ints[k + 2]!),
          next(ints[k + 3]!),
          next(ints[k + 4]!),
        );
        continue;
      }
      this.bucket[entry] = strings.id(next(ints[k + 1]!));
      this.requester[entry] = strings.id(next(ints[k + 2]!));
      this.operation[entry] = strings.id(next(ints[k + 3]!));
      this.accessPoint[entry] = strings.id(next(ints[k + 4]!));
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
