/**
 * Holding records (one per line that read a whole object with status 200 or 206; see
 * ../../domain/HOLDINGS.md) read out of the scanner into columns beside the rollup rows, so they leave a
 * worker thread with the rows, as typed arrays, and are staged and summed where the rows are.
 */
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import type { StringTable } from './string-table.js';
import { TABLE, type WasmScanner } from './wasm-scanner.js';

/** Int32 words of one holding record (see assembly/scanner.ts, noteHolding). */
const HOLDING_INTS = 12;

/** The string ids of a rollup key entry, as the aggregator decoded them. */
export interface KeyEntryIds {
  readonly bucket: Int32Array;
  readonly requester: Int32Array;
  readonly accessPoint: Int32Array;
  readonly dataset: Int32Array;
}

/** The typed arrays of held reads, for `postMessage`'s transfer list. */
export function heldReadBuffers(h: ColumnarHeldReads): ArrayBuffer[] {
  return [
    h.item,
    h.hashHigh,
    h.hashLow,
    h.bucket,
    h.requester,
    h.accessPoint,
    h.dataset,
    h.objectKey,
    h.versionId,
    h.status,
    h.timeMs,
    h.bytesSent,
    h.objectSize,
    h.records,
  ].map((a) => a.buffer as ArrayBuffer);
}

/** Held reads of a worker's task in the pool's terms: string ids through `map`, items as file ids. */
export function translateHeldReads(
  h: ColumnarHeldReads,
  map: Int32Array,
  items: readonly { readonly fileId: number }[],
): void {
  for (const column of [h.bucket, h.requester, h.accessPoint, h.dataset, h.objectKey, h.versionId]) {
    for (let i = 0; i < h.count; i++) column[i] = map[column[i]!]!;
  }
  for (let i = 0; i < h.count; i++) h.item[i] = items[h.item[i]!]!.fileId;
}

/** Collects held reads into columns that grow as needed. */
export class HeldReadBuilder {
  count = 0;
  private item = new Int32Array(0);
  private hashHigh = new Int32Array(0);
  private hashLow = new Int32Array(0);
  private bucket = new Int32Array(0);
  private requester = new Int32Array(0);
  private accessPoint = new Int32Array(0);
  private dataset = new Int32Array(0);
  private objectKey = new Int32Array(0);
  private versionId = new Int32Array(0);
  private status = new Int32Array(0);
  private timeMs = new Float64Array(0);
  private bytesSent = new Float64Array(0);
  private objectSize = new Float64Array(0);
  private records = new Float64Array(0);

  /**
   * Copies the scanner's `n` holding records for `item`: key entries through `keys` (already learnt),
   * object entries through `objects` (decoded here on first sight).
   */
  push(w: WasmScanner, n: number, item: number, keys: KeyEntryIds, objects: ObjectTexts): void {
    if (this.count + n > this.item.length) this.grow(this.count + n);
    const ints = w.ints;
    const floats = w.floats;
    const at = w.exports.holdingsPtr() >> 2;
    let i = this.count;
    for (let r = 0; r < n; r++, i++) {
      const k = at + r * HOLDING_INTS;
      const entry = ints[k + 2]!;
      const object = objects.learn(w, ints[k + 3]!);
      this.item[i] = item;
      // Little-endian memory: the u64 hash is its low word, then its high word.
      this.hashLow[i] = ints[k]!;
      this.hashHigh[i] = ints[k + 1]!;
      this.bucket[i] = keys.bucket[entry]!;
      this.requester[i] = keys.requester[entry]!;
      this.accessPoint[i] = keys.accessPoint[entry]!;
      this.dataset[i] = keys.dataset[entry]!;
      this.objectKey[i] = objects.key[object]!;
      this.versionId[i] = objects.version[object]!;
      this.status[i] = ints[k + 10]!;
      this.timeMs[i] = floats[(k >> 1) + 2]!;
      this.bytesSent[i] = floats[(k >> 1) + 3]!;
      this.objectSize[i] = floats[(k >> 1) + 4]!;
      this.records[i] = objects.records[object]!;
    }
    this.count = i;
  }

  take(): ColumnarHeldReads {
    const n = this.count;
    this.count = 0;
    return {
      count: n,
      item: this.item.slice(0, n),
      hashHigh: this.hashHigh.slice(0, n),
      hashLow: this.hashLow.slice(0, n),
      bucket: this.bucket.slice(0, n),
      requester: this.requester.slice(0, n),
      accessPoint: this.accessPoint.slice(0, n),
      dataset: this.dataset.slice(0, n),
      objectKey: this.objectKey.slice(0, n),
      versionId: this.versionId.slice(0, n),
      status: this.status.slice(0, n),
      timeMs: this.timeMs.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
      objectSize: this.objectSize.slice(0, n),
      records: this.records.slice(0, n),
    };
  }

  private grow(needed: number): void {
    let n = Math.max(1024, this.item.length * 2);
    while (n < needed) n *= 2;
    this.item = growInt(this.item, n);
    this.hashHigh = growInt(this.hashHigh, n);
    this.hashLow = growInt(this.hashLow, n);
    this.bucket = growInt(this.bucket, n);
    this.requester = growInt(this.requester, n);
    this.accessPoint = growInt(this.accessPoint, n);
    this.dataset = growInt(this.dataset, n);
    this.objectKey = growInt(this.objectKey, n);
    this.versionId = growInt(this.versionId, n);
    this.status = growInt(this.status, n);
    this.timeMs = growFloat(this.timeMs, n);
    this.bytesSent = growFloat(this.bytesSent, n);
    this.objectSize = growFloat(this.objectSize, n);
    this.records = growFloat(this.records, n);
  }
}

/**
 * The text of each entry of the scanner's object table as string ids (the key decoded as the manifest
 * reads it, and the version id, `-` without one), decoded when a holding first names the entry.
 */
export class ObjectTexts {
  key = new Int32Array(256).fill(-1);
  version = new Int32Array(256);
  /** Records of the object per the manifest (0 without one). */
  records = new Float64Array(256);
  private readonly dashId: number;

  constructor(
    private readonly strings: StringTable,
    private readonly decode: (logged: string) => string,
    private readonly recordsOf?: (key: string) => number,
  ) {
    this.dashId = strings.id('-');
  }

  /** Entry `object`'s index here, decoding it if it is new. */
  learn(w: WasmScanner, object: number): number {
    if (object >= this.key.length) this.grow(object + 1);
    if (this.key[object]! >= 0) return object;
    const at = w.entry(TABLE.objects, object);
    const keyLength = w.ints[at.int + 1]!;
    const versionLength = w.ints[at.int + 2]!;
    const logged = w.bytes.toString('utf8', at.text, at.text + keyLength);
    const key = logged === '' || logged === '-' ? '-' : this.decode(logged);
    this.key[object] = this.strings.id(key);
    this.records[object] = this.recordsOf === undefined ? 0 : this.recordsOf(key);
    this.version[object] =
      versionLength > 0
        ? this.strings.id(w.bytes.toString('utf8', at.text + keyLength, at.text + keyLength + versionLength))
        : this.dashId;
    return object;
  }

  /** Forgets every entry (the scanner's object table was emptied). */
  reset(): void {
    this.key.fill(-1);
  }

  private grow(count: number): void {
    let n = this.key.length;
    while (n < count) n *= 2;
    const key = new Int32Array(n).fill(-1);
    key.set(this.key);
    this.key = key;
    this.version = growInt(this.version, n);
    this.records = growFloat(this.records, n);
  }
}

function growInt(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function growFloat(a: Float64Array, n: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}
