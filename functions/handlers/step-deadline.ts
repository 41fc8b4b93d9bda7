/**
 * A step's deadline. Lambda kills an invocation at its timeout without an error the state machine
 * could retry (and a step that waits on Athena can easily wait that long), so every step that runs
 * queries ends its waits a margin before its own end and fails with RetryableError instead: the retry
 * presents the same ClientRequestTokens and resumes the very queries this invocation started.
 */
import type { AthenaQueryRunner } from '../adapters/athena/athena-client.js';

/** What a step reads of the Lambda context (aws-lambda's Context has it). */
export interface StepContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Kept back from the Lambda's remaining time: a status call in flight, turning the error into the
 * step's answer, and what evaluate does after its queries (writing the evaluation to S3, metrics).
 */
export const STEP_DEADLINE_MARGIN_MS = 30_000;

/** The runner bounded by the invocation's remaining time less the margin (unbounded without a context). */
export function runnerForStep(
  runner: AthenaQueryRunner,
  context: StepContext | undefined,
  marginMs: number = STEP_DEADLINE_MARGIN_MS,
): AthenaQueryRunner {
  return context ? runner.withTimeLeft(context.getRemainingTimeInMillis() - marginMs) : runner;
}
