import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Manifest,
  parseAccessLogLine,
  parseManifest,
  RowBatchBuilder,
  RowMerger,
} from '../../functions/adapters/logs/index.js';
import { LogAggregator, objectKey } from '../../functions/adapters/logs/log-aggregator.js';
import { AreaLines } from '../../functions/adapters/logs/log-reader.js';
import type { ScannerSizes } from '../../functions/adapters/logs/wasm-scanner.js';
import { datasetOf, SLOT_MS, slotOf, statusClassOf } from '../../functions/domain/usage.js';
import { cutBytes } from '../support/cut-bytes.js';
import { logLine } from '../support/log-lines.js';

/**
 * Runs `lines` through an aggregator as the log reader does (AreaLines: the text put into the scanner's
 * input area, in pieces cut at `cuts`); returns merged rows and the item's counts.
 */
function aggregate(
  lines: readonly string[],
  options: {
    depth?: number;
    manifest?: Manifest;
    maxTableRows?: number;
    sampleLimit?: number;
    cuts?: readonly number[];
    scannerSizes?: ScannerSizes;
  } = {},
) {
  const builder = new RowBatchBuilder(4);
  const aggregator = new LogAggregator(
    {
      datasetDepth: options.depth ?? 2,
      manifest: options.manifest,
      sampleLimit: options.sampleLimit ?? 5,
      maxTableRows: options.maxTableRows,
      scannerSizes: options.scannerSizes,
    },
    builder,
  );
  aggregator.begin(0);
  const text = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
  const area = new AreaLines(aggregator, 64 * 1024);
  for (const piece of cutBytes(text, options.cuts ?? [])) area.push(piece);
  area.finish();
  const counts = aggregator.finish();
  const batch = builder.take();
  const merger = new RowMerger(aggregator.strings.values);
  merger.add(batch, 'b');
  return { rows: merger.rows(), counts, partialRows: batch.count };
}

const FULL_READS = new Set(['REST.GET.OBJECT', 'WEBSITE.GET.OBJECT']);

/** The rollup as the seam defines it, one parsed line at a time: what the aggregator must equal. */
function reference(lines: readonly string[], depth: number, manifest?: Manifest) {
  const rows = new Map<string, { requests: bigint; bytesSent: bigint; records: bigint }>();
  let malformed = 0;
  for (const line of lines) {
    const p = parseAccessLogLine(line);
    if (!p.ok) {
      malformed++;
      continue;
    }
    const key = p.key === '-' ? '-' : objectKey(p.key);
    const id = [
      slotOf(p.timeMs),
      p.bucket,
      p.requester,
      p.accessPointArn,
      datasetOf(key, depth),
      p.operation,
      statusClassOf(p.httpStatus),
    ].join('|');
    const row = rows.get(id) ?? { requests: 0n, bytesSent: 0n, records: 0n };
    row.requests += 1n;
    row.bytesSent += BigInt(p.bytesSent);
    if (manifest && p.httpStatus === '200' && FULL_READS.has(p.operation))
      row.records += manifest.recordsFor(key);
    rows.set(id, row);
  }
  return { rows, malformed };
}

function asMap(rows: ReturnType<typeof aggregate>['rows']) {
  return new Map(
    rows.map((r) => [
      [r.slotStart, r.bucket, r.requester, r.accessPoint, r.dataset, r.operation, r.statusClass].join('|'),
      { requests: r.requests, bytesSent: r.bytesSent, records: r.records },
    ]),
  );
}

const MANIFEST = parseManifest(
  'key_or_prefix,records\nfeeds/a/x.csv,7\nfeeds/,3\n"sales,eu/q1.csv",90\nstraße/ü.csv,4\n',
  'inline',
);

const requesters = [
  '-',
  '',
  'arn:aws:iam::111122223333:user/etl-reader',
  'arn:aws:iam::111122223333:user/etl-writer',
  'arn:aws:sts::444455556666:assumed-role/reader/session-0001',
  'arn:aws:sts::444455556666:assumed-role/reader/session-0002',
  '5e7c1d0a9b8f7e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b3a2918070f1e',
  'svc:logging.s3.amazonaws.com',
  'AmazonS3',
];
const keys = [
  '-',
  '',
  'feeds/a/x.csv',
  'feeds/b/y.csv',
  'feeds/x.csv',
  'root.csv',
  'sales%2Ceu/q1.csv',
  'a%2Fb/c.csv',
  '%66eeds/a/x.csv',
  'straße/ü.csv',
  'stra%C3%9Fe/%C3%BC.csv',
  'bad%ZZescape/k',
  'deep/er/still/k',
];
const lineArb = fc
  .record({
    requester: fc.constantFrom(...requesters),
    key: fc.constantFrom(...keys),
    operation: fc.constantFrom(
      'REST.GET.OBJECT',
      'REST.HEAD.OBJECT',
      'WEBSITE.GET.OBJECT',
      'REST.GET.BUCKET',
    ),
    status: fc.constantFrom('200', '206', '304', '404', '503', '-', '600'),
    bytesSent: fc.oneof(fc.constant('-'), fc.nat({ max: 10_000_000 }).map(String)),
    minute: fc.nat({ max: 24 * 60 * 3 }),
    offset: fc.constantFrom('+0000', '-0500', '+0530'),
    bucket: fc.constantFrom('meteo-feeds-prod', 'other-bucket', ''),
    accessPoint: fc.constantFrom('-', 'arn:aws:s3:eu-central-1:111122223333:accesspoint/ap-1'),
    fields: fc.integer({ min: 17, max: 27 }),
    extra: fc.array(fc.constantFrom('x', '"y z"'), { maxLength: 2 }),
    broken: fc.constantFrom(false, false, false, false, true),
  })
  .map((g) => {
    const day = 14 + Math.floor(g.minute / 1440);
    const hh = String(Math.floor((g.minute % 1440) / 60)).padStart(2, '0');
    const mm = String(g.minute % 60).padStart(2, '0');
    const line = logLine(
      {
        requester: g.requester,
        key: g.key,
        operation: g.operation,
        status: g.status,
        bytesSent: g.bytesSent,
        time: `${day}/Mar/2026:${hh}:${mm}:07 ${g.offset}`,
        bucket: g.bucket,
        accessPoint: g.accessPoint,
      },
      { fields: g.fields, extra: g.fields === 27 ? g.extra : [] },
    );
    return g.broken ? line.slice(0, Math.max(0, line.length - 200)) : line;
  });

describe('LogAggregator', () => {
  it('sums lines into exactly the rows that parsing each line on its own gives, however the text is cut', () => {
    fc.assert(
      fc.property(
        fc.array(lineArb, { maxLength: 60 }),
        fc.constantFrom(1, 2, 3),
        fc.boolean(),
        fc.constantFrom(undefined, 1, 3),
        fc.array(fc.nat(), { maxLength: 8 }),
        (lines, depth, withManifest, maxTableRows, cuts) => {
          const manifest = withManifest ? MANIFEST : undefined;
          const got = aggregate(lines, { depth, manifest, maxTableRows, cuts });
          const want = reference(lines, depth, manifest);
          expect(asMap(got.rows)).toEqual(want.rows);
          expect(got.counts.lines).toBe(lines.length);
          expect(got.counts.malformedLines).toBe(want.malformed);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('sums lines the same way when every area of the scanner fills and is emptied many times', () => {
    // Two key entries, two object entries, two rows, three output records and 700 bytes of input and of
    // key text (the arena must hold any line's key text): every limit is met again and again, and a line
    // longer than the input area (but within the cap) makes the area grow to hold it.
    const tiny: ScannerSizes = { inputBytes: 700, outLines: 3, entries: 2, arenaBytes: 700 };
    fc.assert(
      fc.property(
        fc.array(lineArb, { maxLength: 60 }),
        fc.constantFrom(1, 2),
        fc.boolean(),
        fc.boolean(),
        (lines, depth, withManifest, small) => {
          const manifest = withManifest ? MANIFEST : undefined;
          const got = aggregate(lines, {
            depth,
            manifest,
            scannerSizes: small ? tiny : undefined,
            maxTableRows: small ? 2 : undefined,
          });
          const want = reference(lines, depth, manifest);
          expect(asMap(got.rows)).toEqual(want.rows);
          expect(got.counts.lines).toBe(lines.length);
          expect(got.counts.malformedLines).toBe(want.malformed);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives one row per key even when two spellings of a key meet (empty field and -, %66 and f)', () => {
    const { rows } = aggregate([
      logLine({ requester: '-', key: 'feeds/a/x.csv' }),
      logLine({ requester: '', key: '%66eeds/a/x.csv' }),
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ requester: '-', dataset: 'feeds/a/', requests: 2n });
  });

  it('stays exact when a row passes 2^53 bytes, by sending partial rows', () => {
    const big = 2 ** 52;
    const lines = Array.from({ length: 5 }, () => logLine({ bytesSent: String(big) }));
    const { rows, partialRows } = aggregate(lines);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.bytesSent).toBe(5n * 2n ** 52n);
    expect(partialRows).toBeGreaterThan(1);
  });

  it('tells apart many requesters that differ only in the middle, where a sampled hash does not look', () => {
    const requester = (i: number) => `arn:aws:iam::111122223333:user/${String(i).padStart(6, '0')}-same-tail`;
    const lines = Array.from({ length: 3000 }, (_, i) => logLine({ requester: requester(i % 1000) }));
    const { rows } = aggregate(lines);
    expect(rows).toHaveLength(1000);
    for (const row of rows) expect(row.requests).toBe(3n);
  });

  it('numbers malformed samples from the start of the item and keeps the first ones', () => {
    const lines = ['garbage one', logLine(), '', 'garbage two', logLine(), 'garbage three'];
    const { counts } = aggregate(lines, { sampleLimit: 2 });
    expect(counts.malformedLines).toBe(4);
    expect(counts.samples.map((s) => s.line)).toEqual([1, 3]);
    expect(counts.samples[1]?.reason).toBe('empty-line: the line is blank');
  });

  it('puts each line in the slot of its UTC time', () => {
    const { rows } = aggregate([logLine({ time: '14/Mar/2026:04:29:59 -0500' })]);
    expect(rows[0]?.slotStart).toBe(Date.UTC(2026, 2, 14, 9, 15));
    expect((rows[0]?.slotStart ?? 1) % SLOT_MS).toBe(0);
  });
});
