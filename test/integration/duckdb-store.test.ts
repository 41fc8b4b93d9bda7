import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DuckDbState,
  DuckDbStoreError,
  type FileStats,
  type IngestedFile,
  InvalidRollupRowError,
  usageQuery,
} from '../../functions/adapters/duckdb/index.js';
import { type RollupRow, SLOT_MS, type UsageCounts, type UsageRow } from '../../functions/domain/usage.js';
import type { NoticeKey } from '../../functions/ports.js';

const STORE_MODULE = pathToFileURL(
  fileURLToPath(new URL('../../functions/adapters/duckdb/duckdb-state.ts', import.meta.url)),
).href;

/** 2026-03-01T00:00:00Z, a slot start. */
const T0 = Date.UTC(2026, 2, 1);
const HOUR = 3_600_000;

let dir: string;
let dbPath: string;
const opened: DuckDbState[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'duckdb-store-'));
  dbPath = join(dir, 'state.duckdb');
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(path = dbPath): Promise<DuckDbState> {
  const store = await DuckDbState.open(path, { clock: { now: () => new Date(T0 + 30 * 24 * HOUR) } });
  opened.push(store);
  return store;
}

function row(batch: string, over: Partial<RollupRow> = {}): RollupRow {
  return {
    slotStart: T0,
    bucket: 'provider-data',
    requester: 'arn:aws:iam::111122223333:user/alice',
    accessPoint: '-',
    dataset: 'weather/',
    operation: 'REST.GET.OBJECT',
    statusClass: '2xx',
    requests: 1n,
    bytesSent: 100n,
    records: 0n,
    batch,
    ...over,
  };
}

function logFile(fingerprint: string, basename = `2026-03-01-00-00-00-${fingerprint}`): IngestedFile {
  return { fingerprint, path: `/logs/${basename}`, basename, size: 1000, layout: 'simple' };
}

function stats(over: Partial<FileStats> = {}): FileStats {
  return { lines: 3, parsedLines: 3, malformedLines: 0, malformedByReason: {}, samples: [], ...over };
}

function totals(rows: readonly UsageRow[]): UsageCounts {
  return rows.reduce(
    (t, r) => ({
      requests: t.requests + r.requests,
      bytesSent: t.bytesSent + r.bytesSent,
      records: t.records + r.records,
    }),
    { requests: 0n, bytesSent: 0n, records: 0n },
  );
}

const everything = { startMs: 0, endMs: Date.UTC(2100, 0, 1) };

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a TypeScript ES module in a separate Node process (with tsx), as a second program would. */
async function runChild(code: string): Promise<ReturnType<typeof spawnSync>> {
  const script = join(dir, `child-${Math.random().toString(36).slice(2)}.mts`);
  await writeFile(script, code);
  return spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('DuckDbIngestLog.replaceFile', () => {
  it('counts a file once however often it is ingested', async () => {
    const store = await open();
    const rows = [row('fp-a'), row('fp-a', { slotStart: T0 + SLOT_MS, requests: 2n, bytesSent: 50n })];
    await store.ingestLog.replaceFile(logFile('fp-a'), rows, stats());
    await store.ingestLog.replaceFile(logFile('fp-a'), rows, stats());

    expect(totals(await store.usageSource.usage(everything))).toEqual({
      requests: 3n,
      bytesSent: 150n,
      records: 0n,
    });
    expect((await store.ingestLog.inputSummary()).files).toBe(1);
  });

  it('adds a file with a new basename to the totals', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a')], stats());
    await store.ingestLog.replaceFile(logFile('fp-b'), [row('fp-b', { requests: 4n })], stats());

    expect(totals(await store.usageSource.usage(everything)).requests).toBe(5n);
    expect(await store.ingestLog.hasFile('fp-a')).toBe(true);
    expect(await store.ingestLog.hasFile('fp-b')).toBe(true);
  });

  it('replaces an earlier file with the same basename and other content (a re-delivered object)', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(
      logFile('fp-old', 'same-object'),
      [row('fp-old', { requests: 7n })],
      stats(),
    );
    await store.ingestLog.replaceFile(
      logFile('fp-new', 'same-object'),
      [row('fp-new', { requests: 2n })],
      stats(),
    );

    expect(totals(await store.usageSource.usage(everything)).requests).toBe(2n);
    expect(await store.ingestLog.hasFile('fp-old')).toBe(false);
    expect(await store.ingestLog.hasFile('fp-new')).toBe(true);
    expect((await store.ingestLog.inputSummary()).files).toBe(1);
  });

  it('rolls back to the previous state when a replacement fails part-way', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(logFile('fp-a', 'obj'), [row('fp-a', { requests: 7n })], stats());
    const good = Array.from({ length: 5000 }, () => row('fp-b'));
    const rows = [...good, row('fp-wrong')];

    await expect(store.ingestLog.replaceFile(logFile('fp-b', 'obj'), rows, stats())).rejects.toBeInstanceOf(
      InvalidRollupRowError,
    );
    expect(totals(await store.usageSource.usage(everything)).requests).toBe(7n);
    expect(await store.ingestLog.hasFile('fp-a')).toBe(true);
    expect(await store.ingestLog.hasFile('fp-b')).toBe(false);
    // The store is still usable after the rollback.
    await store.ingestLog.replaceFile(logFile('fp-b', 'obj'), good, stats());
    expect(totals(await store.usageSource.usage(everything)).requests).toBe(5000n);
  });

  it('keeps the previous state when the process dies in the middle of a replacement', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(logFile('fp-a', 'obj'), [row('fp-a', { requests: 7n })], stats());
    await store.close();

    const child = await runChild(`
      import { DuckDbState } from ${JSON.stringify(STORE_MODULE)};
      const store = await DuckDbState.open(${JSON.stringify(dbPath)});
      const make = () => ({
        slotStart: ${T0}, bucket: 'provider-data', requester: 'r', accessPoint: '-', dataset: 'd/',
        operation: 'REST.GET.OBJECT', statusClass: '2xx', requests: 1n, bytesSent: 100n, records: 0n,
        batch: 'fp-b',
      });
      const rows = Array.from({ length: 10000 }, make);
      // Reading this row's batch kills the process after the old rows were deleted, before COMMIT.
      Object.defineProperty(rows[9000], 'batch', { get() { process.kill(process.pid, 'SIGKILL'); return 'x'; } });
      await store.ingestLog.replaceFile(
        { fingerprint: 'fp-b', path: '/logs/obj', basename: 'obj', size: 1, layout: 'simple' },
        rows,
        { lines: 0, parsedLines: 0, malformedLines: 0, malformedByReason: {}, samples: [] },
      );
      console.log('not reached');
    `);
    expect(child.signal).toBe('SIGKILL');

    const reopened = await open();
    expect(totals(await reopened.usageSource.usage(everything)).requests).toBe(7n);
    expect(await reopened.ingestLog.hasFile('fp-a')).toBe(true);
    expect(await reopened.ingestLog.hasFile('fp-b')).toBe(false);
  });

  it.each([
    ['a batch that is not the file fingerprint', { batch: 'other' }],
    ['a slot that does not start a slot', { slotStart: T0 + 1 }],
    ['a fractional slot', { slotStart: T0 + 0.5 }],
    ['a negative count', { bytesSent: -1n }],
  ])('rejects a row with %s', async (_what, over) => {
    const store = await open();
    await expect(
      store.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a', over)], stats()),
    ).rejects.toBeInstanceOf(InvalidRollupRowError);
    expect(await store.usageSource.usage(everything)).toEqual([]);
  });

  it('rejects a count beyond BIGINT and records nothing', async () => {
    const store = await open();
    const tooBig = row('fp-a', { bytesSent: 2n ** 63n });
    await expect(store.ingestLog.replaceFile(logFile('fp-a'), [tooBig], stats())).rejects.toBeInstanceOf(
      Error,
    );
    expect(await store.ingestLog.hasFile('fp-a')).toBe(false);
  });

  it('rejects stats in which parsed and malformed lines do not add up to the lines', async () => {
    const store = await open();
    const bad = stats({ lines: 5, parsedLines: 3, malformedLines: 1 });
    await expect(store.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a')], bad)).rejects.toThrow(
      /lines \(5\) must equal parsed \(3\) \+ malformed \(1\)/,
    );
    expect(await store.ingestLog.hasFile('fp-a')).toBe(false);
  });

  it('answers hasFile false for a file recorded as unreadable, so the next run tries it again', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(
      logFile('fp-gz'),
      [],
      stats({ lines: 0, parsedLines: 0, unreadableReason: 'truncated gzip' }),
    );

    expect(await store.ingestLog.hasFile('fp-gz')).toBe(false);
    expect(await store.ingestLog.ingestedFingerprints()).toEqual(new Set());
    expect((await store.ingestLog.inputSummary()).unreadableFiles).toEqual([
      { file: '/logs/2026-03-01-00-00-00-fp-gz', reason: 'truncated gzip' },
    ]);
  });

  it('records several files in one transaction with replaceFiles, all or none', async () => {
    const store = await open();
    await store.ingestLog.replaceFiles([
      { file: logFile('fp-a'), rows: [row('fp-a')], stats: stats() },
      { file: logFile('fp-b'), rows: [row('fp-b', { requests: 2n })], stats: stats() },
    ]);
    expect(await store.ingestLog.ingestedFingerprints()).toEqual(new Set(['fp-a', 'fp-b']));

    await expect(
      store.ingestLog.replaceFiles([
        { file: logFile('fp-c'), rows: [row('fp-c', { requests: 10n })], stats: stats() },
        { file: logFile('fp-d'), rows: [row('fp-x')], stats: stats() },
      ]),
    ).rejects.toBeInstanceOf(InvalidRollupRowError);
    expect(totals(await store.usageSource.usage(everything)).requests).toBe(3n);
    expect(await store.ingestLog.hasFile('fp-c')).toBe(false);
  });

  it('serialises concurrent callers so their transactions never interleave', async () => {
    const store = await open();
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.ingestLog.replaceFile(
        logFile(`fp-${i}`),
        Array.from({ length: 100 }, () => row(`fp-${i}`)),
        stats(),
      ),
    );
    const reads = Array.from({ length: 20 }, () => store.usageSource.usage(everything));
    await Promise.all([...writes, ...reads]);

    expect(totals(await store.usageSource.usage(everything)).requests).toBe(2000n);
    expect((await store.ingestLog.inputSummary()).files).toBe(20);
  });

  it('writes a large batch quickly (200,000 rows, far under what row-by-row INSERTs take)', async () => {
    const store = await open();
    const rows: RollupRow[] = [];
    for (let i = 0; i < 200_000; i++) {
      rows.push(
        row('fp-big', {
          slotStart: T0 + (i % 2880) * SLOT_MS,
          requester: `arn:aws:iam::111122223333:user/u${i % 500}`,
          dataset: `ds${i % 40}/`,
          requests: BigInt(i % 9),
          bytesSent: BigInt(i),
        }),
      );
    }
    const started = performance.now();
    await store.ingestLog.replaceFile(logFile('fp-big'), rows, stats());
    const elapsed = performance.now() - started;

    expect(elapsed).toBeLessThan(8000);
    expect(totals(await store.usageSource.usage(everything)).bytesSent).toBe(19_999_900_000n);
  });
});

describe('DuckDbUsageSource.usage', () => {
  it('includes the slot at the range start and excludes the slot at the range end', async () => {
    const store = await open();
    const slots = [T0 - SLOT_MS, T0, T0 + SLOT_MS, T0 + HOUR - SLOT_MS, T0 + HOUR];
    await store.ingestLog.replaceFile(
      logFile('fp-a'),
      slots.map((slotStart) => row('fp-a', { slotStart })),
      stats(),
    );

    const rows = await store.usageSource.usage({ startMs: T0, endMs: T0 + HOUR });
    expect(rows.map((r) => r.slotStart)).toEqual([T0, T0 + SLOT_MS, T0 + HOUR - SLOT_MS]);
  });

  it('sums one key over batches and keeps different keys apart', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a', { requests: 2n, records: 5n })], stats());
    await store.ingestLog.replaceFile(
      logFile('fp-b'),
      [row('fp-b', { requests: 3n, records: 1n }), row('fp-b', { statusClass: '4xx' })],
      stats(),
    );

    expect(await store.usageSource.usage(everything)).toEqual([
      {
        slotStart: T0,
        bucket: 'provider-data',
        requester: 'arn:aws:iam::111122223333:user/alice',
        accessPoint: '-',
        dataset: 'weather/',
        operation: 'REST.GET.OBJECT',
        statusClass: '2xx',
        requests: 5n,
        bytesSent: 200n,
        records: 6n,
      },
      expect.objectContaining({ statusClass: '4xx', requests: 1n }),
    ]);
  });

  it('sums counts past 2^53 exactly, as bigint', async () => {
    const store = await open();
    const big = 2n ** 62n;
    await store.ingestLog.replaceFile(
      logFile('fp-a'),
      [row('fp-a', { bytesSent: big, requests: big })],
      stats(),
    );
    await store.ingestLog.replaceFile(
      logFile('fp-b'),
      [row('fp-b', { bytesSent: big + 1n, requests: 3n })],
      stats(),
    );

    const [only] = await store.usageSource.usage(everything);
    expect(only?.bytesSent).toBe(2n ** 63n + 1n);
    expect(only?.requests).toBe(big + 3n);
  });

  it('round-trips quotes, comment markers and semicolons in every string column', async () => {
    const store = await open();
    const nasty = {
      bucket: "b'--",
      requester: 'arn:aws:iam::1:user/o\'brien"; DROP TABLE rollup; --',
      accessPoint: "'); DELETE FROM notice_ledger; --",
      dataset: "data'set;/--/",
      operation: 'REST.GET.OBJECT\';"',
    };
    const fingerprint = "fp'; DROP TABLE ingested_files; --";
    await store.ingestLog.replaceFile(
      { ...logFile(fingerprint, "obj'name;--"), path: "/logs/it's;--" },
      [row(fingerprint, nasty)],
      stats({
        lines: 1,
        parsedLines: 0,
        malformedLines: 1,
        samples: [{ line: 1, reason: "q'", text: "';--" }],
      }),
    );

    expect(await store.usageSource.usage(everything)).toEqual([expect.objectContaining(nasty)]);
    expect(await store.ingestLog.hasFile(fingerprint)).toBe(true);
    expect((await store.ingestLog.inputSummary([fingerprint])).malformedSamples).toEqual([
      { file: "/logs/it's;--", line: 1, reason: "q'", text: "';--" },
    ]);
  });

  it('builds its query with the range as positional parameters', () => {
    const query = usageQuery({ startMs: T0, endMs: T0 + HOUR });
    expect(query.params).toEqual([1772323200000n, 1772326800000n]);
    expect(
      query.sql,
    ).toBe(`SELECT slot_start, bucket, requester, access_point, dataset, operation, status_class,
    sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, sum(records) AS records
  FROM rollup
  WHERE slot_start >= $1::BIGINT AND slot_start < $2::BIGINT
  GROUP BY slot_start, bucket, requester, access_point, dataset, operation, status_class
  ORDER BY slot_start, bucket, requester, access_point, dataset, operation, status_class`);
  });

  it('rejects a range that is not integer milliseconds', async () => {
    const store = await open();
    await expect(store.usageSource.usage({ startMs: 0.5, endMs: 10 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('DuckDbIngestLog bookkeeping', () => {
  it('sums the given files, merges malformed reasons and spreads samples over files', async () => {
    const store = await open();
    await store.ingestLog.replaceFile(
      { ...logFile('fp-a'), size: 100 },
      [],
      stats({
        lines: 10,
        parsedLines: 7,
        malformedLines: 3,
        malformedByReason: { 'bad-time': 2, 'too-few-fields': 1 },
        samples: [
          { line: 1, reason: 'bad-time', text: 'x'.repeat(400) },
          { line: 5, reason: 'bad-time', text: 'a5' },
          { line: 9, reason: 'too-few-fields', text: 'a9' },
        ],
      }),
    );
    await store.ingestLog.replaceFile(
      { ...logFile('fp-b'), size: 50 },
      [],
      stats({
        lines: 4,
        parsedLines: 3,
        malformedLines: 1,
        malformedByReason: { 'bad-time': 1 },
        samples: [{ line: 2, reason: 'bad-time', text: 'b2' }],
      }),
    );
    await store.ingestLog.replaceFile({ ...logFile('fp-c'), size: 1 }, [], stats());

    const summary = await store.ingestLog.inputSummary(['fp-a', 'fp-b', 'fp-unknown'], {
      maxSamples: 3,
      filesSkipped: 1,
    });
    expect(summary).toMatchObject({
      files: 2,
      filesSkipped: 1,
      bytes: 150,
      lines: 14,
      parsedLines: 10,
      malformedLines: 4,
      malformedByReason: { 'bad-time': 3, 'too-few-fields': 1 },
      unreadableFiles: [],
    });
    expect(summary.malformedSamples.map((s) => s.text)).toEqual(['x'.repeat(300), 'b2', 'a5']);
    expect((await store.ingestLog.inputSummary()).files).toBe(3);
    expect((await store.ingestLog.inputSummary([])).files).toBe(0);

    // Found by their names first, the same files give the same summary; a file whose name is not
    // given counts as nothing, like an unknown fingerprint.
    const names = ['fp-a', 'fp-b', 'fp-c', 'fp-unknown'].map((f) => logFile(f).basename);
    const named = await store.ingestLog.inputSummary(['fp-a', 'fp-b', 'fp-unknown'], {
      maxSamples: 3,
      filesSkipped: 1,
      names,
    });
    expect(named).toEqual(summary);
    const withoutB = await store.ingestLog.inputSummary(['fp-a', 'fp-b'], {
      names: names.filter((n) => !n.endsWith('fp-b')),
    });
    expect(withoutB).toMatchObject({
      files: 1,
      bytes: 100,
      lines: 10,
      malformedByReason: { 'bad-time': 2, 'too-few-fields': 1 },
    });
  });

  it('reports the first and last slot start of the data, or nothing when empty', async () => {
    const store = await open();
    expect(await store.usageSource.dataExtent()).toBeUndefined();
    await store.ingestLog.replaceFile(
      logFile('fp-a'),
      [row('fp-a', { slotStart: T0 + HOUR }), row('fp-a', { slotStart: T0 - HOUR })],
      stats(),
    );
    expect(await store.usageSource.dataExtent()).toEqual({ minMs: T0 - HOUR, maxMs: T0 + HOUR });
  });
});

describe('DuckDbState settings and persistence', () => {
  it('stores the first settings fingerprint without calling it a reset', async () => {
    const store = await open();
    expect(await store.ingestLog.ingestionSettings()).toBeUndefined();
    expect(await store.ingestLog.resetIfSettingsChanged('depth=1')).toBe(false);
    expect(await store.ingestLog.ingestionSettings()).toBe('depth=1');
    expect(await store.ingestLog.resetIfSettingsChanged('depth=1')).toBe(false);
  });

  it('clears the rollup and file bookkeeping but keeps the ledger when the settings change', async () => {
    const store = await open();
    await store.ingestLog.resetIfSettingsChanged('depth=1');
    await store.ingestLog.replaceFile(
      logFile('fp-a'),
      [row('fp-a')],
      stats({ lines: 1, parsedLines: 0, malformedLines: 1, samples: [{ line: 1, reason: 'r', text: 't' }] }),
    );
    const key = { partnerId: 'acme', periodId: '2026-03', level: '80' };
    await store.ledger.claim(key, { runId: 'r1', figuresJson: '{}', nowMs: T0, staleAfterMs: HOUR });

    expect(await store.ingestLog.resetIfSettingsChanged('depth=2')).toBe(true);
    expect(await store.usageSource.usage(everything)).toEqual([]);
    expect(await store.ingestLog.hasFile('fp-a')).toBe(false);
    expect(await store.ingestLog.inputSummary()).toMatchObject({ files: 0, malformedSamples: [] });
    expect(await store.ingestLog.ingestionSettings()).toBe('depth=2');
    expect(await store.ledger.entries('acme', '2026-03')).toHaveLength(1);
  });

  it('keeps rollup, bookkeeping, settings and ledger in the file for the next run', async () => {
    const first = await open();
    await first.ingestLog.resetIfSettingsChanged('s1');
    await first.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a', { requests: 9n })], stats());
    const key = { partnerId: 'acme', periodId: '2026-03', level: '100' };
    await first.ledger.claim(key, { runId: 'r1', figuresJson: '{"a":1}', nowMs: T0, staleAfterMs: HOUR });
    await first.ledger.markSent(key, { runId: 'r1', messageId: '<m1@x>', sentAt: '2026-03-02T00:00:00Z' });
    await first.close();

    const second = await open();
    expect(totals(await second.usageSource.usage(everything)).requests).toBe(9n);
    expect(await second.ingestLog.hasFile('fp-a')).toBe(true);
    expect(await second.ingestLog.ingestionSettings()).toBe('s1');
    expect(
      await second.ledger.claim(key, { runId: 'r2', figuresJson: '{}', nowMs: T0, staleAfterMs: 0 }),
    ).toBe('already-sent');
  });

  it('upgrades a state file whose ingested_files has the first release’s PRIMARY KEY: rebuilt without it, every record kept', async () => {
    const first = await open();
    await first.ingestLog.resetIfSettingsChanged('s1');
    await first.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a', { requests: 9n })], stats());
    await first.ingestLog.replaceFile(
      logFile('fp-b'),
      [row('fp-b', { requests: 2n })],
      stats({
        lines: 4,
        malformedLines: 1,
        malformedByReason: { 'too-few-fields': 1 },
        unreadableReason: 'x',
      }),
    );
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    // The table as version 1 made it: its columns, a PRIMARY KEY on the fingerprint, the later
    // columns added by ALTER.
    const keyed = async (path: string) => {
      const instance = await DuckDBInstance.create(path);
      const connection = await instance.connect();
      const reader = await connection.runAndReadAll(
        `SELECT count(*) FROM duckdb_constraints()
          WHERE table_name = 'ingested_files' AND constraint_type = 'PRIMARY KEY'`,
      );
      return { instance, connection, keys: Number(reader.getRows()[0]![0]) };
    };
    const old = await keyed(dbPath);
    expect(old.keys).toBe(0);
    await old.connection.run(`CREATE TABLE v1 (
      fingerprint VARCHAR PRIMARY KEY, path VARCHAR NOT NULL, basename VARCHAR NOT NULL, size BIGINT NOT NULL,
      layout VARCHAR NOT NULL, lines BIGINT NOT NULL, parsed_lines BIGINT NOT NULL, malformed_lines BIGINT NOT NULL,
      malformed_by_reason VARCHAR NOT NULL, unreadable_reason VARCHAR, ingested_at TIMESTAMP NOT NULL)`);
    await old.connection.run(`INSERT INTO v1 SELECT fingerprint, path, basename, size, layout, lines, parsed_lines,
      malformed_lines, malformed_by_reason, unreadable_reason, ingested_at FROM ingested_files`);
    await old.connection.run('ALTER TABLE v1 ADD COLUMN repeats_dropped BIGINT DEFAULT 0');
    await old.connection.run('ALTER TABLE v1 ADD COLUMN batch VARCHAR');
    await old.connection.run("UPDATE v1 SET repeats_dropped = 3 WHERE fingerprint = 'fp-a'");
    await old.connection.run('DROP TABLE ingested_files');
    await old.connection.run('ALTER TABLE v1 RENAME TO ingested_files');
    const before = (
      await old.connection.runAndReadAll('SELECT * FROM ingested_files ORDER BY fingerprint')
    ).getRowObjectsJson();
    old.connection.closeSync();
    old.instance.closeSync();
    const again = await keyed(dbPath);
    expect(again.keys).toBe(1);
    again.connection.closeSync();
    again.instance.closeSync();

    const upgraded = await open();
    expect(await upgraded.ingestLog.hasFile('fp-a')).toBe(true);
    expect(await upgraded.ingestLog.hasFile('fp-b')).toBe(false); // unreadable: read again next run
    expect(totals(await upgraded.usageSource.usage(everything)).requests).toBe(11n);
    const summary = await upgraded.ingestLog.inputSummary();
    expect(summary).toMatchObject({ files: 2, lines: 7, malformedLines: 1, repeatsDropped: 3 });
    // Recording a file again still leaves one record of it: the uniqueness the key held.
    await upgraded.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a', { requests: 9n })], stats());
    expect((await upgraded.ingestLog.inputSummary()).files).toBe(2);
    expect(totals(await upgraded.usageSource.usage(everything)).requests).toBe(11n);
    await upgraded.close();
    opened.splice(opened.indexOf(upgraded), 1);

    const after = await keyed(dbPath);
    expect(after.keys).toBe(0);
    const rows = (
      await after.connection.runAndReadAll('SELECT * FROM ingested_files ORDER BY fingerprint')
    ).getRowObjectsJson();
    after.connection.closeSync();
    after.instance.closeSync();
    // Every column of every record as it was, but the one recorded again since.
    expect(rows.find((r) => r.fingerprint === 'fp-b')).toEqual(before.find((r) => r.fingerprint === 'fp-b'));
    expect(rows.map((r) => r.fingerprint)).toEqual(['fp-a', 'fp-b']);
  });
  it('upgrades a state file whose rollup is a table of strings: coded into rollup_rows, every row kept, read by the same columns', async () => {
    const first = await open();
    await first.ingestLog.resetIfSettingsChanged('s1');
    await first.ingestLog.replaceFile(
      logFile('fp-a'),
      [
        row('fp-a', { requests: 9n }),
        row('fp-a', { requester: "arn:aws:iam::1:user/o'brien", dataset: 'climate/', bytesSent: 7n }),
      ],
      stats(),
    );
    await first.ingestLog.replaceFile(
      logFile('fp-b'),
      [row('fp-b', { statusClass: '4xx', records: 3n })],
      stats(),
    );
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    // The rollup as every release before the coded one kept it: a table with the view's columns.
    const raw = async () => {
      const instance = await DuckDBInstance.create(dbPath);
      return { instance, connection: await instance.connect() };
    };
    const read = async (connection: DuckDBConnection, sql: string) =>
      (await connection.runAndReadAll(sql)).getRowObjectsJson();
    const old = await raw();
    const before = await read(old.connection, 'SELECT * FROM rollup ORDER BY ALL');
    expect(before).toHaveLength(3);
    await old.connection.run('CREATE TABLE rollup_table AS SELECT * FROM rollup');
    await old.connection.run('DROP VIEW rollup');
    await old.connection.run('DROP TABLE rollup_rows');
    await old.connection.run('DROP TABLE rollup_strings');
    await old.connection.run('ALTER TABLE rollup_table RENAME TO rollup');
    expect(
      await read(old.connection, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'rollup%'"),
    ).toEqual([{ table_name: 'rollup' }]);
    old.connection.closeSync();
    old.instance.closeSync();

    const upgraded = await open();
    expect(totals(await upgraded.usageSource.usage(everything))).toEqual({
      requests: 11n,
      bytesSent: 207n,
      records: 3n,
    });
    // Replacing a file of the upgraded rollup removes its batch's coded rows and writes them again.
    await upgraded.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a', { requests: 4n })], stats());
    expect(totals(await upgraded.usageSource.usage(everything)).requests).toBe(5n);
    await upgraded.close();
    opened.splice(opened.indexOf(upgraded), 1);

    const after = await raw();
    expect(
      await read(
        after.connection,
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'rollup%' ORDER BY 1",
      ),
    ).toEqual([{ table_name: 'rollup_rows' }, { table_name: 'rollup_strings' }]);
    expect(
      await read(after.connection, "SELECT view_name FROM duckdb_views() WHERE view_name = 'rollup'"),
    ).toEqual([{ view_name: 'rollup' }]);
    // fp-b's row as it was, column by column; fp-a's as recorded again.
    expect(await read(after.connection, "SELECT * FROM rollup WHERE batch = 'fp-b'")).toEqual(
      before.filter((r) => r.batch === 'fp-b'),
    );
    expect(await read(after.connection, "SELECT batch, requests FROM rollup WHERE batch = 'fp-a'")).toEqual([
      { batch: 'fp-a', requests: '4' },
    ]);
    // Each string once in the dictionary.
    expect(
      await read(after.connection, 'SELECT count(*) - count(DISTINCT value) AS repeated FROM rollup_strings'),
    ).toEqual([{ repeated: '0' }]);
    after.connection.closeSync();
    after.instance.closeSync();
  });

  it('refuses to open a file this process already has open', async () => {
    await open();
    await expect(DuckDbState.open(dbPath)).rejects.toThrow(/already open in this process/);
  });

  it('refuses another process while the file is open, naming the lock', async () => {
    await open();
    const child = await runChild(`
      import { DuckDbState } from ${JSON.stringify(STORE_MODULE)};
      try {
        await DuckDbState.open(${JSON.stringify(dbPath)});
        console.log('opened');
      } catch (error) {
        console.error(error.name + ': ' + error.message);
        process.exit(2);
      }
    `);
    expect(child.status).toBe(2);
    expect(child.stderr).toMatch(/DuckDbStoreError: open .*lock/i);
  });

  it('finishes queued calls before closing and rejects calls after close with DuckDbStoreError', async () => {
    const store = await open();
    const queued = store.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a')], stats());
    const closing = Promise.all([store.close(), store.close()]);
    await expect(queued).resolves.toBeUndefined();
    await closing;
    await expect(store.usageSource.usage(everything)).rejects.toBeInstanceOf(DuckDbStoreError);
    await store.close();
    // The file is free again and kept the queued write.
    const reopened = await open();
    expect(await reopened.ingestLog.hasFile('fp-a')).toBe(true);
  });

  it('works in memory with :memory:', async () => {
    const store = await open(':memory:');
    await store.ingestLog.replaceFile(logFile('fp-a'), [row('fp-a')], stats());
    expect(totals(await store.usageSource.usage(everything)).requests).toBe(1n);
  });
});

describe('DuckDbNoticeLedger', () => {
  const key: NoticeKey = { partnerId: 'acme', periodId: '2026-03', level: '90' };
  const claimBy = (runId: string, nowMs: number, staleAfterMs = HOUR) => ({
    runId,
    figuresJson: JSON.stringify({ runId }),
    nowMs,
    staleAfterMs,
  });

  it('claims an absent key as a pending entry of that run', async () => {
    const store = await open();
    expect(await store.ledger.claim(key, claimBy('r1', T0))).toBe('claimed');
    expect(await store.ledger.entries('acme', '2026-03')).toEqual([
      { ...key, state: 'pending', runId: 'r1', figuresJson: '{"runId":"r1"}' },
    ]);
  });

  it('holds a fresh claim against another run until it is stale, then hands it over', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));

    expect(await store.ledger.claim(key, claimBy('r2', T0 + HOUR - 1))).toBe('held-by-another-run');
    expect(await store.ledger.claim(key, claimBy('r2', T0 + HOUR))).toBe('claimed');
    expect((await store.ledger.entries('acme', '2026-03'))[0]).toMatchObject({
      runId: 'r2',
      state: 'pending',
    });
    // r2's claim is now the fresh one.
    expect(await store.ledger.claim(key, claimBy('r1', T0 + HOUR + 1))).toBe('held-by-another-run');
  });

  it('lets the same run claim again', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    expect(await store.ledger.claim(key, claimBy('r1', T0 + 1))).toBe('claimed');
  });

  it('answers already-sent once marked sent, whatever the age', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.markSent(key, { runId: 'r1', messageId: '<m1@x>', sentAt: '2026-03-05T06:00:00Z' });

    expect(await store.ledger.claim(key, claimBy('r2', T0 + 1000 * HOUR))).toBe('already-sent');
    expect(await store.ledger.claim(key, claimBy('r1', T0))).toBe('already-sent');
    expect(await store.ledger.entries('acme', '2026-03')).toEqual([
      {
        ...key,
        state: 'sent',
        runId: 'r1',
        messageId: '<m1@x>',
        sentAt: '2026-03-05T06:00:00Z',
        figuresJson: '{"runId":"r1"}',
      },
    ]);
  });

  it('keeps the first sent record when a second markSent arrives', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.markSent(key, { runId: 'r1', messageId: '<m1@x>', sentAt: 'first' });
    await store.ledger.markSent(key, { runId: 'r2', messageId: '<m2@x>', sentAt: 'second' });
    expect((await store.ledger.entries('acme', '2026-03'))[0]).toMatchObject({
      messageId: '<m1@x>',
      sentAt: 'first',
    });
  });

  it('refuses markSent for a key nobody claimed', async () => {
    const store = await open();
    await expect(
      store.ledger.markSent(key, { runId: 'r1', messageId: '<m@x>', sentAt: 'now' }),
    ).rejects.toBeInstanceOf(DuckDbStoreError);
  });

  it('releases only the releasing run’s pending claim', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.release(key, 'r2');
    expect(await store.ledger.claim(key, claimBy('r2', T0 + 1))).toBe('held-by-another-run');

    await store.ledger.release(key, 'r1');
    expect(await store.ledger.entries('acme', '2026-03')).toEqual([]);
    expect(await store.ledger.claim(key, claimBy('r2', T0 + 1))).toBe('claimed');
  });

  it('never releases a sent notice', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.markSent(key, { runId: 'r1', messageId: '<m@x>', sentAt: 'now' });
    await store.ledger.release(key, 'r1');
    expect(await store.ledger.claim(key, claimBy('r2', T0))).toBe('already-sent');
  });

  it('never takes over nor releases a claim marked as handed to the mailer, and answers already-sent', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.markAttempt(key, { runId: 'r1', messageId: '<m1@x>', nowMs: T0 + 1 });
    // Marking the same message again (a retried step) is fine.
    await store.ledger.markAttempt(key, { runId: 'r1', messageId: '<m1@x>', nowMs: T0 + 2 });

    await store.ledger.release(key, 'r1');
    expect(await store.ledger.claim(key, claimBy('r2', T0 + 1000 * HOUR))).toBe('already-sent');
    expect(await store.ledger.claim(key, claimBy('r1', T0 + 1000 * HOUR))).toBe('already-sent');
    expect(await store.ledger.claim(key, claimBy('r2', T0 + 1000 * HOUR, 0))).toBe('already-sent');
    expect(await store.ledger.entries('acme', '2026-03')).toEqual([
      { ...key, state: 'pending', runId: 'r1', messageId: '<m1@x>', figuresJson: '{"runId":"r1"}' },
    ]);
    // The mailer's answer, when it comes, is recorded as usual.
    await store.ledger.markSent(key, { runId: 'r1', messageId: '<m1@x>', sentAt: 'now' });
    expect((await store.ledger.entries('acme', '2026-03'))[0]).toMatchObject({ state: 'sent', runId: 'r1' });
  });

  it('clears the mark once the mailer said the message did not leave, so the claim can be given back', async () => {
    const store = await open();
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.markAttempt(key, { runId: 'r1', messageId: '<m1@x>', nowMs: T0 + 1 });
    await store.ledger.clearAttempt(key, 'r2');
    await store.ledger.release(key, 'r1');
    expect(await store.ledger.entries('acme', '2026-03')).toHaveLength(1);

    await store.ledger.clearAttempt(key, 'r1');
    expect((await store.ledger.entries('acme', '2026-03'))[0]?.messageId).toBeUndefined();
    await store.ledger.release(key, 'r1');
    expect(await store.ledger.entries('acme', '2026-03')).toEqual([]);
  });

  it('refuses to mark a claim that is not the run’s pending claim any more', async () => {
    const store = await open();
    await expect(
      store.ledger.markAttempt(key, { runId: 'r1', messageId: '<m1@x>', nowMs: T0 }),
    ).rejects.toBeInstanceOf(DuckDbStoreError);
    await store.ledger.claim(key, claimBy('r1', T0));
    await store.ledger.claim(key, claimBy('r2', T0 + HOUR));
    const error = await store.ledger
      .markAttempt(key, { runId: 'r1', messageId: '<m1@x>', nowMs: T0 + HOUR })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuckDbStoreError);
    expect((error as Error).message).toContain('not claimed by run r1');
    await store.ledger.markAttempt(key, { runId: 'r2', messageId: '<m2@x>', nowMs: T0 + HOUR });
    await expect(
      store.ledger.markAttempt(key, { runId: 'r2', messageId: '<other@x>', nowMs: T0 + HOUR }),
    ).rejects.toBeInstanceOf(DuckDbStoreError);
  });

  it('opens a state file written before the attempt mark existed, keeping its ledger', async () => {
    const before = await open();
    await before.ledger.claim(key, claimBy('r1', T0));
    await before.ledger.markSent(key, { runId: 'r1', messageId: '<m1@x>', sentAt: 'then' });
    await before.close();
    opened.splice(opened.indexOf(before), 1);
    // The file as the release before the mark left it: notice_ledger without attempted_at_ms.
    const instance = await DuckDBInstance.create(dbPath);
    const connection = await instance.connect();
    await connection.run('ALTER TABLE notice_ledger DROP COLUMN attempted_at_ms');
    connection.closeSync();
    instance.closeSync();

    const after = await open();
    expect((await after.ledger.entries('acme', '2026-03'))[0]).toMatchObject({
      state: 'sent',
      messageId: '<m1@x>',
    });
    const other = { ...key, level: '100' };
    await after.ledger.claim(other, claimBy('r2', T0));
    await after.ledger.markAttempt(other, { runId: 'r2', messageId: '<m2@x>', nowMs: T0 });
    expect(await after.ledger.claim(other, claimBy('r3', T0 + 1000 * HOUR))).toBe('already-sent');
  });

  it('gives a key to exactly one of many runs claiming at once', async () => {
    const store = await open();
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.ledger.claim(key, claimBy(`r${i}`, T0))),
    );
    expect(outcomes.filter((o) => o === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'held-by-another-run')).toHaveLength(11);
  });

  it('lists the entries of one partner and period, by level', async () => {
    const store = await open();
    for (const level of ['100', '80']) {
      await store.ledger.claim({ ...key, level }, claimBy('r1', T0));
    }
    await store.ledger.claim({ ...key, periodId: '2026-04' }, claimBy('r1', T0));
    await store.ledger.claim({ ...key, partnerId: 'other' }, claimBy('r1', T0));
    expect((await store.ledger.entries('acme', '2026-03')).map((e) => e.level)).toEqual(['100', '80']);
  });
});
