/**
 * The rollup watermark as one item of the notice ledger table. Its key starts with `#`, which no
 * notice key can (ledgerPk refuses an empty partner id), so the ledger's reads never meet it. Only a
 * conditional UpdateItem writes it, and only forward: two runs, a retried step or an ad hoc run can
 * never move it back.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RollupWatermark } from '../../ports.js';
import { DynamoDbWatermarkReader } from './dynamodb-watermark-reader.js';
import { DynamoDbWatermarkWriter } from './dynamodb-watermark-writer.js';

export { DynamoDbWatermarkError, WATERMARK_PK } from './watermark-item.js';

/** Both halves of the watermark (the steps each take only the half they use). */
export class DynamoDbRollupWatermark implements RollupWatermark {
  private readonly reader: DynamoDbWatermarkReader;
  private readonly writer: DynamoDbWatermarkWriter;

  constructor(client: DynamoDBClient, tableName: string) {
    this.reader = new DynamoDbWatermarkReader(client, tableName);
    this.writer = new DynamoDbWatermarkWriter(client, tableName);
  }

  read(): Promise<string | undefined> {
    return this.reader.read();
  }

  advance(date: string, by: { readonly runId: string; readonly nowMs: number }): Promise<boolean> {
    return this.writer.advance(date, by);
  }
}
