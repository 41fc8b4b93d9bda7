/** The notice ledger of the notify handler. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLedger, LEDGER_INDEX } from '../../adapters/dynamodb/dynamodb-ledger.js';
import type { HandlerEnv } from '../env.js';
import type { SdkAction } from '../sdk-actions.js';

/** What DynamoDbLedger sends (see sdk-actions.ts). */
export const USE_NOTICE_LEDGER: readonly SdkAction[] = [
  ...(['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] as const).map(
    (op): SdkAction => ({ action: `dynamodb:${op}`, on: [{ dynamodbTable: 'LEDGER_TABLE' }] }),
  ),
  // A partner's period is listed by Query on the ledger's index, never by Scan.
  { action: 'dynamodb:Query', on: [{ dynamodbIndex: { tableEnv: 'LEDGER_TABLE', index: LEDGER_INDEX } }] },
];

export function dynamoDbLedger(
  env: Pick<HandlerEnv, 'LEDGER_TABLE' | 'AWS_ENDPOINT_URL_DYNAMODB'>,
): DynamoDbLedger {
  const client = new DynamoDBClient(
    env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: env.AWS_ENDPOINT_URL_DYNAMODB } : {},
  );
  return new DynamoDbLedger(client, env.LEDGER_TABLE);
}
