/**
 * Small in-memory fakes of the notice ports, with the rules each port promises (functions/ports.ts),
 * for unit tests of the use cases. Real adapters are tested against local servers elsewhere.
 */
import type {
  LedgerEntry,
  Mailer,
  NoticeKey,
  NoticeLedger,
  OutgoingMessage,
  ReportStore,
} from '../../functions/ports.js';

function id(key: NoticeKey): string {
  return `${key.partnerId}/${key.periodId}/${key.level}`;
}

/** The NoticeLedger's rules in memory, with a record of the calls made to it. */
export class MemoryLedger implements NoticeLedger {
  readonly rows = new Map<string, LedgerEntry & { claimedAtMs: number }>();
  readonly calls: string[] = [];

  async claim(
    key: NoticeKey,
    c: { runId: string; figuresJson: string; nowMs: number; staleAfterMs: number },
  ): Promise<'claimed' | 'already-sent' | 'held-by-another-run'> {
    this.calls.push(`claim ${id(key)}`);
    const held = this.rows.get(id(key));
    if (held && (held.state === 'sent' || held.messageId !== undefined)) return 'already-sent';
    if (held && held.runId !== c.runId && held.claimedAtMs + c.staleAfterMs > c.nowMs) {
      return 'held-by-another-run';
    }
    this.rows.set(id(key), {
      ...key,
      state: 'pending',
      runId: c.runId,
      figuresJson: c.figuresJson,
      claimedAtMs: c.nowMs,
    });
    return 'claimed';
  }

  async markAttempt(key: NoticeKey, a: { runId: string; messageId: string; nowMs: number }): Promise<void> {
    this.calls.push(`markAttempt ${id(key)}`);
    const held = this.rows.get(id(key));
    if (held?.state !== 'pending' || held.runId !== a.runId) {
      throw new Error(`notice ${id(key)} is not claimed by run ${a.runId} any more: not sent`);
    }
    this.rows.set(id(key), { ...held, messageId: a.messageId });
  }

  async clearAttempt(key: NoticeKey, runId: string): Promise<void> {
    this.calls.push(`clearAttempt ${id(key)}`);
    const held = this.rows.get(id(key));
    if (held?.state === 'pending' && held.runId === runId) {
      const { messageId: _, ...rest } = held;
      this.rows.set(id(key), rest);
    }
  }

  async markSent(key: NoticeKey, s: { runId: string; messageId: string; sentAt: string }): Promise<void> {
    this.calls.push(`markSent ${id(key)}`);
    const held = this.rows.get(id(key));
    if (!held) throw new Error(`no claim for ${id(key)}`);
    if (held.state === 'sent') return;
    this.rows.set(id(key), {
      ...held,
      state: 'sent',
      runId: s.runId,
      messageId: s.messageId,
      sentAt: s.sentAt,
    });
  }

  async release(key: NoticeKey, runId: string): Promise<void> {
    this.calls.push(`release ${id(key)}`);
    const held = this.rows.get(id(key));
    if (held?.state === 'pending' && held.runId === runId && held.messageId === undefined) {
      this.rows.delete(id(key));
    }
  }

  async entries(partnerId: string, periodId: string): Promise<LedgerEntry[]> {
    return [...this.rows.values()]
      .filter((e) => e.partnerId === partnerId && e.periodId === periodId)
      .map(({ claimedAtMs: _, ...entry }) => entry);
  }

  /** `partner/period/level:state` of every row, sorted. */
  states(): string[] {
    return [...this.rows.values()].map((e) => `${id(e)}:${e.state}`).sort();
  }
}

/**
 * A Mailer that keeps what it was given. `failWith` makes the next sends throw (once each); `inbox`
 * also tells `delivered` what left when `canTell` is set (as the outbox can, SES cannot).
 */
export class MemoryMailer implements Mailer {
  readonly name = 'the test mailer';
  readonly sendingRecords = "the test mailer's records";
  readonly inbox: OutgoingMessage[] = [];
  readonly attempts: string[] = [];
  readonly failures: unknown[] = [];
  delivered?: Mailer['delivered'];

  constructor(options: { canTell?: boolean } = {}) {
    if (options.canTell) {
      this.delivered = async (m) =>
        this.inbox.some((x) => x.messageId === m.messageId)
          ? { providerMessageId: `mem-${m.messageId}` }
          : undefined;
    }
  }

  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    this.attempts.push(id(message.key));
    const failure = this.failures.shift();
    if (failure !== undefined) {
      const { deliverAnyway, error } = failure as { deliverAnyway?: boolean; error: unknown };
      if (deliverAnyway) this.inbox.push(message);
      throw error;
    }
    this.inbox.push(message);
    return { providerMessageId: `mem-${message.messageId}` };
  }

  /** The next send fails with `error`; with `deliverAnyway` the message left all the same. */
  failNext(error: unknown, deliverAnyway = false): void {
    this.failures.push({ error, deliverAnyway });
  }

  /** `partner/period/level` of every message delivered, in order. */
  keys(): string[] {
    return this.inbox.map((m) => id(m.key));
  }
}

/** A ReportStore in memory: name to body. */
export class MemoryReportStore implements ReportStore {
  readonly files = new Map<string, string>();
  async put(name: string, body: string | Uint8Array): Promise<string> {
    this.files.set(name, typeof body === 'string' ? body : new TextDecoder().decode(body));
    return `memory://${name}`;
  }
}
