import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import {
  AthenaUsageSource,
  athenaInputSummary,
} from '../../functions/adapters/athena/athena-usage-source.js';
import { clearBatchSql, insertBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { ingestLogFile } from '../../functions/adapters/logs/index.js';
import type { UsageRow } from '../../functions/domain/usage.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { localAthenaClient } from '../support/aws-local-clients.js';
import { logLine } from '../support/log-lines.js';

const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
const PREFIX = 'logs/111122223333/eu-central-1/meteo-feeds-prod';
const OWNER = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

/** Lines delivered on 2026/03/14: every shape the rollup must handle, and some it must skip. */
const DAY1 = [
  logLine(),
  logLine({ time: '14/Mar/2026:09:29:59 +0000', status: '206', bytesSent: '1048576' }),
  logLine({ time: '14/Mar/2026:04:20:00 -0500' }),
  logLine({ operation: 'REST.HEAD.OBJECT', uri: '"HEAD /feeds/weather/a.csv HTTP/1.1"', bytesSent: '-' }),
  logLine({ requester: 'arn:aws:iam::999988887777:user/stranger', status: '403', errorCode: 'AccessDenied' }),
  logLine(
    {
      requester: 'AmazonS3',
      operation: 'BATCH.DELETE.OBJECT',
      key: 'tmp/old.csv',
      uri: '-',
      status: '204',
      bytesSent: '-',
      referer: '-',
      userAgent: '-',
    },
    { fields: 24 },
  ),
  logLine({ requester: OWNER, time: '14/Mar/2016:09:01:00 +0000' }, { fields: 18 }).replace('2016', '2026'),
  logLine({ requester: OWNER }, { fields: 17 }),
  logLine({
    accessPoint: 'arn:aws:s3:eu-central-1:444455556666:accesspoint/partner-reader',
    aclRequired: 'Yes',
  }),
  logLine({ key: 'feeds/sat%20images/a+b.png', uri: '"GET /feeds/sat%20images/a+b.png HTTP/1.1"' }),
  logLine({ key: 'feeds/bad%zzkey/x.csv' }),
  logLine({ key: 'readme.txt' }),
  logLine({ operation: 'REST.GET.BUCKET', key: '-', uri: '"GET /?list-type=2 HTTP/1.1"' }),
  logLine({ key: "feeds/o'brien/x.csv" }),
  logLine({
    requester: 'AmazonS3',
    operation: 'S3.EXPIRE.OBJECT',
    uri: '-',
    status: '-',
    referer: '-',
    userAgent: '-',
  }),
  logLine({ time: '13/Mar/2026:23:58:00 +0000' }),
  logLine({}, { extra: ['future-field', '"quoted future"'] }),
  logLine({ userAgent: '"Mozilla/5.0 "compatible; Feedbot/2.1" x"' }),
  logLine({ time: '14/Mar/2026:09:44:10 +0530' }),
  // Skipped by both engines:
  logLine().slice(0, 200),
  logLine({ time: '99/Xyz/2026:09:12:44 +0000' }),
  'garbage that is not a log line',
  '',
  logLine({ bytesSent: '12k' }),
];
const DAY2 = [
  logLine({ time: '15/Mar/2026:00:05:00 +0000' }),
  logLine({ time: '14/Mar/2026:23:59:59 +0000' }),
];

let server: AthenaLocalServer;
let runner: AthenaQueryRunner;
let dir: string;

function sorted(rows: readonly UsageRow[]): UsageRow[] {
  const key = (r: UsageRow) =>
    [r.slotStart, r.bucket, r.requester, r.accessPoint, r.dataset, r.operation, r.statusClass].join('|');
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function rollUp(batch: string, runId: string): Promise<void> {
  await runner.run(clearBatchSql(tables, batch), runId);
  await runner.run(insertBatchRollupSql(tables, batch, { datasetDepth: 2 }), runId);
}

function total(rows: readonly UsageRow[]): { requests: bigint; bytes: bigint } {
  return rows.reduce((t, r) => ({ requests: t.requests + r.requests, bytes: t.bytes + r.bytesSent }), {
    requests: 0n,
    bytes: 0n,
  });
}

beforeAll(async () => {
  server = await AthenaLocalServer.start(tables);
  runner = new AthenaQueryRunner(localAthenaClient(server.endpoint), {
    workGroup: 'partner-audit',
    sleep: async () => {},
  });
  dir = await mkdtemp(join(tmpdir(), 'athena-rollup-'));
  // One object with CRLF line ends, as a hand-copied log might have.
  await server.addLogObject(
    `${PREFIX}/2026/03/14/2026-03-14-09-00-00-0A1B2C3D4E5F6071`,
    `${DAY1.join('\r\n')}\r\n`,
  );
  await server.addLogObject(
    `${PREFIX}/2026/03/15/2026-03-15-00-00-00-1A2B3C4D5E6F7081`,
    `${DAY2.join('\n')}\n`,
  );
  await writeFile(join(dir, 'day1.log'), `${DAY1.join('\r\n')}\r\n`);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the Athena rollup of one delivery date', () => {
  const window = { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 3, 1) };

  it('gives exactly the rows the local ingester gives for the same lines', async () => {
    await rollUp('2026/03/14', 'run-1');
    const athena = await new AthenaUsageSource(runner, tables, 'run-1').usage(window);
    const local = await ingestLogFile(join(dir, 'day1.log'), { datasetDepth: 2 });
    const localRows = local.rows.map(({ batch: _batch, ...row }) => row);
    expect(local.stats.malformedLines).toBe(5);
    expect(sorted(athena)).toEqual(sorted(localRows));
    expect(total(athena).requests).toBe(BigInt(DAY1.length - 5));
  });

  it('counts the lines read and the malformed ones as the local ingester does, without reading the logs again', async () => {
    const local = await ingestLogFile(join(dir, 'day1.log'), { datasetDepth: 2 });
    const input = await athenaInputSummary(runner, tables, 'run-1', { from: '2026/03/14', to: '2026/03/14' });
    expect(input).toMatchObject({
      files: 1,
      lines: local.stats.lines,
      parsedLines: local.stats.parsedLines,
      malformedLines: local.stats.malformedLines,
      malformedByReason: { 'no-match': 4, 'bad-time': 1 },
    });
  });

  it('normalises offsets, cuts 15-minute slots and keeps late records in their own hour', async () => {
    const rows = await new AthenaUsageSource(runner, tables, 'run-1').usage(window);
    const slots = new Set(rows.map((r) => new Date(r.slotStart).toISOString()));
    expect(slots).toEqual(
      new Set([
        '2026-03-13T23:45:00.000Z',
        '2026-03-14T09:00:00.000Z',
        '2026-03-14T09:15:00.000Z',
        '2026-03-14T04:00:00.000Z',
      ]),
    );
  });

  it('derives datasets, status classes and access points as the domain does', async () => {
    const rows = await new AthenaUsageSource(runner, tables, 'run-1').usage(window);
    const datasets = new Set(rows.map((r) => r.dataset));
    expect(datasets).toEqual(
      new Set([
        'feeds/weather/',
        'tmp/',
        'feeds/sat images/',
        'feeds/bad%zzkey/',
        '/',
        '-',
        "feeds/o'brien/",
      ]),
    );
    expect(new Set(rows.map((r) => r.statusClass))).toEqual(new Set(['2xx', '4xx', '-']));
    expect(rows.filter((r) => r.accessPoint !== '-').map((r) => r.accessPoint)).toEqual([
      'arn:aws:s3:eu-central-1:444455556666:accesspoint/partner-reader',
    ]);
  });

  it('is rerun-safe: rolling the same date up again, in a new run, changes no total', async () => {
    const before = total(await new AthenaUsageSource(runner, tables, 'run-2').usage(window));
    await rollUp('2026/03/14', 'run-2');
    expect(total(await new AthenaUsageSource(runner, tables, 'run-2b').usage(window))).toEqual(before);
  });

  it('adds another date without touching the first, and sums a slot over batches', async () => {
    const before = total(await new AthenaUsageSource(runner, tables, 'run-3').usage(window));
    await rollUp('2026/03/15', 'run-3');
    // A new run: within one run the same query is the same (idempotent) execution.
    const after = total(await new AthenaUsageSource(runner, tables, 'run-3b').usage(window));
    expect(after.requests).toBe(before.requests + 2n);
    const batches = await server.sql('SELECT DISTINCT batch FROM partner_audit.usage_rollup ORDER BY batch');
    expect(batches.map((b) => b['batch'])).toEqual(['2026/03/14', '2026/03/15']);
  });

  it('says where the data ends: the end of the newest usage slot, markers aside', async () => {
    const source = new AthenaUsageSource(runner, tables, 'run-end');
    expect(await source.dataEnd(window)).toBe(Date.UTC(2026, 2, 15, 0, 15));
    expect(
      await source.dataEnd({ startMs: Date.UTC(2026, 2, 14), endMs: Date.UTC(2026, 2, 14, 9, 15) }),
    ).toBe(Date.UTC(2026, 2, 14, 9, 15));
    expect(
      await source.dataEnd({ startMs: Date.UTC(2025, 0, 1), endMs: Date.UTC(2025, 1, 1) }),
    ).toBeUndefined();
  });

  it('reads a half-open range of slots', async () => {
    const source = new AthenaUsageSource(runner, tables, 'run-4');
    const rows = await source.usage({
      startMs: Date.UTC(2026, 2, 14, 9, 15),
      endMs: Date.UTC(2026, 2, 14, 9, 30),
    });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.slotStart === Date.UTC(2026, 2, 14, 9, 15))).toBe(true);
    expect(
      await source.usage({ startMs: Date.UTC(2026, 2, 14, 9, 16), endMs: Date.UTC(2026, 2, 14, 9, 30) }),
    ).toEqual([]);
    expect(source.engine).toBe('athena');
    expect(source.bytesScanned).toBeGreaterThan(0);
    expect(source.queryExecutionIds).toHaveLength(2);
  });

  it('reads only the partition it is asked for (bytes scanned by the INSERT)', async () => {
    const out = await runner.run(insertBatchRollupSql(tables, '2026/03/15', { datasetDepth: 2 }), 'run-5');
    expect(out.bytesScanned).toBe(Buffer.byteLength(`${DAY2.join('\n')}\n`));
    await runner.run(clearBatchSql(tables, '2026/03/15'), 'run-5b');
    await runner.run(insertBatchRollupSql(tables, '2026/03/15', { datasetDepth: 2 }), 'run-5b');
  });
});
