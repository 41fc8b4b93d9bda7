/**
 * The nightly start: an EventBridge Scheduler schedule in the provider's time zone that starts the
 * state machine with `scheduledTime` set to the time the run was due (not when it happened to start),
 * so the audited day is deterministic even inside the flexible window or after a retry. Starts that
 * fail after the retries land in an encrypted dead-letter queue.
 */
import { Annotations, Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { clockChanges, isValidTimeZone } from '../../functions/domain/time.js';
import { cronProblem } from '../cron.js';
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
  /**
   * The year whose clock changes synth checks the schedule against (it warns about a local time that
   * a spring-forward night skips).
   * @default the current year
   */
  readonly clockCheckYear?: number;
}

/** What a zone's clock changes in one year do to a schedule's local times. */
export interface ScheduleClockNotes {
  /** Local times that do not exist on a spring-forward night: Scheduler does not run then. */
  readonly skipped: readonly string[];
  /** Local times that occur twice on a fall-back night (Scheduler runs once). */
  readonly repeated: readonly string[];
}

/** The minutes or hours an EventBridge cron field (already valid) selects. */
function cronValues(field: string, min: number, max: number): number[] {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const [range = '*', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const [lo, hi] =
      range === '*'
        ? [min, max]
        : range.includes('-')
          ? range.split('-').map(Number)
          : [Number(range), stepText === undefined ? Number(range) : max];
    for (let v = lo ?? min; v <= (hi ?? max); v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

const hhmm = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/**
 * Which of a cron's local times (minutes and hours fields) fall in `timeZone`'s clock changes of
 * `year`. Day fields are not considered: a time is listed if the schedule could fire that night.
 */
export function scheduleClockNotes(cron: string, timeZone: string, year: number): ScheduleClockNotes {
  const [minutes = '0', hours = '0'] = cron.trim().split(/\s+/);
  const times = cronValues(hours, 0, 23).flatMap((h) => cronValues(minutes, 0, 59).map((m) => h * 60 + m));
  const skipped: string[] = [];
  const repeated: string[] = [];
  for (const change of clockChanges(Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1), timeZone)) {
    const shift = (change.offsetAfterMs - change.offsetBeforeMs) / 60_000;
    // Forward: the wall clock jumps over [at, at + shift). Back: it runs [at - |shift|, at) again.
    const start = shift > 0 ? change.localMinute : change.localMinute + shift;
    const length = Math.abs(shift);
    const hit = times.filter((t) => (((t - start) % 1440) + 1440) % 1440 < length);
    if (hit.length === 0) continue;
    const when = `${hit.map(hhmm).join(', ')} on ${change.localDate}`;
    if (shift > 0) {
      skipped.push(
        `${when} (the clock jumps from ${hhmm(change.localMinute)} to ${hhmm((change.localMinute + shift) % 1440)})`,
      );
    } else {
      repeated.push(
        `${when} (the clock goes back from ${hhmm(change.localMinute)} to ${hhmm((start + 1440) % 1440)})`,
      );
    }
  }
  return { skipped, repeated };
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
    const notes = scheduleClockNotes(
      props.cron,
      props.timeZone,
      props.clockCheckYear ?? new Date().getUTCFullYear(),
    );
    if (notes.skipped.length > 0) {
      Annotations.of(this).addWarningV2(
        'partner-audit:schedule-in-dst-gap',
        `schedule "${props.cron}" in ${props.timeZone}: ${notes.skipped.join('; ')} does not exist, so ` +
          "EventBridge Scheduler does not start that night's run. The next run rolls up the delivery dates " +
          'it missed (the rollup watermark), a day late; choose a time outside the change to avoid the delay.',
      );
    }
    if (notes.repeated.length > 0) {
      Annotations.of(this).addInfo(
        `schedule "${props.cron}" in ${props.timeZone}: ${notes.repeated.join('; ')} occurs twice; ` +
          'Scheduler starts the run once, and a second run on one UTC date would roll up nothing twice.',
      );
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
