import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  combineOutcomes,
  fingerprintFile,
  type IngestFileResult,
  IngestPool,
  IngestWorkerError,
  type ItemOutcome,
  ingestLogFile,
  LogAggregator,
  type PoolTask,
  parseManifest,
  planTasks,
  RowBatchBuilder,
  RowMerger,
  readLogItem,
} from '../../functions/adapters/logs/index.js';
import { lineStartAtOrAfter } from '../../functions/adapters/logs/log-reader.js';
import { logLine } from '../support/log-lines.js';

let root: string;
const path = (name: string) => join(root, name);

/** Lines of every kind the reader must count exactly: good, malformed, blank, CRLF, over-long. */
function mixedLines(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const minute = String(i % 60).padStart(2, '0');
    const good = logLine({
      time: `14/Mar/2026:${String(9 + (i % 5)).padStart(2, '0')}:${minute}:00 +0000`,
      requester: `arn:aws:iam::111122223333:user/u${i % 7}`,
      key: `feeds/d${i % 4}/f${i}.csv`,
      bytesSent: String(i * 13),
      status: i % 11 === 0 ? '404' : '200',
    });
    if (i % 97 === 5) lines.push('x'.repeat(70_000));
    else if (i % 37 === 3) lines.push(`garbage line ${i} "with a quote`);
    else if (i % 53 === 7) lines.push('');
    else if (i % 5 === 1) lines.push(`${good}\r`);
    else lines.push(good);
  }
  return lines;
}

const reference = new Map<string, IngestFileResult>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ingest-pool-'));
  const text = mixedLines(3000).join('\n');
  await writeFile(path('mixed.log'), text); // the last line has no newline
  await writeFile(path('mixed.log.gz'), gzipSync(text));
  const gz = gzipSync(`${mixedLines(800).join('\n')}\n`);
  await writeFile(path('cut.log.gz'), gz.subarray(0, Math.floor(gz.length * 0.5)));
  await writeFile(path('small-1.log'), `${mixedLines(20).join('\n')}\n`);
  await writeFile(path('small-2.log'), `${logLine()}\n${logLine({ requester: '-' })}\n`);
  for (const name of ['mixed.log', 'mixed.log.gz', 'cut.log.gz', 'small-1.log', 'small-2.log']) {
    reference.set(name, await ingestLogFile(path(name), { datasetDepth: 2 }));
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const FILES = ['mixed.log', 'mixed.log.gz', 'cut.log.gz', 'small-1.log', 'small-2.log'];

/** Runs the files through a pool; per file: rows summed to one per key, and its combined outcome. */
async function viaPool(workers: number, tasks: PoolTask[]) {
  const pool = await IngestPool.start({ workers, datasetDepth: 2, sampleLimit: 5, maxLineBytes: 65536 });
  const mergers = new Map<number, RowMerger>();
  const pieces = new Map<number, { start: number; outcome: ItemOutcome }[]>();
  try {
    await pool.run(tasks, {
      rows: (batch) => {
        // Rows of several files may share a batch: split them by file id.
        for (const fileId of new Set(batch.item)) {
          const merger = mergers.get(fileId) ?? new RowMerger(pool.strings.values);
          mergers.set(fileId, merger);
          const only = batch.item.map((f) => (f === fileId ? 1 : 0));
          const pick = <T extends Int32Array | Float64Array>(a: T) => a.filter((_, i) => only[i] === 1) as T;
          merger.add(
            {
              count: only.reduce((n, x) => n + x, 0),
              item: pick(batch.item),
              slot: pick(batch.slot),
              status: pick(batch.status),
              bucket: pick(batch.bucket),
              requester: pick(batch.requester),
              accessPoint: pick(batch.accessPoint),
              dataset: pick(batch.dataset),
              operation: pick(batch.operation),
              requests: pick(batch.requests),
              bytesSent: pick(batch.bytesSent),
              records: pick(batch.records),
            },
            '',
          );
        }
      },
      itemDone: (item, outcome) => {
        const list = pieces.get(item.fileId) ?? [];
        list.push({ start: item.range?.[0] ?? 0, outcome });
        pieces.set(item.fileId, list);
      },
    });
  } finally {
    await pool.close();
  }
  return FILES.map((name, fileId) => ({
    name,
    rows: mergers.get(fileId)?.rows() ?? [],
    combined: combineOutcomes(pieces.get(fileId) ?? [], 5),
    items: pieces.get(fileId)?.length ?? 0,
  }));
}

function expectSameAsWhole(got: Awaited<ReturnType<typeof viaPool>>) {
  for (const file of got) {
    const want = reference.get(file.name)!;
    expect(file.rows, file.name).toEqual(want.rows.map((r) => ({ ...r, batch: '' })));
    expect(file.combined, file.name).toMatchObject({
      lines: want.stats.lines,
      parsedLines: want.stats.parsedLines,
      malformedLines: want.stats.malformedLines,
      malformedByReason: want.stats.malformedByReason,
      decodedBytes: want.stats.decodedBytes,
      compressed: want.compressed,
      samples: want.stats.samples.map(({ file: _file, ...s }) => s),
    });
    expect(file.combined.unreadable, file.name).toBe(want.unreadable);
  }
}

async function plan(splitAbove: number, maxRangeBytes: number) {
  const sizes = await Promise.all(FILES.map(async (f) => (await stat(path(f))).size));
  return planTasks(
    FILES.map((f, fileId) => ({ fileId, path: path(f), size: sizes[fileId]! })),
    { threads: 2, splitAbove, maxRangeBytes },
  );
}

describe('IngestPool', () => {
  it('reads files in ranges on worker threads to the same rows, counts and numbered samples as whole', async () => {
    const tasks = await plan(1000, 9000);
    const got = await viaPool(2, tasks);
    // The plain file was cut into many ranges; the gzip files could not be.
    expect(got.find((f) => f.name === 'mixed.log')?.items).toBeGreaterThan(20);
    expect(got.find((f) => f.name === 'mixed.log.gz')?.items).toBe(1);
    expectSameAsWhole(got);
  });

  it('reads the same way on the calling thread (no workers), small files grouped in one task', async () => {
    const tasks = await plan(1 << 30, 1 << 30);
    expect(tasks).toHaveLength(1);
    expectSameAsWhole(await viaPool(0, tasks));
  });

  it('keeps what a cut-off gzip held and says why it stopped', async () => {
    const got = await viaPool(2, await plan(1000, 9000));
    const cut = got.find((f) => f.name === 'cut.log.gz')!;
    expect(cut.combined.unreadable).toMatch(/^corrupt gzip: /);
    expect(cut.combined.malformedByReason['truncated-line']).toBe(1);
    expect(cut.combined.parsedLines).toBeGreaterThan(100);
  });

  it.each([2, 0])(
    'fingerprints files as fingerprintFile does, with %i workers, and no answer for a file it cannot open',
    async (workers) => {
      // More files than one message carries, so that each thread takes several.
      const many = Array.from({ length: 120 }, () => FILES).flat();
      const names = [...many, 'no-such.log', ...many];
      const pool = await IngestPool.start({ workers, datasetDepth: 2, sampleLimit: 5, maxLineBytes: 65536 });
      try {
        const got = await pool.fingerprints(names.map(path));
        const expected = await Promise.all(
          names.map((name) => (name === 'no-such.log' ? undefined : fingerprintFile(path(name)))),
        );
        expect(got).toEqual(expected);
      } finally {
        await pool.close();
      }
    },
  );

  it('fails the run, naming the cause, when a worker cannot go on (records past 2^53 per object)', async () => {
    const manifest = parseManifest(`feeds/,${2n ** 60n}\n`, 'huge.csv');
    const pool = await IngestPool.start({
      workers: 1,
      datasetDepth: 2,
      sampleLimit: 5,
      maxLineBytes: 65536,
      manifest,
    });
    try {
      await expect(
        pool.run([{ items: [{ fileId: 0, path: path('small-2.log') }] }], {
          rows: () => {},
          itemDone: () => {},
        }),
      ).rejects.toThrow(IngestWorkerError);
    } finally {
      await pool.close();
    }
  });
});

describe('reading a plain file in ranges', () => {
  it('sees every line exactly once, wherever the cut points fall', async () => {
    const lines = mixedLines(150).map((l) => (l.length > 1000 ? 'y'.repeat(900) : l));
    const file = path('cuts.log');
    await writeFile(file, `${lines.join('\n')}\n`);
    const whole = await ingestLogFile(file, { datasetDepth: 2, maxLineBytes: 800 });
    const size = Buffer.byteLength(`${lines.join('\n')}\n`);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: size - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), size];
          const builder = new RowBatchBuilder();
          const aggregator = new LogAggregator({ datasetDepth: 2, sampleLimit: 5 }, builder);
          const pieces: { start: number; outcome: ItemOutcome }[] = [];
          for (let i = 0; i + 1 < points.length; i++) {
            const range = [points[i]!, points[i + 1]!] as const;
            pieces.push({
              start: range[0],
              outcome: await readLogItem({ path: file, range }, 0, aggregator, { maxLineBytes: 800 }),
            });
          }
          const merger = new RowMerger(aggregator.strings.values);
          merger.add(builder.take(), whole.fingerprint);
          expect(merger.rows()).toEqual(whole.rows);
          const combined = combineOutcomes(pieces, 5);
          expect(combined.lines).toBe(whole.stats.lines);
          expect(combined.decodedBytes).toBe(size);
          expect(combined.samples).toEqual(whole.stats.samples.map(({ file: _f, ...s }) => s));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('starts a range at the line that holds its first byte only when a newline precedes it', async () => {
    const file = path('abc.log');
    await writeFile(file, 'aa\nbbb\n\ncc');
    const fd = openSync(file, 'r');
    try {
      const starts = [0, 1, 2, 3, 4, 6, 7, 8, 9, 11, 50].map((p) => lineStartAtOrAfter(fd, p, 11));
      expect(starts).toEqual([0, 3, 3, 3, 7, 7, 7, 8, 11, 11, 11]);
    } finally {
      closeSync(fd);
    }
  });
});

describe('planTasks', () => {
  const MiB = 1024 * 1024;
  /** Plain files of the given sizes (planning reads only their first bytes, to tell gzip). */
  const planSizes = (sizes: readonly number[]) =>
    planTasks(
      sizes.map((size, fileId) => ({ fileId, path: path('mixed.log'), size })),
      { threads: 2 },
    );
  const lengths = (tasks: PoolTask[]) => tasks.map((t) => t.items[0]!.range![1] - t.items[0]!.range![0]);

  it('cuts every large file into ranges that cover it exactly, two at least, none past 256 MiB', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 16 * MiB + 1, max: 3000 * MiB }), { minLength: 1, maxLength: 5 }),
        async (sizes) => {
          const tasks = await planSizes(sizes);
          sizes.forEach((size, fileId) => {
            const mine = tasks.filter((t) => t.items[0]!.fileId === fileId).map((t) => t.items[0]!.range!);
            expect(mine.length).toBeGreaterThanOrEqual(2);
            expect(mine[0]![0]).toBe(0);
            expect(mine.at(-1)![1]).toBe(size);
            for (let i = 1; i < mine.length; i++) expect(mine[i]![0]).toBe(mine[i - 1]![1]);
          });
          for (const n of lengths(tasks)) expect(n).toBeLessThanOrEqual(256 * MiB);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('makes the ranges smaller towards the end, so the threads finish together', async () => {
    // 10 M lines of ~630 bytes: large ranges first, then shrinking to the floor.
    const n = lengths(await planSizes([6_288_553_501]));
    expect(n.slice(0, 10).every((x) => x === 256 * MiB)).toBe(true);
    expect(n.slice(-4).every((x) => x <= 32 * MiB)).toBe(true);
    for (let i = 1; i < n.length - 1; i++) expect(n[i]).toBeLessThanOrEqual(n[i - 1]!);
    // Not cut small throughout: each range's rows are written on their own.
    expect(n.length).toBeLessThan(40);
  });
});
