/**
 * A small seeded pseudo-random generator (mulberry32). The data set must be byte-for-byte the same for
 * a given seed on every machine, so nothing here may touch Math.random or the clock.
 */

/** Deterministic random source with the few draws the generator needs. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed once so that seeds 1, 2, 3 do not start on neighbouring states.
    this.state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi] (both inclusive). */
  between(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  /** Index into a table of popularity where low indexes are drawn far more often (a rough Zipf). */
  skewed(n: number): number {
    const u = this.next();
    return Math.floor(u * u * u * n);
  }

  /** `n` characters drawn from `alphabet`. */
  chars(alphabet: string, n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }

  /** A child generator, so one part of the world can change without shifting every later draw. */
  fork(salt: number): Rng {
    return new Rng((Math.floor(this.next() * 4294967296) ^ Math.imul(salt, 0x85ebca6b)) >>> 0);
  }
}

/** Cumulative weights for repeated weighted draws (binary search would not pay for tables this small). */
export class WeightedTable<T> {
  private readonly cumulative: number[] = [];
  private readonly items: T[] = [];
  private total = 0;

  constructor(entries: readonly (readonly [T, number])[]) {
    for (const [item, weight] of entries) {
      if (weight <= 0) continue;
      this.total += weight;
      this.cumulative.push(this.total);
      this.items.push(item);
    }
    if (this.items.length === 0) throw new RangeError('a weighted table needs one positive weight');
  }

  draw(rng: Rng): T {
    const x = rng.next() * this.total;
    const c = this.cumulative;
    for (let i = 0; i < c.length; i++) {
      if (x < c[i]!) return this.items[i]!;
    }
    return this.items[this.items.length - 1]!;
  }
}

export const HEX_UPPER = '0123456789ABCDEF';
export const HEX_LOWER = '0123456789abcdef';
export const ALNUM_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
