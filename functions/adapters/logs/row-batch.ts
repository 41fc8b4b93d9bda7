/**
 * Rollup rows in columns, the form in which partial rollups leave a worker thread: typed arrays move
 * between threads without copying, where a million row objects would be cloned one by one.
 *
 * A batch may hold several rows with the same key (a file read in ranges, a table emptied to bound its
 * memory): they are partial sums, added up when the rows are written. Each count in a batch is below
 * 2^53, so it is exact as a double; sums are taken as integers.
 */
import type { ColumnarHeldReads } from '../../domain/holdings.js';
import { type ColumnarRequestIds, type ColumnarUsageRows, STATUS_BY_INDEX } from '../../domain/usage.js';
import { growFloat, growInt } from './grow-arrays.js';
import { HeldReadBuilder, heldReadBuffers } from './holdings-batch.js';
import { type ColumnarNetworkRows, NetworkRowBuilder, networkBuffers } from './network-rows.js';

export { STATUS_BY_INDEX };

/**
 * Rows in columns. String columns hold ids into the sender's string table. `ref` names each partial
 * row within the task that read it (the task's id is `task`, set by the pool), and `lines` are the
 * request identities of the lines summed into them, which refer to the rows by `ref`.
 */
export interface RowBatch extends ColumnarUsageRows {
  readonly ref: Int32Array;
  readonly lines: ColumnarRequestIds;
  /** The network rows read with them (see network-rows.ts). */
  readonly network: ColumnarNetworkRows;
  readonly task: number;
  /** Whole-object reads of the same lines (see ../../domain/HOLDINGS.md), when holdings are kept. */
  readonly holdings?: ColumnarHeldReads;
}

/** The typed arrays of a batch, for `postMessage`'s transfer list. */
export function batchBuffers(batch: RowBatch): ArrayBuffer[] {
  const l = batch.lines;
  return [
    batch.ref,
    l.item,
    l.ref,
    l.slot,
    l.hashHigh,
    l.hashLow,
    l.bytesSent,
    l.records,
    l.netRef,
    ...(l.heldRef === undefined ? [] : [l.heldRef]),
    batch.item,
    batch.slot,
    batch.status,
    batch.bucket,
    batch.requester,
    batch.accessPoint,
    batch.dataset,
    batch.operation,
    batch.requests,
    batch.bytesSent,
    batch.records,
  ]
    .map((a) => a.buffer as ArrayBuffer)
    .concat(networkBuffers(batch.network))
    .concat(batch.holdings === undefined ? [] : heldReadBuffers(batch.holdings));
}

/** Collects rows into columns that grow as needed. */
export class RowBatchBuilder {
  count = 0;
  private item = new Int32Array(0);
  private slot = new Int32Array(0);
  private status = new Int32Array(0);
  private bucket = new Int32Array(0);
  private requester = new Int32Array(0);
  private accessPoint = new Int32Array(0);
  private dataset = new Int32Array(0);
  private operation = new Int32Array(0);
  private requests = new Float64Array(0);
  private bytesSent = new Float64Array(0);
  private records = new Float64Array(0);
  private ref = new Int32Array(0);
  private readonly lineIds = new RequestIdBuilder();
  /** Network rows, collected beside the rollup rows. */
  readonly network = new NetworkRowBuilder();
  /** Whole-object reads, for an aggregator that keeps holdings (see LogAggregator). */
  readonly held = new HeldReadBuilder();

  constructor(private readonly initialRows = 1024) {}

  /** Request identities collected so far. */
  get lineCount(): number {
    return this.lineIds.count;
  }

  /**
   * Copies `n` line records (see assembly/scanner.ts) at byte `at` of `memory` for `item`, refs from
   * `refBase`; when holdings are kept (`held.kept`), each line's holdings row too.
   */
  pushLines(memory: ArrayBuffer, at: number, n: number, item: number, refBase: number): void {
    this.lineIds.push(memory, at, n, item, refBase, this.held.kept);
  }

  push(
    item: number,
    slot: number,
    status: number,
    bucket: number,
    requester: number,
    accessPoint: number,
    dataset: number,
    operation: number,
    requests: number,
    bytesSent: number,
    records: number,
    ref = 0,
  ): void {
    const i = this.count;
    if (i === this.item.length) this.grow();
    this.item[i] = item;
    this.slot[i] = slot;
    this.status[i] = status;
    this.bucket[i] = bucket;
    this.requester[i] = requester;
    this.accessPoint[i] = accessPoint;
    this.dataset[i] = dataset;
    this.operation[i] = operation;
    this.requests[i] = requests;
    this.bytesSent[i] = bytesSent;
    this.records[i] = records;
    this.ref[i] = ref;
    this.count = i + 1;
  }

  /** The rows collected so far as a batch of exactly-sized arrays; the builder starts empty again. */
  take(): RowBatch {
    const n = this.count;
    const batch: RowBatch = {
      count: n,
      item: this.item.slice(0, n),
      slot: this.slot.slice(0, n),
      status: this.status.slice(0, n),
      bucket: this.bucket.slice(0, n),
      requester: this.requester.slice(0, n),
      accessPoint: this.accessPoint.slice(0, n),
      dataset: this.dataset.slice(0, n),
      operation: this.operation.slice(0, n),
      requests: this.requests.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
      records: this.records.slice(0, n),
      ref: this.ref.slice(0, n),
      lines: this.lineIds.take(),
      network: this.network.take(),
      task: 0,
      ...(this.held.kept ? { holdings: this.held.take() } : {}),
    };
    this.count = 0;
    return batch;
  }

  private grow(): void {
    const n = Math.max(this.initialRows, this.item.length * 2);
    this.item = growInt(this.item, n);
    this.slot = growInt(this.slot, n);
    this.status = growInt(this.status, n);
    this.bucket = growInt(this.bucket, n);
    this.requester = growInt(this.requester, n);
    this.accessPoint = growInt(this.accessPoint, n);
    this.dataset = growInt(this.dataset, n);
    this.operation = growInt(this.operation, n);
    this.requests = growFloat(this.requests, n);
    this.bytesSent = growFloat(this.bytesSent, n);
    this.records = growFloat(this.records, n);
    this.ref = growInt(this.ref, n);
  }
}

/**
 * Int32 words of a line record: hash low, hash high, row, slot, then bytes and records as two f64, the
 * network row, the holdings row (-1: none; written only when holdings are kept).
 */
const LINE_RECORD_INTS = 10;

/**
 * Collects line records into columns. The holdings row column (`heldRef`) is made only once lines of
 * an aggregator that keeps holdings arrive: off, no line carries one.
 */
class RequestIdBuilder {
  count = 0;
  /** Whether the lines name holdings rows (holdings kept). */
  private held = false;
  private item = new Int32Array(0);
  private ref = new Int32Array(0);
  private slot = new Int32Array(0);
  private hashHigh = new Int32Array(0);
  private hashLow = new Int32Array(0);
  private bytesSent = new Float64Array(0);
  private records = new Float64Array(0);
  private netRef = new Int32Array(0);
  private heldRef = new Int32Array(0);

  push(memory: ArrayBuffer, at: number, n: number, item: number, refBase: number, held: boolean): void {
    if (held && !this.held) {
      this.held = true;
      this.heldRef = new Int32Array(this.item.length);
    }
    if (this.count + n > this.item.length) this.grow(this.count + n);
    const ints = new Int32Array(memory, at, n * LINE_RECORD_INTS);
    const floats = new Float64Array(memory, at, n * (LINE_RECORD_INTS / 2));
    let i = this.count;
    for (let r = 0; r < n; r++, i++) {
      const w = r * LINE_RECORD_INTS;
      this.item[i] = item;
      // Little-endian memory: the u64 hash is its low word, then its high word.
      this.hashLow[i] = ints[w]!;
      this.hashHigh[i] = ints[w + 1]!;
      this.ref[i] = refBase + ints[w + 2]!;
      this.slot[i] = ints[w + 3]!;
      this.bytesSent[i] = floats[(w >> 1) + 2]!;
      this.records[i] = floats[(w >> 1) + 3]!;
      this.netRef[i] = refBase + ints[w + 8]!;
      if (held) {
        // The scanner's holdings row * 2 + 1 for a 200: (refBase + row) * 2 + 1 for a 200.
        const heldRow = ints[w + 9]!;
        this.heldRef[i] = heldRow < 0 ? -1 : 2 * refBase + heldRow;
      }
    }
    this.count = i;
  }

  take(): ColumnarRequestIds {
    const n = this.count;
    this.count = 0;
    return {
      count: n,
      item: this.item.slice(0, n),
      ref: this.ref.slice(0, n),
      slot: this.slot.slice(0, n),
      hashHigh: this.hashHigh.slice(0, n),
      hashLow: this.hashLow.slice(0, n),
      bytesSent: this.bytesSent.slice(0, n),
      records: this.records.slice(0, n),
      netRef: this.netRef.slice(0, n),
      ...(this.held ? { heldRef: this.heldRef.slice(0, n) } : {}),
    };
  }

  private grow(needed: number): void {
    let n = Math.max(1024, this.item.length * 2);
    while (n < needed) n *= 2;
    this.item = growInt(this.item, n);
    this.ref = growInt(this.ref, n);
    this.slot = growInt(this.slot, n);
    this.hashHigh = growInt(this.hashHigh, n);
    this.hashLow = growInt(this.hashLow, n);
    this.bytesSent = growFloat(this.bytesSent, n);
    this.records = growFloat(this.records, n);
    this.netRef = growInt(this.netRef, n);
    if (this.held) this.heldRef = growInt(this.heldRef, n);
  }
}
