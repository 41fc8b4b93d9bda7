/**
 * What `report.json` holds, as a zod schema (also published as JSON Schema for consumers outside
 * TypeScript), and its serialisation.
 *
 * JSON has no 64-bit integers, so counts and money are decimal strings; money also carries a
 * formatted decimal; utilisation is a percent string with two decimals. Absent values are `null`,
 * not missing, so every report has the same shape.
 */
import { z } from 'zod';
import { NetworkFindingSchema } from './report-network.js';

const Int = z
  .string()
  .regex(/^-?\d+$/)
  .describe('an integer as a decimal string (JSON numbers lose precision above 2^53)');
const Percent = z
  .string()
  .regex(/^-?\d+\.\d{2}$/)
  .describe('a percentage with two decimals, floored, e.g. "152.34"');
const Count = z.number().int().nonnegative();
const Metric = z.enum(['requests', 'bytesSent', 'records']);
const Instant = z.iso.datetime().describe('an ISO 8601 instant in UTC');
const LocalDate = z.iso.date().describe('a local calendar date YYYY-MM-DD');

const CountsSchema = z.strictObject({ requests: Int, bytesSent: Int, records: Int });

const MoneySchema = z
  .strictObject({
    currency: z.string().regex(/^[A-Z]{3}$/),
    minor: Int.describe('amount in minor units of the currency (cents)'),
    amount: z
      .string()
      .regex(/^-?\d+(\.\d+)?$/)
      .describe('the same amount as a decimal, e.g. "123.45"'),
  })
  .describe('an amount of money');

const MetricSchema = z.strictObject({
  metric: Metric,
  used: Int,
  limit: Int.nullable(),
  utilisation: Percent.nullable(),
  over: Int,
  chargedOver: Int.describe('the part of `over` that `fee` prices'),
  fee: MoneySchema,
  priced: z.boolean(),
});

const DailySchema = z.strictObject({ date: LocalDate, counts: CountsSchema, overCap: z.array(Metric) });

const CapsSchema = z
  .strictObject({ requests: Int.nullable(), bytesSent: Int.nullable(), records: Int.nullable() })
  .nullable()
  .optional()
  .describe(
    'the daily caps of the contract in force (null per metric without a cap); null when the report was ' +
      'built without the registry, missing in reports written before caps were reported',
  );

const ApplicationSchema = z.strictObject({
  applicationId: z.string(),
  name: z.string(),
  counts: CountsSchema,
  metrics: z.array(MetricSchema),
  daily: z.array(DailySchema),
  daysOverCap: Count,
  dailyCaps: CapsSchema,
});

const DatasetSchema = z.strictObject({ dataset: z.string(), counts: CountsSchema, allowed: z.boolean() });

const FeeLineSchema = z.strictObject({
  metric: Metric,
  applicationId: z.string().nullable(),
  tier: z.number().int().positive(),
  units: Int,
  price: z.string().describe('the tier price as the contract writes it, for `per` units'),
  per: Int,
  amount: MoneySchema,
});

const LevelSchema = z.strictObject({
  level: z.string(),
  percent: z.number(),
  basis: z
    .enum(['actual', 'forecast'])
    .describe('actual: use so far reached the percentage; forecast: the projection to the period end did'),
  metric: Metric,
  applicationId: z.string().nullable(),
  utilisation: Percent.describe('use against the limit; for a forecast level, projected use'),
});

const ForecastSchema = z
  .strictObject({
    basedOnDataUntil: Instant,
    rateFrom: Instant.describe('the run rate is measured from here to basedOnDataUntil'),
    noticesFrom: Instant.nullable().describe(
      "from when forecast levels may be notified (the contract's forecastNoticeAfterDays, at least 24 h in)",
    ),
    levels: z
      .array(LevelSchema)
      .describe(
        'forecast thresholds the projection reaches, lowest first (notified once noticesFrom is reached)',
      ),
    metrics: z.array(
      z.strictObject({
        metric: Metric,
        applicationId: z.string().nullable(),
        limit: Int.nullable(),
        forecast: Int,
        forecastOver: Int,
      }),
    ),
  })
  .nullable()
  .describe('projection to the end of the period at the run rate so far; null once the period is complete');

const FindingSchema = z.strictObject({
  kind: z.enum(['unregistered-principal', 'dataset-outside-contract', 'daily-cap-exceeded']),
  severity: z.enum(['info', 'warning', 'critical']),
  message: z.string(),
  partnerId: z.string().nullable(),
  applicationId: z.string().nullable(),
  requester: z.string().nullable(),
  dataset: z.string().nullable(),
  date: z.string().nullable(),
  counts: CountsSchema,
});

export const NOTICE_STATUSES = ['sent', 'previewed', 'already-sent', 'held', 'failed'] as const;
/** What happened to a due notice in this run. */
export type NoticeStatus = (typeof NOTICE_STATUSES)[number];

const NoticeSchema = z.strictObject({
  partnerId: z.string(),
  periodId: z.string(),
  level: z.string(),
  status: z.enum(NOTICE_STATUSES),
  covers: z.array(z.string()).describe('lower levels this notice also covers'),
  messageId: z.string().nullable(),
  file: z.string().nullable().describe('the outbox or preview file, when written locally'),
  error: z.string().nullable(),
});

const FigureChangeSchema = z.strictObject({
  path: z.string(),
  sent: z.string().nullable(),
  current: z.string().nullable(),
  delta: Int.nullable(),
});

const NoticeDiffSchema = z
  .strictObject({
    partnerId: z.string(),
    periodId: z.string(),
    level: z.string(),
    messageId: z.string().nullable(),
    sentAt: z.string().nullable(),
    changes: z.array(FigureChangeSchema),
  })
  .describe('how a re-audit differs from the figures a sent notice stated');

const PeriodSchema = z.strictObject({
  periodId: z.string().regex(/^\d{4}-\d{2}$/),
  timeZone: z.string(),
  fromDate: LocalDate,
  toDate: LocalDate.describe('first local date after the period (exclusive)'),
  startsAt: Instant,
  endsAt: Instant,
  contractId: z.string(),
  currency: z.string(),
  asOf: Instant.describe('end of the data considered'),
  complete: z.boolean(),
  final: z
    .boolean()
    .optional()
    .describe(
      "true once the run's data reaches the settling time past the period's end: late-delivered logs are no longer expected to change the figures",
    ),
  finalAfter: Instant.optional().describe(
    "when the figures become final: the period's end plus the settling time",
  ),
  totals: CountsSchema,
  metrics: z.array(MetricSchema),
  applications: z.array(ApplicationSchema),
  datasets: z.array(DatasetSchema),
  daily: z.array(DailySchema),
  daysOverCap: Count,
  dailyCaps: CapsSchema,
  fees: z.strictObject({ total: MoneySchema, lines: z.array(FeeLineSchema) }),
  forecast: ForecastSchema,
  levels: z.array(LevelSchema),
  currentLevel: z.string().nullable(),
  findings: z.array(FindingSchema),
  notices: z.array(NoticeSchema),
});

const PartnerSchema = z.strictObject({
  partnerId: z.string(),
  partnerName: z.string(),
  periods: z.array(PeriodSchema),
});

const InputSchema = z.strictObject({
  files: Count,
  filesSkipped: Count,
  bytes: Count,
  lines: Count,
  parsedLines: Count,
  malformedLines: Count,
  malformedByReason: z.record(z.string(), Count),
  repeatsDropped: Count.optional().describe(
    'parsed lines not counted: a request already counted (same request id and host id), delivered again; missing in reports written before it was recorded',
  ),
  malformedSamples: z.array(
    z.strictObject({ file: z.string(), line: Count, reason: z.string(), text: z.string() }),
  ),
  unreadableFiles: z.array(z.strictObject({ file: z.string(), reason: z.string() })),
});

const UnattributedSchema = z.strictObject({
  figures: z.array(
    z.strictObject({
      requester: z.string(),
      accessPoint: z.string(),
      counts: CountsSchema,
      datasets: z.array(DatasetSchema),
      touchedPartnerData: z.boolean(),
    }),
  ),
  findings: z.array(FindingSchema),
});

const SummarySchema = z.strictObject({
  partners: Count,
  periods: Count,
  fees: z.array(MoneySchema).describe('overage fees of all periods, one entry per currency'),
  partnersOverLimit: z.array(z.string()),
  findings: Count,
  notices: z.record(z.string(), Count).describe('notices by status'),
  inputComplete: z.boolean().describe('false when any line was malformed or any file unreadable'),
});

const EvidenceSchema = z
  .strictObject({
    inputFiles: z
      .array(
        z.strictObject({
          name: z.string().describe('the log object as the run named it (path or S3 key)'),
          fingerprint: z.string().describe('the content fingerprint the run ingested it under'),
          bytes: Count.nullable(),
        }),
      )
      .describe('every log object the run read or found already ingested'),
    inputManifestHash: z
      .string()
      .nullable()
      .describe('sha256 (hex) of inputManifestText(inputFiles); null without input files'),
    queries: z
      .array(
        z.strictObject({
          purpose: z.string(),
          engine: z.string(),
          sql: z.string(),
          params: z.array(z.string()),
          queryExecutionId: z
            .string()
            .nullable()
            .describe('the Athena query execution id, when run on Athena'),
          bytesScanned: Int.nullable(),
        }),
      )
      .describe('the queries that produced the usage figures'),
    logDelivery: z
      .string()
      .optional()
      .describe('what S3 promises about log delivery and what the audit does about it'),
    registrySource: z.string().nullable().describe('where the registry was read from'),
    rerun: z.string().nullable().describe('a command that reruns this audit and gives the same figures'),
  })
  .describe('what anyone needs to rerun the audit and get the same numbers');

const Ratio = z
  .string()
  .regex(/^\d+\.\d{4}$/)
  .describe('a ratio with four decimals, floored, e.g. "2.5000"');

const HoldingFiguresShape = {
  objects: Int.describe('distinct objects read (200 or 206) in the window'),
  partialObjects: Int.describe('of them, objects only ever read in ranges (206)'),
  unknownSizeObjects: Int.describe('of them, objects no read logged a size for (their bytes count 0)'),
  objectBytes: Int.describe('sum of the logged sizes of the distinct objects'),
  records: Int.describe('records of the distinct objects read whole at least once, per the manifest'),
  retrievals: Int,
  fullRetrievals: Int.describe('retrievals with status 200'),
  bytesSent: Int,
  redownloadRatio: Ratio.nullable().describe('bytesSent / objectBytes; null when objectBytes is 0'),
  firstRetrieval: Instant.nullable(),
  lastRetrieval: Instant.nullable(),
};

const HoldingsSchema = z
  .strictObject({
    from: LocalDate,
    to: LocalDate,
    partners: z.array(
      z.strictObject({
        partnerId: z.string(),
        partnerName: z.string(),
        timeZone: z.string(),
        totals: z.strictObject(HoldingFiguresShape),
        datasets: z.array(
          z.strictObject({
            applicationId: z.string().describe('"*" for all the partner\'s applications together'),
            dataset: z.string(),
            ...HoldingFiguresShape,
          }),
        ),
        overTime: z.array(
          z.strictObject({
            applicationId: z.string(),
            dataset: z.string(),
            date: LocalDate,
            newObjects: Int,
            objects: Int.describe('distinct objects read from the window start through this date'),
          }),
        ),
      }),
    ),
  })
  .describe('what each partner holds: distinct objects read over local dates [from, to) (HOLDINGS.md)');

/** The schema of `report.json`. */
export const ReportSchema = z.strictObject({
  reportVersion: z.literal(1),
  runId: z.string().min(1),
  generatedAt: Instant,
  engine: z.string(),
  dryRun: z.boolean(),
  reason: z.string().nullable().describe('why the run was started, for an ad hoc run'),
  registryHash: z.string(),
  codeVersion: z.string(),
  window: z.strictObject({ from: z.string(), to: z.string() }).describe('the audit window as requested'),
  summary: SummarySchema,
  input: InputSchema,
  partners: z.array(PartnerSchema),
  uncovered: z
    .array(z.strictObject({ partnerId: z.string(), periodId: z.string() }))
    .describe('partner periods in the window with no contract in force: not evaluated'),
  unattributed: UnattributedSchema,
  networkFindings: z
    .array(NetworkFindingSchema)
    .optional()
    .describe('network findings (NETWORKS.md); missing in reports written before they were made'),
  notices: z.array(NoticeSchema),
  noticeDiffs: z.array(NoticeDiffSchema),
  evidence: EvidenceSchema.nullable()
    .optional()
    .describe('null when the engine gave none; missing in reports written before it was recorded'),
  holdings: HoldingsSchema.nullable()
    .optional()
    .describe('null when the engine keeps no holdings; missing in reports written before they were kept'),
});

/** A report as written to `report.json`. */
export type Report = z.infer<typeof ReportSchema>;

/** The JSON Schema (draft 2020-12) of `report.json`, for consumers outside TypeScript. */
export function reportJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ReportSchema) as Record<string, unknown>;
}

/** Serialise a report for `report.json` (stable key order, two-space indent, final newline). */
export function reportToJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
