import { describe, expect, it } from 'vitest';
import {
  checkSettlingDays,
  nightlyDeliveries,
  periodFinality,
  settlingWindow,
} from '../../functions/audit/run-window.js';
import { monthlyPeriod } from '../../functions/domain/time.js';

const at = (iso: string) => Date.parse(iso);

describe('settlingWindow', () => {
  it.each([
    // [how far the data reaches, settling days, to, expected from]
    ['2026-04-01T00:00:00Z', 3, '2026-04-02', '2026-03-01'],
    ['2026-04-04T00:00:00Z', 3, '2026-04-05', '2026-03-01'],
    // 4 April at noon UTC: March may still be open at UTC-12 (it ended there 1 April 12:00 UTC).
    ['2026-04-04T12:00:00Z', 3, '2026-04-05', '2026-03-01'],
    ['2026-04-05T00:00:00Z', 3, '2026-04-06', '2026-04-01'],
    ['2026-04-02T00:00:00Z', 0, '2026-04-03', '2026-04-01'],
    ['2026-04-01T00:00:00Z', 0, '2026-04-02', '2026-03-01'],
    ['2026-03-20T00:00:00Z', 3, '2026-03-21', '2026-03-01'],
    // Across a year end.
    ['2027-01-03T00:00:00Z', 3, '2027-01-04', '2026-12-01'],
  ])('data through %s, settling %i days, to %s: from %s', (through, settlingDays, to, from) => {
    expect(settlingWindow({ dataThroughMs: at(through), settlingDays, to })).toEqual({ from, to });
  });

  it('keeps a month while it is not final in the westmost zone, and drops it once it is', () => {
    const westmost = monthlyPeriod('2026-03-01', 'Etc/GMT+12');
    const settling = 3;
    for (let t = westmost.endMs - 86_400_000; t < westmost.endMs + 6 * 86_400_000; t += 3600_000) {
      const window = settlingWindow({ dataThroughMs: t, settlingDays: settling, to: '2026-04-30' });
      const final = periodFinality(westmost, { settlingDays: settling, dataThroughMs: t }).final;
      if (!final) expect(window.from, new Date(t).toISOString()).toBe('2026-03-01');
    }
  });
});

describe('periodFinality', () => {
  const march = monthlyPeriod('2026-03-01', 'Pacific/Honolulu'); // ends 1 April 10:00 UTC
  it.each([
    ['2026-04-04T09:59:59.999Z', false],
    ['2026-04-04T10:00:00.000Z', true],
    ['2026-04-10T00:00:00.000Z', true],
    ['2026-03-31T00:00:00.000Z', false],
  ])('March in Honolulu with data through %s: final %s', (through, final) => {
    expect(periodFinality(march, { settlingDays: 3, dataThroughMs: at(through) })).toEqual({
      final,
      finalAfterMs: at('2026-04-04T10:00:00Z'),
    });
  });
});

describe('nightlyDeliveries', () => {
  it('rolls up only yesterday on the first run (no watermark)', () => {
    expect(nightlyDeliveries({ today: '2026-04-02' })).toEqual({
      dates: ['2026-04-01'],
      advanceTo: '2026-04-01',
      dataThroughMs: at('2026-04-02T00:00:00Z'),
      dataThroughBeforeMs: at('2026-04-01T00:00:00Z'),
      backlog: 0,
    });
  });

  it('rolls up every date after the watermark through yesterday: a skipped night is caught up', () => {
    const d = nightlyDeliveries({ today: '2026-03-31', watermark: '2026-03-28' });
    expect(d.dates).toEqual(['2026-03-29', '2026-03-30']);
    expect(d.advanceTo).toBe('2026-03-30');
    expect(d.dataThroughBeforeMs).toBe(at('2026-03-29T00:00:00Z'));
  });

  it('rolls up nothing on a second run on the same UTC date, and does not move the watermark', () => {
    const d = nightlyDeliveries({ today: '2026-03-29', watermark: '2026-03-28' });
    expect(d).toEqual({
      dates: [],
      advanceTo: null,
      dataThroughMs: at('2026-03-29T00:00:00Z'),
      dataThroughBeforeMs: at('2026-03-29T00:00:00Z'),
      backlog: 0,
    });
  });

  it('never rolls up before logsStartDate', () => {
    expect(
      nightlyDeliveries({ today: '2026-01-03', watermark: '2025-12-01', logsStartDate: '2026-01-01' }).dates,
    ).toEqual(['2026-01-01', '2026-01-02']);
  });

  it('takes at most maxBatches dates, the oldest first, and says how many are left', () => {
    const d = nightlyDeliveries({ today: '2026-06-01', watermark: '2026-01-31', maxBatches: 62 });
    expect(d.dates).toHaveLength(62);
    expect(d.dates[0]).toBe('2026-02-01');
    expect(d.advanceTo).toBe('2026-04-03');
    expect(d.dataThroughMs).toBe(at('2026-04-04T00:00:00Z'));
    expect(d.backlog).toBe(120 - 62);
  });
});

describe('checkSettlingDays', () => {
  it.each([-1, 1.5, 32, Number.NaN])('refuses %s, naming the setting', (n) => {
    expect(() => checkSettlingDays(n)).toThrow(/settlingDays must be a whole number of days from 0 to 31/);
  });
  it('accepts 0 and 31', () => {
    expect(checkSettlingDays(0)).toBe(0);
    expect(checkSettlingDays(31)).toBe(31);
  });
});
