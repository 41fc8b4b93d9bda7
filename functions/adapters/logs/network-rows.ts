/**
 * Network rows: beside each rollup row the scanner sums, who asked from where. The scanner keys a network
 * row by (15-minute UTC slot, network key entry); the key's text is requester, access point, remote address as
 * logged, host header and source region (see assembly/scanner.ts, networkEntry). This side turns each
 * key entry, once, into the columns the store keeps: the source prefix and address key of the address
 * (../../domain/networks.ts) and the VPC endpoint of the host header. Two entries that differ only in
 * what is not kept (two host headers without an endpoint) get the same string ids; their rows are summed
 * where rows are written, as the rollup's are.
 */
import { classifyAddress, vpcEndpointOfHost } from '../../domain/networks.js';
import { growFloat, growInt } from './grow-arrays.js';
import type { StringTable } from './string-table.js';

/** Network rows in columns; string columns hold ids into the sender's string table. */
export interface ColumnarNetworkRows {
  readonly count: number;
  readonly item: Int32Array;
  /** 15-minute UTC slot: epoch ms / 900,000 (SLOT_MS, the rollup's). */
  readonly slot: Int32Array;
  readonly requester: Int32Array;
  readonly accessPoint: Int32Array;
  /** The remote address as logged (`-` when none). */
  readonly address: Int32Array;
  /** Its source prefix: IPv4 /24, IPv6 /48, `-`, or the logged text when it does not parse. */
  readonly prefix: Int32Array;
  /** Its address key (see SourceAddress.key). */
  readonly addressKey: Int32Array;
  /** Its class: ipv4, ipv6, none, unparsed. */
  readonly addressClass: Int32Array;
  /** The VPC endpoint the host header names, or `-`. */
  readonly vpce: Int32Array;
  /** The source region field (`-` when the line has none). */
  readonly region: Int32Array;
  readonly requests: Float64Array;
  readonly bytesSent: Float64Array;
  readonly firstMs: Float64Array;
  readonly lastMs: Float64Array;
  /** Names the partial row within its task, in the same ref space as the rollup rows (line records use it). */
  readonly ref: Int32Array;
}

/** The typed arrays of network rows, for `postMessage`'s transfer list. */
export function networkBuffers(rows: ColumnarNetworkRows): ArrayBuffer[] {
  return STRING_COLUMNS.map((c) => rows[c])
    .concat([rows.item, rows.slot, rows.ref])
    .map((a) => a.buffer as ArrayBuffer)
    .concat([rows.requests, rows.bytesSent, rows.firstMs, rows.lastMs].map((a) => a.buffer as ArrayBuffer));
}

/** The string-id columns (a pool maps them from a worker's ids to its own). */
export const STRING_COLUMNS = [
  'requester',
  'accessPoint',
  'address',
  'prefix',
  'addressKey',
  'addressClass',
  'vpce',
  'region',
] as const;

/** The string ids of each network key entry, decoded once when the entry first appears. */
export class NetworkKeyTexts {
  requester = new Int32Array(256);
  accessPoint = new Int32Array(256);
  address = new Int32Array(256);
  prefix = new Int32Array(256);
  addressKey = new Int32Array(256);
  addressClass = new Int32Array(256);
  vpce = new Int32Array(256);
  region = new Int32Array(256);

  constructor(private readonly strings: StringTable) {}

  /**
   * Entry `entry`: the string ids of its requester and access point, and its texts as logged (an empty
   * field reads as `-`; a host header that names no endpoint is not kept, and reads as `-`).
   */
  learn(
    entry: number,
    requester: number,
    accessPoint: number,
    address: string,
    host: string,
    region: string,
  ): void {
    if (entry >= this.requester.length) this.grow(entry + 1);
    const s = this.strings;
    const a = classifyAddress(address);
    this.requester[entry] = requester;
    this.accessPoint[entry] = accessPoint;
    this.address[entry] = s.id(address);
    this.prefix[entry] = s.id(a.prefix);
    this.addressKey[entry] = s.id(a.key);
    this.addressClass[entry] = s.id(a.class);
    this.vpce[entry] = s.id(vpcEndpointOfHost(host));
    this.region[entry] = s.id(region);
  }

  private grow(count: number): void {
    let n = this.requester.length;
    while (n < count) n *= 2;
    for (const c of STRING_COLUMNS) {
      const b = new Int32Array(n);
      b.set(this[c]);
      this[c] = b;
    }
  }
}

/** Collects network rows into columns that grow as needed. */
export class NetworkRowBuilder {
  count = 0;
  private item = new Int32Array(0);
  private slot = new Int32Array(0);
  private ref = new Int32Array(0);
  private strings: Record<(typeof STRING_COLUMNS)[number], Int32Array> = emptyStrings(0);
  private requests = new Float64Array(0);
  private bytesSent = new Float64Array(0);
  private firstMs = new Float64Array(0);
  private lastMs = new Float64Array(0);

  /** Adds the row of key `entry` of `keys`. */
  push(
    item: number,
    slot: number,
    keys: NetworkKeyTexts,
    entry: number,
    requests: number,
    bytesSent: number,
    firstMs: number,
    lastMs: number,
    ref: number,
  ): void {
    const i = this.count;
    if (i === this.item.length) this.grow();
    this.item[i] = item;
    this.slot[i] = slot;
    this.ref[i] = ref;
    for (const c of STRING_COLUMNS) this.strings[c][i] = keys[c][entry]!;
    this.requests[i] = requests;
    this.bytesSent[i] = bytesSent;
    this.firstMs[i] = firstMs;
    this.lastMs[i] = lastMs;
    this.count = i + 1;
  }

  /** The rows so far as exactly-sized arrays; the builder starts empty again. */
  take(): ColumnarNetworkRows {
    const n = this.count;
    this.count = 0;
    const s = this.strings;
    return {
      count: n,
      item: this.item.slice(0, n),
      slot: this.slot.slice(0, n),
      requester: s.requester.slice(0, n),
      accessPoint: s.accessPoint.slice(0, n),
      address: s.address.slice(0, n),
      prefix: s.prefix.slice(0, n),
      addressKey: s.addressKey.slice(0, n),
      addressClass: s.addressClass.slice(0, n),
      vpce: s.vpce.slice(0, n),
      region: s.region.slice(0, n),
      requests: this.requests.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
      firstMs: this.firstMs.slice(0, n),
      lastMs: this.lastMs.slice(0, n),
      ref: this.ref.slice(0, n),
    };
  }

  private grow(): void {
    const n = Math.max(256, this.item.length * 2);
    this.item = growInt(this.item, n);
    this.slot = growInt(this.slot, n);
    this.ref = growInt(this.ref, n);
    const s = emptyStrings(n);
    for (const c of STRING_COLUMNS) s[c].set(this.strings[c]);
    this.strings = s;
    this.requests = growFloat(this.requests, n);
    this.bytesSent = growFloat(this.bytesSent, n);
    this.firstMs = growFloat(this.firstMs, n);
    this.lastMs = growFloat(this.lastMs, n);
  }
}

/** An empty set of network rows. */
export function noNetworkRows(): ColumnarNetworkRows {
  return new NetworkRowBuilder().take();
}

function emptyStrings(n: number): Record<(typeof STRING_COLUMNS)[number], Int32Array> {
  return Object.fromEntries(STRING_COLUMNS.map((c) => [c, new Int32Array(n)])) as Record<
    (typeof STRING_COLUMNS)[number],
    Int32Array
  >;
}

/** Maps network rows read in a worker to the pool's string ids (`map`) and file ids, in place. */
export function translateNetworkRows(
  rows: ColumnarNetworkRows,
  map: Int32Array,
  fileOf: (item: number) => number,
): void {
  for (const c of STRING_COLUMNS) {
    const column = rows[c];
    for (let i = 0; i < rows.count; i++) column[i] = map[column[i]!]!;
  }
  for (let i = 0; i < rows.count; i++) rows.item[i] = fileOf(rows.item[i]!);
}
