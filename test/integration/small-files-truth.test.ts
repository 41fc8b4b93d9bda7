/**
 * A night as S3 delivers it, checked against what was written: one day of generated access logs split
 * into 300 small log objects (200 lines each, S3's simple key layout) and audited. The figures must be
 * the generator's ground truth (tallied as it wrote the lines, independently of the parser) per partner
 * and month, per local day and per unregistered principal; DuckDB's own reading of the same objects
 * must find the same requests per requester; and the same lines as one file must give the same usage.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitLogFile } from '../../bench/split-logs.js';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { fingerprintFile } from '../../functions/adapters/logs/index.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { type LocalAuditResult, runLocalAudit } from '../../functions/cli/local-audit.js';
import { ingestPaths, openStateWithWorkers } from '../../functions/cli/local-ingest.js';
import { loadRegistry } from '../../functions/cli/registry-file.js';
import type { Report } from '../../functions/domain/report.js';
import type { UsageRow } from '../../functions/domain/usage.js';

const LINES = 60_000;
const clock = { now: () => new Date('2026-12-02T06:00:00Z') };
const everything = { startMs: 0, endMs: Date.UTC(2100, 0, 1) };
let dir: string;
let truth: any;
let single: string;
let objects: string;
let audited: LocalAuditResult;
let registryPath: string;

const period = (r: Report, partnerId: string, periodId: string) =>
  r.partners.find((p) => p.partnerId === partnerId)?.periods.find((p) => p.periodId === periodId);

/** Usage of a state file, read after the run closed it. */
async function usageOf(path: string): Promise<UsageRow[]> {
  const state = await DuckDbState.open(path);
  try {
    return await state.usageSource.usage(everything);
  } finally {
    await state.close();
  }
}

function requestsByRequester(rows: readonly UsageRow[]): Record<string, string> {
  const out: Record<string, bigint> = {};
  for (const r of rows) out[r.requester] = (out[r.requester] ?? 0n) + r.requests;
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.toString()]));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pa-small-files-'));
  const data = await generateDataset({
    outDir: join(dir, 'data'),
    start: '2026-11-01',
    days: 1,
    seed: 11,
    singleFile: { lines: LINES },
  });
  truth = JSON.parse(await readFile(data.groundTruthPath, 'utf8'));
  registryPath = data.registryPath;
  const simple = join(data.logsDir, 'simple');
  single = join(simple, (await readdir(simple))[0]!);
  objects = join(dir, 'objects');
  const split = await splitLogFile(single, objects, { lines: 200, layout: 'simple' });
  expect(split).toEqual({ objects: 300, lines: LINES });
  audited = await runLocalAudit({
    logs: [objects],
    registryPath: data.registryPath,
    outDir: join(dir, 'out'),
    from: '2026-10-01',
    to: '2026-12-01',
    dryRun: true,
    clock,
  });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('300 small log objects of one generated day', () => {
  it('reads every line of every object, as the generator wrote them', () => {
    const input = audited.report.input;
    expect(input.files).toBe(300);
    expect(input.lines).toBe(Number(truth.input.lines));
    expect(input.parsedLines).toBe(Number(truth.input.parsedLines));
    expect(input.malformedLines).toBe(Number(truth.input.malformedLines));
    expect(input.malformedLines).toBeGreaterThan(0);
  });

  it('matches the ground truth per partner and month, and per local day', () => {
    let days = 0;
    for (const [partnerId, p] of Object.entries<any>(truth.partners)) {
      for (const [month, m] of Object.entries<any>(p.months)) {
        const got = period(audited.report, partnerId, month);
        expect(got?.totals, `${partnerId} ${month}`).toEqual(m.counted);
        for (const [date, d] of Object.entries<any>(m.days)) {
          const day = got!.daily.find((x) => x.date === date);
          expect(day?.counts, `${partnerId} ${date}`).toEqual({
            requests: d.requests,
            bytesSent: d.bytesSent,
            records: d.records,
          });
          days++;
        }
      }
    }
    expect(days).toBeGreaterThanOrEqual(4);
  });

  it('matches the ground truth per unregistered principal', () => {
    const got = audited.report.unattributed.figures;
    for (const [requester, u] of Object.entries<any>(truth.unregistered)) {
      const requests = got
        .filter((f) => f.requester === requester)
        .reduce((n, f) => n + BigInt(f.counts.requests), 0n);
      expect(requests.toString(), requester).toBe(u.requests);
    }
  });

  it("finds per requester the requests DuckDB's own reading of the objects finds", async () => {
    // Each line whole (no tab in a log line), the requester the fifth field; a line counts when its time
    // is a real time and a status follows the request (the request quoted, or request and status `-`
    // for S3's own operations such as lifecycle expiry), which leaves out the malformed ones.
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    const reader = await c.runAndReadAll(
      `SELECT f.requester, count(*)::VARCHAR FROM (
        SELECT regexp_extract(line, '^\\S+ \\S+ \\[([^\\]]*)\\] \\S+ (\\S+) \\S+ \\S+ \\S+ ("[^"]*"|-) (\\d{3}|-) ',
          ['time', 'requester']) AS f
        FROM read_csv($1, columns = {'line': 'VARCHAR'}, delim = '\t', quote = '', escape = '',
          header = false, auto_detect = false)
      ) WHERE f.requester <> '' AND try_strptime(f.time, '%d/%b/%Y:%H:%M:%S %z') IS NOT NULL
      GROUP BY 1`,
      [join(objects, '*')],
    );
    const duck = Object.fromEntries(reader.getRows().map(([r, n]) => [String(r), String(n)]));
    c.closeSync();
    instance.closeSync();
    const ours = requestsByRequester(await usageOf(join(dir, 'out', 'state.duckdb')));
    expect(Object.keys(ours).length).toBeGreaterThan(5);
    expect(ours).toEqual(duck);
  });

  it('reads none of them again on a second night, their fingerprints taken on the workers', async () => {
    const { registry, manifest } = await loadRegistry(registryPath);
    const settings = { datasetDepth: registry.settings.datasetDepth, manifest, workers: 2 };
    const statePath = join(dir, 'out', 'state.duckdb');
    const before = await usageOf(statePath);
    const { state, pool, listing } = await openStateWithWorkers(statePath, settings, [objects]);
    let again: Awaited<ReturnType<typeof ingestPaths>>;
    try {
      again = await ingestPaths(state.ingestLog, [objects], {
        ...settings,
        manifestHash: manifest?.hash,
        pool,
        listing,
      });
    } finally {
      await state.close();
    }
    expect(again.summary).toMatchObject({ files: 300, filesSkipped: 300, lines: LINES });
    expect(again.rebuilt).toBe(false);
    for (const input of again.inputs) expect(input.fingerprint).toBe(await fingerprintFile(input.name));
    expect(await usageOf(statePath)).toEqual(before);
  });

  it('gives the same usage, key by key, as the same lines in one file', async () => {
    const path = join(dir, 'single.duckdb');
    const state = await DuckDbState.open(path);
    try {
      const { registry, manifest } = await loadRegistry(registryPath);
      const out = await ingestPaths(state.ingestLog, [single], {
        datasetDepth: registry.settings.datasetDepth,
        manifest,
        manifestHash: manifest?.hash,
        workers: 2,
      });
      expect(out.summary.lines).toBe(LINES);
    } finally {
      await state.close();
    }
    const oneFile = await usageOf(path);
    expect(oneFile.length).toBeGreaterThan(100);
    expect(await usageOf(join(dir, 'out', 'state.duckdb'))).toEqual(oneFile);
  });
});
