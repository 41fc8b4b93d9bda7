/**
 * Step 1: validate the execution input and plan the run: its id, the audit window, the partners and
 * the delivery-date batches to roll up.
 *
 * Execution input (console "Start execution", or EventBridge Scheduler):
 *   { "partners"?: string[], "from"?: "YYYY-MM-DD", "to"?: "YYYY-MM-DD" (exclusive),
 *     "dryRun"?: boolean, "reason"?: string, "scheduledTime"?: ISO instant, "executionName"?: string }
 *
 * Window and batches, with `today` the UTC date of `scheduledTime` (nightly) or of now (ad hoc):
 * - no from/to (nightly): batches are every delivery date after the rollup watermark through
 *   yesterday (run-window.ts: nightlyDeliveries), so a night the schedule skipped (a DST gap, a
 *   failed run) is caught up and a second run on one UTC date reads nothing twice; each log object is
 *   still read about once. The window runs from the first day of the oldest month that was not yet
 *   final for some partner before this run's deliveries (settlingWindow: settlingDays after its end,
 *   plus a day for zones west of UTC) to today, so late-delivered records of a closed month still
 *   count, its notices still go, and the run that makes it final evaluates it.
 *   The Aggregate step records the watermark once every batch has been rolled up.
 * - from and/or to (ad hoc): the window given, by the run planner's rule (run-planner.ts: `from`
 *   alone runs up to today, exclusive; `to` alone starts on the first of its month); batches: every delivery date from the day before `from` (partners east of UTC
 *   start their day then) to min(`to`, today). An ad hoc run thus re-reads its window's logs:
 *   idempotent, and correct even where a nightly run failed, at the cost of one scan of that window.
 *   It never moves the watermark (its last batch, today, is not complete).
 */
import { z } from 'zod';
import { WATERMARK_PK } from '../adapters/dynamodb/watermark-item.js';
import { selectPartners } from '../audit/evaluate-window.js';
import { newRunId, RunWindowError, requestedWindow, utcDate } from '../audit/run-planner.js';
import {
  checkSettlingDays,
  DEFAULT_SETTLING_DAYS,
  MAX_BATCHES_PER_RUN,
  nightlyDeliveries,
  settlingWindow,
} from '../audit/run-window.js';
import { systemClock } from '../audit/system-clock.js';
import { addDays, datesBetween, isIsoDate, startOfLocalDate } from '../domain/time.js';
import type { Clock, RollupWatermark } from '../ports.js';
import { dynamoDbWatermarkReader } from './aws/dynamodb-watermark-reader.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { describeIssues, InvalidInputError } from './errors.js';
import { lambdaStep } from './lambda-step.js';
import { logger } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, type SdkAction } from './sdk-actions.js';
import type { PlanOutput } from './step-contracts.js';

export type { PlanOutput };

const isoDate = z.string().refine(isIsoDate, 'must be a calendar date YYYY-MM-DD');

/** The documented execution input. Unknown fields are refused, so a typo is not silently ignored. */
export const ExecutionInputSchema = z.strictObject({
  partners: z.array(z.string().min(1).max(128)).max(1000).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
  dryRun: z.boolean().optional(),
  reason: z.string().max(1000).optional(),
  scheduledTime: z.iso.datetime({ offset: true }).optional(),
  /** The Step Functions execution name: a redriven execution keeps its run id. */
  executionName: z.string().min(1).max(80).optional(),
});
export type ExecutionInput = z.infer<typeof ExecutionInputSchema>;

/** The plan's word on how far the usage data reaches once the roll-up has succeeded. */
export type PlanSettling = PlanOutput['settling'];

/** What this step sends to AWS (see sdk-actions.ts): it reads the registry and the rollup watermark. */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  {
    action: 'dynamodb:GetItem',
    on: [{ dynamodbItem: { tableEnv: 'LEDGER_TABLE', leadingKey: WATERMARK_PK } }],
  },
];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface PlanDeps {
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
  /** The rollup watermark; without one every nightly run is the first (yesterday only). */
  readonly watermark?: Pick<RollupWatermark, 'read'>;
  /** @default DEFAULT_SETTLING_DAYS */
  readonly settlingDays?: number;
  /** No delivery date before this one is rolled up (the logs table's first projected date). */
  readonly logsStartDate?: string;
  /** @default MAX_BATCHES_PER_RUN */
  readonly maxBatches?: number;
}

function toBatch(date: string): string {
  return date.replaceAll('-', '/');
}

/** The earlier of two ISO dates (string order is date order). */
function earlierDate(a: string, b: string): string {
  return [a, b].sort()[0]!;
}

export async function plan(deps: PlanDeps, event: unknown): Promise<PlanOutput> {
  const parsed = ExecutionInputSchema.safeParse(event ?? {});
  if (!parsed.success) {
    throw new InvalidInputError(
      `the execution input is not valid: ${describeIssues(parsed.error)}. ` +
        'Expected {"partners"?: ["id"], "from"?: "YYYY-MM-DD", "to"?: "YYYY-MM-DD", "dryRun"?: true, "reason"?: "..."}',
    );
  }
  const input = parsed.data;
  const now = input.scheduledTime ? new Date(input.scheduledTime) : deps.clock.now();
  const today = utcDate(now);
  const settlingDays = checkSettlingDays(deps.settlingDays ?? DEFAULT_SETTLING_DAYS);
  let adHocWindow: { from: string; to: string } | undefined;
  try {
    adHocWindow = requestedWindow(input, today);
  } catch (error) {
    if (error instanceof RunWindowError) throw new InvalidInputError(error.message, { cause: error });
    throw error;
  }
  const partners = await plannedPartners(deps, input.partners);
  const watermark = await deps.watermark?.read();
  let window: { from: string; to: string };
  let batches: string[];
  let settling: PlanSettling;
  if (adHocWindow) {
    window = adHocWindow;
    const lastBatch = earlierDate(window.to, today);
    batches = [...datesBetween(addDays(window.from, -1), lastBatch), lastBatch];
    // The rollup then holds every date up to the watermark and this run's batches; today's is partial.
    const adHocThroughMs = Math.min(startOfLocalDate(addDays(lastBatch, 1), 'UTC'), now.getTime());
    const watermarkThroughMs = watermark === undefined ? 0 : startOfLocalDate(addDays(watermark, 1), 'UTC');
    settling = {
      settlingDays,
      dataThrough: new Date(Math.max(adHocThroughMs, watermarkThroughMs)).toISOString(),
      advanceWatermarkTo: null,
      backlog: 0,
    };
  } else {
    const deliveries = nightlyDeliveries({
      today,
      watermark,
      logsStartDate: deps.logsStartDate,
      maxBatches: deps.maxBatches ?? MAX_BATCHES_PER_RUN,
    });
    batches = [...deliveries.dates];
    window = settlingWindow({ dataThroughMs: deliveries.dataThroughBeforeMs, settlingDays, to: today });
    settling = {
      settlingDays,
      dataThrough: new Date(deliveries.dataThroughMs).toISOString(),
      advanceWatermarkTo: deliveries.advanceTo,
      backlog: deliveries.backlog,
    };
    if (deliveries.backlog > 0) {
      logger.warn('rollup backlog: older delivery dates first, the rest on the next nights', {
        watermark,
        backlog: deliveries.backlog,
      });
    }
  }
  const runId = newRunId(now, input.executionName);
  const out: PlanOutput = {
    runId,
    window,
    partners,
    dryRun: input.dryRun ?? false,
    reason: input.reason ?? null,
    batches: batches.map(toBatch),
    settling,
  };
  logger.info('planned audit run', { ...out });
  return out;
}

async function plannedPartners(deps: PlanDeps, ids: readonly string[] | undefined): Promise<string[]> {
  const { registry } = await deps.loadRegistry();
  try {
    return selectPartners(registry, ids).map((p) => p.id);
  } catch (error) {
    throw new InvalidInputError((error as Error).message, { cause: error });
  }
}

function coldStart(): PlanDeps {
  const env = loadEnv([
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'AWS_ENDPOINT_URL_S3',
    'LEDGER_TABLE',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'SETTLING_DAYS',
    'LOGS_START_DATE',
  ]);
  const s3 = s3Client(env);
  return {
    loadRegistry: () => loadRegistry(s3, env),
    clock: systemClock,
    watermark: dynamoDbWatermarkReader(env),
    settlingDays: env.SETTLING_DAYS,
    ...(env.LOGS_START_DATE ? { logsStartDate: env.LOGS_START_DATE } : {}),
  };
}

export const handler = lambdaStep(coldStart, plan);
