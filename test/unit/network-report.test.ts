import { describe, expect, it } from 'vitest';
import type { NetworkFinding } from '../../functions/domain/network-findings.js';
import { NETWORK_CSV_COLUMNS, networkFindingsToCsv } from '../../functions/domain/report-network.js';
import { composeUnexplainedAccessNotice } from '../../functions/render/network-notice.js';
import { renderReportHtml } from '../../functions/render/report-html.js';
import { makeEvaluation, makeRegistry } from '../support/notice-fixtures.js';
import { makeReport } from '../support/report-fixtures.js';

const T = Date.UTC(2026, 10, 3, 8, 0, 0);
const finding = (over: Partial<NetworkFinding> = {}): NetworkFinding => ({
  kind: 'credential-used-outside-declared-network',
  partnerId: 'acme',
  applicationId: 'ingest',
  requester: 'arn:aws:iam::111122223333:user/<script>alert(1)</script>',
  accessPoint: '-',
  sourcePrefix: '2001:db8:85a3::/48',
  addressClass: 'ipv6',
  vpcEndpoint: '-',
  sourceRegion: '-',
  declaredBy: null,
  requests: 12n,
  bytesSent: 3_000_000_000n,
  firstSeenMs: T,
  lastSeenMs: T + 3_600_000,
  firstEverMs: T,
  ...over,
});

describe('network findings in the report', () => {
  const report = makeReport({
    network: {
      findings: [
        finding(),
        finding({
          kind: 'shared-credential',
          declaredBy: { partnerId: 'zeta', applicationId: 'etl' },
          firstEverMs: 0,
        }),
      ],
      windowStartMs: { acme: T - 1000 },
    },
  });

  it('states each finding in report.json, with counts as strings and whether it is new in the window', () => {
    expect(report.networkFindings).toHaveLength(2);
    expect(report.networkFindings![0]).toMatchObject({
      kind: 'credential-used-outside-declared-network',
      sourcePrefix: '2001:db8:85a3::/48',
      requests: '12',
      bytesSent: '3000000000',
      firstSeen: '2026-11-03T08:00:00.000Z',
      lastSeen: '2026-11-03T09:00:00.000Z',
      newInWindow: true,
      declaredBy: null,
    });
    expect(report.networkFindings![1]).toMatchObject({
      newInWindow: false,
      declaredBy: { partnerId: 'zeta' },
    });
  });

  it('lists them on the HTML page with their prefixes, escaped', () => {
    const page = renderReportHtml(report);
    expect(page).toContain('<h2>Declared networks</h2>');
    expect(page).toContain('2001:db8:85a3::/48');
    expect(page).toContain('user/&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<script>alert(1)');
  });

  it('writes them as CSV, a formula-looking cell guarded', () => {
    const csv = networkFindingsToCsv(report.networkFindings!);
    const [head, first] = csv.split('\r\n');
    expect(head).toBe(NETWORK_CSV_COLUMNS.join(','));
    expect(first).toBe(
      'credential-used-outside-declared-network,acme,ingest,arn:aws:iam::111122223333:user/<script>alert(1)</script>,' +
        "'-,2001:db8:85a3::/48,ipv6,'-,'-,,,12,3000000000,2026-11-03T08:00:00.000Z,2026-11-03T09:00:00.000Z," +
        '2026-11-03T08:00:00.000Z,true',
    );
  });
});

describe('the unexplained-access notice', () => {
  it('names each source prefix, escaped in its HTML, addressed as the other notices are', async () => {
    const registry = makeRegistry();
    const message = await composeUnexplainedAccessNotice({
      registry,
      partner: registry.partners[0]!,
      evaluation: makeEvaluation(),
      findings: [finding()],
      messageId: 'm@partner-audit.test',
      date: new Date(T),
      reportRef: 'run r1',
      evidenceRef: 'run r1#acme',
    });
    expect(message.key.level).toBe('unexplained-access');
    expect(message.subject).toContain('access from outside your declared networks');
    expect(message.text).toContain('2001:db8:85a3::/48');
    expect(message.text).toContain('12 requests');
    expect(message.html).toContain('&lt;script&gt;');
    expect(message.html).not.toContain('<script>');
    expect(message.to).toEqual(['Jane Doe <jane@acme.example>', 'ops@acme.example']);
  });
});
