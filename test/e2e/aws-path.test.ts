/**
 * The AWS path end to end, offline: the five Lambda handlers (their exported `handler`, wired from
 * environment variables exactly as in the stack) run in the state machine's order through the real
 * SDK clients against local stand-ins: the Athena server of test/support over DuckDB, s3rver,
 * aws-ses-v2-local and dynalite. On the generator's logs, the Athena path and the local CLI give the
 * same usage, figures, findings and notices.
 *
 * Records: the Athena path does not compute records from a dataset manifest in this version, so both
 * paths run on the generated registry without its manifest (records are 0 on both).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DuckDbStore } from '../../functions/adapters/duckdb/index.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import type { Report } from '../../functions/domain/report.js';
import type { EvaluateOutput } from '../../functions/handlers/evaluate.handler.js';
import type { NotifyOutput } from '../../functions/handlers/notify.handler.js';
import type { PlanOutput } from '../../functions/handlers/plan.handler.js';
import type { PublishOutput } from '../../functions/handlers/publish.handler.js';
import type { RollupOutput } from '../../functions/handlers/rollup.handler.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { localDynamoDbClient, localS3Client } from '../support/aws-local-clients.js';
import {
  type LocalServer,
  type SesLocal,
  startDynalite,
  startS3rver,
  startSesLocal,
} from '../support/local-aws-servers.js';

const REPORTS = 'partner-audit-reports';
const CONFIG = 'partner-audit-config';
const LEDGER = 'partner-audit-ledger';
const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
const WINDOW = { from: '2026-03-01', to: '2026-03-11' };
/** "Today" for the runs: the day after the window, when every log of it has been delivered. */
const SCHEDULED = '2026-03-12T02:00:00Z';

type Handler<I, O> = (event: I) => Promise<O>;
interface Handlers {
  plan: Handler<unknown, PlanOutput>;
  rollup: Handler<unknown, RollupOutput>;
  evaluate: Handler<unknown, EvaluateOutput>;
  notify: Handler<unknown, NotifyOutput>;
  publish: Handler<unknown, PublishOutput>;
}

let dir: string;
let athena: AthenaLocalServer;
let s3: LocalServer;
let ses: SesLocal;
let dynamo: LocalServer;
let handlers: Handlers;
let local: Awaited<ReturnType<typeof runLocalAudit>>;
let localLedger: Map<string, string>;

/** Runs the state machine's steps in order, as Step Functions passes their payloads. */
async function runAwsPath(input: Record<string, unknown>) {
  const plan = await handlers.plan({ ...input, scheduledTime: SCHEDULED });
  const rollups: RollupOutput[] = [];
  for (const batch of plan.batches) rollups.push(await handlers.rollup({ batch, runId: plan.runId }));
  const evaluation = await handlers.evaluate({
    runId: plan.runId,
    window: plan.window,
    partners: plan.partners,
    dryRun: plan.dryRun,
    reason: plan.reason,
  });
  const notifyResults: NotifyOutput[] = [];
  for (const { partnerId } of evaluation.partnersToNotify) {
    notifyResults.push(
      await handlers.notify({
        runId: plan.runId,
        evaluationKey: evaluation.evaluationKey,
        partnerId,
        dryRun: plan.dryRun,
      }),
    );
  }
  const published = await handlers.publish({
    runId: plan.runId,
    evaluationKey: evaluation.evaluationKey,
    notifyResults,
  });
  const report = JSON.parse(
    await readS3Text(localS3Client(s3.endpoint), REPORTS, published.reportKey),
  ) as Report;
  return { plan, rollups, evaluation, notifyResults, published, report };
}

/** A report's partner figures without what differs by engine and run (notice statuses, ids). */
function figures(report: Report) {
  return report.partners.map((p) => ({
    ...p,
    periods: p.periods.map(({ notices: _notices, ...period }) => period),
  }));
}

function noticeKeys(report: Report) {
  return report.notices
    .map((n) => `${n.partnerId} ${n.periodId} ${n.level} <${n.covers.join(',')}> ${n.status}`)
    .sort();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aws-path-'));
  const data = await generateDataset({
    outDir: join(dir, 'data'),
    seed: 7,
    start: WINDOW.from,
    days: 10,
    requestsPerDay: 3000,
    layout: 'partitioned',
  });
  // Both paths on the same registry, without the manifest (see the file comment).
  const registry = parseYaml(await readFile(data.registryPath, 'utf8')) as {
    settings?: { manifest?: string };
  };
  if (registry.settings) delete registry.settings.manifest;
  const registryText = stringifyYaml(registry);
  const registryPath = join(dir, 'registry.yaml');
  await writeFile(registryPath, registryText);

  // The local CLI path.
  local = await runLocalAudit({
    logs: [data.logsDir],
    registryPath,
    outDir: join(dir, 'local'),
    from: WINDOW.from,
    to: WINDOW.to,
    dryRun: false,
    clock: { now: () => new Date(SCHEDULED) },
  });
  const store = await DuckDbStore.open(join(dir, 'local', 'state.duckdb'));
  localLedger = new Map();
  for (const n of local.report.notices) {
    for (const e of await store.entries(n.partnerId, n.periodId)) {
      localLedger.set(`${e.partnerId} ${e.periodId} ${e.level}`, e.figuresJson);
    }
  }
  await store.close();

  // The AWS path's stand-ins.
  athena = await AthenaLocalServer.start(tables);
  await athena.addLogDirectory(join(data.logsDir, 'partitioned'));
  s3 = await startS3rver([REPORTS, CONFIG]);
  await localS3Client(s3.endpoint).send(
    new PutObjectCommand({ Bucket: CONFIG, Key: 'registry/registry.yaml', Body: registryText }),
  );
  ses = await startSesLocal();
  dynamo = await startDynalite();
  await localDynamoDbClient(dynamo.endpoint).send(
    new CreateTableCommand({
      TableName: LEDGER,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );

  // The environment the stack gives every function, with the endpoints of the stand-ins.
  Object.assign(process.env, {
    REPORT_BUCKET: REPORTS,
    REGISTRY_BUCKET: CONFIG,
    REGISTRY_KEY: 'registry/registry.yaml',
    ATHENA_WORKGROUP: 'partner-audit',
    GLUE_DATABASE: tables.database,
    LOGS_TABLE: tables.logsTable,
    ROLLUP_TABLE: tables.rollupTable,
    LEDGER_TABLE: LEDGER,
    SES_CONFIGURATION_SET: 'partner-audit-notices',
    NOTICE_MODE: 'send',
    SES_MAX_SEND_RATE: '50',
    POWERTOOLS_SERVICE_NAME: 'partner-audit',
    POWERTOOLS_METRICS_NAMESPACE: 'PartnerAudit',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    AWS_REGION: 'eu-central-1',
    // s3rver accepts only this key pair; the other stand-ins accept any.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_ATHENA: athena.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SES: ses.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
  });
  handlers = {
    plan: (await import('../../functions/handlers/plan.handler.js')).handler,
    rollup: (await import('../../functions/handlers/rollup.handler.js')).handler,
    evaluate: (await import('../../functions/handlers/evaluate.handler.js')).handler,
    notify: (await import('../../functions/handlers/notify.handler.js')).handler,
    publish: (await import('../../functions/handlers/publish.handler.js')).handler,
  };
}, 300_000);

afterAll(async () => {
  await athena?.stop();
  await s3?.stop();
  await ses?.stop();
  await dynamo?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the AWS path, handler by handler, against local stand-ins', () => {
  let first: Awaited<ReturnType<typeof runAwsPath>>;

  it('previews a dry run in the report bucket, sending and recording nothing', async () => {
    const dry = await runAwsPath({ ...WINDOW, dryRun: true, executionName: 'e2e-dry' });
    expect(dry.report.dryRun).toBe(true);
    const previewed = dry.report.notices.filter((n) => n.status === 'previewed');
    const localSent = local.report.notices.filter((n) => n.status === 'sent');
    expect(previewed.map((n) => `${n.partnerId} ${n.periodId} ${n.level}`).sort()).toEqual(
      localSent.map((n) => `${n.partnerId} ${n.periodId} ${n.level}`).sort(),
    );
    expect(await ses.emails()).toHaveLength(0);
    const { DynamoDbLedger } = await import('../../functions/adapters/dynamodb/dynamodb-ledger.js');
    const aws = new DynamoDbLedger(localDynamoDbClient(dynamo.endpoint), LEDGER);
    for (const n of previewed) expect(await aws.entries(n.partnerId, n.periodId)).toEqual([]);
    const html = await readS3Text(
      localS3Client(s3.endpoint),
      REPORTS,
      (previewed[0]?.file ?? '').replace(`s3://${REPORTS}/`, '').replace(/\.eml$/, '.html'),
    );
    expect(html).toContain('<html');
  });

  it('runs an ad hoc audit through plan, roll up, evaluate, notify and publish', async () => {
    first = await runAwsPath({ ...WINDOW, reason: 'parity check', executionName: 'e2e-first' });
    expect(first.plan).toMatchObject({
      runId: 'e2e-first',
      window: WINDOW,
      dryRun: false,
      reason: 'parity check',
    });
    expect(first.plan.batches[0]).toBe('2026/02/28');
    expect(first.plan.batches.at(-1)).toBe('2026/03/11');
    expect(first.rollups.reduce((n, r) => n + r.bytesScanned, 0)).toBeGreaterThan(0);
    expect(first.published.reportKey).toBe('runs/e2e-first/report.json');
    expect(first.published.failedNotices).toBe(0);
    expect(first.report.engine).toBe('athena');
    expect(first.report.reason).toBe('parity check');
    // The HTML report is published next to report.json, with every partner in it.
    const html = await readS3Text(localS3Client(s3.endpoint), REPORTS, 'runs/e2e-first/report.html');
    for (const p of first.report.partners) expect(html).toContain(p.partnerName);
  });

  it('gives the same usage, fees, forecasts, levels and findings as the local CLI', () => {
    expect(local.report.engine).toBe('duckdb');
    expect(figures(first.report)).toEqual(figures(local.report));
    expect(first.report.unattributed).toEqual(local.report.unattributed);
    expect(first.report.uncovered).toEqual(local.report.uncovered);
    expect(first.report.summary.findings).toBe(local.report.summary.findings);
    expect(first.report.partners.length).toBeGreaterThan(1);
  });

  it('counts the same lines, parsed and malformed, without reading the logs twice', () => {
    const { input } = first.report;
    expect(input.lines).toBe(local.report.input.lines);
    expect(input.parsedLines).toBe(local.report.input.parsedLines);
    expect(input.malformedLines).toBe(local.report.input.malformedLines);
    expect(Number(input.malformedLines)).toBeGreaterThan(0);
  });

  it('sends the same notices, stating the same figures, through SES', async () => {
    expect(noticeKeys(first.report)).toEqual(noticeKeys(local.report));
    const sent = first.report.notices.filter((n) => n.status === 'sent');
    expect(sent.length).toBeGreaterThan(0);
    const emails = await ses.emails();
    expect(emails).toHaveLength(sent.length);
    const localSubjects = (
      await Promise.all(local.notices.filter((n) => n.status === 'sent').map((n) => n.message?.subject ?? ''))
    ).sort();
    expect(emails.map((e) => e.subject).sort()).toEqual(localSubjects);

    const ledger = new Map<string, string>();
    const { DynamoDbLedger } = await import('../../functions/adapters/dynamodb/dynamodb-ledger.js');
    const aws = new DynamoDbLedger(localDynamoDbClient(dynamo.endpoint), LEDGER);
    for (const n of sent) {
      for (const e of await aws.entries(n.partnerId, n.periodId)) {
        expect(e.state).toBe('sent');
        ledger.set(`${e.partnerId} ${e.periodId} ${e.level}`, e.figuresJson);
      }
    }
    expect(ledger).toEqual(localLedger);

    const copy = sent[0]?.file ?? '';
    expect(copy).toMatch(/^s3:\/\/partner-audit-reports\/runs\/e2e-first\/notices\/.+\.eml$/);
    const raw = await readS3Text(localS3Client(s3.endpoint), REPORTS, copy.replace(`s3://${REPORTS}/`, ''));
    expect(raw).toContain('\r\nMIME-Version: 1.0\r\n');
  });

  it('is rerun-safe: a second run changes no total and sends nothing again', async () => {
    const again = await runAwsPath({ ...WINDOW, executionName: 'e2e-second' });
    expect(figures(again.report)).toEqual(figures(first.report));
    expect(again.report.notices.every((n) => n.status !== 'sent')).toBe(true);
    expect(await ses.emails()).toHaveLength(first.report.notices.filter((n) => n.status === 'sent').length);
  });

  it('rolls up the nightly batch only, for a scheduled run', async () => {
    const plan = await handlers.plan({ scheduledTime: SCHEDULED, executionName: 'nightly' });
    expect(plan.window).toEqual({ from: '2026-03-01', to: '2026-03-12' });
    expect(plan.batches).toEqual(['2026/03/11']);
  });

  it('refuses an execution input it does not understand, saying what is wrong', async () => {
    await expect(handlers.plan({ partner: ['x'] })).rejects.toThrow(/partner/);
    await expect(handlers.plan({ partners: ['no-such-partner'] })).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining('no-such-partner'),
    });
    await expect(handlers.plan({ from: '2026-03-10', to: '2026-03-01' })).rejects.toThrow(/before/);
  });
});
