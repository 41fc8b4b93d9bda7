/**
 * Step 2 (a Map over the plan's batches): roll up the access logs delivered on one date into the
 * Iceberg rollup table, replacing that batch's rows in one MERGE (replaceBatchRollupSql). Rerun-safe
 * and safe against a second run rolling up the same date at once (a nightly and an ad hoc run): no
 * reader sees the batch half-replaced, and it is never counted twice. With the run id in the query's
 * ClientRequestToken, a retried step picks up the query it already started, and the step's waits end
 * before its Lambda's timeout (step-deadline.ts).
 *
 * A batch is replaced only from logs that are there: a date before the configured logsStartDate, or
 * whose prefix in the log bucket holds no object (expired, or never delivered), is skipped and
 * reported with why, and its rollup is left as it is. A MERGE over no rows would delete it.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AthenaQueryRunner } from '../adapters/athena/athena-client.js';
import { type AthenaTables, isBatch, replaceBatchRollupSql } from '../adapters/athena/sql.js';
import { S3LogPartitions } from '../adapters/s3/s3-log-partitions.js';
import { athenaRunner, athenaTables } from './aws/athena.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { parseStepInput } from './errors.js';
import { lambdaStep } from './lambda-step.js';
import { logger } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, RUN_ATHENA_QUERIES, type SdkAction } from './sdk-actions.js';
import type { RollupOutput } from './step-contracts.js';
import { runnerForStep, type StepContext } from './step-deadline.js';

export type { RollupOutput };

export const RollupInputSchema = z.object({
  batch: z
    .string()
    .max(10, 'must be a delivery date yyyy/MM/dd')
    .refine(isBatch, 'must be a delivery date yyyy/MM/dd'),
  /** The plan's run id; without one the queries are not idempotent across retries. */
  runId: z.string().min(1).max(128).optional(),
});

/** Why a batch was left alone: its date precedes the logs, or its log prefix holds no object. */
export type RollupSkipReason = 'before-logs-start' | 'no-log-objects';

/** Whether a delivery date still has log objects (S3LogPartitions). */
export interface LogPartitions {
  hasLogObjects(batch: string): Promise<boolean>;
  uriOf(batch: string): string;
}
/** What this step sends to AWS (see sdk-actions.ts): the registry, a listing per batch, one MERGE per batch. */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  ...RUN_ATHENA_QUERIES,
  // Whether a delivery date still has log objects (S3LogPartitions): ListObjectsV2 is s3:ListBucket.
  {
    action: 's3:ListBucket',
    on: [{ s3Prefix: { bucketEnv: 'LOG_BUCKET', prefix: '<LOG_PARTITIONS_PREFIX>2026/03/14/' } }],
  },
];
/** replaceBatchRollupSql reads the logs and the manifest and rewrites the rollup's batch. */
export const ATHENA_TABLES: readonly AthenaTableUse[] = [
  { tableEnv: 'LOGS_TABLE', write: false },
  { tableEnv: 'MANIFEST_TABLE', write: false },
  { tableEnv: 'ROLLUP_TABLE', write: true },
];

export interface RollupDeps {
  readonly runner: AthenaQueryRunner;
  readonly tables: AthenaTables;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  /**
   * Checked before each MERGE. The Lambda always has it; tests whose logs live only in the Athena
   * stand-in leave it out.
   */
  readonly logPartitions?: LogPartitions;
  /** The first delivery date with logs (`YYYY-MM-DD`, the stack's logsStartDate); earlier ones are skipped. */
  readonly logsStartDate?: string;
  /** See RollupSqlOptions.requestIdLookbackDays. @default 0 */
  readonly requestIdLookbackDays?: number;
}

export async function rollup(deps: RollupDeps, event: unknown, context?: StepContext): Promise<RollupOutput> {
  const input = parseStepInput(RollupInputSchema, event, 'rollup');
  const { batch } = input;
  const runId = input.runId ?? `rollup-${randomUUID()}`;
  const { registry } = await deps.loadRegistry();
  const datasetDepth = registry.settings.datasetDepth;
  const skipped = await skipReason(deps, batch);
  if (skipped) {
    const out: RollupOutput = { batch, queryExecutionIds: [], bytesScanned: 0, datasetDepth, skipped };
    logger.warn('skipped batch: its rollup is kept as it is', { ...out, runId });
    return out;
  }
  const lookback = deps.requestIdLookbackDays ?? 0;
  // The held grain (HOLDINGS.md) only when the registry keeps holdings: it costs rows every night.
  const holdings = registry.settings.holdings;
  const runner = runnerForStep(deps.runner, context);
  const replaced = await runner.run(
    replaceBatchRollupSql(deps.tables, batch, { datasetDepth, requestIdLookbackDays: lookback, holdings }),
    runId,
  );
  const out: RollupOutput = {
    batch,
    queryExecutionIds: [replaced.queryExecutionId],
    bytesScanned: replaced.bytesScanned,
    datasetDepth,
    ...(deps.tables.manifestTable ? { manifestTable: deps.tables.manifestTable } : {}),
    ...(lookback > 0 ? { requestIdLookbackDays: lookback } : {}),
    ...(holdings ? { holdings } : {}),
  };
  logger.info('rolled up batch', { ...out, runId });
  return out;
}

async function skipReason(deps: RollupDeps, batch: string): Promise<RollupOutput['skipped']> {
  const date = batch.replaceAll('/', '-');
  if (deps.logsStartDate !== undefined && date < deps.logsStartDate) {
    return {
      reason: 'before-logs-start',
      detail: `delivery date ${batch} is before logsStartDate ${deps.logsStartDate}: there are no logs to roll up`,
    };
  }
  if (deps.logPartitions && !(await deps.logPartitions.hasLogObjects(batch))) {
    return {
      reason: 'no-log-objects',
      detail: `no log objects under ${deps.logPartitions.uriOf(batch)} (expired or never delivered): rolling up would empty the batch`,
    };
  }
  return undefined;
}

function coldStart(): RollupDeps {
  const env = loadEnv([
    'ATHENA_WORKGROUP',
    'GLUE_DATABASE',
    'LOGS_TABLE',
    'ROLLUP_TABLE',
    'MANIFEST_TABLE',
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'LOG_BUCKET',
    'LOG_PARTITIONS_PREFIX',
    'LOGS_START_DATE',
    'AWS_ENDPOINT_URL_ATHENA',
    'AWS_ENDPOINT_URL_S3',
    'REQUEST_ID_LOOKBACK_DAYS',
  ]);
  const s3 = s3Client(env);
  return {
    runner: athenaRunner(env),
    tables: athenaTables(env),
    loadRegistry: () => loadRegistry(s3, env),
    logPartitions: new S3LogPartitions(s3, {
      bucket: env.LOG_BUCKET,
      partitionsPrefix: env.LOG_PARTITIONS_PREFIX,
    }),
    logsStartDate: env.LOGS_START_DATE,
    ...(env.REQUEST_ID_LOOKBACK_DAYS === undefined
      ? {}
      : { requestIdLookbackDays: env.REQUEST_ID_LOOKBACK_DAYS }),
  };
}

export const handler = lambdaStep(coldStart, rollup);
