/**
 * Errors as the state machine sees them. Lambda reports an error's `name` as its type, and the state
 * machine retries (with backoff and jitter) only errors named `RetryableError`: so an adapter error
 * marked `retryable` is re-thrown as one, and everything else fails the step at once.
 */

/** A failure that running the same step again later may fix (throttling, timeouts, 5xx). */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
}

/** The execution input (or a step's payload) is not what the step accepts; the message says why. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}

/** Whether an error says of itself that a retry may work (the adapters' convention). */
export function isRetryable(error: unknown): boolean {
  return (error as { retryable?: unknown } | undefined)?.retryable === true;
}

/** Runs a step, turning errors that are retryable into RetryableError (keeping the cause). */
export async function asStep<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RetryableError || !isRetryable(error)) throw error;
    throw new RetryableError((error as Error).message, { cause: error });
  }
}
