/**
 * Issue 13, the Aggregate step retried (a Lambda retry, a Step Functions retry, or a rerun of the same
 * run id) after it stopped part way, through the real SDK clients and the Athena test server, which
 * refuses an UNLOAD into a folder that holds objects, as Athena does. Each UNLOAD writes into a folder
 * named after its submission's ClientRequestToken: a retry resumes a finished UNLOAD by its token and
 * reads its folder (no statement runs twice), and a new submission writes into an empty folder. Wherever
 * the step stopped, the retry succeeds and the partner steps evaluate exactly what an unbroken run does.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AthenaQueryRunner,
  clientRequestToken,
  type QueryOutcome,
  submissionTag,
} from '../../functions/adapters/athena/athena-client.js';
import type { SqlQuery } from '../../functions/adapters/athena/sql.js';
import { unloadLocation, unloadPartnerDailyUsageSql } from '../../functions/adapters/athena/unload-sql.js';
import { windowAggregationRequests } from '../../functions/audit/evaluate-partner.js';
import { type AggregateDeps, aggregate } from '../../functions/handlers/aggregate.handler.js';
import { readAggregate } from '../../functions/handlers/aggregate-document.js';
import { assemble } from '../../functions/handlers/assemble.handler.js';
import { assess } from '../../functions/handlers/assess.handler.js';
import { readEvaluation } from '../../functions/handlers/evaluation-document.js';
import type { AggregateOutput } from '../../functions/handlers/step-contracts.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../support/aws-local-clients.js';
import { REPORTS, startWorld, TABLES, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

const registryTables = {
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
};

let world: World;
/** The evaluation of a run that nothing interrupted. */
let unbroken: Awaited<ReturnType<typeof evaluatePartners>>;

/** The step crashed: what a Lambda that throws (or dies) leaves behind. */
class Crash extends Error {
  override readonly name = 'Crash';
}

/** The runner, except that it throws right after its `n`th UNLOAD succeeded. */
class CrashingRunner extends AthenaQueryRunner {
  private unloads = 0;
  constructor(private readonly n: number) {
    super(localAthenaClient(world.athena.endpoint), {
      workGroup: 'partner-audit',
      database: TABLES.database,
      sleep: async () => {},
      pollInitialMs: 1,
    });
  }

  override async runPerSubmission(
    template: SqlQuery,
    runId: string,
    render: (tag: string) => SqlQuery,
  ): Promise<QueryOutcome & { readonly query: SqlQuery }> {
    const out = await super.runPerSubmission(template, runId, render);
    if (++this.unloads === this.n) throw new Crash(`crashed after UNLOAD ${this.n}`);
    return out;
  }
}

function deps(overrides: Partial<AggregateDeps> = {}): AggregateDeps {
  return { ...world.evaluateDeps(), registryTables, ...overrides };
}

function input(runId: string) {
  return { runId, window: WINDOW, partners: [], dryRun: true, reason: null };
}

/** The partner steps and Assemble after `aggregated`: the evaluation they write. */
async function evaluatePartners(aggregated: AggregateOutput) {
  const stepDeps = world.evaluateDeps();
  for (const p of world.registry.partners) {
    await assess(stepDeps, {
      runId: aggregated.runId,
      aggregateKey: aggregated.aggregateKey,
      partnerId: p.id,
    });
  }
  const assembled = await assemble(stepDeps, {
    runId: aggregated.runId,
    aggregateKey: aggregated.aggregateKey,
    itemsKey: aggregated.itemsKey,
  });
  return (await readEvaluation(world.s3Client(), REPORTS, assembled.evaluationKey)).evaluation;
}

/** The UNLOADs of `runId` the server executed (a token answered by an earlier execution is not one). */
function unloadsOf(runId: string): string[] {
  return world.athena
    .queryExecutions()
    .filter((e) => /^UNLOAD/.test(e.sql) && e.sql.includes(`/runs/${runId}/`))
    .map((e) => e.sql);
}

beforeAll(async () => {
  world = await startWorld(5);
  await world.athena.putRegistryTables(world.registry, registryTables);
  world.athena.setUnloadStore(s3UnloadStore(localS3Client(world.s3.endpoint)));
  await world.rollUpAll('aggregate-retry-setup');
  unbroken = await evaluatePartners(await aggregate(deps(), input('agg-unbroken')));
  expect(unbroken.evaluations.length).toBeGreaterThan(0);
}, 600_000);

afterAll(async () => {
  await world?.stop();
});

describe('aggregate stopped part way, then retried', () => {
  it.each([
    [1, 'the first UNLOAD'],
    [2, 'both UNLOADs'],
  ])('after %i: the retry (after %s) reuses what succeeded and the evaluation is the same', async (n) => {
    const runId = `agg-crash-${n}`;
    const executions = world.athena.queryExecutions().length;
    await expect(aggregate(deps({ runner: new CrashingRunner(n) }), input(runId))).rejects.toThrow(Crash);
    expect(unloadsOf(runId)).toHaveLength(n);
    const stopped = world.athena.queryExecutions().length;

    const out = await aggregate(deps(), input(runId));
    // The whole step is four statements (data end, two UNLOADs, input summary), each executed once.
    expect(world.athena.queryExecutions().length).toBe(executions + 4);
    expect(world.athena.queryExecutions().length - stopped).toBe(4 - (n + 1));
    expect(unloadsOf(runId)).toHaveLength(2);
    // The document names the folders the (resumed) UNLOADs wrote.
    const doc = await readAggregate(world.s3Client(), REPORTS, out.aggregateKey, runId);
    for (const sql of unloadsOf(runId)) {
      const folder = /TO 's3:\/\/[^/]+\/([^']+)'/.exec(sql)?.[1];
      expect([doc.unloaded.dailyPrefix, doc.unloaded.unattributedPrefix]).toContain(folder);
    }
    expect(await evaluatePartners(out)).toEqual(unbroken);
  });

  it('after the aggregate document was written: the retry runs nothing again and the evaluation is the same', async () => {
    const runId = 'agg-crash-doc';
    const client = world.s3Client();
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    (client as { send: unknown }).send = async (command: unknown) => {
      const out = await send(command);
      if (command instanceof PutObjectCommand && command.input.Key === `runs/${runId}/aggregate.json`)
        throw new Crash('crashed after the aggregate document');
      return out;
    };
    const executions = world.athena.queryExecutions().length;
    await expect(aggregate(deps({ s3: client }), input(runId))).rejects.toThrow(
      /crashed after the aggregate document/,
    );
    expect(world.athena.queryExecutions().length).toBe(executions + 4);
    const first = await readAggregate(world.s3Client(), REPORTS, `runs/${runId}/aggregate.json`, runId);

    const out = await aggregate(deps(), input(runId));
    expect(world.athena.queryExecutions().length).toBe(executions + 4);
    const doc = await readAggregate(world.s3Client(), REPORTS, out.aggregateKey, runId);
    expect(doc.unloaded).toEqual(first.unloaded);
    expect(await evaluatePartners(out)).toEqual(unbroken);
  });

  it('the retry writes the aggregate document from the queries already run, scanning nothing again', async () => {
    // As "evaluate: the retry writes the evaluation from the queries already run" in
    // aws-crash-retry.test.ts, for the step that replaces it: the Lambda stopped at its first write.
    const runId = 'agg-stopped-at-put';
    const client = world.s3Client();
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    let puts = 0;
    (client as { send: unknown }).send = (command: unknown) =>
      command instanceof PutObjectCommand && ++puts === 1 ? new Promise(() => {}) : send(command);
    const executions = world.athena.queryExecutions().length;
    void aggregate(deps({ s3: client }), input(runId));
    await vi.waitFor(() => expect(puts).toBe(1));
    expect(world.athena.queryExecutions().length).toBe(executions + 4);

    const out = await aggregate(deps(), input(runId));
    expect(world.athena.queryExecutions().length).toBe(executions + 4);
    const doc = await readAggregate(world.s3Client(), REPORTS, out.aggregateKey, runId);
    expect(
      (await world.keys(`runs/${runId}/`)).filter((k) => !k.startsWith(`runs/${runId}/aggregate/`)),
    ).toEqual([out.aggregateKey, out.itemsKey].sort());
    expect(doc.queries).toHaveLength(4);
    expect(await evaluatePartners(out)).toEqual(unbroken);
  });

  it('an UNLOAD that failed retryably is submitted again into a folder of its own', async () => {
    const runId = 'agg-resubmitted';
    world.athena.inject({ kind: 'fail', retryable: true, match: /^UNLOAD[\s\S]*partitioned_by/ });
    const out = await aggregate(deps(), input(runId));
    const daily = unloadsOf(runId).filter((sql) => sql.includes('partitioned_by'));
    expect(daily).toHaveLength(2);
    const folders = daily.map((sql) => /TO '([^']+)'/.exec(sql)?.[1]);
    expect(new Set(folders).size).toBe(2);
    const doc = await readAggregate(world.s3Client(), REPORTS, out.aggregateKey, runId);
    expect(folders[1]).toBe(`s3://${REPORTS}/${doc.unloaded.dailyPrefix}`);
    expect(await evaluatePartners(out)).toEqual(unbroken);
  });

  it('an UNLOAD whose folder already holds objects (Athena no longer knows its token) writes into the next folder', async () => {
    const runId = 'agg-taken';
    // What the first submission of the daily UNLOAD will be: its folder, filled by an earlier writer.
    const registry = world.registry;
    const plan = await aggregate(deps(), input('agg-taken-plan')).then((o) =>
      readAggregate(world.s3Client(), REPORTS, o.aggregateKey, 'agg-taken-plan').then((d) => d.plan),
    );
    const daily = windowAggregationRequests(registry, [], plan).daily!;
    const base = `runs/${runId}/aggregate/daily/`;
    const aggregationTables = {
      database: TABLES.database,
      rollup: TABLES.rollupTable,
      ...registryTables,
    };
    const template = unloadPartnerDailyUsageSql(aggregationTables, daily, unloadLocation(REPORTS, base));
    const taken = `${base}${submissionTag(clientRequestToken(template, runId, 0))}/`;
    await world
      .s3Client()
      .send(new PutObjectCommand({ Bucket: REPORTS, Key: `${taken}partner_id=x/stale.gz`, Body: 'stale' }));

    const out = await aggregate(deps(), input(runId));
    const doc = await readAggregate(world.s3Client(), REPORTS, out.aggregateKey, runId);
    expect(doc.unloaded.dailyPrefix.startsWith(base)).toBe(true);
    expect(doc.unloaded.dailyPrefix).not.toBe(taken);
    // The refused submission and the one that wrote the next folder.
    expect(unloadsOf(runId).filter((sql) => sql.includes(base))).toHaveLength(2);
    expect(await evaluatePartners(out)).toEqual(unbroken);
  });
});
