/**
 * Crash and retry, locally: the audit CLI is killed with SIGKILL at a failpoint (see
 * functions/cli/failpoints.ts), then run again normally. Whatever the point, the second run must leave
 * the same figures as a run never interrupted, every due notice exactly once in the outbox, and no
 * notice recorded as sent that is not there.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { LocalReportStore } from '../../functions/adapters/local/local-report-store.js';
import { OutboxMailer } from '../../functions/adapters/outbox/outbox-mailer.js';
import {
  type NoticeOutcome,
  type SendNoticesRequest,
  sendNotices,
} from '../../functions/audit/send-notices.js';
import { FAILPOINT_ENV, FailpointSpecError, parseFailpointSpec } from '../../functions/cli/failpoints.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { Mailer, NoticeKey, NoticeLedger, OutgoingMessage } from '../../functions/ports.js';
import { networkFiguresOfFile } from '../support/network-figures.js';
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

const root = tempDir('crash');
const dataDir = join(root, 'data');
let registryPath = '';
let logsDir = '';
let baseline: { figures: unknown; due: string[]; csv: string; holdings: unknown; network: string[] };

function audit(out: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['audit', '--logs', logsDir, '--registry', registryPath, '--out', out, '--quiet'], { env });
}

async function noticesOf(out: string): Promise<{ key: string; status: string }[]> {
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
    notices: { partnerId: string; periodId: string; level: string; status: string }[];
  };
  return report.notices.map((n) => ({ key: `${n.partnerId}/${n.periodId}/${n.level}`, status: n.status }));
}

async function holdingsOf(out: string): Promise<unknown> {
  return (JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as { holdings: unknown }).holdings;
}

/** What must hold after any crashes once a normal run has completed in `out`. */
async function expectRecovered(out: string): Promise<void> {
  expect(await reportFigures(out)).toEqual(baseline.figures);
  expect(await readFile(join(out, 'usage.csv'), 'utf8')).toBe(baseline.csv);
  // The holdings table is written in the same transaction as the rollup: nothing lost, nothing doubled.
  expect(await holdingsOf(out)).toEqual(baseline.holdings);
  // The network table beside the rollup: nothing lost or doubled either.
  expect(await networkFiguresOfFile(join(out, 'state.duckdb'))).toEqual(baseline.network);
  const outbox = await outboxContents(join(out, 'outbox'));
  // Exactly once: one .eml per due notice, each for a different key, and no half-written leftovers.
  expect(outbox.headers).toEqual(baseline.due);
  expect(outbox.eml).toHaveLength(baseline.due.length);
  expect(outbox.other).toEqual([]);
  const ledger = await ledgerEntries(join(out, 'state.duckdb'), registryPath, ['2026-03']);
  // Nothing recorded as sent that is not in the outbox, and nothing left half-done.
  expect(keysIn(ledger, 'sent')).toEqual(baseline.due);
  expect(keysIn(ledger, 'pending')).toEqual([]);
}

beforeAll(async () => {
  const data = await smallDataset(dataDir, { holdings: true });
  registryPath = data.registryPath;
  logsDir = data.logsDir;
  const out = join(root, 'baseline');
  const run = await audit(out);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const notices = await noticesOf(out);
  baseline = {
    figures: await reportFigures(out),
    csv: await readFile(join(out, 'usage.csv'), 'utf8'),
    holdings: await holdingsOf(out),
    network: await networkFiguresOfFile(join(out, 'state.duckdb')),
    due: notices
      .filter((n) => n.status === 'sent')
      .map((n) => n.key)
      .sort(),
  };
  expect(JSON.stringify(baseline.holdings)).toMatch(/"objects":"[1-9]/);
  // The scenarios below need at least two notices to crash between them.
  expect(baseline.due.length).toBeGreaterThanOrEqual(2);
});

describe('parseFailpointSpec', () => {
  it.each([
    ['after-ingest', { name: 'after-ingest', count: 1 }],
    ['ingest-file:12', { name: 'ingest-file', count: 12 }],
    ['', undefined],
    [undefined, undefined],
  ])('reads %j', (value, expected) => {
    expect(parseFailpointSpec(value)).toEqual(expected);
  });

  it.each(['x:0', 'x:', ':3', 'a b', 'x:1:2'])('rejects %j', (value) => {
    expect(() => parseFailpointSpec(value)).toThrow(FailpointSpecError);
  });
});

describe('a local audit killed at a failpoint, then run again', () => {
  // Each point is where a power cut or an OOM kill could land between two durable effects.
  const points: [string, string][] = [
    ['ingest-file:25', 'after 25 of the ~50 log files are ingested'],
    ['after-ingest', 'after ingestion, before evaluation'],
    ['after-evaluate', 'after evaluation, before any notice'],
    ['notice-claimed:1', 'between the first claim and its send'],
    ['notice-sent:1', 'between the first send and its ledger mark'],
    ['notice-marked:1', 'after the first notice is sent and recorded'],
    ['after-notices', 'after every notice, before the report is written'],
  ];

  it.concurrent.each(points)('%s (%s): totals identical, each notice once', async (point) => {
    const out = join(root, `at-${point.replace(':', '-')}`);
    const crashed = await audit(out, { [FAILPOINT_ENV]: point });
    // If the point were never reached the run would end normally and prove nothing.
    expect(crashed.signal).toBe('SIGKILL');
    const written = (await outboxContents(join(out, 'outbox'))).headers;
    const again = await audit(out);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    await expectRecovered(out);
    // The second run sends what is left and nothing else; nothing is held or failed.
    const statuses = await noticesOf(out);
    expect(statuses.every((n) => n.status === 'sent')).toBe(true);
    if (point === 'notice-sent:1') {
      // The .eml was written but not recorded: the next run finds it in the outbox under its claim's
      // attempt mark, records it as sent without sending it again, and its report says sent.
      expect(written).toHaveLength(1);
      expect(statuses.map((n) => n.key)).toContain(written[0]);
    }
  });

  it('survives a random chain of crashes at random points before a normal run', async () => {
    const names = [
      'ingest-file',
      'after-ingest',
      'after-evaluate',
      'notice-claimed',
      'notice-sent',
      'notice-marked',
      'after-notices',
    ];
    const point = fc
      .tuple(fc.constantFrom(...names), fc.integer({ min: 1, max: 3 }))
      .map(([n, k]) => `${n}:${n === 'ingest-file' ? k * 12 : k}`);
    let chain = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(point, { minLength: 2, maxLength: 3 }), async (crashes) => {
        const out = join(root, `chain-${chain++}`);
        for (const p of crashes) {
          // A later point in a chain may lie beyond what is left to do (notices already sent): the
          // run then ends normally, which is a fine outcome too.
          const r = await audit(out, { [FAILPOINT_ENV]: p });
          expect(r.signal === 'SIGKILL' || r.code === 0).toBe(true);
        }
        expect((await audit(out)).code).toBe(0);
        await expectRecovered(out);
      }),
      { numRuns: 2, seed: 1105, endOnFailure: true },
    );
  });
});

describe('sendNotices when a run dies between a send and its ledger mark (at most once)', () => {
  const t0 = Date.parse('2026-03-03T06:00:00Z');
  const key = (m: { key: NoticeKey }) => `${m.key.partnerId}/${m.key.periodId}/${m.key.level}`;
  const status = (outcomes: readonly NoticeOutcome[]) => outcomes.map((o) => `${key(o)}:${o.status}`);

  /**
   * Run A sends its first notice to a real outbox over a real DuckDB ledger and dies before the
   * ledger records it (markSent never returns, as if the process were gone). `canTell`: the mailer
   * answers `delivered` as the outbox does; without it, it cannot tell, as SES cannot.
   */
  async function runDiesAfterFirstSend(name: string, canTell: boolean) {
    const dir = join(root, name);
    // The evaluations of the data set, from a dry run that records nothing.
    const { evaluations } = await runLocalAudit({
      logs: [logsDir],
      registryPath,
      outDir: join(dir, 'evaluate'),
      dryRun: true,
      clock: { now: () => new Date(t0) },
    });
    const registry = parseRegistry(await readFile(registryPath, 'utf8'), registryPath);
    const store = await DuckDbState.open(join(dir, 'ledger.duckdb'));
    const outbox = new OutboxMailer(join(dir, 'outbox'));
    const sends: string[] = [];
    const mailer: Mailer = {
      name: outbox.name,
      sendingRecords: outbox.sendingRecords,
      send: (m: OutgoingMessage) => {
        sends.push(key(m));
        return outbox.send(m);
      },
      ...(canTell ? { delivered: (m: { key: NoticeKey; messageId: string }) => outbox.delivered(m) } : {}),
    };
    const copies = new LocalReportStore(join(dir, 'copies'));
    const request = (runId: string): SendNoticesRequest => ({
      runId,
      evaluations,
      dryRun: false,
      reportRef: runId,
      messageIdDomain: 'partner-audit.test',
      datedAt: new Date(t0),
      copiesUnder: `${runId}/`,
      staleAfterMs: 30 * 60_000,
    });
    let sentOne: () => void = () => undefined;
    const firstSent = new Promise<void>((resolve) => {
      sentOne = resolve;
    });
    const dying: NoticeLedger = {
      claim: (k, c) => store.ledger.claim(k, c),
      markAttempt: (k, a) => store.ledger.markAttempt(k, a),
      clearAttempt: (k, r) => store.ledger.clearAttempt(k, r),
      markSent: () => new Promise<never>(() => undefined),
      release: (k, r) => store.ledger.release(k, r),
      entries: (p, q) => store.ledger.entries(p, q),
    };
    void sendNotices(
      {
        registry,
        ledger: dying,
        mailer,
        copies,
        clock: { now: () => new Date(t0) },
        onStep: (s) => s === 'sent' && sentOne(),
      },
      request('run-a'),
    );
    await firstSent;
    const run = (runId: string, atMs: number) =>
      sendNotices(
        { registry, ledger: store.ledger, mailer, copies, clock: { now: () => new Date(atMs) } },
        request(runId),
      );
    const ledger = async () =>
      (await Promise.all(evaluations.map((e) => store.ledger.entries(e.partnerId, e.period.id)))).flat();
    const due = evaluations.filter((e) => e.levels.length > 0).length;
    return { dir, store, sends, cut: sends[0] ?? '', run, ledger, due };
  }

  it('records the notice the outbox holds as sent, and never sends it again', async () => {
    const { dir, store, sends, cut, run, ledger, due } = await runDiesAfterFirstSend('window-outbox', true);
    try {
      // Run B, a minute later: the outbox holds run A's message, so it is recorded, not sent again.
      const b = await run('run-b', t0 + 60_000);
      expect(status(b)).toContain(`${cut}:sent`);
      expect(b.find((o) => key(o) === cut)?.error).toMatch(/by run run-a.*found delivered/);
      expect(b.filter((o) => o.status === 'sent')).toHaveLength(due);
      // Run C, later still: nothing is left to send.
      expect(await run('run-c', t0 + 31 * 60_000)).toEqual([]);
      expect(sends.filter((k) => k === cut)).toHaveLength(1);
      expect(new Set(sends).size).toBe(sends.length);
      const files = await outboxContents(join(dir, 'outbox'));
      expect(files.headers).toEqual([...sends].sort());
      expect(keysIn(await ledger(), 'sent')).toEqual([...sends].sort());
      expect(keysIn(await ledger(), 'pending')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('keeps the notice as handed over when the mailer cannot tell, and never sends it again', async () => {
    const { store, sends, cut, run, ledger, due } = await runDiesAfterFirstSend('window-unknown', false);
    try {
      const b = await run('run-b', t0 + 60_000);
      expect(status(b)).toContain(`${cut}:already-sent`);
      expect(b.find((o) => key(o) === cut)?.error).toMatch(/not sent again; check the outbox folder/);
      expect(b.filter((o) => o.status === 'sent')).toHaveLength(due - 1);
      // Run C, once the claim is stale: still not taken over, since its message may have left.
      const c = await run('run-c', t0 + 31 * 60_000);
      expect(status(c)).toEqual([`${cut}:already-sent`]);
      expect(sends.filter((k) => k === cut)).toHaveLength(1);
      expect(new Set(sends).size).toBe(sends.length);
      expect(keysIn(await ledger(), 'pending')).toEqual([cut]);
      expect((await ledger()).find((e) => key({ key: e }) === cut)?.messageId).toMatch(/run-a@/);
    } finally {
      await store.close();
    }
  });
});
