/**
 * The scanner's line records: each counted line with a request id leaves its identity (a 64-bit hash
 * of request id and host id), the partial row it went into, its slot and what it added, so that the
 * store can take a repeated delivery back out of exactly that row.
 */
import { describe, expect, it } from 'vitest';
import { LogAggregator, RowBatchBuilder } from '../../functions/adapters/logs/index.js';
import { AreaLines } from '../../functions/adapters/logs/log-reader.js';
import { logLine } from '../support/log-lines.js';

function scan(lines: readonly string[], options: { maxTableRows?: number; lineRecords?: number } = {}) {
  const builder = new RowBatchBuilder(4);
  const aggregator = new LogAggregator({ datasetDepth: 2, sampleLimit: 5, ...options }, builder);
  aggregator.begin(0);
  const area = new AreaLines(aggregator, 64 * 1024);
  area.push(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'));
  area.finish();
  aggregator.finish();
  const batch = builder.take();
  const ids = Array.from({ length: batch.lines.count }, (_, i) => {
    const l = batch.lines;
    const row = [...batch.ref].indexOf(l.ref[i]!);
    return {
      hash: `${l.hashHigh[i]}:${l.hashLow[i]}`,
      row,
      requester: aggregator.strings.values[batch.requester[row]!],
      slot: l.slot[i]!,
      rowSlot: batch.slot[row]!,
      bytes: l.bytesSent[i]!,
    };
  });
  return { batch, ids };
}

describe('line records of request identities', () => {
  it('gives one record per counted line with a request id, pointing at the row it was added to', () => {
    const lines = [
      logLine({ requestId: 'AAAA1111', requester: 'arn:aws:iam::1:user/a', bytesSent: '10' }),
      logLine({ requestId: 'BBBB2222', requester: 'arn:aws:iam::1:user/b', bytesSent: '20' }),
      logLine({ requestId: '-', requester: 'arn:aws:iam::1:user/c', bytesSent: '30' }),
      'not a log line',
    ];
    const { ids } = scan(lines);
    expect(ids.map((i) => [i.requester, i.bytes])).toEqual([
      ['arn:aws:iam::1:user/a', 10],
      ['arn:aws:iam::1:user/b', 20],
    ]);
    for (const i of ids) expect(i.slot).toBe(i.rowSlot);
  });

  it('gives the same identity to the same request id and host id, another to another host id', () => {
    const { ids } = scan([
      logLine({ requestId: 'SAME0001', hostId: 'h1=' }),
      logLine({ requestId: 'SAME0001', hostId: 'h1=', bytesSent: '5' }),
      logLine({ requestId: 'SAME0001', hostId: 'h2=' }),
      logLine({ requestId: 'SAME0001' }, { fields: 18 }),
      logLine({ requestId: 'SAME0002', hostId: 'h1=' }),
    ]);
    const [a, b, c, d, e] = ids.map((i) => i.hash);
    expect(a).toBe(b);
    expect(new Set([a, c, d, e]).size).toBe(4);
  });

  it('keeps every record when the scanner empties its rows and line records many times', () => {
    const lines = Array.from({ length: 3000 }, (_, i) =>
      logLine({ requestId: `R${i}`, requester: `arn:aws:iam::1:user/u${i % 700}`, bytesSent: String(i) }),
    );
    const { batch, ids } = scan(lines, { maxTableRows: 64, lineRecords: 100 });
    expect(ids).toHaveLength(3000);
    expect(new Set(ids.map((i) => i.hash)).size).toBe(3000);
    // Every record names a row of its own requester, among rows whose refs are unique per emptying.
    for (const [k, i] of ids.entries()) {
      expect(i.row).toBeGreaterThanOrEqual(0);
      expect(i.requester).toBe(`arn:aws:iam::1:user/u${k % 700}`);
    }
    expect(batch.lines.count).toBe(3000);
  });
});
