/**
 * After the EvaluatePartners Map (issue 13): puts the partners' parts and the unattributed pairs back
 * together into the run's evaluation document (`evaluation.json`, the EvaluationDocument the notify and
 * publish steps read, unchanged) and returns the evaluate steps' output (EvaluateOutputSchema): its key and
 * the partners a notice may be due to. The parts are read by the keys of the work items, not from the
 * Map's output, so no state carries every partner's result.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { UnloadedUsageReader } from '../adapters/athena/unloaded-usage-reader.js';
import { assembleWindowEvaluation } from '../audit/evaluate-partner.js';
import { systemClock } from '../audit/system-clock.js';
import type { HoldingsSection } from '../domain/holdings.js';
import { compareNetworkFindings, dueNetworkNotice, networkWindowStarts } from '../domain/network-findings.js';
import { reachesNoticeLevel } from '../domain/notices.js';
import type { Clock } from '../ports.js';
import {
  type PartnerPartDocument,
  READ_AGGREGATE,
  readAggregate,
  readItems,
  readPart,
} from './aggregate-document.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { InvalidInputError, parseStepInput } from './errors.js';
import { type EvaluationDocument, writeEvaluation } from './evaluation-document.js';
import { lambdaStep } from './lambda-step.js';
import { logger } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, type SdkAction } from './sdk-actions.js';
import { AssembleInputSchema, type EvaluateOutput } from './step-contracts.js';

/** What this step sends to AWS (see sdk-actions.ts): the parts and the unattributed pairs in, the evaluation out. */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  READ_AGGREGATE,
  {
    action: 's3:ListBucket',
    on: [{ s3Prefix: { bucketEnv: 'REPORT_BUCKET', prefix: 'runs/' } }],
  },
  {
    action: 's3:GetObject',
    on: [
      { s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/partners.json' } },
      { s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/partners/acme.json' } },
      {
        s3Object: {
          bucketEnv: 'REPORT_BUCKET',
          key: 'runs/r1/aggregate/unattributed/0f3a9c1e5b7d2468/20260301_00000.gz',
        },
      },
    ],
  },
  {
    action: 's3:PutObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/evaluation.json' } }],
  },
];

export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface AssembleDeps {
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
  /** Parts read at once. @default 16 */
  readonly readConcurrency?: number;
}

export async function assemble(deps: AssembleDeps, event: unknown): Promise<EvaluateOutput> {
  const input = parseStepInput(AssembleInputSchema, event, 'assemble');
  const doc = await readAggregate(deps.s3, deps.reportBucket, input.aggregateKey, input.runId);
  const { registry, hash } = await deps.loadRegistry();
  if (hash !== doc.registryHash) {
    throw new InvalidInputError(
      `the registry changed since run ${input.runId} aggregated its usage: start a new run`,
    );
  }
  const items = await readItems(deps.s3, deps.reportBucket, input.itemsKey);
  const parts: PartnerPartDocument[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      parts[i] = await readPart(deps.s3, deps.reportBucket, input.runId, items[i]!.partnerId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.readConcurrency ?? 16, items.length) }, worker));
  const strangers = await new UnloadedUsageReader(deps.s3, doc.unloaded).unattributedUsage();
  const evaluation = assembleWindowEvaluation(registry, doc.plan, parts, strangers);
  // The partners' network findings in the engines' order (kind first, then partner).
  const network = {
    findings: parts.flatMap((p) => p.network?.findings ?? []).sort(compareNetworkFindings),
    noticeFindings: parts.flatMap((p) => p.network?.noticeFindings ?? []).sort(compareNetworkFindings),
    windowStartMs: networkWindowStarts(registry, doc.plan.window),
  };
  // The holdings section, when the run unloaded holdings: each part's partner, in registry order.
  const holdings: HoldingsSection | undefined =
    doc.unloaded.heldPrefix === undefined
      ? undefined
      : {
          from: doc.plan.window.from,
          to: doc.plan.window.to,
          partners: registry.partners.flatMap((p) => {
            const part = parts.find((x) => x.partnerId === p.id);
            if (part === undefined) return [];
            if (part.holdings === undefined)
              throw new InvalidInputError(
                `the part of partner ${p.id} holds no holdings, which run ${input.runId} unloaded`,
              );
            return [part.holdings];
          }),
        };
  const evaluationDoc: EvaluationDocument = {
    version: 1,
    runId: input.runId,
    window: doc.plan.window,
    partners: doc.partners,
    dryRun: doc.dryRun,
    reason: doc.reason,
    registryHash: doc.registryHash,
    evaluatedAt: deps.clock.now().toISOString(),
    engine: 'athena',
    input: doc.input,
    evaluation,
    bytesScanned: doc.bytesScanned,
    queryExecutionIds: doc.queries.map((q) => q.queryExecutionId),
    queries: doc.queries,
    tables: doc.tables,
    network,
    ...(holdings === undefined ? {} : { holdings }),
  };
  const evaluationKey = await writeEvaluation(deps.s3, deps.reportBucket, evaluationDoc);
  // A partner gets a notify step when a period reaches a notice level, or when an unexplained-access
  // notice may be due (the notify step checks the ledger for one already sent).
  const partnersToNotify = [
    ...new Set(
      evaluation.evaluations
        .filter(
          (e) =>
            reachesNoticeLevel(e) || dueNetworkNotice(registry, e, network.noticeFindings, []).length > 0,
        )
        .map((e) => e.partnerId),
    ),
  ].map((partnerId) => ({ partnerId }));
  logger.info('assembled evaluation', {
    runId: input.runId,
    evaluationKey,
    partners: items.length,
    periods: evaluation.evaluations.length,
    partnersToNotify: partnersToNotify.length,
  });
  return { runId: input.runId, evaluationKey, dryRun: doc.dryRun, partnersToNotify };
}

function coldStart(): AssembleDeps {
  const env = loadEnv(['REGISTRY_BUCKET', 'REGISTRY_KEY', 'REPORT_BUCKET', 'AWS_ENDPOINT_URL_S3']);
  const s3 = s3Client(env);
  return {
    s3,
    reportBucket: env.REPORT_BUCKET,
    loadRegistry: () => loadRegistry(s3, env),
    clock: systemClock,
  };
}

export const handler = lambdaStep(coldStart, assemble);
