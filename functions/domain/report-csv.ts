/** The CSV of usage per partner, period and application (`usage.csv`). */
import type { Report } from './report-schema.js';

/** The CSV columns of `reportToCsv`. */
export const CSV_COLUMNS = [
  'partner_id',
  'partner_name',
  'period',
  'application_id',
  'application_name',
  'requests',
  'bytes_sent',
  'records',
] as const;

/**
 * A text cell: a leading `=`, `+`, `-`, `@` (or tab / CR, which some spreadsheets strip first) would
 * make a spreadsheet run the cell as a formula, so it gets a `'` in front. Then RFC 4180 quoting.
 */
export function csvTextCell(value: string): string {
  const guarded = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

/**
 * Usage per partner, period and application, one row each, as RFC 4180 CSV (CRLF, header row).
 * Counts are written as integers and never guarded: they are never negative.
 */
export function reportToCsv(report: Report): string {
  const rows: string[] = [CSV_COLUMNS.join(',')];
  for (const p of report.partners) {
    for (const period of p.periods) {
      for (const a of period.applications) {
        rows.push(
          [
            csvTextCell(p.partnerId),
            csvTextCell(p.partnerName),
            csvTextCell(period.periodId),
            csvTextCell(a.applicationId),
            csvTextCell(a.name),
            a.counts.requests,
            a.counts.bytesSent,
            a.counts.records,
          ].join(','),
        );
      }
    }
  }
  return `${rows.join('\r\n')}\r\n`;
}
