/**
 * The Lambda functions' settings, from environment variables the stack sets (lib/constructs/audit-functions.ts).
 * Each handler parses the ones it needs once, at cold start, into a frozen object; a missing or
 * malformed setting fails fast with a message that names it.
 */
import { z } from 'zod';
import { describeIssues } from './errors.js';

const name = z.string().trim().min(1, 'must not be empty');
const endpoint = z.url('must be a URL such as http://127.0.0.1:4566').optional();

/** Every setting any handler reads. */
export const HandlerEnvSchema = z.object({
  REPORT_BUCKET: name,
  REGISTRY_BUCKET: name,
  REGISTRY_KEY: name,
  MANIFEST_KEY: name.optional(),
  ATHENA_WORKGROUP: name,
  GLUE_DATABASE: name,
  LOGS_TABLE: name,
  ROLLUP_TABLE: name,
  /** The registry's Glue tables (lib/constructs/registry-tables.ts) the aggregation attributes with. */
  REGISTRY_PRINCIPALS_TABLE: name,
  REGISTRY_CONTRACT_TERMS_TABLE: name,
  REGISTRY_IGNORED_REQUESTERS_TABLE: name,
  REGISTRY_NETWORKS_TABLE: name,
  /** The dataset manifest table; set only when the registry names a manifest. */
  MANIFEST_TABLE: name.optional(),
  LEDGER_TABLE: name,
  /** The bucket holding the audited bucket's access logs, and the prefix above its yyyy/MM/dd dates. */
  LOG_BUCKET: name,
  LOG_PARTITIONS_PREFIX: z.string().regex(/^([^*\s]+\/)?$/, "must be '' or a key prefix ending in /"),
  SES_CONFIGURATION_SET: name,
  NOTICE_MODE: z.enum(['send', 'preview'], 'must be "send" or "preview"'),
  SES_MAX_SEND_RATE: z.coerce
    .number('must be a number')
    .positive('must be a positive number of sends per second'),
  /** Days a closed billing period keeps being evaluated before it is final (run-window.ts). */
  SETTLING_DAYS: z.coerce
    .number('must be a number')
    .int('must be a whole number of days')
    .min(0, 'must be 0 or more')
    .max(31, 'must be at most 31')
    .default(3),
  /** The first delivery date with logs (the logs table's first projected one): neither the plan nor the rollup reads an earlier one. */
  LOGS_START_DATE: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
    .optional(),
  /**
   * Days of event time over which the roll-up checks a request against other delivery dates (see
   * RollupSqlOptions.requestIdLookbackDays); unset: within each delivery date only.
   */
  REQUEST_ID_LOOKBACK_DAYS: z.coerce
    .number('must be a number')
    .int('must be a whole number of days')
    .min(0, 'must be 0 or more')
    .max(31, 'must be at most 31')
    .optional(),
  /** Set by Lambda; used for console links. */
  AWS_REGION: name.optional(),
  /** Endpoint overrides, for local servers in tests (never set in the stack). */
  AWS_ENDPOINT_URL_ATHENA: endpoint,
  AWS_ENDPOINT_URL_S3: endpoint,
  AWS_ENDPOINT_URL_SES: endpoint,
  AWS_ENDPOINT_URL_DYNAMODB: endpoint,
});

export type HandlerEnv = z.infer<typeof HandlerEnvSchema>;
type Key = keyof HandlerEnv;

/** A setting is missing or malformed. */
export class HandlerConfigError extends Error {
  override readonly name = 'HandlerConfigError';
}

/** The settings `keys` from `source`, validated and frozen. */
export function loadEnv<K extends Key>(
  keys: readonly K[],
  source: Readonly<Record<string, string | undefined>> = process.env,
): Readonly<Pick<HandlerEnv, K>> {
  const mask: Partial<Record<Key, true>> = Object.fromEntries(keys.map((k) => [k, true]));
  const result = HandlerEnvSchema.pick(mask as Record<Key, true>).safeParse(source);
  if (!result.success) {
    throw new HandlerConfigError(`invalid Lambda environment: ${describeIssues(result.error, '(env)')}`);
  }
  return Object.freeze(result.data) as unknown as Readonly<Pick<HandlerEnv, K>>;
}
