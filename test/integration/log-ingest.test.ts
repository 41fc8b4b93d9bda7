import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fingerprintFile,
  type IngestFileResult,
  ingestLogFile,
  type LogFileListing,
  LogPathError,
  listLogFiles,
  loadManifest,
  type Manifest,
  parseAccessLogLine,
} from '../../functions/adapters/logs/index.js';
import type { RollupRow } from '../../functions/domain/usage.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/logs');
const OWNER = '3f0a4c1b9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a';
const ETL = 'arn:aws:iam::111122223333:user/acme-etl';
const BETA = 'arn:aws:sts::444455556666:assumed-role/beta-reader/nightly-sync';
const SLOT_0915 = Date.UTC(2024, 2, 14, 9, 15);
const SLOT_0930 = Date.UTC(2024, 2, 14, 9, 30);

const SIMPLE = 'simple/acme-logs/2024-03-14-09-30-00-5A1B2C3D4E5F6071';
const SIMPLE_GZ = 'simple/acme-logs/2024-03-14-09-45-00-0F0E0D0C0B0A0908.gz';
const EMPTY = 'simple/acme-logs/2024-03-14-09-50-00-0000000000000000';
const PARTITIONED =
  'partitioned/123456789012/eu-west-1/provider-data/2024/03/14/2024-03-14-10-00-00-7A6B5C4D3E2F1A0B';
const TRUNCATED =
  'partitioned/123456789012/eu-west-1/provider-data/2024/03/14/2024-03-14-10-15-00-7A6B5C4D3E2F1A0C.gz';
const NOISE = 'misc/noise.log';

/** A valid line for generated content: minute `i % 60`, bytes `i`. */
function generatedLine(i: number): string {
  const mm = String(i % 60).padStart(2, '0');
  return (
    `${OWNER} provider-data [14/Mar/2024:11:${mm}:00 +0000] 203.0.113.17 ${ETL} REQ${i} REST.GET.OBJECT ` +
    `weather/daily/f${i}.csv "GET /weather/daily/f${i}.csv HTTP/1.1" 200 - ${i} ${i} 5 4 "-" "sdk/${i}" -`
  );
}

function totals(rows: readonly RollupRow[]) {
  return rows.reduce(
    (t, r) => ({
      requests: t.requests + r.requests,
      bytesSent: t.bytesSent + r.bytesSent,
      records: t.records + r.records,
    }),
    { requests: 0n, bytesSent: 0n, records: 0n },
  );
}

function expectAccounted(result: IngestFileResult) {
  const { stats } = result;
  expect(stats.lines).toBe(stats.parsedLines + stats.malformedLines);
  expect(Object.values(stats.malformedByReason).reduce((a, b) => a + b, 0)).toBe(stats.malformedLines);
  // Every parsed line is one request in exactly one row.
  expect(totals(result.rows).requests).toBe(BigInt(stats.parsedLines));
  for (const row of result.rows) expect(row.batch).toBe(result.fingerprint);
}

let root: string;
let manifest: Manifest;
let listing: LogFileListing;
const results = new Map<string, IngestFileResult>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'log-ingest-'));
  const put = async (rel: string, body: string | Buffer) => {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), body);
  };
  const simple = await readFile(join(FIXTURES, 'simple-sample.log'));
  await put(SIMPLE, simple);
  await put(SIMPLE_GZ, gzipSync(simple));
  await put(EMPTY, '');
  await put(PARTITIONED, await readFile(join(FIXTURES, 'partitioned-sample.log')));
  const many = Array.from({ length: 3000 }, (_, i) => generatedLine(i)).join('\n');
  const gz = gzipSync(many);
  await put(TRUNCATED, gz.subarray(0, Math.floor(gz.length * 0.6)));
  const garbage = Buffer.from(
    Array.from({ length: 400 }, (_, i) => (i * 37 + 11) % 256).filter((b) => b !== 10),
  );
  await put(
    NOISE,
    Buffer.concat([Buffer.from(`${generatedLine(1)}\n\n`), garbage, Buffer.from(`\n${generatedLine(2)}\n`)]),
  );
  await put('simple/acme-logs/.DS_Store', 'Bud1');
  manifest = await loadManifest(join(FIXTURES, 'manifest.csv'));
  listing = await listLogFiles([
    join(root, 'simple'),
    join(root, 'partitioned'),
    join(root, NOISE),
    join(root, SIMPLE),
  ]);
  for (const file of listing.files) {
    results.set(
      file.path.slice(root.length + 1),
      await ingestLogFile(file.path, { datasetDepth: 2, manifest }),
    );
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function resultOf(rel: string): IngestFileResult {
  const r = results.get(rel);
  if (!r) throw new Error(`not ingested: ${rel}`);
  return r;
}

describe('listLogFiles', () => {
  it('finds every log file once, in path order, skipping dot files', () => {
    expect(listing.files.map((f) => f.path.slice(root.length + 1))).toEqual(
      [NOISE, PARTITIONED, TRUNCATED, SIMPLE, SIMPLE_GZ, EMPTY].sort(),
    );
    expect(listing.unreadable).toEqual([]);
  });

  it('tells each file’s key layout', () => {
    const layout = Object.fromEntries(listing.files.map((f) => [f.path.slice(root.length + 1), f.layout]));
    expect(layout).toEqual({
      [SIMPLE]: 'simple',
      [SIMPLE_GZ]: 'simple',
      [EMPTY]: 'simple',
      [PARTITIONED]: 'partitioned',
      [TRUNCATED]: 'partitioned',
      [NOISE]: 'unknown',
    });
    const partitioned = listing.files.find((f) => f.path.endsWith(PARTITIONED));
    expect(partitioned?.partition?.sourceBucket).toBe('provider-data');
    expect(partitioned?.basename).toBe('2024-03-14-10-00-00-7A6B5C4D3E2F1A0B');
  });

  it('reports sizes on disk', async () => {
    const simple = listing.files.find((f) => f.path.endsWith(SIMPLE));
    expect(simple?.size).toBe((await readFile(join(FIXTURES, 'simple-sample.log'))).length);
    expect(listing.files.find((f) => f.path.endsWith(EMPTY))?.size).toBe(0);
  });

  it('refuses a path that does not exist', async () => {
    await expect(listLogFiles([join(root, 'nope')])).rejects.toBeInstanceOf(LogPathError);
  });
});

describe('ingestLogFile', () => {
  it('accounts for every line of every file', () => {
    for (const result of results.values()) expectAccounted(result);
    const all = [...results.values()].map((r) => r.stats);
    expect(all.reduce((n, s) => n + s.lines, 0)).toBe(
      all.reduce((n, s) => n + s.parsedLines + s.malformedLines, 0),
    );
  });

  it('rolls a SimplePrefix file up by slot, requester, access point, dataset, operation and status class', () => {
    const r = resultOf(SIMPLE);
    expect(r.stats).toMatchObject({ lines: 8, parsedLines: 8, malformedLines: 0, malformedByReason: {} });
    expect(r.compressed).toBe(false);
    expect(r.unreadable).toBeUndefined();
    const row = (p: Partial<RollupRow>) => ({
      bucket: 'provider-data',
      accessPoint: '-',
      batch: r.fingerprint,
      ...p,
    });
    expect(r.rows).toEqual([
      row({
        slotStart: SLOT_0915,
        requester: '-',
        dataset: 'weather/hourly/',
        operation: 'REST.GET.OBJECT',
        statusClass: '4xx',
        requests: 1n,
        bytesSent: 243n,
        records: 0n,
      }),
      row({
        slotStart: SLOT_0915,
        requester: ETL,
        dataset: '-',
        operation: 'REST.GET.BUCKET',
        statusClass: '2xx',
        requests: 1n,
        bytesSent: 3000n,
        records: 0n,
      }),
      // Two full reads (1440 by exact key, 1000 by prefix) and one 206 range read (no records).
      row({
        slotStart: SLOT_0915,
        requester: ETL,
        dataset: 'weather/daily/',
        operation: 'REST.GET.OBJECT',
        statusClass: '2xx',
        requests: 3n,
        bytesSent: 103455n,
        records: 2440n,
      }),
      // The key was logged URL-encoded (sales%2Ceu/q1.csv); the manifest lists it plain.
      row({
        slotStart: SLOT_0915,
        requester: BETA,
        dataset: 'sales,eu/',
        operation: 'REST.GET.OBJECT',
        statusClass: '2xx',
        requests: 1n,
        bytesSent: 700n,
        records: 90n,
      }),
      // The 18-field line, requested by a canonical user id.
      row({
        slotStart: SLOT_0930,
        requester: OWNER,
        dataset: 'weather/daily/',
        operation: 'REST.GET.OBJECT',
        statusClass: '2xx',
        requests: 1n,
        bytesSent: 52431n,
        records: 1440n,
      }),
      // Logged at 04:31 -0500, which is 09:31 UTC.
      row({
        slotStart: SLOT_0930,
        requester: ETL,
        dataset: 'weather/daily/',
        operation: 'REST.HEAD.OBJECT',
        statusClass: '2xx',
        requests: 1n,
        bytesSent: 0n,
        records: 0n,
      }),
    ]);
  });

  it('reads a PartitionedPrefix file: access points, lifecycle lines, quoted quotes, extra fields', () => {
    const r = resultOf(PARTITIONED);
    expect(r.stats).toMatchObject({ lines: 6, parsedLines: 6, malformedLines: 0 });
    expect(totals(r.rows)).toEqual({ requests: 6n, bytesSent: 53141n, records: 1531n });
    expect(r.rows.find((x) => x.accessPoint !== '-')).toMatchObject({
      accessPoint: 'arn:aws:s3:eu-west-1:444455556666:accesspoint/acme-ap',
      requester: ETL,
      records: 1440n,
    });
    expect(r.rows.find((x) => x.requester === 'AmazonS3')).toMatchObject({
      operation: 'S3.EXPIRE.OBJECT',
      statusClass: '-',
      dataset: 'tmp/',
      bytesSent: 0n,
    });
    expect(r.rows.find((x) => x.requester === BETA)).toMatchObject({ dataset: 'sales,eu/', records: 90n });
    expect(r.rows.find((x) => x.statusClass === '3xx')?.slotStart).toBe(Date.UTC(2024, 2, 14, 10, 15));
  });

  it('reads a gzip file to the same rows as its plain original', () => {
    const gz = resultOf(SIMPLE_GZ);
    const plain = resultOf(SIMPLE);
    expect(gz.compressed).toBe(true);
    expect(gz.unreadable).toBeUndefined();
    expect(gz.stats.bytes).toBeLessThan(gz.stats.decodedBytes);
    expect(gz.stats.decodedBytes).toBe(plain.stats.bytes);
    expect(gz.fingerprint).not.toBe(plain.fingerprint);
    const strip = (rows: RollupRow[]) => rows.map(({ batch: _batch, ...rest }) => rest);
    expect(strip(gz.rows)).toEqual(strip(plain.rows));
  });

  it('keeps what a truncated gzip held before the break, and marks the file unreadable', () => {
    const r = resultOf(TRUNCATED);
    expect(r.unreadable).toMatch(/^corrupt gzip: /);
    expect(r.stats.parsedLines).toBeGreaterThan(500);
    expect(r.stats.parsedLines).toBeLessThan(3000);
    // The break cuts a record in two: its first half is evidence, not usage.
    expect(r.stats.malformedByReason).toEqual({ 'truncated-line': 1 });
    expect(r.stats.samples[0]?.reason).toMatch(/^truncated-line: /);
    expect(r.stats.samples[0]?.line).toBe(r.stats.lines);
    // Lines are read in order, so the parsed ones are exactly lines 0 .. n-1 of the original.
    const n = r.stats.parsedLines;
    expect(totals(r.rows).bytesSent).toBe(BigInt((n * (n - 1)) / 2));
  });

  it('reads an empty file as no lines', () => {
    const r = resultOf(EMPTY);
    expect(r.stats).toMatchObject({ bytes: 0, lines: 0, parsedLines: 0, malformedLines: 0 });
    expect(r.rows).toEqual([]);
    expect(r.unreadable).toBeUndefined();
  });

  it('counts a blank line and binary garbage as malformed, with samples', () => {
    const r = resultOf(NOISE);
    expect(r.stats).toMatchObject({ lines: 4, parsedLines: 2, malformedLines: 2 });
    expect(r.stats.malformedByReason['empty-line']).toBe(1);
    expect(r.stats.samples.map((s) => s.line)).toEqual([2, 3]);
    expect(r.stats.samples[0]?.reason).toBe('empty-line: the line is blank');
    expect(r.stats.samples[1]?.reason).toMatch(/^(too-few-fields|bad-time): /);
    expect(r.stats.samples[1]?.file).toBe(join(root, NOISE));
    expect(r.stats.samples[1]?.text.length).toBeLessThanOrEqual(300);
    expect(r.unreadable).toBeUndefined();
  });
});

describe('ingestLogFile: long lines, chunk boundaries and text encoding', () => {
  it('counts an over-long line as one malformed line and reads on after it', async () => {
    const path = join(root, 'long.log');
    await writeFile(path, `${generatedLine(1)}\n`);
    // 5 MB without a newline, written in pieces so it spans many read chunks.
    for (let i = 0; i < 5; i++) await appendFile(path, 'x'.repeat(1024 * 1024));
    await appendFile(path, `\n${generatedLine(2)}\n${'y'.repeat(3000)}`);
    const r = await ingestLogFile(path, { datasetDepth: 2, maxLineBytes: 2048 });
    expectAccounted(r);
    expect(r.stats).toMatchObject({ lines: 4, parsedLines: 2, malformedLines: 2 });
    expect(r.stats.malformedByReason).toEqual({ 'line-too-long': 2 });
    expect(r.stats.samples.map((s) => s.line)).toEqual([2, 4]);
    expect(r.stats.samples[0]?.text).toBe('x'.repeat(300));
  });

  it('reads lines that cross read-chunk boundaries exactly as line-by-line parsing does', async () => {
    const lines = Array.from({ length: 12000 }, (_, i) => generatedLine(i));
    const path = join(root, 'many.log');
    await writeFile(path, `${lines.join('\n')}\n`);
    const r = await ingestLogFile(path, { datasetDepth: 2 });
    expectAccounted(r);
    expect(r.stats.lines).toBe(12000);
    expect(r.stats.decodedBytes).toBeGreaterThan(2 * 1024 * 1024);
    let bytes = 0n;
    for (const line of lines) {
      const p = parseAccessLogLine(line);
      if (p.ok) bytes += BigInt(p.bytesSent);
    }
    expect(totals(r.rows).bytesSent).toBe(bytes);
    expect(r.rows.length).toBe(4);
  });

  it('decodes UTF-8: raw and URL-encoded keys give the same dataset, samples keep their characters', async () => {
    const base = `${OWNER} b [14/Mar/2024:09:00:00 +0000] 1.2.3.4 ${ETL} R REST.GET.OBJECT`;
    const path = join(root, 'utf8.log');
    await writeFile(
      path,
      [
        `${base} straße/ü.csv "GET /straße/ü.csv HTTP/1.1" 200 - 5 5 1 1 "-" "agent über"`,
        `${base} stra%C3%9Fe/%C3%BC.csv "GET /stra%C3%9Fe/%C3%BC.csv HTTP/1.1" 200 - 7 7 1 1 "-" "-"`,
        'größe kaputt',
        '',
      ].join('\n'),
    );
    const m: Manifest = {
      source: 'inline',
      exactKeys: 1,
      prefixes: 0,
      hash: '',
      recordsFor: (key) => (key === 'straße/ü.csv' ? 4n : 0n),
    };
    const r = await ingestLogFile(path, { datasetDepth: 1, manifest: m });
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]).toMatchObject({ dataset: 'straße/', requests: 2n, bytesSent: 12n, records: 8n });
    expect(r.stats.samples[0]?.text).toBe('größe kaputt');
  });

  it('keeps only the first sampleLimit samples', async () => {
    const path = join(root, 'bad.log');
    await writeFile(path, 'bad line\n'.repeat(20));
    const r = await ingestLogFile(path, { datasetDepth: 2, sampleLimit: 3 });
    expect(r.stats.malformedLines).toBe(20);
    expect(r.stats.samples.map((s) => s.line)).toEqual([1, 2, 3]);
  });

  it('reports a missing file or a directory as unreadable instead of throwing', async () => {
    const missing = await ingestLogFile(join(root, 'missing.log'), { datasetDepth: 2 });
    expect(missing.unreadable).toMatch(/^cannot open: /);
    expect(missing.stats.lines).toBe(0);
    const dir = await ingestLogFile(join(root, 'simple'), { datasetDepth: 2 });
    expect(dir.unreadable).toBe('not a regular file');
  });

  it('reports a file named .gz that is not gzip as unreadable', async () => {
    const path = join(root, 'fake.gz');
    await writeFile(path, `${generatedLine(1)}\n`);
    const r = await ingestLogFile(path, { datasetDepth: 2 });
    expect(r.unreadable).toMatch(/^corrupt gzip: /);
    expectAccounted(r);
  });

  it('rejects a dataset depth below 1', async () => {
    await expect(ingestLogFile(join(root, SIMPLE), { datasetDepth: 0 })).rejects.toThrow(RangeError);
  });
});

describe('fingerprintFile', () => {
  it('is stable for the same name and content, and changes with content, size or name', async () => {
    const dirA = join(root, 'fp-a');
    const dirB = join(root, 'fp-b');
    await mkdir(dirA);
    await mkdir(dirB);
    const body = Buffer.alloc(300 * 1024, 'a');
    await writeFile(join(dirA, 'f.log'), body);
    await writeFile(join(dirB, 'f.log'), body);
    await writeFile(join(dirB, 'g.log'), body);
    const tail = Buffer.from(body);
    tail[tail.length - 1] = 98;
    await writeFile(join(dirB, 'tail.log'), tail);
    await writeFile(join(dirA, 'tail.log'), body);
    const a = await fingerprintFile(join(dirA, 'f.log'));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await fingerprintFile(join(dirB, 'f.log'))).toBe(a);
    expect(await fingerprintFile(join(dirB, 'g.log'))).not.toBe(a);
    expect(await fingerprintFile(join(dirB, 'tail.log'))).not.toBe(
      await fingerprintFile(join(dirA, 'tail.log')),
    );
    await appendFile(join(dirA, 'f.log'), 'z');
    expect(await fingerprintFile(join(dirA, 'f.log'))).not.toBe(a);
  });

  it('is the batch of every row of the file', async () => {
    const r = resultOf(SIMPLE);
    expect(r.fingerprint).toBe(await fingerprintFile(join(root, SIMPLE)));
  });
});
