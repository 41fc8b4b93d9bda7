/**
 * Reading one object from S3, apart from the report store so that a step that only reads (the
 * registry) does not import the code that writes (test/infra/iam-permissions.test.ts scans each
 * handler's imports for the commands it can send).
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

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

/** Whether an S3 error may pass on retry: throttling, a 5xx, or no answer at all. */
export function isRetryable(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return e.name === 'SlowDown' || e.name === 'InternalError' || status === undefined || status >= 500;
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
