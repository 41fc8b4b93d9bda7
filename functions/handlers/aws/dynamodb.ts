/** The notice ledger of the notify handler. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLedger } from '../../adapters/dynamodb/dynamodb-ledger.js';
import type { HandlerEnv } from '../env.js';

export function dynamoDbLedger(
  env: Pick<HandlerEnv, 'LEDGER_TABLE' | 'AWS_ENDPOINT_URL_DYNAMODB'>,
): DynamoDbLedger {
  const client = new DynamoDBClient(
    env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {},
  );
  return new DynamoDbLedger(client, env.LEDGER_TABLE);
}
