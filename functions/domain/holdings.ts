/**
 * Holdings: what a partner holds, as against what it downloaded (see HOLDINGS.md). Pure: the shapes the
 * ingester hands on, and the statement a provider sends, built from rows the engine aggregated.
 */

/**
 * Reads of whole objects (status 200 or 206) summed into partial holdings rows, in columns, beside the
 * rollup rows: one row per object (key, version id, object size as logged), key (bucket, requester,
 * access point, dataset) and slot, 200s and 206s together, as the scanner summed them. A row names its
 * key and its object by their index in the task's dictionaries (`keys`, `objects`: each entry sent once
 * per task, in the batch whose rows first name it), so a row is numbers only. `ref` names a row within
 * the task that read it, in the same ref space as the rollup's rows, and a line's request identity
 * names its holdings row by it (`heldRef`: ref * 2, + 1 for a 200), so that a repeated delivery is
 * taken back out (holdings-writer.ts).
 */
export interface ColumnarHeldReads {
  readonly count: number;
  readonly item: Int32Array;
  readonly ref: Int32Array;
  /** Index of the row's key in the task's key dictionary. */
  readonly key: Int32Array;
  /** Index of the row's object in the task's object dictionary. */
  readonly object: Int32Array;
  /** Slot number: slot start / SLOT_MS. */
  readonly slot: Int32Array;
  /** Of the row's retrievals, those that were 200s (whole objects); the rest were 206s (ranges). */
  readonly full: Int32Array;
  readonly retrievals: Float64Array;
  readonly bytesSent: Float64Array;
  readonly firstMs: Float64Array;
  readonly lastMs: Float64Array;
  /** Key dictionary entries new with this batch, indexes `keyFrom` on. */
  readonly keys: HeldKeyEntries;
  readonly keyFrom: number;
  /** Object dictionary entries new with this batch, indexes `objectFrom` on. */
  readonly objects: HeldObjectEntries;
  readonly objectFrom: number;
}

/** Keys of holdings rows; string columns hold ids into the sender's string table. */
export interface HeldKeyEntries {
  readonly count: number;
  readonly bucket: Int32Array;
  readonly requester: Int32Array;
  readonly accessPoint: Int32Array;
  readonly dataset: Int32Array;
}

/** Objects of holdings rows; string columns hold ids into the sender's string table. */
export interface HeldObjectEntries {
  readonly count: number;
  /** The object key, URL-decoded as the manifest lists it (kept as logged when it does not decode). */
  readonly objectKey: Int32Array;
  /** The version id as logged, `-` when the line logs none. */
  readonly versionId: Int32Array;
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

/** The figures of a holding (one dataset, or all of a partner's), as report.json carries them. */
export interface HoldingFigures {
  readonly objects: string;
  readonly partialObjects: string;
  readonly unknownSizeObjects: string;
  readonly objectBytes: string;
  readonly records: string;
  readonly retrievals: string;
  readonly fullRetrievals: string;
  readonly bytesSent: string;
  /** Bytes sent over bytes of the distinct objects, floored to RATIO_DECIMALS; null when those are 0. */
  readonly redownloadRatio: string | null;
  readonly firstRetrieval: string | null;
  readonly lastRetrieval: string | null;
}

/** One dataset's holding by one application (or all, `*`). */
export interface HoldingDataset extends HoldingFigures {
  readonly applicationId: string;
  readonly dataset: string;
}

/** Distinct objects held by the end of a local date: the chart's points (a step on each such date). */
export interface HoldingPoint {
  readonly applicationId: string;
  readonly dataset: string;
  readonly date: string;
  readonly newObjects: string;
  /** Distinct objects read from the window's start through this date. */
  readonly objects: string;
}

export interface PartnerHoldings {
  readonly partnerId: string;
  readonly partnerName: string;
  readonly timeZone: string;
  /** Every dataset, all applications together. */
  readonly totals: HoldingFigures;
  /** By dataset: the all-applications row (`*`) first, then each application's. */
  readonly datasets: readonly HoldingDataset[];
  readonly overTime: readonly HoldingPoint[];
}

/** What the partners hold over a window of local dates [from, to), in each partner's zone. */
export interface HoldingsSection {
  readonly from: string;
  readonly to: string;
  readonly partners: readonly PartnerHoldings[];
}

/** Decimals of the re-download ratio. */
export const RATIO_DECIMALS = 4;

/**
 * `numerator / denominator` as a decimal with `decimals` places, floored, by integer arithmetic (a
 * ratio of byte counts past 2^53 stays exact); null when the denominator is 0.
 */
export function decimalRatio(
  numerator: bigint,
  denominator: bigint,
  decimals = RATIO_DECIMALS,
): string | null {
  if (denominator <= 0n || numerator < 0n) return null;
  const scale = 10n ** BigInt(decimals);
  const scaled = (numerator * scale) / denominator;
  const whole = scaled / scale;
  const fraction = (scaled % scale).toString().padStart(decimals, '0');
  return decimals === 0 ? whole.toString() : `${whole}.${fraction}`;
}

/** The UTC slots any partner's local dates [from, to) can fall in (zones run from UTC-12 to UTC+14). */
export function holdingsRange(from: string, to: string): { startMs: number; endMs: number } {
  const utc = (date: string) => Date.parse(`${date}T00:00:00Z`);
  const HOUR = 3_600_000;
  return { startMs: utc(from) - 14 * HOUR, endMs: utc(to) + 12 * HOUR };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

interface Sums {
  objects: bigint;
  partialObjects: bigint;
  unknownSizeObjects: bigint;
  objectBytes: bigint;
  records: bigint;
  retrievals: bigint;
  fullRetrievals: bigint;
  bytesSent: bigint;
  firstMs: number | null;
  lastMs: number | null;
}

function figures(s: Sums): HoldingFigures {
  return {
    objects: String(s.objects),
    partialObjects: String(s.partialObjects),
    unknownSizeObjects: String(s.unknownSizeObjects),
    objectBytes: String(s.objectBytes),
    records: String(s.records),
    retrievals: String(s.retrievals),
    fullRetrievals: String(s.fullRetrievals),
    bytesSent: String(s.bytesSent),
    redownloadRatio: decimalRatio(s.bytesSent, s.objectBytes),
    firstRetrieval: iso(s.firstMs),
    lastRetrieval: iso(s.lastMs),
  };
}

function emptySums(): Sums {
  return {
    objects: 0n,
    partialObjects: 0n,
    unknownSizeObjects: 0n,
    objectBytes: 0n,
    records: 0n,
    retrievals: 0n,
    fullRetrievals: 0n,
    bytesSent: 0n,
    firstMs: null,
    lastMs: null,
  };
}

function add(s: Sums, r: HeldDatasetRow): void {
  s.objects += r.objects;
  s.partialObjects += r.partialObjects;
  s.unknownSizeObjects += r.unknownSizeObjects;
  s.objectBytes += r.objectBytes;
  s.records += r.records;
  s.retrievals += r.retrievals;
  s.fullRetrievals += r.fullRetrievals;
  s.bytesSent += r.bytesSent;
  s.firstMs = s.firstMs === null ? r.firstMs : Math.min(s.firstMs, r.firstMs);
  s.lastMs = s.lastMs === null ? r.lastMs : Math.max(s.lastMs, r.lastMs);
}

/**
 * The holdings section from the engine's rows: every partner of `partners` (in that order), with
 * zeros when it read nothing. A partner's totals add its all-applications rows over datasets (an object
 * lies in one dataset, so nothing counts twice); the chart's points are the running sum of new objects.
 */
export function buildHoldingsSection(
  window: { readonly from: string; readonly to: string },
  partners: readonly { readonly id: string; readonly name: string; readonly timeZone: string }[],
  rows: readonly HeldDatasetRow[],
  days: readonly HeldDayRow[],
): HoldingsSection {
  const byPartner = (id: string) => rows.filter((r) => r.partnerId === id);
  return {
    from: window.from,
    to: window.to,
    partners: partners.map((p) => {
      const own = byPartner(p.id);
      const totals = emptySums();
      for (const r of own) if (r.applicationId === ALL_APPLICATIONS) add(totals, r);
      const datasets = [...own]
        .sort(
          (a, b) =>
            cmp(a.dataset, b.dataset) ||
            Number(b.applicationId === ALL_APPLICATIONS) - Number(a.applicationId === ALL_APPLICATIONS) ||
            cmp(a.applicationId, b.applicationId),
        )
        .map((r) => {
          const s = emptySums();
          add(s, r);
          return { applicationId: r.applicationId, dataset: r.dataset, ...figures(s) };
        });
      const running = new Map<string, bigint>();
      const overTime = days
        .filter((d) => d.partnerId === p.id)
        .sort(
          (a, b) => cmp(a.applicationId, b.applicationId) || cmp(a.dataset, b.dataset) || cmp(a.date, b.date),
        )
        .map((d) => {
          const key = `${d.applicationId}\u0000${d.dataset}`;
          const objects = (running.get(key) ?? 0n) + d.newObjects;
          running.set(key, objects);
          return {
            applicationId: d.applicationId,
            dataset: d.dataset,
            date: d.date,
            newObjects: String(d.newObjects),
            objects: String(objects),
          };
        });
      return {
        partnerId: p.id,
        partnerName: p.name,
        timeZone: p.timeZone,
        totals: figures(totals),
        datasets,
        overTime,
      };
    }),
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
