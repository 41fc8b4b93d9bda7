/**
 * Use case: send the notices an evaluation makes due, each (partner, period, level) at most once, the
 * same way on both engines (DuckDB ledger and outbox locally, DynamoDB and SES on AWS).
 *
 * One notice goes: claim the ledger; keep a copy of the composed message; mark the claim as handed
 * over (markAttempt); hand it to the mailer; mark it sent. When the mailer says the message certainly
 * did not leave, the mark is cleared and the claim given back, so a later run tries again. When it may
 * have left (no answer came), the mark stays: no run sends it again, and the notice is reported failed
 * for a person to check. A run that stops between the mark and markSent leaves the mark too; a later
 * run asks the mailer whether the message was delivered (the outbox can tell, SES cannot) and records
 * it as sent if so, and otherwise leaves it alone. The price of at most once: a run stopped in the
 * instant between the mark and the mailer's call leaves a notice marked that never left, reported for
 * a person instead of sent.
 */
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import {
  dueNetworkNotice,
  type NetworkFinding,
  UNEXPLAINED_ACCESS_LEVEL,
} from '../domain/network-findings.js';
import {
  type DueNotice,
  dueNotices,
  type NoticeDiff,
  noticeDiffs,
  noticeFigures,
} from '../domain/notices.js';
import type { Partner, Registry } from '../domain/registry.js';
import type {
  Clock,
  LedgerEntry,
  Mailer,
  NoticeKey,
  NoticeLedger,
  OutgoingMessage,
  ReportStore,
} from '../ports.js';
import { composeUnexplainedAccessNotice } from '../render/network-notice.js';
import { composeNotice } from '../render/notice.js';

export type NoticeStatus = 'sent' | 'previewed' | 'already-sent' | 'held' | 'failed';

export interface NoticeOutcome {
  readonly key: NoticeKey;
  /** Lower levels newly reached at the same time, which this notice covers. */
  readonly covers: readonly string[];
  readonly status: NoticeStatus;
  readonly messageId?: string;
  /** Where the mailer put it (outbox file, SES message id). */
  readonly delivery?: string;
  /** Why it failed; on a `sent` or `already-sent` notice, what a person should know about it. */
  readonly error?: string;
  /** A failure a later attempt may fix (SES throttling): its claim was given back. */
  readonly retryable?: boolean;
  /** Name of its copy in `SendNoticesDeps.copies` (`.eml`; the `.html` preview is beside it). */
  readonly copy?: string;
  /** The composed message, for previews. */
  readonly message?: OutgoingMessage;
}

/**
 * Steps of one notice, reported to `SendNoticesDeps.onStep` as each completes: the ledger claim, the
 * claim marked as handed over (its copy kept), the mailer accepting the message, the ledger marking
 * it sent.
 */
export type NoticeStep = 'claimed' | 'handed-over' | 'sent' | 'marked';

export interface SendNoticesDeps {
  readonly registry: Registry;
  readonly ledger: NoticeLedger;
  readonly mailer: Mailer;
  /** Where every composed notice is kept, before the mailer gets it (or as a dry run's preview). */
  readonly copies: ReportStore;
  readonly clock: Clock;
  /** Called after each step of each notice; crash tests use it to stop a run between two steps. */
  readonly onStep?: (step: NoticeStep, key: NoticeKey) => void;
}

export interface SendNoticesRequest {
  readonly runId: string;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
  /** Compose, keep copies and return previews; claim, send and record nothing. */
  readonly dryRun: boolean;
  /** Reference of the evidence (the run's report), quoted in every notice. */
  readonly reportRef: string;
  /** Domain of Message-IDs, e.g. `partner-audit.provider.example`. */
  readonly messageIdDomain: string;
  /**
   * The instant the run's notices are dated (their Date header) and judged late against: fixed by the
   * run (its start locally, the evaluation's time on AWS), so a retried step, even in another process
   * hours later, composes the very same bytes.
   */
  readonly datedAt: Date;
  /** Prefix of the copies' names in `copies`, e.g. `runs/<runId>/notices/`. */
  readonly copiesUnder: string;
  /** A pending claim older than this is taken to be from a crashed run. */
  readonly staleAfterMs?: number;
  /**
   * The run's network findings (NETWORKS.md): a partner whose contract switches the unexplained-access
   * notice on gets one per period when a finding is new in it, under the same at-most-once rules.
   */
  readonly networkFindings?: readonly NetworkFinding[];
}

const DEFAULT_STALE_MS = 30 * 60 * 1000;

/** Stable id of a notice, so a retried step composes the very same message. */
export function noticeMessageId(key: NoticeKey, runId: string, domain: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe(key.partnerId)}.${safe(key.periodId)}.${safe(key.level)}.${safe(runId)}@${domain}`;
}

/** `<copiesUnder><partner>-<period>-<level>.eml`: where a notice's copy is kept. */
export function noticeCopyName(copiesUnder: string, key: NoticeKey): string {
  return `${copiesUnder}${key.partnerId}-${key.periodId}-${key.level}.eml`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The Mailer port's contract: only `mayHaveSent: false` says that a message certainly did not leave. */
function mayHaveSent(error: unknown): boolean {
  return (error as { mayHaveSent?: unknown } | undefined)?.mayHaveSent !== false;
}

function isRetryable(error: unknown): boolean {
  return (error as { retryable?: unknown } | undefined)?.retryable === true;
}

export async function sendNotices(
  deps: SendNoticesDeps,
  request: SendNoticesRequest,
): Promise<NoticeOutcome[]> {
  const outcomes: NoticeOutcome[] = [];
  for (const evaluation of request.evaluations) {
    const partner = deps.registry.partners.find((p) => p.id === evaluation.partnerId);
    if (!partner) continue;
    // Only sent notices settle a level here. A pending claim may be a run that died before its
    // message left: leaving the level due lets claim() decide (this run's own claim is taken again,
    // a fresh claim of another run is held, a stale one is taken over) instead of losing the notice;
    // a claim marked as handed over is settled by settleHandedOver, never sent again.
    const entries = await deps.ledger.entries(evaluation.partnerId, evaluation.period.id);
    const sent = entries.filter((e) => e.state === 'sent');
    const done: NoticeOutcome[] = [];
    for (const due of dueNotices(evaluation, sent)) {
      done.push(await sendOne(deps, request, evaluation, partner, due, entries));
    }
    const unexplained = dueNetworkNotice(deps.registry, evaluation, request.networkFindings ?? [], sent);
    if (unexplained.length > 0) {
      const due = { level: UNEXPLAINED_ACCESS_LEVEL, covers: [] };
      done.push(await sendOne(deps, request, evaluation, partner, due, entries, unexplained));
    }
    if (!request.dryRun) done.push(...handedOverEarlierInThisRun(deps, request, entries, done));
    outcomes.push(...done);
  }
  return outcomes;
}

async function sendOne(
  deps: SendNoticesDeps,
  request: SendNoticesRequest,
  evaluation: PartnerPeriodEvaluation,
  partner: Partner,
  due: Pick<DueNotice, 'level' | 'covers'>,
  entries: readonly LedgerEntry[],
  /** For the unexplained-access notice: the findings it reports. */
  networkFindings?: readonly NetworkFinding[],
): Promise<NoticeOutcome> {
  const key: NoticeKey = {
    partnerId: evaluation.partnerId,
    periodId: evaluation.period.id,
    level: due.level,
  };
  const base = { key, covers: due.covers };
  const messageId = noticeMessageId(key, request.runId, request.messageIdDomain);
  let message: OutgoingMessage;
  try {
    message = await (networkFindings !== undefined
      ? composeUnexplainedAccessNotice({
          registry: deps.registry,
          partner,
          evaluation,
          findings: networkFindings,
          messageId,
          date: request.datedAt,
          reportRef: request.reportRef,
          evidenceRef: `${request.reportRef}#${evaluation.partnerId}/${evaluation.period.id}`,
        })
      : composeNotice({
          registry: deps.registry,
          partner,
          evaluation,
          level: due.level,
          covers: due.covers,
          messageId,
          date: request.datedAt,
          reportRef: request.reportRef,
          evidenceRef: `${request.reportRef}#${evaluation.partnerId}/${evaluation.period.id}`,
          // Decided once the period had closed: only late-delivered logs can have made it due now.
          late: request.datedAt.getTime() >= evaluation.period.endMs,
        }));
  } catch (error) {
    // A notice that cannot be composed is a failed notice, not a failed run: nothing was claimed.
    return { ...base, status: 'failed', messageId, error: messageOf(error) };
  }
  const copy = noticeCopyName(request.copiesUnder, key);
  if (request.dryRun) {
    try {
      await keepCopy(deps.copies, copy, message);
    } catch (error) {
      return { ...base, status: 'failed', messageId, error: messageOf(error), retryable: isRetryable(error) };
    }
    return { ...base, status: 'previewed', messageId, message, copy };
  }

  const handed = entries.find((e) => e.level === key.level && e.state === 'pending' && e.messageId);
  if (handed) return settleHandedOver(deps, request, base, handed);

  const claim = await deps.ledger.claim(key, {
    runId: request.runId,
    figuresJson: JSON.stringify(noticeFigures(evaluation)),
    nowMs: deps.clock.now().getTime(),
    staleAfterMs: request.staleAfterMs ?? DEFAULT_STALE_MS,
  });
  if (claim === 'held-by-another-run') return { ...base, status: 'held' };
  if (claim === 'already-sent') {
    // Settled since the entries were read: by an attempt of this very run (a retried step), or not.
    const entry = (await deps.ledger.entries(key.partnerId, key.periodId)).find((e) => e.level === key.level);
    const mine = entry?.runId === request.runId && (entry.state === 'sent' || entry.messageId !== undefined);
    return mine ? earlierAttempt(deps, request, entry, due.covers) : { ...base, status: 'already-sent' };
  }
  deps.onStep?.('claimed', key);

  // Before the message leaves: its copy (evidence of what was sent), then the mark that keeps any
  // run from sending it again. If either fails, nothing left: the claim is given back.
  try {
    await keepCopy(deps.copies, copy, message);
    await deps.ledger.markAttempt(key, {
      runId: request.runId,
      messageId,
      nowMs: deps.clock.now().getTime(),
    });
  } catch (error) {
    const note = await giveBack(deps.ledger, key, request.runId, false);
    return {
      ...base,
      status: 'failed',
      messageId,
      error: `${messageOf(error)}${note}`,
      retryable: isRetryable(error),
    };
  }
  deps.onStep?.('handed-over', key);

  let providerMessageId: string;
  try {
    ({ providerMessageId } = await deps.mailer.send(message));
  } catch (error) {
    if (mayHaveSent(error)) {
      const { name, sendingRecords } = deps.mailer;
      return {
        ...base,
        status: 'failed',
        messageId,
        copy,
        retryable: false,
        error:
          `${name} may have sent it, and gave no answer that says so (${messageOf(error)}): kept as ` +
          `handed to ${name} so that no run sends it twice; check ${sendingRecords} for ${messageId} ` +
          'before sending it by hand',
      };
    }
    const note = await giveBack(deps.ledger, key, request.runId, true);
    return {
      ...base,
      status: 'failed',
      messageId,
      copy,
      error: `${messageOf(error)}${note}`,
      retryable: isRetryable(error),
    };
  }
  deps.onStep?.('sent', key);

  const sentOutcome = {
    ...base,
    status: 'sent' as const,
    messageId,
    delivery: providerMessageId,
    copy,
    message,
  };
  try {
    await deps.ledger.markSent(key, {
      runId: request.runId,
      messageId,
      sentAt: deps.clock.now().toISOString(),
    });
  } catch (error) {
    // It left, and its attempt mark keeps it from being sent again: sent, with what went wrong.
    return { ...sentOutcome, error: `sent, but the ledger did not record it as sent (${messageOf(error)})` };
  }
  deps.onStep?.('marked', key);
  return sentOutcome;
}

async function keepCopy(copies: ReportStore, name: string, message: OutgoingMessage): Promise<void> {
  await copies.put(name, message.raw, 'message/rfc822');
  await copies.put(name.replace(/\.eml$/, '.html'), message.html, 'text/html; charset=utf-8');
}

/**
 * Gives a claim back after a message certainly did not leave (clearing its attempt mark first when
 * one was made). Returns what to add to the notice's error when that failed.
 */
async function giveBack(
  ledger: NoticeLedger,
  key: NoticeKey,
  runId: string,
  marked: boolean,
): Promise<string> {
  try {
    if (marked) await ledger.clearAttempt(key, runId);
    await ledger.release(key, runId);
    return '';
  } catch (error) {
    return marked
      ? `; its claim could not be given back (${messageOf(error)}): it stays marked as handed over until a person looks`
      : `; its claim could not be given back (${messageOf(error)}): a later run takes it over once it is stale`;
  }
}

/**
 * A notice whose claim was marked as handed to the mailer by an earlier run (or an earlier attempt of
 * this one) that never recorded the mailer's answer. Never sent again: recorded as sent when the
 * mailer can tell it was delivered, else left marked for a person.
 */
async function settleHandedOver(
  deps: SendNoticesDeps,
  request: SendNoticesRequest,
  base: { key: NoticeKey; covers: readonly string[] },
  entry: LedgerEntry,
): Promise<NoticeOutcome> {
  const { key } = base;
  const messageId = entry.messageId ?? '';
  const { name, sendingRecords } = deps.mailer;
  // A mailer that cannot answer now is one that cannot tell: the notice stays as it is.
  const found = await deps.mailer.delivered?.({ key, messageId }).catch(() => undefined);
  if (found !== undefined) {
    const outcome = {
      ...base,
      status: 'sent' as const,
      messageId,
      delivery: found.providerMessageId,
    };
    const what = `handed to ${name} by run ${entry.runId}, which stopped before recording the answer; found delivered`;
    try {
      await deps.ledger.markSent(key, {
        runId: entry.runId,
        messageId,
        sentAt: deps.clock.now().toISOString(),
      });
    } catch (error) {
      return { ...outcome, error: `${what}, but the ledger did not record it as sent (${messageOf(error)})` };
    }
    return { ...outcome, error: `${what} and recorded as sent now` };
  }
  if (entry.runId === request.runId) return earlierAttempt(deps, request, entry, base.covers);
  return {
    ...base,
    status: 'already-sent',
    messageId,
    error:
      `handed to ${name} by run ${entry.runId}, which never recorded whether it left: not sent again; ` +
      `check ${sendingRecords} for ${messageId} before sending it by hand`,
  };
}

/**
 * A notice an earlier attempt of this run (a retried step) handed to the mailer: `sent`, and when the
 * attempt stopped before the mailer's answer was recorded, said so (it is not sent again either way).
 */
function earlierAttempt(
  deps: SendNoticesDeps,
  request: SendNoticesRequest,
  entry: LedgerEntry,
  covers: readonly string[],
): NoticeOutcome {
  const key = { partnerId: entry.partnerId, periodId: entry.periodId, level: entry.level };
  return {
    key,
    covers,
    status: 'sent',
    ...(entry.messageId !== undefined ? { messageId: entry.messageId } : {}),
    copy: noticeCopyName(request.copiesUnder, key),
    ...(entry.state === 'pending'
      ? {
          error: `an earlier attempt of this step handed it to ${deps.mailer.name} and stopped before the answer was recorded: not sent again`,
        }
      : {}),
  };
}

/**
 * A retried step finds what its first attempt handed over in the ledger, with nothing due for it:
 * those notices are reported as sent by this run all the same (their `covers` are not recorded).
 */
function handedOverEarlierInThisRun(
  deps: SendNoticesDeps,
  request: SendNoticesRequest,
  entries: readonly LedgerEntry[],
  reported: readonly NoticeOutcome[],
): NoticeOutcome[] {
  return entries
    .filter(
      (e) =>
        e.runId === request.runId &&
        (e.state === 'sent' || e.messageId !== undefined) &&
        !reported.some((o) => o.key.level === e.level),
    )
    .map((e) => earlierAttempt(deps, request, e, []));
}

/** How today's figures differ from those stated in notices already sent for the same periods. */
export async function diffSentNotices(
  ledger: NoticeLedger,
  evaluations: readonly PartnerPeriodEvaluation[],
): Promise<NoticeDiff[]> {
  const diffs: NoticeDiff[] = [];
  for (const evaluation of evaluations) {
    diffs.push(...noticeDiffs(evaluation, await ledger.entries(evaluation.partnerId, evaluation.period.id)));
  }
  return diffs;
}
