import { CreateTableCommand, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbLedger,
  DynamoDbLedgerError,
  LedgerConflictError,
  ledgerPk,
  ledgerTableDefinition,
} from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import type { NoticeKey } from '../../functions/ports.js';
import { localDynamoDbClient } from '../support/aws-local-clients.js';
import { type LocalServer, startDynalite } from '../support/local-aws-servers.js';

let dynamo: LocalServer;
let client: DynamoDBClient;
let ledger: DynamoDbLedger;
let keyNo = 0;

const TABLE = 'partner-audit-ledger';
const STALE = 15 * 60_000;

/** A key no other test uses. */
function freshKey(level = 'overage'): NoticeKey {
  keyNo += 1;
  return { partnerId: `partner-${keyNo}`, periodId: '2026-03', level };
}

function claim(runId: string, nowMs = 1_000_000) {
  return { runId, figuresJson: JSON.stringify({ run: runId }), nowMs, staleAfterMs: STALE };
}

beforeAll(async () => {
  dynamo = await startDynalite();
  client = localDynamoDbClient(dynamo.endpoint);
  await client.send(new CreateTableCommand(ledgerTableDefinition(TABLE)));
  ledger = new DynamoDbLedger(client, TABLE);
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

describe('DynamoDbLedger', () => {
  it('claims a new notice, and stores it under the contract key with its figures', async () => {
    const key = freshKey();
    expect(await ledger.claim(key, claim('run-a'))).toBe('claimed');
    const item = await client.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: ledgerPk(key) } } }),
    );
    expect(item.Item).toMatchObject({
      pk: { S: `${key.partnerId}#2026-03#overage` },
      state: { S: 'pending' },
      runId: { S: 'run-a' },
      figuresJson: { S: '{"run":"run-a"}' },
      claimedAtMs: { N: '1000000' },
    });
  });

  it('lets only one of many concurrent runs claim the same notice', async () => {
    const key = freshKey();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => ledger.claim(key, claim(`run-${i}`))),
    );
    expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r === 'held-by-another-run')).toHaveLength(7);
  });

  it('holds a fresh claim against another run, but gives it back to the same run (a retried step)', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-a'));
    expect(await ledger.claim(key, claim('run-b', 1_000_000 + STALE - 1))).toBe('held-by-another-run');
    expect(await ledger.claim(key, claim('run-a', 1_000_500))).toBe('claimed');
  });

  it('lets another run take over a claim once it is stale', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-a'));
    expect(await ledger.claim(key, claim('run-b', 1_000_000 + STALE))).toBe('claimed');
    const [entry] = await ledger.entries(key.partnerId, key.periodId);
    expect(entry).toMatchObject({ runId: 'run-b', state: 'pending', figuresJson: '{"run":"run-b"}' });
  });

  it('reports a sent notice as already sent, to every run, stale or not', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-a'));
    await ledger.markSent(key, { runId: 'run-a', messageId: 'ses-1', sentAt: '2026-03-20T06:00:00.000Z' });
    expect(await ledger.claim(key, claim('run-b'))).toBe('already-sent');
    expect(await ledger.claim(key, claim('run-a', 9_000_000_000))).toBe('already-sent');
  });

  it('accepts the same markSent twice (a retried step), and refuses a run that lost its claim', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-a'));
    const sent = { runId: 'run-a', messageId: 'ses-2', sentAt: '2026-03-20T06:00:00.000Z' };
    await ledger.markSent(key, sent);
    await ledger.markSent(key, sent);

    const other = freshKey();
    await ledger.claim(other, claim('run-a'));
    await ledger.claim(other, claim('run-b', 1_000_000 + STALE));
    const error = await ledger
      .markSent(other, { runId: 'run-a', messageId: 'ses-3', sentAt: '2026-03-20T06:00:00.000Z' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerConflictError);
    expect((error as LedgerConflictError).message).toContain('ses-3');
  });

  it('gives a claim back on release, so another run may claim it; other runs cannot release it', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-a'));
    await ledger.release(key, 'run-b');
    expect(await ledger.claim(key, claim('run-b'))).toBe('held-by-another-run');
    await ledger.release(key, 'run-a');
    expect(await ledger.claim(key, claim('run-b'))).toBe('claimed');
  });

  it('never releases a sent notice', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-a'));
    await ledger.markSent(key, { runId: 'run-a', messageId: 'ses-4', sentAt: '2026-03-20T06:00:00.000Z' });
    await ledger.release(key, 'run-a');
    expect(await ledger.claim(key, claim('run-b'))).toBe('already-sent');
  });

  it('lists the entries of one partner and period only, by level', async () => {
    const base = freshKey();
    const near = { ...base, partnerId: `${base.partnerId}-x` };
    await ledger.claim({ ...base, level: 'warning' }, claim('run-a'));
    await ledger.claim({ ...base, level: 'overage' }, claim('run-a'));
    await ledger.markSent(
      { ...base, level: 'warning' },
      { runId: 'run-a', messageId: 'ses-5', sentAt: '2026-03-20T06:00:00.000Z' },
    );
    await ledger.claim({ ...base, periodId: '2026-04' }, claim('run-a'));
    await ledger.claim(near, claim('run-a'));
    const entries = await ledger.entries(base.partnerId, '2026-03');
    expect(entries).toEqual([
      {
        partnerId: base.partnerId,
        periodId: '2026-03',
        level: 'overage',
        state: 'pending',
        runId: 'run-a',
        figuresJson: '{"run":"run-a"}',
      },
      {
        partnerId: base.partnerId,
        periodId: '2026-03',
        level: 'warning',
        state: 'sent',
        runId: 'run-a',
        figuresJson: '{"run":"run-a"}',
        messageId: 'ses-5',
        sentAt: '2026-03-20T06:00:00.000Z',
      },
    ]);
  });

  it('reads a partner period by Query on its index and by key, never by scanning the table', async () => {
    const base = freshKey();
    // Many other partners' items: a scan would read them all, a query reads none of them.
    for (let i = 0; i < 30; i++) await ledger.claim({ ...freshKey(), level: 'warning' }, claim('run-noise'));
    // More levels than one BatchGetItem reads (100), to read them in pages.
    const levels = Array.from({ length: 105 }, (_, i) => `level-${String(i).padStart(3, '0')}`);
    for (const level of levels) await ledger.claim({ ...base, level }, claim('run-b'));
    const sent: string[] = [];
    const watched = new DynamoDbLedger(
      new Proxy(client, {
        get(target, prop, receiver) {
          if (prop !== 'send') return Reflect.get(target, prop, receiver);
          return (command: { constructor: { name: string } }, ...rest: unknown[]) => {
            sent.push(command.constructor.name);
            return (target.send as (...a: unknown[]) => unknown).call(target, command, ...rest);
          };
        },
      }),
      TABLE,
    );
    const entries = await watched.entries(base.partnerId, '2026-03');
    expect(entries.map((e) => e.level)).toEqual(levels);
    expect(entries.every((e) => e.partnerId === base.partnerId && e.runId === 'run-b')).toBe(true);
    expect(sent).not.toContain('ScanCommand');
    expect(sent.filter((c) => c === 'QueryCommand').length).toBeGreaterThanOrEqual(1);
    expect(sent.filter((c) => c === 'BatchGetItemCommand')).toHaveLength(2);
  });

  it('reads the state of an entry consistently: a claim marked sent just now lists as sent', async () => {
    const key = freshKey();
    await ledger.claim(key, claim('run-c'));
    expect((await ledger.entries(key.partnerId, key.periodId))[0]?.state).toBe('pending');
    await ledger.markSent(key, { runId: 'run-c', messageId: 'ses-9', sentAt: '2026-03-21T06:00:00.000Z' });
    expect((await ledger.entries(key.partnerId, key.periodId))[0]).toMatchObject({
      state: 'sent',
      messageId: 'ses-9',
    });
    await ledger.release({ ...key, level: 'none' }, 'run-c');
    expect(await ledger.entries(`${key.partnerId}-none`, key.periodId)).toEqual([]);
  });

  it('refuses a key part holding the separator', async () => {
    await expect(
      ledger.claim({ partnerId: 'a#b', periodId: '2026-03', level: 'x' }, claim('r')),
    ).rejects.toThrow(DynamoDbLedgerError);
  });

  it('reports an unreachable table as a ledger error', async () => {
    const missing = new DynamoDbLedger(client, 'no-such-table');
    const error = (await missing
      .claim(freshKey(), claim('r'))
      .catch((e: unknown) => e)) as DynamoDbLedgerError;
    expect(error.name).toBe('DynamoDbLedgerError');
    expect(error.retryable).toBe(false);
  });
});
