import { describe, expect, it } from 'vitest';
import { buildAttributor } from '../../functions/domain/attribution.js';
import {
  evaluatePartnerPeriod,
  evaluateUnattributed,
  forecastOf,
  reachesPercent,
  utilisationBp,
} from '../../functions/domain/evaluate.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import { monthlyPeriod, type Period, startOfLocalDate } from '../../functions/domain/time.js';
import { SLOT_MS, type StatusClass, type UsageRow } from '../../functions/domain/usage.js';

const ACCT = '111122223333';
const APP_A = `arn:aws:iam::${ACCT}:user/app-a`;
const APP_B = `arn:aws:iam::${ACCT}:user/app-b`;
const STRANGER = 'arn:aws:iam::999988887777:user/stranger';

interface Setup {
  timeZone?: string;
  contracts?: object[];
  settings?: object;
  /** Extra partners (for unattributed usage that touches another partner's data). */
  others?: object[];
}

const baseContract = {
  id: 'c1',
  effectiveFrom: '2020-01-01',
  currency: 'USD',
  datasets: ['feeds/weather/'],
};

function makeRegistry(s: Setup = {}): Registry {
  return parseRegistry(
    JSON.stringify({
      version: 1,
      provider: { name: 'Provider', noticeFrom: 'p@provider.example', contactEmail: 'p@provider.example' },
      ...(s.settings ? { settings: s.settings } : {}),
      partners: [
        {
          id: 'acme',
          name: 'Acme',
          timeZone: s.timeZone ?? 'UTC',
          accountOwners: [{ email: 'o@acme.example' }],
          applications: [
            { id: 'app-b', name: 'B', principals: [{ arn: APP_B }] },
            { id: 'app-a', name: 'A', principals: [{ arn: APP_A }] },
          ],
          contracts: s.contracts ?? [baseContract],
        },
        ...(s.others ?? []),
      ],
    }),
    'test',
  );
}

function row(
  slotStart: number,
  requests: bigint,
  over: Partial<Omit<UsageRow, 'slotStart' | 'requests'>> = {},
): UsageRow {
  return {
    slotStart,
    bucket: 'data',
    requester: APP_A,
    accessPoint: '-',
    dataset: 'feeds/weather/',
    operation: 'REST.GET.OBJECT',
    statusClass: '2xx' as StatusClass,
    bytesSent: 0n,
    records: 0n,
    ...over,
    requests,
  };
}

function evaluate(
  registry: Registry,
  period: Period,
  rows: UsageRow[],
  asOfMs = period.endMs,
): PartnerPeriodEvaluation {
  const partner = registry.partners[0]!;
  const result = evaluatePartnerPeriod({
    registry,
    partner,
    period,
    rows,
    asOfMs,
    attribute: buildAttributor(registry),
  });
  if (!result) throw new Error('no contract in force');
  return result;
}

const requestsOf = (e: PartnerPeriodEvaluation) => e.metrics.find((m) => m.metric === 'requests')!;

describe('evaluatePartnerPeriod: the period is cut at local midnight', () => {
  it.each([
    {
      zone: 'America/New_York',
      month: '2026-01-15',
      startUtc: '2026-01-01T05:00:00Z',
      endUtc: '2026-02-01T05:00:00Z',
    },
    {
      zone: 'Asia/Kolkata',
      month: '2026-01-15',
      startUtc: '2025-12-31T18:30:00Z',
      endUtc: '2026-01-31T18:30:00Z',
    },
    {
      zone: 'America/New_York',
      month: '2026-03-15',
      startUtc: '2026-03-01T05:00:00Z',
      endUtc: '2026-04-01T04:00:00Z',
    },
    {
      zone: 'Europe/Berlin',
      month: '2026-10-15',
      startUtc: '2026-09-30T22:00:00Z',
      endUtc: '2026-10-31T23:00:00Z',
    },
  ])(
    'in $zone for $month: counts [$startUtc, $endUtc) and nothing either side',
    ({ zone, month, startUtc, endUtc }) => {
      const period = monthlyPeriod(month, zone);
      const start = Date.parse(startUtc);
      const end = Date.parse(endUtc);
      expect([period.startMs, period.endMs]).toEqual([start, end]);
      const e = evaluate(makeRegistry({ timeZone: zone }), period, [
        row(start - SLOT_MS, 1n),
        row(start, 10n),
        row(end - SLOT_MS, 100n),
        row(end, 1000n),
      ]);
      expect(e.totals.requests).toBe(110n);
      // The first slot lands on the 1st, the last one on the last local day, in the partner's zone.
      expect(e.daily[0]).toMatchObject({ date: period.fromDate, counts: { requests: 10n } });
      expect(e.daily.at(-1)).toMatchObject({ counts: { requests: 100n } });
      expect(e.daily.at(-1)!.date < period.toDate).toBe(true);
    },
  );

  it('lists every local day of a DST month once, 31 for March in New York', () => {
    const period = monthlyPeriod('2026-03-01', 'America/New_York');
    const e = evaluate(makeRegistry({ timeZone: 'America/New_York' }), period, []);
    expect(e.daily.map((d) => d.date)).toHaveLength(31);
    expect(e.daily[7]!.date).toBe('2026-03-08');
    expect(period.endMs - period.startMs).toBe(743 * 3600_000);
  });

  it('puts the slot at 23:45 local into that day and the slot at 00:00 into the next, in +05:30', () => {
    const period = monthlyPeriod('2026-01-01', 'Asia/Kolkata');
    const midnight = startOfLocalDate('2026-01-10', 'Asia/Kolkata');
    const e = evaluate(makeRegistry({ timeZone: 'Asia/Kolkata' }), period, [
      row(midnight - SLOT_MS, 1n),
      row(midnight, 2n),
    ]);
    expect(e.daily.find((d) => d.date === '2026-01-09')!.counts.requests).toBe(1n);
    expect(e.daily.find((d) => d.date === '2026-01-10')!.counts.requests).toBe(2n);
  });
});

describe('evaluatePartnerPeriod: what counts', () => {
  const period = monthlyPeriod('2026-02-01', 'UTC');
  const t = period.startMs;

  it('counts only the contract operations and statuses, by the default GET 2xx/3xx', () => {
    const e = evaluate(makeRegistry(), period, [
      row(t, 1n),
      row(t, 2n, { statusClass: '3xx' }),
      row(t, 4n, { statusClass: '4xx' }),
      row(t, 8n, { statusClass: '5xx' }),
      row(t, 16n, { operation: 'REST.HEAD.OBJECT' }),
      row(t, 32n, { operation: 'REST.GET.OBJECT_TAGGING' }),
    ]);
    expect(e.totals.requests).toBe(3n);
  });

  it('matches counted operations ending in * as prefixes', () => {
    const reg = makeRegistry({
      contracts: [{ ...baseContract, counted: { operations: ['REST.GET.*'], statuses: ['2xx'] } }],
    });
    const e = evaluate(reg, period, [
      row(t, 1n),
      row(t, 2n, { operation: 'REST.GET.OBJECT_TAGGING' }),
      row(t, 4n, { operation: 'REST.HEAD.OBJECT' }),
      row(t, 8n, { statusClass: '3xx' }),
    ]);
    expect(e.totals.requests).toBe(3n);
  });

  it("ignores other requesters' rows and rows past the as-of instant", () => {
    const asOf = t + 10 * SLOT_MS + 1;
    const e = evaluate(
      makeRegistry(),
      period,
      [row(t, 1n), row(t, 2n, { requester: STRANGER }), row(t + 10 * SLOT_MS, 4n), row(t + 11 * SLOT_MS, 8n)],
      asOf,
    );
    expect(e.totals.requests).toBe(5n);
    expect(e.complete).toBe(false);
    expect(e.asOfMs).toBe(asOf);
    expect(e.daily).toHaveLength(1);
  });

  it('reports as-of as the period end once the data passes it, and the figures as complete', () => {
    const e = evaluate(makeRegistry(), period, [], period.endMs + 86_400_000);
    expect(e.asOfMs).toBe(period.endMs);
    expect(e.complete).toBe(true);
  });

  it('returns undefined when no contract is in force on the first local day', () => {
    const reg = makeRegistry({ contracts: [{ ...baseContract, effectiveFrom: '2026-02-02' }] });
    const partner = reg.partners[0]!;
    const out = evaluatePartnerPeriod({
      registry: reg,
      partner,
      period,
      rows: [row(t + 86_400_000 * 2, 1n)],
      asOfMs: period.endMs,
      attribute: buildAttributor(reg),
    });
    expect(out).toBeUndefined();
  });

  it('lets the version in force on the first local day govern the whole period', () => {
    const reg = makeRegistry({
      contracts: [
        { ...baseContract, id: 'old', effectiveTo: '2026-02-15', limits: { monthly: { requests: 100 } } },
        { ...baseContract, id: 'new', effectiveFrom: '2026-02-15', limits: { monthly: { requests: 5 } } },
      ],
    });
    const e = evaluate(reg, period, [row(t + 20 * 86_400_000, 50n)]);
    expect(e.contractId).toBe('old');
    expect(requestsOf(e)).toMatchObject({ limit: 100n, over: 0n });
  });

  it('marks datasets outside the contract, allows bucket operations, and raises one finding per dataset', () => {
    const reg = makeRegistry({
      contracts: [{ ...baseContract, counted: { operations: ['REST.GET.*'], statuses: ['2xx'] } }],
    });
    const e = evaluate(reg, period, [
      row(t, 1n, { dataset: 'feeds/weather/' }),
      row(t, 2n, { dataset: 'feeds/secret/' }),
      row(t, 4n, { dataset: 'feeds/' }),
      row(t, 8n, { dataset: '-', operation: 'REST.GET.BUCKET' }),
      row(t + SLOT_MS, 16n, { dataset: 'feeds/secret/' }),
    ]);
    expect(e.datasets.map((d) => [d.dataset, d.allowed, d.counts.requests])).toEqual([
      ['-', true, 8n],
      ['feeds/', false, 4n],
      ['feeds/secret/', false, 18n],
      ['feeds/weather/', true, 1n],
    ]);
    const found = e.findings.filter((f) => f.kind === 'dataset-outside-contract');
    expect(found.map((f) => [f.dataset, f.counts.requests, f.severity])).toEqual([
      ['feeds/', 4n, 'critical'],
      ['feeds/secret/', 18n, 'critical'],
    ]);
    // Off-contract reads were still served, so they count toward the limits.
    expect(e.totals.requests).toBe(31n);
  });
});

describe('evaluatePartnerPeriod: limits, fees and daily caps', () => {
  const period = monthlyPeriod('2026-02-01', 'UTC');
  const t = period.startMs;
  const day = 86_400_000;
  const priced = {
    ...baseContract,
    limits: { monthly: { requests: 1000 }, daily: { requests: 600 } },
    applicationLimits: { 'app-a': { monthly: { requests: 300 }, daily: { requests: 250 } } },
    overage: { requests: { per: 1, tiers: [{ price: '0.10' }] } },
  };

  it('charges an application over its own limit even when the partner is under its limit', () => {
    const e = evaluate(makeRegistry({ contracts: [priced] }), period, [row(t, 400n, { requester: APP_A })]);
    expect(requestsOf(e)).toMatchObject({ over: 0n, chargedOver: 0n, feeMinor: 0n });
    expect(e.fees.totalMinor).toBe(1000n);
    expect(e.fees.lines).toEqual([expect.objectContaining({ applicationId: 'app-a', units: 100n })]);
  });

  it('charges nothing at exactly the limit', () => {
    const e = evaluate(makeRegistry({ contracts: [priced] }), period, [
      row(t, 300n, { requester: APP_A }),
      row(t, 700n, { requester: APP_B }),
    ]);
    expect(requestsOf(e)).toMatchObject({ used: 1000n, over: 0n, utilisationBp: 10000n, feeMinor: 0n });
    expect(e.fees).toEqual({ totalMinor: 0n, lines: [] });
  });

  it('reports over but no fee for a metric that has a limit and no price', () => {
    const reg = makeRegistry({ contracts: [{ ...baseContract, limits: { monthly: { bytesSent: 10 } } }] });
    const e = evaluate(reg, period, [row(t, 1n, { bytesSent: 15n })]);
    expect(e.metrics.find((m) => m.metric === 'bytesSent')).toMatchObject({
      over: 5n,
      feeMinor: 0n,
      priced: false,
    });
  });

  it('gives unlimited metrics no utilisation and no excess', () => {
    const e = evaluate(makeRegistry(), period, [row(t, 5n)]);
    expect(requestsOf(e)).toEqual({
      metric: 'requests',
      used: 5n,
      over: 0n,
      forecast: 5n,
      forecastOver: 0n,
      feeMinor: 0n,
      priced: false,
    });
    expect(e.applications.every((a) => a.metrics.length === 0)).toBe(true);
  });

  it('counts days strictly over the daily cap, for the partner and for an application', () => {
    const e = evaluate(makeRegistry({ contracts: [priced] }), period, [
      row(t, 600n, { requester: APP_B }),
      row(t + day, 601n, { requester: APP_B }),
      row(t + 2 * day, 251n, { requester: APP_A }),
    ]);
    expect(e.daily.filter((d) => d.overCap.length > 0).map((d) => d.date)).toEqual(['2026-02-02']);
    expect(e.daysOverCap).toBe(1);
    expect(e.applications.find((a) => a.applicationId === 'app-a')!.daysOverCap).toBe(1);
    expect(
      e.findings
        .filter((f) => f.kind === 'daily-cap-exceeded')
        .map((f) => [f.date, f.applicationId, f.severity]),
    ).toEqual([
      ['2026-02-02', undefined, 'warning'],
      ['2026-02-03', 'app-a', 'warning'],
    ]);
  });

  it('sorts applications by id and gives each the whole calendar so far', () => {
    const e = evaluate(makeRegistry(), period, [], t + 3 * day);
    expect(e.applications.map((a) => a.applicationId)).toEqual(['app-a', 'app-b']);
    expect(e.applications[0]!.daily.map((d) => d.date)).toEqual(['2026-02-01', '2026-02-02', '2026-02-03']);
  });
});

describe('evaluatePartnerPeriod: no request is charged twice', () => {
  const period = monthlyPeriod('2026-02-01', 'UTC');
  const t = period.startMs;
  // Tiered so that the tests also show each level's excess entering the tiers from 0.
  const tiered = { per: 1, tiers: [{ upTo: 100, price: '0.10' }, { price: '0.05' }] };
  const contract = (partnerLimit: number, applicationLimits: object) => ({
    ...baseContract,
    limits: { monthly: { requests: partnerLimit } },
    applicationLimits,
    overage: { requests: tiered, bytesSent: { per: 1, tiers: [{ price: '0.01' }] } },
  });
  type Line = [metric: string, application: string | undefined, tier: number, units: bigint, cents: bigint];

  it.each([
    {
      why: 'an application over and the partner under: the application fee only',
      contract: contract(1000, { 'app-a': { monthly: { requests: 300 } } }),
      a: 400n,
      b: 200n,
      partner: { over: 0n, chargedOver: 0n, feeMinor: 0n },
      lines: [['requests', 'app-a', 1, 100n, 1000n]] as Line[],
      total: 1000n,
    },
    {
      why: 'both over: the partner is charged only the rest of its excess',
      contract: contract(1000, { 'app-a': { monthly: { requests: 300 } } }),
      a: 500n,
      b: 900n,
      // Partner over 400, of which app-a's 200 are already charged: 200 left, tiered from 0.
      partner: { over: 400n, chargedOver: 200n, feeMinor: 1500n },
      lines: [
        ['requests', undefined, 1, 100n, 1000n],
        ['requests', undefined, 2, 100n, 500n],
        ['requests', 'app-a', 1, 100n, 1000n],
        ['requests', 'app-a', 2, 100n, 500n],
      ] as Line[],
      total: 3000n,
    },
    {
      why: 'the partner over with no application limits: its whole excess, as before',
      contract: contract(1000, {}),
      a: 700n,
      b: 500n,
      partner: { over: 200n, chargedOver: 200n, feeMinor: 1500n },
      lines: [
        ['requests', undefined, 1, 100n, 1000n],
        ['requests', undefined, 2, 100n, 500n],
      ] as Line[],
      total: 1500n,
    },
    {
      why: 'two applications over: the partner is charged what is left after both',
      contract: contract(600, {
        'app-a': { monthly: { requests: 300 } },
        'app-b': { monthly: { requests: 400 } },
      }),
      a: 500n,
      b: 700n,
      // Partner over 600, applications over 200 + 300 = 500: 100 left.
      partner: { over: 600n, chargedOver: 100n, feeMinor: 1000n },
      lines: [
        ['requests', undefined, 1, 100n, 1000n],
        ['requests', 'app-a', 1, 100n, 1000n],
        ['requests', 'app-a', 2, 100n, 500n],
        ['requests', 'app-b', 1, 100n, 1000n],
        ['requests', 'app-b', 2, 200n, 1000n],
      ] as Line[],
      total: 4500n,
    },
    {
      why: 'two applications over by more than the partner: the partner charges nothing, never less',
      contract: contract(1000, {
        'app-a': { monthly: { requests: 300 } },
        'app-b': { monthly: { requests: 400 } },
      }),
      a: 500n,
      b: 700n,
      partner: { over: 200n, chargedOver: 0n, feeMinor: 0n },
      lines: [
        ['requests', 'app-a', 1, 100n, 1000n],
        ['requests', 'app-a', 2, 100n, 500n],
        ['requests', 'app-b', 1, 100n, 1000n],
        ['requests', 'app-b', 2, 200n, 1000n],
      ] as Line[],
      total: 3500n,
    },
    {
      why: "an application's limit on another metric leaves the partner's requests charge whole",
      contract: contract(1000, { 'app-a': { monthly: { bytesSent: 10 } } }),
      a: 700n,
      b: 500n,
      partner: { over: 200n, chargedOver: 200n, feeMinor: 1500n },
      lines: [
        ['requests', undefined, 1, 100n, 1000n],
        ['requests', undefined, 2, 100n, 500n],
        ['bytesSent', 'app-a', 1, 5n, 5n],
      ] as Line[],
      total: 1505n,
    },
  ])('$why', ({ contract, a, b, partner, lines, total }) => {
    const e = evaluate(makeRegistry({ contracts: [contract] }), period, [
      row(t, a, { requester: APP_A, bytesSent: 15n }),
      row(t, b, { requester: APP_B }),
    ]);
    expect(requestsOf(e)).toMatchObject({ used: a + b, ...partner });
    expect(e.fees.lines.map((l) => [l.metric, l.applicationId, l.tier, l.units, l.amountMinor])).toEqual(
      lines,
    );
    expect(e.fees.totalMinor).toBe(total);
    // The fee due is the sum of the lines, and each figure's fee is the sum of its own lines.
    expect(e.fees.lines.reduce((s, l) => s + l.amountMinor, 0n)).toBe(total);
    const figures = [
      ...e.metrics.map((f) => ({ f, app: undefined as string | undefined })),
      ...e.applications.flatMap((x) =>
        x.metrics.map((f) => ({ f, app: x.applicationId as string | undefined })),
      ),
    ];
    for (const { f, app } of figures) {
      const own = e.fees.lines.filter((l) => l.metric === f.metric && l.applicationId === app);
      expect(own.reduce((s, l) => s + l.amountMinor, 0n)).toBe(f.feeMinor);
      expect(own.reduce((s, l) => s + l.units, 0n)).toBe(f.chargedOver ?? 0n);
    }
  });

  it('gives an application figure its whole excess as charged', () => {
    const e = evaluate(
      makeRegistry({ contracts: [contract(1000, { 'app-a': { monthly: { requests: 300 } } })] }),
      period,
      [row(t, 500n, { requester: APP_A })],
    );
    const appA = e.applications.find((x) => x.applicationId === 'app-a')!;
    expect(appA.metrics).toEqual([
      expect.objectContaining({ over: 200n, chargedOver: 200n, feeMinor: 1500n }),
    ]);
  });
});

describe('forecastOf', () => {
  const period = { startMs: 0, endMs: 28 * 86_400_000 };
  it.each([
    { why: 'a quarter of the way through quadruples use', used: 100n, asOf: 7 * 86_400_000, expected: 400n },
    { why: 'rounds down', used: 10n, asOf: 3 * 86_400_000, expected: 93n },
    { why: 'equals use once the period is over', used: 100n, asOf: 28 * 86_400_000, expected: 100n },
    { why: 'equals use after the period too', used: 100n, asOf: 40 * 86_400_000, expected: 100n },
    { why: 'equals use before any time elapsed', used: 0n, asOf: 0, expected: 0n },
    { why: 'equals use for an as-of before the period', used: 3n, asOf: -5, expected: 3n },
    { why: 'works past 2^53', used: 2n ** 60n, asOf: 14 * 86_400_000, expected: 2n ** 61n },
  ])('$why', ({ used, asOf, expected }) => {
    expect(forecastOf(used, period, asOf)).toBe(expected);
  });

  it('projects the forecast excess in an open period', () => {
    const period = monthlyPeriod('2026-02-01', 'UTC');
    const reg = makeRegistry({ contracts: [{ ...baseContract, limits: { monthly: { requests: 300 } } }] });
    const e = evaluate(reg, period, [row(period.startMs, 100n)], period.startMs + 7 * 86_400_000);
    expect(requestsOf(e)).toMatchObject({ used: 100n, over: 0n, forecast: 400n, forecastOver: 100n });
  });
});

describe('utilisation and levels', () => {
  it.each([
    { used: 0n, limit: 100n, bp: 0n },
    { used: 1n, limit: 3n, bp: 3333n },
    { used: 2n, limit: 3n, bp: 6666n },
    { used: 100n, limit: 100n, bp: 10000n },
    { used: 5n, limit: 0n, bp: 50000n },
  ])('utilisation of $used against $limit is $bp bp, floored', ({ used, limit, bp }) => {
    expect(utilisationBp(used, limit)).toBe(bp);
  });

  it.each([
    { used: 805n, limit: 1000n, percent: 80.5, reached: true },
    { used: 804n, limit: 1000n, percent: 80.5, reached: false },
    { used: 80_499_999n, limit: 100_000_000n, percent: 80.5, reached: false },
    { used: 1000n, limit: 1000n, percent: 100, reached: true },
    { used: 999n, limit: 1000n, percent: 100, reached: false },
    { used: 1n, limit: 3n, percent: 33.333, reached: true },
    { used: 0n, limit: 0n, percent: 80, reached: false },
    { used: 1n, limit: 0n, percent: 100, reached: true },
  ])('$used of $limit reaches $percent %: $reached', ({ used, limit, percent, reached }) => {
    expect(reachesPercent(used, limit, percent)).toBe(reached);
  });

  const period = monthlyPeriod('2026-02-01', 'UTC');
  const withLimits = (thresholds?: object[]) =>
    makeRegistry({
      contracts: [
        {
          ...baseContract,
          limits: { monthly: { requests: 1000, bytesSent: 1000 } },
          applicationLimits: { 'app-b': { monthly: { requests: 100 } } },
          ...(thresholds ? { thresholds } : {}),
        },
      ],
    });

  it('lists the levels reached lowest first, each naming the first limit that reached it', () => {
    const e = evaluate(withLimits(), period, [row(period.startMs, 850n, { bytesSent: 1600n })]);
    expect(e.levels).toEqual([
      { level: 'warning', percent: 80, metric: 'requests', utilisationBp: 8500n },
      { level: 'overage', percent: 100, metric: 'bytesSent', utilisationBp: 16000n },
      { level: 'escalation', percent: 150, metric: 'bytesSent', utilisationBp: 16000n },
    ]);
  });

  it("names an application's own limit when only it reaches a level", () => {
    const e = evaluate(withLimits(), period, [row(period.startMs, 90n, { requester: APP_B })]);
    expect(e.levels).toEqual([
      { level: 'warning', percent: 80, metric: 'requests', applicationId: 'app-b', utilisationBp: 9000n },
    ]);
  });

  it('honours fractional thresholds in any order', () => {
    const thresholds = [
      { level: 'late', percent: 90 },
      { level: 'early', percent: 80.5 },
    ];
    const at805 = evaluate(withLimits(thresholds), period, [row(period.startMs, 805n)]);
    expect(at805.levels.map((l) => l.level)).toEqual(['early']);
    const at804 = evaluate(withLimits(thresholds), period, [row(period.startMs, 804n)]);
    expect(at804.levels).toEqual([]);
  });
});

describe('evaluateUnattributed', () => {
  const range = { startMs: Date.parse('2026-02-01T00:00:00Z'), endMs: Date.parse('2026-02-02T00:00:00Z') };
  const t = range.startMs;
  const AP = `arn:aws:s3:us-east-1:${ACCT}:accesspoint/open`;
  const other = {
    id: 'globex',
    name: 'Globex',
    timeZone: 'UTC',
    accountOwners: [{ email: 'o@globex.example' }],
    applications: [{ id: 'g', name: 'G', principals: [{ account: '222233334444' }] }],
    contracts: [{ ...baseContract, datasets: ['feeds/markets/'] }],
  };

  function run(rows: UsageRow[], setup: Setup = {}) {
    const registry = makeRegistry({ others: [other], ...setup });
    return evaluateUnattributed({ registry, rows, range, attribute: buildAttributor(registry) });
  }

  it('counts every operation and status of unknown requesters, per requester and access point', () => {
    const { figures } = run([
      row(t, 1n, { requester: STRANGER, statusClass: '4xx' }),
      row(t, 2n, { requester: STRANGER, operation: 'REST.HEAD.OBJECT', dataset: 'other/x/' }),
      row(t, 4n, { requester: STRANGER, accessPoint: AP }),
      row(t, 8n, { requester: APP_A }),
      row(t, 16n, { requester: 'arn:aws:iam::222233334444:user/g' }),
    ]);
    expect(figures.map((f) => [f.requester, f.accessPoint, f.counts.requests])).toEqual([
      [STRANGER, '-', 3n],
      [STRANGER, AP, 4n],
    ]);
    expect(figures[0]!.datasets.map((d) => [d.dataset, d.counts.requests, d.allowed])).toEqual([
      ['feeds/weather/', 1n, false],
      ['other/x/', 2n, false],
    ]);
  });

  it('is critical when a successful read touched any partner data, info when only denied or elsewhere', () => {
    const { figures, findings } = run([
      row(t, 1n, { requester: 'arn:aws:iam::1:user/denied', statusClass: '4xx' }),
      row(t, 1n, { requester: 'arn:aws:iam::1:user/elsewhere', dataset: 'public/' }),
      row(t, 1n, { requester: 'arn:aws:iam::1:user/reader', dataset: 'feeds/markets/' }),
    ]);
    expect(figures.map((f) => [f.requester, f.touchedPartnerData])).toEqual([
      ['arn:aws:iam::1:user/denied', false],
      ['arn:aws:iam::1:user/elsewhere', false],
      ['arn:aws:iam::1:user/reader', true],
    ]);
    expect(findings.map((f) => [f.kind, f.requester, f.severity])).toEqual([
      ['unregistered-principal', 'arn:aws:iam::1:user/denied', 'info'],
      ['unregistered-principal', 'arn:aws:iam::1:user/elsewhere', 'info'],
      ['unregistered-principal', 'arn:aws:iam::1:user/reader', 'critical'],
    ]);
    expect(findings[2]!.message).toContain('feeds/markets/');
  });

  it('skips ignored requesters but reports anonymous reads of partner data as critical', () => {
    const { findings } = run([
      row(t, 1n, { requester: 'svc:logging.s3.amazonaws.com' }),
      row(t, 1n, { requester: 'AmazonS3' }),
      row(t, 7n, { requester: '-' }),
    ]);
    expect(findings).toEqual([
      expect.objectContaining({
        requester: '-',
        severity: 'critical',
        counts: expect.objectContaining({ requests: 7n }),
      }),
    ]);
  });

  it('keeps only rows whose slot starts inside the range', () => {
    const { figures } = run([
      row(t - SLOT_MS, 1n, { requester: STRANGER }),
      row(t, 2n, { requester: STRANGER }),
      row(range.endMs - SLOT_MS, 4n, { requester: STRANGER }),
      row(range.endMs, 8n, { requester: STRANGER }),
    ]);
    expect(figures.map((f) => f.counts.requests)).toEqual([6n]);
  });
});
