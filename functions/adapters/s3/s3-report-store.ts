/**
 * Reports, evaluations and notice previews in S3: the AWS implementation of the ReportStore port,
 * plus the reads the Lambda steps need (the registry, the evaluation a previous step wrote).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ReportStore } from '../../ports.js';

export interface S3ReportStoreOptions {
  readonly bucket: string;
  /** Prepended to every name, e.g. `runs/2026-03-20/`. @default '' */
  readonly prefix?: string;
  /** Server-side encryption asked for on every object. @default 'AES256' */
  readonly encryption?:
    | { readonly kind: 'AES256' }
    | { readonly kind: 'aws:kms'; readonly kmsKeyId?: string };
}

/** An object could not be written or read, or a name is not a safe key. */
export class S3StoreError extends Error {
  override readonly name = 'S3StoreError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function isRetryable(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return e.name === 'SlowDown' || e.name === 'InternalError' || status === undefined || status >= 500;
}

/** A relative key: no leading `/`, no empty, `.` or `..` segment, no control characters. */
export function checkObjectName(name: string): string {
  const bad =
    name === '' ||
    name.startsWith('/') ||
    name.split('/').some((s) => s === '' || s === '.' || s === '..') ||
    /[\x00-\x1f\x7f]/.test(name);
  if (bad) throw new S3StoreError(`"${name}" is not a safe object name`, false);
  return name;
}

export class S3ReportStore implements ReportStore {
  private readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    private readonly options: S3ReportStoreOptions,
  ) {
    this.prefix = options.prefix ?? '';
    if (this.prefix !== '' && !this.prefix.endsWith('/')) {
      throw new S3StoreError(`report prefix "${this.prefix}" must end with /`, false);
    }
  }

  /** The object key a name is stored under. */
  keyOf(name: string): string {
    return `${this.prefix}${checkObjectName(name)}`;
  }

  /** Writes one object; returns its `s3://bucket/key` address. */
  async put(name: string, body: string | Uint8Array, contentType: string): Promise<string> {
    const key = this.keyOf(name);
    const enc = this.options.encryption ?? { kind: 'AES256' };
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
          ContentType: contentType,
          ServerSideEncryption: enc.kind,
          ...(enc.kind === 'aws:kms' && enc.kmsKeyId ? { SSEKMSKeyId: enc.kmsKeyId } : {}),
        }),
      );
    } catch (error) {
      throw new S3StoreError(
        `could not write s3://${this.options.bucket}/${key}: ${(error as Error).message}`,
        isRetryable(error),
        {
          cause: error,
        },
      );
    }
    return `s3://${this.options.bucket}/${key}`;
  }
}

/** Reads a whole object as UTF-8 text. */
export async function readS3Text(client: S3Client, bucket: string, key: string): Promise<string> {
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!out.Body) throw new Error('the object has no body');
    return await out.Body.transformToString('utf-8');
  } catch (error) {
    const missing = (error as { name?: string }).name === 'NoSuchKey';
    throw new S3StoreError(
      `could not read s3://${bucket}/${key}: ${missing ? 'no such object' : (error as Error).message}`,
      !missing && isRetryable(error),
      { cause: error },
    );
  }
}
