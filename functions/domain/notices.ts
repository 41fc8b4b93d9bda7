/**
 * Notices: which ones are due, and the figures they state (for the ledger and for re-audits).
 * Pure. How a notice reads (subject, text, HTML, MIME) is functions/render/notice.ts.
 */
import type { LedgerEntry, NoticeKey } from '../ports.js';
import type { LevelReached, MetricFigure, PartnerPeriodEvaluation } from './evaluation.js';
import { METRICS } from './usage.js';

// ---------------------------------------------------------------------------------------------
// Which notices are due

/** A notice to send: its key, the level it states, and the lower levels it also covers. */
export interface DueNotice extends NoticeKey {
  /** Lower levels reached since the last notice, which this one covers (lowest first). */
  readonly covers: readonly string[];
  readonly reached: LevelReached;
}

/**
 * The notices due for one partner's period: at most one for an actual level, then at most one for a
 * forecast level.
 *
 * Actual levels: a notice states the highest level reached and covers every level below it. So
 * - a level is due only if it is above the highest level the ledger holds (sent or pending) for the
 *   partner and period: a notice for `escalation` already told the partner about `warning`;
 * - when several levels are newly reached at once (a first run at 160%), ONE notice goes out, for
 *   the highest of them, and lists the lower ones in `covers`. Claiming the highest level in the
 *   ledger is enough to record them all, because of the first point.
 * A ledger level that the evaluation does not (or no longer) reaches counts as higher than every
 * reached one: it can only come from usage revised downward since, and a partner already told of a
 * higher level must not then receive a lower one.
 *
 * Forecast levels (OVERAGES.md, "Forecast levels") follow the same ladder among themselves, and are
 * due only while the period is open and far enough along (`forecast.noticeable`). An actual level
 * supersedes every forecast level at or below its percentage, whether this evaluation reaches it or
 * the ledger holds it: once use has reached 100 %, a projection that it will reach 100 % tells the
 * partner nothing, so such a forecast notice is never sent, not even later in the period. Ledger
 * entries of forecast levels never hold back an actual notice.
 */
export function dueNotices(
  evaluation: PartnerPeriodEvaluation,
  sentOrPending: readonly LedgerEntry[],
): DueNotice[] {
  const forecastPercent = new Map((evaluation.forecastThresholds ?? []).map((t) => [t.level, t.percent]));
  const held = sentOrPending.filter(
    (e) => e.partnerId === evaluation.partnerId && e.periodId === evaluation.period.id,
  );
  const heldActual = held.filter((e) => !forecastPercent.has(e.level));
  const heldForecast = held.filter((e) => forecastPercent.has(e.level));
  const due: DueNotice[] = [];

  const reached = [...evaluation.levels].sort((a, b) => a.percent - b.percent);
  const actual = ladder(evaluation, reached, heldActual);
  if (actual) due.push(actual);

  const forecast = evaluation.forecast;
  if (forecast?.noticeable) {
    const percentOf = new Map(reached.map((l) => [l.level, l.percent]));
    // The highest actual percentage reached or notified; a notified level no longer reached counts as
    // above every percentage, as in the actual ladder.
    const supersededUpTo = Math.max(
      -1,
      ...reached.map((l) => l.percent),
      ...heldActual.map((e) => percentOf.get(e.level) ?? Number.POSITIVE_INFINITY),
    );
    const open = [...forecast.levels]
      .filter((l) => l.percent > supersededUpTo)
      .sort((a, b) => a.percent - b.percent);
    const heldUpTo = Math.max(-1, ...heldForecast.map((e) => forecastPercent.get(e.level) ?? -1));
    const next = ladder(
      evaluation,
      open.filter((l) => l.percent > heldUpTo),
      [],
    );
    if (next) due.push(next);
  }
  return due;
}

/**
 * Whether the evaluation reaches a level a notice could state: an actual level, or a forecast level
 * that may already be notified. The AWS run notifies only the partners for which this holds.
 */
export function reachesNoticeLevel(evaluation: PartnerPeriodEvaluation): boolean {
  return (
    evaluation.levels.length > 0 ||
    (evaluation.forecast?.noticeable === true && evaluation.forecast.levels.length > 0)
  );
}

/** The highest of `reached` (lowest first) above every level `held` names, covering the fresh ones below. */
function ladder(
  evaluation: PartnerPeriodEvaluation,
  reached: readonly LevelReached[],
  held: readonly LedgerEntry[],
): DueNotice | undefined {
  if (reached.length === 0) return undefined;
  const rank = new Map(reached.map((l, i) => [l.level, i]));
  let highestHeld = -1;
  for (const e of held) highestHeld = Math.max(highestHeld, rank.get(e.level) ?? Number.POSITIVE_INFINITY);
  const fresh = reached.slice(highestHeld + 1);
  const top = fresh[fresh.length - 1];
  if (!top) return undefined;
  return {
    partnerId: evaluation.partnerId,
    periodId: evaluation.period.id,
    level: top.level,
    covers: fresh.slice(0, -1).map((l) => l.level),
    reached: top,
  };
}

// ---------------------------------------------------------------------------------------------
// The figures a notice states, for the ledger and for re-audits

/** One metric as a notice states it. Integers are decimal strings; null where there is no limit. */
export interface NoticeMetricFigures {
  readonly used: string;
  readonly limit: string | null;
  /** Percent of the limit with two decimals, e.g. `152.34`. */
  readonly utilisation: string | null;
  readonly over: string;
  /** The part of `over` the fee prices (less than `over` where application limits charged some). */
  readonly chargedOver: string;
  readonly feeMinor: string;
}

export interface NoticeApplicationFigures {
  readonly name: string;
  readonly requests: string;
  readonly bytesSent: string;
  readonly records: string;
  readonly daysOverCap: number;
  /** Against the application's own limits; only metrics the contract limits for it. */
  readonly metrics: Readonly<Record<string, NoticeMetricFigures>>;
}

/** The figures of a notice as stable, JSON-able data (key order fixed, bigints as strings). */
export interface NoticeFigures {
  readonly partnerId: string;
  readonly periodId: string;
  readonly contractId: string;
  readonly currency: string;
  /** End of the data considered, ISO instant. */
  readonly asOf: string;
  readonly complete: boolean;
  /** The highest level reached, or null. */
  readonly level: string | null;
  readonly metrics: Readonly<Record<string, NoticeMetricFigures>>;
  readonly applications: Readonly<Record<string, NoticeApplicationFigures>>;
  readonly daysOverCap: number;
  readonly feeTotalMinor: string;
}

function metricFigures(metrics: readonly MetricFigure[]): Record<string, NoticeMetricFigures> {
  const out: Record<string, NoticeMetricFigures> = {};
  for (const metric of METRICS) {
    const m = metrics.find((f) => f.metric === metric);
    if (!m) continue;
    out[metric] = {
      used: m.used.toString(),
      limit: m.limit === undefined ? null : m.limit.toString(),
      utilisation: m.utilisationBp === undefined ? null : formatBp(m.utilisationBp),
      over: m.over.toString(),
      chargedOver: (m.chargedOver ?? m.over).toString(),
      feeMinor: m.feeMinor.toString(),
    };
  }
  return out;
}

/** The figures a notice for this evaluation states; store `JSON.stringify` of it in the ledger. */
export function noticeFigures(evaluation: PartnerPeriodEvaluation): NoticeFigures {
  const applications: Record<string, NoticeApplicationFigures> = {};
  const apps = [...evaluation.applications].sort((a, b) => compare(a.applicationId, b.applicationId));
  for (const a of apps) {
    applications[a.applicationId] = {
      name: a.name,
      requests: a.counts.requests.toString(),
      bytesSent: a.counts.bytesSent.toString(),
      records: a.counts.records.toString(),
      daysOverCap: a.daysOverCap,
      metrics: metricFigures(a.metrics),
    };
  }
  return {
    partnerId: evaluation.partnerId,
    periodId: evaluation.period.id,
    contractId: evaluation.contractId,
    currency: evaluation.currency,
    asOf: new Date(evaluation.asOfMs).toISOString(),
    complete: evaluation.complete,
    level: evaluation.levels[evaluation.levels.length - 1]?.level ?? null,
    metrics: metricFigures(evaluation.metrics),
    applications,
    daysOverCap: evaluation.daysOverCap,
    feeTotalMinor: evaluation.fees.totalMinor.toString(),
  };
}

/** One figure that differs between a sent notice and a re-audit. */
export interface FigureChange {
  /** Dotted path, e.g. `metrics.bytesSent.used` or `applications.ingest.requests`. */
  readonly path: string;
  /** As the notice stated it; null when the notice did not state it. */
  readonly sent: string | null;
  /** As the re-audit finds it; null when it no longer applies. */
  readonly current: string | null;
  /** current - sent, when both are integers. */
  readonly delta: string | null;
}

/** How the figures of a sent notice differ from a re-audit of its period. */
export interface NoticeDiff {
  readonly key: NoticeKey;
  readonly messageId?: string;
  readonly sentAt?: string;
  readonly changes: readonly FigureChange[];
}

/** The ledger held figures that are not valid JSON of an object. */
export class NoticeFiguresError extends Error {
  override readonly name = 'NoticeFiguresError';
}

function flatten(value: unknown, prefix: string, out: Map<string, string | null>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  out.set(prefix, value === null || value === undefined ? null : String(value));
}

/**
 * Per-figure changes between the figures a notice stated (`sentJson`, as stored in the ledger) and
 * the current ones, in a stable order. Empty when nothing changed.
 */
export function diffFigures(sentJson: string, current: NoticeFigures | string): FigureChange[] {
  const parse = (json: string, what: string): unknown => {
    let v: unknown;
    try {
      v = JSON.parse(json);
    } catch (e) {
      throw new NoticeFiguresError(`${what} figures are not valid JSON`, { cause: e });
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new NoticeFiguresError(`${what} figures are not a JSON object`);
    }
    return v;
  };
  const before = new Map<string, string | null>();
  const after = new Map<string, string | null>();
  flatten(parse(sentJson, 'sent'), '', before);
  flatten(typeof current === 'string' ? parse(current, 'current') : current, '', after);
  const paths = [...new Set([...before.keys(), ...after.keys()])];
  const changes: FigureChange[] = [];
  for (const path of paths) {
    const sent = before.get(path) ?? null;
    const now = after.get(path) ?? null;
    if (sent === now) continue;
    const isInt = (s: string | null): s is string => s !== null && /^-?\d+$/.test(s);
    const delta = isInt(sent) && isInt(now) ? (BigInt(now) - BigInt(sent)).toString() : null;
    changes.push({ path, sent, current: now, delta });
  }
  return changes;
}

/**
 * For a re-audit: how the current figures differ from every notice the ledger holds as sent for
 * this partner and period. Notices whose figures still hold are left out.
 */
export function noticeDiffs(
  evaluation: PartnerPeriodEvaluation,
  ledger: readonly LedgerEntry[],
): NoticeDiff[] {
  const current = noticeFigures(evaluation);
  const out: NoticeDiff[] = [];
  for (const e of ledger) {
    if (e.state !== 'sent' || e.partnerId !== evaluation.partnerId || e.periodId !== evaluation.period.id) {
      continue;
    }
    const changes = diffFigures(e.figuresJson, current);
    if (changes.length === 0) continue;
    out.push({
      key: { partnerId: e.partnerId, periodId: e.periodId, level: e.level },
      ...(e.messageId === undefined ? {} : { messageId: e.messageId }),
      ...(e.sentAt === undefined ? {} : { sentAt: e.sentAt }),
      changes,
    });
  }
  return out;
}

/** Basis points, floored by the rules, as a percent with two decimals: `15234n` -> `152.34`. */
export function formatBp(bp: bigint): string {
  const neg = bp < 0n;
  const a = neg ? -bp : bp;
  return `${neg ? '-' : ''}${a / 100n}.${(a % 100n).toString().padStart(2, '0')}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
