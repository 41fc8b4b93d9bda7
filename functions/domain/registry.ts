/**
 * The partner registry: who the partners are, which principals identify their applications, and the
 * contract versions that bind them. A person edits it (YAML or JSON); it is validated here, with every
 * problem reported at its path, before anything else runs.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { parseDecimal } from './money.js';
import { AWS_REGION, NetworkParseError, parseCidr, VPC_ENDPOINT_ID } from './networks.js';
import { isIsoDate, isValidTimeZone } from './time.js';
import { METRICS, type Metric, STATUS_CLASSES } from './usage.js';

const id = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-_]{0,62}$/,
    'must be lower-case letters, digits, - or _ (at most 63), e.g. "acme-data"',
  );
const email = z.email('must be an email address');
/** Text a person reads (names): one line, no control characters, since names reach mail headers. */
const label = z
  .string()
  .min(1)
  .regex(/^[^\u0000-\u001f\u007f\u2028\u2029]*$/, 'must be one line without control characters');
const isoDate = z.string().refine(isIsoDate, 'must be a calendar date YYYY-MM-DD');
const timeZone = z.string().refine(isValidTimeZone, 'must be an IANA time zone such as "Europe/Berlin"');
/** Whole, non-negative quantities. YAML readers may give numbers or strings; both become bigint. */
const quantity = z
  .union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d+$/)])
  .transform((v) => BigInt(v));
const decimal = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const text = typeof v === 'number' ? String(v) : v;
    try {
      parseDecimal(text);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
    return text;
  })
  .describe('a decimal amount written as a string, e.g. "0.40"');

const awsAccount = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');

export const PrincipalSchema = z.union([
  z.strictObject({
    arn: z.string().regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+/, 'must be an IAM or STS ARN'),
  }),
  z.strictObject({
    arnGlob: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):.*\*.*/,
        'must be an IAM or STS ARN with at least one *',
      ),
  }),
  z.strictObject({ account: awsAccount }),
  z.strictObject({ canonicalUserId: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits') }),
  z.strictObject({
    accessPoint: z
      .string()
      .regex(/^arn:aws[a-z-]*:s3:[a-z0-9-]+:\d{12}:accesspoint\/.+/, 'must be an access point ARN'),
  }),
]);
export type Principal = z.infer<typeof PrincipalSchema>;

const MetricLimitsSchema = z.strictObject({
  requests: quantity.optional(),
  bytesSent: quantity.optional(),
  records: quantity.optional(),
});
export type MetricLimits = z.infer<typeof MetricLimitsSchema>;

const LimitSetSchema = z.strictObject({
  /** Limits per billing period (calendar month in the partner's time zone). */
  monthly: MetricLimitsSchema.default({}),
  /** The daily "reasonable volume" cap, per local day. */
  daily: MetricLimitsSchema.default({}),
});
export type LimitSet = z.infer<typeof LimitSetSchema>;

const TierSchema = z.strictObject({
  /** Units over the limit up to which this tier's price applies (cumulative); omit on the last tier. */
  upTo: quantity.optional(),
  /** Price of `per` units, in the contract's currency. */
  price: decimal,
});

const PriceSchema = z
  .strictObject({
    /** How many units one price is for: 1000 requests, 1000000000 bytes. */
    per: quantity.refine((v) => v > 0n, 'must be positive'),
    tiers: z.array(TierSchema).min(1),
  })
  .superRefine((p, ctx) => {
    let last = -1n;
    p.tiers.forEach((t, i) => {
      const isLast = i === p.tiers.length - 1;
      if (!isLast && t.upTo === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', i, 'upTo'],
          message: 'only the last tier may omit upTo',
        });
      }
      if (t.upTo !== undefined) {
        if (t.upTo <= last) {
          ctx.addIssue({
            code: 'custom',
            path: ['tiers', i, 'upTo'],
            message: 'tiers must have increasing upTo',
          });
        }
        last = t.upTo;
      }
    });
  });
export type Price = z.infer<typeof PriceSchema>;

const ThresholdSchema = z.strictObject({
  level: id,
  /** Utilisation of a monthly limit, in percent, at or above which the level is reached. */
  percent: z.number().positive().max(100_000),
  /**
   * `actual` (the default): the use so far reaches the percentage. `forecast`: the projection of use
   * to the period's end reaches it (a warning before the overage; no fee is due for it).
   */
  basis: z.enum(['actual', 'forecast']).default('actual'),
});
export type Threshold = z.infer<typeof ThresholdSchema>;

const DEFAULT_THRESHOLDS: Threshold[] = [
  { level: 'warning', percent: 80, basis: 'actual' },
  { level: 'overage', percent: 100, basis: 'actual' },
  { level: 'escalation', percent: 150, basis: 'actual' },
];

/** Local days of a period that must have passed before a forecast notice may go out. */
export const DEFAULT_FORECAST_NOTICE_AFTER_DAYS = 7;

const ContractSchema = z.strictObject({
  id,
  /** First local date (partner's time zone) on which this version is in force. */
  effectiveFrom: isoDate,
  /** First local date on which it is no longer in force (exclusive). Omit for open-ended. */
  effectiveTo: isoDate.optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"'),
  /** Which requests count toward the limits. Operations may end in `*`. */
  counted: z
    .strictObject({
      operations: z.array(z.string().min(1)).min(1).default(['REST.GET.OBJECT']),
      statuses: z
        .array(z.enum(STATUS_CLASSES as [string, ...string[]]))
        .min(1)
        .default(['2xx', '3xx']),
    })
    .default({ operations: ['REST.GET.OBJECT'], statuses: ['2xx', '3xx'] }),
  /** Dataset prefixes the partner may read, e.g. `feeds/weather/`. */
  datasets: z.array(z.string().regex(/^[^*\s]+\/$/, 'must be a key prefix ending in /')).min(1),
  limits: LimitSetSchema.default({ monthly: {}, daily: {} }),
  /** Limits per application of the partner, by application id. */
  applicationLimits: z.record(id, LimitSetSchema).default({}),
  overage: z
    .strictObject({
      requests: PriceSchema.optional(),
      bytesSent: PriceSchema.optional(),
      records: PriceSchema.optional(),
    })
    .default({}),
  thresholds: z.array(ThresholdSchema).min(1).default(DEFAULT_THRESHOLDS),
  /**
   * Whole local days of a period that must have passed before a forecast level is notified, so the
   * run rate means something. Never earlier than 24 hours into the period, whatever this says.
   * At most 27, so that every month leaves a day to be warned on.
   */
  forecastNoticeAfterDays: z.number().int().min(0).max(27).default(DEFAULT_FORECAST_NOTICE_AFTER_DAYS),
  /**
   * Whether a network finding new in the period (NETWORKS.md) sends the partner the `unexplained-access`
   * notice. Off by default: the finding is in the report either way.
   */
  unexplainedAccessNotice: z.boolean().default(false),
});
export type Contract = z.infer<typeof ContractSchema>;

/** A declared CIDR: kept as written, refused with its reason when it does not parse (see networks.ts). */
const cidr = z.string().superRefine((text, ctx) => {
  try {
    parseCidr(text);
  } catch (e) {
    if (!(e instanceof NetworkParseError)) throw e;
    ctx.addIssue({ code: 'custom', message: e.message });
  }
});

/**
 * Where an application reads from (NETWORKS.md): requests by its principals from anywhere else are a
 * `credential-used-outside-declared-network` finding. At least one entry.
 */
const NetworksSchema = z
  .strictObject({
    /** IPv4 and IPv6 CIDR ranges (a bare address is a /32 or /128), host bits zero. */
    cidrs: z.array(cidr).default([]),
    /** VPC endpoint ids, as the host header of a request through an interface endpoint names them. */
    vpcEndpoints: z
      .array(z.string().regex(VPC_ENDPOINT_ID, 'must be a VPC endpoint id such as "vpce-1a2b3c4d"'))
      .default([]),
    /** AWS regions, matched against the log's source region field (lines without it match none). */
    sourceRegions: z
      .array(z.string().regex(AWS_REGION, 'must be an AWS region such as "eu-west-1"'))
      .default([]),
  })
  .refine(
    (n) => n.cidrs.length + n.vpcEndpoints.length + n.sourceRegions.length > 0,
    'must declare at least one CIDR, VPC endpoint or source region',
  );
export type DeclaredNetworks = z.infer<typeof NetworksSchema>;

const ApplicationSchema = z.strictObject({
  id,
  name: label,
  principals: z.array(PrincipalSchema).min(1),
  /** Where the application reads from; without it, no network finding is raised for it. */
  networks: NetworksSchema.optional(),
});
export type Application = z.infer<typeof ApplicationSchema>;

const PersonSchema = z.strictObject({ name: label.optional(), email });

const PartnerSchema = z.strictObject({
  id,
  name: label,
  accountOwners: z.array(PersonSchema).min(1),
  /** Provider staff copied on every notice to this partner. */
  internalContacts: z.array(PersonSchema).default([]),
  timeZone,
  applications: z.array(ApplicationSchema).min(1),
  contracts: z.array(ContractSchema).min(1),
});
export type Partner = z.infer<typeof PartnerSchema>;

const ProviderSchema = z.strictObject({
  name: label,
  /** The From of every notice, e.g. `Data Partnerships <partners@provider.example>`. */
  noticeFrom: label.min(3),
  /** Where partners write to discuss or dispute a notice. */
  contactEmail: email,
  /** Days a partner has to act on a notice. */
  responseDays: z.number().int().positive().max(365).default(14),
});

export const RegistrySchema = z
  .strictObject({
    version: z.literal(1),
    provider: ProviderSchema,
    settings: z
      .strictObject({
        /** How many leading key segments name a dataset (`feeds/weather/` is depth 2). */
        datasetDepth: z.number().int().min(1).max(8).default(2),
        /** Principals that are the provider's own and never a finding (globs with `*`). */
        ignoredRequesters: z.array(z.string().min(1)).default(['svc:*', 'AmazonS3']),
        /** Dataset manifest (CSV `key_or_prefix,records`), relative to the registry file. */
        manifest: z.string().min(1).optional(),
        /**
         * Keep the holdings table (what each partner holds, ../domain/HOLDINGS.md): it costs ingestion,
         * so it is off unless asked for. Turning it on or off rebuilds the state from its logs once.
         */
        holdings: z.boolean().default(false),
      })
      .default({ datasetDepth: 2, ignoredRequesters: ['svc:*', 'AmazonS3'], holdings: false }),
    partners: z.array(PartnerSchema).min(1),
  })
  .superRefine((reg, ctx) => {
    const partnerIds = new Map<string, number>();
    const exactPrincipals = new Map<string, string>();
    reg.partners.forEach((p, pi) => {
      if (partnerIds.has(p.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['partners', pi, 'id'],
          message: `duplicate partner id "${p.id}"`,
        });
      }
      partnerIds.set(p.id, pi);
      const appIds = new Set<string>();
      p.applications.forEach((a, ai) => {
        if (appIds.has(a.id)) {
          ctx.addIssue({
            code: 'custom',
            path: ['partners', pi, 'applications', ai, 'id'],
            message: `duplicate application id "${a.id}"`,
          });
        }
        appIds.add(a.id);
        a.principals.forEach((pr, ri) => {
          const key = JSON.stringify(pr);
          const where = `partners[${pi}].applications[${ai}].principals[${ri}]`;
          const prior = exactPrincipals.get(key);
          if (prior) {
            ctx.addIssue({
              code: 'custom',
              path: ['partners', pi, 'applications', ai, 'principals', ri],
              message: `same principal already identifies ${prior}`,
            });
          } else exactPrincipals.set(key, where);
        });
      });
      const sorted = p.contracts
        .map((c, ci) => ({ c, ci }))
        .sort((a, b) => (a.c.effectiveFrom < b.c.effectiveFrom ? -1 : 1));
      sorted.forEach(({ c, ci }, k) => {
        if (c.effectiveTo !== undefined && c.effectiveTo <= c.effectiveFrom) {
          ctx.addIssue({
            code: 'custom',
            path: ['partners', pi, 'contracts', ci, 'effectiveTo'],
            message: 'must be after effectiveFrom',
          });
        }
        const next = sorted[k + 1];
        if (next && (c.effectiveTo === undefined || c.effectiveTo > next.c.effectiveFrom)) {
          ctx.addIssue({
            code: 'custom',
            path: ['partners', pi, 'contracts', ci],
            message: `overlaps contract "${next.c.id}" which starts ${next.c.effectiveFrom}`,
          });
        }
        for (const appId of Object.keys(c.applicationLimits)) {
          if (!appIds.has(appId)) {
            ctx.addIssue({
              code: 'custom',
              path: ['partners', pi, 'contracts', ci, 'applicationLimits', appId],
              message: `no application "${appId}" in this partner`,
            });
          }
        }
        c.datasets.forEach((ds, di) => {
          const depth = ds.split('/').length - 1;
          if (depth > reg.settings.datasetDepth) {
            ctx.addIssue({
              code: 'custom',
              path: ['partners', pi, 'contracts', ci, 'datasets', di],
              message: `has ${depth} segments, deeper than settings.datasetDepth (${reg.settings.datasetDepth})`,
            });
          }
        });
        const levels = new Set<string>();
        c.thresholds.forEach((t, ti) => {
          if (levels.has(t.level)) {
            ctx.addIssue({
              code: 'custom',
              path: ['partners', pi, 'contracts', ci, 'thresholds', ti, 'level'],
              message: `duplicate level "${t.level}"`,
            });
          }
          levels.add(t.level);
          if (t.level === 'unexplained-access') {
            ctx.addIssue({
              code: 'custom',
              path: ['partners', pi, 'contracts', ci, 'thresholds', ti, 'level'],
              message:
                '"unexplained-access" is the network findings\' notice level (unexplainedAccessNotice)',
            });
          }
        });
        if (c.thresholds.every((t) => t.basis === 'forecast')) {
          // A forecast notice is a warning before an actual level: without one there is no overage notice.
          ctx.addIssue({
            code: 'custom',
            path: ['partners', pi, 'contracts', ci, 'thresholds'],
            message: 'needs at least one threshold with basis "actual"',
          });
        }
      });
    });
  });

export type Registry = z.infer<typeof RegistrySchema>;

/** One problem in a registry: where (a path such as `partners[2].applications[0].principals[1]`) and what. */
export interface RegistryProblem {
  readonly path: string;
  readonly message: string;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly source: string,
    readonly problems: readonly RegistryProblem[],
  ) {
    super(
      `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the partner registry:\n` +
        problems.map((p) => `  ${p.path || '(top)'}: ${p.message}`).join('\n'),
    );
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/**
 * Parse and validate registry text. `source` names the file in messages. YAML is a superset of
 * JSON, so one parser reads both. Throws RegistryError listing every problem with its path.
 */
export function parseRegistry(text: string, source: string): Registry {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    const line = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line})` : '';
    throw new RegistryError(source, [
      { path: '', message: `not valid YAML/JSON${line}: ${(e as Error).message}` },
    ]);
  }
  const result = RegistrySchema.safeParse(raw);
  if (!result.success) {
    throw new RegistryError(
      source,
      result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** The contract version in force on local date `date`, if any. */
export function contractOn(partner: Partner, date: string): Contract | undefined {
  return partner.contracts.find(
    (c) => c.effectiveFrom <= date && (c.effectiveTo === undefined || date < c.effectiveTo),
  );
}

export function limitOf(limits: MetricLimits, metric: Metric): bigint | undefined {
  return limits[metric];
}

export { METRICS };
