/**
 * What a notice says: the wording of one level's notice for one partner's period, as a view model of
 * plain data (sentences, label/value pairs and the figures they are about). notice-text.ts and
 * notice-html.ts lay it out; notice.ts puts both into the MIME message.
 */
import type {
  ApplicationFigure,
  DailyFigure,
  FeeLine,
  LevelReached,
  MetricFigure,
  PartnerPeriodEvaluation,
} from '../domain/evaluation.js';
import { formatMoney } from '../domain/money.js';
import { formatBp } from '../domain/notices.js';
import type { Partner, Registry } from '../domain/registry.js';
import { addDays, localDateOf } from '../domain/time.js';
import type { Metric, UsageCounts } from '../domain/usage.js';
import type { NoticeKey } from '../ports.js';
import {
  formatBytes,
  formatCount,
  formatLocalDateTime,
  formatLongDate,
  formatMonth,
  formatQuantity,
  METRIC_LABEL,
  METRIC_UNIT,
} from './format.js';
import { cleanSubject, normaliseMessageId } from './mime.js';

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ComposeNoticeInput {
  readonly registry: Registry;
  readonly partner: Partner;
  readonly evaluation: PartnerPeriodEvaluation;
  /** The level the notice states (one of evaluation.levels). */
  readonly level: string;
  /** Lower levels this notice also covers (DueNotice.covers). */
  readonly covers?: readonly string[];
  /** `id@domain`, with or without angle brackets. */
  readonly messageId: string;
  /** The notice date (Date header; the response deadline counts from it). */
  readonly date: Date;
  /** The report this notice belongs to, e.g. the run id. */
  readonly reportRef: string;
  /** Where the evidence is kept, e.g. the report's path or URL. */
  readonly evidenceRef: string;
  /**
   * The notice is decided after the period closed (late-delivered logs took it over the level):
   * the notice says so. @default false
   */
  readonly late?: boolean;
}

/** The level asked for is not among those the evaluation reached. */
export class NoticeLevelError extends Error {
  override readonly name = 'NoticeLevelError';
  constructor(
    readonly partnerId: string,
    readonly periodId: string,
    readonly level: string,
  ) {
    super(`${partnerId} ${periodId}: level "${level}" was not reached, so no notice can state it`);
  }
}

interface Limited {
  readonly scope: string;
  readonly applicationName?: string;
  readonly figure: MetricFigure;
}

/** Every limited metric of the partner and its applications, highest utilisation first. */
function limitedFigures(ev: PartnerPeriodEvaluation): Limited[] {
  const all: Limited[] = [];
  for (const f of ev.metrics) if (f.utilisationBp !== undefined) all.push({ scope: 'partner', figure: f });
  for (const a of ev.applications) {
    for (const f of a.metrics) {
      if (f.utilisationBp !== undefined) {
        all.push({ scope: a.applicationId, applicationName: a.name, figure: f });
      }
    }
  }
  return all.sort((x, y) => {
    const d = (y.figure.utilisationBp ?? 0n) - (x.figure.utilisationBp ?? 0n);
    return d > 0n ? 1 : d < 0n ? -1 : 0;
  });
}

/** What the notice asks the partner to do, as plain sentences. */
function actions(
  ev: PartnerPeriodEvaluation,
  reached: LevelReached,
  deadline: string,
  contact: string,
): string[] {
  const out: string[] = [];
  const over =
    reached.percent >= 100 ||
    [...ev.metrics, ...ev.applications.flatMap((a) => a.metrics)].some((m) => m.over > 0n);
  if (over) {
    out.push(
      `Bring your usage back within the contracted limits, or write to ${contact} by ${deadline} to agree a higher limit.`,
    );
    if (ev.fees.totalMinor > 0n) {
      const fee = formatMoney({ currency: ev.currency, minor: ev.fees.totalMinor });
      out.push(
        ev.complete
          ? `The overage fees stated above (${fee}) are due under contract ${ev.contractId}.`
          : `The overage fees stated above (${fee} so far) are charged under contract ${ev.contractId}; they grow while usage stays above the limit.`,
      );
    }
  } else {
    out.push(
      `No fee is due yet. Please review your usage; if you expect to pass the limit, write to ${contact} by ${deadline} to discuss a higher limit before overage fees apply.`,
    );
  }
  if (ev.daysOverCap > 0) out.push('Keep each day’s usage within the daily cap of your contract.');
  if (offContractDatasets(ev).length > 0) {
    out.push(
      `Stop reading the datasets listed as outside your contract, or write to ${contact} by ${deadline} to add them to it.`,
    );
  }
  return out;
}

export interface OffContract {
  readonly dataset: string;
  readonly counts: UsageCounts;
}

/** Datasets the partner read that its contract does not allow (from figures and findings). */
function offContractDatasets(ev: PartnerPeriodEvaluation): OffContract[] {
  const byKey = new Map<string, OffContract>();
  for (const d of ev.datasets) if (!d.allowed) byKey.set(d.dataset, { dataset: d.dataset, counts: d.counts });
  for (const f of ev.findings) {
    if (f.kind === 'dataset-outside-contract' && f.dataset !== undefined && !byKey.has(f.dataset)) {
      if (f.partnerId === undefined || f.partnerId === ev.partnerId) {
        byKey.set(f.dataset, { dataset: f.dataset, counts: f.counts });
      }
    }
  }
  return [...byKey.values()].sort((a, b) => compare(a.dataset, b.dataset));
}

function feeLineText(line: FeeLine, ev: PartnerPeriodEvaluation, apps: readonly ApplicationFigure[]): string {
  const app = line.applicationId ? apps.find((a) => a.applicationId === line.applicationId) : undefined;
  const scope = line.applicationId ? ` (${app?.name ?? line.applicationId})` : '';
  return (
    `${METRIC_LABEL[line.metric]}${scope}, tier ${line.tier}: ${formatCount(line.units)} ${METRIC_UNIT[line.metric]} ` +
    `at ${line.price} ${ev.currency} per ${formatCount(line.per)} = ${formatMoney({ currency: ev.currency, minor: line.amountMinor })}`
  );
}

/** `1,234 requests, 1.23 GB (1,234,567,890 bytes), 0 records`. */
export function countsText(c: UsageCounts): string {
  return `${formatCount(c.requests)} requests, ${formatBytes(c.bytesSent)}, ${formatCount(c.records)} records`;
}

const DAY_MS = 86_400_000;

/** What a notice for a forecast level says instead of the actual level's wording. */
interface ProjectionWording {
  readonly subjectWhat: string;
  /** Completes "is projected to reach the <level> level (...): ". */
  readonly reachText: string;
  /** That it is a projection, from which rate, and that no fee is due for it. */
  readonly statement: string;
  readonly keyFigures: readonly [string, string][];
  readonly actions: readonly string[];
}

/**
 * The wording of a forecast notice (OVERAGES.md, "Forecast levels"): the projected use against the
 * limit that reached the level, the rate it extends, and what the partner can still do about it.
 */
function projectionWording(
  ev: PartnerPeriodEvaluation,
  reached: LevelReached,
  month: string,
  deadline: string,
  contact: string,
): ProjectionWording {
  const app = reached.applicationId
    ? ev.applications.find((a) => a.applicationId === reached.applicationId)
    : undefined;
  const figure = (app ? app.metrics : ev.metrics).find((m) => m.metric === reached.metric);
  const zone = ev.period.timeZone;
  const lastDay = formatLongDate(addDays(ev.period.toDate, -1));
  const metricWord = METRIC_LABEL[reached.metric].toLowerCase();
  const whose = app ? `the ${app.name} application's ` : 'the ';
  const pct = formatBp(reached.utilisationBp);
  const subjectWhat = app
    ? `usage of ${app.name} projected at ${reached.utilisationBp / 100n}% of its ${month} limit`
    : `data usage projected at ${reached.utilisationBp / 100n}% of the ${month} limit`;
  if (!figure || figure.limit === undefined) {
    return {
      subjectWhat,
      reachText: `${pct}% of ${whose}monthly ${metricWord} limit by ${lastDay}`,
      statement: 'This is a projection from the rate of use so far, not a measurement: no fee is due for it.',
      keyFigures: [],
      actions: [`No fee is due for this projection. Write to ${contact} by ${deadline} with any question.`],
    };
  }
  const limit = figure.limit;
  const unit = (n: bigint) =>
    reached.metric === 'bytesSent' ? formatBytes(n) : `${formatCount(n)} ${METRIC_UNIT[reached.metric]}`;
  const rateFrom = ev.forecast?.rateFromMs ?? ev.period.startMs;
  const rateTo = ev.forecast?.rateToMs ?? ev.asOfMs;
  const span = BigInt(Math.max(1, rateTo - rateFrom));
  const perDay = (figure.used * BigInt(DAY_MS)) / span;
  const statement =
    `This is a projection, not a measurement: it extends the average rate from ${formatLocalDateTime(rateFrom, zone)} ` +
    `to ${formatLocalDateTime(rateTo, zone)} (${zone}), ${unit(perDay)} a day, to the whole period. ` +
    'No fee is due for it: overage fees are charged only on use actually above a limit' +
    `${ev.fees.totalMinor > 0n ? '' : ', and there is none so far'}.`;
  const actions: string[] = [];
  const left = BigInt(Math.max(0, ev.period.endMs - ev.asOfMs));
  if (figure.used < limit && left > 0n) {
    const room = limit - figure.used;
    actions.push(
      `No fee is due for this projection. To stay within your contract, keep ${whose}${metricWord} to at most ${unit(room)} ` +
        `more until ${lastDay} (about ${unit((room * BigInt(DAY_MS)) / left)} a day), or write to ${contact} by ${deadline} ` +
        'to agree a higher limit before overage fees apply.',
    );
  } else {
    actions.push(
      `No fee is due for this projection. Write to ${contact} by ${deadline} to agree a higher limit before the use projected here is charged.`,
    );
  }
  if (ev.daysOverCap > 0) actions.push('Keep each day’s usage within the daily cap of your contract.');
  const what = METRIC_LABEL[reached.metric];
  return {
    subjectWhat,
    reachText: `at the rate so far, ${whose}monthly ${metricWord} limit would be used to ${pct}% (${unit(figure.forecast)} of ${unit(limit)}) by ${lastDay}`,
    statement,
    keyFigures: [
      [
        app ? `${what} of ${app.name} projected by ${lastDay}` : `${what} projected by ${lastDay}`,
        `${pct}% of the monthly limit (${formatQuantity(reached.metric, figure.forecast)} of ${formatQuantity(reached.metric, limit)})`,
      ],
      [
        app ? `${what} used by ${app.name} so far` : `${what} used so far`,
        `${formatBp(figure.utilisationBp ?? 0n)}% (${formatQuantity(reached.metric, figure.used)})`,
      ],
      ['Projected over the limit', unit(figure.forecastOver)],
    ],
    actions,
  };
}

/** A notice as plain data: everything its text and HTML say, in the order they say it. */
export interface NoticeView {
  readonly key: NoticeKey;
  /** Without angle brackets. */
  readonly messageId: string;
  readonly providerName: string;
  readonly partnerName: string;
  readonly subject: string;
  /** The partner and what happened, as the HTML's heading. */
  readonly headline: string;
  readonly level: string;
  /** `November 2026`. */
  readonly month: string;
  /** At or above 100 % of a limit by actual use: the notice asks for action. */
  readonly actionRequired: boolean;
  /** The one line a mail client shows beside the subject. */
  readonly preheader: string;
  /** The figures that matter first: how far over, what it costs, by when to answer. */
  readonly keyFigures: readonly (readonly [string, string])[];
  readonly intro: string;
  /** Why the notice comes after the period closed; empty when it does not. */
  readonly lateText: string;
  /** For a forecast level: that it is a projection, from which rate, and that no fee is due for it. */
  readonly projectionStatement?: string;
  /** Lower levels this notice covers; empty when none. */
  readonly coversText: string;
  /** Whether the figures are final, or up to when they count. */
  readonly asOfText: string;
  /** `5 December 2026`. */
  readonly deadline: string;
  readonly todo: readonly string[];
  readonly contractId: string;
  readonly currency: string;
  readonly metrics: readonly MetricFigure[];
  /** `209.38 EUR`. */
  readonly feeTotal: string;
  /** One sentence per tier line of the fees. */
  readonly feeLines: readonly string[];
  readonly applications: readonly ApplicationFigure[];
  readonly daysOverCap: number;
  readonly overCapDays: readonly DailyFigure[];
  /** The period is over: no forecast. */
  readonly complete: boolean;
  readonly offContract: readonly OffContract[];
  readonly contact: string;
  readonly dispute: string;
  readonly evidence: string;
  readonly reportRef: string;
}

/**
 * The wording of the notice for one level of one partner's period. Throws NoticeLevelError for a
 * level the evaluation did not reach (by use so far or by forecast).
 */
export function noticeView(input: ComposeNoticeInput): NoticeView {
  const { registry, partner, evaluation: ev, level } = input;
  const provider = registry.provider;
  // A level reached by use so far, or else one reached by the projection to the period's end.
  const ladder = ev.levels.some((l) => l.level === level) ? ev.levels : (ev.forecast?.levels ?? []);
  const reached = ladder.find((l) => l.level === level);
  if (!reached) throw new NoticeLevelError(ev.partnerId, ev.period.id, level);
  const covered = (input.covers ?? [])
    .map((c) => ladder.find((l) => l.level === c))
    .filter((l): l is LevelReached => l !== undefined && l.level !== level);
  const messageId = normaliseMessageId(input.messageId);
  const zone = ev.period.timeZone;
  const month = formatMonth(ev.period.id);
  const lastDay = addDays(ev.period.toDate, -1);
  const noticeDate = localDateOf(input.date.getTime(), zone);
  const deadline = formatLongDate(addDays(noticeDate, provider.responseDays));
  const contact = provider.contactEmail;
  const top = limitedFigures(ev)[0];
  const topBp = top?.figure.utilisationBp ?? reached.utilisationBp;
  const projected =
    reached.basis === 'forecast' ? projectionWording(ev, reached, month, deadline, contact) : undefined;
  // A projection asks for attention, not action: nothing is over and no fee is due for it.
  const actionRequired = projected === undefined && reached.percent >= 100;

  const subjectWhat =
    projected?.subjectWhat ??
    (top?.applicationName
      ? `usage of ${top.applicationName} at ${topBp / 100n}% of its ${month} limit`
      : `data usage at ${topBp / 100n}% of the ${month} limit`);
  const subject = cleanSubject(
    `${actionRequired ? '[Action required]' : '[Notice]'} ${partner.name}: ${subjectWhat} (${level})`,
  );

  const periodText = `${formatLongDate(ev.period.fromDate)} to ${formatLongDate(lastDay)} (time zone ${zone})`;
  const finalAfter =
    ev.finalAfterMs === undefined ? '' : ` until ${formatLocalDateTime(ev.finalAfterMs, zone)} (${zone})`;
  const asOfText =
    ev.complete && ev.final === false
      ? `The period has closed; access logs delivered late may still add to these figures${finalAfter}, when they become final.`
      : ev.complete
        ? 'These are the final figures for the whole period.'
        : `The period is still open: figures cover usage up to ${formatLocalDateTime(ev.asOfMs, zone)} (${zone}).`;
  const lateText = input.late
    ? 'This notice is sent after the billing period closed because access logs arrive late: S3 delivers them ' +
      'on a best-effort basis, sometimes hours or days after the requests, so a period is counted again for a ' +
      'few days after it ends, and this level was found only then.'
    : '';
  const topText = top
    ? `${formatBp(topBp)}% of the ${top.applicationName ? `${top.applicationName} application's ` : ''}monthly ${METRIC_LABEL[top.figure.metric].toLowerCase()} limit`
    : `${formatBp(reached.utilisationBp)}% of a monthly limit`;
  const coversText =
    covered.length > 0
      ? `The ${covered.map((l) => `${l.level} (${l.percent}%)`).join(' and ')} level${covered.length > 1 ? 's were' : ' was'} also reached; this notice covers ${covered.length > 1 ? 'them' : 'it'} too.`
      : '';
  const overCapDays = ev.daily.filter((d) => d.overCap.length > 0);
  const offContract = offContractDatasets(ev);
  const todo = projected?.actions ?? actions(ev, reached, deadline, contact);
  const dispute =
    `If you believe these figures are wrong, write to ${contact} by ${deadline}, quoting reference ${input.reportRef}. ` +
    'We will review the access-log evidence with you and answer in writing; the notice stays open while we do.';
  const evidence = `Reference: ${input.reportRef}. Evidence: ${input.evidenceRef}.`;
  const money = (minor: bigint) => formatMoney({ currency: ev.currency, minor });

  // The figures that matter first: how far over, what it costs, by when to answer.
  const unitOf = (metric: Metric, n: bigint) =>
    metric === 'bytesSent' ? formatBytes(n) : `${formatCount(n)} ${METRIC_UNIT[metric]}`;
  const keyFigures: [string, string][] = [...(projected?.keyFigures ?? [])];
  if (top && !projected) {
    const f = top.figure;
    const what = METRIC_LABEL[f.metric];
    keyFigures.push(
      [
        top.applicationName ? `${what} used by ${top.applicationName}` : `${what} used`,
        `${formatBp(topBp)}% of the monthly limit (${formatQuantity(f.metric, f.used)} of ${formatQuantity(f.metric, f.limit ?? 0n)})`,
      ],
      ['Over the limit', f.over > 0n ? unitOf(f.metric, f.over) : 'not yet'],
    );
  }
  keyFigures.push([`Overage fees${ev.complete ? '' : ' so far'}`, money(ev.fees.totalMinor)]);
  if (ev.daysOverCap > 0) keyFigures.push(['Days over the daily cap', String(ev.daysOverCap)]);
  if (offContract.length > 0) keyFigures.push(['Datasets outside your contract', String(offContract.length)]);
  keyFigures.push(['Respond by', deadline]);
  const headline = `${partner.name}: ${subjectWhat}`;
  const intro =
    `Your use of data from ${provider.name} in the billing period ${month}, ${periodText}, ` +
    (projected
      ? `is projected to reach the ${level} level (${reached.percent}% threshold, by forecast): ${projected.reachText}.`
      : `has reached the ${level} level (${reached.percent}% threshold): ${topText}.`);

  return {
    key: { partnerId: ev.partnerId, periodId: ev.period.id, level },
    messageId,
    providerName: provider.name,
    partnerName: partner.name,
    subject,
    headline,
    level,
    month,
    actionRequired,
    preheader: `${topText}; overage fees ${money(ev.fees.totalMinor)}; respond by ${deadline}.`,
    keyFigures,
    intro,
    lateText,
    ...(projected ? { projectionStatement: projected.statement } : {}),
    coversText,
    asOfText,
    deadline,
    todo,
    contractId: ev.contractId,
    currency: ev.currency,
    metrics: ev.metrics,
    feeTotal: money(ev.fees.totalMinor),
    feeLines: ev.fees.lines.map((l) => feeLineText(l, ev, ev.applications)),
    applications: ev.applications,
    daysOverCap: ev.daysOverCap,
    overCapDays,
    complete: ev.complete,
    offContract,
    contact,
    dispute,
    evidence,
    reportRef: input.reportRef,
  };
}
