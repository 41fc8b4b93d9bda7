/**
 * A year of nightly runs on the AWS path's rules, with an injected clock and no AWS: EventBridge
 * Scheduler fires at the schedule's local time only where that time exists (a spring-forward night is
 * skipped, a fall-back night fires once), the real plan step decides the window and the delivery dates,
 * a fake roll-up records which dates it rolled up and makes their records visible (a MERGE per date:
 * rolling up a date again replaces its rows), the watermark is advanced as the evaluate step does, and
 * the real evaluateWindow and sendNotices run over an in-memory rollup and ledger.
 *
 * Records of each hour are delivered up to 3 days late; in some months each partner crosses its limit
 * in the last local quarter hour of the month, with a record delivered ~3 days later.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { evaluateWindow } from '../../functions/audit/evaluate-window.js';
import { sendNotices } from '../../functions/audit/send-notices.js';
import { localDefaultWindow } from '../../functions/cli/local-audit.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import { addDays, datesBetween, localDateOf, monthlyPeriod, offsetMs } from '../../functions/domain/time.js';
import { SLOT_MS, type UsageRow } from '../../functions/domain/usage.js';
import { logger } from '../../functions/handlers/observability.js';
import { plan } from '../../functions/handlers/plan.handler.js';
import type {
  LedgerEntry,
  Mailer,
  NoticeKey,
  NoticeLedger,
  OutgoingMessage,
  RollupWatermark,
} from '../../functions/ports.js';
import { MemoryReportStore } from '../support/memory-ports.js';

beforeAll(() => {
  // Some 1,500 plans: their log lines would bury the test output.
  vi.spyOn(logger, 'info').mockImplementation(() => undefined);
});

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const SETTLING_DAYS = 3;
const LIMIT = 1_000_000n;
/** From UTC-10 to UTC+13:45, with both hemispheres' DST rules and half-hour offsets. */
const ZONES = [
  'Pacific/Honolulu',
  'America/Los_Angeles',
  'UTC',
  'Europe/Berlin',
  'Asia/Kolkata',
  'Pacific/Chatham',
] as const;
/** Months in which every partner crosses its limit in the month's last local quarter hour. */
const SPIKE_MONTHS = ['2026-03', '2026-06', '2026-10', '2026-12'];
const SPIKE = 900_000n;
const FIRST_DAY = '2026-01-01';
/** Runs continue into 2027 until December 2026 is final everywhere. */
const LAST_RUN_DAY = '2027-01-12';

const registry = parseRegistry(
  `
version: 1
provider: { name: Meteo Data, noticeFrom: "Data Partnerships <partners@meteo.example>", contactEmail: partners@meteo.example }
partners:
${ZONES.map(
  (zone, i) => `  - id: p${i}
    name: Partner ${i}
    accountOwners: [{ email: owner${i}@p${i}.example }]
    timeZone: ${zone}
    applications: [{ id: app, name: App, principals: [{ account: "${accountOf(i)}" }] }]
    contracts:
      - id: c${i}
        effectiveFrom: "2026-01-01"
        currency: USD
        datasets: ["feeds/"]
        limits: { monthly: { requests: ${LIMIT} } }
`,
).join('')}`,
  'year-walk registry',
);

function accountOf(i: number): string {
  return String(111122220000 + i);
}

interface DeliveredRow {
  readonly row: UsageRow;
  /** UTC date on which S3 delivered the log object holding it. */
  readonly deliveryDate: string;
}

function row(partner: number, slotStart: number, requests: bigint): UsageRow {
  return {
    slotStart,
    bucket: 'data',
    requester: `arn:aws:iam::${accountOf(partner)}:user/reader`,
    accessPoint: '-',
    dataset: 'feeds/weather/',
    operation: 'REST.GET.OBJECT',
    statusClass: '2xx',
    requests,
    bytesSent: requests * 1000n,
    records: 0n,
  };
}

/**
 * Usage from each partner's first local day of 2026 to the end of the walk: one row every 4 hours,
 * delivered 0 to 72 hours after its slot, and the month-end spikes delivered 71 hours late.
 */
function traffic(): DeliveredRow[] {
  const out: DeliveredRow[] = [];
  const startMs = Date.parse('2025-12-31T10:00:00Z');
  const endMs = Date.parse(`${LAST_RUN_DAY}T00:00:00Z`);
  let i = 0;
  for (const [p, zone] of ZONES.entries()) {
    for (let slot = startMs; slot < endMs; slot += 4 * HOUR) {
      if (localDateOf(slot, zone) < FIRST_DAY) continue;
      const lagMs = ((i++ * 7919) % 289) * SLOT_MS; // 0 to 72 hours
      out.push({ row: row(p, slot, 1000n), deliveryDate: localDateOf(slot + SLOT_MS + lagMs, 'UTC') });
    }
    for (const month of SPIKE_MONTHS) {
      const period = monthlyPeriod(`${month}-01`, zone);
      const slot = period.endMs - SLOT_MS;
      out.push({ row: row(p, slot, SPIKE), deliveryDate: localDateOf(slot + SLOT_MS + 71 * HOUR, 'UTC') });
    }
  }
  return out;
}

/** The rollup table: rows by delivery date, replaced whole when a date is rolled up again. */
class FakeRollup {
  readonly rolledUp = new Map<string, number>();
  private readonly visible = new Map<string, UsageRow[]>();
  readonly engine = 'fake';
  constructor(private readonly delivered: readonly DeliveredRow[]) {}

  rollUp(batch: string): void {
    const date = batch.replaceAll('/', '-');
    this.rolledUp.set(date, (this.rolledUp.get(date) ?? 0) + 1);
    this.visible.set(
      date,
      this.delivered.filter((d) => d.deliveryDate === date).map((d) => d.row),
    );
  }

  async usage(range: { startMs: number; endMs: number }): Promise<UsageRow[]> {
    return [...this.visible.values()]
      .flat()
      .filter((r) => r.slotStart >= range.startMs && r.slotStart < range.endMs);
  }

  dataEndMs(): number | undefined {
    const all = [...this.visible.values()].flat();
    return all.length === 0 ? undefined : Math.max(...all.map((r) => r.slotStart)) + SLOT_MS;
  }
}

class FakeWatermark implements RollupWatermark {
  through: string | undefined;
  async read() {
    return this.through;
  }
  async advance(date: string) {
    if (this.through !== undefined && this.through >= date) return false;
    this.through = date;
    return true;
  }
}

class FakeLedger implements NoticeLedger {
  readonly items = new Map<string, LedgerEntry>();
  private k(key: NoticeKey) {
    return `${key.partnerId}#${key.periodId}#${key.level}`;
  }
  async claim(key: NoticeKey, claim: { runId: string; figuresJson: string }) {
    if (this.items.has(this.k(key))) return 'already-sent' as const;
    this.items.set(this.k(key), {
      ...key,
      state: 'pending',
      runId: claim.runId,
      figuresJson: claim.figuresJson,
    });
    return 'claimed' as const;
  }
  async markSent(key: NoticeKey, sent: { runId: string; messageId: string; sentAt: string }) {
    const item = this.items.get(this.k(key));
    if (item) this.items.set(this.k(key), { ...item, state: 'sent', ...sent });
  }
  async markAttempt(key: NoticeKey, attempt: { messageId: string }) {
    const item = this.items.get(this.k(key));
    if (item) this.items.set(this.k(key), { ...item, messageId: attempt.messageId });
  }
  async clearAttempt(key: NoticeKey) {
    const item = this.items.get(this.k(key));
    if (item) this.items.set(this.k(key), { ...item, messageId: undefined });
  }
  async release(key: NoticeKey) {
    this.items.delete(this.k(key));
  }
  async entries(partnerId: string, periodId: string) {
    return [...this.items.values()].filter((e) => e.partnerId === partnerId && e.periodId === periodId);
  }
}

/**
 * When EventBridge Scheduler fires `hh:mm` local on `date`: undefined where that wall time does not
 * exist (a spring-forward gap), the first occurrence where it exists twice (it fires once).
 */
function firing(date: string, hh: number, mm: number, zone: string): number | undefined {
  const wall = Date.parse(`${date}T${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:00Z`);
  const candidates = [wall - offsetMs(wall - 14 * HOUR, zone), wall - offsetMs(wall + 14 * HOUR, zone)]
    .filter((t) => t + offsetMs(t, zone) === wall)
    .sort((a, b) => a - b);
  return candidates[0];
}

interface Schedule {
  readonly name: string;
  readonly hh: number;
  readonly mm: number;
  readonly zone: string;
  /** `aws`: plan, watermark, roll-up per delivery date; `local`: the CLI's default window over what arrived. */
  readonly engine?: 'aws' | 'local';
  /** Run only every n-th night (a local audit run now and then), default every night. */
  readonly everyNthNight?: number;
}

const SCHEDULES: readonly Schedule[] = [
  // The example schedule: no run on 29 March 2026, the spring-forward night.
  { name: '02:30 Europe/Berlin', hh: 2, mm: 30, zone: 'Europe/Berlin' },
  // 00:30 London is 23:30 UTC the day before in summer and 00:30 UTC in winter: the UTC date of the
  // scheduled time repeats in March and skips 25 October.
  { name: '00:30 Europe/London', hh: 0, mm: 30, zone: 'Europe/London' },
  // UTC+13:45 in summer: 03:00 does not exist on 27 September 2026 (02:45 jumps to 03:45).
  { name: '03:00 Pacific/Chatham', hh: 3, mm: 0, zone: 'Pacific/Chatham' },
  { name: '00:30 America/Los_Angeles', hh: 0, mm: 30, zone: 'America/Los_Angeles' },
  // The local engine without --from/--to over the log files that have arrived, nightly and every
  // fifth night (the newest data then moves by days at once).
  { name: '02:30 Europe/Berlin, local engine', hh: 2, mm: 30, zone: 'Europe/Berlin', engine: 'local' },
  {
    name: '02:30 Europe/Berlin, local engine every fifth night',
    hh: 2,
    mm: 30,
    zone: 'Europe/Berlin',
    engine: 'local',
    everyNthNight: 5,
  },
];

/**
 * One night of the local engine as runLocalAudit wires it (without DuckDB and files): the files
 * delivered before today are ingested (each once, by fingerprint), the default window and "final"
 * follow from the newest data.
 */
async function localNight(rollup: FakeRollup, atMs: number) {
  const today = new Date(atMs).toISOString().slice(0, 10);
  const endBefore = rollup.dataEndMs();
  for (const date of datesBetween('2025-12-30', today)) if (!rollup.rolledUp.has(date)) rollup.rollUp(date);
  const dataEndMs = rollup.dataEndMs();
  const clock = { now: () => new Date(atMs) };
  const window = localDefaultWindow(
    dataEndMs === undefined ? undefined : { maxMs: dataEndMs - SLOT_MS },
    clock,
    SETTLING_DAYS,
    endBefore === undefined ? undefined : { maxMs: endBefore - SLOT_MS },
  );
  return evaluateWindow(
    { registry, usage: rollup },
    {
      window,
      ...(dataEndMs === undefined ? {} : { dataEndMs }),
      settling: { settlingDays: SETTLING_DAYS },
    },
  );
}

interface RunRecord {
  readonly atMs: number;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
}

async function walkTheYear(schedule: Schedule) {
  const delivered = traffic();
  const rollup = new FakeRollup(delivered);
  const watermark = new FakeWatermark();
  const ledger = new FakeLedger();
  const copies = new MemoryReportStore();
  const sent: { message: OutgoingMessage; atMs: number }[] = [];
  let nowMs = 0;
  const clock = { now: () => new Date(nowMs) };
  const mailer: Mailer = {
    name: 'test',
    sendingRecords: 'test',
    send: async (message) => {
      sent.push({ message, atMs: nowMs });
      return { providerMessageId: message.messageId };
    },
  };
  const runs: RunRecord[] = [];
  const skippedNights: string[] = [];
  for (const [night, date] of datesBetween(FIRST_DAY, LAST_RUN_DAY).entries()) {
    if (night % (schedule.everyNthNight ?? 1) !== 0) continue;
    const at = firing(date, schedule.hh, schedule.mm, schedule.zone);
    if (at === undefined) {
      skippedNights.push(date);
      continue;
    }
    nowMs = at;
    if (schedule.engine === 'local') {
      const evaluated = await localNight(rollup, at);
      await sendNotices(
        { registry, ledger, mailer, copies, clock },
        {
          runId: `local-${date}`,
          evaluations: evaluated.evaluations,
          dryRun: false,
          reportRef: `run local-${date}`,
          messageIdDomain: 'test.example',
          datedAt: new Date(at),
          copiesUnder: `local-${date}/`,
          staleAfterMs: 0,
        },
      );
      runs.push({ atMs: at, evaluations: evaluated.evaluations });
      continue;
    }
    const planned = await plan(
      {
        loadRegistry: async () => ({ registry, hash: 'h', source: 'test' }),
        clock,
        watermark,
        settlingDays: SETTLING_DAYS,
        logsStartDate: '2025-12-01',
      },
      { scheduledTime: new Date(at).toISOString(), executionName: `run-${date}` },
    );
    for (const batch of planned.batches) rollup.rollUp(batch);
    // What Evaluate does once the RollUp map succeeded.
    if (planned.settling.advanceWatermarkTo) {
      await watermark.advance(planned.settling.advanceWatermarkTo);
    }
    const dataEndMs = rollup.dataEndMs();
    const evaluated = await evaluateWindow(
      { registry, usage: rollup },
      {
        window: planned.window,
        ...(dataEndMs === undefined ? {} : { dataEndMs }),
        settling: {
          settlingDays: planned.settling.settlingDays,
          dataThroughMs: Date.parse(planned.settling.dataThrough),
        },
      },
    );
    await sendNotices(
      { registry, ledger, mailer, copies, clock },
      {
        runId: planned.runId,
        evaluations: evaluated.evaluations,
        dryRun: false,
        reportRef: `run ${planned.runId}`,
        messageIdDomain: 'test.example',
        datedAt: new Date(at),
        copiesUnder: `${planned.runId}/`,
      },
    );
    runs.push({ atMs: at, evaluations: evaluated.evaluations });
  }
  return { delivered, rollup, runs, sent, skippedNights, ledger, lastRunMs: nowMs };
}

/** Every record of a partner's local month, whenever it was delivered. */
function truthOf(delivered: readonly DeliveredRow[], partner: number, periodId: string): bigint {
  const zone = ZONES[partner] ?? 'UTC';
  const period = monthlyPeriod(`${periodId}-01`, zone);
  const requester = `arn:aws:iam::${accountOf(partner)}:user/reader`;
  return delivered
    .filter((d) => d.row.requester === requester)
    .filter((d) => d.row.slotStart >= period.startMs && d.row.slotStart < period.endMs)
    .reduce((n, d) => n + d.row.requests, 0n);
}

const MONTHS = Array.from({ length: 12 }, (_, i) => `2026-${String(i + 1).padStart(2, '0')}`);

describe.each(SCHEDULES)('a year of nightly runs at $name', (schedule) => {
  let walk: Awaited<ReturnType<typeof walkTheYear>>;

  it('rolls up every delivery date exactly once, skipped nights and repeated UTC dates included', async () => {
    walk = await walkTheYear(schedule);
    const utcDateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    // From the first run's yesterday (its first batch) to the last run's yesterday.
    const expected = datesBetween(
      schedule.engine === 'local' ? '2025-12-30' : addDays(utcDateOf(walk.runs[0]?.atMs ?? 0), -1),
      utcDateOf(walk.lastRunMs),
    );
    expect([...walk.rollup.rolledUp.keys()].sort()).toEqual(expected);
    expect([...walk.rollup.rolledUp.values()].every((n) => n === 1)).toBe(true);
    if (schedule.zone === 'Europe/Berlin' && schedule.everyNthNight === undefined) {
      expect(walk.skippedNights).toEqual(['2026-03-29']);
    }
    if (schedule.zone === 'Pacific/Chatham') expect(walk.skippedNights).toEqual(['2026-09-27']);
    if (schedule.zone === 'Europe/London') {
      // The premise of that schedule: the UTC date of its runs repeats in March and skips in October.
      const utcDates = walk.runs.map((r) => utcDateOf(r.atMs));
      expect(utcDates.filter((d) => d === '2026-03-29')).toHaveLength(2);
      expect(utcDates).not.toContain('2026-10-25');
    }
  }, 120_000);

  it.each(ZONES.map((zone, i) => [zone, i] as const))(
    'evaluates each month of the partner in %s after its end until final, and its final figures include the late records',
    (_zone, partner) => {
      for (const month of MONTHS) {
        const evs = walk.runs.flatMap((r) =>
          r.evaluations
            .filter((e) => e.partnerId === `p${partner}` && e.period.id === month)
            .map((e) => ({ atMs: r.atMs, e })),
        );
        const end = evs[0]?.e.period.endMs ?? Number.NaN;
        const afterEnd = evs.filter((x) => x.atMs >= end);
        expect(afterEnd.length, `${month}: runs after its end`).toBeGreaterThan(0);
        const finals = afterEnd.filter((x) => x.e.final === true);
        expect(finals.length, `${month}: a final evaluation`).toBeGreaterThan(0);
        // Once final, always final; never final before the settling time has passed.
        const firstFinal = afterEnd.findIndex((x) => x.e.final === true);
        expect(afterEnd.slice(firstFinal).every((x) => x.e.final === true)).toBe(true);
        for (const x of evs) {
          expect(x.e.finalAfterMs).toBe(end + SETTLING_DAYS * DAY);
          if (x.atMs < end + SETTLING_DAYS * DAY) expect(x.e.final).toBe(false);
        }
        const truth = truthOf(walk.delivered, partner, month);
        for (const x of finals) {
          expect(x.e.totals.requests, `${month}: final figures`).toBe(truth);
        }
        // Before its final evaluation the month missed some late records at least once: the walk
        // really has late records.
        if (SPIKE_MONTHS.includes(month)) {
          expect(evs.some((x) => x.e.totals.requests < truth)).toBe(true);
        }
      }
    },
  );

  it('sends the notice a limit crossed in the last local quarter hour makes due, once, saying it is late', () => {
    for (const [partner] of ZONES.entries()) {
      for (const month of MONTHS) {
        const notices = walk.sent.filter(
          (s) =>
            s.message.key.partnerId === `p${partner}` &&
            s.message.key.periodId === month &&
            s.message.key.level === 'overage',
        );
        if (!SPIKE_MONTHS.includes(month)) {
          expect(notices, `p${partner} ${month}`).toEqual([]);
          continue;
        }
        expect(notices, `p${partner} ${month}`).toHaveLength(1);
        const notice = notices[0]!;
        const end = monthlyPeriod(`${month}-01`, ZONES[partner] ?? 'UTC').endMs;
        expect(notice.atMs).toBeGreaterThanOrEqual(end);
        expect(notice.message.text).toContain(
          'This notice is sent after the billing period closed because access logs arrive late',
        );
        expect(notice.message.html).toContain('sent after the billing period closed');
      }
    }
    // One notice per partner, period and level, whatever the number of runs that saw it due.
    const keys = walk.sent.map(
      (s) => `${s.message.key.partnerId}/${s.message.key.periodId}/${s.message.key.level}`,
    );
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('the walk itself', () => {
  it('finds the schedule gaps and repeats it relies on', () => {
    expect(firing('2026-03-29', 2, 30, 'Europe/Berlin')).toBeUndefined();
    expect(new Date(firing('2026-10-25', 2, 30, 'Europe/Berlin') ?? 0).toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    expect(new Date(firing('2026-10-25', 0, 30, 'Europe/London') ?? 0).toISOString()).toBe(
      '2026-10-24T23:30:00.000Z',
    );
    expect(new Date(firing('2026-10-26', 0, 30, 'Europe/London') ?? 0).toISOString()).toBe(
      '2026-10-26T00:30:00.000Z',
    );
  });
});
