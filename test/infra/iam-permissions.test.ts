/**
 * What a deploy needs, checked against the synthesised template: each Lambda role can do what its
 * handler does at run time, as the handler declares it (SDK_ACTIONS and ATHENA_TABLES in each
 * `functions/handlers/<step>.handler.ts`, types in sdk-actions.ts):
 * - every listed action on every listed resource, the resources found the way the handler finds them:
 *   from the function's environment variables in the template (REPORT_BUCKET, LEDGER_TABLE, ...);
 * - for Athena, what Athena does with the caller's permissions: Glue on the catalog, database and each
 *   table the statements use (GetPartitions for a partitioned Hive table, UpdateTable to write an
 *   Iceberg table), S3 on each table's location and on the workgroup's result location;
 * - KMS on every customer-managed key that encrypts one of those resources.
 * And the lists are honest: each names exactly the commands its handler's imports can send (a static
 * scan for `new XCommand(` through the handler's relative imports).
 *
 * The role's statements are evaluated as IAM does for Allow (action and resource wildcards, and the
 * s3:prefix condition); a condition on any other key fails the test, to be taught here, rather than
 * passing unexamined.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { AthenaTableUse, SdkAction, SdkResource } from '../../functions/handlers/sdk-actions.js';
import { AUDIT_STEPS, type AuditStep } from '../../lib/constructs/audit-functions.js';
import {
  configWith,
  EXISTING_LOGS,
  functionId,
  ROOT,
  registryWithManifest,
  resourcesOf,
  statementsOfStep,
  synth,
} from './helpers.js';

const REGION = 'eu-central-1';
const ACCOUNT = '123456789012';

const handlers = {
  plan: await import('../../functions/handlers/plan.handler.js'),
  rollup: await import('../../functions/handlers/rollup.handler.js'),
  aggregate: await import('../../functions/handlers/aggregate.handler.js'),
  assess: await import('../../functions/handlers/assess.handler.js'),
  assemble: await import('../../functions/handlers/assemble.handler.js'),
  notify: await import('../../functions/handlers/notify.handler.js'),
  publish: await import('../../functions/handlers/publish.handler.js'),
} satisfies Record<
  AuditStep,
  { SDK_ACTIONS: readonly SdkAction[]; ATHENA_TABLES: readonly AthenaTableUse[] }
>;

// ---------------------------------------------------------------------------------------------
// The commands a handler's code can send

/** The handler and every module it imports (relative, non-type imports), transitively. */
function importGraph(entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.[^']+)'/gm)) {
      if (m[1]) continue;
      const spec = resolve(dirname(file), m[2]!);
      const candidates = [spec.replace(/\.js$/, '.ts'), spec.replace(/\.mjs$/, '.mts'), spec];
      const found = candidates.find((c) => existsSync(c));
      if (!found) throw new Error(`${file}: cannot resolve ${m[2]}`);
      queue.push(found);
    }
  }
  return [...seen];
}

const IAM_PREFIX: Readonly<Record<string, string>> = {
  athena: 'athena',
  s3: 's3',
  dynamodb: 'dynamodb',
  ses: 'ses',
  sesv2: 'ses',
  sfn: 'states',
};

/** Commands whose IAM action is not named after them. */
const IAM_ACTION_OF: Readonly<Record<string, string>> = { 's3:ListObjectsV2': 's3:ListBucket' };

/** The IAM action for each `new XCommand(` in the files (`service:X`, the service from X's import). */
function commandsSent(files: readonly string[]): string[] {
  const out = new Set<string>();
  for (const file of files) {
    // Comments may mention a command without sending it.
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    const serviceOf = new Map<string, string>();
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g)) {
      const prefix = IAM_PREFIX[m[2]!];
      for (const spec of m[1]!.split(',')) {
        const name = spec.trim().replace(/^type\s+/, '');
        if (name) serviceOf.set(name, prefix ?? `unknown-client-${m[2]}`);
      }
    }
    for (const m of text.matchAll(/new\s+(\w+)Command\(/g)) {
      const service = serviceOf.get(`${m[1]}Command`);
      if (!service) throw new Error(`${file}: new ${m[1]}Command( from an import this scan does not know`);
      const action = `${service}:${m[1]}`;
      out.add(IAM_ACTION_OF[action] ?? action);
    }
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------
// Plausible values for the template's references, the same for policies and for what is required

type Resources = ReturnType<typeof resourcesOf>;

class Resolver {
  constructor(private readonly resources: Resources) {}

  private props(id: string): Record<string, unknown> {
    const r = this.resources[id];
    if (!r) throw new Error(`no resource ${id}`);
    return r.Properties ?? {};
  }

  /** What `Ref` gives for a resource. */
  private ref(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'PartnerAudit',
      'AWS::StackId': `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/PartnerAudit/1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d`,
    };
    if (pseudo[id]) return pseudo[id];
    const type = this.resources[id]?.Type;
    const p = this.props(id);
    const named = (key: string) => (typeof p[key] === 'string' ? (p[key] as string) : id.toLowerCase());
    switch (type) {
      case 'AWS::S3::Bucket':
        return named('BucketName');
      case 'AWS::DynamoDB::Table':
        return named('TableName');
      case 'AWS::SES::EmailIdentity':
        return this.value(p['EmailIdentity']);
      case 'AWS::SES::ConfigurationSet':
        return named('Name');
      case 'AWS::Athena::WorkGroup':
        return named('Name');
      case 'AWS::KMS::Key':
        return `key-${id.toLowerCase()}`;
      default:
        throw new Error(`no plausible Ref for ${id} (${type})`);
    }
  }

  /** What `Fn::GetAtt [id, Arn]` gives. */
  private arn(id: string): string {
    const type = this.resources[id]?.Type;
    switch (type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${this.ref(id)}`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${this.ref(id)}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${this.ref(id)}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${id.toLowerCase()}:*`;
      default:
        throw new Error(`no plausible ARN for ${id} (${type})`);
    }
  }

  value(v: unknown): string {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (typeof o['Ref'] === 'string') return this.ref(o['Ref']);
    const getAtt = o['Fn::GetAtt'] as [string, string] | undefined;
    if (getAtt && getAtt[1] === 'Arn') return this.arn(getAtt[0]);
    const join = o['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return join[1].map((p) => this.value(p)).join(join[0]);
    // Fn::Select of an Fn::Split: the stack-unique name suffix (lib/creation-suffix.ts).
    const select = o['Fn::Select'] as [number, unknown] | undefined;
    if (select) {
      const split = (select[1] as Record<string, unknown>)['Fn::Split'] as [string, unknown] | undefined;
      if (split) {
        const part = this.value(split[1]).split(split[0])[select[0]];
        if (part !== undefined) return part;
      }
    }
    throw new Error(`no plausible value for ${JSON.stringify(v)}`);
  }

  /** The resource id behind a value that is a plain `Ref`, if it is one. */
  refId(v: unknown): string | undefined {
    const id = (v as { Ref?: unknown } | undefined)?.Ref;
    return typeof id === 'string' && this.resources[id] ? id : undefined;
  }

  /** Ids of resources of a type whose property `key` resolves to `value`. */
  findByName(type: string, path: readonly string[], value: string): string[] {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === type)
      .filter(([, r]) => {
        let at: unknown = r.Properties;
        for (const k of path) at = (at as Record<string, unknown> | undefined)?.[k];
        return at !== undefined && this.value(at) === value;
      })
      .map(([id]) => id);
  }
}

// ---------------------------------------------------------------------------------------------
// What is required, and whether the role allows it

interface Need {
  readonly action: string;
  readonly arn: string;
  /** Request context for conditions, e.g. s3:prefix of a ListBucket. */
  readonly context?: Readonly<Record<string, string>>;
  readonly why: string;
}

interface Statement {
  readonly Effect?: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

function wildcard(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
}

function allows(s: Statement, need: Need, r: Resolver): boolean | string {
  if (s.Effect !== 'Allow') return false;
  const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
  if (!actions.some((a) => wildcard(a).test(need.action))) return false;
  const resources = (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((x) => r.value(x));
  // ARNs are case-sensitive after the service; compare exactly but for the wildcards.
  if (!resources.some((x) => new RegExp(wildcard(x).source).test(need.arn))) return false;
  for (const [operator, entries] of Object.entries(s.Condition ?? {})) {
    for (const [key, expected] of Object.entries(entries)) {
      const known =
        (key === 's3:prefix' && ['StringLike', 'StringEquals'].includes(operator)) ||
        (key === 'dynamodb:LeadingKeys' && operator === 'ForAllValues:StringEquals');
      if (!known) return `condition ${operator} ${key} is not evaluated by this test`;
      const actual = need.context?.[key];
      const values = (Array.isArray(expected) ? expected : [expected]).map((x) => r.value(x));
      if (actual === undefined) return false;
      // ForAllValues over the one leading key a request names is plain equality with one of the values.
      const ok = values.some((v) =>
        operator === 'StringLike' ? new RegExp(wildcard(v).source).test(actual) : v === actual,
      );
      if (!ok) return false;
    }
  }
  return true;
}

/** Bucket ARN and key of an `s3://bucket/prefix` location. */
function s3Location(url: string): { bucketArn: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m) throw new Error(`not an S3 location: ${url}`);
  return { bucketArn: `arn:aws:s3:::${m[1]}`, prefix: m[2]! };
}

/** KMS keys (customer managed) that encrypt a bucket, by its ARN. */
function bucketKeys(r: Resolver, resources: Resources, bucketArn: string): string[] {
  const name = bucketArn.replace('arn:aws:s3:::', '');
  const ids: string[] = [];
  for (const [id, res] of Object.entries(resources)) {
    if (res.Type !== 'AWS::S3::Bucket') continue;
    if (r.value({ Ref: id }) !== name) continue;
    const rules =
      ((res.Properties?.['BucketEncryption'] as { ServerSideEncryptionConfiguration?: unknown[] } | undefined)
        ?.ServerSideEncryptionConfiguration as {
        ServerSideEncryptionByDefault?: { KMSMasterKeyID?: unknown };
      }[]) ?? [];
    for (const rule of rules) {
      const key = rule.ServerSideEncryptionByDefault?.KMSMasterKeyID;
      if (key !== undefined) ids.push(r.value(key));
    }
  }
  return ids;
}

function s3Needs(
  r: Resolver,
  resources: Resources,
  bucketArn: string,
  key: string,
  actions: readonly string[],
  why: string,
): Need[] {
  const out: Need[] = actions.map((action) => ({ action, arn: `${bucketArn}/${key}`, why }));
  for (const keyArn of bucketKeys(r, resources, bucketArn)) {
    const kms = actions.some((a) => a === 's3:PutObject')
      ? ['kms:GenerateDataKey', 'kms:Decrypt']
      : ['kms:Decrypt'];
    out.push(...kms.map((action) => ({ action, arn: keyArn, why: `${why} (the bucket's KMS key)` })));
  }
  return out;
}

/**
 * Everything a step's role must allow in this deployment, from the step's own declarations.
 * `objects` gives the keys the stack itself deploys into a table's location (the manifest table's
 * one object), where the grant names exactly those; elsewhere a sample key under the location.
 */
function needsOf(template: Template, step: AuditStep, objects: readonly string[] = []): Need[] {
  const resources = resourcesOf(template);
  const r = new Resolver(resources);
  const fn = resources[functionId(template, step.charAt(0).toUpperCase() + step.slice(1))]!;
  const envRaw = ((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables ??
    {}) as Record<string, unknown>;
  const env = (name: string): string => {
    if (envRaw[name] === undefined) throw new Error(`${step}: the stack sets no ${name}`);
    return r.value(envRaw[name]);
  };
  const { SDK_ACTIONS, ATHENA_TABLES } = handlers[step];
  const needs: Need[] = [];
  for (const a of SDK_ACTIONS) {
    if (a.when && (envRaw[a.when.env] === undefined || env(a.when.env) !== a.when.equals)) continue;
    for (const on of a.on as readonly SdkResource[]) {
      const why = `${step} sends ${a.action}`;
      if ('s3Object' in on) {
        const key = on.s3Object.key.replace(/<(\w+)>/g, (_m, v: string) => env(v));
        needs.push(
          ...s3Needs(r, resources, `arn:aws:s3:::${env(on.s3Object.bucketEnv)}`, key, [a.action], why),
        );
      } else if ('athenaWorkgroup' in on) {
        needs.push({
          action: a.action,
          arn: `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/${env(on.athenaWorkgroup)}`,
          why,
        });
      } else if ('dynamodbTable' in on) {
        const name = env(on.dynamodbTable);
        needs.push({ action: a.action, arn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`, why });
        for (const id of Object.keys(resources)) {
          const t = resources[id]!;
          if (t.Type !== 'AWS::DynamoDB::Table' || r.value({ Ref: id }) !== name) continue;
          const key = (t.Properties?.['SSESpecification'] as { KMSMasterKeyId?: unknown } | undefined)
            ?.KMSMasterKeyId;
          if (key !== undefined)
            needs.push(
              ...['kms:Decrypt', 'kms:GenerateDataKey'].map((action) => ({
                action,
                arn: r.value(key),
                why: `${why} (the table's KMS key)`,
              })),
            );
        }
      } else if ('dynamodbIndex' in on) {
        const name = env(on.dynamodbIndex.tableEnv);
        needs.push({
          action: a.action,
          arn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}/index/${on.dynamodbIndex.index}`,
          why,
        });
      } else if ('dynamodbItem' in on) {
        const name = env(on.dynamodbItem.tableEnv);
        needs.push({
          action: a.action,
          arn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`,
          context: { 'dynamodb:LeadingKeys': on.dynamodbItem.leadingKey },
          why,
        });
      } else if ('s3Prefix' in on) {
        const prefix = on.s3Prefix.prefix.replace(/<(\w+)>/g, (_m, v: string) => env(v));
        needs.push({
          action: a.action,
          arn: `arn:aws:s3:::${env(on.s3Prefix.bucketEnv)}`,
          context: { 's3:prefix': prefix },
          why,
        });
      } else if ('sesIdentity' in on) {
        const ids = Object.keys(resources).filter((id) => resources[id]!.Type === 'AWS::SES::EmailIdentity');
        expect(ids.length, 'one SES identity in the stack').toBe(1);
        needs.push({
          action: a.action,
          arn: `arn:aws:ses:${REGION}:${ACCOUNT}:identity/${r.value({ Ref: ids[0] })}`,
          why,
        });
      } else if ('sesConfigurationSet' in on) {
        needs.push({
          action: a.action,
          arn: `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/${env(on.sesConfigurationSet)}`,
          why,
        });
      }
    }
  }
  if (ATHENA_TABLES.length > 0 || SDK_ACTIONS.some((a) => a.action.startsWith('athena:'))) {
    // Athena writes each result to the workgroup's output location, as the caller.
    const workgroups = r.findByName('AWS::Athena::WorkGroup', ['Name'], env('ATHENA_WORKGROUP'));
    expect(workgroups, `the workgroup ${env('ATHENA_WORKGROUP')}`).toHaveLength(1);
    const wg = resources[workgroups[0]!]!.Properties!['WorkGroupConfiguration'] as {
      ResultConfiguration: {
        OutputLocation: unknown;
        EncryptionConfiguration?: { EncryptionOption: string; KmsKey?: unknown };
      };
    };
    const out = s3Location(r.value(wg.ResultConfiguration.OutputLocation));
    const why = `${step}'s Athena queries write their results`;
    needs.push(
      ...s3Needs(r, resources, out.bucketArn, `${out.prefix}q-1.csv`, ['s3:PutObject', 's3:GetObject'], why),
    );
    needs.push({ action: 's3:GetBucketLocation', arn: out.bucketArn, why });
    const enc = wg.ResultConfiguration.EncryptionConfiguration;
    if (enc?.EncryptionOption === 'SSE_KMS' && enc.KmsKey !== undefined) {
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
        needs.push({ action, arn: r.value(enc.KmsKey), why });
    }
  }
  const database = ATHENA_TABLES.length > 0 ? env('GLUE_DATABASE') : '';
  for (const use of ATHENA_TABLES) {
    if (envRaw[use.tableEnv] === undefined) continue; // e.g. no manifest table in this deployment
    const name = env(use.tableEnv);
    const ids = r.findByName('AWS::Glue::Table', ['TableInput', 'Name'], name);
    expect(ids, `the Glue table ${name}`).toHaveLength(1);
    const p = resources[ids[0]!]!.Properties as {
      TableInput: { PartitionKeys?: unknown[]; StorageDescriptor?: { Location?: unknown } };
      OpenTableFormatInput?: { IcebergInput?: { IcebergTableInput?: { Location: unknown } } };
    };
    const why = `${step}'s Athena statements ${use.write ? 'write' : 'read'} ${name}`;
    const glue = `arn:aws:glue:${REGION}:${ACCOUNT}`;
    // Glue authorises a table read on the catalog, the database and the table alike.
    const catalog = [`${glue}:catalog`, `${glue}:database/${database}`];
    const table = `${glue}:table/${database}/${name}`;
    for (const arn of catalog) needs.push({ action: 'glue:GetDatabase', arn, why });
    for (const arn of [...catalog, table]) needs.push({ action: 'glue:GetTable', arn, why });
    if ((p.TableInput.PartitionKeys ?? []).length > 0) {
      for (const arn of [...catalog, table]) needs.push({ action: 'glue:GetPartitions', arn, why });
    }
    const iceberg = p.OpenTableFormatInput?.IcebergInput?.IcebergTableInput;
    if (use.write && iceberg) {
      for (const arn of [...catalog, table]) needs.push({ action: 'glue:UpdateTable', arn, why });
    }
    const location = s3Location(r.value(iceberg?.Location ?? p.TableInput.StorageDescriptor?.Location));
    // Objects under the location: those the stack deploys there (the grant names them), else a
    // sample: a partition's log object, a data file.
    const deployed = objects.filter(
      (k) => k.startsWith(location.prefix) && !k.slice(location.prefix.length).includes('/'),
    );
    const samples =
      deployed.length > 0
        ? deployed
        : [`${location.prefix}${(p.TableInput.PartitionKeys ?? []).length > 0 ? '2026/03/14/' : ''}object-1`];
    const actions = use.write ? ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] : ['s3:GetObject'];
    needs.push(
      ...samples.flatMap((sample) => s3Needs(r, resources, location.bucketArn, sample, actions, why)),
      { action: 's3:ListBucket', arn: location.bucketArn, context: { 's3:prefix': location.prefix }, why },
    );
  }
  return needs;
}

/** Needs the role does not allow, each as one line. */
function missing(template: Template, step: AuditStep, objects: readonly string[] = []): string[] {
  const r = new Resolver(resourcesOf(template));
  const statements = statementsOfStep(template, step.charAt(0).toUpperCase() + step.slice(1)) as Statement[];
  return needsOf(template, step, objects).flatMap((need) => {
    const verdicts = statements.map((s) => allows(s, need, r));
    if (verdicts.includes(true)) return [];
    const unevaluated = verdicts.find((v): v is string => typeof v === 'string');
    return [`${need.action} on ${need.arn} (${need.why})${unevaluated ? `: ${unevaluated}` : ''}`];
  });
}

// ---------------------------------------------------------------------------------------------

describe('each handler lists the AWS commands it can send', () => {
  it.each(AUDIT_STEPS)('%s: SDK_ACTIONS names exactly the commands its imports send', (step) => {
    const files = importGraph(join(ROOT, 'functions', 'handlers', `${step}.handler.ts`));
    const declared = [...new Set(handlers[step].SDK_ACTIONS.map((a) => a.action))].sort();
    expect(commandsSent(files)).toEqual(declared);
  });

  it('finds commands through imports, and not through type-only imports (the scan works)', () => {
    const files = importGraph(join(ROOT, 'functions', 'handlers', 'notify.handler.ts'));
    expect(files.some((f) => f.endsWith('ses-mailer.ts'))).toBe(true);
    expect(files.some((f) => f.endsWith('athena-client.ts'))).toBe(false);
    expect(commandsSent(files)).toContain('ses:SendRawEmail');
  });
});

const DEPLOYMENTS = [
  ['sending notices, created data bucket', () => configWith({ noticeMode: 'send' })],
  ['previewing notices', () => configWith()],
  [
    'an existing log bucket with a dataset manifest',
    () => configWith({ ...EXISTING_LOGS, noticeMode: 'send', registryFile: registryWithManifest() }),
  ],
] as const;

describe.each(DEPLOYMENTS)('the roles of a deployment %s', (_name, config) => {
  const { template, stack } = synth(config());
  const objects = [
    ...(stack.registry.manifestTableKey ? [stack.registry.manifestTableKey] : []),
    // The registry's tables: one canonical file each, deployed with the registry.
    ...Object.values(stack.registry.registryTableKeys),
  ];

  it.each(AUDIT_STEPS)('%s can do everything its handler declares', (step) => {
    expect(needsOf(template, step, objects).length).toBeGreaterThan(0);
    expect(missing(template, step, objects)).toEqual([]);
  });
});

describe('the check itself', () => {
  const { template } = synth(configWith({ noticeMode: 'send' }));

  it('asks for SES on the identity and the configuration set, the ledger, and the Athena tables', () => {
    const notify = needsOf(template, 'notify').map((n) => `${n.action} ${n.arn}`);
    expect(notify).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ses:SendRawEmail arn:aws:ses:.*:identity\/.+/),
        expect.stringMatching(/^ses:SendRawEmail arn:aws:ses:.*:configuration-set\/.+/),
        expect.stringMatching(/^dynamodb:UpdateItem arn:aws:dynamodb:.*:table\/.+/),
      ]),
    );
    const rollup = needsOf(template, 'rollup').map((n) => `${n.action} ${n.arn}`);
    expect(rollup).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^glue:GetPartitions .*:table\/partner_audit\/access_logs$/),
        expect.stringMatching(/^glue:UpdateTable .*:table\/partner_audit\/usage_rollup$/),
        expect.stringMatching(/^athena:StartQueryExecution .*:workgroup\/.+/),
        expect.stringMatching(/^s3:PutObject arn:aws:s3:::.+\/results\/q-1\.csv$/),
      ]),
    );
  });

  it('reports what a role lacks when a grant is taken away', () => {
    const json = template.toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const stripped = structuredClone(json);
    for (const res of Object.values(stripped.Resources)) {
      if (res.Type !== 'AWS::IAM::Policy') continue;
      const doc = res.Properties['PolicyDocument'] as { Statement: Statement[] };
      doc.Statement = doc.Statement.filter(
        (s) => !(Array.isArray(s.Action) ? s.Action : [s.Action]).includes('ses:SendRawEmail'),
      );
    }
    const lacking = missing(Template.fromJSON(stripped), 'notify');
    expect(lacking).toHaveLength(2);
    for (const l of lacking) expect(l).toMatch(/^ses:SendRawEmail on arn:aws:ses:/);
  });
});
