/**
 * A small AWS world for the reliability tests: generated access logs in the local Athena server,
 * s3rver, dynalite with the ledger table and aws-ses-v2-local, S3 and SES each behind a
 * fault-injecting proxy. The steps run as the state machine runs them, through their exported
 * functions with dependencies handed in (real SDK clients, adapters' own retries with no waiting).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  AthenaQueryRunner,
  type AthenaQueryRunnerOptions,
} from '../../functions/adapters/athena/athena-client.js';
import { type AthenaTables, USAGE_GRAIN_ONLY } from '../../functions/adapters/athena/sql.js';
import { DynamoDbLedger, ledgerTableDefinition } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { SesMailer, type SesMailerOptions } from '../../functions/adapters/ses/ses-mailer.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import type { Report } from '../../functions/domain/report.js';
import { addDays } from '../../functions/domain/time.js';
import type { AggregateDeps } from '../../functions/handlers/aggregate.handler.js';
import { asStep } from '../../functions/handlers/errors.js';
import { type NotifyDeps, type NotifyOutput, notify } from '../../functions/handlers/notify.handler.js';
import { type PublishDeps, type PublishOutput, publish } from '../../functions/handlers/publish.handler.js';
import { type RollupDeps, type RollupOutput, rollup } from '../../functions/handlers/rollup.handler.js';
import type { EvaluateOutput } from '../../functions/handlers/step-contracts.js';
import type { StepContext } from '../../functions/handlers/step-deadline.js';
import type { Clock, Mailer } from '../../functions/ports.js';
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
  type LocalServer,
  type SesLocal,
  startDynalite,
  startS3rver,
  startSesLocal,
} from '../support/local-aws-servers.js';

export const REPORTS = 'reports';
export const LEDGER = 'ledger';
export const TABLES: AthenaTables = { database: 'audit', logsTable: 'logs', rollupTable: 'rollup' };
export { REGISTRY_TABLES };
/** The generated logs' first day, their days, and the run's window and time. */
export const START = '2026-03-01';
export const DAYS = 3;
export const WINDOW = { from: START, to: addDays(START, DAYS) };
export const NOW = new Date(`${addDays(START, DAYS + 1)}T02:00:00Z`);
/** Delivery dates holding the window's logs: the day before it to the day after (late objects). */
export const BATCHES = Array.from({ length: DAYS + 2 }, (_, i) => addDays(START, i - 1).replaceAll('-', '/'));

const noWait = async () => {};

export interface World {
  readonly registry: Registry;
  readonly athena: AthenaLocalServer;
  readonly s3: LocalServer;
  /** Every S3 call of the steps goes through it. */
  readonly s3Proxy: FaultProxy;
  readonly ses: SesLocal;
  /** Every SES call of the mailer goes through it. */
  readonly sesProxy: FaultProxy;
  readonly dynamo: LocalServer;
  readonly clock: Clock;
  runner(options?: Partial<AthenaQueryRunnerOptions>): AthenaQueryRunner;
  s3Client(): S3Client;
  ledger(): DynamoDbLedger;
  mailer(options?: Partial<SesMailerOptions>): SesMailer;
  rollupDeps(runner?: AthenaQueryRunner): RollupDeps;
  /** Dependencies of Aggregate, Assess and Assemble (the evaluate steps). */
  evaluateDeps(runner?: AthenaQueryRunner): AggregateDeps;
  /**
   * Evaluates a window as the deployed state machine does: Aggregate, then Assess for each partner
   * of its items object (the EvaluatePartners Map, one item at a time), then Assemble. `deps` and
   * `context` go to Aggregate, the only step that queries Athena.
   */
  evaluate(
    input: Record<string, unknown>,
    options?: { deps?: AggregateDeps; context?: StepContext },
  ): Promise<EvaluateOutput>;
  notifyDeps(overrides?: Partial<NotifyDeps>): NotifyDeps;
  publishDeps(): PublishDeps;
  /** Rolls up every delivery date of the data set, one after the other, as the RollUp map would. */
  rollUpAll(runId: string): Promise<RollupOutput[]>;
  /** Rolls up every delivery date, then evaluates the window: the state before notices. */
  rollUpAndEvaluate(runId: string): Promise<EvaluateOutput>;
  /** Runs the steps of one execution in the state machine's order (the Maps one item at a time). */
  run(runId: string, options?: { mailer?: Mailer }): Promise<RunResult>;
  /** Rows, requests and bytes of the rollup, usage and malformed-line markers apart. */
  rollupTotals(): Promise<RollupTotals>;
  report(key: string): Promise<Report>;
  /** Keys of the report bucket under `prefix`. */
  keys(prefix: string): Promise<string[]>;
  clearLedger(): Promise<void>;
  stop(): Promise<void>;
}

export interface RunResult {
  readonly rollups: RollupOutput[];
  readonly evaluation: EvaluateOutput;
  readonly notifyResults: NotifyOutput[];
  readonly published: PublishOutput;
  readonly report: Report;
}

export interface RollupTotals {
  readonly rows: number;
  readonly requests: string;
  readonly bytes: string;
  readonly malformed: string;
}

/** Starts the world on freshly generated logs (about 1,500 partner requests a day). */
export async function startWorld(seed = 5): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'aws-reliability-'));
  const data = await generateDataset({
    outDir: dir,
    seed,
    start: START,
    days: DAYS,
    requestsPerDay: 1500,
    layout: 'partitioned',
    // Limits for the days written, so the levels (and their notices) are reached by the data's end.
    limits: 'data',
  });
  // These tests are about faults, not records (test/e2e/aws-path.test.ts compares records with a
  // manifest): they run without one, so that each run sets no manifest table up.
  const raw = parseYaml(await readFile(data.registryPath, 'utf8')) as { settings?: { manifest?: string } };
  if (raw.settings) delete raw.settings.manifest;
  const registry = parseRegistry(stringifyYaml(raw), 'registry.yaml');

  const athena = await AthenaLocalServer.start(TABLES);
  await athena.addLogDirectory(join(data.logsDir, 'partitioned'));
  await athena.putRegistryTables(registry, REGISTRY_TABLES);
  const s3 = await startS3rver([REPORTS]);
  // Aggregate's UNLOADs land in the report bucket, as in the stack.
  athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
  const s3Proxy = await FaultProxy.start(s3.endpoint);
  const ses = await startSesLocal();
  const sesProxy = await FaultProxy.start(ses.endpoint);
  const dynamo = await startDynalite();
  await localDynamoDbClient(dynamo.endpoint).send(new CreateTableCommand(ledgerTableDefinition(LEDGER)));
  const clock: Clock = { now: () => NOW };
  const loadRegistry = async () => ({ registry, hash: 'test-registry', source: 'test' });

  const world: World = {
    registry,
    athena,
    s3,
    s3Proxy,
    ses,
    sesProxy,
    dynamo,
    clock,
    runner: (options = {}) =>
      new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
        workGroup: 'partner-audit',
        database: TABLES.database,
        sleep: noWait,
        pollInitialMs: 1,
        ...options,
      }),
    s3Client: () => localS3Client(s3Proxy.endpoint),
    ledger: () => new DynamoDbLedger(localDynamoDbClient(dynamo.endpoint), LEDGER),
    mailer: (options = {}) =>
      new SesMailer(localSesClient(sesProxy.endpoint), {
        configurationSetName: 'notices',
        maxSendRate: 1000,
        sleep: noWait,
        ...options,
      }),
    rollupDeps: (runner) => ({ runner: runner ?? world.runner(), tables: TABLES, loadRegistry }),
    evaluateDeps: (runner) => ({
      runner: runner ?? world.runner(),
      tables: TABLES,
      registryTables: REGISTRY_TABLES,
      s3: world.s3Client(),
      reportBucket: REPORTS,
      loadRegistry,
      clock,
    }),
    evaluate: (input, options = {}) =>
      evaluateSteps(options.deps ?? world.evaluateDeps(), input, options.context),
    notifyDeps: (overrides = {}) => ({
      s3: world.s3Client(),
      reportBucket: REPORTS,
      ledger: world.ledger(),
      mailer: world.mailer(),
      loadRegistry,
      clock,
      previewOnly: false,
      ...overrides,
    }),
    publishDeps: () => ({ s3: world.s3Client(), reportBucket: REPORTS, region: 'eu-central-1', clock }),
    async rollUpAll(runId) {
      const rollups: RollupOutput[] = [];
      for (const batch of BATCHES) rollups.push(await rollup(world.rollupDeps(), { batch, runId }));
      return rollups;
    },
    async rollUpAndEvaluate(runId) {
      await world.rollUpAll(runId);
      return world.evaluate({ runId, window: WINDOW, partners: [] });
    },
    async run(runId, options = {}) {
      const rollups = await world.rollUpAll(runId);
      const evaluation = await world.evaluate({
        runId,
        window: WINDOW,
        partners: [],
        dryRun: false,
        reason: null,
      });
      const notifyResults: NotifyOutput[] = [];
      for (const { partnerId } of evaluation.partnersToNotify) {
        const deps = world.notifyDeps(options.mailer ? { mailer: options.mailer } : {});
        notifyResults.push(
          await notify(deps, { runId, evaluationKey: evaluation.evaluationKey, partnerId, dryRun: false }),
        );
      }
      const published = await publish(world.publishDeps(), {
        runId,
        evaluationKey: evaluation.evaluationKey,
        notifyResults,
        rollups,
      });
      return {
        rollups,
        evaluation,
        notifyResults,
        published,
        report: await world.report(published.reportKey),
      };
    },
    async rollupTotals() {
      const rows = await athena.sql(
        `SELECT count(*) AS n,
                CAST(coalesce(sum(requests) FILTER (WHERE operation NOT LIKE '(malformed:%'), 0) AS VARCHAR) AS requests,
                CAST(coalesce(sum(bytes_sent), 0) AS VARCHAR) AS bytes,
                CAST(coalesce(sum(requests) FILTER (WHERE operation LIKE '(malformed:%'), 0) AS VARCHAR) AS malformed
         FROM "${TABLES.database}"."${TABLES.rollupTable}" WHERE ${USAGE_GRAIN_ONLY}`,
      );
      const r = rows[0] ?? {};
      return {
        rows: Number(r['n']),
        requests: String(r['requests']),
        bytes: String(r['bytes']),
        malformed: String(r['malformed']),
      };
    },
    async report(key) {
      return JSON.parse(await readS3Text(localS3Client(s3.endpoint), REPORTS, key)) as Report;
    },
    async keys(prefix) {
      const out = await localS3Client(s3.endpoint).send(
        new ListObjectsV2Command({ Bucket: REPORTS, Prefix: prefix }),
      );
      return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
    },
    async clearLedger() {
      const client = localDynamoDbClient(dynamo.endpoint);
      const items = (await client.send(new ScanCommand({ TableName: LEDGER }))).Items ?? [];
      for (const item of items)
        await client.send(new DeleteItemCommand({ TableName: LEDGER, Key: { pk: item['pk']! } }));
    },
    async stop() {
      await athena.stop();
      await s3Proxy.stop();
      await s3.stop();
      await sesProxy.stop();
      await ses.stop();
      await dynamo.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** An S3 error document, as S3 writes it. */
export function s3Error(code: string, message: string, status: number) {
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>local-fault</RequestId></Error>`,
  };
}

/** The SQL texts of the StartQueryExecution calls the Athena server received after call `from`. */
export function statementsSince(
  athena: AthenaLocalServer,
  from: number,
): { sql: string; params: string[] }[] {
  return athena.calls
    .slice(from)
    .filter((c) => c.operation === 'StartQueryExecution')
    .map((c) => ({
      sql: String(c.input['QueryString']),
      params: (c.input['ExecutionParameters'] as string[] | undefined) ?? [],
    }));
}

/** Each batch's rollup as one line of text (rows, requests, bytes), to compare before and after a fault. */
export async function batchTotals(world: World): Promise<Map<string, string>> {
  const rows = await world.athena.sql(
    `SELECT batch, CAST(count(*) AS VARCHAR) || ' rows ' || CAST(sum(requests) AS VARCHAR) || ' requests ' ||
            CAST(sum(bytes_sent) AS VARCHAR) || ' bytes' AS t
     FROM "${TABLES.database}"."${TABLES.rollupTable}" GROUP BY batch ORDER BY batch`,
  );
  return new Map(rows.map((r) => [String(r['batch']), String(r['t'])]));
}

/** What the state machine sees of a step: its error's name, message and whether it is retried. */
export async function stepError(work: () => Promise<unknown>): Promise<Error & { cause?: unknown }> {
  const error = await asStep(work).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!error) throw new Error('the step succeeded');
  return error;
}
