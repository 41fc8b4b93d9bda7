/**
 * The cfn-lint findings the synthesised template is allowed to keep, each with its reason: the one
 * place they are listed (test/infra/cfn-lint.test.ts fails on any error, on any warning or
 * informational finding not matched here, and on an entry here that no longer matches anything, so
 * the list shrinks when a cause goes away). Match on the rule and on the message, never a whole rule
 * for every resource.
 */
export interface AllowedFinding {
  /** cfn-lint rule id, e.g. `W3005`. */
  readonly rule: string;
  /** The finding's message must match this. */
  readonly message: RegExp;
  /** Why it stays: what causes it and why it is harmless. */
  readonly reason: string;
}

export const CFN_LINT_ALLOWED: readonly AllowedFinding[] = [
  {
    rule: 'W3005',
    // The seven step functions, the two state machines (the run and the rollup's weekly upkeep), and the
    // registry's BucketDeployment handler.
    message:
      /^'(Functions(Plan|Rollup|Aggregate|Assess|Assemble|Notify|Publish)Role|AuditRunStateMachineRole|RollupMaintenanceStateMachineRole|RegistryDeploymentRole)[0-9A-F]{8}' dependency already enforced by a 'GetAtt' at 'Resources\/[A-Za-z0-9]+\/Properties\/(Role|RoleArn)'$/,
    reason:
      "aws-cdk-lib's Function, StateMachine and BucketDeployment constructs write DependsOn [role, role's default policy], " +
      'so that the policy exists before the resource first runs; the role half is redundant with the Fn::GetAtt ' +
      'of the role and changes no deployment order. Removing it would mean rewriting the L1 resources CDK owns.',
  },
];
