/**
 * Weekly upkeep of the Iceberg rollup table: a small Standard state machine of two Athena tasks,
 * OPTIMIZE of the recent partitions (BIN_PACK) then VACUUM, started by its own EventBridge Scheduler
 * schedule. Both run in the audit workgroup, so its bytes-scanned cutoff bounds them too. A commit
 * conflict with a nightly MERGE running at the same moment fails the task; it is retried with
 * backoff (and the nightly runner retries its own side of such a conflict).
 *
 * Written as CustomState rather than tasks.AthenaStartQueryExecution because that task grants itself
 * s3 on `*`, glue deletes on the database and lakeformation on `*`; here the grants come from the
 * workgroup and the rollup table's own grant methods, as for the Lambda steps.
 */
import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import {
  DEFAULT_OPTIMIZE_RECENT_DAYS,
  optimizeRollupSql,
  vacuumRollupSql,
} from '../../functions/adapters/athena/maintenance-sql.js';
import { isValidTimeZone } from '../../functions/domain/time.js';
import { creationSuffix } from '../creation-suffix.js';
import { cronProblem } from '../cron.js';
import { acknowledgeWildcardResource } from '../nag.js';
import type { LogsTable } from './logs-table.js';
import type { RollupTable } from './rollup-table.js';
import type { AuditWorkgroup } from './workgroup.js';

/** Props of {@link RollupMaintenance}. */
export interface RollupMaintenanceProps {
  readonly workgroup: AuditWorkgroup;
  readonly logsTable: LogsTable;
  readonly rollupTable: RollupTable;
  /** Told when the upkeep fails for good. */
  readonly failureTopic: sns.ITopic;
  /** IANA time zone of `cron`. */
  readonly timeZone: string;
  /**
   * Six-field EventBridge Scheduler cron: weekly, away from the nightly run.
   * @default '0 5 ? * SUN *' (Sundays 05:00)
   */
  readonly cron?: string;
  /**
   * Days back from today whose partitions OPTIMIZE rewrites.
   * @default DEFAULT_OPTIMIZE_RECENT_DAYS (45)
   */
  readonly recentDays?: number;
  /** @default true */
  readonly enabled?: boolean;
  /** @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/** The upkeep state machine and its schedule. */
export class RollupMaintenance extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly schedule: scheduler.Schedule;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RollupMaintenanceProps) {
    super(scope, id);
    const cron = props.cron ?? '0 5 ? * SUN *';
    const problem = cronProblem(cron);
    if (problem) throw new Error(`RollupMaintenance: cron "${cron}": ${problem}`);
    if (!isValidTimeZone(props.timeZone)) {
      throw new Error(`RollupMaintenance: timeZone must be an IANA time zone, got "${props.timeZone}"`);
    }
    const tables = {
      database: props.logsTable.databaseName,
      logsTable: props.logsTable.tableName,
      rollupTable: props.rollupTable.tableName,
    };
    const athenaTask = (stateId: string, sql: string, comment: string) => {
      const state = new sfn.CustomState(this, stateId, {
        stateJson: {
          Type: 'Task',
          Comment: comment,
          // .sync: the state waits for the query to end, and fails if it does not succeed.
          Resource: `arn:${Stack.of(this).partition}:states:::athena:startQueryExecution.sync`,
          Parameters: {
            QueryString: sql,
            WorkGroup: props.workgroup.workgroupName,
            QueryExecutionContext: { Database: tables.database },
          },
          ResultSelector: {
            'queryExecutionId.$': '$.QueryExecution.QueryExecutionId',
            'bytesScanned.$': '$.QueryExecution.Statistics.DataScannedInBytes',
          },
          ResultPath: `$.${stateId.charAt(0).toLowerCase()}${stateId.slice(1)}`,
          Retry: [
            {
              // A commit conflict with a nightly MERGE, or Athena being busy: try again a little later.
              ErrorEquals: ['States.TaskFailed', 'Athena.TooManyRequestsException'],
              IntervalSeconds: 60,
              BackoffRate: 2,
              MaxAttempts: 3,
              JitterStrategy: 'FULL',
            },
          ],
        },
      });
      return state;
    };
    const optimize = athenaTask(
      'OptimizeRecent',
      optimizeRollupSql(tables, props.recentDays ?? DEFAULT_OPTIMIZE_RECENT_DAYS).sql,
      'Compact the recent partitions of the rollup (BIN_PACK).',
    );
    const vacuum = athenaTask(
      'Vacuum',
      vacuumRollupSql(tables).sql,
      'Expire old snapshots and delete files no snapshot needs.',
    );
    const fail = new sfn.Fail(this, 'MaintenanceFailed', {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const reportFailure = new tasks.SnsPublish(this, 'ReportMaintenanceFailure', {
      topic: props.failureTopic,
      subject: 'partner-audit rollup maintenance failed',
      message: sfn.TaskInput.fromObject({
        execution: sfn.JsonPath.executionId,
        error: sfn.JsonPath.stringAt('$.error.Error'),
        cause: sfn.JsonPath.stringAt('$.error.Cause'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    reportFailure.next(fail);
    const onError = { resultPath: '$.error' };
    optimize.addCatch(reportFailure, onError);
    vacuum.addCatch(reportFailure, onError);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      // Unique to each creation of the stack: the group is retained, and a fixed name would stop a
      // deploy after `cdk destroy`.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-rollup-maintenance-${creationSuffix(this)}`,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(optimize.next(vacuum)),
      timeout: Duration.hours(2),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      comment: 'partner-audit: weekly OPTIMIZE and VACUUM of the usage rollup',
    });
    props.workgroup.grantRunQueries(this.stateMachine);
    props.rollupTable.grantReadWrite(this.stateMachine);
    acknowledgeWildcardResource(
      this.stateMachine,
      '*',
      'Execution logging (logs:*LogDelivery*, DescribeLogGroups) and X-Ray tracing do not support resource-level permissions.',
    );

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'partner-audit: weekly upkeep of the usage rollup',
      schedule: scheduler.ScheduleExpression.expression(`cron(${cron.trim()})`, TimeZone.of(props.timeZone)),
      timeWindow: scheduler.TimeWindow.flexible(Duration.minutes(30)),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({
          scheduledTime: scheduler.ContextAttribute.scheduledTime,
        }),
        retryAttempts: 3,
        maxEventAge: Duration.hours(6),
      }),
      enabled: props.enabled ?? true,
    });
  }
}
