/**
 * The nightly start: an EventBridge Scheduler schedule in the provider's time zone that starts the
 * state machine with `scheduledTime` set to the time the run was due (not when it happened to start),
 * so the audited day is deterministic even inside the flexible window or after a retry. Starts that
 * fail after the retries land in an encrypted dead-letter queue.
 */
import { Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { isValidTimeZone } from '../../functions/domain/time.js';
import { cronProblem } from '../config.js';
import { acknowledge } from '../nag.js';

/** Props of {@link NightlySchedule}. */
export interface NightlyScheduleProps {
  /** What to start. */
  readonly stateMachine: sfn.IStateMachine;
  /** Six-field EventBridge Scheduler cron, without `cron(...)`, e.g. `30 2 * * ? *`. */
  readonly cron: string;
  /** IANA time zone the cron is read in, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
  /**
   * Scheduler may start the run anywhere in this window after the due time.
   * @default 15 minutes
   */
  readonly flexibleWindow?: Duration;
  /**
   * How often Scheduler retries a failed StartExecution.
   * @default 5
   */
  readonly retryAttempts?: number;
  /**
   * How long Scheduler keeps retrying before it gives up and dead-letters the start.
   * @default 6 hours
   */
  readonly maxEventAge?: Duration;
  /**
   * @default true
   */
  readonly enabled?: boolean;
}

/** The schedule, its target and its dead-letter queue. */
export class NightlySchedule extends Construct {
  readonly schedule: scheduler.Schedule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: NightlyScheduleProps) {
    super(scope, id);
    const problem = cronProblem(props.cron);
    if (problem) throw new Error(`NightlySchedule: cron "${props.cron}": ${problem}`);
    if (!isValidTimeZone(props.timeZone)) {
      throw new Error(`NightlySchedule: timeZone must be an IANA time zone, got "${props.timeZone}"`);
    }
    const retryAttempts = props.retryAttempts ?? 5;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
      throw new Error(`NightlySchedule: retryAttempts must be an integer 0-185, got ${retryAttempts}`);
    }
    const window = props.flexibleWindow ?? Duration.minutes(15);
    if (window.toMinutes() < 1 || window.toMinutes() > 1440) {
      throw new Error('NightlySchedule: flexibleWindow must be 1 minute to 24 hours');
    }
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.deadLetterQueue,
      'SQS3',
      'This queue is itself the dead-letter queue of the nightly schedule; messages here raise an alarm.',
    );
    const target = new targets.StepFunctionsStartExecution(props.stateMachine, {
      input: scheduler.ScheduleTargetInput.fromObject({
        scheduledTime: scheduler.ContextAttribute.scheduledTime,
        reason: 'nightly schedule',
      }),
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts,
      maxEventAge: props.maxEventAge ?? Duration.hours(6),
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'partner-audit: nightly audit run',
      schedule: scheduler.ScheduleExpression.expression(
        `cron(${props.cron.trim()})`,
        TimeZone.of(props.timeZone),
      ),
      timeWindow: scheduler.TimeWindow.flexible(window),
      target,
      enabled: props.enabled ?? true,
    });
  }
}
