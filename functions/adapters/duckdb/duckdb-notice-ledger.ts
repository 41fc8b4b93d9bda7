/**
 * The notice ledger of the local state file: at most one notice per partner, period and level.
 *
 * A pending claim whose message was handed to the mailer carries its message_id and attempted_at_ms
 * (markAttempt) until markSent: nobody knows whether such a message left, so the claim is never taken
 * over nor released, and claim() answers `already-sent` (as DynamoDbLedger does).
 */
import type { LedgerEntry, NoticeKey, NoticeLedger } from '../../ports.js';
import type { DuckDbDatabase } from './duckdb-database.js';
import { DuckDbStoreError } from './errors.js';
import { SQL } from './schema.js';

/** DuckDB implementation of `NoticeLedger`; each call is one transaction of the shared database. */
export class DuckDbNoticeLedger implements NoticeLedger {
  constructor(private readonly database: DuckDbDatabase) {}

  claim(
    key: NoticeKey,
    claim: { runId: string; figuresJson: string; nowMs: number; staleAfterMs: number },
  ): Promise<'claimed' | 'already-sent' | 'held-by-another-run'> {
    return this.database.transaction('claim', async (connection) => {
      if (!Number.isSafeInteger(claim.nowMs) || !Number.isSafeInteger(claim.staleAfterMs)) {
        throw new RangeError('claim: nowMs and staleAfterMs must be integer milliseconds');
      }
      const k = keyParams(key);
      const rows = (await connection.runAndReadAll(SQL.ledgerGet, k)).getRows();
      const existing = rows[0];
      const write = [...k, claim.runId, claim.figuresJson, BigInt(claim.nowMs)];
      if (!existing) {
        await connection.run(SQL.ledgerInsertPending, write);
        return 'claimed';
      }
      const [state, runId, claimedAtMs, messageId] = existing;
      // A claim whose message may have left counts as sent, whoever holds it.
      if (state === 'sent' || messageId !== null) return 'already-sent';
      const fresh = (claimedAtMs as bigint) + BigInt(claim.staleAfterMs) > BigInt(claim.nowMs);
      if (runId !== claim.runId && fresh) return 'held-by-another-run';
      // A stale claim is a run that died between claiming and sending: take it over.
      await connection.run(SQL.ledgerTakeOver, write);
      return 'claimed';
    });
  }

  /**
   * Records that the notice went out. A message that was sent is recorded even if another run took the
   * claim over meanwhile; when the key is already `sent`, the first record stands.
   *
   * @throws DuckDbStoreError when the key was never claimed.
   */
  markSent(key: NoticeKey, sent: { runId: string; messageId: string; sentAt: string }): Promise<void> {
    return this.database.transaction('markSent', async (connection) => {
      const k = keyParams(key);
      const updated = await connection.run(SQL.ledgerMarkSent, [
        ...k,
        sent.runId,
        sent.messageId,
        sent.sentAt,
      ]);
      if (updated.rowsChanged > 0) return;
      const exists = (await connection.runAndReadAll(SQL.ledgerGet, k)).currentRowCount > 0;
      if (!exists) {
        throw new DuckDbStoreError(
          'markSent',
          this.database.path,
          `no claim for ${key.partnerId}/${key.periodId}/${key.level}`,
        );
      }
    });
  }

  /**
   * Marks this run's pending claim as handed to the mailer now.
   *
   * @throws DuckDbStoreError when the claim is not this run's pending claim any more.
   */
  markAttempt(key: NoticeKey, attempt: { runId: string; messageId: string; nowMs: number }): Promise<void> {
    return this.database.serial('markAttempt', async (connection) => {
      if (!Number.isSafeInteger(attempt.nowMs)) {
        throw new RangeError('markAttempt: nowMs must be integer milliseconds');
      }
      const updated = await connection.run(SQL.ledgerMarkAttempt, [
        ...keyParams(key),
        attempt.runId,
        attempt.messageId,
        BigInt(attempt.nowMs),
      ]);
      if (updated.rowsChanged === 0) {
        throw new DuckDbStoreError(
          'markAttempt',
          this.database.path,
          `notice ${key.partnerId}/${key.periodId}/${key.level} is not claimed by run ${attempt.runId} any more: not sent`,
        );
      }
    });
  }

  /** Undoes markAttempt after the mailer said the message did not leave, so the claim can be released. */
  clearAttempt(key: NoticeKey, runId: string): Promise<void> {
    return this.database.serial('clearAttempt', async (connection) => {
      await connection.run(SQL.ledgerClearAttempt, [...keyParams(key), runId]);
    });
  }

  /**
   * Deletes this run's pending claim; a claim another run holds, a claim handed to the mailer, or a
   * sent notice, is left alone.
   */
  release(key: NoticeKey, runId: string): Promise<void> {
    return this.database.serial('release', async (connection) => {
      await connection.run(SQL.ledgerRelease, [...keyParams(key), runId]);
    });
  }

  entries(partnerId: string, periodId: string): Promise<LedgerEntry[]> {
    return this.database.serial('entries', async (connection) => {
      const reader = await connection.runAndReadAll(SQL.ledgerEntries, [partnerId, periodId]);
      return reader.getRows().map(([partner, period, level, state, runId, messageId, sentAt, figures]) => ({
        partnerId: String(partner),
        periodId: String(period),
        level: String(level),
        state: state === 'sent' ? 'sent' : 'pending',
        runId: String(runId),
        ...(messageId === null ? {} : { messageId: String(messageId) }),
        ...(sentAt === null ? {} : { sentAt: String(sentAt) }),
        figuresJson: String(figures),
      }));
    });
  }
}

function keyParams(key: NoticeKey): string[] {
  return [key.partnerId, key.periodId, key.level];
}
