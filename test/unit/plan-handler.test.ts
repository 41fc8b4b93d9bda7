import { describe, expect, it } from 'vitest';
import { parseRegistry } from '../../functions/domain/registry.js';
import { plan } from '../../functions/handlers/plan.handler.js';

const registry = parseRegistry(
  `
version: 1
provider: { name: Meteo Data, noticeFrom: "Data Partnerships <partners@meteo.example>", contactEmail: partners@meteo.example }
partners:
  - id: acme-data
    name: Acme Data
    accountOwners: [{ email: owner@acme.example }]
    timeZone: Europe/Berlin
    applications: [{ id: ingest, name: Ingest, principals: [{ account: "111122223333" }] }]
    contracts: [{ id: c1, effectiveFrom: "2026-01-01", currency: EUR, datasets: ["feeds/weather/"] }]
  - id: bolt-analytics
    name: Bolt Analytics
    accountOwners: [{ email: owner@bolt.example }]
    timeZone: Asia/Kolkata
    applications: [{ id: bi, name: BI, principals: [{ account: "444455556666" }] }]
    contracts: [{ id: c1, effectiveFrom: "2026-01-01", currency: USD, datasets: ["feeds/weather/"] }]
`,
  'test registry',
);

const deps = {
  loadRegistry: async () => ({ registry, hash: 'h', source: 'test' }),
  clock: { now: () => new Date('2026-03-20T10:00:00Z') },
};

describe('plan', () => {
  it("plans a nightly run: month to date, yesterday's deliveries only", async () => {
    const out = await plan(deps, {
      scheduledTime: '2026-04-01T01:30:00Z',
      reason: 'nightly schedule',
      executionName: 'n-1',
    });
    expect(out).toEqual({
      runId: 'n-1',
      window: { from: '2026-03-01', to: '2026-04-01' },
      partners: ['acme-data', 'bolt-analytics'],
      dryRun: false,
      reason: 'nightly schedule',
      batches: ['2026/03/31'],
      settling: {
        settlingDays: 3,
        dataThrough: '2026-04-01T00:00:00.000Z',
        advanceWatermarkTo: '2026-03-31',
        backlog: 0,
      },
    });
  });

  it('plans an ad hoc run over a past window: its deliveries from the day before to its end', async () => {
    const out = await plan(deps, {
      from: '2026-03-01',
      to: '2026-03-04',
      partners: ['bolt-analytics'],
      dryRun: true,
    });
    expect(out.window).toEqual({ from: '2026-03-01', to: '2026-03-04' });
    expect(out.batches).toEqual(['2026/02/28', '2026/03/01', '2026/03/02', '2026/03/03', '2026/03/04']);
    expect(out.partners).toEqual(['bolt-analytics']);
    expect(out.dryRun).toBe(true);
  });

  it.each([
    [
      'only from: up to today',
      { from: '2026-03-18' },
      { from: '2026-03-18', to: '2026-03-20' },
      '2026/03/20',
    ],
    [
      'only to: from the first of its month',
      { to: '2026-03-10' },
      { from: '2026-03-01', to: '2026-03-10' },
      '2026/03/10',
    ],
    [
      'a window past today: deliveries up to today',
      { from: '2026-03-19', to: '2026-03-25' },
      { from: '2026-03-19', to: '2026-03-25' },
      '2026/03/20',
    ],
  ])('ad hoc with %s', async (_, input, window, lastBatch) => {
    const out = await plan(deps, input);
    expect(out.window).toEqual(window);
    expect(out.batches.at(-1)).toBe(lastBatch);
  });

  it('rolls up every delivery date after the watermark, and keeps a closed month in the window while it settles', async () => {
    const out = await plan(
      { ...deps, watermark: { read: async () => '2026-03-30' }, settlingDays: 3 },
      { scheduledTime: '2026-04-03T00:30:00Z', executionName: 'n-2' },
    );
    expect(out.batches).toEqual(['2026/03/31', '2026/04/01', '2026/04/02']);
    expect(out.window).toEqual({ from: '2026-03-01', to: '2026-04-03' });
    expect(out.settling).toEqual({
      settlingDays: 3,
      dataThrough: '2026-04-03T00:00:00.000Z',
      advanceWatermarkTo: '2026-04-02',
      backlog: 0,
    });
  });

  it('drops the closed month once it was final before the run, in every zone', async () => {
    const out = await plan(
      { ...deps, watermark: { read: async () => '2026-04-04' }, settlingDays: 3 },
      { scheduledTime: '2026-04-06T00:30:00Z' },
    );
    expect(out.batches).toEqual(['2026/04/05']);
    expect(out.window).toEqual({ from: '2026-04-01', to: '2026-04-06' });
  });

  it('reads nothing twice when the schedule fires twice on one UTC date', async () => {
    const out = await plan(
      { ...deps, watermark: { read: async () => '2026-03-28' } },
      { scheduledTime: '2026-03-29T23:30:00Z' },
    );
    expect(out.batches).toEqual([]);
    expect(out.settling.advanceWatermarkTo).toBeNull();
  });

  it('rolls up nothing before logsStartDate', async () => {
    const out = await plan(
      { ...deps, watermark: { read: async () => '2025-11-30' }, logsStartDate: '2026-03-28' },
      { scheduledTime: '2026-03-31T01:00:00Z' },
    );
    expect(out.batches).toEqual(['2026/03/28', '2026/03/29', '2026/03/30']);
  });

  it('leaves the watermark to nightly runs: an ad hoc run never advances it', async () => {
    const out = await plan(
      { ...deps, watermark: { read: async () => '2026-03-19' } },
      { from: '2026-03-01', to: '2026-03-04' },
    );
    expect(out.settling.advanceWatermarkTo).toBeNull();
    // Its batches end on 4 March, but the nightly runs rolled up every date to 19 March.
    expect(out.settling.dataThrough).toBe('2026-03-20T00:00:00.000Z');
    const fresh = await plan(deps, { from: '2026-03-01', to: '2026-03-04' });
    expect(fresh.settling.dataThrough).toBe('2026-03-05T00:00:00.000Z');
    // A window up to today: today's deliveries are partial, so the data reaches only "now".
    const today = await plan(deps, { from: '2026-03-18' });
    expect(today.settling.dataThrough).toBe('2026-03-20T10:00:00.000Z');
  });

  it('refuses a settling time it cannot honour', async () => {
    await expect(plan({ ...deps, settlingDays: 40 }, {})).rejects.toThrow(/settlingDays must be/);
  });

  it('makes a run id from the time when there is no execution name, and cleans one that has odd characters', async () => {
    expect((await plan(deps, {})).runId).toMatch(/^20260320T100000Z-[0-9a-f]{6}$/);
    expect((await plan(deps, { executionName: 'a b/c' })).runId).toBe('a_b_c');
  });

  it.each([
    [{ partner: ['acme-data'] }, /partner/],
    [{ from: '2026-02-30' }, /from: must be a calendar date/],
    [{ from: '2026-03-05', to: '2026-03-05' }, /must be before/],
    [{ from: '2026-04-01' }, /in the future/],
    [{ dryRun: 'yes' }, /dryRun/],
    [{ partners: ['acme-data', 'nobody'] }, /nobody/],
    ['not an object', /not valid/],
  ])('refuses %j with a message that says why', async (input, message) => {
    await expect(plan(deps, input)).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringMatching(message),
    });
  });
});
