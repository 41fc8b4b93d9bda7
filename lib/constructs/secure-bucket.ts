/**
 * The guardrails every bucket this stack owns shares: encrypted, TLS only, public access blocked,
 * versioned, owner-enforced objects and server access logs into one log bucket.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

/** Props of {@link ServerAccessLogsBucket}. */
export interface ServerAccessLogsBucketProps {
  /**
   * Days to keep the access logs of the stack's own buckets.
   * @default 365
   */
  readonly retentionDays?: number;
  /**
   * What happens to the bucket when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The bucket that receives the server access logs of the stack's own buckets. */
export class ServerAccessLogsBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ServerAccessLogsBucketProps = {}) {
    super(scope, id);
    const retentionDays = props.retentionDays ?? 365;
    if (!Number.isInteger(retentionDays) || retentionDays < 1) {
      throw new Error(
        `ServerAccessLogsBucket: retentionDays must be a positive integer, got ${retentionDays}`,
      );
    }
    this.bucket = new s3.Bucket(this, 'Bucket', {
      // Server access log delivery supports SSE-S3 only, not SSE-KMS.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        {
          expiration: Duration.days(retentionDays),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.bucket,
      'S1',
      'This is the destination of the other buckets’ server access logs; logging it to itself would loop.',
    );
  }
}

/** Props of {@link newSecureBucket}. */
export interface SecureBucketProps {
  /** Where this bucket's own server access logs go. */
  readonly accessLogs: s3.IBucket;
  /** Key prefix of this bucket's access logs in `accessLogs`, e.g. `reports/`. */
  readonly accessLogsPrefix: string;
  /**
   * @default true
   */
  readonly versioned?: boolean;
  /**
   * @default none
   */
  readonly lifecycleRules?: s3.LifecycleRule[];
  /**
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Key layout of this bucket's access logs.
   * @default SimplePrefix
   */
  readonly accessLogsKeyFormat?: s3.TargetObjectKeyFormat;
}

/** A bucket with the stack's guardrails; see the file comment. */
export function newSecureBucket(scope: Construct, id: string, props: SecureBucketProps): s3.Bucket {
  if (!/^([a-z0-9-]+\/)+$/.test(props.accessLogsPrefix)) {
    throw new Error(
      `${id}: accessLogsPrefix must be a key prefix ending in /, got "${props.accessLogsPrefix}"`,
    );
  }
  return new s3.Bucket(scope, id, {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: props.versioned ?? true,
    serverAccessLogsBucket: props.accessLogs,
    serverAccessLogsPrefix: props.accessLogsPrefix,
    ...(props.accessLogsKeyFormat ? { targetObjectKeyFormat: props.accessLogsKeyFormat } : {}),
    ...(props.lifecycleRules ? { lifecycleRules: props.lifecycleRules } : {}),
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
  });
}
