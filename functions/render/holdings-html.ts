/**
 * The holdings part of the HTML report (functions/domain/HOLDINGS.md): per partner, what it holds in
 * all, a table per dataset (all applications, then each), and the chart of distinct objects over time.
 * Escaped by construction (the html tag).
 */
import {
  ALL_APPLICATIONS,
  type HoldingFigures,
  type HoldingsSection,
  type PartnerHoldings,
} from '../domain/holdings.js';
import { formatBytes, formatCount, formatLocalDateTime } from './format.js';
import { holdingsChart } from './holdings-chart.js';
import { type HtmlValue, html, joinHtml, type SafeHtml } from './html.js';

type Holdings = HoldingsSection;

const HEAD = [
  'Application',
  'Distinct objects',
  'Of them read only in ranges',
  'Bytes of the objects',
  'Records',
  'Retrievals',
  'Data sent',
  'Re-download ratio',
  'First retrieval',
  'Last retrieval',
];
const NUMERIC = [false, true, true, true, true, true, true, true, false, false];

function table(rows: readonly (readonly HtmlValue[])[]): SafeHtml {
  const th = HEAD.map((h, i) => html`<th${NUMERIC[i] ? html` class="n"` : ''} scope="col">${h}</th>`);
  const body = rows.map(
    (r) =>
      html`<tr>${r.map((c, i) => html`<td${NUMERIC[i] ? html` class="n"` : ''} data-label="${HEAD[i] ?? ''}"><span class="c">${c}</span></td>`)}</tr>`,
  );
  return html`<div class="scroll"><table class="holdings"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table></div>`;
}

const when = (iso: string | null, zone: string) =>
  iso === null ? '-' : formatLocalDateTime(Date.parse(iso), zone);

function cells(application: HtmlValue, f: HoldingFigures, zone: string): HtmlValue[] {
  return [
    application,
    formatCount(BigInt(f.objects)),
    formatCount(BigInt(f.partialObjects)),
    formatBytes(BigInt(f.objectBytes)),
    formatCount(BigInt(f.records)),
    formatCount(BigInt(f.retrievals)),
    formatBytes(BigInt(f.bytesSent)),
    f.redownloadRatio ?? '-',
    when(f.firstRetrieval, zone),
    when(f.lastRetrieval, zone),
  ];
}

function partnerHoldings(h: Holdings, p: PartnerHoldings): SafeHtml {
  const t = p.totals;
  if (t.objects === '0') {
    return html`<h3>${p.partnerName}</h3><p>No object was read between ${h.from} and ${h.to} (local dates, ${p.timeZone}).</p>`;
  }
  const datasets = [...new Set(p.datasets.map((d) => d.dataset))];
  const tables = datasets.map((dataset) => {
    const rows = p.datasets
      .filter((d) => d.dataset === dataset)
      .map((d) =>
        cells(
          d.applicationId === ALL_APPLICATIONS
            ? html`<strong>all applications</strong>`
            : html`<code>${d.applicationId}</code>`,
          d,
          p.timeZone,
        ),
      );
    return html`<h4>Dataset <code>${dataset}</code></h4>${table(rows)}`;
  });
  const unknown =
    t.unknownSizeObjects === '0'
      ? ''
      : html` ${formatCount(BigInt(t.unknownSizeObjects))} of them logged no size and count no bytes.`;
  const chart = holdingsChart({
    // No registry text in the SVG's attributes (test/reliability/injection.test.ts): the window only.
    label: `Distinct objects held, ${h.from} to ${h.to}`,
    from: h.from,
    to: h.to,
    points: p.overTime.filter((o) => o.applicationId === ALL_APPLICATIONS),
  });
  return html`<h3>${p.partnerName}</h3><p>Between ${h.from} and ${h.to} (local dates, ${p.timeZone}) the partner read <strong>${formatCount(BigInt(t.objects))}</strong> distinct objects of ${formatBytes(BigInt(t.objectBytes))} and ${formatCount(BigInt(t.records))} records, in ${formatCount(BigInt(t.retrievals))} retrievals that sent ${formatBytes(BigInt(t.bytesSent))} (re-download ratio ${t.redownloadRatio ?? '-'}).${unknown}</p>${chart}${tables}`;
}

/** The holdings section; `partnerId` keeps one partner's. Empty when the report holds no holdings. */
export function holdingsHtml(holdings: Holdings | null | undefined, partnerId?: string): SafeHtml {
  if (holdings === null || holdings === undefined) return html``;
  const partners = holdings.partners.filter((p) => partnerId === undefined || p.partnerId === partnerId);
  if (partners.length === 0) return html``;
  return html`<section class="holdings"><h2>Holdings: what each partner holds</h2><p>Distinct objects read in full (200) or in part (206), counted once however often they were downloaded; the re-download ratio is the data sent over the bytes of those objects.</p>${joinHtml(partners.map((p) => partnerHoldings(holdings, p)))}</section>`;
}
