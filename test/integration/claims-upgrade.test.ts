/**
 * A state file whose request claims are one table of every day's claims (before the day tables,
 * functions/adapters/duckdb/request-claims.ts): opened, its claims are split into a table per event day
 * with the same rows, and a later delivery of a request they claimed is still dropped.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { claimDays } from '../../functions/adapters/duckdb/request-claims.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { logLine } from '../support/log-lines.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'claims-upgrade-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A request of its own on 13 or 14 March 2026. */
function line(i: number): string {
  return logLine({
    time: `${13 + (i % 2)}/Mar/2026:10:0${i % 10}:00 +0000`,
    requestId: `REQ${String(i).padStart(8, '0')}X`,
    bytesSent: String(1000 + i),
  });
}

async function claimsOf(store: DuckDbState): Promise<string[]> {
  return store.database.serial('test', async (c) =>
    (await c.runAndReadAll('SELECT id_hash, day, file FROM request_claims ORDER BY ALL'))
      .getRows()
      .map((r) => r.map(String).join('|')),
  );
}

describe('a state whose request claims are one table', () => {
  it('splits them into a table per day when opened, and still drops a request they claimed', async () => {
    const first = join(root, '2026-03-14-11-00-00-AAAAAAAAAAAAAAAA');
    await writeFile(first, `${[1, 2, 3, 4].map(line).join('\n')}\n`);
    const options = { datasetDepth: 2, workers: 0 } as const;
    const statePath = join(root, 'state.duckdb');
    let store = await DuckDbState.open(statePath);
    await ingestPaths(store.ingestLog, [first], options);
    const claims = await claimsOf(store);
    expect(claims.length).toBe(4);
    // The claims as the earlier release kept them: one table, with their day.
    await store.database.serial('test', async (c) => {
      await c.run('CREATE TABLE old_claims AS SELECT id_hash, day, file FROM request_claims');
      for (const day of await claimDays(c)) await c.run(`DROP TABLE request_claims_d${day}`);
      await c.run('DROP VIEW request_claims');
      await c.run('ALTER TABLE old_claims RENAME TO request_claims');
    });
    await store.close();

    store = await DuckDbState.open(statePath);
    expect(await store.database.serial('test', (c) => claimDays(c))).toEqual([
      Date.UTC(2026, 2, 13) / 86_400_000,
      Date.UTC(2026, 2, 14) / 86_400_000,
    ]);
    expect(await claimsOf(store)).toEqual(claims);
    // A later object delivering request 2 again, with one new request.
    const late = join(root, '2026-03-15-11-00-00-BBBBBBBBBBBBBBBB');
    await writeFile(late, `${[2, 5].map(line).join('\n')}\n`);
    const { summary } = await ingestPaths(store.ingestLog, [late], options);
    expect(summary.repeatsDropped).toBe(1);
    expect((await claimsOf(store)).length).toBe(5);
    await store.close();
  });
});
