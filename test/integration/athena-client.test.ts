import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AthenaQueryError,
  AthenaQueryRunner,
  type AthenaQueryRunnerOptions,
  clientRequestToken,
} from '../../functions/adapters/athena/athena-client.js';
import { type SqlQuery, sqlString } from '../../functions/adapters/athena/sql.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { localAthenaClient } from '../support/aws-local-clients.js';

const tables = { database: 'audit_db', logsTable: 'access_logs', rollupTable: 'usage_rollup' };

let server: AthenaLocalServer;
let sleeps: number[];
let runNo = 0;

function runner(options: Partial<AthenaQueryRunnerOptions> = {}): AthenaQueryRunner {
  return new AthenaQueryRunner(localAthenaClient(server.endpoint), {
    workGroup: 'partner-audit',
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
}

/** A fresh run id per test, so that tokens never collide across tests. */
function runId(): string {
  runNo += 1;
  return `run-${runNo}`;
}

const insertOne: SqlQuery = {
  sql: `INSERT INTO "audit_db"."usage_rollup" (bucket, batch) SELECT 'b', 'x' FROM (SELECT 1) AS t WHERE ? <> ''`,
  params: ["'2026/03/14'"],
};

async function rollupCount(): Promise<number> {
  const rows = await server.sql('SELECT count(*) AS n FROM audit_db.usage_rollup');
  return Number(rows[0]?.['n']);
}

beforeAll(async () => {
  server = await AthenaLocalServer.start(tables);
});

afterAll(async () => {
  await server?.stop();
});

beforeEach(async () => {
  sleeps = [];
  await server.sql('DELETE FROM audit_db.usage_rollup');
});

describe('AthenaQueryRunner', () => {
  it('submits with the work group, the parameters and a 64-character token, and reports bytes scanned', async () => {
    const id = runId();
    const out = await runner().run(insertOne, id);
    const start = server.calls.filter((c) => c.operation === 'StartQueryExecution').at(-1)?.input;
    expect(start?.['WorkGroup']).toBe('partner-audit');
    expect(start?.['ExecutionParameters']).toEqual(["'2026/03/14'"]);
    expect(start?.['ClientRequestToken']).toBe(clientRequestToken(insertOne, id, 0));
    expect(String(start?.['ClientRequestToken'])).toMatch(/^[0-9a-f]{64}$/);
    expect(out.submissions).toBe(1);
    expect(out.bytesScanned).toBe(0);
    expect(await rollupCount()).toBe(1);
  });

  it('is idempotent: the same run submitting the same statement gets the same execution, run once', async () => {
    const id = runId();
    const first = await runner().run(insertOne, id);
    const again = await runner().run(insertOne, id);
    expect(again.queryExecutionId).toBe(first.queryExecutionId);
    expect(await rollupCount()).toBe(1);
    const other = await runner().run(insertOne, runId());
    expect(other.queryExecutionId).not.toBe(first.queryExecutionId);
    expect(await rollupCount()).toBe(2);
  });

  it('tokens differ by run, attempt, SQL and parameters', () => {
    const base = clientRequestToken(insertOne, 'r', 0);
    expect(clientRequestToken(insertOne, 'r2', 0)).not.toBe(base);
    expect(clientRequestToken(insertOne, 'r', 1)).not.toBe(base);
    expect(clientRequestToken({ ...insertOne, params: ["'2026/03/15'"] }, 'r', 0)).not.toBe(base);
    expect(clientRequestToken({ ...insertOne, sql: `${insertOne.sql} ` }, 'r', 0)).not.toBe(base);
  });

  it('polls QUEUED and RUNNING (also back to QUEUED) with growing waits until SUCCEEDED', async () => {
    server.inject({ kind: 'states', states: ['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING'] });
    await runner({ pollInitialMs: 100, pollMaxMs: 200 }).run(insertOne, runId());
    expect(sleeps).toEqual([100, 150, 200, 200]);
    expect(await rollupCount()).toBe(1);
  });

  it('resubmits a FAILED query whose AthenaError is retryable, with the next token', async () => {
    const id = runId();
    server.inject({ kind: 'fail', retryable: true });
    const out = await runner().run(insertOne, id);
    expect(out.submissions).toBe(2);
    const tokens = server.calls
      .filter((c) => c.operation === 'StartQueryExecution')
      .slice(-2)
      .map((c) => c.input['ClientRequestToken']);
    expect(tokens).toEqual([clientRequestToken(insertOne, id, 0), clientRequestToken(insertOne, id, 1)]);
    expect(await rollupCount()).toBe(1);
  });

  it('gives up after maxResubmits with a retryable error, having run nothing', async () => {
    server.inject({
      kind: 'fail',
      retryable: true,
      times: 3,
      message: 'Amazon Athena experienced an internal error',
    });
    const error = await runner({ maxResubmits: 2 })
      .run(insertOne, runId())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AthenaQueryError);
    expect((error as AthenaQueryError).retryable).toBe(true);
    expect((error as AthenaQueryError).details.submissions).toBe(3);
    expect((error as AthenaQueryError).message).toContain('internal error');
    expect(await rollupCount()).toBe(0);
  });

  it('does not resubmit a FAILED query that is not retryable', async () => {
    server.inject({ kind: 'fail', retryable: false, message: 'TABLE_NOT_FOUND' });
    const error = (await runner()
      .run(insertOne, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.name).toBe('AthenaQueryError');
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ state: 'FAILED', submissions: 1, errorCategory: 2 });
  });

  it('reports a SQL error from the engine as a FAILED, non-retryable query', async () => {
    const error = (await runner()
      .run({ sql: 'SELECT no_such_column FROM "audit_db"."usage_rollup"', params: [] }, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/no_such_column/);
  });

  it('treats CANCELLED as an error that a retry will not fix', async () => {
    server.inject({ kind: 'cancel' });
    const error = (await runner()
      .run(insertOne, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.details.state).toBe('CANCELLED');
    expect(error.retryable).toBe(false);
  });

  it.each([
    ['TooManyRequestsException', 'StartQueryExecution'],
    ['ThrottlingException', 'GetQueryExecution'],
  ] as const)('backs off with full jitter on %s from %s, then succeeds', async (error, operation) => {
    server.inject({ kind: 'throttle', operation, error, times: 3 });
    await runner({ throttleBaseMs: 400, throttleMaxMs: 1000 }).run(insertOne, runId());
    // random() = 0.5 of a cap that doubles from 400 up to 1000
    expect(sleeps.slice(0, 3)).toEqual([200, 400, 500]);
    expect(await rollupCount()).toBe(1);
  });

  it('fails retryable when throttling outlasts its retries', async () => {
    server.inject({ kind: 'throttle', operation: 'StartQueryExecution', times: 3 });
    const error = (await runner({ maxThrottleRetries: 2 })
      .run(insertOne, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('throttling');
    expect(sleeps).toHaveLength(2);
  });

  it('stops waiting at its deadline, leaving the query to a retry that resumes the same execution', async () => {
    const id = runId();
    let now = 0;
    server.inject({ kind: 'states', states: ['QUEUED', 'QUEUED', 'QUEUED', 'QUEUED'] });
    const slow = runner({
      timeoutMs: 1000,
      pollInitialMs: 400,
      pollMaxMs: 400,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    const error = (await slow.run(insertOne, id).catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.retryable).toBe(true);
    expect(error.details.state).toBe('QUEUED');
    const resumed = await runner().run(insertOne, id);
    expect(resumed.queryExecutionId).toBe(error.details.queryExecutionId);
    expect(await rollupCount()).toBe(1);
  });

  it('ends every wait by the deadline withTimeLeft gives, before its own longer per-statement limit', async () => {
    const id = runId();
    let now = 0;
    server.inject({ kind: 'states', states: Array(20).fill('RUNNING') });
    const bounded = runner({
      timeoutMs: 780_000,
      pollInitialMs: 1000,
      pollMaxMs: 1000,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    }).withTimeLeft(5500);
    const error = (await bounded.run(insertOne, id).catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/still RUNNING at the step's deadline/);
    expect(now).toBeLessThanOrEqual(5500);
    server.inject({ kind: 'states', states: [] });
    const resumed = await runner().run(insertOne, id);
    expect(resumed.queryExecutionId).toBe(error.details.queryExecutionId);
    expect(await rollupCount()).toBe(1);
  });

  it('stops backing off from throttling at the deadline, with a retryable error', async () => {
    let now = 0;
    // Three throttled calls: waits of 200 and 400 ms fit in the second, the third's 800 ms would not.
    server.inject({ kind: 'throttle', operation: 'StartQueryExecution', times: 3 });
    const bounded = runner({
      throttleBaseMs: 400,
      throttleMaxMs: 20_000,
      now: () => now,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
    }).withTimeLeft(1000);
    const error = (await bounded.run(insertOne, runId()).catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/deadline/);
    expect(now).toBe(600);
    expect(sleeps).toEqual([200, 400]);
    expect(await rollupCount()).toBe(0);
  });

  it('resubmits after an Iceberg commit conflict with a growing, jittered backoff, then gives up retryably', async () => {
    const message = 'ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table: conflict';
    server.inject({ kind: 'fail', retryable: false, message, times: 3 });
    const error = (await runner({ maxConflictRetries: 2, conflictBaseMs: 1000, conflictMaxMs: 1500 })
      .run(insertOne, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.retryable).toBe(true);
    expect(error.details.submissions).toBe(3);
    // random() = 0.5 of 1000, then of min(2000, 1500)
    expect(sleeps.filter((ms) => ms >= 500)).toEqual([500, 750]);
    expect(await rollupCount()).toBe(0);
  });

  it('does not count commit conflicts against the resubmits of retryable failures', async () => {
    server.inject({ kind: 'fail', retryable: false, message: 'ICEBERG_COMMIT_ERROR: conflict', times: 2 });
    server.inject({ kind: 'fail', retryable: true, times: 1 });
    const out = await runner({ maxResubmits: 1, maxConflictRetries: 2 }).run(insertOne, runId());
    expect(out.submissions).toBe(4);
    expect(await rollupCount()).toBe(1);
  });

  it('reads every page of a large result, skipping only the header row', async () => {
    const out = await runner().select(
      {
        sql: 'SELECT i, CAST(i AS varchar) AS s, NULL AS n FROM range(2500) AS t(i) WHERE i >= ?',
        params: ['0'],
      },
      runId(),
      (row) => row,
    );
    expect(out.rows).toHaveLength(2500);
    expect(out.rows[0]).toEqual({ i: '0', s: '0', n: null });
    expect(out.rows[2499]).toEqual({ i: '2499', s: '2499', n: null });
    const pages = server.calls.filter((c) => c.operation === 'GetQueryResults');
    expect(pages.slice(-3).map((c) => c.input['NextToken'] ?? null)).toEqual([null, '1000', '2000']);
  });

  it('binds a parameter holding quotes and SQL as a plain value', async () => {
    const nasty = "x'); DROP TABLE audit_db.usage_rollup; --";
    const out = await runner().select(
      {
        sql: "SELECT 'found' AS v FROM (SELECT 1) AS t WHERE strpos(?, 'DROP TABLE') > 0",
        params: [sqlString(nasty)],
      },
      runId(),
      (row) => row['v'],
    );
    expect(out.rows).toEqual(['found']);
    const echoed = await runner().select(
      {
        sql: 'SELECT 1 AS one FROM (SELECT 1) AS t WHERE ? = ?',
        params: [sqlString(nasty), sqlString(nasty)],
      },
      runId(),
      (row) => row['one'],
    );
    expect(echoed.rows).toEqual(['1']);
    expect(await rollupCount()).toBe(0);
  });

  it('is refused, as by Athena, when a DELETE carries parameters', async () => {
    const error = (await runner()
      .run({ sql: 'DELETE FROM "audit_db"."usage_rollup" WHERE batch = ?', params: ["'x'"] }, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.message).toContain('only for SELECT, INSERT INTO, CTAS and UNLOAD');
  });

  it('is refused, as by Athena, when a parameter sits before the WHERE clause', async () => {
    const error = (await runner()
      .run({ sql: 'SELECT ? AS v', params: ["'x'"] }, runId())
      .catch((e: unknown) => e)) as AthenaQueryError;
    expect(error.message).toContain('only in the WHERE clause');
  });
});
