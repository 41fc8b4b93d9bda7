/**
 * The JavaScript side of the WebAssembly access-log scanner (assembly/scanner.ts, compiled to
 * assembly/scanner.wasm by `npm run build:wasm`). One instance owns its own memory: an input area that
 * lines are copied into, the tables of rollup keys and object keys, the rollup rows being summed, and
 * the output records of malformed lines.
 *
 * Output record of `scanBlock`, eight int32 for each malformed line: [0] minus the failure kind, [1], [2]
 * where the line starts and ends in the input area (without its newline), [3] the kind's argument (a
 * field count, a field index, a length), [5], [6] the offending bytes, [7] how many lines of the call
 * came before it.
 *
 * Rollup rows: keys as four int32 (slot, status class, key entry, unused) at `rowKeysPtr`, sums as four
 * float64 (requests, bytes sent, records, unused) at `rowSumsPtr`. Network rows share them: key (15-minute
 * slot, NET_STATUS, network key entry), sums (requests, bytes sent, first ms, last ms). So do holdings
 * rows: key (slot, heldObjectOf's status, key entry, reads that were 200s), sums (reads, bytes sent,
 * first ms, last ms).
 */
import { compileWasm, instantiateWasm } from '../wasm-runtime.js';

/** Failure kinds, as assembly/scanner.ts numbers them. */
export const FAIL = {
  empty: 1,
  tooFew: 2,
  noBracket: 3,
  noClose: 4,
  badTime: 5,
  noSpaceAfterTime: 6,
  uriQuote: 7,
  refererQuote: 8,
  agentQuote: 9,
  badStatus: 10,
  badCount: 11,
  tooLong: 12,
  notQuoted: 13,
  trailingQuote: 14,
} as const;

/** Dataset kinds of a key entry; `network` marks a network key (see network-rows.ts). */
export const DATASET_KIND = { dash: 0, root: 1, raw: 2, encoded: 3, network: 4 } as const;

/** The status of a network row (rollup rows have the indexes of STATUS_BY_INDEX). */
export const NET_STATUS = 15;

/** The object entry of a holdings row, whose status is below 0 (scanner.ts, heldStatus): `-object - 1`. */
export function heldObjectOf(status: number): number {
  return -status - 1;
}

/** Why scanBlock stopped (before the line it stopped at, which the next call scans again). */
export const STOP = {
  done: 0,
  outputFull: 1,
  keysFull: 2,
  objectsFull: 3,
  rowsFull: 4,
  newObjects: 5,
  rowOverflow: 6,
  /** The line records (request identities, see initLineRecords) are full. */
  linesFull: 7,
} as const;

/**
 * Bytes of one line record: hash (u64), row (i32), slot (i32), bytes sent (f64), records (f64), network
 * row (i32), holdings row (i32, -1 for none).
 */
export const LINE_RECORD_BYTES = 40;

/** The scanner's two tables: rollup keys, and object keys of whole-object reads. */
export const TABLE = { keys: 0, objects: 1 } as const;

/** Int32 words of one output record. */
export const RECORD_INTS = 8;
/** Int32 words of one table entry: arena offset, five field lengths, dataset kind, hash. */
export const ENTRY_INTS = 8;

interface ScannerExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(
    depth: number,
    slotMs: number,
    records: boolean,
    inputBytes: number,
    outLines: number,
    entries: number,
    arena: number,
    rows: number,
  ): number;
  inputPtr(): number;
  inputCapacity(): number;
  resultPtr(): number;
  startsPtr(): number;
  endsPtr(): number;
  outPtr(): number;
  rowKeysPtr(): number;
  rowSumsPtr(): number;
  rowCount_(): number;
  objectRecordsPtr(): number;
  overflowRow_(): number;
  linesSeen_(): number;
  objectsLearnt(count: number): void;
  resetRows(): void;
  zeroRow(row: number): void;
  tablePtr(which: number): number;
  reserveInput(bytes: number): number;
  scanOne(length: number): number;
  scanBlock(start: number, length: number, maxLine: number): number;
  resumeAt(): number;
  stoppedBecause(): number;
  resetTable(which: number): void;
  initLineRecords(capacity: number): number;
  lineRecordsPtr(): number;
  lineRecordCount_(): number;
  resetLineRecords(): void;
  initHoldings(): number;
}

/** Sizes of an instance's areas. */
export interface ScannerSizes {
  /** Bytes of lines one scanBlock call takes. */
  readonly inputBytes: number;
  /** Output records one scanBlock call writes at most. */
  readonly outLines: number;
  /** Distinct keys a table holds before it must be emptied. */
  readonly entries: number;
  /** Bytes of key text a table holds before it must be emptied. */
  readonly arenaBytes: number;
}

/** For the ingestion hot loop: a 4 MiB read in one call, 64 Ki keys. */
export const BLOCK_SIZES: ScannerSizes = {
  inputBytes: 4 * 1024 * 1024 + 64 * 1024,
  outLines: 16384,
  entries: 65536,
  arenaBytes: 4 * 1024 * 1024,
};

/** For one line at a time (parseAccessLogLine). */
export const LINE_SIZES: ScannerSizes = { inputBytes: 64 * 1024, outLines: 1, entries: 1, arenaBytes: 64 };

let compiled: WebAssembly.Module | undefined;

/**
 * The compiled scanner (compiled once per thread). A worker thread is handed the main thread's module
 * instead, since a bundled worker has no path to the .wasm file.
 */
export function scannerModule(): WebAssembly.Module {
  compiled ??= compileWasm(new URL('./assembly/scanner.wasm', import.meta.url));
  return compiled;
}

/** The scanner could not set its memory up. */
export class ScannerMemoryError extends Error {
  override readonly name = 'ScannerMemoryError';
}

/** One instance of the scanner, with views of its memory that follow the memory when it grows. */
export class WasmScanner {
  readonly exports: ScannerExports;
  private buffer: ArrayBuffer;
  /** The memory as bytes, int32 and float64 (rebuilt by `refresh` after growth). */
  bytes: Buffer;
  ints: Int32Array;
  floats: Float64Array;
  view: DataView;

  /**
   * `records`: whether whole-object reads look their object key up (a manifest gives records); `rows`:
   * rollup rows held before they must be read out.
   */
  constructor(
    depth: number,
    slotMs: number,
    records: boolean,
    sizes: ScannerSizes,
    rows: number,
    module: WebAssembly.Module = scannerModule(),
  ) {
    this.exports = instantiateWasm(module) as ScannerExports;
    const ok = this.exports.init(
      depth,
      slotMs,
      records,
      sizes.inputBytes,
      sizes.outLines,
      sizes.entries,
      sizes.arenaBytes,
      rows,
    );
    if (ok !== 0) throw new ScannerMemoryError('the log scanner could not allocate its memory');
    this.buffer = this.exports.memory.buffer;
    this.bytes = Buffer.from(this.buffer);
    this.ints = new Int32Array(this.buffer);
    this.floats = new Float64Array(this.buffer);
    this.view = new DataView(this.buffer);
  }

  /** Re-creates the views if the memory grew (which detaches the old buffer). */
  refresh(): void {
    const buffer = this.exports.memory.buffer;
    if (buffer === this.buffer) return;
    this.buffer = buffer;
    this.bytes = Buffer.from(buffer);
    this.ints = new Int32Array(buffer);
    this.floats = new Float64Array(buffer);
    this.view = new DataView(buffer);
  }

  /** Entries in table `which` (see TABLE). */
  entryCount(which: number): number {
    return this.ints[(this.exports.tablePtr(which) >> 2) + 1]!;
  }

  /** Where entry `entry` of table `which` lies: its first int in `ints`, and its text's offset in `bytes`. */
  entry(which: number, entry: number): { readonly int: number; readonly text: number } {
    const t = this.exports.tablePtr(which) >> 2;
    const int = (this.ints[t]! >> 2) + entry * ENTRY_INTS;
    return { int, text: this.ints[t + 5]! + this.ints[int]! };
  }

  /** Copies bytes [from, to) of `source` to the input area (made large enough) and returns where it is. */
  load(source: Uint8Array, from: number, to: number): number {
    const x = this.exports;
    const length = to - from;
    const at = length > x.inputCapacity() ? x.reserveInput(length) : x.inputPtr();
    this.refresh();
    this.bytes.set(source.subarray(from, to), at);
    return at;
  }
}
