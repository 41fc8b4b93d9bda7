/**
 * Step 5: write the run's report to the report bucket: `runs/<runId>/report.json` (the schema of
 * functions/domain/report.ts) and `usage.csv`, next to the notice copies notify left there.
 *
 * Failed notices are reported, not thrown: the state machine fails the run after this step when any
 * notify result says `failed`, so the report exists when the alarm fires. A partner whose notify step
 * failed outright reaches here as `{ partnerId, failed: true, error, cause }` (the Map's catch); its
 * notices are reported as failed at the highest level each of its periods reached.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { S3ReportStore } from '../adapters/s3/s3-report-store.js';
import type { NoticeDiff } from '../domain/notices.js';
import { buildReport, reportToCsv, reportToJson } from '../domain/report.js';
import type { Clock } from '../ports.js';
import { s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { asStep, InvalidInputError } from './errors.js';
import { readEvaluation, runKey } from './evaluation-document.js';
import type { NotifyResult } from './notify.handler.js';
import { logger } from './observability.js';

/** The version of this code, as the report states it. */
export const CODE_VERSION = '0.1.0';

const NotifyResultSchema = z.object({
  partnerId: z.string(),
  periodId: z.string(),
  level: z.string(),
  status: z.enum(['sent', 'previewed', 'already-sent', 'held', 'failed']),
  covers: z.array(z.string()).default([]),
  messageId: z.string().optional(),
  delivery: z.string().optional(),
  file: z.string().optional(),
  error: z.string().optional(),
});

const FigureChangeSchema = z.object({
  path: z.string(),
  sent: z.string().nullable(),
  current: z.string().nullable(),
  delta: z.string().nullable(),
});

export const PublishInputSchema = z.object({
  runId: z.string().min(1),
  evaluationKey: z.string().min(1),
  notifyResults: z
    .array(
      z.object({
        partnerId: z.string(),
        failed: z.boolean().default(false),
        error: z.string().optional(),
        cause: z.string().optional(),
        results: z.array(NotifyResultSchema).optional(),
        noticeDiffs: z
          .array(
            z.object({
              key: z.object({ partnerId: z.string(), periodId: z.string(), level: z.string() }),
              messageId: z.string().optional(),
              sentAt: z.string().optional(),
              changes: z.array(FigureChangeSchema),
            }),
          )
          .default([]),
      }),
    )
    .default([]),
});

export interface PublishOutput {
  /** Notices that failed in this run (the run fails after publishing when this is not 0). */
  readonly failedNotices: number;
  readonly reportKey: string;
  readonly csvKey: string;
  /** The report in the S3 console. */
  readonly reportUrl: string;
}

export interface PublishDeps {
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly region: string;
  readonly clock: Clock;
}

export async function publish(deps: PublishDeps, event: unknown): Promise<PublishOutput> {
  const parsed = PublishInputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `publish input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const { runId, evaluationKey, notifyResults } = parsed.data;
  const doc = await readEvaluation(deps.s3, deps.reportBucket, evaluationKey);
  if (doc.runId !== runId)
    throw new InvalidInputError(`${evaluationKey} belongs to run ${doc.runId}, not ${runId}`);
  const results: NotifyResult[] = notifyResults.flatMap((n) => {
    if (n.results) return n.results;
    // The notify step itself failed: what it would have sent is each period's highest level.
    const why = `notify step failed: ${[n.error, n.cause].filter(Boolean).join(': ') || 'no detail'}`;
    return doc.evaluation.evaluations
      .filter((e) => e.partnerId === n.partnerId && e.levels.length > 0)
      .map((e) => ({
        partnerId: e.partnerId,
        periodId: e.period.id,
        level: e.levels[e.levels.length - 1]!.level,
        status: 'failed' as const,
        covers: [],
        error: why,
      }));
  });
  const noticeDiffs: NoticeDiff[] = notifyResults.flatMap((n) => n.noticeDiffs);
  const report = buildReport({
    runId,
    generatedAt: deps.clock.now(),
    engine: doc.engine,
    window: doc.window,
    dryRun: doc.dryRun,
    ...(doc.reason !== null ? { reason: doc.reason } : {}),
    registryHash: doc.registryHash,
    codeVersion: CODE_VERSION,
    input: doc.input,
    evaluations: doc.evaluation.evaluations,
    unattributed: doc.evaluation.unattributed,
    uncovered: doc.evaluation.uncovered,
    notices: results.map((r) => ({
      key: { partnerId: r.partnerId, periodId: r.periodId, level: r.level },
      status: r.status,
      covers: r.covers,
      ...(r.messageId !== undefined ? { messageId: r.messageId } : {}),
      ...(r.file !== undefined ? { file: `s3://${deps.reportBucket}/${r.file}` } : {}),
      ...(r.error !== undefined ? { error: r.error } : {}),
    })),
    noticeDiffs,
  });
  const store = new S3ReportStore(deps.s3, { bucket: deps.reportBucket });
  const reportKey = runKey(runId, 'report.json');
  const csvKey = runKey(runId, 'usage.csv');
  await store.put(reportKey, reportToJson(report), 'application/json');
  await store.put(csvKey, reportToCsv(report), 'text/csv; charset=utf-8');
  const reportUrl =
    `https://s3.console.aws.amazon.com/s3/object/${encodeURIComponent(deps.reportBucket)}` +
    `?region=${encodeURIComponent(deps.region)}&prefix=${encodeURIComponent(reportKey)}`;
  const failedNotices = results.filter((r) => r.status === 'failed').length;
  logger.info('published report', { runId, reportKey, csvKey, notices: results.length, failedNotices });
  return { failedNotices, reportKey, csvKey, reportUrl };
}

let deps: PublishDeps | undefined;

function coldStart(): PublishDeps {
  const env = loadEnv(['REPORT_BUCKET', 'AWS_REGION', 'AWS_ENDPOINT_URL_S3']);
  return {
    s3: s3Client(env),
    reportBucket: env.REPORT_BUCKET,
    region: env.AWS_REGION ?? 'us-east-1',
    clock: { now: () => new Date() },
  };
}

export const handler = (event: unknown): Promise<PublishOutput> => {
  deps ??= coldStart();
  const d = deps;
  return asStep(() => publish(d, event));
};
