/** How the DynamoDB adapters (the notice ledger, the rollup watermark) read an SDK error. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** Whether a retry may succeed: throttling, a 5xx, or no answer at all. */
export function isRetryableDynamoDbError(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  return (
    e?.name === 'ProvisionedThroughputExceededException' ||
    e?.name === 'ThrottlingException' ||
    e?.name === 'RequestLimitExceeded' ||
    status === undefined ||
    status >= 500
  );
}

/** A conditional write refused because its condition did not hold. */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException'
  );
}
