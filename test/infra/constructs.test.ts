import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { AccessLogSource } from '../../lib/constructs/access-log-source.js';
import { LogsTable } from '../../lib/constructs/logs-table.js';
import { ManifestTable } from '../../lib/constructs/manifest-table.js';
import { Monitoring } from '../../lib/constructs/monitoring.js';
import { Notices } from '../../lib/constructs/notices.js';
import { RegistryTables } from '../../lib/constructs/registry-tables.js';
import { NightlySchedule } from '../../lib/constructs/schedule.js';
import { AuditWorkgroup } from '../../lib/constructs/workgroup.js';
import { FEATURE_FLAGS } from '../../lib/partner-audit-stack.js';

function scope() {
  // The constructs are written against the stack's feature flags (bucket-policy log delivery).
  const stack = new Stack(new App({ context: { ...FEATURE_FLAGS } }), 'S');
  return { stack, logs: new s3.Bucket(stack, 'Logs') };
}

const existing = { logBucketName: 'acme-logs', logPrefix: 's3-access/', sourceBucket: 'acme-data' };

describe('constructs refuse invalid combinations', () => {
  it('AccessLogSource needs exactly one of an existing log bucket and create', () => {
    const { stack, logs } = scope();
    expect(
      () => new AccessLogSource(stack, 'Both', { existing, create: { serverAccessLogs: logs } }),
    ).toThrow(/exactly one of `existing`/);
    expect(() => new AccessLogSource(stack, 'None', {})).toThrow(/exactly one of `existing`/);
    expect(
      () => new AccessLogSource(stack, 'Prefix', { existing: { ...existing, logPrefix: 'logs' } }),
    ).toThrow(/logPrefix must be '' or end in \//);
  });

  it('AuditWorkgroup keeps the cutoff at or above Athena’s 10 MB minimum', () => {
    const { stack, logs } = scope();
    expect(
      () =>
        new AuditWorkgroup(stack, 'W', {
          workgroupName: 'w',
          bytesScannedCutoffPerQuery: 9_999_999,
          serverAccessLogs: logs,
        }),
    ).toThrow(/bytesScannedCutoffPerQuery must be an integer of at least 10000000/);
  });

  it('LogsTable wants Glue-safe names and a calendar start date', () => {
    const { stack, logs } = scope();
    const source = new AccessLogSource(stack, 'Src', { create: { serverAccessLogs: logs } });
    expect(
      () => new LogsTable(stack, 'A', { source, databaseName: 'Partner-Audit', startDate: '2026-01-01' }),
    ).toThrow(/databaseName must be lower-case/);
    expect(() => new LogsTable(stack, 'B', { source, databaseName: 'pa', startDate: '2026-13-01' })).toThrow(
      /startDate must be YYYY-MM-DD/,
    );
  });

  it('ManifestTable wants a Glue-safe name of its own and an object in a folder of its own', () => {
    const { stack, logs } = scope();
    const source = new AccessLogSource(stack, 'Src', { create: { serverAccessLogs: logs } });
    const logsTable = new LogsTable(stack, 'L', { source, databaseName: 'pa', startDate: '2026-01-01' });
    const bucket = new s3.Bucket(stack, 'Config');
    const objectKey = 'registry/manifest-table/manifest.csv';
    expect(
      () => new ManifestTable(stack, 'A', { logsTable, bucket, objectKey, tableName: 'Manifest' }),
    ).toThrow(/tableName must be lower-case/);
    expect(
      () => new ManifestTable(stack, 'B', { logsTable, bucket, objectKey, tableName: 'access_logs' }),
    ).toThrow(/already the logs table's name/);
    for (const bad of ['manifest.csv', 'registry/', '/manifest.csv']) {
      expect(() => new ManifestTable(stack, `C${bad}`, { logsTable, bucket, objectKey: bad }), bad).toThrow(
        /objectKey must name an object in a folder/,
      );
    }
    expect(new ManifestTable(stack, 'D', { logsTable, bucket, objectKey }).folder).toBe(
      'registry/manifest-table/',
    );
  });

  it('RegistryTables wants Glue-safe, distinct names and each object alone in its folder', () => {
    const { stack, logs } = scope();
    const source = new AccessLogSource(stack, 'Src', { create: { serverAccessLogs: logs } });
    const logsTable = new LogsTable(stack, 'L', { source, databaseName: 'pa', startDate: '2026-01-01' });
    const bucket = new s3.Bucket(stack, 'Config');
    const objectKeys = {
      principals: 'registry/p/principals.jsonl',
      contractTerms: 'registry/t/terms.jsonl',
      ignoredRequesters: 'registry/i/ignored.jsonl',
      networks: 'registry/n/networks.jsonl',
    };
    expect(
      () =>
        new RegistryTables(stack, 'A', { logsTable, bucket, objectKeys, tableNames: { principals: 'P' } }),
    ).toThrow(/tableNames.principals must be lower-case/);
    expect(
      () =>
        new RegistryTables(stack, 'B', {
          logsTable,
          bucket,
          objectKeys,
          tableNames: { principals: 'access_logs' },
        }),
    ).toThrow(/already the logs table's name/);
    expect(
      () =>
        new RegistryTables(stack, 'C', {
          logsTable,
          bucket,
          objectKeys,
          tableNames: { principals: 'same', contractTerms: 'same' },
        }),
    ).toThrow(/table names must differ/);
    expect(
      () =>
        new RegistryTables(stack, 'D', {
          logsTable,
          bucket,
          objectKeys: { ...objectKeys, contractTerms: 'registry/p/terms.jsonl' },
        }),
    ).toThrow(/alone in its folder/);
    expect(
      () =>
        new RegistryTables(stack, 'E', {
          logsTable,
          bucket,
          objectKeys: { ...objectKeys, principals: 'p.jsonl' },
        }),
    ).toThrow(/objectKeys.principals must name an object in a folder/);
    expect(new RegistryTables(stack, 'F', { logsTable, bucket, objectKeys }).tableNames).toEqual({
      principals: 'registry_principals',
      contractTerms: 'registry_contract_terms',
      ignoredRequesters: 'registry_ignored_requesters',
      networks: 'registry_networks',
    });
  });

  it('NightlySchedule refuses a bad cron, an unknown time zone and a window over a day', () => {
    const { stack } = scope();
    const stateMachine = new sfn.StateMachine(stack, 'M', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'P')),
    });
    expect(
      () => new NightlySchedule(stack, 'A', { stateMachine, cron: '0 3 * * *', timeZone: 'UTC' }),
    ).toThrow(/cron "0 3 \* \* \*": must have 6 fields/);
    expect(
      () =>
        new NightlySchedule(stack, 'B', { stateMachine, cron: '0 3 * * ? *', timeZone: 'Europe/Atlantis' }),
    ).toThrow(/timeZone must be an IANA time zone/);
  });

  it('Notices and Monitoring refuse malformed identities and addresses', () => {
    const { stack } = scope();
    expect(() => new Notices(stack, 'N', { identity: 'not a domain', configurationSetName: 'x' })).toThrow(
      /identity must be an email address or a domain name/,
    );
    expect(
      () => new Notices(stack, 'N2', { identity: 'provider.example', configurationSetName: 'bad name' }),
    ).toThrow(/configurationSetName must be/);
    expect(() => new Monitoring(stack, 'M', { alarmEmail: 'ops' })).toThrow(
      /alarmEmail must be an email address/,
    );
  });
});
