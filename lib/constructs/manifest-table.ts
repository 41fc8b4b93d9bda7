/**
 * The dataset manifest as an Athena table, so that the rollup counts records on AWS by the same rule
 * as the local engine: a Glue table over the canonical manifest CSV the registry deployment writes
 * (functions/adapters/athena/manifest-csv.ts), one row per entry, parsed by the project's single
 * MANIFEST_LINE_REGEX. Its location is a folder that holds that one object and nothing else (the
 * deployment prunes its prefix), so every key appears in the table once.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { MANIFEST_LINE_REGEX, MANIFEST_TABLE_COLUMNS } from '../../functions/adapters/athena/manifest-csv.js';
import { checkGlueName, type LogsTable } from './logs-table.js';

/** Props of {@link ManifestTable}. */
export interface ManifestTableProps {
  /** The database (created by the logs table) the manifest table lives in. */
  readonly logsTable: LogsTable;
  /** The bucket that holds the canonical manifest CSV. */
  readonly bucket: s3.IBucket;
  /**
   * Key of the canonical manifest CSV, in a folder of its own (`registry/manifest-table/manifest.csv`):
   * the folder is the table's location, and Athena reads every object in it.
   */
  readonly objectKey: string;
  /**
   * @default 'dataset_manifest'
   */
  readonly tableName?: string;
}

/** A folder of one or more segments, then an object name: `a/b/manifest.csv`. */
const OBJECT_IN_FOLDER = /^(?:[^/]+\/)+[^/]+$/;

/** The Glue table over the deployed manifest; `grantRead` lets the rollup query it through Athena. */
export class ManifestTable extends Construct {
  readonly tableName: string;
  readonly table: glue.CfnTable;
  /** The folder the table reads (the object key's folder, ending in `/`). */
  readonly folder: string;
  private readonly logsTable: LogsTable;
  private readonly bucket: s3.IBucket;
  private readonly objectKey: string;

  constructor(scope: Construct, id: string, props: ManifestTableProps) {
    super(scope, id);
    this.tableName = props.tableName ?? 'dataset_manifest';
    checkGlueName('ManifestTable', 'tableName', this.tableName);
    if (this.tableName === props.logsTable.tableName) {
      throw new Error(`ManifestTable: tableName "${this.tableName}" is already the logs table's name`);
    }
    if (!OBJECT_IN_FOLDER.test(props.objectKey)) {
      throw new Error(
        `ManifestTable: objectKey must name an object in a folder (a/m.csv), got "${props.objectKey}"`,
      );
    }
    this.logsTable = props.logsTable;
    this.bucket = props.bucket;
    this.objectKey = props.objectKey;
    this.folder = props.objectKey.slice(0, props.objectKey.lastIndexOf('/') + 1);
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: Stack.of(this).account,
      databaseName: props.logsTable.databaseName,
      tableInput: {
        name: this.tableName,
        description: 'Dataset manifest: records per object, by exact key or by prefix ending in /',
        tableType: 'EXTERNAL_TABLE',
        parameters: { EXTERNAL: 'TRUE' },
        storageDescriptor: {
          location: `s3://${props.bucket.bucketName}/${this.folder}`,
          columns: MANIFEST_TABLE_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.apache.hadoop.hive.serde2.RegexSerDe',
            parameters: { 'input.regex': MANIFEST_LINE_REGEX },
          },
        },
      },
    });
    this.table.node.addDependency(props.logsTable.database);
  }

  /** Glue ARN of the table. */
  get tableArn(): string {
    return this.logsTable.tableArn(this.tableName);
  }

  /** Query the manifest through Athena (which reads S3 as the caller): the table and its one object. */
  grantRead(grantee: iam.IGrantable): void {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable'],
        resources: [this.logsTable.catalogArn, this.logsTable.databaseArn, this.tableArn],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(this.objectKey)],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.folder}*`] } },
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [this.bucket.bucketArn] }),
    );
  }
}
