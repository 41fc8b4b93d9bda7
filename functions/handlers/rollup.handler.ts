/**
 * Step 2 (a Map over the plan's batches): roll up the access logs delivered on one date into the
 * Iceberg rollup table, replacing that batch's rows in one MERGE (replaceBatchRollupSql). Rerun-safe
 * and safe against a second run rolling up the same date at once (a nightly and an ad hoc run): no
 * reader sees the batch half-replaced, and it is never counted twice. With the run id in the query's
 * ClientRequestToken, a retried step picks up the query it already started.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AthenaQueryRunner } from '../adapters/athena/athena-client.js';
import { type AthenaTables, isBatch, replaceBatchRollupSql } from '../adapters/athena/sql.js';
import { athenaRunner, athenaTables } from './aws/athena.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { asStep, InvalidInputError } from './errors.js';
import { logger } from './observability.js';

export const RollupInputSchema = z.object({
  batch: z
    .string()
    .max(10, 'must be a delivery date yyyy/MM/dd')
    .refine(isBatch, 'must be a delivery date yyyy/MM/dd'),
  /** The plan's run id; without one the queries are not idempotent across retries. */
  runId: z.string().min(1).max(128).optional(),
});

export interface RollupOutput {
  readonly batch: string;
  readonly queryExecutionIds: readonly string[];
  readonly bytesScanned: number;
  /** The registry's dataset depth the statement used, so the report can state the statement. */
  readonly datasetDepth: number;
  /** The manifest table the statement counted records from, when there is one (for the same reason). */
  readonly manifestTable?: string;
  /** The request id lookback the statement used, when not 0 (for the same reason). */
  readonly requestIdLookbackDays?: number;
}

export interface RollupDeps {
  readonly runner: AthenaQueryRunner;
  readonly tables: AthenaTables;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  /** See RollupSqlOptions.requestIdLookbackDays. @default 0 */
  readonly requestIdLookbackDays?: number;
}

export async function rollup(deps: RollupDeps, event: unknown): Promise<RollupOutput> {
  const parsed = RollupInputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `rollup input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`,
    );
  }
  const { batch } = parsed.data;
  const runId = parsed.data.runId ?? `rollup-${randomUUID()}`;
  const { registry } = await deps.loadRegistry();
  const datasetDepth = registry.settings.datasetDepth;
  const lookback = deps.requestIdLookbackDays ?? 0;
  const replaced = await deps.runner.run(
    replaceBatchRollupSql(deps.tables, batch, { datasetDepth, requestIdLookbackDays: lookback }),
    runId,
  );
  const out: RollupOutput = {
    batch,
    queryExecutionIds: [replaced.queryExecutionId],
    bytesScanned: replaced.bytesScanned,
    datasetDepth,
    ...(deps.tables.manifestTable ? { manifestTable: deps.tables.manifestTable } : {}),
    ...(lookback > 0 ? { requestIdLookbackDays: lookback } : {}),
  };
  logger.info('rolled up batch', { ...out, runId });
  return out;
}

let deps: RollupDeps | undefined;

function coldStart(): RollupDeps {
  const env = loadEnv([
    'ATHENA_WORKGROUP',
    'GLUE_DATABASE',
    'LOGS_TABLE',
    'ROLLUP_TABLE',
    'MANIFEST_TABLE',
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'AWS_ENDPOINT_URL_ATHENA',
    'AWS_ENDPOINT_URL_S3',
    'REQUEST_ID_LOOKBACK_DAYS',
  ]);
  const s3 = s3Client(env);
  return {
    runner: athenaRunner(env),
    tables: athenaTables(env),
    loadRegistry: () => loadRegistry(s3, env),
    ...(env.REQUEST_ID_LOOKBACK_DAYS === undefined
      ? {}
      : { requestIdLookbackDays: env.REQUEST_ID_LOOKBACK_DAYS }),
  };
}

export const handler = (event: unknown): Promise<RollupOutput> => {
  deps ??= coldStart();
  const d = deps;
  return asStep(() => rollup(d, event));
};
