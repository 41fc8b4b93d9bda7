/**
 * The AWS path end to end, offline: the five Lambda handlers (their exported `handler`, wired from
 * environment variables exactly as in the stack) run in the state machine's order through the real
 * SDK clients against local stand-ins: the Athena server of test/support over DuckDB, s3rver,
 * aws-ses-v2-local and dynalite. On the generator's logs, the Athena path and the local CLI give the
 * same usage, figures, findings and notices.
 *
 * Records: both paths run on the generated registry with its dataset manifest. The local Athena
 * server gets the manifest as the stack deploys it (the canonical CSV of athenaManifestCsv, read by the
 * manifest table's regex), and the functions get MANIFEST_TABLE as the stack sets it, so parity covers
 * records: exact keys over prefixes, nested prefixes, range reads and 304s that count none.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { AthenaUsageSource } from '../../functions/adapters/athena/athena-usage-source.js';
import { athenaManifestCsv } from '../../functions/adapters/athena/manifest-csv.js';
import { insertBatchRollupSql, replaceBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { ledgerTableDefinition } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import { ingestLogFile, parseManifest } from '../../functions/adapters/logs/index.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { Report } from '../../functions/domain/report.js';
import type { UsageRow } from '../../functions/domain/usage.js';
import type { NotifyOutput } from '../../functions/handlers/notify.handler.js';
import type { PlanOutput } from '../../functions/handlers/plan.handler.js';
import type { PublishOutput } from '../../functions/handlers/publish.handler.js';
import type { RollupOutput } from '../../functions/handlers/rollup.handler.js';
import type {
  AggregateOutput,
  AssessOutput,
  EvaluateOutput,
} from '../../functions/handlers/step-contracts.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import {
  localAthenaClient,
  localDynamoDbClient,
  localS3Client,
  s3UnloadStore,
} from '../support/aws-local-clients.js';
import {
  type LocalServer,
  type SesLocal,
  startDynalite,
  startS3rver,
  startSesLocal,
} from '../support/local-aws-servers.js';
import { logLine } from '../support/log-lines.js';

const REPORTS = 'partner-audit-reports';
const CONFIG = 'partner-audit-config';
const LEDGER = 'partner-audit-ledger';
const LOGS = 'partner-audit-access-logs';
const tables = {
  database: 'partner_audit',
  logsTable: 'access_logs',
  rollupTable: 'usage_rollup',
  manifestTable: 'dataset_manifest',
};
const WINDOW = { from: '2026-03-01', to: '2026-03-11' };
/** "Today" for the runs: the day after the window, when every log of it has been delivered. */
const SCHEDULED = '2026-03-12T02:00:00Z';

type Handler<I, O> = (event: I) => Promise<O>;
interface Handlers {
  plan: Handler<unknown, PlanOutput>;
  rollup: Handler<unknown, RollupOutput>;
  aggregate: Handler<unknown, AggregateOutput>;
  assess: Handler<unknown, AssessOutput>;
  assemble: Handler<unknown, EvaluateOutput>;
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
/** Delivery dates (`yyyy/MM/dd`) that hold at least one log object in the log bucket. */
const deliveredDates = new Set<string>();

/** The largest payload a step received or returned in the runs so far, in bytes of JSON. */
let largestPayload = 0;
function payload<T>(value: T): T {
  largestPayload = Math.max(largestPayload, Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8'));
  return value;
}

/**
 * The evaluation as the state machine runs it: Aggregate (UNLOADs, work items in S3), the
 * EvaluatePartners Map over the items object (each item as its ItemSelector builds it), then Assemble.
 */
async function evaluateByPartner(input: Record<string, unknown>): Promise<EvaluateOutput> {
  const aggregated = payload(await handlers.aggregate(payload(input)));
  const items = JSON.parse(await readS3Text(localS3Client(s3.endpoint), REPORTS, aggregated.itemsKey)) as {
    partnerId: string;
  }[];
  expect(items).toHaveLength(aggregated.partners);
  for (const { partnerId } of items) {
    payload(
      await handlers.assess(
        payload({ runId: aggregated.runId, aggregateKey: aggregated.aggregateKey, partnerId }),
      ),
    );
  }
  return payload(
    await handlers.assemble(
      payload({
        runId: aggregated.runId,
        aggregateKey: aggregated.aggregateKey,
        itemsKey: aggregated.itemsKey,
      }),
    ),
  );
}

/** Runs the state machine's steps in order, as Step Functions passes their payloads. */
async function runAwsPath(input: Record<string, unknown>) {
  const plan = await handlers.plan({ ...input, scheduledTime: SCHEDULED });
  const rollups: RollupOutput[] = [];
  for (const batch of plan.batches) rollups.push(await handlers.rollup({ batch, runId: plan.runId }));
  const evaluateInput = {
    runId: plan.runId,
    window: plan.window,
    partners: plan.partners,
    dryRun: plan.dryRun,
    reason: plan.reason,
  };
  const evaluation = await evaluateByPartner(evaluateInput);
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
  // As the state machine passes them: the roll-ups' results too, for the report's evidence.
  const published = await handlers.publish({
    runId: plan.runId,
    evaluationKey: evaluation.evaluationKey,
    // As the Notify Map's ResultSelector keeps them: the rest is read from S3 by publish.
    notifyResults: notifyResults.map(({ partnerId, failed }) => payload({ partnerId, failed })),
    rollups,
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
  // Both paths on the same registry and manifest (see the file comment).
  const registryPath = data.registryPath;
  const registryText = await readFile(registryPath, 'utf8');
  expect(registryText).toMatch(/^\s*manifest: "?manifest\.csv"?$/m);
  const manifestText = await readFile(data.manifestPath, 'utf8');

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
  const store = await DuckDbState.open(join(dir, 'local', 'state.duckdb'));
  localLedger = new Map();
  for (const n of local.report.notices) {
    for (const e of await store.ledger.entries(n.partnerId, n.periodId)) {
      localLedger.set(`${e.partnerId} ${e.periodId} ${e.level}`, e.figuresJson);
    }
  }
  await store.close();

  // The AWS path's stand-ins.
  athena = await AthenaLocalServer.start(tables);
  await athena.addLogDirectory(join(data.logsDir, 'partitioned'));
  // The registry's Glue tables, as the stack deploys them with the registry.
  await athena.putRegistryTables(parseRegistry(registryText, registryPath));
  // What the stack deploys for the manifest table, made by the same function.
  await athena.putManifest(athenaManifestCsv(manifestText, data.manifestPath));
  s3 = await startS3rver([REPORTS, CONFIG, LOGS]);
  athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
  // The same log objects in the log bucket, where the rollup step checks a date has logs before its MERGE.
  const logsDir = join(data.logsDir, 'partitioned');
  const partitionsPrefixes = new Set<string>();
  for (const entry of await readdir(logsDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const key = relative(logsDir, join(entry.parentPath, entry.name)).split(sep).join('/');
    const date = /\d{4}\/\d{2}\/\d{2}\/[^/]+$/.exec(key);
    if (!date) continue;
    partitionsPrefixes.add(key.slice(0, date.index));
    deliveredDates.add(date[0].slice(0, 10));
    const Body = await readFile(join(logsDir, key));
    await localS3Client(s3.endpoint).send(new PutObjectCommand({ Bucket: LOGS, Key: key, Body }));
  }
  expect(partitionsPrefixes.size).toBe(1);
  for (const [Key, Body] of [
    ['registry/registry.yaml', registryText],
    ['registry/manifest.csv', manifestText],
  ] as const) {
    await localS3Client(s3.endpoint).send(new PutObjectCommand({ Bucket: CONFIG, Key, Body }));
  }
  ses = await startSesLocal();
  dynamo = await startDynalite();
  await localDynamoDbClient(dynamo.endpoint).send(new CreateTableCommand(ledgerTableDefinition(LEDGER)));

  // The environment the stack gives every function, with the endpoints of the stand-ins.
  Object.assign(process.env, {
    REPORT_BUCKET: REPORTS,
    REGISTRY_BUCKET: CONFIG,
    REGISTRY_KEY: 'registry/registry.yaml',
    MANIFEST_KEY: 'registry/manifest.csv',
    ATHENA_WORKGROUP: 'partner-audit',
    GLUE_DATABASE: tables.database,
    LOGS_TABLE: tables.logsTable,
    ROLLUP_TABLE: tables.rollupTable,
    MANIFEST_TABLE: tables.manifestTable,
    REGISTRY_PRINCIPALS_TABLE: 'registry_principals',
    REGISTRY_CONTRACT_TERMS_TABLE: 'registry_contract_terms',
    REGISTRY_IGNORED_REQUESTERS_TABLE: 'registry_ignored_requesters',
    REGISTRY_NETWORKS_TABLE: 'registry_networks',
    LEDGER_TABLE: LEDGER,
    LOG_BUCKET: LOGS,
    LOG_PARTITIONS_PREFIX: [...partitionsPrefixes][0],
    LOGS_START_DATE: '2026-01-01',
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
    aggregate: (await import('../../functions/handlers/aggregate.handler.js')).handler,
    assess: (await import('../../functions/handlers/assess.handler.js')).handler,
    assemble: (await import('../../functions/handlers/assemble.handler.js')).handler,
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

  it('evaluated each partner from its own folder of sums, paging no result proportional to rows', () => {
    const queries = first.report.evidence?.queries ?? [];
    const unloads = queries.filter((q) => q.sql.startsWith('UNLOAD ('));
    expect(unloads.map((q) => q.purpose)).toEqual([
      expect.stringMatching(/^daily usage by partner /),
      expect.stringMatching(/^unattributed usage /),
    ]);
    expect(queries.some((q) => q.purpose.startsWith('usage '))).toBe(false);
    // Every step's payload, in and out, far under Step Functions' 256 KiB.
    expect(largestPayload).toBeGreaterThan(0);
    expect(largestPayload).toBeLessThan(256 * 1024);
  });

  it('counts the same records from the dataset manifest, full reads with 200 only', () => {
    const records = (report: Report) =>
      report.partners.flatMap((p) => p.periods).reduce((n, period) => n + BigInt(period.totals.records), 0n);
    expect(records(local.report)).toBeGreaterThan(0n);
    expect(records(first.report)).toBe(records(local.report));
    const recordMetrics = (report: Report) =>
      report.partners.flatMap((p) =>
        p.periods.flatMap((period) =>
          period.metrics
            .filter((m) => m.metric === 'records')
            .map((m) => `${p.partnerId} ${m.used} ${m.over}`),
        ),
      );
    expect(recordMetrics(first.report)).toEqual(recordMetrics(local.report));
    expect(recordMetrics(first.report).length).toBeGreaterThan(0);
    // The day before the window has no log objects (the data starts on its first day), nor has the
    // window's end when no record of the last day was delivered late: exactly the batches without
    // objects are skipped, not merged as empty. Each roll-up that ran used the manifest table, and the
    // report states the statement that did.
    const ran = first.rollups.filter((r) => r.skipped === undefined);
    const skipped = first.rollups.filter((r) => r.skipped !== undefined).map((r) => r.batch);
    expect(skipped).toContain('2026/02/28');
    expect(skipped).toEqual(first.rollups.map((r) => r.batch).filter((b) => !deliveredDates.has(b)));
    expect(ran.map((r) => r.batch)).toEqual(
      first.rollups.map((r) => r.batch).filter((b) => deliveredDates.has(b)),
    );
    expect(ran.every((r) => r.manifestTable === tables.manifestTable)).toBe(true);
    const statements = first.report.evidence?.queries.filter((q) => q.purpose.startsWith('roll up')) ?? [];
    expect(statements.length).toBe(ran.length);
    for (const q of statements) expect(q.sql).toContain('"partner_audit"."dataset_manifest"');
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

  it('records the rollup watermark once the roll-up succeeded, and the next nights start after it', async () => {
    const night = await handlers.plan({ scheduledTime: SCHEDULED, executionName: 'nightly-wm' });
    expect(night.batches).toEqual(['2026/03/11']);
    for (const batch of night.batches) await handlers.rollup({ batch, runId: night.runId });
    // As the state machine passes it: Aggregate runs after the RollUp map and gets the plan's settling.
    await handlers.aggregate({
      runId: night.runId,
      window: night.window,
      partners: night.partners,
      dryRun: true,
      reason: night.reason,
      settling: night.settling,
    });
    // Two nights later (the night between was skipped): both delivery dates since the watermark.
    const later = await handlers.plan({
      scheduledTime: '2026-03-14T02:00:00Z',
      executionName: 'nightly-wm-2',
    });
    expect(later.batches).toEqual(['2026/03/12', '2026/03/13']);
    // An ad hoc run over an older window neither reads nor moves it.
    const adHoc = await handlers.plan({ from: '2026-03-01', to: '2026-03-05', executionName: 'adhoc-wm' });
    expect(adHoc.settling.advanceWatermarkTo).toBeNull();
    expect(adHoc.settling.dataThrough).toBe('2026-03-12T00:00:00.000Z');
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

/**
 * The manifest rule on the edges the generated data does not reach, line by line against the local
 * ingester: keys that need quoting or decoding, an exact key over its prefixes, nested prefixes, and
 * every kind of line that counts no records.
 */
describe('records from the manifest on Athena, against the local ingester', () => {
  const MANIFEST = [
    '# a manifest in the forms an operator writes, comments and padding included',
    'key_or_prefix,records',
    'feeds/,1',
    'feeds/weather/,10',
    'feeds/weather/2026/03/14/obs-0900.csv,1000',
    '"sales,eu/summary.csv",12',
    '"say ""hi"".txt",3',
    'feeds/sat images/,7',
    '  padded/key.txt  ,5',
    'dir/,2',
    'C:\\data\\x.csv,9',
  ].join('\n');
  const LINES = [
    logLine(), // the exact key, over two prefixes
    logLine({ status: '206', bytesSent: '1048576' }), // a range read: none
    logLine({ status: '304', bytesSent: '-' }), // not modified: none
    logLine({ status: '203' }), // 2xx but not 200: none
    logLine({ operation: 'REST.HEAD.OBJECT', bytesSent: '-' }),
    logLine({ operation: 'WEBSITE.GET.OBJECT', key: 'feeds/weather/x.csv' }),
    logLine({ key: 'feeds/other/x.csv' }), // the shorter prefix
    logLine({ key: 'feeds/sat%20images/a+b.png' }), // decoded before the lookup
    logLine({ key: 'sales%2Ceu/summary.csv' }),
    logLine({ key: 'say%20%22hi%22.txt' }),
    logLine({ key: 'padded/key.txt' }),
    logLine({ key: 'dir/' }), // a key that is itself a listed prefix
    logLine({ key: 'C:%5Cdata%5Cx.csv' }),
    logLine({ key: 'nothing.txt' }),
    logLine({ key: 'feeds/bad%zzkey/x.csv' }), // does not decode: looked up as logged
    logLine({ time: '99/Xyz/2026:09:12:44 +0000' }), // malformed: not usage
    'garbage that is not a log line',
  ];
  const edgeTables = { ...tables, database: 'edges' };
  const window = { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 3, 1) };
  let server: AthenaLocalServer;
  let runner: AthenaQueryRunner;
  let edgeDir: string;

  const rowsText = (rows: readonly Omit<UsageRow, 'batch'>[]) =>
    rows
      .map((r) =>
        [r.slotStart, r.dataset, r.operation, r.statusClass, r.requests, r.bytesSent, r.records].join(' '),
      )
      .sort();

  beforeAll(async () => {
    server = await AthenaLocalServer.start(edgeTables);
    runner = new AthenaQueryRunner(localAthenaClient(server.endpoint), {
      workGroup: 'partner-audit',
      sleep: async () => {},
    });
    await server.putManifest(athenaManifestCsv(MANIFEST, 'manifest.csv'));
    await server.addLogObject(
      'logs/111122223333/eu-central-1/meteo-feeds-prod/2026/03/14/2026-03-14-09-00-00-0A1B2C3D4E5F6071',
      `${LINES.join('\n')}\n`,
    );
    edgeDir = await mkdtemp(join(tmpdir(), 'aws-path-edges-'));
    await writeFile(join(edgeDir, 'day.log'), `${LINES.join('\n')}\n`);
  });

  afterAll(async () => {
    await server?.stop();
    if (edgeDir) await rm(edgeDir, { recursive: true, force: true });
  });

  it('gives every rollup row the records the local ingester gives it, by INSERT and by MERGE', async () => {
    const local = await ingestLogFile(join(edgeDir, 'day.log'), {
      datasetDepth: 2,
      manifest: parseManifest(MANIFEST, 'manifest.csv'),
    });
    const expected = rowsText(local.rows);
    // The exact key 1000 (its 206, 304, 203 and HEAD none), then 10 + 1 + 7 + 12 + 3 + 5 + 2 + 9 + 0 + 1.
    expect(local.rows.reduce((n, r) => n + r.records, 0n)).toBe(1050n);

    await runner.run(insertBatchRollupSql(edgeTables, '2026/03/14', { datasetDepth: 2 }), 'edges-1');
    expect(rowsText(await new AthenaUsageSource(runner, edgeTables, 'edges-1').usage(window))).toEqual(
      expected,
    );
    await runner.run(replaceBatchRollupSql(edgeTables, '2026/03/14', { datasetDepth: 2 }), 'edges-2');
    expect(rowsText(await new AthenaUsageSource(runner, edgeTables, 'edges-2').usage(window))).toEqual(
      expected,
    );
  });

  it('writes 0 records without a manifest table, and the same requests and bytes', async () => {
    const { manifestTable: _none, ...withoutManifest } = edgeTables;
    await runner.run(replaceBatchRollupSql(withoutManifest, '2026/03/14', { datasetDepth: 2 }), 'edges-3');
    const rows = await new AthenaUsageSource(runner, withoutManifest, 'edges-3').usage(window);
    expect(rows.every((r) => r.records === 0n)).toBe(true);
    const local = await ingestLogFile(join(edgeDir, 'day.log'), { datasetDepth: 2 });
    expect(rowsText(rows)).toEqual(rowsText(local.rows));
  });
});
