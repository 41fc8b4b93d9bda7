/**
 * The rule of a run's default window and of when a billing period's figures are final, in one place
 * for both engines (the plan step on AWS, the CLI's default window locally).
 *
 * S3 delivers server access logs on a best-effort basis: most records arrive within hours, some much
 * later, and a partner west of UTC ends its month up to 12 hours after UTC's midnight. So a month that
 * has just closed still gains usage for a while. A period is re-evaluated for `settlingDays` after its
 * end and only then called "final". The default of 3 days covers the delays S3's documentation and
 * field reports describe (hours, occasionally a day or more) with room to spare, while a partner still
 * gets the final figures of a month within its first week.
 */

import {
  addDays,
  datesBetween,
  localDateOf,
  monthOf,
  type Period,
  startOfLocalDate,
} from '../domain/time.js';
import type { AuditWindow } from './evaluate-window.js';

/** Days a closed period keeps being evaluated before its figures are final. */
export const DEFAULT_SETTLING_DAYS = 3;
/** Settling longer than a month would keep two closed months open at once. */
export const MAX_SETTLING_DAYS = 31;
/**
 * Delivery dates one nightly run rolls up at most. Two months: a run that catches up after an outage
 * stays within the state machine's payload and time limits, and the next nights take the rest.
 */
export const MAX_BATCHES_PER_RUN = 62;

const DAY_MS = 86_400_000;
/**
 * Local dates are applied in each partner's zone; a month ends at most 12 h after UTC's (Etc/GMT+12),
 * so one extra day keeps the westmost partner's month in the window until its final evaluation.
 */
const WESTMOST_LAG_DAYS = 1;

/** The setting is out of range. */
export class SettlingDaysError extends Error {
  override readonly name = 'SettlingDaysError';
  constructor(readonly value: unknown) {
    super(`settlingDays must be a whole number of days from 0 to ${MAX_SETTLING_DAYS}, got ${String(value)}`);
  }
}

/** Validates a settling setting (config, env, CLI) once, where it enters. */
export function checkSettlingDays(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SETTLING_DAYS) throw new SettlingDaysError(value);
  return value;
}

/** How far the usage data of a run is known to reach, and how long a period settles. */
export interface Settling {
  readonly settlingDays: number;
  /**
   * Usage delivered before this instant is in the rollup: on AWS the end of the newest delivery date
   * rolled up (every earlier date is too: the watermark); locally the end of the newest data.
   */
  readonly dataThroughMs: number;
}

/** Whether a period's figures are final for a run, and from when they are. */
export interface Finality {
  readonly final: boolean;
  /** period end + settlingDays x 24 h. */
  readonly finalAfterMs: number;
}

/** A period is final once the run's data reaches settlingDays past the period's end. */
export function periodFinality(period: Pick<Period, 'endMs'>, settling: Settling): Finality {
  const finalAfterMs = period.endMs + settling.settlingDays * DAY_MS;
  return { final: settling.dataThroughMs >= finalAfterMs, finalAfterMs };
}

/**
 * The default window of a run: from the first day of the oldest month that may not be final yet in
 * some partner's zone, to `to`. With `dataThroughMs` on UTC date D, a month ending (in UTC) on the
 * morning of D - settlingDays may still be open in a zone west of UTC, so the window starts with the
 * month of D - settlingDays - 1. On AWS `dataThroughMs` is how far the rollup reached before this
 * run's roll-up, so the run that makes a month final still evaluates it.
 */
export function settlingWindow(request: {
  readonly dataThroughMs: number;
  readonly settlingDays: number;
  /** First local date after the window (AWS: today, UTC; locally: the month after the newest data). */
  readonly to: string;
}): AuditWindow {
  const throughDate = localDateOf(request.dataThroughMs, 'UTC');
  const from = monthOf(addDays(throughDate, -(request.settlingDays + WESTMOST_LAG_DAYS))).first;
  return { from: from < request.to ? from : monthOf(addDays(request.to, -1)).first, to: request.to };
}

/** The delivery dates a nightly run rolls up and what it knows afterwards. */
export interface NightlyDeliveries {
  /** ISO dates, oldest first; empty when every date through yesterday is already rolled up. */
  readonly dates: readonly string[];
  /** The watermark to record once this run's roll-up succeeded: its newest date, or null for none. */
  readonly advanceTo: string | null;
  /** The end of the newest delivery date rolled up once the roll-up succeeded. */
  readonly dataThroughMs: number;
  /**
   * How far the rollup reached before this run: the start of its oldest date. The window is set from
   * this, so a month that was not final before a catch-up of several dates gets its final evaluation.
   */
  readonly dataThroughBeforeMs: number;
  /** Dates still behind after this run, when the gap was longer than `maxBatches`. */
  readonly backlog: number;
}

/**
 * Every delivery date after the watermark through yesterday (UTC), oldest first, at most
 * `maxBatches` of them (the oldest: the next nights take the rest) and none before `logsStartDate`.
 * Without a watermark (the first run) only yesterday: older logs are audited by an ad hoc run over
 * their window, at a cost the operator chooses. A schedule that skips a night (a DST gap) or fires
 * twice on one UTC date thus neither loses nor repeats a delivery date.
 */
export function nightlyDeliveries(request: {
  readonly today: string;
  readonly watermark?: string | undefined;
  readonly logsStartDate?: string | undefined;
  readonly maxBatches?: number;
}): NightlyDeliveries {
  const yesterday = addDays(request.today, -1);
  const max = request.maxBatches ?? MAX_BATCHES_PER_RUN;
  const watermark = request.watermark;
  let first = watermark === undefined ? yesterday : addDays(watermark, 1);
  if (request.logsStartDate !== undefined && first < request.logsStartDate) first = request.logsStartDate;
  const all = datesBetween(first, request.today);
  const dates = all.slice(0, max);
  const advanceTo = dates.at(-1) ?? null;
  // Nothing new (a second run on one UTC date): the data reaches as far as the watermark says.
  const newest =
    [advanceTo, watermark]
      .filter((d): d is string => d != null)
      .sort()
      .at(-1) ?? yesterday;
  const dataThroughMs = startOfLocalDate(addDays(newest, 1), 'UTC');
  return {
    dates,
    advanceTo,
    dataThroughMs,
    dataThroughBeforeMs: dates[0] === undefined ? dataThroughMs : startOfLocalDate(dates[0], 'UTC'),
    backlog: all.length - dates.length,
  };
}
