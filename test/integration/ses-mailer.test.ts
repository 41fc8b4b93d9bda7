import type { SESClient } from '@aws-sdk/client-ses';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  envelopeAddress,
  SendRateLimiter,
  SesMailer,
  SesMailerConfigError,
  type SesMailerOptions,
  SesSendError,
  tagValue,
} from '../../functions/adapters/ses/ses-mailer.js';
import { sesClient } from '../../functions/handlers/aws/ses.js';
import type { OutgoingMessage } from '../../functions/ports.js';
import { buildMime } from '../../functions/render/mime.js';
import { localSesClient } from '../support/aws-local-clients.js';
import {
  FaultProxy,
  LOST_ANSWER,
  type SesLocal,
  sesError,
  startSesLocal,
} from '../support/local-aws-servers.js';

let ses: SesLocal;
let proxy: FaultProxy;
let sleeps: number[];
let clock: number;

async function message(partnerId = 'acme-data', level = 'overage'): Promise<OutgoingMessage> {
  const base = {
    from: 'Data Partnerships <partners@provider.example>',
    to: ['Ana Owner <ana@acme.example>'],
    cc: ['audit@provider.example'],
    subject: `[Action required] ${partnerId}: data usage at 112% of the March 2026 limit (${level})`,
    text: 'Usage 1,120,000 requests of 1,000,000.',
    html: '<p>Usage 1,120,000 requests of 1,000,000.</p>',
    messageId: `<${partnerId}.2026-03.${level}@partner-audit.provider.example>`,
  };
  const raw = await buildMime({ ...base, date: new Date(Date.UTC(2026, 2, 20, 6)) });
  return { ...base, key: { partnerId, periodId: '2026-03', level }, raw };
}

function mailer(client: SESClient, options: Partial<SesMailerOptions> = {}): SesMailer {
  return new SesMailer(client, {
    configurationSetName: 'partner-audit-notices',
    maxSendRate: 14,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    random: () => 0.5,
    ...options,
  });
}

beforeAll(async () => {
  ses = await startSesLocal();
  proxy = await FaultProxy.start(ses.endpoint);
});

afterAll(async () => {
  await proxy?.stop();
  await ses?.stop();
});

beforeEach(async () => {
  sleeps = [];
  clock = 1_000_000;
  await ses.clear();
});

describe('SesMailer', () => {
  it('sends the raw MIME bytes with the configuration set, recipients and tags', async () => {
    const client = localSesClient(ses.endpoint);
    const spy = vi.spyOn(client, 'send');
    const m = await message();
    const out = await mailer(client).send(m);
    expect(out.providerMessageId).toMatch(/.+/);

    const input = spy.mock.calls[0]?.[0]?.input as Record<string, unknown>;
    expect(Buffer.from((input['RawMessage'] as { Data: Uint8Array }).Data).toString('utf8')).toBe(m.raw);
    expect(input['ConfigurationSetName']).toBe('partner-audit-notices');
    expect(input['Destinations']).toEqual(['ana@acme.example', 'audit@provider.example']);
    expect(input['Tags']).toEqual([
      { Name: 'partner', Value: 'acme-data' },
      { Name: 'period', Value: '2026-03' },
      { Name: 'level', Value: 'overage' },
    ]);

    const [stored] = await ses.emails();
    expect(stored?.messageId).toBe(out.providerMessageId);
    expect(stored?.subject).toBe(m.subject);
    expect(stored?.destination.to).toEqual([expect.stringContaining('<ana@acme.example>')]);
    expect(stored?.destination.cc).toEqual(['audit@provider.example']);
    expect(stored?.body.text?.trim()).toBe(m.text);
  });

  it('spaces sends evenly under the configured rate', async () => {
    const m = mailer(localSesClient(ses.endpoint), { maxSendRate: 4 });
    for (const partner of ['a', 'b', 'c', 'd']) await m.send(await message(partner));
    // the first goes at once; the clock does not move by itself, so each later send waits 250 ms
    expect(sleeps).toEqual([250, 250, 250]);
    expect(await ses.emails()).toHaveLength(4);
  });

  it('backs off with jitter on "Maximum sending rate exceeded." and then sends', async () => {
    proxy.inject(sesError('Throttling', 'Maximum sending rate exceeded.'), 2);
    const out = await mailer(localSesClient(proxy.endpoint), { backoffBaseMs: 1000 }).send(await message());
    expect(out.providerMessageId).toMatch(/.+/);
    // jitter 0.5 of caps 1000 and 2000; the backoff outlasts the limiter's spacing
    expect(sleeps).toEqual([500, 1000]);
    expect(await ses.emails()).toHaveLength(1);
  });

  it('gives up on persistent throttling with a retryable error', async () => {
    proxy.inject(sesError('Throttling', 'Maximum sending rate exceeded.'), 3);
    const error = (await mailer(localSesClient(proxy.endpoint), { maxAttempts: 3 })
      .send(await message())
      .catch((e: unknown) => e)) as SesSendError;
    expect(error).toBeInstanceOf(SesSendError);
    expect(error.retryable).toBe(true);
    expect(error.attempts).toBe(3);
    expect(await ses.emails()).toHaveLength(0);
  });

  it.each([
    ['MessageRejected', 'Email address is not verified.', false],
    ['Throttling', 'Daily message quota exceeded.', false],
    ['ConfigurationSetDoesNotExist', 'Configuration set <x> does not exist.', false],
  ])('does not retry %s (%s)', async (code, text, retryable) => {
    proxy.inject(sesError(code, text));
    const error = (await mailer(localSesClient(proxy.endpoint))
      .send(await message())
      .catch((e: unknown) => e)) as SesSendError;
    expect(error.name).toBe('SesSendError');
    expect(error.retryable).toBe(retryable);
    // An answer below 500 is a refusal: the message did not leave.
    expect(error.mayHaveSent).toBe(false);
    expect(error.attempts).toBe(1);
    expect(error.message).toContain('acme-data 2026-03 overage');
  });

  it('marks a server error as retryable: SES answered, so it did not send', async () => {
    proxy.inject({ ...sesError('InternalFailure', 'Internal failure', 500) });
    const error = (await mailer(localSesClient(proxy.endpoint))
      .send(await message())
      .catch((e: unknown) => e)) as SesSendError;
    expect(error.retryable).toBe(true);
    expect(error.mayHaveSent).toBe(false);
  });

  it('knows a message did not leave when no connection was made', async () => {
    const error = (await mailer(localSesClient('http://127.0.0.1:9'))
      .send(await message())
      .catch((e: unknown) => e)) as SesSendError;
    expect(error).toBeInstanceOf(SesSendError);
    expect(error.retryable).toBe(true);
    expect(error.mayHaveSent).toBe(false);
  });

  it('says SES may have sent a message whose answer was lost, and does not send it again', async () => {
    proxy.inject(LOST_ANSWER);
    const error = (await mailer(localSesClient(proxy.endpoint))
      .send(await message())
      .catch((e: unknown) => e)) as SesSendError;
    expect(error).toBeInstanceOf(SesSendError);
    expect(error.mayHaveSent).toBe(true);
    expect(error.attempts).toBe(1);
    expect(await ses.emails()).toHaveLength(1);
  });

  it("gives the notify handler's client one attempt per call (the SDK would resend after a timeout)", async () => {
    expect(await sesClient({}).config.maxAttempts()).toBe(1);
  });

  it('refuses a message without recipients, and settings it cannot use', async () => {
    const m = { ...(await message()), to: [], cc: [] };
    await expect(mailer(localSesClient(ses.endpoint)).send(m)).rejects.toThrow(/no recipient/);
    expect(() => mailer(localSesClient(ses.endpoint), { maxSendRate: 0 })).toThrow(SesMailerConfigError);
    expect(() => mailer(localSesClient(ses.endpoint), { configurationSetName: ' ' })).toThrow(
      SesMailerConfigError,
    );
  });
});

describe('tagValue', () => {
  it.each([
    ['keeps a partner id', 'acme-data', 'acme-data'],
    ['keeps a period', '2026-03', '2026-03'],
    ['replaces dots and spaces', 'acme.data co', 'acme_data_co'],
    ['never gives an empty value', '', '_'],
    ['cuts to 256 characters', 'x'.repeat(300), 'x'.repeat(256)],
  ])('%s', (_, value, safe) => {
    expect(tagValue(value)).toBe(safe);
  });
});

describe('envelopeAddress', () => {
  it.each([
    ['Ana <ana@acme.example>', 'ana@acme.example'],
    ['"Doe, Jane" <jane@x.example>', 'jane@x.example'],
    ['plain@x.example', 'plain@x.example'],
  ])('reads %j as %j', (mailbox, address) => {
    expect(envelopeAddress(mailbox)).toBe(address);
  });
});

describe('SendRateLimiter', () => {
  it('lets a send through at once after a quiet spell', async () => {
    let now = 0;
    const waits: number[] = [];
    const limiter = new SendRateLimiter(
      2,
      () => now,
      async (ms) => {
        waits.push(ms);
      },
    );
    await limiter.acquire();
    now = 10_000;
    await limiter.acquire();
    await limiter.acquire();
    expect(waits).toEqual([500]);
  });
});
