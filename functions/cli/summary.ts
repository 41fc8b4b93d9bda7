/** The table the CLI prints after an audit: one line per partner and period. */
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import { formatMoney } from '../domain/money.js';
import type { LocalAuditResult } from './local-audit.js';
import { displayPath } from './paths.js';

function pct(bp: bigint | undefined): string {
  if (bp === undefined) return '-';
  return `${bp / 100n}.${String(bp % 100n).padStart(2, '0')}%`;
}

function human(n: bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function row(e: PartnerPeriodEvaluation, notices: string): string[] {
  const req = e.metrics.find((m) => m.metric === 'requests');
  const bytes = e.metrics.find((m) => m.metric === 'bytesSent');
  return [
    e.partnerId,
    `${e.period.id}${e.complete ? '' : '*'}`,
    human(e.totals.requests),
    pct(req?.utilisationBp),
    // The projection to the period's end, beside the use so far: the two must tell one story.
    e.complete || req?.limit === undefined
      ? '-'
      : pct((req.forecast * 10_000n) / (req.limit > 0n ? req.limit : 1n)),
    pct(bytes?.utilisationBp),
    String(e.daysOverCap),
    e.levels.at(-1)?.level ?? '-',
    formatMoney({ currency: e.currency, minor: e.fees.totalMinor }),
    notices,
  ];
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function printSummary(result: LocalAuditResult, out: NodeJS.WritableStream = process.stdout): void {
  const { report, evaluations, notices, input } = result;
  const noticeText = (e: PartnerPeriodEvaluation) =>
    notices
      .filter((n) => n.key.partnerId === e.partnerId && n.key.periodId === e.period.id)
      .map((n) => `${n.key.level}:${n.status}`)
      .join(' ') || '-';
  const table = formatTable(
    [
      'partner',
      'period',
      'requests',
      'req used',
      'req forecast',
      'bytes used',
      'days>cap',
      'level',
      'overage fee',
      'notices',
    ],
    evaluations.map((e) => row(e, noticeText(e))),
  );
  const lines = [
    '',
    `Audit ${report.runId} over ${result.window.from} .. ${result.window.to} (exclusive), engine ${report.engine}${result.dryRun ? ', DRY RUN' : ''}`,
    `Input: ${input.files} log files (${input.filesSkipped} already ingested), ${human(BigInt(input.lines))} lines read, ` +
      `${human(BigInt(input.parsedLines))} parsed, ${human(BigInt(input.malformedLines))} malformed`,
    '',
    table,
    '(* period still open: figures to date; req forecast: requests projected to the period end, against the limit)',
    '',
    `Unregistered principals: ${result.unattributedCount}; findings: ${result.findingCount}`,
    `Report:   ${displayPath(result.reportPath)}`,
    `HTML:     ${displayPath(result.htmlPath)}`,
    `CSV:      ${displayPath(result.csvPath)}`,
    `Evidence: ${displayPath(result.bundleDir)} (chain head ${result.bundleHead.slice(0, 16)}...; check with "partner-audit verify")`,
    `Notices:  ${displayPath(result.outboxDir)} (${notices.filter((n) => n.status === 'sent' || n.status === 'previewed').length} new .eml with .html previews)`,
    '',
  ];
  out.write(lines.join('\n'));
}
