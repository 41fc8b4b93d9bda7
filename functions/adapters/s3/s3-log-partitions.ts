/**
 * Whether a delivery date of the access logs still has log objects: one ListObjectsV2 with MaxKeys 1
 * on the date's prefix of the log bucket (PartitionedPrefix layout with delivery-time dates). The
 * rollup asks before replacing a batch, because a MERGE over a partition with no objects reads zero
 * rows and would delete the batch's rollup: logs expired by the bucket's lifecycle, or never there.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** The listing failed; `retryable` says whether trying again later may work. */
export class LogPartitionError extends Error {
  override readonly name = 'LogPartitionError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where a delivery date's log objects are: `s3://<bucket>/<partitionsPrefix><yyyy/MM/dd>/`. */
export interface LogPartitionsLocation {
  readonly bucket: string;
  /** `<prefix><account>/<region>/<source bucket>/`: '' or ending in /. */
  readonly partitionsPrefix: string;
}

export class S3LogPartitions {
  constructor(
    private readonly client: S3Client,
    private readonly location: LogPartitionsLocation,
  ) {
    const p = location.partitionsPrefix;
    if (p !== '' && !p.endsWith('/')) {
      throw new LogPartitionError(`log partitions prefix "${p}" must be '' or end with /`, false);
    }
  }

  /** `s3://bucket/prefix/yyyy/MM/dd/`, for messages and the report. */
  uriOf(batch: string): string {
    return `s3://${this.location.bucket}/${this.prefixOf(batch)}`;
  }

  /** True when at least one object lies under the batch's prefix. */
  async hasLogObjects(batch: string): Promise<boolean> {
    try {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.prefixOf(batch), MaxKeys: 1 }),
      );
      return (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const retryable =
        e.name === 'SlowDown' || e.name === 'InternalError' || status === undefined || status >= 500;
      throw new LogPartitionError(
        `listing ${this.uriOf(batch)} failed: ${(error as Error).message}`,
        retryable,
        { cause: error },
      );
    }
  }

  private prefixOf(batch: string): string {
    return `${this.location.partitionsPrefix}${batch}/`;
  }
}
