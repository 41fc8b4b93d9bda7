/**
 * Issue 5, AWS side: the notify step when SES throttles (HTTP 429 or "Maximum sending rate
 * exceeded."), rejects a message, fails with 5xx or cannot be reached. Throttling is backed off and
 * retried; a failure a retry may fix fails the step with RetryableError; a rejection is reported and
 * not retried. In every case the ledger never says `sent` for a notice SES did not accept, and the
 * retried step (or the next run) sends it exactly once.
 *
 * Covered elsewhere, not repeated here: a throttled notice retried as a whole step without sending the
 * partner's other notice twice, and a rejected notice reported with the Map's catch items
 * (test/e2e/aws-notify-failures.test.ts); the mailer's backoff and send-rate arithmetic
 * (test/integration/ses-mailer.test.ts).
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SesMailer } from '../../functions/adapters/ses/ses-mailer.js';
import { asStep } from '../../functions/handlers/errors.js';
import { readEvaluation, writeEvaluation } from '../../functions/handlers/evaluation-document.js';
import { notify } from '../../functions/handlers/notify.handler.js';
import { localSesClient } from '../support/aws-local-clients.js';
import { sesError } from '../support/local-aws-servers.js';
import { REPORTS, startWorld, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

let world: World;
let setupKey: string;
/** A partner with a notice due in March. */
let partnerId: string;
let runNo = 0;
const PERIOD = WINDOW.from.slice(0, 7);

/** The setup evaluation under a run id of its own. */
async function freshRun(): Promise<{ runId: string; evaluationKey: string }> {
  runNo += 1;
  const runId = `ses-fault-${runNo}`;
  const doc = await readEvaluation(world.s3Client(), REPORTS, setupKey);
  return { runId, evaluationKey: await writeEvaluation(world.s3Client(), REPORTS, { ...doc, runId }) };
}

async function ledgerStates(): Promise<string[]> {
  return (await world.ledger().entries(partnerId, PERIOD)).map((e) => `${e.level}:${e.state}`);
}

/** An endpoint where nothing listens: connections are refused. */
async function refusedEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
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
  world.sesProxy.reset();
  await world.ses.clear();
  await world.clearLedger();
});

describe('notify when SES fails', () => {
  it.each([
    ['HTTP 429 TooManyRequestsException', sesError('TooManyRequestsException', 'Too Many Requests', 429)],
    ['"Maximum sending rate exceeded."', sesError('Throttling', 'Maximum sending rate exceeded.')],
  ])('backs off on %s and sends, once', async (_, throttled) => {
    const { runId, evaluationKey } = await freshRun();
    world.sesProxy.inject(throttled, 3);
    const out = await notify(world.notifyDeps(), { runId, evaluationKey, partnerId });
    expect(out.results.map((r) => r.status)).toEqual(['sent']);
    expect(await world.ses.emails()).toHaveLength(1);
    expect(await ledgerStates()).toEqual([`${out.results[0]!.level}:sent`]);
  });

  it('reports a rejected notice without retrying it or marking it sent, and a later run sends it once', async () => {
    const first = await freshRun();
    world.sesProxy.inject(sesError('MessageRejected', 'Email address is not verified.'));
    const rejected = await asStep(() => notify(world.notifyDeps(), { ...first, partnerId }));
    expect(rejected.failed).toBe(true);
    expect(rejected.results[0]).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('not verified'),
    });
    expect(await world.ses.emails()).toHaveLength(0);
    expect(await ledgerStates()).toEqual([]);

    const next = await freshRun();
    const sent = await notify(world.notifyDeps(), { ...next, partnerId });
    expect(sent.results.map((r) => r.status)).toEqual(['sent']);
    // Nothing is due for a run after that: the ledger holds the sent notice.
    const again = await notify(world.notifyDeps(), { ...(await freshRun()), partnerId });
    expect(again.results).toEqual([]);
    expect(await world.ses.emails()).toHaveLength(1);
  });

  it.each([
    ['an SES outage (HTTP 500)', 'outage'],
    ['SES unreachable (connection refused)', 'refused'],
  ] as const)(
    'fails the step with RetryableError on %s, records nothing, and its retry sends once',
    async (_, kind) => {
      const { runId, evaluationKey } = await freshRun();
      let mailer = world.mailer();
      if (kind === 'outage')
        world.sesProxy.inject(sesError('InternalFailure', 'Service unavailable', 500), 3);
      else
        mailer = new SesMailer(localSesClient(await refusedEndpoint()), {
          configurationSetName: 'notices',
          maxSendRate: 1000,
          sleep: async () => {},
        });
      const error = await asStep(() =>
        notify(world.notifyDeps({ mailer }), { runId, evaluationKey, partnerId }),
      ).catch((e: unknown) => e as Error);
      expect(error).toMatchObject({ name: 'RetryableError' });
      expect(await world.ses.emails()).toHaveLength(0);
      expect(await ledgerStates()).toEqual([]);

      // The Step Functions retry, SES back.
      world.sesProxy.reset();
      const retried = await asStep(() => notify(world.notifyDeps(), { runId, evaluationKey, partnerId }));
      expect(retried.results.map((r) => r.status)).toEqual(['sent']);
      const again = await asStep(() => notify(world.notifyDeps(), { runId, evaluationKey, partnerId }));
      expect(again.results.map((r) => r.status)).toEqual(['sent']);
      expect(await world.ses.emails()).toHaveLength(1);
      expect(await ledgerStates()).toEqual([`${retried.results[0]!.level}:sent`]);
    },
  );

  it('keeps the composed notice in the report bucket only once SES is about to get it', async () => {
    const { runId, evaluationKey } = await freshRun();
    const out = await notify(world.notifyDeps(), { runId, evaluationKey, partnerId });
    const keys = await world.keys(`runs/${runId}/notices/`);
    expect(keys).toEqual([out.results[0]!.file, out.results[0]!.file!.replace(/\.eml$/, '.html')].sort());
  });
});
