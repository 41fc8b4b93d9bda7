/**
 * Holdings rows (whole-object reads with status 200 or 206, see ../../domain/HOLDINGS.md) as the scanner
 * summed them, one per object, key and slot (200s and 206s together, the 200s counted apart), read out
 * with the rollup rows and kept in columns beside them, so they leave a worker thread with the rows as
 * typed arrays. Each object entry of the scanner is decoded once (ObjectTexts), not once per row.
 */
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import { growFloat, growInt } from './grow-arrays.js';
import type { StringTable } from './string-table.js';
import { TupleDictionary } from './tuple-dictionary.js';
import { TABLE, type WasmScanner } from './wasm-scanner.js';

/** The string ids of a rollup key entry, as the aggregator decoded them. */
export interface KeyEntryIds {
  readonly bucket: Int32Array;
  readonly requester: Int32Array;
  readonly accessPoint: Int32Array;
  readonly dataset: Int32Array;
}

/** The typed arrays of held reads, for `postMessage`'s transfer list. */
export function heldReadBuffers(h: ColumnarHeldReads): ArrayBuffer[] {
  const k = h.keys;
  const o = h.objects;
  return [
    h.item,
    h.ref,
    h.key,
    h.object,
    h.slot,
    h.full,
    h.retrievals,
    h.bytesSent,
    h.firstMs,
    h.lastMs,
    k.bucket,
    k.requester,
    k.accessPoint,
    k.dataset,
    o.objectKey,
    o.versionId,
    o.objectSize,
    o.records,
  ].map((a) => a.buffer as ArrayBuffer);
}

/** Held reads of a worker's task in the pool's terms: string ids through `map`, items as file ids. */
export function translateHeldReads(
  h: ColumnarHeldReads,
  map: Int32Array,
  items: readonly { readonly fileId: number }[],
): void {
  const k = h.keys;
  for (const column of [k.bucket, k.requester, k.accessPoint, k.dataset]) {
    for (let i = 0; i < k.count; i++) column[i] = map[column[i]!]!;
  }
  const o = h.objects;
  for (const column of [o.objectKey, o.versionId]) {
    for (let i = 0; i < o.count; i++) column[i] = map[column[i]!]!;
  }
  for (let i = 0; i < h.count; i++) h.item[i] = items[h.item[i]!]!.fileId;
}

/** Collects the scanner's holdings rows in columns that grow as needed, with the task's dictionaries. */
export class HeldReadBuilder {
  /**
   * Whether an aggregator keeps holdings into this builder (LogAggregator sets it): off, batches carry
   * no holdings and line records no holdings row (`heldRef`).
   */
  kept = false;
  count = 0;
  private item = new Int32Array(0);
  private ref = new Int32Array(0);
  private key = new Int32Array(0);
  private object = new Int32Array(0);
  private slot = new Int32Array(0);
  private full = new Int32Array(0);
  private retrievals = new Float64Array(0);
  private bytesSent = new Float64Array(0);
  private firstMs = new Float64Array(0);
  private lastMs = new Float64Array(0);
  private readonly keys = new TupleDictionary(4, 0);
  private readonly objects = new TupleDictionary(2, 2);
  /**
   * Per scanner key entry and per object entry, the dictionary index it was last given: a row of the
   * same entry then costs a compare of its tuple with that index's (a match is the index: entries are
   * distinct), not a hash and a probe. Never cleared: a stale index fails the compare.
   */
  private keyOfEntry = new Int32Array(256).fill(-1);
  private objectOfEntry = new Int32Array(256).fill(-1);

  /** A new task: its dictionaries start empty (rows name entries by task and index). */
  newTask(): void {
    this.keys.clear();
    this.objects.clear();
  }

  /**
   * One holdings row of the scanner: read by key entry `entry` (its ids in `keys`) in slot `slot`, of
   * object `object` (index into `objects`, learnt), `full` of its `retrievals` 200s, with its sums; `ref`
   * as the rollup's rows are named.
   */
  push(
    item: number,
    slot: number,
    keys: KeyEntryIds,
    entry: number,
    objects: ObjectTexts,
    object: number,
    full: number,
    retrievals: number,
    bytes: number,
    firstMs: number,
    lastMs: number,
    ref: number,
  ): void {
    const i = this.count;
    if (i === this.item.length) this.grow();
    this.item[i] = item;
    this.ref[i] = ref;
    const b = keys.bucket[entry]!;
    const r = keys.requester[entry]!;
    const a = keys.accessPoint[entry]!;
    const d = keys.dataset[entry]!;
    if (entry >= this.keyOfEntry.length) this.keyOfEntry = grownIndex(this.keyOfEntry, entry);
    let k = this.keyOfEntry[entry]!;
    if (!this.keys.holds(k, b, r, a, d, 0, 0)) {
      k = this.keys.index(b, r, a, d, 0, 0);
      this.keyOfEntry[entry] = k;
    }
    this.key[i] = k;
    const ok = objects.key[object]!;
    const ov = objects.version[object]!;
    const os = objects.size[object]!;
    const on = objects.records[object]!;
    if (object >= this.objectOfEntry.length) this.objectOfEntry = grownIndex(this.objectOfEntry, object);
    let o = this.objectOfEntry[object]!;
    if (!this.objects.holds(o, ok, ov, 0, 0, os, on)) {
      o = this.objects.index(ok, ov, 0, 0, os, on);
      this.objectOfEntry[object] = o;
    }
    this.object[i] = o;
    this.slot[i] = slot;
    this.full[i] = full;
    this.retrievals[i] = retrievals;
    this.bytesSent[i] = bytes;
    this.firstMs[i] = firstMs;
    this.lastMs[i] = lastMs;
    this.count = i + 1;
  }

  /** The rows collected so far and the dictionary entries new since the last take; rows start empty again. */
  take(): ColumnarHeldReads {
    const n = this.count;
    this.count = 0;
    const keyFrom = this.keys.sent;
    const [bucket, requester, accessPoint, dataset] = this.keys.takeInts();
    const objectFrom = this.objects.sent;
    const [objectKey, versionId] = this.objects.takeInts();
    const [objectSize, records] = this.objects.takeFloats();
    this.keys.sent = this.keys.size;
    this.objects.sent = this.objects.size;
    return {
      count: n,
      item: this.item.slice(0, n),
      ref: this.ref.slice(0, n),
      key: this.key.slice(0, n),
      object: this.object.slice(0, n),
      slot: this.slot.slice(0, n),
      full: this.full.slice(0, n),
      retrievals: this.retrievals.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
      firstMs: this.firstMs.slice(0, n),
      lastMs: this.lastMs.slice(0, n),
      keys: {
        count: bucket!.length,
        bucket: bucket!,
        requester: requester!,
        accessPoint: accessPoint!,
        dataset: dataset!,
      },
      keyFrom,
      objects: {
        count: objectKey!.length,
        objectKey: objectKey!,
        versionId: versionId!,
        objectSize: objectSize!,
        records: records!,
      },
      objectFrom,
    };
  }

  private grow(): void {
    const n = Math.max(1024, this.item.length * 2);
    this.item = growInt(this.item, n);
    this.ref = growInt(this.ref, n);
    this.key = growInt(this.key, n);
    this.object = growInt(this.object, n);
    this.slot = growInt(this.slot, n);
    this.full = growInt(this.full, n);
    this.retrievals = growFloat(this.retrievals, n);
    this.bytesSent = growFloat(this.bytesSent, n);
    this.firstMs = growFloat(this.firstMs, n);
    this.lastMs = growFloat(this.lastMs, n);
  }
}

/** `index` grown (new places -1) to hold place `at`. */
function grownIndex(index: Int32Array, at: number): Int32Array<ArrayBuffer> {
  let n = index.length;
  while (n <= at) n *= 2;
  const out = new Int32Array(n).fill(-1);
  out.set(index);
  return out;
}

/**
 * The text of each entry of the scanner's object table as string ids (the key decoded as the manifest
 * reads it, and the version id, `-` without one) and its object size as logged (-1 for `-`), decoded
 * when a holdings row first names the entry.
 */
export class ObjectTexts {
  key = new Int32Array(256).fill(-1);
  version = new Int32Array(256);
  size = new Float64Array(256);
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
    const sizeLength = w.ints[at.int + 3]!;
    const logged = w.bytes.toString('utf8', at.text, at.text + keyLength);
    const key = logged === '' || logged === '-' ? '-' : this.decode(logged);
    this.key[object] = this.strings.id(key);
    this.records[object] = this.recordsOf === undefined ? 0 : this.recordsOf(key);
    this.version[object] =
      versionLength > 0
        ? this.strings.id(w.bytes.toString('utf8', at.text + keyLength, at.text + keyLength + versionLength))
        : this.dashId;
    const sizeAt = at.text + keyLength + versionLength;
    const size = w.bytes.toString('latin1', sizeAt, sizeAt + sizeLength);
    // The scanner counted the line: its object size is digits or `-` (or missing: no size).
    this.size[object] = size === '' || size === '-' ? -1 : Number(size);
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
    this.size = growFloat(this.size, n);
    this.records = growFloat(this.records, n);
  }
}
