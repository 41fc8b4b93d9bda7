/**
 * The usage rollup on AWS: an Iceberg table (Athena engine v3) with exactly the columns of the shared
 * rollup row, partitioned by day(slot_start). Iceberg gives the roll-up a rerun-safe `MERGE` that
 * replaces one delivery date's rows in a single commit (functions/adapters/athena/sql.ts:
 * replaceBatchRollupSql), and month-to-date evaluation reads a few small Parquet files instead of the
 * raw logs.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardResource } from '../nag.js';
import { checkGlueName, type LogsTable } from './logs-table.js';
import { newSecureBucket } from './secure-bucket.js';

/** Column name and Iceberg type, in table order: the contract's rollup row. */
export const ROLLUP_COLUMNS = [
  ['slot_start', 'timestamp'],
  ['bucket', 'string'],
  ['requester', 'string'],
  ['access_point', 'string'],
  ['dataset', 'string'],
  ['operation', 'string'],
  ['status_class', 'string'],
  ['requests', 'long'],
  ['bytes_sent', 'long'],
  ['records', 'long'],
  ['batch', 'string'],
  // Beside the rollup row: the identities (64-bit hashes of request id and host id, in decimal, comma
  // separated) of the requests each row counted, so that a later delivery date's roll-up can drop a
  // record S3 delivered again (functions/adapters/athena/sql.ts, countedLinesSql). Text, since
  // CloudFormation declares Iceberg fields of primitive types only; zstd brings the digits near their
  // 8 bytes of entropy. Evaluation never reads it (columnar). A table created before it existed gets it
  // with `ALTER TABLE usage_rollup ADD COLUMNS (request_ids string)` in Athena.
  ['request_ids', 'string'],
  // The grains (functions/adapters/athena/sql.ts, GRAINS): one nightly statement writes the usage rows,
  // the network rows and the held rows into this one table, since Athena has no multi-table INSERT and
  // the logs are to be scanned once. A row whose grain is NULL was written before the grains and is a
  // usage row; every reader of usage keeps `(grain IS NULL OR grain = 'usage')` (sql.ts, USAGE_GRAIN_ONLY).
  ['grain', 'string'],
  // Network grain keys; `-` on the other grains.
  ['source_address', 'string'],
  ['source_prefix', 'string'],
  ['address_key', 'string'],
  ['address_class', 'string'],
  ['vpce', 'string'],
  ['source_region', 'string'],
  // Held grain keys; `-` on the other grains.
  ['object_key', 'string'],
  ['version_id', 'string'],
  // Network and held measures; NULL where they do not apply (object_size also when the size is unknown).
  ['first_ms', 'long'],
  ['last_ms', 'long'],
  ['object_size', 'long'],
  ['object_records', 'long'],
  ['retrievals', 'long'],
  ['full_retrievals', 'long'],
] as const;

/**
 * What brings a rollup table created before the grains up to ROLLUP_COLUMNS: CloudFormation creates the
 * Iceberg table once (metadataOperation CREATE) and does not change the schema of a table that exists,
 * so an operator runs this once in Athena before deploying the release that writes the grains (as
 * request_ids was added). Iceberg appends the columns; the rows already there read NULL in them, which
 * the statements take for a usage row with `-` keys (sql.ts, USAGE_GRAIN_ONLY and the MERGE's ON).
 */
export function addGrainColumnsDdl(database: string, tableName: string): string {
  const added = ROLLUP_COLUMNS.slice(ROLLUP_COLUMNS.findIndex(([name]) => name === 'grain'));
  checkGlueName('addGrainColumnsDdl', 'database', database);
  checkGlueName('addGrainColumnsDdl', 'tableName', tableName);
  return `ALTER TABLE \`${database}\`.\`${tableName}\` ADD COLUMNS (${added
    .map(([name, type]) => `${name} ${type === 'long' ? 'bigint' : type}`)
    .join(', ')})`;
}

/** Props of {@link RollupTable}. */
export interface RollupTableProps {
  /** The database (created by the logs table) the rollup table lives in. */
  readonly logsTable: LogsTable;
  /** Where the warehouse bucket's server access logs go. */
  readonly serverAccessLogs: s3.IBucket;
  /**
   * @default 'usage_rollup'
   */
  readonly tableName?: string;
}

const WAREHOUSE_PREFIX = 'rollup/';

/** The Iceberg rollup table and the warehouse bucket holding its data and metadata. */
export class RollupTable extends Construct {
  readonly tableName: string;
  readonly warehouseBucket: s3.Bucket;
  readonly table: glue.CfnTable;
  private readonly logsTable: LogsTable;

  constructor(scope: Construct, id: string, props: RollupTableProps) {
    super(scope, id);
    this.tableName = props.tableName ?? 'usage_rollup';
    checkGlueName('RollupTable', 'tableName', this.tableName);
    if (this.tableName === props.logsTable.tableName) {
      throw new Error(`RollupTable: tableName "${this.tableName}" is already the logs table's name`);
    }
    this.logsTable = props.logsTable;
    this.warehouseBucket = newSecureBucket(this, 'WarehouseBucket', {
      accessLogs: props.serverAccessLogs,
      accessLogsPrefix: 'warehouse/',
      // Iceberg keeps its own snapshots; S3 versions of replaced files would only cost money.
      versioned: false,
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });
    const location = `s3://${this.warehouseBucket.bucketName}/${WAREHOUSE_PREFIX}`;
    const account = Stack.of(this).account;
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: account,
      databaseName: props.logsTable.databaseName,
      tableInput: {
        name: this.tableName,
        description:
          'Usage per 15-minute slot x requester x access point x dataset x operation x status class; network and held rows beside it (column grain)',
        tableType: 'EXTERNAL_TABLE',
      },
      openTableFormatInput: {
        icebergInput: {
          metadataOperation: 'CREATE',
          version: '2',
          icebergTableInput: {
            location,
            schema: {
              type: 'struct',
              schemaId: 0,
              fields: ROLLUP_COLUMNS.map(([name, type], i) => ({ id: i + 1, name, type, required: false })),
            },
            partitionSpec: {
              specId: 0,
              // day(slot_start): a month-to-date read prunes to the month's days; grain: a read of one
              // grain (every usage read: USAGE_GRAIN_ONLY) prunes the others' files. A table created
              // before the grains keeps its day partitioning (Iceberg reads both specs); its reads are
              // right, only less pruned.
              fields: [
                { sourceId: 1, fieldId: 1000, name: 'slot_start_day', transform: 'day' },
                {
                  sourceId: ROLLUP_COLUMNS.findIndex(([c]) => c === 'grain') + 1,
                  fieldId: 1001,
                  name: 'grain',
                  transform: 'identity',
                },
              ],
            },
            properties: {
              'write.format.default': 'parquet',
              'write.parquet.compression-codec': 'zstd',
            },
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

  /** Query the rollup through Athena (evaluation). */
  grantRead(grantee: iam.IGrantable & IConstruct): void {
    this.grant(grantee, false);
  }

  /** Replace batches in the rollup through Athena: each Iceberg MERGE commits new metadata. */
  grantReadWrite(grantee: iam.IGrantable & IConstruct): void {
    this.grant(grantee, true);
  }

  private grant(grantee: iam.IGrantable & IConstruct, write: boolean): void {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', ...(write ? ['glue:UpdateTable'] : [])],
        resources: [this.logsTable.catalogArn, this.logsTable.databaseArn, this.tableArn],
      }),
    );
    const objects = this.warehouseBucket.arnForObjects(`${WAREHOUSE_PREFIX}*`);
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: write
          ? ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']
          : ['s3:GetObject'],
        resources: [objects],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [this.warehouseBucket.bucketArn],
      }),
    );
    acknowledgeWildcardResource(
      grantee,
      objects,
      'Iceberg names its data and metadata files itself, under the rollup/ prefix of the warehouse bucket the stack owns.',
    );
  }
}
