/**
 * Shared by the infra tests: deployment settings built from the example file, a synthesised stack
 * (bundling skipped unless asked for, so template tests stay fast), and readers for the parts of the
 * template that are awkward to match directly (the state machine definition, a role's actions).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type DeployConfig, parseDeployConfig } from '../../lib/config.js';
import { createPartnerAuditApp } from '../../lib/partner-audit-app.js';
import type { PartnerAuditStack } from '../../lib/partner-audit-stack.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const EXAMPLE_CONFIG = join(ROOT, 'deploy.config.example.json');

/** The example settings with `changes` merged in at the top level. */
export function exampleSettings(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const raw = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...raw, ...changes };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) delete out[k];
  return out;
}

/** Validated settings: the example plus `changes`, anchored at the project root. */
export function configWith(changes: Record<string, unknown> = {}): DeployConfig {
  return parseDeployConfig(exampleSettings(changes), { source: EXAMPLE_CONFIG });
}

/** A small dataset manifest in the forms an operator writes: a prefix, nested ones, exact and quoted keys. */
export const EXAMPLE_MANIFEST = `key_or_prefix,records
# weather files hold a reading an hour
feeds/weather/,8760
feeds/weather/hourly/,24
feeds/weather/2026/03/14/obs-0900.csv,1000
"sales,eu/summary.csv",12
`;

/**
 * The example registry with `settings.manifest` naming `manifestText`, written with it to a fresh
 * temporary folder; returns the registry's path (for `registryFile`).
 */
export function registryWithManifest(manifestText: string = EXAMPLE_MANIFEST): string {
  const dir = mkdtempSync(join(tmpdir(), 'pa-manifest-'));
  const example = readFileSync(join(ROOT, 'lib', 'example-registry.yaml'), 'utf8');
  const text = example.replace(/^settings:\n/m, 'settings:\n  manifest: manifest.csv\n');
  if (text === example) throw new Error('the example registry has no settings section to add a manifest to');
  writeFileSync(join(dir, 'registry.yaml'), text);
  writeFileSync(join(dir, 'manifest.csv'), manifestText);
  return join(dir, 'registry.yaml');
}

/** An existing log bucket instead of a created data bucket. */
export const EXISTING_LOGS = {
  createDataBucket: undefined,
  logBucket: {
    name: 'acme-logs',
    prefix: 's3-access/',
    sourceBucket: 'acme-data',
    sourceAccount: '123456789012',
    sourceRegion: 'eu-central-1',
  },
};

export interface Synthesised {
  readonly app: App;
  readonly stack: PartnerAuditStack;
  readonly template: Template;
}

/** Build and synthesise the stack. Bundling is skipped unless `bundle` (then `outdir` holds the assets). */
export function synth(
  config: DeployConfig,
  opts: { bundle?: boolean; outdir?: string; handlersDir?: string } = {},
): Synthesised {
  const { app, stack } = createPartnerAuditApp({
    cwd: ROOT,
    config,
    nag: false,
    ...(opts.handlersDir ? { handlersDir: opts.handlersDir } : {}),
    ...(opts.outdir ? { outdir: opts.outdir } : {}),
    // An empty bundling list makes NodejsFunction skip esbuild: the template is the same.
    context: opts.bundle ? { 'aws:cdk:enable-asset-metadata': true } : { 'aws:cdk:bundling-stacks': [] },
  });
  return { app, stack, template: Template.fromStack(stack) };
}

type Resources = Record<
  string,
  { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }
>;

export function resourcesOf(template: Template): Resources {
  return template.toJSON().Resources as Resources;
}

/**
 * The state machine definition as an object. Its DefinitionString is an Fn::Join of text and
 * references (function ARNs, the topic); references become "<ref>".
 */
export function stateMachineDefinition(template: Template): StateMachineDefinition {
  // The audit run's; the stack's other state machine is the rollup's weekly upkeep.
  const machines = Object.entries(template.findResources('AWS::StepFunctions::StateMachine'))
    .filter(([id]) => id.startsWith('AuditRunStateMachine'))
    .map(([, m]) => m);
  if (machines.length !== 1)
    throw new Error(`expected one audit run state machine, found ${machines.length}`);
  const body = (machines[0]!.Properties as { DefinitionString: unknown }).DefinitionString;
  const text =
    typeof body === 'string'
      ? body
      : ((body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] ?? [])
          .map((part) => (typeof part === 'string' ? part : '<ref>'))
          .join('');
  return JSON.parse(text) as StateMachineDefinition;
}

export interface StateDefinition {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly MaxConcurrency?: number;
  readonly ItemsPath?: string;
  readonly ItemSelector?: Record<string, unknown>;
  readonly ResultPath?: string | null;
  readonly Parameters?: Record<string, unknown>;
  readonly QueryLanguage?: string;
  readonly Output?: unknown;
  readonly Retry?: {
    ErrorEquals: string[];
    BackoffRate?: number;
    JitterStrategy?: string;
    MaxAttempts?: number;
    IntervalSeconds?: number;
  }[];
  readonly Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  readonly ItemProcessor?: StateMachineDefinition;
  readonly Choices?: { Condition?: string; Next: string }[];
  readonly Default?: string;
  readonly ErrorPath?: string;
  readonly CausePath?: string;
}

export interface StateMachineDefinition {
  readonly StartAt: string;
  readonly States: Record<string, StateDefinition>;
}

/** Logical id of the Lambda function of a step (`Plan`, `Rollup`, ...). */
export function functionId(template: Template, step: string): string {
  const ids = Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) =>
    id.startsWith(`Functions${step}Function`),
  );
  if (ids.length !== 1) throw new Error(`expected one function for step ${step}, found ${ids.join(', ')}`);
  return ids[0]!;
}

/** Every IAM statement of the role a step's function runs as. */
export function statementsOfStep(
  template: Template,
  step: string,
): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const resources = resourcesOf(template);
  const fn = resources[functionId(template, step)]!;
  const roleId = ((fn.Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'] ?? [])[0];
  const out: { Action: string | string[]; Resource: unknown }[] = [];
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (r.Properties!.Roles as { Ref: string }[]).map((x) => x.Ref);
    if (!roles.includes(roleId!)) continue;
    out.push(...(r.Properties!.PolicyDocument as { Statement: typeof out }).Statement);
  }
  return out;
}

/** Every action a step's role is allowed. */
export function actionsOfStep(template: Template, step: string): string[] {
  return statementsOfStep(template, step).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}
