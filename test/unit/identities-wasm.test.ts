import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WasmIdentities } from '../../functions/adapters/duckdb/wasm-identities.js';
import { compileAssembly } from '../support/assemblyscript.js';

const dir = fileURLToPath(new URL('../../functions/adapters/duckdb/assembly/', import.meta.url));

/** Slots of one UTC day (15-minute slots). */
const SLOTS_PER_DAY = 96;

interface Staged {
  readonly high: number[];
  readonly low: number[];
  readonly slot: number[];
  readonly item: number[];
  /** Per item id: its place in the group, or -1. */
  readonly ords: number[];
}

interface Found {
  readonly groupLines: number;
  readonly ids: number[];
  readonly shared: number[];
  readonly multi: number[];
  /** The ids after placeKeptLines. */
  readonly placed: number[];
}

function runWasm(check: WasmIdentities, s: Staged): Found {
  const out = prepareAndCheck(check, s);
  const found = {
    groupLines: out.groupLines,
    ids: [...out.ids],
    shared: [...out.shared],
    multi: [...out.multi],
  };
  check.placeKeptLines();
  return { ...found, placed: [...out.ids] };
}

/** Chunk sizes the staged lines are cut into, in turn: a repeat falls in another chunk often. */
const CHUNK_SIZES = [1, 6_999, 20_000, 333];

/** The staged lines as chunks of CHUNK_SIZES lines. */
function chunksOf(s: Staged) {
  const chunks = [];
  for (let from = 0, k = 0; from < s.high.length; k++) {
    const to = Math.min(s.high.length, from + CHUNK_SIZES[k % CHUNK_SIZES.length]!);
    chunks.push({
      count: to - from,
      hashHigh: Int32Array.from(s.high.slice(from, to)),
      hashLow: Int32Array.from(s.low.slice(from, to)),
      slot: Int32Array.from(s.slot.slice(from, to)),
      item: Int32Array.from(s.item.slice(from, to)),
    });
    from = to;
  }
  return chunks;
}

function prepareAndCheck(check: WasmIdentities, s: Staged) {
  return check.check(chunksOf(s), Int32Array.from(s.ords), SLOTS_PER_DAY);
}

/**
 * What the check is to find, said plainly: the group's lines in order of their hash's top six bits
 * (the partition), staging order within one; an identity numbered at its first line, with that line
 * and the earliest day of its lines; a repeat listing its line (and, at the first repeat, its
 * identity's first line) among the shared.
 */
function reference(s: Staged): Found {
  const ordOf = (c: number) => {
    const item = s.item[c]!;
    return item >= 0 && item < s.ords.length ? s.ords[item]! : -1;
  };
  const group = s.high.map((_, c) => c).filter((c) => ordOf(c) >= 0);
  group.sort((a, b) => (s.high[a]! >>> 26) - (s.high[b]! >>> 26) || a - b);
  const byKey = new Map<string, number>();
  const ids: number[] = [];
  const shared: number[] = [];
  const multi: number[] = [];
  for (const c of group) {
    const key = `${s.high[c]},${s.low[c]}`;
    const day = Math.floor(s.slot[c]! / SLOTS_PER_DAY);
    const id = byKey.get(key);
    if (id === undefined) {
      byKey.set(key, ids.length / 4);
      ids.push(s.high[c]!, s.low[c]!, c, day);
      multi.push(0);
      continue;
    }
    if (multi[id] === 0) {
      multi[id] = 1;
      shared.push(ids[id * 4 + 2]!, id);
    }
    shared.push(c, id);
    ids[id * 4 + 3] = Math.min(ids[id * 4 + 3]!, day);
  }
  const placed = ids.map((v, k) => (k % 4 === 2 ? ordOf(v) : v));
  return { groupLines: group.length, ids, shared, multi, placed };
}

/** `n` staged lines of `items` items over two days, drawn from `identities` identities. */
function staged(n: number, identities: number, items: number, ords: number[], seed: number): Staged {
  let x = seed;
  const next = (m: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % m;
  };
  const s: Staged = { high: [], low: [], slot: [], item: [], ords };
  for (let c = 0; c < n; c++) {
    const id = next(identities);
    // Spread over every partition: the top bits of the high half vary with the identity.
    s.high.push(Math.imul(id, 0x9e3779b1) | 0);
    s.low.push(id ^ 0x5a5a5a5a);
    s.slot.push(20_000 * SLOTS_PER_DAY + next(2 * SLOTS_PER_DAY));
    s.item.push(next(items));
  }
  return s;
}

describe('the committed WebAssembly identity check', () => {
  it('is exactly what its AssemblyScript source compiles to (run `npm run build:wasm:identities` after editing it)', async () => {
    const { wasm, errors } = await compileAssembly(dir, 'identities.ts', 'identities.wasm');
    expect(errors).toBe('');
    expect(wasm).toBeDefined();
    expect(Buffer.from(wasm!).equals(readFileSync(`${dir}identities.wasm`))).toBe(true);
  });
});

describe('WasmIdentities', () => {
  it('finds the distinct identities, their first line, earliest day and repeated lines, as said plainly', () => {
    // 200,000 lines of 120,000 identities in 5 items (more lines than one block of the check's calls).
    const s = staged(200_000, 120_000, 5, [0, 1, 2, 3, 4], 11);
    const found = runWasm(new WasmIdentities(), s);
    expect(found.shared.length).toBeGreaterThan(0);
    expect(found).toEqual(reference(s));
  });

  it('checks only the lines of the group’s items, with the places of the group order', () => {
    // Items 1 and 3 in the group (3 first); items 0, 2, 4 and one past the places staged beside them.
    const s = staged(50_000, 20_000, 6, [-1, 1, -1, 0, -1], 12);
    const check = new WasmIdentities();
    const found = runWasm(check, s);
    const expected = reference(s);
    expect(found).toEqual(expected);
    expect(found.groupLines).toBe(s.item.filter((i) => i === 1 || i === 3).length);
    const inGroup = (i: number) => i === 1 || i === 3;
    const out = prepareAndCheck(check, s);
    expect([...out.groupLinesOf]).toEqual(chunksOf(s).map((c) => [...c.item].filter(inGroup).length));
  });

  it('tells apart identities whose hashes share the bits that pick the partition and the table slot', () => {
    // low ^ (high >>> 15) alike for all, and the top bits alike: one partition, one slot of its table.
    const s: Staged = { high: [], low: [], slot: [], item: [], ords: [0] };
    for (let k = 0; k < 3_000; k++) {
      const id = k % 1_000;
      s.high.push(id << 15);
      s.low.push(777 ^ id);
      s.slot.push((k < 1_000 ? 20_001 : 20_000) * SLOTS_PER_DAY + 3);
      s.item.push(0);
    }
    const found = runWasm(new WasmIdentities(), s);
    expect(found.ids.length).toBe(4 * 1_000);
    // Every identity held three times, its earliest day that of its later lines.
    expect(found.shared.length).toBe(2 * 3_000);
    expect(found.ids[3]).toBe(20_000);
    expect(found).toEqual(reference(s));
  });

  it('gives the claims of the identities not claimed by day, in identity order within one', () => {
    // Lines over two days (staged), three days apart (one day between holds no claim).
    const s = staged(100_000, 70_000, 2, [0, 1], 17);
    for (let c = 0; c < s.slot.length; c += 3) s.slot[c] = 20_003 * SLOTS_PER_DAY + 5;
    const check = new WasmIdentities();
    const { ids, claimed } = prepareAndCheck(check, s);
    // Every seventh identity claimed by a recorded file.
    for (let id = 0; id < claimed.length; id += 7) claimed[id] = 1;
    check.placeKeptLines();
    const expected: [number, bigint, number][] = [];
    for (let id = 0; id < claimed.length; id++) {
      if (claimed[id] === 1) continue;
      const hash = (BigInt(ids[4 * id]!) << 32n) + BigInt(ids[4 * id + 1]! >>> 0);
      expected.push([ids[4 * id + 3]!, hash, 1_000 + ids[4 * id + 2]!]);
    }
    expected.sort((a, b) => a[0] - b[0]);
    const byDay = check.newClaims(1_000);
    const written: [number, bigint, number][] = [];
    for (let k = 0; k + 1 < byDay.starts.length; k++) {
      // In slices of 20,000, and one day's slice of one claim.
      const end = byDay.starts[k + 1]!;
      for (let from = byDay.starts[k]!; from < end; ) {
        const n = from === byDay.starts[k] ? 1 : Math.min(20_000, end - from);
        const [hashes, files] = byDay.slice(from, n);
        for (let j = 0; j < n; j++) written.push([byDay.firstDay + k, hashes[j]!, files[j]!]);
        from += n;
      }
    }
    expect(byDay.firstDay).toBe(20_000);
    expect(written).toEqual(expected);
  });

  it('finds nothing in an empty group, and reuses its memory group after group', () => {
    const check = new WasmIdentities();
    const none = runWasm(check, { high: [], low: [], slot: [], item: [], ords: [] });
    expect(none).toEqual({ groupLines: 0, ids: [], shared: [], multi: [], placed: [] });
    const notOurs = staged(1_000, 500, 3, [-1, -1, -1], 13);
    expect(runWasm(check, notOurs)).toEqual(reference(notOurs));
    expect(runWasm(check, notOurs).groupLines).toBe(0);
    // A large group, then a small one and a large one again: nothing left over from the one before.
    for (const [n, seed] of [
      [150_000, 14],
      [3_000, 15],
      [150_000, 16],
    ] as const) {
      const s = staged(n, n / 2, 2, [1, 0], seed);
      expect(runWasm(check, s)).toEqual(reference(s));
    }
  });
});
