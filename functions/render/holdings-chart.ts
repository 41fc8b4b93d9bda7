/**
 * The chart of distinct objects held over time (functions/domain/HOLDINGS.md): for each dataset, the
 * distinct objects read from the window's start through each local date, as a step line. Static SVG,
 * no script, every text escaped by the html tag. Counts become floating point only to place pixels.
 */
import type { HoldingPoint } from '../domain/holdings.js';
import { datesBetween } from '../domain/time.js';
import { formatCount } from './format.js';
import { type HtmlValue, html, joinHtml, type SafeHtml } from './html.js';
import { CHART_HEIGHT, CHART_WIDTH, formatCompact, niceCeil } from './report-charts.js';

const MARGIN = { left: 66, right: 14, top: 24, bottom: 36 };
const PLOT_W = CHART_WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
/** Line colours, one per dataset in order (datasets past the last reuse them with a dash). */
const LINES = ['#3b73b9', '#8a5a00', '#2e8b57', '#8e44ad', '#c0392b', '#16a085'];
const GRID = '#dfe4ea';
const TEXT = '#4a5562';

const n2 = (x: number) => (Math.round(x * 100) / 100).toString();

export interface HoldingsChartInput {
  readonly label: string;
  /** The window's local dates [from, to). */
  readonly from: string;
  readonly to: string;
  /** The all-applications points (`*`), any datasets. */
  readonly points: readonly HoldingPoint[];
}

/** Distinct objects held through each date of the window, one step line per dataset. */
export function holdingsChart(input: HoldingsChartInput): SafeHtml {
  const dates = datesBetween(input.from, input.to);
  const n = Math.max(1, dates.length);
  const datasets = [...new Set(input.points.map((p) => p.dataset))].sort();
  const series = datasets.map((dataset) => {
    const byDate = new Map(
      input.points.filter((p) => p.dataset === dataset).map((p) => [p.date, BigInt(p.objects)]),
    );
    let held = 0n;
    return { dataset, values: dates.map((d) => (held = byDate.get(d) ?? held)) };
  });
  let maxValue = 0;
  for (const s of series) for (const v of s.values) maxValue = Math.max(maxValue, Number(v));
  const max = niceCeil(maxValue * 1.08);
  const xOf = (i: number) => MARGIN.left + (PLOT_W * i) / n;
  const yOf = (v: number) => MARGIN.top + PLOT_H * (1 - v / max);
  const parts: HtmlValue[] = [
    html`<svg class="chart holdings" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT + 22 * Math.ceil(datasets.length / 2)}" width="${CHART_WIDTH}" height="${CHART_HEIGHT + 22 * Math.ceil(datasets.length / 2)}" role="img" aria-label="${input.label}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif"><title>${input.label}</title>`,
  ];
  for (const f of [0, 0.5, 1]) {
    const y = MARGIN.top + PLOT_H * (1 - f);
    parts.push(
      html`<line x1="${MARGIN.left}" x2="${CHART_WIDTH - MARGIN.right}" y1="${n2(y)}" y2="${n2(y)}" stroke="${GRID}" stroke-width="1"/>`,
      html`<text x="${MARGIN.left - 6}" y="${n2(y + 6)}" text-anchor="end" font-size="16" fill="${TEXT}">${formatCompact(max * f, 'requests')}</text>`,
    );
  }
  dates.forEach((d, i) => {
    if (i % 7 !== 0) return;
    parts.push(
      html`<text x="${n2(xOf(i + 0.5))}" y="${CHART_HEIGHT - 14}" text-anchor="middle" font-size="16" fill="${TEXT}">${String(Number(d.slice(8, 10)))}</text>`,
    );
  });
  series.forEach((s, k) => {
    const colour = LINES[k % LINES.length]!;
    const dash = k >= LINES.length ? html` stroke-dasharray="6 3"` : '';
    // A step: flat through each date, rising at its end to the count held by then.
    const points: string[] = [`${n2(xOf(0))},${n2(yOf(0))}`];
    let last = 0;
    s.values.forEach((v, i) => {
      const y = Number(v);
      if (y !== last) points.push(`${n2(xOf(i))},${n2(yOf(last))}`, `${n2(xOf(i))},${n2(yOf(y))}`);
      last = y;
    });
    points.push(`${n2(xOf(n))},${n2(yOf(last))}`);
    const held = s.values[s.values.length - 1] ?? 0n;
    parts.push(
      html`<polyline class="held-line" points="${points.join(' ')}" fill="none" stroke="${colour}" stroke-width="2.5"${dash}><title>${s.dataset}: ${formatCount(held)} objects</title></polyline>`,
      html`<rect x="${MARGIN.left + (k % 2) * (PLOT_W / 2)}" y="${CHART_HEIGHT + 2 + 22 * Math.floor(k / 2)}" width="14" height="4" fill="${colour}"/><text x="${MARGIN.left + (k % 2) * (PLOT_W / 2) + 20}" y="${CHART_HEIGHT + 10 + 22 * Math.floor(k / 2)}" font-size="14" fill="${TEXT}">${s.dataset} (${formatCount(held)})</text>`,
    );
  });
  parts.push(html`</svg>`);
  return joinHtml(parts);
}
