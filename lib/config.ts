/**
 * The deployment settings: a small JSON file (`deploy.config.json`, see `deploy.config.example.json`)
 * plus `partner-audit:<setting>` context overrides, validated once at synth. Every problem names the
 * setting it is about, so a platform engineer can fix the file without reading this code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { AthenaManifestError, athenaManifestCsv } from '../functions/adapters/athena/manifest-csv.js';
import { ManifestError } from '../functions/adapters/logs/manifest.js';
import { DEFAULT_SETTLING_DAYS, MAX_SETTLING_DAYS } from '../functions/audit/run-window.js';
import { parseRegistry, type Registry, RegistryError } from '../functions/domain/registry.js';
import { isIsoDate, isValidTimeZone } from '../functions/domain/time.js';
import { cronProblem } from './cron.js';

/** Context key (cdk.json or `-c`) naming the config file, relative to the working directory. */
export const CONFIG_FILE_CONTEXT = 'partner-audit:configFile';
/** Every other `partner-audit:<dotted.setting>` context key overrides that setting of the file. */
export const CONTEXT_PREFIX = 'partner-audit:';
export const DEFAULT_CONFIG_FILE = 'deploy.config.json';
/** Used when no config file exists, so that a fresh clone synthesises offline. */
export const EXAMPLE_CONFIG_FILE = 'deploy.config.example.json';

/** Athena refuses a per-query cutoff under 10 MB. */
const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;

/** One problem with the deployment settings: which setting and what is wrong with it. */
export interface DeployConfigProblem {
  readonly setting: string;
  readonly message: string;
}

/** The settings are unusable; the message lists every problem by setting name. */
export class DeployConfigError extends Error {
  override readonly name = 'DeployConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly DeployConfigProblem[],
    options?: { cause?: unknown },
  ) {
    super(
      `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the deployment settings:\n` +
        problems.map((p) => `  ${p.setting || '(top)'}: ${p.message}`).join('\n'),
      options,
    );
  }
}

const bucketName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    'must be an S3 bucket name (3-63 lower-case letters, digits, . or -)',
  );
const emailAddress = z.email('must be an email address');
const domainName = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'must be a domain name');

const ExistingLogBucketSchema = z.strictObject({
  /** The bucket that already receives the data bucket's server access logs. */
  name: bucketName,
  /** The target prefix set in the data bucket's logging configuration, e.g. `s3-access/`. */
  prefix: z
    .string()
    .regex(/^([^*\s]+\/)?$/, 'must be empty or a key prefix ending in /, e.g. "s3-access/"')
    .default(''),
  /** The data bucket whose requests are audited (the source bucket in the log key layout). */
  sourceBucket: bucketName,
  /** Account and region of the data bucket, as they appear in the log keys. @default the stack's */
  sourceAccount: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
    .optional(),
  sourceRegion: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as "eu-central-1"')
    .optional(),
});

const FileSchema = z.strictObject({
  $comment: z.unknown().optional(),
  /** @default "PartnerAudit" */
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a CloudFormation stack name (letters, digits, -)')
    .default('PartnerAudit'),
  /** An existing bucket that receives the access logs (PartitionedPrefix layout, delivery-time dates). */
  logBucket: ExistingLogBucketSchema.optional(),
  /** Instead: let the stack create a data bucket that logs to a log bucket it also creates. */
  createDataBucket: z.boolean().default(false),
  /** The partner registry (YAML or JSON), relative to the config file. */
  registryFile: z.string().min(1, 'must name the partner registry file'),
  sender: z.strictObject({
    /** A verified SES identity: an email address or a domain that covers the registry's noticeFrom. */
    identity: z.union([emailAddress, domainName], {
      error: 'must be an email address or a domain name',
    }),
    /** Omitted: CloudFormation names the set, so a redeploy after destroy never meets the old name. */
    configurationSetName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _')
      .optional(),
    /** In the SES sandbox: the verified recipient identities the notifier may send to (see README). */
    sandboxRecipients: z
      .array(z.union([emailAddress, domainName], { error: 'must be an email address or a domain name' }))
      .max(100)
      .default([]),
    /** Messages per second the notifier stays under (the account's SES MaxSendRate or less). */
    maxSendRate: z.number().positive().max(1000).default(1),
  }),
  schedule: z
    .strictObject({
      /** EventBridge Scheduler cron, six fields, e.g. "30 2 * * ? *". */
      cron: z.string().superRefine((v, ctx) => {
        const problem = cronProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      timeZone: z.string().refine(isValidTimeZone, 'must be an IANA time zone such as "Europe/Berlin"'),
      /** Scheduler may start the run up to this many minutes late, to spread load. */
      flexibleWindowMinutes: z.number().int().min(1).max(1440).default(15),
      enabled: z.boolean().default(true),
    })
    .default({ cron: '30 2 * * ? *', timeZone: 'UTC', flexibleWindowMinutes: 15, enabled: true }),
  /** `preview` composes and stores notices without sending; `send` mails them through SES. */
  noticeMode: z.enum(['send', 'preview'], { error: 'must be "send" or "preview"' }).default('preview'),
  /** Subscribed to the alarm topic when set. */
  alarmEmail: emailAddress.optional(),
  /** Athena stops any one query that would scan more (bytes, minimum 10000000). */
  bytesScannedCutoffPerQuery: z
    .number()
    .int()
    .min(MIN_BYTES_SCANNED_CUTOFF, `must be at least ${MIN_BYTES_SCANNED_CUTOFF} (Athena's minimum)`)
    .default(100_000_000_000),
  /**
   * The Athena workgroup's name. Omitted: `<stackName>-audit-<8 hex of the stack id>`, new with every
   * creation of the stack, so a deploy after destroy (or a second stack) never meets the old name.
   */
  athenaWorkgroupName: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1-128 letters, digits, . _ or -')
    .optional(),
  /** First delivery date the logs table projects (YYYY-MM-DD), usually when logging started. */
  logsStartDate: z.string().refine(isIsoDate, 'must be a calendar date YYYY-MM-DD'),
  /**
   * Days a closed billing period keeps being evaluated (late-delivered access logs still count) before
   * its figures are final. S3 delivers logs best-effort, mostly within hours: 3 days leaves room.
   */
  settlingDays: z
    .number()
    .int('must be a whole number of days')
    .min(0, 'must be 0 or more')
    .max(MAX_SETTLING_DAYS, `must be at most ${MAX_SETTLING_DAYS}`)
    .default(DEFAULT_SETTLING_DAYS),
  /**
   * Days of event time over which the nightly roll-up checks a request against earlier delivery dates,
   * so that a log record S3 delivers again on a later date is counted once (0: within each delivery
   * date only). Each day reads the identities counted that day, about 2 % of a day's log bytes. The
   * default covers the late deliveries S3 usually makes, as settlingDays does.
   */
  requestIdLookbackDays: z
    .number()
    .int('must be a whole number of days')
    .min(0, 'must be 0 or more')
    .max(31, 'must be at most 31')
    .default(3),
});

type ConfigFile = z.infer<typeof FileSchema>;

/** Where the access logs are and how the stack gets them. */
export type AccessLogSourceConfig =
  | {
      readonly kind: 'existing';
      readonly logBucketName: string;
      readonly logPrefix: string;
      readonly sourceBucket: string;
      readonly sourceAccount?: string;
      readonly sourceRegion?: string;
    }
  | { readonly kind: 'created' };

/** The validated, frozen deployment settings. */
export interface DeployConfig {
  /** The file the settings came from, or the example file when none existed. */
  readonly source: string;
  /** True when no config file existed and the documented example was used. */
  readonly isExample: boolean;
  readonly stackName: string;
  readonly accessLogs: AccessLogSourceConfig;
  /** Absolute path of the registry file, already validated. */
  readonly registryFile: string;
  /** Absolute path of the dataset manifest the registry names, if any. */
  readonly manifestFile?: string;
  readonly registry: Registry;
  readonly sender: {
    readonly identity: string;
    readonly identityKind: 'email' | 'domain';
    /** Absent: CloudFormation names the configuration set. */
    readonly configurationSetName?: string;
    readonly maxSendRate: number;
    /** Verified recipient identities the notifier may send to in the SES sandbox. */
    readonly sandboxRecipients: readonly string[];
  };
  readonly schedule: {
    readonly cron: string;
    readonly timeZone: string;
    readonly flexibleWindowMinutes: number;
    readonly enabled: boolean;
  };
  readonly noticeMode: 'send' | 'preview';
  readonly alarmEmail?: string;
  readonly bytesScannedCutoffPerQuery: number;
  /** Absent: a name unique to each creation of the stack. */
  readonly athenaWorkgroupName?: string;
  readonly logsStartDate: string;
  /** Days a closed period settles before it is final (functions/audit/run-window.ts). */
  readonly settlingDays: number;
  /** Days of event time a roll-up checks requests against other delivery dates (0: within each date only). */
  readonly requestIdLookbackDays: number;
}

/** Inputs of {@link loadDeployConfig}; everything is explicit so tests need no process state. */
export interface LoadDeployConfigOptions {
  /** Directory relative paths are resolved against (the project root when run by `cdk`). */
  readonly cwd: string;
  /** The CDK context, e.g. `app.node.getAllContext()`. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/**
 * Read, merge and validate the deployment settings. The file named by `partner-audit:configFile`
 * (default `deploy.config.json`) is read; if that default file is absent, the example file is used.
 * Context keys `partner-audit:<dotted.setting>` override single settings (`-c partner-audit:noticeMode=send`).
 * Throws DeployConfigError naming each bad setting.
 */
export function loadDeployConfig(options: LoadDeployConfigOptions): DeployConfig {
  const context = options.context ?? {};
  const named = context[CONFIG_FILE_CONTEXT];
  if (named !== undefined && typeof named !== 'string') {
    throw new DeployConfigError('context', [
      { setting: CONFIG_FILE_CONTEXT, message: 'must be a file path' },
    ]);
  }
  const requested = resolve(options.cwd, named ?? DEFAULT_CONFIG_FILE);
  let file = requested;
  let isExample = false;
  if (!existsSync(requested)) {
    if ((named ?? DEFAULT_CONFIG_FILE) !== DEFAULT_CONFIG_FILE) {
      throw new DeployConfigError(requested, [
        { setting: CONFIG_FILE_CONTEXT, message: `the config file ${requested} does not exist` },
      ]);
    }
    file = resolve(options.cwd, EXAMPLE_CONFIG_FILE);
    isExample = true;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DeployConfigError(
      file,
      [{ setting: '', message: `not readable JSON: ${(e as Error).message}` }],
      {
        cause: e,
      },
    );
  }
  return parseDeployConfig(applyOverrides(raw, context), { source: file, isExample });
}

/** Validate already-read settings. `source` names them in messages and anchors relative paths. */
export function parseDeployConfig(raw: unknown, opts: { source: string; isExample?: boolean }): DeployConfig {
  const result = FileSchema.safeParse(raw);
  if (!result.success) {
    throw new DeployConfigError(
      opts.source,
      result.error.issues.map((i) => ({ setting: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const c = result.data;
  const problems: DeployConfigProblem[] = [];
  if (c.logBucket && c.createDataBucket) {
    problems.push({
      setting: 'logBucket',
      message: 'give either logBucket (an existing log bucket) or createDataBucket: true, not both',
    });
  }
  if (!c.logBucket && !c.createDataBucket) {
    problems.push({
      setting: 'logBucket',
      message:
        'missing: name the existing bucket that receives the access logs ({ "name", "prefix", "sourceBucket" }), ' +
        'or set createDataBucket: true to let the stack create a logged data bucket',
    });
  }
  const registryFile = isAbsolute(c.registryFile)
    ? c.registryFile
    : resolve(dirname(opts.source), c.registryFile);
  const registry = readRegistry(registryFile, problems);
  let manifestFile: string | undefined;
  if (registry?.settings.manifest) {
    manifestFile = resolve(dirname(registryFile), registry.settings.manifest);
    if (!existsSync(manifestFile)) {
      problems.push({
        setting: 'registryFile',
        message: `the registry's settings.manifest ${manifestFile} does not exist`,
      });
    } else {
      const problem = manifestProblem(manifestFile);
      if (problem)
        problems.push({ setting: 'registryFile', message: `the registry's settings.manifest ${problem}` });
    }
  }
  const identityKind = c.sender.identity.includes('@') ? 'email' : 'domain';
  if (registry) {
    const from = addressOf(registry.provider.noticeFrom);
    const covered =
      identityKind === 'email'
        ? from === c.sender.identity.toLowerCase()
        : from.endsWith(`@${c.sender.identity.toLowerCase()}`);
    if (!covered) {
      problems.push({
        setting: 'sender.identity',
        message: `"${c.sender.identity}" does not cover the registry's provider.noticeFrom address "${from}"; SES would refuse to send`,
      });
    }
  }
  if (problems.length > 0 || !registry) throw new DeployConfigError(opts.source, problems);
  return deepFreeze({
    source: opts.source,
    isExample: opts.isExample ?? false,
    stackName: c.stackName,
    accessLogs: accessLogsOf(c),
    registryFile,
    ...(manifestFile ? { manifestFile } : {}),
    registry,
    sender: {
      identity: c.sender.identity,
      identityKind,
      ...(c.sender.configurationSetName !== undefined
        ? { configurationSetName: c.sender.configurationSetName }
        : {}),
      maxSendRate: c.sender.maxSendRate,
      sandboxRecipients: c.sender.sandboxRecipients,
    },
    schedule: c.schedule,
    noticeMode: c.noticeMode,
    ...(c.alarmEmail ? { alarmEmail: c.alarmEmail } : {}),
    bytesScannedCutoffPerQuery: c.bytesScannedCutoffPerQuery,
    ...(c.athenaWorkgroupName !== undefined ? { athenaWorkgroupName: c.athenaWorkgroupName } : {}),
    logsStartDate: c.logsStartDate,
    settlingDays: c.settlingDays,
    requestIdLookbackDays: c.requestIdLookbackDays,
  });
}

function accessLogsOf(c: ConfigFile): AccessLogSourceConfig {
  if (!c.logBucket) return { kind: 'created' };
  const { name, prefix, sourceBucket, sourceAccount, sourceRegion } = c.logBucket;
  return {
    kind: 'existing',
    logBucketName: name,
    logPrefix: prefix,
    sourceBucket,
    ...(sourceAccount ? { sourceAccount } : {}),
    ...(sourceRegion ? { sourceRegion } : {}),
  };
}

function readRegistry(path: string, problems: DeployConfigProblem[]): Registry | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    problems.push({ setting: 'registryFile', message: `cannot read the partner registry ${path}` });
    return undefined;
  }
  try {
    return parseRegistry(text, path);
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    for (const p of e.problems) {
      problems.push({ setting: 'registryFile', message: `${path}: ${p.path || '(top)'}: ${p.message}` });
    }
    return undefined;
  }
}

/**
 * Why the manifest cannot deploy, if it cannot: a line the local reader refuses, or an entry the
 * Athena manifest table could not hold the same way. The message starts with the file's path.
 */
function manifestProblem(path: string): string | undefined {
  try {
    athenaManifestCsv(readFileSync(path, 'utf8'), path);
    return undefined;
  } catch (e) {
    if (e instanceof ManifestError || e instanceof AthenaManifestError) return e.message;
    return `${path}: cannot read: ${(e as Error).message}`;
  }
}

/** `Data Partnerships <partners@provider.example>` -> `partners@provider.example`. */
function addressOf(mailbox: string): string {
  const angle = /<([^>]+)>/.exec(mailbox);
  return (angle?.[1] ?? mailbox).trim().toLowerCase();
}

/**
 * Apply `partner-audit:<dotted.setting>` context values. Values from `-c` arrive as strings, so text
 * that reads as JSON (true, 42, {...}) is parsed; anything else stays a string.
 */
function applyOverrides(raw: unknown, context: Readonly<Record<string, unknown>>): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const out = structuredClone(raw) as Record<string, unknown>;
  for (const [key, value] of Object.entries(context)) {
    if (!key.startsWith(CONTEXT_PREFIX) || key === CONFIG_FILE_CONTEXT) continue;
    const path = key.slice(CONTEXT_PREFIX.length).split('.');
    let node: Record<string, unknown> = out;
    for (const seg of path.slice(0, -1)) {
      const next = node[seg];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) node[seg] = {};
      node = node[seg] as Record<string, unknown>;
    }
    node[path[path.length - 1] ?? ''] = typeof value === 'string' ? jsonOrText(value) : value;
  }
  return out;
}

function jsonOrText(text: string): unknown {
  if (!/^(true|false|null|-?\d+(\.\d+)?|[[{].*)$/s.test(text.trim())) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
