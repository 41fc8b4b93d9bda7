/**
 * Step 4 (a Map over the partners with a level reached): one partner's due notices, sent at most once
 * by sendNotices over the DynamoDB ledger and SES, their copies kept under `runs/<runId>/notices/`. A
 * dry run (or NOTICE_MODE=preview) claims and sends nothing. A failure a retry may fix (SES throttling)
 * fails the step with RetryableError once the other notices are done, so Step Functions retries it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3ReportStore } from '../adapters/s3/s3-report-store.js';
import { diffSentNotices, sendNotices } from '../audit/send-notices.js';
import { systemClock } from '../audit/system-clock.js';
import type { Clock, Mailer, NoticeLedger } from '../ports.js';
import { dynamoDbLedger, USE_NOTICE_LEDGER } from './aws/dynamodb.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { messageIdDomain, SEND_RAW_EMAIL, sesMailer } from './aws/ses.js';
import { loadEnv } from './env.js';
import { parseStepInput, RetryableError } from './errors.js';
import {
  KEEP_NOTICE_COPIES,
  notifyOutputKey,
  READ_EVALUATION,
  readPartnerEvaluations,
  runKey,
} from './evaluation-document.js';
import { lambdaStep } from './lambda-step.js';
import { logger, metrics } from './observability.js';
import { redactor } from './recipient-redactor.js';
import { type AthenaTableUse, READ_REGISTRY, type SdkAction } from './sdk-actions.js';
import {
  EvaluateOutputSchema,
  type NotifyOutput,
  type NotifyResult,
  PartnerIdSchema,
} from './step-contracts.js';

export type { NotifyOutput, NotifyResult };

/** What the Notify Map hands each NotifyPartner: Evaluate's run and evaluation, and one partner. */
export const NotifyInputSchema = EvaluateOutputSchema.pick({ runId: true, evaluationKey: true }).extend({
  partnerId: PartnerIdSchema,
  dryRun: EvaluateOutputSchema.shape.dryRun.default(false),
});

/**
 * What this step sends to AWS (see sdk-actions.ts): the evaluation and notice copies in the report
 * bucket, the ledger (DynamoDbLedger), and SES when notices are sent.
 */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  READ_EVALUATION,
  KEEP_NOTICE_COPIES,
  // What it returns, kept for publish (notifyOutputKey).
  {
    action: 's3:PutObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/notify/acme.json' } }],
  },
  ...USE_NOTICE_LEDGER,
  SEND_RAW_EMAIL,
];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface NotifyDeps {
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly ledger: NoticeLedger;
  readonly mailer: Mailer;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
  /** NOTICE_MODE=preview: never send, whatever the input says. */
  readonly previewOnly: boolean;
}

export async function notify(deps: NotifyDeps, event: unknown): Promise<NotifyOutput> {
  const input = parseStepInput(NotifyInputSchema, event, 'notify');
  const { runId, evaluationKey, partnerId } = input;
  const dryRun = input.dryRun || deps.previewOnly;
  const { evaluatedAt, evaluations, noticeFindings } = await readPartnerEvaluations(
    deps.s3,
    deps.reportBucket,
    evaluationKey,
    input,
  );
  const { registry } = await deps.loadRegistry();
  const noticeDiffs = await diffSentNotices(deps.ledger, evaluations);
  const outcomes = await sendNotices(
    {
      registry,
      ledger: deps.ledger,
      mailer: deps.mailer,
      copies: new S3ReportStore(deps.s3, { bucket: deps.reportBucket }),
      clock: deps.clock,
    },
    {
      runId,
      evaluations,
      dryRun,
      reportRef: `partner-audit run ${runId}`,
      messageIdDomain: messageIdDomain(registry),
      datedAt: new Date(evaluatedAt),
      copiesUnder: runKey(runId, 'notices/'),
      ...(noticeFindings ? { networkFindings: noticeFindings } : {}),
    },
  );

  const redact = redactor(registry);
  const results = outcomes.map(({ key, copy, error, message: _, retryable: __, ...rest }): NotifyResult => {
    return { ...key, ...rest, file: copy, error: error === undefined ? undefined : redact(error) };
  });
  for (const status of ['sent', 'failed', 'previewed'] as const) {
    const n = results.filter((r) => r.status === status).length;
    if (n > 0) metrics.addMetric(`Notices${status[0]!.toUpperCase()}${status.slice(1)}`, MetricUnit.Count, n);
  }
  logger.info('notified partner', { runId, partnerId, dryRun, results });
  const retryable = outcomes.filter((o) => o.status === 'failed' && o.retryable === true);
  if (retryable.length > 0) {
    const why = retryable.map((o) => o.error).join('; ');
    throw new RetryableError(
      redact(`${retryable.length} notice(s) of ${partnerId} failed and may pass on retry: ${why}`),
    );
  }
  const out: NotifyOutput = {
    partnerId,
    failed: results.some((r) => r.status === 'failed'),
    results,
    noticeDiffs,
  };
  await new S3ReportStore(deps.s3, { bucket: deps.reportBucket }).put(
    notifyOutputKey(runId, partnerId),
    JSON.stringify(out),
    'application/json',
  );
  return out;
}

function coldStart(): NotifyDeps {
  const env = loadEnv([
    'REPORT_BUCKET',
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'LEDGER_TABLE',
    'SES_CONFIGURATION_SET',
    'SES_MAX_SEND_RATE',
    'NOTICE_MODE',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_SES',
    'AWS_ENDPOINT_URL_DYNAMODB',
  ]);
  const s3 = s3Client(env);
  return {
    s3,
    reportBucket: env.REPORT_BUCKET,
    ledger: dynamoDbLedger(env),
    mailer: sesMailer(env),
    loadRegistry: () => loadRegistry(s3, env),
    clock: systemClock,
    previewOnly: env.NOTICE_MODE === 'preview',
  };
}

export const handler = lambdaStep(coldStart, notify, { after: () => metrics.publishStoredMetrics() });
