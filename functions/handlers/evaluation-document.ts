/**
 * What the evaluate step hands to notify and publish through the report bucket (step payloads are
 * capped at 256 KiB, so they carry only its key): the window's evaluation and what the report needs.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { RecordedQuery } from '../adapters/athena/athena-usage-source.js';
import type { AthenaTables } from '../adapters/athena/sql.js';
import { readS3Text, S3ReportStore } from '../adapters/s3/s3-report-store.js';
import type { AuditWindow, WindowEvaluation } from '../audit/evaluate-window.js';
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import type { HoldingsSection } from '../domain/holdings.js';
import type { NetworkFinding } from '../domain/network-findings.js';
import type { InputSummary } from '../ports.js';
import { InvalidInputError } from './errors.js';
import { fromJsonWithBigInts, toJsonWithBigInts } from './json-codec.js';
import type { SdkAction } from './sdk-actions.js';
import { PartnerIdSchema, RUN_ID, RunIdSchema } from './step-contracts.js';

export interface EvaluationDocument {
  readonly version: 1;
  readonly runId: string;
  readonly window: AuditWindow;
  readonly partners: readonly string[];
  readonly dryRun: boolean;
  readonly reason: string | null;
  readonly registryHash: string;
  readonly evaluatedAt: string;
  readonly engine: string;
  readonly input: InputSummary;
  readonly evaluation: WindowEvaluation;
  /** Athena bytes scanned by this step's queries. */
  readonly bytesScanned: number;
  readonly queryExecutionIds: readonly string[];
  /** This step's statements, for the report's evidence (absent in documents written before). */
  readonly queries?: readonly RecordedQuery[];
  /** Where the statements ran, so publish can state the rollup statements too (absent before). */
  readonly tables?: AthenaTables;
  /** What the partners hold over the window, when the registry keeps holdings (HOLDINGS.md). */
  readonly holdings?: HoldingsSection;
  /**
   * The network findings (NETWORKS.md), put together from the partners' parts: over the window's dates
   * (report.json's networkFindings, with each partner's window start in its zone) and over the evaluated
   * periods' dates (the unexplained-access notice's). Absent in documents written before.
   */
  readonly network?: {
    readonly findings: readonly NetworkFinding[];
    readonly noticeFindings: readonly NetworkFinding[];
    readonly windowStartMs: Readonly<Record<string, number>>;
  };
}

export { PartnerIdSchema, RunIdSchema };

/** Key of a run's objects in the report bucket: `runs/<runId>/<name>`. */
export function runKey(runId: string, name: string): string {
  if (!RUN_ID.test(runId))
    throw new InvalidInputError(`run id "${runId.slice(0, 140)}" is not a safe key part`);
  return `runs/${runId}/${name}`;
}

/** What reading a run's evaluation document sends (see sdk-actions.ts). */
export const READ_EVALUATION: SdkAction = {
  action: 's3:GetObject',
  on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/evaluation.json' } }],
};

/**
 * Where notify keeps what it returns for one partner (`runs/<runId>/notify/<partnerId>.json`): the
 * Notify Map keeps only `partnerId` and `failed` of each partner in the execution's state, so that
 * 1,000 partners' results do not pass 256 KiB; publish reads the rest from here.
 */
export function notifyOutputKey(runId: string, partnerId: string): string {
  if (!/^[a-z0-9][a-z0-9-_]{0,62}$/.test(partnerId))
    throw new InvalidInputError(`partner id "${partnerId.slice(0, 140)}" is not a registry id`);
  return runKey(runId, `notify/${partnerId}.json`);
}

/** What keeping a run's notice copies (`runs/<runId>/notices/`) sends. */
export const KEEP_NOTICE_COPIES: SdkAction = {
  action: 's3:PutObject',
  on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/notices/acme-2026-03-overage.eml' } }],
};

export async function writeEvaluation(
  client: S3Client,
  bucket: string,
  doc: EvaluationDocument,
): Promise<string> {
  const key = runKey(doc.runId, 'evaluation.json');
  await new S3ReportStore(client, { bucket }).put(key, toJsonWithBigInts(doc), 'application/json');
  return key;
}

export async function readEvaluation(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<EvaluationDocument> {
  const doc = fromJsonWithBigInts<EvaluationDocument>(await readS3Text(client, bucket, key));
  if (doc.version !== 1) throw new InvalidInputError(`s3://${bucket}/${key} is not an evaluation document`);
  return doc;
}

/**
 * The evaluations of one partner in run `runId`'s evaluation document (notify's input): refused when
 * the document is another run's or holds none of that partner.
 */
export async function readPartnerEvaluations(
  client: S3Client,
  bucket: string,
  key: string,
  input: { readonly runId: string; readonly partnerId: string },
): Promise<{
  readonly evaluatedAt: string;
  readonly evaluations: PartnerPeriodEvaluation[];
  /** The partner's network findings over the evaluated periods' dates, when the run computed them. */
  readonly noticeFindings?: NetworkFinding[];
}> {
  const doc = await readEvaluation(client, bucket, key);
  if (doc.runId !== input.runId)
    throw new InvalidInputError(`${key} belongs to run ${doc.runId}, not ${input.runId}`);
  const evaluations = doc.evaluation.evaluations.filter((e) => e.partnerId === input.partnerId);
  if (evaluations.length === 0)
    throw new InvalidInputError(`${key} holds no evaluation of partner "${input.partnerId}"`);
  return {
    evaluatedAt: doc.evaluatedAt,
    evaluations,
    ...(doc.network
      ? { noticeFindings: doc.network.noticeFindings.filter((f) => f.partnerId === input.partnerId) }
      : {}),
  };
}
