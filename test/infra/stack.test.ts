import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_LOG_COLUMNS, ACCESS_LOG_REGEX } from '../../functions/adapters/athena/access-log-regex.js';
import { optimizeRollupSql, vacuumRollupSql } from '../../functions/adapters/athena/maintenance-sql.js';
import { MANIFEST_LINE_REGEX } from '../../functions/adapters/athena/manifest-csv.js';
import { LEDGER_INDEX, ledgerTableDefinition } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import { PartnerAuditStack } from '../../lib/partner-audit-stack.js';
import {
  actionsOfStep,
  configWith,
  EXISTING_LOGS,
  functionId,
  registryWithManifest,
  resourcesOf,
  type StateMachineDefinition,
  stateMachineDefinition,
  statementsOfStep,
  synth,
} from './helpers.js';

const STEPS = ['Plan', 'Rollup', 'Aggregate', 'Assess', 'Assemble', 'Notify', 'Publish'] as const;

/** The first 8 hex digits of the stack id's UUID, as CloudFormation resolves it on each creation. */
const CREATION_SUFFIX = {
  'Fn::Select': [
    0,
    { 'Fn::Split': ['-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }] },
  ],
};

/** A name that is `prefix` plus a part new with every creation of the stack. */
function STACK_UNIQUE_NAME(prefix: string) {
  return { 'Fn::Join': ['', [prefix, CREATION_SUFFIX]] };
}

/** The example deployment, sending notices, with an alarm email. */
let created: Template;
/** An existing log bucket, previewing notices. */
let existing: Template;
/** The example with a registry that names a dataset manifest. */
let withManifest: Template;
let definition: StateMachineDefinition;

beforeAll(() => {
  created = synth(configWith({ noticeMode: 'send', alarmEmail: 'ops@provider.example' })).template;
  existing = synth(configWith(EXISTING_LOGS)).template;
  withManifest = synth(configWith({ registryFile: registryWithManifest() })).template;
  definition = stateMachineDefinition(created);
});

describe('nightly schedule', () => {
  it('runs the cron in the configured time zone within a flexible window, retrying into a DLQ', () => {
    created.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 2 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 },
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { Ref: Match.stringLikeRegexp('^AuditRunStateMachine') },
        RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 6 * 3600 },
        DeadLetterConfig: {
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NightlyDeadLetterQueue'), 'Arn'] },
        },
      }),
    });
  });

  it('passes the scheduled time, not the start time, as the run input', () => {
    const [schedule] = Object.entries(created.findResources('AWS::Scheduler::Schedule'))
      .filter(([id]) => id.startsWith('Nightly'))
      .map(([, s]) => s);
    const input = JSON.parse((schedule!.Properties.Target as { Input: string }).Input);
    expect(input).toEqual({ scheduledTime: '<aws.scheduler.scheduled-time>', reason: 'nightly schedule' });
  });

  it('keeps dead-lettered starts encrypted and reachable only over TLS', () => {
    created.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1209600,
    });
    created.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('audit state machine', () => {
  it('is a Standard state machine with X-Ray and full execution logging', () => {
    created.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  it('runs plan, roll-up, aggregate, evaluate each partner, assemble, notify and publish in that order', () => {
    const order: string[] = [];
    for (let at: string | undefined = definition.StartAt; at; at = definition.States[at]?.Next)
      order.push(at);
    expect(order).toEqual([
      'StartRun',
      'Plan',
      'RollUp',
      'Aggregate',
      'EvaluatePartners',
      'Assemble',
      'Notify',
      'Publish',
      'AnyNoticeFailed',
    ]);
  });

  it('evaluates each partner in a Distributed Map over the items object Aggregate wrote, forty at a time', () => {
    expect(definition.States.EvaluatePartners).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 40,
      ItemReader: {
        Resource: expect.stringMatching(/:states:::s3:getObject$/),
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.aggregate.itemsBucket', 'Key.$': '$.aggregate.itemsKey' },
      },
      ItemSelector: {
        'runId.$': '$.runId',
        'aggregateKey.$': '$.aggregate.aggregateKey',
        'partnerId.$': '$$.Map.Item.Value.partnerId',
      },
      // The children's results are dropped: each partner's evaluation is in S3.
      ResultPath: null,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'AssessPartner',
      },
    });
    // Each child returns 12 bytes, whatever the partner: 1,000 partners make about 12 KB.
    expect(definition.States.EvaluatePartners?.ItemProcessor?.States.AssessPartner).toMatchObject({
      ResultSelector: { ok: true },
    });
  });

  it('gives Plan the execution input plus the execution name (the run id), and nothing else', () => {
    expect(definition.States.StartRun).toMatchObject({
      Type: 'Pass',
      QueryLanguage: 'JSONata',
      Output: '{% $merge([$states.input, {"executionName": $states.context.Execution.Name}]) %}',
    });
    expect(definition.States.Plan?.Parameters).toBeUndefined();
  });

  it('rolls up the planned delivery dates one at a time under the default request id lookback', () => {
    // Two at a time without a lookback: test/infra/request-ids.test.ts.
    const rollup = definition.States.RollUp!;
    expect(rollup).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.batches',
      MaxConcurrency: 1,
      ItemSelector: { 'batch.$': '$$.Map.Item.Value', 'runId.$': '$.runId' },
      ResultPath: '$.rollups',
    });
    expect(rollup.ItemProcessor?.StartAt).toBe('RollUpBatch');
  });

  it('notifies the partners to notify four at a time, each with the run, the evaluation and dry-run flag', () => {
    expect(definition.States.Notify).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.evaluation.partnersToNotify',
      MaxConcurrency: 4,
      ItemSelector: {
        'runId.$': '$.runId',
        'evaluationKey.$': '$.evaluation.evaluationKey',
        'partnerId.$': '$$.Map.Item.Value.partnerId',
        'dryRun.$': '$.dryRun',
      },
    });
  });

  it('hands aggregate, assemble and publish only the fields of the contract', () => {
    expect(definition.States.Aggregate?.Parameters).toEqual({
      'runId.$': '$.runId',
      'window.$': '$.window',
      'partners.$': '$.partners',
      'dryRun.$': '$.dryRun',
      'reason.$': '$.reason',
      'settling.$': '$.settling',
    });
    expect(definition.States.Aggregate?.ResultPath).toBe('$.aggregate');
    expect(definition.States.Assemble?.Parameters).toEqual({
      'runId.$': '$.runId',
      'aggregateKey.$': '$.aggregate.aggregateKey',
      'itemsKey.$': '$.aggregate.itemsKey',
    });
    expect(definition.States.Assemble?.ResultPath).toBe('$.evaluation');
    expect(definition.States.Publish?.Parameters).toEqual({
      'runId.$': '$.runId',
      'evaluationKey.$': '$.evaluation.evaluationKey',
      'notifyResults.$': '$.notifyResults',
      'rollups.$': '$.rollups',
    });
  });

  it('retries every Lambda step on service errors and RetryableError with backoff and full jitter', () => {
    const tasks = {
      Plan: definition.States.Plan,
      RollUpBatch: definition.States.RollUp?.ItemProcessor?.States.RollUpBatch,
      Aggregate: definition.States.Aggregate,
      AssessPartner: definition.States.EvaluatePartners?.ItemProcessor?.States.AssessPartner,
      Assemble: definition.States.Assemble,
      NotifyPartner: definition.States.Notify?.ItemProcessor?.States.NotifyPartner,
      Publish: definition.States.Publish,
    };
    for (const [name, task] of Object.entries(tasks)) {
      expect(task?.Retry, name).toEqual([
        expect.objectContaining({
          ErrorEquals: expect.arrayContaining([
            'RetryableError',
            'Lambda.ServiceException',
            'Lambda.TooManyRequestsException',
          ]),
          BackoffRate: 2,
          JitterStrategy: 'FULL',
          MaxAttempts: 5,
        }),
      ]);
    }
  });

  it('sends any step failure to ReportFailure, which publishes to the alarm topic and then fails', () => {
    for (const name of ['Plan', 'RollUp', 'Aggregate', 'EvaluatePartners', 'Assemble', 'Notify', 'Publish']) {
      expect(definition.States[name]?.Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ReportFailure' },
      ]);
    }
    expect(definition.States.ReportFailure).toMatchObject({ Type: 'Task', Next: 'AuditFailed' });
    expect(definition.States.AuditFailed).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.error.Error',
      CausePath: '$.error.Cause',
    });
  });

  it('records one partner’s failed notice, goes on, and fails the run after publishing', () => {
    const notify = definition.States.Notify?.ItemProcessor;
    expect(notify?.States.NotifyPartner?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordNoticeFailure' },
    ]);
    expect(notify?.States.RecordNoticeFailure?.Parameters).toMatchObject({ failed: true });
    expect(definition.States.AnyNoticeFailed).toMatchObject({
      Type: 'Choice',
      QueryLanguage: 'JSONata',
      Choices: [{ Condition: expect.stringContaining('failed = true'), Next: 'DescribeNoticeFailures' }],
      Default: 'Done',
    });
    expect(definition.States.DescribeNoticeFailures?.Next).toBe('ReportFailure');
  });

  it('lets the state machine publish to the encrypted topic', () => {
    created.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^AuditRunStateMachineRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'sns:Publish' }),
          Match.objectLike({
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringTopicKey'), 'Arn'] },
          }),
        ]),
      },
    });
  });
});

describe('Athena workgroup', () => {
  it('enforces its settings, engine v3, encrypted results and the bytes-scanned cutoff', () => {
    created.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: STACK_UNIQUE_NAME('PartnerAudit-audit-'),
      RecursiveDeleteOption: true,
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 100_000_000_000,
        PublishCloudWatchMetricsEnabled: true,
        RequesterPaysEnabled: false,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ResultConfiguration: {
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
          OutputLocation: Match.anyValue(),
        },
      },
    });
  });

  it('takes the cutoff from the settings', () => {
    const t = synth(configWith({ bytesScannedCutoffPerQuery: 25_000_000 })).template;
    t.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 25_000_000 }),
    });
  });

  it('expires query results', () => {
    created.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'athena-results/' }),
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ ExpirationInDays: 7, Status: 'Enabled' })],
      },
    });
  });
});

describe('access-log table', () => {
  const tableOf = (t: Template) =>
    Object.values(t.findResources('AWS::Glue::Table')).find(
      (r) => (r.Properties.TableInput as { Name: string }).Name === 'access_logs',
    )!.Properties as { DatabaseName: string; TableInput: Record<string, any> };

  it('parses every line with the shared ACCESS_LOG_REGEX into one string column per field', () => {
    const input = tableOf(created).TableInput;
    expect(input.StorageDescriptor.SerdeInfo).toEqual({
      SerializationLibrary: 'org.apache.hadoop.hive.serde2.RegexSerDe',
      Parameters: { 'input.regex': ACCESS_LOG_REGEX },
    });
    expect(input.StorageDescriptor.Columns).toEqual(
      ACCESS_LOG_COLUMNS.map((Name) => ({ Name, Type: 'string' })),
    );
    expect(input.StorageDescriptor.Columns).toHaveLength(27);
  });

  it('projects delivery_date partitions as dates from the logs start date to now', () => {
    const input = tableOf(created).TableInput;
    expect(input.PartitionKeys).toEqual([expect.objectContaining({ Name: 'delivery_date', Type: 'string' })]);
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.delivery_date.type': 'date',
      'projection.delivery_date.format': 'yyyy/MM/dd',
      'projection.delivery_date.range': '2026/01/01,NOW',
      'projection.delivery_date.interval': '1',
      'projection.delivery_date.interval.unit': 'DAYS',
    });
  });

  it('reads the PartitionedPrefix layout of an existing log bucket, one prefix per delivery date', () => {
    const input = tableOf(existing).TableInput;
    expect(input.Parameters['storage.location.template']).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's projection placeholder, literally.
      's3://acme-logs/s3-access/123456789012/eu-central-1/acme-data/${delivery_date}',
    );
    expect(input.StorageDescriptor.Location).toBe(
      's3://acme-logs/s3-access/123456789012/eu-central-1/acme-data/',
    );
  });

  it('creates the data bucket with delivery-time PartitionedPrefix access logs when asked to', () => {
    created.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: {
        DestinationBucketName: { Ref: Match.stringLikeRegexp('^AccessLogSourceLogBucket') },
        LogFilePrefix: 's3-access/',
        TargetObjectKeyFormat: { PartitionedPrefix: { PartitionDateSource: 'DeliveryTime' } },
      },
    });
  });

  it('lives in the stack’s Glue database', () => {
    created.hasResourceProperties('AWS::Glue::Database', {
      DatabaseInput: Match.objectLike({ Name: 'partner_audit' }),
    });
    expect(tableOf(created).DatabaseName).toBe('partner_audit');
  });
});

describe('rollup table', () => {
  it('is an Iceberg table with the rollup row’s columns, partitioned by day(slot_start)', () => {
    created.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: 'partner_audit',
      TableInput: Match.objectLike({ Name: 'usage_rollup' }),
      OpenTableFormatInput: {
        IcebergInput: {
          MetadataOperation: 'CREATE',
          Version: '2',
          IcebergTableInput: Match.objectLike({
            Schema: Match.objectLike({
              Fields: [
                { Id: 1, Name: 'slot_start', Type: 'timestamp', Required: false },
                { Id: 2, Name: 'bucket', Type: 'string', Required: false },
                { Id: 3, Name: 'requester', Type: 'string', Required: false },
                { Id: 4, Name: 'access_point', Type: 'string', Required: false },
                { Id: 5, Name: 'dataset', Type: 'string', Required: false },
                { Id: 6, Name: 'operation', Type: 'string', Required: false },
                { Id: 7, Name: 'status_class', Type: 'string', Required: false },
                { Id: 8, Name: 'requests', Type: 'long', Required: false },
                { Id: 9, Name: 'bytes_sent', Type: 'long', Required: false },
                { Id: 10, Name: 'records', Type: 'long', Required: false },
                { Id: 11, Name: 'batch', Type: 'string', Required: false },
                { Id: 12, Name: 'request_ids', Type: 'string', Required: false },
                { Id: 13, Name: 'grain', Type: 'string', Required: false },
                { Id: 14, Name: 'source_address', Type: 'string', Required: false },
                { Id: 15, Name: 'source_prefix', Type: 'string', Required: false },
                { Id: 16, Name: 'address_key', Type: 'string', Required: false },
                { Id: 17, Name: 'address_class', Type: 'string', Required: false },
                { Id: 18, Name: 'vpce', Type: 'string', Required: false },
                { Id: 19, Name: 'source_region', Type: 'string', Required: false },
                { Id: 20, Name: 'object_key', Type: 'string', Required: false },
                { Id: 21, Name: 'version_id', Type: 'string', Required: false },
                { Id: 22, Name: 'first_ms', Type: 'long', Required: false },
                { Id: 23, Name: 'last_ms', Type: 'long', Required: false },
                { Id: 24, Name: 'object_size', Type: 'long', Required: false },
                { Id: 25, Name: 'object_records', Type: 'long', Required: false },
                { Id: 26, Name: 'retrievals', Type: 'long', Required: false },
                { Id: 27, Name: 'full_retrievals', Type: 'long', Required: false },
              ],
            }),
            PartitionSpec: Match.objectLike({
              Fields: [
                Match.objectLike({ SourceId: 1, Transform: 'day' }),
                Match.objectLike({ SourceId: 13, Name: 'grain', Transform: 'identity' }),
              ],
            }),
          }),
        },
      },
    });
  });
});

describe('registry tables', () => {
  it.each([
    [
      'registry_principals',
      'principals-table',
      ['rank', 'match_on', 'match_key', 'partner_id', 'application_id', 'time_zone'],
    ],
    [
      'registry_contract_terms',
      'contract-terms-table',
      [
        'partner_id',
        'contract_ordinal',
        'contract_id',
        'effective_from',
        'effective_to',
        'term',
        'match_key',
      ],
    ],
    ['registry_ignored_requesters', 'ignored-requesters-table', ['match_key', 'anonymous']],
  ])('%s reads the canonical JSON Lines in registry/%s/ with the JSON SerDe', (name, folder, columns) => {
    created.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: 'partner_audit',
      TableInput: Match.objectLike({
        Name: name,
        TableType: 'EXTERNAL_TABLE',
        StorageDescriptor: Match.objectLike({
          Columns: columns.map((c) => ({ Name: c, Type: Match.anyValue() })),
          SerdeInfo: {
            SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            Parameters: { 'ignore.malformed.json': 'FALSE', 'case.insensitive': 'FALSE' },
          },
          Location: {
            'Fn::Join': [
              '',
              ['s3://', { Ref: Match.stringLikeRegexp('^RegistryConfigBucket') }, `/registry/${folder}/`],
            ],
          },
        }),
      }),
    });
  });

  it('deploys the canonical rows next to the registry, with or without a manifest', () => {
    const deployment = Object.values(created.findResources('Custom::CDKBucketDeployment'));
    expect(deployment).toHaveLength(1);
    // The registry and the four registry tables' rows.
    expect((deployment[0]!.Properties as { SourceObjectKeys: unknown[] }).SourceObjectKeys).toHaveLength(5);
  });
});

describe('dataset manifest table', () => {
  const manifestTableOf = (t: Template) =>
    Object.values(t.findResources('AWS::Glue::Table')).filter(
      (r) => (r.Properties.TableInput as { Name: string }).Name === 'dataset_manifest',
    );

  it('reads the canonical manifest CSV the registry deployment writes, with the shared regex', () => {
    const tables = manifestTableOf(withManifest);
    expect(tables).toHaveLength(1);
    const props = tables[0]!.Properties as { DatabaseName: string; TableInput: Record<string, any> };
    expect(props.DatabaseName).toBe('partner_audit');
    const storage = props.TableInput.StorageDescriptor;
    expect(storage.SerdeInfo).toEqual({
      SerializationLibrary: 'org.apache.hadoop.hive.serde2.RegexSerDe',
      Parameters: { 'input.regex': MANIFEST_LINE_REGEX },
    });
    expect(storage.Columns).toEqual([
      { Name: 'key_or_prefix', Type: 'string' },
      { Name: 'records', Type: 'bigint' },
    ]);
    // The folder of the canonical object alone, in the config bucket the deployment prunes.
    expect(storage.Location).toEqual({
      'Fn::Join': [
        '',
        ['s3://', { Ref: expect.stringMatching(/^RegistryConfigBucket/) }, '/registry/manifest-table/'],
      ],
    });
  });

  it('deploys the manifest as written and in its canonical form, next to the registry', () => {
    const deployments = Object.values(withManifest.findResources('Custom::CDKBucketDeployment'));
    expect(deployments).toHaveLength(1);
    const props = deployments[0]!.Properties as {
      SourceObjectKeys: unknown[];
      DestinationBucketKeyPrefix: string;
    };
    expect(props.DestinationBucketKeyPrefix).toBe('registry/');
    // The registry, the manifest as written and canonical, and the four registry tables' rows.
    expect(props.SourceObjectKeys).toHaveLength(7);
  });

  it('names the table to every function, as MANIFEST_TABLE next to MANIFEST_KEY', () => {
    for (const step of STEPS) {
      const env = (
        resourcesOf(withManifest)[functionId(withManifest, step)]!.Properties!.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
      expect(env, step).toMatchObject({
        MANIFEST_TABLE: 'dataset_manifest',
        MANIFEST_KEY: 'registry/manifest.csv',
      });
    }
  });

  it('lets rollup alone read the table and exactly its one object', () => {
    const text = JSON.stringify(statementsOfStep(withManifest, 'Rollup'));
    expect(text).toContain(':table/partner_audit/dataset_manifest');
    // Policies are minimised, so the object may share a GetObject statement with the logs and registry.
    const gets = statementsOfStep(withManifest, 'Rollup').filter((s) =>
      JSON.stringify(s.Resource).includes('/registry/manifest-table/'),
    );
    expect(gets.map((s) => s.Action)).toEqual(['s3:GetObject']);
    const objects = JSON.stringify(gets[0]!.Resource).match(/\/registry\/manifest-table\/[^"]*/g);
    expect(objects).toEqual(['/registry/manifest-table/manifest.csv']);
    const list = statementsOfStep(withManifest, 'Rollup').find(
      (s) => s.Action === 's3:ListBucket' && JSON.stringify(s.Resource).includes('RegistryConfigBucket'),
    );
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['registry/manifest-table/*'] } });
    for (const step of ['Plan', 'Aggregate', 'Assess', 'Assemble', 'Notify', 'Publish'] as const) {
      expect(JSON.stringify(statementsOfStep(withManifest, step)), step).not.toContain('dataset_manifest');
    }
  });

  it('is not created, nor named to the functions, when the registry names no manifest', () => {
    expect(manifestTableOf(created)).toHaveLength(0);
    const env = (
      resourcesOf(created)[functionId(created, 'Rollup')]!.Properties!.Environment as { Variables: object }
    ).Variables;
    expect(env).not.toHaveProperty('MANIFEST_TABLE');
  });
});

describe('notices', () => {
  it('has a ledger keyed by pk, on demand, with point-in-time recovery and KMS encryption', () => {
    created.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'partnerId', AttributeType: 'S' },
        { AttributeName: 'periodId', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
    });
  });

  it('has an SES configuration set requiring TLS and suppressing bounces and complaints', () => {
    created.hasResourceProperties('AWS::SES::ConfigurationSet', {
      // CloudFormation names it unless the settings do (see 'resource names' below).
      Name: Match.absent(),
      DeliveryOptions: { TlsPolicy: 'REQUIRE' },
      ReputationOptions: { ReputationMetricsEnabled: true },
      SuppressionOptions: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
    });
    created.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
      EventDestination: Match.objectLike({
        Enabled: true,
        MatchingEventTypes: Match.arrayWith(['send', 'delivery', 'bounce', 'reject']),
      }),
    });
  });

  it('creates the sender identity with the configuration set', () => {
    created.hasResourceProperties('AWS::SES::EmailIdentity', {
      EmailIdentity: 'provider.example',
      ConfigurationSetAttributes: {
        ConfigurationSetName: { Ref: Match.stringLikeRegexp('^NoticesConfigurationSet') },
      },
    });
  });
});

describe('alarms and dashboard', () => {
  const alarmsOn = (t: Template, metricName: string) =>
    Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) =>
        a.Properties.MetricName === metricName ||
        JSON.stringify(a.Properties.Metrics ?? []).includes(`"MetricName":"${metricName}"`),
    );

  it('alarms on failed and timed-out executions and on a day without a successful run', () => {
    expect(alarmsOn(created, 'ExecutionsFailed')).toHaveLength(1);
    expect(alarmsOn(created, 'ExecutionsTimedOut')).toHaveLength(1);
    created.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsSucceeded',
      ComparisonOperator: 'LessThanThreshold',
      Period: 86400,
      TreatMissingData: 'breaching',
    });
  });

  it('alarms on errors of each of the seven functions', () => {
    const errors = alarmsOn(created, 'Errors');
    expect(errors).toHaveLength(7);
    for (const step of STEPS) {
      expect(errors.map((a) => JSON.stringify(a.Properties.Dimensions))).toContainEqual(
        expect.stringContaining(functionId(created, step)),
      );
    }
  });

  it('alarms as soon as the schedule dead-letters a start, and on bounced or rejected notices', () => {
    created.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarmsOn(created, 'Bounce')).toHaveLength(1);
  });

  it('sends every alarm to the encrypted alarm topic, which mails the configured address', () => {
    const alarms = Object.values(created.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(10);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^MonitoringAlarmTopic/) }]);
    }
    created.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: Match.objectLike({
        'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringTopicKey'), 'Arn'],
      }),
    });
    created.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@provider.example',
    });
    created.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('has no email subscription when no alarm email is set', () => {
    existing.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('draws runs, notices and failures on one dashboard', () => {
    const [dashboard] = Object.values(created.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);
    for (const title of [
      'Runs',
      'Notices (SES events)',
      'Failures: function errors and throttles',
      'Athena bytes scanned',
      'Usage per partner against its limit (%)',
      'Notices sent by the audit',
    ]) {
      expect(body).toContain(title);
    }
    // Each partner's utilisation, from the evaluate function's EMF metric, against the 100 % line.
    expect(body).toMatch(/SEARCH\('\{PartnerAudit,partner,period,service\} MetricName=.*UtilisationPercent/);
    expect(body).toContain('NoticesSent');
  });
});

describe('buckets', () => {
  it('encrypts every bucket, blocks public access and enforces object ownership', () => {
    const buckets = Object.values(created.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(7);
    for (const b of buckets) {
      expect(b.Properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(b.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
  });

  it('refuses plain HTTP on every bucket', () => {
    const buckets = Object.keys(created.findResources('AWS::S3::Bucket'));
    const policies = Object.values(created.findResources('AWS::S3::BucketPolicy'));
    for (const id of buckets) {
      const policy = policies.find((p) => JSON.stringify(p.Properties.Bucket).includes(id));
      expect(JSON.stringify(policy?.Properties.PolicyDocument), id).toContain(
        '"aws:SecureTransport":"false"',
      );
    }
  });

  it('keeps reports versioned, logged and their old versions for 90 days', () => {
    created.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'reports/' }),
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 90 } })],
      },
    });
  });

  it('deploys the validated registry to the config bucket', () => {
    created.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketKeyPrefix: 'registry/',
      Prune: true,
      RetainOnDelete: true,
    });
  });
});

describe('audit functions', () => {
  it('run Node.js 22 on arm64, traced, with their own log groups', () => {
    for (const step of STEPS) {
      const fn = resourcesOf(created)[functionId(created, step)]!.Properties!;
      expect(fn, step).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: { Ref: expect.stringMatching(new RegExp(`^Functions${step}Logs`)) } },
      });
    }
  });

  it('get every variable of the contract, with the notice mode and send rate of the settings', () => {
    for (const step of STEPS) {
      const env = (
        resourcesOf(created)[functionId(created, step)]!.Properties!.Environment as { Variables: object }
      ).Variables;
      expect(Object.keys(env).sort(), step).toEqual(
        [
          'ATHENA_WORKGROUP',
          'GLUE_DATABASE',
          'LEDGER_TABLE',
          'LOGS_START_DATE',
          'LOGS_TABLE',
          'NOTICE_MODE',
          'POWERTOOLS_LOG_LEVEL',
          'POWERTOOLS_METRICS_NAMESPACE',
          'POWERTOOLS_SERVICE_NAME',
          'REGISTRY_BUCKET',
          'REGISTRY_KEY',
          'REGISTRY_PRINCIPALS_TABLE',
          'REGISTRY_CONTRACT_TERMS_TABLE',
          'REGISTRY_IGNORED_REQUESTERS_TABLE',
          'REGISTRY_NETWORKS_TABLE',
          'REPORT_BUCKET',
          'ROLLUP_TABLE',
          'SES_CONFIGURATION_SET',
          'SES_MAX_SEND_RATE',
          'LOG_BUCKET',
          'LOG_PARTITIONS_PREFIX',
          'REQUEST_ID_LOOKBACK_DAYS',
          'SETTLING_DAYS',
        ].sort(),
      );
      expect(env).toMatchObject({
        ATHENA_WORKGROUP: STACK_UNIQUE_NAME('PartnerAudit-audit-'),
        GLUE_DATABASE: 'partner_audit',
        LOGS_TABLE: 'access_logs',
        ROLLUP_TABLE: 'usage_rollup',
        REGISTRY_KEY: 'registry/registry.yaml',
        SES_CONFIGURATION_SET: { Ref: expect.stringMatching(/^NoticesConfigurationSet/) },
        LOGS_START_DATE: '2026-01-01',
        NOTICE_MODE: 'send',
        SES_MAX_SEND_RATE: '0.25', // the account's 1 a second, shared by 4 notify invocations at once
        POWERTOOLS_SERVICE_NAME: 'partner-audit',
        POWERTOOLS_METRICS_NAMESPACE: 'PartnerAudit',
      });
    }
  });
});

describe('least-privilege grants', () => {
  const has = (actions: string[], prefix: string) => actions.some((a) => a.startsWith(prefix));

  it('lets notify send raw email only from the identity with the configuration set, and run no queries', () => {
    const ses = statementsOfStep(created, 'Notify').filter((s) => JSON.stringify(s.Action).includes('ses:'));
    expect(ses).toHaveLength(1);
    expect(ses[0]!.Action).toBe('ses:SendRawEmail');
    const resources = JSON.stringify(ses[0]!.Resource);
    expect(resources).toMatch(/":identity\/",\{"Ref":"NoticesIdentity[0-9A-F]+"\}/);
    expect(resources).toMatch(/":configuration-set\/",\{"Ref":"NoticesConfigurationSet[0-9A-F]+"\}/);
    const actions = actionsOfStep(created, 'Notify');
    expect(has(actions, 'athena:')).toBe(false);
    expect(has(actions, 'glue:')).toBe(false);
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    const ledger = statementsOfStep(created, 'Notify').find((s) =>
      JSON.stringify(s.Action).includes('dynamodb:'),
    );
    expect(ledger?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^NoticesLedger/), 'Arn'] });
  });

  it('lets notify read the evaluation and keep composed notices, under runs/ only', () => {
    const s3 = statementsOfStep(created, 'Notify').filter((s) => JSON.stringify(s.Action).includes('s3:'));
    const runs = s3.filter((s) => JSON.stringify(s.Resource).includes('ReportsBucket'));
    expect(runs).toHaveLength(1);
    expect(runs[0]!.Action).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(JSON.stringify(runs[0]!.Resource)).toMatch(/"\/runs\/\*"\]\]\}$/);
  });

  it('gives notify no SES permission at all in preview mode', () => {
    expect(has(actionsOfStep(existing, 'Notify'), 'ses:')).toBe(false);
  });

  it('lets aggregate query the rollup and write run outputs, but not send mail or touch the notices or raw logs', () => {
    const actions = actionsOfStep(created, 'Aggregate');
    expect(actions).toEqual(expect.arrayContaining(['athena:StartQueryExecution', 's3:PutObject']));
    expect(has(actions, 'ses:')).toBe(false);
    // Of the ledger table, only the rollup watermark's item, and only to advance it.
    expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:UpdateItem']);
    expect(
      statementsOfStep(created, 'Aggregate').find((s) => s.Action === 'dynamodb:UpdateItem')?.Condition,
    ).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['#rollup-watermark'] } });
    expect(actions).not.toContain('glue:UpdateTable');
    expect(JSON.stringify(statementsOfStep(created, 'Aggregate'))).not.toContain('AccessLogSourceLogBucket');
  });

  it('lets each partner step and assemble list and read run outputs and write their own, nothing else', () => {
    for (const step of ['Assess', 'Assemble'] as const) {
      const actions = actionsOfStep(created, step).filter(
        (a) => !a.startsWith('logs:') && !a.startsWith('xray:'),
      );
      expect(new Set(actions), step).toEqual(new Set(['s3:GetObject', 's3:PutObject', 's3:ListBucket']));
      const list = statementsOfStep(created, step).find((s) => s.Action === 's3:ListBucket');
      expect(list?.Condition, step).toEqual({ StringLike: { 's3:prefix': ['runs/*'] } });
    }
  });

  it('lets rollup read the logs under their prefix only and commit to the rollup table', () => {
    const statements = statementsOfStep(existing, 'Rollup');
    const text = JSON.stringify(statements);
    expect(text).toContain('acme-logs/s3-access/123456789012/eu-central-1/acme-data/*');
    expect(actionsOfStep(existing, 'Rollup')).toEqual(
      expect.arrayContaining(['athena:StartQueryExecution', 'glue:UpdateTable', 's3:DeleteObject']),
    );
    const list = statements.find(
      (s) => s.Action === 's3:ListBucket' && JSON.stringify(s.Resource).includes('acme-logs'),
    );
    expect(list?.Condition).toEqual({
      StringLike: { 's3:prefix': ['s3-access/123456789012/eu-central-1/acme-data/*'] },
    });
    expect(has(actionsOfStep(existing, 'Rollup'), 'ses:')).toBe(false);
  });

  it('lets plan read the registry and the rollup watermark, and nothing else', () => {
    const actions = actionsOfStep(created, 'Plan').filter(
      (a) => !a.startsWith('logs:') && !a.startsWith('xray:'),
    );
    expect(actions.sort()).toEqual(['dynamodb:GetItem', 's3:GetObject']);
    expect(JSON.stringify(statementsOfStep(created, 'Plan'))).toContain('/registry/registry.yaml');
    const watermark = statementsOfStep(created, 'Plan').find((s) => s.Action === 'dynamodb:GetItem');
    expect(watermark?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^NoticesLedger/), 'Arn'] });
    expect(watermark?.Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['#rollup-watermark'] },
    });
  });

  it('tells every function the settling time and the first delivery date of the logs', () => {
    created.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SETTLING_DAYS: '3', LOGS_START_DATE: '2026-01-01' }) },
    });
    const changed = synth(configWith({ settlingDays: 5 })).template;
    changed.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SETTLING_DAYS: '5' }) },
    });
  });

  it('lets publish read and write run outputs only', () => {
    const actions = actionsOfStep(created, 'Publish').filter(
      (a) => !a.startsWith('logs:') && !a.startsWith('xray:'),
    );
    expect(new Set(actions)).toEqual(new Set(['s3:GetObject', 's3:PutObject']));
  });

  it('uses no AWS managed policies on the audit functions', () => {
    for (const step of STEPS) {
      const fn = resourcesOf(created)[functionId(created, step)]!;
      const roleId = (fn.Properties!.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
      expect(resourcesOf(created)[roleId]!.Properties!.ManagedPolicyArns, step).toBeUndefined();
    }
  });
});

describe('outputs', () => {
  it('gives the state machine console URL and the report bucket name', () => {
    created.hasOutput('StateMachineConsoleUrl', {
      Value: Match.objectLike({
        'Fn::Join': Match.arrayWith([
          Match.arrayWith([Match.stringLikeRegexp('console\\.aws\\.amazon\\.com/states/home')]),
        ]),
      }),
    });
    created.hasOutput('ReportBucketName', { Value: { Ref: Match.stringLikeRegexp('^ReportsBucket') } });
  });
});

describe('PartnerAuditStack in another app', () => {
  it('synthesises without the app setting any feature flag, with log delivery by bucket policy', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new PartnerAuditStack(app, 'Elsewhere', { config: configWith() });
    Template.fromStack(stack).hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' } }),
        ]),
      },
    });
  });
});

describe('resource names (a deploy after destroy, or a second stack, meets none of the old ones)', () => {
  it('names the retained execution log groups with a part unique to each creation of the stack', () => {
    created.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: STACK_UNIQUE_NAME('/aws/vendedlogs/states/PartnerAudit-audit-run-'),
    });
    created.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: STACK_UNIQUE_NAME('/aws/vendedlogs/states/PartnerAudit-rollup-maintenance-'),
    });
    const fixed = Object.values(created.findResources('AWS::Logs::LogGroup')).filter(
      (g) => typeof g.Properties?.LogGroupName === 'string',
    );
    expect(fixed).toEqual([]);
  });

  it('lets CloudFormation name the SES configuration set, and uses its generated name everywhere', () => {
    const sets = Object.values(created.findResources('AWS::SES::ConfigurationSet'));
    expect(sets).toHaveLength(1);
    expect(sets[0]!.Properties?.Name).toBeUndefined();
  });

  it('uses the names the settings give instead, when they give them', () => {
    const named = synth(
      configWith({
        athenaWorkgroupName: 'audit-wg',
        sender: { identity: 'provider.example', configurationSetName: 'partner-notices' },
      }),
    ).template;
    named.hasResourceProperties('AWS::Athena::WorkGroup', { Name: 'audit-wg' });
    named.hasResourceProperties('AWS::SES::ConfigurationSet', { Name: 'partner-notices' });
    const env = (
      resourcesOf(named)[functionId(named, 'Rollup')]!.Properties!.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(env['ATHENA_WORKGROUP']).toBe('audit-wg');
  });
});

describe('the ledger index', () => {
  it('is the index the DynamoDB ledger queries, on attributes every notice item has', () => {
    const def = ledgerTableDefinition('t');
    created.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: LEDGER_INDEX,
          KeySchema: def.GlobalSecondaryIndexes![0]!.KeySchema,
          Projection: def.GlobalSecondaryIndexes![0]!.Projection,
        },
      ],
    });
  });

  it('lets notify query that one index, and no other', () => {
    const query = statementsOfStep(created, 'Notify').filter((st) =>
      JSON.stringify(st.Action).includes('dynamodb:Query'),
    );
    expect(query).toHaveLength(1);
    expect(JSON.stringify(query[0]!.Resource)).toMatch(new RegExp(`"/index/${LEDGER_INDEX}"\\]\\]\\}$`));
    expect(actionsOfStep(created, 'Notify')).not.toContain('dynamodb:Scan');
  });
});

describe('rollup upkeep', () => {
  const maintenance = () =>
    Object.entries(created.findResources('AWS::StepFunctions::StateMachine')).find(([id]) =>
      id.startsWith('RollupMaintenanceStateMachine'),
    );

  function definitionOf(machine: { Properties?: Record<string, unknown> }): {
    StartAt: string;
    States: Record<
      string,
      {
        Type: string;
        Resource?: string;
        Next?: string;
        Parameters?: Record<string, unknown>;
        Retry?: unknown[];
      }
    >;
  } {
    const body = machine.Properties!['DefinitionString'] as { 'Fn::Join': [string, unknown[]] } | string;
    const text =
      typeof body === 'string'
        ? body
        : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
    return JSON.parse(text);
  }

  it('runs OPTIMIZE of the recent partitions, then VACUUM, each an Athena query the state waits for', () => {
    const found = maintenance();
    expect(found).toBeDefined();
    const def = definitionOf(found![1]);
    expect(def.StartAt).toBe('OptimizeRecent');
    const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
    expect(def.States['OptimizeRecent']).toMatchObject({
      Type: 'Task',
      Next: 'Vacuum',
      Parameters: {
        QueryString: optimizeRollupSql(tables).sql,
        QueryExecutionContext: { Database: 'partner_audit' },
      },
    });
    expect(def.States['OptimizeRecent']!.Resource).toMatch(/:states:::athena:startQueryExecution\.sync$/);
    expect(def.States['Vacuum']).toMatchObject({
      Type: 'Task',
      Parameters: { QueryString: vacuumRollupSql(tables).sql },
    });
    expect(def.States['Vacuum']!.Resource).toMatch(/:states:::athena:startQueryExecution\.sync$/);
    expect(def.States['OptimizeRecent']!.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: ['States.TaskFailed', 'Athena.TooManyRequestsException'] }),
    ]);
  });

  it("is started weekly by its own schedule, in the nightly schedule's time zone", () => {
    created.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 ? * SUN *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^RollupMaintenanceStateMachine') } }),
    });
  });

  it('may run queries in the audit workgroup and rewrite the rollup, and nothing on every bucket', () => {
    const policies = Object.values(created.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties?.Roles).includes('RollupMaintenanceStateMachineRole'),
    );
    const statements = policies.flatMap(
      (p) =>
        (p.Properties!.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
          .Statement,
    );
    const actions = statements.flatMap((st) => [st.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining(['athena:StartQueryExecution', 'glue:UpdateTable', 's3:PutObject']),
    );
    expect(actions.some((a) => a.startsWith('lakeformation:') || a === 'glue:DeleteDatabase')).toBe(false);
    const onEverything = statements.filter((st) => st.Resource === '*').flatMap((st) => [st.Action].flat());
    expect(
      onEverything.some((a) => a.startsWith('s3:') || a.startsWith('athena:') || a.startsWith('glue:')),
    ).toBe(false);
  });
});

describe('rollup: only from logs that are there', () => {
  it('gives the roll-up the log bucket and the prefix above its delivery dates, and lets it list only there', () => {
    const env = (
      resourcesOf(existing)[functionId(existing, 'Rollup')]!.Properties!.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(env['LOG_BUCKET']).toBe('acme-logs');
    expect(env['LOG_PARTITIONS_PREFIX']).toBe('s3-access/123456789012/eu-central-1/acme-data/');
    const list = statementsOfStep(existing, 'Rollup').filter((st) => st.Action === 's3:ListBucket');
    expect(list.length).toBeGreaterThan(0);
    for (const st of list) {
      expect(st.Condition).toEqual({
        StringLike: { 's3:prefix': ['s3-access/123456789012/eu-central-1/acme-data/*'] },
      });
    }
  });
});

describe('key policy', () => {
  it("lets CloudWatch use the alarm topic's key only for this account's alarms", () => {
    const keys = Object.values(created.findResources('AWS::KMS::Key'));
    const statements = keys.flatMap(
      (k) =>
        (
          k.Properties!['KeyPolicy'] as {
            Statement: { Principal?: { Service?: unknown }; Condition?: unknown }[];
          }
        ).Statement,
    );
    const services = statements.filter((st) => st.Principal?.Service !== undefined);
    expect(services.length).toBeGreaterThan(0);
    for (const st of services) {
      expect(st.Condition).toMatchObject({
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': expect.anything() },
      });
    }
    expect(JSON.stringify(services[0]!.Condition)).toContain(':alarm:*');
  });
});

describe('SES sandbox', () => {
  it('lets notify send to the verified recipients the settings list, as the sandbox requires', () => {
    const sandboxed = synth(
      configWith({
        noticeMode: 'send',
        sender: { identity: 'provider.example', sandboxRecipients: ['owner@partner.example'] },
      }),
    ).template;
    const ses = statementsOfStep(sandboxed, 'Notify').filter((st) =>
      JSON.stringify(st.Action).includes('ses:'),
    );
    expect(ses).toHaveLength(1);
    expect(JSON.stringify(ses[0]!.Resource)).toContain(':identity/owner@partner.example');
    const plain = statementsOfStep(created, 'Notify').filter((st) =>
      JSON.stringify(st.Action).includes('ses:'),
    );
    expect(JSON.stringify(plain[0]!.Resource)).not.toContain('@');
  });
});
