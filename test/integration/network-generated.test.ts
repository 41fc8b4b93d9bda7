/**
 * The network table of a generated night with declared networks (`generate --networks`): however the
 * scanner keys and caches its partial network rows (assembly/scanner.ts, networkRow), the stored table
 * holds, per slot, requester, access point and address, exactly what each line parsed on its own gives,
 * a record delivered twice counted once.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { parseAccessLogLine } from '../../functions/adapters/logs/index.js';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { classifyAddress, vpcEndpointOfHost } from '../../functions/domain/networks.js';
import { networkFiguresOf } from '../support/network-figures.js';

const SLOT_MS = 900_000;
let root = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'network-generated-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The network figures (as networkFiguresOf writes them) of every line of `files`, parsed one by one. */
async function reference(files: readonly string[]): Promise<string[]> {
  const seen = new Set<string>();
  const sums = new Map<string, [number, number, number, number]>();
  for (const file of files) {
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      if (line === '') continue;
      const p = parseAccessLogLine(line);
      if (!p.ok) continue;
      // A repeated delivery (same request id and host id) counts once; a line without a request id always.
      if (p.requestId !== '-' && p.requestId !== '') {
        const id = `${p.requestId} ${p.hostId}`;
        if (seen.has(id)) continue;
        seen.add(id);
      }
      const dash = (v: string) => (v === '' ? '-' : v);
      const address = dash(p.remoteIp);
      const a = classifyAddress(address);
      const key = [
        Math.floor(p.timeMs / SLOT_MS) * SLOT_MS,
        dash(p.requester),
        dash(p.accessPointArn),
        address,
        a.prefix,
        a.class,
        vpcEndpointOfHost(p.hostHeader),
        dash(p.sourceRegion),
      ].join(' | ');
      const was = sums.get(key);
      sums.set(
        key,
        was === undefined
          ? [1, p.bytesSent, p.timeMs, p.timeMs]
          : [was[0] + 1, was[1] + p.bytesSent, Math.min(was[2], p.timeMs), Math.max(was[3], p.timeMs)],
      );
    }
  }
  return [...sums].map(([key, s]) => `${key} | ${s.join(' | ')}`);
}

describe('the network table of a generated night with networks (local engine)', () => {
  it('holds exactly what each line parsed on its own gives, per slot, requester, access point and address', async () => {
    const out = join(root, 'generated');
    const summary = await generateDataset({
      outDir: out,
      start: '2026-03-31',
      days: 1,
      seed: 7,
      partners: 4,
      requestsPerDay: 3000,
      networks: true,
      layout: 'simple',
    });
    const files = (await readdir(summary.logsDir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
    expect(files.length).toBeGreaterThan(1);
    const expected = await reference(files);
    // Requests through an interface endpoint and from several addresses a requester are in the night.
    expect(expected.some((row) => row.split(' | ')[6] !== '-')).toBe(true);
    expect(expected.length).toBeGreaterThan(100);

    const store = await DuckDbState.open(join(root, 'state.duckdb'));
    try {
      await ingestPaths(store.ingestLog, files, { datasetDepth: 2, workers: 0 });
      const figures = await networkFiguresOf(store.database);
      expect([...figures].sort()).toEqual([...expected].sort());
    } finally {
      await store.close();
    }
  });
});
