import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  checkObjectName,
  readS3Text,
  S3ReportStore,
  S3StoreError,
} from '../../functions/adapters/s3/s3-report-store.js';
import { localS3Client } from '../support/aws-local-clients.js';
import { type LocalServer, startS3rver } from '../support/local-aws-servers.js';

const BUCKET = 'partner-audit-reports';
let s3: LocalServer;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3rver([BUCKET]);
  client = localS3Client(s3.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
});

describe('S3ReportStore', () => {
  it('writes under its prefix with the content type and asks for encryption', async () => {
    const store = new S3ReportStore(client, { bucket: BUCKET, prefix: 'runs/2026-03-20/' });
    const spy = vi.spyOn(client, 'send');
    const json = JSON.stringify({ partners: [{ id: 'acme-data', name: 'Acme – Données' }] });
    const url = await store.put('report.json', json, 'application/json');
    expect(url).toBe(`s3://${BUCKET}/runs/2026-03-20/report.json`);
    expect(spy.mock.calls[0]?.[0]?.input).toMatchObject({ ServerSideEncryption: 'AES256' });
    spy.mockRestore();

    const head = await client.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: 'runs/2026-03-20/report.json' }),
    );
    expect(head.ContentType).toBe('application/json');
    expect(await readS3Text(client, BUCKET, 'runs/2026-03-20/report.json')).toBe(json);
  });

  it('stores bytes exactly as given', async () => {
    const store = new S3ReportStore(client, { bucket: BUCKET });
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) % 256);
    await store.put('previews/acme-data-2026-03-overage.eml', bytes, 'message/rfc822');
    const out = await client.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'previews/acme-data-2026-03-overage.eml' }),
    );
    expect(Buffer.from(await out.Body!.transformToByteArray())).toEqual(Buffer.from(bytes));
  });

  it('asks for KMS encryption with the given key', async () => {
    const store = new S3ReportStore(client, {
      bucket: BUCKET,
      encryption: { kind: 'aws:kms', kmsKeyId: 'alias/partner-audit' },
    });
    const spy = vi.spyOn(client, 'send');
    await store.put('k.txt', 'x', 'text/plain').catch(() => undefined);
    expect(spy.mock.calls[0]?.[0]?.input).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/partner-audit',
    });
    spy.mockRestore();
  });

  it.each(['', '/abs.json', 'a/../b.json', 'a//b.json', 'line\nbreak.json'])(
    'refuses the name %j',
    async (name) => {
      const store = new S3ReportStore(client, { bucket: BUCKET });
      await expect(store.put(name, 'x', 'text/plain')).rejects.toThrow(S3StoreError);
      expect(() => checkObjectName(name)).toThrow(S3StoreError);
    },
  );

  it('refuses a prefix without its trailing slash', () => {
    expect(() => new S3ReportStore(client, { bucket: BUCKET, prefix: 'runs' })).toThrow(/must end with/);
  });

  it('reports a missing object as not retryable and a missing bucket as an S3 error', async () => {
    const missing = (await readS3Text(client, BUCKET, 'nope.json').catch((e: unknown) => e)) as S3StoreError;
    expect(missing.message).toContain('no such object');
    expect(missing.retryable).toBe(false);
    const store = new S3ReportStore(client, { bucket: 'no-such-bucket' });
    await expect(store.put('a.json', '{}', 'application/json')).rejects.toThrow(S3StoreError);
  });
});
