/**
 * Bad log files: binary garbage, an empty file, a 2 GiB line without a newline and a truncated gzip.
 * Each must be reported clearly, none may stop the run, and the good files next to them must give
 * exactly the figures they give alone.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ingestLogFile } from '../../functions/adapters/logs/index.js';
import { renderLine } from '../../functions/cli/generate/generator.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import type { Clock } from '../../functions/ports.js';
import { smallDataset, tempDir } from './helpers.js';

const root = tempDir('bad-files');
const bad = join(root, 'bad');
const HUGE = 2 * 1024 ** 3;
const clock: Clock = { now: () => new Date('2026-03-03T06:00:00Z') };
let registryPath = '';
let goodDir = '';

/** Deterministic bytes that look like nothing (a xorshift stream). */
function noise(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

beforeAll(async () => {
  const data = await smallDataset(join(root, 'data'));
  registryPath = data.registryPath;
  goodDir = join(root, 'good');
  await cp(data.logsDir, goodDir, { recursive: true });
  await mkdir(bad, { recursive: true });
  await writeFile(join(bad, 'binary-garbage.log'), noise(200_000, 0x9e3779b9));
  await writeFile(join(bad, 'empty.log'), '');
  // A real log object, gzipped, cut off halfway: what an interrupted download leaves. Its requester is
  // nobody's, so whatever part of it is read cannot move any partner's figures.
  const lines = Array.from({ length: 2000 }, (_, i) =>
    renderLine({
      timeMs: Date.UTC(2026, 2, 1, 12) + i * 1000,
      requester: 'arn:aws:iam::000000000000:user/truncated-gzip',
      operation: 'REST.GET.OBJECT',
      key: `noise/${i}.bin`,
      httpStatus: '200',
      bytesSent: 1000 + i,
    }),
  ).join('\n');
  const gz = gzipSync(`${lines}\n`);
  await writeFile(join(bad, 'truncated.log.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
  // 2 GiB with no newline, written sparse: a real line's start and then a hole the kernel reads as NULs.
  const fd = openSync(join(bad, 'huge-line.log'), 'w');
  try {
    writeSync(fd, renderLine({ timeMs: Date.UTC(2026, 2, 1) }).slice(0, 120));
    writeSync(fd, 'x', HUGE - 1);
  } finally {
    closeSync(fd);
  }
});

describe('ingestLogFile on a bad file', () => {
  it('counts binary garbage as malformed lines with reasons, and reads on', async () => {
    const r = await ingestLogFile(join(bad, 'binary-garbage.log'), { datasetDepth: 2 });
    expect(r.unreadable).toBeUndefined();
    expect(r.stats.lines).toBeGreaterThan(100);
    expect(r.stats.parsedLines).toBe(0);
    expect(r.stats.malformedLines).toBe(r.stats.lines);
    expect(r.rows).toEqual([]);
    expect(r.stats.samples.length).toBeGreaterThan(0);
    for (const s of r.stats.samples) expect(s.reason).toMatch(/^[a-z-]+: ./);
  });

  it('reads an empty file as no lines and no usage, without complaint', async () => {
    const r = await ingestLogFile(join(bad, 'empty.log'), { datasetDepth: 2 });
    expect(r.unreadable).toBeUndefined();
    expect(r.stats).toMatchObject({ lines: 0, parsedLines: 0, malformedLines: 0 });
    expect(r.rows).toEqual([]);
  });

  it('marks a truncated gzip unreadable, says why, and keeps the whole lines before the break', async () => {
    const r = await ingestLogFile(join(bad, 'truncated.log.gz'), { datasetDepth: 2 });
    expect(r.unreadable).toMatch(/gzip|unexpected end/i);
    expect(r.stats.parsedLines).toBeGreaterThan(0);
    expect(r.stats.parsedLines).toBeLessThan(2000);
    expect(r.stats.parsedLines + r.stats.malformedLines).toBe(r.stats.lines);
    // Only whole lines count: each read row is one of the 2,000 written, bytes intact.
    const requests = r.rows.reduce((n, row) => n + row.requests, 0n);
    expect(requests).toBe(BigInt(r.stats.parsedLines));
  });
});

describe('runLocalAudit over good files mixed with bad ones', () => {
  it('reports each bad file, keeps memory bounded on a 2 GiB line, and leaves good figures unchanged', async () => {
    const alone = await runLocalAudit({
      logs: [goodDir],
      registryPath,
      outDir: join(root, 'out-good'),
      dryRun: false,
      clock,
    });

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    let mixed: Awaited<ReturnType<typeof runLocalAudit>>;
    try {
      mixed = await runLocalAudit({
        logs: [goodDir, bad],
        registryPath,
        outDir: join(root, 'out-mixed'),
        dryRun: false,
        clock,
      });
    } finally {
      clearInterval(sampler);
    }
    // Holding the line would take 2 GiB; streaming it takes a few read buffers.
    expect(peak - baseline).toBeLessThan(300 * 1024 ** 2);

    // The run went on: every file was looked at, and each bad one is in the report with its reason.
    expect(mixed.input.files).toBe(alone.input.files + 4);
    expect(mixed.input.unreadableFiles).toEqual([
      { file: join(bad, 'truncated.log.gz'), reason: expect.stringMatching(/gzip|unexpected end/i) },
    ]);
    expect(mixed.input.malformedByReason['line-too-long']).toBe(1);
    const samples = mixed.input.malformedSamples.map((s) => `${s.file}: ${s.reason}`);
    expect(samples).toContainEqual(expect.stringMatching(/huge-line\.log: line-too-long: over 65536 bytes/));
    expect(samples).toContainEqual(expect.stringMatching(/binary-garbage\.log: [a-z-]+: /));
    expect(mixed.input.parsedLines + mixed.input.malformedLines).toBe(mixed.input.lines);

    // The partners' figures and notices are those of the good files alone.
    const figures = (r: typeof alone) =>
      r.report.partners.map((p) => ({ ...p, periods: p.periods.map(({ notices: _n, ...rest }) => rest) }));
    expect(figures(mixed)).toEqual(figures(alone));
    expect(mixed.evaluations).toEqual(alone.evaluations);
    const keys = (r: typeof alone) => r.notices.map((n) => `${n.key.partnerId}/${n.key.level}/${n.status}`);
    expect(keys(mixed)).toEqual(keys(alone));
    expect(await readdir(mixed.outboxDir)).toEqual(await readdir(alone.outboxDir));
  });
});
