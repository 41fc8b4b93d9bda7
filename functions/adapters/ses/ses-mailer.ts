/**
 * Sends notices through Amazon SES (the classic API, `@aws-sdk/client-ses`): SendRawEmail of the very
 * MIME bytes the local outbox writes as `.eml`, so one composer serves both engines.
 *
 * - A client-side limiter spaces sends evenly under `maxSendRate` per second, so a burst of notices
 *   does not meet SES's own limit in the first place.
 * - Throttling ("Maximum sending rate exceeded.", or any HTTP 429) backs off with full jitter and
 *   tries again; the daily quota, a rejected message, an unverified identity and the like are not
 *   retried here, and the error says whether a later attempt (a Step Functions retry) could succeed.
 */
import { type SESClient, SendRawEmailCommand } from '@aws-sdk/client-ses';
import type { Mailer, MailerFailure, OutgoingMessage } from '../../ports.js';
import { parseMailbox } from '../../render/mailbox.js';

export interface SesMailerOptions {
  /** Every send names it, so SES events (bounces, complaints) reach the stack's destinations. */
  readonly configurationSetName: string;
  /** Sends per second this mailer may make; the account's MaxSendRate shared by concurrent senders. */
  readonly maxSendRate: number;
  /** Envelope sender (return path); SES takes the From header when absent. */
  readonly source?: string;
  /** Attempts of one message while SES throttles. @default 6 */
  readonly maxAttempts?: number;
  /** @default 500 */
  readonly backoffBaseMs?: number;
  /** @default 10000 */
  readonly backoffMaxMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  /** In [0, 1): the jitter source. */
  readonly random?: () => number;
}

/**
 * A notice SES did not take, or gave no answer for. `retryable` says whether sending it again later may
 * work; `mayHaveSent` that SES may have taken it all the same: the request went out and no answer came
 * back (a timeout, a connection cut), and an answer lost on its way back looks the same as a request
 * lost on its way there. Such a notice must not be sent again blindly.
 */
export class SesSendError extends Error implements MailerFailure {
  override readonly name = 'SesSendError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: string | undefined,
    readonly attempts: number,
    readonly mayHaveSent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Settings the mailer cannot work with. */
export class SesMailerConfigError extends Error {
  override readonly name = 'SesMailerConfigError';
}

/**
 * A value SES accepts in a message tag: ASCII letters, digits, `_` and `-`, at most 256 characters.
 * Anything else becomes `_`, so `2026-03` stays as it is and `acme.data` reads `acme_data`.
 */
export function tagValue(value: string): string {
  const safe = value.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 256);
  return safe === '' ? '_' : safe;
}

/** `Jane <jane@x.example>` -> `jane@x.example`: the envelope needs the address, not the display name. */
export function envelopeAddress(mailbox: string): string {
  return parseMailbox(mailbox, 'envelope address').email;
}

/** Spaces events at least `1000 / ratePerSecond` ms apart, in the order they ask. */
export class SendRateLimiter {
  private next = Number.NEGATIVE_INFINITY;
  private readonly gapMs: number;

  constructor(
    ratePerSecond: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
      throw new SesMailerConfigError(
        `SES send rate must be a positive number per second, got ${ratePerSecond}`,
      );
    }
    this.gapMs = 1000 / ratePerSecond;
  }

  async acquire(): Promise<void> {
    const now = this.now();
    const at = Math.max(now, this.next);
    this.next = at + this.gapMs;
    if (at > now) await this.sleep(Math.ceil(at - now));
  }
}

const NOT_RETRYABLE = new Set([
  'MessageRejected',
  'MailFromDomainNotVerifiedException',
  'ConfigurationSetDoesNotExistException',
  'ConfigurationSetSendingPausedException',
  'AccountSendingPausedException',
  'InvalidParameterValue',
]);

interface Classified {
  readonly throttled: boolean;
  readonly retryable: boolean;
  readonly code: string | undefined;
  /** The request went out and no answer came: SES may have taken the message. */
  readonly mayHaveSent: boolean;
}

/** Errors of a request that never reached SES: no name resolved, no connection made. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

function neverReachedSes(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e.code !== undefined && NOT_CONNECTED.has(e.code)) ||
    // The SDK's connection timeout (a request timeout, once connected, may come after SES took it).
    /without establishing a connection/i.test(e.message ?? '')
  );
}

function classify(error: unknown): Classified {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const code = e.name;
  const message = e.message ?? '';
  const status = e.$metadata?.httpStatusCode;
  // Any answer says what SES did (an error answer: it did not send). Without one, the message may have
  // left unless the request never reached SES (no connection was made).
  const mayHaveSent = status === undefined && !neverReachedSes(error);
  // The daily quota is reported as throttling too, but no backoff measured in seconds lifts it.
  if (/daily message quota/i.test(message)) return { throttled: false, retryable: false, code, mayHaveSent };
  if (
    code === 'Throttling' ||
    code === 'ThrottlingException' ||
    code === 'TooManyRequestsException' ||
    status === 429 ||
    /maximum sending rate exceeded/i.test(message)
  ) {
    return { throttled: true, retryable: true, code, mayHaveSent: false };
  }
  if (code !== undefined && NOT_RETRYABLE.has(code))
    return { throttled: false, retryable: false, code, mayHaveSent };
  // No HTTP status at all: the request never got an answer (network), so a retry may work.
  return { throttled: false, retryable: status === undefined || status >= 500, code, mayHaveSent };
}

/**
 * Mailer over SES SendRawEmail. It cannot tell afterwards whether a message whose answer was lost
 * left (SES has no look-up by Message-ID), so it has no `delivered`.
 */
export class SesMailer implements Mailer {
  readonly name = 'SES';
  readonly sendingRecords = "SES's sending records";
  private readonly limiter: SendRateLimiter;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;

  constructor(
    private readonly client: SESClient,
    private readonly options: SesMailerOptions,
  ) {
    if (options.configurationSetName.trim() === '') {
      throw new SesMailerConfigError('SES configuration set name must not be empty');
    }
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.maxAttempts = options.maxAttempts ?? 6;
    this.backoffBaseMs = options.backoffBaseMs ?? 500;
    this.backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.limiter = new SendRateLimiter(options.maxSendRate, options.now ?? Date.now, this.sleep);
  }

  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    const destinations = [...message.to, ...message.cc].map(envelopeAddress);
    if (destinations.length === 0) {
      throw new SesSendError(`notice ${message.messageId} has no recipient`, false, undefined, 0, false);
    }
    const command = new SendRawEmailCommand({
      RawMessage: { Data: Buffer.from(message.raw, 'utf8') },
      Destinations: destinations,
      Source: this.options.source,
      ConfigurationSetName: this.options.configurationSetName,
      Tags: [
        { Name: 'partner', Value: tagValue(message.key.partnerId) },
        { Name: 'period', Value: tagValue(message.key.periodId) },
        { Name: 'level', Value: tagValue(message.key.level) },
      ],
    });
    for (let attempt = 1; ; attempt++) {
      await this.limiter.acquire();
      try {
        const out = await this.client.send(command);
        if (!out.MessageId) {
          throw new SesSendError('SES returned no MessageId', true, undefined, attempt, true);
        }
        return { providerMessageId: out.MessageId };
      } catch (error) {
        if (error instanceof SesSendError) throw error;
        const c = classify(error);
        if (!c.throttled || attempt >= this.maxAttempts) {
          const why = c.throttled
            ? `still throttled after ${attempt} attempts (${(error as Error).message})`
            : (error as Error).message;
          throw new SesSendError(
            `SES did not send notice ${message.messageId} (${message.key.partnerId} ${message.key.periodId} ${message.key.level}): ${why}`,
            c.retryable,
            c.code,
            attempt,
            c.mayHaveSent,
            { cause: error },
          );
        }
        const cap = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
        await this.sleep(Math.floor(this.random() * cap));
      }
    }
  }
}
