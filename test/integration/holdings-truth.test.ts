/**
 * Holdings against the generator's ground truth (issue 14): the generator tallies, in its own
 * arithmetic, the distinct objects each partner's applications read (GET 200 or 206) and the first and
 * last read per partner and dataset; the local engine, reading the logs it wrote (late and repeated
 * deliveries included), must give exactly those figures.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { readHoldings } from '../../functions/audit/read-holdings.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import type { GroundTruthJson } from '../../functions/cli/generate/truth-json.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { ALL_APPLICATIONS, type HoldingsSection } from '../../functions/domain/holdings.js';
import { parseRegistry } from '../../functions/domain/registry.js';

let out: string;
let truth: GroundTruthJson;
let section: HoldingsSection;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'holdings-truth-'));
  const summary = await generateDataset({
    outDir: out,
    seed: 11,
    start: '2026-03-25',
    days: 6,
    requestsPerDay: 2000,
    holdings: true,
  });
  truth = JSON.parse(readFileSync(summary.groundTruthPath, 'utf8')) as GroundTruthJson;
  const registry = parseRegistry(readFileSync(summary.registryPath, 'utf8'), summary.registryPath);
  const store = await DuckDbState.open(join(out, 'state.duckdb'));
  try {
    await ingestPaths(store.ingestLog, [summary.logsDir], {
      datasetDepth: registry.settings.datasetDepth,
      holdings: registry.settings.holdings,
      workers: 2,
    });
    // Local dates wide enough to hold every event of the window in any partner's zone.
    section = await readHoldings(
      { registry, holdings: store.holdings },
      { from: '2026-03-24', to: '2026-04-01' },
    );
  } finally {
    await store.close();
  }
}, 180_000);

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('holdings on the local engine against the ground truth', () => {
  it('gives every partner exactly the distinct objects, first and last read the generator tallied per dataset', () => {
    const engine: Record<string, Record<string, unknown>> = {};
    for (const p of section.partners) {
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

  it('counts a partner object once however many of its applications read it', () => {
    for (const p of section.partners) {
      const total = p.datasets.filter((d) => d.applicationId === ALL_APPLICATIONS);
      expect(p.totals.objects).toBe(String(total.reduce((n, d) => n + BigInt(d.objects), 0n)));
      for (const d of total) {
        const apps = p.datasets.filter(
          (a) => a.dataset === d.dataset && a.applicationId !== ALL_APPLICATIONS,
        );
        expect(BigInt(d.objects)).toBeLessThanOrEqual(apps.reduce((n, a) => n + BigInt(a.objects), 0n));
        expect(BigInt(d.retrievals)).toBe(apps.reduce((n, a) => n + BigInt(a.retrievals), 0n));
      }
    }
  });
});
