/**
 * A state file whose held_rows has the earlier shape (slot start, times and counts as BIGINT, the batch
 * as a text; functions/adapters/duckdb/holdings-writer.ts): opened, it loses that table and says it
 * keeps no holdings; the next ingestion with holdings on rebuilds them from the logs, the same as a
 * fresh state's.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { logLine } from '../support/log-lines.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'holdings-upgrade-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The holdings view's rows (its batch left out: a rebuild records the files in a new batch). */
async function holdingsOf(store: DuckDbState): Promise<string[]> {
  return store.database.serial('test', async (c) =>
    (await c.runAndReadAll('SELECT * EXCLUDE (batch) FROM holdings ORDER BY ALL'))
      .getRows()
      .map((r) => r.map(String).join('|')),
  );
}

/** held_rows' columns and their types. */
async function heldColumns(store: DuckDbState): Promise<string[]> {
  return store.database.serial('test', async (c) => {
    const reader = await c.runAndReadAll(`SELECT column_name, data_type FROM information_schema.columns
      WHERE table_name = 'held_rows' ORDER BY ordinal_position`);
    return reader.getRows().map(([name, type]) => `${String(name)} ${String(type)}`);
  });
}

describe('a state whose held_rows has the earlier shape', () => {
  it('drops that table when opened, then rebuilds the holdings from the logs when they are kept', async () => {
    const path = join(root, '2026-03-14-11-00-00-UUUUUUUUUUUUUUUU');
    const lines = [1, 2, 3].map((minute) =>
      logLine({
        time: `14/Mar/2026:10:0${minute}:00 +0000`,
        key: `feeds/a/x${minute % 2}.csv`,
        uri: `"GET /feeds/a/x${minute % 2}.csv HTTP/1.1"`,
        bytesSent: '1000',
        objectSize: '1000',
      }),
    );
    await writeFile(path, `${lines.join('\n')}\n`);
    const options = { datasetDepth: 2, workers: 0, holdings: true } as const;
    const statePath = join(root, 'state.duckdb');
    let store = await DuckDbState.open(statePath);
    await ingestPaths(store.ingestLog, [path], options);
    const fresh = await holdingsOf(store);
    expect(fresh.length).toBe(2);
    const columns = await heldColumns(store);
    // The table as the earlier release wrote it, and that release's ingestion settings.
    await store.database.serial('test', async (c) => {
      await c.run('DROP VIEW holdings');
      await c.run('DROP TABLE held_rows');
      await c.run(`CREATE TABLE held_rows (slot_start BIGINT NOT NULL, key_id INTEGER NOT NULL,
        object_id INTEGER NOT NULL, first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL,
        retrievals BIGINT NOT NULL, full_retrievals BIGINT NOT NULL, bytes_sent BIGINT NOT NULL,
        batch VARCHAR NOT NULL)`);
      await c.run(`INSERT INTO held_rows VALUES (1772100000000, 1, 1, 1772100000000, 1772100000000, 1, 1,
        1000, 'group:old')`);
      await c.run("UPDATE settings SET value = 'earlier' WHERE key = 'ingestion_settings'");
    });
    await store.close();

    store = await DuckDbState.open(statePath);
    expect(await heldColumns(store)).toEqual(columns);
    expect(await holdingsOf(store)).toEqual([]);
    expect(await store.holdings.kept()).toBe(false);
    const rebuilt = await ingestPaths(store.ingestLog, [path], options);
    expect(rebuilt.rebuilt).toBe(true);
    expect(await holdingsOf(store)).toEqual(fresh);
    expect(await store.holdings.kept()).toBe(true);
    await store.close();
  });
});
