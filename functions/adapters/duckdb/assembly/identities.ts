/**
 * The request-identity check of a group of files (../request-claims.ts, IdentityTable), in
 * AssemblyScript, compiled to WebAssembly (`npm run build:wasm:identities` writes identities.wasm next to
 * this file; test/unit/identities-wasm.test.ts checks that the committed binary is what this source
 * compiles to). The check runs once per group on the main thread: as JavaScript it ran cold, in V8's
 * interpreter until on-stack replacement compiled it, some 175 ms for a million lines where the same
 * loop warm took 95; WebAssembly is compiled before its first call (BENCHMARKS.md, issue 15, tenth
 * session).
 *
 * The staged lines are numbered in staging order over their chunks (JavaScript's typed arrays), which
 * are copied in one at a time into a buffer the size of the largest (`prepare`), so that the check holds
 * no copy of the group's columns: first hash high, slot and item of each (`countChunk`, which keeps per
 * line only the place of its item in the group, -1 when not the group's), then, the areas laid out
 * (`layout`), hash high, hash low and slot of each again per round of partitions (`cutChunk`; a round
 * is checked by `checkRound`). The lines of the group are cut by their hash's top bits into partitions,
 * a round of partitions copied at a time, and each partition goes through an open-addressing table
 * small enough for the processor's cache. Out come the distinct identities, four int32 each (hash high,
 * hash low, first line, earliest event day), numbered partition by partition and, within one, by first
 * line; and the lines of identities held more than once, [line, identity] pairs, each such identity's
 * first line listed at its first repeat. Which of those lines is kept is settled in JavaScript
 * (GroupLines.before), the lines being few.
 *
 * Memory grows as a group needs (never shrinks), in `prepare` and `layout` only: JavaScript takes its
 * views after them.
 */

/** Partitions of a group's lines by their hash's top bits. */
const PARTITION_BITS: i32 = 6;
const PARTS: i32 = 1 << PARTITION_BITS;
/** Partitions copied out of the staged lines at a time; divides PARTS. */
const ROUND_PARTS: i32 = 8;
/** Claims written out per call of fillClaims. */
const CLAIM_SLICE: i32 = 65536;
/** Int32s per identity: hash high, hash low, kept line, earliest event day. */
const ID_INTS: i32 = 4;

let lineCount: i32 = 0;
let itemCount: i32 = 0;
let groupCount: i32 = 0;
let distinct: i32 = 0;
let sharedCount: i32 = 0;

/** Per staged line: the place of its item in the group, or -1 (countChunk). */
let ORD: usize = 0;
/** Per item id: its place in the group, or -1. */
let ORDS: usize = 0;
/** The buffer of one chunk's columns, three of `chunkCap` int32 each. */
let BUF_A: usize = 0;
let BUF_B: usize = 0;
let BUF_C: usize = 0;
let chunkCap: i32 = 0;
/** Past the inputs: where `layout` lays out the check's own areas. */
let WORK: usize = 0;
let BOUNDS: usize = 0;
let AT: usize = 0;
let CUT: usize = 0;
let TABLE: usize = 0;
let IDS: usize = 0;
let MULTI: usize = 0;
let SHARED: usize = 0;
let CLAIMED: usize = 0;
let ORDER: usize = 0;
let DAY_STARTS: usize = 0;
let HASHES: usize = 0;
let FILES: usize = 0;
/** The group's lines' earliest and latest slot (countChunk), which bound its event days. */
let minSlot: i32 = 0;
let maxSlot: i32 = 0;
/** Event days of the new claims (layDays): the first, and how many from it. */
let firstDay: i32 = 0;
let daySpan: i32 = 0;
let tableMask: i32 = 0;
/** The round being cut (cutChunk) and checked (checkRound). */
let round: i32 = 0;

/** Grows memory to hold `end` bytes; false when it cannot. */
function reach(end: i64): bool {
  const have = <i64>memory.size() << 16;
  if (end <= have) return true;
  const pages = <i32>((end - have + 0xffff) >>> 16);
  return memory.grow(pages) >= 0;
}

/**
 * Lays out the inputs of `lines` staged lines, in chunks of at most `chunkLines` lines, and `items` item
 * places. Returns 0, or -1 when memory cannot grow.
 */
export function prepare(lines: i32, items: i32, chunkLines: i32): i32 {
  lineCount = lines;
  itemCount = items;
  chunkCap = chunkLines;
  groupCount = 0;
  distinct = 0;
  sharedCount = 0;
  minSlot = i32.MAX_VALUE;
  maxSlot = 0;
  ORD = (__heap_base + 15) & ~15;
  ORDS = ORD + (<usize>lines << 2);
  BUF_A = (ORDS + (<usize>items << 2) + 15) & ~15;
  BUF_B = BUF_A + (<usize>chunkLines << 2);
  BUF_C = BUF_B + (<usize>chunkLines << 2);
  BOUNDS = (BUF_C + (<usize>chunkLines << 2) + 15) & ~15;
  AT = BOUNDS + (<usize>(PARTS + 1) << 2);
  WORK = (AT + (<usize>ROUND_PARTS << 2) + 15) & ~15;
  if (!reach(<i64>WORK)) return -1;
  memory.fill(BOUNDS, 0, <usize>(PARTS + 1) << 2);
  return 0;
}

/** Partitions, and partitions a round. */
export function parts(): i32 {
  return PARTS;
}
export function roundParts(): i32 {
  return ROUND_PARTS;
}
export function ordsPtr(): usize {
  return ORDS;
}
export function bufAPtr(): usize {
  return BUF_A;
}
export function bufBPtr(): usize {
  return BUF_B;
}
export function bufCPtr(): usize {
  return BUF_C;
}
export function idsPtr(): usize {
  return IDS;
}
export function multiPtr(): usize {
  return MULTI;
}
export function sharedPtr(): usize {
  return SHARED;
}
/** Lines of the group (their item has a place in it). */
export function groupCount_(): i32 {
  return groupCount;
}
export function sharedCount_(): i32 {
  return sharedCount;
}

/** A table slot for an identity: as request-claims.ts's hashSlot. */
@inline
function hashSlot(high: i32, low: i32, mask: i32): i32 {
  return (<i32>(<u32>((low ^ <i32>(<u32>high >>> 15)) * <i32>0x9e3779b1) >>> 7)) & mask;
}

/**
 * Counts the lines of the chunk in the buffer (`n` lines from line `first`: hash high in BUF_A, item in
 * BUF_B, slot in BUF_C) per partition, and keeps each line's place in the group. Returns the chunk's
 * lines of the group.
 */
export function countChunk(first: i32, n: i32): i32 {
  const shift = 32 - PARTITION_BITS;
  const items = itemCount;
  const ords = ORDS;
  const ord = ORD + (<usize>first << 2);
  const bounds = BOUNDS;
  let count = 0;
  let low = minSlot;
  let high = maxSlot;
  for (let i: usize = 0; i < <usize>n; i++) {
    const item = load<i32>(BUF_B + (i << 2));
    const o = item >= 0 && item < items ? load<i32>(ords + (<usize>item << 2)) : -1;
    store<i32>(ord + (i << 2), o);
    if (o < 0) continue;
    const slot = load<i32>(BUF_C + (i << 2));
    if (slot < low) low = slot;
    if (slot > high) high = slot;
    const p = bounds + ((<usize>(<u32>load<i32>(BUF_A + (i << 2)) >>> shift) + 1) << 2);
    store<i32>(p, load<i32>(p) + 1);
    count++;
  }
  minSlot = low;
  maxSlot = high;
  groupCount += count;
  return count;
}

/**
 * Lays out the check's areas once every chunk was counted (`slotsPerDay`: slots of one UTC day, a
 * line's event day being its slot divided by it). Returns 0, or -1 when memory cannot grow.
 */
export function layout(slotsPerDay: i32): i32 {
  const count = groupCount;
  for (let p = 1; p <= PARTS; p++) {
    const at = BOUNDS + (<usize>p << 2);
    store<i32>(at, load<i32>(at) + load<i32>(at - 4));
  }
  let roundLines = 0;
  for (let p = 0; p < PARTS; p += ROUND_PARTS) {
    roundLines = max(roundLines, bound(p + ROUND_PARTS) - bound(p));
  }
  let largest = 0;
  for (let p = 0; p < PARTS; p++) largest = max(largest, bound(p + 1) - bound(p));
  let size = 16;
  while (size < largest * 2) size *= 2;
  tableMask = size - 1;
  CUT = WORK;
  TABLE = CUT + (<usize>roundLines << 4);
  IDS = TABLE + (<usize>size << 2);
  // Every line of the group is listed among the shared at most once: two int32 a line at most.
  SHARED = IDS + (<usize>count << 4);
  MULTI = SHARED + (<usize>count << 3);
  // The new claims' areas (layDays, fillClaims), laid out here so that memory does not grow after:
  // JavaScript's views stay valid until the group is done. Their order takes the place of ORD, no
  // longer needed then, and they are written out a slice at a time: the claims touch little memory
  // the check had not touched already.
  CLAIMED = MULTI + <usize>count;
  const days = count === 0 ? 0 : maxSlot / slotsPerDay - minSlot / slotsPerDay + 1;
  DAY_STARTS = (CLAIMED + <usize>count + 15) & ~15;
  HASHES = (DAY_STARTS + (<usize>(days + 1) << 2) + 15) & ~15;
  FILES = HASHES + (<usize>CLAIM_SLICE << 3);
  if (!reach(<i64>FILES + (<i64>CLAIM_SLICE << 2))) return -1;
  memory.fill(MULTI, 0, <usize>count << 1);
  return 0;
}

/** Starts round `r` (partitions r to r + ROUND_PARTS): its partitions' places in CUT. */
export function startRound(r: i32): void {
  round = r;
  const base = bound(r);
  for (let j = 0; j < ROUND_PARTS; j++) store<i32>(AT + (<usize>j << 2), bound(r + j) - base);
}

/**
 * Copies the group's lines of the round's partitions, of the chunk in the buffer (`n` lines from line
 * `first`: hash high in BUF_A, hash low in BUF_B, slot in BUF_C), to CUT, partition after partition, as
 * [high, low, event day, line].
 */
export function cutChunk(first: i32, n: i32, slotsPerDay: i32): void {
  const shift = 32 - PARTITION_BITS;
  const r = round;
  const ord = ORD + (<usize>first << 2);
  const at = AT;
  const cut = CUT;
  for (let i: usize = 0; i < <usize>n; i++) {
    const h = load<i32>(BUF_A + (i << 2));
    const j = <i32>(<u32>h >>> shift) - r;
    if (<u32>j >= <u32>ROUND_PARTS || load<i32>(ord + (i << 2)) < 0) continue;
    const a = at + (<usize>j << 2);
    const k = load<i32>(a);
    store<i32>(a, k + 1);
    const q = cut + (<usize>k << 4);
    store<i32>(q, h);
    store<i32>(q, load<i32>(BUF_B + (i << 2)), 4);
    store<i32>(q, load<i32>(BUF_C + (i << 2)) / slotsPerDay, 8);
    store<i32>(q, first + <i32>i, 12);
  }
}

/**
 * Checks the round's partitions, once every chunk was cut. Returns the distinct identities so far. Each
 * partition is a call of its own: V8 runs a function's first calls as Liftoff's quick code and moves
 * its later calls to optimised code compiled meanwhile (a call in progress is never moved), so one long
 * call would run entirely in the slower code (the same reason the lines come a chunk a call).
 */
export function checkRound(): i32 {
  const base = bound(round);
  for (let p = round; p < round + ROUND_PARTS; p++) checkPartition(p, base);
  return distinct;
}

/** Partition `p`'s first line in the cut order. */
@inline
function bound(p: i32): i32 {
  return load<i32>(BOUNDS + (<usize>p << 2));
}

/**
 * Puts partition `p`'s lines (in CUT from its round's first line, `base`) through the table: a new
 * identity is numbered after the last; a repeat lists its line among the shared (and its identity's
 * first line, at its first repeat) and may lower its identity's earliest day. Exported: a function of
 * its own (see checkRound).
 */
export function checkPartition(p: i32, base: i32): void {
  const mask = tableMask;
  const table = TABLE;
  const ids = IDS;
  const multi = MULTI;
  const shared = SHARED;
  let found = distinct;
  let listed = sharedCount;
  memory.fill(table, 0, (<usize>mask + 1) << 2);
  const end = CUT + (<usize>(bound(p + 1) - base) << 4);
  for (let q = CUT + (<usize>(bound(p) - base) << 4); q < end; q += 16) {
    const h = load<i32>(q);
    const l = load<i32>(q, 4);
    const d = load<i32>(q, 8);
    const g = load<i32>(q, 12);
    let e = hashSlot(h, l, mask);
    for (;;) {
      const slot = table + (<usize>e << 2);
      const id = load<i32>(slot) - 1;
      if (id < 0) {
        store<i32>(slot, found + 1);
        const r = ids + (<usize>found << 4);
        store<i32>(r, h);
        store<i32>(r, l, 4);
        store<i32>(r, g, 8);
        store<i32>(r, d, 12);
        found++;
        break;
      }
      const r = ids + (<usize>id << 4);
      if (load<i32>(r) == h && load<i32>(r, 4) == l) {
        const m = multi + <usize>id;
        if (load<u8>(m) == 0) {
          store<u8>(m, 1);
          const s = shared + (<usize>listed << 3);
          store<i32>(s, load<i32>(r, 8));
          store<i32>(s, id, 4);
          listed++;
        }
        const s = shared + (<usize>listed << 3);
        store<i32>(s, g);
        store<i32>(s, id, 4);
        listed++;
        if (d < load<i32>(r, 12)) store<i32>(r, d, 12);
        break;
      }
      e = (e + 1) & mask;
    }
  }
  distinct = found;
  sharedCount = listed;
}

/**
 * Replaces the kept line of identities [from, to) by the place of its item in the group (once
 * JavaScript has settled the kept line of identities held more than once). JavaScript calls it a block
 * at a time, as countDays and sortDays (see checkRound: a loop of calls here would be inlined).
 */
export function placeBlock(from: i32, to: i32): void {
  const ord = ORD;
  const end = IDS + (<usize>to << 4);
  for (let r = IDS + (<usize>from << 4); r < end; r += 16) {
    store<i32>(r, load<i32>(ord + (<usize>load<i32>(r, 8) << 2)), 8);
  }
}


export function claimedPtr(): usize {
  return CLAIMED;
}
export function dayStartsPtr(): usize {
  return DAY_STARTS;
}
/** The new claims' hashes (fillClaims). */
export function claimHashesPtr(): usize {
  return HASHES;
}
/** The new claims' files (fillClaims). */
export function claimFilesPtr(): usize {
  return FILES;
}
export function firstDay_(): i32 {
  return firstDay;
}
export function daySpan_(): i32 {
  return daySpan;
}

/**
 * The identities no recorded file claimed (CLAIMED, which JavaScript marks) are ordered by event day, in
 * identity order within a day, by a counting sort into ORDER (after placeBlock): scanClaims over
 * every block of identities, then layDays, then countDays over every block, sumDays, sortDays over
 * every block and endDays. Day firstDay + k's are then ORDER[DAY_STARTS[k]] to ORDER[DAY_STARTS[k + 1]].
 */
let claimCount: i32 = 0;

/** Starts the ordering of the new claims. */
export function beginClaims(): void {
  firstDay = i32.MAX_VALUE;
  daySpan = i32.MIN_VALUE;
  claimCount = 0;
}

/** The new claims of identities [from, to): counted, and their first and last day found. */
export function scanClaims(from: i32, to: i32): void {
  let first = firstDay;
  let last = daySpan;
  let count = claimCount;
  for (let id = from; id < to; id++) {
    if (load<u8>(CLAIMED + <usize>id) != 0) continue;
    const day = load<i32>(IDS + (<usize>id << 4), 12);
    if (day < first) first = day;
    if (day > last) last = day;
    count++;
  }
  firstDay = first;
  // The last day until layDays.
  daySpan = last;
  claimCount = count;
}

/** Lays the days of the new claims out. Returns how many new claims there are. */
export function layDays(): i32 {
  if (claimCount == 0) {
    daySpan = 0;
    return 0;
  }
  // Over the lines' places, no longer needed then.
  ORDER = ORD;
  daySpan = daySpan - firstDay + 1;
  memory.fill(DAY_STARTS, 0, <usize>(daySpan + 1) << 2);
  return claimCount;
}

/** Each day's count summed into where its claims start, one entry on. */
export function sumDays(): void {
  for (let k = 1; k <= daySpan; k++) {
    const at = DAY_STARTS + (<usize>k << 2);
    store<i32>(at, load<i32>(at) + load<i32>(at - 4));
  }
}

/** sortDays moved each day's start to the next day's: one place back. */
export function endDays(): void {
  for (let k = daySpan; k > 0; k--) {
    const at = DAY_STARTS + (<usize>k << 2);
    store<i32>(at, load<i32>(at - 4));
  }
  store<i32>(DAY_STARTS, 0);
}

/** The new claims of identities [from, to) counted per day (one entry on). */
export function countDays(from: i32, to: i32): void {
  const first = firstDay;
  for (let id = from; id < to; id++) {
    if (load<u8>(CLAIMED + <usize>id) != 0) continue;
    const at = DAY_STARTS + (<usize>(load<i32>(IDS + (<usize>id << 4), 12) - first + 1) << 2);
    store<i32>(at, load<i32>(at) + 1);
  }
}

/** The new claims of identities [from, to) placed in ORDER by day. */
export function sortDays(from: i32, to: i32): void {
  const first = firstDay;
  for (let id = from; id < to; id++) {
    if (load<u8>(CLAIMED + <usize>id) != 0) continue;
    const at = DAY_STARTS + (<usize>(load<i32>(IDS + (<usize>id << 4), 12) - first) << 2);
    const k = load<i32>(at);
    store<i32>(at, k + 1);
    store<i32>(ORDER + (<usize>k << 2), id);
  }
}

/** Claims written out per call of fillClaims. */
export function claimSlice(): i32 {
  return CLAIM_SLICE;
}

/**
 * Writes claims [from, from + n) of sortDays's order (n at most CLAIM_SLICE) to HASHES and FILES: per
 * claim, its identity's hash as one int64 (high x 2^32 + low as unsigned), and `firstFile` + the place
 * of its kept line's file in the group.
 */
export function fillClaims(from: i32, n: i32, firstFile: i32): void {
  const hashes = HASHES;
  const files = FILES;
  const order = ORDER + (<usize>from << 2);
  for (let j: usize = 0; j < <usize>n; j++) {
    const r = IDS + (<usize>load<i32>(order + (j << 2)) << 4);
    store<i64>(hashes + (j << 3), (<i64>load<i32>(r) << 32) | <i64>load<u32>(r, 4));
    store<i32>(files + (j << 2), firstFile + load<i32>(r, 8));
  }
}
