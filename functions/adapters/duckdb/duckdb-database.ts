/**
 * The local engine's state file: one DuckDB database holding the usage rollup, what was ingested from
 * which log file, and the notice ledger. This module owns the connection, the in-process lock on the
 * file, the queue that keeps concurrent callers out of each other's transactions, and the schema. The
 * usage source, the notice ledger and the ingest log (one file each) are views over one database.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { DuckDbStoreError, InvalidRollupRowError } from './errors.js';
import { DROP_OLD_HELD_ROWS, OLD_HELD_ROWS_SHAPE } from './holdings-writer.js';
import { memoryLimitSetting, stateMemoryLimit } from './memory-limit.js';
import { DROP_OLD_NETWORK, NETWORK_UNCODED, OLD_NETWORK_SHAPE } from './network-store.js';
import { splitClaimsByDay } from './request-claims.js';
import {
  CLAIMS_ONE_TABLE,
  CREATE_SCHEMA,
  DROP_OLD_CLAIMS,
  INGESTED_FILES_WITH_KEY,
  OLD_CLAIMS_SHAPE,
  REBUILD_INGESTED_FILES,
  ROLLUP_UNCODED,
  SCHEMA_VERSION,
  SETTING_HOLDINGS,
  SETTING_SCHEMA_VERSION,
  SQL,
  UPGRADE_NETWORK,
  UPGRADE_ROLLUP,
} from './schema.js';

/**
 * Paths open in this process. DuckDB's file lock keeps other processes out, but not a second instance in
 * the same process, and two instances writing one file corrupt it.
 */
const openPaths = new Set<string>();

/**
 * One connection to the state file. Every call (`serial`) runs after the previous one settled, so
 * concurrent async callers never interleave inside a transaction.
 */
export class DuckDbDatabase {
  readonly path: string;
  /** DuckDB's memory limit in bytes, which the database is opened with (memory-limit.ts). */
  readonly memoryLimit = stateMemoryLimit();
  private readonly instance: DuckDBInstance;
  private readonly connection: DuckDBConnection;
  private readonly lockKey: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    path: string,
    lockKey: string | undefined,
    instance: DuckDBInstance,
    connection: DuckDBConnection,
  ) {
    this.path = path;
    this.lockKey = lockKey;
    this.instance = instance;
    this.connection = connection;
  }

  /**
   * Opens (creating if missing) the database at `path`, or an in-memory one for `:memory:`, and creates
   * the schema. Fails if another process holds the file, or this process already has it open.
   */
  static async open(path: string): Promise<DuckDbDatabase> {
    let lockKey: string | undefined;
    if (path !== ':memory:') {
      const absolute = resolve(path);
      try {
        mkdirSync(dirname(absolute), { recursive: true });
        lockKey = join(realpathSync(dirname(absolute)), basename(absolute));
      } catch (cause) {
        throw new DuckDbStoreError('open', path, `cannot create its folder: ${messageOf(cause)}`, { cause });
      }
      if (openPaths.has(lockKey)) {
        throw new DuckDbStoreError('open', path, 'already open in this process; share that store instead');
      }
      openPaths.add(lockKey);
    }
    let instance: DuckDBInstance | undefined;
    try {
      instance = await DuckDBInstance.create(path, { memory_limit: memoryLimitSetting(stateMemoryLimit()) });
      const connection = await instance.connect();
      const database = new DuckDbDatabase(path, lockKey, instance, connection);
      await database.initialise();
      return database;
    } catch (cause) {
      instance?.closeSync();
      if (lockKey) openPaths.delete(lockKey);
      if (cause instanceof DuckDbStoreError) throw cause;
      const hint = /lock/i.test(messageOf(cause))
        ? ' (another process, e.g. a running audit, has it open)'
        : '';
      throw new DuckDbStoreError('open', path, `${messageOf(cause)}${hint}`, { cause });
    }
  }

  /** Waits for queued calls, then closes the database. Calling it again returns the same promise. */
  close(): Promise<void> {
    this.closing ??= this.serial('close', async () => {
      this.closed = true;
      try {
        this.connection.closeSync();
        this.instance.closeSync();
      } finally {
        if (this.lockKey) openPaths.delete(this.lockKey);
      }
    });
    return this.closing;
  }

  /**
   * Runs `work` after every earlier call settled, wrapping DuckDB's errors in a DuckDbStoreError that
   * names `operation`. Range errors and invalid rows are the caller's mistake and pass unwrapped.
   */
  serial<T>(operation: string, work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new DuckDbStoreError(operation, this.path, 'the store is closed');
      try {
        return await work(this.connection);
      } catch (cause) {
        if (cause instanceof DuckDbStoreError || cause instanceof InvalidRollupRowError) throw cause;
        if (cause instanceof RangeError) throw cause;
        throw new DuckDbStoreError(operation, this.path, messageOf(cause), { cause });
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `serial`, with `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(operation: string, work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.serial(operation, async (connection) => {
      await connection.run('BEGIN TRANSACTION');
      try {
        const result = await work(connection);
        await connection.run('COMMIT');
        return result;
      } catch (error) {
        try {
          await connection.run('ROLLBACK');
        } catch {
          // A failed COMMIT has already ended the transaction; the first error is the one to report.
        }
        throw error;
      }
    });
  }

  private async initialise(): Promise<void> {
    const connection = this.connection;
    const shape = await earlierShapes(connection);
    // Claims in the first release's shape: dropped, as the changed ingestion settings fingerprint
    // (rollup: 3, local-ingest.ts) makes the next ingestion rebuild the rollup and its claims anyway.
    if (shape.oldClaims) await connection.run(DROP_OLD_CLAIMS);
    // One table of every day's claims: split into a table per day, the view in its place.
    else if (shape.claimsOneTable) await inTransactionDo(connection, splitClaimsByDay);
    // held_rows with a text batch, likewise (holdings: 2). The state then keeps no holdings until an
    // ingestion that keeps them rebuilds them, as the holdings command then says.
    if (shape.oldHeldRows) {
      await inTransaction(connection, [...DROP_OLD_HELD_ROWS]);
      await connection.run(SQL.putSetting, [SETTING_HOLDINGS, 'off']);
    }
    // A network table per UTC day, likewise (rollup: 5).
    if (shape.oldNetwork) await connection.run(DROP_OLD_NETWORK);
    // A rollup still stored as strings: coded (every row kept) before the schema puts the view in its place.
    if (shape.rollupUncoded) await inTransaction(connection, UPGRADE_ROLLUP);
    // The network table per slot, likewise, into the same dictionary.
    if (shape.networkUncoded) await inTransaction(connection, UPGRADE_NETWORK);
    // One commit rather than one a statement: a new state file's two dozen tables and columns then cost
    // one write of the log (and one sync to disk) instead of one each.
    await inTransaction(connection, CREATE_SCHEMA);
    // CREATE_SCHEMA leaves an existing ingested_files as it is, key and all.
    if (shape.ingestedFilesWithKey) await inTransaction(connection, REBUILD_INGESTED_FILES);
    await connection.run(SQL.insertSettingIfAbsent, [SETTING_SCHEMA_VERSION, SCHEMA_VERSION]);
    const version = await readSetting(connection, SETTING_SCHEMA_VERSION);
    if (version !== SCHEMA_VERSION) {
      throw new DuckDbStoreError(
        'open',
        this.path,
        `schema version ${version} is not ${SCHEMA_VERSION}; use a new state file or the matching release`,
      );
    }
  }
}

/** Which tables of an earlier release's shape the state file holds; see `initialise` for each. */
interface EarlierShapes {
  readonly oldClaims: boolean;
  readonly claimsOneTable: boolean;
  readonly oldHeldRows: boolean;
  readonly oldNetwork: boolean;
  readonly rollupUncoded: boolean;
  readonly networkUncoded: boolean;
  readonly ingestedFilesWithKey: boolean;
}

/**
 * Every shape check of `initialise` in one statement: each catalog query costs a state's opening some
 * 10 to 30 ms, most of it binding, where one statement asking them all costs about one.
 */
const EARLIER_SHAPES = `SELECT ${[
  OLD_CLAIMS_SHAPE,
  CLAIMS_ONE_TABLE,
  OLD_HELD_ROWS_SHAPE,
  OLD_NETWORK_SHAPE,
  ROLLUP_UNCODED,
  NETWORK_UNCODED,
  INGESTED_FILES_WITH_KEY,
]
  .map((check) => `EXISTS (${check})`)
  .join(', ')}`;

async function earlierShapes(connection: DuckDBConnection): Promise<EarlierShapes> {
  const row = (await connection.runAndReadAll(EARLIER_SHAPES)).getRows()[0]!;
  const [
    oldClaims,
    claimsOneTable,
    oldHeldRows,
    oldNetwork,
    rollupUncoded,
    networkUncoded,
    ingestedFilesWithKey,
  ] = row.map((value) => value === true);
  return {
    oldClaims: oldClaims!,
    claimsOneTable: claimsOneTable!,
    oldHeldRows: oldHeldRows!,
    oldNetwork: oldNetwork!,
    rollupUncoded: rollupUncoded!,
    // A network table of the first release is a table too, but one that is dropped, not coded.
    networkUncoded: networkUncoded! && !oldNetwork!,
    ingestedFilesWithKey: ingestedFilesWithKey!,
  };
}

/** Runs `statements` in one transaction: all of them, or (on an error, rethrown) none. */
async function inTransaction(connection: DuckDBConnection, statements: readonly string[]): Promise<void> {
  await inTransactionDo(connection, async (c) => {
    for (const statement of statements) await c.run(statement);
  });
}

/** Runs `work` in one transaction: committed when it resolves, rolled back (the error rethrown) when not. */
async function inTransactionDo(
  connection: DuckDBConnection,
  work: (connection: DuckDBConnection) => Promise<void>,
): Promise<void> {
  await connection.run('BEGIN TRANSACTION');
  try {
    await work(connection);
    await connection.run('COMMIT');
  } catch (error) {
    await connection.run('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The first column of the first row, or undefined when there is none. */
export async function scalar(
  connection: DuckDBConnection,
  sql: string,
  params: DuckDBValue[] = [],
): Promise<DuckDBValue | undefined> {
  return (await connection.runAndReadAll(sql, params)).getRows()[0]?.[0];
}

/** A value of the `settings` table. */
export async function readSetting(connection: DuckDBConnection, key: string): Promise<string | undefined> {
  const value = await scalar(connection, SQL.getSetting, [key]);
  return value === undefined || value === null ? undefined : String(value);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
