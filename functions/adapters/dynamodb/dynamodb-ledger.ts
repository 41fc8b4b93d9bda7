/**
 * The notice ledger in DynamoDB: one item per partner, period and level (`pk` =
 * `${partnerId}#${periodId}#${level}`), written only by conditional PutItem / UpdateItem / DeleteItem,
 * so that of two runs (or two retries of one step) claiming the same notice exactly one wins.
 * No transactions: every decision is a single-item condition.
 *
 * Item: pk, partnerId, periodId, level, state (`pending` | `sent`), runId, figuresJson, claimedAtMs,
 * and once sent, messageId and sentAt.
 *
 * A pending claim whose message was handed to the mailer carries messageId and attemptedAtMs
 * (markAttempt) until markSent: if the step stops in between, nobody knows whether the message left,
 * so the claim is never taken over nor released, and claim() answers `already-sent`. A notice is thus
 * sent at most once; the cost is a notice that would be lost if the step stopped in the instant
 * between markAttempt and the mailer's call (clearAttempt undoes the mark when the mailer refuses).
 *
 * A partner's entries for a period are found by Query on the index LEDGER_INDEX (partition key
 * partnerId, sort key periodId: attributes every item has always carried, so the index covers the
 * items written before it existed), never by scanning the table. The index keeps keys only and is
 * eventually consistent, so the items themselves are then read by key with consistent reads: their
 * state is never stale. An item written in the last moment may be missing from the index; that can
 * only hide it from a report, never send a notice twice, because claim() decides on the item itself.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type CreateTableCommandInput,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { LedgerEntry, NoticeKey, NoticeLedger } from '../../ports.js';
import { isConditionFailure, isRetryableDynamoDbError } from './dynamodb-errors.js';

/** The ledger could not be read or written, or an item is not what this code writes. */
export class DynamoDbLedgerError extends Error {
  override readonly name = 'DynamoDbLedgerError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** markSent found the claim no longer this run's: another run took it over as stale, or sent it. */
export class LedgerConflictError extends Error {
  override readonly name = 'LedgerConflictError';
  readonly retryable = false;
}

type Item = Record<string, AttributeValue>;

/** The ledger's global secondary index: the notices of one partner, by period. */
export const LEDGER_INDEX = 'byPartnerPeriod';

/**
 * The table this code expects, as CreateTable takes it: what lib/constructs/notices.ts deploys
 * (its infra test checks the two agree) and what the tests create in dynalite.
 */
export function ledgerTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'partnerId', AttributeType: 'S' },
      { AttributeName: 'periodId', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: LEDGER_INDEX,
        KeySchema: [
          { AttributeName: 'partnerId', KeyType: 'HASH' },
          { AttributeName: 'periodId', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/** BatchGetItem reads at most 100 keys a request. */
const BATCH_GET_MAX = 100;
/** Rounds of re-asking for UnprocessedKeys (DynamoDB under load) before giving up retryably. */
const BATCH_GET_ROUNDS = 8;

/** `${partnerId}#${periodId}#${level}`; none of the three may hold `#` (ids and `YYYY-MM` do not). */
export function ledgerPk(key: NoticeKey): string {
  for (const part of [key.partnerId, key.periodId, key.level]) {
    if (part === '' || part.includes('#'))
      throw new DynamoDbLedgerError(`invalid notice key part "${part}"`, false);
  }
  return `${key.partnerId}#${key.periodId}#${key.level}`;
}

const NAMES = { '#state': 'state', '#runId': 'runId' };

function str(item: Item, name: string): string | undefined {
  return item[name]?.S;
}

function wrap(action: string, error: unknown): DynamoDbLedgerError {
  return new DynamoDbLedgerError(
    `ledger ${action} failed: ${(error as Error).message}`,
    isRetryableDynamoDbError(error),
    {
      cause: error,
    },
  );
}

export class DynamoDbLedger implements NoticeLedger {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async claim(
    key: NoticeKey,
    claim: { runId: string; figuresJson: string; nowMs: number; staleAfterMs: number },
  ): Promise<'claimed' | 'already-sent' | 'held-by-another-run'> {
    const pk = ledgerPk(key);
    // A claim released between our two writes leaves no item: start over, a bounded number of times.
    for (let round = 0; round < 3; round++) {
      if (await this.putNew(pk, key, claim)) return 'claimed';
      if (await this.takeOver(pk, claim)) return 'claimed';
      const current = await this.get(pk);
      if (current === undefined) continue;
      // A claim whose message may have left counts as sent, whoever holds it.
      if (str(current, 'state') === 'sent' || str(current, 'messageId') !== undefined) return 'already-sent';
      return 'held-by-another-run';
    }
    throw new DynamoDbLedgerError(`ledger claim of ${pk} kept changing under us`, true);
  }

  async markSent(key: NoticeKey, sent: { runId: string; messageId: string; sentAt: string }): Promise<void> {
    const pk = ledgerPk(key);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: pk } },
          UpdateExpression: 'SET #state = :sent, messageId = :messageId, sentAt = :sentAt',
          ConditionExpression: 'attribute_exists(pk) AND #runId = :runId AND #state = :pending',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':sent': { S: 'sent' },
            ':pending': { S: 'pending' },
            ':runId': { S: sent.runId },
            ':messageId': { S: sent.messageId },
            ':sentAt': { S: sent.sentAt },
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw wrap('markSent', error);
      const current = await this.get(pk);
      // A retried step marking the same send again is fine; anything else means two sends raced.
      if (
        current &&
        str(current, 'state') === 'sent' &&
        str(current, 'runId') === sent.runId &&
        str(current, 'messageId') === sent.messageId
      ) {
        return;
      }
      throw new LedgerConflictError(
        `notice ${pk} is not claimed by run ${sent.runId} (now ${current ? `${str(current, 'state')} by ${str(current, 'runId')}` : 'absent'}); message ${sent.messageId} was sent`,
      );
    }
  }

  /**
   * Records that this run's claim is being handed to the mailer now (see the file comment). Throws
   * LedgerConflictError when the claim is not this run's pending claim any more.
   */
  async markAttempt(
    key: NoticeKey,
    attempt: { runId: string; messageId: string; nowMs: number },
  ): Promise<void> {
    const pk = ledgerPk(key);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: pk } },
          UpdateExpression: 'SET messageId = :messageId, attemptedAtMs = :now',
          ConditionExpression:
            'attribute_exists(pk) AND #runId = :runId AND #state = :pending AND (attribute_not_exists(messageId) OR messageId = :messageId)',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':pending': { S: 'pending' },
            ':runId': { S: attempt.runId },
            ':messageId': { S: attempt.messageId },
            ':now': { N: String(attempt.nowMs) },
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw wrap('markAttempt', error);
      throw new LedgerConflictError(`notice ${pk} is not claimed by run ${attempt.runId} any more: not sent`);
    }
  }

  /** Undoes markAttempt after the mailer refused the message, so the claim can be released. */
  async clearAttempt(key: NoticeKey, runId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: ledgerPk(key) } },
          UpdateExpression: 'REMOVE messageId, attemptedAtMs',
          ConditionExpression: '#runId = :runId AND #state = :pending',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':runId': { S: runId }, ':pending': { S: 'pending' } },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw wrap('clearAttempt', error);
    }
  }

  async release(key: NoticeKey, runId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: ledgerPk(key) } },
          // A claim whose message may have left (markAttempt without markSent) is never given back.
          ConditionExpression: '#runId = :runId AND #state = :pending AND attribute_not_exists(messageId)',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':runId': { S: runId }, ':pending': { S: 'pending' } },
        }),
      );
    } catch (error) {
      // Not ours, already sent, or already gone: nothing of this run's to give back.
      if (!isConditionFailure(error)) throw wrap('release', error);
    }
  }

  async entries(partnerId: string, periodId: string): Promise<LedgerEntry[]> {
    const pks: string[] = [];
    let start: Item | undefined;
    try {
      do {
        const page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: LEDGER_INDEX,
            KeyConditionExpression: 'partnerId = :partnerId AND periodId = :periodId',
            ExpressionAttributeValues: { ':partnerId': { S: partnerId }, ':periodId': { S: periodId } },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of page.Items ?? []) {
          const pk = str(item, 'pk');
          if (pk !== undefined) pks.push(pk);
        }
        start = page.LastEvaluatedKey;
      } while (start);
      const out: LedgerEntry[] = [];
      for (let i = 0; i < pks.length; i += BATCH_GET_MAX) {
        for (const item of await this.getMany(pks.slice(i, i + BATCH_GET_MAX))) {
          // Gone since the index listed it (a released claim): no entry.
          out.push(this.entryOf(item));
        }
      }
      return out.sort((a, b) => (a.level < b.level ? -1 : a.level > b.level ? 1 : 0));
    } catch (error) {
      if (error instanceof DynamoDbLedgerError) throw error;
      throw wrap('entries', error);
    }
  }

  /** The items of these keys that exist, read consistently. */
  private async getMany(pks: readonly string[]): Promise<Item[]> {
    const out: Item[] = [];
    let keys: Item[] = pks.map((pk) => ({ pk: { S: pk } }));
    for (let round = 0; keys.length > 0; round++) {
      if (round >= BATCH_GET_ROUNDS) {
        throw new DynamoDbLedgerError(`ledger read left ${keys.length} keys unprocessed`, true);
      }
      const res = await this.client.send(
        new BatchGetItemCommand({
          RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
        }),
      );
      out.push(...(res.Responses?.[this.tableName] ?? []));
      keys = (res.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Item[];
      // DynamoDB hands back keys it had no capacity for: ask again after a growing pause.
      if (keys.length > 0) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** round));
    }
    return out;
  }

  private async putNew(
    pk: string,
    key: NoticeKey,
    claim: { runId: string; figuresJson: string; nowMs: number },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: pk },
            partnerId: { S: key.partnerId },
            periodId: { S: key.periodId },
            level: { S: key.level },
            state: { S: 'pending' },
            runId: { S: claim.runId },
            figuresJson: { S: claim.figuresJson },
            claimedAtMs: { N: String(claim.nowMs) },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw wrap('claim', error);
    }
  }

  /** Take over a pending claim that is this run's own (a retried step) or has gone stale. */
  private async takeOver(
    pk: string,
    claim: { runId: string; figuresJson: string; nowMs: number; staleAfterMs: number },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: pk } },
          UpdateExpression: 'SET #runId = :runId, figuresJson = :figures, claimedAtMs = :now',
          ConditionExpression:
            '#state = :pending AND attribute_not_exists(messageId) AND (#runId = :runId OR claimedAtMs <= :staleBefore)',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':pending': { S: 'pending' },
            ':runId': { S: claim.runId },
            ':figures': { S: claim.figuresJson },
            ':now': { N: String(claim.nowMs) },
            ':staleBefore': { N: String(claim.nowMs - claim.staleAfterMs) },
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw wrap('claim', error);
    }
  }

  private async get(pk: string): Promise<Item | undefined> {
    try {
      const out = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
      );
      return out.Item;
    } catch (error) {
      throw wrap('read', error);
    }
  }

  private entryOf(item: Item): LedgerEntry {
    const state = str(item, 'state');
    const partnerId = str(item, 'partnerId');
    const periodId = str(item, 'periodId');
    const level = str(item, 'level');
    const runId = str(item, 'runId');
    if ((state !== 'pending' && state !== 'sent') || !partnerId || !periodId || !level || !runId) {
      throw new DynamoDbLedgerError(`ledger item ${str(item, 'pk')} is not a notice entry`, false);
    }
    const messageId = str(item, 'messageId');
    const sentAt = str(item, 'sentAt');
    return {
      partnerId,
      periodId,
      level,
      state,
      runId,
      figuresJson: str(item, 'figuresJson') ?? '{}',
      ...(messageId !== undefined ? { messageId } : {}),
      ...(sentAt !== undefined ? { sentAt } : {}),
    };
  }
}
