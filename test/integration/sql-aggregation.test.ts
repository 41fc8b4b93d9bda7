/**
 * Aggregation in SQL on DuckDB gives the figures today's TypeScript path computes: for random rollups
 * over a registry of partners in awkward time zones (+05:45, -03:30, +14:00, clock changes), with
 * contract versions that change mid-window or start mid-month and count different operations and
 * statuses, the rows of partnerDailyUsageSql summed per application and day, per dataset and in total
 * equal evaluatePartnerPeriod's figures for every planned period, exactly (bigint); the periods it
 * leaves uncovered have no rows; and unattributedUsageSql equals evaluateUnattributed.
 */
import { type DuckDBConnection, DuckDBInstance, listValue } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_SCHEMA } from '../../functions/adapters/duckdb/schema.js';
import {
  DuckDbUsageAggregation,
  LOCAL_AGGREGATION_TABLES,
  type PartnerDailyUsage,
  writeAttributionTables,
} from '../../functions/adapters/duckdb/usage-aggregation.js';
import {
  evaluateDailyUsage,
  evaluateDailyUsageByPartner,
  evaluateUnattributedUsage,
} from '../../functions/audit/aggregated-evaluation.js';
import {
  partnerDailyUsageRequest,
  unattributedUsageRequest,
} from '../../functions/audit/aggregation-request.js';
import { type AuditWindow, evaluateWindow, planPeriods } from '../../functions/audit/evaluate-window.js';
import { buildAttributor } from '../../functions/domain/attribution.js';
import { evaluatePartnerPeriod, evaluateUnattributed } from '../../functions/domain/evaluate.js';
import { type Registry, RegistrySchema } from '../../functions/domain/registry.js';
import { SLOT_MS, type StatusClass, type UsageRow } from '../../functions/domain/usage.js';
import { deleteRollup, insertRollup } from '../support/rollup-table.js';

const ACCT = ['111122223333', '444455556666', '777788889999'];
const ZONES = [
  'UTC',
  'Asia/Kathmandu',
  'America/St_Johns',
  'Pacific/Kiritimati',
  'Europe/Berlin',
  'America/New_York',
];

function registryOf(zones: readonly string[]): Registry {
  return RegistrySchema.parse({
    version: 1,
    provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
    settings: { ignoredRequesters: ['svc:*', 'AmazonS3'] },
    partners: zones.map((timeZone, i) => ({
      id: `p${i}`,
      name: `P${i}`,
      timeZone,
      accountOwners: [{ email: 'o@p.example' }],
      applications: [
        { id: 'role', name: 'Role', principals: [{ arn: `arn:aws:iam::${ACCT[i % 3]}:role/r${i}` }] },
        {
          id: 'glob',
          name: 'Glob',
          principals: [{ arnGlob: `arn:aws:sts::${ACCT[i % 3]}:assumed-role/job${i}-*` }],
        },
        {
          id: 'ap',
          name: 'AP',
          principals: [{ accessPoint: `arn:aws:s3:us-east-1:${ACCT[0]}:accesspoint/p${i}` }],
        },
      ],
      contracts:
        i % 3 === 0
          ? [
              {
                id: 'v1',
                effectiveFrom: '2026-01-01',
                effectiveTo: '2026-04-01',
                currency: 'USD',
                datasets: ['feeds/a/'],
                counted: { operations: ['REST.GET.*'], statuses: ['2xx'] },
              },
              {
                id: 'v2',
                effectiveFrom: '2026-04-01',
                currency: 'USD',
                datasets: ['feeds/'],
                limits: { monthly: { requests: 4000, bytesSent: 2 ** 41 }, daily: { requests: 900 } },
                applicationLimits: { role: { monthly: { requests: 1500 }, daily: { requests: 300 } } },
                overage: {
                  requests: { per: 1000, tiers: [{ upTo: 2000, price: '0.40' }, { price: '0.25' }] },
                  bytesSent: { per: 1000000000, tiers: [{ price: '0.09' }] },
                },
              },
            ]
          : i % 3 === 1
            ? // Starts mid-March: March is uncovered, April is counted.
              [{ id: 'late', effectiveFrom: '2026-03-15', currency: 'USD', datasets: ['feeds/b/'] }]
            : [
                {
                  id: 'all',
                  effectiveFrom: '2025-01-01',
                  currency: 'USD',
                  datasets: ['feeds/a/', 'feeds/b/'],
                  counted: {
                    operations: ['REST.GET.OBJECT', 'REST.HEAD.*'],
                    statuses: ['2xx', '3xx', '4xx'],
                  },
                },
              ],
    })),
  });
}

const WINDOW: AuditWindow = { from: '2026-03-03', to: '2026-04-04' };
const FIRST_SLOT = Date.UTC(2026, 1, 27) / SLOT_MS;
const LAST_SLOT = Date.UTC(2026, 3, 6) / SLOT_MS;

const requesterOf = (partners: number) =>
  fc.oneof(
    fc.nat(partners - 1).map((i) => `arn:aws:sts::${ACCT[i % 3]}:assumed-role/r${i}/s1`),
    fc.nat(partners - 1).map((i) => `arn:aws:sts::${ACCT[i % 3]}:assumed-role/job${i}-x/run`),
    fc.constantFrom(
      `arn:aws:iam::${ACCT[2]}:user/stranger`,
      '-',
      'svc:cloudfront.amazonaws.com',
      'AmazonS3',
      'b'.repeat(64),
    ),
  );

const rowsOf = (partners: number, minLength = 0): fc.Arbitrary<UsageRow[]> =>
  fc.array(
    fc.record({
      slotStart: fc.integer({ min: FIRST_SLOT, max: LAST_SLOT }).map((s) => s * SLOT_MS),
      bucket: fc.constant('data'),
      requester: requesterOf(partners),
      accessPoint: fc.oneof(
        fc.constant('-'),
        fc.nat(partners - 1).map((i) => `arn:aws:s3:us-east-1:${ACCT[0]}:accesspoint/p${i}`),
      ),
      dataset: fc.constantFrom('feeds/a/', 'feeds/b/', 'other/x/', '-'),
      operation: fc.constantFrom('REST.GET.OBJECT', 'REST.GET.BUCKET', 'REST.HEAD.OBJECT', 'REST.PUT.OBJECT'),
      statusClass: fc.constantFrom<StatusClass>('2xx', '3xx', '4xx', '5xx', '-'),
      requests: fc.bigInt({ min: 1n, max: 1000n }),
      bytesSent: fc.bigInt({ min: 0n, max: 2n ** 40n }),
      records: fc.bigInt({ min: 0n, max: 50n }),
    }),
    { minLength, maxLength: 400 },
  );

/** Partners' zones, and rollup rows whose requesters belong to those partners or to no one. */
const zonesAndRows = (maxPartners: number, minRows = 0) =>
  fc
    .array(fc.constantFrom(...ZONES), { minLength: 1, maxLength: maxPartners })
    .chain((zones) => fc.tuple(fc.constant(zones), rowsOf(zones.length, minRows)));

let db: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  connection = await db.connect();
  for (const statement of CREATE_SCHEMA) await connection.run(statement);
});

afterAll(() => {
  connection.closeSync();
  db.closeSync();
});

async function load(registry: Registry, rows: readonly UsageRow[]): Promise<void> {
  await writeAttributionTables(connection, registry);
  await deleteRollup(connection);
  if (rows.length === 0) return;
  const col = <T>(f: (r: UsageRow) => T) => listValue(rows.map(f) as never[]);
  await insertRollup(
    connection,
    `SELECT unnest($1::BIGINT[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]),
      unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[]), unnest($7::VARCHAR[]),
      unnest($8::BIGINT[]), unnest($9::BIGINT[]), unnest($10::BIGINT[]), 'batch'`,
    [
      col((r) => BigInt(r.slotStart)),
      col((r) => r.bucket),
      col((r) => r.requester),
      col((r) => r.accessPoint),
      col((r) => r.dataset),
      col((r) => r.operation),
      col((r) => r.statusClass),
      col((r) => r.requests),
      col((r) => r.bytesSent),
      col((r) => r.records),
    ],
  );
}

type Counts = { requests: bigint; bytesSent: bigint; records: bigint };
const text = (c: Counts) => `${c.requests}/${c.bytesSent}/${c.records}`;

function sumBy(
  rows: readonly PartnerDailyUsage[],
  key: (r: PartnerDailyUsage) => string,
): Map<string, string> {
  const acc = new Map<string, Counts>();
  for (const r of rows) {
    const c = acc.get(key(r)) ?? { requests: 0n, bytesSent: 0n, records: 0n };
    acc.set(key(r), {
      requests: c.requests + r.requests,
      bytesSent: c.bytesSent + r.bytesSent,
      records: c.records + r.records,
    });
  }
  return new Map([...acc].map(([k, c]) => [k, text(c)]));
}

/** What today's path computes, keyed like the SQL's sums: per application and day, per dataset, in total. */
function viaTypeScript(registry: Registry, rows: readonly UsageRow[], dataEndMs: number) {
  const attribute = buildAttributor(registry);
  const byAppDay = new Map<string, string>();
  const byDataset = new Map<string, string>();
  const totals = new Map<string, string>();
  const uncovered: string[] = [];
  for (const { partner, period, asOfMs } of planPeriods(registry.partners, WINDOW, dataEndMs)) {
    const e = evaluatePartnerPeriod({ registry, partner, period, rows, asOfMs, attribute });
    if (!e) {
      uncovered.push(`${partner.id} ${period.id}`);
      continue;
    }
    if (e.totals.requests > 0n) totals.set(`${partner.id} ${period.id}`, text(e.totals));
    for (const a of e.applications) {
      for (const d of a.daily) {
        if (d.counts.requests > 0n)
          byAppDay.set(`${partner.id} ${a.applicationId} ${d.date}`, text(d.counts));
      }
    }
    for (const d of e.datasets) byDataset.set(`${partner.id} ${period.id} ${d.dataset}`, text(d.counts));
  }
  return { byAppDay, byDataset, totals, uncovered };
}

describe('partnerDailyUsageSql on DuckDB', () => {
  it('sums to evaluatePartnerPeriod figures for every partner period, exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        zonesAndRows(6),
        fc.integer({ min: FIRST_SLOT, max: LAST_SLOT + 4 }),
        fc.context(),
        async ([zones, rows], dataEndSlot, ctx) => {
          const registry = registryOf(zones);
          const dataEndMs = dataEndSlot * SLOT_MS;
          ctx.log(`${rows.length} rows, data end ${new Date(dataEndMs).toISOString()}`);
          await load(registry, rows);
          const sql = await new DuckDbUsageAggregation(connection).partnerDailyUsage(
            partnerDailyUsageRequest(registry.partners, WINDOW, dataEndMs),
          );
          const ts = viaTypeScript(registry, rows, dataEndMs);
          const periodOf = (r: PartnerDailyUsage) => r.date.slice(0, 7);
          expect(sumBy(sql, (r) => `${r.partnerId} ${r.applicationId} ${r.date}`)).toEqual(ts.byAppDay);
          expect(sumBy(sql, (r) => `${r.partnerId} ${periodOf(r)} ${r.dataset}`)).toEqual(ts.byDataset);
          expect(sumBy(sql, (r) => `${r.partnerId} ${periodOf(r)}`)).toEqual(ts.totals);
          for (const u of ts.uncovered) {
            expect(sql.filter((r) => `${r.partnerId} ${periodOf(r)}` === u)).toEqual([]);
          }
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });

  it('returns rows that grow with partners, applications, datasets and days, not with rollup rows', async () => {
    const registry = registryOf(['UTC']);
    const slot = Date.UTC(2026, 2, 10) / SLOT_MS;
    // 96 slots of one day, 50 session names: 4,800 rollup rows, one application, one dataset, one day.
    const rows: UsageRow[] = [];
    for (let s = 0; s < 96; s++) {
      for (let n = 0; n < 50; n++) {
        rows.push({
          slotStart: (slot + s) * SLOT_MS,
          bucket: 'data',
          requester: `arn:aws:sts::${ACCT[0]}:assumed-role/r0/session-${n}`,
          accessPoint: '-',
          dataset: 'feeds/a/',
          operation: 'REST.GET.OBJECT',
          statusClass: '2xx',
          requests: 2n,
          bytesSent: 10n,
          records: 1n,
        });
      }
    }
    await load(registry, rows);
    const sql = await new DuckDbUsageAggregation(connection).partnerDailyUsage(
      partnerDailyUsageRequest(registry.partners, WINDOW),
    );
    expect(sql).toEqual([
      {
        partnerId: 'p0',
        applicationId: 'role',
        dataset: 'feeds/a/',
        date: '2026-03-10',
        requests: 9600n,
        bytesSent: 48000n,
        records: 4800n,
      },
    ]);
  });
});

describe('evaluation from the aggregated rows', () => {
  it("gives evaluateWindow's evaluations, unattributed figures and findings, figure for figure", async () => {
    await fc.assert(
      fc.asyncProperty(
        zonesAndRows(5),
        fc.integer({ min: FIRST_SLOT, max: LAST_SLOT + 4 }),
        async ([zones, rows], dataEndSlot) => {
          const registry = registryOf(zones);
          const dataEndMs = dataEndSlot * SLOT_MS;
          await load(registry, rows);
          const whole = await evaluateWindow(
            { registry, usage: { engine: 'test', usage: async () => rows } },
            { window: WINDOW, dataEndMs },
          );
          const engine = new DuckDbUsageAggregation(connection);
          const daily = await engine.partnerDailyUsage(
            partnerDailyUsageRequest(registry.partners, WINDOW, dataEndMs),
          );
          const request = unattributedUsageRequest(WINDOW, 1_000_000);
          const strangers = await engine.unattributedUsage(request);
          const aggregated = evaluateDailyUsage(registry, registry.partners, WINDOW, daily, dataEndMs);
          expect(aggregated.evaluations).toEqual(whole.evaluations);
          expect(aggregated.uncovered).toEqual(whole.uncovered);
          // Partner by partner, as the rows stream out of the engine: the same evaluations.
          const byPartner = await evaluateDailyUsageByPartner(
            registry,
            registry.partners,
            WINDOW,
            async (visit) => {
              await engine.eachPartnerDailyUsage(
                partnerDailyUsageRequest(registry.partners, WINDOW, dataEndMs),
                visit,
              );
            },
            dataEndMs,
          );
          expect(byPartner.evaluations).toEqual(whole.evaluations);
          expect(byPartner.uncovered).toEqual(whole.uncovered);
          expect(evaluateUnattributedUsage(registry, request.range, strangers)).toEqual(whole.unattributed);
        },
      ),
      { numRuns: 30, seed: 13 },
    );
  });
});

describe('counted rows partner by partner', () => {
  /** Every partner counts every day of the window in many datasets: rows over several result chunks. */
  function manyRows(registry: Registry): UsageRow[] {
    const rows: UsageRow[] = [];
    for (let i = 0; i < registry.partners.length; i++) {
      for (let day = 0; day < 34; day++) {
        for (let k = 0; k < 40; k++) {
          rows.push({
            slotStart: Date.UTC(2026, 2, 2 + day, 12) + (k % 4) * SLOT_MS,
            bucket: 'data',
            requester: `arn:aws:sts::${ACCT[i % 3]}:assumed-role/r${i}/s1`,
            accessPoint: '-',
            dataset: `feeds/a/k${k}/`,
            operation: 'REST.GET.OBJECT',
            statusClass: '2xx',
            requests: BigInt(1 + ((i * 7 + day * 3 + k) % 50)),
            bytesSent: BigInt(1000 * (k + 1)),
            records: BigInt(k),
          });
        }
      }
    }
    return rows;
  }

  it('hands each partner its rows once, in the statement order, across result chunks: the whole result', async () => {
    const registry = registryOf(['UTC', 'Asia/Kathmandu', 'America/St_Johns', 'Europe/Berlin', 'UTC', 'UTC']);
    await load(registry, manyRows(registry));
    const engine = new DuckDbUsageAggregation(connection);
    const request = partnerDailyUsageRequest(registry.partners, WINDOW, undefined);
    const whole = await engine.partnerDailyUsage(request);
    // More rows than two of DuckDB's 2,048-row chunks, so partners straddle chunk boundaries.
    expect(whole.length).toBeGreaterThan(4096);
    const visited: [string, PartnerDailyUsage[]][] = [];
    const read = await engine.eachPartnerDailyUsage(request, (partnerId, rows) => {
      visited.push([partnerId, rows]);
    });
    expect(read).toBe(whole.length);
    expect(visited.map(([id]) => id)).toEqual([...new Set(whole.map((r) => r.partnerId))]);
    for (const [id, rows] of visited) expect(rows.every((r) => r.partnerId === id)).toBe(true);
    expect(visited.flatMap(([, rows]) => rows)).toEqual(whole);
    const dataEndMs = Date.UTC(2026, 3, 4);
    const byPartner = await evaluateDailyUsageByPartner(
      registry,
      registry.partners,
      WINDOW,
      async (visit) => {
        await engine.eachPartnerDailyUsage(request, visit);
      },
      dataEndMs,
    );
    expect(byPartner).toEqual(evaluateDailyUsage(registry, registry.partners, WINDOW, whole, dataEndMs));
  });

  it('refuses a partner handed over twice, naming it', async () => {
    const registry = registryOf(['UTC']);
    await expect(
      evaluateDailyUsageByPartner(registry, registry.partners, WINDOW, async (visit) => {
        visit('p0', []);
        visit('p0', []);
      }),
    ).rejects.toThrow(`partner "p0"'s daily rows were handed over twice`);
  });
});

describe('unattributedUsageSql on DuckDB', () => {
  it('equals evaluateUnattributed: requesters, access points, datasets, counts and partner data touched', async () => {
    await fc.assert(
      fc.asyncProperty(zonesAndRows(4), async ([zones, rows]) => {
        const registry = registryOf(zones);
        await load(registry, rows);
        const request = unattributedUsageRequest(WINDOW, 1000);
        const sql = await new DuckDbUsageAggregation(connection).unattributedUsage(request);
        const ts = evaluateUnattributed({
          registry,
          rows,
          range: request.range,
          attribute: buildAttributor(registry),
        });
        const fromSql = new Map<string, { datasets: Map<string, string>; touched: boolean }>();
        for (const r of sql) {
          const k = `${r.requester} ${r.accessPoint}`;
          const g = fromSql.get(k) ?? { datasets: new Map(), touched: false };
          g.datasets.set(r.dataset, text(r));
          g.touched ||= r.touchedPartnerData;
          fromSql.set(k, g);
        }
        const fromTs = new Map(
          ts.figures.map((f) => [
            `${f.requester} ${f.accessPoint}`,
            {
              datasets: new Map(f.datasets.map((d) => [d.dataset, text(d.counts)])),
              touched: f.touchedPartnerData,
            },
          ]),
        );
        expect(fromSql).toEqual(fromTs);
        const all = ts.figures.reduce((s, f) => s + f.counts.requests, 0n);
        for (const r of sql) expect([r.totals.pairs, r.totals.requests]).toEqual([ts.figures.length, all]);
      }),
      { numRuns: 30, seed: 11 },
    );
  });

  it('returns the top N pairs by requests, with totals over all of them', async () => {
    const registry = registryOf(['UTC']);
    const row = (requester: string, requests: bigint, dataset: string): UsageRow => ({
      slotStart: Date.UTC(2026, 2, 10),
      bucket: 'data',
      requester,
      accessPoint: '-',
      dataset,
      operation: 'REST.GET.OBJECT',
      statusClass: '2xx',
      requests,
      bytesSent: requests * 10n,
      records: 0n,
    });
    await load(registry, [
      row('arn:aws:iam::999999999999:user/small', 1n, 'feeds/a/'),
      row('arn:aws:iam::999999999999:user/big', 50n, 'feeds/a/'),
      row('arn:aws:iam::999999999999:user/big', 7n, 'other/x/'),
      row('arn:aws:iam::999999999999:user/mid', 20n, 'other/x/'),
      row('svc:cloudfront.amazonaws.com', 500n, 'feeds/a/'),
    ]);
    const sql = await new DuckDbUsageAggregation(connection).unattributedUsage(
      unattributedUsageRequest(WINDOW, 2),
    );
    expect(sql.map((r) => [r.position, r.requester, r.dataset, r.requests, r.touchedPartnerData])).toEqual([
      [1, 'arn:aws:iam::999999999999:user/big', 'feeds/a/', 50n, true],
      [1, 'arn:aws:iam::999999999999:user/big', 'other/x/', 7n, false],
      [2, 'arn:aws:iam::999999999999:user/mid', 'other/x/', 20n, false],
    ]);
    expect(sql[0]!.totals).toEqual({ pairs: 3, requests: 78n, bytesSent: 780n, records: 0n });
  });
});

describe('the slot rows read by their codes (coded-usage-sql.ts)', () => {
  it("gives the shared statements' rows over the same rows decoded, in their order, and drops its TEMP tables", async () => {
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(
        zonesAndRows(4, 100),
        fc.integer({ min: FIRST_SLOT, max: LAST_SLOT + 4 }),
        fc.integer({ min: 1, max: 5 }),
        async ([zones, rows], dataEndSlot, top) => {
          const registry = registryOf(zones);
          await load(registry, rows);
          // The same rows again in a second batch: summed across batches by code, as by string.
          await insertRollup(
            connection,
            `SELECT slot_start, bucket, requester, access_point, dataset, operation, status_class,
              requests, bytes_sent, records, 'second' FROM rollup`,
          );
          await connection.run('CREATE OR REPLACE TEMP TABLE rollup_decoded AS SELECT * FROM rollup');
          const coded = new DuckDbUsageAggregation(connection);
          const decoded = new DuckDbUsageAggregation(connection, {
            ...LOCAL_AGGREGATION_TABLES,
            rollup: 'rollup_decoded',
          });
          const daily = partnerDailyUsageRequest(registry.partners, WINDOW, dataEndSlot * SLOT_MS);
          const counted = await coded.partnerDailyUsage(daily);
          expect(counted).toEqual(await decoded.partnerDailyUsage(daily));
          const streamed: PartnerDailyUsage[] = [];
          await coded.eachPartnerDailyUsage(daily, (_partner, partnerRows) => streamed.push(...partnerRows));
          expect(streamed).toEqual(counted);
          const strangers = unattributedUsageRequest(WINDOW, top);
          const unattributed = await coded.unattributedUsage(strangers);
          expect(unattributed).toEqual(await decoded.unattributedUsage(strangers));
          if (counted.length > 0 && unattributed.length > 0) nonEmpty++;
          const left = await connection.runAndReadAll(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name IN ('slot_pairs', 'slot_days')",
          );
          expect(left.getRows()).toEqual([]);
        },
      ),
      { numRuns: 25, seed: 21 },
    );
    expect(nonEmpty).toBeGreaterThanOrEqual(10);
  });
});
