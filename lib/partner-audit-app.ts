/**
 * Builds the CDK app: loads and validates the deployment settings, adds the stack and registers
 * cdk-nag's AwsSolutions checks. Shared by the `cdk` entry (lib/app.ts) and the infra tests, so both
 * synthesise exactly the same thing.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type DeployConfig, loadDeployConfig } from './config.js';
import { FEATURE_FLAGS, PartnerAuditStack } from './partner-audit-stack.js';

export { FEATURE_FLAGS };

/** Options of {@link createPartnerAuditApp}. */
export interface CreatePartnerAuditAppOptions {
  /** Project root: where deploy.config.json is looked up. */
  readonly cwd: string;
  /** Extra context, as `-c key=value` would give. */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Cloud assembly directory. @default the CLI's, or a temporary directory */
  readonly outdir?: string;
  /** Use these settings instead of loading them (tests). */
  readonly config?: DeployConfig;
  /** Handler entry folder (tests). @default functions/handlers */
  readonly handlersDir?: string;
  /** Register cdk-nag as a synth-time validation plugin. @default true */
  readonly nag?: boolean;
}

/** The app, its one stack and the settings it was built from. */
export function createPartnerAuditApp(options: CreatePartnerAuditAppOptions): {
  app: App;
  stack: PartnerAuditStack;
  config: DeployConfig;
} {
  const app = new App({
    context: { ...FEATURE_FLAGS, ...(options.context ?? {}) },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const config = options.config ?? loadDeployConfig({ cwd: options.cwd, context: app.node.getAllContext() });
  const stack = new PartnerAuditStack(app, config.stackName, {
    config,
    ...(options.handlersDir ? { handlersDir: options.handlersDir } : {}),
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config };
}
