/**
 * The whole AWS deployment of partner-audit, composed from one construct per concern. Access between
 * them is granted only through the constructs' grant methods, step by step, as each handler declares
 * in its SDK_ACTIONS (held against the roles by test/infra/iam-permissions.test.ts).
 */
import { Annotations, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeployConfig } from './config.js';
import { AccessLogSource } from './constructs/access-log-source.js';
import { AuditFunctions } from './constructs/audit-functions.js';
import { LogsTable } from './constructs/logs-table.js';
import { ManifestTable } from './constructs/manifest-table.js';
import { Monitoring } from './constructs/monitoring.js';
import { Notices } from './constructs/notices.js';
import { RegistryDeployment } from './constructs/registry-deployment.js';
import { RegistryTables } from './constructs/registry-tables.js';
import { Reports } from './constructs/reports.js';
import { RollupMaintenance } from './constructs/rollup-maintenance.js';
import { RollupTable } from './constructs/rollup-table.js';
import { NightlySchedule } from './constructs/schedule.js';
import { ServerAccessLogsBucket } from './constructs/secure-bucket.js';
import { AuditStateMachine } from './constructs/state-machine.js';
import { AuditWorkgroup } from './constructs/workgroup.js';
import { creationSuffix } from './creation-suffix.js';

/** Partners notified at once by the state machine's Notify map. */
export const NOTIFY_CONCURRENCY = 4;

/** Props of {@link PartnerAuditStack}. */
export interface PartnerAuditStackProps extends StackProps {
  /** The validated deployment settings (lib/config.ts). */
  readonly config: DeployConfig;
  /**
   * Folder of the handler entry files, for tests that bundle stand-ins.
   * @default functions/handlers
   */
  readonly handlersDir?: string;
}

/**
 * Feature flags the stack is written against (newer CDK defaults). The stack sets them on itself
 * unless the app already decided, so it synthesises the same in any app.
 */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  // Log delivery by bucket policy: the legacy ACL cannot coexist with BucketOwnerEnforced buckets.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
};

/** `PartnerAudit` -> `partner_audit`: a Glue-safe name derived from the stack name. */
export function glueNameOf(stackName: string): string {
  return stackName
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
}

/**
 * Logs table, workgroup, rollup table (and manifest table), functions, state machine, schedule,
 * notices, reports, monitoring.
 */
export class PartnerAuditStack extends Stack {
  readonly reports: Reports;
  readonly functions: AuditFunctions;
  readonly stateMachine: AuditStateMachine;
  readonly schedule: NightlySchedule;
  readonly notices: Notices;
  readonly monitoring: Monitoring;
  readonly workgroup: AuditWorkgroup;
  readonly logsTable: LogsTable;
  readonly rollupTable: RollupTable;
  /** The dataset manifest table, when the registry names a manifest. */
  readonly manifestTable?: ManifestTable;
  readonly registry: RegistryDeployment;
  /** The registry's principals, contract terms and ignored requesters as Athena tables. */
  readonly registryTables: RegistryTables;
  readonly maintenance: RollupMaintenance;

  constructor(scope: Construct, id: string, props: PartnerAuditStackProps) {
    super(scope, id, {
      description:
        'partner-audit: nightly audit of partner usage of the data bucket, from S3 server access logs',
      ...props,
    });
    for (const [flag, value] of Object.entries(FEATURE_FLAGS)) {
      if (this.node.tryGetContext(flag) === undefined) this.node.setContext(flag, value);
    }
    const config = props.config;
    if (config.isExample) {
      Annotations.of(this).addInfo(
        `No deploy.config.json: using the documented example ${config.source} (createDataBucket: true).`,
      );
    }

    const serverAccessLogs = new ServerAccessLogsBucket(this, 'ServerAccessLogs').bucket;
    const source = new AccessLogSource(
      this,
      'AccessLogSource',
      config.accessLogs.kind === 'existing'
        ? {
            existing: {
              logBucketName: config.accessLogs.logBucketName,
              logPrefix: config.accessLogs.logPrefix,
              sourceBucket: config.accessLogs.sourceBucket,
              ...(config.accessLogs.sourceAccount ? { sourceAccount: config.accessLogs.sourceAccount } : {}),
              ...(config.accessLogs.sourceRegion ? { sourceRegion: config.accessLogs.sourceRegion } : {}),
            },
          }
        : { create: { serverAccessLogs } },
    );
    const glueName = glueNameOf(config.stackName);
    this.logsTable = new LogsTable(this, 'LogsTable', {
      source,
      databaseName: glueName,
      startDate: config.logsStartDate,
    });
    this.rollupTable = new RollupTable(this, 'RollupTable', { logsTable: this.logsTable, serverAccessLogs });
    this.workgroup = new AuditWorkgroup(this, 'Workgroup', {
      // Set, or unique to this creation of the stack: CloudFormation cannot name a workgroup itself.
      workgroupName:
        config.athenaWorkgroupName ?? `${config.stackName.slice(0, 100)}-audit-${creationSuffix(this)}`,
      bytesScannedCutoffPerQuery: config.bytesScannedCutoffPerQuery,
      serverAccessLogs,
    });
    this.reports = new Reports(this, 'Reports', { serverAccessLogs });
    this.registry = new RegistryDeployment(this, 'Registry', {
      registryFile: config.registryFile,
      ...(config.manifestFile ? { manifestFile: config.manifestFile } : {}),
      serverAccessLogs,
    });
    this.registryTables = new RegistryTables(this, 'RegistryTables', {
      logsTable: this.logsTable,
      bucket: this.registry.bucket,
      objectKeys: this.registry.registryTableKeys,
    });
    if (this.registry.manifestTableKey) {
      this.manifestTable = new ManifestTable(this, 'ManifestTable', {
        logsTable: this.logsTable,
        bucket: this.registry.bucket,
        objectKey: this.registry.manifestTableKey,
      });
    }
    this.notices = new Notices(this, 'Notices', {
      identity: config.sender.identity,
      ...(config.sender.configurationSetName !== undefined
        ? { configurationSetName: config.sender.configurationSetName }
        : {}),
      sandboxRecipients: config.sender.sandboxRecipients,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    });

    this.functions = new AuditFunctions(this, 'Functions', {
      ...(props.handlersDir ? { handlersDir: props.handlersDir } : {}),
      environment: {
        REPORT_BUCKET: this.reports.bucket.bucketName,
        REGISTRY_BUCKET: this.registry.bucket.bucketName,
        REGISTRY_KEY: this.registry.registryKey,
        ...(this.registry.manifestKey ? { MANIFEST_KEY: this.registry.manifestKey } : {}),
        ATHENA_WORKGROUP: this.workgroup.workgroupName,
        GLUE_DATABASE: this.logsTable.databaseName,
        LOGS_TABLE: this.logsTable.tableName,
        ROLLUP_TABLE: this.rollupTable.tableName,
        REGISTRY_PRINCIPALS_TABLE: this.registryTables.tableNames.principals,
        REGISTRY_CONTRACT_TERMS_TABLE: this.registryTables.tableNames.contractTerms,
        REGISTRY_IGNORED_REQUESTERS_TABLE: this.registryTables.tableNames.ignoredRequesters,
        REGISTRY_NETWORKS_TABLE: this.registryTables.tableNames.networks,
        // Without it the rollup writes 0 records: the registry names no manifest.
        ...(this.manifestTable ? { MANIFEST_TABLE: this.manifestTable.tableName } : {}),
        ...(config.requestIdLookbackDays
          ? { REQUEST_ID_LOOKBACK_DAYS: String(config.requestIdLookbackDays) }
          : {}),
        LEDGER_TABLE: this.notices.ledger.tableName,
        // Where the rollup checks that a delivery date still has log objects before replacing it.
        LOG_BUCKET: source.logBucket.bucketName,
        LOG_PARTITIONS_PREFIX: source.partitionsPrefix,
        SES_CONFIGURATION_SET: this.notices.configurationSetName,
        NOTICE_MODE: config.noticeMode,
        // The plan's nightly window and the evaluation's "final" (functions/audit/run-window.ts).
        SETTLING_DAYS: String(config.settlingDays),
        // Neither the plan nor the rollup reads a delivery date before the logs table's first projected one.
        LOGS_START_DATE: config.logsStartDate,
        // Each notify invocation paces itself; up to NOTIFY_CONCURRENCY run at once, sharing the account's rate.
        SES_MAX_SEND_RATE: String(config.sender.maxSendRate / NOTIFY_CONCURRENCY),
        POWERTOOLS_SERVICE_NAME: 'partner-audit',
        POWERTOOLS_METRICS_NAMESPACE: 'PartnerAudit',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
    });
    const { plan, rollup, aggregate, assess, assemble, notify, publish } = this.functions;
    // The registry is the configuration every step interprets (dataset depth, contracts, contacts).
    for (const fn of this.functions.all) this.registry.grantRead(fn);
    this.workgroup.grantRunQueries(rollup);
    this.logsTable.grantRead(rollup);
    source.grantListLogPartitions(rollup);
    this.rollupTable.grantReadWrite(rollup);
    this.manifestTable?.grantRead(rollup);
    this.workgroup.grantRunQueries(aggregate);
    this.rollupTable.grantRead(aggregate);
    this.registryTables.grantRead(aggregate);
    // Its UNLOADs write the sums under runs/ as this role (Athena checks the folder is empty first).
    this.reports.grantUnloadRuns(aggregate);
    // Each partner's step reads its folder of sums and writes its part; Assemble reads the parts.
    this.reports.grantListRuns(assess);
    this.reports.grantReadWriteRuns(assess);
    this.reports.grantListRuns(assemble);
    this.reports.grantReadWriteRuns(assemble);
    // Plan reads the rollup watermark; Aggregate, which runs once every batch is rolled up, advances it.
    this.notices.grantRollupWatermark(plan, 'read');
    this.notices.grantRollupWatermark(aggregate, 'advance');
    // Notify reads the evaluation and keeps each composed notice (.eml, .html) under runs/<runId>/notices/.
    this.reports.grantReadWriteRuns(notify);
    this.notices.grantLedger(notify);
    // In preview mode nothing is sent, so the notifier gets no SES permission at all.
    if (config.noticeMode === 'send') this.notices.grantSend(notify);
    this.reports.grantReadWriteRuns(publish);

    this.stateMachine = new AuditStateMachine(this, 'AuditRun', {
      functions: this.functions,
      notifyConcurrency: NOTIFY_CONCURRENCY,
      // With a request id lookback, two delivery dates rolled up at once could each keep a request
      // that the other also holds (each reads the other's ids before it commits): one at a time then.
      rollupConcurrency: config.requestIdLookbackDays > 0 ? 1 : 2,
      failureTopic: this.monitoring.topic,
    });
    this.monitoring.grantPublish(this.stateMachine.stateMachine);
    // The EvaluatePartners Map reads Aggregate's items object (runs/<runId>/partners.json).
    this.reports.grantReadRuns(this.stateMachine.stateMachine);
    this.maintenance = new RollupMaintenance(this, 'RollupMaintenance', {
      workgroup: this.workgroup,
      logsTable: this.logsTable,
      rollupTable: this.rollupTable,
      failureTopic: this.monitoring.topic,
      timeZone: config.schedule.timeZone,
      enabled: config.schedule.enabled,
    });
    this.monitoring.grantPublish(this.maintenance.stateMachine);
    this.schedule = new NightlySchedule(this, 'Nightly', {
      stateMachine: this.stateMachine.stateMachine,
      cron: config.schedule.cron,
      timeZone: config.schedule.timeZone,
      flexibleWindow: Duration.minutes(config.schedule.flexibleWindowMinutes),
      enabled: config.schedule.enabled,
    });

    this.monitoring.watchStateMachine(this.stateMachine.stateMachine, {
      expectNightlyRun: config.schedule.enabled,
    });
    this.monitoring.watchFunctions(this.functions.all);
    this.monitoring.watchAudit('PartnerAudit', 'partner-audit');
    this.monitoring.watchDeadLetterQueue(this.schedule.deadLetterQueue);
    this.monitoring.watchNotices(this.notices.configurationSetName);
    this.monitoring.watchQueries(this.workgroup.workgroupName);

    new CfnOutput(this, 'StateMachineConsoleUrl', {
      description: 'Start an ad hoc audit here ("Start execution"; input documented in the README)',
      value: this.stateMachine.consoleUrl,
    });
    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ReportBucketName', {
      description: 'Reports, usage CSVs and notice previews, under runs/<runId>/',
      value: this.reports.bucket.bucketName,
    });
    new CfnOutput(this, 'ConfigBucketName', {
      description: 'The deployed partner registry',
      value: this.registry.bucket.bucketName,
    });
    if (source.dataBucket) {
      new CfnOutput(this, 'DataBucketName', {
        description: 'The created data bucket whose access is audited',
        value: source.dataBucket.bucketName,
      });
    }
  }
}
