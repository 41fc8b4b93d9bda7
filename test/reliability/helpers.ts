/**
 * Shared helpers of the reliability tests: running the real CLI in a child process, a small generated
 * data set, and reading back what a run left behind (figures, outbox, ledger).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { type GenerateSummary, generateDataset } from '../../functions/cli/generate/generator.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { LedgerEntry } from '../../functions/ports.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(REPO_ROOT, 'functions/cli/main.ts');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A fresh temporary folder for one test file, removed after its tests (set KEEP_TEST_FILES=1 to keep it). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pa-rel-${prefix}-`));
  if (!process.env.KEEP_TEST_FILES) afterAll(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Run `partner-audit <args>` as a user would (`node --import tsx functions/cli/main.ts`), with extra
 * environment variables; resolves when the process ends, however it ends. A run that outlives
 * `timeoutMs` is killed so a hang shows as a failure, not as a stuck suite.
 */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((done, fail) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // A developer's DEBUG=1 would add stack traces, and an armed failpoint would kill every run.
    delete env.DEBUG;
    delete env.PARTNER_AUDIT_FAILPOINT;
    Object.assign(env, options.env);
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

/**
 * A small month of logs for crash and concurrency tests: four partners (under, near, over and far
 * over their limits), so that three notices are due, in about 50 log files of both key layouts.
 */
export function smallDataset(
  outDir: string,
  options: { readonly holdings?: boolean } = {},
): Promise<GenerateSummary> {
  return generateDataset({
    outDir,
    seed: 7,
    partners: 4,
    start: '2026-03-01',
    days: 2,
    requestsPerDay: 1000,
    layout: 'both',
    // Limits for the two days written, so the levels (and their notices) are reached by the data's end.
    limits: 'data',
    ...(options.holdings === true ? { holdings: true } : {}),
  });
}

/** The usage figures of a report.json: everything but what depends on the run (ids, times, notices). */
export async function reportFigures(outDir: string): Promise<unknown> {
  const report = JSON.parse(await readFile(join(outDir, 'report.json'), 'utf8')) as {
    summary: Record<string, unknown>;
    input: Record<string, unknown>;
    partners: { periods: Record<string, unknown>[] }[];
    unattributed: unknown;
    uncovered: unknown;
  };
  const { notices: _n, ...summary } = report.summary;
  return {
    summary,
    lines: report.input.lines,
    parsedLines: report.input.parsedLines,
    malformedLines: report.input.malformedLines,
    malformedByReason: report.input.malformedByReason,
    partners: report.partners.map((p) => ({
      ...p,
      periods: p.periods.map(({ notices: _pn, ...rest }) => rest),
    })),
    unattributed: report.unattributed,
    uncovered: report.uncovered,
  };
}

/** The notice keys (`partner/period/level`) of the .eml files in an outbox, and any other files there. */
export async function outboxContents(
  outboxDir: string,
): Promise<{ eml: string[]; headers: string[]; other: string[] }> {
  let names: string[];
  try {
    names = await readdir(outboxDir);
  } catch {
    return { eml: [], headers: [], other: [] };
  }
  const eml = names.filter((n) => n.endsWith('.eml')).sort();
  const other = names.filter((n) => !n.endsWith('.eml') && !n.endsWith('.html'));
  const headers: string[] = [];
  for (const n of eml) {
    const raw = await readFile(join(outboxDir, n), 'utf8');
    const m = /^X-Partner-Audit-Notice: (.+)$/m.exec(raw);
    headers.push(m?.[1]?.trim() ?? `(no notice header in ${n})`);
  }
  return { eml, headers: headers.sort(), other };
}

/** Every ledger entry of the registry's partners for the given periods. */
export async function ledgerEntries(
  dbPath: string,
  registryPath: string,
  periods: readonly string[],
): Promise<LedgerEntry[]> {
  const registry = parseRegistry(await readFile(registryPath, 'utf8'), registryPath);
  const store = await DuckDbState.open(dbPath);
  try {
    const all: LedgerEntry[] = [];
    for (const p of registry.partners) {
      for (const period of periods) all.push(...(await store.ledger.entries(p.id, period)));
    }
    return all;
  } finally {
    await store.close();
  }
}

/** Notice keys of ledger entries in a given state, as `partner/period/level`, sorted. */
export function keysIn(entries: readonly LedgerEntry[], state: LedgerEntry['state']): string[] {
  return entries
    .filter((e) => e.state === state)
    .map((e) => `${e.partnerId}/${e.periodId}/${e.level}`)
    .sort();
}

/** Every email address in a registry file (account owners, internal contacts, the provider's). */
export async function registryEmails(registryPath: string): Promise<string[]> {
  const text = await readFile(registryPath, 'utf8');
  return [...new Set(text.match(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g) ?? [])];
}
