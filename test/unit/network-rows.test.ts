/**
 * The network rows the scanner sums beside the rollup (assembly/scanner.ts networkRow, network-rows.ts):
 * whatever the lines, however the scanner's areas fill and empty, and whatever its network-key cache
 * holds, they sum to what each line parsed on its own gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAccessLogLine, RowBatchBuilder } from '../../functions/adapters/logs/index.js';
import { LogAggregator } from '../../functions/adapters/logs/log-aggregator.js';
import { AreaLines } from '../../functions/adapters/logs/log-reader.js';
import type { ScannerSizes } from '../../functions/adapters/logs/wasm-scanner.js';
import { classifyAddress, vpcEndpointOfHost } from '../../functions/domain/networks.js';
import { logLine } from '../support/log-lines.js';

const SLOT_MS = 900_000;
const VPCE_HOST = 'b.vpce-0a1b2c3d4e5f60718-abcdefgh.s3.eu-central-1.vpce.amazonaws.com';

/** Network rows of `lines` summed by key: key text -> requests, bytes, first, last. */
function scanned(lines: readonly string[], sizes?: ScannerSizes, maxTableRows?: number) {
  const builder = new RowBatchBuilder(4);
  const aggregator = new LogAggregator(
    { datasetDepth: 2, sampleLimit: 5, scannerSizes: sizes, maxTableRows },
    builder,
  );
  aggregator.begin(0);
  const area = new AreaLines(aggregator, 64 * 1024);
  area.push(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'));
  area.finish();
  aggregator.finish();
  const n = builder.take().network;
  const s = aggregator.strings.values;
  const out = new Map<string, [number, number, number, number]>();
  for (let i = 0; i < n.count; i++) {
    const key = [
      n.slot[i],
      s[n.requester[i]!],
      s[n.accessPoint[i]!],
      s[n.address[i]!],
      s[n.prefix[i]!],
      s[n.addressKey[i]!],
      s[n.addressClass[i]!],
      s[n.vpce[i]!],
      s[n.region[i]!],
    ].join('|');
    const was = out.get(key);
    out.set(
      key,
      was === undefined
        ? [n.requests[i]!, n.bytesSent[i]!, n.firstMs[i]!, n.lastMs[i]!]
        : [
            was[0] + n.requests[i]!,
            was[1] + n.bytesSent[i]!,
            Math.min(was[2], n.firstMs[i]!),
            Math.max(was[3], n.lastMs[i]!),
          ],
    );
  }
  return out;
}

/** The same, one parsed line at a time. */
function reference(lines: readonly string[]) {
  const out = new Map<string, [number, number, number, number]>();
  for (const line of lines) {
    const p = parseAccessLogLine(line);
    if (!p.ok) continue;
    const dash = (v: string) => (v === '' ? '-' : v);
    const address = dash(p.remoteIp);
    const a = classifyAddress(address);
    const key = [
      Math.floor(p.timeMs / SLOT_MS),
      dash(p.requester),
      dash(p.accessPointArn),
      address,
      a.prefix,
      a.key,
      a.class,
      vpcEndpointOfHost(p.hostHeader),
      dash(p.sourceRegion),
    ].join('|');
    const was = out.get(key);
    out.set(
      key,
      was === undefined
        ? [1, p.bytesSent, p.timeMs, p.timeMs]
        : [was[0] + 1, was[1] + p.bytesSent, Math.min(was[2], p.timeMs), Math.max(was[3], p.timeMs)],
    );
  }
  return out;
}

const lineArb = fc
  .record({
    requester: fc.constantFrom('-', 'arn:aws:iam::111122223333:user/a', 'arn:aws:iam::444455556666:user/b'),
    ip: fc.constantFrom(
      '198.51.100.23',
      '198.51.100.24',
      '203.0.113.9',
      '2001:db8:85a3::8a2e:370:7334',
      '2001:db8::1',
      '-',
      '',
      'AmazonS3',
      '::ffff:192.0.2.1',
    ),
    host: fc.constantFrom('meteo-feeds-prod.s3.eu-central-1.amazonaws.com', VPCE_HOST, '-'),
    region: fc.constantFrom('eu-central-1', 'us-east-1', '-'),
    accessPoint: fc.constantFrom('-', 'arn:aws:s3:eu-central-1:111122223333:accesspoint/ap-1'),
    minute: fc.nat({ max: 24 * 60 * 3 }),
    bytesSent: fc.oneof(fc.constant('-'), fc.nat({ max: 10_000 }).map(String)),
    fields: fc.constantFrom(17, 18, 23, 25, 27),
  })
  .map((g) =>
    logLine(
      {
        requester: g.requester,
        ip: g.ip,
        host: g.host,
        sourceRegion: g.region,
        accessPoint: g.accessPoint,
        bytesSent: g.bytesSent,
        time: `${14 + Math.floor(g.minute / 1440)}/Mar/2026:${String(Math.floor((g.minute % 1440) / 60)).padStart(2, '0')}:${String(g.minute % 60).padStart(2, '0')}:07 +0000`,
      },
      { fields: g.fields },
    ),
  );

describe('network rows', () => {
  it('sum to what each line parsed on its own gives, with every area of the scanner filling and emptying', () => {
    const tiny: ScannerSizes = { inputBytes: 1400, outLines: 3, entries: 2, arenaBytes: 1400 };
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 80 }), fc.boolean(), (lines, small) => {
        expect(scanned(lines, small ? tiny : undefined, small ? 2 : undefined)).toEqual(reference(lines));
      }),
      { numRuns: 300 },
    );
  });

  it('sums the lines of one requester, access point and address in a slot into one row, whatever their bucket, operation, object, status or trailing fields', () => {
    // Sixty lines of one slot: one requester and access point (`-` written out, or the field left off)
    // from two addresses, in five rollup keys (bucket, operation, dataset) and three statuses.
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) {
      lines.push(
        logLine(
          {
            ip: i % 2 === 0 ? '198.51.100.23' : '203.0.113.9',
            bucket: i % 5 === 0 ? 'other-bucket' : 'meteo-feeds-prod',
            operation: i % 3 === 0 ? 'REST.HEAD.OBJECT' : 'REST.GET.OBJECT',
            key: `feeds/set-${i % 4}/2026/obs-${i}.csv`,
            status: ['200', '206', '404'][i % 3]!,
            time: `14/Mar/2026:09:${String(i % 15).padStart(2, '0')}:07 +0000`,
            sourceRegion: '-',
          },
          // 23 fields: no access point and no source region, which read as `-`.
          { fields: i % 4 === 0 ? 23 : 27 },
        ),
      );
    }
    const builder = new RowBatchBuilder(4);
    const aggregator = new LogAggregator({ datasetDepth: 2, sampleLimit: 5 }, builder);
    aggregator.begin(0);
    const area = new AreaLines(aggregator, 64 * 1024);
    area.push(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'));
    area.finish();
    aggregator.finish();
    const batch = builder.take();
    const s = aggregator.strings.values;
    const rows = Array.from({ length: batch.network.count }, (_, i) => [
      s[batch.network.address[i]!],
      s[batch.network.accessPoint[i]!],
      s[batch.network.region[i]!],
      batch.network.requests[i],
    ]);
    expect(rows).toEqual([
      ['198.51.100.23', '-', '-', 30],
      ['203.0.113.9', '-', '-', 30],
    ]);
    expect(scanned(lines)).toEqual(reference(lines));
  });

  it('keeps each class of address apart: IPv4 /24, IPv6 /48, no address, and text that is no address', () => {
    const rows = [
      ...scanned(['198.51.100.23', '2001:db8:85a3::1', '-', 'AmazonS3'].map((ip) => logLine({ ip }))).keys(),
    ];
    expect(rows.map((k) => k.split('|').slice(3, 7))).toEqual([
      ['198.51.100.23', '198.51.100.0/24', '4:c6336417', 'ipv4'],
      ['2001:db8:85a3::1', '2001:db8:85a3::/48', '6:20010db885a300000000000000000001', 'ipv6'],
      ['-', '-', '-', 'none'],
      ['AmazonS3', 'AmazonS3', '-', 'unparsed'],
    ]);
  });
});
