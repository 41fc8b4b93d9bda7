import { CreateTableCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbLedger, ledgerTableDefinition } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import {
  DynamoDbRollupWatermark,
  WATERMARK_PK,
} from '../../functions/adapters/dynamodb/dynamodb-watermark.js';
import { localDynamoDbClient } from '../support/aws-local-clients.js';
import { type LocalServer, startDynalite } from '../support/local-aws-servers.js';

let dynamo: LocalServer;
let client: DynamoDBClient;
let tableNo = 0;

/** A fresh ledger table, so each test starts without a watermark. */
async function freshTable(): Promise<string> {
  tableNo += 1;
  const name = `ledger-${tableNo}`;
  await client.send(
    // The ledger's own table shape, index included, as the stack creates it.
    new CreateTableCommand(ledgerTableDefinition(name)),
  );
  return name;
}

const by = (runId: string) => ({ runId, nowMs: Date.parse('2026-03-30T01:00:00Z') });

beforeAll(async () => {
  dynamo = await startDynalite();
  client = localDynamoDbClient(dynamo.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

describe('DynamoDbRollupWatermark', () => {
  it('reads nothing before the first nightly run, then the date recorded', async () => {
    const watermark = new DynamoDbRollupWatermark(client, await freshTable());
    expect(await watermark.read()).toBeUndefined();
    expect(await watermark.advance('2026-03-28', by('n-1'))).toBe(true);
    expect(await watermark.read()).toBe('2026-03-28');
  });

  it('only moves forward: an older or equal date (a retried step, a slower run) changes nothing', async () => {
    const watermark = new DynamoDbRollupWatermark(client, await freshTable());
    await watermark.advance('2026-03-30', by('n-2'));
    expect(await watermark.advance('2026-03-29', by('n-1'))).toBe(false);
    expect(await watermark.advance('2026-03-30', by('n-2-retry'))).toBe(false);
    expect(await watermark.read()).toBe('2026-03-30');
    expect(await watermark.advance('2026-04-01', by('n-3'))).toBe(true);
    expect(await watermark.read()).toBe('2026-04-01');
  });

  it('ends on the newest of dates advanced at once, whatever the order of the writes', async () => {
    const watermark = new DynamoDbRollupWatermark(client, await freshTable());
    const dates = ['2026-05-03', '2026-05-01', '2026-05-09', '2026-05-02', '2026-05-08', '2026-05-04'];
    await Promise.all(dates.map((d, i) => watermark.advance(d, by(`run-${i}`))));
    expect(await watermark.read()).toBe('2026-05-09');
  });

  it('lives beside the notices without the ledger ever listing it', async () => {
    const table = await freshTable();
    const watermark = new DynamoDbRollupWatermark(client, table);
    await watermark.advance('2026-03-28', by('n-1'));
    const ledger = new DynamoDbLedger(client, table);
    expect(await ledger.entries('p', '2026-03')).toEqual([]);
    expect(WATERMARK_PK.startsWith('#')).toBe(true);
  });

  it('refuses a stored value that is not a date, naming the item', async () => {
    const table = await freshTable();
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: WATERMARK_PK }, through: { S: '2026/03/28' } },
      }),
    );
    await expect(new DynamoDbRollupWatermark(client, table).read()).rejects.toMatchObject({
      name: 'DynamoDbWatermarkError',
      message: expect.stringContaining('#rollup-watermark'),
    });
    await expect(new DynamoDbRollupWatermark(client, table).advance('2026/03/29', by('x'))).rejects.toThrow(
      /not a date/,
    );
  });
});
