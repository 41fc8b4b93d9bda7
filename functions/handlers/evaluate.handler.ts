/**
 * Step 3: evaluate every selected partner's billing periods in the window from the Athena rollup
 * (month to date reads only the rollup, never the raw logs), and leave the evaluation in the report
 * bucket for the notify and publish steps. Usage metrics per partner go out as EMF.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AthenaQueryRunner } from '../adapters/athena/athena-client.js';
import { athenaInputSummary } from '../adapters/athena/athena-usage-source.js';
import type { AthenaTables } from '../adapters/athena/sql.js';
import { WATERMARK_PK } from '../adapters/dynamodb/watermark-item.js';
import { evaluateWindow, selectPartners } from '../audit/evaluate-window.js';
import { DEFAULT_SETTLING_DAYS } from '../audit/run-window.js';
import { systemClock } from '../audit/system-clock.js';
import { reachesNoticeLevel } from '../domain/notices.js';
import type { Clock, RollupWatermark } from '../ports.js';
import { athenaRunner, athenaTables } from './aws/athena.js';
import { dynamoDbWatermarkWriter } from './aws/dynamodb-watermark-writer.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { InvalidInputError, parseStepInput } from './errors.js';
import { type EvaluationDocument, writeEvaluation } from './evaluation-document.js';
import { lambdaStep } from './lambda-step.js';
import { logger, metrics } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, RUN_ATHENA_QUERIES, type SdkAction } from './sdk-actions.js';
import { type EvaluateInput, EvaluateInputSchema, type EvaluateOutput } from './step-contracts.js';
import type { StepContext } from './step-deadline.js';
import { inputDeliveryDates, startWindow } from './window-start.js';

export type { EvaluateInput, EvaluateOutput };
export { EvaluateInputSchema };

/** What this step sends to AWS (see sdk-actions.ts): rollup reads, the evaluation document, the watermark. */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  ...RUN_ATHENA_QUERIES,
  {
    action: 's3:PutObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/evaluation.json' } }],
  },
  // The rollup watermark, advanced once the roll-up succeeded (DynamoDbRollupWatermark).
  {
    action: 'dynamodb:UpdateItem',
    on: [{ dynamodbItem: { tableEnv: 'LEDGER_TABLE', leadingKey: WATERMARK_PK } }],
  },
];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [{ tableEnv: 'ROLLUP_TABLE', write: false }];

export interface EvaluateDeps {
  readonly runner: AthenaQueryRunner;
  readonly tables: AthenaTables;
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
  /** Advanced to the plan's `advanceWatermarkTo`; without one nothing is recorded. */
  readonly watermark?: Pick<RollupWatermark, 'advance'>;
  /** Used when the payload has no settling. @default DEFAULT_SETTLING_DAYS */
  readonly settlingDays?: number;
}

export async function evaluate(
  deps: EvaluateDeps,
  event: unknown,
  context?: StepContext,
): Promise<EvaluateOutput> {
  const input = parseStepInput(EvaluateInputSchema, event, 'evaluate');
  const { registry, hash } = await deps.loadRegistry();
  try {
    // Before any query: an unknown partner is a bad payload, not a reason to scan.
    selectPartners(registry, input.partners);
  } catch (error) {
    throw new InvalidInputError(`evaluate input: partners: ${(error as Error).message}`, { cause: error });
  }
  const { runner, usage, dataEndMs } = await startWindow(deps, input, context);
  const evaluation = await evaluateWindow(
    { registry, usage },
    {
      window: input.window,
      partners: input.partners,
      ...(dataEndMs !== undefined ? { dataEndMs } : {}),
      settling: {
        settlingDays: input.settling?.settlingDays ?? deps.settlingDays ?? DEFAULT_SETTLING_DAYS,
        ...(input.settling ? { dataThroughMs: Date.parse(input.settling.dataThrough) } : {}),
      },
    },
  );
  // The input section covers the deliveries that can hold the window's requests (see plan).
  const inputSummary = await athenaInputSummary(
    runner,
    deps.tables,
    input.runId,
    inputDeliveryDates(input.window),
  );
  const { bytesScanned, query: inputQuery, ...summary } = inputSummary;
  const doc: EvaluationDocument = {
    version: 1,
    runId: input.runId,
    window: input.window,
    partners: input.partners,
    dryRun: input.dryRun,
    reason: input.reason,
    registryHash: hash,
    evaluatedAt: deps.clock.now().toISOString(),
    engine: usage.engine,
    input: summary,
    evaluation,
    bytesScanned: usage.bytesScanned + bytesScanned,
    queryExecutionIds: [...usage.queryExecutionIds, inputQuery.queryExecutionId],
    queries: [...usage.queries, inputQuery],
    tables: deps.tables,
  };
  const evaluationKey = await writeEvaluation(deps.s3, deps.reportBucket, doc);

  for (const e of evaluation.evaluations) {
    const m = metrics.singleMetric();
    m.addDimensions({ partner: e.partnerId, period: e.period.id });
    m.addMetric('Requests', MetricUnit.Count, Number(e.totals.requests));
    m.addMetric('BytesSent', MetricUnit.Bytes, Number(e.totals.bytesSent));
    m.addMetric('OverageFeeMinor', MetricUnit.Count, Number(e.fees.totalMinor));
    // The highest utilisation of any monthly limit, for the dashboard's usage-against-limit chart.
    const bp = e.metrics.reduce(
      (max, f) => (f.utilisationBp !== undefined && f.utilisationBp > max ? f.utilisationBp : max),
      0n,
    );
    m.addMetric('UtilisationPercent', MetricUnit.Percent, Number(bp) / 100);
  }
  const partnersToNotify = [
    ...new Set(evaluation.evaluations.filter(reachesNoticeLevel).map((e) => e.partnerId)),
  ].map((partnerId) => ({ partnerId }));
  logger.info('evaluated window', {
    runId: input.runId,
    evaluationKey,
    periods: evaluation.evaluations.length,
    partnersToNotify: partnersToNotify.length,
    bytesScanned: doc.bytesScanned,
  });
  return { runId: input.runId, evaluationKey, dryRun: input.dryRun, partnersToNotify };
}

function coldStart(): EvaluateDeps {
  const env = loadEnv([
    'ATHENA_WORKGROUP',
    'GLUE_DATABASE',
    'LOGS_TABLE',
    'ROLLUP_TABLE',
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'REPORT_BUCKET',
    'AWS_ENDPOINT_URL_ATHENA',
    'AWS_ENDPOINT_URL_S3',
    'LEDGER_TABLE',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'SETTLING_DAYS',
  ]);
  const s3 = s3Client(env);
  return {
    watermark: dynamoDbWatermarkWriter(env),
    settlingDays: env.SETTLING_DAYS,
    runner: athenaRunner(env),
    tables: athenaTables(env),
    s3,
    reportBucket: env.REPORT_BUCKET,
    loadRegistry: () => loadRegistry(s3, env),
    clock: systemClock,
  };
}

export const handler = lambdaStep(coldStart, evaluate, { after: () => metrics.publishStoredMetrics() });
