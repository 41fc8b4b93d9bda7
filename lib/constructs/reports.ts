/**
 * The report bucket: each run's evaluation, report.json, usage.csv and notice previews under
 * `runs/<runId>/`. Encrypted, versioned (a report is evidence: an overwrite must not lose the old
 * one), TLS only, never public, with server access logs.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardResource } from '../nag.js';
import { newSecureBucket } from './secure-bucket.js';

/** Every run writes under this prefix. */
export const RUNS_PREFIX = 'runs/';

/** Props of {@link Reports}. */
export interface ReportsProps {
  /** Where the report bucket's server access logs go. */
  readonly serverAccessLogs: s3.IBucket;
  /**
   * Days to keep versions of a report that were overwritten.
   * @default 90
   */
  readonly noncurrentVersionDays?: number;
  /**
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The report bucket and prefix-scoped grants on it. */
export class Reports extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ReportsProps) {
    super(scope, id);
    const days = props.noncurrentVersionDays ?? 90;
    if (!Number.isInteger(days) || days < 1) {
      throw new Error(`Reports: noncurrentVersionDays must be a positive integer, got ${days}`);
    }
    this.bucket = newSecureBucket(this, 'Bucket', {
      accessLogs: props.serverAccessLogs,
      accessLogsPrefix: 'reports/',
      versioned: true,
      lifecycleRules: [
        {
          noncurrentVersionExpiration: Duration.days(days),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
  }

  /** Read what runs wrote (the evaluation a notifier works from). */
  grantReadRuns(grantee: iam.IGrantable & IConstruct): void {
    this.grant(grantee, ['s3:GetObject']);
  }

  /** Write run outputs without reading others (the evaluator). */
  grantWriteRuns(grantee: iam.IGrantable & IConstruct): void {
    this.grant(grantee, ['s3:PutObject']);
  }

  /** Read the evaluation and write the report (the publisher). */
  grantReadWriteRuns(grantee: iam.IGrantable & IConstruct): void {
    this.grant(grantee, ['s3:GetObject', 's3:PutObject']);
  }

  /** List what runs wrote, under runs/ only (the partner and assemble steps read unloaded folders). */
  grantListRuns(grantee: iam.IGrantable & IConstruct): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${RUNS_PREFIX}*`] } },
      }),
    );
  }

  /**
   * What an Athena UNLOAD into runs/ needs of its caller (Athena writes as the caller): listing the
   * folder (it must be empty), writing the objects (in parts for large ones), the bucket's location,
   * and the run outputs the step writes itself.
   */
  grantUnloadRuns(grantee: iam.IGrantable & IConstruct): void {
    this.grantListRuns(grantee);
    this.grant(grantee, ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts']);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [this.bucket.bucketArn] }),
    );
  }

  private grant(grantee: iam.IGrantable & IConstruct, actions: string[]): void {
    const objects = this.bucket.arnForObjects(`${RUNS_PREFIX}*`);
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
    acknowledgeWildcardResource(
      grantee,
      objects,
      'Each run writes and reads its own objects under runs/<runId>/; run ids are only known at run time.',
    );
  }
}
