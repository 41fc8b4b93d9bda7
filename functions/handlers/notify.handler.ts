/**
 * Step 4 (a Map over the partners with a level reached): send one partner's due notices. The
 * DynamoDB ledger is claimed before SES is called and marked after, so a retried step never mails a
 * notice twice; a dry run (or NOTICE_MODE=preview) composes without claiming or sending. Every
 * composed notice is also kept in the report bucket (`runs/<runId>/notices/`) as `.eml` and `.html`.
 *
 * A notice that failed for a reason a retry may fix (SES throttling) fails the step with
 * RetryableError once the partner's other notices are done, so Step Functions retries it; the ledger
 * turns the retry's repeats of what was sent into `sent` again, not duplicates.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { S3ReportStore } from '../adapters/s3/s3-report-store.js';
import { diffSentNotices, sendNotices } from '../audit/send-notices.js';
import { parseMailbox } from '../domain/mime.js';
import type { NoticeDiff } from '../domain/notices.js';
import type { Registry } from '../domain/registry.js';
import type { Clock, Mailer, NoticeLedger, OutgoingMessage } from '../ports.js';
import { dynamoDbLedger } from './aws/dynamodb.js';
import { type LoadedRegistry, loadRegistry, s3Client } from './aws/s3.js';
import { sesMailer } from './aws/ses.js';
import { loadEnv } from './env.js';
import { asStep, InvalidInputError, isRetryable, RetryableError } from './errors.js';
import { readEvaluation, runKey } from './evaluation-document.js';
import { logger, metrics } from './observability.js';

export const NotifyInputSchema = z.object({
  runId: z.string().min(1),
  evaluationKey: z.string().min(1),
  partnerId: z.string().min(1),
  dryRun: z.boolean().default(false),
});

/** One notice's outcome, as publish reports it. */
export interface NotifyResult {
  readonly partnerId: string;
  readonly periodId: string;
  readonly level: string;
  readonly status: 'sent' | 'previewed' | 'already-sent' | 'held' | 'failed';
  readonly covers: readonly string[];
  readonly messageId?: string;
  /** The SES message id of a sent notice. */
  readonly delivery?: string;
  /** Key of the notice's `.eml` copy in the report bucket. */
  readonly file?: string;
  readonly error?: string;
}

export interface NotifyOutput {
  readonly partnerId: string;
  /** Whether any notice failed: the state machine fails the run after publishing the report. */
  readonly failed: boolean;
  readonly results: readonly NotifyResult[];
  /** How figures differ from notices sent earlier for the same periods (read before sending). */
  readonly noticeDiffs: readonly NoticeDiff[];
}

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

/** `partner-audit.<domain of the provider's notice sender>`, for Message-IDs. */
export function messageIdDomain(registry: Registry): string {
  const email = parseMailbox(registry.provider.noticeFrom, 'provider.noticeFrom').email;
  return `partner-audit.${email.slice(email.indexOf('@') + 1)}`;
}

export async function notify(deps: NotifyDeps, event: unknown): Promise<NotifyOutput> {
  const parsed = NotifyInputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `notify input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
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
  const mailer = new RecordingMailer(deps.mailer);
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

  const store = new S3ReportStore(deps.s3, { bucket: deps.reportBucket });
  const results: NotifyResult[] = [];
  for (const o of outcomes) {
    const base = {
      partnerId: o.key.partnerId,
      periodId: o.key.periodId,
      level: o.key.level,
      covers: o.covers,
    };
    let file: string | undefined;
    if (o.message) {
      const name = runKey(runId, `notices/${o.key.partnerId}-${o.key.periodId}-${o.key.level}`);
      await store.put(`${name}.eml`, o.message.raw, 'message/rfc822');
      await store.put(`${name}.html`, o.message.html, 'text/html; charset=utf-8');
      file = `${name}.eml`;
    }
    if (o.status === 'already-sent') {
      // Sent by this very run in an earlier attempt of this step: report it as sent.
      const entry = (await deps.ledger.entries(o.key.partnerId, o.key.periodId)).find(
        (e) => e.level === o.key.level,
      );
      if (entry?.state === 'sent' && entry.runId === runId) {
        results.push({
          ...base,
          status: 'sent',
          messageId: entry.messageId,
          file: runKey(runId, `notices/${o.key.partnerId}-${o.key.periodId}-${o.key.level}.eml`),
        });
        continue;
      }
    }
    results.push({
      ...base,
      status: o.status,
      ...(o.messageId !== undefined ? { messageId: o.messageId } : {}),
      ...(o.delivery !== undefined ? { delivery: o.delivery } : {}),
      ...(file !== undefined ? { file } : {}),
      ...(o.error !== undefined ? { error: o.error } : {}),
    });
  }

  if (!dryRun) {
    // A retried step finds what its first attempt sent already in the ledger, so nothing is due for
    // it: report those notices as sent by this run all the same (their `covers` are not recorded).
    for (const e of evaluations) {
      for (const entry of await deps.ledger.entries(partnerId, e.period.id)) {
        const known = results.some((r) => r.periodId === entry.periodId && r.level === entry.level);
        if (known || entry.state !== 'sent' || entry.runId !== runId) continue;
        results.push({
          partnerId,
          periodId: entry.periodId,
          level: entry.level,
          status: 'sent',
          covers: [],
          ...(entry.messageId !== undefined ? { messageId: entry.messageId } : {}),
          file: runKey(runId, `notices/${partnerId}-${entry.periodId}-${entry.level}.eml`),
        });
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
      `${retryable.length} notice(s) of ${partnerId} failed and may pass on retry: ${retryable.map((o) => o.error).join('; ')}`,
    );
  }
  return { partnerId, failed: results.some((r) => r.status === 'failed'), results, noticeDiffs };
}

let deps: NotifyDeps | undefined;

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

export const handler = async (event: unknown): Promise<NotifyOutput> => {
  deps ??= coldStart();
  const d = deps;
  try {
    return await asStep(() => notify(d, event));
  } finally {
    metrics.publishStoredMetrics();
  }
};
