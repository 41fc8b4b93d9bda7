import { describe, expect, it } from 'vitest';
import {
  addDays,
  datesBetween,
  isValidTimeZone,
  localDateOf,
  monthlyPeriod,
  monthlyPeriodsOverlapping,
  offsetMs,
  parseDate,
  startOfLocalDate,
} from '../../functions/domain/time.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('startOfLocalDate', () => {
  it.each([
    ['2026-11-01', 'UTC', '2026-11-01T00:00:00.000Z'],
    ['2026-11-01', 'America/New_York', '2026-11-01T04:00:00.000Z'], // EDT, the day DST ends
    ['2026-11-02', 'America/New_York', '2026-11-02T05:00:00.000Z'], // EST
    ['2026-03-08', 'America/New_York', '2026-03-08T05:00:00.000Z'], // DST starts at 02:00 that day
    ['2026-03-09', 'America/New_York', '2026-03-09T04:00:00.000Z'],
    ['2026-11-01', 'Asia/Kolkata', '2026-10-31T18:30:00.000Z'],
    ['2026-11-01', 'Asia/Kathmandu', '2026-10-31T18:15:00.000Z'],
    ['2026-11-01', 'Pacific/Auckland', '2026-10-31T11:00:00.000Z'],
  ])('local midnight of %s in %s is %s', (date, zone, expected) => {
    expect(iso(startOfLocalDate(date, zone))).toBe(expected);
  });

  it('starts the day when the clock resumes where DST skips midnight (America/Santiago, 2026-09-06)', () => {
    const start = startOfLocalDate('2026-09-06', 'America/Santiago');
    expect(localDateOf(start, 'America/Santiago')).toBe('2026-09-06');
    expect(localDateOf(start - 1, 'America/Santiago')).toBe('2026-09-05');
  });
});

describe('monthlyPeriod', () => {
  it('is half-open: the last instant of the month is in, local midnight of the 1st is out', () => {
    const p = monthlyPeriod('2026-11-15', 'Europe/Berlin');
    expect(p.id).toBe('2026-11');
    expect(iso(p.startMs)).toBe('2026-10-31T23:00:00.000Z');
    expect(iso(p.endMs)).toBe('2026-11-30T23:00:00.000Z');
    expect(localDateOf(p.endMs - 1, 'Europe/Berlin')).toBe('2026-11-30');
    expect(localDateOf(p.endMs, 'Europe/Berlin')).toBe('2026-12-01');
  });

  it('rolls December into January', () => {
    const p = monthlyPeriod('2026-12-31', 'UTC');
    expect([p.fromDate, p.toDate]).toEqual(['2026-12-01', '2027-01-01']);
  });

  it('lists every month a window overlaps', () => {
    const ids = monthlyPeriodsOverlapping('2026-10-20', '2027-01-02', 'UTC').map((p) => p.id);
    expect(ids).toEqual(['2026-10', '2026-11', '2026-12', '2027-01']);
  });
});

describe('dates', () => {
  it('adds days across month and leap-year ends', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(datesBetween('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
  });

  it.each(['2026-02-30', '2026-13-01', '26-01-01', 'yesterday'])('rejects %s', (d) => {
    expect(() => parseDate(d)).toThrow(RangeError);
  });

  it('gives the offset of a zone at an instant', () => {
    expect(offsetMs(Date.UTC(2026, 6, 1), 'America/New_York')).toBe(-4 * 3600_000);
    expect(offsetMs(Date.UTC(2026, 0, 1), 'Asia/Kolkata')).toBe(5.5 * 3600_000);
  });
});

describe('isValidTimeZone', () => {
  // The runtime's own formatter is the judge; the canonical list is a shortcut that must agree with it.
  const formatterTakes = (zone: string) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  };

  it.each([
    ['Europe/Berlin', true],
    ['UTC', true],
    ['Etc/UTC', true],
    ['US/Eastern', true], // a link, not in the canonical list
    ['Asia/Calcutta', true], // likewise
    ['europe/berlin', true], // zone names are case-insensitive
    ['Mars/Olympus_Mons', false],
    ['', false],
    ['Europe/Berlin ', false],
  ])('%j: %s, as a formatter says', (zone, valid) => {
    expect(isValidTimeZone(zone)).toBe(valid);
    expect(formatterTakes(zone)).toBe(valid);
  });

  it('takes every zone of the canonical list, as a formatter does', () => {
    const zones = Intl.supportedValuesOf('timeZone');
    expect(zones.length).toBeGreaterThan(300);
    for (const zone of zones) expect([zone, isValidTimeZone(zone)]).toEqual([zone, formatterTakes(zone)]);
  });
});
