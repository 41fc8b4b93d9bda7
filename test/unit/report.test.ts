import { describe, expect, it } from 'vitest';
import {
  type BuildReportInput,
  buildReport,
  CSV_COLUMNS,
  csvTextCell,
  ReportSchema,
  reportJsonSchema,
  reportToCsv,
} from '../../functions/domain/report.js';
import { makeEvaluation, makeInputSummary } from '../support/notice-fixtures.js';

function input(over: Partial<BuildReportInput> = {}): BuildReportInput {
  return {
    runId: '20261121T050000Z-abc',
    generatedAt: new Date('2026-11-21T05:00:00Z'),
    engine: 'duckdb',
    window: { from: '2026-11-01', to: '2026-11-21' },
    dryRun: false,
    registryHash: 'sha256:0f',
    codeVersion: '0.1.0',
    input: makeInputSummary(),
    evaluations: [makeEvaluation()],
    unattributed: {
      figures: [
        {
          requester: 'arn:aws:iam::999988887777:user/stranger',
          accessPoint: '-',
          counts: { requests: 5n, bytesSent: 2n ** 60n, records: 0n },
          datasets: [
            {
              dataset: 'feeds/weather/',
              counts: { requests: 5n, bytesSent: 2n ** 60n, records: 0n },
              allowed: false,
            },
          ],
          touchedPartnerData: true,
        },
      ],
      findings: [
        {
          kind: 'unregistered-principal',
          severity: 'critical',
          message: 'An unregistered principal read partner data.',
          requester: 'arn:aws:iam::999988887777:user/stranger',
          counts: { requests: 5n, bytesSent: 2n ** 60n, records: 0n },
        },
      ],
    },
    notices: [
      {
        key: { partnerId: 'acme', periodId: '2026-11', level: 'escalation' },
        status: 'sent',
        covers: ['warning'],
        messageId: 'm1',
        file: 'outbox/acme-2026-11-escalation.eml',
      },
      {
        key: { partnerId: 'zeta', periodId: '2026-11', level: 'warning' },
        status: 'failed',
        error: 'throttled',
      },
    ],
    noticeDiffs: [
      {
        key: { partnerId: 'acme', periodId: '2026-10', level: 'overage' },
        sentAt: '2026-10-20T05:00:00.000Z',
        changes: [{ path: 'metrics.requests.used', sent: '10', current: '12', delta: '2' }],
      },
    ],
    ...over,
  };
}

describe('buildReport', () => {
  it('builds a report that the schema validates (also after a JSON round trip)', () => {
    const report = buildReport(input());
    expect(ReportSchema.safeParse(report).success).toBe(true);
    expect(ReportSchema.safeParse(JSON.parse(JSON.stringify(report))).success).toBe(true);
  });

  it('writes bigints as decimal strings, money as minor units plus a decimal, utilisation with 2 decimals', () => {
    const report = buildReport(input());
    const period = report.partners[0]!.periods[0]!;
    expect(period.totals.bytesSent).toBe('123456789012');
    expect(period.fees.total).toEqual({ currency: 'EUR', minor: '20938', amount: '209.38' });
    expect(period.metrics[0]!.utilisation).toBe('152.34');
    expect(period.metrics[1]!.utilisation).toBe('24.69');
    expect(period.metrics[0]!.chargedOver).toBe('523456');
    expect(report.unattributed.figures[0]!.counts.bytesSent).toBe('1152921504606846976');
    expect(period.levels.map((l) => l.level)).toEqual(['warning', 'overage', 'escalation']);
    expect(period.currentLevel).toBe('escalation');
    expect(period.forecast?.metrics[0]).toMatchObject({ metric: 'requests', forecast: '2285184' });
  });

  it('files each notice under its partner period, and keeps every notice at the top', () => {
    const report = buildReport(input());
    expect(report.partners[0]!.periods[0]!.notices).toEqual([
      {
        partnerId: 'acme',
        periodId: '2026-11',
        level: 'escalation',
        status: 'sent',
        covers: ['warning'],
        messageId: 'm1',
        file: 'outbox/acme-2026-11-escalation.eml',
        error: null,
      },
    ]);
    expect(report.notices).toHaveLength(2);
    expect(report.summary.notices).toEqual({ sent: 1, failed: 1 });
  });

  it('summarises fees per currency, partners over a limit, findings and input completeness', () => {
    const report = buildReport(input());
    expect(report.summary).toMatchObject({
      partners: 1,
      periods: 1,
      fees: [{ currency: 'EUR', minor: '20938', amount: '209.38' }],
      partnersOverLimit: ['acme'],
      findings: 2,
      inputComplete: false,
    });
  });

  it('has no forecast once the period is complete', () => {
    const report = buildReport(input({ evaluations: [makeEvaluation({ complete: true })] }));
    expect(report.partners[0]!.periods[0]!.forecast).toBeNull();
  });

  it('groups several periods of one partner, oldest first', () => {
    const nov = makeEvaluation();
    const oct = makeEvaluation({
      period: { ...nov.period, id: '2026-10', fromDate: '2026-10-01', toDate: '2026-11-01' },
    });
    const report = buildReport(input({ evaluations: [nov, oct] }));
    expect(report.partners).toHaveLength(1);
    expect(report.partners[0]!.periods.map((p) => p.periodId)).toEqual(['2026-10', '2026-11']);
  });

  it('keeps unattributed usage as its own section', () => {
    const report = buildReport(input());
    expect(report.unattributed.figures[0]!.requester).toBe('arn:aws:iam::999988887777:user/stranger');
    expect(report.unattributed.findings[0]!.kind).toBe('unregistered-principal');
    expect(report.noticeDiffs[0]).toMatchObject({
      level: 'overage',
      messageId: null,
      changes: [{ delta: '2' }],
    });
  });

  it('rejects a report whose figures are not decimal strings', () => {
    const report = buildReport(input());
    const broken = JSON.parse(JSON.stringify(report));
    broken.partners[0].periods[0].totals.requests = 12;
    expect(ReportSchema.safeParse(broken).success).toBe(false);
  });
});

describe('reportJsonSchema', () => {
  it('is a JSON Schema object with the report sections as required properties', () => {
    const schema = reportJsonSchema();
    expect(schema['type']).toBe('object');
    const props = Object.keys(schema['properties'] as object);
    for (const key of [
      'runId',
      'generatedAt',
      'engine',
      'window',
      'input',
      'partners',
      'unattributed',
      'notices',
      'noticeDiffs',
      'summary',
    ]) {
      expect(props).toContain(key);
    }
    expect(schema['required']).toEqual(expect.arrayContaining(['partners', 'unattributed', 'input']));
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});

describe('reportToCsv', () => {
  it('writes one row per partner, period and application, with a header and CRLF line ends', () => {
    const csv = reportToCsv(buildReport(input()));
    expect(csv).toBe(
      `${CSV_COLUMNS.join(',')}\r\nacme,Acme Analytics,2026-11,ingest,Ingest,1523456,123456789012,0\r\n`,
    );
  });

  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\r\nlines', '"two\r\nlines"'],
    ['=HYPERLINK("http://evil")', `"'=HYPERLINK(""http://evil"")"`],
    ['+1', "'+1"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tcmd', "'\tcmd"],
  ])('quotes and guards %j as %j', (value, cell) => {
    expect(csvTextCell(value)).toBe(cell);
  });

  it('guards formula-like application names in the CSV itself', () => {
    const ev = makeEvaluation();
    const report = buildReport(
      input({
        evaluations: [
          makeEvaluation({ applications: [{ ...ev.applications[0]!, name: '=cmd|"/c calc"!A1' }] }),
        ],
      }),
    );
    expect(reportToCsv(report).split('\r\n')[1]).toBe(
      `acme,Acme Analytics,2026-11,ingest,"'=cmd|""/c calc""!A1",1523456,123456789012,0`,
    );
  });
});

describe('buildReport: when a period is final', () => {
  it('states final and finalAfter per period, valid against the schema', () => {
    const report = buildReport(
      input({
        evaluations: [
          makeEvaluation({ complete: true, final: false, finalAfterMs: Date.parse('2026-12-03T23:00:00Z') }),
        ],
      }),
    );
    const period = report.partners[0]?.periods[0];
    expect(period?.final).toBe(false);
    expect(period?.finalAfter).toBe('2026-12-03T23:00:00.000Z');
    expect(ReportSchema.safeParse(JSON.parse(JSON.stringify(report))).success).toBe(true);
    const schema = JSON.stringify(reportJsonSchema());
    expect(schema).toContain('"finalAfter"');
  });

  it('leaves both out where the run had no settling rule (reports as before)', () => {
    const period = buildReport(input()).partners[0]?.periods[0];
    expect(period && 'final' in period).toBe(false);
    expect(period && 'finalAfter' in period).toBe(false);
  });
});
