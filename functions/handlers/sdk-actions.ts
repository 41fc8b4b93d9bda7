/**
 * What a handler does on AWS at run time, declared by the handler itself (`SDK_ACTIONS`,
 * `ATHENA_TABLES` in each `*.handler.ts`) so that the deployment's permissions are checked against it
 * rather than written twice by hand: test/infra/iam-permissions.test.ts asserts that each function's
 * role in the synthesised template allows every action on every resource listed here, and that the
 * list names exactly the AWS SDK commands the handler's imports can send (a static scan for
 * `new XCommand(`), so an adapter that starts sending a new command fails the test until it is listed.
 */
import type { HandlerEnv } from './env.js';

/** Where an action applies, named by the environment variable the handler reads it from. */
export type SdkResource =
  /** An object in a bucket; `key` is a sample key, `<VAR>` replaced by that variable's value. */
  | { readonly s3Object: { readonly bucketEnv: 'REPORT_BUCKET' | 'REGISTRY_BUCKET'; readonly key: string } }
  | { readonly athenaWorkgroup: 'ATHENA_WORKGROUP' }
  | { readonly dynamodbTable: 'LEDGER_TABLE' }
  /** A secondary index of a table. */
  | { readonly dynamodbIndex: { readonly tableEnv: 'LEDGER_TABLE'; readonly index: string } }
  /** Only the items of one partition key (granted with a dynamodb:LeadingKeys condition). */
  | { readonly dynamodbItem: { readonly tableEnv: 'LEDGER_TABLE'; readonly leadingKey: string } }
  /** A listing of a bucket under a prefix (`<VAR>` replaced by that variable's value). */
  | { readonly s3Prefix: { readonly bucketEnv: 'LOG_BUCKET' | 'REPORT_BUCKET'; readonly prefix: string } }
  /** The SES identity the notices are sent from (the stack's sender identity). */
  | { readonly sesIdentity: true }
  | { readonly sesConfigurationSet: 'SES_CONFIGURATION_SET' };

export interface SdkAction {
  /** The IAM action, `service:Operation`: the SDK command's name without `Command`. */
  readonly action: `${'s3' | 'athena' | 'dynamodb' | 'ses'}:${string}`;
  readonly on: readonly SdkResource[];
  /** Only where the stack sets this variable to this value (notices are sent only with NOTICE_MODE=send). */
  readonly when?: { readonly env: keyof HandlerEnv; readonly equals: string };
}

/**
 * A table the handler's Athena statements read or write. Athena acts with the caller's permissions:
 * Glue on the catalog, database and table, and S3 on the table's location.
 */
export interface AthenaTableUse {
  readonly tableEnv:
    | 'LOGS_TABLE'
    | 'ROLLUP_TABLE'
    | 'MANIFEST_TABLE'
    | 'REGISTRY_PRINCIPALS_TABLE'
    | 'REGISTRY_CONTRACT_TERMS_TABLE'
    | 'REGISTRY_IGNORED_REQUESTERS_TABLE'
    | 'REGISTRY_NETWORKS_TABLE';
  readonly write: boolean;
}

/** The registry object every step reads (functions/handlers/aws/s3.ts). */
export const READ_REGISTRY: SdkAction = {
  action: 's3:GetObject',
  on: [{ s3Object: { bucketEnv: 'REGISTRY_BUCKET', key: '<REGISTRY_KEY>' } }],
};

/** What the Athena query runner sends (functions/adapters/athena/athena-client.ts). */
export const RUN_ATHENA_QUERIES: readonly SdkAction[] = [
  { action: 'athena:StartQueryExecution', on: [{ athenaWorkgroup: 'ATHENA_WORKGROUP' }] },
  { action: 'athena:GetQueryExecution', on: [{ athenaWorkgroup: 'ATHENA_WORKGROUP' }] },
  { action: 'athena:GetQueryResults', on: [{ athenaWorkgroup: 'ATHENA_WORKGROUP' }] },
];
