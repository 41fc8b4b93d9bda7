/**
 * The Lambda handler of a step, written once: the step's dependencies are made on the first invocation
 * of a container (not at import, so that tests and the IAM check import a handler module without its
 * environment) and kept for the next; each invocation runs through asStep (retryable errors become
 * RetryableError); `after` runs when an invocation ends, however it ends (metrics flushed).
 */
import { asStep } from './errors.js';
import type { StepContext } from './step-deadline.js';

export function lambdaStep<Deps, Output>(
  coldStart: () => Deps,
  step: (deps: Deps, event: unknown, context?: StepContext) => Promise<Output>,
  options: { readonly after?: () => void } = {},
): (event: unknown, context?: StepContext) => Promise<Output> {
  let deps: Deps | undefined;
  return async (event, context) => {
    deps ??= coldStart();
    const made = deps;
    try {
      return await asStep(() => step(made, event, context));
    } finally {
      options.after?.();
    }
  };
}
