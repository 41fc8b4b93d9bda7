/**
 * What an evaluation of one partner's billing period produces. These types are the contract between
 * the overage rules (evaluate.ts), the notices (notices.ts) and the report (report.ts).
 * All quantities are bigint; money is integer minor units; percentages for people are strings.
 */
import type { Period } from './time.js';
import type { Metric, UsageCounts } from './usage.js';

/** One priced tier applied to the units over a limit. */
export interface FeeLine {
  readonly metric: Metric;
  /** Which application's limit this line is for, or undefined for the partner's total. */
  readonly applicationId?: string;
  readonly tier: number;
  /** Units over the limit charged in this tier. */
  readonly units: bigint;
  /** The tier's price, as written in the contract, for `per` units. */
  readonly price: string;
  readonly per: bigint;
  /** units x price / per, rounded half up to minor units. */
  readonly amountMinor: bigint;
}

/** Usage of one metric against one limit over the period so far. */
export interface MetricFigure {
  readonly metric: Metric;
  readonly used: bigint;
  /** The monthly limit, if the contract sets one for this metric. */
  readonly limit?: bigint;
  /** used / limit in basis points (1/100 of a percent), floored; undefined without a limit. */
  readonly utilisationBp?: bigint;
  /** Units over the limit: max(0, used - limit). */
  readonly over: bigint;
  /**
   * The part of `over` that `feeMinor` prices, set wherever a limit is. An application's is its whole
   * `over`; the partner's is `over` less what its applications' own limits already charged for this
   * metric, floored at 0, so no request is charged twice. Optional only for older producers; read a
   * missing value as `over`.
   */
  readonly chargedOver?: bigint;
  /** Projected use at the period's end from the run rate so far (equal to used once closed). */
  readonly forecast: bigint;
  /** Projected units over the limit at the period's end. */
  readonly forecastOver: bigint;
  /** Fee for `chargedOver`, in minor units (0 where no price is set). */
  readonly feeMinor: bigint;
  /** Whether the contract prices overage of this metric. */
  readonly priced: boolean;
}

/** One local day of the period. */
export interface DailyFigure {
  readonly date: string;
  readonly counts: UsageCounts;
  /** Metrics whose daily cap this day exceeded. */
  readonly overCap: readonly Metric[];
}

export interface ApplicationFigure {
  readonly applicationId: string;
  readonly name: string;
  readonly counts: UsageCounts;
  /** Against the application's own monthly limits, where the contract sets them (else empty). */
  readonly metrics: readonly MetricFigure[];
  readonly daily: readonly DailyFigure[];
  readonly daysOverCap: number;
}

export interface DatasetFigure {
  readonly dataset: string;
  readonly counts: UsageCounts;
  /** Whether the contract allows this dataset. */
  readonly allowed: boolean;
}

export type FindingKind = 'unregistered-principal' | 'dataset-outside-contract' | 'daily-cap-exceeded';

/** Something a compliance person must look at. */
export interface Finding {
  readonly kind: FindingKind;
  readonly severity: 'info' | 'warning' | 'critical';
  /** One sentence for people. */
  readonly message: string;
  readonly partnerId?: string;
  readonly applicationId?: string;
  readonly requester?: string;
  readonly dataset?: string;
  readonly date?: string;
  readonly counts: UsageCounts;
}

/** A notice level that the period's usage reached. */
export interface LevelReached {
  readonly level: string;
  readonly percent: number;
  /** The metric (and application, for a per-application limit) that reached it first. */
  readonly metric: Metric;
  readonly applicationId?: string;
  /** Use against the limit, in basis points: actual use, or projected use for a forecast level. */
  readonly utilisationBp: bigint;
  /** `forecast` for a level reached by the projection to the period's end; absent for actual use. */
  readonly basis?: 'forecast';
}

/**
 * The projection of an open period to its end, and the forecast thresholds it reaches (OVERAGES.md,
 * "Forecast" and "Forecast levels").
 */
export interface PeriodForecast {
  /** The run rate is measured over [rateFromMs, rateToMs): the period so far. */
  readonly rateFromMs: number;
  readonly rateToMs: number;
  /**
   * First instant at which a forecast notice may go out: the start of the contract's
   * `forecastNoticeAfterDays`-th local day of the period, and never before 24 hours have elapsed.
   */
  readonly noticesFromMs: number;
  /** Whether the data reaches `noticesFromMs`, so forecast levels may be notified. */
  readonly noticeable: boolean;
  /**
   * Forecast thresholds (`basis: forecast`) the projection reaches, lowest first. `utilisationBp` is
   * the projected use against the limit. Listed whether or not `noticeable`, so a report can show them.
   */
  readonly levels: readonly LevelReached[];
}

/** Everything the rules say about one partner in one billing period. */
export interface PartnerPeriodEvaluation {
  readonly partnerId: string;
  readonly partnerName: string;
  readonly period: Period;
  readonly contractId: string;
  readonly currency: string;
  /** End of the data considered: min(period end, audit window end). */
  readonly asOfMs: number;
  /** True when the data reaches the period's end (late-delivered records may still add to it). */
  readonly complete: boolean;
  /**
   * True once the run's data reaches the settling time past the period's end: no late delivery is
   * expected to change the figures any more. Absent where the run had no settling rule.
   */
  readonly final?: boolean;
  /** When the figures become final: the period's end plus the settling time. */
  readonly finalAfterMs?: number;
  readonly totals: UsageCounts;
  readonly metrics: readonly MetricFigure[];
  readonly applications: readonly ApplicationFigure[];
  readonly datasets: readonly DatasetFigure[];
  readonly daily: readonly DailyFigure[];
  readonly daysOverCap: number;
  readonly fees: { readonly totalMinor: bigint; readonly lines: readonly FeeLine[] };
  /** Levels reached, lowest first; the last one is the partner's current level. */
  readonly levels: readonly LevelReached[];
  /**
   * The open period's projection and its forecast levels; absent once the period is complete (and in
   * evaluations written before forecast levels existed).
   */
  readonly forecast?: PeriodForecast;
  /**
   * The contract's forecast thresholds (`basis: forecast`), so that notices can tell a forecast level
   * from an actual one in the ledger even once the period is closed. Absent (read as none) in
   * evaluations written before forecast levels existed.
   */
  readonly forecastThresholds?: readonly { readonly level: string; readonly percent: number }[];
  readonly findings: readonly Finding[];
}

/** Usage by requesters that no partner registered, over the audit window. */
export interface UnattributedFigure {
  readonly requester: string;
  readonly accessPoint: string;
  readonly counts: UsageCounts;
  readonly datasets: readonly DatasetFigure[];
  /** Whether any of it read a dataset that some partner's contract covers. */
  readonly touchedPartnerData: boolean;
}
