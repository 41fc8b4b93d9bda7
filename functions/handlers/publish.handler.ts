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
import type { z } from 'zod';
import { isBatch, replaceBatchRollupSql } from '../adapters/athena/sql.js';
import { readS3Text } from '../adapters/s3/s3-read.js';
import { S3ReportStore } from '../adapters/s3/s3-report-store.js';
import { publishRunReport } from '../audit/run-planner.js';
import { systemClock } from '../audit/system-clock.js';
import { dueNotices, type NoticeDiff, reachesNoticeLevel } from '../domain/notices.js';
import type { EvidenceQuery } from '../domain/report.js';
import type { Clock } from '../ports.js';
import { renderReportHtml } from '../render/report-html.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { InvalidInputError, parseStepInput } from './errors.js';
import { type EvaluationDocument, notifyOutputKey, readEvaluation, runKey } from './evaluation-document.js';
import { lambdaStep } from './lambda-step.js';
import { logger } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, type SdkAction } from './sdk-actions.js';
import {
  NotifyOutputSchema,
  type NotifyResult,
  type PublishInput,
  PublishInputSchema,
  type PublishOutput,
  type RollupOutputSchema,
} from './step-contracts.js';

export type { PublishInput, PublishOutput };
export { PublishInputSchema };

/** What this step sends to AWS (see sdk-actions.ts): the evaluation in, the report files out. */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  {
    action: 's3:GetObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/evaluation.json' } }],
  },
  // A partner's notify output, where the Notify Map kept only whether it failed.
  {
    action: 's3:GetObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/notify/acme.json' } }],
  },
  { action: 's3:PutObject', on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/report.json' } }] },
];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface PublishDeps {
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly region: string;
  readonly clock: Clock;
  /** The registry, so the report can state each contract's daily caps; without it they are null. */
  readonly loadRegistry?: () => Promise<LoadedRegistry>;
}

export async function publish(deps: PublishDeps, event: unknown): Promise<PublishOutput> {
  const {
    runId,
    evaluationKey,
    notifyResults: given,
    rollups,
  } = parseStepInput(PublishInputSchema, event, 'publish');
  const doc = await readEvaluation(deps.s3, deps.reportBucket, evaluationKey);
  if (doc.runId !== runId)
    throw new InvalidInputError(`${evaluationKey} belongs to run ${doc.runId}, not ${runId}`);
  // The Notify Map keeps { partnerId, failed } of a partner whose step answered: the rest is in S3.
  const notifyResults = await Promise.all(
    given.map(async (n) => {
      if (n.results !== undefined || n.error !== undefined) return n;
      const key = notifyOutputKey(runId, n.partnerId);
      const kept = NotifyOutputSchema.safeParse(
        JSON.parse(await readS3Text(deps.s3, deps.reportBucket, key)),
      );
      if (!kept.success || kept.data.partnerId !== n.partnerId)
        throw new InvalidInputError(`${key} is not partner ${n.partnerId}'s notify output`);
      return { ...n, results: kept.data.results, noticeDiffs: kept.data.noticeDiffs };
    }),
  );
  const results: NotifyResult[] = notifyResults.flatMap((n) => {
    if (n.results) return n.results;
    // The notify step itself failed: what it would have sent is each period's highest level.
    const why = `notify step failed: ${[n.error, n.cause].filter(Boolean).join(': ') || 'no detail'}`;
    return doc.evaluation.evaluations
      .filter((e) => e.partnerId === n.partnerId && reachesNoticeLevel(e))
      .flatMap((e) => {
        // The highest actual level, and a forecast level that was due without any notice sent before.
        const levels = [
          ...(e.levels.length > 0 ? [e.levels[e.levels.length - 1]!.level] : []),
          ...dueNotices(e, [])
            .filter((d) => d.reached.basis === 'forecast')
            .map((d) => d.level),
        ];
        return levels.map((level) => ({
          partnerId: e.partnerId,
          periodId: e.period.id,
          level,
          status: 'failed' as const,
          covers: [],
          error: why,
        }));
      });
  });
  const noticeDiffs: NoticeDiff[] = notifyResults.flatMap((n) => n.noticeDiffs);
  const registry = deps.loadRegistry ? (await deps.loadRegistry()).registry : undefined;
  const store = new S3ReportStore(deps.s3, { bucket: deps.reportBucket });
  const reportKey = runKey(runId, 'report.json');
  const csvKey = runKey(runId, 'usage.csv');
  // The run planner writes report.json last: where it exists, the run's outputs are complete.
  await publishRunReport(
    { reports: store, clock: deps.clock, renderHtml: renderReportHtml },
    {
      runId,
      engine: doc.engine,
      window: doc.window,
      dryRun: doc.dryRun,
      ...(doc.reason !== null ? { reason: doc.reason } : {}),
      registryHash: doc.registryHash,
      input: doc.input,
      evaluations: doc.evaluation.evaluations,
      unattributed: doc.evaluation.unattributed,
      uncovered: doc.evaluation.uncovered,
      ...(doc.network
        ? { network: { findings: doc.network.findings, windowStartMs: doc.network.windowStartMs } }
        : {}),
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
      ...(doc.holdings === undefined ? {} : { holdings: doc.holdings }),
      evidence: {
        inputFiles: [],
        queries: runQueries(doc, rollups),
        registrySource: `registry sha256 ${doc.registryHash}`,
      },
    },
    { prefix: runKey(runId, '') },
  );
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
 * with), then the Aggregate step's reads of the rollup.
 */
function runQueries(
  doc: EvaluationDocument,
  rollups: readonly z.infer<typeof RollupOutputSchema>[],
): EvidenceQuery[] {
  const out: EvidenceQuery[] = rollups.map((r) => {
    if (r.skipped) {
      // No statement ran: the report says so, and why the batch's rollup was kept as it was.
      return {
        purpose: `skipped delivery date ${r.batch} (${r.skipped.reason}): ${r.skipped.detail}`,
        engine: 'athena',
        sql: '',
        bytesScanned: 0,
      };
    }
    const sql =
      doc.tables && isBatch(r.batch)
        ? replaceBatchRollupSql(
            { ...doc.tables, ...(r.manifestTable ? { manifestTable: r.manifestTable } : {}) },
            r.batch,
            {
              datasetDepth: r.datasetDepth,
              requestIdLookbackDays: r.requestIdLookbackDays ?? 0,
              holdings: r.holdings === true,
            },
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
    clock: systemClock,
  };
}

export const handler = lambdaStep(coldStart, publish);
