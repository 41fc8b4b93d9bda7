/** The notice ledger of the notify handler. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLedger } from '../../adapters/dynamodb/dynamodb-ledger.js';
import { DynamoDbRollupWatermark } from '../../adapters/dynamodb/dynamodb-watermark.js';
import type { HandlerEnv } from '../env.js';

export function dynamoDbLedger(
  env: Pick<HandlerEnv, 'LEDGER_TABLE' | 'AWS_ENDPOINT_URL_DYNAMODB'>,
): DynamoDbLedger {
  const client = new DynamoDBClient(
    env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {},
  );
  return new DynamoDbLedger(client, env.LEDGER_TABLE);
}

/** The rollup watermark, an item of the same table (plan reads it, evaluate advances it). */
export function dynamoDbWatermark(
  env: Pick<HandlerEnv, 'LEDGER_TABLE' | 'AWS_ENDPOINT_URL_DYNAMODB'>,
): DynamoDbRollupWatermark {
  const client = new DynamoDBClient(
    env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {},
  );
  return new DynamoDbRollupWatermark(client, env.LEDGER_TABLE);
}
