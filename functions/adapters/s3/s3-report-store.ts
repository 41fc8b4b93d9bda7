/**
 * Reports, evaluations and notice previews in S3: the AWS implementation of the ReportStore port,
 * plus the reads the Lambda steps need (the registry, the evaluation a previous step wrote).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ReportStore } from '../../ports.js';
import { isRetryable, readS3Text, S3StoreError } from './s3-read.js';

// Where they were first defined, for the modules that import them from here.
export { readS3Text, S3StoreError };

export interface S3ReportStoreOptions {
  readonly bucket: string;
  /** Prepended to every name, e.g. `runs/2026-03-20/`. @default '' */
  readonly prefix?: string;
  /** Server-side encryption asked for on every object. @default 'AES256' */
  readonly encryption?:
    | { readonly kind: 'AES256' }
    | { readonly kind: 'aws:kms'; readonly kmsKeyId?: string };
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
