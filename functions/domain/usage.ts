/**
 * The usage rollup: the one seam both engines (local DuckDB and AWS Athena) share.
 *
 * One row per 15-minute UTC slot x bucket x requester x access point x dataset x operation x status
 * class, with integer counts. Quarter hours (not hours, as the first sketch said) make every IANA time
 * zone cut exactly, including the +05:30 and +05:45 ones. The raw requester is kept, not the partner,
 * so a registry change applies to past usage without reading raw logs again.
 */

/** Length of one rollup slot. Every UTC offset in use today is a multiple of 15 minutes. */
export const SLOT_MS = 15 * 60 * 1000;

/** HTTP status class as kept in the rollup: `2xx` ... `5xx`, or `-` when the log had no status. */
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '-';

export const STATUS_CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx', '-'];

/** Status classes by the index columnar rows carry: 0 is `-`, 1..5 are `1xx`..`5xx`. */
export const STATUS_BY_INDEX: readonly StatusClass[] = ['-', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** The grouping key of a rollup row. Strings use `-` where the log had no value. */
export interface UsageKey {
  /** Start of the 15-minute UTC slot, epoch milliseconds (a multiple of SLOT_MS). */
  readonly slotStart: number;
  readonly bucket: string;
  /** Requester exactly as logged: an ARN, a canonical user id, `svc:...`, `AmazonS3` or `-`. */
  readonly requester: string;
  /** Access point ARN, or `-`. */
  readonly accessPoint: string;
  /** Dataset prefix of the key (first `datasetDepth` path segments plus `/`), or `-` for no key. */
  readonly dataset: string;
  /** S3 operation, e.g. `REST.GET.OBJECT`. */
  readonly operation: string;
  readonly statusClass: StatusClass;
}

/** Integer measures of usage. bigint: a busy partner passes 2^53 bytes in a year. */
export interface UsageCounts {
  readonly requests: bigint;
  readonly bytesSent: bigint;
  /** Records retrieved, from the dataset manifest (0 where no manifest entry covers the key). */
  readonly records: bigint;
}

/** A row as a usage source returns it: summed over every batch that holds the same key. */
export interface UsageRow extends UsageKey, UsageCounts {}

/** A row as an ingester writes it: tagged with the batch (log file fingerprint) it came from. */
export interface RollupRow extends UsageRow {
  readonly batch: string;
}

/**
 * Rollup rows in columns, as the parallel ingester hands them to the store: typed arrays move between
 * threads without copying. String columns hold ids into the sender's string table; several rows may
 * share a key (partial sums); each count is below 2^53, so exact as a double.
 */
export interface ColumnarUsageRows {
  readonly count: number;
  /** Which item (file or file range, or the id rows were staged under) each row belongs to. */
  readonly item: Int32Array;
  /** Slot number: slot start / SLOT_MS. */
  readonly slot: Int32Array;
  /** Index into STATUS_BY_INDEX. */
  readonly status: Int32Array;
  readonly bucket: Int32Array;
  readonly requester: Int32Array;
  readonly accessPoint: Int32Array;
  readonly dataset: Int32Array;
  readonly operation: Int32Array;
  readonly requests: Float64Array;
  readonly bytesSent: Float64Array;
  readonly records: Float64Array;
}

/**
 * The identities of counted log lines in columns, beside the partial rows they were summed into, so
 * that the store can count each request once (a record S3 delivered twice is dropped): per line, a
 * 64-bit hash of its request id and host id (as two int32 halves), the `ref` of the partial row it
 * went into (unique within the task that read it), its slot, and what it added to that row.
 */
export interface ColumnarRequestIds {
  readonly count: number;
  readonly item: Int32Array;
  readonly ref: Int32Array;
  readonly slot: Int32Array;
  readonly hashHigh: Int32Array;
  readonly hashLow: Int32Array;
  readonly bytesSent: Float64Array;
  readonly records: Float64Array;
  /** The `ref` of the network row (see network-batch.ts) the line went into, in the same ref space. */
  readonly netRef: Int32Array;
  /**
   * The `ref` of the holdings row (see ../domain/holdings.ts) the line went into, times 2, plus 1 when
   * the line was a 200 (whole object: a repeat takes one from the row's 200s too); -1 for none; only
   * when holdings are kept (absent when off: no column is made, copied or checked).
   */
  readonly heldRef?: Int32Array;
}

/** The metrics a contract can limit. */
export type Metric = 'requests' | 'bytesSent' | 'records';
export const METRICS: readonly Metric[] = ['requests', 'bytesSent', 'records'];

export function statusClassOf(status: string): StatusClass {
  const c = status.charCodeAt(0);
  if (status.length === 3 && c >= 49 && c <= 53) return `${status[0]}xx` as StatusClass;
  return '-';
}

/** Start of the slot holding `epochMs`. */
export function slotOf(epochMs: number): number {
  return Math.floor(epochMs / SLOT_MS) * SLOT_MS;
}

/**
 * The dataset a key belongs to: its first `depth` path segments followed by `/`. A key with fewer
 * segments yields its directory (`a/b.csv` at depth 2 gives `a/`); a key at the root gives `/`; no key
 * (`-`, bucket-level operations) gives `-`.
 */
export function datasetOf(key: string, depth: number): string {
  if (key === '-' || key === '') return '-';
  let idx = -1;
  for (let i = 0; i < depth; i++) {
    const next = key.indexOf('/', idx + 1);
    if (next === -1) break;
    idx = next;
  }
  return idx === -1 ? '/' : key.slice(0, idx + 1);
}

export function addCounts(a: UsageCounts, b: UsageCounts): UsageCounts {
  return {
    requests: a.requests + b.requests,
    bytesSent: a.bytesSent + b.bytesSent,
    records: a.records + b.records,
  };
}

export const ZERO_COUNTS: UsageCounts = Object.freeze({ requests: 0n, bytesSent: 0n, records: 0n });
