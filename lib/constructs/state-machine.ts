/**
 * The run, as a Standard state machine:
 * StartRun -> Plan -> RollUp (Map over delivery dates) -> Aggregate -> EvaluatePartners (Distributed
 * Map over the partners in S3) -> Assemble -> Notify (Map over partners) -> Publish.
 * Steps pass S3 keys, never data, to stay far under the 256 KiB payload limit: Aggregate leaves the
 * partners to evaluate in an S3 object that the Distributed Map reads with its ItemReader, each
 * partner's evaluation leaves its part in S3 and returns nothing to the Map, and Assemble reads the
 * parts by key (issue 13). Lambda service errors
 * and errors named RetryableError are retried with exponential backoff and full jitter; anything else
 * goes to ReportFailure, which tells the alarm topic and fails the execution with the original error.
 * One partner's failed notice does not stop the others: it is recorded, the report is still
 * published, and the execution then fails so the failure is seen.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { creationSuffix } from '../creation-suffix.js';
import { acknowledgeWildcardResource, acknowledgeWildcardResourcesMatching } from '../nag.js';
import type { AuditFunctions } from './audit-functions.js';

/** Errors a step is retried on. `RetryableError` is what the handlers throw for transient failures. */
export const RETRYABLE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'RetryableError',
];

/** Props of {@link AuditStateMachine}. */
export interface AuditStateMachineProps {
  readonly functions: AuditFunctions;
  /** Failures are published here. */
  readonly failureTopic: sns.ITopic;
  /**
   * Delivery dates rolled up at once (each runs Athena queries).
   * @default 2
   */
  readonly rollupConcurrency?: number;
  /**
   * Partners evaluated at once by the EvaluatePartners Distributed Map (each a child execution and
   * one Lambda invocation).
   * @default 40
   */
  readonly evaluateConcurrency?: number;
  /**
   * Partners notified at once (each sends through SES under the send rate).
   * @default 4
   */
  readonly notifyConcurrency?: number;
  /**
   * Attempts of a step on a retryable error, the first included.
   * @default 6
   */
  readonly maxAttempts?: number;
  /**
   * Longest a run may take.
   * @default 6 hours
   */
  readonly timeout?: Duration;
  /**
   * Days to keep execution logs.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** The audit run state machine. */
export class AuditStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AuditStateMachineProps) {
    super(scope, id);
    const rollupConcurrency = props.rollupConcurrency ?? 2;
    const notifyConcurrency = props.notifyConcurrency ?? 4;
    const evaluateConcurrency = props.evaluateConcurrency ?? 40;
    const maxAttempts = props.maxAttempts ?? 6;
    for (const [name, v, max] of [
      ['rollupConcurrency', rollupConcurrency, 40],
      ['evaluateConcurrency', evaluateConcurrency, 1000],
      ['notifyConcurrency', notifyConcurrency, 40],
      ['maxAttempts', maxAttempts, 20],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > max) {
        throw new Error(`AuditStateMachine: ${name} must be an integer 1-${max}, got ${v}`);
      }
    }
    const f = props.functions;
    const invoke = (
      stateId: string,
      fn: AuditFunctions['plan'],
      options: {
        payload?: sfn.TaskInput;
        resultPath?: string;
        resultSelector?: Record<string, unknown>;
      } = {},
    ) => {
      const task = new tasks.LambdaInvoke(this, stateId, {
        lambdaFunction: fn.function,
        payloadResponseOnly: true,
        // Replaced by the retry below, which adds jitter and our own error.
        retryOnServiceExceptions: false,
        ...options,
      });
      task.addRetry({
        errors: RETRYABLE_ERRORS,
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts: maxAttempts - 1,
        maxDelay: Duration.minutes(2),
        jitterStrategy: sfn.JitterType.FULL,
      });
      return task;
    };

    const fail = new sfn.Fail(this, 'AuditFailed', {
      comment: 'The run failed; the error and cause are those of the step that failed.',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const reportFailure = new tasks.SnsPublish(this, 'ReportFailure', {
      topic: props.failureTopic,
      subject: 'partner-audit run failed',
      message: sfn.TaskInput.fromObject({
        execution: sfn.JsonPath.executionId,
        error: sfn.JsonPath.stringAt('$.error.Error'),
        cause: sfn.JsonPath.stringAt('$.error.Cause'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    reportFailure.addRetry({
      interval: Duration.seconds(2),
      maxAttempts: 3,
      jitterStrategy: sfn.JitterType.FULL,
    });
    reportFailure.next(fail);
    const onError = { resultPath: '$.error' };

    // Plan gets the execution input plus the execution's name, its run id (a redriven execution keeps
    // it). Plan validates the input and says what is wrong with it.
    const start = sfn.Pass.jsonata(this, 'StartRun', {
      comment: 'The execution input plus executionName, for Plan.',
      outputs: '{% $merge([$states.input, {"executionName": $states.context.Execution.Name}]) %}',
    });
    const plan = invoke('Plan', f.plan).addCatch(reportFailure, onError);

    const rollup = new sfn.Map(this, 'RollUp', {
      comment: 'Roll up each delivery date (yyyy/MM/dd) of access logs; rerun-safe per date.',
      itemsPath: '$.batches',
      // The run id goes into every Athena ClientRequestToken, so a retried step resumes its own queries.
      itemSelector: {
        batch: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
        runId: sfn.JsonPath.stringAt('$.runId'),
      },
      // Adjacent delivery dates write the same days (late records), so two MERGEs can race for one
      // Iceberg commit. They are not serialised here: a nightly and an ad hoc execution can race the
      // same way, which no maxConcurrency prevents. Instead the loser of a race (ICEBERG_COMMIT_ERROR)
      // is resubmitted with jittered backoff by the query runner, then retried as RetryableError by
      // this state machine; the MERGE is idempotent, so a rerun never double counts.
      maxConcurrency: rollupConcurrency,
      resultPath: '$.rollups',
    });
    rollup.itemProcessor(invoke('RollUpBatch', f.rollup));
    rollup.addCatch(reportFailure, onError);

    // Aggregate's output is kept beside the plan: { runId, aggregateKey, itemsBucket, itemsKey, ... }.
    const aggregate = invoke('Aggregate', f.aggregate, {
      payload: sfn.TaskInput.fromObject({
        runId: sfn.JsonPath.stringAt('$.runId'),
        window: sfn.JsonPath.objectAt('$.window'),
        partners: sfn.JsonPath.listAt('$.partners'),
        dryRun: sfn.JsonPath.objectAt('$.dryRun'),
        reason: sfn.JsonPath.objectAt('$.reason'),
        // Reached only once every batch is rolled up: Aggregate records the plan's watermark.
        settling: sfn.JsonPath.objectAt('$.settling'),
      }),
      resultPath: '$.aggregate',
    });
    aggregate.addCatch(reportFailure, onError);

    // Each child returns { "ok": true } whatever the partner: its evaluation is in S3, so the Map's
    // collected output stays 12 bytes a partner (about 12 KB at 1,000 partners) and is dropped.
    const assessOne = invoke('AssessPartner', f.assess, {
      resultSelector: { ok: true },
    });
    const evaluatePartners = new sfn.DistributedMap(this, 'EvaluatePartners', {
      comment:
        "Evaluate each partner from its own folder of sums; the partners come from Aggregate's items object in S3.",
      itemReader: new sfn.S3JsonItemReader({
        bucketNamePath: sfn.JsonPath.stringAt('$.aggregate.itemsBucket'),
        key: sfn.JsonPath.stringAt('$.aggregate.itemsKey'),
      }),
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        aggregateKey: sfn.JsonPath.stringAt('$.aggregate.aggregateKey'),
        partnerId: sfn.JsonPath.stringAt('$$.Map.Item.Value.partnerId'),
      },
      // Standard children: a partner's retries (up to minutes of backoff) outlast Express's 5 minutes.
      mapExecutionType: sfn.StateMachineType.STANDARD,
      maxConcurrency: evaluateConcurrency,
      resultPath: sfn.JsonPath.DISCARD,
    });
    evaluatePartners.itemProcessor(assessOne);
    evaluatePartners.addCatch(reportFailure, onError);

    // Assemble's output is what the whole-window evaluation returned: { runId, evaluationKey, partnersToNotify }.
    const evaluate = invoke('Assemble', f.assemble, {
      payload: sfn.TaskInput.fromObject({
        runId: sfn.JsonPath.stringAt('$.runId'),
        aggregateKey: sfn.JsonPath.stringAt('$.aggregate.aggregateKey'),
        itemsKey: sfn.JsonPath.stringAt('$.aggregate.itemsKey'),
      }),
      resultPath: '$.evaluation',
    });
    evaluate.addCatch(reportFailure, onError);

    // Only whether the partner's notices failed stays in the state (a dozen bytes a partner): notify
    // keeps its whole output in S3 (runs/<runId>/notify/<partnerId>.json), where publish reads it.
    const notifyOne = invoke('NotifyPartner', f.notify, {
      resultSelector: {
        partnerId: sfn.JsonPath.stringAt('$.partnerId'),
        failed: sfn.JsonPath.objectAt('$.failed'),
      },
    });
    const noticeFailed = new sfn.Pass(this, 'RecordNoticeFailure', {
      comment: 'Keep going with the other partners; the failure is reported and fails the run at the end.',
      parameters: {
        partnerId: sfn.JsonPath.stringAt('$.partnerId'),
        failed: true,
        error: sfn.JsonPath.stringAt('$.error.Error'),
        cause: sfn.JsonPath.stringAt('$.error.Cause'),
      },
    });
    notifyOne.addCatch(noticeFailed, onError);
    const notify = new sfn.Map(this, 'Notify', {
      comment: 'Notify each partner that reached a level; the ledger makes a retried notice a no-op.',
      itemsPath: '$.evaluation.partnersToNotify',
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        evaluationKey: sfn.JsonPath.stringAt('$.evaluation.evaluationKey'),
        partnerId: sfn.JsonPath.stringAt('$$.Map.Item.Value.partnerId'),
        dryRun: sfn.JsonPath.objectAt('$.dryRun'),
      },
      maxConcurrency: notifyConcurrency,
      resultPath: '$.notifyResults',
    });
    notify.itemProcessor(notifyOne);
    notify.addCatch(reportFailure, onError);

    const publish = invoke('Publish', f.publish, {
      payload: sfn.TaskInput.fromObject({
        runId: sfn.JsonPath.stringAt('$.runId'),
        evaluationKey: sfn.JsonPath.stringAt('$.evaluation.evaluationKey'),
        notifyResults: sfn.JsonPath.listAt('$.notifyResults'),
        // The rollup queries and their bytes scanned, for the report's evidence and cost figures.
        rollups: sfn.JsonPath.listAt('$.rollups'),
      }),
      resultPath: '$.report',
    });
    publish.addCatch(reportFailure, onError);

    const describeNoticeFailures = new sfn.Pass(this, 'DescribeNoticeFailures', {
      result: sfn.Result.fromObject({
        Error: 'NoticeFailed',
        Cause:
          'One or more partner notices failed after retries; see notifyResults in the execution output and the report.',
      }),
      resultPath: '$.error',
    });
    describeNoticeFailures.next(reportFailure);
    const anyNoticeFailed = sfn.Choice.jsonata(this, 'AnyNoticeFailed')
      .when(
        sfn.Condition.jsonata('{% $count($states.input.notifyResults[failed = true]) > 0 %}'),
        describeNoticeFailures,
      )
      .otherwise(new sfn.Succeed(this, 'Done'));

    const definition = start
      .next(plan)
      .next(rollup)
      .next(aggregate)
      .next(evaluatePartners)
      .next(evaluate)
      .next(notify)
      .next(publish)
      .next(anyNoticeFailed);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      // The vendedlogs prefix keeps the log group's resource policy small as executions grow. The
      // group is retained (execution history is evidence), so its name ends with a part unique to this
      // creation of the stack: a deploy after `cdk destroy` must not meet the old group's name.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-audit-run-${creationSuffix(this)}`,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: props.timeout ?? Duration.hours(6),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      comment: 'partner-audit: plan, roll up, aggregate, evaluate each partner, assemble, notify, publish',
    });
    for (const fn of f.all) {
      acknowledgeWildcardResource(
        this.stateMachine,
        `${fn.function.functionArn}:*`,
        'Step Functions may invoke any published version of the step function; the grant is limited to that one function.',
      );
    }
    // The Distributed Map starts, watches and stops child executions of this state machine, whose
    // names Step Functions makes at run time (aws-cdk-lib's DistributedMapPolicy).
    acknowledgeWildcardResourcesMatching(
      this.stateMachine,
      /^arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*\*$/,
      "The EvaluatePartners Distributed Map's child executions of this state machine only; their names are made at run time.",
    );
    acknowledgeWildcardResource(
      this.stateMachine,
      '*',
      'Execution logging (logs:*LogDelivery*, DescribeLogGroups) and X-Ray tracing do not support resource-level permissions.',
    );
  }

  /** `https://<region>.console.aws.amazon.com/states/home?...` for this state machine. */
  get consoleUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/statemachines/view/${this.stateMachine.stateMachineArn}`;
  }
}
