/**
 * Use case: send the notices an evaluation makes due, each (partner, period, level) at most once.
 *
 * The ledger is claimed before a message leaves and marked sent after the mailer accepted it. A failed
 * send gives the claim back, so the next run retries it; a crash between send and mark leaves a
 * pending claim that a later run takes over once stale. That window is the only way a notice could be
 * sent twice, and it is as narrow as one mailer call.
 */
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import { dueNotices, type NoticeDiff, noticeDiffs, noticeFigures } from '../domain/notices.js';
import type { Registry } from '../domain/registry.js';
import type { Clock, Mailer, NoticeKey, NoticeLedger, OutgoingMessage } from '../ports.js';
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
  readonly error?: string;
  /** The composed message, for previews. */
  readonly message?: OutgoingMessage;
}

/**
 * Steps of one notice, reported to `SendNoticesDeps.onStep` as each completes: the ledger claim, the
 * mailer accepting the message, the ledger marking it sent.
 */
export type NoticeStep = 'claimed' | 'sent' | 'marked';

export interface SendNoticesDeps {
  readonly registry: Registry;
  readonly ledger: NoticeLedger;
  readonly mailer: Mailer;
  readonly clock: Clock;
  /** Called after each step of each notice; crash tests use it to stop a run between two steps. */
  readonly onStep?: (step: NoticeStep, key: NoticeKey) => void;
}

export interface SendNoticesRequest {
  readonly runId: string;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
  /** Compose and return previews; claim, send and record nothing. */
  readonly dryRun: boolean;
  /** Reference of the evidence (the run's report), quoted in every notice. */
  readonly reportRef: string;
  /** Domain of Message-IDs, e.g. `partner-audit.provider.example`. */
  readonly messageIdDomain: string;
  /** A pending claim older than this is taken to be from a crashed run. */
  readonly staleAfterMs?: number;
}

const DEFAULT_STALE_MS = 30 * 60 * 1000;

/** Stable id of a notice, so a retried step composes the very same message. */
export function noticeMessageId(key: NoticeKey, runId: string, domain: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe(key.partnerId)}.${safe(key.periodId)}.${safe(key.level)}.${safe(runId)}@${domain}`;
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
    // a fresh claim of another run is held, a stale one is taken over) instead of losing the notice.
    const entries = await deps.ledger.entries(evaluation.partnerId, evaluation.period.id);
    const sent = entries.filter((e) => e.state === 'sent');
    for (const due of dueNotices(evaluation, sent)) {
      const key: NoticeKey = {
        partnerId: evaluation.partnerId,
        periodId: evaluation.period.id,
        level: due.level,
      };
      const messageId = noticeMessageId(key, request.runId, request.messageIdDomain);
      let message: OutgoingMessage;
      try {
        message = await composeNotice({
          registry: deps.registry,
          partner,
          evaluation,
          level: due.level,
          covers: due.covers,
          messageId,
          date: deps.clock.now(),
          reportRef: request.reportRef,
          evidenceRef: `${request.reportRef}#${evaluation.partnerId}/${evaluation.period.id}`,
          // Decided once the period had closed: only late-delivered logs can have made it due now.
          late: deps.clock.now().getTime() >= evaluation.period.endMs,
        });
      } catch (error) {
        // A notice that cannot be composed is a failed notice, not a failed run: nothing was claimed.
        outcomes.push({
          key,
          covers: due.covers,
          status: 'failed',
          messageId,
          error: (error as Error).message,
        });
        continue;
      }
      if (request.dryRun) {
        outcomes.push({ key, covers: due.covers, status: 'previewed', messageId, message });
        continue;
      }
      const figuresJson = JSON.stringify(noticeFigures(evaluation));
      const claim = await deps.ledger.claim(key, {
        runId: request.runId,
        figuresJson,
        nowMs: deps.clock.now().getTime(),
        staleAfterMs: request.staleAfterMs ?? DEFAULT_STALE_MS,
      });
      if (claim === 'already-sent') {
        outcomes.push({ key, covers: due.covers, status: 'already-sent' });
        continue;
      }
      if (claim === 'held-by-another-run') {
        outcomes.push({ key, covers: due.covers, status: 'held' });
        continue;
      }
      deps.onStep?.('claimed', key);
      try {
        const { providerMessageId } = await deps.mailer.send(message);
        deps.onStep?.('sent', key);
        await deps.ledger.markSent(key, {
          runId: request.runId,
          messageId,
          sentAt: deps.clock.now().toISOString(),
        });
        deps.onStep?.('marked', key);
        outcomes.push({
          key,
          covers: due.covers,
          status: 'sent',
          messageId,
          delivery: providerMessageId,
          message,
        });
      } catch (error) {
        await deps.ledger.release(key, request.runId);
        outcomes.push({
          key,
          covers: due.covers,
          status: 'failed',
          messageId,
          error: (error as Error).message,
        });
      }
    }
  }
  return outcomes;
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
