/**
 * evaluateWindow over an in-memory UsageSource: which periods a window selects in each partner's own
 * time zone, one read of the usage for all of them, the "as of" instant, uncovered periods, finality.
 */
import { describe, expect, it } from 'vitest';
import {
  evaluateWindow,
  InvalidWindowError,
  UnknownPartnerError,
} from '../../functions/audit/evaluate-window.js';
import type { Interval } from '../../functions/domain/time.js';
import { SLOT_MS, type UsageRow } from '../../functions/domain/usage.js';
import type { UsageSource } from '../../functions/ports.js';
import { makeRegistry } from '../support/notice-fixtures.js';

const registry = makeRegistry();
const ACME = 'arn:aws:iam::111122223333:user/ingest';
const DAY = 24 * 3_600_000;

function row(iso: string, requests: bigint, requester = ACME): UsageRow {
  return {
    slotStart: Date.parse(iso),
    bucket: 'feeds',
    requester,
    accessPoint: '-',
    dataset: 'feeds/weather/',
    operation: 'REST.GET.OBJECT',
    statusClass: '2xx',
    requests,
    bytesSent: requests * 1000n,
    records: 0n,
  };
}

/** A UsageSource over fixed rows, remembering every range it was asked for. */
class MemoryUsage implements UsageSource {
  readonly engine = 'memory';
  readonly reads: Interval[] = [];
  constructor(private readonly rows: readonly UsageRow[]) {}
  async usage(range: Interval): Promise<UsageRow[]> {
    this.reads.push(range);
    return this.rows.filter((r) => r.slotStart >= range.startMs && r.slotStart < range.endMs);
  }
}

const rows = [
  // 23:30 UTC on 31 October is 00:30 on 1 November in Berlin: November's usage, for acme.
  row('2026-10-31T23:30:00Z', 100_000n),
  row('2026-10-20T10:00:00Z', 50_000n),
  row('2026-11-10T10:00:00Z', 800_000n),
  row('2026-11-20T10:00:00Z', 200_000n),
  row('2026-11-12T08:00:00Z', 7n, 'arn:aws:iam::999988887777:user/stranger'),
];

describe('evaluateWindow', () => {
  it("evaluates each month overlapping the window in the partner's zone, from one read of the usage", async () => {
    const usage = new MemoryUsage(rows);
    const out = await evaluateWindow(
      { registry, usage },
      { window: { from: '2026-10-15', to: '2026-12-01' } },
    );

    expect(out.evaluations.map((e) => [e.partnerId, e.period.id])).toEqual([
      ['acme', '2026-10'],
      ['acme', '2026-11'],
    ]);
    const [october, november] = out.evaluations;
    expect(october!.totals.requests).toBe(50_000n);
    expect(november!.totals.requests).toBe(1_100_000n);
    expect(november!.levels.map((l) => l.level)).toContain('overage');
    // One read: from October's start in Berlin to the window's end (the later of the UTC and local ends).
    expect(usage.reads).toEqual([
      { startMs: Date.parse('2026-09-30T22:00:00Z'), endMs: Date.parse('2026-12-01T00:00:00Z') },
    ]);
    expect(out.uncovered).toEqual([]);
  });

  it('states figures as of the earliest of the data end, the window end and the period end', async () => {
    const usage = new MemoryUsage(rows);
    const dataEndMs = Date.parse('2026-11-15T00:00:00Z');
    const window = { from: '2026-10-01', to: '2026-11-20' };
    const out = await evaluateWindow({ registry, usage }, { window, dataEndMs });
    const [october, november] = out.evaluations;
    expect(october!.asOfMs).toBe(october!.period.endMs);
    expect(november!.asOfMs).toBe(dataEndMs);
    // Without a data end, the window's end (midnight of 20 November in Berlin) bounds November.
    const open = await evaluateWindow({ registry, usage }, { window });
    expect(open.evaluations[1]!.asOfMs).toBe(Date.parse('2026-11-19T23:00:00Z'));
  });

  it('reports a period with no contract in force as uncovered, not evaluated', async () => {
    const out = await evaluateWindow(
      { registry, usage: new MemoryUsage(rows) },
      { window: { from: '2025-12-01', to: '2026-02-01' } },
    );
    expect(out.uncovered).toEqual([{ partnerId: 'acme', periodId: '2025-12' }]);
    expect(out.evaluations.map((e) => e.period.id)).toEqual(['2026-01']);
  });

  it('reports usage no partner is registered for as unattributed, over the window in UTC', async () => {
    const out = await evaluateWindow(
      { registry, usage: new MemoryUsage(rows) },
      { window: { from: '2026-11-01', to: '2026-12-01' } },
    );
    expect(out.unattributed.figures.map((f) => [f.requester, f.counts.requests])).toEqual([
      ['arn:aws:iam::999988887777:user/stranger', 7n],
    ]);
  });

  it('says whether each period is final once the data reaches settlingDays past its end', async () => {
    const window = { from: '2026-10-01', to: '2026-12-01' };
    const dataThroughMs = Date.parse('2026-11-03T23:00:00Z') + SLOT_MS;
    const out = await evaluateWindow(
      { registry, usage: new MemoryUsage(rows) },
      { window, settling: { settlingDays: 3, dataThroughMs } },
    );
    expect(out.evaluations.map((e) => [e.period.id, e.final])).toEqual([
      ['2026-10', true],
      ['2026-11', false],
    ]);
    expect(out.evaluations[0]!.finalAfterMs).toBe(out.evaluations[0]!.period.endMs + 3 * DAY);
    const unsettled = await evaluateWindow({ registry, usage: new MemoryUsage(rows) }, { window });
    expect(unsettled.evaluations[0]!.final).toBeUndefined();
  });

  it('refuses an unknown partner id, or a window that does not run forwards, before reading any usage', async () => {
    const usage = new MemoryUsage(rows);
    const window = { from: '2026-11-01', to: '2026-12-01' };
    await expect(
      evaluateWindow({ registry, usage }, { window, partners: ['acme', 'nobody'] }),
    ).rejects.toThrow(new UnknownPartnerError(['nobody']));
    await expect(
      evaluateWindow({ registry, usage }, { window: { from: '2026-12-01', to: '2026-12-01' } }),
    ).rejects.toBeInstanceOf(InvalidWindowError);
    expect(usage.reads).toEqual([]);
    const selected = await evaluateWindow({ registry, usage }, { window, partners: ['acme'] });
    expect(selected.evaluations.map((e) => e.partnerId)).toEqual(['acme']);
  });
});
