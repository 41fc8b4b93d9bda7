/**
 * Forecast levels (OVERAGES.md, "Forecast levels"): a threshold with `basis: forecast` is reached by
 * the projection of use to the period's end, notified once per period, only once the contract's
 * minimum of local days has passed (and never in the period's first 24 hours), and superseded by an
 * actual level at or above it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { sendNotices } from '../../functions/audit/send-notices.js';
import { buildAttributor } from '../../functions/domain/attribution.js';
import { evaluatePartnerPeriod, forecastNoticesFrom } from '../../functions/domain/evaluate.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { dueNotices, reachesNoticeLevel } from '../../functions/domain/notices.js';
import { parseRegistry, type Registry, RegistryError } from '../../functions/domain/registry.js';
import { buildReport } from '../../functions/domain/report.js';
import { monthlyPeriod, type Period, startOfLocalDate } from '../../functions/domain/time.js';
import type { StatusClass, UsageRow } from '../../functions/domain/usage.js';
import type { LedgerEntry, Mailer, NoticeKey, NoticeLedger, OutgoingMessage } from '../../functions/ports.js';
import { composeNotice } from '../../functions/render/notice.js';
import { renderReportHtml } from '../../functions/render/report-html.js';
import { MemoryReportStore } from '../support/memory-ports.js';
import { makeInputSummary } from '../support/notice-fixtures.js';

const APP = 'arn:aws:iam::111122223333:user/app-a';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const THRESHOLDS = [
  { level: 'warning', percent: 80 },
  { level: 'overage', percent: 100 },
  { level: 'escalation', percent: 150 },
  { level: 'forecast-overage', percent: 100, basis: 'forecast' },
  { level: 'forecast-escalation', percent: 150, basis: 'forecast' },
];

function registryText(contract: object = {}, timeZone = 'UTC'): string {
  return JSON.stringify({
    version: 1,
    provider: {
      name: 'Provider Co',
      noticeFrom: 'Data Partnerships <partners@provider.example>',
      contactEmail: 'partners@provider.example',
    },
    partners: [
      {
        id: 'acme',
        name: 'Acme',
        timeZone,
        accountOwners: [{ email: 'o@acme.example' }],
        applications: [{ id: 'app-a', name: 'A', principals: [{ arn: APP }] }],
        contracts: [
          {
            id: 'acme-1',
            effectiveFrom: '2020-01-01',
            currency: 'USD',
            datasets: ['feeds/weather/'],
            limits: { monthly: { requests: 1000 } },
            overage: { requests: { per: 1000, tiers: [{ price: '0.40' }] } },
            thresholds: THRESHOLDS,
            ...contract,
          },
        ],
      },
    ],
  });
}

const makeRegistry = (contract: object = {}, timeZone = 'UTC'): Registry =>
  parseRegistry(registryText(contract, timeZone), 'registry.yaml');

/** `perDay` counted requests at noon UTC of each day of the period, up to `asOfMs`. */
function steadyRows(period: Period, perDay: bigint, asOfMs: number): UsageRow[] {
  const rows: UsageRow[] = [];
  for (let t = period.startMs + 12 * HOUR; t < Math.min(asOfMs, period.endMs); t += DAY) {
    rows.push({
      slotStart: t,
      bucket: 'data',
      requester: APP,
      accessPoint: '-',
      dataset: 'feeds/weather/',
      operation: 'REST.GET.OBJECT',
      statusClass: '2xx' as StatusClass,
      requests: perDay,
      bytesSent: 0n,
      records: 0n,
    });
  }
  return rows;
}

function evaluate(registry: Registry, period: Period, rows: UsageRow[], asOfMs: number) {
  const ev = evaluatePartnerPeriod({
    registry,
    partner: registry.partners[0]!,
    period,
    rows,
    asOfMs,
    attribute: buildAttributor(registry),
  });
  if (!ev) throw new Error('no contract in force');
  return ev;
}

const NOV = monthlyPeriod('2026-11-01', 'UTC');
/** November 2026 in UTC, 40 requests a day against a limit of 1,000: 120 % by the month's end. */
function novemberAt(asOf: string, perDay = 40n, contract: object = {}): PartnerPeriodEvaluation {
  const registry = makeRegistry(contract);
  const asOfMs = Date.parse(asOf);
  return evaluate(registry, NOV, steadyRows(NOV, perDay, asOfMs), asOfMs);
}

const entry = (level: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  partnerId: 'acme',
  periodId: '2026-11',
  level,
  state: 'sent',
  runId: 'r0',
  figuresJson: '{}',
  ...over,
});
const due = (ev: PartnerPeriodEvaluation, ledger: LedgerEntry[] = []) =>
  dueNotices(ev, ledger).map((d) => ({ level: d.level, covers: d.covers }));

describe('the registry: forecast thresholds and the minimum elapsed', () => {
  it('reads basis "forecast", defaults the basis to "actual" and the minimum to 7 local days', () => {
    const contract = makeRegistry().partners[0]!.contracts[0]!;
    expect(contract.thresholds.map((t) => `${t.level}:${t.basis}`)).toEqual([
      'warning:actual',
      'overage:actual',
      'escalation:actual',
      'forecast-overage:forecast',
      'forecast-escalation:forecast',
    ]);
    expect(contract.forecastNoticeAfterDays).toBe(7);
    expect(
      makeRegistry({ forecastNoticeAfterDays: 3 }).partners[0]!.contracts[0]!.forecastNoticeAfterDays,
    ).toBe(3);
  });

  it.each([
    [
      'an unknown basis',
      {
        thresholds: [
          { level: 'overage', percent: 100 },
          { level: 'soon', percent: 90, basis: 'projected' },
        ],
      },
      'partners[0].contracts[0].thresholds[1].basis',
    ],
    [
      'a forecast threshold without a percentage',
      {
        thresholds: [
          { level: 'overage', percent: 100 },
          { level: 'soon', basis: 'forecast' },
        ],
      },
      'partners[0].contracts[0].thresholds[1].percent',
    ],
    [
      'a level name used for both bases',
      {
        thresholds: [
          { level: 'overage', percent: 100 },
          { level: 'overage', percent: 100, basis: 'forecast' },
        ],
      },
      'partners[0].contracts[0].thresholds[1].level',
    ],
    [
      'forecast thresholds only',
      { thresholds: [{ level: 'soon', percent: 100, basis: 'forecast' }] },
      'partners[0].contracts[0].thresholds',
    ],
    [
      'a minimum of 28 days',
      { forecastNoticeAfterDays: 28 },
      'partners[0].contracts[0].forecastNoticeAfterDays',
    ],
    [
      'a fractional minimum',
      { forecastNoticeAfterDays: 1.5 },
      'partners[0].contracts[0].forecastNoticeAfterDays',
    ],
  ])('refuses %s, naming the path', (_what, contract, path) => {
    let error: unknown;
    try {
      makeRegistry(contract);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryError);
    const problems = (error as RegistryError).problems;
    expect(problems.map((p) => p.path)).toContain(path);
    expect((error as Error).message).toContain(`${path}: `);
  });
});

describe('forecast levels in the evaluation', () => {
  it('lists the forecast levels the projection reaches, with the projected utilisation, apart from actual levels', () => {
    const ev = novemberAt('2026-11-11T00:00:00Z');
    const requests = ev.metrics.find((m) => m.metric === 'requests')!;
    expect(requests).toMatchObject({ used: 400n, forecast: 1200n, forecastOver: 200n });
    expect(ev.levels).toEqual([]);
    expect(ev.forecast?.levels).toEqual([
      {
        level: 'forecast-overage',
        percent: 100,
        metric: 'requests',
        utilisationBp: 12000n,
        basis: 'forecast',
      },
    ]);
    expect(ev.forecast).toMatchObject({
      rateFromMs: NOV.startMs,
      rateToMs: Date.parse('2026-11-11T00:00:00Z'),
    });
    expect(ev.forecastThresholds).toEqual([
      { level: 'forecast-overage', percent: 100 },
      { level: 'forecast-escalation', percent: 150 },
    ]);
  });

  it('reaches a forecast level from an application limit too, naming the application', () => {
    const ev = novemberAt('2026-11-11T00:00:00Z', 40n, {
      limits: { monthly: { requests: 100000 } },
      applicationLimits: { 'app-a': { monthly: { requests: 1000 } } },
    });
    expect(ev.forecast?.levels.map((l) => [l.level, l.applicationId, l.utilisationBp])).toEqual([
      ['forecast-overage', 'app-a', 12000n],
    ]);
  });

  it('has no forecast once the period is complete', () => {
    const ev = novemberAt('2026-12-01T00:00:00Z');
    expect(ev.complete).toBe(true);
    expect(ev.forecast).toBeUndefined();
    expect(ev.forecastThresholds?.map((t) => t.level)).toEqual(['forecast-overage', 'forecast-escalation']);
  });
});

describe('the minimum elapsed before a forecast notice', () => {
  it('waits for 7 whole local days by default: not at 7 days less a slot, yes at 7 days', () => {
    expect(novemberAt('2026-11-07T23:45:00Z').forecast).toMatchObject({
      noticeable: false,
      noticesFromMs: Date.parse('2026-11-08T00:00:00Z'),
    });
    expect(due(novemberAt('2026-11-07T23:45:00Z'))).toEqual([]);
    expect(novemberAt('2026-11-08T00:00:00Z').forecast?.noticeable).toBe(true);
    expect(due(novemberAt('2026-11-08T00:00:00Z'))).toEqual([{ level: 'forecast-overage', covers: [] }]);
  });

  it('decides which partners the AWS run notifies: an actual level, or a forecast level already noticeable', () => {
    expect(reachesNoticeLevel(novemberAt('2026-11-07T23:45:00Z'))).toBe(false);
    expect(reachesNoticeLevel(novemberAt('2026-11-08T00:00:00Z'))).toBe(true);
    expect(reachesNoticeLevel(novemberAt('2026-11-08T00:00:00Z', 20n))).toBe(false);
    // 450 a day for 2 days: 90 % used reaches warning, before any forecast may be notified.
    expect(reachesNoticeLevel(novemberAt('2026-11-03T00:00:00Z', 450n))).toBe(true);
  });

  it('follows the contract setting', () => {
    const ev = novemberAt('2026-11-04T00:00:00Z', 40n, { forecastNoticeAfterDays: 3 });
    expect(ev.forecast?.noticesFromMs).toBe(Date.parse('2026-11-04T00:00:00Z'));
    expect(due(ev)).toEqual([{ level: 'forecast-overage', covers: [] }]);
  });

  it('is never less than 24 hours, even with a minimum of 0 days', () => {
    const early = novemberAt('2026-11-01T23:45:00Z', 40n, { forecastNoticeAfterDays: 0 });
    expect(early.forecast).toMatchObject({ noticeable: false, noticesFromMs: NOV.startMs + DAY });
    expect(early.forecast?.levels.map((l) => l.level)).toEqual(['forecast-overage']);
    expect(due(early)).toEqual([]);
    expect(due(novemberAt('2026-11-02T00:00:00Z', 40n, { forecastNoticeAfterDays: 0 }))).toEqual([
      { level: 'forecast-overage', covers: [] },
    ]);
  });

  it.each([
    // Spring forward on 8 March: 10 local days are 239 hours.
    ['America/New_York', '2026-03-01', 10, '2026-03-11T04:00:00Z', 239],
    // Fall back on 25 October: 27 local days are 649 hours.
    ['Europe/Berlin', '2026-10-01', 27, '2026-10-27T23:00:00Z', 649],
    // No change: 7 local days are 168 hours, from 18:30 UTC.
    ['Asia/Kolkata', '2026-11-01', 7, '2026-11-07T18:30:00Z', 168],
  ])('counts local days across a clock change (%s from %s, %i days)', (zone, month, days, at, hours) => {
    const period = monthlyPeriod(month, zone);
    const from = forecastNoticesFrom(period, days);
    expect(new Date(from).toISOString()).toBe(new Date(at).toISOString());
    expect((from - period.startMs) / HOUR).toBe(hours);
  });

  it('in a month with a clock change, projects over the real hours and opens notices at local midnight', () => {
    // March 2026 in New York is 743 hours; 40 a day for 10 local days (239 hours).
    const registry = makeRegistry({ forecastNoticeAfterDays: 10 }, 'America/New_York');
    const period = monthlyPeriod('2026-03-01', 'America/New_York');
    const at = startOfLocalDate('2026-03-11', 'America/New_York');
    const rows = steadyRows(period, 40n, at);
    const before = evaluate(registry, period, rows, at - 15 * 60_000);
    const ev = evaluate(registry, period, rows, at);
    expect(ev.metrics.find((m) => m.metric === 'requests')!.forecast).toBe((400n * 743n) / 239n);
    expect(due(before)).toEqual([]);
    expect(due(ev)).toEqual([{ level: 'forecast-overage', covers: [] }]);
  });
});

describe('which forecast notices are due', () => {
  const at = '2026-11-11T00:00:00Z';

  it('once per period: not again after it was sent or claimed, but a higher forecast level is', () => {
    expect(due(novemberAt(at), [entry('forecast-overage')])).toEqual([]);
    expect(due(novemberAt(at), [entry('forecast-overage', { state: 'pending' })])).toEqual([]);
    // 60 a day: 600 used (60 %), projected 1,800 (180 %).
    expect(due(novemberAt(at, 60n), [entry('forecast-overage')])).toEqual([
      { level: 'forecast-escalation', covers: [] },
    ]);
    expect(due(novemberAt(at, 60n))).toEqual([
      { level: 'forecast-escalation', covers: ['forecast-overage'] },
    ]);
  });

  it('an actual level at or above it supersedes it: reached now, the actual notice goes alone', () => {
    // 110 a day for 10 days: 1,100 used (110 %), projected 3,300 (330 %).
    expect(due(novemberAt(at, 110n))).toEqual([
      { level: 'overage', covers: ['warning'] },
      { level: 'forecast-escalation', covers: [] },
    ]);
    // 160 a day: 1,600 used (160 %): escalation supersedes both forecast levels.
    expect(due(novemberAt(at, 160n))).toEqual([{ level: 'escalation', covers: ['warning', 'overage'] }]);
  });

  it('an actual level held in the ledger supersedes it, even if usage was revised down since', () => {
    expect(due(novemberAt(at), [entry('overage')])).toEqual([]);
    // 110 a day: overage (sent) is reached; the projection (330 %) reaches forecast-escalation, above it.
    expect(due(novemberAt(at, 110n), [entry('overage')])).toEqual([
      { level: 'forecast-escalation', covers: [] },
    ]);
    // 60 a day reaches no actual level, yet the ledger holds `overage`: taken as above everything.
    expect(due(novemberAt(at, 60n), [entry('overage')])).toEqual([]);
    // The ledger holds `escalation` although 40 a day reaches no actual level: taken as above everything.
    expect(due(novemberAt(at), [entry('escalation')])).toEqual([]);
  });

  it('an actual level below it does not: a warning and a forecast overage both go out, each once', () => {
    // 85 a day for 10 days: 850 used (85 %), projected 2,550.
    expect(due(novemberAt(at, 85n))).toEqual([
      { level: 'warning', covers: [] },
      { level: 'forecast-escalation', covers: ['forecast-overage'] },
    ]);
    expect(due(novemberAt(at, 85n), [entry('warning'), entry('forecast-escalation')])).toEqual([]);
  });

  it('a forecast notice in the ledger never holds back an actual one, open or closed period', () => {
    expect(due(novemberAt(at, 110n), [entry('forecast-overage'), entry('forecast-escalation')])).toEqual([
      { level: 'overage', covers: ['warning'] },
    ]);
    // The month closed at 1,200 (120 %).
    expect(due(novemberAt('2026-12-01T00:00:00Z'), [entry('forecast-overage')])).toEqual([
      { level: 'overage', covers: ['warning'] },
    ]);
  });
});

/** A ledger in memory with the port's claim rules, enough for the use case. */
class MemoryLedger implements NoticeLedger {
  readonly rows = new Map<string, LedgerEntry>();
  private id = (k: NoticeKey) => `${k.partnerId}/${k.periodId}/${k.level}`;
  async claim(key: NoticeKey, c: { runId: string; figuresJson: string }) {
    const held = this.rows.get(this.id(key));
    if (held?.state === 'sent' || held?.messageId !== undefined) return 'already-sent' as const;
    if (held && held.runId !== c.runId) return 'held-by-another-run' as const;
    this.rows.set(this.id(key), { ...key, state: 'pending', runId: c.runId, figuresJson: c.figuresJson });
    return 'claimed' as const;
  }
  async markSent(key: NoticeKey, s: { runId: string; messageId: string; sentAt: string }) {
    const held = this.rows.get(this.id(key))!;
    this.rows.set(this.id(key), { ...held, state: 'sent', messageId: s.messageId, sentAt: s.sentAt });
  }
  async markAttempt(key: NoticeKey, a: { messageId: string }) {
    this.rows.set(this.id(key), { ...this.rows.get(this.id(key))!, messageId: a.messageId });
  }
  async clearAttempt(key: NoticeKey) {
    const { messageId: _, ...held } = this.rows.get(this.id(key))!;
    this.rows.set(this.id(key), held);
  }
  async release(key: NoticeKey) {
    this.rows.delete(this.id(key));
  }
  async entries(partnerId: string, periodId: string) {
    return [...this.rows.values()].filter((e) => e.partnerId === partnerId && e.periodId === periodId);
  }
}

describe('sending forecast notices: the ledger, dry-run and rerun rules apply unchanged', () => {
  const registry = makeRegistry();
  const clock = { now: () => new Date('2026-11-11T06:00:00Z') };
  const run = (
    ledger: NoticeLedger,
    mailer: Mailer,
    evaluations: PartnerPeriodEvaluation[],
    dryRun = false,
  ) =>
    sendNotices(
      { registry, ledger, mailer, copies: new MemoryReportStore(), clock },
      {
        runId: `r${Math.random()}`,
        evaluations,
        dryRun,
        reportRef: 'run r1',
        messageIdDomain: 'pa.example',
        datedAt: clock.now(),
        copiesUnder: 'notices/',
      },
    );

  it('previews without claiming, sends once, and a rerun sends nothing; the later actual overage still goes out', async () => {
    const ledger = new MemoryLedger();
    const sent: OutgoingMessage[] = [];
    const mailer: Mailer = {
      name: 'test',
      sendingRecords: 'test',
      send: async (m) => {
        sent.push(m);
        return { providerMessageId: m.messageId };
      },
    };
    const ev = novemberAt('2026-11-11T00:00:00Z');
    const dry = await run(ledger, mailer, [ev], true);
    expect(dry.map((o) => [o.key.level, o.status])).toEqual([['forecast-overage', 'previewed']]);
    expect(ledger.rows.size).toBe(0);
    const first = await run(ledger, mailer, [ev]);
    expect(first.map((o) => [o.key.level, o.status])).toEqual([['forecast-overage', 'sent']]);
    expect(await run(ledger, mailer, [novemberAt('2026-11-12T00:00:00Z')])).toEqual([]);
    expect(sent).toHaveLength(1);
    // The month goes on at 40 a day; on 26 November use reaches 1,000: the overage notice is sent.
    const later = await run(ledger, mailer, [novemberAt('2026-11-26T00:00:00Z')]);
    expect(later.map((o) => [o.key.level, o.status])).toEqual([['overage', 'sent']]);
    expect(sent.map((m) => m.key.level)).toEqual(['forecast-overage', 'overage']);
  });
});

describe('the forecast notice', () => {
  const registry = makeRegistry();
  const ev = novemberAt('2026-11-11T00:00:00Z');
  let message: Awaited<ReturnType<typeof composeNotice>>;
  beforeAll(async () => {
    message = await composeNotice({
      registry,
      partner: registry.partners[0]!,
      evaluation: ev,
      level: 'forecast-overage',
      messageId: 'f1@pa.example',
      date: new Date('2026-11-11T06:00:00Z'),
      reportRef: 'run r1',
      evidenceRef: 'runs/r1/report.json',
    });
  });

  it('says in the subject that it is a projection, without "Action required"', () => {
    expect(message.subject).toBe(
      '[Notice] Acme: data usage projected at 120% of the November 2026 limit (forecast-overage)',
    );
    expect(message.html).toContain('Notice · Provider Co');
    expect(message.html).not.toContain('Action required');
  });

  it('says plainly it is a projection, from which rate, and that no fee is due for it, in both parts', () => {
    const sentences = [
      'is projected to reach the forecast-overage level (100% threshold, by forecast): at the rate so far, the monthly requests limit would be used to 120.00% (1,200 requests of 1,000 requests) by 30 November 2026.',
      'This is a projection, not a measurement: it extends the average rate from 2026-11-01 00:00 to 2026-11-11 00:00 (UTC), 40 requests a day, to the whole period.',
      'No fee is due for it: overage fees are charged only on use actually above a limit, and there is none so far.',
      'No fee is due for this projection. To stay within your contract, keep the requests to at most 600 requests more until 30 November 2026 (about 30 requests a day)',
    ];
    for (const s of sentences) {
      expect(message.text).toContain(s);
      expect(message.html).toContain(s);
    }
    expect(message.text).toContain(
      '  - Requests projected by 30 November 2026: 120.00% of the monthly limit (1,200 of 1,000)',
    );
    expect(message.text).toContain('  - Requests used so far: 40.00% (400)');
    expect(message.text).toContain('  - Projected over the limit: 200 requests');
  });

  it('is recorded in the report and the HTML report as a forecast level, apart from the actual ones', () => {
    const report = buildReport({
      runId: 'r1',
      generatedAt: '2026-11-11T06:00:00.000Z',
      engine: 'duckdb',
      window: { from: '2026-11-01', to: '2026-12-01' },
      dryRun: false,
      registryHash: 'a'.repeat(64),
      codeVersion: 'test',
      input: makeInputSummary(),
      evaluations: [ev],
      unattributed: { figures: [], findings: [] },
      notices: [
        {
          key: { partnerId: 'acme', periodId: '2026-11', level: 'forecast-overage' },
          status: 'sent',
          covers: [],
          messageId: 'f1@pa.example',
        },
      ],
      noticeDiffs: [],
      registry,
    });
    const period = report.partners[0]!.periods[0]!;
    expect(period.levels).toEqual([]);
    expect(period.currentLevel).toBeNull();
    expect(period.forecast).toMatchObject({
      rateFrom: '2026-11-01T00:00:00.000Z',
      basedOnDataUntil: '2026-11-11T00:00:00.000Z',
      noticesFrom: '2026-11-08T00:00:00.000Z',
      levels: [
        {
          level: 'forecast-overage',
          percent: 100,
          basis: 'forecast',
          metric: 'requests',
          applicationId: null,
          utilisation: '120.00',
        },
      ],
    });
    const html = renderReportHtml(report);
    expect(html).toContain('by forecast: forecast-overage');
    expect(html).toContain(
      '<strong>forecast-overage</strong> (100% threshold, by forecast): requests projected at 120.00% of the limit. A projection: no fee is due for it.',
    );
    expect(html).toContain('A projection, not a measurement: the average rate from');
  });
});
