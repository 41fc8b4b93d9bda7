/**
 * The Athena workgroup every audit query runs in: engine v3 (Iceberg DML), settings enforced so a
 * client cannot opt out of them, results encrypted in a bucket of their own that forgets them, and a
 * per-query bytes-scanned cutoff as the cost guard rail.
 */
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardResource } from '../nag.js';
import { newSecureBucket } from './secure-bucket.js';

/** Athena's smallest allowed BytesScannedCutoffPerQuery. */
export const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;

/** Props of {@link AuditWorkgroup}. */
export interface AuditWorkgroupProps {
  /** Workgroup name, unique in the account and region (a token, such as one made from the stack id, is not checked). */
  readonly workgroupName: string;
  /** Athena cancels a query that would scan more bytes than this (at least 10,000,000). */
  readonly bytesScannedCutoffPerQuery: number;
  /** Where the results bucket's server access logs go. */
  readonly serverAccessLogs: s3.IBucket;
  /**
   * Days before query results are deleted.
   * @default 7
   */
  readonly resultsExpirationDays?: number;
  /**
   * Encrypt results with this customer key (SSE_KMS) instead of S3-managed keys (SSE_S3).
   * @default SSE_S3
   */
  readonly resultsKey?: kms.IKey;
}

/** Results land under this prefix of the results bucket. */
const RESULTS_PREFIX = 'results/';

/** An enforced Athena engine v3 workgroup and its results bucket. */
export class AuditWorkgroup extends Construct {
  readonly workgroup: athena.CfnWorkGroup;
  readonly workgroupName: string;
  readonly resultsBucket: s3.Bucket;
  private readonly resultsKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: AuditWorkgroupProps) {
    super(scope, id);
    if (!Token.isUnresolved(props.workgroupName) && !/^[A-Za-z0-9._-]{1,128}$/.test(props.workgroupName)) {
      throw new Error(
        `AuditWorkgroup: workgroupName must be 1-128 of A-Z a-z 0-9 . _ -, got "${props.workgroupName}"`,
      );
    }
    const cutoff = props.bytesScannedCutoffPerQuery;
    if (!Number.isSafeInteger(cutoff) || cutoff < MIN_BYTES_SCANNED_CUTOFF) {
      throw new Error(
        `AuditWorkgroup: bytesScannedCutoffPerQuery must be an integer of at least ${MIN_BYTES_SCANNED_CUTOFF}, got ${cutoff}`,
      );
    }
    const expirationDays = props.resultsExpirationDays ?? 7;
    if (!Number.isInteger(expirationDays) || expirationDays < 1) {
      throw new Error(
        `AuditWorkgroup: resultsExpirationDays must be a positive integer, got ${expirationDays}`,
      );
    }
    this.workgroupName = props.workgroupName;
    if (props.resultsKey) this.resultsKey = props.resultsKey;
    this.resultsBucket = newSecureBucket(this, 'ResultsBucket', {
      accessLogs: props.serverAccessLogs,
      accessLogsPrefix: 'athena-results/',
      // Results are throw-away copies of what the rollup already holds: no versions to keep.
      versioned: false,
      lifecycleRules: [
        { expiration: Duration.days(expirationDays), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    this.workgroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workgroupName,
      description: 'partner-audit: nightly roll-up and evaluation queries',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        bytesScannedCutoffPerQuery: cutoff,
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/${RESULTS_PREFIX}`,
          encryptionConfiguration: props.resultsKey
            ? { encryptionOption: 'SSE_KMS', kmsKey: props.resultsKey.keyArn }
            : { encryptionOption: 'SSE_S3' },
        },
      },
    });
  }

  /** ARN of the workgroup. */
  get workgroupArn(): string {
    return Stack.of(this).formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workgroupName,
    });
  }

  /**
   * Start, watch, read and stop queries in this workgroup, and read and write their results. The
   * tables a query touches need their own grants (LogsTable, RollupTable).
   */
  grantRunQueries(grantee: iam.IGrantable & IConstruct): void {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:StopQueryExecution',
          'athena:GetWorkGroup',
        ],
        resources: [this.workgroupArn],
      }),
    );
    const results = this.resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`);
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [results],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [this.resultsBucket.bucketArn],
      }),
    );
    acknowledgeWildcardResource(
      grantee,
      results,
      'Athena writes each query’s result files under the results/ prefix with names it chooses; the caller must read and write them there.',
    );
    this.resultsKey?.grantEncryptDecrypt(principal);
  }
}
