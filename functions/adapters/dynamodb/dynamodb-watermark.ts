/**
 * The rollup watermark as one item of the notice ledger table. Its key starts with `#`, which no
 * notice key can (ledgerPk refuses an empty partner id), so the ledger's reads never meet it. Only a
 * conditional UpdateItem writes it, and only forward: two runs, a retried step or an ad hoc run can
 * never move it back.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { isIsoDate } from '../../domain/time.js';
import type { RollupWatermark } from '../../ports.js';

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

function failure(action: string, error: unknown): DynamoDbWatermarkError {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const retryable =
    e.name === 'ProvisionedThroughputExceededException' ||
    e.name === 'ThrottlingException' ||
    e.name === 'RequestLimitExceeded' ||
    status === undefined ||
    status >= 500;
  return new DynamoDbWatermarkError(
    `rollup watermark ${action} failed: ${(error as Error).message}`,
    retryable,
    { cause: error },
  );
}

export class DynamoDbRollupWatermark implements RollupWatermark {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async read(): Promise<string | undefined> {
    let item: Record<string, { S?: string }> | undefined;
    try {
      const out = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: WATERMARK_PK } },
          ConsistentRead: true,
        }),
      );
      item = out.Item as Record<string, { S?: string }> | undefined;
    } catch (error) {
      throw failure('read', error);
    }
    if (item === undefined) return undefined;
    const through = item['through']?.S;
    if (through === undefined || !isIsoDate(through)) {
      throw new DynamoDbWatermarkError(
        `${this.tableName} item ${WATERMARK_PK}: "through" must be a date YYYY-MM-DD, got ${JSON.stringify(through ?? null)}`,
        false,
      );
    }
    return through;
  }

  async advance(date: string, by: { readonly runId: string; readonly nowMs: number }): Promise<boolean> {
    if (!isIsoDate(date)) {
      throw new DynamoDbWatermarkError(`rollup watermark: "${date}" is not a date YYYY-MM-DD`, false);
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: WATERMARK_PK } },
          UpdateExpression: 'SET through = :date, runId = :runId, updatedAt = :at',
          // ISO dates compare as strings; "only forward" is this one condition.
          ConditionExpression: 'attribute_not_exists(through) OR through < :date',
          ExpressionAttributeValues: {
            ':date': { S: date },
            ':runId': { S: by.runId },
            ':at': { S: new Date(by.nowMs).toISOString() },
          },
        }),
      );
      return true;
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException'
      ) {
        return false;
      }
      throw failure('advance', error);
    }
  }
}
