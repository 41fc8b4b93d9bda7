/**
 * Holding records (one per line that read a whole object with status 200 or 206; see
 * ../../domain/HOLDINGS.md) read out of the scanner and summed into partial holdings rows, one per run
 * of reads of one object by one rollup key in one slot, in columns beside the rollup rows, so they
 * leave a worker thread with the rows as typed arrays. The identity of each read with a request id is
 * kept beside its row (by `ref`), so that the writer can take a repeated delivery back out.
 */
import type { ColumnarHeldLines, ColumnarHeldReads } from '../../domain/holdings.js';
import { SLOT_MS } from '../../domain/usage.js';
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
  const l = h.lines;
  return [
    h.item,
    h.ref,
    h.bucket,
    h.requester,
    h.accessPoint,
    h.dataset,
    h.objectKey,
    h.versionId,
    h.slot,
    h.objectSize,
    h.records,
    h.firstMs,
    h.lastMs,
    h.retrievals,
    h.fullRetrievals,
    h.bytesSent,
    l.item,
    l.ref,
    l.hashHigh,
    l.hashLow,
    l.full,
    l.bytesSent,
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
  const l = h.lines;
  for (let i = 0; i < l.count; i++) l.item[i] = items[l.item[i]!]!.fileId;
}

/** Sums held reads into partial rows in columns that grow as needed. */
export class HeldReadBuilder {
  count = 0;
  private item = new Int32Array(0);
  private ref = new Int32Array(0);
  private bucket = new Int32Array(0);
  private requester = new Int32Array(0);
  private accessPoint = new Int32Array(0);
  private dataset = new Int32Array(0);
  private objectKey = new Int32Array(0);
  private versionId = new Int32Array(0);
  private slot = new Int32Array(0);
  private objectSize = new Float64Array(0);
  private records = new Float64Array(0);
  private firstMs = new Float64Array(0);
  private lastMs = new Float64Array(0);
  private retrievals = new Float64Array(0);
  private fullRetrievals = new Float64Array(0);
  private bytesSent = new Float64Array(0);
  private readonly lines = new HeldLineBuilder();
  /** The row each (key entry, object entry) pair sums into now; rows of the current item only. */
  private readonly open = new Map<number, number>();
  private openItem = -1;
  /** Rows sent so far in this task: a row's ref is this plus its index. */
  private refBase = 0;

  /** Identities collected so far. */
  get lineCount(): number {
    return this.lines.count;
  }

  /** Refs start again at 0 (a new task). */
  newRefSpace(): void {
    this.refBase = 0;
  }

  /** The scanner's table entries are about to be reused: no new read may sum into a row by them. */
  forgetEntries(): void {
    this.open.clear();
  }

  /**
   * Sums the scanner's `n` holding records for `item` into rows: key entries through `keys` (already
   * learnt), object entries through `objects` (decoded here on first sight).
   */
  push(w: WasmScanner, n: number, item: number, keys: KeyEntryIds, objects: ObjectTexts): void {
    if (item !== this.openItem) {
      this.open.clear();
      this.openItem = item;
    }
    const ints = w.ints;
    const floats = w.floats;
    const at = w.exports.holdingsPtr() >> 2;
    for (let r = 0; r < n; r++) {
      const k = at + r * HOLDING_INTS;
      const entry = ints[k + 2]!;
      const object = objects.learn(w, ints[k + 3]!);
      const time = floats[(k >> 1) + 2]!;
      const bytes = floats[(k >> 1) + 3]!;
      const size = floats[(k >> 1) + 4]!;
      const full = ints[k + 10]! === 200 ? 1 : 0;
      const slot = Math.floor(time / SLOT_MS);
      // Entries are below 2^16 each (the scanner's tables hold 65536), so the pair is one exact number.
      const pair = entry * 65536 + object;
      let i = this.open.get(pair);
      if (
        i === undefined ||
        this.slot[i] !== slot ||
        this.objectSize[i] !== size ||
        this.bytesSent[i]! + bytes > Number.MAX_SAFE_INTEGER
      ) {
        i = this.count;
        if (i === this.item.length) this.grow();
        this.item[i] = item;
        this.ref[i] = this.refBase + i;
        this.bucket[i] = keys.bucket[entry]!;
        this.requester[i] = keys.requester[entry]!;
        this.accessPoint[i] = keys.accessPoint[entry]!;
        this.dataset[i] = keys.dataset[entry]!;
        this.objectKey[i] = objects.key[object]!;
        this.versionId[i] = objects.version[object]!;
        this.slot[i] = slot;
        this.objectSize[i] = size;
        this.records[i] = objects.records[object]!;
        this.firstMs[i] = time;
        this.lastMs[i] = time;
        this.retrievals[i] = 0;
        this.fullRetrievals[i] = 0;
        this.bytesSent[i] = 0;
        this.count = i + 1;
        this.open.set(pair, i);
      }
      if (time < this.firstMs[i]!) this.firstMs[i] = time;
      if (time > this.lastMs[i]!) this.lastMs[i] = time;
      this.retrievals[i]! += 1;
      this.fullRetrievals[i]! += full;
      this.bytesSent[i]! += bytes;
      // Little-endian memory: the u64 identity is its low word, then its high word; 0 without one.
      const low = ints[k]!;
      const high = ints[k + 1]!;
      if (low !== 0 || high !== 0) this.lines.push(item, this.refBase + i, high, low, full, bytes);
    }
  }

  /** The rows summed so far; the builder starts empty again (and its refs go on from there). */
  take(): ColumnarHeldReads {
    const n = this.count;
    this.count = 0;
    this.refBase += n;
    this.open.clear();
    return {
      count: n,
      item: this.item.slice(0, n),
      ref: this.ref.slice(0, n),
      bucket: this.bucket.slice(0, n),
      requester: this.requester.slice(0, n),
      accessPoint: this.accessPoint.slice(0, n),
      dataset: this.dataset.slice(0, n),
      objectKey: this.objectKey.slice(0, n),
      versionId: this.versionId.slice(0, n),
      slot: this.slot.slice(0, n),
      objectSize: this.objectSize.slice(0, n),
      records: this.records.slice(0, n),
      firstMs: this.firstMs.slice(0, n),
      lastMs: this.lastMs.slice(0, n),
      retrievals: this.retrievals.slice(0, n),
      fullRetrievals: this.fullRetrievals.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
      lines: this.lines.take(),
    };
  }

  private grow(): void {
    const n = Math.max(1024, this.item.length * 2);
    this.item = growInt(this.item, n);
    this.ref = growInt(this.ref, n);
    this.bucket = growInt(this.bucket, n);
    this.requester = growInt(this.requester, n);
    this.accessPoint = growInt(this.accessPoint, n);
    this.dataset = growInt(this.dataset, n);
    this.objectKey = growInt(this.objectKey, n);
    this.versionId = growInt(this.versionId, n);
    this.slot = growInt(this.slot, n);
    this.objectSize = growFloat(this.objectSize, n);
    this.records = growFloat(this.records, n);
    this.firstMs = growFloat(this.firstMs, n);
    this.lastMs = growFloat(this.lastMs, n);
    this.retrievals = growFloat(this.retrievals, n);
    this.fullRetrievals = growFloat(this.fullRetrievals, n);
    this.bytesSent = growFloat(this.bytesSent, n);
  }
}

/** Collects the identities of held reads into columns. */
class HeldLineBuilder {
  count = 0;
  private item = new Int32Array(0);
  private ref = new Int32Array(0);
  private hashHigh = new Int32Array(0);
  private hashLow = new Int32Array(0);
  private full = new Int32Array(0);
  private bytesSent = new Float64Array(0);

  push(item: number, ref: number, high: number, low: number, full: number, bytes: number): void {
    const i = this.count;
    if (i === this.item.length) {
      const n = Math.max(1024, this.item.length * 2);
      this.item = growInt(this.item, n);
      this.ref = growInt(this.ref, n);
      this.hashHigh = growInt(this.hashHigh, n);
      this.hashLow = growInt(this.hashLow, n);
      this.full = growInt(this.full, n);
      this.bytesSent = growFloat(this.bytesSent, n);
    }
    this.item[i] = item;
    this.ref[i] = ref;
    this.hashHigh[i] = high;
    this.hashLow[i] = low;
    this.full[i] = full;
    this.bytesSent[i] = bytes;
    this.count = i + 1;
  }

  take(): ColumnarHeldLines {
    const n = this.count;
    this.count = 0;
    return {
      count: n,
      item: this.item.slice(0, n),
      ref: this.ref.slice(0, n),
      hashHigh: this.hashHigh.slice(0, n),
      hashLow: this.hashLow.slice(0, n),
      full: this.full.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
    };
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
