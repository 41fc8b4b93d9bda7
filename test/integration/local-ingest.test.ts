import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import {
  fingerprintFile,
  ingestLogFile,
  listLogFiles,
  type Manifest,
  parseManifest,
} from '../../functions/adapters/logs/index.js';
import {
  BatchMatesMissingError,
  ingestionSettingsFingerprint,
  ingestPaths,
} from '../../functions/cli/local-ingest.js';
import { logLine } from '../support/log-lines.js';

const FIXED = { now: () => new Date(Date.UTC(2026, 2, 15)) };
const MANIFEST = parseManifest('feeds/,10\nfeeds/d1/f7.csv,99\n', 'manifest.csv');

let root: string;
/** State files live outside the logs folder, which is ingested whole. */
let states: string;

function lines(count: number, salt: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 41 === 3) out.push(`not a log line ${i}`);
    else
      out.push(
        logLine({
          time: `14/Mar/2026:${String(8 + (i % 9)).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}:00 +0000`,
          requester: `arn:aws:iam::111122223333:user/u${(i + salt) % 5}`,
          key: `feeds/d${i % 3}/f${i % 11}.csv`,
          bytesSent: String(i * 17 + salt),
        }),
      );
  }
  return `${out.join('\n')}\n`;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'local-ingest-'));
  states = await mkdtemp(join(tmpdir(), 'local-ingest-state-'));
  const put = async (rel: string, body: string | Buffer) => {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), body);
  };
  await put('a/2026-03-14-09-00-00-AAAAAAAAAAAAAAAA', lines(4000, 1));
  // The same object name delivered again with other content: it replaces the first.
  await put('b/2026-03-14-09-00-00-AAAAAAAAAAAAAAAA', lines(3000, 2));
  await put('c/2026-03-14-10-00-00-BBBBBBBBBBBBBBBB.gz', gzipSync(lines(2500, 3)));
  await put('c/2026-03-14-11-00-00-CCCCCCCCCCCCCCCC', '');
  // A byte-identical copy under another folder: one fingerprint, read once.
  await put('d/2026-03-14-12-00-00-DDDDDDDDDDDDDDDD', lines(50, 4));
  await put('e/2026-03-14-12-00-00-DDDDDDDDDDDDDDDD', lines(50, 4));
  for (let i = 0; i < 30; i++) await put(`f/small-${String(i).padStart(2, '0')}.log`, lines(5 + i, 10 + i));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(states, { recursive: true, force: true });
});

/**
 * The specification: every file in path order, read whole on this thread, skipped when its fingerprint
 * is already recorded, else recorded on its own through `replaceFile`.
 */
async function oneByOne(store: DuckDbState, manifest: Manifest) {
  const settings = { datasetDepth: 2, manifest, manifestHash: manifest.hash };
  await store.ingestLog.resetIfSettingsChanged(ingestionSettingsFingerprint(settings));
  const { files, unreadable } = await listLogFiles([root]);
  const fingerprints: string[] = [];
  for (const file of files) {
    const fingerprint = await fingerprintFile(file.path);
    fingerprints.push(fingerprint);
    if (await store.ingestLog.hasFile(fingerprint)) continue;
    const r = await ingestLogFile(file.path, { datasetDepth: 2, manifest, fingerprint });
    await store.ingestLog.replaceFile(
      { fingerprint, path: file.path, basename: file.basename, size: file.size, layout: file.layout },
      r.rows,
      { ...r.stats, unreadableReason: r.unreadable },
    );
  }
  const summary = await store.ingestLog.inputSummary(fingerprints);
  return {
    ...summary,
    files: files.length,
    filesSkipped: 0,
    unreadableFiles: [...unreadable, ...summary.unreadableFiles],
  };
}

/**
 * Everything a state file holds about ingestion, in a stable order: the usage by key (how rows are
 * split into batches is the writer's choice: files recorded together share one), the file records and
 * the samples.
 */
async function contents(path: string) {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const c = await instance.connect();
  const read = async (sql: string) =>
    (await c.runAndReadAll(sql)).getRows().map((r) => r.map(String).join('|'));
  const out = {
    rollup: await read(`SELECT slot_start, bucket, requester, access_point, dataset, operation, status_class,
        sum(requests), sum(bytes_sent), sum(records) FROM rollup GROUP BY ALL ORDER BY ALL`),
    files: await read('SELECT * EXCLUDE (ingested_at, batch) FROM ingested_files ORDER BY ALL'),
    samples: await read('SELECT * FROM malformed_samples ORDER BY ALL'),
    rows: Number((await c.runAndReadAll('SELECT count(*) FROM rollup')).getRows()[0]![0]),
  };
  c.closeSync();
  instance.closeSync();
  return out;
}

async function runTwice(path: string, ingest: (store: DuckDbState) => Promise<unknown>) {
  const results: unknown[] = [];
  const states: Awaited<ReturnType<typeof contents>>[] = [];
  for (let run = 0; run < 2; run++) {
    const store = await DuckDbState.open(path, { clock: FIXED });
    try {
      results.push(await ingest(store));
    } finally {
      await store.close();
    }
    states.push(await contents(path));
  }
  return { results, states };
}

describe('ingestPaths', () => {
  it('leaves the state exactly as reading and recording each file whole, one by one, would', async () => {
    const spec = await runTwice(join(states, 'spec.duckdb'), (store) => oneByOne(store, MANIFEST));
    const parallel = await runTwice(join(states, 'parallel.duckdb'), async (store) => {
      const out = await ingestPaths(store.ingestLog, [root], {
        datasetDepth: 2,
        manifest: MANIFEST,
        manifestHash: MANIFEST.hash,
        workers: 2,
        // Small ranges, so the plain files are read in many pieces by both workers.
        plan: { splitAbove: 64 * 1024, maxRangeBytes: 100 * 1024 },
      });
      return { ...out.summary, filesSkipped: 0 };
    });
    expect(parallel.states[0]!.rollup.length).toBeGreaterThan(100);
    expect(parallel.states[0]!.samples.length).toBeGreaterThan(10);
    const withoutRows = (s: (typeof spec.states)[number]) => ({ ...s, rows: 0 });
    expect(parallel.states.map(withoutRows)).toEqual(spec.states.map(withoutRows));
    expect(parallel.results).toEqual(spec.results);
    // Files recorded together are summed together: fewer rows than a copy of every key per file.
    for (const [run, state] of parallel.states.entries()) {
      expect(state.rows).toBeLessThan(spec.states[run]!.rows);
    }
  });

  it('gives DuckDB back its own allocator setting once the files are recorded', async () => {
    const store = await DuckDbState.open(join(states, 'allocator.duckdb'), { clock: FIXED });
    const setting = () =>
      store.database.serial('test', async (c) =>
        String(
          (
            await c.runAndReadAll("SELECT current_setting('allocator_bulk_deallocation_flush_threshold')")
          ).getRows()[0]![0],
        ),
      );
    try {
      const before = await setting();
      const out = await ingestPaths(store.ingestLog, [join(root, 'f')], { datasetDepth: 2, workers: 2 });
      expect(out.summary.files - out.summary.filesSkipped).toBe(30);
      expect(await setting()).toBe(before);
    } finally {
      await store.close();
    }
  });

  it('reads nothing again on a second run, and says which files it skipped', async () => {
    const db = join(states, 'second.duckdb');
    const store = await DuckDbState.open(db, { clock: FIXED });
    // Folders without a re-delivered object name (a and b replace each other on every run).
    const paths = ['c', 'd', 'e', 'f'].map((d) => join(root, d));
    try {
      const first = await ingestPaths(store.ingestLog, paths, { datasetDepth: 2, workers: 2 });
      const progress: number[] = [];
      const second = await ingestPaths(store.ingestLog, paths, {
        datasetDepth: 2,
        workers: 2,
        progress: (e) => progress.push(e.done),
      });
      // The byte-identical copy is skipped in the first run already.
      expect(first.summary.filesSkipped).toBe(1);
      expect(second.summary.filesSkipped).toBe(second.summary.files);
      expect(progress).toEqual(Array.from({ length: second.summary.files }, (_, i) => i + 1));
      expect({ ...second.summary, filesSkipped: 0 }).toEqual({ ...first.summary, filesSkipped: 0 });
      expect(second.inputs).toEqual(first.inputs);
      expect(second.inputs.map((f) => f.name)).toContain(
        join(root, 'c/2026-03-14-11-00-00-CCCCCCCCCCCCCCCC'),
      );
    } finally {
      await store.close();
    }
  });

  it('reads again the files recorded in one group with an object re-delivered under its name', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'local-ingest-group-'));
    try {
      const names = ['2026-03-14-09-00-00-EEEEEEEEEEEEEEEE', 'x-1.log', 'x-2.log'];
      await writeFile(join(folder, names[0]!), lines(300, 21));
      await writeFile(join(folder, names[1]!), lines(200, 22));
      await writeFile(join(folder, names[2]!), lines(100, 23));
      const usage = async (db: string) => {
        const state = await DuckDbState.open(join(states, db), { clock: FIXED });
        try {
          const out = await ingestPaths(state.ingestLog, [folder], { datasetDepth: 2, workers: 2 });
          return { out, rows: await state.usageSource.usage({ startMs: 0, endMs: Date.UTC(2100, 0, 1) }) };
        } finally {
          await state.close();
        }
      };
      const first = await usage('group.duckdb');
      expect(first.out.summary.files - first.out.summary.filesSkipped).toBe(3);
      // The first object again, with other content: it replaces its earlier delivery, whose batch held
      // the other two files; they are read again in the same run and counted once.
      await writeFile(join(folder, names[0]!), lines(250, 24));
      const second = await usage('group.duckdb');
      expect(second.out.summary.filesSkipped).toBe(0);
      expect(second.out.summary.lines).toBe(250 + 200 + 100);
      const fresh = await usage('group-fresh.duckdb');
      expect(second.rows).toEqual(fresh.rows);
      expect(second.rows).not.toEqual(first.rows);
      const third = await usage('group.duckdb');
      expect(third.out.summary.filesSkipped).toBe(3);
      expect(third.rows).toEqual(fresh.rows);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses, recording nothing, to replace an object whose group-mates it was not given', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'local-ingest-mates-'));
    try {
      const names = ['2026-03-14-10-00-00-FFFFFFFFFFFFFFFF', 'y-1.log', 'y-2.log'];
      await writeFile(join(folder, names[0]!), lines(300, 31));
      await writeFile(join(folder, names[1]!), lines(200, 32));
      await writeFile(join(folder, names[2]!), lines(100, 33));
      const state = await DuckDbState.open(join(states, 'mates.duckdb'), { clock: FIXED });
      try {
        await ingestPaths(state.ingestLog, [folder], { datasetDepth: 2, workers: 2 });
        const range = { startMs: 0, endMs: Date.UTC(2100, 0, 1) };
        const before = await state.usageSource.usage(range);
        // The first object re-delivered with other content, given alone: reading it would remove the
        // batch it shares with y-1.log and y-2.log, whose usage this run could not read again.
        await writeFile(join(folder, names[0]!), lines(250, 34));
        const error = await ingestPaths(state.ingestLog, [join(folder, names[0]!)], {
          datasetDepth: 2,
          workers: 2,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BatchMatesMissingError);
        expect((error as BatchMatesMissingError).paths.map((p) => p.split('/').pop()).sort()).toEqual([
          'y-1.log',
          'y-2.log',
        ]);
        expect(await state.usageSource.usage(range)).toEqual(before);
        // Given the whole folder, the object replaces its earlier delivery and the others are kept.
        const out = await ingestPaths(state.ingestLog, [folder], { datasetDepth: 2, workers: 2 });
        expect(out.summary.lines).toBe(250 + 200 + 100);
      } finally {
        await state.close();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('reads on the main thread when a manifest cannot be handed to a worker', async () => {
    const custom: Manifest = { ...MANIFEST, recordsFor: (key) => MANIFEST.recordsFor(key) };
    const spec = await runTwice(join(states, 'spec-2.duckdb'), (store) => oneByOne(store, custom));
    const inline = await runTwice(join(states, 'inline.duckdb'), async (store) => {
      const out = await ingestPaths(store.ingestLog, [root], {
        datasetDepth: 2,
        manifest: custom,
        manifestHash: MANIFEST.hash,
      });
      return { ...out.summary, filesSkipped: 0 };
    });
    const withoutRows = (s: (typeof spec.states)[number]) => ({ ...s, rows: 0 });
    expect(inline.states.map(withoutRows)).toEqual(spec.states.map(withoutRows));
  });
});
