/**
 * Step 1: validate the execution input and plan the run: its id, the audit window, the partners and
 * the delivery-date batches to roll up.
 *
 * Execution input (console "Start execution", or EventBridge Scheduler):
 *   { "partners"?: string[], "from"?: "YYYY-MM-DD", "to"?: "YYYY-MM-DD" (exclusive),
 *     "dryRun"?: boolean, "reason"?: string, "scheduledTime"?: ISO instant, "executionName"?: string }
 *
 * Window and batches, with `today` the UTC date of `scheduledTime` (nightly) or of now (ad hoc):
 * - no from/to: the month to date, [first day of yesterday's month, today); batches: yesterday's
 *   deliveries only, so that each night reads each log object once (late records still count: they
 *   land in the hour they happened, whatever day they were delivered).
 * - from and/or to: the window given (`from` alone runs to today, `to` alone starts on the first of
 *   its month); batches: every delivery date from the day before `from` (partners east of UTC start
 *   their day then) to min(`to`, today). An ad hoc run thus re-reads its window's logs: idempotent,
 *   and correct even where a nightly run failed, at the cost of one scan of that window.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { selectPartners } from '../audit/evaluate-window.js';
import { addDays, datesBetween, isIsoDate, monthOf } from '../domain/time.js';
import type { Clock } from '../ports.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { loadEnv } from './env.js';
import { asStep, InvalidInputError } from './errors.js';
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

/** What this step sends to AWS (see sdk-actions.ts): it reads the registry. */
export const SDK_ACTIONS: readonly SdkAction[] = [READ_REGISTRY];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface PlanDeps {
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
}

function toBatch(date: string): string {
  return date.replaceAll('-', '/');
}

/** The earlier of two ISO dates (string order is date order). */
function earlierDate(a: string, b: string): string {
  return [a, b].sort()[0]!;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
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
  const today = now.toISOString().slice(0, 10);
  const yesterday = addDays(today, -1);
  const adHoc = input.from !== undefined || input.to !== undefined;
  const window = adHoc
    ? { from: input.from ?? monthOf(addDays(input.to ?? today, -1)).first, to: input.to ?? today }
    : { from: monthOf(yesterday).first, to: today };
  if (window.from > today)
    throw new InvalidInputError(`"from" (${window.from}) is in the future (today is ${today})`);
  if (!(window.from < window.to)) {
    throw new InvalidInputError(
      `"from" (${window.from}) must be before "to" (${window.to}); "to" is exclusive`,
    );
  }

  const { registry } = await deps.loadRegistry();
  let partners: string[];
  try {
    partners = selectPartners(registry, input.partners).map((p) => p.id);
  } catch (error) {
    throw new InvalidInputError((error as Error).message, { cause: error });
  }
  const lastBatch = earlierDate(window.to, today);
  const batches = adHoc ? [...datesBetween(addDays(window.from, -1), lastBatch), lastBatch] : [yesterday];
  const runId =
    input.executionName?.replace(/[^A-Za-z0-9_-]/g, '_') ??
    `${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z-${randomBytes(3).toString('hex')}`;
  const out: PlanOutput = {
    runId,
    window,
    partners,
    dryRun: input.dryRun ?? false,
    reason: input.reason ?? null,
    batches: batches.map(toBatch),
  };
  logger.info('planned audit run', { ...out });
  return out;
}

let deps: PlanDeps | undefined;

function coldStart(): PlanDeps {
  const env = loadEnv(['REGISTRY_BUCKET', 'REGISTRY_KEY', 'AWS_ENDPOINT_URL_S3']);
  const s3 = s3Client(env);
  return { loadRegistry: () => loadRegistry(s3, env), clock: { now: () => new Date() } };
}

export const handler = (event: unknown): Promise<PlanOutput> => {
  deps ??= coldStart();
  const d = deps;
  return asStep(() => plan(d, event));
};
