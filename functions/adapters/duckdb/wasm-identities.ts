/**
 * The JavaScript side of the WebAssembly request-identity check (assembly/identities.ts, compiled to
 * assembly/identities.wasm by `npm run build:wasm:identities`). The module is compiled once per thread;
 * each RequestIdStage holds one instance and reuses it group after group, so its memory is that of the
 * largest group checked. The views of that memory read it in the host's byte order, WebAssembly's
 * little-endian one on every platform Node runs this project on (as the scanner's views do).
 */
import { compileWasm, instantiateWasm } from '../wasm-runtime.js';

interface IdentityExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  prepare(lines: number, items: number, chunkLines: number): number;
  parts(): number;
  roundParts(): number;
  ordsPtr(): number;
  bufAPtr(): number;
  bufBPtr(): number;
  bufCPtr(): number;
  countChunk(first: number, n: number): number;
  layout(slotsPerDay: number): number;
  startRound(round: number): void;
  cutChunk(first: number, n: number, slotsPerDay: number): void;
  checkRound(): number;
  groupCount_(): number;
  idsPtr(): number;
  multiPtr(): number;
  sharedPtr(): number;
  sharedCount_(): number;
  placeBlock(from: number, to: number): void;
  claimedPtr(): number;
  beginClaims(): void;
  scanClaims(from: number, to: number): void;
  layDays(): number;
  countDays(from: number, to: number): void;
  sumDays(): void;
  sortDays(from: number, to: number): void;
  endDays(): void;
  firstDay_(): number;
  daySpan_(): number;
  dayStartsPtr(): number;
  claimSlice(): number;
  fillClaims(from: number, n: number, firstFile: number): void;
  claimHashesPtr(): number;
  claimFilesPtr(): number;
}

/** The columns of staged lines the check reads: a chunk of ColumnarRequestIds. */
export interface IdentityColumns {
  readonly count: number;
  readonly hashHigh: Int32Array;
  readonly hashLow: Int32Array;
  readonly slot: Int32Array;
  readonly item: Int32Array;
}

/**
 * Identities per call of a loop over the group's identities: V8 moves a function's later calls to its
 * optimised code (see assembly/identities.ts, checkRound).
 */
const BLOCK = 65_536;

/** Calls `f` on [from, to) for each block of [0, n). */
function byBlock(n: number, f: (from: number, to: number) => void): void {
  for (let from = 0; from < n; from += BLOCK) f(from, Math.min(n, from + BLOCK));
}

let compiled: WebAssembly.Module | undefined;

function identitiesModule(): WebAssembly.Module {
  compiled ??= compileWasm(new URL('./assembly/identities.wasm', import.meta.url));
  return compiled;
}

/** The identity check could not grow its memory for a group. */
export class IdentityMemoryError extends Error {
  override readonly name = 'IdentityMemoryError';
}

/** What `check` found: views of the instance's memory, valid until its next `prepare`. */
export interface IdentityOutputs {
  /** Lines of the group. */
  readonly groupLines: number;
  /** Per chunk: its lines of the group. */
  readonly groupLinesOf: Int32Array;
  readonly distinct: number;
  /** Four int32 an identity: hash high, hash low, first line, earliest event day. */
  readonly ids: Int32Array;
  /** Lines of identities held more than once, each with its identity: [line, identity, ...]. */
  readonly shared: Int32Array;
  readonly sharedCount: number;
  /** Per identity: 1 when the group holds it more than once. */
  readonly multi: Uint8Array;
  /** Per identity, 0 until marked: 1 when a recorded file claimed it. */
  readonly claimed: Uint8Array;
}

/** The new claims by event day (`newClaims`), written out of the instance's memory a slice at a time. */
export interface ClaimsByDay {
  readonly firstDay: number;
  /** Day `firstDay` + k's claims are those from starts[k] to starts[k + 1]. */
  readonly starts: Int32Array;
  /**
   * Claims [from, from + n) (n at most CLAIM_SLICE): per claim, its identity's hash as one BIGINT
   * (high x 2^32 + low as unsigned), and its file; views valid until the next call.
   */
  slice(from: number, n: number): [BigInt64Array, Int32Array];
}

/** Claims written out of the check at a time (assembly/identities.ts). */
export const CLAIM_SLICE = 65_536;

/** One instance of the check. */
export class WasmIdentities {
  private readonly exports = instantiateWasm(identitiesModule()) as IdentityExports;
  /** Identities found by the last check. */
  private distinct = 0;

  /**
   * Checks the lines of `chunks` (staged lines, numbered in this order) whose item has a place in the
   * group (`ords`, by item id, -1 for none); a line's event day is its slot divided by `slotsPerDay`.
   * Each chunk's columns are copied in once to be counted, then once per round of partitions to be
   * cut (some 100 bytes of copying a line, a few milliseconds for a million lines), where a copy of
   * the group's columns held through the check would add 12 bytes a line to its memory.
   */
  check(chunks: readonly IdentityColumns[], ords: Int32Array, slotsPerDay: number): IdentityOutputs {
    const e = this.exports;
    let lines = 0;
    let largest = 0;
    for (const c of chunks) {
      lines += c.count;
      largest = Math.max(largest, c.count);
    }
    if (e.prepare(lines, ords.length, largest) !== 0) {
      throw new IdentityMemoryError(`the identity check could not take memory for ${lines} lines`);
    }
    let buffer = e.memory.buffer;
    new Int32Array(buffer, e.ordsPtr(), ords.length).set(ords);
    let a = new Int32Array(buffer, e.bufAPtr(), largest);
    let b = new Int32Array(buffer, e.bufBPtr(), largest);
    let c = new Int32Array(buffer, e.bufCPtr(), largest);
    const groupLinesOf = new Int32Array(chunks.length);
    for (let k = 0, first = 0; k < chunks.length; first += chunks[k]!.count, k++) {
      const { hashHigh, item, slot, count: n } = chunks[k]!;
      a.set(hashHigh.subarray(0, n));
      b.set(item.subarray(0, n));
      c.set(slot.subarray(0, n));
      groupLinesOf[k] = e.countChunk(first, n);
    }
    if (e.layout(slotsPerDay) !== 0) {
      throw new IdentityMemoryError('the identity check could not take memory for its tables');
    }
    buffer = e.memory.buffer;
    a = new Int32Array(buffer, e.bufAPtr(), largest);
    b = new Int32Array(buffer, e.bufBPtr(), largest);
    c = new Int32Array(buffer, e.bufCPtr(), largest);
    let distinct = 0;
    for (let round = 0; round < e.parts(); round += e.roundParts()) {
      e.startRound(round);
      for (let k = 0, first = 0; k < chunks.length; first += chunks[k]!.count, k++) {
        if (groupLinesOf[k] === 0) continue;
        const { hashHigh, hashLow, slot, count: n } = chunks[k]!;
        a.set(hashHigh.subarray(0, n));
        b.set(hashLow.subarray(0, n));
        c.set(slot.subarray(0, n));
        e.cutChunk(first, n, slotsPerDay);
      }
      distinct = e.checkRound();
    }
    this.distinct = distinct;
    const sharedCount = e.sharedCount_();
    return {
      groupLines: e.groupCount_(),
      groupLinesOf,
      distinct,
      ids: new Int32Array(buffer, e.idsPtr(), distinct * 4),
      shared: new Int32Array(buffer, e.sharedPtr(), sharedCount * 2),
      sharedCount,
      multi: new Uint8Array(buffer, e.multiPtr(), distinct),
      claimed: new Uint8Array(buffer, e.claimedPtr(), distinct),
    };
  }

  /** Replaces each identity's kept line (in `check`'s ids) by the place of its item in the group. */
  placeKeptLines(): void {
    byBlock(this.distinct, this.exports.placeBlock);
  }

  /**
   * The claims of the identities not marked claimed, by event day and in identity order within a day,
   * each file numbered `firstFile` + the place of its kept line's file in the group (after
   * `placeKeptLines`), written out of the instance's memory a slice at a time as they are appended.
   * (Copying them all out, 12 bytes a claim, so that the instance could be let go before the appends,
   * peaked higher: BENCHMARKS.md, issue 15, tenth session.)
   */
  newClaims(firstFile: number): ClaimsByDay {
    const e = this.exports;
    e.beginClaims();
    byBlock(this.distinct, e.scanClaims);
    const count = e.layDays();
    if (count === 0) {
      return {
        firstDay: 0,
        starts: new Int32Array(0),
        slice: () => [new BigInt64Array(0), new Int32Array(0)],
      };
    }
    byBlock(this.distinct, e.countDays);
    e.sumDays();
    byBlock(this.distinct, e.sortDays);
    e.endDays();
    const buffer = e.memory.buffer;
    const hashes = new BigInt64Array(buffer, e.claimHashesPtr(), e.claimSlice());
    const files = new Int32Array(buffer, e.claimFilesPtr(), e.claimSlice());
    return {
      firstDay: e.firstDay_(),
      starts: new Int32Array(buffer, e.dayStartsPtr(), e.daySpan_() + 1),
      slice: (from, n) => {
        e.fillClaims(from, n, firstFile);
        return [hashes.subarray(0, n), files.subarray(0, n)];
      },
    };
  }
}
