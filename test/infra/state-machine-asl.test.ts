/**
 * The audit state machine as synthesised, held against the Amazon States Language and against the
 * step contracts (the zod schemas each handler exports for its input and output):
 * - asl-validator accepts the definition with its CloudFormation references resolved to plausible
 *   ARNs;
 * - every Next, Default and Catch names a state of its scope, and every Retry and Catch names errors
 *   that exist: Step Functions' own (States.*), the Lambda service's (Lambda.*, on Lambda tasks only)
 *   or an error class the handlers throw (functions/handlers/errors.ts);
 * - a run is walked state by state with the data Step Functions would pass: the real Plan and RollUp
 *   code, and stand-ins for Evaluate, Notify and Publish whose outputs are parsed by those steps'
 *   output schemas. Each Parameters, ItemSelector, ItemsPath, ResultPath, ErrorPath and JSONata
 *   expression is applied as Step Functions applies it, so a path to a field the producer does not
 *   always write fails here, and each Lambda's input must pass its handler's input schema. Runs where
 *   each state with a Catch fails are walked too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import type { Template } from 'aws-cdk-lib/assertions';
import jsonata from 'jsonata';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import * as handlerErrors from '../../functions/handlers/errors.js';
import { EvaluateInputSchema } from '../../functions/handlers/evaluate.handler.js';
import { runKey } from '../../functions/handlers/evaluation-document.js';
import { NotifyInputSchema } from '../../functions/handlers/notify.handler.js';
import { plan } from '../../functions/handlers/plan.handler.js';
import { PublishInputSchema } from '../../functions/handlers/publish.handler.js';
import { rollup } from '../../functions/handlers/rollup.handler.js';
import {
  AggregateOutputSchema,
  AssembleInputSchema,
  AssessInputSchema,
  AssessOutputSchema,
  EvaluateOutputSchema,
  NoticeFailureSchema,
  NotifyOutputSchema,
  PlanOutputSchema,
  PublishOutputSchema,
  RollupOutputSchema,
} from '../../functions/handlers/step-contracts.js';
import { AUDIT_STEPS, type AuditStep } from '../../lib/constructs/audit-functions.js';
import { configWith, ROOT, resourcesOf, synth } from './helpers.js';

const REGION = 'eu-central-1';
const ACCOUNT = '123456789012';

// ---------------------------------------------------------------------------------------------
// The definition with its references resolved

type Resources = ReturnType<typeof resourcesOf>;

/** A plausible value for a reference in the definition, by what it refers to. */
function plausible(ref: unknown, resources: Resources): string {
  const r = ref as { Ref?: string; 'Fn::GetAtt'?: [string, string]; 'Fn::Select'?: [number, unknown] };
  // The stack-unique name suffix (lib/creation-suffix.ts): a part of the stack id.
  const select = r['Fn::Select'];
  const split = (select?.[1] as { 'Fn::Split'?: [string, unknown] } | undefined)?.['Fn::Split'];
  if (select && split) {
    const part = plausible(split[1], resources).split(split[0])[select[0]];
    if (part !== undefined) return part;
  }
  if (r.Ref === 'AWS::StackId')
    return `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/PartnerAudit/1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d`;
  if (r.Ref === 'AWS::StackName') return 'PartnerAudit';
  if (r.Ref === 'AWS::Partition') return 'aws';
  if (r.Ref === 'AWS::Region') return REGION;
  if (r.Ref === 'AWS::AccountId') return ACCOUNT;
  if (r.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
  const id = r.Ref ?? r['Fn::GetAtt']?.[0];
  const type = id === undefined ? undefined : resources[id]?.Type;
  if (type === 'AWS::SNS::Topic' && r.Ref) return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
  if (type === 'AWS::Lambda::Function' && r['Fn::GetAtt']?.[1] === 'Arn')
    return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
  throw new Error(`no plausible value for ${JSON.stringify(ref)} (${type ?? 'unknown resource'})`);
}

interface State {
  readonly Type: string;
  readonly QueryLanguage?: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Resource?: string;
  readonly Parameters?: unknown;
  readonly Result?: unknown;
  readonly ResultPath?: string | null;
  readonly Output?: unknown;
  readonly ItemsPath?: string;
  readonly ItemSelector?: unknown;
  readonly ItemProcessor?: Scope;
  /** A Distributed Map's items from S3: `arn:aws:states:::s3:getObject` with Bucket and Key. */
  readonly ItemReader?: { readonly Resource: string; readonly Parameters: unknown };
  readonly ResultSelector?: unknown;
  readonly Retry?: readonly { readonly ErrorEquals: readonly string[] }[];
  readonly Catch?: readonly {
    readonly ErrorEquals: readonly string[];
    readonly Next: string;
    readonly ResultPath?: string | null;
  }[];
  readonly Choices?: readonly { readonly Condition?: string; readonly Next: string }[];
  readonly Default?: string;
  readonly Error?: string;
  readonly ErrorPath?: string;
  readonly CausePath?: string;
}

interface Scope {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, State>>;
}

/** The definition of the state machine whose logical id starts with `idPrefix`. */
function resolvedDefinition(template: Template, idPrefix = 'AuditRunStateMachine'): Scope {
  const resources = resourcesOf(template);
  const machines = Object.entries(resources)
    .filter(([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && id.startsWith(idPrefix))
    .map(([, r]) => r);
  if (machines.length !== 1) throw new Error(`expected one ${idPrefix}, found ${machines.length}`);
  const body = machines[0]!.Properties!['DefinitionString'] as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : plausible(p, resources))).join('');
  return JSON.parse(text) as Scope;
}

/** Every state of the definition, nested ones too, with the scope it belongs to. */
function allStates(scope: Scope): { name: string; state: State; scope: Scope }[] {
  return Object.entries(scope.States).flatMap(([name, state]) => [
    { name, state, scope },
    ...(state.ItemProcessor ? allStates(state.ItemProcessor) : []),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Errors that exist

/** Step Functions' own error names (Amazon States Language, "Error names"). */
const STATES_ERRORS = new Set([
  'States.ALL',
  'States.DataLimitExceeded',
  'States.ExceedToleratedFailureThreshold',
  'States.HeartbeatTimeout',
  'States.Http.Socket',
  'States.IntrinsicFailure',
  'States.ItemReaderFailed',
  'States.NoChoiceMatched',
  'States.ParameterPathFailure',
  'States.Permissions',
  'States.QueryEvaluationError',
  'States.ResultPathMatchFailure',
  'States.ResultWriterFailed',
  'States.Runtime',
  'States.TaskFailed',
  'States.Timeout',
  'States.BranchFailed',
]);

/** Errors a Lambda invoke task reports for the Lambda service itself (Step Functions developer guide). */
const LAMBDA_SERVICE_ERRORS = new Set([
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.Unknown',
]);

/** The `name` of each error class functions/handlers/errors.ts exports: what a step fails with. */
const HANDLER_ERRORS = new Set(
  (Object.values(handlerErrors) as unknown[])
    .filter(
      (v): v is new (message: string) => Error => typeof v === 'function' && v.prototype instanceof Error,
    )
    .map((E) => new E('probe').name),
);

// ---------------------------------------------------------------------------------------------
// Walking a run: JSONPath as Step Functions applies it (the subset the definition may use)

class PathError extends Error {
  override readonly name = 'PathError';
}

/** `$`, `$.a.b`, `$$.Map.Item.Value.c`: anything else is refused, so nothing passes unchecked. */
function readPath(path: string, data: unknown, context: unknown): unknown {
  const [root, rest] = path.startsWith('$$')
    ? [context, path.slice(2)]
    : path.startsWith('$')
      ? [data, path.slice(1)]
      : [undefined, path];
  if (root === undefined || (rest !== '' && !/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(rest))) {
    throw new PathError(`${path}: not a path this walk understands (add it to readPath)`);
  }
  let value: unknown = root;
  for (const key of rest.split('.').slice(1)) {
    if (value === null || typeof value !== 'object' || !(key in value)) {
      throw new PathError(
        `${path}: no "${key}" in ${JSON.stringify(value)?.slice(0, 300)} (Step Functions fails the execution here)`,
      );
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Parameters / ItemSelector: `key.$` entries read paths, other values are copied. */
function resolveTemplate(template: unknown, data: unknown, context: unknown): unknown {
  if (Array.isArray(template)) return template.map((t) => resolveTemplate(t, data, context));
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string' || value.startsWith('States.')) {
        throw new PathError(`${key}: ${JSON.stringify(value)} is not a path this walk understands`);
      }
      out[key.slice(0, -2)] = readPath(value, data, context);
    } else {
      out[key] = resolveTemplate(value, data, context);
    }
  }
  return out;
}

/** ResultPath: undefined and `$` replace the input, null discards the result, `$.a.b` sets a field. */
function applyResultPath(input: unknown, result: unknown, resultPath: string | null | undefined): unknown {
  if (resultPath === null) return input;
  if (resultPath === undefined || resultPath === '$') return result;
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(resultPath)) throw new PathError(`ResultPath ${resultPath}`);
  const keys = resultPath.split('.').slice(1);
  const out = structuredClone(input) as Record<string, unknown>;
  let at = out;
  for (const key of keys.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = result;
  return out;
}

async function evaluateJsonata(expression: unknown, input: unknown, context: unknown): Promise<unknown> {
  if (typeof expression !== 'string' || !/^\{%.*%\}$/s.test(expression)) {
    throw new PathError(`JSONata output ${JSON.stringify(expression)} is not a {% ... %} expression`);
  }
  return jsonata(expression.slice(2, -2)).evaluate({}, { states: { input, context } });
}

// ---------------------------------------------------------------------------------------------
// The steps: real Plan and RollUp, stand-ins that keep to the output schemas for the rest

const registryText = readFileSync(join(ROOT, 'lib', 'example-registry.yaml'), 'utf8');
/** The registry the steps read: the example, or a provider with many partners. */
let currentRegistry = registryText;
const loadRegistry = async () => ({
  registry: parseRegistry(currentRegistry, 'example'),
  hash: 'h',
  source: 'example',
});

/** The example registry with its partner repeated `n` times under other ids, accounts and names. */
function registryWithPartners(n: number): string {
  const example = parseYaml(registryText) as { partners: Record<string, unknown>[] };
  const template = JSON.stringify(example.partners[0]);
  const partners = Array.from({ length: n }, (_, i) => {
    const id = `partner-${String(i).padStart(4, '0')}`;
    const account = String(100000000000 + i);
    return JSON.parse(
      template.replaceAll('acme-analytics', id).replaceAll('111122223333', account).replaceAll('acme', id),
    ) as unknown;
  });
  return JSON.stringify({ ...example, partners });
}

/** Notify returns a full output (one sent notice, a diff) rather than the least one. */
let fullNotifyOutputs = false;
/** The largest JSON a state received, returned or passed on in the walks, and where. */
let largest = { bytes: 0, where: '' };
function measure(where: string, value: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  if (bytes > largest.bytes) largest = { bytes, where };
}
const clock = { now: () => new Date('2026-12-06T01:30:00Z') };
const fakeRunner = {
  run: async () => ({ queryExecutionId: 'q-1', bytesScanned: 1234 }),
} as unknown as AthenaQueryRunner;
const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };

/** Parses with the step's own input schema: a payload the state machine builds that the step refuses fails here. */
function accepted<S extends z.ZodType>(schema: S, step: string, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new Error(`${step} refuses the payload the state machine sends: ${r.error.message}`);
  return r.data;
}

/** Objects the stand-ins wrote, by `bucket/key`: what an ItemReader reads. */
const s3Objects = new Map<string, unknown>();
/** Partners the AssessPartner stand-in was invoked for, in order. */
const assessed: string[] = [];

const STEPS: Record<AuditStep, (input: unknown) => Promise<unknown>> = {
  plan: async (input) => PlanOutputSchema.parse(await plan({ loadRegistry, clock }, input)),
  rollup: async (input) =>
    RollupOutputSchema.parse(await rollup({ runner: fakeRunner, tables, loadRegistry }, input)),
  aggregate: async (input) => {
    const i = accepted(EvaluateInputSchema, 'aggregate', input);
    const itemsKey = runKey(i.runId, 'partners.json');
    // The items object the EvaluatePartners Map's ItemReader reads: the selected partners (or all).
    const registry = (await loadRegistry()).registry;
    const partners = i.partners.length > 0 ? i.partners : registry.partners.map((p) => p.id);
    s3Objects.set(
      `partner-audit-reports/${itemsKey}`,
      partners.map((partnerId) => ({ partnerId })),
    );
    return AggregateOutputSchema.parse({
      runId: i.runId,
      aggregateKey: runKey(i.runId, 'aggregate.json'),
      itemsBucket: 'partner-audit-reports',
      itemsKey,
      partners: partners.length,
      dryRun: i.dryRun,
    });
  },
  assess: async (input) => {
    const i = accepted(AssessInputSchema, 'assess', input);
    assessed.push(i.partnerId);
    return AssessOutputSchema.parse({
      partnerId: i.partnerId,
      partKey: runKey(i.runId, `partners/${i.partnerId}.json`),
      periods: 1,
      reachesNoticeLevel: true,
    });
  },
  assemble: async (input) => {
    const i = accepted(AssembleInputSchema, 'assemble', input);
    return EvaluateOutputSchema.parse({
      runId: i.runId,
      evaluationKey: runKey(i.runId, 'evaluation.json'),
      dryRun: false,
      partnersToNotify: (s3Objects.get(`partner-audit-reports/${i.itemsKey}`) ?? []) as {
        partnerId: string;
      }[],
    });
  },
  notify: async (input) => {
    const i = accepted(NotifyInputSchema, 'notify', input);
    if (fullNotifyOutputs) {
      // What a partner's notify returns when a notice went out and figures changed since an earlier one.
      const key = { partnerId: i.partnerId, periodId: '2026-12', level: 'forecast-100' };
      return NotifyOutputSchema.parse({
        partnerId: i.partnerId,
        failed: false,
        results: [
          {
            ...key,
            status: 'sent',
            covers: ['80', '100'],
            messageId: `<${i.runId}.${i.partnerId}.2026-12.forecast-100@provider.example>`,
            delivery: '0100018f2b7c1a2e-5c3e9a1b-7d4f-4e2a-9b8c-1d2e3f4a5b6c-000000',
            file: runKey(i.runId, `notices/${i.partnerId}-2026-12-forecast-100.eml`),
          },
        ],
        noticeDiffs: [
          {
            key: { ...key, level: '80' },
            messageId: `<nightly-2026-12-01.${i.partnerId}.2026-12.80@provider.example>`,
            sentAt: '2026-12-02T01:31:07.000Z',
            changes: [{ path: 'metrics.requests.used', sent: '2400000', current: '2460000', delta: '60000' }],
          },
        ],
      });
    }
    // The least a notify step returns: no optional field that a path could come to rely on.
    return NotifyOutputSchema.parse({ partnerId: i.partnerId, failed: false, results: [], noticeDiffs: [] });
  },
  publish: async (input) => {
    const i = accepted(PublishInputSchema, 'publish', input);
    const failedNotices = i.notifyResults.filter((n) => n.failed).length;
    return PublishOutputSchema.parse({
      failedNotices,
      bytesScanned: { rollup: 0, evaluate: 0, total: 0 },
      reportKey: runKey(i.runId, 'report.json'),
      csvKey: runKey(i.runId, 'usage.csv'),
      reportUrl: 'https://s3.console.aws.amazon.com/',
    });
  },
};

/** The step a task invokes, from the function's logical id in its resolved ARN. */
function stepOf(resource: string | undefined): AuditStep | undefined {
  const m = /:function:Functions([A-Z][a-z]+)Function[0-9A-F]{8}$/.exec(resource ?? '');
  const step = m?.[1]?.toLowerCase();
  return AUDIT_STEPS.find((s) => s === step);
}

interface RunEnd {
  readonly status: 'succeeded' | 'failed' | 'ended';
  readonly output: unknown;
  readonly error?: unknown;
  readonly cause?: unknown;
  /** States entered, in order, with `Map/` before the states of its iterations. */
  readonly trail: readonly string[];
}

const INJECTED = { Error: 'RetryableError', Cause: 'injected by the walk' };

/** Runs a scope from its StartAt; `failAt` names a state that fails with INJECTED instead of running. */
async function runScope(
  scope: Scope,
  input: unknown,
  context: Record<string, unknown>,
  failAt: string | undefined,
  trail: string[] = [],
): Promise<RunEnd> {
  let name = scope.StartAt;
  let data = input;
  for (let guard = 0; guard < 100; guard++) {
    const state = scope.States[name];
    if (state === undefined) throw new Error(`transition to "${name}", which is not a state of this scope`);
    trail.push(name);
    const where = `state ${name}`;
    try {
      if (failAt === name) {
        const handler = state.Catch?.find(
          (c) => c.ErrorEquals.includes(INJECTED.Error) || c.ErrorEquals.includes('States.ALL'),
        );
        if (!handler)
          return { status: 'failed', output: data, error: INJECTED.Error, cause: INJECTED.Cause, trail };
        data = applyResultPath(data, INJECTED, handler.ResultPath);
        name = handler.Next;
        continue;
      }
      let result: unknown;
      switch (state.Type) {
        case 'Pass':
          if (state.QueryLanguage === 'JSONata') {
            data = await evaluateJsonata(state.Output, data, context);
            break;
          }
          result =
            state.Parameters !== undefined
              ? resolveTemplate(state.Parameters, data, context)
              : (state.Result ?? data);
          data = applyResultPath(data, result, state.ResultPath);
          break;
        case 'Task': {
          const payload =
            state.Parameters !== undefined ? resolveTemplate(state.Parameters, data, context) : data;
          measure(`${where} payload`, payload);
          const step = stepOf(state.Resource);
          if (step !== undefined) result = await STEPS[step](payload);
          else if (state.Resource?.endsWith(':states:::sns:publish')) {
            expect((payload as { TopicArn?: string }).TopicArn, where).toMatch(/^arn:aws:sns:/);
            result = { MessageId: 'm-1' };
          } else throw new Error(`${where}: no stand-in for resource ${state.Resource}`);
          if (state.ResultSelector !== undefined)
            result = resolveTemplate(state.ResultSelector, result, context);
          data = applyResultPath(data, result, state.ResultPath);
          break;
        }
        case 'Map': {
          let items: unknown;
          if (state.ItemReader) {
            expect(state.ItemReader.Resource, where).toBe('arn:aws:states:::s3:getObject');
            const { Bucket, Key } = resolveTemplate(state.ItemReader.Parameters, data, context) as {
              Bucket: string;
              Key: string;
            };
            items = s3Objects.get(`${Bucket}/${Key}`);
            if (items === undefined) throw new PathError(`ItemReader: no object s3://${Bucket}/${Key}`);
          } else items = readPath(state.ItemsPath ?? '$', data, context);
          if (!Array.isArray(items))
            throw new PathError(`${state.ItemsPath} is not an array: ${JSON.stringify(items)}`);
          const outputs: unknown[] = [];
          measure(`${where} items`, state.ItemReader ? [] : items);
          for (const [index, value] of items.entries()) {
            const itemContext = { ...context, Map: { Item: { Index: index, Value: value } } };
            const itemInput =
              state.ItemSelector !== undefined
                ? resolveTemplate(state.ItemSelector, data, itemContext)
                : value;
            const end = await runScope(state.ItemProcessor!, itemInput, itemContext, failAt, trail);
            if (end.status === 'failed') return end;
            outputs.push(end.output);
          }
          // The Map's collected result counts against the limit even when ResultPath drops it.
          measure(`${where} result`, outputs);
          data = applyResultPath(data, outputs, state.ResultPath);
          break;
        }
        case 'Choice': {
          const match = [];
          for (const c of state.Choices ?? []) {
            if ((await evaluateJsonata(c.Condition, data, context)) === true) match.push(c.Next);
          }
          const next = match[0] ?? state.Default;
          if (next === undefined) throw new Error(`${where}: no choice matched and no Default`);
          name = next;
          continue;
        }
        case 'Succeed':
          return { status: 'succeeded', output: data, trail };
        case 'Fail':
          return {
            status: 'failed',
            output: data,
            error: state.ErrorPath ? readPath(state.ErrorPath, data, context) : state.Error,
            cause: state.CausePath ? readPath(state.CausePath, data, context) : undefined,
            trail,
          };
        default:
          throw new Error(`${where}: state type ${state.Type} is not walked`);
      }
    } catch (error) {
      if (error instanceof Error && !error.message.startsWith('state '))
        error.message = `${where}: ${error.message}`;
      throw error;
    }
    measure(`state ${name} output`, data);
    if (state.End) return { status: 'ended', output: data, trail };
    if (state.Next === undefined) throw new Error(`${where}: neither Next nor End`);
    name = state.Next;
  }
  throw new Error('more than 100 transitions: a loop');
}

function contextOf(executionName: string): Record<string, unknown> {
  return {
    Execution: {
      Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:AuditRun:${executionName}`,
      Name: executionName,
    },
  };
}

// ---------------------------------------------------------------------------------------------

let template: Template;
let definition: Scope;
/** The schedule's run input, with the scheduled time the scheduler substitutes. */
let nightlyInput: unknown;

beforeAll(() => {
  template = synth(configWith({ noticeMode: 'send' })).template;
  definition = resolvedDefinition(template);
  const [schedule] = Object.values(template.findResources('AWS::Scheduler::Schedule'));
  const text = (schedule!.Properties.Target as { Input: string }).Input;
  nightlyInput = JSON.parse(text.replace('<aws.scheduler.scheduled-time>', '2026-12-06T01:30:00Z'));
});

describe('the state machine definition', () => {
  it('is valid Amazon States Language (asl-validator, ARN and path checks on)', () => {
    const result = aslValidator(definition, { checkArn: true, checkPaths: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it("the rollup's weekly upkeep machine is valid Amazon States Language too", () => {
    const upkeep = resolvedDefinition(template, 'RollupMaintenanceStateMachine');
    const result = aslValidator(upkeep, { checkArn: true, checkPaths: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    expect(Object.keys(upkeep.States).length).toBeGreaterThan(1);
  });

  it('is refused by asl-validator when a transition names no state (the check itself works)', () => {
    const broken = structuredClone(definition) as { States: Record<string, { Next?: string }> };
    broken.States['Plan']!.Next = 'Nowhere';
    expect(aslValidator(broken).isValid).toBe(false);
  });

  it('transitions only to states of the same scope', () => {
    for (const { name, state, scope } of allStates(definition)) {
      const targets = [
        state.Next,
        state.Default,
        ...(state.Catch ?? []).map((c) => c.Next),
        ...(state.Choices ?? []).map((c) => c.Next),
      ].filter((t): t is string => t !== undefined);
      for (const t of targets) expect(Object.keys(scope.States), `${name} -> ${t}`).toContain(t);
    }
  });

  it('names in every Retry and Catch only errors that exist, States.ALL alone and last', () => {
    expect([...HANDLER_ERRORS].sort()).toEqual(['InvalidInputError', 'RetryableError']);
    for (const { name, state } of allStates(definition)) {
      const lambda = stepOf(state.Resource) !== undefined;
      for (const [kind, list] of [
        ['Retry', state.Retry ?? []],
        ['Catch', state.Catch ?? []],
      ] as const) {
        list.forEach((r, i) => {
          for (const e of r.ErrorEquals) {
            const exists =
              STATES_ERRORS.has(e) || HANDLER_ERRORS.has(e) || (lambda && LAMBDA_SERVICE_ERRORS.has(e));
            expect(exists, `${name}.${kind}[${i}] names "${e}", which nothing raises`).toBe(true);
          }
          if (r.ErrorEquals.includes('States.ALL')) {
            expect(r.ErrorEquals, `${name}.${kind}[${i}]`).toEqual(['States.ALL']);
            expect(i, `${name}.${kind}: States.ALL must be the last entry`).toBe(list.length - 1);
          }
        });
      }
    }
  });

  it('retries RetryableError, what a handler throws for a transient failure, on every Lambda task', () => {
    const lambdaTasks = allStates(definition).filter((s) => stepOf(s.state.Resource) !== undefined);
    expect(lambdaTasks.map((s) => stepOf(s.state.Resource)).sort()).toEqual([...AUDIT_STEPS].sort());
    for (const { name, state } of lambdaTasks) {
      expect(
        state.Retry?.flatMap((r) => r.ErrorEquals),
        name,
      ).toContain('RetryableError');
    }
  });
});

describe('a run walked through the definition with the step contracts', () => {
  it('the nightly schedule input: plan, roll up, aggregate, evaluate each partner, assemble, notify each partner, publish, done', async () => {
    assessed.length = 0;
    const end = await runScope(definition, nightlyInput, contextOf('nightly-2026-12-06'), undefined);
    expect(end.status).toBe('succeeded');
    // Each partner of the items object Aggregate wrote, read by the Map's ItemReader.
    expect(assessed).toEqual(['acme-analytics']);
    expect(end.trail.filter((s) => !['RollUpBatch', 'NotifyPartner', 'AssessPartner'].includes(s))).toEqual([
      'StartRun',
      'Plan',
      'RollUp',
      'Aggregate',
      'EvaluatePartners',
      'Assemble',
      'Notify',
      'Publish',
      'AnyNoticeFailed',
      'Done',
    ]);
    const output = end.output as { report: unknown; runId: string };
    expect(PublishOutputSchema.safeParse(output.report).success).toBe(true);
    // The execution name is the run id, so a redriven execution keeps its folder.
    expect(output.runId).toBe('nightly-2026-12-06');
  });

  it.each([
    ['an empty console input', {}],
    [
      'the README ad hoc input',
      {
        partners: ['acme-analytics'],
        from: '2026-10-01',
        to: '2026-11-01',
        dryRun: true,
        reason: 'Q4 review',
      },
    ],
  ])('%s reaches Done', async (_name, input) => {
    const end = await runScope(definition, input, contextOf('adhoc-1'), undefined);
    expect(end.status).toBe('succeeded');
  });

  it('hands Publish a failed partner as RecordNoticeFailure writes it, publishes, then fails the run', async () => {
    const end = await runScope(definition, nightlyInput, contextOf('n-2'), 'NotifyPartner');
    expect(end.trail).toContain('Publish');
    expect(end.status).toBe('failed');
    expect(end.error).toBe('NoticeFailed');
    const results = (end.output as { notifyResults: unknown[] }).notifyResults;
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) expect(NoticeFailureSchema.safeParse(r).success, JSON.stringify(r)).toBe(true);
  });

  it('fails the run with the step error after reporting it, whichever top-level state fails', async () => {
    const caught = Object.entries(definition.States).filter(([, s]) => s.Catch !== undefined);
    expect(caught.map(([n]) => n)).toEqual(
      expect.arrayContaining([
        'Plan',
        'RollUp',
        'Aggregate',
        'EvaluatePartners',
        'Assemble',
        'Notify',
        'Publish',
      ]),
    );
    for (const [name] of caught) {
      const end = await runScope(definition, nightlyInput, contextOf('n-3'), name);
      expect(end.status, name).toBe('failed');
      expect(end.trail, name).toContain('ReportFailure');
      expect([end.error, end.cause], name).toEqual([INJECTED.Error, INJECTED.Cause]);
    }
  });

  it('keeps every state, payload and Map result under 256 KiB at 1,000 partners, every one notified', async () => {
    currentRegistry = registryWithPartners(1000);
    fullNotifyOutputs = true;
    assessed.length = 0;
    largest = { bytes: 0, where: '' };
    try {
      const end = await runScope(definition, nightlyInput, contextOf('nightly-2026-12-06'), undefined);
      expect(end.status).toBe('succeeded');
      expect(assessed).toHaveLength(1000);
      const output = end.output as { notifyResults: unknown[] };
      expect(output.notifyResults).toHaveLength(1000);
      // The largest is one notify output, or the state after the Notify Map: far from the limit.
      expect(largest.bytes, largest.where).toBeLessThan(256 * 1024);
      expect(largest.bytes).toBeGreaterThan(10_000);
      // Without the Notify Map's ResultSelector (each partner's whole output kept in the state), the
      // same run passes the limit: the check itself works.
      const whole = JSON.stringify(
        await Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            STEPS.notify({
              runId: 'nightly-2026-12-06',
              evaluationKey: 'runs/nightly-2026-12-06/evaluation.json',
              partnerId: `partner-${String(i).padStart(4, '0')}`,
              dryRun: false,
            }),
          ),
        ),
      );
      expect(Buffer.byteLength(whole)).toBeGreaterThan(256 * 1024);
    } finally {
      currentRegistry = registryText;
      fullNotifyOutputs = false;
    }
  }, 120_000);

  it('fails on a path to a field the producer does not write (the walk itself works)', async () => {
    const broken = structuredClone(definition) as {
      States: Record<string, { Parameters?: Record<string, unknown> }>;
    };
    broken.States['Aggregate']!.Parameters!['window.$'] = '$.evaluationWindow';
    await expect(
      runScope(broken as unknown as Scope, nightlyInput, contextOf('n-4'), undefined),
    ).rejects.toThrow(/state Aggregate: \$\.evaluationWindow: no "evaluationWindow"/);
  });
});
