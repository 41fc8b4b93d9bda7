/**
 * Reads the rollup watermark (watermark-item.ts). Apart from the writer so that the plan step, which
 * only reads it, holds no code that writes it (test/infra/iam-permissions.test.ts scans each step's
 * imports for the commands it can send).
 */
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { isIsoDate } from '../../domain/time.js';
import type { RollupWatermark } from '../../ports.js';
import { DynamoDbWatermarkError, watermarkFailure as failure, WATERMARK_PK } from './watermark-item.js';

export class DynamoDbWatermarkReader implements Pick<RollupWatermark, 'read'> {
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
}
