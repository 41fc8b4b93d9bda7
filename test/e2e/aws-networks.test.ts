/**
 * Declared networks on the AWS path (issue 14, NETWORKS.md): the generator's world with networks (every
 * application declares CIDRs, some a VPC endpoint or a region; requests from CGNAT and IPv6 addresses
 * outside them, a shared credential from the next partner's range, AWS addresses inside by region only
 * on 27-field lines, endpoint traffic outside on 18-field lines) rolled up night by night on the local
 * Athena server by the nightly MERGE, one delivery date rolled up again after a late object reached it
 * and once more after that, then Aggregate (the findings UNLOADed by partner), one Assess per partner
 * and Assemble: the findings report.json states are the local CLI's, exactly, and the rollup's rows of
 * every grain are the same after a re-roll as before it.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { athenaManifestCsv } from '../../functions/adapters/athena/manifest-csv.js';
import { GRAINS, replaceBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { readS3Text } from '../../functions/adapters/s3/s3-read.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { OUTSIDE_DECLARED_NETWORK, SHARED_CREDENTIAL } from '../../functions/domain/network-findings.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import type { Report } from '../../functions/domain/report.js';
import { networkFindingOut } from '../../functions/domain/report-network.js';
import { readAggregate } from '../../functions/handlers/aggregate-document.js';
import { readEvaluation } from '../../functions/handlers/evaluation-document.js';
import { notify } from '../../functions/handlers/notify.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { AthenaLocalServer, deliveryDateOfKey } from '../support/athena-local-server.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../support/aws-local-clients.js';
import { evaluateSteps, REGISTRY_TABLES } from '../support/evaluate-steps.js';
import { type LocalServer, startS3rver } from '../support/local-aws-servers.js';
import { MemoryLedger, MemoryMailer } from '../support/memory-ports.js';

const REPORTS = 'partner-audit-reports';
const WINDOW = { from: '2026-03-01', to: '2026-03-05' };
const NOW = new Date('2026-03-06T02:00:00Z');
const tables = {
  database: 'partner_audit',
  logsTable: 'access_logs',
  rollupTable: 'usage_rollup',
  manifestTable: 'dataset_manifest',
};

let dir: string;
let athena: AthenaLocalServer;
let s3: LocalServer;
let registry: Registry;
let local: Awaited<ReturnType<typeof runLocalAudit>>;
/** The same world with every contract's unexplained-access notice switched on, audited locally. */
let noticeRegistry: Registry;
let noticeLocal: Awaited<ReturnType<typeof runLocalAudit>>;
let lateBatch: string;
/** The rollup's rows per batch and grain, after the nights, after the late object, after a re-roll. */
const totals: { nights: string; late: string; again: string } = { nights: '', late: '', again: '' };

function runner(): AthenaQueryRunner {
  return new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
    workGroup: 'partner-audit',
    database: tables.database,
    sleep: async () => {},
  });
}

async function rollUp(batch: string, runId: string): Promise<void> {
  await runner().run(
    replaceBatchRollupSql(tables, batch, { datasetDepth: registry.settings.datasetDepth }),
    runId,
  );
}

async function rollupTotals(): Promise<string> {
  const rows = await athena.sql(
    `SELECT batch, grain, count(*) AS n, sum(requests) AS requests, sum(bytes_sent) AS bytes,
       min(first_ms) AS first_ms, max(last_ms) AS last_ms
     FROM "${tables.database}"."${tables.rollupTable}" GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows.map((r) => Object.values(r).map(String).join(':')).join(' ');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aws-networks-'));
  const data = await generateDataset({
    outDir: join(dir, 'data'),
    seed: 5,
    start: WINDOW.from,
    days: 4,
    partners: 4,
    requestsPerDay: 4000,
    layout: 'partitioned',
    networks: true,
  });
  const registryText = await readFile(data.registryPath, 'utf8');
  registry = parseRegistry(registryText, data.registryPath);
  local = await runLocalAudit({
    logs: [data.logsDir],
    registryPath: data.registryPath,
    outDir: join(dir, 'local'),
    from: WINDOW.from,
    to: WINDOW.to,
    dryRun: true,
    clock: { now: () => NOW },
  });

  const raw = parseYaml(registryText) as { partners: { contracts: Record<string, unknown>[] }[] };
  for (const p of raw.partners) for (const c of p.contracts) c['unexplainedAccessNotice'] = true;
  // Beside the generated registry, whose manifest path is relative to it.
  const noticePath = join(dirname(data.registryPath), 'registry-notice.yaml');
  await writeFile(noticePath, stringifyYaml(raw));
  noticeRegistry = parseRegistry(stringifyYaml(raw), noticePath);
  noticeLocal = await runLocalAudit({
    logs: [data.logsDir],
    registryPath: noticePath,
    outDir: join(dir, 'local-notice'),
    from: WINDOW.from,
    to: WINDOW.to,
    dryRun: true,
    clock: { now: () => NOW },
  });

  athena = await AthenaLocalServer.start(tables);
  await athena.putManifest(athenaManifestCsv(await readFile(data.manifestPath, 'utf8'), data.manifestPath));
  await athena.putRegistryTables(registry);
  s3 = await startS3rver([REPORTS]);
  athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));

  // Every log object but one is delivered before its night; the held-back one arrives late, into a
  // delivery date already rolled up.
  const logsDir = join(data.logsDir, 'partitioned');
  const objects: { key: string; path: string; batch: string }[] = [];
  for (const entry of await readdir(logsDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const key = relative(logsDir, path).split(sep).join('/');
    const batch = deliveryDateOfKey(key);
    if (batch) objects.push({ key, path, batch });
  }
  objects.sort((a, b) => (a.key < b.key ? -1 : 1));
  const late = objects[Math.floor(objects.length / 3)]!;
  lateBatch = late.batch;
  for (const o of objects) if (o !== late) await athena.addLogObject(o.key, await readFile(o.path), o.batch);
  const batches = [...new Set(objects.map((o) => o.batch))].sort();
  for (const batch of batches) await rollUp(batch, `night-${batch}`);
  totals.nights = await rollupTotals();
  await athena.addLogObject(late.key, await readFile(late.path), late.batch);
  await rollUp(lateBatch, 'late');
  totals.late = await rollupTotals();
  await rollUp(lateBatch, 'late-again');
  totals.again = await rollupTotals();
}, 600_000);

afterAll(async () => {
  await athena?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('declared networks on the AWS path', () => {
  it('has findings of both kinds locally to compare with, from several partners', () => {
    const findings = local.report.networkFindings ?? [];
    expect(findings.filter((f) => f.kind === OUTSIDE_DECLARED_NETWORK).length).toBeGreaterThan(3);
    expect(findings.filter((f) => f.kind === SHARED_CREDENTIAL).length).toBeGreaterThan(0);
    expect(new Set(findings.map((f) => f.partnerId)).size).toBeGreaterThan(1);
    expect(new Set(findings.map((f) => f.addressClass))).toEqual(new Set(['ipv4', 'ipv6']));
  });

  it('re-rolls a delivery date that a late object reached without counting anything twice', () => {
    expect(totals.late).not.toBe(totals.nights);
    expect(totals.again).toBe(totals.late);
    const grains = new Set(totals.late.split(' ').map((t) => t.split(':')[1]));
    expect(grains).toEqual(new Set([GRAINS.usage, GRAINS.network]));
  });

  it("gives report.json's network findings of the local CLI, figure for figure", async () => {
    const client = localS3Client(s3.endpoint);
    const loadRegistry = async () => ({ registry, hash: 'registry-hash', source: 'registry.yaml' });
    const deps = {
      s3: client,
      reportBucket: REPORTS,
      loadRegistry,
      clock: { now: () => NOW },
      runner: runner(),
      tables,
      registryTables: REGISTRY_TABLES,
    };
    const out = await evaluateSteps(deps, {
      runId: 'networks-1',
      window: WINDOW,
      partners: [],
      dryRun: true,
      reason: null,
    });
    const doc = await readEvaluation(client, REPORTS, out.evaluationKey);
    const network = doc.network!;
    const aws = network.findings.map((f) => networkFindingOut(f, network.windowStartMs[f.partnerId]!));
    expect(aws).toEqual(local.report.networkFindings);
    // The window ends within March: the notice asks the period's dates, all of March, in an UNLOAD of its own.
    expect(network.noticeFindings.length).toBe(network.findings.length);

    // Each partner's step read its own folder only: the findings left Athena by UNLOAD, by partner.
    const aggregated = await readAggregate(client, REPORTS, 'runs/networks-1/aggregate.json', 'networks-1');
    expect(aggregated.queries.map((q) => q.purpose).filter((p) => p.startsWith('network'))).toEqual([
      `network findings ${WINDOW.from}..${WINDOW.to}`,
      'network findings 2026-03-01..2026-04-01',
    ]);
    const prefix = aggregated.unloaded.networkPrefix!;
    const partners = new Set(local.report.networkFindings?.map((f) => f.partnerId));
    for (const p of partners) {
      const { Contents } = await client.send(
        new ListObjectsV2Command({
          Bucket: REPORTS,
          Prefix: `${prefix}partner_id=${p}/`,
        }),
      );
      expect(Contents?.length, p).toBeGreaterThan(0);
    }
    expect(await readS3Text(client, REPORTS, out.evaluationKey)).toContain('"network"');
  });

  it('sends the unexplained-access notices the local CLI sends, and publishes its report.json findings', async () => {
    const client = localS3Client(s3.endpoint);
    const loadRegistry = async () => ({
      registry: noticeRegistry,
      hash: 'notice-hash',
      source: 'registry.yaml',
    });
    const clock = { now: () => NOW };
    const runId = 'networks-notice';
    const out = await evaluateSteps(
      {
        s3: client,
        reportBucket: REPORTS,
        loadRegistry,
        clock,
        runner: runner(),
        tables,
        registryTables: REGISTRY_TABLES,
      },
      { runId, window: WINDOW, partners: [], dryRun: true, reason: null },
    );
    const ledger = new MemoryLedger();
    const mailer = new MemoryMailer();
    const notifyResults = [];
    for (const { partnerId } of out.partnersToNotify) {
      notifyResults.push(
        await notify(
          { s3: client, reportBucket: REPORTS, ledger, mailer, loadRegistry, clock, previewOnly: false },
          { runId, evaluationKey: out.evaluationKey, partnerId, dryRun: true },
        ),
      );
    }
    const published = await publish(
      { s3: client, reportBucket: REPORTS, region: 'eu-central-1', clock },
      { runId, evaluationKey: out.evaluationKey, notifyResults, rollups: [] },
    );
    const report = JSON.parse(await readS3Text(client, REPORTS, published.reportKey)) as Report;
    const notices = (r: Report) =>
      r.notices.map((n) => `${n.partnerId} ${n.periodId} ${n.level} ${n.status}`).sort();
    const unexplained = notices(noticeLocal.report).filter((n) => n.includes(' unexplained-access '));
    // Every partner with a finding first seen in March gets one, previewed (a dry run).
    expect(unexplained.length).toBe(
      new Set(noticeLocal.report.networkFindings?.map((f) => f.partnerId)).size,
    );
    expect(unexplained.length).toBeGreaterThan(1);
    expect(notices(report)).toEqual(notices(noticeLocal.report));
    expect(report.networkFindings).toEqual(noticeLocal.report.networkFindings);
    expect(report.networkFindings).toEqual(local.report.networkFindings);
  });
});
