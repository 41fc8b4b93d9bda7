/**
 * Issue 5, AWS side: malformed events for each Lambda step (missing fields, wrong types, huge
 * strings, not an object at all). Each is refused with InvalidInputError whose message names the
 * field, before the step touches Athena, S3, SES or the ledger, and without repeating a huge value.
 * (Plan's refusals of an unknown field, a bad or reversed window, a future window, a wrong dryRun type
 * and an unknown partner are in test/unit/plan-handler.test.ts.)
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { AthenaQueryRunner, type QueryOutcome } from '../../functions/adapters/athena/athena-client.js';
import { type AggregateDeps, aggregate } from '../../functions/handlers/aggregate.handler.js';
import { assemble } from '../../functions/handlers/assemble.handler.js';
import { assess } from '../../functions/handlers/assess.handler.js';
import { type NotifyDeps, notify } from '../../functions/handlers/notify.handler.js';
import { type PlanDeps, plan } from '../../functions/handlers/plan.handler.js';
import { type PublishDeps, publish } from '../../functions/handlers/publish.handler.js';
import { type RollupDeps, rollup } from '../../functions/handlers/rollup.handler.js';
import type { Mailer, NoticeLedger } from '../../functions/ports.js';
import { makeRegistry } from '../support/notice-fixtures.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

const HUGE = 'x'.repeat(1_000_000);
const registry = makeRegistry();
const loadRegistry = async () => ({ registry, hash: 'h', source: 'test' });
const clock = { now: () => new Date('2026-03-20T02:00:00Z') };

/** Any use of these means the step went past validation. */
class UnreachableRunner extends AthenaQueryRunner {
  constructor() {
    super({} as never, { workGroup: 'wg' });
  }
  override run(): Promise<QueryOutcome> {
    throw new Error('reached Athena');
  }
}
const s3 = new S3Client({ region: 'eu-central-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
s3.send = (() => {
  throw new Error('reached S3');
}) as never;
const ledger = new Proxy({} as NoticeLedger, {
  get: () => () => {
    throw new Error('reached the ledger');
  },
});
const mailer: Mailer = {
  name: 'SES',
  sendingRecords: "SES's sending records",
  send: () => {
    throw new Error('reached SES');
  },
};
const tables = { database: 'audit', logsTable: 'logs', rollupTable: 'rollup' };

const planDeps: PlanDeps = { loadRegistry, clock };
const rollupDeps: RollupDeps = { runner: new UnreachableRunner(), tables, loadRegistry };
const evaluateDeps: AggregateDeps = {
  runner: new UnreachableRunner(),
  tables,
  registryTables: {
    principals: 'registry_principals',
    contractTerms: 'registry_contract_terms',
    ignoredRequesters: 'registry_ignored_requesters',
  },
  s3,
  reportBucket: 'r',
  loadRegistry,
  clock,
};
const notifyDeps: NotifyDeps = {
  s3,
  reportBucket: 'r',
  ledger,
  mailer,
  loadRegistry,
  clock,
  previewOnly: false,
};
const publishDeps: PublishDeps = { s3, reportBucket: 'r', region: 'eu-central-1', clock };

const steps = {
  plan: (e: unknown) => plan(planDeps, e),
  rollup: (e: unknown) => rollup(rollupDeps, e),
  aggregate: (e: unknown) => aggregate(evaluateDeps, e),
  assess: (e: unknown) => assess(evaluateDeps, e),
  assemble: (e: unknown) => assemble(evaluateDeps, e),
  notify: (e: unknown) => notify(notifyDeps, e),
  publish: (e: unknown) => publish(publishDeps, e),
};

const window = { from: '2026-03-01', to: '2026-03-20' };
const evaluateOk = { runId: 'r1', window, partners: [], dryRun: false, reason: null };
const assessOk = { runId: 'r1', aggregateKey: 'runs/r1/aggregate.json', partnerId: 'acme' };
const assembleOk = { runId: 'r1', aggregateKey: 'runs/r1/aggregate.json', itemsKey: 'runs/r1/partners.json' };
const notifyOk = { runId: 'r1', evaluationKey: 'runs/r1/evaluation.json', partnerId: 'acme', dryRun: false };
const publishOk = { runId: 'r1', evaluationKey: 'runs/r1/evaluation.json', notifyResults: [] };

const cases: [keyof typeof steps, string, unknown, RegExp][] = [
  ['plan', 'a huge reason', { reason: HUGE }, /reason/],
  ['plan', 'a huge partner id', { partners: [HUGE] }, /partners\.0/],
  ['plan', 'a huge execution name', { executionName: HUGE }, /executionName/],
  ['plan', 'a scheduled time that is no time', { scheduledTime: 'tonight' }, /scheduledTime/],
  ['plan', 'partners as a string', { partners: 'acme' }, /partners/],
  ['rollup', 'null', null, /\(input\)/],
  ['rollup', 'no batch', { runId: 'r1' }, /batch/],
  ['rollup', 'a numeric batch', { batch: 20260301 }, /batch/],
  ['rollup', 'a date with dashes', { batch: '2026-03-01' }, /batch: must be a delivery date/],
  ['rollup', 'a huge batch', { batch: HUGE }, /batch/],
  ['rollup', 'a huge run id', { batch: '2026/03/01', runId: HUGE }, /runId/],
  ['aggregate', 'a string', 'evaluate please', /\(input\)/],
  ['aggregate', 'no run id', { ...evaluateOk, runId: undefined }, /runId/],
  ['aggregate', 'a run id that is no key part', { ...evaluateOk, runId: '../../etc' }, /runId/],
  ['aggregate', 'a huge run id', { ...evaluateOk, runId: HUGE }, /runId/],
  ['aggregate', 'no window', { ...evaluateOk, window: undefined }, /window/],
  [
    'aggregate',
    'a window date that is no date',
    { ...evaluateOk, window: { from: '2026-02-30', to: '2026-03-02' } },
    /window\.from/,
  ],
  [
    'aggregate',
    'a reversed window',
    { ...evaluateOk, window: { from: '2026-03-05', to: '2026-03-01' } },
    /window: "from" must be before "to"/,
  ],
  ['aggregate', 'partners as a string', { ...evaluateOk, partners: 'acme' }, /partners/],
  ['aggregate', 'a huge partner id', { ...evaluateOk, partners: [HUGE] }, /partners\.0/],
  ['aggregate', 'an unknown partner', { ...evaluateOk, partners: ['nobody'] }, /partners: .*nobody/],
  ['aggregate', 'dryRun as a string', { ...evaluateOk, dryRun: 'false' }, /dryRun/],
  ['aggregate', 'a huge reason', { ...evaluateOk, reason: HUGE }, /reason/],
  ['assess', 'a string', 'acme', /\(input\)/],
  ['assess', 'no aggregate key', { ...assessOk, aggregateKey: '' }, /aggregateKey/],
  ['assess', 'a huge aggregate key', { ...assessOk, aggregateKey: HUGE }, /aggregateKey/],
  ['assess', 'no partner', { ...assessOk, partnerId: undefined }, /partnerId/],
  ['assess', 'a huge partner id', { ...assessOk, partnerId: HUGE }, /partnerId/],
  ['assess', 'a run id that is no key part', { ...assessOk, runId: '../../etc' }, /runId/],
  ['assemble', 'an array', [assembleOk], /\(input\)/],
  ['assemble', 'no items key', { ...assembleOk, itemsKey: undefined }, /itemsKey/],
  ['assemble', 'a huge items key', { ...assembleOk, itemsKey: HUGE }, /itemsKey/],
  ['assemble', 'a run id with a slash', { ...assembleOk, runId: 'a/b' }, /runId/],
  ['notify', 'an array', [notifyOk], /\(input\)/],
  ['notify', 'no partner', { ...notifyOk, partnerId: undefined }, /partnerId/],
  ['notify', 'a huge partner id', { ...notifyOk, partnerId: HUGE }, /partnerId/],
  ['notify', 'no evaluation key', { ...notifyOk, evaluationKey: '' }, /evaluationKey/],
  ['notify', 'a huge evaluation key', { ...notifyOk, evaluationKey: HUGE }, /evaluationKey/],
  ['notify', 'a run id with a slash', { ...notifyOk, runId: 'a/b' }, /runId/],
  ['notify', 'dryRun as a number', { ...notifyOk, dryRun: 1 }, /dryRun/],
  [
    'publish',
    'no notify results list',
    { ...publishOk, notifyResults: { partnerId: 'acme' } },
    /notifyResults/,
  ],
  [
    'publish',
    'a result without partner',
    { ...publishOk, notifyResults: [{ failed: true }] },
    /notifyResults\.0\.partnerId/,
  ],
  [
    'publish',
    'a result with an unknown status',
    {
      ...publishOk,
      notifyResults: [
        {
          partnerId: 'acme',
          results: [{ partnerId: 'acme', periodId: '2026-03', level: 'warning', status: 'lost' }],
        },
      ],
    },
    /notifyResults\.0\.results\.0\.status/,
  ],
  [
    'publish',
    'rollups without bytes scanned',
    { ...publishOk, rollups: [{ batch: '2026/03/01' }] },
    /rollups\.0\.bytesScanned/,
  ],
  ['publish', 'a huge run id', { ...publishOk, runId: HUGE }, /runId/],
];

describe('each Lambda step given a malformed event', () => {
  it.each(cases)('%s refuses %s, naming the field', async (step, _, event, field) => {
    const error = await steps[step](event).then(
      () => {
        throw new Error('the step accepted it');
      },
      (e: unknown) => e as Error,
    );
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toMatch(field);
    expect(error.message.length).toBeLessThan(2000);
  });
});
