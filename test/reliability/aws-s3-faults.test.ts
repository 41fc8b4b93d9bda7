/**
 * Issue 5, AWS side: S3 refusing or failing writes of the evaluate, notify and publish steps. A
 * throttled or failed write (503 SlowDown, 500) fails the step with RetryableError naming the object;
 * a refused one (403) is a clear error that is not retried. Nothing is half recorded: no evaluation
 * document, no report.json without its usage.csv, no notice sent without its copy in the bucket, and
 * the retry completes what the failed attempt left.
 *
 * Covered elsewhere: S3ReportStore's retryable flag for a missing object and bucket
 * (test/integration/s3-report-store.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { asStep } from '../../functions/handlers/errors.js';
import { evaluate } from '../../functions/handlers/evaluate.handler.js';
import { readEvaluation, writeEvaluation } from '../../functions/handlers/evaluation-document.js';
import { notify } from '../../functions/handlers/notify.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { REPORTS, s3Error, startWorld, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

const SLOW_DOWN = s3Error('SlowDown', 'Please reduce your request rate.', 503);
const INTERNAL = s3Error('InternalError', 'We encountered an internal error. Please try again.', 500);
const DENIED = s3Error('AccessDenied', 'Access Denied', 403);

let world: World;
let setupKey: string;
let partnerId: string;
let runNo = 0;

async function freshRun(): Promise<{ runId: string; evaluationKey: string }> {
  runNo += 1;
  const runId = `s3-fault-${runNo}`;
  const doc = await readEvaluation(world.s3Client(), REPORTS, setupKey);
  return { runId, evaluationKey: await writeEvaluation(world.s3Client(), REPORTS, { ...doc, runId }) };
}

async function failure(work: () => Promise<unknown>): Promise<Error> {
  return asStep(work).then(
    () => {
      throw new Error('the step succeeded');
    },
    (e: unknown) => e as Error,
  );
}

beforeAll(async () => {
  world = await startWorld(5);
  const evaluated = await world.rollUpAndEvaluate('setup');
  setupKey = evaluated.evaluationKey;
  partnerId = evaluated.partnersToNotify[0]!.partnerId;
});

afterAll(async () => {
  await world?.stop();
});

beforeEach(async () => {
  world.s3Proxy.reset();
  await world.ses.clear();
  await world.clearLedger();
});

describe('evaluate when S3 fails', () => {
  it.each([
    ['503 SlowDown', SLOW_DOWN],
    ['500 InternalError', INTERNAL],
  ])(
    'fails with RetryableError on %s, writes nothing, and its retry reuses the queries already run',
    async (_, fault) => {
      runNo += 1;
      const input = { runId: `s3-fault-${runNo}`, window: WINDOW, partners: [] };
      world.s3Proxy.inject(fault);
      const error = await failure(() => evaluate(world.evaluateDeps(), input));
      expect(error.name).toBe('RetryableError');
      expect(error.message).toContain(`s3://${REPORTS}/runs/${input.runId}/evaluation.json`);
      expect(await world.keys(`runs/${input.runId}/`)).toEqual([]);

      const executions = world.athena.queryExecutions().length;
      const out = await asStep(() => evaluate(world.evaluateDeps(), input));
      expect(await world.keys(`runs/${input.runId}/`)).toEqual([out.evaluationKey]);
      // Same run id, same ClientRequestTokens: Athena hands back the finished queries, scanning nothing again.
      expect(world.athena.queryExecutions().length).toBe(executions);
    },
  );

  it('fails with a clear error, not retried, when S3 refuses the write', async () => {
    runNo += 1;
    world.s3Proxy.inject(DENIED);
    const error = await failure(() =>
      evaluate(world.evaluateDeps(), { runId: `s3-fault-${runNo}`, window: WINDOW, partners: [] }),
    );
    expect(error.name).toBe('S3StoreError');
    expect(error.message).toMatch(
      /could not write s3:\/\/reports\/runs\/s3-fault-\d+\/evaluation\.json: Access Denied/,
    );
  });
});

describe('publish when S3 fails', () => {
  it.each([
    ['the CSV', 1],
    ['the HTML report', 2],
    ['report.json', 3],
  ])(
    'never leaves report.json without its CSV when writing %s fails, and its retry writes both',
    async (_, passFirst) => {
      const { runId, evaluationKey } = await freshRun();
      // The first request reads the evaluation; then usage.csv, report.html, and report.json last.
      world.s3Proxy.inject(SLOW_DOWN, 1, passFirst);
      const error = await failure(() =>
        publish(world.publishDeps(), { runId, evaluationKey, notifyResults: [] }),
      );
      expect(error.name).toBe('RetryableError');
      expect(await world.keys(`runs/${runId}/report.json`)).toEqual([]);

      const out = await asStep(() =>
        publish(world.publishDeps(), { runId, evaluationKey, notifyResults: [] }),
      );
      expect(await world.keys(`runs/${runId}/`)).toEqual(
        [evaluationKey, out.reportKey, out.csvKey, `runs/${runId}/report.html`].sort(),
      );
      expect((await world.report(out.reportKey)).runId).toBe(runId);
    },
  );
});

describe('notify when S3 fails', () => {
  it('sends nothing and records nothing when the notice copy cannot be kept, and its retry sends once with the copy', async () => {
    const { runId, evaluationKey } = await freshRun();
    // The first request reads the evaluation; the second writes the notice's .eml.
    world.s3Proxy.inject(INTERNAL, 1, 1);
    const error = await failure(() => notify(world.notifyDeps(), { runId, evaluationKey, partnerId }));
    expect(error.name).toBe('RetryableError');
    expect(await world.ses.emails()).toHaveLength(0);
    expect(await world.ledger().entries(partnerId, WINDOW.from.slice(0, 7))).toEqual([]);

    const out = await asStep(() => notify(world.notifyDeps(), { runId, evaluationKey, partnerId }));
    expect(out.results.map((r) => r.status)).toEqual(['sent']);
    expect(await world.ses.emails()).toHaveLength(1);
    expect(await world.keys(out.results[0]!.file!)).toEqual([out.results[0]!.file]);
  });
});
