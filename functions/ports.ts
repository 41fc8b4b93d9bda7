/**
 * The interfaces the core needs from the outside world. The local engine (DuckDB, outbox folder) and
 * the AWS one (Athena, SES, DynamoDB, S3) implement the same ports; tests use small in-memory fakes.
 */
import type { HeldDatasetRow, HeldDayRow } from './domain/holdings.js';
import type { Registry } from './domain/registry.js';
import type { Interval } from './domain/time.js';
import type { UsageRow } from './domain/usage.js';

/** The only way the core learns the time. */
export interface Clock {
  now(): Date;
}

/** Reads the usage rollup. */
export interface UsageSource {
  /** Engine name for the report, e.g. `duckdb` or `athena`. */
  readonly engine: string;
  /** Rows whose slot starts in [range.startMs, range.endMs), summed over batches. */
  usage(range: Interval): Promise<UsageRow[]>;
}

/** A window of holdings (functions/domain/HOLDINGS.md): the slots read and the local dates counted. */
export interface HoldingsRequest {
  /** Slots read, UTC: every slot any partner's local dates of the window can fall in. */
  readonly range: Interval;
  /** First local date counted, `YYYY-MM-DD`, in each partner's zone. */
  readonly fromDate: string;
  /** First local date no longer counted. */
  readonly toDate: string;
  /** Only this partner. @default every partner */
  readonly partnerId?: string;
}

/**
 * Reads the holdings table attributed and aggregated by the engine (holdings-sql.ts), with the
 * `registry` it is given, so a registry change applies to past reads without reading logs again.
 */
export interface HoldingsSource {
  readonly engine: string;
  /** What each partner application (and each partner, all applications) holds per dataset. */
  heldDatasets(registry: Registry, request: HoldingsRequest): Promise<HeldDatasetRow[]>;
  /** Distinct objects first read per local date, per partner application (and partner) and dataset. */
  heldDays(registry: Registry, request: HoldingsRequest): Promise<HeldDayRow[]>;
}

/** What partnerDailyUsageSql (functions/adapters/sql) sums. */
export interface PartnerDailyUsageRequest {
  /**
   * Slots read, UTC: from the earliest period start of any partner (the first local day of the month of
   * the window's `from`, in the zone furthest ahead) to the data's end or the window's end in the zone
   * furthest behind, whichever is earlier.
   */
  readonly range: Interval;
  /** First local date counted, `YYYY-MM-DD`: the first of the month of the window's `from`. */
  readonly fromDate: string;
  /** First local date no longer counted: the window's `to`. */
  readonly toDate: string;
}

/** What unattributedUsageSql (functions/adapters/sql) reads. */
export interface UnattributedUsageRequest {
  /** Slots read, UTC: the audit window's local dates taken in UTC, as evaluate-window.ts does. */
  readonly range: Interval;
  /** How many requester and access point pairs to return, the busiest first. */
  readonly top: number;
}

/** Counted use of one local day, as the engine returns it. */
export interface DailyUsage {
  readonly partnerId: string;
  readonly applicationId: string;
  readonly dataset: string;
  /** Local date in the partner's zone, `YYYY-MM-DD`. */
  readonly date: string;
  readonly requests: bigint;
  readonly bytesSent: bigint;
  readonly records: bigint;
}

/** Unattributed use of one requester, access point and dataset, as the engine returns it. */
export interface UnattributedDatasetUsage {
  readonly requester: string;
  readonly accessPoint: string;
  readonly dataset: string;
  readonly requests: bigint;
  readonly bytesSent: bigint;
  readonly records: bigint;
  /** A 2xx or 3xx request read a dataset inside some contract's datasets. */
  readonly touchedPartnerData: boolean;
}

/**
 * Reads the usage rollup already attributed and aggregated by the engine, so that the evaluation
 * receives sums rather than every rollup row (issue 13). Each call attributes with the `registry` it is
 * given, not with one stored earlier: a registry change applies to past usage without reading logs again.
 */
export interface AggregatedUsageSource {
  /** Engine name for the report, e.g. `duckdb`. */
  readonly engine: string;
  /**
   * Counted use per partner, application, dataset and local day in the partner's zone, over the
   * request's slots and local dates, counted by the contract version in force for each day's month
   * (functions/adapters/sql/usage-aggregation-sql.ts, partnerDailyUsageSql). Only days with counted use.
   */
  partnerDailyUsage(registry: Registry, request: PartnerDailyUsageRequest): Promise<DailyUsage[]>;
  /**
   * The rows of partnerDailyUsage, handed to `visit` one partner at a time (each partner's rows
   * complete, partners without counted use not visited), so that no caller holds every partner's rows
   * at once. Optional: a source without it is read whole.
   */
  eachPartnerDailyUsage?(
    registry: Registry,
    request: PartnerDailyUsageRequest,
    visit: (partnerId: string, rows: DailyUsage[]) => void,
  ): Promise<void>;
  /**
   * Use no partner application claims and no ignored requester made, by requester, access point and
   * dataset, every operation and status class, for the request's `top` busiest requester and access
   * point pairs (unattributedUsageSql).
   */
  unattributedUsage(
    registry: Registry,
    request: UnattributedUsageRequest,
  ): Promise<UnattributedDatasetUsage[]>;
}

/** One malformed log line, as evidence. */
export interface MalformedSample {
  readonly file: string;
  /** 1-based line number in the (decompressed) file. */
  readonly line: number;
  readonly reason: string;
  /** The line, cut to at most 300 characters. */
  readonly text: string;
}

/** What ingestion read: every line is either parsed or malformed, nothing else. */
export interface InputSummary {
  /** Log objects seen in this run (new, changed and unchanged). */
  readonly files: number;
  /** Of those, already ingested with the same fingerprint, so not read again. */
  readonly filesSkipped: number;
  readonly bytes: number;
  readonly lines: number;
  readonly parsedLines: number;
  readonly malformedLines: number;
  /** Malformed lines by reason. */
  readonly malformedByReason: Readonly<Record<string, number>>;
  /**
   * Parsed lines not counted because they repeat a request already counted (the same request id and
   * host id: S3 delivered the record twice). @default 0 where an engine does not say
   */
  readonly repeatsDropped?: number;
  /** A bounded sample of malformed lines (the first few of each file). */
  readonly malformedSamples: readonly MalformedSample[];
  /** Files that could not be read at all (truncated gzip, permission), with why. */
  readonly unreadableFiles: readonly { readonly file: string; readonly reason: string }[];
}

/** Identifies one notice: a partner, a billing period and a level are notified at most once. */
export interface NoticeKey {
  readonly partnerId: string;
  /** Billing period id, `YYYY-MM`. */
  readonly periodId: string;
  readonly level: string;
}

export interface LedgerEntry extends NoticeKey {
  readonly state: 'pending' | 'sent';
  readonly runId: string;
  readonly messageId?: string;
  readonly sentAt?: string;
  /** The figures the notice stated, as JSON, so a re-audit can report what changed. */
  readonly figuresJson: string;
}

/**
 * Remembers which notices were sent. `claim` is atomic: of two runs claiming the same key, one wins.
 * A `pending` claim left by a crashed run can be taken over after `staleAfterMs`, unless it carries an
 * attempt mark: a claim whose message was handed to the mailer (`markAttempt`) may have been delivered,
 * so it is never taken over nor released, and `claim` answers `already-sent` for it. Its entry is
 * `pending` with the `messageId` it was handed over with.
 */
export interface NoticeLedger {
  claim(
    key: NoticeKey,
    claim: { runId: string; figuresJson: string; nowMs: number; staleAfterMs: number },
  ): Promise<'claimed' | 'already-sent' | 'held-by-another-run'>;
  /**
   * Marks this run's pending claim as handed to the mailer, right before the mailer is called. Throws
   * when the claim is not this run's pending claim any more (another run took it over): not to be sent.
   */
  markAttempt(key: NoticeKey, attempt: { runId: string; messageId: string; nowMs: number }): Promise<void>;
  /** Undoes `markAttempt` once the mailer said the message certainly did not leave. */
  clearAttempt(key: NoticeKey, runId: string): Promise<void>;
  markSent(key: NoticeKey, sent: { runId: string; messageId: string; sentAt: string }): Promise<void>;
  /** Give a claim back after a failed send, so a later run can try again (never one with an attempt mark). */
  release(key: NoticeKey, runId: string): Promise<void>;
  entries(partnerId: string, periodId: string): Promise<LedgerEntry[]>;
}

/** A composed notice: the same RFC 5322 bytes go to the outbox and to SES. */
export interface OutgoingMessage {
  readonly key: NoticeKey;
  readonly messageId: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The full MIME message (CRLF line ends). */
  readonly raw: string;
}

/**
 * What a Mailer's failure says about its message. The errors a mailer throws carry these fields; an
 * error without `mayHaveSent: false` is taken to mean the message may have left.
 */
export interface MailerFailure {
  /** A later attempt may succeed (throttling, a server error). */
  readonly retryable: boolean;
  /**
   * The mailer may have delivered the message all the same (the request went out and no answer came
   * back). Such a message must never be sent again by a run: a person checks before sending it by hand.
   */
  readonly mayHaveSent: boolean;
}

export interface Mailer {
  /** Who delivers, as notices' errors name it: `SES`, `the outbox`. */
  readonly name: string;
  /** Where a person checks whether a message left, e.g. `SES's sending records`. */
  readonly sendingRecords: string;
  /**
   * Deliver one message. Throws on failure, with the fields of MailerFailure: `mayHaveSent: false`
   * only when the message certainly did not leave.
   */
  send(message: OutgoingMessage): Promise<{ providerMessageId: string }>;
  /**
   * Whether a message handed over earlier, whose answer was never recorded (the run stopped in
   * between), was delivered: its provider id when the mailer can tell, undefined when it cannot (SES
   * keeps nothing to ask). Undefined never lets a run send it again.
   */
  delivered?(message: {
    readonly key: NoticeKey;
    readonly messageId: string;
  }): Promise<{ providerMessageId: string } | undefined>;
}

/** Where reports and previews go: a local folder, or an S3 bucket. */
export interface ReportStore {
  put(name: string, body: string | Uint8Array, contentType: string): Promise<string>;
}

/**
 * The rollup watermark (AWS): the newest delivery date (`YYYY-MM-DD`, UTC) whose access logs are
 * rolled up, every earlier date from the first nightly run on included. It only moves forward.
 */
export interface RollupWatermark {
  /** The recorded date, or undefined before the first nightly run recorded one. */
  read(): Promise<string | undefined>;
  /** Records `date` if it is after the recorded one; true when it moved, false when it was already there. */
  advance(date: string, by: { readonly runId: string; readonly nowMs: number }): Promise<boolean>;
}
