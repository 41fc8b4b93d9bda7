/**
 * Two audits of the same window at once on the same state (a nightly run and an ad hoc one): the
 * state file admits one process at a time, so the second fails fast with a clear message, and
 * whatever the interleaving nothing is counted or sent twice.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CliResult,
  keysIn,
  ledgerEntries,
  outboxContents,
  reportFigures,
  runCli,
  smallDataset,
  tempDir,
} from './helpers.js';

const root = tempDir('concurrency');
let registryPath = '';
let logsDir = '';
let baseline: { figures: unknown; due: string[] };

function audit(out: string, db: string, extra: string[] = []): Promise<CliResult> {
  return runCli([
    'audit',
    '--logs',
    logsDir,
    '--registry',
    registryPath,
    '--out',
    out,
    '--db',
    db,
    '--quiet',
    ...extra,
  ]);
}

beforeAll(async () => {
  const data = await smallDataset(join(root, 'data'));
  registryPath = data.registryPath;
  logsDir = data.logsDir;
  const out = join(root, 'baseline');
  expect((await audit(out, join(out, 'state.duckdb'))).code).toBe(0);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
    notices: { partnerId: string; periodId: string; level: string; status: string }[];
  };
  baseline = {
    figures: await reportFigures(out),
    due: report.notices
      .filter((n) => n.status === 'sent')
      .map((n) => `${n.partnerId}/${n.periodId}/${n.level}`)
      .sort(),
  };
  expect(baseline.due.length).toBeGreaterThan(0);
});

describe('two audits on the same state at once', () => {
  // Staggered starts land the second process at different steps of the first: opening, ingesting,
  // notifying, or after it has finished.
  it.each([0, 700])('second one started %i ms later: one state, each notice once', async (delayMs) => {
    const out = join(root, `pair-${delayMs}`);
    const db = join(out, 'state.duckdb');
    const nightly = audit(out, db);
    await sleep(delayMs);
    const adHoc = audit(out, db, [
      '--from',
      '2026-03-01',
      '--to',
      '2026-04-01',
      '--reason',
      'ad hoc re-check',
    ]);
    const results = await Promise.all([nightly, adHoc]);

    expect(results.some((r) => r.code === 0)).toBe(true);
    for (const r of results) {
      expect(r.signal).toBeNull();
      if (r.code !== 0) {
        // Refused at the door, in one line that says why.
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^partner-audit: [^\n]*lock[^\n]*another process[^\n]*\n$/i);
      }
    }
    // A later normal run settles whatever the refused one would have done.
    expect((await audit(out, db)).code).toBe(0);

    expect(await reportFigures(out)).toEqual(baseline.figures);
    const outbox = await outboxContents(join(out, 'outbox'));
    expect(outbox.headers).toEqual(baseline.due);
    expect(outbox.other).toEqual([]);
    const ledger = await ledgerEntries(db, registryPath, ['2026-03']);
    expect(keysIn(ledger, 'sent')).toEqual(baseline.due);
    expect(keysIn(ledger, 'pending')).toEqual([]);
    // Each notice left once: the ledger names one sending run per key.
    expect(new Set(ledger.filter((e) => e.state === 'sent').map((e) => e.partnerId)).size).toBe(
      baseline.due.length,
    );
  });

  it('keeps each notice to one outbox when the two runs write to different output folders', async () => {
    const db = join(root, 'shared-state.duckdb');
    const nightlyOut = join(root, 'nightly-out');
    const adHocOut = join(root, 'ad-hoc-out');
    const nightly = audit(nightlyOut, db);
    await sleep(300);
    const adHoc = await audit(adHocOut, db, ['--reason', 'ad hoc']);
    const both = [await nightly, adHoc];
    // Under load either may reach the lock first; one runs, any other is refused with a clear line.
    expect(both.some((r) => r.code === 0)).toBe(true);
    for (const r of both) if (r.code !== 0) expect(r.stderr).toMatch(/lock/i);
    const a = await outboxContents(join(nightlyOut, 'outbox'));
    const b = await outboxContents(join(adHocOut, 'outbox'));
    // The ledger lives in the state file, so between the two folders each notice exists once.
    expect([...a.headers, ...b.headers].sort()).toEqual(baseline.due);
  });
});
