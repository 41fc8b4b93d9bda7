/** The CSV of holdings per partner, application and dataset (`holdings.csv`; see HOLDINGS.md). */
import type { HoldingsSection } from './holdings.js';
import { csvTextCell } from './report-csv.js';

/** The CSV columns of `holdingsToCsv`. */
export const HOLDINGS_CSV_COLUMNS = [
  'partner_id',
  'partner_name',
  'from',
  'to',
  'application_id',
  'dataset',
  'objects',
  'partial_objects',
  'unknown_size_objects',
  'object_bytes',
  'records',
  'retrievals',
  'full_retrievals',
  'bytes_sent',
  'redownload_ratio',
  'first_retrieval',
  'last_retrieval',
] as const;

/**
 * One row per partner, application (`*`: all of the partner's together) and dataset, then a row per
 * partner with dataset `*` for its totals; RFC 4180 (CRLF, header row). Empty cells where a value is null.
 */
export function holdingsToCsv(section: HoldingsSection): string {
  const rows: string[] = [HOLDINGS_CSV_COLUMNS.join(',')];
  for (const p of section.partners) {
    const lines = [...p.datasets, { applicationId: '*', dataset: '*', ...p.totals }];
    for (const d of lines) {
      rows.push(
        [
          csvTextCell(p.partnerId),
          csvTextCell(p.partnerName),
          section.from,
          section.to,
          csvTextCell(d.applicationId),
          csvTextCell(d.dataset),
          d.objects,
          d.partialObjects,
          d.unknownSizeObjects,
          d.objectBytes,
          d.records,
          d.retrievals,
          d.fullRetrievals,
          d.bytesSent,
          d.redownloadRatio ?? '',
          d.firstRetrieval ?? '',
          d.lastRetrieval ?? '',
        ].join(','),
      );
    }
  }
  return `${rows.join('\r\n')}\r\n`;
}
