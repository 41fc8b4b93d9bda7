/**
 * The daily pre-aggregate per zone (functions/adapters/duckdb/daily-rollup.ts) gives the statements
 * the figures the slot rows give (test/integration/sql-aggregation.test.ts holds the slot rows equal to
 * the TypeScript path): on random rollups in several batches, partners in +05:45, -03:30, +14:00 and
 * zones whose clocks change inside the window, data ends that cut a local day; and it stays so when a
 * batch is replaced or removed by re-ingestion, when a registry brings a new zone, and when a refresh
 * fails part-way.
 */
import { type DuckDBConnection, DuckDBInstance, listValue } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AttributedDailyStep,
  CREATE_ATTRIBUTED_DAILY,
} from '../../functions/adapters/duckdb/attributed-daily.js';
import {
  CREATE_DAILY_ROLLUP,
  memoryBytes,
  refreshDailyRollup,
} from '../../functions/adapters/duckdb/daily-rollup.js';
import { memoryLimitInForce, memoryLimitSetting } from '../../functions/adapters/duckdb/memory-limit.js';
import { CREATE_SCHEMA, SQL } from '../../functions/adapters/duckdb/schema.js';
import {
  DuckDbUsageAggregation,
  prepareAttributedRead,
  prepareDailyRead,
  writeAttributionTables,
} from '../../functions/adapters/duckdb/usage-aggregation.js';
import type { DailySource } from '../../functions/adapters/sql/usage-aggregation-sql.js';
import {
  partnerDailyUsageRequest,
  unattributedUsageRequest,
} from '../../functions/audit/aggregation-request.js';
import type { AuditWindow } from '../../functions/audit/evaluate-window.js';
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
/** Both clock changes of 2026 in Europe/Berlin (29 March) and America/New_York (8 March) inside. */
const WINDOW: AuditWindow = { from: '2026-03-03', to: '2026-04-04' };
const FIRST_SLOT = Date.UTC(2026, 1, 27) / SLOT_MS;
const LAST_SLOT = Date.UTC(2026, 3, 6) / SLOT_MS;
const BATCHES = ['b1', 'b2', 'b3'];

function registryOf(zones: readonly string[]): Registry {
  return RegistrySchema.parse({
    version: 1,
    provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
    settings: { ignoredRequesters: ['svc:*'] },
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
      ],
      contracts: [
        {
          id: 'all',
          effectiveFrom: '2025-01-01',
          currency: 'USD',
          datasets: ['feeds/a/', 'feeds/b/'],
          counted: { operations: ['REST.GET.*'], statuses: ['2xx', '3xx'] },
        },
      ],
    })),
  });
}

interface BatchRow extends UsageRow {
  readonly batch: string;
}

const rowArbitrary = (partners: number): fc.Arbitrary<BatchRow> =>
  fc.record({
    slotStart: fc.integer({ min: FIRST_SLOT, max: LAST_SLOT }).map((s) => s * SLOT_MS),
    bucket: fc.constant('data'),
    requester: fc.oneof(
      fc.nat(partners - 1).map((i) => `arn:aws:sts::${ACCT[i % 3]}:assumed-role/r${i}/s1`),
      fc.nat(partners - 1).map((i) => `arn:aws:sts::${ACCT[i % 3]}:assumed-role/job${i}-x/run`),
      fc.constantFrom(`arn:aws:iam::${ACCT[2]}:user/stranger`, '-', 'svc:cloudfront.amazonaws.com'),
    ),
    accessPoint: fc.constant('-'),
    dataset: fc.constantFrom('feeds/a/', 'feeds/b/', 'other/x/'),
    operation: fc.constantFrom('REST.GET.OBJECT', 'REST.HEAD.OBJECT'),
    statusClass: fc.constantFrom<StatusClass>('2xx', '3xx', '4xx'),
    requests: fc.bigInt({ min: 1n, max: 1000n }),
    bytesSent: fc.bigInt({ min: 0n, max: 2n ** 40n }),
    records: fc.bigInt({ min: 0n, max: 50n }),
    batch: fc.constantFrom(...BATCHES),
  });

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

async function reset(): Promise<void> {
  for (const statement of [...CREATE_DAILY_ROLLUP, ...CREATE_ATTRIBUTED_DAILY])
    await connection.run(statement);
  await deleteRollup(connection);
  for (const table of [
    'ingested_files',
    'rollup_daily',
    'rollup_daily_batches',
    'rollup_daily_zones',
    'attributed_pairs',
    'counted_daily',
    'unattributed_daily',
    'counted_daily_batches',
  ]) {
    await connection.run(`DELETE FROM ${table}`);
  }
}

async function insertRows(rows: readonly BatchRow[], into: DuckDBConnection = connection): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (r: BatchRow) => T) => listValue(rows.map(f) as never[]);
  await insertRollup(
    into,
    `SELECT unnest($1::BIGINT[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]),
      unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[]), unnest($7::VARCHAR[]),
      unnest($8::BIGINT[]), unnest($9::BIGINT[]), unnest($10::BIGINT[]), unnest($11::VARCHAR[])`,
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
      col((r) => r.batch),
    ],
  );
}

/**
 * Counted and unattributed usage read from the slot rows, from the daily rows and from the attributed
 * caches of the registry's digest (attributed-daily.ts), side by side.
 */
async function bothWays(
  registry: Registry,
  dataEndMs: number,
  onStep?: (step: AttributedDailyStep, batch?: string) => void,
) {
  const tables = await writeAttributionTables(connection, registry);
  const counted = partnerDailyUsageRequest(registry.partners, WINDOW, dataEndMs);
  const strangers = unattributedUsageRequest(WINDOW, 1000);
  const slots = new DuckDbUsageAggregation(connection);
  const { refresh, ...daily } = await prepareDailyRead(connection, registry);
  const days = new DuckDbUsageAggregation(connection, undefined, daily);
  const prepared = await prepareAttributedRead(connection, registry, tables, onStep && { onStep });
  const cached = new DuckDbUsageAggregation(
    connection,
    undefined,
    { partners: prepared.partners, unattributed: prepared.unattributed },
    prepared.cache,
  );
  return {
    refresh,
    attributed: prepared.attributed,
    slots: {
      counted: await slots.partnerDailyUsage(counted),
      strangers: await slots.unattributedUsage(strangers),
    },
    days: {
      counted: await days.partnerDailyUsage(counted),
      strangers: await days.unattributedUsage(strangers),
    },
    cached: {
      counted: await cached.partnerDailyUsage(counted),
      strangers: await cached.unattributedUsage(strangers),
    },
  };
}

async function tableText(): Promise<string> {
  const r = await connection.runAndReadAll(`SELECT
    (SELECT count(*) FROM rollup_daily)::VARCHAR, (SELECT sum(requests) FROM rollup_daily)::VARCHAR,
    (SELECT string_agg(zone_id || ':' || batch || ':' || rollup_rows, ',' ORDER BY zone_id, batch) FROM rollup_daily_batches),
    (SELECT string_agg(zone_id || ':' || time_zone, ',' ORDER BY zone_id) FROM rollup_daily_zones)`);
  return JSON.stringify(r.getRows());
}

describe('the daily pre-aggregate', () => {
  beforeEach(reset);

  it('gives the slot rows figures on random rollups in several batches, odd zones, clock changes and cut days', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(fc.constantFrom(...ZONES), { minLength: 1, maxLength: 5 })
          .chain((zones) =>
            fc.tuple(fc.constant(zones), fc.array(rowArbitrary(zones.length), { maxLength: 300 })),
          ),
        fc.integer({ min: FIRST_SLOT, max: LAST_SLOT + 4 }),
        async ([zones, rows], dataEndSlot) => {
          await reset();
          await insertRows(rows);
          const registry = registryOf(zones);
          const r = await bothWays(registry, dataEndSlot * SLOT_MS);
          expect(r.days).toEqual(r.slots);
          expect(r.cached).toEqual(r.slots);
        },
      ),
      { numRuns: 30, seed: 13 },
    );
  }, 240_000);

  it('reads whole days from the daily rows when the data ends before the range does, and from slots when cut', async () => {
    const registry = registryOf(['Asia/Kathmandu', 'America/St_Johns']);
    const rows: BatchRow[] = [];
    // Two rows a slot from 28 February to 2 April UTC, the first partner's role and a stranger.
    for (let s = FIRST_SLOT + 96; s < Date.UTC(2026, 3, 2) / SLOT_MS; s++) {
      for (const requester of [
        `arn:aws:sts::${ACCT[0]}:assumed-role/r0/s1`,
        `arn:aws:iam::${ACCT[2]}:user/x`,
      ]) {
        rows.push({
          slotStart: s * SLOT_MS,
          bucket: 'data',
          requester,
          accessPoint: '-',
          dataset: 'feeds/a/',
          operation: 'REST.GET.OBJECT',
          statusClass: '2xx',
          requests: BigInt(1 + (s % 7)),
          bytesSent: BigInt(s % 1000),
          records: 1n,
          batch: `d${Math.floor(s / 96)}`,
        });
      }
    }
    await insertRows(rows);
    const lastSlotEnd = Date.UTC(2026, 3, 2);
    // Past the newest slot (the local audit's data end), then inside a +05:45 and a -03:30 day.
    for (const dataEndMs of [lastSlotEnd, lastSlotEnd - 7 * SLOT_MS, lastSlotEnd - 30 * SLOT_MS]) {
      const r = await bothWays(registry, dataEndMs);
      expect(r.days).toEqual(r.slots);
      expect(r.cached).toEqual(r.slots);
      expect(r.days.counted.length).toBeGreaterThan(25);
    }
  });

  it('reads the days the range cuts through by code (grouped, then decoded) as the decoding view reads them', async () => {
    const registry = registryOf(['Asia/Kathmandu', 'America/St_Johns']);
    await insertRows(
      fc
        .sample(rowArbitrary(2), { numRuns: 1500, seed: 15 })
        .map((row, i) => ({ ...row, requests: BigInt(i + 1) })),
    );
    const tables = await writeAttributionTables(connection, registry);
    const { partners, unattributed } = await prepareDailyRead(connection, registry);
    expect(partners.coded).toBeDefined();
    const prepared = await prepareAttributedRead(connection, registry, tables);
    const viaView = <T extends { coded?: unknown }>(source: T): T => ({ ...source, coded: undefined });
    const reads = (d: { partners: DailySource; unattributed: DailySource }) => [
      new DuckDbUsageAggregation(connection, undefined, d),
      new DuckDbUsageAggregation(connection, undefined, d, prepared.cache),
    ];
    const coded = reads({ partners, unattributed });
    const view = reads({ partners: viaView(partners), unattributed: viaView(unattributed) });
    // Cut inside a +05:45 and a -03:30 day, and inside the first day of the range.
    for (const dataEndMs of [
      Date.UTC(2026, 2, 20, 7, 15),
      Date.UTC(2026, 2, 9, 2, 30),
      Date.UTC(2026, 2, 3, 9),
    ]) {
      const counted = partnerDailyUsageRequest(registry.partners, WINDOW, dataEndMs);
      const strangers = unattributedUsageRequest(WINDOW, 1000);
      for (const [i, read] of coded.entries()) {
        const expected = await view[i]!.partnerDailyUsage(counted);
        expect(expected.length).toBeGreaterThan(0);
        expect(await read.partnerDailyUsage(counted)).toEqual(expected);
        expect(await read.unattributedUsage(strangers)).toEqual(await view[i]!.unattributedUsage(strangers));
      }
    }
  });

  it('drops and rebuilds the daily rows of a batch that re-ingestion replaced or removed', async () => {
    const registry = registryOf(['Asia/Kathmandu', 'Europe/Berlin']);
    const rows = fc.sample(rowArbitrary(2), { numRuns: 400, seed: 5 });
    await insertRows(rows);
    const first = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(first.refresh).toMatchObject({ check: 'census', built: 9, dropped: 0 });
    expect(first.days).toEqual(first.slots);
    expect(first.cached).toEqual(first.slots);
    const again = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(again.refresh).toMatchObject({ check: 'counts', built: 0, dropped: 0 });

    // b2 replaced by b4 with other rows; b3 removed.
    await deleteRollup(connection, ['b2', 'b3']);
    await insertRows(
      fc.sample(rowArbitrary(2), { numRuns: 150, seed: 6 }).map((r) => ({ ...r, batch: 'b4' })),
    );
    const replaced = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(replaced.refresh).toMatchObject({ check: 'census', built: 3, dropped: 6 });
    expect(replaced.days).toEqual(replaced.slots);
    expect(replaced.cached).toEqual(replaced.slots);
    expect(replaced.days.counted).not.toEqual(first.days.counted);
  });

  it('rebuilds a batch whose files were recorded again, though its name and row count are the same', async () => {
    const registry = registryOf(['UTC']);
    const rows = fc.sample(rowArbitrary(1), { numRuns: 200, seed: 8 }).map((r) => ({ ...r, batch: 'f1' }));
    const record = (ingestedAtMs: number) =>
      connection.run(SQL.insertFile, ['f1', '/logs/a', 'a', 10, 'plain', 1, 1, 0, '{}', null, ingestedAtMs]);
    await insertRows(rows);
    await record(1_000);
    const before = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(before.days).toEqual(before.slots);
    expect(before.cached).toEqual(before.slots);
    // Rebuilt under other settings: same batch name and rows, other counts.
    await deleteRollup(connection);
    await connection.run("DELETE FROM ingested_files WHERE fingerprint = 'f1'");
    await insertRows(rows.map((r) => ({ ...r, requests: r.requests + 1n })));
    await record(2_000);
    const after = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(after.refresh).toMatchObject({ check: 'census', built: 1, dropped: 1 });
    expect(after.days).toEqual(after.slots);
    expect(after.cached).toEqual(after.slots);
    expect(after.days.counted).not.toEqual(before.days.counted);
  });

  it('builds a zone the first time a registry uses it, from the rollup, so a move of zone applies to past usage', async () => {
    const rows = fc.sample(rowArbitrary(2), { numRuns: 400, seed: 9 });
    await insertRows(rows);
    const before = await bothWays(registryOf(['UTC', 'Europe/Berlin']), Date.UTC(2026, 3, 5));
    expect(before.days).toEqual(before.slots);
    expect(before.cached).toEqual(before.slots);
    // The second partner moves to Kathmandu (+05:45): its past days are cut there from now on.
    const moved = await bothWays(registryOf(['UTC', 'Asia/Kathmandu']), Date.UTC(2026, 3, 5));
    expect(moved.refresh).toMatchObject({ check: 'census', built: 3, dropped: 0 });
    expect(moved.days).toEqual(moved.slots);
    expect(moved.cached).toEqual(moved.slots);
    expect(moved.days.counted).not.toEqual(before.days.counted);
  });

  it('leaves the tables as they were when a refresh fails part-way, and the next refresh completes them', async () => {
    const registry = registryOf(['America/New_York', 'Pacific/Kiritimati']);
    await insertRows(fc.sample(rowArbitrary(2), { numRuns: 300, seed: 10 }));
    await bothWays(registryOf(['America/New_York']), Date.UTC(2026, 3, 5));
    await deleteRollup(connection, ['b1']);
    await insertRows(
      fc.sample(rowArbitrary(2), { numRuns: 100, seed: 11 }).map((r) => ({ ...r, batch: 'b5' })),
    );
    const before = await tableText();
    for (const failAt of ['dropped', 'staged', 'built'] as const) {
      let seen = 0;
      await expect(
        refreshDailyRollup(connection, ['UTC', 'America/New_York', 'Pacific/Kiritimati'], {
          onStep: (step) => {
            if (step === failAt && ++seen === 2 - (failAt === 'dropped' ? 1 : 0)) {
              throw new Error(`crash at ${step}`);
            }
          },
        }),
      ).rejects.toThrow(`crash at ${failAt}`);
      expect(await tableText()).toBe(before);
    }
    const r = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(r.refresh).toMatchObject({ check: 'census' });
    expect(r.days).toEqual(r.slots);
    expect(r.cached).toEqual(r.slots);
  });

  it('commits batch by batch past commitRows: a failure part-way keeps the batches before it, consistent, and the next refresh completes them', async () => {
    const registry = registryOf(['America/New_York', 'Pacific/Kiritimati']);
    await insertRows(fc.sample(rowArbitrary(2), { numRuns: 300, seed: 10 }));
    const zones = ['UTC', 'America/New_York', 'Pacific/Kiritimati'];
    let seen = 0;
    await expect(
      refreshDailyRollup(connection, zones, {
        commitRows: 0,
        onStep: (step) => {
          if (step === 'built' && ++seen === 2) throw new Error('crash at the second batch');
        },
      }),
    ).rejects.toThrow('crash at the second batch');
    // The first batch (b1) was committed with its markers; the second rolled back; the third not begun.
    const perBatch = async () =>
      (
        await connection.runAndReadAll(`SELECT b.batch, count(DISTINCT b.zone_id)::INTEGER,
          (SELECT count(*) FROM rollup_daily d WHERE d.batch = b.batch)::INTEGER
        FROM rollup_daily_batches b GROUP BY b.batch ORDER BY b.batch`)
      ).getRows();
    const daily = async () =>
      Number((await connection.runAndReadAll('SELECT count(*) FROM rollup_daily')).getRows()[0]![0]);
    const kept = await perBatch();
    expect(kept.map(([batch, zoneCount]) => [batch, zoneCount])).toEqual([['b1', 3]]);
    expect(kept[0]![2]).toBeGreaterThan(0);
    expect(await daily()).toBe(kept[0]![2]);
    const next = await refreshDailyRollup(connection, zones, { commitRows: 0 });
    expect(next).toMatchObject({ check: 'census', built: 6, dropped: 0 });
    const r = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(r.refresh).toMatchObject({ check: 'counts', built: 0 });
    expect(r.days).toEqual(r.slots);
    expect(r.cached).toEqual(r.slots);
    // The same rows as one transaction builds.
    const batched = await tableText();
    await reset();
    await insertRows(fc.sample(rowArbitrary(2), { numRuns: 300, seed: 10 }));
    await refreshDailyRollup(connection, zones);
    expect(await tableText()).toBe(batched);
  });

  it('keeps the attributed caches per registry digest: a night attributes only its new pairs, a registry change counts afresh', async () => {
    const registry = registryOf(['Asia/Kathmandu', 'Europe/Berlin']);
    await insertRows(fc.sample(rowArbitrary(2), { numRuns: 400, seed: 21 }));
    const first = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(first.cached).toEqual(first.slots);
    expect(first.attributed).toMatchObject({ built: 3, dropped: 0, otherDigests: 0 });
    const distinctPairs = async (where: string) =>
      Number(
        (
          await connection.runAndReadAll(
            `SELECT count(*) FROM (SELECT DISTINCT requester, access_point FROM rollup WHERE ${where})`,
          )
        ).getRows()[0]![0],
      );
    expect(first.attributed.pairsAttributed).toBe(await distinctPairs('TRUE'));
    const hot = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(hot.attributed).toMatchObject({ built: 0, dropped: 0, pairsAttributed: 0 });
    expect(hot.cached).toEqual(hot.slots);

    // A new night: one batch, some pairs new (a session never seen), some seen before.
    const night = fc
      .sample(rowArbitrary(2), { numRuns: 120, seed: 22 })
      .map((r, i) => ({ ...r, batch: 'n1', requester: i % 3 === 0 ? `${r.requester}-new` : r.requester }));
    const unseen = await (async () => {
      const seen = new Set(
        (await connection.runAndReadAll('SELECT DISTINCT requester, access_point FROM rollup'))
          .getRows()
          .map(([r, a]) => `${r} ${a}`),
      );
      return new Set(night.map((r) => `${r.requester} ${r.accessPoint}`).filter((k) => !seen.has(k))).size;
    })();
    await insertRows(night);
    const added = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(added.attributed).toMatchObject({ built: 1, dropped: 0, pairsAttributed: unseen });
    expect(unseen).toBeGreaterThan(0);
    expect(added.cached).toEqual(added.slots);
    expect(added.cached.counted).not.toEqual(first.cached.counted);

    // The registry changes: p0's role moves to p1 (and p0 gets another); past usage follows it.
    const moved = RegistrySchema.parse({
      ...registry,
      partners: registry.partners.map((partner, i) => ({
        ...partner,
        applications: partner.applications.map((app) =>
          app.id !== 'role'
            ? app
            : {
                ...app,
                principals: [{ arn: `arn:aws:iam::${ACCT[i === 0 ? 2 : 0]}:role/r${i === 0 ? 9 : 0}` }],
              },
        ),
      })),
    });
    const changed = await bothWays(moved, Date.UTC(2026, 3, 5));
    expect(changed.attributed.digest).not.toBe(added.attributed.digest);
    expect(changed.attributed).toMatchObject({ built: 4, otherDigests: 4 });
    expect(changed.cached).toEqual(changed.slots);
    expect(changed.cached.counted).not.toEqual(added.cached.counted);
    const digests = await connection.runAndReadAll(`SELECT DISTINCT digest FROM attributed_pairs
      UNION SELECT DISTINCT digest FROM counted_daily UNION SELECT DISTINCT digest FROM unattributed_daily
      UNION SELECT DISTINCT digest FROM counted_daily_batches`);
    expect(digests.getRows()).toEqual([[changed.attributed.digest]]);

    // Back to the first registry: its digest again, counted afresh from the daily rows.
    const back = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(back.attributed).toMatchObject({ digest: added.attributed.digest, built: 4 });
    expect(back.cached).toEqual(added.cached);
  });

  it('drops the cache rows of a replaced or removed batch and counts the replacement', async () => {
    const registry = registryOf(['America/St_Johns', 'Pacific/Kiritimati']);
    await insertRows(fc.sample(rowArbitrary(2), { numRuns: 400, seed: 23 }));
    const first = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(first.cached).toEqual(first.slots);
    await deleteRollup(connection, ['b2', 'b3']);
    await insertRows(
      fc.sample(rowArbitrary(2), { numRuns: 150, seed: 24 }).map((r) => ({ ...r, batch: 'b4' })),
    );
    const replaced = await bothWays(registry, Date.UTC(2026, 3, 5));
    expect(replaced.attributed).toMatchObject({ built: 1, dropped: 2, otherDigests: 0 });
    expect(replaced.cached).toEqual(replaced.slots);
    expect(replaced.cached.counted).not.toEqual(first.cached.counted);
    const batches = await connection.runAndReadAll(`SELECT DISTINCT batch FROM counted_daily_batches
      UNION SELECT DISTINCT batch FROM counted_daily UNION SELECT DISTINCT batch FROM unattributed_daily
      ORDER BY batch`);
    expect(batches.getRows().flat()).toEqual(['b1', 'b4']);
  });

  it('leaves the attributed caches as they were when their refresh fails at any step, and the next refresh completes them', async () => {
    const registry = registryOf(['Asia/Kathmandu', 'America/New_York']);
    await insertRows(fc.sample(rowArbitrary(2), { numRuns: 300, seed: 25 }));
    await bothWays(registry, Date.UTC(2026, 3, 5));
    // A replaced batch, a new one, and a registry change pending at once.
    await deleteRollup(connection, ['b1']);
    await insertRows(
      fc.sample(rowArbitrary(2), { numRuns: 100, seed: 26 }).map((r) => ({ ...r, batch: 'b5' })),
    );
    const other = registryOf(['Asia/Kathmandu', 'Europe/Berlin']);
    const cacheText = async () =>
      JSON.stringify(
        (
          await connection.runAndReadAll(`SELECT
        (SELECT count(*) || ':' || coalesce(sum(length(requester)), 0) FROM attributed_pairs),
        (SELECT count(*) || ':' || coalesce(sum(requests), 0) FROM counted_daily),
        (SELECT count(*) || ':' || coalesce(sum(requests), 0) FROM unattributed_daily),
        (SELECT string_agg(digest || batch || signature, ',' ORDER BY digest, batch) FROM counted_daily_batches)`)
        ).getRows(),
      );
    for (const target of [registry, other]) {
      // The daily pre-aggregate completes first (its own transaction); the caches fail after.
      await prepareDailyRead(connection, target);
      const before = await cacheText();
      for (const failAt of ['dropped', 'attributed', 'built'] as const) {
        await expect(
          bothWays(target, Date.UTC(2026, 3, 5), (step) => {
            if (step === failAt) throw new Error(`crash at ${step}`);
          }),
        ).rejects.toThrow(`crash at ${failAt}`);
        expect(await cacheText()).toBe(before);
      }
      const r = await bothWays(target, Date.UTC(2026, 3, 5));
      expect(r.attributed.built).toBeGreaterThan(0);
      expect(r.cached).toEqual(r.slots);
    }
  });

  it('lowers DuckDB memory limit only while it runs, and refuses a limit that is not a size', async () => {
    const limit = async () =>
      String((await connection.runAndReadAll("SELECT current_setting('memory_limit')")).getRows()[0]![0]);
    const before = await limit();
    await insertRows(fc.sample(rowArbitrary(1), { numRuns: 50, seed: 12 }));
    let during = '';
    await refreshDailyRollup(connection, ['UTC'], {
      memoryLimit: '300MB',
      onStep: () => {
        during ||= 'asked';
      },
    });
    expect(during).toBe('asked');
    expect(await limit()).toBe(before);
    expect(memoryBytes('300MB')).toBeLessThan(memoryBytes(before));
    await expect(refreshDailyRollup(connection, ['UTC'], { memoryLimit: "1GB'; DROP" })).rejects.toThrow(
      'memoryLimit must be a size such as 512MB',
    );
  });

  it("sets the database's own memory limit back exactly: the limit in force, not only the setting's text", async () => {
    // Not a round number: DuckDB prints it as 1.1 GiB, and setting back that text would give 1.0 GiB.
    const own = 1_234_567_890;
    const other = await DuckDBInstance.create(':memory:', { memory_limit: memoryLimitSetting(own) });
    const c = await other.connect();
    try {
      for (const statement of CREATE_SCHEMA) await c.run(statement);
      await insertRows(fc.sample(rowArbitrary(1), { numRuns: 50, seed: 12 }), c);
      const setting = async () =>
        String((await c.runAndReadAll("SELECT current_setting('memory_limit')")).getRows()[0]![0]);
      const inForce = await memoryLimitInForce(c);
      expect(inForce).toBe('1.1 GiB');
      const text = await setting();
      await refreshDailyRollup(c, ['UTC'], { memoryLimit: '300MB', databaseMemoryLimit: own });
      expect(await memoryLimitInForce(c)).toBe(inForce);
      expect(await setting()).toBe(text);
      // Also after a refresh that fails part-way.
      await deleteRollup(c);
      await insertRows(fc.sample(rowArbitrary(1), { numRuns: 50, seed: 13 }), c);
      await expect(
        refreshDailyRollup(c, ['UTC', 'Asia/Kathmandu'], {
          memoryLimit: '300MB',
          databaseMemoryLimit: own,
          onStep: (step) => {
            if (step === 'staged') throw new Error('crash while lowered');
          },
        }),
      ).rejects.toThrow('crash while lowered');
      expect(await memoryLimitInForce(c)).toBe(inForce);
      // Not told the database's limit, the refresh leaves the limit as it is.
      await refreshDailyRollup(c, ['UTC', 'Asia/Kathmandu'], { memoryLimit: '300MB' });
      expect(await memoryLimitInForce(c)).toBe(inForce);
    } finally {
      c.closeSync();
      other.closeSync();
    }
  });

  it('refuses a zone DuckDB does not know, naming it', async () => {
    await expect(refreshDailyRollup(connection, ['Mars/Olympus'])).rejects.toThrow(
      'time zone "Mars/Olympus": DuckDB knows no such zone',
    );
  });
});
