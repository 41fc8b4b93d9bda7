/**
 * The JavaScript side of the WebAssembly request-identity check (assembly/identities.ts, compiled to
 * assembly/identities.wasm by `npm run build:wasm:identities`). The module is compiled once per thread;
 * each RequestIdStage holds one instance and reuses it group after group, so its memory is that of the
 * largest group checked. The views of that memory read it in the host's byte order, WebAssembly's
 * little-endian one on every platform Node runs this project on (as the scanner's views do).
 */
import { readFileSync } from 'node:fs';

/** The WebAssembly API of the runtime (the project's type library, ES2023 without DOM, does not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => WebAssembly.Module;
  readonly Instance: new (module: WebAssembly.Module, imports: object) => { readonly exports: unknown };
}
const wasm = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;

interface IdentityExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  prepare(lines: number, items: number): number;
  highPtr(): number;
  lowPtr(): number;
  slotPtr(): number;
  itemPtr(): number;
  ordsPtr(): number;
  check(slotsPerDay: number): number;
  groupCount_(): number;
  idsPtr(): number;
  multiPtr(): number;
  sharedPtr(): number;
  sharedCount_(): number;
  placeKeptLines(): void;
  groupLinesIn(from: number, to: number): number;
  claimedPtr(): number;
  orderClaims(): number;
  firstDay_(): number;
  daySpan_(): number;
  dayStartsPtr(): number;
  writeClaims(count: number, firstFile: number): void;
  claimHashesPtr(): number;
  claimFilesPtr(): number;
}

let compiled: WebAssembly.Module | undefined;

function identitiesModule(): WebAssembly.Module {
  compiled ??= new wasm.Module(readFileSync(new URL('./assembly/identities.wasm', import.meta.url)));
  return compiled;
}

/** The identity check could not grow its memory for a group. */
export class IdentityMemoryError extends Error {
  override readonly name = 'IdentityMemoryError';
}

/** Inputs of one check: views of the instance's memory, valid until its next `prepare`. */
export interface IdentityInputs {
  readonly high: Int32Array;
  readonly low: Int32Array;
  readonly slot: Int32Array;
  readonly item: Int32Array;
  /** Per item id: its place in the group, or -1. */
  readonly ords: Int32Array;
}

/** What `check` found: views of the instance's memory, valid until its next `prepare`. */
export interface IdentityOutputs {
  /** Lines of the group. */
  readonly groupLines: number;
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

/** The new claims by event day (`newClaims`), copied out of the instance's memory. */
export interface ClaimsByDay {
  readonly firstDay: number;
  /** Day `firstDay` + k's claims are those from starts[k] to starts[k + 1]. */
  readonly starts: Int32Array;
  /** Per claim: its identity's hash as one BIGINT (high x 2^32 + low as unsigned), and its file. */
  readonly hashes: BigInt64Array;
  readonly files: Int32Array;
}

/** One instance of the check. */
export class WasmIdentities {
  private readonly exports = new wasm.Instance(identitiesModule(), {}).exports as unknown as IdentityExports;

  /** Lays out `lines` staged lines and `items` item places, and returns their views to fill. */
  prepare(lines: number, items: number): IdentityInputs {
    const e = this.exports;
    if (e.prepare(lines, items) !== 0) {
      throw new IdentityMemoryError(`the identity check could not take memory for ${lines} lines`);
    }
    const buffer = e.memory.buffer;
    return {
      high: new Int32Array(buffer, e.highPtr(), lines),
      low: new Int32Array(buffer, e.lowPtr(), lines),
      slot: new Int32Array(buffer, e.slotPtr(), lines),
      item: new Int32Array(buffer, e.itemPtr(), lines),
      ords: new Int32Array(buffer, e.ordsPtr(), items),
    };
  }

  /** Checks the prepared lines (a line's event day: its slot divided by `slotsPerDay`). */
  check(slotsPerDay: number): IdentityOutputs {
    const e = this.exports;
    const distinct = e.check(slotsPerDay);
    if (distinct < 0)
      throw new IdentityMemoryError('the identity check could not take memory for its tables');
    const buffer = e.memory.buffer;
    const sharedCount = e.sharedCount_();
    return {
      groupLines: e.groupCount_(),
      distinct,
      ids: new Int32Array(buffer, e.idsPtr(), distinct * 4),
      shared: new Int32Array(buffer, e.sharedPtr(), sharedCount * 2),
      sharedCount,
      multi: new Uint8Array(buffer, e.multiPtr(), distinct),
      claimed: new Uint8Array(buffer, e.claimedPtr(), distinct),
    };
  }

  /**
   * The claims of the identities not marked claimed, by event day and in identity order within a day,
   * each file numbered `firstFile` + the place of its kept line's file in the group (after
   * `placeKeptLines`): copied out, so that the instance's memory, some 40 bytes a line of the group,
   * need not be held while they are written.
   */
  newClaims(firstFile: number): ClaimsByDay {
    const e = this.exports;
    const count = e.orderClaims();
    if (count === 0) {
      return {
        firstDay: 0,
        starts: new Int32Array(0),
        hashes: new BigInt64Array(0),
        files: new Int32Array(0),
      };
    }
    e.writeClaims(count, firstFile);
    const buffer = e.memory.buffer;
    return {
      firstDay: e.firstDay_(),
      starts: new Int32Array(buffer, e.dayStartsPtr(), e.daySpan_() + 1).slice(),
      hashes: new BigInt64Array(buffer, e.claimHashesPtr(), count).slice(),
      files: new Int32Array(buffer, e.claimFilesPtr(), count).slice(),
    };
  }

  /** How many of staged lines [from, to) are the group's (after `check`). */
  groupLinesIn(from: number, to: number): number {
    return this.exports.groupLinesIn(from, to);
  }

  /** Replaces each identity's kept line (in `check`'s ids) by the place of its item in the group. */
  placeKeptLines(): void {
    this.exports.placeKeptLines();
  }
}
