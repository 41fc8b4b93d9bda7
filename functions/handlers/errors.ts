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

/** A zod error's issues as they appear in a step's error cause. */
interface Issues {
  readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
}

/**
 * Issues on one line, `path: message; path: message` (the value itself is `whole`): a step's error
 * cause, as the console shows it, and what the tests match.
 */
export function describeIssues(error: Issues, whole = '(input)'): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || whole}: ${i.message}`).join('; ');
}

/** A step's payload checked against its schema; InvalidInputError saying `<step> input: <issues>`. */
export function parseStepInput<T>(
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false; error: Issues } },
  event: unknown,
  step: string,
): T {
  const parsed = schema.safeParse(event);
  if (!parsed.success) throw new InvalidInputError(`${step} input: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
