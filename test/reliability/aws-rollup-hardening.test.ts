/**
 * Issue 17, items 4 to 6, AWS side: a step that waits on Athena fails with RetryableError before its
 * Lambda's timeout (and the retry resumes the same query); an Iceberg commit conflict between two
 * MERGEs is retried with backoff instead of failing the run; a delivery date without log objects, or
 * before logsStartDate, is skipped and reported, and its rollup is kept instead of emptied.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AthenaQueryError } from '../../functions/adapters/athena/athena-client.js';
import { S3LogPartitions } from '../../functions/adapters/s3/s3-log-partitions.js';
import { asStep } from '../../functions/handlers/errors.js';
import { type RollupOutput, rollup } from '../../functions/handlers/rollup.handler.js';
import { STEP_DEADLINE_MARGIN_MS, type StepContext } from '../../functions/handlers/step-deadline.js';
import { localS3Client } from '../support/aws-local-clients.js';
import { FaultProxy, type LocalServer, startS3rver } from '../support/local-aws-servers.js';
import { BATCHES, batchTotals, startWorld, stepError, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

let world: World;
let baseline: Map<string, string>;
let runNo = 0;
const BATCH = BATCHES[1]!;
/**
 * A Lambda's life in these tests: 10 minutes, shorter than the runner's own limit per statement
 * (780 s), so that what stops the step is its deadline. (The stack gives Aggregate and RollUp 15.)
 */
const LAMBDA_LIFE_MS = 600_000;

function nextRun(): string {
  runNo += 1;
  return `hardening-${runNo}`;
}

/** A virtual clock that the runner's sleeps advance, and a Lambda context counting down on it. */
function lambdaTime(timeoutMs: number) {
  const clock = { now: 1_000_000 };
  const startedAt = clock.now;
  const context: StepContext = { getRemainingTimeInMillis: () => timeoutMs - (clock.now - startedAt) };
  const runner = world.runner({
    // The runner's own per-statement limit, 780 s, is longer than the Lambda's life.
    timeoutMs: 780_000,
    pollInitialMs: 5000,
    pollMaxMs: 5000,
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
  });
  return { clock, startedAt, context, runner, killedAt: startedAt + timeoutMs };
}

beforeAll(async () => {
  world = await startWorld(11);
  await world.rollUpAll('baseline');
  baseline = await batchTotals(world);
  expect(baseline.size).toBeGreaterThanOrEqual(3);
});

afterAll(async () => {
  await world?.stop();
});

describe('a step ends before its Lambda does (item 4)', () => {
  beforeEach(async () => {
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('fails the rollup with RetryableError before the timeout, and the retry resumes the same query', async () => {
    const runId = nextRun();
    const t = lambdaTime(LAMBDA_LIFE_MS);
    // Athena keeps the MERGE queued for 15 minutes of polls.
    world.athena.inject({ kind: 'states', states: Array(180).fill('QUEUED') });
    const before = world.athena.queryExecutions().length;
    const error = await stepError(() =>
      rollup(world.rollupDeps(t.runner), { batch: BATCH, runId }, t.context),
    );
    expect(error.name).toBe('RetryableError');
    expect(error.message).toMatch(/still QUEUED at the step's deadline/);
    // Thrown with the margin still left, so the answer reaches the state machine.
    expect(t.clock.now).toBeLessThanOrEqual(t.killedAt - STEP_DEADLINE_MARGIN_MS);
    expect(t.clock.now).toBeGreaterThan(t.killedAt - STEP_DEADLINE_MARGIN_MS - 5000);
    expect(world.athena.queryExecutions().length - before).toBe(1);
    const queued = world.athena.queryExecutions().at(-1)!.id;

    world.athena.inject({ kind: 'states', states: [] });
    const retried = lambdaTime(LAMBDA_LIFE_MS);
    const out = (await asStep(() =>
      rollup(world.rollupDeps(retried.runner), { batch: BATCH, runId }, retried.context),
    )) as RollupOutput;
    expect(out.queryExecutionIds).toEqual([queued]);
    expect(world.athena.queryExecutions().length - before).toBe(1);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('fails Aggregate with RetryableError before the timeout when a later query is slow, writing no document', async () => {
    const runId = nextRun();
    const t = lambdaTime(LAMBDA_LIFE_MS);
    // Aggregate's first statement (the data end) is quick; the next is held in RUNNING for longer than
    // the Lambda lives.
    world.athena.inject({
      kind: 'states',
      states: Array(180).fill('RUNNING'),
      match: /sum\(bytes_sent\)/,
    });
    const before = world.athena.queryExecutions().length;
    const keysBefore = await world.keys(`runs/${runId}/`);
    const error = await stepError(() =>
      world.evaluate(
        { runId, window: WINDOW, partners: [] },
        { deps: world.evaluateDeps(t.runner), context: t.context },
      ),
    );
    expect(error.name).toBe('RetryableError');
    expect(t.clock.now).toBeLessThanOrEqual(t.killedAt - STEP_DEADLINE_MARGIN_MS);
    // The UNLOADs that finished left their folders; neither aggregate.json nor the items.
    const written = await world.keys(`runs/${runId}/`);
    expect(written.filter((k) => !k.startsWith(`runs/${runId}/aggregate/`))).toEqual(keysBefore);
    const started = world.athena.queryExecutions().slice(before);
    expect(started.length).toBeGreaterThanOrEqual(2);

    world.athena.inject({ kind: 'states', states: [] });
    const retried = lambdaTime(LAMBDA_LIFE_MS);
    const out = await asStep(() =>
      world.evaluate(
        { runId, window: WINDOW, partners: [] },
        { deps: world.evaluateDeps(retried.runner), context: retried.context },
      ),
    );
    expect(out.evaluationKey).toContain(runId);
    // The queries the first invocation started were resumed, not run a second time.
    const again = world.athena.queryExecutions().slice(before);
    for (const q of started)
      expect(again.filter((e) => e.sql === q.sql && e.params.join() === q.params.join())).toHaveLength(1);
  });

  it('does not even submit when the invocation has no time left beyond the margin', async () => {
    const t = lambdaTime(STEP_DEADLINE_MARGIN_MS - 1);
    const before = world.athena.queryExecutions().length;
    const error = await stepError(() =>
      rollup(world.rollupDeps(t.runner), { batch: BATCH, runId: nextRun() }, t.context),
    );
    expect(error.name).toBe('RetryableError');
    expect(world.athena.queryExecutions().length).toBe(before);
  });
});

describe('Iceberg commit conflicts between MERGEs (item 5)', () => {
  const conflict = 'ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table rollup: Commit conflict';

  it('resubmits the MERGE after a jittered backoff, and the batch ends up exactly as rolled up once', async () => {
    const sleeps: number[] = [];
    const runner = world.runner({
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    world.athena.inject({ kind: 'fail', retryable: false, message: conflict, times: 2, match: /^MERGE/ });
    const out = await asStep(() => rollup(world.rollupDeps(runner), { batch: BATCH, runId: nextRun() }));
    expect(out.queryExecutionIds).toHaveLength(1);
    // Half of a cap doubling from 2 s: 1 s, then 2 s.
    expect(sleeps.filter((ms) => ms >= 1000)).toEqual([1000, 2000]);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('hands a conflict that outlasts its retries to the state machine as RetryableError, whose retry succeeds', async () => {
    const runId = nextRun();
    world.athena.inject({ kind: 'fail', retryable: false, message: conflict, times: 5, match: /^MERGE/ });
    const error = await stepError(() => rollup(world.rollupDeps(), { batch: BATCH, runId }));
    expect(error.name).toBe('RetryableError');
    expect(((error as Error & { cause?: unknown }).cause as AthenaQueryError).details.submissions).toBe(5);
    await asStep(() => rollup(world.rollupDeps(), { batch: BATCH, runId }));
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('lets two adjacent dates roll up at once, as the RollUp map does, when one loses the commit race', async () => {
    world.athena.inject({ kind: 'fail', retryable: false, message: conflict, match: /^MERGE/ });
    const runId = nextRun();
    await Promise.all(
      [BATCHES[1]!, BATCHES[2]!].map((batch) => asStep(() => rollup(world.rollupDeps(), { batch, runId }))),
    );
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('still fails at once on an error that is not a conflict', async () => {
    world.athena.inject({ kind: 'fail', retryable: false, message: 'COLUMN_NOT_FOUND: x', match: /^MERGE/ });
    const error = await stepError(() => rollup(world.rollupDeps(), { batch: BATCH, runId: nextRun() }));
    expect(error.name).toBe('AthenaQueryError');
  });
});

describe('a delivery date without logs keeps its rollup (item 6)', () => {
  const LOGS = 'access-logs';
  const PREFIX = 's3-access/111122223333/eu-central-1/data/';
  let logS3: LocalServer;
  let logProxy: FaultProxy;
  let partitions: S3LogPartitions;

  beforeAll(async () => {
    logS3 = await startS3rver([LOGS]);
    logProxy = await FaultProxy.start(logS3.endpoint);
    partitions = new S3LogPartitions(localS3Client(logProxy.endpoint), {
      bucket: LOGS,
      partitionsPrefix: PREFIX,
    });
    // Only BATCH still has log objects (two of them): the others have expired from the log bucket.
    for (const name of ['2026-03-01-00-00-00-AAAA', '2026-03-01-01-00-00-BBBB']) {
      await localS3Client(logS3.endpoint).send(
        new PutObjectCommand({ Bucket: LOGS, Key: `${PREFIX}${BATCH}/${name}`, Body: 'x' }),
      );
    }
  });

  afterAll(async () => {
    await logProxy?.stop();
    await logS3?.stop();
  });

  beforeEach(async () => {
    expect(await batchTotals(world)).toEqual(baseline);
  });

  const deps = (extra: { logsStartDate?: string } = {}) => ({
    ...world.rollupDeps(),
    logPartitions: partitions,
    ...extra,
  });

  it('rolls up a date whose prefix has log objects', async () => {
    const before = world.athena.queryExecutions().length;
    const out = await rollup(deps(), { batch: BATCH, runId: nextRun() });
    expect(out.skipped).toBeUndefined();
    expect(world.athena.queryExecutions().length - before).toBe(1);
  });

  it('skips a date whose logs are gone, runs no query, and leaves its rows as they were', async () => {
    const gone = BATCHES[2]!;
    const before = world.athena.queryExecutions().length;
    const out = await rollup(deps(), { batch: gone, runId: nextRun() });
    expect(out).toMatchObject({ batch: gone, queryExecutionIds: [], bytesScanned: 0 });
    expect(out.skipped?.reason).toBe('no-log-objects');
    expect(out.skipped?.detail).toContain(`s3://${LOGS}/${PREFIX}${gone}/`);
    expect(world.athena.queryExecutions().length).toBe(before);
    expect(await batchTotals(world)).toEqual(baseline);
  });

  it('refuses a date before logsStartDate without listing or querying', async () => {
    const asked = logProxy.forwarded;
    const before = world.athena.queryExecutions().length;
    const out = await rollup(deps({ logsStartDate: '2026-03-01' }), { batch: BATCHES[0]!, runId: nextRun() });
    expect(out.skipped?.reason).toBe('before-logs-start');
    expect(out.skipped?.detail).toMatch(/before logsStartDate 2026-03-01/);
    expect(logProxy.forwarded).toBe(asked);
    expect(world.athena.queryExecutions().length).toBe(before);
  });

  it('fails retryably, rolling up nothing, when the listing fails with a 500', async () => {
    logProxy.inject(
      {
        status: 500,
        body: '<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>',
      },
      5,
    );
    const before = world.athena.queryExecutions().length;
    const error = await stepError(() => rollup(deps(), { batch: BATCH, runId: nextRun() }));
    logProxy.reset();
    expect(error.name).toBe('RetryableError');
    expect(error.message).toContain(`s3://${LOGS}/${PREFIX}${BATCH}/`);
    expect(world.athena.queryExecutions().length).toBe(before);
  });

  it('reports a skipped date in the published report, as a statement that did not run and why', async () => {
    const runId = nextRun();
    const rollups = [];
    for (const batch of BATCHES) rollups.push(await rollup(deps(), { batch, runId }));
    const evaluation = await world.evaluate({ runId, window: WINDOW, partners: [] });
    const { publish } = await import('../../functions/handlers/publish.handler.js');
    const published = await publish(world.publishDeps(), {
      runId,
      evaluationKey: evaluation.evaluationKey,
      notifyResults: [],
      rollups,
    });
    const report = await world.report(published.reportKey);
    const purposes = (report.evidence?.queries ?? []).map((q) => q.purpose);
    expect(purposes).toContain(`roll up delivery date ${BATCH}`);
    const skipped = purposes.filter((p) => p.startsWith('skipped delivery date'));
    expect(skipped).toHaveLength(BATCHES.length - 1);
    expect(skipped[0]).toMatch(/no-log-objects.*no log objects under s3:\/\//);
    expect(await batchTotals(world)).toEqual(baseline);
  });
});
