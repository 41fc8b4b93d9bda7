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
