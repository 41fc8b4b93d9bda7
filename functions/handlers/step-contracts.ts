/**
 * The step contracts: what each Lambda step of the state machine returns, and what the next step reads
 * of it, as zod schemas with the TypeScript types inferred from them: one schema per edge, so that a
 * field is declared once, where the producing step's output is (Plan -> Evaluate, RollUp -> Publish,
 * Evaluate -> Notify, Notify -> Publish). The state machine (lib/constructs/state-machine.ts) passes
 * these outputs on by JSONPath; test/infra/state-machine-asl.test.ts walks the synthesised definition
 * with them and each consumer's input schema, so a renamed or optional field that a path relies on
 * fails there. Kept apart from the handlers so that a step that reads another's output (publish reads
 * rollup's and notify's) does not import that step's adapters (see test/infra/iam-permissions.test.ts,
 * which scans each handler's imports for the AWS commands it sends).
 */
import { z } from 'zod';
import { isIsoDate } from '../domain/time.js';

const isoDate = z.string().refine(isIsoDate, 'must be a calendar date YYYY-MM-DD');

export const RUN_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A run id as the steps accept it: it names the run's folder in the report bucket. */
export const RunIdSchema = z
  .string()
  .regex(RUN_ID, 'must be 1 to 128 letters, digits, ".", "_" or "-" (it names the run\'s folder)');

/** A partner id in a step's payload (registry ids are short slugs; this bounds what an error repeats). */
export const PartnerIdSchema = z.string().min(1).max(128);

/** An audit window: local dates, `to` exclusive. */
export const WindowSchema = z.object({ from: isoDate, to: isoDate });

/** What the evaluate step needs to mark periods final and to record the watermark. */
export const SettlingSchema = z.object({
  settlingDays: z.number().int().min(0).max(31),
  /** Usage delivered before this instant is in the rollup after this run's roll-up (ISO instant). */
  dataThrough: z.iso.datetime({ offset: true }),
  /** The rollup watermark to record after the roll-up (`YYYY-MM-DD`); null for ad hoc runs. */
  advanceWatermarkTo: isoDate.nullable(),
  /** Delivery dates left for the next nights when this run caught up only part of a long gap. */
  backlog: z.number().int().nonnegative(),
});

/**
 * What Plan returns, which the state machine passes on: RollUp maps over `batches`, Evaluate takes
 * `runId`, `window`, `partners`, `dryRun` and `reason` (test/infra/state-machine-asl.test.ts walks
 * these paths). Every field is always present: a JSONPath to a missing one fails the execution.
 */
export const PlanOutputSchema = z.object({
  runId: RunIdSchema,
  window: WindowSchema,
  partners: z.array(PartnerIdSchema).max(1000),
  dryRun: z.boolean(),
  reason: z.string().max(1000).nullable(),
  /** Delivery dates, `yyyy/MM/dd`, oldest first. */
  batches: z.array(z.string().regex(/^\d{4}\/\d{2}\/\d{2}$/)),
  settling: SettlingSchema,
});
export type PlanOutput = z.infer<typeof PlanOutputSchema>;

/**
 * Plan -> Evaluate: the plan's output as Evaluate reads it (extra fields such as `batches` are
 * ignored). Lenient where a payload may lack a field: an execution started before `settling` was
 * added (the data's end and SETTLING_DAYS then stand in) or a hand-written input.
 */
export const EvaluateInputSchema = PlanOutputSchema.pick({ runId: true }).extend({
  window: WindowSchema.refine((w) => w.from < w.to, '"from" must be before "to" ("to" is exclusive)'),
  partners: PlanOutputSchema.shape.partners.default([]),
  dryRun: PlanOutputSchema.shape.dryRun.default(false),
  reason: PlanOutputSchema.shape.reason.default(null),
  settling: SettlingSchema.pick({
    settlingDays: true,
    dataThrough: true,
    advanceWatermarkTo: true,
  }).optional(),
});
export type EvaluateInput = z.infer<typeof EvaluateInputSchema>;

/**
 * What one RollUpBatch returns: the RollUp Map collects these into `rollups`, which Publish reads
 * (its input schema takes this one).
 */
export const RollupOutputSchema = z.object({
  batch: z.string().max(10),
  queryExecutionIds: z.array(z.string().max(128)).max(10),
  bytesScanned: z.number().int().nonnegative(),
  /** The registry's dataset depth the statement used, so the report can state the statement. */
  datasetDepth: z.number().int(),
  /** The manifest table the statement counted records from, when there is one (for the same reason). */
  manifestTable: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,127}$/, 'must be a Glue table name')
    .optional(),
  /** The request id lookback the statement used, when not 0 (for the same reason). */
  requestIdLookbackDays: z.number().int().min(0).max(31).optional(),
  /** True when the statement also wrote the held grain (the registry keeps holdings; for the same reason). */
  holdings: z.literal(true).optional(),
  /** Set when the batch was not rolled up (no query ran, its rollup rows are untouched), and why. */
  skipped: z
    .object({ reason: z.enum(['before-logs-start', 'no-log-objects']), detail: z.string().max(2000) })
    .optional(),
});
export type RollupOutput = z.infer<typeof RollupOutputSchema>;

/**
 * What Evaluate returns; the state machine keeps it at `$.evaluation`, maps Notify over
 * `partnersToNotify` and hands `evaluationKey` to Notify and Publish.
 */
export const EvaluateOutputSchema = z.object({
  runId: RunIdSchema,
  evaluationKey: z.string().min(1).max(1024),
  dryRun: z.boolean(),
  /** Partners with at least one level reached: a notice may be due (the ledger decides). */
  partnersToNotify: z.array(z.object({ partnerId: PartnerIdSchema })),
});
export type EvaluateOutput = z.infer<typeof EvaluateOutputSchema>;

/** One notice's outcome, as publish reports it. */
export const NotifyResultSchema = z.object({
  partnerId: z.string(),
  periodId: z.string(),
  level: z.string(),
  status: z.enum(['sent', 'previewed', 'already-sent', 'held', 'failed']),
  covers: z.array(z.string()).readonly().default([]),
  messageId: z.string().optional(),
  /** The SES message id of a sent notice. */
  delivery: z.string().optional(),
  /** Key of the notice's `.eml` copy in the report bucket. */
  file: z.string().optional(),
  error: z.string().optional(),
});
export type NotifyResult = z.infer<typeof NotifyResultSchema>;

/** A NoticeDiff (functions/domain/notices.ts) as it travels in a step's output. */
export const NoticeDiffSchema = z.object({
  key: z.object({ partnerId: z.string(), periodId: z.string(), level: z.string() }),
  messageId: z.string().optional(),
  sentAt: z.string().optional(),
  changes: z
    .array(
      z.object({
        path: z.string(),
        sent: z.string().nullable(),
        current: z.string().nullable(),
        delta: z.string().nullable(),
      }),
    )
    .readonly(),
});

/**
 * What one NotifyPartner returns; the Notify Map collects these into `notifyResults`, which Publish
 * reads and AnyNoticeFailed tests (`failed`).
 */
export const NotifyOutputSchema = z.object({
  partnerId: z.string(),
  /** Whether any notice failed: the state machine fails the run after publishing the report. */
  failed: z.boolean(),
  results: z.array(NotifyResultSchema).readonly(),
  /** How figures differ from notices sent earlier for the same periods (read before sending). */
  noticeDiffs: z.array(NoticeDiffSchema).readonly(),
});
export type NotifyOutput = z.infer<typeof NotifyOutputSchema>;

/**
 * What the Notify Map holds for a partner whose NotifyPartner failed outright: the state machine's
 * RecordNoticeFailure state writes it from the caught error (lib/constructs/state-machine.ts).
 */
export const NoticeFailureSchema = z.object({
  partnerId: z.string(),
  failed: z.literal(true),
  error: z.string(),
  cause: z.string(),
});

/**
 * Evaluate, RollUp and Notify -> Publish. `notifyResults` holds a NotifyOutputSchema per partner, or
 * a NoticeFailureSchema where the partner's step failed outright: read as one shape covering both.
 */
export const PublishInputSchema = EvaluateOutputSchema.pick({ runId: true, evaluationKey: true }).extend({
  /**
   * The RollUp Map's results (`$.rollups`), each as the rollup step returned it. Optional so that a
   * state machine that does not pass them still publishes (with evaluate's only).
   */
  rollups: z.array(RollupOutputSchema).max(400).default([]),
  /** The Notify Map's results (`$.notifyResults`). */
  notifyResults: z
    .array(
      NotifyOutputSchema.pick({ partnerId: true }).extend({
        failed: NotifyOutputSchema.shape.failed.default(false),
        error: NoticeFailureSchema.shape.error.optional(),
        cause: NoticeFailureSchema.shape.cause.optional(),
        results: NotifyOutputSchema.shape.results.optional(),
        noticeDiffs: NotifyOutputSchema.shape.noticeDiffs.default([]),
      }),
    )
    .default([]),
});
export type PublishInput = z.infer<typeof PublishInputSchema>;

/** What Publish returns; the state machine keeps it at `$.report`, in the execution's output. */
export const PublishOutputSchema = z.object({
  /** Notices that failed in this run (the run fails after publishing when this is not 0). */
  failedNotices: z.number().int().nonnegative(),
  /** Athena bytes scanned by the run: its rollups and its evaluation (the report lists each query). */
  bytesScanned: z.object({ rollup: z.number(), evaluate: z.number(), total: z.number() }),
  reportKey: z.string(),
  csvKey: z.string(),
  /** The report in the S3 console. */
  reportUrl: z.string(),
});
export type PublishOutput = z.infer<typeof PublishOutputSchema>;

/**
 * What Aggregate returns (Aggregate takes Evaluate's input, EvaluateInputSchema): where it left the
 * run's context (`aggregateKey`) and the partners to evaluate (`itemsKey`, a JSON array of
 * `{ "partnerId": ... }` that the EvaluatePartners Map reads from S3, so no state carries the list).
 */
export const AggregateOutputSchema = z.object({
  runId: RunIdSchema,
  aggregateKey: z.string().min(1).max(1024),
  /** The report bucket, where the EvaluatePartners Map's ItemReader finds `itemsKey`. */
  itemsBucket: z.string().min(3).max(63),
  itemsKey: z.string().min(1).max(1024),
  /** How many items the items object holds. */
  partners: z.number().int().nonnegative(),
  dryRun: z.boolean(),
});
export type AggregateOutput = z.infer<typeof AggregateOutputSchema>;

/** One item of the EvaluatePartners Map, as its ItemSelector builds it: the run, its context, a partner. */
export const AssessInputSchema = z.object({
  runId: RunIdSchema,
  aggregateKey: AggregateOutputSchema.shape.aggregateKey,
  partnerId: PartnerIdSchema,
});
export type AssessInput = z.infer<typeof AssessInputSchema>;

/** What one partner's evaluation returns (the Map writes these to S3, ResultWriter; Assemble does not read them). */
export const AssessOutputSchema = z.object({
  partnerId: PartnerIdSchema,
  /** Where its evaluations are: `runs/<runId>/partners/<partnerId>.json`. */
  partKey: z.string().min(1).max(1024),
  /** Periods evaluated, and whether any reached a notice level. */
  periods: z.number().int().nonnegative(),
  reachesNoticeLevel: z.boolean(),
});
export type AssessOutput = z.infer<typeof AssessOutputSchema>;

/** Aggregate -> Assemble: the run's context and its partners, by key. Assemble returns EvaluateOutputSchema. */
export const AssembleInputSchema = AggregateOutputSchema.pick({
  runId: true,
  aggregateKey: true,
  itemsKey: true,
});
export type AssembleInput = z.infer<typeof AssembleInputSchema>;
