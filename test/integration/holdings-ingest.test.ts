/**
 * The holdings table on the local engine (functions/domain/HOLDINGS.md): filled by the same pass as the
 * rollup, a read counted once however often its record was delivered, re-ingestion adding nothing, a
 * replaced file's reads replaced, keys with any bytes kept as the manifest names them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { type IngestOptions, ingestPaths } from '../../functions/cli/local-ingest.js';
import { logLine } from '../support/log-lines.js';

let root: string;
let states: string;
let stateCount = 0;

async function put(rel: string, lines: readonly string[]): Promise<string> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

/** A held-object row as the table keeps it, summed over slots and batches. */
interface Held {
  readonly requester: string;
  readonly key: string;
  readonly version: string;
  readonly size: string | null;
  readonly first: string;
  readonly last: string;
  readonly retrievals: number;
  readonly full: number;
  readonly bytes: string;
}

async function heldOf(store: DuckDbState): Promise<Held[]> {
  return store.database.serial('test', async (c) => {
    const reader = await c.runAndReadAll(`SELECT requester, object_key, version_id, object_size,
        min(first_ms), max(last_ms), sum(retrievals), sum(full_retrievals), sum(bytes_sent)
      FROM holdings GROUP BY ALL ORDER BY object_key, requester, version_id, object_size`);
    return reader.getRows().map((r) => ({
      requester: String(r[0]),
      key: String(r[1]),
      version: String(r[2]),
      size: r[3] === null ? null : String(r[3]),
      first: new Date(Number(r[4])).toISOString(),
      last: new Date(Number(r[5])).toISOString(),
      retrievals: Number(r[6]),
      full: Number(r[7]),
      bytes: String(r[8]),
    }));
  });
}

async function ingest(
  runs: readonly (readonly string[])[],
  options: Partial<IngestOptions> = {},
): Promise<{ held: Held[]; store: DuckDbState }> {
  const store = await DuckDbState.open(join(states, `h${stateCount++}.duckdb`));
  for (const paths of runs) {
    await ingestPaths(store.ingestLog, paths, { datasetDepth: 2, workers: 0, holdings: true, ...options });
  }
  return { held: await heldOf(store), store };
}

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::444455556666:user/bob';

function get(minute: number, key: string, fields: Parameters<typeof logLine>[0] = {}): string {
  return logLine({
    time: `14/Mar/2026:10:${String(minute).padStart(2, '0')}:00 +0000`,
    requester: ALICE,
    key,
    uri: `"GET /${key} HTTP/1.1"`,
    bytesSent: '1000',
    objectSize: '1000',
    ...fields,
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'holdings-'));
  states = await mkdtemp(join(tmpdir(), 'holdings-state-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(states, { recursive: true, force: true });
});

describe('the holdings table (local engine)', () => {
  it('keeps 200 and 206 reads of whole-object GETs, with first and last retrieval, and nothing else', async () => {
    const path = await put('kinds/2026-03-14-11-00-00-AAAAAAAAAAAAAAAA', [
      get(1, 'feeds/a/x.csv'),
      get(5, 'feeds/a/x.csv', { status: '206', bytesSent: '100' }),
      get(9, 'feeds/a/x.csv', { bytesSent: '1000' }),
      get(2, 'feeds/a/y.csv', { operation: 'REST.HEAD.OBJECT', bytesSent: '-' }),
      get(3, 'feeds/a/z.csv', { status: '404', errorCode: 'NoSuchKey', bytesSent: '300', objectSize: '-' }),
      get(4, 'feeds/a/w.csv', { operation: 'REST.PUT.OBJECT' }),
      get(4, 'feeds/a/c.csv', { operation: 'REST.COPY.OBJECT_GET' }),
      get(6, 'feeds/a/v.csv', { status: '304', bytesSent: '-' }),
      get(7, 'feeds/b/q.csv', { operation: 'WEBSITE.GET.OBJECT', requester: BOB, bytesSent: '50' }),
    ]);
    const { held, store } = await ingest([[path]]);
    expect(held).toEqual([
      {
        requester: ALICE,
        key: 'feeds/a/x.csv',
        version: '-',
        size: '1000',
        first: '2026-03-14T10:01:00.000Z',
        last: '2026-03-14T10:09:00.000Z',
        retrievals: 3,
        full: 2,
        bytes: '2100',
      },
      {
        requester: BOB,
        key: 'feeds/b/q.csv',
        version: '-',
        size: '1000',
        first: '2026-03-14T10:07:00.000Z',
        last: '2026-03-14T10:07:00.000Z',
        retrievals: 1,
        full: 1,
        bytes: '50',
      },
    ]);
    await store.close();
  });

  it('names a key as the manifest does: escapes decoded, unicode and spaces kept, bad escapes as logged', async () => {
    const path = await put('keys/2026-03-14-11-00-00-BBBBBBBBBBBBBBBB', [
      get(1, 'feeds/a/caf%C3%A9%20menu.csv'),
      get(2, 'feeds/a/café menu.csv'.replace(' ', '%20')),
      get(3, 'feeds/a/bad%FFescape'),
      get(4, 'feeds/a/100%25+plus'),
      get(5, 'feeds/a/%E6%97%A5%E6%9C%AC.csv'),
      get(6, 'feeds/a/nosize.csv', { objectSize: '-' }),
    ]);
    const { held, store } = await ingest([[path]]);
    expect(held.map((h) => [h.key, h.size, h.retrievals])).toEqual([
      ['feeds/a/100%+plus', '1000', 1],
      ['feeds/a/bad%FFescape', '1000', 1],
      ['feeds/a/café menu.csv', '1000', 2],
      ['feeds/a/nosize.csv', null, 1],
      ['feeds/a/日本.csv', '1000', 1],
    ]);
    await store.close();
  });

  it('keeps versions and overwritten objects (another logged size) apart', async () => {
    const path = await put('versions/2026-03-14-11-00-00-CCCCCCCCCCCCCCCC', [
      get(1, 'feeds/a/x.csv', { versionId: '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY' }),
      get(2, 'feeds/a/x.csv', { versionId: 'aFKz8gqK.Vd.mK3jE1rL2QmnPq7rS5Tu' }),
      get(3, 'feeds/a/y.csv', { objectSize: '1000' }),
      get(4, 'feeds/a/y.csv', { objectSize: '2000', bytesSent: '2000' }),
    ]);
    const { held, store } = await ingest([[path]]);
    expect(held.map((h) => [h.key, h.version, h.size])).toEqual([
      ['feeds/a/x.csv', '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY', '1000'],
      ['feeds/a/x.csv', 'aFKz8gqK.Vd.mK3jE1rL2QmnPq7rS5Tu', '1000'],
      ['feeds/a/y.csv', '-', '1000'],
      ['feeds/a/y.csv', '-', '2000'],
    ]);
    await store.close();
  });

  it('counts a read delivered twice once: in one object, in two objects, and across runs', async () => {
    const lines = Array.from({ length: 40 }, (_, i) =>
      get(i % 60, `feeds/a/f${i % 9}.csv`, { hostId: `h${i}=` }),
    );
    const noId = get(50, 'feeds/a/f0.csv', { requestId: '-' });
    const once = await put('twice/one/2026-03-14-11-00-00-DDDDDDDDDDDDDDDD', [...lines, noId]);
    const truth = (await ingest([[once]])).held;
    const inside = await put('twice/inside/2026-03-14-11-00-00-EEEEEEEEEEEEEEEE', [
      ...lines,
      ...lines.slice(0, 10),
      noId,
    ]);
    const a = await put('twice/a/2026-03-14-11-00-00-FFFFFFFFFFFFFFFF', [...lines.slice(0, 25), noId]);
    const b = await put('twice/b/2026-03-15-02-00-00-GGGGGGGGGGGGGGGG', lines.slice(15));
    expect(truth.reduce((n, h) => n + h.retrievals, 0)).toBe(41);
    const r1 = await ingest([[inside]]);
    expect(r1.held).toEqual(truth);
    const r2 = await ingest([[a, b]]);
    expect(r2.held).toEqual(truth);
    const r3 = await ingest([[a], [b]]);
    expect(r3.held).toEqual(truth);
    // A line without a request id cannot be recognised: each delivery of it counts, as in the rollup.
    const twiceNoId = await put('twice/noid/2026-03-14-11-00-00-HHHHHHHHHHHHHHHH', [noId, noId]);
    const r4 = await ingest([[twiceNoId]]);
    expect(r4.held.map((h) => h.retrievals)).toEqual([2]);
    for (const r of [r1, r2, r3, r4]) await r.store.close();
  });

  it('adds nothing when the same objects are ingested again, and replaces a file delivered again', async () => {
    const first = await put('again/2026-03-14-11-00-00-IIIIIIIIIIIIIIII', [
      get(1, 'feeds/a/x.csv'),
      get(2, 'feeds/a/y.csv'),
    ]);
    const { held, store } = await ingest([[first], [first]]);
    expect(held.map((h) => [h.key, h.retrievals])).toEqual([
      ['feeds/a/x.csv', 1],
      ['feeds/a/y.csv', 1],
    ]);
    // The same object name with other content: the earlier delivery's reads are replaced.
    await put('again/2026-03-14-11-00-00-IIIIIIIIIIIIIIII', [get(3, 'feeds/a/z.csv')]);
    await ingestPaths(store.ingestLog, [first], { datasetDepth: 2, workers: 0, holdings: true });
    expect((await heldOf(store)).map((h) => [h.key, h.retrievals])).toEqual([['feeds/a/z.csv', 1]]);
    await store.close();
  });

  it('gives the same table with worker threads, many small files summed together, as with one thread', async () => {
    const paths: string[] = [];
    for (let f = 0; f < 12; f++) {
      const lines = Array.from({ length: 30 }, (_, i) =>
        get((f * 5 + i) % 60, `feeds/d${i % 3}/obj%20${(f * 7 + i) % 23}.csv`, {
          requester: i % 4 === 0 ? BOB : ALICE,
          hostId: `f${f}l${i}=`,
          status: i % 5 === 0 ? '206' : '200',
        }),
      );
      // Every third file repeats a line of the file before it.
      if (f % 3 === 2)
        lines.push(
          get((f * 5 - 5) % 60, `feeds/d0/obj%20${((f - 1) * 7) % 23}.csv`, {
            hostId: `f${f - 1}l0=`,
            status: '206',
            requester: BOB,
          }),
        );
      paths.push(await put(`pool/2026-03-14-11-${String(f).padStart(2, '0')}-00-JJJJJJJJJJJJJJJJ`, lines));
    }
    const one = await ingest([paths], { workers: 0 });
    const many = await ingest([paths], { workers: 2 });
    expect(many.held).toEqual(one.held);
    expect(one.held.reduce((n, h) => n + h.retrievals, 0)).toBe(360);
    await one.store.close();
    await many.store.close();
  });
});

/** Rows of the holdings table and its dictionaries, and the rollup's sums per key (its batch left out). */
async function tablesOf(store: DuckDbState): Promise<{ held: number[]; rollup: string[] }> {
  return store.database.serial('test', async (c) => {
    const held: number[] = [];
    for (const table of ['held_rows', 'held_keys', 'held_objects']) {
      held.push(Number((await c.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows()[0]![0]));
    }
    const rollup = (
      await c.runAndReadAll(`SELECT slot_start, bucket, requester, access_point, dataset, operation,
          status_class, sum(requests), sum(bytes_sent), sum(records)
        FROM rollup GROUP BY ALL ORDER BY ALL`)
    )
      .getRows()
      .map((r) => r.map(String).join('|'));
    return { held, rollup };
  });
}

describe('holdings as a registry setting (settings.holdings, off by default)', () => {
  const lines = () => [
    get(1, 'feeds/a/x.csv'),
    get(5, 'feeds/a/x.csv', { status: '206', bytesSent: '100' }),
    get(7, 'feeds/b/q.csv', { requester: BOB, bytesSent: '50' }),
    get(8, 'feeds/b/q.csv', { operation: 'REST.HEAD.OBJECT', bytesSent: '-' }),
  ];

  it('off (the default): nothing in the holdings table or its dictionaries, the same rollup as on', async () => {
    const path = await put('optin/off/2026-03-14-11-00-00-KKKKKKKKKKKKKKKK', lines());
    const on = await ingest([[path]]);
    for (const workers of [0, 2]) {
      const store = await DuckDbState.open(join(states, `h${stateCount++}.duckdb`));
      await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers });
      const off = await tablesOf(store);
      expect(off.held).toEqual([0, 0, 0]);
      expect(await store.holdings.kept()).toBe(false);
      expect(off.rollup).toEqual((await tablesOf(on.store)).rollup);
      expect(off.rollup.length).toBeGreaterThan(0);
      await store.close();
    }
    expect(on.held.map((h) => [h.key, h.retrievals])).toEqual([
      ['feeds/a/x.csv', 2],
      ['feeds/b/q.csv', 1],
    ]);
    expect(await on.store.holdings.kept()).toBe(true);
    await on.store.close();
  });

  it('turned on, rebuilds a state ingested without holdings once from its logs: past reads are held too', async () => {
    const path = await put('optin/on/2026-03-14-11-00-00-LLLLLLLLLLLLLLLL', lines());
    const fresh = await ingest([[path]]);
    const store = await DuckDbState.open(join(states, `h${stateCount++}.duckdb`));
    const off = await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0 });
    expect(off.rebuilt).toBe(false);
    expect(off.summary.filesSkipped).toBe(0);
    const on = await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0, holdings: true });
    expect(on.rebuilt).toBe(true);
    expect(on.summary.filesSkipped).toBe(0);
    expect(await heldOf(store)).toEqual(fresh.held);
    expect(await store.holdings.kept()).toBe(true);
    // Once: the next run with holdings on skips the file, and the table stays as it is.
    const again = await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0, holdings: true });
    expect(again.rebuilt).toBe(false);
    expect(again.summary.filesSkipped).toBe(1);
    expect(await heldOf(store)).toEqual(fresh.held);
    await store.close();
    await fresh.store.close();
  });

  it('turned off, rebuilds the state without holdings: no stale rows are left for anyone to read', async () => {
    const path = await put('optin/back/2026-03-14-11-00-00-MMMMMMMMMMMMMMMM', lines());
    const { held, store } = await ingest([[path]]);
    expect(held.length).toBe(2);
    const rollupOn = (await tablesOf(store)).rollup;
    const off = await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0, holdings: false });
    expect(off.rebuilt).toBe(true);
    expect(off.summary.filesSkipped).toBe(0);
    const tables = await tablesOf(store);
    expect(tables.held).toEqual([0, 0, 0]);
    expect(tables.rollup).toEqual(rollupOn);
    expect(await store.holdings.kept()).toBe(false);
    await store.close();
  });
});
