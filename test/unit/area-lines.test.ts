import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAccessLogLine, RowBatchBuilder, RowMerger } from '../../functions/adapters/logs/index.js';
import { type ItemCounts, LogAggregator } from '../../functions/adapters/logs/log-aggregator.js';
import { AreaLines, readLogItem } from '../../functions/adapters/logs/log-reader.js';
import type { ScannerSizes } from '../../functions/adapters/logs/wasm-scanner.js';
import { cutBytes } from '../support/cut-bytes.js';
import { logLine } from '../support/log-lines.js';

/** An input area far smaller than a chunk and than the caps below: text goes in in pieces, areas grow. */
const TINY: ScannerSizes = { inputBytes: 700, outLines: 3, entries: 2, arenaBytes: 700 };

function newAggregator(scannerSizes?: ScannerSizes) {
  const builder = new RowBatchBuilder(4);
  const aggregator = new LogAggregator({ datasetDepth: 2, sampleLimit: 10, scannerSizes }, builder);
  /** The item's counts and its rows, merged. */
  const result = (counts: ItemCounts) => {
    const merger = new RowMerger(aggregator.strings.values);
    merger.add(builder.take(), 'b');
    return { counts, rows: merger.rows() };
  };
  return { aggregator, result };
}

/** Feeds `text` to AreaLines in pieces cut at `cuts`, then ends the item (or breaks it off). */
function readText(
  text: string,
  cuts: readonly number[],
  maxLine: number,
  options: { scannerSizes?: ScannerSizes; breakOff?: boolean } = {},
) {
  const { aggregator, result } = newAggregator(options.scannerSizes);
  aggregator.begin(0);
  const lines = new AreaLines(aggregator, maxLine);
  for (const piece of cutBytes(Buffer.from(text, 'utf8'), cuts)) lines.push(piece);
  if (options.breakOff === true) lines.cutOff();
  else lines.finish();
  return result(aggregator.finish());
}

const GOOD = [
  logLine(),
  logLine({ requester: 'arn:aws:sts::444455556666:assumed-role/reader/s1', key: 'feeds/b/y.csv' }),
  logLine({ status: '404', bytesSent: '-', time: '14/Mar/2026:10:01:02 -0500' }),
  logLine({}, { fields: 18 }),
];
const BAD = ['', 'garbage', 'a b c d', logLine().slice(0, 120)];
/** Longer than TINY's input area, within the 64 KiB cap. */
const LONG_GOOD = logLine({ userAgent: `"${'agent '.repeat(150)}"` });

describe('AreaLines', () => {
  it('counts the same lines, samples and rows however the text is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...GOOD, ...BAD, LONG_GOOD), { maxLength: 25 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        (picked, finalNewline, cuts, tiny) => {
          const text = picked.join('\n') + (finalNewline && picked.length > 0 ? '\n' : '');
          // A newline ends a line; text after the last newline is a line only when there is some.
          const lines = text.split('\n');
          if (lines[lines.length - 1] === '') lines.pop();
          const got = readText(text, cuts, 64 * 1024, { scannerSizes: tiny ? TINY : undefined });
          const samples = lines.flatMap((line, i) => {
            const p = parseAccessLogLine(line);
            return p.ok ? [] : [{ line: i + 1, reason: `${p.reason}: ${p.detail}`, text: line }];
          });
          expect(got.counts.lines).toBe(lines.length);
          expect(got.counts.malformedLines).toBe(samples.length);
          expect(got.counts.samples).toEqual(samples.slice(0, 10));
          const requests = got.rows.reduce((n, r) => n + r.requests, 0n);
          expect(requests).toBe(BigInt(lines.length - samples.length));
          expect(got.rows).toEqual(readText(text, [], 64 * 1024).rows);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports each over-long line once, from its first bytes, however it is cut, and reads on after it', () => {
    const text = `${GOOD[0]}\n${'x'.repeat(5000)}\n${GOOD[1]}\n${'y'.repeat(3000)}`;
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (cuts, tiny) => {
        const { counts } = readText(text, cuts, 2000, { scannerSizes: tiny ? TINY : undefined });
        expect(counts).toMatchObject({ lines: 4, parsedLines: 2, malformedLines: 2 });
        expect(counts.malformedByReason).toEqual({ 'line-too-long': 2 });
        expect(counts.samples.map((s) => s.line)).toEqual([2, 4]);
        expect(counts.samples[0]?.reason).toMatch(/^line-too-long: over 2000 bytes \(\d+ read\)$/);
        expect(counts.samples[0]?.text).toBe('x'.repeat(300));
        expect(counts.samples[1]?.text).toBe('y'.repeat(300));
      }),
      { numRuns: 300 },
    );
  });

  it.each([[[]], [[3]], [[GOOD[0]!.length]], [[GOOD[0]!.length + 1]], [[GOOD[0]!.length + 2, 40]]])(
    'accepts a line of exactly the cap and reports one byte more (cut at %j)',
    (cuts) => {
      const cap = GOOD[0]!.length;
      const { counts } = readText(`${GOOD[0]}\n${GOOD[0]}x\n`, cuts, cap);
      expect(counts).toMatchObject({ lines: 2, parsedLines: 1, malformedLines: 1 });
      expect(counts.samples).toMatchObject([
        { line: 2, reason: `line-too-long: over ${cap} bytes (${cap + 1} read)` },
      ]);
    },
  );

  it('reads a line longer than the input area whole when the cap allows it', () => {
    expect(LONG_GOOD.length).toBeGreaterThan(TINY.inputBytes);
    const { counts } = readText(`${GOOD[0]}\n${LONG_GOOD}\n${LONG_GOOD}`, [], 64 * 1024, {
      scannerSizes: TINY,
    });
    expect(counts).toMatchObject({ lines: 3, parsedLines: 3, malformedLines: 0 });
  });

  it('counts a line cut off by a break in the stream as a truncated record, not usage', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 6 }), (cuts) => {
        const { counts, rows } = readText(`${GOOD[0]}\n${GOOD[1]!.slice(0, 40)}`, cuts, 2000, {
          breakOff: true,
        });
        expect(counts).toMatchObject({ lines: 2, parsedLines: 1, malformedLines: 1 });
        expect(counts.samples).toEqual([
          {
            line: 2,
            reason: 'truncated-line: the file breaks off inside this line',
            text: GOOD[1]!.slice(0, 40),
          },
        ]);
        expect(rows.map((r) => r.requests)).toEqual([1n]);
      }),
      { numRuns: 100 },
    );
  });

  it('adds no truncated record when the break falls inside an over-long line already reported', () => {
    const { counts } = readText(`${GOOD[0]}\n${'x'.repeat(3000)}`, [2500], 2000, { breakOff: true });
    expect(counts.malformedByReason).toEqual({ 'line-too-long': 1 });
    expect(counts.lines).toBe(2);
  });
});

describe('readLogItem: gzip and plain text go through the same lines', () => {
  let dir: string;
  /** More than one gunzip chunk (512 KiB) of text: lines cross chunk boundaries, one line spans chunks. */
  const many = Array.from({ length: 4000 }, (_, i) =>
    logLine({ bytesSent: String(i), requestId: `REQ${i}` }),
  ).join('\n');
  const text = `${many}\n${'x'.repeat(1_500_000)}\n\n${LONG_GOOD}\n${many}\n${GOOD[2]}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'area-lines-'));
    await writeFile(join(dir, 'log'), text);
    await writeFile(join(dir, 'log.gz'), gzipSync(text));
    const gz = gzipSync(`${many}\n${LONG_GOOD}\n`);
    await writeFile(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 200));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function read(name: string, scannerSizes?: ScannerSizes) {
    const { aggregator, result } = newAggregator(scannerSizes);
    const outcome = await readLogItem({ path: join(dir, name) }, 0, aggregator, { maxLineBytes: 64 * 1024 });
    return { outcome, ...result(outcome.counts) };
  }

  it.each([
    ['default', undefined],
    ['tiny', TINY],
  ])('reads a gzip file as its plain original, line for line (%s input area)', async (_, sizes) => {
    const gz = await read('log.gz', sizes);
    const plain = await read('log', sizes);
    expect(gz.outcome.compressed).toBe(true);
    expect(gz.outcome.unreadable).toBeUndefined();
    expect(gz.outcome.decodedBytes).toBe(Buffer.byteLength(text));
    expect(gz.counts).toMatchObject({ lines: 8004, parsedLines: 8002, malformedLines: 2 });
    expect(gz.counts.malformedByReason).toEqual({ 'line-too-long': 1, 'empty-line': 1 });
    expect(gz.counts.samples.map((s) => s.line)).toEqual([4001, 4002]);
    expect(gz.counts.samples[0]?.text).toBe('x'.repeat(300));
    // How much of an over-long line was read when it was given up depends on the chunk size.
    const withoutRead = (c: ItemCounts) =>
      c.samples.map((s) => ({ ...s, reason: s.reason.replace(/ \(\d+ read\)$/, '') }));
    expect(withoutRead(gz.counts)).toEqual(withoutRead(plain.counts));
    expect({ ...gz.counts, samples: [] }).toEqual({ ...plain.counts, samples: [] });
    expect(gz.rows).toEqual(plain.rows);
  });

  it('keeps the whole lines before a gzip break and counts the cut one as truncated', async () => {
    const r = await read('cut.gz', TINY);
    expect(r.outcome.unreadable).toMatch(/^corrupt gzip: /);
    expect(r.counts.malformedByReason).toEqual({ 'truncated-line': 1 });
    expect(r.counts.samples[0]?.line).toBe(r.counts.lines);
    expect(r.counts.parsedLines).toBe(r.counts.lines - 1);
    expect(r.counts.parsedLines).toBeGreaterThan(3000);
  });
});
