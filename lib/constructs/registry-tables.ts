/**
 * The registry as Athena tables, so that attribution and aggregation run in the engine
 * (functions/adapters/sql/usage-aggregation-sql.ts): Glue tables over the canonical JSON Lines files
 * the registry deployment writes (functions/domain/attribution-table.ts), one folder and one object
 * each, as the manifest table is. A registry change is a deploy that rewrites the files, and the next
 * evaluation attributes all past usage by it without reading a log again.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { checkGlueName, type LogsTable } from './logs-table.js';

/** One registry table: its Glue columns, in the canonical rows' key order. */
export interface RegistryTableSpec {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly description: string;
}

/** The three tables, keyed by the file each reads (the canonical rows of attribution-table.ts). */
export const REGISTRY_TABLE_SPECS = {
  principals: {
    description: 'Partner principals: who each application is, with the precedence of attribution (rank)',
    columns: [
      { name: 'rank', type: 'int' },
      { name: 'match_on', type: 'string' },
      { name: 'match_key', type: 'string' },
      { name: 'partner_id', type: 'string' },
      { name: 'application_id', type: 'string' },
      { name: 'time_zone', type: 'string' },
    ],
  },
  contractTerms: {
    description: 'Contract versions: counted operations and statuses, and covered datasets',
    columns: [
      { name: 'partner_id', type: 'string' },
      { name: 'contract_ordinal', type: 'int' },
      { name: 'contract_id', type: 'string' },
      { name: 'effective_from', type: 'string' },
      { name: 'effective_to', type: 'string' },
      { name: 'term', type: 'string' },
      { name: 'match_key', type: 'string' },
    ],
  },
  ignoredRequesters: {
    description: "The provider's own requesters, never a finding",
    columns: [
      { name: 'match_key', type: 'string' },
      { name: 'anonymous', type: 'boolean' },
    ],
  },
  networks: {
    description:
      'Declared networks of applications: CIDRs as address-key ranges, VPC endpoints, source regions (NETWORKS.md)',
    columns: [
      { name: 'partner_id', type: 'string' },
      { name: 'application_id', type: 'string' },
      { name: 'kind', type: 'string' },
      { name: 'lo', type: 'string' },
      { name: 'hi', type: 'string' },
      { name: 'value', type: 'string' },
    ],
  },
} as const satisfies Record<string, RegistryTableSpec>;

export type RegistryTableName = keyof typeof REGISTRY_TABLE_SPECS;

/** Props of {@link RegistryTables}. */
export interface RegistryTablesProps {
  /** The database (created by the logs table) the tables live in. */
  readonly logsTable: LogsTable;
  /** The bucket that holds the canonical files. */
  readonly bucket: s3.IBucket;
  /** Key of each canonical file, each in a folder of its own (the folder is the table's location). */
  readonly objectKeys: Readonly<Record<RegistryTableName, string>>;
  /**
   * Glue table names.
   * @default registry_principals, registry_contract_terms, registry_ignored_requesters, registry_networks
   */
  readonly tableNames?: Readonly<Partial<Record<RegistryTableName, string>>>;
}

const DEFAULT_NAMES: Readonly<Record<RegistryTableName, string>> = {
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
  networks: 'registry_networks',
};

/** A folder of one or more segments, then an object name: `a/b/principals.jsonl`. */
const OBJECT_IN_FOLDER = /^(?:[^/]+\/)+[^/]+$/;

/** The Glue tables over the deployed registry's canonical rows; `grantRead` lets a function query them. */
export class RegistryTables extends Construct {
  readonly tableNames: Readonly<Record<RegistryTableName, string>>;
  readonly tables: Readonly<Record<RegistryTableName, glue.CfnTable>>;
  private readonly logsTable: LogsTable;
  private readonly bucket: s3.IBucket;
  private readonly objectKeys: Readonly<Record<RegistryTableName, string>>;

  constructor(scope: Construct, id: string, props: RegistryTablesProps) {
    super(scope, id);
    this.logsTable = props.logsTable;
    this.bucket = props.bucket;
    this.objectKeys = props.objectKeys;
    this.tableNames = { ...DEFAULT_NAMES, ...props.tableNames };
    const names = Object.values(this.tableNames);
    for (const [key, name] of Object.entries(this.tableNames)) {
      checkGlueName('RegistryTables', `tableNames.${key}`, name);
      if (name === props.logsTable.tableName) {
        throw new Error(`RegistryTables: tableNames.${key} "${name}" is already the logs table's name`);
      }
    }
    if (new Set(names).size !== names.length) {
      throw new Error(`RegistryTables: table names must differ, got ${names.join(', ')}`);
    }
    const folders = Object.values(props.objectKeys).map(folderOf);
    for (const [key, objectKey] of Object.entries(props.objectKeys)) {
      if (!OBJECT_IN_FOLDER.test(objectKey)) {
        throw new Error(
          `RegistryTables: objectKeys.${key} must name an object in a folder (a/t.jsonl), got "${objectKey}"`,
        );
      }
    }
    if (new Set(folders).size !== folders.length) {
      throw new Error(
        'RegistryTables: each object must be alone in its folder, since Athena reads the whole folder',
      );
    }
    const tables = {} as Record<RegistryTableName, glue.CfnTable>;
    for (const key of Object.keys(REGISTRY_TABLE_SPECS) as RegistryTableName[]) {
      const spec: RegistryTableSpec = REGISTRY_TABLE_SPECS[key];
      const table = new glue.CfnTable(this, `${key[0]!.toUpperCase()}${key.slice(1)}Table`, {
        catalogId: Stack.of(this).account,
        databaseName: props.logsTable.databaseName,
        tableInput: {
          name: this.tableNames[key],
          description: spec.description,
          tableType: 'EXTERNAL_TABLE',
          parameters: { EXTERNAL: 'TRUE', classification: 'json' },
          storageDescriptor: {
            location: `s3://${props.bucket.bucketName}/${folderOf(props.objectKeys[key])}`,
            columns: spec.columns.map((c) => ({ name: c.name, type: c.type })),
            inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
            outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
            serdeInfo: {
              serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
              // A malformed line fails the query rather than reading as a row of NULLs.
              parameters: { 'ignore.malformed.json': 'FALSE', 'case.insensitive': 'FALSE' },
            },
          },
        },
      });
      table.node.addDependency(props.logsTable.database);
      tables[key] = table;
    }
    this.tables = tables;
  }

  /** Glue ARN of one table. */
  tableArn(key: RegistryTableName): string {
    return this.logsTable.tableArn(this.tableNames[key]);
  }

  /** Query the tables through Athena (which reads S3 as the caller): the tables and their objects. */
  grantRead(grantee: iam.IGrantable): void {
    const principal = grantee.grantPrincipal;
    const keys = Object.keys(REGISTRY_TABLE_SPECS) as RegistryTableName[];
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable'],
        resources: [
          this.logsTable.catalogArn,
          this.logsTable.databaseArn,
          ...keys.map((k) => this.tableArn(k)),
        ],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: keys.map((k) => this.bucket.arnForObjects(this.objectKeys[k])),
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': keys.map((k) => `${folderOf(this.objectKeys[k])}*`) } },
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [this.bucket.bucketArn] }),
    );
  }
}

function folderOf(objectKey: string): string {
  return objectKey.slice(0, objectKey.lastIndexOf('/') + 1);
}
