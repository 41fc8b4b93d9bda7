import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeBundle } from '../../functions/adapters/local/evidence-bundle.js';
import { UsageError } from '../../functions/cli/args.js';
import { ReportFileError, runReportCommand } from '../../functions/cli/report-command.js';
import { runVerifyCommand, SIGNING_KEY_ENV } from '../../functions/cli/verify-command.js';
import { reportToJson } from '../../functions/domain/report.js';
import { makeReport } from '../support/report-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-'));
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe('partner-audit report', () => {
  it('renders report.html beside the report.json of a run folder', async () => {
    await writeFile(join(dir, 'report.json'), reportToJson(makeReport()));
    expect(await runReportCommand(['--run', dir])).toBe(0);
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('209.38 EUR');
    expect(html).toContain('Zeta Maps');
  });

  it('takes a report.json path, an --out file and a --partner', async () => {
    const file = join(dir, 'r.json');
    await writeFile(file, reportToJson(makeReport()));
    const out = join(dir, 'nested', 'acme.html');
    expect(await runReportCommand(['--run', file, '--out', out, '--partner', 'acme'])).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('Acme Analytics');
    expect(html).not.toContain('Zeta Maps');
    expect(await runReportCommand(['--run', file, '--partner', 'zeta'])).toBe(0);
    expect(await readFile(join(dir, 'r-zeta.html'), 'utf8')).toContain('Zeta Maps');
  });

  it('throws UsageError for missing or unknown arguments and an unknown partner', async () => {
    await writeFile(join(dir, 'report.json'), reportToJson(makeReport()));
    await expect(runReportCommand([])).rejects.toThrow(UsageError);
    await expect(runReportCommand(['--run', dir, '--colour'])).rejects.toThrow(UsageError);
    await expect(runReportCommand(['--run', join(dir, 'nope')])).rejects.toThrow(UsageError);
    await expect(runReportCommand(['--run', dir, '--partner', 'nobody'])).rejects.toThrow(
      /--partner nobody: not in this report \(partners: acme, zeta\)/,
    );
  });

  it('throws ReportFileError for a file that is not a report', async () => {
    await writeFile(join(dir, 'report.json'), '{"runId": 1');
    await expect(runReportCommand(['--run', dir])).rejects.toThrow(ReportFileError);
    await writeFile(join(dir, 'report.json'), '{"reportVersion": 1}');
    await expect(runReportCommand(['--run', dir])).rejects.toThrow(/is not a partner-audit report/);
  });
});

describe('partner-audit verify', () => {
  const files = [
    { name: 'report.json', body: reportToJson(makeReport()) },
    { name: 'usage.csv', body: 'a,b\r\n' },
  ];

  it('exits 0 and says how many files it verified and the chain head', async () => {
    const { head } = await writeBundle(dir, files);
    const { io, out, err } = captureIo();
    expect(await runVerifyCommand([dir], {}, io)).toBe(0);
    expect(out.join('')).toBe(`verified 2 files, chain head ${head}\n`);
    expect(err).toEqual([]);
    expect(await runVerifyCommand([dir, '--head', head], {}, io)).toBe(0);
    expect(out[1]).toContain('(matches the published head)');
  });

  it('exits 1 and lists the problems after a one-byte change', async () => {
    await writeBundle(dir, files);
    const csv = join(dir, 'usage.csv');
    await writeFile(csv, 'a,c\r\n');
    const { io, out, err } = captureIo();
    expect(await runVerifyCommand([dir], {}, io)).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('')).toMatch(/NOT verified, 1 problem:\n {2}- usage\.csv: content changed/);
  });

  it(`checks the signature with the key from ${SIGNING_KEY_ENV}`, async () => {
    await writeBundle(dir, files, { signingKey: 'k' });
    const a = captureIo();
    expect(await runVerifyCommand([dir], { [SIGNING_KEY_ENV]: 'k' }, a.io)).toBe(0);
    expect(a.out.join('')).toContain('HMAC signature valid');
    const b = captureIo();
    expect(await runVerifyCommand([dir], {}, b.io)).toBe(0);
    expect(b.out.join('')).toContain(`${SIGNING_KEY_ENV} is not set`);
    const c = captureIo();
    expect(await runVerifyCommand([dir], { [SIGNING_KEY_ENV]: 'wrong' }, c.io)).toBe(1);
    expect(c.err.join('')).toContain('the signature does not match');
  });

  it('throws UsageError without exactly one folder or with a malformed --head', async () => {
    const { io } = captureIo();
    await expect(runVerifyCommand([], {}, io)).rejects.toThrow(UsageError);
    await expect(runVerifyCommand([dir, dir], {}, io)).rejects.toThrow(UsageError);
    await expect(runVerifyCommand([dir, '--head', 'abc'], {}, io)).rejects.toThrow(UsageError);
    await expect(runVerifyCommand([dir, '--nope'], {}, io)).rejects.toThrow(UsageError);
  });
});
