/**
 * Inline SVG charts for the HTML report: bars of usage per day against the daily cap, and cumulative
 * usage against the month's limit with the forecast. Static markup, no script, every text escaped.
 *
 * Quantities arrive as bigint and are turned into floating point only to place pixels: a chart cannot
 * show the difference between 2^53 and 2^53 + 1 bytes anyway, and the exact figures sit in the tables
 * beside it.
 */
import type { Metric } from '../domain/usage.js';
import { formatCount } from './format.js';
import { type HtmlValue, html, joinHtml, type SafeHtml } from './html.js';

/** Width and height of every chart's viewBox; the SVG scales to its container. */
export const CHART_WIDTH = 520;
export const CHART_HEIGHT = 250;

const MARGIN = { left: 66, right: 14, top: 24, bottom: 36 };
const PLOT_W = CHART_WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;

const COLOURS = {
  bar: '#3b73b9',
  barOver: '#c0392b',
  limit: '#c0392b',
  line: '#3b73b9',
  area: '#3b73b9',
  forecast: '#8a5a00',
  grid: '#dfe4ea',
  text: '#4a5562',
};

/** `1234567` -> `1.23M`; bytes in decimal units: `1.23 GB`. For axis labels only. */
export function formatCompact(value: number, metric: Metric): string {
  const units =
    metric === 'bytesSent'
      ? [
          { at: 1e15, suffix: ' PB' },
          { at: 1e12, suffix: ' TB' },
          { at: 1e9, suffix: ' GB' },
          { at: 1e6, suffix: ' MB' },
          { at: 1e3, suffix: ' kB' },
        ]
      : [
          { at: 1e12, suffix: 'T' },
          { at: 1e9, suffix: 'bn' },
          { at: 1e6, suffix: 'M' },
          { at: 1e3, suffix: 'k' },
        ];
  for (const u of units) {
    if (value >= u.at) return `${trimNumber(value / u.at)}${u.suffix}`;
  }
  return `${trimNumber(value)}${metric === 'bytesSent' ? ' B' : ''}`;
}

function trimNumber(x: number): string {
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return x.toFixed(digits).replace(/\.0+$|(\.\d*?)0+$/, '$1');
}

/** The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k at or above `x`, so axis labels (and their halves) are round. */
export function niceCeil(x: number): number {
  if (!(x > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * pow >= x * (1 - 1e-12)) return m * pow;
  return 10 * pow;
}

const n2 = (x: number) => (Math.round(x * 100) / 100).toString();

function yAxis(max: number, metric: Metric): SafeHtml {
  const parts: SafeHtml[] = [];
  for (const f of [0, 0.5, 1]) {
    const y = MARGIN.top + PLOT_H * (1 - f);
    parts.push(
      html`<line x1="${MARGIN.left}" x2="${CHART_WIDTH - MARGIN.right}" y1="${n2(y)}" y2="${n2(y)}" stroke="${COLOURS.grid}" stroke-width="1"/>`,
      html`<text x="${MARGIN.left - 6}" y="${n2(y + 6)}" text-anchor="end" font-size="16" fill="${COLOURS.text}">${formatCompact(max * f, metric)}</text>`,
    );
  }
  return joinHtml(parts);
}

/** Day-of-month labels under the plot every 7 days, starting at the first. */
function xAxis(dates: readonly string[], xOf: (i: number) => number): SafeHtml {
  const parts: SafeHtml[] = [
    html`<line x1="${MARGIN.left}" x2="${CHART_WIDTH - MARGIN.right}" y1="${MARGIN.top + PLOT_H}" y2="${MARGIN.top + PLOT_H}" stroke="${COLOURS.text}" stroke-width="1"/>`,
  ];
  dates.forEach((d, i) => {
    if (i % 7 !== 0) return;
    parts.push(
      html`<text x="${n2(xOf(i))}" y="${CHART_HEIGHT - 14}" text-anchor="middle" font-size="16" fill="${COLOURS.text}">${String(Number(d.slice(8, 10)))}</text>`,
    );
  });
  return joinHtml(parts);
}

function svgOpen(label: string, kind: string): SafeHtml {
  return html`<svg class="chart ${kind}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" role="img" aria-label="${label}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif"><title>${label}</title>`;
}

/** A dashed horizontal line with its label; the white halo keeps the label legible over bars. */
function hLine(y: number, colour: string, label: string, labelAbove: boolean, at: 'start' | 'end'): SafeHtml {
  const x = at === 'start' ? MARGIN.left + 6 : CHART_WIDTH - MARGIN.right - 2;
  return html`<line class="limit-line" x1="${MARGIN.left}" x2="${CHART_WIDTH - MARGIN.right}" y1="${n2(y)}" y2="${n2(y)}" stroke="${colour}" stroke-width="2" stroke-dasharray="7 4"/><text x="${x}" y="${n2(labelAbove ? y - 7 : y + 18)}" text-anchor="${at}" font-size="16" font-weight="600" fill="${colour}" stroke="#fff" stroke-width="4" paint-order="stroke">${label}</text>`;
}

/** One day of a daily bar chart. `value` is undefined for days the data does not reach yet. */
export interface DailyBar {
  readonly date: string;
  readonly value?: bigint;
  readonly overCap: boolean;
}

export interface DailyChartInput {
  readonly metric: Metric;
  readonly label: string;
  /** Every local date of the period, in order; days without data have no value. */
  readonly days: readonly DailyBar[];
  readonly cap: bigint | null;
}

/** Bars of usage per day, red where over the cap, with the cap as a dashed line. */
export function dailyBarChart(input: DailyChartInput): SafeHtml {
  const n = Math.max(1, input.days.length);
  let maxValue = 0;
  for (const d of input.days) if (d.value !== undefined) maxValue = Math.max(maxValue, Number(d.value));
  const cap = input.cap === null ? null : Number(input.cap);
  const max = niceCeil(Math.max(maxValue, cap ?? 0) * 1.08);
  const slot = PLOT_W / n;
  const xOf = (i: number) => MARGIN.left + slot * (i + 0.5);
  const yOf = (v: number) => MARGIN.top + PLOT_H * (1 - v / max);
  const parts: HtmlValue[] = [
    svgOpen(input.label, 'daily'),
    yAxis(max, input.metric),
    xAxis(
      input.days.map((d) => d.date),
      xOf,
    ),
  ];
  const barW = Math.max(1, slot * 0.72);
  input.days.forEach((d, i) => {
    if (d.value === undefined) return;
    const v = Number(d.value);
    const y = yOf(v);
    const h = Math.max(0, MARGIN.top + PLOT_H - y);
    const tip = `${d.date}: ${formatCount(d.value)}${d.overCap ? ' (over the daily cap)' : ''}`;
    parts.push(
      html`<rect class="bar${d.overCap ? ' over' : ''}" x="${n2(xOf(i) - barW / 2)}" y="${n2(y)}" width="${n2(barW)}" height="${n2(h)}" fill="${d.overCap ? COLOURS.barOver : COLOURS.bar}"><title>${tip}</title></rect>`,
    );
  });
  if (cap !== null) {
    const y = yOf(cap);
    parts.push(
      hLine(y, COLOURS.limit, `daily cap ${formatCompact(cap, input.metric)}`, y - MARGIN.top > 20, 'end'),
    );
  }
  parts.push(html`</svg>`);
  return joinHtml(parts);
}

export interface CumulativeChartInput {
  readonly metric: Metric;
  readonly label: string;
  /** Every local date of the period, in order. */
  readonly dates: readonly string[];
  /** Usage per day for the dates the data reaches, in order from the first date. */
  readonly daily: readonly bigint[];
  readonly limit: bigint | null;
  /** Projected use at the period's end; null once the period is complete. */
  readonly forecast: bigint | null;
}

/** Cumulative usage through each day, the monthly limit, and the forecast to the period's end. */
export function cumulativeChart(input: CumulativeChartInput): SafeHtml {
  const n = Math.max(1, input.dates.length);
  const cumulative: number[] = [];
  let sum = 0n;
  for (const v of input.daily) {
    sum += v;
    cumulative.push(Number(sum));
  }
  const used = cumulative[cumulative.length - 1] ?? 0;
  const limit = input.limit === null ? null : Number(input.limit);
  const forecast = input.forecast === null ? null : Number(input.forecast);
  const max = niceCeil(Math.max(used, limit ?? 0, forecast ?? 0) * 1.08);
  // x is the end of day i, so the line starts at the period's start with 0.
  const xOf = (i: number) => MARGIN.left + (PLOT_W * i) / n;
  const yOf = (v: number) => MARGIN.top + PLOT_H * (1 - v / max);
  const parts: HtmlValue[] = [
    svgOpen(input.label, 'cumulative'),
    yAxis(max, input.metric),
    xAxis(input.dates, (i) => xOf(i + 0.5)),
  ];
  const points = [
    `${n2(xOf(0))},${n2(yOf(0))}`,
    ...cumulative.map((v, i) => `${n2(xOf(i + 1))},${n2(yOf(v))}`),
  ];
  const lastX = xOf(cumulative.length);
  const lastY = yOf(used);
  parts.push(
    html`<polygon class="area" points="${points.join(' ')} ${n2(lastX)},${n2(yOf(0))}" fill="${COLOURS.area}" fill-opacity="0.12"/>`,
    html`<polyline class="usage-line" points="${points.join(' ')}" fill="none" stroke="${COLOURS.line}" stroke-width="3" stroke-linejoin="round"/>`,
  );
  if (forecast !== null && cumulative.length < n) {
    const fy = yOf(forecast);
    parts.push(
      html`<line class="forecast-line" x1="${n2(lastX)}" y1="${n2(lastY)}" x2="${n2(xOf(n))}" y2="${n2(fy)}" stroke="${COLOURS.forecast}" stroke-width="2.5" stroke-dasharray="3 4"/>`,
      html`<circle cx="${n2(xOf(n))}" cy="${n2(fy)}" r="4" fill="${COLOURS.forecast}"><title>forecast ${formatCount(input.forecast ?? 0n)}</title></circle>`,
    );
  }
  parts.push(
    html`<circle class="usage-point" cx="${n2(lastX)}" cy="${n2(lastY)}" r="5" fill="${COLOURS.line}"><title>used ${formatCount(sum)}</title></circle>`,
  );
  if (limit !== null) {
    const y = yOf(limit);
    parts.push(
      hLine(y, COLOURS.limit, `limit ${formatCompact(limit, input.metric)}`, y - MARGIN.top > 20, 'start'),
    );
  }
  parts.push(html`</svg>`);
  return joinHtml(parts);
}
