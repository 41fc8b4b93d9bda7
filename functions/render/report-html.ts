/**
 * The audit report as one static HTML file: inline CSS and inline SVG charts, no script and nothing
 * fetched, so it opens offline, prints (one partner per page run) and reads on a phone.
 *
 * Every value from the report is escaped: partner and application names come from the registry and
 * requesters, keys and dataset names from the access logs, and both are written by people we do not
 * control.
 */

import { formatMoney, minorDigits } from '../domain/money.js';
import { unroundedTierAmount } from '../domain/pricing.js';
import type { Report } from '../domain/report.js';
import { addDays, datesBetween } from '../domain/time.js';
import type { Metric } from '../domain/usage.js';
import {
  escapeHtml as e,
  formatBytes,
  formatCount,
  formatLocalDateTime,
  formatLongDate,
  formatMonth,
  METRIC_LABEL,
  METRIC_UNIT,
} from './format.js';
import { cumulativeChart, dailyBarChart } from './report-charts.js';

type Partner = Report['partners'][number];
type Period = Partner['periods'][number];
type MetricRow = Period['metrics'][number];
type Money = Period['fees']['total'];
type Finding = Period['findings'][number];
type Counts = Period['totals'];
type Caps = NonNullable<Period['dailyCaps']>;

/** The report has no partner with the id asked for. */
export class ReportPartnerError extends Error {
  override readonly name = 'ReportPartnerError';
  constructor(readonly partnerId: string) {
    super(`the report has no partner "${partnerId}"`);
  }
}

export interface RenderReportOptions {
  /** Render only this partner's section (for sharing with that partner): no other partner, no unattributed usage, no raw log samples. */
  readonly partnerId?: string;
}

const FINDING_LABEL: Record<Finding['kind'], string> = {
  'unregistered-principal': 'Unregistered principal',
  'dataset-outside-contract': 'Dataset outside the contract',
  'daily-cap-exceeded': 'Daily cap exceeded',
};
const STATUS_LABEL: Record<string, string> = {
  sent: 'sent',
  previewed: 'previewed (dry run, not sent)',
  'already-sent': 'already sent earlier',
  held: 'held by another run',
  failed: 'failed',
};

const big = (s: string) => BigInt(s);
const count = (s: string) => formatCount(big(s));
const qty = (metric: Metric, s: string) =>
  metric === 'bytesSent' ? formatBytes(big(s)) : formatCount(big(s));
const money = (m: Money) => formatMoney({ currency: m.currency, minor: big(m.minor) });

/** `123.46 GB`: the short half of formatBytes, for places where the exact count is given nearby. */
const shortBytes = (s: string) => formatBytes(big(s)).replace(/ \(.*\)$/, '');

/** A quantity for a table cell: bytes as gigabytes with the exact count on a line of its own. */
function qtyCell(metric: Metric, s: string): string {
  if (metric !== 'bytesSent' || big(s) === 0n) return e(formatCount(big(s)));
  const exact = formatBytes(big(s)).replace(/^.* \((.*)\)$/, '$1');
  return `${e(shortBytes(s))} <span class="exact">(${e(exact)})</span>`;
}

const monthName = formatMonth;

/** An ISO instant as `YYYY-MM-DD HH:mm` in a zone, with the zone named. */
function localTime(iso: string, timeZone: string): string {
  return `${formatLocalDateTime(Date.parse(iso), timeZone)} (${timeZone})`;
}

/** A safe fragment id for an anchor: the report's ids are validated, but a hand-edited file may not be. */
const anchor = (prefix: string, id: string) => `${prefix}-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/**
 * A table in its own scrolling box. On a phone it reflows into one card per row, each cell labelled
 * from `data-label`, so nobody has to scroll sideways through figures.
 */
function table(
  head: readonly string[],
  rows: readonly string[][],
  numeric: readonly boolean[],
  cls = '',
): string {
  const th = head.map((h, i) => `<th${numeric[i] ? ' class="n"' : ''} scope="col">${e(h)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : ''} data-label="${e(head[i] ?? '')}"><span class="c">${c}</span></td>`).join('')}</tr>`,
    )
    .join('');
  return `<div class="scroll"><table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'info'): string {
  return `<span class="badge ${tone}">${e(text)}</span>`;
}

const severityTone = (s: Finding['severity']) =>
  s === 'critical' ? 'bad' : s === 'warning' ? 'warn' : 'info';

function countsCells(c: Counts): string[] {
  return [count(c.requests), qtyCell('bytesSent', c.bytesSent), count(c.records)];
}

/**
 * The exact value of `units x price / per` as a decimal, up to 8 places (with an ellipsis where it
 * goes on), so a reader can see the rounding to minor units happen.
 */
export function exactTierAmount(units: bigint, price: string, per: bigint): string {
  const { whole, fraction, cut } = unroundedTierAmount(units, price, per);
  const text = fraction === '' ? formatCount(whole) : `${formatCount(whole)}.${fraction}`;
  return cut ? `${text}…` : text;
}

// ---------------------------------------------------------------------------------------------
// Sections of one partner period

function keyFigures(period: Period): string {
  const short = (metric: Metric, s: string) => (metric === 'bytesSent' ? shortBytes(s) : count(s));
  const cards: string[] = [];
  for (const m of period.metrics) {
    if (m.limit === null) {
      cards.push(
        `<div class="kpi"><div class="k">${e(METRIC_LABEL[m.metric])}</div><div class="v">${e(short(m.metric, m.used))}</div><div class="s">no monthly limit</div></div>`,
      );
      continue;
    }
    const pct = Number(m.utilisation ?? '0');
    const over = big(m.over) > 0n;
    cards.push(
      `<div class="kpi${over ? ' over' : ''}"><div class="k">${e(METRIC_LABEL[m.metric])}</div>` +
        `<div class="v">${e(m.utilisation ?? '-')}%</div>` +
        `<div class="meter" aria-hidden="true"><span style="width:${Math.min(100, Math.max(0, pct)).toFixed(1)}%"></span></div>` +
        `<div class="s">${e(short(m.metric, m.used))} of ${e(short(m.metric, m.limit))}</div></div>`,
    );
  }
  const feeTotal = big(period.fees.total.minor) > 0n;
  const forecastTop = period.forecast?.levels.at(-1)?.level;
  cards.push(
    `<div class="kpi${feeTotal ? ' over' : ''}"><div class="k">Overage fees${period.complete ? '' : ' so far'}</div><div class="v">${e(money(period.fees.total))}</div><div class="s">contract ${e(period.contractId)}</div></div>`,
    `<div class="kpi"><div class="k">Notice level</div><div class="v">${e(period.currentLevel ?? 'none')}</div><div class="s">${period.levels.length} level${period.levels.length === 1 ? '' : 's'} reached${forecastTop ? `; by forecast: ${e(forecastTop)}` : ''}</div></div>`,
    `<div class="kpi${period.daysOverCap > 0 ? ' over' : ''}"><div class="k">Days over the daily cap</div><div class="v">${period.daysOverCap}</div><div class="s">of ${period.daily.length} day${period.daily.length === 1 ? '' : 's'} with data</div></div>`,
  );
  return `<div class="kpis">${cards.join('')}</div>`;
}

function capOf(caps: Caps | null | undefined, metric: Metric): bigint | null {
  const v = caps?.[metric];
  return v === null || v === undefined ? null : big(v);
}

function charts(period: Period): string {
  const dates = datesBetween(period.fromDate, period.toDate);
  const byDate = new Map(period.daily.map((d) => [d.date, d]));
  const out: string[] = [];
  const dailyMetrics = (['requests', 'bytesSent', 'records'] as const).filter(
    (m) => capOf(period.dailyCaps, m) !== null || m !== 'records' || big(period.totals.records) > 0n,
  );
  const figures: string[] = [];
  for (const m of dailyMetrics) {
    const cap = capOf(period.dailyCaps, m);
    const label = `${METRIC_LABEL[m]} per day, ${monthName(period.periodId)}${cap === null ? '' : `, daily cap ${qty(m, cap.toString())}`}`;
    const svg = dailyBarChart({
      metric: m,
      label,
      cap,
      days: dates.map((date) => {
        const d = byDate.get(date);
        return d
          ? { date, value: big(d.counts[m]), overCap: d.overCap.includes(m) }
          : { date, overCap: false };
      }),
    });
    const anyOver = period.daily.some((d) => d.overCap.includes(m));
    const key =
      cap === null
        ? `<i class="sw bar"></i>usage per day${anyOver ? ' <i class="sw over"></i>over the cap' : ''}; ` +
          (period.dailyCaps === null || period.dailyCaps === undefined
            ? 'the daily cap is not stated in this report'
            : 'no daily cap')
        : `<i class="sw bar"></i>within the cap <i class="sw over"></i>over the cap <i class="sw cap"></i>daily cap ${e(qty(m, cap.toString()))}`;
    figures.push(
      `<figure>${svg}<figcaption><strong>${e(METRIC_LABEL[m])} per day</strong> (local days, ${e(period.timeZone)}). ` +
        `<span class="key">${key}</span></figcaption></figure>`,
    );
  }
  out.push(`<h4>Usage per day against the daily cap</h4><div class="charts">${figures.join('')}</div>`);

  const limited = period.metrics.filter((m) => m.limit !== null);
  const cumulativeMetrics: MetricRow[] = limited.length > 0 ? limited : period.metrics.slice(0, 1);
  const cumFigures = cumulativeMetrics.map((m) => {
    const fc = period.forecast?.metrics.find((f) => f.metric === m.metric && f.applicationId === null);
    const forecast = fc ? big(fc.forecast) : null;
    const limit = m.limit === null ? null : big(m.limit);
    const label =
      `${METRIC_LABEL[m.metric]} used so far in ${monthName(period.periodId)}: ${qty(m.metric, m.used)}` +
      (limit === null ? '' : ` of a limit of ${qty(m.metric, m.limit ?? '0')}`) +
      (forecast === null ? '' : `; forecast ${qty(m.metric, forecast.toString())}`);
    const svg = cumulativeChart({
      metric: m.metric,
      label,
      dates,
      daily: period.daily.map((d) => big(d.counts[m.metric])),
      limit,
      forecast,
    });
    return (
      `<figure>${svg}<figcaption><strong>${e(METRIC_LABEL[m.metric])}, cumulative</strong>: ${e(qty(m.metric, m.used))} used` +
      (limit === null ? '' : ` of ${e(qty(m.metric, m.limit ?? '0'))} (${e(m.utilisation ?? '-')}%)`) +
      (forecast === null ? '' : `, forecast ${e(qty(m.metric, forecast.toString()))} by the period's end`) +
      `. <span class="key"><i class="sw line"></i>used <i class="sw cap"></i>monthly limit${forecast === null ? '' : ' <i class="sw fc"></i>forecast'}</span></figcaption></figure>`
    );
  });
  out.push(
    `<h4>Cumulative usage against the month's limit</h4><div class="charts">${cumFigures.join('')}</div>`,
  );
  return out.join('');
}

function metricTable(metrics: readonly MetricRow[]): string {
  return table(
    ['Metric', 'Used', 'Monthly limit', 'Utilisation', 'Over', 'Charged here', 'Fee'],
    metrics.map((m) => [
      e(METRIC_LABEL[m.metric]),
      qtyCell(m.metric, m.used),
      m.limit === null ? 'none' : qtyCell(m.metric, m.limit),
      m.utilisation === null ? '-' : `${e(m.utilisation)}%`,
      qtyCell(m.metric, m.over),
      qtyCell(m.metric, m.chargedOver),
      m.priced ? e(money(m.fee)) : 'not priced',
    ]),
    [false, true, true, true, true, true, true],
  );
}

function feeCalculation(period: Period): string {
  const appName = (id: string | null) =>
    id === null ? null : (period.applications.find((a) => a.applicationId === id)?.name ?? id);
  const steps: string[] = [];
  const overLine = (m: MetricRow, scope: string | null) => {
    if (m.limit === null) return;
    const who = scope === null ? '' : ` of ${e(scope)}`;
    let s =
      `<strong>${e(METRIC_LABEL[m.metric])}${who}</strong>: used ${e(qty(m.metric, m.used))} − monthly limit ${e(qty(m.metric, m.limit))} ` +
      `= <strong>${big(m.over) > 0n ? `${e(qty(m.metric, m.over))} over` : 'nothing over'}</strong>`;
    if (m.chargedOver !== m.over) {
      s += `; of these ${e(qty(m.metric, m.chargedOver))} are charged here, the rest under the applications' own limits`;
    }
    if (big(m.over) > 0n && !m.priced)
      s += `; the contract sets no overage price for ${METRIC_UNIT[m.metric]}: no fee`;
    steps.push(`<li>${s}.</li>`);
  };
  for (const m of period.metrics) overLine(m, null);
  for (const a of period.applications) for (const m of a.metrics) overLine(m, a.name);

  const currency = period.fees.total.currency;
  const digits = minorDigits(currency);
  const lines = period.fees.lines.map((l) => {
    const app = appName(l.applicationId);
    const exact = exactTierAmount(big(l.units), l.price, big(l.per));
    const rounded = money(l.amount);
    const roundedPlain = rounded.replace(` ${currency}`, '');
    const result =
      exact === roundedPlain
        ? `= <strong>${e(rounded)}</strong>`
        : `${exact.endsWith('…') ? '≈' : '='} ${e(exact)} ${e(currency)}, rounded half up to ${digits} decimal${digits === 1 ? '' : 's'}: <strong>${e(rounded)}</strong>`;
    return (
      `<li><span class="calc-scope">${e(METRIC_LABEL[l.metric])}${app === null ? '' : ` (${e(app)})`}, tier ${l.tier}:</span> ` +
      `<span class="calc">${e(count(l.units))} ${METRIC_UNIT[l.metric]} × ${e(l.price)} ${e(currency)} ÷ ${e(count(l.per))} ${result}</span></li>`
    );
  });
  const sum = period.fees.lines.reduce((s, l) => s + big(l.amount.minor), 0n);
  const total = big(period.fees.total.minor);
  const parts = [`<h4>Overage and fees, line by line</h4>`];
  parts.push(
    steps.length > 0
      ? `<ol class="steps">${steps.join('')}</ol>`
      : '<p>The contract sets no monthly limit.</p>',
  );
  if (lines.length > 0) {
    parts.push(`<p>Each tier line is units × price ÷ per units:</p><ol class="tiers">${lines.join('')}</ol>`);
  } else {
    parts.push('<p>No overage is priced in this period, so there are no fee lines.</p>');
  }
  parts.push(
    `<p class="total">Total overage fees${period.complete ? '' : ' so far'}: <strong>${e(money(period.fees.total))}</strong>` +
      (lines.length > 1 ? ` (the sum of the ${lines.length} lines above)` : '') +
      '.</p>',
  );
  if (sum !== total) {
    parts.push(
      `<p class="alert">The fee lines add up to ${e(formatMoney({ currency, minor: sum }))}, not the total stated: this report is inconsistent.</p>`,
    );
  }
  return parts.join('');
}

function forecastSection(period: Period): string {
  if (!period.forecast) {
    return period.final === false
      ? '<h4>Forecast</h4><p>The period has ended, so there is no forecast. Access logs delivered late may still add to the figures until they are final.</p>'
      : '<h4>Forecast</h4><p>The period is complete: the figures above are final, so there is no forecast.</p>';
  }
  const appName = (id: string | null) =>
    id === null ? 'whole partner' : (period.applications.find((a) => a.applicationId === id)?.name ?? id);
  const fc = period.forecast;
  // Say plainly that these are projections, from which rate, and when they may be notified.
  const noticesFrom =
    fc.noticesFrom === null
      ? ''
      : Date.parse(fc.noticesFrom) <= Date.parse(fc.basedOnDataUntil)
        ? ' Forecast levels may be notified in this period.'
        : ` Forecast levels are notified only from ${e(localTime(fc.noticesFrom, period.timeZone))}, once the rate means something.`;
  const levels =
    fc.levels.length === 0
      ? '<p>No forecast level is reached.</p>'
      : `<ul class="levels">${fc.levels
          .map(
            (l) =>
              `<li><strong>${e(l.level)}</strong> (${e(String(l.percent))}% threshold, by forecast): ${e(METRIC_LABEL[l.metric].toLowerCase())}` +
              `${l.applicationId === null ? '' : ` of <code>${e(l.applicationId)}</code>`} projected at ${e(l.utilisation)}% of the limit. A projection: no fee is due for it.</li>`,
          )
          .join('')}</ul>`;
  return (
    `<h4>Forecast to the end of the period</h4><p>A projection, not a measurement: the average rate from ${e(localTime(fc.rateFrom, period.timeZone))} to ${e(localTime(fc.basedOnDataUntil, period.timeZone))}, extended to the period's end. No fee is due for a forecast.${noticesFrom}</p>` +
    levels +
    table(
      ['Metric', 'Scope', 'Monthly limit', 'Forecast', 'Forecast over the limit'],
      period.forecast.metrics.map((f) => [
        e(METRIC_LABEL[f.metric]),
        e(appName(f.applicationId)),
        f.limit === null ? 'none' : qtyCell(f.metric, f.limit),
        qtyCell(f.metric, f.forecast),
        f.limit === null ? '-' : qtyCell(f.metric, f.forecastOver),
      ]),
      [false, false, true, true, true],
    )
  );
}

function applicationsSection(period: Period): string {
  if (period.applications.length === 0) return '<h4>By application</h4><p>No application used data.</p>';
  const parts = [
    '<h4>By application</h4>',
    table(
      ['Application', 'Id', 'Requests', 'Data sent', 'Records', 'Days over its daily cap'],
      period.applications.map((a) => [
        e(a.name),
        `<code>${e(a.applicationId)}</code>`,
        ...countsCells(a.counts),
        String(a.daysOverCap),
      ]),
      [false, false, true, true, true, true],
    ),
  ];
  for (const a of period.applications.filter((x) => x.metrics.length > 0)) {
    parts.push(`<p>Own monthly limits of <strong>${e(a.name)}</strong>:</p>`, metricTable(a.metrics));
  }
  return parts.join('');
}

function datasetsSection(period: Period): string {
  if (period.datasets.length === 0) return '<h4>By dataset</h4><p>No dataset was read.</p>';
  return (
    '<h4>By dataset</h4>' +
    table(
      ['Dataset', 'In the contract', 'Requests', 'Data sent', 'Records'],
      period.datasets.map((d) => [
        `<code>${e(d.dataset)}</code>`,
        d.allowed ? badge('yes', 'ok') : badge('no: outside the contract', 'bad'),
        ...countsCells(d.counts),
      ]),
      [false, false, true, true, true],
    )
  );
}

function findingList(findings: readonly Finding[]): string {
  if (findings.length === 0) return '<p>None.</p>';
  const items = findings.map((f) => {
    const details: string[] = [];
    if (f.applicationId !== null) details.push(`application <code>${e(f.applicationId)}</code>`);
    if (f.requester !== null) details.push(`requester <code>${e(f.requester)}</code>`);
    if (f.dataset !== null) details.push(`dataset <code>${e(f.dataset)}</code>`);
    if (f.date !== null) details.push(`on ${e(f.date)}`);
    details.push(
      `${e(count(f.counts.requests))} requests, ${e(formatBytes(big(f.counts.bytesSent)))}, ${e(count(f.counts.records))} records`,
    );
    return (
      `<li>${badge(f.severity, severityTone(f.severity))} <strong>${e(FINDING_LABEL[f.kind])}</strong>: ${e(f.message)}` +
      `<div class="detail">${details.join(' · ')}</div></li>`
    );
  });
  return `<ul class="findings">${items.join('')}</ul>`;
}

function noticeTable(notices: Report['notices']): string {
  if (notices.length === 0) return '<p>No notice was due in this run.</p>';
  const tone = (s: string) => (s === 'sent' ? 'ok' : s === 'failed' ? 'bad' : s === 'held' ? 'warn' : 'info');
  return table(
    ['Level', 'Status', 'Also covers', 'Message-ID', 'File', 'Error'],
    notices.map((n) => [
      e(n.level),
      badge(STATUS_LABEL[n.status] ?? n.status, tone(n.status)),
      n.covers.length > 0 ? e(n.covers.join(', ')) : '-',
      n.messageId === null ? '-' : `<code>${e(n.messageId)}</code>`,
      n.file === null ? '-' : `<code>${e(n.file)}</code>`,
      n.error === null ? '-' : e(n.error),
    ]),
    [false, false, false, false, false, false],
  );
}

function periodSection(partner: Partner, period: Period): string {
  const lastDay = addDays(period.toDate, -1);
  // Absent `final` (reports written before the settling rule): a complete period reads as final.
  const settling =
    period.final === false && period.finalAfter !== undefined
      ? ` ${badge(`settling: late-delivered logs may still count; final after ${localTime(period.finalAfter, period.timeZone)}`, 'warn')}`
      : '';
  const state =
    period.complete && period.final !== false
      ? badge('final figures', 'ok')
      : period.complete
        ? `${badge('closed', 'ok')}${settling}`
        : `${badge(`open: data up to ${localTime(period.asOf, period.timeZone)}`, 'warn')}${settling}`;
  const levels =
    period.levels.length === 0
      ? '<p>No notice level was reached.</p>'
      : `<ul class="levels">${period.levels
          .map(
            (l) =>
              `<li><strong>${e(l.level)}</strong> (${e(String(l.percent))}% threshold), reached by ${e(METRIC_LABEL[l.metric].toLowerCase())}` +
              `${l.applicationId === null ? '' : ` of <code>${e(l.applicationId)}</code>`} at ${e(l.utilisation)}%</li>`,
          )
          .join('')}</ul>`;
  return (
    `<article class="period" id="${e(anchor('period', `${partner.partnerId}-${period.periodId}`))}">` +
    `<h3>${e(monthName(period.periodId))} <span class="sub">${e(formatLongDate(period.fromDate))} to ${e(formatLongDate(lastDay))}, ${e(period.timeZone)}</span></h3>` +
    `<p class="meta">${state} Contract <code>${e(period.contractId)}</code>, currency ${e(period.currency)}.</p>` +
    keyFigures(period) +
    charts(period) +
    '<h4>Usage against the contract</h4>' +
    metricTable(period.metrics) +
    `<p>Totals: ${e(count(period.totals.requests))} requests, ${e(formatBytes(big(period.totals.bytesSent)))}, ${e(count(period.totals.records))} records.</p>` +
    feeCalculation(period) +
    forecastSection(period) +
    '<h4>Notice levels</h4>' +
    levels +
    applicationsSection(period) +
    datasetsSection(period) +
    `<h4>Findings (${period.findings.length})</h4>` +
    findingList(period.findings) +
    '<h4>Notices in this run</h4>' +
    noticeTable(period.notices) +
    '</article>'
  );
}

function partnerSection(partner: Partner): string {
  return (
    `<section class="partner" id="${e(anchor('partner', partner.partnerId))}">` +
    `<h2>${e(partner.partnerName)} <span class="sub"><code>${e(partner.partnerId)}</code></span></h2>` +
    (partner.periods.length === 0 ? '<p>No billing period in the window.</p>' : '') +
    partner.periods.map((p) => periodSection(partner, p)).join('') +
    '</section>'
  );
}

// ---------------------------------------------------------------------------------------------
// Run-level sections

function runHeader(report: Report, partners: readonly Partner[], onePartner: boolean): string {
  const facts: [string, string][] = [
    ['Run', `<code>${e(report.runId)}</code>`],
    ['Generated', e(localTime(report.generatedAt, 'UTC'))],
    ['Window', `${e(report.window.from)} to ${e(report.window.to)} (end exclusive)`],
    ['Engine', e(report.engine)],
    ['Mode', report.dryRun ? badge('dry run: nothing recorded or sent', 'warn') : 'recorded run'],
  ];
  if (report.reason !== null) facts.push(['Reason', e(report.reason)]);
  const dl = `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${e(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
  const s = report.summary;
  const noticeText =
    Object.entries(s.notices)
      .map(([k, v]) => `${v} ${STATUS_LABEL[k] ?? k}`)
      .join(', ') || 'none';
  // Currencies with nothing charged would only crowd the card.
  const charged = s.fees.filter((f) => big(f.minor) !== 0n);
  const cards = onePartner
    ? ''
    : `<div class="kpis">` +
      `<div class="kpi"><div class="k">Partners audited</div><div class="v">${s.partners}</div><div class="s">${s.periods} billing period${s.periods === 1 ? '' : 's'}</div></div>` +
      `<div class="kpi${s.partnersOverLimit.length > 0 ? ' over' : ''}"><div class="k">Over a monthly limit</div><div class="v">${s.partnersOverLimit.length}</div><div class="s">${s.partnersOverLimit.length > 0 ? e(s.partnersOverLimit.join(', ')) : 'no partner'}</div></div>` +
      `<div class="kpi${charged.length > 0 ? ' over' : ''}"><div class="k">Overage fees</div><div class="v${charged.length > 1 ? ' several' : ''}">${charged.length > 0 ? charged.map((f) => e(money(f))).join('<br>') : 'none'}</div><div class="s">all periods</div></div>` +
      `<div class="kpi${s.findings > 0 ? ' over' : ''}"><div class="k">Findings</div><div class="v">${s.findings}</div><div class="s">to look at</div></div>` +
      `<div class="kpi"><div class="k">Notices</div><div class="v">${report.notices.length}</div><div class="s">${e(noticeText)}</div></div>` +
      `<div class="kpi${s.inputComplete ? '' : ' over'}"><div class="k">Input</div><div class="v">${s.inputComplete ? 'complete' : 'incomplete'}</div><div class="s">${report.input.malformedLines} malformed line${report.input.malformedLines === 1 ? '' : 's'}, ${report.input.unreadableFiles.length} unreadable file${report.input.unreadableFiles.length === 1 ? '' : 's'}</div></div>` +
      `</div>`;
  const toc =
    partners.length > 1
      ? `<nav class="toc no-print"><strong>Partners:</strong> ${partners
          .map((p) => `<a href="#${e(anchor('partner', p.partnerId))}">${e(p.partnerName)}</a>`)
          .join(' · ')} · <a href="#evidence">Evidence</a></nav>`
      : '';
  const title = onePartner
    ? `Data usage audit: ${e(partners[0]?.partnerName ?? '')}`
    : 'Partner data usage audit';
  return `<header class="run"><h1>${title}</h1>${dl}${cards}${toc}</header>`;
}

function unattributedSection(report: Report): string {
  const u = report.unattributed;
  if (u.figures.length === 0 && u.findings.length === 0) {
    return '<section class="run-section"><h2>Unregistered principals</h2><p>Every request came from a registered principal.</p></section>';
  }
  return (
    '<section class="run-section" id="unattributed"><h2>Unregistered principals</h2>' +
    '<p>Requests by principals that no partner registered, over the whole window.</p>' +
    table(
      ['Requester', 'Access point', 'Requests', 'Data sent', 'Records', 'Read partner data', 'Datasets'],
      u.figures.map((f) => [
        `<code>${e(f.requester)}</code>`,
        `<code>${e(f.accessPoint)}</code>`,
        ...countsCells(f.counts),
        f.touchedPartnerData ? badge('yes', 'bad') : 'no',
        f.datasets.map((d) => `<code>${e(d.dataset)}</code>`).join(' '),
      ]),
      [false, false, true, true, true, false, false],
      'wide',
    ) +
    `<h3>Findings (${u.findings.length})</h3>` +
    findingList(u.findings) +
    '</section>'
  );
}

/** How many malformed-line samples the page shows; the rest are in report.json. */
const MAX_SAMPLES_LISTED = 20;

/** Control characters from a broken log line as `\xNN`, so the evidence shows what the bytes were. */
function visibleControls(text: string): string {
  return text.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function inputSection(report: Report, onePartner: boolean): string {
  const i = report.input;
  const reasons = Object.entries(i.malformedByReason)
    .map(([r, n]) => `${e(r)}: ${n}`)
    .join(', ');
  const parts = [
    '<section class="run-section" id="input"><h2>Input read</h2>',
    `<p>${i.files} log object${i.files === 1 ? '' : 's'} (${i.filesSkipped} already ingested before), ${e(formatCount(BigInt(i.bytes)))} bytes, ` +
      `${e(formatCount(BigInt(i.lines)))} lines: ${e(formatCount(BigInt(i.parsedLines)))} parsed, ${e(formatCount(BigInt(i.malformedLines)))} malformed${reasons ? ` (${reasons})` : ''}.</p>`,
  ];
  if (i.repeatsDropped !== undefined) {
    const n = i.repeatsDropped;
    parts.push(
      `<p>${e(formatCount(BigInt(n)))} parsed line${n === 1 ? '' : 's'} repeated a request already counted (the same request id and host id, delivered again by S3) and ${n === 1 ? 'was' : 'were'} not counted again.</p>`,
    );
  }
  // Raw log lines can name other partners' principals: they stay out of a report for one partner.
  if (!onePartner && i.malformedSamples.length > 0) {
    const shown = i.malformedSamples.slice(0, MAX_SAMPLES_LISTED);
    parts.push(
      `<h3>Malformed lines (${shown.length < i.malformedSamples.length ? `first ${shown.length} of ` : ''}${i.malformedSamples.length} sampled)</h3>`,
      table(
        ['File', 'Line', 'Reason', 'Text'],
        shown.map((s) => [
          `<code>${e(s.file)}</code>`,
          String(s.line),
          e(s.reason),
          `<code>${e(visibleControls(s.text))}</code>`,
        ]),
        [false, true, false, false],
        'wide',
      ),
    );
    if (shown.length < i.malformedSamples.length) {
      parts.push(
        '<p>The other samples are in <code>report.json</code> (<code>input.malformedSamples</code>).</p>',
      );
    }
  }
  if (i.unreadableFiles.length > 0) {
    parts.push(
      '<h3>Unreadable files</h3>',
      table(
        ['File', 'Reason'],
        i.unreadableFiles.map((u) => [`<code>${e(u.file)}</code>`, e(u.reason)]),
        [false, false],
      ),
    );
  }
  if (!onePartner && report.uncovered.length > 0) {
    parts.push(
      '<h3>Not evaluated: no contract in force</h3><ul>',
      ...report.uncovered.map((u) => `<li><code>${e(u.partnerId)}</code> ${e(u.periodId)}</li>`),
      '</ul>',
    );
  }
  parts.push('</section>');
  return parts.join('');
}

function noticeDiffSection(diffs: Report['noticeDiffs']): string {
  if (diffs.length === 0) return '';
  const rows = diffs.flatMap((d) =>
    d.changes.map((c) => [
      `<code>${e(d.partnerId)}</code> ${e(d.periodId)} ${e(d.level)}`,
      d.sentAt === null ? '-' : e(d.sentAt),
      `<code>${e(c.path)}</code>`,
      c.sent === null ? '-' : e(c.sent),
      c.current === null ? '-' : e(c.current),
      c.delta === null ? '-' : e(c.delta),
    ]),
  );
  return (
    '<section class="run-section" id="notice-diffs"><h2>Changes since notices were sent</h2>' +
    '<p>Figures a sent notice stated that this audit finds different (late log delivery or a registry change).</p>' +
    table(['Notice', 'Sent at', 'Figure', 'Stated', 'Now', 'Change'], rows, [
      false,
      false,
      false,
      true,
      true,
      true,
    ]) +
    '</section>'
  );
}

/** How many input objects the evidence lists inline; the rest are in report.json. */
const MAX_FILES_LISTED = 200;

function evidenceSection(report: Report): string {
  const ev = report.evidence ?? null;
  const facts: [string, string][] = [
    ['Run id', `<code>${e(report.runId)}</code>`],
    ['Generated at', `<code>${e(report.generatedAt)}</code>`],
    ['Audit window', `${e(report.window.from)} to ${e(report.window.to)} (end exclusive)`],
    ['Engine', e(report.engine)],
    ['Code version', `<code>${e(report.codeVersion)}</code>`],
    ['Registry sha256', `<code class="hash">${e(report.registryHash)}</code>`],
  ];
  if (ev?.registrySource) facts.push(['Registry read from', `<code>${e(ev.registrySource)}</code>`]);
  if (ev) {
    facts.push(
      ['Input objects', String(ev.inputFiles.length)],
      [
        'Input manifest sha256',
        ev.inputManifestHash === null
          ? 'none (no input objects)'
          : `<code class="hash">${e(ev.inputManifestHash)}</code>`,
      ],
    );
  }
  const parts = [
    '<section class="run-section evidence" id="evidence"><h2>Evidence: how to rerun this audit</h2>',
    `<dl class="facts wide">${facts.map(([k, v]) => `<div><dt>${e(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>`,
  ];
  if (ev?.logDelivery !== undefined) parts.push(`<p class="log-delivery">${e(ev.logDelivery)}</p>`);
  if (!ev) {
    parts.push(
      '<p>This report records no input fingerprints or queries (it was written before they were recorded, or the engine gave none). The window, registry hash and code version above still pin the run.</p>',
    );
  } else {
    parts.push(
      '<p>The input manifest hash is the sha256 of one line per input object, <code>&lt;fingerprint&gt;␣␣&lt;name&gt;</code>, sorted by name, each ending in a newline. To recompute it from <code>report.json</code>:</p>' +
        `<pre>jq -r '.evidence.inputFiles | sort_by(.name, .fingerprint) | .[] | "\\(.fingerprint)  \\(.name)"' report.json | sha256sum</pre>`,
    );
    const listed = ev.inputFiles.slice(0, MAX_FILES_LISTED);
    if (listed.length > 0) {
      parts.push(
        table(
          ['Input object', 'Fingerprint (sha256)', 'Bytes'],
          listed.map((f) => [
            `<code>${e(f.name)}</code>`,
            `<code class="hash">${e(f.fingerprint)}</code>`,
            f.bytes === null ? '-' : e(formatCount(BigInt(f.bytes))),
          ]),
          [false, false, true],
          'wide',
        ),
      );
      if (ev.inputFiles.length > listed.length) {
        parts.push(
          `<p>${ev.inputFiles.length - listed.length} more input objects are listed in <code>report.json</code> (<code>evidence.inputFiles</code>); the manifest hash covers all of them.</p>`,
        );
      }
    }
    if (ev.queries.length > 0) {
      parts.push('<h3>Queries</h3>');
      for (const q of ev.queries) {
        const meta = [`engine ${e(q.engine)}`];
        if (q.queryExecutionId !== null)
          meta.push(`query execution id <code>${e(q.queryExecutionId)}</code>`);
        if (q.bytesScanned !== null) meta.push(`${e(count(q.bytesScanned))} bytes scanned`);
        if (q.params.length > 0)
          meta.push(`parameters ${q.params.map((p) => `<code>${e(p)}</code>`).join(', ')}`);
        parts.push(
          `<div class="query"><p><strong>${e(q.purpose)}</strong>: ${meta.join(' · ')}</p><pre>${e(q.sql)}</pre></div>`,
        );
      }
    }
  }
  const rerun =
    ev?.rerun ??
    `partner-audit audit --logs <the input objects above> --registry <the registry with the sha256 above> --from ${report.window.from} --to ${report.window.to} --dry-run`;
  parts.push(
    `<h3>Rerun</h3><pre class="rerun">${e(rerun)}</pre>`,
    '<p>With the same input objects, registry and code version, the rerun gives the same figures; <code>--dry-run</code> records and sends nothing.</p>',
    '</section>',
  );
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// The page

const CSS = `
:root{--ink:#1d2733;--muted:#5b6775;--line:#d9dee4;--paper:#fff;--bg:#f3f5f8;--accent:#2f6db5;--bad:#b3261e;--bad-bg:#fdecea;--warn:#8a5a00;--warn-bg:#fff4dc;--ok:#1e6b3a;--ok-bg:#e6f4ea;--info:#2f4f75;--info-bg:#e8eef6}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;overflow-wrap:break-word;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:12px}
header.run,section,article{background:var(--paper);border:1px solid var(--line);border-radius:10px;padding:16px;margin:12px 0;min-width:0}
section.partner{background:transparent;border:0;padding:0}
section.partner>h2{margin:28px 4px 4px}
h1{font-size:1.6rem;margin:0 0 8px;line-height:1.25}
h2{font-size:1.3rem;margin:0 0 8px;line-height:1.3}
h3{font-size:1.15rem;margin:0 0 6px;line-height:1.3}
.run-section h3{margin-top:18px}
h4{font-size:1rem;margin:22px 0 8px;padding-top:10px;border-top:1px solid var(--line)}
.sub{font-weight:400;color:var(--muted);font-size:.8em}
p{margin:6px 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;overflow-wrap:anywhere}
.hash{word-break:break-all}
pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem;background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,220px),1fr));gap:4px 16px;margin:8px 0}
.facts.wide{grid-template-columns:1fr;gap:6px}
.facts.wide div{display:grid;grid-template-columns:minmax(9em,14em) minmax(0,1fr);gap:12px;align-items:baseline}
.facts div{min-width:0}
.facts dt{font-size:.78rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.facts dd{margin:0;overflow-wrap:anywhere}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,160px),1fr));gap:8px;margin:10px 0}
.kpi{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:8px 10px;min-width:0;background:var(--paper)}
.kpi.over{border-left-color:var(--bad);background:var(--bad-bg)}
.kpi .k{font-size:.78rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.kpi .v{font-size:1.3rem;font-weight:650;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.kpi .v.several{font-size:1.05rem}
.kpi .s{font-size:.85rem;color:var(--muted);overflow-wrap:anywhere}
.meter{height:6px;background:#e3e8ee;border-radius:3px;margin:4px 0;overflow:hidden}
.meter span{display:block;height:100%;background:var(--accent)}
.kpi.over .meter span{background:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,440px),1fr));gap:12px}
figure{margin:0;min-width:0}
svg.chart{display:block;width:100%;height:auto;max-width:100%;background:#fff}
figcaption{font-size:.85rem;color:var(--muted);margin-top:2px}
.key{white-space:normal}
.sw{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin:0 3px 0 8px;border-radius:2px}
.sw.bar{background:#3b73b9}.sw.over{background:#c0392b}
.sw.cap{height:0;border-top:2px dashed #c0392b;width:16px;border-radius:0;vertical-align:3px}
.sw.line{height:3px;background:#3b73b9;width:16px;vertical-align:3px}
.sw.fc{height:0;border-top:2px dotted #8a5a00;width:16px;border-radius:0;vertical-align:3px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600;white-space:nowrap}
td{overflow-wrap:break-word}
.exact{display:block;font-size:.8em;color:var(--muted)}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.wide td{min-width:8em}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.8rem;font-weight:600;overflow-wrap:anywhere}
.badge.ok{background:var(--ok-bg);color:var(--ok)}.badge.bad{background:var(--bad-bg);color:var(--bad)}
.badge.warn{background:var(--warn-bg);color:var(--warn)}.badge.info{background:var(--info-bg);color:var(--info)}
ol.steps li,ol.tiers li{margin:4px 0}
.calc{font-variant-numeric:tabular-nums}
.total{font-size:1.05rem}
.alert{background:var(--bad-bg);color:var(--bad);padding:6px 10px;border-radius:6px}
ul.findings{padding-left:18px}ul.findings li{margin:6px 0}
.detail{font-size:.85rem;color:var(--muted)}
.toc{margin-top:8px;font-size:.9rem}
.toc a{color:var(--accent)}
footer{color:var(--muted);font-size:.8rem;text-align:center;margin:16px 0}
@media screen and (max-width:640px){
  body{font-size:14px}main{padding:6px}header.run,section,article{padding:12px;border-radius:8px}h1{font-size:1.35rem}
  .scroll{overflow-x:visible}
  table,tbody,tr,td{display:block;width:100%}
  thead{display:none}
  tr{border:1px solid var(--line);border-radius:6px;margin:0 0 8px;padding:4px 8px}
  td{display:flex;gap:12px;justify-content:space-between;align-items:baseline;border-bottom:1px dashed var(--line);padding:4px 0;text-align:right;min-width:0}
  td:last-child{border-bottom:0}
  td::before{content:attr(data-label);flex:0 0 auto;max-width:45%;text-align:left;color:var(--muted);font-size:.8rem;font-weight:600}
  td>*{min-width:0}
  .n{white-space:normal}
  table.wide td{min-width:0}
  .exact{display:inline}
  .facts.wide div{display:block}
}
@media print{
  @page{size:A4;margin:14mm}
  body{background:#fff;font-size:10pt}
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  main{max-width:none;padding:0}
  header.run,section,article{border:0;border-radius:0;padding:0;margin:0 0 10pt}
  section.partner{break-before:page}
  article.period+article.period{break-before:page}
  section.run-section{break-before:page}
  figure,.kpis,tr,.query,pre{break-inside:avoid}
  h2,h3,h4{break-after:avoid}
  .scroll{overflow:visible}
  .no-print{display:none}
  a{color:inherit;text-decoration:none}
}
`;

/**
 * Render a report (or, with `partnerId`, one partner's part of it) as a single static HTML page.
 * Pure: the same report gives the same bytes.
 */
export function renderReportHtml(report: Report, opts: RenderReportOptions = {}): string {
  const onePartner = opts.partnerId !== undefined;
  const partners = onePartner
    ? report.partners.filter((p) => p.partnerId === opts.partnerId)
    : report.partners;
  if (onePartner && partners.length === 0) throw new ReportPartnerError(opts.partnerId ?? '');
  const title = onePartner
    ? `Data usage audit: ${partners[0]?.partnerName ?? ''}, run ${report.runId}`
    : `Partner data usage audit, run ${report.runId}`;
  const diffs = onePartner
    ? report.noticeDiffs.filter((d) => d.partnerId === opts.partnerId)
    : report.noticeDiffs;
  const body = [
    runHeader(report, partners, onePartner),
    ...partners.map(partnerSection),
    partners.length === 0
      ? '<section><h2>Partners</h2><p>No partner had a billing period in the window.</p></section>'
      : '',
    onePartner ? '' : unattributedSection(report),
    noticeDiffSection(diffs),
    inputSection(report, onePartner),
    evidenceSection(report),
  ].join('\n');
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    // No script runs and nothing loads from elsewhere, even if a value slipped through unescaped.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
    `<title>${e(title)}</title><style>${CSS}</style></head>\n<body><main>\n${body}\n` +
    `<footer>partner-audit ${e(report.codeVersion)} · run ${e(report.runId)} · report version ${report.reportVersion}</footer>` +
    '</main></body></html>\n'
  );
}
