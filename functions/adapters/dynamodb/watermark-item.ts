/**
 * The rollup watermark as one item of the notice ledger table. Its key starts with `#`, which no
 * notice key can (ledgerPk refuses an empty partner id), so the ledger's reads never meet it. Only a
 * conditional UpdateItem writes it, and only forward: two runs, a retried step or an ad hoc run can
 * never move it back.
 */
import { isRetryableDynamoDbError } from './dynamodb-errors.js';

/** The watermark item's key in the ledger table (IAM grants are scoped to it). */
export const WATERMARK_PK = '#rollup-watermark';

/** The watermark could not be read or written, or the stored item is not what this code writes. */
export class DynamoDbWatermarkError extends Error {
  override readonly name = 'DynamoDbWatermarkError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function watermarkFailure(action: string, error: unknown): DynamoDbWatermarkError {
  return new DynamoDbWatermarkError(
    `rollup watermark ${action} failed: ${(error as Error).message}`,
    isRetryableDynamoDbError(error),
    { cause: error },
  );
}
