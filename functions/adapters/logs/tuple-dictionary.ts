/**
 * Distinct small tuples numbered in order of first sight, in typed arrays: the holdings dictionaries of
 * a worker's task (holdings-batch.ts) and of the main thread's stream (../duckdb/holdings-writer.ts).
 */
import { growFloat, growInt } from './grow-arrays.js';

/**
 * Distinct tuples of up to four integers (string ids) and two numbers, numbered in order of first sight:
 * an open-addressing table (linear probing, at most half full) over the tuples kept in typed arrays, so
 * that naming a row's key or object costs a hash and a compare, not a string built per row.
 */
export class TupleDictionary {
  size = 0;
  /** Entries sent so far (take hands on those after). */
  sent = 0;
  /** The tuples: four int32 and two float64 an entry (unused ones 0). */
  private ints = new Int32Array(4 * 256);
  private floats = new Float64Array(2 * 256);
  /** Per table slot: entry + 1 (0 empty). */
  private slots = new Int32Array(512);
  private mask = 511;

  constructor(
    private readonly intCount: number,
    private readonly floatCount: number,
  ) {}

  /** The index of the tuple, added when new. */
  index(i0: number, i1: number, i2: number, i3: number, f0: number, f1: number): number {
    let h = Math.imul(i0 ^ 0x3c6ef372, 0x9e3779b1);
    h = Math.imul(h ^ i1, 0x85ebca6b);
    h = Math.imul(h ^ i2, 0xc2b2ae35);
    h = Math.imul(h ^ i3, 0x27d4eb2f);
    // Sizes and records are whole numbers below 2^53: their low and high 32 bits.
    h = Math.imul(h ^ (f0 | 0) ^ Math.floor(f0 / 4294967296), 0x165667b1);
    h = Math.imul(h ^ (f1 | 0) ^ Math.floor(f1 / 4294967296), 0x9e3779b1);
    h ^= h >>> 15;
    const ints = this.ints;
    const floats = this.floats;
    let s = h & this.mask;
    for (;;) {
      const e = this.slots[s]! - 1;
      if (e < 0) break;
      const k = e << 2;
      if (
        ints[k] === i0 &&
        ints[k + 1] === i1 &&
        ints[k + 2] === i2 &&
        ints[k + 3] === i3 &&
        floats[e << 1] === f0 &&
        floats[(e << 1) + 1] === f1
      ) {
        return e;
      }
      s = (s + 1) & this.mask;
    }
    const e = this.size++;
    if ((e + 1) << 2 > this.ints.length) this.growEntries();
    const k = e << 2;
    this.ints[k] = i0;
    this.ints[k + 1] = i1;
    this.ints[k + 2] = i2;
    this.ints[k + 3] = i3;
    this.floats[e << 1] = f0;
    this.floats[(e << 1) + 1] = f1;
    if (this.size * 2 > this.slots.length) this.rehash();
    else this.slots[s] = e + 1;
    return e;
  }

  /** Whether entry `e` (any number; -1 none) is the tuple given. */
  holds(e: number, i0: number, i1: number, i2: number, i3: number, f0: number, f1: number): boolean {
    if (e < 0 || e >= this.size) return false;
    const k = e << 2;
    const ints = this.ints;
    return (
      ints[k] === i0 &&
      ints[k + 1] === i1 &&
      ints[k + 2] === i2 &&
      ints[k + 3] === i3 &&
      this.floats[e << 1] === f0 &&
      this.floats[(e << 1) + 1] === f1
    );
  }

  /** Int `c` of entry `e`. */
  int(e: number, c: number): number {
    return this.ints[(e << 2) + c]!;
  }

  /** Number `c` of entry `e`. */
  float(e: number, c: number): number {
    return this.floats[(e << 1) + c]!;
  }

  clear(): void {
    this.size = 0;
    this.sent = 0;
    this.slots.fill(0);
  }

  /** The int columns (`intCount` of them) of the entries not yet sent. */
  takeInts(): Int32Array<ArrayBuffer>[] {
    return Array.from({ length: this.intCount }, (_, c) => {
      const out = new Int32Array(this.size - this.sent);
      for (let e = this.sent, j = 0; e < this.size; e++, j++) out[j] = this.ints[(e << 2) + c]!;
      return out;
    });
  }

  /** The float columns (`floatCount` of them) of the entries not yet sent. */
  takeFloats(): Float64Array<ArrayBuffer>[] {
    return Array.from({ length: this.floatCount }, (_, c) => {
      const out = new Float64Array(this.size - this.sent);
      for (let e = this.sent, j = 0; e < this.size; e++, j++) out[j] = this.floats[(e << 1) + c]!;
      return out;
    });
  }

  private growEntries(): void {
    this.ints = growInt(this.ints, this.ints.length * 2);
    this.floats = growFloat(this.floats, this.floats.length * 2);
  }

  /** A table twice as large, every entry placed again. */
  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.mask = this.slots.length - 1;
    const size = this.size;
    this.size = 0;
    for (let e = 0; e < size; e++) {
      const k = e << 2;
      const got = this.index(
        this.ints[k]!,
        this.ints[k + 1]!,
        this.ints[k + 2]!,
        this.ints[k + 3]!,
        this.floats[e << 1]!,
        this.floats[(e << 1) + 1]!,
      );
      if (got !== e) throw new RangeError(`tuple dictionary: entry ${e} placed as ${got}`);
    }
  }
}
