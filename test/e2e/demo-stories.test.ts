/**
 * The demo tells one story on any day of the month: its four partners are under, near, over and far
 * over their limits both by the audit's forecast and by the month's end (the ground truth simulates
 * the rest of the month with the same draws a later run writes), and the partner heading over gets a
 * forecast notice early in the month. Each date runs the demo command itself with an injected clock.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoSpan, runDemoCommand } from '../../functions/cli/demo-command.js';
import type { Report } from '../../functions/domain/report.js';

type Profile = 'under' | 'near' | 'over' | 'far-over';

/** The bands of the four stories, in percent of the monthly requests limit: [from, below). */
const BAND: Record<Profile, [number, number]> = {
  under: [0, 80],
  near: [80, 100],
  over: [100, 150],
  'far-over': [150, Number.POSITIVE_INFINITY],
};
const FORECAST_LEVELS: Record<Profile, string[]> = {
  under: [],
  near: [],
  over: ['forecast-overage'],
  'far-over': ['forecast-overage', 'forecast-escalation'],
};

interface DemoRun {
  readonly report: Report;
  readonly truth: any;
  readonly stdout: string;
  readonly outbox: string;
}

let dir: string;
const runs = new Map<string, DemoRun>();

async function demo(today: string): Promise<DemoRun> {
  const out = join(dir, today);
  const clock = { now: () => new Date(`${today}T06:30:00Z`) };
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  let stdout: string;
  try {
    expect(await runDemoCommand(['--out', out, '--quiet'], clock)).toBe(0);
    stdout = write.mock.calls.map((c) => String(c[0])).join('');
  } finally {
    write.mockRestore();
  }
  return {
    report: JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report,
    truth: JSON.parse(await readFile(join(out, 'data', 'ground-truth.json'), 'utf8')),
    stdout,
    outbox: join(out, 'outbox'),
  };
}

const DATES = ['2026-12-02', '2026-12-05', '2026-12-15', '2027-02-28'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pa-demo-'));
  for (const d of DATES) runs.set(d, await demo(d));
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pct = (s: string) => Number(s);

describe('demoSpan', () => {
  it.each([
    ['2026-12-02T06:00:00Z', '2026-11-30', 2],
    ['2026-12-15T00:00:00Z', '2026-11-30', 15],
    ['2027-02-28T23:59:00Z', '2027-01-31', 28],
    // On the 1st: all of last month, from the day before it.
    ['2026-12-01T06:00:00Z', '2026-10-31', 31],
  ])(
    'on %s starts the logs on %s for %i days: the month to yesterday, from the day before it',
    (now, start, days) => {
      expect(demoSpan(new Date(now))).toEqual({ start, days });
    },
  );
});

describe.each(['2026-12-02', '2026-12-15', '2027-02-28'])('the demo on %s', (today) => {
  const month = today.slice(0, 7);

  it('audits the month to date of every partner, from its first local minute', () => {
    const { report, truth } = runs.get(today)!;
    for (const [id, p] of Object.entries<any>(truth.partners)) {
      expect(p.mainMonth, id).toBe(month);
      const period = report.partners
        .find((x) => x.partnerId === id)!
        .periods.find((x) => x.periodId === month)!;
      expect(period.complete, id).toBe(false);
      expect(period.totals, id).toEqual(p.months[month].counted);
    }
  });

  it('puts the four partners under, near, over and far over their limits, by forecast and by the month end', () => {
    const { report, truth } = runs.get(today)!;
    const profiles = new Set<string>();
    for (const [id, p] of Object.entries<any>(truth.partners)) {
      const [lo, hi] = BAND[p.profile as Profile];
      profiles.add(p.profile);
      const period = report.partners
        .find((x) => x.partnerId === id)!
        .periods.find((x) => x.periodId === month)!;
      const f = period.forecast!.metrics.find((m) => m.metric === 'requests' && m.applicationId === null)!;
      const byForecast = Number((BigInt(f.forecast) * 10_000n) / BigInt(f.limit!)) / 100;
      expect(byForecast, `${id} by forecast`).toBeGreaterThanOrEqual(lo);
      expect(byForecast, `${id} by forecast`).toBeLessThan(hi);
      // The audit's forecast and the generator's own arithmetic agree.
      expect(byForecast, id).toBe(pct(p.story.forecast.utilisation.requests.percent));
      const atEnd = pct(p.story.monthEnd.utilisation.requests.percent);
      expect(atEnd, `${id} by the month end`).toBeGreaterThanOrEqual(lo);
      expect(atEnd, `${id} by the month end`).toBeLessThan(hi);
      // No other limit (bytes, records, an application's) tells a higher story.
      expect(
        period.forecast!.levels.map((l) => l.level),
        id,
      ).toEqual(FORECAST_LEVELS[p.profile as Profile]);
    }
    expect(profiles).toEqual(new Set(['under', 'near', 'over', 'far-over']));
  });

  it('shows the requests used so far and the forecast side by side in the printed table', () => {
    const { stdout, report } = runs.get(today)!;
    expect(stdout).toMatch(/partner\s+period\s+requests\s+req used\s+req forecast\s+bytes used/);
    for (const p of report.partners) {
      const period = p.periods.find((x) => x.periodId === month)!;
      const f = period.forecast!.metrics.find((m) => m.metric === 'requests' && m.applicationId === null)!;
      const bp = (BigInt(f.forecast) * 10_000n) / BigInt(f.limit!);
      const used = period.metrics.find((m) => m.metric === 'requests')!.utilisation;
      expect(stdout).toMatch(
        new RegExp(
          `^${p.partnerId}\\s+${month}\\*\\s+[\\d,]+\\s+${used}%\\s+${bp / 100n}\\.${String(bp % 100n).padStart(2, '0')}%`,
          'm',
        ),
      );
    }
  });
});

describe('forecast notices in the demo', () => {
  it('on the 2nd: none yet, since the demo contracts wait 3 local days', () => {
    const { report } = runs.get('2026-12-02')!;
    expect(report.notices.filter((n) => n.level.startsWith('forecast-'))).toEqual([]);
  });

  it('on the 5th: the partners heading over are told, in a notice that says it is a projection', async () => {
    const { report, truth, outbox, stdout } = runs.get('2026-12-05')!;
    const byProfile = Object.fromEntries(
      Object.entries<any>(truth.partners).map(([id, p]) => [p.profile, id]),
    );
    const forecastNotices = report.notices
      .filter((n) => n.level.startsWith('forecast-'))
      .map((n) => [n.partnerId, n.level, n.status, n.covers]);
    expect(forecastNotices).toEqual([
      [byProfile['over'], 'forecast-overage', 'sent', []],
      [byProfile['far-over'], 'forecast-escalation', 'sent', ['forecast-overage']],
    ]);
    expect(stdout).toMatch(new RegExp(`^${byProfile['over']}\\s.*\\sforecast-overage:sent$`, 'm'));
    const file = (await readdir(outbox)).find(
      (f) => f.startsWith(`${byProfile['over']}-2026-12-forecast-overage`) && f.endsWith('.eml'),
    );
    const eml = (await readFile(join(outbox, file!), 'utf8')).replace(/=\r\n/g, '');
    expect(eml).toMatch(
      /\[Notice\] .+: data usage projected at 1\d\d% of the December 2026 limit \(forecast-overage\)/,
    );
    expect(eml).toContain('by forecast');
    expect(eml).toContain('This is a projection, not a measurement');
    expect(eml).toContain('No fee is due');
  });

  it('on the last day the actual levels supersede them: the overage and escalation notices go out, no forecast one', () => {
    const { report, truth } = runs.get('2027-02-28')!;
    const byProfile = Object.fromEntries(
      Object.entries<any>(truth.partners).map(([id, p]) => [p.profile, id]),
    );
    expect(report.notices.map((n) => [n.partnerId, n.level, n.status])).toEqual([
      [byProfile['near'], 'warning', 'sent'],
      [byProfile['over'], 'overage', 'sent'],
      [byProfile['far-over'], 'escalation', 'sent'],
    ]);
    // The projections still reach their forecast levels: they are superseded, not gone.
    const over = report.partners.find((p) => p.partnerId === byProfile['over'])!.periods.at(-1)!;
    expect(over.forecast!.levels.map((l) => l.level)).toEqual(['forecast-overage']);
  });

  it("matches the README's example table and notice excerpt, which show the demo on 5 December", async () => {
    const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const { stdout, outbox } = runs.get('2026-12-05')!;
    const table = readme.split('```').find((block) => block.includes('---------  --------'))!;
    // The printed table, header to last row, exactly as the README shows it.
    const printed = stdout.split('\n');
    const head = printed.findIndex((l) => l.startsWith('partner '));
    const foot = printed.findIndex((l) => l.startsWith('(* period still open'));
    expect(table.trim().split('\n')).toEqual(printed.slice(head, foot));
    // The excerpt wraps long lines and leaves parts out ("..."): every line it keeps is in the notice.
    const excerpt = readme.split('```').find((block) => block.includes('(forecast-overage)\n'))!;
    const eml = await readFile(join(outbox, 'kaveri-2026-12-forecast-overage.eml'), 'utf8');
    const text = eml
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16)));
    const flat = (t: string) => t.replace(/\s+/g, ' ').trim();
    const kept = excerpt
      .split('\n')
      .map((l) => l.replace(/^Subject: /, ''))
      .filter((l) => l.trim() !== '' && !l.includes('...') && !/^(From|To|Cc): /.test(l));
    expect(kept.length).toBeGreaterThan(20);
    for (const line of kept) expect(flat(text), line).toContain(flat(line));
    for (const header of excerpt.split('\n').filter((l) => /^(From|To|Cc): /.test(l))) {
      expect(eml).toContain(`${header}\r\n`);
    }
  });
});
