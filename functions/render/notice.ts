/**
 * How a notice reads: the wording of one level's notice as a view model (plain data), and that view
 * model as plain text, as HTML for mail clients, and as the MIME message that carries both.
 * Pure: the notice date, Message-ID and report references are handed in.
 */
import type {
  ApplicationFigure,
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
import type { NoticeKey, OutgoingMessage } from '../ports.js';
import {
  escapeHtml,
  formatBytes,
  formatCount,
  formatLocalDateTime,
  formatLongDate,
  formatMonth,
  formatQuantity,
  METRIC_LABEL,
  METRIC_UNIT,
} from './format.js';
import { formatMailbox } from './mailbox.js';
import { buildMime, cleanSubject, normaliseMessageId } from './mime.js';

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

interface OffContract {
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

function metricLine(m: MetricFigure, currency: string): string {
  const parts = [`used ${formatQuantity(m.metric, m.used)}`];
  if (m.limit === undefined) parts.push('no monthly limit');
  else {
    parts.push(`limit ${formatQuantity(m.metric, m.limit)}`);
    parts.push(`utilisation ${formatBp(m.utilisationBp ?? 0n)}%`);
    parts.push(`over by ${formatQuantity(m.metric, m.over)}`);
    const charged = m.chargedOver ?? m.over;
    if (charged !== m.over) {
      parts.push(
        `of which ${formatQuantity(m.metric, charged)} charged here (the rest under application limits)`,
      );
    }
    parts.push(m.priced ? `fee ${formatMoney({ currency, minor: m.feeMinor })}` : 'no overage price');
  }
  return `${METRIC_LABEL[m.metric]}: ${parts.join('; ')}`;
}

function countsText(c: UsageCounts): string {
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

/**
 * Compose the notice for one level of one partner's period: subject, plain text and HTML saying the
 * same, and the MIME message. To: the partner's account owners; Cc: the provider's internal
 * contacts for it; Reply-To: the provider's contact address.
 */
export async function composeNotice(input: ComposeNoticeInput): Promise<OutgoingMessage> {
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

  // ---- plain text: the same content in the same order as the HTML.
  const t: string[] = [];
  t.push(subject, '');
  t.push('Key figures:');
  for (const [k, v] of keyFigures) t.push(`  - ${k}: ${v}`);
  t.push('', `Dear ${partner.name} team,`, '');
  t.push(intro);
  if (lateText) t.push(lateText);
  if (projected) t.push(projected.statement);
  if (coversText) t.push(coversText);
  t.push(asOfText);
  t.push('', `What you need to do, by ${deadline}:`);
  for (const a of todo) t.push(`  - ${a}`);
  t.push('', `Usage against contract ${ev.contractId}:`);
  for (const m of ev.metrics) t.push(`  - ${metricLine(m, ev.currency)}`);
  t.push('', `Overage fees: ${money(ev.fees.totalMinor)}`);
  for (const line of ev.fees.lines) t.push(`  - ${feeLineText(line, ev, ev.applications)}`);
  if (ev.applications.length > 0) {
    t.push('', 'By application:');
    for (const a of ev.applications) {
      t.push(
        `  - ${a.name} (${a.applicationId}): ${countsText(a.counts)}; days over the daily cap: ${a.daysOverCap}`,
      );
      for (const m of a.metrics) t.push(`      ${metricLine(m, ev.currency)}`);
    }
  }
  t.push('', `Days over the daily cap: ${ev.daysOverCap}`);
  for (const d of overCapDays) {
    t.push(`  - ${d.date}: ${d.overCap.map((m) => METRIC_LABEL[m].toLowerCase()).join(', ')}`);
  }
  if (!ev.complete) {
    t.push('', 'Forecast for the whole period at the current rate:');
    for (const m of ev.metrics) {
      const over =
        m.limit === undefined ? '' : `, over the limit by ${formatQuantity(m.metric, m.forecastOver)}`;
      t.push(`  - ${METRIC_LABEL[m.metric]}: ${formatQuantity(m.metric, m.forecast)}${over}`);
    }
  }
  if (offContract.length > 0) {
    t.push('', 'Datasets read outside your contract:');
    for (const d of offContract) t.push(`  - ${d.dataset}: ${countsText(d.counts)}`);
  }
  t.push('', `Contact: ${contact}`, `Disputes: ${dispute}`, evidence, '', provider.name, '');
  const text = t.join('\n');

  // ---- HTML for mail clients: nested tables, inline styles, 600 px at most, no script, no image.
  // Every value from the registry or the logs goes through escapeHtml. Label/value rows (two
  // columns) instead of wide tables, so nothing needs sideways scrolling on a phone.
  const e = escapeHtml;
  const FONT = 'font-family:Arial,Helvetica,sans-serif';
  const INK = '#1d2733';
  const MUTED = '#5b6775';
  const RULE = '#e3e7ec';
  const accent = actionRequired ? '#b3261e' : '#2f6db5';
  const para = (html: string, extra = '') =>
    `<p style="margin:0 0 12px;${FONT};font-size:15px;line-height:22px;color:${INK};${extra}">${html}</p>`;
  const pairs = (rows: readonly [string, string][]) =>
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;margin:0 0 12px;table-layout:fixed">' +
    rows
      .map(
        ([k, v]) =>
          `<tr><td style="padding:6px 12px 6px 0;border-bottom:1px solid ${RULE};${FONT};font-size:14px;line-height:20px;color:${MUTED};vertical-align:top;width:40%">${e(k)}</td>` +
          `<td style="padding:6px 0;border-bottom:1px solid ${RULE};${FONT};font-size:14px;line-height:20px;color:${INK};vertical-align:top;text-align:right">${e(v)}</td></tr>`,
      )
      .join('') +
    '</table>';
  const subhead = (s: string) =>
    `<p style="margin:12px 0 4px;${FONT};font-size:14px;line-height:20px;font-weight:bold;color:${INK}">${e(s)}</p>`;
  const section = (title: string, inner: string) =>
    `<tr><td style="padding:4px 24px 8px;${FONT}"><h2 style="margin:16px 0 8px;${FONT};font-size:17px;line-height:24px;color:${INK};border-top:1px solid ${RULE};padding-top:16px">${e(title)}</h2>${inner}</td></tr>`;
  const metricRows = (m: MetricFigure): [string, string][] => {
    const rows: [string, string][] = [['Used', formatQuantity(m.metric, m.used)]];
    if (m.limit === undefined) {
      rows.push(['Monthly limit', 'none']);
      return rows;
    }
    const charged = m.chargedOver ?? m.over;
    rows.push(
      ['Monthly limit', formatQuantity(m.metric, m.limit)],
      ['Utilisation', `${formatBp(m.utilisationBp ?? 0n)}%`],
      [
        'Over the limit',
        charged === m.over
          ? formatQuantity(m.metric, m.over)
          : `${formatQuantity(m.metric, m.over)}, of which ${formatQuantity(m.metric, charged)} charged here`,
      ],
      ['Fee', m.priced ? money(m.feeMinor) : 'no overage price'],
    );
    return rows;
  };

  const keyCells = keyFigures.map(
    ([k, v]) =>
      `<td class="stack" width="50%" valign="top" style="width:50%;padding:6px;vertical-align:top">` +
      `<div style="border:1px solid ${RULE};border-left:4px solid ${accent};border-radius:4px;padding:8px 10px;background:#fbfcfd">` +
      `<div style="${FONT};font-size:12px;line-height:16px;color:${MUTED};text-transform:uppercase;letter-spacing:0.5px">${e(k)}</div>` +
      `<div style="${FONT};font-size:16px;line-height:22px;font-weight:bold;color:${INK}">${e(v)}</div></div></td>`,
  );
  const keyRows: string[] = [];
  for (let i = 0; i < keyCells.length; i += 2) {
    keyRows.push(
      `<tr>${keyCells[i]}${keyCells[i + 1] ?? '<td class="stack" width="50%" style="width:50%"></td>'}</tr>`,
    );
  }

  const h: string[] = [];
  h.push(
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">' +
      '<meta name="x-apple-disable-message-reformatting">' +
      `<title>${e(subject)}</title>` +
      // Only for clients that honour <style>: stack the key figures on narrow screens.
      '<style>@media only screen and (max-width:480px){.stack{display:block!important;width:100%!important}}</style>' +
      `</head><body style="margin:0;padding:0;background:#f3f5f8;${FONT};color:${INK};word-wrap:break-word;overflow-wrap:anywhere">`,
    `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">${e(`${topText}; overage fees ${money(ev.fees.totalMinor)}; respond by ${deadline}.`)}</div>`,
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f5f8"><tr><td align="center" style="padding:16px 8px">',
    `<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background:#ffffff;border:1px solid #d9dee4;border-radius:8px;border-collapse:separate;table-layout:fixed">`,
    `<tr><td style="padding:18px 24px;background:${accent};border-radius:8px 8px 0 0;${FONT};color:#ffffff">` +
      `<div style="font-size:12px;line-height:16px;letter-spacing:1px;text-transform:uppercase;font-weight:bold">${actionRequired ? 'Action required' : 'Notice'} · ${e(provider.name)}</div>` +
      `<h1 style="margin:6px 0 0;${FONT};font-size:21px;line-height:28px;color:#ffffff">${e(headline)}</h1>` +
      `<div style="font-size:14px;line-height:20px;margin-top:4px">Level: <strong>${e(level)}</strong> · ${e(month)}</div></td></tr>`,
    `<tr><td style="padding:14px 18px 4px"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="table-layout:fixed">${keyRows.join('')}</table></td></tr>`,
    `<tr><td style="padding:12px 24px 0">` +
      para(`Dear ${e(partner.name)} team,`) +
      para(e(intro)) +
      (lateText ? para(e(lateText)) : '') +
      (projected ? para(e(projected.statement), 'font-weight:bold') : '') +
      (coversText ? para(e(coversText)) : '') +
      para(e(asOfText), `color:${MUTED};font-size:14px`) +
      '</td></tr>',
    `<tr><td style="padding:4px 24px 4px"><div style="border:2px solid ${accent};border-radius:6px;padding:12px 16px;background:${actionRequired ? '#fdecea' : '#e8eef6'}">` +
      `<h2 style="margin:0 0 6px;${FONT};font-size:17px;line-height:24px;color:${INK}">${e(`What you need to do, by ${deadline}`)}</h2>` +
      `<ul style="margin:0;padding:0 0 0 20px;${FONT};font-size:15px;line-height:22px;color:${INK}">${todo.map((a) => `<li style="margin:0 0 6px">${e(a)}</li>`).join('')}</ul>` +
      '</div></td></tr>',
  );
  h.push(
    section(
      `Usage against contract ${ev.contractId}`,
      ev.metrics.map((m) => subhead(METRIC_LABEL[m.metric]) + pairs(metricRows(m))).join(''),
    ),
  );
  h.push(
    section(
      `Overage fees: ${money(ev.fees.totalMinor)}`,
      ev.fees.lines.length > 0
        ? `<ul style="margin:0 0 12px;padding:0 0 0 20px;${FONT};font-size:14px;line-height:21px">${ev.fees.lines
            .map((l) => `<li style="margin:0 0 4px">${e(feeLineText(l, ev, ev.applications))}</li>`)
            .join('')}</ul>`
        : para('No overage fee applies.'),
    ),
  );
  if (ev.applications.length > 0) {
    h.push(
      section(
        'By application',
        ev.applications
          .map(
            (a) =>
              subhead(`${a.name} (${a.applicationId})`) +
              pairs([
                ['Requests', formatCount(a.counts.requests)],
                ['Data sent', formatBytes(a.counts.bytesSent)],
                ['Records', formatCount(a.counts.records)],
                ['Days over the daily cap', String(a.daysOverCap)],
              ]) +
              a.metrics
                .map((m) => subhead(`Limit of ${a.name}: ${METRIC_LABEL[m.metric]}`) + pairs(metricRows(m)))
                .join(''),
          )
          .join(''),
      ),
    );
  }
  h.push(
    section(
      `Days over the daily cap: ${ev.daysOverCap}`,
      overCapDays.length > 0
        ? pairs(
            overCapDays.map((d) => [
              d.date,
              `${d.overCap.map((m) => METRIC_LABEL[m].toLowerCase()).join(', ')}: ${formatCount(d.counts.requests)} requests, ${formatBytes(d.counts.bytesSent)}`,
            ]),
          )
        : para('None.'),
    ),
  );
  if (!ev.complete) {
    h.push(
      section(
        'Forecast for the whole period at the current rate',
        pairs(
          ev.metrics.map((m) => [
            METRIC_LABEL[m.metric],
            m.limit === undefined
              ? formatQuantity(m.metric, m.forecast)
              : `${formatQuantity(m.metric, m.forecast)}, over the limit by ${formatQuantity(m.metric, m.forecastOver)}`,
          ]),
        ),
      ),
    );
  }
  if (offContract.length > 0) {
    h.push(
      section(
        'Datasets read outside your contract',
        pairs(offContract.map((d) => [d.dataset, countsText(d.counts)])),
      ),
    );
  }
  h.push(
    section(
      'Contact and disputes',
      para(`Contact: <a href="mailto:${e(contact)}" style="color:${accent}">${e(contact)}</a>`) +
        para(`Disputes: ${e(dispute)}`) +
        para(e(evidence), `color:${MUTED};font-size:13px;word-break:break-word`),
    ),
    `<tr><td style="padding:12px 24px 20px;${FONT};font-size:13px;line-height:18px;color:${MUTED}">${e(provider.name)}</td></tr>`,
    '</table></td></tr></table></body></html>',
  );
  const html = h.join('\n');

  const to = partner.accountOwners.map((o) => formatMailbox(o));
  const cc = partner.internalContacts.map((o) => formatMailbox(o));
  const key: NoticeKey = { partnerId: ev.partnerId, periodId: ev.period.id, level };
  const raw = await buildMime({
    from: provider.noticeFrom,
    to,
    cc,
    replyTo: contact,
    subject,
    text,
    html,
    messageId,
    date: input.date,
    headers: {
      'Auto-Submitted': 'auto-generated',
      'X-Partner-Audit-Notice': `${key.partnerId}/${key.periodId}/${key.level}`,
      'X-Partner-Audit-Report': input.reportRef,
    },
  });
  return { key, messageId, from: provider.noticeFrom, to, cc, subject, text, html, raw };
}
