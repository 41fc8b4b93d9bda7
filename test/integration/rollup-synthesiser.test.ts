import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesisedRegistry, synthesiseRollup } from '../../bench/rollup-synthesiser.js';
import { buildAttributor } from '../../functions/domain/attribution.js';

const dir = mkdtempSync(join(tmpdir(), 'synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('synthesiseRollup', () => {
  it('writes rows per partner and slot, every application of every partner used, strangers besides', async () => {
    const path = join(dir, 'state.duckdb');
    const written = await synthesiseRollup({
      path,
      partners: 3,
      start: '2026-03-01',
      days: 2,
      rowsPerSlot: 64,
    });
    expect(written).toEqual({
      rows: 3 * 2 * 96 * 64,
      startMs: Date.UTC(2026, 2, 1),
      endMs: Date.UTC(2026, 2, 3),
    });
    const db = await DuckDBInstance.create(path);
    const c = await db.connect();
    const pairs = (
      await c.runAndReadAll('SELECT DISTINCT requester, access_point FROM rollup')
    ).getRows() as [string, string][];
    const slots = (
      await c.runAndReadAll('SELECT min(slot_start), max(slot_start) FROM rollup')
    ).getRows()[0]!;
    c.closeSync();
    db.closeSync();
    expect(slots.map(Number)).toEqual([Date.UTC(2026, 2, 1), Date.UTC(2026, 2, 3) - 15 * 60_000]);
    const attribute = buildAttributor(synthesisedRegistry(3));
    const used = new Set<string>();
    let strangers = 0;
    for (const [r, ap] of pairs) {
      const who = attribute(r, ap);
      if (who) used.add(`${who.partnerId}/${who.applicationId}`);
      else strangers++;
    }
    expect(used.size).toBe(3 * 8);
    expect(strangers).toBeGreaterThan(0);
  });

  it('makes a registry of 1,000 partners whose principals are all distinct (canonical ids past 191 too)', () => {
    const registry = synthesisedRegistry(1000);
    expect(registry.partners).toHaveLength(1000);
    const ids = registry.partners.map(
      (p) => (p.applications[4]!.principals[0] as { canonicalUserId: string }).canonicalUserId,
    );
    expect(new Set(ids).size).toBe(1000);
    expect(ids[191]).toBe(`${'c'.repeat(62)}bf`);
    expect(ids[192]).toBe(`${'f'.repeat(61)}ac0`);
  });

  it('is deterministic: the same arguments give the same rows', async () => {
    const sum = async (path: string) => {
      await synthesiseRollup({ path, partners: 2, start: '2026-03-01', days: 1, rowsPerSlot: 16 });
      const db = await DuckDBInstance.create(path);
      const c = await db.connect();
      const r = (
        await c.runAndReadAll(
          'SELECT sum(requests)::VARCHAR, sum(bytes_sent)::VARCHAR, sum(hash(requester, dataset, slot_start))::VARCHAR FROM rollup',
        )
      ).getRows()[0];
      c.closeSync();
      db.closeSync();
      return r;
    };
    expect(await sum(join(dir, 'a.duckdb'))).toEqual(await sum(join(dir, 'b.duckdb')));
  });
});
