/**
 * Step 5: write the run's report to the report bucket: `runs/<runId>/report.json` (the schema of
 * functions/domain/report.ts) and `usage.csv`, next to the notice copies notify left there. The
 * report's evidence lists the run's Athena statements with the bytes each scanned: the rollups' from
 * the RollUp Map's results (`rollups`, optional) and the evaluation's from its document.
 *
 * Failed notices are reported, not thrown: the state machine fails the run after this step when any
 * notify result says `failed`, so the report exists when the alarm fires. A partner whose notify step
 * failed outright reaches here as `{ partnerId, failed: true, error, cause }` (the Map's catch); its
 * notices are reported as failed at the highest level each of its periods reached.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isBatch, replaceBatchRollupSql } from '../adapters/athena/sql.js';
import { S3ReportStore } from '../adapters/s3/s3-report-store.js';
import { renderReportHtml } from '../domain/html-report.js';
import type { NoticeDiff } from '../domain/notices.js';
import { buildReport, type EvidenceQuery, reportToCsv, reportToJson } from '../domain/report.js';
import type { Clock } from '../ports.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { asStep, InvalidInputError } from './errors.js';
import { type EvaluationDocument, RunIdSchema, readEvaluation, runKey } from './evaluation-document.js';
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

/** The RollUp Map's results (`$.rollups`), each as the rollup step returned it. */
const RollupResultSchema = z.object({
  batch: z.string().max(10),
  queryExecutionIds: z.array(z.string().max(128)).max(10).default([]),
  bytesScanned: z.number().int().nonnegative(),
  datasetDepth: z.number().int().optional(),
  manifestTable: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,127}$/, 'must be a Glue table name')
    .optional(),
  requestIdLookbackDays: z.number().int().min(0).max(31).optional(),
});

export const PublishInputSchema = z.object({
  runId: RunIdSchema,
  evaluationKey: z.string().min(1).max(1024),
  /** Optional so that a state machine that does not pass them still publishes (with evaluate's only). */
  rollups: z.array(RollupResultSchema).max(400).default([]),
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
  /** Athena bytes scanned by the run: its rollups and its evaluation (the report lists each query). */
  readonly bytesScanned: { readonly rollup: number; readonly evaluate: number; readonly total: number };
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
  /** The registry, so the report can state each contract's daily caps; without it they are null. */
  readonly loadRegistry?: () => Promise<LoadedRegistry>;
}

export async function publish(deps: PublishDeps, event: unknown): Promise<PublishOutput> {
  const parsed = PublishInputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `publish input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`,
    );
  }
  const { runId, evaluationKey, notifyResults, rollups } = parsed.data;
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
  const registry = deps.loadRegistry ? (await deps.loadRegistry()).registry : undefined;
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
    ...(registry ? { registry } : {}),
    evidence: {
      inputFiles: [],
      queries: runQueries(doc, rollups),
      registrySource: `registry sha256 ${doc.registryHash}`,
    },
  });
  const store = new S3ReportStore(deps.s3, { bucket: deps.reportBucket });
  const reportKey = runKey(runId, 'report.json');
  const csvKey = runKey(runId, 'usage.csv');
  // report.json last: where it exists, the run's outputs are complete (a failed write is retried whole).
  await store.put(csvKey, reportToCsv(report), 'text/csv; charset=utf-8');
  await store.put(runKey(runId, 'report.html'), renderReportHtml(report), 'text/html; charset=utf-8');
  await store.put(reportKey, reportToJson(report), 'application/json');
  const rollupBytes = rollups.reduce((n, r) => n + r.bytesScanned, 0);
  const bytesScanned = {
    rollup: rollupBytes,
    evaluate: doc.bytesScanned,
    total: rollupBytes + doc.bytesScanned,
  };
  const reportUrl =
    `https://s3.console.aws.amazon.com/s3/object/${encodeURIComponent(deps.reportBucket)}` +
    `?region=${encodeURIComponent(deps.region)}&prefix=${encodeURIComponent(reportKey)}`;
  const failedNotices = results.filter((r) => r.status === 'failed').length;
  logger.info('published report', {
    runId,
    reportKey,
    csvKey,
    notices: results.length,
    failedNotices,
    bytesScanned,
  });
  return { failedNotices, bytesScanned, reportKey, csvKey, reportUrl };
}

/**
 * The run's Athena statements for the report's evidence, each with the bytes it scanned: one MERGE per
 * rolled-up delivery date (its text rebuilt from the tables, dataset depth and manifest table it ran
 * with), then the evaluate step's reads of the rollup.
 */
function runQueries(
  doc: EvaluationDocument,
  rollups: readonly z.infer<typeof RollupResultSchema>[],
): EvidenceQuery[] {
  const out: EvidenceQuery[] = rollups.map((r) => {
    const sql =
      doc.tables && r.datasetDepth !== undefined && isBatch(r.batch)
        ? replaceBatchRollupSql(
            { ...doc.tables, ...(r.manifestTable ? { manifestTable: r.manifestTable } : {}) },
            r.batch,
            { datasetDepth: r.datasetDepth, requestIdLookbackDays: r.requestIdLookbackDays ?? 0 },
          ).sql
        : '';
    return {
      purpose: `roll up delivery date ${r.batch}`,
      engine: 'athena',
      sql,
      ...(r.queryExecutionIds[0] !== undefined ? { queryExecutionId: r.queryExecutionIds.at(-1) } : {}),
      bytesScanned: r.bytesScanned,
    };
  });
  if (doc.queries) {
    for (const q of doc.queries) {
      out.push({
        purpose: q.purpose,
        engine: doc.engine,
        sql: q.sql,
        params: q.params,
        queryExecutionId: q.queryExecutionId,
        bytesScanned: q.bytesScanned,
      });
    }
  } else {
    out.push({
      purpose: 'evaluate (rollup reads)',
      engine: doc.engine,
      sql: '',
      bytesScanned: doc.bytesScanned,
    });
  }
  return out;
}

let deps: PublishDeps | undefined;

function coldStart(): PublishDeps {
  const env = loadEnv([
    'REPORT_BUCKET',
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'AWS_REGION',
    'AWS_ENDPOINT_URL_S3',
  ]);
  const s3 = s3Client(env);
  return {
    s3,
    loadRegistry: () => loadRegistry(s3, env),
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
