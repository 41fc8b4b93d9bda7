/**
 * The Glue database and the raw access-log table Athena reads. One string column per log field,
 * parsed by the project's single ACCESS_LOG_REGEX (every trailing field optional on its own), and a
 * `delivery_date` partition resolved by partition projection, so no crawler or MSCK REPAIR is needed
 * and a query for one delivery date lists one prefix.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ACCESS_LOG_COLUMNS, ACCESS_LOG_REGEX } from '../../functions/adapters/athena/access-log-regex.js';
import { isIsoDate } from '../../functions/domain/time.js';
import type { AccessLogSource } from './access-log-source.js';

/** Props of {@link LogsTable}. */
export interface LogsTableProps {
  /** Where the logs are. */
  readonly source: AccessLogSource;
  /** Glue database name: lower-case letters, digits and _. */
  readonly databaseName: string;
  /**
   * @default 'access_logs'
   */
  readonly tableName?: string;
  /** First delivery date (YYYY-MM-DD) the projection yields; the range runs to NOW. */
  readonly startDate: string;
}

const GLUE_NAME = /^[a-z0-9_]{1,255}$/;

/** Throws, naming the construct and the setting, unless `value` is a name Glue and Athena accept as is. */
export function checkGlueName(construct: string, setting: string, value: string): void {
  if (!GLUE_NAME.test(value)) {
    throw new Error(`${construct}: ${setting} must be lower-case letters, digits or _, got "${value}"`);
  }
}

/** The Glue database plus the access-log table; `grantRead` lets a role query it through Athena. */
export class LogsTable extends Construct {
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  readonly tableName: string;
  readonly table: glue.CfnTable;
  private readonly source: AccessLogSource;

  constructor(scope: Construct, id: string, props: LogsTableProps) {
    super(scope, id);
    this.tableName = props.tableName ?? 'access_logs';
    checkGlueName('LogsTable', 'databaseName', props.databaseName);
    checkGlueName('LogsTable', 'tableName', this.tableName);
    if (!isIsoDate(props.startDate)) {
      throw new Error(`LogsTable: startDate must be YYYY-MM-DD, got "${props.startDate}"`);
    }
    this.source = props.source;
    this.databaseName = props.databaseName;
    const account = Stack.of(this).account;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: {
        name: props.databaseName,
        description: 'partner-audit: raw S3 server access logs and the usage rollup',
      },
    });
    const location = props.source.partitionsLocation;
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: account,
      databaseName: props.databaseName,
      tableInput: {
        name: this.tableName,
        description: 'S3 server access logs of the audited bucket, one row per log line, all fields as text',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          EXTERNAL: 'TRUE',
          'projection.enabled': 'true',
          'projection.delivery_date.type': 'date',
          'projection.delivery_date.format': 'yyyy/MM/dd',
          'projection.delivery_date.range': `${props.startDate.replaceAll('-', '/')},NOW`,
          'projection.delivery_date.interval': '1',
          'projection.delivery_date.interval.unit': 'DAYS',
          // PartitionedPrefix with delivery-time dates: <prefix><account>/<region>/<bucket>/YYYY/MM/DD/
          'storage.location.template': `${location}\${delivery_date}`,
        },
        partitionKeys: [
          { name: 'delivery_date', type: 'string', comment: 'yyyy/MM/dd the logs were delivered' },
        ],
        storageDescriptor: {
          location,
          columns: ACCESS_LOG_COLUMNS.map((name) => ({ name, type: 'string' })),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.apache.hadoop.hive.serde2.RegexSerDe',
            parameters: { 'input.regex': ACCESS_LOG_REGEX },
          },
        },
      },
    });
    this.table.node.addDependency(this.database);
  }

  /** Glue ARN of the database. */
  get databaseArn(): string {
    return Stack.of(this).formatArn({
      service: 'glue',
      resource: 'database',
      resourceName: this.databaseName,
    });
  }

  /** Glue ARN of the catalog. */
  get catalogArn(): string {
    return Stack.of(this).formatArn({ service: 'glue', resource: 'catalog' });
  }

  /** Glue ARN of a table in this database. */
  tableArn(tableName: string = this.tableName): string {
    return Stack.of(this).formatArn({
      service: 'glue',
      resource: 'table',
      resourceName: `${this.databaseName}/${tableName}`,
    });
  }

  /** Read the table definition and the log objects behind it (Athena runs as the caller). */
  grantRead(grantee: iam.IGrantable & Construct): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
        resources: [this.catalogArn, this.databaseArn, this.tableArn()],
      }),
    );
    this.source.grantReadLogs(grantee);
  }
}
