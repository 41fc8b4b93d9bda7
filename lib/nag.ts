/**
 * cdk-nag acknowledgements, one finding at a time and each with its reason (cdk-nag 3 uses CDK's
 * `Validations.of(scope).acknowledge`; the v2 `NagSuppressions` API no longer exists). Wildcard
 * findings are computed from the very resource string the grant used, so an acknowledgement cannot
 * drift from the statement it excuses.
 */
import { Aspects, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/** Acknowledge one AwsSolutions rule on `scope` (and its children) with a specific reason. */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${rule}`, reason });
}

/**
 * Acknowledge the IAM5 finding a wildcard resource causes, e.g. objects under one prefix.
 * `resource` is the ARN (token or literal) exactly as it went into the policy statement.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const flat = flattenReference(Stack.of(scope).resolve(resource));
  acknowledge(scope, `IAM5[Resource::${flat}]`, reason);
}

/** Acknowledge the IAM5 finding a wildcard action causes, e.g. `xray:Put*`. */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  acknowledge(scope, `IAM5[Action::${action}]`, reason);
}

/**
 * Acknowledge, on the IAM policies under `scope`, the IAM5 findings of wildcard resources whose flat
 * name matches `pattern`, at synth time. For grants made inside aws-cdk-lib constructs whose
 * resource names (such as the bootstrap asset bucket) depend on the synthesizer and environment.
 */
export function acknowledgeWildcardResourcesMatching(
  scope: IConstruct,
  pattern: RegExp,
  reason: string,
): void {
  Aspects.of(scope).add({
    visit(node: IConstruct) {
      if (!(node instanceof iam.CfnPolicy)) return;
      const doc = Stack.of(node).resolve(node.policyDocument) as { Statement?: { Resource?: unknown }[] };
      for (const statement of doc.Statement ?? []) {
        const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
        for (const resource of resources) {
          const flat = flattenReference(resource);
          if (flat.includes('*') && pattern.test(flat)) acknowledge(node, `IAM5[Resource::${flat}]`, reason);
        }
      }
    },
  });
}

/**
 * The flat text cdk-nag uses to name a resource in a finding: `Fn::GetAtt` becomes `<Id.Attr>`,
 * `Ref` becomes `<Id>`, `Fn::Join` joins its parts and `${x}` becomes `<x>`.
 */
export function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flattenReference).join(delimiter);
    }
    if (o['Fn::Sub']) return flattenReference(o['Fn::Sub']);
    if (o['Fn::GetAtt']) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (o['Fn::ImportValue']) return flattenReference(o['Fn::ImportValue']);
    if (o.Ref) return `<${flattenReference(o.Ref)}>`;
  }
  return JSON.stringify(node);
}
