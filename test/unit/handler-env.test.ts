import { describe, expect, it } from 'vitest';
import { HandlerConfigError, loadEnv } from '../../functions/handlers/env.js';
import { asStep, RetryableError } from '../../functions/handlers/errors.js';
import { fromJsonWithBigInts, toJsonWithBigInts } from '../../functions/handlers/json-codec.js';

describe('loadEnv', () => {
  it('reads only the settings asked for, typed and frozen', () => {
    const env = loadEnv(['SES_MAX_SEND_RATE', 'NOTICE_MODE'], {
      SES_MAX_SEND_RATE: '3.5',
      NOTICE_MODE: 'preview',
      REPORT_BUCKET: '',
    });
    expect(env).toEqual({ SES_MAX_SEND_RATE: 3.5, NOTICE_MODE: 'preview' });
    expect(Object.isFrozen(env)).toBe(true);
  });

  it('names every missing or malformed setting', () => {
    expect(() =>
      loadEnv(['REPORT_BUCKET', 'NOTICE_MODE', 'SES_MAX_SEND_RATE', 'AWS_ENDPOINT_URL_S3'], {
        NOTICE_MODE: 'sometimes',
        SES_MAX_SEND_RATE: '0',
        AWS_ENDPOINT_URL_S3: 'not a url',
      }),
    ).toThrow(
      expect.objectContaining({
        name: 'HandlerConfigError',
        message: expect.stringMatching(
          /REPORT_BUCKET.*NOTICE_MODE: must be "send" or "preview".*SES_MAX_SEND_RATE.*AWS_ENDPOINT_URL_S3/,
        ),
      }),
    );
    expect(() => loadEnv(['LEDGER_TABLE'], { LEDGER_TABLE: '  ' })).toThrow(HandlerConfigError);
  });
});

describe('asStep', () => {
  it('turns an error that says it is retryable into RetryableError, keeping the cause', async () => {
    const cause = Object.assign(new Error('Rate exceeded'), { retryable: true });
    const error = await asStep(() => Promise.reject(cause)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).name).toBe('RetryableError');
    expect((error as RetryableError).cause).toBe(cause);
  });

  it('lets any other error through as it is', async () => {
    const cause = Object.assign(new Error('MessageRejected'), { retryable: false });
    await expect(asStep(() => Promise.reject(cause))).rejects.toBe(cause);
  });
});

describe('the evaluation codec', () => {
  it('keeps bigints past 2^53 exactly, and everything else as JSON does', () => {
    const value = { used: 2n ** 70n + 1n, list: [1n, 'x', null], nested: { ms: 1.5, flag: true } };
    const text = toJsonWithBigInts(value);
    expect(text).toContain('"$bigint":"1180591620717411303425"');
    expect(fromJsonWithBigInts(text)).toEqual(value);
  });
});
