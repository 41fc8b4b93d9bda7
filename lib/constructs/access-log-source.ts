/**
 * Where the audited data bucket's server access logs are: an existing log bucket, or a data bucket
 * and log bucket this stack creates. Either way the logs use the PartitionedPrefix layout with
 * delivery-time dates, so one night's batch is one key prefix
 * `<prefix><account>/<region>/<bucket>/YYYY/MM/DD/`.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardResource } from '../nag.js';
import { newSecureBucket } from './secure-bucket.js';

/** The prefix the created data bucket writes its access logs under. */
export const CREATED_LOG_PREFIX = 's3-access/';

/** Props of {@link AccessLogSource}: exactly one of `existing` and `create`. */
export interface AccessLogSourceProps {
  /** An existing log bucket already receiving the data bucket's logs. */
  readonly existing?: {
    readonly logBucketName: string;
    /** The target prefix of the data bucket's logging configuration ('' or ending in /). */
    readonly logPrefix: string;
    /** The audited data bucket's name, as it appears in the log keys. */
    readonly sourceBucket: string;
    /** @default the stack's account */
    readonly sourceAccount?: string;
    /** @default the stack's region */
    readonly sourceRegion?: string;
  };
  /** Create a data bucket and a log bucket, logging to each other as described above. */
  readonly create?: {
    /** Where the created buckets' own access logs go (the data bucket logs to the new log bucket). */
    readonly serverAccessLogs: s3.IBucket;
  };
}

/** The access-log location the logs table reads and the roll-up is allowed to read. */
export class AccessLogSource extends Construct {
  readonly logBucket: s3.IBucket;
  /** '' or a prefix ending in /. */
  readonly logPrefix: string;
  readonly sourceBucketName: string;
  readonly sourceAccount: string;
  readonly sourceRegion: string;
  /** The data bucket, when this stack created it. */
  readonly dataBucket?: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogSourceProps) {
    super(scope, id);
    if ((props.existing === undefined) === (props.create === undefined)) {
      throw new Error('AccessLogSource: give exactly one of `existing` (a log bucket) and `create`');
    }
    const stack = Stack.of(this);
    if (props.existing) {
      const e = props.existing;
      if (e.logPrefix !== '' && !e.logPrefix.endsWith('/')) {
        throw new Error(`AccessLogSource: logPrefix must be '' or end in /, got "${e.logPrefix}"`);
      }
      this.logBucket = s3.Bucket.fromBucketName(this, 'LogBucket', e.logBucketName);
      this.logPrefix = e.logPrefix;
      this.sourceBucketName = e.sourceBucket;
      this.sourceAccount = e.sourceAccount ?? stack.account;
      this.sourceRegion = e.sourceRegion ?? stack.region;
    } else {
      const serverAccessLogs = props.create!.serverAccessLogs;
      const logBucket = newSecureBucket(this, 'LogBucket', {
        accessLogs: serverAccessLogs,
        accessLogsPrefix: 'partner-access-logs-bucket/',
      });
      this.dataBucket = newSecureBucket(this, 'DataBucket', {
        accessLogs: logBucket,
        accessLogsPrefix: CREATED_LOG_PREFIX,
        // Delivery-time dates make each night's new log objects one prefix: every byte is read once.
        accessLogsKeyFormat: s3.TargetObjectKeyFormat.partitionedPrefix(s3.PartitionDateSource.DELIVERY_TIME),
      });
      this.logBucket = logBucket;
      this.logPrefix = CREATED_LOG_PREFIX;
      this.sourceBucketName = this.dataBucket.bucketName;
      this.sourceAccount = stack.account;
      this.sourceRegion = stack.region;
    }
  }

  /** `<prefix><account>/<region>/<bucket>/`: the key prefix above the yyyy/MM/dd partitions. */
  get partitionsPrefix(): string {
    return `${this.logPrefix}${this.sourceAccount}/${this.sourceRegion}/${this.sourceBucketName}/`;
  }

  /** `s3://<log bucket>/<partitionsPrefix>` */
  get partitionsLocation(): string {
    return `s3://${this.logBucket.bucketName}/${this.partitionsPrefix}`;
  }

  /**
   * List the log objects under the partitions prefix (ListObjectsV2 is authorised as s3:ListBucket):
   * the rollup asks whether a delivery date still has objects before it replaces that date's rows.
   */
  grantListLogPartitions(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.logBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.partitionsPrefix}*`] } },
      }),
    );
  }

  /** Read the log objects of the audited bucket, and list only under their prefix. */
  grantReadLogs(grantee: iam.IGrantable & IConstruct): void {
    const objects = this.logBucket.arnForObjects(`${this.partitionsPrefix}*`);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [objects] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.logBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.partitionsPrefix}*`] } },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [this.logBucket.bucketArn] }),
    );
    acknowledgeWildcardResource(
      grantee,
      objects,
      'Reads the access-log objects of the audited bucket only: each object name is unique per delivery, so the prefix is the narrowest grant.',
    );
  }
}
