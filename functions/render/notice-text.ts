/** A notice's view model as plain text: the same content in the same order as the HTML. */
import type { MetricFigure } from '../domain/evaluation.js';
import { formatMoney } from '../domain/money.js';
import { formatBp } from '../domain/notices.js';
import { formatQuantity, METRIC_LABEL } from './format.js';
import { countsText, type NoticeView } from './notice-view.js';

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

/** The plain-text part of the notice. */
export function noticeText(v: NoticeView): string {
  const t: string[] = [];
  t.push(v.subject, '');
  t.push('Key figures:');
  for (const [k, value] of v.keyFigures) t.push(`  - ${k}: ${value}`);
  t.push('', `Dear ${v.partnerName} team,`, '');
  t.push(v.intro);
  if (v.lateText) t.push(v.lateText);
  if (v.projectionStatement !== undefined) t.push(v.projectionStatement);
  if (v.coversText) t.push(v.coversText);
  t.push(v.asOfText);
  t.push('', `What you need to do, by ${v.deadline}:`);
  for (const a of v.todo) t.push(`  - ${a}`);
  t.push('', `Usage against contract ${v.contractId}:`);
  for (const m of v.metrics) t.push(`  - ${metricLine(m, v.currency)}`);
  t.push('', `Overage fees: ${v.feeTotal}`);
  for (const line of v.feeLines) t.push(`  - ${line}`);
  if (v.applications.length > 0) {
    t.push('', 'By application:');
    for (const a of v.applications) {
      t.push(
        `  - ${a.name} (${a.applicationId}): ${countsText(a.counts)}; days over the daily cap: ${a.daysOverCap}`,
      );
      for (const m of a.metrics) t.push(`      ${metricLine(m, v.currency)}`);
    }
  }
  t.push('', `Days over the daily cap: ${v.daysOverCap}`);
  for (const d of v.overCapDays) {
    t.push(`  - ${d.date}: ${d.overCap.map((m) => METRIC_LABEL[m].toLowerCase()).join(', ')}`);
  }
  if (!v.complete) {
    t.push('', 'Forecast for the whole period at the current rate:');
    for (const m of v.metrics) {
      const over =
        m.limit === undefined ? '' : `, over the limit by ${formatQuantity(m.metric, m.forecastOver)}`;
      t.push(`  - ${METRIC_LABEL[m.metric]}: ${formatQuantity(m.metric, m.forecast)}${over}`);
    }
  }
  if (v.offContract.length > 0) {
    t.push('', 'Datasets read outside your contract:');
    for (const d of v.offContract) t.push(`  - ${d.dataset}: ${countsText(d.counts)}`);
  }
  t.push('', `Contact: ${v.contact}`, `Disputes: ${v.dispute}`, v.evidence, '', v.providerName, '');
  return t.join('\n');
}
