/**
 * Step 4 (a Map over the partners with a level reached): send one partner's due notices. The
 * DynamoDB ledger is claimed before SES is called and marked after, so a retried step never mails a
 * notice twice; a dry run (or NOTICE_MODE=preview) composes without claiming or sending. Every
 * composed notice is also kept in the report bucket (`runs/<runId>/notices/`) as `.eml` and `.html`.
 *
 * A notice that failed for a reason a retry may fix (SES throttling) fails the step with
 * RetryableError once the partner's other notices are done, so Step Functions retries it; the ledger
 * turns the retry's repeats of what was sent into `sent` again, not duplicates. Right before SES is
 * called, the notice's copy is stored and its claim marked as being sent (GuardedMailer): a step that
 * stops between SES and markSent is not sent again by its retry. Recipients' addresses are taken out
 * of every error text, since those go to the logs.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { LEDGER_INDEX } from '../adapters/dynamodb/dynamodb-ledger.js';
import { S3ReportStore } from '../adapters/s3/s3-report-store.js';
import { SesSendError } from '../adapters/ses/ses-mailer.js';
import { diffSentNotices, sendNotices } from '../audit/send-notices.js';
import { parseMailbox } from '../domain/mime.js';
import type { Registry } from '../domain/registry.js';
import type { Clock, LedgerEntry, Mailer, NoticeKey, NoticeLedger, OutgoingMessage } from '../ports.js';
import { dynamoDbLedger } from './aws/dynamodb.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { sesMailer } from './aws/ses.js';
import { loadEnv } from './env.js';
import { InvalidInputError, isRetryable, RetryableError } from './errors.js';
import { PartnerIdSchema, RunIdSchema, readEvaluation, runKey } from './evaluation-document.js';
import { lambdaStep } from './lambda-step.js';
import { logger, metrics } from './observability.js';
import { type AthenaTableUse, READ_REGISTRY, type SdkAction } from './sdk-actions.js';
import type { NotifyOutput, NotifyResult } from './step-contracts.js';

export type { NotifyOutput, NotifyResult };

export const NotifyInputSchema = z.object({
  runId: RunIdSchema,
  evaluationKey: z.string().min(1).max(1024),
  partnerId: PartnerIdSchema,
  dryRun: z.boolean().default(false),
});

/**
 * What this step sends to AWS (see sdk-actions.ts): the evaluation and notice copies in the report
 * bucket, the ledger (DynamoDbLedger), and SES when notices are sent.
 */
export const SDK_ACTIONS: readonly SdkAction[] = [
  READ_REGISTRY,
  {
    action: 's3:GetObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/evaluation.json' } }],
  },
  {
    action: 's3:PutObject',
    on: [{ s3Object: { bucketEnv: 'REPORT_BUCKET', key: 'runs/r1/notices/acme-2026-03-overage.eml' } }],
  },
  ...(['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] as const).map(
    (op): SdkAction => ({ action: `dynamodb:${op}`, on: [{ dynamodbTable: 'LEDGER_TABLE' }] }),
  ),
  // A partner's period is listed by Query on the ledger's index, never by Scan.
  { action: 'dynamodb:Query', on: [{ dynamodbIndex: { tableEnv: 'LEDGER_TABLE', index: LEDGER_INDEX } }] },
  {
    action: 'ses:SendRawEmail',
    on: [{ sesIdentity: true }, { sesConfigurationSet: 'SES_CONFIGURATION_SET' }],
    when: { env: 'NOTICE_MODE', equals: 'send' },
  },
];
export const ATHENA_TABLES: readonly AthenaTableUse[] = [];

export interface NotifyDeps {
  readonly s3: S3Client;
  readonly reportBucket: string;
  readonly ledger: NoticeLedger;
  readonly mailer: Mailer;
  readonly loadRegistry: () => Promise<LoadedRegistry>;
  readonly clock: Clock;
  /** NOTICE_MODE=preview: never send, whatever the input says. */
  readonly previewOnly: boolean;
}

/** Remembers why each message failed, since the use case keeps only the text. */
class RecordingMailer implements Mailer {
  readonly failures = new Map<string, unknown>();
  constructor(private readonly inner: Mailer) {}
  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    try {
      return await this.inner.send(message);
    } catch (error) {
      this.failures.set(message.messageId, error);
      throw error;
    }
  }
}

/** What a ledger offers beyond the port to make a retried step safe (DynamoDbLedger has it). */
interface AttemptTracking {
  markAttempt(key: NoticeKey, attempt: { runId: string; messageId: string; nowMs: number }): Promise<void>;
  clearAttempt(key: NoticeKey, runId: string): Promise<void>;
}

function attemptTracking(ledger: NoticeLedger): AttemptTracking | undefined {
  const l = ledger as Partial<AttemptTracking>;
  return typeof l.markAttempt === 'function' && typeof l.clearAttempt === 'function'
    ? (ledger as unknown as AttemptTracking)
    : undefined;
}

/** `runs/<runId>/notices/<partner>-<period>-<level>` (add `.eml` or `.html`). */
function noticeName(runId: string, key: NoticeKey): string {
  return runKey(runId, `notices/${key.partnerId}-${key.periodId}-${key.level}`);
}

/**
 * SES may or may not have taken a notice: it gave no answer. Not retryable: sending it again could mail
 * it twice.
 */
export class NoticeDeliveryUnknownError extends Error {
  override readonly name = 'NoticeDeliveryUnknownError';
  readonly retryable = false;
}

/**
 * Wraps the SES mailer with what must happen right before a message leaves: its copy is kept in the
 * report bucket (so a sent notice always has its evidence), and the ledger claim is marked as being
 * sent, so that a step that stops before markSent is not sent again by its retry. Remembers which
 * messages SES accepted, since the use case reports a send followed by a failed markSent as failed.
 */
class GuardedMailer implements Mailer {
  readonly accepted = new Map<string, string>();
  readonly copies = new Map<string, string>();

  constructor(
    private readonly inner: Mailer,
    private readonly store: S3ReportStore,
    private readonly ledger: NoticeLedger,
    private readonly runId: string,
    private readonly clock: Clock,
  ) {}

  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    const name = noticeName(this.runId, message.key);
    await this.store.put(`${name}.eml`, message.raw, 'message/rfc822');
    await this.store.put(`${name}.html`, message.html, 'text/html; charset=utf-8');
    this.copies.set(message.messageId, `${name}.eml`);
    const attempts = attemptTracking(this.ledger);
    await attempts?.markAttempt(message.key, {
      runId: this.runId,
      messageId: message.messageId,
      nowMs: this.clock.now().getTime(),
    });
    try {
      const out = await this.inner.send(message);
      this.accepted.set(message.messageId, out.providerMessageId);
      return out;
    } catch (error) {
      if (!(error instanceof SesSendError) || error.mayHaveSent) {
        // The request went out and no answer came: SES may have taken it. The attempt stays marked, so
        // no run sends it again; a person checks SES before sending it by hand.
        throw new NoticeDeliveryUnknownError(
          `SES may have sent it, and gave no answer that says so (${(error as Error).message}): kept as handed ` +
            `to SES so that no run sends it twice; check SES's sending records for ${message.messageId} ` +
            'before sending it by hand',
          { cause: error },
        );
      }
      // SES refused it: the message did not leave, so the claim may be given back.
      await attempts?.clearAttempt(message.key, this.runId).catch((e: unknown) => {
        logger.warn('could not clear a send attempt: the notice stays claimed until a person looks', {
          runId: this.runId,
          key: message.key,
          error: (e as Error).message,
        });
      });
      throw error;
    }
  }
}

/** Every address of the registry's people, so error texts (SES names refused recipients) can be logged. */
function redactor(registry: Registry): (text: string) => string {
  const emails = [
    ...new Set(
      registry.partners.flatMap((p) =>
        [...p.accountOwners, ...p.internalContacts].map((x) => x.email.toLowerCase()),
      ),
    ),
  ].sort((a, b) => b.length - a.length);
  if (emails.length === 0) return (text) => text;
  const pattern = new RegExp(emails.map((e) => e.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi');
  return (text) => text.replace(pattern, '<recipient>');
}

/** `partner-audit.<domain of the provider's notice sender>`, for Message-IDs. */
export function messageIdDomain(registry: Registry): string {
  const email = parseMailbox(registry.provider.noticeFrom, 'provider.noticeFrom').email;
  return `partner-audit.${email.slice(email.indexOf('@') + 1)}`;
}

export async function notify(deps: NotifyDeps, event: unknown): Promise<NotifyOutput> {
  const parsed = NotifyInputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `notify input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`,
    );
  }
  const { runId, evaluationKey, partnerId } = parsed.data;
  const dryRun = parsed.data.dryRun || deps.previewOnly;
  const doc = await readEvaluation(deps.s3, deps.reportBucket, evaluationKey);
  if (doc.runId !== runId)
    throw new InvalidInputError(`${evaluationKey} belongs to run ${doc.runId}, not ${runId}`);
  const { registry } = await deps.loadRegistry();
  const evaluations = doc.evaluation.evaluations.filter((e) => e.partnerId === partnerId);
  if (evaluations.length === 0)
    throw new InvalidInputError(`${evaluationKey} holds no evaluation of partner "${partnerId}"`);

  const noticeDiffs = await diffSentNotices(deps.ledger, evaluations);
  const store = new S3ReportStore(deps.s3, { bucket: deps.reportBucket });
  const guarded = new GuardedMailer(deps.mailer, store, deps.ledger, runId, deps.clock);
  const mailer = new RecordingMailer(guarded);
  const redact = redactor(registry);
  const outcomes = await sendNotices(
    { registry, ledger: deps.ledger, mailer, clock: deps.clock },
    {
      runId,
      evaluations,
      dryRun,
      reportRef: `partner-audit run ${runId}`,
      messageIdDomain: messageIdDomain(registry),
    },
  );

  const results: NotifyResult[] = [];
  for (const o of outcomes) {
    const base = {
      partnerId: o.key.partnerId,
      periodId: o.key.periodId,
      level: o.key.level,
      covers: o.covers,
    };
    let file = o.messageId !== undefined ? guarded.copies.get(o.messageId) : undefined;
    if (o.message && file === undefined && o.status === 'previewed') {
      const name = noticeName(runId, o.key);
      await store.put(`${name}.eml`, o.message.raw, 'message/rfc822');
      await store.put(`${name}.html`, o.message.html, 'text/html; charset=utf-8');
      file = `${name}.eml`;
    }
    const accepted = o.messageId !== undefined ? guarded.accepted.get(o.messageId) : undefined;
    if (o.status === 'failed' && accepted !== undefined) {
      // SES took it and only the ledger's markSent failed: it was sent, and its claim (marked as
      // attempted) keeps it from being sent again.
      results.push({
        ...base,
        status: 'sent',
        messageId: o.messageId,
        delivery: accepted,
        ...(file !== undefined ? { file } : {}),
        error: redact(`sent, but the ledger did not record it as sent (${o.error ?? 'no detail'})`),
      });
      continue;
    }
    if (o.status === 'already-sent') {
      const entry = (await deps.ledger.entries(o.key.partnerId, o.key.periodId)).find(
        (e) => e.level === o.key.level,
      );
      const mine = entry !== undefined && entry.runId === runId;
      if (mine && (entry.state === 'sent' || entry.messageId !== undefined)) {
        results.push(sentEarlierInThisRun(runId, entry, o.covers));
        continue;
      }
    }
    results.push({
      ...base,
      status: o.status,
      ...(o.messageId !== undefined ? { messageId: o.messageId } : {}),
      ...(o.delivery !== undefined ? { delivery: o.delivery } : {}),
      ...(file !== undefined ? { file } : {}),
      ...(o.error !== undefined ? { error: redact(o.error) } : {}),
    });
  }

  if (!dryRun) {
    // A retried step may find what its first attempt sent already in the ledger, with nothing due
    // for it: report those notices as sent by this run all the same (their `covers` are not recorded).
    for (const e of evaluations) {
      for (const entry of await deps.ledger.entries(partnerId, e.period.id)) {
        const known = results.some((r) => r.periodId === entry.periodId && r.level === entry.level);
        const handed = entry.state === 'sent' || entry.messageId !== undefined;
        if (known || !handed || entry.runId !== runId) continue;
        results.push(sentEarlierInThisRun(runId, entry, []));
      }
    }
    results.sort((a, b) => (a.periodId === b.periodId ? 0 : a.periodId < b.periodId ? -1 : 1));
  }

  for (const status of ['sent', 'failed', 'previewed'] as const) {
    const n = results.filter((r) => r.status === status).length;
    if (n > 0) metrics.addMetric(`Notices${status[0]!.toUpperCase()}${status.slice(1)}`, MetricUnit.Count, n);
  }
  const retryable = outcomes.filter(
    (o) =>
      o.status === 'failed' && o.messageId !== undefined && isRetryable(mailer.failures.get(o.messageId)),
  );
  logger.info('notified partner', { runId, partnerId, dryRun, results });
  if (retryable.length > 0) {
    throw new RetryableError(
      redact(
        `${retryable.length} notice(s) of ${partnerId} failed and may pass on retry: ${retryable.map((o) => o.error).join('; ')}`,
      ),
    );
  }
  return { partnerId, failed: results.some((r) => r.status === 'failed'), results, noticeDiffs };
}

/**
 * A notice an earlier attempt of this step handed to SES: `sent`, and when the step stopped before
 * SES's answer was recorded, said so (it is not sent again either way).
 */
function sentEarlierInThisRun(runId: string, entry: LedgerEntry, covers: readonly string[]): NotifyResult {
  const key = { partnerId: entry.partnerId, periodId: entry.periodId, level: entry.level };
  return {
    ...key,
    status: 'sent',
    covers,
    ...(entry.messageId !== undefined ? { messageId: entry.messageId } : {}),
    file: `${noticeName(runId, key)}.eml`,
    ...(entry.state === 'pending'
      ? {
          error:
            'an earlier attempt of this step handed it to SES and stopped before the answer was recorded: not sent again',
        }
      : {}),
  };
}

function coldStart(): NotifyDeps {
  const env = loadEnv([
    'REPORT_BUCKET',
    'REGISTRY_BUCKET',
    'REGISTRY_KEY',
    'LEDGER_TABLE',
    'SES_CONFIGURATION_SET',
    'SES_MAX_SEND_RATE',
    'NOTICE_MODE',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_SES',
    'AWS_ENDPOINT_URL_DYNAMODB',
  ]);
  const s3 = s3Client(env);
  return {
    s3,
    reportBucket: env.REPORT_BUCKET,
    ledger: dynamoDbLedger(env),
    mailer: sesMailer(env),
    loadRegistry: () => loadRegistry(s3, env),
    clock: { now: () => new Date() },
    previewOnly: env.NOTICE_MODE === 'preview',
  };
}

export const handler = lambdaStep(coldStart, notify, { after: () => metrics.publishStoredMetrics() });
