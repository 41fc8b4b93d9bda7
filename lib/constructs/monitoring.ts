/**
 * Operations: an encrypted SNS topic that alarms and failed runs publish to (with an optional email
 * subscription), alarms on failed or timed-out executions, on a night without a successful run, on
 * function errors and on the schedule's dead-letter queue, and one dashboard with runs, notices,
 * failures and Athena bytes scanned. Register what to watch with the `watch*` methods.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardAction } from '../nag.js';
import type { AuditFunction } from './audit-functions.js';
import { SES_METRIC_DIMENSION } from './notices.js';

/** Props of {@link Monitoring}. */
export interface MonitoringProps {
  /**
   * Subscribed to the alarm topic (the address must confirm the subscription).
   * @default no subscription
   */
  readonly alarmEmail?: string;
  /**
   * @default '<stack name>-partner-audit'
   */
  readonly dashboardName?: string;
}

/** The alarm topic, the alarms and the dashboard. */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly action: actions.SnsAction;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    if (props.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alarmEmail)) {
      throw new Error(`Monitoring: alarmEmail must be an email address, got "${props.alarmEmail}"`);
    }
    const key = new kms.Key(this, 'TopicKey', {
      description: 'partner-audit alarm topic encryption',
      enableKeyRotation: true,
    });
    // CloudWatch alarms can only publish to an encrypted topic whose key lets CloudWatch use it. Only
    // this account's alarms may: without the conditions any account's alarm could use the key
    // through the service (the confused-deputy problem).
    const stack = Stack.of(this);
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'partner-audit alarms',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    this.action = new actions.SnsAction(this.topic);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${Stack.of(this).stackName}-partner-audit`,
      defaultInterval: Duration.days(14),
    });
  }

  /** Publish to the encrypted topic: sns:Publish plus use of the topic's key. */
  grantPublish(grantee: iam.IGrantable & IConstruct): void {
    this.topic.grantPublish(grantee);
    acknowledgeWildcardAction(
      grantee,
      'kms:GenerateDataKey*',
      'Granted by Topic.grantPublish (aws-cdk-lib) on the alarm topic’s own key only: SNS needs a data key to encrypt each message.',
    );
  }

  /** Alarm on failed, timed-out and missing runs; chart runs. */
  watchStateMachine(stateMachine: sfn.StateMachine, opts: { expectNightlyRun: boolean }): void {
    const day = Duration.days(1);
    this.alarm('ExecutionsFailed', stateMachine.metricFailed({ period: Duration.minutes(5) }), {
      description: 'An audit run failed (see the failure message on the topic and the execution).',
    });
    this.alarm('ExecutionsTimedOut', stateMachine.metricTimedOut({ period: Duration.minutes(5) }), {
      description: 'An audit run timed out.',
    });
    if (opts.expectNightlyRun) {
      this.alarm('NoSuccessfulRun', stateMachine.metricSucceeded({ period: day }), {
        description: 'No audit run succeeded in the last day: the schedule or the run is broken.',
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Runs',
        left: [
          stateMachine.metricStarted({ period: day, label: 'started' }),
          stateMachine.metricSucceeded({ period: day, label: 'succeeded' }),
          stateMachine.metricFailed({ period: day, label: 'failed' }),
          stateMachine.metricTimedOut({ period: day, label: 'timed out' }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Run duration',
        left: [
          stateMachine.metric('ExecutionTime', {
            statistic: 'Maximum',
            period: day,
            unit: cloudwatch.Unit.MILLISECONDS,
          }),
        ],
        width: 12,
      }),
    );
  }

  /** Alarm on any error of each function; chart errors and throttles as failures. */
  watchFunctions(functions: readonly AuditFunction[]): void {
    for (const fn of functions) {
      this.alarm(`${fn.node.id}Errors`, fn.function.metricErrors({ period: Duration.minutes(5) }), {
        description: `The ${fn.node.id} step function failed (retries may have recovered; see its logs).`,
      });
    }
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Failures: function errors and throttles',
        left: functions.map((fn) =>
          fn.function.metricErrors({ period: Duration.hours(1), label: `${fn.node.id} errors` }),
        ),
        right: functions.map((fn) =>
          fn.function.metricThrottles({ period: Duration.hours(1), label: `${fn.node.id} throttles` }),
        ),
        width: 12,
      }),
    );
  }

  /** Alarm as soon as anything is dead-lettered. */
  watchDeadLetterQueue(queue: sqs.IQueue): void {
    const depth = queue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    });
    this.alarm('DeadLetterQueueNotEmpty', depth, {
      description:
        'The nightly schedule could not start a run; the failed start is in the dead-letter queue.',
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Failures: schedule dead-letter queue', left: [depth], width: 12 }),
    );
  }

  /** Chart SES delivery events of the configuration set, and alarm on bounces or rejects. */
  watchNotices(configurationSetName: string): void {
    const ses = (metricName: string, period = Duration.days(1)) =>
      new cloudwatch.Metric({
        namespace: 'AWS/SES',
        metricName,
        dimensionsMap: { [SES_METRIC_DIMENSION]: configurationSetName },
        statistic: 'Sum',
        period,
        label: metricName.toLowerCase(),
      });
    this.alarm(
      'NoticesBouncedOrRejected',
      new cloudwatch.MathExpression({
        expression: 'FILL(b, 0) + FILL(r, 0)',
        usingMetrics: { b: ses('Bounce', Duration.hours(1)), r: ses('Reject', Duration.hours(1)) },
        period: Duration.hours(1),
        label: 'bounced or rejected notices',
      }),
      { description: 'A notice bounced or was rejected by SES: a partner may not have been told.' },
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Notices (SES events)',
        left: ['Send', 'Delivery', 'Bounce', 'Complaint', 'Reject'].map((m) => ses(m)),
        width: 12,
      }),
    );
  }

  /**
   * Chart what the audit itself reports (EMF metrics of the evaluate and notify functions): each
   * partner's highest utilisation of a monthly limit against the 100 % line, and notices sent or failed.
   */
  watchAudit(namespace: string, service: string): void {
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Usage per partner against its limit (%)',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${namespace},partner,period,service} MetricName="UtilisationPercent"', 'Maximum', 86400)`,
            period: Duration.days(1),
            label: '',
          }),
        ],
        leftAnnotations: [{ value: 100, label: 'limit', color: cloudwatch.Color.RED }],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Notices sent by the audit',
        left: ['NoticesSent', 'NoticesFailed', 'NoticesPreviewed'].map(
          (metricName) =>
            new cloudwatch.Metric({
              namespace,
              metricName,
              dimensionsMap: { service },
              statistic: 'Sum',
              period: Duration.days(1),
              label: metricName,
            }),
        ),
        width: 12,
      }),
    );
  }

  /** Chart the bytes Athena scanned in the workgroup (cost). */
  watchQueries(workgroupName: string): void {
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Athena bytes scanned',
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/Athena',
            metricName: 'ProcessedBytes',
            dimensionsMap: { WorkGroup: workgroupName },
            statistic: 'Sum',
            period: Duration.days(1),
          }),
        ],
        width: 12,
      }),
    );
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    opts: {
      description: string;
      comparisonOperator?: cloudwatch.ComparisonOperator;
      treatMissingData?: cloudwatch.TreatMissingData;
    },
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      alarmDescription: opts.description,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator:
        opts.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: opts.treatMissingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}
