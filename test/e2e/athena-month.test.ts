/**
 * Nightly runs on the AWS path over a few days of delivery-time partitioned logs, some objects
 * delivered a day late (test/support/athena-month.ts; bench/athena-month.ts runs a whole month): each
 * night rolls up only what S3 delivered the day before, so every log byte is scanned about once, late
 * records still count, evaluation reads only the rollup, a rerun changes nothing, and the report says
 * what each statement scanned. A correctness test: nothing here is timed.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { type MonthResult, simulateMonth } from '../support/athena-month.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

let month: MonthResult;

beforeAll(async () => {
  // Late March, so that the last night's window (the month to date) covers every log in every zone.
  month = await simulateMonth({
    start: '2026-03-26',
    days: 4,
    requestsPerDay: 1500,
    seed: 3,
    lateShare: 0.12,
  });
});

describe('nightly runs over delivery-date partitions', () => {
  it("rolls up each night's deliveries once: the bytes scanned by the rollups are at most 1.05 x the bytes delivered", () => {
    expect(month.nights.map((n) => n.batch)).toEqual([
      '2026/03/26',
      '2026/03/27',
      '2026/03/28',
      '2026/03/29',
      '2026/03/30',
    ]);
    expect(month.nights.some((n) => n.lateObjects > 0)).toBe(true);
    for (const n of month.nights)
      expect(n.rollupBytes).toBeLessThanOrEqual(Math.ceil(n.bytesDelivered * 1.05));
    expect(month.totalDelivered).toBeGreaterThan(0);
    expect(month.ratio).toBeLessThanOrEqual(1.05);
    expect(month.ratio).toBeGreaterThanOrEqual(1);
  });

  it('never reads the logs table to evaluate: its statements read the rollup only', () => {
    // simulateMonth fails the night when an evaluate statement names the logs table. Aggregate's four:
    // the data's end, the two UNLOADs (daily sums per partner, unattributed pairs), the input summary.
    for (const n of month.nights) {
      expect(n.evaluateStatements).toBe(4);
      expect(n.evaluateBytes).toBeGreaterThan(0);
    }
  });

  it('counts every line written, late ones included, and the same month totals as the ground truth', () => {
    expect(month.linesRolledUp).toBe(month.linesWritten);
    expect(month.partners.length).toBeGreaterThanOrEqual(4);
    for (const p of month.partners) {
      expect(p.requests, p.partnerId).toBe(p.truthRequests);
      expect(p.bytesSent, p.partnerId).toBe(p.truthBytesSent);
    }
  });

  it('is idempotent: rerunning a night gives the same rollup, scanning its partition again', () => {
    expect(month.rerun.totalsAfter).toBe(month.rerun.totalsBefore);
    const night = month.nights[month.rerun.night - 1]!;
    expect(month.rerun.bytesScanned).toBeGreaterThanOrEqual(night.bytesDelivered);
  });

  it("states in the report what each of the run's statements scanned, adding up to the run's bytes", () => {
    const queries = month.lastReport.evidence?.queries ?? [];
    const rollups = queries.filter((q) => q.purpose.startsWith('roll up delivery date'));
    expect(rollups.map((q) => q.purpose)).toEqual(
      month.lastRollups.map((r) => `roll up delivery date ${r.batch}`),
    );
    expect(rollups.every((q) => q.sql.startsWith('MERGE INTO'))).toBe(true);
    const total = queries.reduce((n, q) => n + Number(q.bytesScanned ?? 'NaN'), 0);
    const expected = month.lastRollups.reduce((n, r) => n + r.bytesScanned, 0) + month.lastEvaluateBytes;
    expect(total).toBe(expected);
    expect(queries.filter((q) => q.queryExecutionId !== null)).toHaveLength(queries.length);
  });
});

describe('nightly runs with holdings kept (the held grain in the same MERGE)', () => {
  let held: MonthResult;

  beforeAll(async () => {
    held = await simulateMonth({
      start: '2026-03-27',
      days: 3,
      requestsPerDay: 1500,
      seed: 5,
      lateShare: 0.12,
      holdings: true,
    });
  });

  it('still scans each night about once: at most 1.05 x the bytes delivered, writing held rows', () => {
    expect(held.nights.some((n) => n.lateObjects > 0)).toBe(true);
    for (const n of held.nights)
      expect(n.rollupBytes).toBeLessThanOrEqual(Math.ceil(n.bytesDelivered * 1.05));
    expect(held.ratio).toBeLessThanOrEqual(1.05);
    const last = held.nights.at(-1)!;
    expect(last.rollupRows.held).toBeGreaterThan(0);
    // At most one held row per line delivered (one per object, requester and slot).
    const lines = held.nights.reduce((n, x) => n + x.linesDelivered, 0);
    expect(last.rollupRows.held).toBeLessThanOrEqual(lines);
    // The month without holdings wrote none.
    expect(month.nights.every((n) => n.rollupRows.held === 0)).toBe(true);
  });

  it('unloads the holdings by partner besides the usage (six statements), and reports them', () => {
    for (const n of held.nights) expect(n.evaluateStatements).toBe(6);
    const partners = held.lastReport.holdings?.partners ?? [];
    expect(partners.length).toBeGreaterThanOrEqual(4);
    expect(partners.some((p) => BigInt(p.totals.objects) > 0n)).toBe(true);
    expect(month.lastReport.holdings).toBeNull();
  });

  it('is idempotent on every grain: rerunning a night changes no row', () => {
    expect(held.rerun.totalsAfter).toBe(held.rerun.totalsBefore);
    expect(held.rerun.totalsBefore).toContain(':held:');
    for (const p of held.partners) expect(p.requests, p.partnerId).toBe(p.truthRequests);
  });
});
