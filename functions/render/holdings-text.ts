/**
 * The holdings statement as plain text (`partner-audit holdings`): what a partner holds over a window,
 * the figures a provider would send in a dispute, each with its exact count.
 */
import { ALL_APPLICATIONS, type HoldingFigures, type HoldingsSection } from '../domain/holdings.js';
import { formatBytes, formatCount, formatLocalDateTime } from './format.js';

const when = (iso: string | null, zone: string) =>
  iso === null ? '-' : `${formatLocalDateTime(Date.parse(iso), zone)} (${iso})`;

function lines(f: HoldingFigures, zone: string, indent: string): string[] {
  const c = (s: string) => formatCount(BigInt(s));
  return [
    `${indent}Distinct objects:        ${c(f.objects)}` +
      (f.partialObjects === '0' ? '' : ` (${c(f.partialObjects)} read only in ranges)`) +
      (f.unknownSizeObjects === '0' ? '' : ` (${c(f.unknownSizeObjects)} of unknown size)`),
    `${indent}Bytes of those objects:  ${formatBytes(BigInt(f.objectBytes))}`,
    `${indent}Records of those objects: ${c(f.records)}`,
    `${indent}Retrievals:              ${c(f.retrievals)} (${c(f.fullRetrievals)} whole)`,
    `${indent}Data sent:               ${formatBytes(BigInt(f.bytesSent))}`,
    `${indent}Re-download ratio:       ${f.redownloadRatio ?? '-'}`,
    `${indent}First retrieval:         ${when(f.firstRetrieval, zone)}`,
    `${indent}Last retrieval:          ${when(f.lastRetrieval, zone)}`,
  ];
}

/** The statement of every partner of `section`, one after the other. */
export function holdingsStatementText(section: HoldingsSection): string {
  const out: string[] = [];
  for (const p of section.partners) {
    out.push(
      `Holdings statement: ${p.partnerName} (${p.partnerId})`,
      `Local dates ${section.from} to ${section.to} (exclusive), time zone ${p.timeZone}`,
      'Objects read in full (HTTP 200) or in part (206), each counted once however often it was downloaded.',
      '',
      'All datasets, all applications',
      ...lines(p.totals, p.timeZone, '  '),
    );
    for (const d of p.datasets) {
      out.push(
        '',
        `Dataset ${d.dataset}, ${d.applicationId === ALL_APPLICATIONS ? 'all applications' : `application ${d.applicationId}`}`,
        ...lines(d, p.timeZone, '  '),
      );
    }
    const total = p.overTime.filter((o) => o.applicationId === ALL_APPLICATIONS);
    if (total.length > 0) {
      out.push('', 'Distinct objects held by the end of each date (first read that date):');
      for (const o of total) {
        out.push(
          `  ${o.date}  ${o.dataset}  ${formatCount(BigInt(o.objects))} (+${formatCount(BigInt(o.newObjects))})`,
        );
      }
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
