import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbWatermarkWriter } from '../../adapters/dynamodb/dynamodb-watermark-writer.js';
import type { HandlerEnv } from '../env.js';

/** The Aggregate step's rollup watermark: advance only (one module per half: each step's imports hold only the commands it sends). */
export function dynamoDbWatermarkWriter(
  env: Pick<HandlerEnv, 'LEDGER_TABLE' | 'AWS_ENDPOINT_URL_DYNAMODB'>,
): DynamoDbWatermarkWriter {
  const client = new DynamoDBClient(
    env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {},
  );
  return new DynamoDbWatermarkWriter(client, env.LEDGER_TABLE);
}
