/**
 * The seven Lambda functions of a run (plan, roll up, aggregate, assess each partner, assemble,
 * notify, publish): thin handlers in
 * functions/handlers, bundled by esbuild into small ESM files for Node 22 on arm64. Each has its own
 * role that starts with nothing but its log group and X-Ray; the stack grants the rest through the
 * owning constructs' grant methods.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcardResource } from '../nag.js';

/** The project root: lib/constructs/../.. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The steps of a run, in order; each is `functions/handlers/<step>.handler.ts`. */
export const AUDIT_STEPS = [
  'plan',
  'rollup',
  'aggregate',
  'assess',
  'assemble',
  'notify',
  'publish',
] as const;
export type AuditStep = (typeof AUDIT_STEPS)[number];

/**
 * Packages left out of every bundle. DuckDB must never be in a Lambda (a ~70 MB native binary; no
 * handler may import it). The AWS SDK v3 is provided by the nodejs22.x runtime: bundled, the S3
 * client alone is about 500 KB minified and would push the bundles over 1 MiB.
 */
export const NEVER_BUNDLED = ['@duckdb/node-api', '@aws-sdk/*'];

/** package.json's version, written into each bundle as the code version its reports state. */
const CODE_VERSION = (
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** Lets an ESM bundle run bundled CommonJS code that calls `require` for Node built-ins. */
const REQUIRE_BANNER =
  "import { createRequire as __partnerAuditCreateRequire } from 'node:module'; const require = __partnerAuditCreateRequire(import.meta.url);";

/** Per-step sizing: how long a step may take and how much memory it gets. */
export interface StepSizing {
  readonly timeout: Duration;
  readonly memorySize: number;
}

const DEFAULT_SIZING: Record<AuditStep, StepSizing> = {
  plan: { timeout: Duration.minutes(1), memorySize: 512 },
  // Waits for Athena's MERGE of one delivery date.
  rollup: { timeout: Duration.minutes(15), memorySize: 512 },
  // Waits for Athena's two UNLOADs of the window's sums.
  aggregate: { timeout: Duration.minutes(15), memorySize: 512 },
  // One partner's daily sums: partner x applications x datasets x days rows.
  assess: { timeout: Duration.minutes(2), memorySize: 512 },
  // Every partner's evaluations, into one evaluation document.
  assemble: { timeout: Duration.minutes(5), memorySize: 1024 },
  // Sends at most a few notices for one partner, paced under the SES send rate.
  notify: { timeout: Duration.minutes(5), memorySize: 512 },
  publish: { timeout: Duration.minutes(2), memorySize: 512 },
};

/** Props of {@link AuditFunctions}. */
export interface AuditFunctionsProps {
  /** Environment of every function: each gets all the variables and parses those it needs (env.ts). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Folder of the `<step>.handler.ts` entry files.
   * @default functions/handlers under the project root
   */
  readonly handlersDir?: string;
  /**
   * Override the timeout or memory of some steps.
   * @default see DEFAULT_SIZING in this file
   */
  readonly sizing?: Partial<Record<AuditStep, StepSizing>>;
  /**
   * Days to keep function logs.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** One audit step's function, role and log group; grants go to its role. */
export class AuditFunction extends Construct implements iam.IGrantable {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(
    scope: Construct,
    id: string,
    props: {
      readonly entry: string;
      readonly environment: Readonly<Record<string, string>>;
      readonly sizing: StepSizing;
      readonly logRetention: logs.RetentionDays;
      readonly description: string;
    },
  ) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `partner-audit ${id} step`,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.logGroup.grantWrite(this.role);
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      role: this.role,
      logGroup: this.logGroup,
      timeout: props.sizing.timeout,
      memorySize: props.sizing.memorySize,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...props.environment },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: false,
        externalModules: [...NEVER_BUNDLED],
        banner: REQUIRE_BANNER,
        // functions/audit/run-planner.ts: CODE_VERSION.
        define: { PARTNER_AUDIT_VERSION: JSON.stringify(CODE_VERSION) },
        logLevel: nodejs.LogLevel.ERROR,
      },
    });
    acknowledge(
      this,
      'L1',
      'Node.js 22 is the runtime the project targets and tests; moving to a newer runtime is a deliberate upgrade.',
    );
    acknowledgeWildcardResource(
      this,
      '*',
      'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
    );
  }

  get grantPrincipal(): iam.IPrincipal {
    return this.role;
  }
}

/** The seven step functions, by step name. */
export class AuditFunctions extends Construct {
  readonly plan: AuditFunction;
  readonly rollup: AuditFunction;
  readonly aggregate: AuditFunction;
  readonly assess: AuditFunction;
  readonly assemble: AuditFunction;
  readonly notify: AuditFunction;
  readonly publish: AuditFunction;

  constructor(scope: Construct, id: string, props: AuditFunctionsProps) {
    super(scope, id);
    for (const name of Object.keys(props.environment)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`AuditFunctions: bad environment name "${name}"`);
    }
    const dir = props.handlersDir ?? join(PROJECT_ROOT, 'functions', 'handlers');
    const make = (step: AuditStep, description: string) =>
      new AuditFunction(this, pascal(step), {
        entry: join(dir, `${step}.handler.ts`),
        environment: props.environment,
        sizing: props.sizing?.[step] ?? DEFAULT_SIZING[step],
        logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
        description,
      });
    this.plan = make('plan', 'partner-audit: validate the run input, decide the window and the log batches');
    this.rollup = make(
      'rollup',
      'partner-audit: roll up one delivery date of access logs into the usage table',
    );
    this.aggregate = make(
      'aggregate',
      'partner-audit: attribute and sum usage in Athena, unloaded to S3 by partner',
    );
    this.assess = make('assess', "partner-audit: evaluate one partner's usage against its contracts");
    this.assemble = make('assemble', "partner-audit: assemble the partners' evaluations into the run's");
    this.notify = make('notify', 'partner-audit: send one partner its notices, once per level and period');
    this.publish = make('publish', 'partner-audit: publish the report, usage CSV and notice previews');
  }

  /** All seven, in run order. */
  get all(): readonly AuditFunction[] {
    return [this.plan, this.rollup, this.aggregate, this.assess, this.assemble, this.notify, this.publish];
  }

  /** The function of a step. */
  step(step: AuditStep): AuditFunction {
    return this[step];
  }
}

function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
