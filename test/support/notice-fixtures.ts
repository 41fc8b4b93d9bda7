/**
 * Hand-built fixtures for notices and reports: a registry with one partner and an evaluation of its
 * November 2026 period, written out in full so the tests do not depend on the overage rules.
 */
import type {
  ApplicationFigure,
  LevelReached,
  MetricFigure,
  PartnerPeriodEvaluation,
} from '../../functions/domain/evaluation.js';
import { type Partner, type Registry, RegistrySchema } from '../../functions/domain/registry.js';
import { monthlyPeriod } from '../../functions/domain/time.js';
import type { InputSummary, OutgoingMessage } from '../../functions/ports.js';
import { composeNotice } from '../../functions/render/notice.js';

export function makeRegistry(partner: Partial<{ name: string; appName: string }> = {}): Registry {
  return RegistrySchema.parse({
    version: 1,
    provider: {
      name: 'Northwind Data',
      noticeFrom: 'Data Partnerships <partners@northwind.example>',
      contactEmail: 'compliance@northwind.example',
      responseDays: 14,
    },
    partners: [
      {
        id: 'acme',
        name: partner.name ?? 'Acme Analytics',
        accountOwners: [{ name: 'Jane Doe', email: 'jane@acme.example' }, { email: 'ops@acme.example' }],
        internalContacts: [{ name: 'Account Manager', email: 'am@northwind.example' }],
        timeZone: 'Europe/Berlin',
        applications: [
          { id: 'ingest', name: partner.appName ?? 'Ingest', principals: [{ account: '111122223333' }] },
        ],
        contracts: [
          {
            id: 'acme-2026',
            effectiveFrom: '2026-01-01',
            currency: 'EUR',
            datasets: ['feeds/weather/'],
            limits: { monthly: { requests: 1000000, bytesSent: 500000000000 } },
          },
        ],
      },
    ],
  });
}

export function partnerOf(registry: Registry): Partner {
  return registry.partners[0]!;
}

const level = (name: string, percent: number, bp: bigint): LevelReached => ({
  level: name,
  percent,
  metric: 'requests',
  utilisationBp: bp,
});

export const LEVELS = {
  warning: level('warning', 80, 15234n),
  overage: level('overage', 100, 15234n),
  escalation: level('escalation', 150, 15234n),
};

export function makeEvaluation(over: Partial<PartnerPeriodEvaluation> = {}): PartnerPeriodEvaluation {
  const period = monthlyPeriod('2026-11-01', 'Europe/Berlin');
  const requests: MetricFigure = {
    metric: 'requests',
    used: 1523456n,
    limit: 1000000n,
    utilisationBp: 15234n,
    over: 523456n,
    forecast: 2285184n,
    forecastOver: 1285184n,
    feeMinor: 20938n,
    priced: true,
  };
  const bytes: MetricFigure = {
    metric: 'bytesSent',
    used: 123456789012n,
    limit: 500000000000n,
    utilisationBp: 2469n,
    over: 0n,
    forecast: 185185183518n,
    forecastOver: 0n,
    feeMinor: 0n,
    priced: false,
  };
  const app: ApplicationFigure = {
    applicationId: 'ingest',
    name: 'Ingest',
    counts: { requests: 1523456n, bytesSent: 123456789012n, records: 0n },
    metrics: [],
    daily: [],
    daysOverCap: 1,
  };
  return {
    partnerId: 'acme',
    partnerName: 'Acme Analytics',
    period,
    contractId: 'acme-2026',
    currency: 'EUR',
    asOfMs: Date.UTC(2026, 10, 20, 23, 0),
    complete: false,
    totals: { requests: 1523456n, bytesSent: 123456789012n, records: 0n },
    metrics: [requests, bytes],
    applications: [app],
    datasets: [
      {
        dataset: 'feeds/weather/',
        counts: { requests: 1523000n, bytesSent: 123456000000n, records: 0n },
        allowed: true,
      },
      {
        dataset: 'feeds/secret/',
        counts: { requests: 456n, bytesSent: 789012n, records: 0n },
        allowed: false,
      },
    ],
    daily: [
      {
        date: '2026-11-05',
        counts: { requests: 90000n, bytesSent: 1000n, records: 0n },
        overCap: ['requests'],
      },
    ],
    daysOverCap: 1,
    fees: {
      totalMinor: 20938n,
      lines: [
        { metric: 'requests', tier: 1, units: 523456n, price: '0.40', per: 1000n, amountMinor: 20938n },
      ],
    },
    levels: [LEVELS.warning, LEVELS.overage, LEVELS.escalation],
    findings: [
      {
        kind: 'dataset-outside-contract',
        severity: 'warning',
        message: 'Acme Analytics read feeds/secret/, which its contract does not cover.',
        partnerId: 'acme',
        applicationId: 'ingest',
        dataset: 'feeds/secret/',
        counts: { requests: 456n, bytesSent: 789012n, records: 0n },
      },
    ],
    ...over,
  };
}

export function makeInputSummary(over: Partial<InputSummary> = {}): InputSummary {
  return {
    files: 3,
    filesSkipped: 1,
    bytes: 4096,
    lines: 40,
    parsedLines: 38,
    malformedLines: 2,
    malformedByReason: { 'too-few-fields': 2 },
    malformedSamples: [{ file: 'logs/a.log', line: 7, reason: 'too-few-fields', text: 'garbage' }],
    unreadableFiles: [],
    ...over,
  };
}

/** acme's notice of `level` for 2026-11, composed as run r1 sends it: a message for mailer tests. */
export function composeSampleNotice(level = 'escalation'): Promise<OutgoingMessage> {
  const registry = makeRegistry();
  return composeNotice({
    registry,
    partner: partnerOf(registry),
    evaluation: makeEvaluation(),
    level,
    messageId: `acme.2026-11.${level}.r1@partner-audit.example`,
    date: new Date('2026-11-21T05:00:00Z'),
    reportRef: 'run r1',
    evidenceRef: 'report.json',
  });
}
