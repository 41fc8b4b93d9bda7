/**
 * Issue 5, AWS side: every value that reaches an Athena statement, tried with quotes, `--`, `/* * /`
 * and `;`. Each is either refused by validation before any statement is sent, or passed as an
 * ExecutionParameter, never altering the SQL: the assertions are on the SQL text the local Athena
 * server received. (The runner binding a hostile parameter as a plain value, and the builders'
 * golden text, are in test/integration/athena-client.test.ts and test/unit/athena-sql.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  readInputSql,
  readLastSlotSql,
  replaceBatchRollupSql,
  SqlInputError,
} from '../../functions/adapters/athena/sql.js';
import {
  unloadPartnerDailyUsageSql,
  unloadUnattributedUsageSql,
} from '../../functions/adapters/athena/unload-sql.js';
import { windowAggregationRequests } from '../../functions/audit/evaluate-partner.js';
import { parseRegistry, RegistryError } from '../../functions/domain/registry.js';
import { startOfLocalDate } from '../../functions/domain/time.js';
import { aggregate } from '../../functions/handlers/aggregate.handler.js';
import { readAggregate } from '../../functions/handlers/aggregate-document.js';
import { plan } from '../../functions/handlers/plan.handler.js';
import { rollup } from '../../functions/handlers/rollup.handler.js';
import {
  BATCHES,
  REGISTRY_TABLES,
  REPORTS,
  startWorld,
  statementsSince,
  TABLES,
  WINDOW,
  type World,
} from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

/** Ways to end a literal, comment out the rest or start a second statement. */
const HOSTILE = [
  "'",
  "' OR '1'='1",
  "2026/03/01' --",
  '2026/03/01 -- x',
  '2026/03/01/* */',
  "2026/03/01'; DROP TABLE rollup; --",
  '2026/03/01;',
  "2026-03-01' /* pwned */",
] as const;

let world: World;

/** The statements sent while `work` ran, and what it threw. */
async function sent(
  work: () => Promise<unknown>,
): Promise<{ statements: { sql: string; params: string[] }[]; error?: Error }> {
  const from = world.athena.calls.length;
  const error = await work().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  return { statements: statementsSince(world.athena, from), ...(error ? { error } : {}) };
}

beforeAll(async () => {
  world = await startWorld(5);
  await world.rollUpAll('setup');
});

afterAll(async () => {
  await world?.stop();
});

describe('values that would reach Athena statements', () => {
  it.each(HOSTILE)('refuses the batch %j before sending any statement', async (batch) => {
    const { statements, error } = await sent(() => rollup(world.rollupDeps(), { batch, runId: 'inject' }));
    expect(error).toMatchObject({ name: 'InvalidInputError', message: expect.stringContaining('batch') });
    expect(statements).toEqual([]);
  });

  it.each(HOSTILE)('refuses the window date %j before sending any statement', async (date) => {
    for (const window of [
      { from: date, to: WINDOW.to },
      { from: WINDOW.from, to: date },
    ]) {
      const { statements, error } = await sent(() =>
        aggregate(world.evaluateDeps(), { runId: 'inject', window, partners: [] }),
      );
      expect(error).toMatchObject({
        name: 'InvalidInputError',
        message: expect.stringMatching(/window\.(from|to)/),
      });
      expect(statements).toEqual([]);
      const planned = await sent(() =>
        plan(
          {
            loadRegistry: async () => ({ registry: world.registry, hash: 'h', source: 's' }),
            clock: world.clock,
          },
          window,
        ),
      );
      expect(planned.error).toMatchObject({ name: 'InvalidInputError' });
    }
  });

  it.each(HOSTILE)('refuses the partner id %j before sending any statement', async (partner) => {
    const { statements, error } = await sent(() =>
      aggregate(world.evaluateDeps(), { runId: 'inject', window: WINDOW, partners: [partner] }),
    );
    expect(error).toMatchObject({ name: 'InvalidInputError', message: expect.stringContaining('partners') });
    expect(statements).toEqual([]);
  });

  it.each(HOSTILE)('refuses a dataset depth of %j, from the registry or around it', async (depth) => {
    const yaml = (d: string) =>
      `version: 1
provider: { name: P, noticeFrom: "P <p@p.example>", contactEmail: p@p.example }
settings: { datasetDepth: ${JSON.stringify(d)} }
partners: []
`;
    expect(() => parseRegistry(yaml(depth), 'registry.yaml')).toThrow(RegistryError);
    // A registry object that skipped validation still cannot put the depth into the statement.
    const registry = {
      ...world.registry,
      settings: { ...world.registry.settings, datasetDepth: depth as unknown as number },
    };
    const { statements, error } = await sent(() =>
      rollup(
        { ...world.rollupDeps(), loadRegistry: async () => ({ registry, hash: 'h', source: 's' }) },
        { batch: BATCHES[1]!, runId: 'inject' },
      ),
    );
    expect(error).toBeInstanceOf(SqlInputError);
    expect(statements).toEqual([]);
  });

  it.each(['audit"; DROP TABLE rollup; --', 'audit.rollup', 'Audit', 'a b'])(
    'refuses the database or table name %j from the environment',
    async (name) => {
      for (const tables of [
        { ...TABLES, database: name },
        { ...TABLES, logsTable: name },
        { ...TABLES, rollupTable: name },
      ]) {
        const { statements, error } = await sent(() =>
          rollup({ ...world.rollupDeps(), tables }, { batch: BATCHES[1]!, runId: 'inject' }),
        );
        expect(error).toBeInstanceOf(SqlInputError);
        expect(statements).toEqual([]);
      }
    },
  );

  it('sends exactly the built statements, whatever the run id and reason hold', async () => {
    const hostile = "x'; DROP TABLE rollup; -- /* */";
    const batch = BATCHES[1]!;
    const rolled = await sent(() => rollup(world.rollupDeps(), { batch, runId: hostile }));
    expect(rolled.error).toBeUndefined();
    expect(rolled.statements).toEqual([
      {
        sql: replaceBatchRollupSql(TABLES, batch, { datasetDepth: world.registry.settings.datasetDepth }).sql,
        params: [],
      },
    ]);

    let aggregated: Awaited<ReturnType<typeof aggregate>> | undefined;
    const evaluated = await sent(async () => {
      aggregated = await aggregate(world.evaluateDeps(), {
        runId: 'inject-ok',
        window: WINDOW,
        partners: [],
        reason: hostile,
      });
    });
    expect(evaluated.error).toBeUndefined();
    // The UNLOADs as built from the plan and the folders the step recorded.
    const doc = await readAggregate(world.s3Client(), REPORTS, aggregated!.aggregateKey, 'inject-ok');
    const requests = windowAggregationRequests(world.registry, [], doc.plan);
    const aggregationTables = { database: TABLES.database, rollup: TABLES.rollupTable, ...REGISTRY_TABLES };
    const at = (prefix: string) => `s3://${doc.unloaded.bucket}/${prefix}`;
    const built = [
      readLastSlotSql(TABLES, {
        startMs: startOfLocalDate('2026-02-27', 'UTC'),
        endMs: startOfLocalDate('2026-03-06', 'UTC'),
      }),
      unloadPartnerDailyUsageSql(aggregationTables, requests.daily!, at(doc.unloaded.dailyPrefix)),
      unloadUnattributedUsageSql(
        aggregationTables,
        requests.unattributed,
        at(doc.unloaded.unattributedPrefix),
      ),
      readInputSql(TABLES, '2026/02/28', WINDOW.to.replaceAll('-', '/')),
    ];
    expect(evaluated.statements).toEqual(built.map((q) => ({ sql: q.sql, params: [...q.params] })));
    for (const s of [...rolled.statements, ...evaluated.statements]) {
      expect(s.sql).not.toContain('DROP');
      expect(s.params.join(' ')).not.toContain('DROP');
    }
  });
});
