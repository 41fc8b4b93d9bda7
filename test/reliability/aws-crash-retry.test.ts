/**
 * Issue 5, AWS side: a step that stops after part of its work (the Lambda times out or its process
 * dies: simulated by a call that never returns, whose promise is then abandoned), followed by the
 * Step Functions retry of the same payload (or a redrive, which keeps the run id). Every step picks up
 * where it stopped: the rollup resumes its query instead of running a second, evaluate reuses its
 * finished queries, publish completes its report, and every due notice is sent exactly once,
 * wherever notify stopped.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbLedger } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { monthlyPeriod } from '../../functions/domain/time.js';
import { readEvaluation, writeEvaluation } from '../../functions/handlers/evaluation-document.js';
import { notify } from '../../functions/handlers/notify.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { rollup } from '../../functions/handlers/rollup.handler.js';
import type { NoticeKey } from '../../functions/ports.js';
import { localDynamoDbClient } from '../support/aws-local-clients.js';
import { BATCHES, LEDGER, REPORTS, startWorld, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

let world: World;
/** An evaluation where one partner has two notices due (February and March). */
let twoNoticesKey: string;
let partnerId: string;
/** The evaluation of the run that nothing interrupted. */
let setupEvaluation: unknown;
let runNo = 0;

type LedgerCall = 'claim' | 'markAttempt' | 'markSent';

/** A promise that never settles: the Lambda stopped there. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/**
 * The DynamoDB ledger, except that its `n`th call of `call` never returns, or fails with `error`;
 * `reached` settles when that happens.
 */
class StoppingLedger extends DynamoDbLedger {
  private calls = 0;
  readonly reached: Promise<void>;
  private arrive!: () => void;

  constructor(
    private readonly call: LedgerCall,
    private readonly n: number,
    private readonly error?: Error,
  ) {
    super(localDynamoDbClient(world.dynamo.endpoint), LEDGER);
    this.reached = new Promise((resolve) => {
      this.arrive = resolve;
    });
  }

  private stop(call: LedgerCall): Promise<never> | undefined {
    if (call !== this.call || ++this.calls !== this.n) return undefined;
    this.arrive();
    return this.error ? Promise.reject(this.error) : never();
  }

  override claim(...args: Parameters<DynamoDbLedger['claim']>): ReturnType<DynamoDbLedger['claim']> {
    return this.stop('claim') ?? super.claim(...args);
  }

  override markAttempt(...args: Parameters<DynamoDbLedger['markAttempt']>): Promise<void> {
    return this.stop('markAttempt') ?? super.markAttempt(...args);
  }

  override markSent(
    key: NoticeKey,
    sent: { runId: string; messageId: string; sentAt: string },
  ): Promise<void> {
    return this.stop('markSent') ?? super.markSent(key, sent);
  }
}

async function freshRun(): Promise<{ runId: string; evaluationKey: string }> {
  runNo += 1;
  const runId = `crash-${runNo}`;
  const doc = await readEvaluation(world.s3Client(), REPORTS, twoNoticesKey);
  return { runId, evaluationKey: await writeEvaluation(world.s3Client(), REPORTS, { ...doc, runId }) };
}

/** How many times each subject was mailed. */
async function mailedSubjects(): Promise<number[]> {
  const counts = new Map<string, number>();
  for (const e of await world.ses.emails()) counts.set(e.subject, (counts.get(e.subject) ?? 0) + 1);
  return [...counts.values()];
}

/** An S3 client whose `n`th PutObject never returns, and a promise settled when it is reached. */
function s3StoppingAtPut(n: number) {
  const client = world.s3Client();
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  let puts = 0;
  let stopped!: (key: string) => void;
  /** The key of the PutObject that never returns. */
  const reached = new Promise<string>((resolve) => {
    stopped = resolve;
  });
  (client as { send: unknown }).send = (command: unknown) => {
    if (command instanceof PutObjectCommand && ++puts === n) {
      stopped(command.input.Key ?? '');
      return never();
    }
    return send(command);
  };
  return { client, reached };
}

beforeAll(async () => {
  world = await startWorld(5);
  const evaluated = await world.rollUpAndEvaluate('setup');
  partnerId = evaluated.partnersToNotify[0]!.partnerId;
  const doc = await readEvaluation(world.s3Client(), REPORTS, evaluated.evaluationKey);
  setupEvaluation = doc.evaluation;
  const march = doc.evaluation.evaluations.find((e) => e.partnerId === partnerId)!;
  const february: PartnerPeriodEvaluation = {
    ...march,
    period: monthlyPeriod('2026-02-01', march.period.timeZone),
    asOfMs: monthlyPeriod('2026-02-01', march.period.timeZone).endMs,
  };
  twoNoticesKey = await writeEvaluation(world.s3Client(), REPORTS, {
    ...doc,
    runId: 'two-notices',
    evaluation: { ...doc.evaluation, evaluations: [february, march] },
  });
});

afterAll(async () => {
  await world?.stop();
});

beforeEach(async () => {
  await world.ses.clear();
  await world.clearLedger();
});

describe('notify stopped part way, then retried', () => {
  it.each([
    ['after claiming the first notice, before sending it', 'markAttempt', 1],
    ['after SES accepted the first notice, before the ledger marked it sent', 'markSent', 1],
    ['after the first notice was sent and marked, before claiming the second', 'claim', 2],
  ] as const)('sends every due notice exactly once when it stops %s', async (_, call, n) => {
    const input = { ...(await freshRun()), partnerId };
    const ledger = new StoppingLedger(call, n);
    void notify(world.notifyDeps({ ledger }), input);
    await ledger.reached;

    const retried = await notify(world.notifyDeps(), input);
    expect(retried.results.map((r) => [r.periodId, r.status])).toEqual([
      ['2026-02', 'sent'],
      ['2026-03', 'sent'],
    ]);
    expect(retried.failed).toBe(false);
    // A second retry, and the next night's run, send nothing more.
    await notify(world.notifyDeps(), input);
    const next = await notify(world.notifyDeps(), { ...(await freshRun()), partnerId });
    expect(next.results.filter((r) => r.status !== 'already-sent')).toEqual([]);
    expect(await mailedSubjects()).toEqual([1, 1]);
  });

  it('reports a notice as sent, and never sends it again, when SES took it but the ledger failed to mark it', async () => {
    const input = { ...(await freshRun()), partnerId };
    const ledger = new StoppingLedger(
      'markSent',
      1,
      new Error('ledger markSent failed: 500 InternalServerError'),
    );
    const out = await notify(world.notifyDeps({ ledger }), input);
    expect(out.results.map((r) => [r.periodId, r.status])).toEqual([
      ['2026-02', 'sent'],
      ['2026-03', 'sent'],
    ]);
    expect(out.results[0]!.error).toContain('did not record it as sent');

    await notify(world.notifyDeps(), input);
    await notify(world.notifyDeps(), { ...(await freshRun()), partnerId });
    expect(await mailedSubjects()).toEqual([1, 1]);
  });
});

describe('the other steps stopped part way, then retried', () => {
  it('rollup: the retry resumes the query the stopped attempt started, and the totals do not change', async () => {
    const before = await world.rollupTotals();
    const executions = world.athena.queryExecutions().length;
    world.athena.inject({ kind: 'states', states: ['RUNNING'], match: /^MERGE/ });
    let stopped!: () => void;
    const reached = new Promise<void>((resolve) => {
      stopped = resolve;
    });
    const stopping = world.runner({
      sleep: () => {
        stopped();
        return never();
      },
    });
    const batch = BATCHES[1]!;
    void rollup(world.rollupDeps(stopping), { batch, runId: 'crash-rollup' });
    await reached;

    const out = await rollup(world.rollupDeps(), { batch, runId: 'crash-rollup' });
    expect(world.athena.queryExecutions().length).toBe(executions + 1);
    expect(out.queryExecutionIds).toEqual([world.athena.queryExecutions().at(-1)!.id]);
    expect(await world.rollupTotals()).toEqual(before);
  });

  it.each([
    ['aggregate', 'aggregate.json', 1, /\/aggregate\.json$/],
    ['assess', "a partner's part", 3, /\/partners\//],
    ['assemble', 'evaluation.json', 3 + 4, /\/evaluation\.json$/],
  ])(
    '%s stopped at its write of %s: the retry completes the evaluation from the queries already run, scanning nothing again',
    async (_, __, put, key) => {
      const runId = `crash-evaluate-${put}`;
      const input = { runId, window: WINDOW, partners: [] };
      expect(world.registry.partners).toHaveLength(4);
      // Aggregate writes two objects (its document, then the items), each Assess one part, Assemble one.
      const stopping = s3StoppingAtPut(put);
      const executions = world.athena.queryExecutions().length;
      void world.evaluate(input, { deps: { ...world.evaluateDeps(), s3: stopping.client } });
      expect(await stopping.reached).toMatch(key);
      const queried = world.athena.queryExecutions().length - executions;
      expect(queried).toBeGreaterThan(0);

      const out = await world.evaluate(input);
      expect(world.athena.queryExecutions().length).toBe(executions + queried);
      expect(await world.keys(`runs/${runId}/evaluation.json`)).toEqual([out.evaluationKey]);
      const doc = await readEvaluation(world.s3Client(), REPORTS, out.evaluationKey);
      expect(doc.evaluation).toEqual(setupEvaluation);
    },
  );

  it('publish: a retry after it stopped between the CSV and report.json writes both', async () => {
    const { runId, evaluationKey } = await freshRun();
    const stopping = { ...world.publishDeps(), s3: s3StoppingAtPut(2).client };
    void publish(stopping, { runId, evaluationKey, notifyResults: [] });
    await vi.waitFor(async () => expect(await world.keys(`runs/${runId}/usage.csv`)).toHaveLength(1));
    expect(await world.keys(`runs/${runId}/report.json`)).toEqual([]);

    const out = await publish(world.publishDeps(), { runId, evaluationKey, notifyResults: [] });
    expect(await world.keys(`runs/${runId}/`)).toEqual(
      [
        evaluationKey,
        out.reportKey,
        out.csvKey,
        `runs/${runId}/report.html`,
        `runs/${runId}/network-findings.csv`,
      ].sort(),
    );
  });
});
