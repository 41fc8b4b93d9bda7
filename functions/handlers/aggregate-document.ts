/**
 * What the aggregate step leaves in the report bucket for the partner steps and the assemble step
 * (step payloads carry only keys): the run's context (`aggregate.json`), the work items (`partners.json`,
 * what the EvaluatePartners Map reads with its S3 ItemReader), and one part per partner
 * (`partners/<partnerId>.json`).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { UnloadedUsageLocation } from '../adapters/athena/athena-aggregated-usage.js';
import type { RecordedQuery } from '../adapters/athena/athena-usage-source.js';
import type { AthenaTables } from '../adapters/athena/sql.js';
import { readS3Text, S3ReportStore } from '../adapters/s3/s3-report-store.js';
import type { PartnerPart, WindowPlan } from '../audit/evaluate-partner.js';
import type { PartnerHoldings } from '../domain/holdings.js';
import type { NetworkFinding } from '../domain/network-findings.js';
import type { InputSummary } from '../ports.js';
import { InvalidInputError } from './errors.js';
import { runKey } from './evaluation-document.js';
import { fromJsonWithBigInts, toJsonWithBigInts } from './json-codec.js';
import type { SdkAction } from './sdk-actions.js';

/** The run's context, written once by the aggregate step. */
export interface AggregateDocument {
  readonly version: 1;
  readonly runId: string;
  /** The partners the run selected (empty: all), as Plan gave them. */
  readonly partners: readonly string[];
  readonly dryRun: boolean;
  readonly reason: string | null;
  /** The registry the statements attributed with; every later step checks it reads the same one. */
  readonly registryHash: string;
  readonly plan: WindowPlan;
  readonly unloaded: UnloadedUsageLocation;
  readonly input: InputSummary;
  /** Athena bytes scanned by this step's queries. */
  readonly bytesScanned: number;
  readonly queries: readonly RecordedQuery[];
  readonly tables: AthenaTables;
}

/**
 * One partner's network findings (NETWORKS.md), read by its partner step from its own folders of the
 * aggregate step's UNLOADs: over the window's dates (the report's), and over the evaluated periods'
 * dates (what the unexplained-access notice asks).
 */
export interface PartnerNetworkFindings {
  readonly findings: readonly NetworkFinding[];
  readonly noticeFindings: readonly NetworkFinding[];
}

/**
 * A partner step's part: its evaluations, its network findings when the run computed them, and what the
 * partner holds over the window when the run unloaded holdings (the registry keeps them, HOLDINGS.md).
 */
export type PartnerPartDocument = PartnerPart & {
  readonly network?: PartnerNetworkFindings;
  readonly holdings?: PartnerHoldings;
};

/** One work item of the EvaluatePartners Map. */
export interface PartnerItem {
  readonly partnerId: string;
}

const PARTNER_ID = /^[a-z0-9][a-z0-9-_]{0,62}$/;

/** `runs/<runId>/partners/<partnerId>.json`: a partner id is a registry id, safe in a key. */
export function partKey(runId: string, partnerId: string): string {
  if (!PARTNER_ID.test(partnerId))
    throw new InvalidInputError(`partner id "${partnerId.slice(0, 140)}" is not a registry id`);
  return runKey(runId, `partners/${partnerId}.json`);
}

/** What the partner and assemble steps read of the aggregate step's objects (see sdk-actions.ts). */
export const READ_AGGREGATE: SdkAction = {
  action: 's3:GetObject',
  on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/aggregate.json' } }],
};

async function put(client: S3Client, bucket: string, key: string, body: string): Promise<string> {
  await new S3ReportStore(client, { bucket }).put(key, body, 'application/json');
  return key;
}

export function writeAggregate(client: S3Client, bucket: string, doc: AggregateDocument): Promise<string> {
  return put(client, bucket, runKey(doc.runId, 'aggregate.json'), toJsonWithBigInts(doc));
}

/** The aggregate document at `key`, refused when it is another run's. */
export async function readAggregate(
  client: S3Client,
  bucket: string,
  key: string,
  runId: string,
): Promise<AggregateDocument> {
  const doc = fromJsonWithBigInts<AggregateDocument>(await readS3Text(client, bucket, key));
  if (doc.version !== 1) throw new InvalidInputError(`s3://${bucket}/${key} is not an aggregate document`);
  if (doc.runId !== runId) throw new InvalidInputError(`${key} belongs to run ${doc.runId}, not ${runId}`);
  return doc;
}

export function writeItems(
  client: S3Client,
  bucket: string,
  runId: string,
  items: readonly PartnerItem[],
): Promise<string> {
  return put(client, bucket, runKey(runId, 'partners.json'), JSON.stringify(items));
}

export async function readItems(client: S3Client, bucket: string, key: string): Promise<PartnerItem[]> {
  const items = JSON.parse(await readS3Text(client, bucket, key)) as unknown;
  if (!Array.isArray(items) || !items.every((i) => typeof i?.partnerId === 'string'))
    throw new InvalidInputError(`s3://${bucket}/${key} is not a list of { "partnerId": ... }`);
  return items as PartnerItem[];
}

export function writePart(
  client: S3Client,
  bucket: string,
  runId: string,
  part: PartnerPartDocument,
): Promise<string> {
  return put(client, bucket, partKey(runId, part.partnerId), toJsonWithBigInts(part));
}

export async function readPart(
  client: S3Client,
  bucket: string,
  runId: string,
  partnerId: string,
): Promise<PartnerPartDocument> {
  const key = partKey(runId, partnerId);
  const part = fromJsonWithBigInts<PartnerPartDocument>(await readS3Text(client, bucket, key));
  if (part.partnerId !== partnerId)
    throw new InvalidInputError(`${key} holds partner ${part.partnerId}, not ${partnerId}`);
  return part;
}
