/**
 * The holdings rows the scanner sums beside the rollup (assembly/scanner.ts heldStatus, holdings-batch.ts):
 * whatever the lines, however the scanner's areas fill and empty, they sum to what each line parsed on
 * its own gives, and every line record names the holdings row its line went into and whether it was a
 * 200 (heldRef: ref * 2, + 1 for a 200), so that a repeat can be taken back out of that row.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAccessLogLine, type RowBatch, RowBatchBuilder } from '../../functions/adapters/logs/index.js';
import { LogAggregator, objectKey } from '../../functions/adapters/logs/log-aggregator.js';
import { AreaLines } from '../../functions/adapters/logs/log-reader.js';
import type { ScannerSizes } from '../../functions/adapters/logs/wasm-scanner.js';
import { SLOT_MS } from '../../functions/domain/usage.js';
import { logLine } from '../support/log-lines.js';

/** Reads, of them 200s, bytes sent, first and last ms. */
type Sums = [number, number, number, number, number];

function add(out: Map<string, Sums>, key: string, s: Sums): void {
  const was = out.get(key);
  out.set(
    key,
    was === undefined
      ? s
      : [was[0] + s[0], was[1] + s[1], was[2] + s[2], Math.min(was[3], s[3]), Math.max(was[4], s[4])],
  );
}

/** The batch an aggregator reads `lines` into, keeping holdings when `holdings` (default). */
function batchOf(
  lines: readonly string[],
  sizes?: ScannerSizes,
  maxTableRows?: number,
  holdings = true,
): { batch: RowBatch; strings: readonly string[] } {
  const builder = new RowBatchBuilder(4);
  const aggregator = new LogAggregator(
    {
      datasetDepth: 2,
      sampleLimit: 5,
      scannerSizes: sizes,
      maxTableRows,
      lineRecords: sizes ? 3 : undefined,
    },
    builder,
    holdings ? builder.held : undefined,
  );
  aggregator.begin(0);
  const area = new AreaLines(aggregator, 64 * 1024);
  area.push(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'));
  area.finish();
  aggregator.finish();
  return { batch: builder.take(), strings: aggregator.strings.values };
}

/** Holdings rows of `lines` summed by key (reads, 200s, bytes, first, last); the line records checked. */
function scanned(lines: readonly string[], sizes?: ScannerSizes, maxTableRows?: number) {
  const { batch, strings: s } = batchOf(lines, sizes, maxTableRows);
  const h = batch.holdings!;
  const rows = new Map<string, Sums>();
  const byRef = new Map<number, [number, number, number]>();
  for (let i = 0; i < h.count; i++) {
    // One batch: its dictionary entries are every entry, from index 0.
    const k = h.key[i]! - h.keyFrom;
    const o = h.object[i]! - h.objectFrom;
    const key = [
      h.slot[i],
      s[h.keys.requester[k]!],
      s[h.keys.accessPoint[k]!],
      s[h.objects.objectKey[o]!],
      s[h.objects.versionId[o]!],
      h.objects.objectSize[o],
    ].join('|');
    add(rows, key, [h.retrievals[i]!, h.full[i]!, h.bytesSent[i]!, h.firstMs[i]!, h.lastMs[i]!]);
    expect(byRef.has(h.ref[i]!)).toBe(false);
    byRef.set(h.ref[i]!, [h.retrievals[i]!, h.full[i]!, h.bytesSent[i]!]);
  }
  // Every line of these has a request id: the lines that name a holdings row sum to it exactly, and
  // those that name it as 200s are its 200s.
  const named = new Map<number, [number, number, number]>();
  const l = batch.lines;
  const heldRef = l.heldRef!;
  let unnamed = 0;
  for (let i = 0; i < l.count; i++) {
    const ref = heldRef[i]!;
    if (ref < 0) {
      unnamed++;
      continue;
    }
    const was = named.get(ref >> 1) ?? [0, 0, 0];
    named.set(ref >> 1, [was[0] + 1, was[1] + (ref & 1), was[2] + l.bytesSent[i]!]);
  }
  return { rows, byRef, named, unnamed };
}

/** The same, one parsed line at a time. */
function reference(lines: readonly string[]) {
  const out = new Map<string, Sums>();
  for (const line of lines) {
    const p = parseAccessLogLine(line);
    if (!p.ok) continue;
    if (p.operation !== 'REST.GET.OBJECT' && p.operation !== 'WEBSITE.GET.OBJECT') continue;
    if (p.httpStatus !== '200' && p.httpStatus !== '206') continue;
    const dash = (v: string) => (v === '' ? '-' : v);
    const key = [
      Math.floor(p.timeMs / SLOT_MS),
      dash(p.requester),
      dash(p.accessPointArn),
      p.key === '' || p.key === '-' ? '-' : objectKey(p.key),
      dash(p.versionId),
      p.objectSize ?? -1,
    ].join('|');
    add(out, key, [1, p.httpStatus === '200' ? 1 : 0, p.bytesSent, p.timeMs, p.timeMs]);
  }
  return out;
}

const lineArb = fc
  .record({
    requester: fc.constantFrom('-', 'arn:aws:iam::111122223333:user/a', 'arn:aws:iam::444455556666:user/b'),
    accessPoint: fc.constantFrom('-', 'arn:aws:s3:eu-central-1:111122223333:accesspoint/ap-1'),
    operation: fc.constantFrom(
      'REST.GET.OBJECT',
      'WEBSITE.GET.OBJECT',
      'REST.PUT.OBJECT',
      'REST.HEAD.OBJECT',
    ),
    status: fc.constantFrom('200', '206', '304', '404'),
    key: fc.constantFrom(
      'feeds/a.csv',
      'feeds/b%20c.csv',
      'feeds/%C3%BC.csv',
      'feeds/%E0%A4.bad',
      'archive/2026/x y.bin',
      '-',
    ),
    versionId: fc.constantFrom('-', '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY', 'UIORUnfndfhnw89493jJFJ'),
    objectSize: fc.constantFrom('-', '48213', '48214', '0', '9007199254740991'),
    minute: fc.nat({ max: 24 * 60 * 2 }),
    second: fc.nat({ max: 59 }),
    bytesSent: fc.oneof(fc.constant('-'), fc.nat({ max: 100_000 }).map(String)),
    fields: fc.constantFrom(17, 18, 25, 27),
  })
  .map((g) =>
    logLine(
      {
        requester: g.requester,
        accessPoint: g.accessPoint,
        operation: g.operation,
        status: g.status,
        key: g.key,
        versionId: g.versionId,
        objectSize: g.objectSize,
        bytesSent: g.bytesSent,
        time: `${14 + Math.floor(g.minute / 1440)}/Mar/2026:${String(Math.floor((g.minute % 1440) / 60)).padStart(2, '0')}:${String(g.minute % 60).padStart(2, '0')}:${String(g.second).padStart(2, '0')} +0000`,
      },
      { fields: g.fields },
    ),
  );

describe('holdings rows', () => {
  it('sum to what each line parsed on its own gives, with every area of the scanner filling and emptying', () => {
    // Tables of 2 to 5 entries, rows of 3 (a line takes three) or many: each area fills and empties,
    // the object table also while holdings rows that name its entries are still summing.
    const tiny = (entries: number): ScannerSizes => ({
      inputBytes: 1400,
      outLines: 3,
      entries,
      arenaBytes: 1400,
    });
    const sizes = fc.option(
      fc.record({ entries: fc.integer({ min: 2, max: 5 }), rows: fc.constantFrom(3, 64) }),
    );
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 80 }), sizes, (lines, small) => {
        const got = scanned(lines, small ? tiny(small.entries) : undefined, small?.rows);
        expect(got.rows).toEqual(reference(lines));
        // Each line's heldRef names its holdings row, and the lines that name a row are all of its reads.
        expect(new Map([...got.named].sort((a, b) => a[0] - b[0]))).toEqual(
          new Map([...got.byRef].sort((a, b) => a[0] - b[0])),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('holdings off: no holdings rows and no holdings column in the line records, the rollup rows alike', () => {
    const lines = [
      logLine({ key: 'ds/a.csv', bytesSent: '10' }),
      logLine({ key: 'ds/a.csv', bytesSent: '10', requestId: 'R2' }),
      logLine({ key: 'ds/b.csv', status: '206', bytesSent: '3', requestId: 'R3' }),
      logLine({ operation: 'REST.PUT.OBJECT', requestId: 'R4' }),
    ];
    const on = batchOf(lines);
    const off = batchOf(lines, undefined, undefined, false);
    expect(off.batch.holdings).toBeUndefined();
    expect(off.batch.lines.heldRef).toBeUndefined();
    expect(on.batch.holdings!.count).toBe(2);
    expect(on.batch.lines.heldRef).toBeDefined();
    // The same line records and rollup rows either way (rows are numbered apart: holdings rows take
    // row numbers of the scanner's table too).
    const { heldRef: _, ref: _r, netRef: _n, ...onLines } = on.batch.lines;
    const { ref: _r2, netRef: _n2, ...offLines } = off.batch.lines;
    expect(offLines).toEqual(onLines);
    expect(off.batch.count).toBe(on.batch.count);
    expect(off.batch.requests).toEqual(on.batch.requests);
    expect(off.batch.bytesSent).toEqual(on.batch.bytesSent);
    expect(off.batch.network.requests).toEqual(on.batch.network.requests);
  });

  it('keeps a line that reads no object out of every holdings row (heldRef -1)', () => {
    const got = scanned([logLine({ operation: 'REST.PUT.OBJECT' }), logLine({ status: '404' })]);
    expect(got.rows.size).toBe(0);
    expect(got.named.size).toBe(0);
    // Both lines left a line record (they count in the rollup), naming no holdings row.
    expect(got.unnamed).toBe(2);
  });
});
