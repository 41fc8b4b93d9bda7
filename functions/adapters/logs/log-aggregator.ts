/**
 * The ingestion hot loop: scan a line's bytes, take the few fields the rollup keeps (time, bucket,
 * requester, access point, key, operation, status, bytes sent), and add the line to its rollup row in
 * a table keyed by small integers. Strings are decoded once per distinct value (see ByteInterner), so
 * the loop allocates nothing per line. Rows leave through a RowBatchBuilder.
 *
 * Memory is bounded: the row table is emptied into the builder whenever it reaches its limit, so a
 * file spanning months costs no more than one spanning an hour; rows with the same key from two
 * emptyings are summed where the rows are written.
 */
import { datasetOf, SLOT_MS } from '../../domain/usage.js';
import { FIELD, LineScanner, type MalformedReason } from './access-log-parser.js';
import { ByteInterner, StringTable } from './byte-interner.js';
import { PREVIEW_BYTES } from './byte-lines.js';
import type { Manifest } from './manifest.js';
import type { RowBatchBuilder } from './row-batch.js';

export interface AggregatorOptions {
  /** Path segments of a key that name its dataset (see datasetOf); a whole number of at least 1. */
  readonly datasetDepth: number;
  /** Records per object; without one every row counts 0 records. */
  readonly manifest?: Manifest;
  /** Malformed lines kept as evidence per item, from its start. */
  readonly sampleLimit: number;
  /** Rows the table holds before it is emptied into the builder. @default 65536 */
  readonly maxTableRows?: number;
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

/** Operations that read a whole object when they succeed with 200. */
const FULL_READ_OPERATIONS = new Set(['REST.GET.OBJECT', 'WEBSITE.GET.OBJECT']);

/** Entries of the per-key caches (dataset of an encoded key, records of a key) before they are emptied. */
const KEY_CACHE_ENTRIES = 1 << 16;

const DASH = 45;
const SLASH = 47;
const PERCENT = 37;
/** A count past this is moved out of the table before an addition could lose precision. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** Counts lines of items and sums parsed lines into rollup rows. */
export class LogAggregator {
  /** Every string the rows' id columns refer to. */
  readonly strings = new StringTable();
  private readonly scanner = new LineScanner();
  private readonly depth: number;
  private readonly manifest: Manifest | undefined;
  private readonly sampleLimit: number;
  private readonly dashId: number;
  private readonly rootId: number;
  private readonly keys: KeyIds;
  /** Raw keys holding `%`: their dataset once decoded. */
  private readonly encodedKeys = new FieldIds(this.strings, KEY_CACHE_ENTRIES);
  /** Raw keys of full reads: records per the manifest. */
  private readonly recordKeys = new ByteInterner(KEY_CACHE_ENTRIES, 1024);
  private recordValues = new Float64Array(1024);
  private readonly table: RollupTable;
  private counts: ItemCounts = newCounts();

  constructor(options: AggregatorOptions, output: RowBatchBuilder) {
    this.depth = options.datasetDepth;
    this.manifest = options.manifest;
    this.sampleLimit = options.sampleLimit;
    this.dashId = this.strings.id('-');
    this.rootId = this.strings.id('/');
    this.keys = new KeyIds(this.strings);
    this.table = new RollupTable(options.maxTableRows ?? 65536, this.keys, output);
  }

  /** Start counting a new item; rows added from now on carry `item`. */
  begin(item: number): void {
    this.table.setItem(item);
    this.counts = newCounts();
  }

  /** One line: bytes [a, e) of `b`, without its newline. */
  line(b: Buffer, a: number, e: number): void {
    const scanner = this.scanner;
    if (!scanner.scan(b, a, e)) {
      this.malformed(scanner.reason, scanner.detail, b, a, Math.min(e, a + PREVIEW_BYTES));
      return;
    }
    const counts = this.counts;
    counts.lines++;
    counts.parsedLines++;
    const st = scanner.start;
    const en = scanner.end;
    const view = scanner.view;
    const slot = Math.floor(scanner.timeMs / SLOT_MS);
    const s0 = st[FIELD.httpStatus]!;
    const first = b[s0]!;
    const status = en[FIELD.httpStatus]! - s0 === 3 && first >= 49 && first <= 53 ? first - 48 : 0;

    // The dataset: raw key bytes up to the cut when no escape comes first, else a string id.
    const k0 = st[FIELD.key]!;
    const k1 = en[FIELD.key]!;
    let datasetEnd = k0;
    let datasetId = this.dashId;
    if (k1 > k0 && !(k1 - k0 === 1 && b[k0] === DASH)) {
      const depth = this.depth;
      let slashes = 0;
      let cut = -1;
      for (let i = k0; i < k1; i++) {
        const c = b[i];
        if (c === SLASH) {
          cut = i;
          if (++slashes === depth) break;
        } else if (c === PERCENT) {
          // An escape before the dataset's end may hide a `/` (%2F) or change the text: decode the key.
          cut = -2;
          break;
        }
      }
      if (cut >= 0) {
        datasetEnd = cut + 1;
        datasetId = RAW_DATASET;
      } else {
        datasetId =
          cut === -1
            ? this.rootId
            : this.encodedKeys.idOf(b, view, k0, k1, () =>
                datasetOf(objectKey(b.toString('utf8', k0, k1)), depth),
              );
      }
    }
    const hasAccessPoint = scanner.fieldCount > FIELD.accessPointArn;
    const key = this.keys.find(
      b,
      view,
      st[FIELD.bucket]!,
      en[FIELD.bucket]!,
      st[FIELD.requester]!,
      en[FIELD.requester]!,
      st[FIELD.operation]!,
      en[FIELD.operation]!,
      hasAccessPoint ? st[FIELD.accessPointArn]! : 0,
      hasAccessPoint ? en[FIELD.accessPointArn]! : 0,
      k0,
      datasetEnd,
      datasetId,
    );
    let records = 0;
    // Records count only for a whole object delivered: a 206 range read returns part of an object, and
    // its share of records cannot be known from the log, so it counts none (its bytes still count).
    if (this.manifest !== undefined && status === 2 && this.keys.fullRead[key] === 1 && is200(b, s0)) {
      records = this.recordsOf(b, view, k0, k1);
    }
    this.table.add(slot, status, key, scanner.bytesSent, records);
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
        text: b.toString('utf8', a, Math.min(e, a + PREVIEW_BYTES)).slice(0, SAMPLE_CHARS),
      });
    }
  }

  /** Ends the current item: its rows go to the builder; returns its counts. */
  finish(): ItemCounts {
    this.table.flush();
    return this.counts;
  }

  private recordsOf(b: Buffer, view: DataView, a: number, e: number): number {
    const keys = this.recordKeys;
    const entry = keys.find(b, view, a, e);
    if (keys.added) {
      if (entry >= this.recordValues.length) {
        const bigger = new Float64Array(this.recordValues.length * 2);
        bigger.set(this.recordValues);
        this.recordValues = bigger;
      }
      const key = e <= a || (e - a === 1 && b[a] === DASH) ? '-' : objectKey(b.toString('utf8', a, e));
      this.recordValues[entry] = recordsAsNumber(this.manifest!.recordsFor(key), key);
    }
    return this.recordValues[entry]!;
  }
}

function newCounts(): ItemCounts {
  return { lines: 0, parsedLines: 0, malformedLines: 0, malformedByReason: {}, samples: [] };
}

function is200(b: Buffer, s: number): boolean {
  return b[s] === 50 && b[s + 1] === 48 && b[s + 2] === 48;
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

/** Distinct byte values and the string id computed for each. */
class FieldIds {
  private readonly bytes: ByteInterner;
  private ids = new Int32Array(256);

  constructor(
    private readonly strings: StringTable,
    maxEntries?: number,
  ) {
    this.bytes = new ByteInterner(maxEntries, 256);
  }

  /** The string id `compute()` gives for bytes [a, e), computed once per distinct bytes. */
  idOf(b: Buffer, view: DataView, a: number, e: number, compute: () => string): number {
    const entry = this.bytes.find(b, view, a, e);
    if (this.bytes.added) this.set(entry, this.strings.id(compute()));
    return this.ids[entry]!;
  }

  private set(entry: number, id: number): void {
    if (entry >= this.ids.length) {
      const bigger = new Int32Array(Math.max(entry + 1, this.ids.length * 2));
      bigger.set(this.ids);
      this.ids = bigger;
    }
    this.ids[entry] = id;
  }
}

/** `datasetId` of a line whose dataset is the raw key bytes given (no escape before the cut). */
const RAW_DATASET = -1;
/** Ints kept per KeyIds entry: four field lengths, the dataset's length and its id (or RAW_DATASET). */
const KEY_INTS = 6;

/**
 * The part of a rollup key that is text (bucket, requester, operation, access point, dataset), as one
 * small integer: one hash over the fields' bytes and one comparison per line, where five lookups (one
 * per field) cost three times as much. Each entry decodes its fields to string ids once, when added.
 *
 * Two byte spellings of the same text (an empty field and `-`; `a/` and `%61/`) get two entries with the
 * same string ids; their rows are summed with the rest where rows are written.
 */
class KeyIds {
  size = 0;
  /** By entry: string ids of each field. */
  bucket = new Int32Array(256);
  requester = new Int32Array(256);
  operation = new Int32Array(256);
  accessPoint = new Int32Array(256);
  dataset = new Int32Array(256);
  /** By entry: 1 when the operation reads a whole object (REST.GET.OBJECT, WEBSITE.GET.OBJECT). */
  fullRead = new Uint8Array(256);
  private ints = new Int32Array(256 * KEY_INTS);
  private hashes = new Int32Array(256);
  private offsets = new Int32Array(256);
  private slots = new Int32Array(1024);
  private mask = 1023;
  private arena = new Uint8Array(256 * 128);
  private arenaView = new DataView(this.arena.buffer);
  private arenaUsed = 0;

  constructor(private readonly strings: StringTable) {}

  find(
    b: Buffer,
    view: DataView,
    b0: number,
    b1: number,
    r0: number,
    r1: number,
    o0: number,
    o1: number,
    a0: number,
    a1: number,
    d0: number,
    d1: number,
    datasetId: number,
  ): number {
    let h = Math.imul(datasetId + 0x3c6ef372, 0x9e3779b1);
    h = hashRange(view, b0, b1, h);
    h = hashRange(view, r0, r1, h);
    h = hashRange(view, o0, o1, h);
    h = hashRange(view, a0, a1, h);
    h = hashRange(view, d0, d1, h);
    h ^= h >>> 16;
    const ints = this.ints;
    const mask = this.mask;
    let slot = h & mask;
    for (;;) {
      const entry = this.slots[slot]! - 1;
      if (entry < 0) break;
      const k = entry * KEY_INTS;
      if (
        this.hashes[entry] === h &&
        ints[k] === b1 - b0 &&
        ints[k + 1] === r1 - r0 &&
        ints[k + 2] === o1 - o0 &&
        ints[k + 3] === a1 - a0 &&
        ints[k + 4] === d1 - d0 &&
        ints[k + 5] === datasetId
      ) {
        const p0 = this.offsets[entry]!;
        const p1 = p0 + (b1 - b0);
        const p2 = p1 + (r1 - r0);
        const p3 = p2 + (o1 - o0);
        const arena = this.arenaView;
        if (
          sameBytes(arena, p0, view, b0, b1) &&
          sameBytes(arena, p1, view, r0, r1) &&
          sameBytes(arena, p2, view, o0, o1) &&
          sameBytes(arena, p3, view, a0, a1) &&
          sameBytes(arena, p3 + (a1 - a0), view, d0, d1)
        ) {
          return entry;
        }
      }
      slot = (slot + 1) & mask;
    }
    const entry = this.add(b, h, b0, b1, r0, r1, o0, o1, a0, a1, d0, d1, datasetId);
    this.slots[slot] = entry + 1;
    if (this.size * 2 > this.slots.length) this.grow();
    return entry;
  }

  private add(
    b: Buffer,
    h: number,
    b0: number,
    b1: number,
    r0: number,
    r1: number,
    o0: number,
    o1: number,
    a0: number,
    a1: number,
    d0: number,
    d1: number,
    datasetId: number,
  ): number {
    const entry = this.size++;
    if (entry === this.hashes.length) this.growEntries();
    const length = b1 - b0 + (r1 - r0) + (o1 - o0) + (a1 - a0) + (d1 - d0);
    if (this.arenaUsed + length > this.arena.length) {
      const bigger = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + length));
      bigger.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = bigger;
      this.arenaView = new DataView(bigger.buffer);
    }
    this.offsets[entry] = this.arenaUsed;
    const k = entry * KEY_INTS;
    const ranges = [b0, b1, r0, r1, o0, o1, a0, a1, d0, d1];
    for (let f = 0; f < 5; f++) {
      const from = ranges[f * 2]!;
      const to = ranges[f * 2 + 1]!;
      this.ints[k + f] = to - from;
      this.arena.set(b.subarray(from, to), this.arenaUsed);
      this.arenaUsed += to - from;
    }
    this.ints[k + 5] = datasetId;
    this.hashes[entry] = h;
    const text = (from: number, to: number) =>
      this.strings.id(to > from ? b.toString('utf8', from, to) : '-');
    this.bucket[entry] = text(b0, b1);
    this.requester[entry] = text(r0, r1);
    const operation = text(o0, o1);
    this.operation[entry] = operation;
    this.accessPoint[entry] = text(a0, a1);
    this.dataset[entry] = datasetId === RAW_DATASET ? text(d0, d1) : datasetId;
    this.fullRead[entry] = FULL_READ_OPERATIONS.has(this.strings.values[operation]!) ? 1 : 0;
    return entry;
  }

  private growEntries(): void {
    const n = this.hashes.length * 2;
    this.bucket = growInt(this.bucket, n);
    this.requester = growInt(this.requester, n);
    this.operation = growInt(this.operation, n);
    this.accessPoint = growInt(this.accessPoint, n);
    this.dataset = growInt(this.dataset, n);
    const fullRead = new Uint8Array(n);
    fullRead.set(this.fullRead);
    this.fullRead = fullRead;
    this.ints = growInt(this.ints, n * KEY_INTS);
    this.hashes = growInt(this.hashes, n);
    this.offsets = growInt(this.offsets, n);
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.mask = this.slots.length - 1;
    for (let entry = 0; entry < this.size; entry++) {
      let slot = this.hashes[entry]! & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = entry + 1;
    }
  }
}

/** `h` folded with bytes [a, e), four at a time. */
function hashRange(view: DataView, a: number, e: number, h: number): number {
  let i = a;
  for (; i + 4 <= e; i += 4) {
    h = Math.imul(h ^ view.getInt32(i, true), 0x5bd1e995);
    h ^= h >>> 15;
  }
  for (; i < e; i++) h = Math.imul(h ^ view.getUint8(i), 0x01000193);
  return Math.imul(h ^ (e - a), 0x27d4eb2f);
}

/** Whether the bytes at `p` of `arena` equal bytes [a, e) of `view`. */
function sameBytes(arena: DataView, p: number, view: DataView, a: number, e: number): boolean {
  let i = a;
  for (; i + 4 <= e; i += 4, p += 4) if (arena.getInt32(p, true) !== view.getInt32(i, true)) return false;
  for (; i < e; i++, p++) if (arena.getUint8(p) !== view.getUint8(i)) return false;
  return true;
}

function growInt(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

/**
 * Rollup rows under construction, keyed by slot, status class and KeyIds entry in an open-addressing
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
    private readonly texts: KeyIds,
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
