/**
 * A report as a real run would give it, for the HTML report tests: the notice fixtures' November 2026
 * evaluation with twenty days of daily usage that add up to its totals, a registry with daily caps,
 * a second partner, unregistered usage and evidence.
 */
import type { DailyFigure, PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { type Registry, RegistrySchema } from '../../functions/domain/registry.js';
import { type BuildReportInput, buildReport, type Report } from '../../functions/domain/report.js';
import { addDays } from '../../functions/domain/time.js';
import type { Metric, UsageCounts } from '../../functions/domain/usage.js';
import { makeEvaluation, makeInputSummary } from './notice-fixtures.js';

export const DAILY_CAPS = { requests: 80_000n, bytesSent: 8_000_000_000n };

export function makeCappedRegistry(names: Partial<{ partner: string; app: string }> = {}): Registry {
  return RegistrySchema.parse({
    version: 1,
    provider: {
      name: 'Northwind Data',
      noticeFrom: 'Data Partnerships <partners@northwind.example>',
      contactEmail: 'compliance@northwind.example',
    },
    partners: [
      {
        id: 'acme',
        name: names.partner ?? 'Acme Analytics',
        accountOwners: [{ email: 'jane@acme.example' }],
        timeZone: 'Europe/Berlin',
        applications: [
          { id: 'ingest', name: names.app ?? 'Ingest', principals: [{ account: '111122223333' }] },
        ],
        contracts: [
          {
            id: 'acme-2026',
            effectiveFrom: '2026-01-01',
            currency: 'EUR',
            datasets: ['feeds/weather/'],
            limits: {
              monthly: { requests: 1000000, bytesSent: 500000000000 },
              daily: { requests: 80000, bytesSent: 8000000000 },
            },
            overage: { requests: { per: 1000, tiers: [{ price: '0.40' }] } },
          },
        ],
      },
      {
        id: 'zeta',
        name: 'Zeta Maps',
        accountOwners: [{ email: 'ops@zeta.example' }],
        timeZone: 'UTC',
        applications: [{ id: 'tiles', name: 'Tiles', principals: [{ account: '444455556666' }] }],
        contracts: [
          {
            id: 'zeta-2026',
            effectiveFrom: '2026-01-01',
            currency: 'USD',
            datasets: ['feeds/maps/'],
            limits: { monthly: { requests: 5000000 } },
          },
        ],
      },
    ],
  });
}

/** Twenty days of usage from 1 November that add up exactly to `total`, days 6 and 13 the busiest. */
export function spreadDaily(total: UsageCounts, days: number, from: string): DailyFigure[] {
  const weights = Array.from({ length: days }, (_, i) =>
    BigInt(90 + ((i * 37) % 23) + (i % 7 === 5 ? 40 : 0)),
  );
  const sum = weights.reduce((a, b) => a + b, 0n);
  const share = (metric: Metric) => {
    const parts = weights.map((w) => (total[metric] * w) / sum);
    const rest = total[metric] - parts.reduce((a, b) => a + b, 0n);
    parts[parts.length - 1] = (parts[parts.length - 1] ?? 0n) + rest;
    return parts;
  };
  const req = share('requests');
  const bytes = share('bytesSent');
  const rec = share('records');
  return weights.map((_, i) => {
    const counts = { requests: req[i] ?? 0n, bytesSent: bytes[i] ?? 0n, records: rec[i] ?? 0n };
    const overCap: Metric[] = [];
    if (counts.requests > DAILY_CAPS.requests) overCap.push('requests');
    if (counts.bytesSent > DAILY_CAPS.bytesSent) overCap.push('bytesSent');
    return { date: addDays(from, i), counts, overCap };
  });
}

export function makeDailyEvaluation(over: Partial<PartnerPeriodEvaluation> = {}): PartnerPeriodEvaluation {
  const base = makeEvaluation();
  const daily = spreadDaily(base.totals, 20, '2026-11-01');
  const daysOverCap = daily.filter((d) => d.overCap.length > 0).length;
  return makeEvaluation({
    daily,
    daysOverCap,
    applications: [{ ...base.applications[0]!, daily, daysOverCap }],
    ...over,
  });
}

export function makeZetaEvaluation(): PartnerPeriodEvaluation {
  const base = makeEvaluation();
  const totals = { requests: 1_200_000n, bytesSent: 45_000_000_000n, records: 0n };
  const daily = spreadDaily(totals, 20, '2026-11-01').map((d) => ({ ...d, overCap: [] }));
  return {
    ...base,
    partnerId: 'zeta',
    partnerName: 'Zeta Maps',
    period: { ...base.period, timeZone: 'UTC' },
    contractId: 'zeta-2026',
    currency: 'USD',
    totals,
    metrics: [
      {
        metric: 'requests',
        used: totals.requests,
        limit: 5_000_000n,
        utilisationBp: 2400n,
        over: 0n,
        forecast: 1_800_000n,
        forecastOver: 0n,
        feeMinor: 0n,
        priced: false,
      },
    ],
    applications: [
      { applicationId: 'tiles', name: 'Tiles', counts: totals, metrics: [], daily, daysOverCap: 0 },
    ],
    datasets: [{ dataset: 'feeds/maps/', counts: totals, allowed: true }],
    daily,
    daysOverCap: 0,
    fees: { totalMinor: 0n, lines: [] },
    levels: [],
    findings: [],
  };
}

export function reportInput(over: Partial<BuildReportInput> = {}): BuildReportInput {
  const stranger = 'arn:aws:iam::999988887777:user/stranger';
  return {
    runId: '20261121T050000Z-abc123',
    generatedAt: '2026-11-21T05:00:00.000Z',
    engine: 'duckdb',
    window: { from: '2026-11-01', to: '2026-11-21' },
    dryRun: false,
    registryHash: 'b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78',
    codeVersion: '0.1.0',
    input: makeInputSummary(),
    evaluations: [makeDailyEvaluation(), makeZetaEvaluation()],
    registry: makeCappedRegistry(),
    unattributed: {
      figures: [
        {
          requester: stranger,
          accessPoint: '-',
          counts: { requests: 57n, bytesSent: 1_234_567n, records: 0n },
          datasets: [
            {
              dataset: 'feeds/weather/',
              counts: { requests: 57n, bytesSent: 1_234_567n, records: 0n },
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
          message: `An unregistered principal ${stranger} read partner data (57 requests).`,
          requester: stranger,
          counts: { requests: 57n, bytesSent: 1_234_567n, records: 0n },
        },
      ],
    },
    notices: [
      {
        key: { partnerId: 'acme', periodId: '2026-11', level: 'escalation' },
        status: 'sent',
        covers: ['warning', 'overage'],
        messageId: 'acme.2026-11.escalation.20261121T050000Z-abc123@partner-audit.local',
        file: 'audit-output/outbox/acme-2026-11-escalation.eml',
      },
    ],
    noticeDiffs: [],
    evidence: {
      inputFiles: [
        { name: 'logs/2026-11-01-00-00-00-A1B2C3D4', fingerprint: 'a'.repeat(64), bytes: 1024 },
        { name: 'logs/2026-11-01-01-00-00-E5F6A7B8', fingerprint: 'b'.repeat(64), bytes: 2048 },
        { name: 'logs/2026-11-02-00-00-00-C9D0E1F2', fingerprint: 'c'.repeat(64), bytes: 1024 },
      ],
      queries: [
        {
          purpose: 'usage 2026-11-01..2026-11-21',
          engine: 'athena',
          sql: 'SELECT requester, dataset, sum(requests) FROM rollup WHERE slot_start >= ? AND slot_start < ? GROUP BY 1, 2',
          params: ["TIMESTAMP '2026-10-31 23:00:00'", "TIMESTAMP '2026-11-20 23:00:00'"],
          queryExecutionId: '5f0e7c8a-1111-2222-3333-444455556666',
          bytesScanned: 10_485_760n,
        },
      ],
      registrySource: 'registry.yaml',
      rerun:
        'partner-audit audit --logs logs --registry registry.yaml --from 2026-11-01 --to 2026-11-21 --dry-run',
    },
    ...over,
  };
}

export function makeReport(over: Partial<BuildReportInput> = {}): Report {
  return buildReport(reportInput(over));
}
