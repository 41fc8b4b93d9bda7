import { describe, expect, it } from 'vitest';
import {
  buildReport,
  inputManifestHash,
  inputManifestText,
  ReportSchema,
  reportToJson,
} from '../../functions/domain/report.js';
import {
  cumulativeChart,
  dailyBarChart,
  formatCompact,
  niceCeil,
} from '../../functions/render/report-charts.js';
import { exactTierAmount, ReportPartnerError, renderReportHtml } from '../../functions/render/report-html.js';
import { makeEvaluation } from '../support/notice-fixtures.js';
import {
  makeCappedRegistry,
  makeDailyEvaluation,
  makeReport,
  reportInput,
} from '../support/report-fixtures.js';

const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';

function hostileReport() {
  const stranger = `arn:aws:iam::999988887777:user/${HOSTILE}`;
  const ev = makeDailyEvaluation({
    partnerName: `Evil ${HOSTILE} Co`,
    datasets: [
      { dataset: `feeds/${HOSTILE}/`, counts: { requests: 1n, bytesSent: 1n, records: 0n }, allowed: false },
    ],
    findings: [
      {
        kind: 'dataset-outside-contract',
        severity: 'warning',
        message: `read feeds/${HOSTILE}/`,
        partnerId: 'acme',
        dataset: `feeds/${HOSTILE}/`,
        counts: { requests: 1n, bytesSent: 1n, records: 0n },
      },
    ],
  });
  const base = reportInput();
  return buildReport({
    ...base,
    reason: HOSTILE,
    evaluations: [
      { ...ev, applications: [{ ...ev.applications[0]!, name: `App ${HOSTILE}` }] },
      ...base.evaluations.slice(1),
    ],
    registry: makeCappedRegistry({ partner: `Evil ${HOSTILE} Co` }),
    unattributed: {
      figures: [{ ...base.unattributed.figures[0]!, requester: stranger }],
      findings: [
        { ...base.unattributed.findings[0]!, requester: stranger, message: `${stranger} read data` },
      ],
    },
    input: {
      ...base.input,
      malformedSamples: [{ file: `logs/${HOSTILE}`, line: 3, reason: 'too-few-fields', text: HOSTILE }],
    },
    evidence: {
      ...base.evidence!,
      inputFiles: [{ name: `logs/${HOSTILE}`, fingerprint: HOSTILE }],
      queries: [
        { purpose: HOSTILE, engine: 'athena', sql: `SELECT '${HOSTILE}'`, queryExecutionId: HOSTILE },
      ],
      rerun: HOSTILE,
    },
  });
}

describe('renderReportHtml', () => {
  const html = renderReportHtml(makeReport());

  it('is one static page: no script, nothing loaded from elsewhere, a phone viewport, print rules', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain("default-src 'none'");
    expect(html).toMatch(/@media print\{[\s\S]*section\.partner\{break-before:page\}/);
  });

  it('is a pure function of the report', () => {
    expect(renderReportHtml(makeReport())).toBe(html);
  });

  it('draws a daily bar chart with the cap and a cumulative chart with the limit and the forecast', () => {
    expect(html.match(/<svg class="chart daily"/g)).toHaveLength(4);
    expect(html.match(/<svg class="chart cumulative"/g)).toHaveLength(3);
    expect(html).toContain('daily cap 80k');
    expect(html).toContain('limit 1M');
    expect(html).toContain('class="forecast-line"');
    // Three of Acme's days are over the request cap, one over the byte cap.
    expect(html.match(/<rect class="bar over"/g)).toHaveLength(4);
  });

  it('states the key figures as text', () => {
    for (const text of [
      '1,523,456',
      '1,000,000',
      '152.34%',
      '523,456',
      '209.38 EUR',
      '123.46 GB',
      '2,285,184',
      'escalation',
      'Acme Analytics',
      'Zeta Maps',
    ]) {
      expect(html).toContain(text);
    }
  });

  it('writes the fee calculation out line by line, showing the rounding', () => {
    expect(html).toContain('used 1,523,456 − monthly limit 1,000,000 = <strong>523,456 over</strong>');
    expect(html).toContain(
      '523,456 requests × 0.40 EUR ÷ 1,000 = 209.3824 EUR, rounded half up to 2 decimals: <strong>209.38 EUR</strong>',
    );
    expect(html).toContain('Total overage fees so far: <strong>209.38 EUR</strong>');
  });

  it('flags a report whose fee lines do not add up to the total', () => {
    const ev = makeDailyEvaluation();
    const report = makeReport({ evaluations: [{ ...ev, fees: { ...ev.fees, totalMinor: 99n } }] });
    expect(renderReportHtml(report)).toContain('this report is inconsistent');
    expect(html).not.toContain('this report is inconsistent');
  });

  it('lists applications, datasets (marking those outside the contract), findings and notices', () => {
    expect(html).toContain('<code>feeds/secret/</code>');
    expect(html).toContain('no: outside the contract');
    expect(html).toContain('Dataset outside the contract');
    expect(html).toContain('Unregistered principal');
    expect(html).toContain('arn:aws:iam::999988887777:user/stranger');
    expect(html).toContain('acme.2026-11.escalation.20261121T050000Z-abc123@partner-audit.local');
    expect(html).toMatch(/<span class="badge ok">sent<\/span>/);
  });

  it('gives the evidence to rerun the audit: window, manifest hash, files, queries, registry, code, run', () => {
    const report = makeReport();
    const files = reportInput().evidence!.inputFiles;
    expect(report.evidence?.inputManifestHash).toBe(inputManifestHash(files));
    const evidence = html.slice(html.indexOf('id="evidence"'));
    for (const text of [
      report.evidence!.inputManifestHash!,
      'a'.repeat(64),
      'logs/2026-11-02-00-00-00-C9D0E1F2',
      '5f0e7c8a-1111-2222-3333-444455556666',
      '10,485,760 bytes scanned',
      'SELECT requester, dataset, sum(requests) FROM rollup',
      report.registryHash,
      '0.1.0',
      '20261121T050000Z-abc123',
      '2026-11-01 to 2026-11-21',
      'partner-audit audit --logs logs --registry registry.yaml',
    ]) {
      expect(evidence).toContain(text);
    }
  });

  it('says so when a report has no evidence, and still renders a report written before caps and evidence', () => {
    const old = JSON.parse(reportToJson(makeReport())) as Record<string, unknown>;
    delete old['evidence'];
    for (const p of (old['partners'] as { periods: Record<string, unknown>[] }[])[0]!.periods) {
      delete p['dailyCaps'];
    }
    const parsed = ReportSchema.parse(old);
    const out = renderReportHtml(parsed);
    expect(out).toContain('records no input fingerprints');
    expect(out).toContain('the daily cap is not stated in this report');
    expect(out).toContain('--from 2026-11-01 --to 2026-11-21 --dry-run');
  });

  it('renders one partner only, without other partners, unregistered principals or raw log lines', () => {
    const one = renderReportHtml(makeReport(), { partnerId: 'zeta' });
    expect(one).toContain('Zeta Maps');
    expect(one).not.toContain('Acme Analytics');
    expect(one).not.toContain('stranger');
    expect(one).not.toContain('garbage');
    expect(one).toContain('id="evidence"');
  });

  it('throws ReportPartnerError for a partner the report does not have', () => {
    expect(() => renderReportHtml(makeReport(), { partnerId: 'nobody' })).toThrow(ReportPartnerError);
  });

  it('escapes every value from the registry, the logs and the run', () => {
    const out = renderReportHtml(hostileReport());
    expect(out).not.toMatch(/<script/i);
    expect(out).not.toMatch(/<img/i);
    expect(out).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;',
    );
    // In each place a hostile value can reach.
    const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;';
    for (const where of [
      `Evil ${escaped}`,
      `App ${escaped}`,
      `feeds/${escaped}`,
      `user/${escaped}`,
      `logs/${escaped}`,
      `SELECT &#39;${escaped}`,
    ]) {
      expect(out).toContain(where);
    }
  });
});

describe('exactTierAmount', () => {
  it.each([
    [523456n, '0.40', 1000n, '209.3824'],
    [1000n, '0.40', 1000n, '0.4'],
    [1n, '1', 3n, '0.33333333…'],
    [5_000_000_000n, '0.09', 1_000_000_000n, '0.45'],
    [1_234_567n, '12', 1n, '14,814,804'],
  ])('%s x %s / %s = %s', (units, price, per, text) => {
    expect(exactTierAmount(units, price, per)).toBe(text);
  });
});

describe('charts', () => {
  it.each([
    [0, 1],
    [0.7, 0.8],
    [9, 10],
    [101, 120],
    [110_000, 120_000],
    [2_100_000, 2_500_000],
  ])('niceCeil(%s) = %s', (x, nice) => {
    expect(niceCeil(x)).toBeCloseTo(nice);
  });

  it.each([
    [0, 'requests', '0'],
    [950, 'requests', '950'],
    [80_000, 'requests', '80k'],
    [1_250_000, 'requests', '1.25M'],
    [8e9, 'bytesSent', '8 GB'],
    [1.5e12, 'bytesSent', '1.5 TB'],
    [0, 'bytesSent', '0 B'],
  ] as const)('formatCompact(%s, %s) = %s', (v, metric, text) => {
    expect(formatCompact(v, metric)).toBe(text);
  });

  it('draws one bar per day with data, taller for more usage, red when over the cap', () => {
    const svg = dailyBarChart({
      metric: 'requests',
      label: 'x',
      cap: 100n,
      days: [
        { date: '2026-11-01', value: 50n, overCap: false },
        { date: '2026-11-02', value: 150n, overCap: true },
        { date: '2026-11-03', overCap: false },
      ],
    }).toString();
    const heights = [...svg.matchAll(/<rect class="bar[^"]*"[^>]*height="([\d.]+)"/g)].map((m) =>
      Number(m[1]),
    );
    expect(heights).toHaveLength(2);
    expect(heights[1]! / heights[0]!).toBeCloseTo(3, 1);
    expect(svg).toMatch(/<rect class="bar over"[^>]*fill="#c0392b"/);
    expect(svg).toContain('class="limit-line"');
  });

  it('draws no cap line without a cap, and no forecast once the period is complete', () => {
    const daily = dailyBarChart({ metric: 'requests', label: 'x', cap: null, days: [] }).toString();
    expect(daily).not.toContain('limit-line');
    const cum = cumulativeChart({
      metric: 'requests',
      label: 'x',
      dates: ['2026-11-01', '2026-11-02'],
      daily: [1n, 2n],
      limit: 2n,
      forecast: null,
    }).toString();
    expect(cum).not.toContain('forecast-line');
    expect(cum).toContain('limit-line');
  });

  it('escapes the label', () => {
    const svg = dailyBarChart({ metric: 'requests', label: HOSTILE, cap: null, days: [] }).toString();
    expect(svg).not.toContain('<script');
    expect(svg).toContain('aria-label="&lt;script&gt;');
  });
});

describe('input manifest hash', () => {
  const files = [
    { name: 'b.log', fingerprint: '2'.repeat(64) },
    { name: 'a.log', fingerprint: '1'.repeat(64), bytes: 5 },
  ];

  it('is the sha256 of sorted "<fingerprint>  <name>" lines, independent of the order given', () => {
    expect(inputManifestText(files)).toBe(`${'1'.repeat(64)}  a.log\n${'2'.repeat(64)}  b.log\n`);
    expect(inputManifestHash(files)).toBe(inputManifestHash([...files].reverse()));
    expect(inputManifestHash(files)).not.toBe(inputManifestHash([files[0]!]));
  });
});

describe('buildReport with the registry', () => {
  it('states the daily caps of the contract in force when the registry is given, else null', () => {
    const withCaps = makeReport().partners[0]!.periods[0]!;
    expect(withCaps.dailyCaps).toEqual({ requests: '80000', bytesSent: '8000000000', records: null });
    expect(withCaps.applications[0]!.dailyCaps).toEqual({ requests: null, bytesSent: null, records: null });
    const without = makeReport({ registry: undefined, evaluations: [makeEvaluation()] });
    expect(without.partners[0]!.periods[0]!.dailyCaps).toBeNull();
  });
});

describe('renderReportHtml: settling periods', () => {
  it('shows a closed period that is not final yet as settling, with the time it becomes final', () => {
    const html = renderReportHtml(
      makeReport({
        evaluations: [
          makeEvaluation({ complete: true, final: false, finalAfterMs: Date.parse('2026-12-03T23:00:00Z') }),
        ],
      }),
    );
    expect(html).toContain('settling: late-delivered logs may still count; final after 2026-12-04 00:00');
    expect(html).not.toContain('final figures');
    expect(html).toContain('Access logs delivered late may still add to the figures');
  });

  it('shows a final period as final figures', () => {
    const html = renderReportHtml(
      makeReport({
        evaluations: [
          makeEvaluation({ complete: true, final: true, finalAfterMs: Date.parse('2026-12-03T23:00:00Z') }),
        ],
      }),
    );
    expect(html).toContain('final figures');
    expect(html).not.toContain('settling:');
  });
});
