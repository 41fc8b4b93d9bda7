/**
 * What the notify and publish steps do when SES fails: a throttled notice fails the step with
 * RetryableError after the partner's other notices went out, and the retried step sends only what is
 * missing; a rejected notice is reported, not retried; a partner whose notify step failed outright
 * (the Map's catch item) is reported too. The steps run with their dependencies handed in, over the
 * real SDK clients and the local stand-ins, SES behind a fault-injecting proxy.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { DynamoDbLedger, ledgerTableDefinition } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { SesMailer } from '../../functions/adapters/ses/ses-mailer.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import type { Report } from '../../functions/domain/report.js';
import { monthlyPeriod } from '../../functions/domain/time.js';
import { readEvaluation, writeEvaluation } from '../../functions/handlers/evaluation-document.js';
import { type NotifyDeps, notify } from '../../functions/handlers/notify.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { rollup } from '../../functions/handlers/rollup.handler.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import {
  localAthenaClient,
  localDynamoDbClient,
  localS3Client,
  localSesClient,
  s3UnloadStore,
} from '../support/aws-local-clients.js';
import { evaluateSteps, REGISTRY_TABLES } from '../support/evaluate-steps.js';
import {
  FaultProxy,
  LOST_ANSWER,
  type LocalServer,
  type SesLocal,
  sesError,
  startDynalite,
  startS3rver,
  startSesLocal,
} from '../support/local-aws-servers.js';

const REPORTS = 'reports';
const LEDGER = 'ledger';
const tables = { database: 'audit', logsTable: 'logs', rollupTable: 'rollup' };
const THROTTLED = sesError('Throttling', 'Maximum sending rate exceeded.');

let dir: string;
let athena: AthenaLocalServer;
let s3: LocalServer;
let ses: SesLocal;
let proxy: FaultProxy;
let dynamo: LocalServer;
let registry: Registry;
let evaluationKey: string;
/** The partner with two periods to notify in the crafted evaluation. */
let partnerId: string;
let runNo = 0;

function notifyDeps(): NotifyDeps {
  return {
    s3: localS3Client(s3.endpoint),
    reportBucket: REPORTS,
    ledger: new DynamoDbLedger(localDynamoDbClient(dynamo.endpoint), LEDGER),
    mailer: new SesMailer(localSesClient(proxy.endpoint), {
      configurationSetName: 'notices',
      maxSendRate: 1000,
      maxAttempts: 2,
      sleep: async () => {},
    }),
    loadRegistry: async () => ({ registry, hash: 'test', source: 'test' }),
    clock: { now: () => new Date('2026-03-12T02:00:00Z') },
    previewOnly: false,
  };
}

/** The evaluation under a new run id, so that each test's notices belong to a run of its own. */
async function freshRun(): Promise<string> {
  runNo += 1;
  const runId = `run-${runNo}`;
  const client = localS3Client(s3.endpoint);
  const doc = await readEvaluation(client, REPORTS, evaluationKey);
  const key = await writeEvaluation(client, REPORTS, { ...doc, runId });
  return key;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aws-notify-'));
  const data = await generateDataset({
    outDir: dir,
    seed: 3,
    start: '2026-03-01',
    days: 8,
    requestsPerDay: 2000,
    layout: 'partitioned',
    // Limits for the days written, so the levels (and their notices) are reached by the data's end.
    limits: 'data',
  });
  const raw = parseYaml(await readFile(data.registryPath, 'utf8')) as { settings?: { manifest?: string } };
  if (raw.settings) delete raw.settings.manifest;
  registry = parseRegistry(stringifyYaml(raw), 'registry.yaml');

  athena = await AthenaLocalServer.start(tables);
  await athena.addLogDirectory(join(data.logsDir, 'partitioned'));
  s3 = await startS3rver([REPORTS]);
  ses = await startSesLocal();
  proxy = await FaultProxy.start(ses.endpoint);
  dynamo = await startDynalite();
  await localDynamoDbClient(dynamo.endpoint).send(new CreateTableCommand(ledgerTableDefinition(LEDGER)));

  const runner = new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
    workGroup: 'wg',
    sleep: async () => {},
  });
  const loadRegistry = async () => ({ registry, hash: 'test', source: 'test' });
  for (let d = 28; d <= 37; d++) {
    const date = new Date(Date.UTC(2026, 1, d)).toISOString().slice(0, 10).replaceAll('-', '/');
    await rollup({ runner, tables, loadRegistry }, { batch: date, runId: 'setup' });
  }
  await athena.putRegistryTables(registry, REGISTRY_TABLES);
  athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
  const evaluated = await evaluateSteps(
    {
      runner,
      tables,
      registryTables: REGISTRY_TABLES,
      s3: localS3Client(s3.endpoint),
      reportBucket: REPORTS,
      loadRegistry,
      clock: { now: () => new Date('2026-03-12T02:00:00Z') },
    },
    { runId: 'setup', window: { from: '2026-03-01', to: '2026-03-09' }, partners: [], dryRun: false },
  );
  // Give the first partner to notify a second period with the same figures (February), so that one
  // notify step has two notices to send.
  partnerId = evaluated.partnersToNotify[0]!.partnerId;
  const client = localS3Client(s3.endpoint);
  const doc = await readEvaluation(client, REPORTS, evaluated.evaluationKey);
  const march = doc.evaluation.evaluations.find((e) => e.partnerId === partnerId)!;
  const february: PartnerPeriodEvaluation = {
    ...march,
    period: monthlyPeriod('2026-02-01', march.period.timeZone),
    asOfMs: monthlyPeriod('2026-02-01', march.period.timeZone).endMs,
  };
  evaluationKey = await writeEvaluation(client, REPORTS, {
    ...doc,
    evaluation: { ...doc.evaluation, evaluations: [february, ...doc.evaluation.evaluations] },
  });
}, 300_000);

afterAll(async () => {
  await athena?.stop();
  await s3?.stop();
  await proxy?.stop();
  await ses?.stop();
  await dynamo?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  proxy.reset();
  await ses.clear();
  // Every test starts with an empty ledger.
  const client = localDynamoDbClient(dynamo.endpoint);
  const items = (await client.send(new ScanCommand({ TableName: LEDGER }))).Items ?? [];
  for (const item of items)
    await client.send(new DeleteItemCommand({ TableName: LEDGER, Key: { pk: item['pk']! } }));
});

describe('notify and publish when SES fails', () => {
  it("sends the partner's two notices when SES takes them", async () => {
    const key = await freshRun();
    const runId = `run-${runNo}`;
    const out = await notify(notifyDeps(), { runId, evaluationKey: key, partnerId, dryRun: false });
    expect(out.results.map((r) => [r.periodId, r.status])).toEqual([
      ['2026-02', 'sent'],
      ['2026-03', 'sent'],
    ]);
    expect(out.failed).toBe(false);
    expect(await ses.emails()).toHaveLength(2);
  });

  it('retries a throttled notice as a whole step, without sending the other one twice', async () => {
    const deps = notifyDeps();
    const ledger = deps.ledger as DynamoDbLedger;
    const key = await freshRun();
    const runId = `run-${runNo}`;
    proxy.inject(THROTTLED, 2, 1);
    const error = await notify(deps, { runId, evaluationKey: key, partnerId, dryRun: false }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      name: 'RetryableError',
      message: expect.stringContaining('Maximum sending rate'),
    });
    expect(await ses.emails()).toHaveLength(1);
    expect((await ledger.entries(partnerId, '2026-03')).map((e) => e.state)).toEqual([]);

    const retried = await notify(deps, { runId, evaluationKey: key, partnerId, dryRun: false });
    expect(retried.results.map((r) => [r.periodId, r.status])).toEqual([
      ['2026-02', 'sent'],
      ['2026-03', 'sent'],
    ]);
    expect(await ses.emails()).toHaveLength(2);
  });

  it('never sends twice a notice whose answer from SES was lost, and says it may have left', async () => {
    const deps = notifyDeps();
    const ledger = deps.ledger as DynamoDbLedger;
    const key = await freshRun();
    const runId = `run-${runNo}`;
    // SES takes the first notice, but its answer never reaches the handler (as after a timeout).
    proxy.inject(LOST_ANSWER);
    const out = await notify(deps, { runId, evaluationKey: key, partnerId, dryRun: false });
    expect(out.results.map((r) => [r.periodId, r.status])).toEqual([
      ['2026-02', 'failed'],
      ['2026-03', 'sent'],
    ]);
    expect(out.results[0]!.error).toMatch(/SES may have sent it/);
    expect(out.failed).toBe(true);
    expect(await ses.emails()).toHaveLength(2);
    // Kept as handed to SES (not given back), so that no run claims it again.
    const [entry] = await ledger.entries(partnerId, '2026-02');
    expect(entry).toMatchObject({ state: 'pending', runId, messageId: expect.any(String) });

    // A retry of the step, and the next night's run, send nothing more.
    await notify(deps, { runId, evaluationKey: key, partnerId, dryRun: false });
    const next = await freshRun();
    const nextOut = await notify(notifyDeps(), {
      runId: `run-${runNo}`,
      evaluationKey: next,
      partnerId,
      dryRun: false,
    });
    expect(nextOut.results.find((r) => r.periodId === '2026-02')?.status).not.toBe('sent');
    expect(await ses.emails()).toHaveLength(2);
  });

  it('reports a rejected notice and a partner whose step failed, and counts them', async () => {
    const key = await freshRun();
    const runId = `run-${runNo}`;
    const doc = await readEvaluation(localS3Client(s3.endpoint), REPORTS, key);
    const others = [
      ...new Set(doc.evaluation.evaluations.filter((e) => e.levels.length > 0).map((e) => e.partnerId)),
    ].filter((p) => p !== partnerId);
    expect(others.length).toBeGreaterThan(0);
    const rejectedPartner = others[0]!;
    const crashedPartner = others[1] ?? partnerId;

    proxy.inject(sesError('MessageRejected', 'Email address is not verified.'));
    const rejected = await notify(notifyDeps(), {
      runId,
      evaluationKey: key,
      partnerId: rejectedPartner,
      dryRun: false,
    });
    expect(rejected.failed).toBe(true);
    expect(rejected.results[0]).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('not verified'),
    });

    const notifyResults: unknown[] = [rejected];
    notifyResults.push({
      partnerId: crashedPartner,
      failed: true,
      error: 'Lambda.Unknown',
      cause: 'timed out',
    });
    const published = await publish(
      {
        s3: localS3Client(s3.endpoint),
        reportBucket: REPORTS,
        region: 'eu-central-1',
        clock: { now: () => new Date() },
      },
      { runId, evaluationKey: key, notifyResults },
    );
    const report = JSON.parse(
      await readS3Text(localS3Client(s3.endpoint), REPORTS, published.reportKey),
    ) as Report;
    const failed = report.notices.filter((n) => n.status === 'failed');
    expect(published.failedNotices).toBe(failed.length);
    expect(failed.some((n) => n.partnerId === rejectedPartner && n.error?.includes('not verified'))).toBe(
      true,
    );
    expect(failed.some((n) => n.partnerId === crashedPartner && n.error?.includes('timed out'))).toBe(true);
    expect(published.reportUrl).toContain('region=eu-central-1');
  });
});
