/**
 * The local audit end to end, checked against the generator's ground truth: the generator tallies what
 * it writes, independently of the parser and the overage rules; the audit must arrive at the same
 * figures, and a rerun must change nothing and send nothing.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { type LocalAuditResult, runLocalAudit } from '../../functions/cli/local-audit.js';
import type { Report } from '../../functions/domain/report.js';

const clock = { now: () => new Date('2026-12-02T06:00:00Z') };
let dir: string;
let truth: any;
let first: LocalAuditResult;
let data: Awaited<ReturnType<typeof generateDataset>>;

const period = (r: Report, partnerId: string, periodId: string) =>
  r.partners.find((p) => p.partnerId === partnerId)?.periods.find((p) => p.periodId === periodId);

async function audit(extra: { dryRun?: boolean } = {}) {
  return runLocalAudit({
    logs: [data.logsDir],
    registryPath: data.registryPath,
    outDir: join(dir, 'out'),
    from: '2026-10-01',
    to: '2026-12-01',
    dryRun: extra.dryRun ?? false,
    clock,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pa-e2e-'));
  data = await generateDataset({
    outDir: join(dir, 'data'),
    start: '2026-11-01',
    days: 10,
    requestsPerDay: 3000,
    layout: 'both',
    seed: 7,
  });
  truth = JSON.parse(await readFile(data.groundTruthPath, 'utf8'));
  first = await audit();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a local audit of generated logs', () => {
  it('reads every line: parsed plus malformed equals lines, as the generator wrote them', () => {
    const input = first.report.input;
    expect(input.lines).toBe(Number(truth.input.lines));
    expect(input.parsedLines).toBe(Number(truth.input.parsedLines));
    expect(input.malformedLines).toBe(Number(truth.input.malformedLines));
    expect(input.files).toBe(truth.input.files);
  });

  it("matches the ground truth per partner and month, in each partner's own time zone", () => {
    let compared = 0;
    for (const [partnerId, p] of Object.entries<any>(truth.partners)) {
      for (const [month, m] of Object.entries<any>(p.months)) {
        const got = period(first.report, partnerId, month);
        expect(got, `${partnerId} ${month}`).toBeDefined();
        expect(got!.totals, `${partnerId} ${month}`).toEqual(m.counted);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(4);
  });

  it('matches the ground truth per application and per local day', () => {
    for (const [partnerId, p] of Object.entries<any>(truth.partners)) {
      const m = p.months[p.mainMonth];
      const got = period(first.report, partnerId, p.mainMonth)!;
      for (const [appId, a] of Object.entries<any>(m.applications)) {
        const app = got.applications.find((x) => x.applicationId === appId);
        expect(app?.counts, `${partnerId}/${appId}`).toEqual(a.counted);
      }
      for (const [date, d] of Object.entries<any>(m.days)) {
        const day = got.daily.find((x) => x.date === date);
        expect(day?.counts, `${partnerId} ${date}`).toEqual({
          requests: d.requests,
          bytesSent: d.bytesSent,
          records: d.records,
        });
      }
    }
  });

  it('reaches the levels the ground truth says and flags datasets outside the contract', () => {
    for (const [partnerId, p] of Object.entries<any>(truth.partners)) {
      const m = p.months[p.mainMonth];
      const got = period(first.report, partnerId, p.mainMonth)!;
      expect(
        got.levels.map((l) => l.level),
        partnerId,
      ).toEqual(m.levels);
      const outside = got.findings.filter((f) => f.kind === 'dataset-outside-contract').map((f) => f.dataset);
      expect(outside.sort(), partnerId).toEqual([...p.datasetsOutsideContract].sort());
    }
  });

  it('reports unregistered principals with all their requests', () => {
    const got = first.report.unattributed.figures;
    for (const [requester, u] of Object.entries<any>(truth.unregistered)) {
      const fig = got.filter((f) => f.requester === requester);
      const requests = fig.reduce((n, f) => n + BigInt(f.counts.requests), 0n);
      expect(requests.toString(), requester).toBe(u.requests);
      // The generator's anonymous requests are all denied (403): a denied attempt reads no partner data.
      expect(
        fig.some((f) => f.touchedPartnerData),
        requester,
      ).toBe(u.touchedPartnerData && !u.anonymous);
    }
    expect(got.length).toBe(Object.keys(truth.unregistered).length);
  });

  it('sends one notice per partner whose level was reached, and one per forecast level due, as .eml files in the outbox', async () => {
    const reached = Object.values<any>(truth.partners).filter((p) => p.months[p.mainMonth].levels.length > 0);
    // A forecast level is notified once the data passes noticesFrom, unless an actual level at or above
    // it is reached (OVERAGES.md, "Forecast levels"): the generator's thresholds are 80/100/150 and
    // 100/150 by forecast.
    const percent: Record<string, number> = {
      warning: 80,
      overage: 100,
      escalation: 150,
      'forecast-overage': 100,
      'forecast-escalation': 150,
    };
    const forecastDue = Object.values<any>(truth.partners).filter((p) => {
      const f = p.story.forecast;
      if (!f || f.levels.length === 0 || f.asOf < f.noticesFrom) return false;
      const actual = Math.max(-1, ...p.months[p.mainMonth].levels.map((l: string) => percent[l]!));
      return percent[f.levels.at(-1)]! > actual;
    });
    expect(forecastDue.length).toBeGreaterThan(0);
    const sent = first.notices.filter((n) => n.status === 'sent');
    expect(sent.length).toBe(reached.length + forecastDue.length);
    expect(sent.filter((n) => n.key.level.startsWith('forecast-')).length).toBe(forecastDue.length);
    const files = (await readdir(first.outboxDir)).filter((f) => f.endsWith('.eml'));
    expect(files.length).toBe(sent.length);
    const eml = await readFile(join(first.outboxDir, files[0]!), 'utf8');
    expect(eml).toMatch(/^Message-ID: <.+@partner-audit\.local>\r$/m);
    expect(eml).toMatch(/Content-Type: multipart\/alternative/);
  });

  it('a rerun reads no file again, changes no total and sends no second notice', async () => {
    const again = await audit();
    expect(again.input.filesSkipped).toBe(again.input.files);
    expect(again.report.partners).toEqual(
      first.report.partners.map((p) => ({
        ...p,
        periods: p.periods.map((per) => ({
          ...per,
          notices: again.report.partners
            .find((x) => x.partnerId === p.partnerId)!
            .periods.find((x) => x.periodId === per.periodId)!.notices,
        })),
      })),
    );
    expect(again.notices.filter((n) => n.status === 'sent')).toEqual([]);
    expect(again.notices.every((n) => n.status === 'already-sent')).toBe(true);
    expect(again.report.noticeDiffs).toEqual([]);
    const files = (await readdir(first.outboxDir)).filter((f) => f.endsWith('.eml'));
    expect(files.length).toBe(first.notices.filter((n) => n.status === 'sent').length);
  });

  it('a dry run renders previews and records nothing', async () => {
    const dry = await runLocalAudit({
      logs: [data.logsDir],
      registryPath: data.registryPath,
      outDir: join(dir, 'dry'),
      from: '2026-11-01',
      to: '2026-12-01',
      dryRun: true,
      clock,
    });
    const previews = dry.notices.filter((n) => n.status === 'previewed');
    expect(previews.length).toBe(first.notices.filter((n) => n.status === 'sent').length);
    expect((await readdir(join(dir, 'dry', 'previews'))).filter((f) => f.endsWith('.eml')).length).toBe(
      previews.length,
    );
    const wet = await runLocalAudit({
      logs: [data.logsDir],
      registryPath: data.registryPath,
      outDir: join(dir, 'dry'),
      from: '2026-11-01',
      to: '2026-12-01',
      dryRun: false,
      clock,
    });
    expect(wet.notices.filter((n) => n.status === 'sent').length).toBe(previews.length);
  });
});
