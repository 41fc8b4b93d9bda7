/**
 * The report page's network findings (NETWORKS.md): per finding, who (application, requester) was seen
 * from which source prefix, with its VPC endpoint and region, requests, bytes and when. Every value from
 * the logs or the registry goes through the `html` tag, so it is escaped.
 */
import type { Report } from '../domain/report.js';
import { formatBytes, formatCount } from './format.js';
import { html, type SafeHtml } from './html.js';

const KIND_LABEL: Record<string, string> = {
  'credential-used-outside-declared-network': 'used outside its declared networks',
  'shared-credential': 'used from another partner’s declared network',
};

/** The section, for every partner or for `partnerId` only; nothing when no application declares networks. */
export function networkFindingsSection(report: Report, partnerId?: string): SafeHtml | '' {
  const all = report.networkFindings ?? [];
  const findings = partnerId === undefined ? all : all.filter((f) => f.partnerId === partnerId);
  if (findings.length === 0) {
    return html`<section class="run-section" id="network-findings"><h2>Declared networks</h2><p>No registered principal of an application that declares its networks was seen from outside them.</p></section>`;
  }
  const head = [
    'Finding',
    'Partner / application',
    'Requester',
    'Source prefix',
    'VPC endpoint',
    'Region',
    'Requests',
    'Data sent',
    'First seen',
    'Last seen',
  ];
  const numeric = new Set([6, 7]);
  const rows = findings.map((f) => [
    html`<span class="badge bad">${f.newInWindow ? 'new' : 'seen before'}</span> ${KIND_LABEL[f.kind] ?? f.kind}${
      f.declaredBy
        ? html` (<code>${f.declaredBy.partnerId}</code> / <code>${f.declaredBy.applicationId}</code>)`
        : ''
    }`,
    html`<code>${f.partnerId}</code> / <code>${f.applicationId}</code>`,
    html`<code>${f.requester}</code>`,
    html`<code>${f.sourcePrefix}</code> <span class="sub">${f.addressClass}</span>`,
    html`<code>${f.vpcEndpoint}</code>`,
    html`<code>${f.sourceRegion}</code>`,
    formatCount(BigInt(f.requests)),
    formatBytes(BigInt(f.bytesSent)),
    f.firstSeen,
    f.lastSeen,
  ]);
  const th = head.map((h, i) => html`<th${numeric.has(i) ? html` class="n"` : ''} scope="col">${h}</th>`);
  const body = rows.map(
    (r) =>
      html`<tr>${r.map((c, i) => html`<td${numeric.has(i) ? html` class="n"` : ''} data-label="${head[i] ?? ''}"><span class="c">${c}</span></td>`)}</tr>`,
  );
  return html`<section class="run-section" id="network-findings"><h2>Declared networks</h2><p>Requests by the principals of applications that declare their networks, from outside them (the window's local dates in each partner's time zone; every operation and status).</p><div class="scroll"><table class="wide"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table></div></section>`;
}
