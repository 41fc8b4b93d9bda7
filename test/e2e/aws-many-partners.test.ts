/**
 * The AWS path's per-partner evaluation with many partners (issue 13): the generator's world of 40
 * partners, rolled up on the local Athena server, then Aggregate (two UNLOADs into s3rver), one
 * Assess per partner as the EvaluatePartners Map runs them, and Assemble, give the evaluations the
 * local CLI gives, figure for figure; each partner's step reads only its own folder of sums, and no
 * result page of rollup rows crosses to a Lambda.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { athenaManifestCsv } from '../../functions/adapters/athena/manifest-csv.js';
import { insertBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import { aggregate } from '../../functions/handlers/aggregate.handler.js';
import { assemble } from '../../functions/handlers/assemble.handler.js';
import { assess } from '../../functions/handlers/assess.handler.js';
import { readEvaluation } from '../../functions/handlers/evaluation-document.js';
import { AthenaLocalServer, deliveryDateOfKey } from '../support/athena-local-server.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../support/aws-local-clients.js';
import { type LocalServer, startS3rver } from '../support/local-aws-servers.js';

const REPORTS = 'partner-audit-reports';
const CONFIG = 'partner-audit-config';
const PARTNERS = 40;
const WINDOW = { from: '2026-03-01', to: '2026-03-06' };
const NOW = new Date('2026-03-07T02:00:00Z');
const tables = {
  database: 'partner_audit',
  logsTable: 'access_logs',
  rollupTable: 'usage_rollup',
  manifestTable: 'dataset_manifest',
};
const registryTables = {
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
};

let dir: string;
let athena: AthenaLocalServer;
let s3: LocalServer;
let registry: Registry;
let registryText: string;
let local: Awaited<ReturnType<typeof runLocalAudit>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aws-many-'));
  const data = await generateDataset({
    outDir: join(dir, 'data'),
    seed: 13,
    start: WINDOW.from,
    days: 5,
    partners: PARTNERS,
    requestsPerDay: 4000,
    layout: 'partitioned',
  });
  registryText = await readFile(data.registryPath, 'utf8');
  registry = parseRegistry(registryText, data.registryPath);
  expect(registry.partners).toHaveLength(PARTNERS);
  local = await runLocalAudit({
    logs: [data.logsDir],
    registryPath: data.registryPath,
    outDir: join(dir, 'local'),
    from: WINDOW.from,
    to: WINDOW.to,
    dryRun: true,
    clock: { now: () => NOW },
  });

  athena = await AthenaLocalServer.start(tables);
  const logsDir = join(data.logsDir, 'partitioned');
  await athena.addLogDirectory(logsDir);
  await athena.putManifest(athenaManifestCsv(await readFile(data.manifestPath, 'utf8'), data.manifestPath));
  await athena.putRegistryTables(registry, registryTables);
  s3 = await startS3rver([REPORTS, CONFIG]);
  athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
  const batches = new Set<string>();
  for (const entry of await readdir(logsDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const date = deliveryDateOfKey(
      relative(logsDir, join(entry.parentPath, entry.name)).split(sep).join('/'),
    );
    if (date) batches.add(date);
  }
  for (const batch of [...batches].sort()) {
    await runner().run(
      insertBatchRollupSql(tables, batch, { datasetDepth: registry.settings.datasetDepth }),
      'many-rollup',
    );
  }
  await localS3Client(s3.endpoint).send(
    new PutObjectCommand({ Bucket: CONFIG, Key: 'registry.yaml', Body: registryText }),
  );
}, 600_000);

afterAll(async () => {
  await athena?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runner(): AthenaQueryRunner {
  return new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
    workGroup: 'partner-audit',
    database: tables.database,
    sleep: async () => {},
  });
}

const loadRegistry = async () => ({ registry, hash: 'registry-hash', source: 'registry.yaml' });

describe('the per-partner AWS evaluation with 40 partners', () => {
  it('gives every partner the local CLI figures, each from its own folder, paging no rollup row', async () => {
    const client = localS3Client(s3.endpoint);
    const deps = { s3: client, reportBucket: REPORTS, loadRegistry, clock: { now: () => NOW } };
    const before = athena.stats();
    const aggregated = await aggregate(
      { ...deps, runner: runner(), tables, registryTables },
      { runId: 'many-1', window: WINDOW, partners: [], dryRun: true, reason: null },
    );
    const afterAggregate = athena.stats();
    expect(aggregated.partners).toBe(PARTNERS);
    // Two UNLOADs, the data's end and the input summary: four statements, whatever the partners.
    expect(afterAggregate.queries - before.queries).toBe(4);
    expect(afterAggregate.objectsUnloaded - before.objectsUnloaded).toBeGreaterThanOrEqual(PARTNERS);
    // Pages only for the one-row data end and the input summary (a few rows a delivery date).
    expect(afterAggregate.resultPages - before.resultPages).toBe(2);
    expect(afterAggregate.resultRows - before.resultRows).toBeLessThan(60);

    const items = JSON.parse(
      await (await import('../../functions/adapters/s3/s3-read.js')).readS3Text(
        client,
        REPORTS,
        aggregated.itemsKey,
      ),
    ) as { partnerId: string }[];
    expect(items.map((i) => i.partnerId)).toEqual(registry.partners.map((p) => p.id));
    for (const { partnerId } of items) {
      const out = await assess(deps, { runId: 'many-1', aggregateKey: aggregated.aggregateKey, partnerId });
      expect(out.partnerId).toBe(partnerId);
    }
    const assembled = await assemble(deps, {
      runId: 'many-1',
      aggregateKey: aggregated.aggregateKey,
      itemsKey: aggregated.itemsKey,
    });
    // The partner and assemble steps run no query at all.
    expect(athena.stats().queries).toBe(afterAggregate.queries);

    const doc = await readEvaluation(client, REPORTS, assembled.evaluationKey);
    const figures = (
      evaluations: readonly {
        partnerId: string;
        period: { id: string };
        totals: unknown;
        metrics: unknown;
        fees: unknown;
        levels: unknown;
        findings: unknown;
      }[],
    ) =>
      evaluations.map((e) => ({
        partnerId: e.partnerId,
        period: e.period.id,
        totals: e.totals,
        metrics: e.metrics,
        fees: e.fees,
        levels: e.levels,
        findings: e.findings,
      }));
    expect(doc.evaluation.evaluations.length).toBeGreaterThanOrEqual(PARTNERS);
    expect(figures(doc.evaluation.evaluations)).toEqual(figures(local.evaluations));
    expect(doc.evaluation.evaluations).toEqual(local.evaluations);
    expect(new Set(doc.evaluation.evaluations.map((e) => e.partnerId)).size).toBe(PARTNERS);
    expect(assembled.partnersToNotify.length).toBeGreaterThan(0);
  }, 600_000);

  it('refuses, before any query, a run that names a partner the registry does not have', async () => {
    const deps = {
      s3: localS3Client(s3.endpoint),
      reportBucket: REPORTS,
      loadRegistry,
      clock: { now: () => NOW },
    };
    const before = athena.stats().queries;
    await expect(
      aggregate(
        { ...deps, runner: runner(), tables, registryTables },
        { runId: 'many-2', window: WINDOW, partners: ['no-such-partner'], dryRun: true, reason: null },
      ),
    ).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining('no-such-partner'),
    });
    expect(athena.stats().queries).toBe(before);
  });

  it('refuses to evaluate a partner with a registry other than the one the sums were attributed with, or one the run did not select', async () => {
    const client = localS3Client(s3.endpoint);
    const deps = { s3: client, reportBucket: REPORTS, loadRegistry, clock: { now: () => NOW } };
    const first = registry.partners[0]!.id;
    const aggregated = await aggregate(
      { ...deps, runner: runner(), tables, registryTables },
      { runId: 'many-3', window: WINDOW, partners: [first], dryRun: true, reason: null },
    );
    expect(aggregated.partners).toBe(1);
    const changed = {
      ...deps,
      loadRegistry: async () => ({ ...(await loadRegistry()), hash: 'another-hash' }),
    };
    await expect(
      assess(changed, { runId: 'many-3', aggregateKey: aggregated.aggregateKey, partnerId: first }),
    ).rejects.toThrow(/registry changed since run many-3/);
    await expect(
      assess(deps, {
        runId: 'many-3',
        aggregateKey: aggregated.aggregateKey,
        partnerId: registry.partners[1]!.id,
      }),
    ).rejects.toThrow(/is not one run many-3 selected/);
    await expect(
      assess(deps, { runId: 'many-1', aggregateKey: aggregated.aggregateKey, partnerId: first }),
    ).rejects.toThrow(/belongs to run many-3, not many-1/);
  });
});
