/**
 * How close the forecast comes to the month's end on generated data (OVERAGES.md, "Forecast"): the
 * whole-period run rate the audit uses, beside the rate of the last full seven days. The generated
 * partners are weekday-heavy (weekends at 0.65 of a weekday) and the far-over one has busy spike days.
 * November 2026 starts on a Sunday.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../functions/cli/generate/generator.js';

let dir: string;
/** Counted requests per local day of November, per partner profile. */
const daily = new Map<string, number[]>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pa-forecast-'));
  // The demo on 1 December: all of November, from the day before it.
  const s = await generateDataset({ outDir: dir, start: '2026-10-31', days: 31, requestsPerDay: 8000 });
  const truth = JSON.parse(await readFile(s.groundTruthPath, 'utf8'));
  for (const p of Object.values<any>(truth.partners)) {
    const days = p.months['2026-11'].days;
    const dates = Object.keys(days).sort();
    expect(dates).toHaveLength(30);
    daily.set(
      p.profile,
      dates.map((d) => Number(days[d].requests)),
    );
  }
}, 120_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Relative error (percent) of each forecast after k full local days, k = 1 .. n-1. */
function errors(req: readonly number[]) {
  const n = req.length;
  const total = sum(req);
  const out: { k: number; whole: number; last7: number | null }[] = [];
  for (let k = 1; k < n; k++) {
    const used = sum(req.slice(0, k));
    const whole = (used * n) / k;
    const last7 = k >= 7 ? used + (sum(req.slice(k - 7, k)) / 7) * (n - k) : null;
    out.push({
      k,
      whole: (Math.abs(whole - total) / total) * 100,
      last7: last7 === null ? null : (Math.abs(last7 - total) / total) * 100,
    });
  }
  return out;
}

const mean = (xs: readonly number[]) => sum(xs) / xs.length;

describe('the whole-period forecast on weekday-heavy partners', () => {
  it.each(['under', 'near', 'over'])(
    'is far off in the first days of a month that starts on a Sunday, and close after two weeks (%s)',
    (profile) => {
      const e = errors(daily.get(profile)!);
      const early = mean(e.filter((x) => x.k <= 2).map((x) => x.whole));
      const late = mean(e.filter((x) => x.k >= 14).map((x) => x.whole));
      expect(early).toBeGreaterThan(8);
      expect(late).toBeLessThan(4);
      expect(early).toBeGreaterThan(3 * late);
    },
  );
});

describe('the last full seven days as the rate instead', () => {
  it('is farther off than the whole-period rate on most days for a partner with busy spike days', () => {
    const e = errors(daily.get('far-over')!).filter((x) => x.last7 !== null);
    const wholeCloser = e.filter((x) => x.whole < x.last7!).length;
    expect(wholeCloser).toBeGreaterThan(e.length / 2);
  });

  it('is about as close as the whole-period rate for the steady partners, each closer on some days, from day 7 on', () => {
    for (const profile of ['under', 'near', 'over']) {
      const e = errors(daily.get(profile)!).filter((x) => x.last7 !== null);
      // Each is closer on some days: neither rate is the better one on every day.
      expect(
        e.some((x) => x.last7! < x.whole),
        profile,
      ).toBe(true);
      expect(
        e.some((x) => x.whole < x.last7!),
        profile,
      ).toBe(true);
      expect(mean(e.map((x) => x.whole)), profile).toBeLessThan(mean(e.map((x) => x.last7!)) * 1.25);
    }
  });
});
