/**
 * The audit report as one static HTML file: inline CSS and inline SVG charts, no script and nothing
 * fetched, so it opens offline, prints (one partner per page run) and reads on a phone.
 *
 * Every value from the report is escaped, by construction (html.ts): partner and application names
 * come from the registry and requesters, keys and dataset names from the access logs, and both are
 * written by people we do not control.
 */

import { formatMoney, minorDigits } from '../domain/money.js';
import { unroundedTierAmount } from '../domain/pricing.js';
import type { Report } from '../domain/report.js';
import { addDays, datesBetween } from '../domain/time.js';
import type { Metric } from '../domain/usage.js';
import {
  formatBytes,
  formatCount,
  formatLocalDateTime,
  formatLongDate,
  formatMonth,
  METRIC_LABEL,
  METRIC_UNIT,
} from './format.js';
import { holdingsHtml } from './holdings-html.js';
import { type HtmlValue, html, joinHtml, type SafeHtml } from './html.js';
import { cumulativeChart, dailyBarChart } from './report-charts.js';
import { networkFindingsSection } from './report-network-html.js';

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
function qtyCell(metric: Metric, s: string): SafeHtml {
  if (metric !== 'bytesSent' || big(s) === 0n) return html`${formatCount(big(s))}`;
  const exact = formatBytes(big(s)).replace(/^.* \((.*)\)$/, '$1');
  return html`${shortBytes(s)} <span class="exact">(${exact})</span>`;
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
  rows: readonly (readonly HtmlValue[])[],
  numeric: readonly boolean[],
  cls = '',
): SafeHtml {
  const th = head.map((h, i) => html`<th${numeric[i] ? html` class="n"` : ''} scope="col">${h}</th>`);
  const body = rows.map(
    (r) =>
      html`<tr>${r.map((c, i) => html`<td${numeric[i] ? html` class="n"` : ''} data-label="${head[i] ?? ''}"><span class="c">${c}</span></td>`)}</tr>`,
  );
  return html`<div class="scroll"><table${cls ? html` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'info'): SafeHtml {
  return html`<span class="badge ${tone}">${text}</span>`;
}

const code = (text: string, cls = '') =>
  cls ? html`<code class="${cls}">${text}</code>` : html`<code>${text}</code>`;

const severityTone = (s: Finding['severity']) =>
  s === 'critical' ? 'bad' : s === 'warning' ? 'warn' : 'info';

function countsCells(c: Counts): HtmlValue[] {
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

function keyFigures(period: Period): SafeHtml {
  const short = (metric: Metric, s: string) => (metric === 'bytesSent' ? shortBytes(s) : count(s));
  const cards: SafeHtml[] = [];
  for (const m of period.metrics) {
    if (m.limit === null) {
      cards.push(
        html`<div class="kpi"><div class="k">${METRIC_LABEL[m.metric]}</div><div class="v">${short(m.metric, m.used)}</div><div class="s">no monthly limit</div></div>`,
      );
      continue;
    }
    const pct = Number(m.utilisation ?? '0');
    const over = big(m.over) > 0n;
    cards.push(
      html`<div class="kpi${over ? ' over' : ''}"><div class="k">${METRIC_LABEL[m.metric]}</div><div class="v">${m.utilisation ?? '-'}%</div><div class="meter" aria-hidden="true"><span style="width:${Math.min(100, Math.max(0, pct)).toFixed(1)}%"></span></div><div class="s">${short(m.metric, m.used)} of ${short(m.metric, m.limit)}</div></div>`,
    );
  }
  const feeTotal = big(period.fees.total.minor) > 0n;
  const forecastTop = period.forecast?.levels.at(-1)?.level;
  cards.push(
    html`<div class="kpi${feeTotal ? ' over' : ''}"><div class="k">Overage fees${period.complete ? '' : ' so far'}</div><div class="v">${money(period.fees.total)}</div><div class="s">contract ${period.contractId}</div></div>`,
    html`<div class="kpi"><div class="k">Notice level</div><div class="v">${period.currentLevel ?? 'none'}</div><div class="s">${period.levels.length} level${period.levels.length === 1 ? '' : 's'} reached${forecastTop ? html`; by forecast: ${forecastTop}` : ''}</div></div>`,
    html`<div class="kpi${period.daysOverCap > 0 ? ' over' : ''}"><div class="k">Days over the daily cap</div><div class="v">${period.daysOverCap}</div><div class="s">of ${period.daily.length} day${period.daily.length === 1 ? '' : 's'} with data</div></div>`,
  );
  return html`<div class="kpis">${cards}</div>`;
}

function capOf(caps: Caps | null | undefined, metric: Metric): bigint | null {
  const v = caps?.[metric];
  return v === null || v === undefined ? null : big(v);
}

function charts(period: Period): SafeHtml {
  const dates = datesBetween(period.fromDate, period.toDate);
  const byDate = new Map(period.daily.map((d) => [d.date, d]));
  const dailyMetrics = (['requests', 'bytesSent', 'records'] as const).filter(
    (m) => capOf(period.dailyCaps, m) !== null || m !== 'records' || big(period.totals.records) > 0n,
  );
  const figures: SafeHtml[] = [];
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
        ? html`<i class="sw bar"></i>usage per day${anyOver ? html` <i class="sw over"></i>over the cap` : ''}; ${
            period.dailyCaps === null || period.dailyCaps === undefined
              ? 'the daily cap is not stated in this report'
              : 'no daily cap'
          }`
        : html`<i class="sw bar"></i>within the cap <i class="sw over"></i>over the cap <i class="sw cap"></i>daily cap ${qty(m, cap.toString())}`;
    figures.push(
      html`<figure>${svg}<figcaption><strong>${METRIC_LABEL[m]} per day</strong> (local days, ${period.timeZone}). <span class="key">${key}</span></figcaption></figure>`,
    );
  }
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
    return html`<figure>${svg}<figcaption><strong>${METRIC_LABEL[m.metric]}, cumulative</strong>: ${qty(m.metric, m.used)} used${
      limit === null ? '' : html` of ${qty(m.metric, m.limit ?? '0')} (${m.utilisation ?? '-'}%)`
    }${
      forecast === null ? '' : html`, forecast ${qty(m.metric, forecast.toString())} by the period's end`
    }. <span class="key"><i class="sw line"></i>used <i class="sw cap"></i>monthly limit${forecast === null ? '' : html` <i class="sw fc"></i>forecast`}</span></figcaption></figure>`;
  });
  return html`<h4>Usage per day against the daily cap</h4><div class="charts">${figures}</div><h4>Cumulative usage against the month's limit</h4><div class="charts">${cumFigures}</div>`;
}

function metricTable(metrics: readonly MetricRow[]): SafeHtml {
  return table(
    ['Metric', 'Used', 'Monthly limit', 'Utilisation', 'Over', 'Charged here', 'Fee'],
    metrics.map((m) => [
      METRIC_LABEL[m.metric],
      qtyCell(m.metric, m.used),
      m.limit === null ? 'none' : qtyCell(m.metric, m.limit),
      m.utilisation === null ? '-' : `${m.utilisation}%`,
      qtyCell(m.metric, m.over),
      qtyCell(m.metric, m.chargedOver),
      m.priced ? money(m.fee) : 'not priced',
    ]),
    [false, true, true, true, true, true, true],
  );
}

function feeCalculation(period: Period): SafeHtml {
  const appName = (id: string | null) =>
    id === null ? null : (period.applications.find((a) => a.applicationId === id)?.name ?? id);
  const steps: SafeHtml[] = [];
  const overLine = (m: MetricRow, scope: string | null) => {
    if (m.limit === null) return;
    const who = scope === null ? '' : html` of ${scope}`;
    const parts: HtmlValue[] = [
      html`<strong>${METRIC_LABEL[m.metric]}${who}</strong>: used ${qty(m.metric, m.used)} − monthly limit ${qty(m.metric, m.limit)} = <strong>${big(m.over) > 0n ? html`${qty(m.metric, m.over)} over` : 'nothing over'}</strong>`,
    ];
    if (m.chargedOver !== m.over) {
      parts.push(
        html`; of these ${qty(m.metric, m.chargedOver)} are charged here, the rest under the applications' own limits`,
      );
    }
    if (big(m.over) > 0n && !m.priced)
      parts.push(html`; the contract sets no overage price for ${METRIC_UNIT[m.metric]}: no fee`);
    steps.push(html`<li>${parts}.</li>`);
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
        ? html`= <strong>${rounded}</strong>`
        : html`${exact.endsWith('…') ? '≈' : '='} ${exact} ${currency}, rounded half up to ${digits} decimal${digits === 1 ? '' : 's'}: <strong>${rounded}</strong>`;
    return html`<li><span class="calc-scope">${METRIC_LABEL[l.metric]}${app === null ? '' : ` (${app})`}, tier ${l.tier}:</span> <span class="calc">${count(l.units)} ${METRIC_UNIT[l.metric]} × ${l.price} ${currency} ÷ ${count(l.per)} ${result}</span></li>`;
  });
  const sum = period.fees.lines.reduce((s, l) => s + big(l.amount.minor), 0n);
  const total = big(period.fees.total.minor);
  const parts: SafeHtml[] = [html`<h4>Overage and fees, line by line</h4>`];
  parts.push(
    steps.length > 0
      ? html`<ol class="steps">${steps}</ol>`
      : html`<p>The contract sets no monthly limit.</p>`,
  );
  if (lines.length > 0) {
    parts.push(html`<p>Each tier line is units × price ÷ per units:</p><ol class="tiers">${lines}</ol>`);
  } else {
    parts.push(html`<p>No overage is priced in this period, so there are no fee lines.</p>`);
  }
  parts.push(
    html`<p class="total">Total overage fees${period.complete ? '' : ' so far'}: <strong>${money(period.fees.total)}</strong>${
      lines.length > 1 ? ` (the sum of the ${lines.length} lines above)` : ''
    }.</p>`,
  );
  if (sum !== total) {
    parts.push(
      html`<p class="alert">The fee lines add up to ${formatMoney({ currency, minor: sum })}, not the total stated: this report is inconsistent.</p>`,
    );
  }
  return joinHtml(parts);
}

function forecastSection(period: Period): SafeHtml {
  if (!period.forecast) {
    return period.final === false
      ? html`<h4>Forecast</h4><p>The period has ended, so there is no forecast. Access logs delivered late may still add to the figures until they are final.</p>`
      : html`<h4>Forecast</h4><p>The period is complete: the figures above are final, so there is no forecast.</p>`;
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
        : ` Forecast levels are notified only from ${localTime(fc.noticesFrom, period.timeZone)}, once the rate means something.`;
  const levels =
    fc.levels.length === 0
      ? html`<p>No forecast level is reached.</p>`
      : html`<ul class="levels">${fc.levels.map(
          (l) =>
            html`<li><strong>${l.level}</strong> (${String(l.percent)}% threshold, by forecast): ${METRIC_LABEL[l.metric].toLowerCase()}${l.applicationId === null ? '' : html` of <code>${l.applicationId}</code>`} projected at ${l.utilisation}% of the limit. A projection: no fee is due for it.</li>`,
        )}</ul>`;
  return html`<h4>Forecast to the end of the period</h4><p>A projection, not a measurement: the average rate from ${localTime(fc.rateFrom, period.timeZone)} to ${localTime(fc.basedOnDataUntil, period.timeZone)}, extended to the period's end. No fee is due for a forecast.${noticesFrom}</p>${levels}${table(
    ['Metric', 'Scope', 'Monthly limit', 'Forecast', 'Forecast over the limit'],
    period.forecast.metrics.map((f) => [
      METRIC_LABEL[f.metric],
      appName(f.applicationId),
      f.limit === null ? 'none' : qtyCell(f.metric, f.limit),
      qtyCell(f.metric, f.forecast),
      f.limit === null ? '-' : qtyCell(f.metric, f.forecastOver),
    ]),
    [false, false, true, true, true],
  )}`;
}

function applicationsSection(period: Period): SafeHtml {
  if (period.applications.length === 0) return html`<h4>By application</h4><p>No application used data.</p>`;
  const parts: SafeHtml[] = [
    html`<h4>By application</h4>`,
    table(
      ['Application', 'Id', 'Requests', 'Data sent', 'Records', 'Days over its daily cap'],
      period.applications.map((a) => [
        a.name,
        code(a.applicationId),
        ...countsCells(a.counts),
        String(a.daysOverCap),
      ]),
      [false, false, true, true, true, true],
    ),
  ];
  for (const a of period.applications.filter((x) => x.metrics.length > 0)) {
    parts.push(html`<p>Own monthly limits of <strong>${a.name}</strong>:</p>`, metricTable(a.metrics));
  }
  return joinHtml(parts);
}

function datasetsSection(period: Period): SafeHtml {
  if (period.datasets.length === 0) return html`<h4>By dataset</h4><p>No dataset was read.</p>`;
  return html`<h4>By dataset</h4>${table(
    ['Dataset', 'In the contract', 'Requests', 'Data sent', 'Records'],
    period.datasets.map((d) => [
      code(d.dataset),
      d.allowed ? badge('yes', 'ok') : badge('no: outside the contract', 'bad'),
      ...countsCells(d.counts),
    ]),
    [false, false, true, true, true],
  )}`;
}

function findingList(findings: readonly Finding[]): SafeHtml {
  if (findings.length === 0) return html`<p>None.</p>`;
  const items = findings.map((f) => {
    const details: SafeHtml[] = [];
    if (f.applicationId !== null) details.push(html`application <code>${f.applicationId}</code>`);
    if (f.requester !== null) details.push(html`requester <code>${f.requester}</code>`);
    if (f.dataset !== null) details.push(html`dataset <code>${f.dataset}</code>`);
    if (f.date !== null) details.push(html`on ${f.date}`);
    details.push(
      html`${count(f.counts.requests)} requests, ${formatBytes(big(f.counts.bytesSent))}, ${count(f.counts.records)} records`,
    );
    return html`<li>${badge(f.severity, severityTone(f.severity))} <strong>${FINDING_LABEL[f.kind]}</strong>: ${f.message}<div class="detail">${joinHtml(details, ' · ')}</div></li>`;
  });
  return html`<ul class="findings">${items}</ul>`;
}

function noticeTable(notices: Report['notices']): SafeHtml {
  if (notices.length === 0) return html`<p>No notice was due in this run.</p>`;
  const tone = (s: string) => (s === 'sent' ? 'ok' : s === 'failed' ? 'bad' : s === 'held' ? 'warn' : 'info');
  return table(
    ['Level', 'Status', 'Also covers', 'Message-ID', 'File', 'Error'],
    notices.map((n) => [
      n.level,
      badge(STATUS_LABEL[n.status] ?? n.status, tone(n.status)),
      n.covers.length > 0 ? n.covers.join(', ') : '-',
      n.messageId === null ? '-' : code(n.messageId),
      n.file === null ? '-' : code(n.file),
      n.error === null ? '-' : n.error,
    ]),
    [false, false, false, false, false, false],
  );
}

function periodSection(partner: Partner, period: Period): SafeHtml {
  const lastDay = addDays(period.toDate, -1);
  // Absent `final` (reports written before the settling rule): a complete period reads as final.
  const settling =
    period.final === false && period.finalAfter !== undefined
      ? html` ${badge(`settling: late-delivered logs may still count; final after ${localTime(period.finalAfter, period.timeZone)}`, 'warn')}`
      : '';
  const state =
    period.complete && period.final !== false
      ? badge('final figures', 'ok')
      : period.complete
        ? html`${badge('closed', 'ok')}${settling}`
        : html`${badge(`open: data up to ${localTime(period.asOf, period.timeZone)}`, 'warn')}${settling}`;
  const levels =
    period.levels.length === 0
      ? html`<p>No notice level was reached.</p>`
      : html`<ul class="levels">${period.levels.map(
          (l) =>
            html`<li><strong>${l.level}</strong> (${String(l.percent)}% threshold), reached by ${METRIC_LABEL[l.metric].toLowerCase()}${l.applicationId === null ? '' : html` of <code>${l.applicationId}</code>`} at ${l.utilisation}%</li>`,
        )}</ul>`;
  return html`<article class="period" id="${anchor('period', `${partner.partnerId}-${period.periodId}`)}"><h3>${monthName(period.periodId)} <span class="sub">${formatLongDate(period.fromDate)} to ${formatLongDate(lastDay)}, ${period.timeZone}</span></h3><p class="meta">${state} Contract <code>${period.contractId}</code>, currency ${period.currency}.</p>${[
    keyFigures(period),
    charts(period),
    html`<h4>Usage against the contract</h4>`,
    metricTable(period.metrics),
    html`<p>Totals: ${count(period.totals.requests)} requests, ${formatBytes(big(period.totals.bytesSent))}, ${count(period.totals.records)} records.</p>`,
    feeCalculation(period),
    forecastSection(period),
    html`<h4>Notice levels</h4>`,
    levels,
    applicationsSection(period),
    datasetsSection(period),
    html`<h4>Findings (${period.findings.length})</h4>`,
    findingList(period.findings),
    html`<h4>Notices in this run</h4>`,
    noticeTable(period.notices),
  ]}</article>`;
}

function partnerSection(partner: Partner): SafeHtml {
  return html`<section class="partner" id="${anchor('partner', partner.partnerId)}"><h2>${partner.partnerName} <span class="sub"><code>${partner.partnerId}</code></span></h2>${
    partner.periods.length === 0 ? html`<p>No billing period in the window.</p>` : ''
  }${partner.periods.map((p) => periodSection(partner, p))}</section>`;
}

// ---------------------------------------------------------------------------------------------
// Run-level sections

function facts(rows: readonly (readonly [string, HtmlValue])[], cls: string): SafeHtml {
  return html`<dl class="${cls}">${rows.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

function runHeader(report: Report, partners: readonly Partner[], onePartner: boolean): SafeHtml {
  const rows: [string, HtmlValue][] = [
    ['Run', code(report.runId)],
    ['Generated', localTime(report.generatedAt, 'UTC')],
    ['Window', `${report.window.from} to ${report.window.to} (end exclusive)`],
    ['Engine', report.engine],
    ['Mode', report.dryRun ? badge('dry run: nothing recorded or sent', 'warn') : 'recorded run'],
  ];
  if (report.reason !== null) rows.push(['Reason', report.reason]);
  const s = report.summary;
  const noticeText =
    Object.entries(s.notices)
      .map(([k, v]) => `${v} ${STATUS_LABEL[k] ?? k}`)
      .join(', ') || 'none';
  // Currencies with nothing charged would only crowd the card.
  const charged = s.fees.filter((f) => big(f.minor) !== 0n);
  const cards = onePartner
    ? ''
    : html`<div class="kpis"><div class="kpi"><div class="k">Partners audited</div><div class="v">${s.partners}</div><div class="s">${s.periods} billing period${s.periods === 1 ? '' : 's'}</div></div><div class="kpi${s.partnersOverLimit.length > 0 ? ' over' : ''}"><div class="k">Over a monthly limit</div><div class="v">${s.partnersOverLimit.length}</div><div class="s">${s.partnersOverLimit.length > 0 ? s.partnersOverLimit.join(', ') : 'no partner'}</div></div><div class="kpi${charged.length > 0 ? ' over' : ''}"><div class="k">Overage fees</div><div class="v${charged.length > 1 ? ' several' : ''}">${
        charged.length > 0
          ? joinHtml(
              charged.map((f) => money(f)),
              html`<br>`,
            )
          : 'none'
      }</div><div class="s">all periods</div></div><div class="kpi${s.findings > 0 ? ' over' : ''}"><div class="k">Findings</div><div class="v">${s.findings}</div><div class="s">to look at</div></div><div class="kpi"><div class="k">Notices</div><div class="v">${report.notices.length}</div><div class="s">${noticeText}</div></div><div class="kpi${s.inputComplete ? '' : ' over'}"><div class="k">Input</div><div class="v">${s.inputComplete ? 'complete' : 'incomplete'}</div><div class="s">${report.input.malformedLines} malformed line${report.input.malformedLines === 1 ? '' : 's'}, ${report.input.unreadableFiles.length} unreadable file${report.input.unreadableFiles.length === 1 ? '' : 's'}</div></div></div>`;
  const toc =
    partners.length > 1
      ? html`<nav class="toc no-print"><strong>Partners:</strong> ${joinHtml(
          partners.map((p) => html`<a href="#${anchor('partner', p.partnerId)}">${p.partnerName}</a>`),
          ' · ',
        )} · <a href="#evidence">Evidence</a></nav>`
      : '';
  const title = onePartner
    ? `Data usage audit: ${partners[0]?.partnerName ?? ''}`
    : 'Partner data usage audit';
  return html`<header class="run"><h1>${title}</h1>${facts(rows, 'facts')}${cards}${toc}</header>`;
}

function unattributedSection(report: Report): SafeHtml {
  const u = report.unattributed;
  if (u.figures.length === 0 && u.findings.length === 0) {
    return html`<section class="run-section"><h2>Unregistered principals</h2><p>Every request came from a registered principal.</p></section>`;
  }
  return html`<section class="run-section" id="unattributed"><h2>Unregistered principals</h2><p>Requests by principals that no partner registered, over the whole window.</p>${table(
    ['Requester', 'Access point', 'Requests', 'Data sent', 'Records', 'Read partner data', 'Datasets'],
    u.figures.map((f) => [
      code(f.requester),
      code(f.accessPoint),
      ...countsCells(f.counts),
      f.touchedPartnerData ? badge('yes', 'bad') : 'no',
      joinHtml(
        f.datasets.map((d) => code(d.dataset)),
        ' ',
      ),
    ]),
    [false, false, true, true, true, false, false],
    'wide',
  )}<h3>Findings (${u.findings.length})</h3>${findingList(u.findings)}</section>`;
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

function inputSection(report: Report, onePartner: boolean): SafeHtml {
  const i = report.input;
  const reasons = Object.entries(i.malformedByReason)
    .map(([r, n]) => `${r}: ${n}`)
    .join(', ');
  const parts: SafeHtml[] = [
    html`<section class="run-section" id="input"><h2>Input read</h2>`,
    html`<p>${i.files} log object${i.files === 1 ? '' : 's'} (${i.filesSkipped} already ingested before), ${formatCount(BigInt(i.bytes))} bytes, ${formatCount(BigInt(i.lines))} lines: ${formatCount(BigInt(i.parsedLines))} parsed, ${formatCount(BigInt(i.malformedLines))} malformed${reasons ? ` (${reasons})` : ''}.</p>`,
  ];
  if (i.repeatsDropped !== undefined) {
    const n = i.repeatsDropped;
    parts.push(
      html`<p>${formatCount(BigInt(n))} parsed line${n === 1 ? '' : 's'} repeated a request already counted (the same request id and host id, delivered again by S3) and ${n === 1 ? 'was' : 'were'} not counted again.</p>`,
    );
  }
  // Raw log lines can name other partners' principals: they stay out of a report for one partner.
  if (!onePartner && i.malformedSamples.length > 0) {
    const shown = i.malformedSamples.slice(0, MAX_SAMPLES_LISTED);
    parts.push(
      html`<h3>Malformed lines (${shown.length < i.malformedSamples.length ? `first ${shown.length} of ` : ''}${i.malformedSamples.length} sampled)</h3>`,
      table(
        ['File', 'Line', 'Reason', 'Text'],
        shown.map((s) => [code(s.file), String(s.line), s.reason, code(visibleControls(s.text))]),
        [false, true, false, false],
        'wide',
      ),
    );
    if (shown.length < i.malformedSamples.length) {
      parts.push(
        html`<p>The other samples are in <code>report.json</code> (<code>input.malformedSamples</code>).</p>`,
      );
    }
  }
  if (i.unreadableFiles.length > 0) {
    parts.push(
      html`<h3>Unreadable files</h3>`,
      table(
        ['File', 'Reason'],
        i.unreadableFiles.map((u) => [code(u.file), u.reason]),
        [false, false],
      ),
    );
  }
  if (!onePartner && report.uncovered.length > 0) {
    parts.push(
      html`<h3>Not evaluated: no contract in force</h3><ul>`,
      ...report.uncovered.map((u) => html`<li><code>${u.partnerId}</code> ${u.periodId}</li>`),
      html`</ul>`,
    );
  }
  parts.push(html`</section>`);
  return joinHtml(parts);
}

function noticeDiffSection(diffs: Report['noticeDiffs']): SafeHtml | '' {
  if (diffs.length === 0) return '';
  const rows = diffs.flatMap((d) =>
    d.changes.map((c) => [
      html`<code>${d.partnerId}</code> ${d.periodId} ${d.level}`,
      d.sentAt === null ? '-' : d.sentAt,
      code(c.path),
      c.sent === null ? '-' : c.sent,
      c.current === null ? '-' : c.current,
      c.delta === null ? '-' : c.delta,
    ]),
  );
  return html`<section class="run-section" id="notice-diffs"><h2>Changes since notices were sent</h2><p>Figures a sent notice stated that this audit finds different (late log delivery or a registry change).</p>${table(
    ['Notice', 'Sent at', 'Figure', 'Stated', 'Now', 'Change'],
    rows,
    [false, false, false, true, true, true],
  )}</section>`;
}

/** How many input objects the evidence lists inline; the rest are in report.json. */
const MAX_FILES_LISTED = 200;

function evidenceSection(report: Report): SafeHtml {
  const ev = report.evidence ?? null;
  const rows: [string, HtmlValue][] = [
    ['Run id', code(report.runId)],
    ['Generated at', code(report.generatedAt)],
    ['Audit window', `${report.window.from} to ${report.window.to} (end exclusive)`],
    ['Engine', report.engine],
    ['Code version', code(report.codeVersion)],
    ['Registry sha256', code(report.registryHash, 'hash')],
  ];
  if (ev?.registrySource) rows.push(['Registry read from', code(ev.registrySource)]);
  if (ev) {
    rows.push(
      ['Input objects', String(ev.inputFiles.length)],
      [
        'Input manifest sha256',
        ev.inputManifestHash === null ? 'none (no input objects)' : code(ev.inputManifestHash, 'hash'),
      ],
    );
  }
  const parts: SafeHtml[] = [
    html`<section class="run-section evidence" id="evidence"><h2>Evidence: how to rerun this audit</h2>`,
    facts(rows, 'facts wide'),
  ];
  if (ev?.logDelivery !== undefined) parts.push(html`<p class="log-delivery">${ev.logDelivery}</p>`);
  if (!ev) {
    parts.push(
      html`<p>This report records no input fingerprints or queries (it was written before they were recorded, or the engine gave none). The window, registry hash and code version above still pin the run.</p>`,
    );
  } else {
    parts.push(
      html`<p>The input manifest hash is the sha256 of one line per input object, <code>&lt;fingerprint&gt;␣␣&lt;name&gt;</code>, sorted by name, each ending in a newline. To recompute it from <code>report.json</code>:</p><pre>jq -r '.evidence.inputFiles | sort_by(.name, .fingerprint) | .[] | "\\(.fingerprint)  \\(.name)"' report.json | sha256sum</pre>`,
    );
    const listed = ev.inputFiles.slice(0, MAX_FILES_LISTED);
    if (listed.length > 0) {
      parts.push(
        table(
          ['Input object', 'Fingerprint (sha256)', 'Bytes'],
          listed.map((f) => [
            code(f.name),
            code(f.fingerprint, 'hash'),
            f.bytes === null ? '-' : formatCount(BigInt(f.bytes)),
          ]),
          [false, false, true],
          'wide',
        ),
      );
      if (ev.inputFiles.length > listed.length) {
        parts.push(
          html`<p>${ev.inputFiles.length - listed.length} more input objects are listed in <code>report.json</code> (<code>evidence.inputFiles</code>); the manifest hash covers all of them.</p>`,
        );
      }
    }
    if (ev.queries.length > 0) {
      parts.push(html`<h3>Queries</h3>`);
      for (const q of ev.queries) {
        const meta: SafeHtml[] = [html`engine ${q.engine}`];
        if (q.queryExecutionId !== null)
          meta.push(html`query execution id <code>${q.queryExecutionId}</code>`);
        if (q.bytesScanned !== null) meta.push(html`${count(q.bytesScanned)} bytes scanned`);
        if (q.params.length > 0)
          meta.push(
            html`parameters ${joinHtml(
              q.params.map((p) => code(p)),
              ', ',
            )}`,
          );
        parts.push(
          html`<div class="query"><p><strong>${q.purpose}</strong>: ${joinHtml(meta, ' · ')}</p><pre>${q.sql}</pre></div>`,
        );
      }
    }
  }
  const rerun =
    ev?.rerun ??
    `partner-audit audit --logs <the input objects above> --registry <the registry with the sha256 above> --from ${report.window.from} --to ${report.window.to} --dry-run`;
  parts.push(
    html`<h3>Rerun</h3><pre class="rerun">${rerun}</pre>`,
    html`<p>With the same input objects, registry and code version, the rerun gives the same figures; <code>--dry-run</code> records and sends nothing.</p>`,
    html`</section>`,
  );
  return joinHtml(parts);
}

// ---------------------------------------------------------------------------------------------
// The page

// Static text of this module, not a value: written as it is.
const STYLE = html`<style>
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
</style>`;

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
  const body = joinHtml(
    [
      runHeader(report, partners, onePartner),
      ...partners.map(partnerSection),
      holdingsHtml(report.holdings, opts.partnerId),
      partners.length === 0
        ? html`<section><h2>Partners</h2><p>No partner had a billing period in the window.</p></section>`
        : '',
      onePartner ? '' : unattributedSection(report),
      report.networkFindings === undefined ? '' : networkFindingsSection(report, opts.partnerId),
      noticeDiffSection(diffs),
      inputSection(report, onePartner),
      evidenceSection(report),
    ],
    '\n',
  );
  // The Content-Security-Policy: no script runs and nothing loads from elsewhere, whatever the page holds.
  return html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>${title}</title>${STYLE}</head>
<body><main>
${body}
<footer>partner-audit ${report.codeVersion} · run ${report.runId} · report version ${report.reportVersion}</footer></main></body></html>
`.toString();
}
