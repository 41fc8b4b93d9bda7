/**
 * Issue 13: the local audit evaluates from sums DuckDB aggregated instead of from every rollup row. On
 * generated logs with several partners, its report.json is byte for byte the one the whole-row
 * evaluation writes (apart from the run id, random per run), and far fewer rows cross into JavaScript.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/duckdb-state.js';
import { evaluateAggregatedWindow } from '../../functions/audit/evaluate-aggregated.js';
import { evaluateWindow } from '../../functions/audit/evaluate-window.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { type LocalAuditResult, runLocalAudit } from '../../functions/cli/local-audit.js';
import { loadRegistry } from '../../functions/cli/registry-file.js';
import { SLOT_MS } from '../../functions/domain/usage.js';

const clock = { now: () => new Date('2026-12-02T06:00:00Z') };
const WINDOW = { from: '2026-10-01', to: '2026-12-01' };
let dir: string;
let data: Awaited<ReturnType<typeof generateDataset>>;
let rows: LocalAuditResult;
let aggregated: LocalAuditResult;

function audit(out: string, evaluation: 'rows' | 'aggregated') {
  return runLocalAudit({
    logs: [data.logsDir],
    registryPath: data.registryPath,
    outDir: join(dir, out),
    ...WINDOW,
    dryRun: false,
    clock,
    evaluation,
  });
}

/** The report with this run's id (random per run) and its output folder taken out. */
async function reportText(result: LocalAuditResult, out: string): Promise<string> {
  const text = await readFile(result.reportPath, 'utf8');
  return text.replaceAll(result.report.runId, '<run>').replaceAll(join(dir, out), '<out>');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pa-agg-'));
  data = await generateDataset({
    outDir: join(dir, 'data'),
    start: '2026-11-01',
    days: 8,
    partners: 6,
    requestsPerDay: 2500,
    layout: 'both',
    seed: 13,
  });
  rows = await audit('rows', 'rows');
  aggregated = await audit('aggregated', 'aggregated');
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the local audit evaluated from aggregated rows', () => {
  it('writes the same report.json as the whole-row evaluation, on several partners with usage and strangers', async () => {
    const report = aggregated.report;
    expect(report.partners.length).toBeGreaterThanOrEqual(6);
    const counted = report.partners.flatMap((p) => p.periods).filter((p) => BigInt(p.totals.requests) > 0n);
    expect(counted.length).toBeGreaterThanOrEqual(6);
    expect(aggregated.unattributedCount).toBeGreaterThan(0);
    expect(aggregated.notices.length).toBe(rows.notices.length);
    expect(await reportText(aggregated, 'aggregated')).toBe(await reportText(rows, 'rows'));
  });

  it('reads far fewer rows into JavaScript than the rollup holds', async () => {
    const { registry } = await loadRegistry(data.registryPath);
    const state = await DuckDbState.open(join(dir, 'aggregated', 'state.duckdb'));
    try {
      const extent = await state.usageSource.dataExtent();
      const request = { window: WINDOW, dataEndMs: extent!.maxMs + SLOT_MS, settling: { settlingDays: 5 } };
      const rollupRows = (await state.usageSource.usage({ startMs: 0, endMs: extent!.maxMs + SLOT_MS }))
        .length;
      const fromRows = await evaluateWindow({ registry, usage: state.usageSource }, request);
      const before = state.aggregatedUsage.rowsReturned;
      const fromSums = await evaluateAggregatedWindow({ registry, usage: state.aggregatedUsage }, request);
      const returned = state.aggregatedUsage.rowsReturned - before;
      expect(fromSums).toEqual(fromRows);
      expect(returned).toBeGreaterThan(0);
      expect(returned * 10).toBeLessThan(rollupRows);
      console.log(`rows into JavaScript: ${returned} aggregated, ${rollupRows} rollup rows`);
    } finally {
      await state.close();
    }
  });

  it('attributes with the registry each evaluation is given, so a registry change applies to past usage', async () => {
    const { registry } = await loadRegistry(data.registryPath);
    const state = await DuckDbState.open(join(dir, 'aggregated', 'state.duckdb'));
    try {
      const extent = await state.usageSource.dataExtent();
      const request = { window: WINDOW, dataEndMs: extent!.maxMs + SLOT_MS };
      const before = await evaluateAggregatedWindow({ registry, usage: state.aggregatedUsage }, request);
      // The first partner leaves the registry: its applications' use becomes unattributed.
      const changed = { ...registry, partners: registry.partners.slice(1) };
      const after = await evaluateAggregatedWindow(
        { registry: changed, usage: state.aggregatedUsage },
        request,
      );
      expect(after).toEqual(await evaluateWindow({ registry: changed, usage: state.usageSource }, request));
      // Many strangers now (14 on this data): the list compared above is the full one, no top-N cut.
      expect(after.unattributed.figures.length).toBeGreaterThan(10);
      expect(after.evaluations.length).toBeLessThan(before.evaluations.length);
      expect(after.unattributed.figures.length).toBeGreaterThan(before.unattributed.figures.length);
    } finally {
      await state.close();
    }
  });
});
