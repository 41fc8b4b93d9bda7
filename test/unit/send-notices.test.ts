/**
 * The at-most-once notice protocol of sendNotices, over in-memory fakes of its ports: claim, keep a
 * copy, mark the claim as handed over, send, mark sent. Whatever fails, and wherever a run stops, no
 * notice reaches the mailer twice; what could not be settled is left for a person, and said so.
 */
import { describe, expect, it } from 'vitest';
import type { NoticeStep } from '../../functions/audit/send-notices.js';
import { type SendNoticesRequest, sendNotices } from '../../functions/audit/send-notices.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { monthlyPeriod } from '../../functions/domain/time.js';
import { MemoryLedger, MemoryMailer, MemoryReportStore } from '../support/memory-ports.js';
import { makeEvaluation, makeRegistry } from '../support/notice-fixtures.js';

const registry = makeRegistry();
const NOW = Date.parse('2026-11-21T05:00:00Z');
const MINUTE = 60_000;
/** November's single due notice (escalation, covering warning and overage) and December's. */
const november = makeEvaluation();
const december: PartnerPeriodEvaluation = {
  ...makeEvaluation(),
  period: monthlyPeriod('2026-12-01', 'Europe/Berlin'),
};
const NOV = 'acme/2026-11/escalation';
const DEC = 'acme/2026-12/escalation';

/** A mailer failure as the Mailer port describes it (MailerFailure). */
function failure(message: string, fields: { mayHaveSent?: boolean; retryable?: boolean }): Error {
  return Object.assign(new Error(message), fields);
}

function world(options: { canTell?: boolean } = {}) {
  const ledger = new MemoryLedger();
  const mailer = new MemoryMailer(options);
  const copies = new MemoryReportStore();
  const run = (
    runId: string,
    over: Partial<SendNoticesRequest> & { atMs?: number; onStep?: (step: NoticeStep) => void } = {},
  ) =>
    sendNotices(
      {
        registry,
        ledger,
        mailer,
        copies,
        clock: { now: () => new Date(over.atMs ?? NOW) },
        ...(over.onStep ? { onStep: over.onStep } : {}),
      },
      {
        runId,
        evaluations: [november],
        dryRun: false,
        reportRef: `run ${runId}`,
        messageIdDomain: 'partner-audit.example',
        datedAt: new Date(over.atMs ?? NOW),
        copiesUnder: `runs/${runId}/notices/`,
        staleAfterMs: 30 * MINUTE,
        ...over,
      },
    );
  return { ledger, mailer, copies, run };
}

const statuses = (
  outcomes: readonly { key: { partnerId: string; periodId: string; level: string }; status: string }[],
) => outcomes.map((o) => `${o.key.partnerId}/${o.key.periodId}/${o.key.level}:${o.status}`);

describe('sendNotices', () => {
  it('claims, keeps a copy, marks the claim handed over, sends and marks it sent, in that order', async () => {
    const { ledger, mailer, copies, run } = world();
    const seenAtSend: string[] = [];
    const send = mailer.send.bind(mailer);
    mailer.send = async (m) => {
      // When the mailer gets the message, its copy is kept and its claim is marked.
      seenAtSend.push(...copies.files.keys(), ...ledger.calls);
      return send(m);
    };
    const [outcome, ...rest] = await run('r1');
    expect(rest).toEqual([]);
    expect(outcome).toMatchObject({
      status: 'sent',
      messageId: 'acme.2026-11.escalation.r1@partner-audit.example',
      delivery: 'mem-acme.2026-11.escalation.r1@partner-audit.example',
      copy: 'runs/r1/notices/acme-2026-11-escalation.eml',
      covers: ['warning', 'overage'],
    });
    expect(outcome!.error).toBeUndefined();
    expect(seenAtSend).toEqual([
      'runs/r1/notices/acme-2026-11-escalation.eml',
      'runs/r1/notices/acme-2026-11-escalation.html',
      `claim ${NOV}`,
      `markAttempt ${NOV}`,
    ]);
    expect(ledger.calls).toEqual([`claim ${NOV}`, `markAttempt ${NOV}`, `markSent ${NOV}`]);
    expect(copies.files.get('runs/r1/notices/acme-2026-11-escalation.eml')).toBe(mailer.inbox[0]!.raw);
    expect(ledger.states()).toEqual([`${NOV}:sent`]);
  });

  it('sends nothing on a rerun: the ledger holds the sent notice', async () => {
    const { mailer, run } = world();
    await run('r1');
    expect(await run('r2', { atMs: NOW + 24 * 60 * MINUTE })).toEqual([]);
    expect(mailer.attempts).toEqual([NOV]);
  });

  it('in a dry run composes and keeps copies, and claims, sends and records nothing', async () => {
    const { ledger, mailer, copies, run } = world();
    const out = await run('r1', { dryRun: true, evaluations: [november, december] });
    expect(statuses(out)).toEqual([`${NOV}:previewed`, `${DEC}:previewed`]);
    expect(out[0]!.message?.messageId).toBe('acme.2026-11.escalation.r1@partner-audit.example');
    expect(ledger.calls).toEqual([]);
    expect(ledger.rows.size).toBe(0);
    expect(mailer.attempts).toEqual([]);
    expect([...copies.files.keys()].sort()).toEqual([
      'runs/r1/notices/acme-2026-11-escalation.eml',
      'runs/r1/notices/acme-2026-11-escalation.html',
      'runs/r1/notices/acme-2026-12-escalation.eml',
      'runs/r1/notices/acme-2026-12-escalation.html',
    ]);
  });

  it('composes the same bytes when the same run is retried hours later: the Date is fixed by the run, not read from the clock', async () => {
    const { run } = world();
    const datedAt = new Date(NOW);
    const first = await run('r1', { dryRun: true, datedAt });
    const retried = await run('r1', { dryRun: true, datedAt, atMs: NOW + 5 * 60 * MINUTE });
    expect(retried[0]!.message?.raw).toBe(first[0]!.message?.raw);
    // The date does reach the message: another run's date gives other bytes.
    const later = await run('r1', { dryRun: true, datedAt: new Date(NOW + 5 * 60 * MINUTE) });
    expect(later[0]!.message?.raw).not.toBe(first[0]!.message?.raw);
  });

  it('holds a notice another run claimed moments ago, and leaves its claim alone', async () => {
    const { ledger, mailer, copies, run } = world();
    await ledger.claim(
      { partnerId: 'acme', periodId: '2026-11', level: 'escalation' },
      { runId: 'other', figuresJson: '{}', nowMs: NOW - MINUTE, staleAfterMs: 30 * MINUTE },
    );
    expect(statuses(await run('r1'))).toEqual([`${NOV}:held`]);
    expect(mailer.attempts).toEqual([]);
    expect(copies.files.size).toBe(0);
    expect((await ledger.entries('acme', '2026-11'))[0]).toMatchObject({ state: 'pending', runId: 'other' });
  });

  it('takes over a stale claim of a run that died before handing its message over, and sends it once', async () => {
    const { ledger, mailer, run } = world();
    await ledger.claim(
      { partnerId: 'acme', periodId: '2026-11', level: 'escalation' },
      { runId: 'dead', figuresJson: '{}', nowMs: NOW - 31 * MINUTE, staleAfterMs: 30 * MINUTE },
    );
    expect(statuses(await run('r1'))).toEqual([`${NOV}:sent`]);
    expect(mailer.attempts).toEqual([NOV]);
    expect((await ledger.entries('acme', '2026-11'))[0]).toMatchObject({ state: 'sent', runId: 'r1' });
  });

  it('gives the claim back when the mailer says the message did not leave, so a later run sends it once', async () => {
    const { ledger, mailer, run } = world();
    mailer.failNext(failure('throttled', { mayHaveSent: false, retryable: true }));
    const [failed] = await run('r1');
    expect(failed).toMatchObject({ status: 'failed', error: 'throttled', retryable: true });
    expect(ledger.calls).toEqual([
      `claim ${NOV}`,
      `markAttempt ${NOV}`,
      `clearAttempt ${NOV}`,
      `release ${NOV}`,
    ]);
    expect(ledger.rows.size).toBe(0);
    expect(statuses(await run('r2'))).toEqual([`${NOV}:sent`]);
    expect(mailer.keys()).toEqual([NOV]);
  });

  it.each([
    ['says it may have sent', failure('socket hang up', { mayHaveSent: true, retryable: true })],
    ['throws an error that does not say (taken as may have sent)', new Error('socket hang up')],
  ])(
    'keeps the attempt mark and never sends again when the mailer %s, and tells a person to check',
    async (_, error) => {
      const { ledger, mailer, run } = world();
      mailer.failNext(error, true);
      const [failed] = await run('r1');
      const messageId = 'acme.2026-11.escalation.r1@partner-audit.example';
      expect(failed).toMatchObject({ status: 'failed', retryable: false, copy: expect.any(String) });
      expect(failed!.error).toBe(
        'the test mailer may have sent it, and gave no answer that says so (socket hang up): kept as handed ' +
          `to the test mailer so that no run sends it twice; check the test mailer's records for ${messageId} ` +
          'before sending it by hand',
      );
      expect(ledger.calls).not.toContain(`release ${NOV}`);
      expect(await ledger.entries('acme', '2026-11')).toMatchObject([
        { state: 'pending', runId: 'r1', messageId },
      ]);

      // Runs the next day, long after the claim went stale: not sent, not taken over, still said.
      for (const runId of ['r2', 'r3']) {
        const [again] = await run(runId, { atMs: NOW + 24 * 60 * MINUTE });
        expect(again).toMatchObject({ status: 'already-sent', messageId });
        expect(again!.error).toMatch(
          /by run r1, which never recorded whether it left: not sent again; check/,
        );
      }
      expect(mailer.attempts).toEqual([NOV]);
      expect(ledger.states()).toEqual([`${NOV}:pending`]);
    },
  );

  it('reports a notice the mailer took as sent when only markSent failed, and never sends it again', async () => {
    const { ledger, mailer, run } = world();
    ledger.markSent = async () => {
      throw new Error('ledger unavailable');
    };
    const [out] = await run('r1');
    expect(out).toMatchObject({
      status: 'sent',
      delivery: expect.stringMatching(/^mem-/),
      error: 'sent, but the ledger did not record it as sent (ledger unavailable)',
    });
    expect(ledger.calls).not.toContain(`release ${NOV}`);
    const [next] = await run('r2', { atMs: NOW + 24 * 60 * MINUTE });
    expect(next!.status).toBe('already-sent');
    expect(mailer.attempts).toEqual([NOV]);
  });

  it('sends nothing and gives the claim back when the copy cannot be kept', async () => {
    const { ledger, mailer, copies, run } = world();
    copies.put = async () => {
      throw Object.assign(new Error('bucket unavailable'), { retryable: true });
    };
    const [out] = await run('r1');
    expect(out).toMatchObject({ status: 'failed', error: 'bucket unavailable', retryable: true });
    expect(mailer.attempts).toEqual([]);
    expect(ledger.calls).toEqual([`claim ${NOV}`, `release ${NOV}`]);
    expect(ledger.rows.size).toBe(0);
  });

  it('sends nothing when the claim was taken over before it could be marked', async () => {
    const { ledger, mailer, run } = world();
    const markAttempt = ledger.markAttempt.bind(ledger);
    ledger.markAttempt = async (key, attempt) => {
      // Another run takes the claim over in between (it had gone stale under a slow run).
      ledger.rows.set(NOV, { ...ledger.rows.get(NOV)!, runId: 'other' });
      return markAttempt(key, attempt);
    };
    const [out] = await run('r1');
    expect(out).toMatchObject({ status: 'failed', error: expect.stringContaining('not claimed by run r1') });
    expect(mailer.attempts).toEqual([]);
    expect((await ledger.entries('acme', '2026-11'))[0]).toMatchObject({ state: 'pending', runId: 'other' });
  });
});

describe('sendNotices after a run stopped between two steps', () => {
  /** Runs `r1` until it stops right after `step` of its first notice (as if the process died). */
  async function stoppedAfter(step: NoticeStep, options: { canTell?: boolean } = {}) {
    const w = world(options);
    const stop = new Error(`stopped after ${step}`);
    await expect(
      w.run('r1', {
        onStep: (s) => {
          if (s === step) throw stop;
        },
      }),
    ).rejects.toBe(stop);
    return w;
  }

  const later = NOW + 31 * MINUTE;

  it('after the claim: a later run takes the stale claim over and sends it once', async () => {
    const { mailer, run } = await stoppedAfter('claimed');
    expect(mailer.attempts).toEqual([]);
    expect(statuses(await run('r2', { atMs: later }))).toEqual([`${NOV}:sent`]);
    expect(mailer.keys()).toEqual([NOV]);
  });

  it('after the mark, before the mailer was called: never sent, left for a person (the price of at most once)', async () => {
    const { ledger, mailer, run } = await stoppedAfter('handed-over', { canTell: true });
    const [out] = await run('r2', { atMs: later });
    expect(out).toMatchObject({ status: 'already-sent', error: expect.stringContaining('not sent again') });
    expect(mailer.attempts).toEqual([]);
    expect(ledger.states()).toEqual([`${NOV}:pending`]);
  });

  it('after the send, with a mailer that can tell (the outbox): recorded as sent, not sent again', async () => {
    const { ledger, mailer, run } = await stoppedAfter('sent', { canTell: true });
    const [out] = await run('r2', { atMs: NOW + MINUTE });
    expect(out).toMatchObject({
      status: 'sent',
      messageId: 'acme.2026-11.escalation.r1@partner-audit.example',
      delivery: 'mem-acme.2026-11.escalation.r1@partner-audit.example',
    });
    expect(out!.error).toMatch(/by run r1, which stopped before recording the answer; found delivered/);
    expect(mailer.attempts).toEqual([NOV]);
    expect(await ledger.entries('acme', '2026-11')).toMatchObject([{ state: 'sent', runId: 'r1' }]);
    expect(await run('r3', { atMs: later })).toEqual([]);
  });

  it('after the send, with a mailer that cannot tell (SES): kept as handed over, never sent again', async () => {
    const { ledger, mailer, run } = await stoppedAfter('sent');
    expect(statuses(await run('r2', { atMs: later }))).toEqual([`${NOV}:already-sent`]);
    expect(mailer.attempts).toEqual([NOV]);
    expect(ledger.states()).toEqual([`${NOV}:pending`]);
  });

  it('after the send, retried as the same run (a Step Functions retry): reported sent by this run, not sent again', async () => {
    const { mailer, run } = await stoppedAfter('sent');
    const [out] = await run('r1', { evaluations: [november, december] });
    expect(out).toMatchObject({
      status: 'sent',
      copy: 'runs/r1/notices/acme-2026-11-escalation.eml',
      error:
        'an earlier attempt of this step handed it to the test mailer and stopped before the answer was recorded: not sent again',
    });
    expect(mailer.attempts).toEqual([NOV, DEC]);
  });

  it('after the ledger marked it sent: nothing is left; a retry of the same run reports it as sent', async () => {
    const { mailer, run } = await stoppedAfter('marked');
    expect(statuses(await run('r1'))).toEqual([`${NOV}:sent`]);
    expect(await run('r2', { atMs: later })).toEqual([]);
    expect(mailer.attempts).toEqual([NOV]);
  });
});
