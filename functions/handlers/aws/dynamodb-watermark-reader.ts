import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbWatermarkReader } from '../../adapters/dynamodb/dynamodb-watermark-reader.js';
import type { HandlerEnv } from '../env.js';

/** The plan's rollup watermark: read only (one module per half: each step's imports hold only the commands it sends). */
export function dynamoDbWatermarkReader(
  env: Pick<HandlerEnv, 'LEDGER_TABLE' | 'AWS_ENDPOINT_URL_DYNAMODB'>,
): DynamoDbWatermarkReader {
  const client = new DynamoDBClient(
    env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {},
  );
  return new DynamoDbWatermarkReader(client, env.LEDGER_TABLE);
}
