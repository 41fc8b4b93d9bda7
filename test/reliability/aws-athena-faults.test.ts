/**
 * Issue 5, AWS side: the rollup and evaluate steps (Aggregate) when Athena fails, throttles or is slow. A failure
 * that may pass later fails the step with RetryableError (the state machine retries it) and the retry
 * succeeds once Athena recovers; any other failure is a clear error that names the query's state and
 * reason. A batch is replaced in one statement, so no failure leaves it half applied, and rolling it
 * up again gives the same totals. The runner's own life cycle (tokens, polling, resubmission, paging)
 * is covered in test/integration/athena-client.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { USAGE_GRAIN_ONLY } from '../../functions/adapters/athena/sql.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { asStep } from '../../functions/handlers/errors.js';
import { rollup } from '../../functions/handlers/rollup.handler.js';
import { localS3Client } from '../support/aws-local-clients.js';
import {
  BATCHES,
  batchTotals,
  REPORTS,
  startWorld,
  stepError,
  TABLES,
  WINDOW,
  type World,
} from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

let world: World;
/** Requests and bytes of each batch after a clean rollup. */
let baseline: Map<string, string>;
let runNo = 0;
const BATCH = BATCHES[1]!;
const rollupTable = `"${TABLES.database}"."${TABLES.rollupTable}"`;

function nextRun(): string {
  runNo += 1;
  return `athena-fault-${runNo}`;
}

beforeAll(async () => {
  world = await startWorld(5);
  await world.rollUpAll('baseline');
  baseline = await batchTotals(world);
  expect(baseline.size).toBeGreaterThanOrEqual(3);
});

afterAll(async () => {
  await world?.stop();
});

beforeEach(async () => {
  // Each test starts from the clean rollup.
  expect(await batchTotals(world)).toEqual(baseline);
});

describe('rollup step under Athena faults', () => {
  it('fails with RetryableError when the query keeps FAILING retryably, and its retry succeeds once Athena recovers', async () => {
    const runId = nextRun();
    world.athena.inject({
      kind: 'fail',
      retryable: true,
      match: /^MERGE/,
      times: 3,
      message: 'internal error',
    });
    const error = await stepError(() => rollup(world.rollupDeps(), { batch: BATCH, runId }));
    expect(error.name).toBe('RetryableError');
    expect(error.message).toContain('internal error');
    expect(await batchTotals(world)).toEqual(baseline);

    // The Step Functions retry: same payload, same run id, so the same ClientRequestTokens; Athena
    // answers them with the failed executions, which must not use up the new attempt's resubmits.
    const out = await asStep(() => rollup(world.rollupDeps(), { batch: BATCH, runId }));
    expect(out.batch).toBe(BATCH);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('resubmits a retryable failure within the step, with no error at all', async () => {
    world.athena.inject({ kind: 'fail', retryable: true, match: /^MERGE/, times: 2 });
    await asStep(() => rollup(world.rollupDeps(), { batch: BATCH, runId: nextRun() }));
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it.each([
    [
      'a FAILED query that is not retryable',
      { kind: 'fail', retryable: false, match: /^MERGE/, message: 'TABLE_NOT_FOUND: rollup' },
      /FAILED: TABLE_NOT_FOUND/,
    ],
    ['a CANCELLED query', { kind: 'cancel', match: /^MERGE/ }, /CANCELLED/],
  ] as const)(
    'fails on %s with a clear error that is not retried, the batch untouched',
    async (_, fault, message) => {
      world.athena.inject({ ...fault });
      const error = await stepError(() => rollup(world.rollupDeps(), { batch: BATCH, runId: nextRun() }));
      expect(error.name).toBe('AthenaQueryError');
      expect(error.message).toMatch(message);
      expect(await batchTotals(world)).toEqual(baseline);
    },
  );

  it('backs off on TooManyRequestsException and ThrottlingException, then succeeds', async () => {
    const sleeps: number[] = [];
    const runner = world.runner({ sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 });
    world.athena.inject({ kind: 'throttle', operation: 'StartQueryExecution', times: 3 });
    world.athena.inject({
      kind: 'throttle',
      operation: 'GetQueryExecution',
      error: 'ThrottlingException',
      times: 2,
    });
    await asStep(() => rollup(world.rollupDeps(runner), { batch: BATCH, runId: nextRun() }));
    // Full jitter (random 0.5) of a cap doubling from 400 ms, for each throttled call.
    expect(sleeps.filter((ms) => ms >= 200)).toEqual([200, 400, 800, 200, 400]);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('fails retryably when throttling outlasts its retries, having applied nothing', async () => {
    world.athena.inject({ kind: 'throttle', operation: 'StartQueryExecution', times: 4 });
    const error = await stepError(() =>
      rollup(world.rollupDeps(world.runner({ maxThrottleRetries: 3 })), { batch: BATCH, runId: nextRun() }),
    );
    expect(error.name).toBe('RetryableError');
    expect(error.message).toMatch(/throttling/);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('waits out a slow query (QUEUED, RUNNING, back to QUEUED) with growing polls', async () => {
    const sleeps: number[] = [];
    const runner = world.runner({
      pollInitialMs: 100,
      pollMaxMs: 400,
      sleep: async (ms) => void sleeps.push(ms),
    });
    world.athena.inject({
      kind: 'states',
      states: ['QUEUED', 'QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'RUNNING'],
    });
    await asStep(() => rollup(world.rollupDeps(runner), { batch: BATCH, runId: nextRun() }));
    expect(sleeps).toEqual([100, 150, 225, 338, 400, 400]);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('gives up waiting at its deadline with RetryableError, and the retry resumes the same query instead of running a second', async () => {
    const runId = nextRun();
    let now = 0;
    const slow = world.runner({
      timeoutMs: 1000,
      pollInitialMs: 400,
      pollMaxMs: 400,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    world.athena.inject({ kind: 'states', states: ['QUEUED', 'QUEUED', 'QUEUED', 'QUEUED'] });
    const before = world.athena.queryExecutions().length;
    const error = await stepError(() => rollup(world.rollupDeps(slow), { batch: BATCH, runId }));
    expect(error.name).toBe('RetryableError');
    expect(error.message).toMatch(/still QUEUED/);
    const out = await asStep(() => rollup(world.rollupDeps(), { batch: BATCH, runId }));
    expect(world.athena.queryExecutions().length - before).toBe(1);
    expect(out.queryExecutionIds).toEqual([world.athena.queryExecutions().at(-1)?.id]);
    expect(await batchTotals(world)).toEqual(baseline);
  });
});

describe('a batch is never half applied', () => {
  it('replaces a batch in one statement: no delete that a reader, a crash or another run could find alone', async () => {
    const from = world.athena.calls.length;
    await rollup(world.rollupDeps(), { batch: BATCH, runId: nextRun() });
    const statements = world.athena.calls
      .slice(from)
      .filter((c) => c.operation === 'StartQueryExecution')
      .map((c) => String(c.input['QueryString']).split(/\s/, 1)[0]);
    expect(statements).toEqual(['MERGE']);
  });

  it('restores the totals of a batch that an interrupted delete-then-insert left empty', async () => {
    await world.athena.sql(`DELETE FROM ${rollupTable} WHERE batch = '${BATCH}'`);
    await rollup(world.rollupDeps(), { batch: BATCH, runId: nextRun() });
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('removes rows of the batch that its logs no longer give, and counts nothing twice', async () => {
    // Rows of another dataset depth, as a registry change would leave them, and a doubled row.
    await world.athena.sql(
      `INSERT INTO ${rollupTable} (slot_start, bucket, requester, access_point, dataset, operation, status_class,
         requests, bytes_sent, records, batch, request_ids)
       SELECT slot_start, bucket, requester, access_point, dataset || 'old/', operation,
         status_class, requests, bytes_sent, records, batch, request_ids FROM ${rollupTable}
       WHERE batch = '${BATCH}' AND ${USAGE_GRAIN_ONLY}`,
    );
    await rollup(world.rollupDeps(), { batch: BATCH, runId: nextRun() });
    expect(await batchTotals(world)).toEqual(baseline);
  });
});

describe('the evaluate steps under Athena faults (Aggregate, the one that queries)', () => {
  const input = { window: WINDOW, partners: [], dryRun: false, reason: null };
  let clean: string;
  const read = async (key: string) => {
    const doc = JSON.parse(await readS3Text(localS3Client(world.s3.endpoint), REPORTS, key));
    return doc.evaluation;
  };

  beforeAll(async () => {
    clean = (await world.evaluate({ ...input, runId: 'evaluate-clean' })).evaluationKey;
  });

  it.each([
    ['the data-end query', /^SELECT CAST\(max\(slot_start\)/],
    ['an UNLOAD of the sums', /^UNLOAD/],
  ])(
    'fails without writing its documents when %s fails, and its retry writes the same evaluation as a clean run',
    async (_, match) => {
      const runId = nextRun();
      world.athena.inject({ kind: 'fail', retryable: true, match, times: 3 });
      const error = await stepError(() => world.evaluate({ ...input, runId }));
      expect(error.name).toBe('RetryableError');
      const written = await world.keys(`runs/${runId}/`);
      expect(written.filter((k) => !k.startsWith(`runs/${runId}/aggregate/`))).toEqual([]);

      world.athena.inject({ kind: 'throttle', operation: 'GetQueryResults', times: 2 });
      const out = await asStep(() => world.evaluate({ ...input, runId }));
      expect(await read(out.evaluationKey)).toEqual(await read(clean));
    },
  );

  it('names the failed query state and reason when a query fails for good', async () => {
    world.athena.inject({
      kind: 'fail',
      retryable: false,
      match: /^(SELECT|UNLOAD)/,
      message: 'HIVE_CURSOR_ERROR: bad file',
    });
    const error = await stepError(() => world.evaluate({ runId: nextRun(), window: WINDOW, partners: [] }));
    expect(error.name).toBe('AthenaQueryError');
    expect(error.message).toMatch(/FAILED: HIVE_CURSOR_ERROR: bad file/);
  });
});
