/**
 * Runs one Athena statement to the end and reads its results: the only place that knows Athena's
 * query life cycle (QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, and back to QUEUED).
 *
 * - Idempotent submission: the ClientRequestToken is a hash of the run id, the attempt number, the
 *   SQL and its parameters. A Lambda retried with the same run id gets the same query execution back
 *   instead of starting a second one (which matters for INSERT), and a fresh run starts fresh.
 * - A FAILED query whose AthenaError says `Retryable` is resubmitted (with the next attempt's token)
 *   up to `maxResubmits` times; any other failure, and CANCELLED, is an AthenaQueryError.
 * - A retried step presents the same tokens, and Athena answers them with the executions an earlier
 *   invocation started: one that had already FAILED (retryably) before this call began is skipped
 *   without counting against `maxResubmits`, so a step retry can succeed once Athena recovers instead
 *   of replaying the same failures forever.
 * - An UNLOAD writes into a folder that must be empty, so its text cannot stay the same from one
 *   submission to the next: runPerSubmission names the folder after the submission's token, so a
 *   resumed execution keeps its folder and a new submission gets an empty one.
 * - TooManyRequestsException and ThrottlingException on any call back off with full jitter.
 * - Running out of time (`timeoutMs`, or the step's own deadline given by `withTimeLeft`) leaves the
 *   query running and throws a retryable error: the retried Lambda presents the same token and resumes
 *   waiting for the same query. A Lambda is killed at its timeout without a word, which the state
 *   machine would not retry; so a step hands the runner the time its invocation has left, and every
 *   wait (polls, throttling and conflict backoff) stops short of it.
 * - An Iceberg commit conflict (two MERGEs writing the same partitions at once: ICEBERG_COMMIT_ERROR)
 *   is resubmitted after a fully jittered backoff, up to `maxConflictRetries` times, then thrown as
 *   retryable. The failed statement committed nothing and the MERGE is idempotent, so running it again
 *   is safe; the later commit sees the earlier one's rows.
 */
import { createHash } from 'node:crypto';
import {
  type AthenaClient,
  GetQueryExecutionCommand,
  type GetQueryExecutionCommandOutput,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import type { SqlQuery } from './sql.js';

/** How the runner submits, waits and backs off. Every delay goes through `sleep`, for tests. */
export interface AthenaQueryRunnerOptions {
  readonly workGroup: string;
  /** Default database of the statements (QueryExecutionContext). */
  readonly database?: string;
  /** Resubmissions of a query that FAILED with `Retryable: true`. @default 2 */
  readonly maxResubmits?: number;
  /** Retries of one API call refused with throttling. @default 8 */
  readonly maxThrottleRetries?: number;
  /** First wait between status polls; grows by half each poll. @default 250 */
  readonly pollInitialMs?: number;
  /** @default 5000 */
  readonly pollMaxMs?: number;
  /** Base of the exponential, fully jittered backoff after throttling. @default 400 */
  readonly throttleBaseMs?: number;
  /** @default 20000 */
  readonly throttleMaxMs?: number;
  /** Give up waiting on one statement after this long (the query keeps running). @default 780000 */
  readonly timeoutMs?: number;
  /**
   * An absolute deadline (in `now`'s milliseconds) for every statement, on top of `timeoutMs`: the
   * step's invocation ends there. Usually set through {@link AthenaQueryRunner.withTimeLeft}.
   * @default none
   */
  readonly deadlineAt?: number;
  /** Resubmissions after an Iceberg commit conflict, each after a backoff. @default 4 */
  readonly maxConflictRetries?: number;
  /** Base of the exponential, fully jittered backoff after a commit conflict. @default 2000 */
  readonly conflictBaseMs?: number;
  /** @default 30000 */
  readonly conflictMaxMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the jitter source. */
  readonly random?: () => number;
  /** Milliseconds, for the timeout only. */
  readonly now?: () => number;
}

/** What running one statement cost and which execution did it. */
export interface QueryOutcome {
  readonly queryExecutionId: string;
  /** Statistics.DataScannedInBytes of the successful execution (a number: Athena's own type). */
  readonly bytesScanned: number;
  /** Submissions made: 1, plus one per retryable failure. */
  readonly submissions: number;
}

/** A result row by column name; `null` where Athena returned no value (SQL NULL). */
export type ResultRow = Readonly<Record<string, string | null>>;

export interface SelectOutcome<T> extends QueryOutcome {
  readonly rows: readonly T[];
}

/** A statement did not complete. `retryable` says whether running the step again may succeed. */
export class AthenaQueryError extends Error {
  override readonly name = 'AthenaQueryError';
  constructor(
    message: string,
    readonly details: {
      readonly retryable: boolean;
      readonly queryExecutionId?: string;
      readonly state?: string;
      readonly errorCategory?: number;
      readonly errorType?: number;
      readonly submissions: number;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    return this.details.retryable;
  }
}

/**
 * Whether a FAILED statement lost an Iceberg commit race: Athena reports ICEBERG_COMMIT_ERROR when
 * another writer committed to the same table first (its message speaks of a conflict). Athena does not
 * mark these `Retryable`, yet the same statement run again a moment later succeeds.
 */
export function isCommitConflict(message: string | undefined): boolean {
  return message !== undefined && /ICEBERG_COMMIT_ERROR|\bconflict/i.test(message);
}

const THROTTLING = new Set(['TooManyRequestsException', 'ThrottlingException', 'Throttling']);

function isThrottling(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return (
    e !== undefined &&
    ((e.name !== undefined && THROTTLING.has(e.name)) || e.$metadata?.httpStatusCode === 429)
  );
}

/** A server-side fault or a failure to reach Athena at all: trying again later may work. */
function isTransient(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  return e?.name === 'InternalServerException' || status === undefined || status >= 500;
}

/**
 * Earlier invocations' failed executions one call walks past at most: each step retry adds at most
 * `maxResubmits + 1`, and the state machine retries a step five times.
 */
const MAX_INHERITED_FAILURES = 50;

/** 32..128 characters, as StartQueryExecution requires: a SHA-256 in hex is 64. */
export function clientRequestToken(query: SqlQuery, runId: string, attempt: number): string {
  const h = createHash('sha256');
  h.update(`${runId}\n${attempt}\n${query.sql}\n`);
  for (const p of query.params) h.update(`${p.length}:${p}\n`);
  return h.digest('hex');
}

/** What names one submission's own output (see {@link AthenaQueryRunner.runPerSubmission}). */
export function submissionTag(token: string): string {
  return token.slice(0, 16);
}

export class AthenaQueryRunner {
  private readonly o: Required<Omit<AthenaQueryRunnerOptions, 'database' | 'deadlineAt'>> & {
    database?: string;
    deadlineAt?: number;
  };

  constructor(
    private readonly client: AthenaClient,
    private readonly options: AthenaQueryRunnerOptions,
  ) {
    this.o = {
      maxResubmits: 2,
      maxThrottleRetries: 8,
      maxConflictRetries: 4,
      pollInitialMs: 250,
      pollMaxMs: 5000,
      throttleBaseMs: 400,
      throttleMaxMs: 20_000,
      conflictBaseMs: 2000,
      conflictMaxMs: 30_000,
      timeoutMs: 780_000,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      random: Math.random,
      now: Date.now,
      ...options,
    };
  }

  /**
   * The same runner (client, options) whose statements all end by `ms` from now, by this runner's
   * clock: a step passes its Lambda's remaining time less a margin for what it does afterwards.
   */
  withTimeLeft(ms: number): AthenaQueryRunner {
    const at = this.o.now() + Math.max(0, ms);
    return new AthenaQueryRunner(this.client, {
      ...this.options,
      deadlineAt: this.o.deadlineAt === undefined ? at : Math.min(at, this.o.deadlineAt),
    });
  }

  /** Run a statement (DDL, INSERT, DELETE, SELECT whose rows are not needed) to SUCCEEDED. */
  async run(query: SqlQuery, runId: string): Promise<QueryOutcome> {
    return this.execute((attempt) => ({ query, token: clientRequestToken(query, runId, attempt) }));
  }

  /**
   * Run a statement whose text must differ from one submission to the next: an UNLOAD, whose target
   * folder must be empty (Athena refuses HIVE_PATH_ALREADY_EXISTS otherwise). Each submission's
   * ClientRequestToken is derived from `template` as {@link run} derives it, and its statement is
   * `render(tag)`, `tag` being 16 hex digits of that token; so a retried step that presents the same
   * token resumes (or reuses the output of) the very execution an earlier invocation started, and any
   * new submission (after a retryable failure that may have written part of its folder, or when the
   * template changed) writes into a folder of its own. A submission refused because its folder already
   * holds objects (an execution Athena no longer knows by its token wrote there) moves on to the next
   * tag. Returns the statement that succeeded.
   */
  async runPerSubmission(
    template: SqlQuery,
    runId: string,
    render: (tag: string) => SqlQuery,
  ): Promise<QueryOutcome & { readonly query: SqlQuery }> {
    let last = template;
    const out = await this.execute(
      (attempt) => {
        const token = clientRequestToken(template, runId, attempt);
        last = render(submissionTag(token));
        return { query: last, token };
      },
      (reason) => reason.includes('HIVE_PATH_ALREADY_EXISTS'),
    );
    return { ...out, query: last };
  }

  /**
   * The submission loop: `submission(attempt)` gives each attempt's statement and token. A FAILED
   * execution whose reason `taken` accepts is walked past like an earlier invocation's failure.
   */
  private async execute(
    submission: (attempt: number) => { readonly query: SqlQuery; readonly token: string },
    taken?: (reason: string) => boolean,
  ): Promise<QueryOutcome> {
    const startedAt = this.o.now();
    const deadline = Math.min(startedAt + this.o.timeoutMs, this.o.deadlineAt ?? Number.POSITIVE_INFINITY);
    // Failed executions of earlier invocations (a retried step) that this call walked past.
    let inherited = 0;
    let conflicts = 0;
    for (let attempt = 0; ; attempt++) {
      const submissions = attempt + 1;
      if (this.o.now() >= deadline) {
        throw new AthenaQueryError(`no time left to submit the statement (attempt ${submissions})`, {
          retryable: true,
          submissions: attempt,
        });
      }
      const { query, token } = submission(attempt);
      const started = await this.call(
        () =>
          this.client.send(
            new StartQueryExecutionCommand({
              QueryString: query.sql,
              ExecutionParameters: query.params.length > 0 ? [...query.params] : undefined,
              ClientRequestToken: token,
              WorkGroup: this.o.workGroup,
              QueryExecutionContext: this.o.database ? { Database: this.o.database } : undefined,
            }),
          ),
        submissions,
      );
      const id = started.QueryExecutionId;
      if (!id)
        throw new AthenaQueryError('StartQueryExecution returned no id', { retryable: true, submissions });
      const execution = await this.waitFor(id, deadline, submissions);
      const status = execution.QueryExecution?.Status;
      const state = status?.State;
      if (state === 'SUCCEEDED') {
        return {
          queryExecutionId: id,
          bytesScanned: execution.QueryExecution?.Statistics?.DataScannedInBytes ?? 0,
          submissions,
        };
      }
      const error = status?.AthenaError;
      const reason = error?.ErrorMessage ?? status?.StateChangeReason ?? 'no reason given';
      if (state === 'FAILED' && taken?.(reason) && inherited < MAX_INHERITED_FAILURES) {
        inherited++;
        continue;
      }
      const conflict = state === 'FAILED' && isCommitConflict(reason);
      const retryable = state === 'FAILED' && (error?.Retryable === true || conflict);
      if (retryable) {
        const completed = status?.CompletionDateTime?.getTime();
        if (completed !== undefined && completed < startedAt && inherited < MAX_INHERITED_FAILURES) {
          inherited++;
          continue;
        }
        if (conflict) {
          if (conflicts < this.o.maxConflictRetries) {
            const cap = Math.min(this.o.conflictMaxMs, this.o.conflictBaseMs * 2 ** conflicts);
            conflicts++;
            // The other writer's commit needs a moment; both retrying at once would collide again.
            await this.sleepBefore(Math.floor(this.o.random() * cap), deadline, id, submissions);
            continue;
          }
        } else if (attempt - inherited - conflicts < this.o.maxResubmits) continue;
      }
      throw new AthenaQueryError(`query ${id} ${state}: ${reason}`, {
        // A retryable failure that outlasted the resubmits may still pass on a later step retry.
        retryable,
        queryExecutionId: id,
        state,
        errorCategory: error?.ErrorCategory,
        errorType: error?.ErrorType,
        submissions,
      });
    }
  }

  /** Run a SELECT and read every result row (paging, skipping the header row), mapped by `map`. */
  async select<T>(query: SqlQuery, runId: string, map: (row: ResultRow) => T): Promise<SelectOutcome<T>> {
    const outcome = await this.run(query, runId);
    const rows: T[] = [];
    let next: string | undefined;
    let first = true;
    let names: string[] = [];
    do {
      const page = await this.call(
        () =>
          this.client.send(
            new GetQueryResultsCommand({
              QueryExecutionId: outcome.queryExecutionId,
              NextToken: next,
              MaxResults: 1000,
            }),
          ),
        outcome.submissions,
      );
      if (first) names = (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? '');
      const pageRows = page.ResultSet?.Rows ?? [];
      // The first row of a SELECT's first page repeats the column names.
      for (let i = first ? 1 : 0; i < pageRows.length; i++) {
        const data = pageRows[i]?.Data ?? [];
        const row: Record<string, string | null> = {};
        names.forEach((name, c) => {
          row[name] = data[c]?.VarCharValue ?? null;
        });
        rows.push(map(row));
      }
      first = false;
      next = page.NextToken;
    } while (next);
    return { ...outcome, rows };
  }

  private async waitFor(
    id: string,
    deadline: number,
    submissions: number,
  ): Promise<GetQueryExecutionCommandOutput> {
    let wait = this.o.pollInitialMs;
    for (;;) {
      const out = await this.call(
        () => this.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id })),
        submissions,
      );
      const state = out.QueryExecution?.Status?.State;
      if (state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED') return out;
      if (this.o.now() + wait > deadline) {
        const why =
          deadline === this.o.deadlineAt ? "at the step's deadline" : `after ${this.o.timeoutMs} ms`;
        throw new AthenaQueryError(`query ${id} still ${state ?? 'unknown'} ${why}`, {
          retryable: true,
          queryExecutionId: id,
          state,
          submissions,
        });
      }
      await this.o.sleep(wait);
      wait = Math.min(this.o.pollMaxMs, Math.ceil(wait * 1.5));
    }
  }

  /** Sleeps `ms`, or throws a retryable error when that would pass the deadline. */
  private async sleepBefore(ms: number, deadline: number, id: string, submissions: number): Promise<void> {
    if (this.o.now() + ms > deadline) {
      throw new AthenaQueryError(`query ${id} hit a commit conflict and no time is left to retry it`, {
        retryable: true,
        queryExecutionId: id,
        state: 'FAILED',
        submissions,
      });
    }
    await this.o.sleep(ms);
  }

  /** One API call, retried with full-jitter exponential backoff while Athena says it is throttling. */
  private async call<T>(send: () => Promise<T>, submissions: number): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await send();
      } catch (error) {
        if (!isThrottling(error)) {
          throw new AthenaQueryError(
            `Athena call failed: ${(error as Error).message}`,
            {
              retryable: isTransient(error),
              submissions,
            },
            { cause: error },
          );
        }
        if (retry >= this.o.maxThrottleRetries) {
          throw new AthenaQueryError(
            `Athena still throttling after ${retry} retries`,
            { retryable: true, submissions },
            {
              cause: error,
            },
          );
        }
        const cap = Math.min(this.o.throttleMaxMs, this.o.throttleBaseMs * 2 ** retry);
        const delay = Math.floor(this.o.random() * cap);
        if (this.o.deadlineAt !== undefined && this.o.now() + delay > this.o.deadlineAt) {
          throw new AthenaQueryError(
            "Athena throttling outlasts the step's deadline",
            { retryable: true, submissions },
            { cause: error },
          );
        }
        await this.o.sleep(delay);
      }
    }
  }
}
