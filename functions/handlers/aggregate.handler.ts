/**
 * Step 3 of the per-partner evaluation (issue 13): Athena attributes and sums the rollup for the whole
 * window in two statements whose results leave by UNLOAD to the report bucket, the daily sums in one
 * folder per partner; this step then writes the run's context (`aggregate.json`) and the work items
 * (`partners.json`) that the EvaluatePartners Map reads from S3, and returns only their keys. It also
 * records the rollup watermark (the roll-up succeeded) and reads the data's end and the input
 * summary, as the whole-window evaluate step it replaced did.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import {
  AthenaUsageUnloader,
  NETWORK_FINDINGS_FOLDERS,
  type UnloadedUsageLocation,
  unloadedUsageLocation,
} from '../adapters/athena/athena-aggregated-usage.js';
import type { AthenaQueryRunner } from '../adapters/athena/athena-client.js';
import { athenaInputSummary } from '../adapters/athena/athena-usage-source.js';
import type { AthenaTables } from '../adapters/athena/sql.js';
import { WATERMARK_PK } from '../adapters/dynamodb/watermark-item.js';
import type { AggregationTables } from '../adapters/sql/usage-aggregation-sql.js';
import { type WindowPlan, windowAggregationRequests } from '../audit/evaluate-partner.js';
import { planPeriods } from '../audit/evaluate-window.js';
import { holdingsPlan } from '../audit/read-holdings.js';
import { DEFAULT_SETTLING_DAYS } from '../audit/run-window.js';
import { systemClock } from '../audit/system-clock.js';
import { declaredNetworkRows, noticeFindingsDates } from '../domain/network-findings.js';
import type { Partner, Registry } from '../domain/registry.js';
import type { Clock, RollupWatermark } from '../ports.js';
import { type AggregateDocument, writeAggregate, writeItems } from './aggregate-document.js';
import { athenaRunner, athenaTables } from './aws/athena.js';
import { dynamoDbWatermarkWriter } from './aws/dynamodb-watermark-writer.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { InvalidInputError, parseStepInput } from './errors.js';
import { runKey } from './evaluation-document.js';
import { lambdaStep } from './lambda-step.js';
import { logger } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, RUN_ATHENA_QUERIES, type SdkAction } from './sdk-actions.js';
import { type AggregateOutput, EvaluateInputSchema } from './step-contracts.js';
import type { StepContext } from './step-deadline.js';
import { inputDeliveryDates, startWindow } from './window-start.js';

/**
 * What this step sends to AWS (see sdk-actions.ts): the queries (the UNLOADs write to the report
 * bucket as this role: Reports.grantUnloadRuns), its two objects, the watermark.
 */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  ...RUN_ATHENA_QUERIES,
  {
    action: 's3:PutObject',
    on: [
      { s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/aggregate.json' } },
      { s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/partners.json' } },
    ],
  },
  {
    action: 'dynamodb:UpdateItem',
    on: [{ dynamodbItem: { tableEnv: 'LEDGER_TABLE', leadingKey: WATERMARK_PK } }],
  },
];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [
  { tableEnv: 'ROLLUP_TABLE', write: false },
  { tableEnv: 'REGISTRY_PRINCIPALS_TABLE', write: false },
  { tableEnv: 'REGISTRY_CONTRACT_TERMS_TABLE', write: false },
  { tableEnv: 'REGISTRY_IGNORED_REQUESTERS_TABLE', write: false },
  { tableEnv: 'REGISTRY_NETWORKS_TABLE', write: false },
];

export interface AggregateDeps {
  readonly runner: AthenaQueryRunner;
  readonly tables: AthenaTables;
  /** The registry's Glue tables the statements attribute with. */
  readonly registryTables: Pick<AggregationTables, 'principals' | 'contractTerms' | 'ignoredRequesters'> & {
    /**
     * The declared networks' Glue table, for the network findings (NETWORKS.md).
     * @default none: the run computes no network findings
     */
    readonly networks?: string;
  };
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
  readonly watermark?: Pick<RollupWatermark, 'advance'>;
  /** Used when the payload has no settling. @default DEFAULT_SETTLING_DAYS */
  readonly settlingDays?: number;
}

export async function aggregate(
  deps: AggregateDeps,
  event: unknown,
  context?: StepContext,
): Promise<AggregateOutput> {
  const input = parseStepInput(EvaluateInputSchema, event, 'aggregate');
  const { registry, hash } = await deps.loadRegistry();
  const window = input.window;
  let selected: ReturnType<typeof windowAggregationRequests>['partners'];
  try {
    // Before any query: an unknown partner is a bad payload, not a reason to scan.
    selected = windowAggregationRequests(registry, input.partners, { window }).partners;
  } catch (error) {
    throw new InvalidInputError(`aggregate input: partners: ${(error as Error).message}`, { cause: error });
  }
  const { runner, usage, dataEndMs } = await startWindow(deps, input, context);
  const settlingDays = input.settling?.settlingDays ?? deps.settlingDays ?? DEFAULT_SETTLING_DAYS;
  const dataThroughMs = input.settling ? Date.parse(input.settling.dataThrough) : dataEndMs;
  const plan: WindowPlan = {
    window,
    ...(dataEndMs !== undefined ? { dataEndMs } : {}),
    settling: { settlingDays, dataThroughMs: dataThroughMs ?? Number.NEGATIVE_INFINITY },
  };
  const requests = windowAggregationRequests(registry, input.partners, plan);
  const unloader = new AthenaUsageUnloader(
    runner,
    { database: deps.tables.database, rollup: deps.tables.rollupTable, ...deps.registryTables },
    input.runId,
  );
  // Each UNLOAD writes into a folder named after its submission (Athena unloads only into an empty
  // folder): a retry resumes a finished UNLOAD by its token and keeps its folder, and a new submission
  // (the earlier one failed, or the data's end moved) writes into an empty one. The document names the
  // folders written; an earlier submission's folder stays with the run's other objects, read by no one.
  let location = unloadedUsageLocation(
    deps.reportBucket,
    runKey(input.runId, ''),
    registry.settings.holdings,
  );
  if (requests.daily)
    location = await unloader.unloadPartnerDailyUsagePerSubmission(requests.daily, location);
  location = await unloader.unloadUnattributedUsagePerSubmission(requests.unattributed, location);
  location = await unloadNetworkFindings(deps, unloader, registry, selected, plan, location, input.runId);
  // What each selected partner holds over the window (HOLDINGS.md), when the registry keeps holdings:
  // the rollup's held grain, unloaded by partner as the daily sums are, so each Assess reads its own.
  if (registry.settings.holdings) {
    const held = holdingsPlan(registry, {
      from: window.from,
      to: window.to,
      ...(input.partners.length > 0 ? { partners: input.partners } : {}),
    });
    location = await unloader.unloadHoldingsPerSubmission(held.query, location);
  }
  const inputSummary = await athenaInputSummary(runner, deps.tables, input.runId, inputDeliveryDates(window));
  const { bytesScanned, query: inputQuery, ...summary } = inputSummary;
  const doc: AggregateDocument = {
    version: 1,
    runId: input.runId,
    partners: input.partners,
    dryRun: input.dryRun,
    reason: input.reason,
    registryHash: hash,
    plan,
    unloaded: location,
    input: summary,
    bytesScanned: usage.bytesScanned + unloader.bytesScanned + bytesScanned,
    queries: [...usage.queries, ...unloader.queries, inputQuery],
    tables: deps.tables,
  };
  const aggregateKey = await writeAggregate(deps.s3, deps.reportBucket, doc);
  const itemsKey = await writeItems(
    deps.s3,
    deps.reportBucket,
    input.runId,
    selected.map((p) => ({ partnerId: p.id })),
  );
  logger.info('aggregated window', {
    runId: input.runId,
    aggregateKey,
    itemsKey,
    partners: selected.length,
    bytesScanned: doc.bytesScanned,
  });
  return {
    runId: input.runId,
    aggregateKey,
    itemsBucket: deps.reportBucket,
    itemsKey,
    partners: selected.length,
    dryRun: input.dryRun,
  };
}

/**
 * The network findings (NETWORKS.md) by partner, when the registry declares networks: over the window's
 * local dates (the report's), and over the dates of the periods evaluated when they reach further (what
 * an unexplained-access notice asks), as the local CLI asks them (functions/cli/local-audit.ts).
 */
async function unloadNetworkFindings(
  deps: AggregateDeps,
  unloader: AthenaUsageUnloader,
  registry: Registry,
  selected: readonly Partner[],
  plan: WindowPlan,
  location: UnloadedUsageLocation,
  runId: string,
): Promise<UnloadedUsageLocation> {
  const networks = deps.registryTables.networks;
  if (networks === undefined || declaredNetworkRows(registry).length === 0) return location;
  const window = { fromDate: plan.window.from, toDate: plan.window.to };
  const base = runKey(runId, '');
  const networkPrefix = await unloader.unloadNetworkFindingsPerSubmission(
    networks,
    window,
    location.bucket,
    `${base}${NETWORK_FINDINGS_FOLDERS.window}`,
  );
  const periods = planPeriods(selected, plan.window, plan.dataEndMs).map((p) => p.period);
  const notice = noticeFindingsDates(plan.window, periods);
  const networkNoticePrefix =
    notice.fromDate === window.fromDate && notice.toDate === window.toDate
      ? networkPrefix
      : await unloader.unloadNetworkFindingsPerSubmission(
          networks,
          notice,
          location.bucket,
          `${base}${NETWORK_FINDINGS_FOLDERS.notice}`,
        );
  return { ...location, networkPrefix, networkNoticePrefix };
}

function coldStart(): AggregateDeps {
  const env = loadEnv([
    'ATHENA_WORKGROUP',
    'GLUE_DATABASE',
    'LOGS_TABLE',
    'ROLLUP_TABLE',
    'REGISTRY_PRINCIPALS_TABLE',
    'REGISTRY_CONTRACT_TERMS_TABLE',
    'REGISTRY_IGNORED_REQUESTERS_TABLE',
    'REGISTRY_NETWORKS_TABLE',
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
    registryTables: {
      principals: env.REGISTRY_PRINCIPALS_TABLE,
      contractTerms: env.REGISTRY_CONTRACT_TERMS_TABLE,
      ignoredRequesters: env.REGISTRY_IGNORED_REQUESTERS_TABLE,
      networks: env.REGISTRY_NETWORKS_TABLE,
    },
    s3,
    reportBucket: env.REPORT_BUCKET,
    loadRegistry: () => loadRegistry(s3, env),
    clock: systemClock,
  };
}

export const handler = lambdaStep(coldStart, aggregate);
