/**
 * Byte-slice interning for the ingestion hot loop: a field's bytes are looked up in an open-addressing
 * table and decoded into a string only the first time they are seen. A log of ten million lines names
 * a few hundred requesters and datasets; decoding and hashing each occurrence as a JS string would
 * allocate ten million strings for nothing.
 */

/** Strings by a small integer id, each string once; ids are dense and start at 0. */
export class StringTable {
  readonly values: string[] = [];
  private readonly ids = new Map<string, number>();

  id(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
    }
    return id;
  }
}

const EMPTY_SLOT = 0;

/**
 * Maps byte slices to dense entry numbers (0, 1, ...), keeping a copy of each slice's bytes. A caller
 * keeps what it needs per entry (a string id, a record count) in its own arrays, indexed by entry.
 * Slices are hashed and compared four bytes at a time through DataViews.
 */
export class ByteInterner {
  /** Entries held; `find` past `maxEntries` first empties the table (see `cleared`). */
  size = 0;
  /** Whether the last `find` added its slice. */
  added = false;
  /** Incremented each time the table is emptied to stay under `maxEntries`. */
  cleared = 0;
  private slots: Int32Array;
  private mask: number;
  private hashes: Int32Array;
  private offsets: Int32Array;
  private lengths: Int32Array;
  private arena: Uint8Array;
  private arenaView: DataView;
  private arenaUsed = 0;
  /** The entry found last: a field often repeats its previous value (one bucket, a few operations). */
  private last = -1;

  constructor(
    private readonly maxEntries = 1 << 30,
    initialCapacity = 256,
  ) {
    let capacity = 16;
    while (capacity < initialCapacity * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.hashes = new Int32Array(initialCapacity);
    this.offsets = new Int32Array(initialCapacity);
    this.lengths = new Int32Array(initialCapacity);
    this.arena = new Uint8Array(initialCapacity * 32);
    this.arenaView = new DataView(this.arena.buffer);
  }

  /** The entry of bytes [a, e) of `b` (`view` is a DataView of `b`), added if new (then `added` is true). */
  find(b: Uint8Array, view: DataView, a: number, e: number): number {
    const length = e - a;
    const last = this.last;
    if (last >= 0 && this.lengths[last] === length && this.equals(last, view, a, length)) {
      this.added = false;
      return last;
    }
    const hash = hashBytes(view, a, e);
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const entry = this.slots[slot]! - 1;
      if (entry < 0) break;
      if (
        this.hashes[entry] === hash &&
        this.lengths[entry] === length &&
        this.equals(entry, view, a, length)
      ) {
        this.added = false;
        this.last = entry;
        return entry;
      }
      slot = (slot + 1) & mask;
    }
    if (this.size >= this.maxEntries) {
      this.clear();
      return this.find(b, view, a, e);
    }
    const entry = this.add(b, a, e, hash);
    this.slots[slot] = entry + 1;
    if (this.size * 2 > this.slots.length) this.grow();
    this.added = true;
    this.last = entry;
    return entry;
  }

  /** Forget every entry (entry numbers start again at 0). */
  clear(): void {
    this.slots.fill(EMPTY_SLOT);
    this.size = 0;
    this.arenaUsed = 0;
    this.last = -1;
    this.cleared++;
  }

  private equals(entry: number, view: DataView, a: number, length: number): boolean {
    const arena = this.arenaView;
    let i = this.offsets[entry]!;
    let j = a;
    const end = a + length;
    for (; j + 4 <= end; i += 4, j += 4) if (arena.getInt32(i, true) !== view.getInt32(j, true)) return false;
    for (; j < end; i++, j++) if (arena.getUint8(i) !== view.getUint8(j)) return false;
    return true;
  }

  private add(b: Uint8Array, a: number, e: number, hash: number): number {
    const entry = this.size++;
    if (entry >= this.hashes.length) {
      const n = this.hashes.length * 2;
      this.hashes = grown(this.hashes, n);
      this.offsets = grown(this.offsets, n);
      this.lengths = grown(this.lengths, n);
    }
    const length = e - a;
    if (this.arenaUsed + length > this.arena.length) {
      const bigger = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + length));
      bigger.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = bigger;
      this.arenaView = new DataView(bigger.buffer);
    }
    this.arena.set(b.subarray(a, e), this.arenaUsed);
    this.hashes[entry] = hash;
    this.offsets[entry] = this.arenaUsed;
    this.lengths[entry] = length;
    this.arenaUsed += length;
    return entry;
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.mask = this.slots.length - 1;
    this.reinsert();
  }

  private reinsert(): void {
    const mask = this.mask;
    for (let entry = 0; entry < this.size; entry++) {
      let slot = this.hashes[entry]! & mask;
      while (this.slots[slot] !== EMPTY_SLOT) slot = (slot + 1) & mask;
      this.slots[slot] = entry + 1;
    }
  }
}

/** A hash of bytes [a, e), four at a time. */
function hashBytes(view: DataView, a: number, e: number): number {
  let h = Math.imul(e - a + 1, 0x9e3779b1);
  let i = a;
  for (; i + 4 <= e; i += 4) {
    h = Math.imul(h ^ view.getInt32(i, true), 0x5bd1e995);
    h ^= h >>> 15;
  }
  for (; i < e; i++) h = Math.imul(h ^ view.getUint8(i), 0x01000193);
  h ^= h >>> 13;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 16);
}

function grown(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}
