/**
 * How figures read to people, in one place for the notices and the report: counts with thousands
 * separators, bytes as gigabytes with the exact count, metric names, dates and local times.
 */
import { localDateOf } from '../domain/time.js';
import type { Metric } from '../domain/usage.js';

/** What each metric is called in a sentence, a heading or a table. */
export const METRIC_LABEL: Readonly<Record<Metric, string>> = {
  requests: 'Requests',
  bytesSent: 'Data sent',
  records: 'Records',
};

/** The unit a metric's count is stated in. */
export const METRIC_UNIT: Readonly<Record<Metric, string>> = {
  requests: 'requests',
  bytesSent: 'bytes',
  records: 'records',
};

/** `1234567n` -> `1,234,567`. */
export function formatCount(n: bigint): string {
  const neg = n < 0n;
  const s = (neg ? -n : n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? `-${s}` : s;
}

/** Bytes as decimal gigabytes (10^9, two decimals, half up) with the exact count: `1.23 GB (1,234,567,890 bytes)`. */
export function formatBytes(bytes: bigint): string {
  const hundredths = (bytes * 100n + 500_000_000n) / 1_000_000_000n;
  const gb = `${formatCount(hundredths / 100n)}.${(hundredths % 100n).toString().padStart(2, '0')}`;
  return `${gb} GB (${formatCount(bytes)} byte${bytes === 1n ? '' : 's'})`;
}

/** A metric's quantity: bytes as formatBytes, other counts as formatCount. */
export function formatQuantity(metric: Metric, n: bigint): string {
  return metric === 'bytesSent' ? formatBytes(n) : formatCount(n);
}

const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** `2026-11-03` -> `3 November 2026`. */
export function formatLongDate(date: string): string {
  const [y, m, d] = date.split('-');
  return `${Number(d)} ${MONTH_NAMES[Number(m) - 1]} ${y}`;
}

/** `2026-11` -> `November 2026` (an id that is not a month is returned as it is). */
export function formatMonth(periodId: string): string {
  const [y, m] = periodId.split('-');
  return `${MONTH_NAMES[Number(m) - 1] ?? periodId} ${y ?? ''}`.trim();
}

const clockFormats = new Map<string, Intl.DateTimeFormat>();

/** Local wall-clock time `YYYY-MM-DD HH:mm` of an instant in a zone. */
export function formatLocalDateTime(epochMs: number, timeZone: string): string {
  let f = clockFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
    clockFormats.set(timeZone, f);
  }
  const parts = f.formatToParts(new Date(epochMs));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '00';
  return `${localDateOf(epochMs, timeZone)} ${get('hour')}:${get('minute')}`;
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
