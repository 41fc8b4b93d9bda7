/** A name part that differs between two creations of the same stack. */
import { Fn, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * The first eight hex digits of the stack id's UUID: new with every creation of the stack, stable
 * across its updates. Names that must be unique but outlive the stack (retained log groups) or that
 * CloudFormation cannot generate (an Athena workgroup) end with it.
 */
export function creationSuffix(scope: Construct): string {
  return Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Stack.of(scope).stackId))));
}
