/**
 * Issue 5, AWS side: S3 refusing or failing requests of the evaluate steps (Aggregate, Assess,
 * Assemble), notify and publish. A
 * throttled or failed write (503 SlowDown, 500) fails the step with RetryableError naming the object;
 * a refused one (403) is a clear error that is not retried. Nothing is half recorded: no evaluation
 * document, no report.json without its usage.csv, no notice sent without its copy in the bucket, and
 * the retry completes what the failed attempt left.
 *
 * Covered elsewhere: S3ReportStore's retryable flag for a missing object and bucket
 * (test/integration/s3-report-store.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { aggregate } from '../../functions/handlers/aggregate.handler.js';
import { assemble } from '../../functions/handlers/assemble.handler.js';
import { assess } from '../../functions/handlers/assess.handler.js';
import { asStep } from '../../functions/handlers/errors.js';
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

describe('the evaluate steps (Aggregate, Assess, Assemble) when S3 fails', () => {
  type Step = 'aggregate' | 'assess' | 'assemble';
  /**
   * Runs Aggregate, Assess for each partner and Assemble, as the state machine does; `fault` is
   * injected into the first S3 request of step `at`, whose failure is returned, and then that step is
   * retried. Returns the failure, the evaluation's key, and Athena's executions before and after the
   * retry.
   */
  async function evaluateWithFault(runId: string, at: Step, fault: ReturnType<typeof s3Error>) {
    const deps = world.evaluateDeps();
    let error: Error | undefined;
    let executions = { before: 0, after: 0 };
    const step = async <T>(name: Step, work: () => Promise<T>): Promise<T> => {
      if (name === at && error === undefined) {
        world.s3Proxy.inject(fault);
        error = await failure(work);
        executions.before = world.athena.queryExecutions().length;
        const out = await asStep(work);
        executions = { ...executions, after: world.athena.queryExecutions().length };
        return out;
      }
      return asStep(work);
    };
    const aggregated = await step('aggregate', () =>
      aggregate(deps, { runId, window: WINDOW, partners: [], dryRun: true, reason: null }),
    );
    const { aggregateKey, itemsKey } = aggregated;
    for (const p of world.registry.partners) {
      await step('assess', () => assess(deps, { runId, aggregateKey, partnerId: p.id }));
    }
    const out = await step('assemble', () => assemble(deps, { runId, aggregateKey, itemsKey }));
    return { error: error!, evaluationKey: out.evaluationKey, executions };
  }

  /** An evaluation without what names its run. */
  async function figuresOf(key: string) {
    return (await readEvaluation(world.s3Client(), REPORTS, key)).evaluation;
  }

  it.each([
    ['aggregate', '503 SlowDown', SLOW_DOWN],
    ['aggregate', '500 InternalError', INTERNAL],
    ['assess', '503 SlowDown', SLOW_DOWN],
    ['assess', '500 InternalError', INTERNAL],
    ['assemble', '503 SlowDown', SLOW_DOWN],
    ['assemble', '500 InternalError', INTERNAL],
  ] as const)(
    '%s fails with RetryableError on %s, naming the object, and its retry completes the same evaluation without querying again',
    async (at, _, fault) => {
      runNo += 1;
      const runId = `s3-fault-${runNo}`;
      const { error, evaluationKey, executions } = await evaluateWithFault(runId, at, fault);
      expect(error.name).toBe('RetryableError');
      expect(error.message).toMatch(new RegExp(`s3://${REPORTS}/runs/${runId}/`));
      // Same run id, same ClientRequestTokens: Athena hands back the finished queries, scanning nothing again.
      expect(executions.after).toBe(executions.before);
      expect(await world.keys(`runs/${runId}/evaluation.json`)).toEqual([evaluationKey]);
      expect(await figuresOf(evaluationKey)).toEqual(await figuresOf(setupKey));
    },
  );

  it.each(['aggregate', 'assess', 'assemble'] as const)(
    '%s fails with a clear error, not retried, when S3 refuses the request',
    async (at) => {
      runNo += 1;
      const runId = `s3-fault-${runNo}`;
      const { error } = await evaluateWithFault(runId, at, DENIED);
      expect(error.name).toBe('S3StoreError');
      expect(error.message).toMatch(new RegExp(`s3://${REPORTS}/runs/${runId}/.*: Access Denied`));
    },
  );

  it('writes no evaluation document when the write of Assemble fails, and its retry writes it', async () => {
    const deps = world.evaluateDeps();
    const partsOf = async (runId: string) => {
      const aggregated = await aggregate(deps, {
        runId,
        window: WINDOW,
        partners: [],
        dryRun: true,
        reason: null,
      });
      const { aggregateKey, itemsKey } = aggregated;
      for (const p of world.registry.partners) await assess(deps, { runId, aggregateKey, partnerId: p.id });
      return { runId, aggregateKey, itemsKey };
    };
    // How many S3 requests Assemble makes, measured on a run of its own; the last is its write.
    runNo += 1;
    const measured = await partsOf(`s3-fault-${runNo}`);
    const before = world.s3Proxy.forwarded;
    await assemble(deps, measured);
    const requests = world.s3Proxy.forwarded - before;
    expect(requests).toBeGreaterThan(world.registry.partners.length);

    runNo += 1;
    const runId = `s3-fault-${runNo}`;
    const input = await partsOf(runId);
    world.s3Proxy.inject(SLOW_DOWN, 1, requests - 1);
    const error = await failure(() => assemble(deps, input));
    expect(error.name).toBe('RetryableError');
    expect(error.message).toContain(`s3://${REPORTS}/runs/${runId}/evaluation.json`);
    expect(await world.keys(`runs/${runId}/evaluation.json`)).toEqual([]);
    const out = await asStep(() => assemble(deps, input));
    expect(await world.keys(`runs/${runId}/evaluation.json`)).toEqual([out.evaluationKey]);
  });
});

describe('publish when S3 fails', () => {
  it.each([
    ['the CSV', 1],
    ['the HTML report', 2],
    ['network-findings.csv', 3],
    ['report.json', 4],
  ])(
    'never leaves report.json without its CSV when writing %s fails, and its retry writes both',
    async (_, passFirst) => {
      const { runId, evaluationKey } = await freshRun();
      // The first request reads the evaluation; then usage.csv, report.html, network-findings.csv, and
      // report.json last.
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
        [
          evaluationKey,
          out.reportKey,
          out.csvKey,
          `runs/${runId}/report.html`,
          `runs/${runId}/network-findings.csv`,
        ].sort(),
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
