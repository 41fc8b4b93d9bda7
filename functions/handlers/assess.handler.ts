/**
 * One item of the EvaluatePartners Map (issue 13): evaluates one partner's billing periods in the
 * window from that partner's own folder of daily sums, which the aggregate step's UNLOAD wrote, and
 * leaves its part in the report bucket (`runs/<runId>/partners/<partnerId>.json`) for the assemble
 * step. No invocation reads another partner's sums, so the work of one stays bounded as partners grow.
 * Usage metrics of the partner go out as EMF, as the whole-window step sent them.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { UnloadedUsageReader } from '../adapters/athena/unloaded-usage-reader.js';
import { evaluatePartnerPart } from '../audit/evaluate-partner.js';
import { holdingsPlan } from '../audit/read-holdings.js';
import { systemClock } from '../audit/system-clock.js';
import { buildHoldingsSection, type PartnerHoldings } from '../domain/holdings.js';
import { reachesNoticeLevel } from '../domain/notices.js';
import type { Registry } from '../domain/registry.js';
import type { Clock } from '../ports.js';
import {
  type PartnerNetworkFindings,
  partKey,
  READ_AGGREGATE,
  readAggregate,
  writePart,
} from './aggregate-document.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { InvalidInputError, parseStepInput } from './errors.js';
import { lambdaStep } from './lambda-step.js';
import { logger, metrics } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, type SdkAction } from './sdk-actions.js';
import { AssessInputSchema, type AssessOutput } from './step-contracts.js';

/** What this step sends to AWS (see sdk-actions.ts): its own folder of sums in, its part out. */
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
      {
        s3Object: {
          bucketEnv: 'REPORT_BUCKET',
          key: 'runs/r1/aggregate/daily/0f3a9c1e5b7d2468/partner_id=acme/20260301_00000.gz',
        },
      },
      {
        s3Object: {
          bucketEnv: 'REPORT_BUCKET',
          key: 'runs/r1/aggregate/network/0f3a9c1e5b7d2468/partner_id=acme/20260301_00000.gz',
        },
      },
      {
        s3Object: {
          bucketEnv: 'REPORT_BUCKET',
          key: 'runs/r1/aggregate/network-notice/0f3a9c1e5b7d2468/partner_id=acme/20260301_00000.gz',
        },
      },
      // With holdings kept: the partner's folders of what it holds.
      {
        s3Object: {
          bucketEnv: 'REPORT_BUCKET',
          key: 'runs/r1/aggregate/held/0f3a9c1e5b7d2468/partner_id=acme/20260301_00000.gz',
        },
      },
      {
        s3Object: {
          bucketEnv: 'REPORT_BUCKET',
          key: 'runs/r1/aggregate/held-days/0f3a9c1e5b7d2468/partner_id=acme/20260301_00000.gz',
        },
      },
    ],
  },
  {
    action: 's3:PutObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/partners/acme.json' } }],
  },
];

export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface AssessDeps {
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
}

export async function assess(deps: AssessDeps, event: unknown): Promise<AssessOutput> {
  const input = parseStepInput(AssessInputSchema, event, 'assess');
  const doc = await readAggregate(deps.s3, deps.reportBucket, input.aggregateKey, input.runId);
  const { registry, hash } = await deps.loadRegistry();
  // The sums were attributed with the registry of the aggregate step; another one would mix two.
  if (hash !== doc.registryHash) {
    throw new InvalidInputError(
      `the registry changed since run ${input.runId} aggregated its usage (hash ${hash.slice(0, 12)}, was ${doc.registryHash.slice(0, 12)}): start a new run`,
    );
  }
  if (doc.partners.length > 0 && !doc.partners.includes(input.partnerId))
    throw new InvalidInputError(`partner "${input.partnerId}" is not one run ${input.runId} selected`);
  const reader = new UnloadedUsageReader(deps.s3, doc.unloaded);
  const daily = await reader.partnerDailyUsage(input.partnerId);
  let part: ReturnType<typeof evaluatePartnerPart>;
  try {
    part = evaluatePartnerPart(registry, input.partnerId, doc.plan, daily);
  } catch (error) {
    throw new InvalidInputError(`assess input: partnerId: ${(error as Error).message}`, { cause: error });
  }
  // The partner's network findings, from its own folders only (none when the run computed none).
  const { networkPrefix, networkNoticePrefix } = doc.unloaded;
  let network: PartnerNetworkFindings | undefined;
  if (networkPrefix !== undefined) {
    const findings = await reader.partnerNetworkFindings(input.partnerId, networkPrefix);
    const noticeFindings =
      networkNoticePrefix === undefined || networkNoticePrefix === networkPrefix
        ? findings
        : await reader.partnerNetworkFindings(input.partnerId, networkNoticePrefix);
    network = { findings, noticeFindings };
  }
  // What the partner holds (HOLDINGS.md), from its own folders, when the aggregate step unloaded them.
  const holdings =
    doc.unloaded.heldPrefix === undefined
      ? undefined
      : await partnerHoldings(reader, registry, input.partnerId, doc.plan.window);
  await writePart(deps.s3, deps.reportBucket, input.runId, {
    ...part,
    ...(network === undefined ? {} : { network }),
    ...(holdings === undefined ? {} : { holdings }),
  });
  for (const e of part.evaluations) {
    const m = metrics.singleMetric();
    m.addDimensions({ partner: e.partnerId, period: e.period.id });
    m.addMetric('Requests', MetricUnit.Count, Number(e.totals.requests));
    m.addMetric('BytesSent', MetricUnit.Bytes, Number(e.totals.bytesSent));
    m.addMetric('OverageFeeMinor', MetricUnit.Count, Number(e.fees.totalMinor));
    const bp = e.metrics.reduce(
      (max, f) => (f.utilisationBp !== undefined && f.utilisationBp > max ? f.utilisationBp : max),
      0n,
    );
    m.addMetric('UtilisationPercent', MetricUnit.Percent, Number(bp) / 100);
  }
  const out: AssessOutput = {
    partnerId: input.partnerId,
    partKey: partKey(input.runId, input.partnerId),
    periods: part.evaluations.length,
    reachesNoticeLevel: part.evaluations.some(reachesNoticeLevel),
  };
  logger.info('evaluated partner', { runId: input.runId, ...out, dailyRows: daily.length });
  return out;
}

async function partnerHoldings(
  reader: UnloadedUsageReader,
  registry: Registry,
  partnerId: string,
  window: { readonly from: string; readonly to: string },
): Promise<PartnerHoldings> {
  const { partners } = holdingsPlan(registry, { from: window.from, to: window.to, partners: [partnerId] });
  const rows = await reader.partnerHeldDatasets(partnerId);
  const days = await reader.partnerHeldDays(partnerId);
  return buildHoldingsSection(window, partners, rows, days).partners[0]!;
}

function coldStart(): AssessDeps {
  const env = loadEnv(['REGISTRY_BUCKET', 'REGISTRY_KEY', 'REPORT_BUCKET', 'AWS_ENDPOINT_URL_S3']);
  const s3 = s3Client(env);
  return {
    s3,
    reportBucket: env.REPORT_BUCKET,
    loadRegistry: () => loadRegistry(s3, env),
    clock: systemClock,
  };
}

export const handler = lambdaStep(coldStart, assess, { after: () => metrics.publishStoredMetrics() });
