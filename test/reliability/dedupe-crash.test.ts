/**
 * Repeated deliveries and crashes together: a generated data set with some of its log objects
 * delivered again under other names and some records copied into a late object of their own, audited
 * by the CLI, killed with SIGKILL part-way through ingestion, then run again. The partners' figures
 * must equal those of the data set without the repeats, and the repeats must be reported as dropped.
 */
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAccessLogLine } from '../../functions/adapters/logs/index.js';
import { FAILPOINT_ENV } from '../../functions/cli/failpoints.js';
import { networkFiguresOfFile } from '../support/network-figures.js';
import { type CliResult, runCli, smallDataset, tempDir } from './helpers.js';

const root = tempDir('dedupe-crash');
let registryPath = '';
let logsDir = '';
let repeatedLogs = '';
let repeats = 0;
let baseline: unknown;
let baselineNetwork: string[] = [];

function audit(logs: string, out: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['audit', '--logs', logs, '--registry', registryPath, '--out', out, '--quiet'], { env });
}

/** What a repeat must not change: every partner's and the unattributed usage figures. */
async function usageFigures(out: string): Promise<unknown> {
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
    partners: { periods: Record<string, unknown>[] }[];
    unattributed: unknown;
    holdings: unknown;
  };
  return {
    partners: report.partners.map((p) => ({
      ...p,
      periods: p.periods.map(({ notices: _n, ...rest }) => rest),
    })),
    unattributed: report.unattributed,
    // What each partner holds: a repeated read counts once there too (HOLDINGS.md).
    holdings: report.holdings,
  };
}

async function repeatsDropped(out: string): Promise<number> {
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
    input: { repeatsDropped?: number };
  };
  return report.input.repeatsDropped ?? -1;
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Lines that are counted and carry a request id: the ones a repeat of is recognised. */
function identified(text: string): string[] {
  return text.split('\n').filter((l) => {
    const parsed = parseAccessLogLine(l);
    return parsed.ok && parsed.requestId !== '-';
  });
}

beforeAll(async () => {
  const data = await smallDataset(join(root, 'data'), { holdings: true });
  registryPath = data.registryPath;
  logsDir = data.logsDir;
  const out = join(root, 'baseline');
  const run = await audit(logsDir, out);
  expect(run.code).toBe(0);
  baseline = await usageFigures(out);
  // The baseline holds something: a holdings section that a repeat could change.
  expect(JSON.stringify((baseline as { holdings: unknown }).holdings)).toMatch(/"objects":"[1-9]/);
  baselineNetwork = await networkFiguresOfFile(join(out, 'state.duckdb'));
  expect(baselineNetwork.length).toBeGreaterThan(0);

  repeatedLogs = join(root, 'repeated');
  await cp(logsDir, join(repeatedLogs, 'original'), { recursive: true });
  const all = (await files(logsDir)).sort();
  // Every fifth object delivered again under another name; records of two others copied into one
  // late object of their own.
  const late: string[] = [];
  for (const [i, path] of all.entries()) {
    const raw = await readFile(path);
    const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    if (i % 5 === 0) {
      const again = join(repeatedLogs, 'again', `${relative(logsDir, path).replaceAll('/', '_')}-again`);
      await mkdir(join(repeatedLogs, 'again'), { recursive: true });
      await writeFile(again, text);
      repeats += identified(text).length;
    } else if (i % 5 === 1 && late.length < 400) {
      const picked = identified(text).filter((_, k) => k % 3 === 0);
      late.push(...picked);
    }
  }
  await writeFile(join(repeatedLogs, '2026-03-05-04-00-00-LATELATELATELATE'), `${late.join('\n')}\n`);
  repeats += late.length;
  expect(repeats).toBeGreaterThan(100);
}, 180_000);

describe('repeated deliveries with a crash mid-ingestion', () => {
  it('counts each request once: the figures of the data set without repeats, the repeats reported', async () => {
    const out = join(root, 'once');
    const run = await audit(repeatedLogs, out);
    expect(run.code).toBe(0);
    expect(await usageFigures(out)).toEqual(baseline);
    expect(await repeatsDropped(out)).toBe(repeats);
    expect(await networkFiguresOfFile(join(out, 'state.duckdb'))).toEqual(baselineNetwork);
  }, 120_000);

  it('is exact after a SIGKILL part-way through ingestion and a normal rerun', async () => {
    const out = join(root, 'crashed');
    const crashed = await audit(repeatedLogs, out, { [FAILPOINT_ENV]: 'ingest-file:30' });
    expect(crashed.signal).toBe('SIGKILL');
    const again = await audit(repeatedLogs, out);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(await usageFigures(out)).toEqual(baseline);
    expect(await repeatsDropped(out)).toBe(repeats);
    expect(await networkFiguresOfFile(join(out, 'state.duckdb'))).toEqual(baselineNetwork);
    // And a third run, with every object known, adds nothing.
    expect((await audit(repeatedLogs, out)).code).toBe(0);
    expect(await usageFigures(out)).toEqual(baseline);
    expect(await networkFiguresOfFile(join(out, 'state.duckdb'))).toEqual(baselineNetwork);
  }, 180_000);
});
