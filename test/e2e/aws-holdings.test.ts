/**
 * Holdings on the AWS path (issue 14, HOLDINGS.md), offline: the generator's logs with holdings on, rolled
 * up night by night by the rollup step into the rollup table's held grain (the same MERGE as usage: the
 * logs scanned once), then Aggregate (the held grain UNLOADed by partner), Assess per partner, Assemble and
 * Publish through the steps' exported functions against the local Athena server and s3rver. The report's
 * holdings section equals the local CLI's exactly, and the generator's ground truth (distinct objects, first
 * and last retrieval per partner and dataset); a batch rolled up again (its late records included) counts
 * nothing twice; with holdings off the statement writes no held rows.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { athenaManifestCsv } from '../../functions/adapters/athena/manifest-csv.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import type { GroundTruthJson } from '../../functions/cli/generate/truth-json.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { ALL_APPLICATIONS } from '../../functions/domain/holdings.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import type { Report } from '../../functions/domain/report.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { type RollupOutput, rollup } from '../../functions/handlers/rollup.handler.js';
import { AthenaLocalServer, deliveryDateOfKey } from '../support/athena-local-server.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../support/aws-local-clients.js';
import { evaluateSteps, REGISTRY_TABLES } from '../support/evaluate-steps.js';
import { type LocalServer, startS3rver } from '../support/local-aws-servers.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

const REPORTS = 'partner-audit-reports';
const tables = {
  database: 'partner_audit',
  logsTable: 'access_logs',
  rollupTable: 'usage_rollup',
  manifestTable: 'dataset_manifest',
};
/** Local dates wide enough to hold every event of the generated days in any partner's zone. */
const WINDOW = { from: '2026-03-24', to: '2026-04-01' };
const NOW = '2026-04-02T02:00:00Z';
const clock = { now: () => new Date(NOW) };

let dir: string;
let athena: AthenaLocalServer;
let s3: LocalServer;
let runner: AthenaQueryRunner;
let registry: Registry;
let truth: GroundTruthJson;
let local: Report;
let batches: string[];

const loadRegistry = async () => ({ registry, hash: 'holdings', source: 'generated' });

/** The nightly MERGEs of `list`, with the registry as it is then. */
async function rollUp(list: readonly string[], runId: string): Promise<RollupOutput[]> {
  const out: RollupOutput[] = [];
  for (const batch of list) out.push(await rollup({ runner, tables, loadRegistry }, { batch, runId }));
  return out;
}

/** Aggregate, Assess per partner, Assemble and Publish: the run's report.json. */
async function audit(runId: string, rollups: readonly RollupOutput[]): Promise<Report> {
  const s3Client = localS3Client(s3.endpoint);
  const deps = {
    runner,
    tables,
    registryTables: REGISTRY_TABLES,
    s3: s3Client,
    reportBucket: REPORTS,
    loadRegistry,
    clock,
  };
  const evaluated = await evaluateSteps(deps, {
    runId,
    window: WINDOW,
    partners: [],
    dryRun: true,
    reason: null,
  });
  const published = await publish(
    { s3: s3Client, reportBucket: REPORTS, region: 'eu-central-1', clock, loadRegistry },
    { runId, evaluationKey: evaluated.evaluationKey, notifyResults: [], rollups: [...rollups] },
  );
  return JSON.parse(await readS3Text(s3Client, REPORTS, published.reportKey)) as Report;
}

async function heldRows(): Promise<Record<string, unknown>[]> {
  return athena.sql(
    `SELECT batch, count(*) AS n, CAST(sum(retrievals) AS VARCHAR) AS retrievals
     FROM "${tables.database}"."${tables.rollupTable}" WHERE grain = 'held' GROUP BY batch ORDER BY batch`,
  );
}

let first: Report;
/** The local run's evidence bundle (its holdings.csv and network-findings.csv). */
let localBundle: string;
let firstRollups: RollupOutput[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aws-holdings-'));
  const data = await generateDataset({
    outDir: join(dir, 'data'),
    seed: 11,
    start: '2026-03-25',
    days: 6,
    requestsPerDay: 2000,
    layout: 'partitioned',
    holdings: true,
    // Declared networks too: the network grain and findings beside the held grain, in the same runs.
    networks: true,
  });
  const registryText = await readFile(data.registryPath, 'utf8');
  registry = parseRegistry(registryText, data.registryPath);
  expect(registry.settings.holdings).toBe(true);
  truth = JSON.parse(await readFile(data.groundTruthPath, 'utf8')) as GroundTruthJson;

  const localRun = await runLocalAudit({
    logs: [data.logsDir],
    registryPath: data.registryPath,
    outDir: join(dir, 'local'),
    from: WINDOW.from,
    to: WINDOW.to,
    dryRun: true,
    clock,
  });
  local = localRun.report;
  localBundle = localRun.bundleDir;

  athena = await AthenaLocalServer.start(tables);
  const logsDir = join(data.logsDir, 'partitioned');
  await athena.addLogDirectory(logsDir);
  await athena.putRegistryTables(registry, REGISTRY_TABLES);
  await athena.putManifest(athenaManifestCsv(await readFile(data.manifestPath, 'utf8'), data.manifestPath));
  s3 = await startS3rver([REPORTS]);
  athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
  runner = new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
    workGroup: 'partner-audit',
    database: tables.database,
    pollInitialMs: 1,
    pollMaxMs: 20,
  });
  const dates = new Set<string>();
  for (const entry of await readdir(logsDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const batch = deliveryDateOfKey(
      relative(logsDir, join(entry.parentPath, entry.name)).split(sep).join('/'),
    );
    if (batch) dates.add(batch);
  }
  batches = [...dates].sort();
  firstRollups = await rollUp(batches, 'held-night');
  first = await audit('held-first', firstRollups);
}, 300_000);

afterAll(async () => {
  await athena?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('holdings on the AWS path', () => {
  it("gives report.json the local CLI's holdings section exactly", () => {
    expect(local.holdings).not.toBeNull();
    expect(local.holdings?.partners.length).toBeGreaterThanOrEqual(2);
    expect(local.holdings?.partners.some((p) => BigInt(p.totals.objects) > 0n)).toBe(true);
    expect(first.holdings).toEqual(local.holdings);
  });

  it("writes the CLI evidence bundle's holdings.csv and network-findings.csv beside report.json, byte for byte", async () => {
    const s3Client = localS3Client(s3.endpoint);
    for (const name of ['holdings.csv', 'network-findings.csv']) {
      const cli = await readFile(join(localBundle, name), 'utf8');
      expect(cli.split('\n').length, name).toBeGreaterThan(2);
      expect(await readS3Text(s3Client, REPORTS, `runs/held-first/${name}`), name).toBe(cli);
    }
  });

  it('leaves usage as it was: the same figures, records and input lines as the local CLI', () => {
    const figures = (report: Report) =>
      report.partners.map((p) => ({ ...p, periods: p.periods.map(({ notices: _n, ...period }) => period) }));
    expect(figures(first)).toEqual(figures(local));
    expect(first.partners.flatMap((p) => p.periods).some((p) => BigInt(p.totals.records) > 0n)).toBe(true);
    expect(first.unattributed).toEqual(local.unattributed);
    expect(first.input.lines).toBe(local.input.lines);
    expect(first.input.malformedLines).toBe(local.input.malformedLines);
    expect(first.networkFindings?.length).toBeGreaterThan(0);
    expect(first.networkFindings).toEqual(local.networkFindings);
  });

  it('matches the ground truth: distinct objects, first and last retrieval per partner and dataset', () => {
    const engine: Record<string, Record<string, unknown>> = {};
    for (const p of first.holdings?.partners ?? []) {
      for (const d of p.datasets) {
        if (d.applicationId !== ALL_APPLICATIONS) continue;
        engine[p.partnerId] ??= {};
        engine[p.partnerId]![d.dataset] = {
          objects: d.objects,
          firstRetrieval: d.firstRetrieval,
          lastRetrieval: d.lastRetrieval,
        };
      }
    }
    expect(Object.keys(truth.holdings).length).toBeGreaterThanOrEqual(2);
    expect(engine).toEqual(truth.holdings);
  });

  it('states the held grain in the rollup statements the report lists, and unloads holdings by partner', () => {
    expect(firstRollups.filter((r) => r.skipped === undefined).every((r) => r.holdings === true)).toBe(true);
    const queries = first.evidence?.queries ?? [];
    const merges = queries.filter((q) => q.purpose.startsWith('roll up delivery date'));
    expect(merges.length).toBeGreaterThan(0);
    for (const q of merges) expect(q.sql).toContain("WHEN grouping(held_key) = 0 THEN 'held'");
    const unloads = queries.filter((q) => q.sql.startsWith('UNLOAD (')).map((q) => q.purpose);
    expect(unloads.filter((p) => p.startsWith('holdings'))).toEqual([
      `holdings by partner ${WINDOW.from}..${WINDOW.to}`,
      `holdings over time by partner ${WINDOW.from}..${WINDOW.to}`,
    ]);
    expect(unloads.some((p) => p.startsWith('network findings'))).toBe(true);
  });

  it('counts nothing twice when a batch (its late records included) is rolled up again', async () => {
    const before = await heldRows();
    expect(before.length).toBeGreaterThan(1);
    // The last delivery date holds the records delivered late; roll every batch up again, it last.
    const again = await rollUp([...batches.slice(1), batches[0]!, batches.at(-1)!], 'held-rerun');
    expect(await heldRows()).toEqual(before);
    const second = await audit('held-second', again);
    expect(second.holdings).toEqual(first.holdings);
  });

  it('writes no held rows for a batch rolled up with holdings off, and removes the ones it had', async () => {
    const kept = registry;
    registry = { ...kept, settings: { ...kept.settings, holdings: false } };
    try {
      const batch = batches[1]!;
      const [out] = await rollUp([batch], 'held-off');
      expect(out?.holdings).toBeUndefined();
      const rows = await heldRows();
      expect(rows.map((r) => r['batch'])).not.toContain(batch);
      expect(rows.length).toBe(batches.length - 1);
    } finally {
      registry = kept;
    }
  });
});
