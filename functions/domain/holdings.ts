/**
 * Holdings: what a partner holds, as against what it downloaded (see HOLDINGS.md). Pure: the shapes the
 * ingester hands on, and the statement a provider sends, built from rows the engine aggregated.
 */

/**
 * Reads of whole objects (status 200 or 206) in columns, one per log line, beside the rollup rows.
 * String columns hold ids into the sender's string table; `hashHigh`/`hashLow` are the request's
 * identity (0 and 0 when the line has no request id), by which a repeated delivery counts once.
 */
export interface ColumnarHeldReads {
  readonly count: number;
  readonly item: Int32Array;
  readonly hashHigh: Int32Array;
  readonly hashLow: Int32Array;
  readonly bucket: Int32Array;
  readonly requester: Int32Array;
  readonly accessPoint: Int32Array;
  readonly dataset: Int32Array;
  /** The object key, URL-decoded as the manifest lists it (kept as logged when it does not decode). */
  readonly objectKey: Int32Array;
  /** The version id as logged, `-` when the line logs none. */
  readonly versionId: Int32Array;
  /** 200 (the whole object) or 206 (a range of it). */
  readonly status: Int32Array;
  readonly timeMs: Float64Array;
  readonly bytesSent: Float64Array;
  /** The object's size as logged; -1 for `-`. */
  readonly objectSize: Float64Array;
  /** The object's records per the dataset manifest (0 without one). */
  readonly records: Float64Array;
}

/** Application id of the rows that take all of a partner's applications together. */
export const ALL_APPLICATIONS = '*';

/**
 * What a partner (one application, or `ALL_APPLICATIONS`) holds of one dataset over a window, as the
 * engine sums it from the holdings table (holdings-sql.ts). Objects read by two applications count
 * once in the partner's row.
 */
export interface HeldDatasetRow {
  readonly partnerId: string;
  readonly applicationId: string;
  readonly dataset: string;
  /** Distinct objects read (200 or 206) in the window. */
  readonly objects: bigint;
  /** Of them, objects only ever read in ranges (206): held in part. */
  readonly partialObjects: bigint;
  /** Of them, objects whose size no read logged (`-`): their bytes count 0. */
  readonly unknownSizeObjects: bigint;
  /** Sum of the logged sizes of the distinct objects. */
  readonly objectBytes: bigint;
  /** Records of the distinct objects read whole at least once, per the dataset manifest. */
  readonly records: bigint;
  readonly retrievals: bigint;
  readonly fullRetrievals: bigint;
  readonly bytesSent: bigint;
  /** First and last retrieval in the window, epoch ms (UTC). */
  readonly firstMs: number;
  readonly lastMs: number;
}

/** Distinct objects first read on one local date of the window (for the chart over time). */
export interface HeldDayRow {
  readonly partnerId: string;
  readonly applicationId: string;
  readonly dataset: string;
  /** Local date in the partner's zone, `YYYY-MM-DD`. */
  readonly date: string;
  readonly newObjects: bigint;
}
