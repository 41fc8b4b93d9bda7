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
import { OutboxMailer } from '../../functions/adapters/outbox/outbox-mailer.js';
import { type SendNoticesRequest, sendNotices } from '../../functions/audit/send-notices.js';
import { FAILPOINT_ENV, FailpointSpecError, parseFailpointSpec } from '../../functions/cli/failpoints.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { Mailer, NoticeLedger, OutgoingMessage } from '../../functions/ports.js';
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
let baseline: { figures: unknown; due: string[]; csv: string };

function audit(out: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['audit', '--logs', logsDir, '--registry', registryPath, '--out', out, '--quiet'], { env });
}

async function noticesOf(out: string): Promise<{ key: string; status: string }[]> {
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
    notices: { partnerId: string; periodId: string; level: string; status: string }[];
  };
  return report.notices.map((n) => ({ key: `${n.partnerId}/${n.periodId}/${n.level}`, status: n.status }));
}

/** What must hold after any crashes once a normal run has completed in `out`. */
async function expectRecovered(out: string): Promise<void> {
  expect(await reportFigures(out)).toEqual(baseline.figures);
  expect(await readFile(join(out, 'usage.csv'), 'utf8')).toBe(baseline.csv);
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
  const data = await smallDataset(dataDir);
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
    due: notices
      .filter((n) => n.status === 'sent')
      .map((n) => n.key)
      .sort(),
  };
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
      // The .eml was written but not recorded: the take-over sends it again, replacing the file in
      // place, and the report says it was sent by this run.
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

describe('sendNotices when a run dies between a send and its ledger mark (the at-least-once window)', () => {
  it('holds the notice for a fresh claim, then sends it again once the claim is stale: twice to the mailer, once in the outbox', async () => {
    const dir = join(root, 'window');
    const t0 = Date.parse('2026-03-03T06:00:00Z');
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
      send: (m: OutgoingMessage) => {
        sends.push(`${m.key.partnerId}/${m.key.periodId}/${m.key.level}`);
        return outbox.send(m);
      },
    };
    const request = (runId: string): SendNoticesRequest => ({
      runId,
      evaluations,
      dryRun: false,
      reportRef: runId,
      messageIdDomain: 'partner-audit.test',
      staleAfterMs: 30 * 60_000,
    });
    try {
      // Run A: its first message leaves, then it dies before the ledger records it (markSent never
      // returns, as if the process were gone).
      let sentOne: () => void = () => undefined;
      const firstSent = new Promise<void>((resolve) => {
        sentOne = resolve;
      });
      const dying: NoticeLedger = {
        claim: (k, c) => store.ledger.claim(k, c),
        markSent: () => new Promise<never>(() => undefined),
        release: (k, r) => store.ledger.release(k, r),
        entries: (p, q) => store.ledger.entries(p, q),
      };
      void sendNotices(
        {
          registry,
          ledger: dying,
          mailer,
          clock: { now: () => new Date(t0) },
          onStep: (s) => s === 'sent' && sentOne(),
        },
        request('run-a'),
      );
      await firstSent;
      const cut = sends[0] ?? '';

      // Run B, a minute later: the claim is fresh, so the notice is held, not sent twice; the others go.
      const b = await sendNotices(
        { registry, ledger: store.ledger, mailer, clock: { now: () => new Date(t0 + 60_000) } },
        request('run-b'),
      );
      const status = (outcomes: typeof b) =>
        outcomes.map((o) => `${o.key.partnerId}/${o.key.periodId}/${o.key.level}:${o.status}`);
      expect(status(b)).toContain(`${cut}:held`);
      expect(b.filter((o) => o.status === 'sent')).toHaveLength(
        evaluations.filter((e) => e.levels.length > 0).length - 1,
      );

      // Run C, after the claim went stale: taken over and sent again. This is the one duplicate the
      // design allows; a mailer that is a folder keeps one file per notice, SES would deliver two.
      const c = await sendNotices(
        { registry, ledger: store.ledger, mailer, clock: { now: () => new Date(t0 + 31 * 60_000) } },
        request('run-c'),
      );
      expect(status(c)).toEqual([`${cut}:sent`]);
      expect(sends.filter((k) => k === cut)).toHaveLength(2);
      expect(new Set(sends).size).toBe(sends.length - 1);
      const files = await outboxContents(join(dir, 'outbox'));
      expect(files.headers).toEqual([...new Set(sends)].sort());
      const ledger = await Promise.all(
        evaluations.map((e) => store.ledger.entries(e.partnerId, e.period.id)),
      );
      expect(keysIn(ledger.flat(), 'sent')).toEqual([...new Set(sends)].sort());
      expect(keysIn(ledger.flat(), 'pending')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
