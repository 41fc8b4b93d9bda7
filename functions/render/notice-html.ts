/**
 * A notice's view model as HTML for mail clients: nested tables, inline styles, 600 px at most, no
 * script, no image. Label/value rows (two columns) instead of wide tables, so nothing needs sideways
 * scrolling on a phone. Escaped by construction (html.ts).
 */
import type { MetricFigure } from '../domain/evaluation.js';
import { formatMoney } from '../domain/money.js';
import { formatBp } from '../domain/notices.js';
import { formatBytes, formatCount, formatQuantity, METRIC_LABEL } from './format.js';
import { type HtmlValue, html, joinHtml, type SafeHtml } from './html.js';
import { countsText, type NoticeView } from './notice-view.js';

const FONT = 'font-family:Arial,Helvetica,sans-serif';
const INK = '#1d2733';
const MUTED = '#5b6775';
const RULE = '#e3e7ec';

const para = (content: HtmlValue, extra = '') =>
  html`<p style="margin:0 0 12px;${FONT};font-size:15px;line-height:22px;color:${INK};${extra}">${content}</p>`;

const pairs = (rows: readonly (readonly [string, string])[]) =>
  html`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;margin:0 0 12px;table-layout:fixed">${rows.map(
    ([k, v]) =>
      html`<tr><td style="padding:6px 12px 6px 0;border-bottom:1px solid ${RULE};${FONT};font-size:14px;line-height:20px;color:${MUTED};vertical-align:top;width:40%">${k}</td><td style="padding:6px 0;border-bottom:1px solid ${RULE};${FONT};font-size:14px;line-height:20px;color:${INK};vertical-align:top;text-align:right">${v}</td></tr>`,
  )}</table>`;

const subhead = (s: string) =>
  html`<p style="margin:12px 0 4px;${FONT};font-size:14px;line-height:20px;font-weight:bold;color:${INK}">${s}</p>`;

const section = (title: string, inner: HtmlValue) =>
  html`<tr><td style="padding:4px 24px 8px;${FONT}"><h2 style="margin:16px 0 8px;${FONT};font-size:17px;line-height:24px;color:${INK};border-top:1px solid ${RULE};padding-top:16px">${title}</h2>${inner}</td></tr>`;

function metricRows(m: MetricFigure, money: (minor: bigint) => string): [string, string][] {
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
}

/** The key figures as cards, two to a row (stacked on narrow screens where <style> is honoured). */
function keyFigureRows(v: NoticeView, accent: string): SafeHtml[] {
  const cells = v.keyFigures.map(
    ([k, value]) =>
      html`<td class="stack" width="50%" valign="top" style="width:50%;padding:6px;vertical-align:top"><div style="border:1px solid ${RULE};border-left:4px solid ${accent};border-radius:4px;padding:8px 10px;background:#fbfcfd"><div style="${FONT};font-size:12px;line-height:16px;color:${MUTED};text-transform:uppercase;letter-spacing:0.5px">${k}</div><div style="${FONT};font-size:16px;line-height:22px;font-weight:bold;color:${INK}">${value}</div></div></td>`,
  );
  const rows: SafeHtml[] = [];
  for (let i = 0; i < cells.length; i += 2) {
    rows.push(
      html`<tr>${cells[i]}${cells[i + 1] ?? html`<td class="stack" width="50%" style="width:50%"></td>`}</tr>`,
    );
  }
  return rows;
}

/** The HTML part of the notice. */
export function noticeHtml(v: NoticeView): string {
  const accent = v.actionRequired ? '#b3261e' : '#2f6db5';
  const money = (minor: bigint) => formatMoney({ currency: v.currency, minor });
  const h: HtmlValue[] = [
    // The <style> is only for clients that honour it: it stacks the key figures on narrow screens.
    html`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="x-apple-disable-message-reformatting"><title>${v.subject}</title><style>@media only screen and (max-width:480px){.stack{display:block!important;width:100%!important}}</style></head><body style="margin:0;padding:0;background:#f3f5f8;${FONT};color:${INK};word-wrap:break-word;overflow-wrap:anywhere">`,
    html`<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">${v.preheader}</div>`,
    html`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f5f8"><tr><td align="center" style="padding:16px 8px">`,
    html`<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background:#ffffff;border:1px solid #d9dee4;border-radius:8px;border-collapse:separate;table-layout:fixed">`,
    html`<tr><td style="padding:18px 24px;background:${accent};border-radius:8px 8px 0 0;${FONT};color:#ffffff"><div style="font-size:12px;line-height:16px;letter-spacing:1px;text-transform:uppercase;font-weight:bold">${v.actionRequired ? 'Action required' : 'Notice'} · ${v.providerName}</div><h1 style="margin:6px 0 0;${FONT};font-size:21px;line-height:28px;color:#ffffff">${v.headline}</h1><div style="font-size:14px;line-height:20px;margin-top:4px">Level: <strong>${v.level}</strong> · ${v.month}</div></td></tr>`,
    html`<tr><td style="padding:14px 18px 4px"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="table-layout:fixed">${keyFigureRows(v, accent)}</table></td></tr>`,
    html`<tr><td style="padding:12px 24px 0">${[
      para(`Dear ${v.partnerName} team,`),
      para(v.intro),
      v.lateText && para(v.lateText),
      v.projectionStatement !== undefined && para(v.projectionStatement, 'font-weight:bold'),
      v.coversText && para(v.coversText),
      para(v.asOfText, `color:${MUTED};font-size:14px`),
    ]}</td></tr>`,
    html`<tr><td style="padding:4px 24px 4px"><div style="border:2px solid ${accent};border-radius:6px;padding:12px 16px;background:${v.actionRequired ? '#fdecea' : '#e8eef6'}"><h2 style="margin:0 0 6px;${FONT};font-size:17px;line-height:24px;color:${INK}">What you need to do, by ${v.deadline}</h2><ul style="margin:0;padding:0 0 0 20px;${FONT};font-size:15px;line-height:22px;color:${INK}">${v.todo.map((a) => html`<li style="margin:0 0 6px">${a}</li>`)}</ul></div></td></tr>`,
    section(
      `Usage against contract ${v.contractId}`,
      v.metrics.map((m) => [subhead(METRIC_LABEL[m.metric]), pairs(metricRows(m, money))]),
    ),
    section(
      `Overage fees: ${v.feeTotal}`,
      v.feeLines.length > 0
        ? html`<ul style="margin:0 0 12px;padding:0 0 0 20px;${FONT};font-size:14px;line-height:21px">${v.feeLines.map((l) => html`<li style="margin:0 0 4px">${l}</li>`)}</ul>`
        : para('No overage fee applies.'),
    ),
  ];
  if (v.applications.length > 0) {
    h.push(
      section(
        'By application',
        v.applications.map((a) => [
          subhead(`${a.name} (${a.applicationId})`),
          pairs([
            ['Requests', formatCount(a.counts.requests)],
            ['Data sent', formatBytes(a.counts.bytesSent)],
            ['Records', formatCount(a.counts.records)],
            ['Days over the daily cap', String(a.daysOverCap)],
          ]),
          a.metrics.map((m) => [
            subhead(`Limit of ${a.name}: ${METRIC_LABEL[m.metric]}`),
            pairs(metricRows(m, money)),
          ]),
        ]),
      ),
    );
  }
  h.push(
    section(
      `Days over the daily cap: ${v.daysOverCap}`,
      v.overCapDays.length > 0
        ? pairs(
            v.overCapDays.map((d) => [
              d.date,
              `${d.overCap.map((m) => METRIC_LABEL[m].toLowerCase()).join(', ')}: ${formatCount(d.counts.requests)} requests, ${formatBytes(d.counts.bytesSent)}`,
            ]),
          )
        : para('None.'),
    ),
  );
  if (!v.complete) {
    h.push(
      section(
        'Forecast for the whole period at the current rate',
        pairs(
          v.metrics.map((m) => [
            METRIC_LABEL[m.metric],
            m.limit === undefined
              ? formatQuantity(m.metric, m.forecast)
              : `${formatQuantity(m.metric, m.forecast)}, over the limit by ${formatQuantity(m.metric, m.forecastOver)}`,
          ]),
        ),
      ),
    );
  }
  if (v.offContract.length > 0) {
    h.push(
      section(
        'Datasets read outside your contract',
        pairs(v.offContract.map((d) => [d.dataset, countsText(d.counts)])),
      ),
    );
  }
  h.push(
    section('Contact and disputes', [
      para(html`Contact: <a href="mailto:${v.contact}" style="color:${accent}">${v.contact}</a>`),
      para(`Disputes: ${v.dispute}`),
      para(v.evidence, `color:${MUTED};font-size:13px;word-break:break-word`),
    ]),
    html`<tr><td style="padding:12px 24px 20px;${FONT};font-size:13px;line-height:18px;color:${MUTED}">${v.providerName}</td></tr>`,
    html`</table></td></tr></table></body></html>`,
  );
  return joinHtml(h, '\n').toString();
}
