/**
 * Advances the rollup watermark (watermark-item.ts): only a conditional UpdateItem writes it, and only
 * forward. Apart from the reader so that the Aggregate step, which only advances it, holds no code that
 * reads it.
 */
import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { isIsoDate } from '../../domain/time.js';
import type { RollupWatermark } from '../../ports.js';
import { isConditionFailure } from './dynamodb-errors.js';
import { DynamoDbWatermarkError, watermarkFailure as failure, WATERMARK_PK } from './watermark-item.js';

export class DynamoDbWatermarkWriter implements Pick<RollupWatermark, 'advance'> {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

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
      if (isConditionFailure(error)) return false;
      throw failure('advance', error);
    }
  }
}
