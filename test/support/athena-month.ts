/**
 * A simulated month of nightly runs on the AWS path, offline: the generator's access logs in the
 * PartitionedPrefix layout with delivery-time dates, handed to the local Athena server night by
 * night as S3 would have delivered them (some objects a day late), and each night the nightly
 * execution's steps (plan with the scheduler's input, roll up, evaluate) through their handlers.
 * Per night it measures the bytes delivered and the bytes Athena scanned (rollup and evaluation), and
 * checks that evaluation never reads the logs table. Used by bench/athena-month.ts and by
 * test/e2e/athena-month.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { type AthenaTables, USAGE_GRAIN_ONLY } from '../../functions/adapters/athena/sql.js';
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { Report } from '../../functions/domain/report.js';
import { addDays } from '../../functions/domain/time.js';
import { readEvaluation } from '../../functions/handlers/evaluation-document.js';
import { plan } from '../../functions/handlers/plan.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { type RollupOutput, rollup } from '../../functions/handlers/rollup.handler.js';
import { AthenaLocalServer, deliveryDateOfKey } from './athena-local-server.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from './aws-local-clients.js';
import { evaluateSteps, REGISTRY_TABLES } from './evaluate-steps.js';
import { startS3rver } from './local-aws-servers.js';

export interface MonthOptions {
  /** UTC date of the first day of logs. @default '2026-03-01' */
  readonly start?: string;
  /** Days of logs; the nights run up to the last delivery date. @default 30 */
  readonly days?: number;
  /** Partner requests a day. @default 4000 */
  readonly requestsPerDay?: number;
  /** @default 11 */
  readonly seed?: number;
  /** Share of log objects S3 delivers a day late (into the next day's partition). @default 0.04 */
  readonly lateShare?: number;
  /** Keep holdings (the registry's settings.holdings): the rollup also writes the held grain. @default false */
  readonly holdings?: boolean;
  /** Partners and applications per partner of the generated world. @default the generator's */
  readonly partners?: number;
  readonly appsPerPartner?: number;
  /** Which night (1-based) to run again as an ad hoc rerun. @default the middle one */
  readonly rerunNight?: number;
  /** Called after each night, for progress. */
  readonly onNight?: (night: NightFigures) => void;
}

export interface NightFigures {
  readonly night: number;
  /** The delivery date rolled up (`yyyy/MM/dd`): the scheduled run's yesterday. */
  readonly batch: string;
  readonly scheduledTime: string;
  readonly objects: number;
  /** Of those, objects S3 delivered a day late (they hold the day before's records). */
  readonly lateObjects: number;
  readonly bytesDelivered: number;
  /** Log lines in the objects delivered. */
  readonly linesDelivered: number;
  /** Rows of the rollup table by grain after the night (rows written before the grains count as usage). */
  readonly rollupRows: Readonly<Record<'usage' | 'network' | 'held', number>>;
  /** DataScannedInBytes of the rollup step's statements. */
  readonly rollupBytes: number;
  /** DataScannedInBytes of the evaluate step's statements (rollup reads only). */
  readonly evaluateBytes: number;
  /** Evaluate's statements, none of which may name the logs table. */
  readonly evaluateStatements: number;
  readonly cumulativeDelivered: number;
  readonly cumulativeRollup: number;
  readonly cumulativeEvaluate: number;
  readonly seconds: number;
}

export interface MonthResult {
  readonly nights: readonly NightFigures[];
  readonly totalDelivered: number;
  readonly totalRollup: number;
  readonly totalEvaluate: number;
  /** Month total: rollup bytes scanned / bytes delivered (each log byte scanned once: about 1). */
  readonly ratio: number;
  /** Lines the generator wrote, and lines the rollup counted (usage plus malformed markers). */
  readonly linesWritten: number;
  readonly linesRolledUp: number;
  /** March totals per partner from the last night's evaluation, next to the ground truth's. */
  readonly partners: readonly {
    readonly partnerId: string;
    readonly requests: string;
    readonly truthRequests: string;
    readonly bytesSent: string;
    readonly truthBytesSent: string;
  }[];
  /** The rerun of one night as an ad hoc execution: what it scanned and whether totals stayed. */
  readonly rerun: {
    readonly night: number;
    readonly batch: string;
    readonly bytesScanned: number;
    readonly totalsBefore: string;
    readonly totalsAfter: string;
  };
  /** The last night's report, published with the rollups' results. */
  readonly lastReport: Report;
  readonly lastRollups: readonly RollupOutput[];
  readonly lastEvaluateBytes: number;
}

const TABLES: AthenaTables = {
  database: 'partner_audit',
  logsTable: 'access_logs',
  rollupTable: 'usage_rollup',
};
const REPORTS = 'partner-audit-reports';

interface LogObject {
  readonly key: string;
  readonly path: string;
  readonly batch: string;
  readonly bytes: number;
  readonly lines: number;
  readonly late: boolean;
}

/** Whether S3 delivers this object a day late: a fixed choice per key, so runs are repeatable. */
function deliveredLate(key: string, share: number): boolean {
  return createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32 < share;
}

/** The key the object would have had, delivered one day later (date folder and name prefix). */
function aDayLater(key: string): string {
  const m = /^(.*\/)(\d{4})\/(\d{2})\/(\d{2})\/(\d{4}-\d{2}-\d{2})(-\d{2}-\d{2}-\d{2}-.+)$/.exec(key);
  if (!m) throw new Error(`not a PartitionedPrefix key: ${key}`);
  const next = addDays(m[5]!, 1);
  return `${m[1]}${next.replaceAll('-', '/')}/${next}${m[6]}`;
}

async function logObjects(dir: string, lateShare: number): Promise<LogObject[]> {
  const out: LogObject[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const original = relative(dir, path).split(sep).join('/');
    const late = deliveredLate(original, lateShare);
    const key = late ? aDayLater(original) : original;
    const batch = deliveryDateOfKey(key);
    if (!batch) continue;
    const body = await readFile(path);
    let lines = 0;
    for (const byte of body) if (byte === 10) lines++;
    out.push({ key, path, batch, bytes: body.length, lines, late });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function rollupTotals(athena: AthenaLocalServer): Promise<string> {
  const rows = await athena.sql(
    `SELECT batch, coalesce(grain, 'usage') AS grain, sum(requests) AS requests, sum(bytes_sent) AS bytes
     FROM "${TABLES.database}"."${TABLES.rollupTable}"
     GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows.map((r) => `${r['batch']}:${r['grain']}:${r['requests']}:${r['bytes']}`).join(' ');
}

async function rowsByGrain(athena: AthenaLocalServer): Promise<NightFigures['rollupRows']> {
  const rows = await athena.sql(
    `SELECT coalesce(grain, 'usage') AS grain, count(*) AS n FROM "${TABLES.database}"."${TABLES.rollupTable}" GROUP BY 1`,
  );
  const n = (grain: string) => Number(rows.find((r) => r['grain'] === grain)?.['n'] ?? 0);
  return { usage: n('usage'), network: n('network'), held: n('held') };
}

/** Runs the month. Starts and stops its own local Athena server and S3 stand-in. */
export async function simulateMonth(options: MonthOptions = {}): Promise<MonthResult> {
  const start = options.start ?? '2026-03-01';
  const days = options.days ?? 30;
  const dir = await mkdtemp(join(tmpdir(), 'athena-month-'));
  const athena = await AthenaLocalServer.start(TABLES);
  const s3 = await startS3rver([REPORTS]);
  try {
    const data = await generateDataset({
      outDir: dir,
      seed: options.seed ?? 11,
      start,
      days,
      requestsPerDay: options.requestsPerDay ?? 4000,
      layout: 'partitioned',
      ...(options.holdings === true ? { holdings: true } : {}),
      ...(options.partners === undefined ? {} : { partners: options.partners }),
      ...(options.appsPerPartner === undefined ? {} : { appsPerPartner: options.appsPerPartner }),
    });
    // Without the manifest: the month measures the log bytes each night scans (the manifest object a
    // MERGE would also read is not a log byte); records on Athena are covered by test/e2e/aws-path.
    const raw = parseYaml(await readFile(data.registryPath, 'utf8')) as { settings?: { manifest?: string } };
    if (raw.settings) delete raw.settings.manifest;
    const registry = parseRegistry(stringifyYaml(raw), 'registry.yaml');
    const loadRegistry = async () => ({ registry, hash: 'month', source: 'generated' });
    await athena.putRegistryTables(registry, REGISTRY_TABLES);
    athena.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
    const truth = JSON.parse(await readFile(data.groundTruthPath, 'utf8')) as {
      partners: Record<
        string,
        { months: Record<string, { counted: { requests: string; bytesSent: string } }> }
      >;
    };

    const objects = await logObjects(join(data.logsDir, 'partitioned'), options.lateShare ?? 0.04);
    // Every night from the first day to the day after the last (its run closes the window over all
    // the logs), and any later day that late objects went to.
    const nightsFor = Array.from({ length: days + 1 }, (_, i) => addDays(start, i).replaceAll('-', '/'));
    const batches = [...new Set([...nightsFor, ...objects.map((o) => o.batch)])].sort();
    const runner = new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
      workGroup: 'partner-audit',
      database: TABLES.database,
      pollInitialMs: 1,
      pollMaxMs: 20,
    });
    const s3Client = localS3Client(s3.endpoint);
    const logsTable = `"${TABLES.database}"."${TABLES.logsTable}"`;

    const nights: NightFigures[] = [];
    let cumulativeDelivered = 0;
    let cumulativeRollup = 0;
    let cumulativeEvaluate = 0;
    let last:
      | { runId: string; evaluationKey: string; rollups: RollupOutput[]; evaluateBytes: number }
      | undefined;
    for (const [i, batch] of batches.entries()) {
      const t0 = Date.now();
      // What S3 delivered that day becomes visible to the logs table before the night's run.
      const delivered = objects.filter((o) => o.batch === batch);
      for (const o of delivered) await athena.addLogObject(o.key, await readFile(o.path));
      const scheduledTime = `${addDays(batch.replaceAll('/', '-'), 1)}T02:00:00Z`;
      const clock = { now: () => new Date(scheduledTime) };
      const planned = await plan(
        { loadRegistry, clock },
        { scheduledTime, reason: 'nightly schedule', executionName: `nightly-${batch.replaceAll('/', '-')}` },
      );
      const rollups: RollupOutput[] = [];
      for (const b of planned.batches) {
        rollups.push(
          await rollup({ runner, tables: TABLES, loadRegistry }, { batch: b, runId: planned.runId }),
        );
      }
      const from = athena.calls.length;
      // The deployed evaluation: Aggregate, Assess per partner (the EvaluatePartners Map), Assemble.
      const evaluated = await evaluateSteps(
        {
          runner,
          tables: TABLES,
          registryTables: REGISTRY_TABLES,
          s3: s3Client,
          reportBucket: REPORTS,
          loadRegistry,
          clock,
        },
        { runId: planned.runId, window: planned.window, partners: planned.partners, reason: planned.reason },
      );
      const statements = athena.calls
        .slice(from)
        .filter((c) => c.operation === 'StartQueryExecution')
        .map((c) => String(c.input['QueryString']));
      const readsLogs = statements.filter((sql) => sql.includes(logsTable));
      if (readsLogs.length > 0) throw new Error(`evaluation read the logs table: ${readsLogs[0]}`);
      const doc = await readEvaluation(s3Client, REPORTS, evaluated.evaluationKey);

      const bytesDelivered = delivered.reduce((n, o) => n + o.bytes, 0);
      const rollupBytes = rollups.reduce((n, r) => n + r.bytesScanned, 0);
      cumulativeDelivered += bytesDelivered;
      cumulativeRollup += rollupBytes;
      cumulativeEvaluate += doc.bytesScanned;
      const night: NightFigures = {
        night: i + 1,
        batch,
        scheduledTime,
        objects: delivered.length,
        lateObjects: delivered.filter((o) => o.late).length,
        bytesDelivered,
        linesDelivered: delivered.reduce((n, o) => n + o.lines, 0),
        rollupRows: await rowsByGrain(athena),
        rollupBytes,
        evaluateBytes: doc.bytesScanned,
        evaluateStatements: statements.length,
        cumulativeDelivered,
        cumulativeRollup,
        cumulativeEvaluate,
        seconds: (Date.now() - t0) / 1000,
      };
      nights.push(night);
      options.onNight?.(night);
      last = {
        runId: planned.runId,
        evaluationKey: evaluated.evaluationKey,
        rollups,
        evaluateBytes: doc.bytesScanned,
      };
    }
    if (!last) throw new Error('no night to run: the generator delivered no log object');

    // The last night's report, as publish writes it with the RollUp Map's results.
    const published = await publish(
      { s3: s3Client, reportBucket: REPORTS, region: 'eu-central-1', clock: { now: () => new Date() } },
      { runId: last.runId, evaluationKey: last.evaluationKey, notifyResults: [], rollups: last.rollups },
    );
    const lastReport = JSON.parse(await readS3Text(s3Client, REPORTS, published.reportKey)) as Report;
    const lastDoc = await readEvaluation(s3Client, REPORTS, last.evaluationKey);

    // Rerun one night, as an operator would with an ad hoc execution of that night's batch.
    const rerunNight = options.rerunNight ?? Math.ceil(batches.length / 2);
    const rerunBatch = batches[rerunNight - 1]!;
    const totalsBefore = await rollupTotals(athena);
    const rerun = await rollup(
      { runner, tables: TABLES, loadRegistry },
      { batch: rerunBatch, runId: 'rerun' },
    );
    const totalsAfter = await rollupTotals(athena);

    const lines = await athena.sql(
      `SELECT CAST(sum(requests) AS VARCHAR) AS n FROM "${TABLES.database}"."${TABLES.rollupTable}" WHERE ${USAGE_GRAIN_ONLY}`,
    );
    const month = start.slice(0, 7);
    const partners = lastDoc.evaluation.evaluations
      .filter((e) => e.period.id === month)
      .map((e) => ({
        partnerId: e.partnerId,
        requests: e.totals.requests.toString(),
        bytesSent: e.totals.bytesSent.toString(),
        truthRequests: truth.partners[e.partnerId]?.months[month]?.counted.requests ?? '0',
        truthBytesSent: truth.partners[e.partnerId]?.months[month]?.counted.bytesSent ?? '0',
      }));
    return {
      nights,
      totalDelivered: cumulativeDelivered,
      totalRollup: cumulativeRollup,
      totalEvaluate: cumulativeEvaluate,
      ratio: cumulativeRollup / cumulativeDelivered,
      linesWritten: data.lines,
      linesRolledUp: Number(lines[0]?.['n'] ?? 0),
      partners,
      rerun: {
        night: rerunNight,
        batch: rerunBatch,
        bytesScanned: rerun.bytesScanned,
        totalsBefore,
        totalsAfter,
      },
      lastReport,
      lastRollups: last.rollups,
      lastEvaluateBytes: last.evaluateBytes,
    };
  } finally {
    await athena.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
