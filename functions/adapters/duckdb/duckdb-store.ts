/**
 * The local engine's state in one DuckDB file: the usage rollup, what was ingested from which log file,
 * and the notice ledger. The next run opens the same file and only reads log files it has not seen.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  BIGINT,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import type { Interval } from '../../domain/time.js';
import type { RollupRow, StatusClass, UsageRow } from '../../domain/usage.js';
import type {
  Clock,
  InputSummary,
  LedgerEntry,
  MalformedSample,
  NoticeKey,
  NoticeLedger,
  UsageSource,
} from '../../ports.js';
import { DuckDbStoreError, InvalidRollupRowError } from './errors.js';
import { deleteEmptiedRows, forgetRequestClaims } from './request-claims.js';
import { appendRollupRows, type ColumnarRollupRows, STREAM_SQL, StagedRollup } from './rollup-writer.js';
import {
  CREATE_SCHEMA,
  DROP_OLD_CLAIMS,
  OLD_CLAIMS_SHAPE,
  SCHEMA_VERSION,
  SETTING_INGESTION,
  SETTING_SCHEMA_VERSION,
  SQL,
  usageQuery,
} from './schema.js';

/** A log object as the ingester found it. */
export interface IngestedFile {
  /** Identity of this content (the ingester's choice, e.g. a hash of path, size and mtime); the row batch. */
  readonly fingerprint: string;
  readonly path: string;
  /** The object's name without folders. A new file with a known basename is a re-delivery: it replaces. */
  readonly basename: string;
  /** Size in bytes as stored (compressed, for a .gz). */
  readonly size: number;
  /** Key layout the name was recognised as, e.g. `simple`, `partitioned`, `unknown`. */
  readonly layout: string;
}

/** What reading one file produced besides rollup rows. */
export interface FileStats {
  readonly lines: number;
  readonly parsedLines: number;
  readonly malformedLines: number;
  readonly malformedByReason: Readonly<Record<string, number>>;
  /** The first few malformed lines of this file; the store keeps them as evidence. */
  readonly samples: readonly Pick<MalformedSample, 'line' | 'reason' | 'text'>[];
  /** Set when the file could not be read at all; such a file is read again on the next run. */
  readonly unreadableReason?: string;
}

/** One file's complete ingestion result, as `replaceFiles` takes it. */
export interface FileIngestion {
  readonly file: IngestedFile;
  readonly rows: readonly RollupRow[];
  readonly stats: FileStats;
}

/** A file whose rows went through a RollupStream, with its bookkeeping. */
export interface StagedFileIngestion {
  /** The id its rows were staged under (their `item`). */
  readonly item: number;
  readonly file: IngestedFile;
  readonly stats: FileStats;
}

/**
 * Writes for a parallel ingester: rows are staged as workers produce them, in any order and in partial
 * sums, and a file enters the rollup (summed to one row per key) when `replaceFiles` records it.
 */
export interface RollupStream {
  /** Stages rows; `strings[id]` is the text of each id in their string columns (a growing table). */
  stage(rows: ColumnarRollupRows, strings: readonly string[]): Promise<void>;
  /**
   * `DuckDbStore.replaceFiles` for staged files, in ONE transaction: earlier versions (same basename or
   * fingerprint, recorded before or earlier in `files`) are removed, then each file's staged rows are
   * summed into the rollup and its bookkeeping and samples recorded. Statements per call, not per file.
   */
  replaceFiles(files: readonly StagedFileIngestion[]): Promise<void>;
}

export interface DuckDbStoreOptions {
  /** Stamps `ingested_files.ingested_at`. @default the system clock */
  readonly clock?: Clock;
}

export interface InputSummaryOptions {
  /** At most this many malformed samples, spread over files first-line-first. @default 20 */
  readonly maxSamples?: number;
  /** Files the caller skipped as already ingested; the store cannot know what a run saw. @default 0 */
  readonly filesSkipped?: number;
}

/** Longest malformed sample text kept, as `MalformedSample.text` promises. */
const SAMPLE_TEXT_MAX = 300;

const systemClock: Clock = { now: () => new Date() };

/**
 * Paths open in this process. DuckDB's file lock keeps other processes out, but not a second instance in
 * the same process, and two instances writing one file corrupt it.
 */
const openPaths = new Set<string>();

/**
 * DuckDB implementation of `UsageSource` and `NoticeLedger`, plus the ingestion bookkeeping the local
 * ingester needs. One connection; every call runs after the previous one finished, so concurrent async
 * callers never interleave inside a transaction.
 */
export class DuckDbStore implements UsageSource, NoticeLedger {
  readonly engine = 'duckdb';
  readonly path: string;
  private readonly instance: DuckDBInstance;
  private readonly connection: DuckDBConnection;
  private readonly clock: Clock;
  private readonly lockKey: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    path: string,
    lockKey: string | undefined,
    instance: DuckDBInstance,
    connection: DuckDBConnection,
    clock: Clock,
  ) {
    this.path = path;
    this.lockKey = lockKey;
    this.instance = instance;
    this.connection = connection;
    this.clock = clock;
  }

  /**
   * Opens (creating if missing) the database at `path`, or an in-memory one for `:memory:`, and creates
   * the schema. Fails if another process holds the file, or this process already has it open.
   */
  static async open(path: string, options: DuckDbStoreOptions = {}): Promise<DuckDbStore> {
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
      instance = await DuckDBInstance.create(path);
      const connection = await instance.connect();
      const store = new DuckDbStore(path, lockKey, instance, connection, options.clock ?? systemClock);
      await store.initialise();
      return store;
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

  // ---- ingestion bookkeeping -------------------------------------------------------------------

  /** The stored fingerprint of the settings the rollup was built with (dataset depth, manifest). */
  ingestionSettings(): Promise<string | undefined> {
    return this.serial('ingestionSettings', () => this.setting(SETTING_INGESTION));
  }

  /**
   * The rollup depends on the ingestion settings, so when `fingerprint` differs from the stored one the
   * rollup, the file bookkeeping and the samples are cleared (never the notice ledger) and `fingerprint`
   * is stored. Returns true when something was cleared: every log file must then be read again.
   */
  resetIfSettingsChanged(fingerprint: string): Promise<boolean> {
    return this.serial('resetIfSettingsChanged', () =>
      this.transaction(async () => {
        const stored = await this.setting(SETTING_INGESTION);
        if (stored === fingerprint) return false;
        const files = await this.scalar(SQL.countFiles);
        await this.connection.run(SQL.clearRollup);
        await this.connection.run(SQL.clearFiles);
        await this.connection.run(SQL.clearSamples);
        await this.connection.run(SQL.clearClaims);
        await this.connection.run(SQL.clearClaimFiles);
        await this.connection.run(SQL.putSetting, [SETTING_INGESTION, fingerprint]);
        return stored !== undefined || (files as bigint) > 0n;
      }),
    );
  }

  /**
   * Whether a file with this fingerprint was ingested and read. A file recorded as unreadable answers
   * false, so the next run tries it again (and reports it again if it still cannot be read).
   */
  hasFile(fingerprint: string): Promise<boolean> {
    return this.serial('hasFile', async () => {
      const reader = await this.connection.runAndReadAll(SQL.hasReadableFile, [fingerprint]);
      return reader.currentRowCount > 0;
    });
  }

  /** Fingerprints `hasFile` answers true for, in one query, for an ingester checking many files. */
  ingestedFingerprints(): Promise<Set<string>> {
    return this.serial('ingestedFingerprints', async () => {
      const reader = await this.connection.runAndReadAll(SQL.readableFingerprints);
      return new Set(reader.getColumns()[0]?.map(String) ?? []);
    });
  }

  /**
   * Records one file in one transaction: removes the rows and bookkeeping of any earlier file with the
   * same basename (the object re-delivered with new content) or the same fingerprint, then inserts this
   * file's rows and bookkeeping. Ingesting the same file twice leaves the same totals; a failure or crash
   * part-way leaves the previous state. Rows given whole carry no request ids: unlike a RollupStream's,
   * they are not checked for requests other files counted (see request-claims.ts).
   */
  replaceFile(file: IngestedFile, rows: readonly RollupRow[], stats: FileStats): Promise<void> {
    return this.replaceFiles([{ file, rows, stats }]);
  }

  /**
   * `replaceFile` for many files in ONE transaction: all or none are recorded. Cheaper than one call per
   * file when there are thousands of small log objects, since each commit waits for the disk.
   */
  replaceFiles(ingestions: readonly FileIngestion[]): Promise<void> {
    return this.serial('replaceFile', () =>
      this.transaction(async () => {
        for (const ingestion of ingestions) await this.writeFile(ingestion);
      }),
    );
  }

  /** Starts staging rows for a parallel ingester (see RollupStream). One stream at a time per store. */
  openRollupStream(): Promise<RollupStream> {
    return this.serial('openRollupStream', async () => {
      const staged = await StagedRollup.open(this.connection);
      return {
        stage: (rows, strings) => this.serial('stageRollupRows', () => staged.stage(rows, strings)),
        replaceFiles: (files) =>
          this.serial('replaceFile', () => this.transaction(() => this.writeStagedFiles(staged, files))),
      };
    });
  }

  /**
   * Totals from the bookkeeping of the given files (all files when omitted), with a bounded sample of
   * malformed lines. Unknown fingerprints count as nothing.
   */
  inputSummary(fingerprints?: readonly string[], options: InputSummaryOptions = {}): Promise<InputSummary> {
    const maxSamples = options.maxSamples ?? 20;
    return this.serial('inputSummary', async () => {
      if (!Number.isSafeInteger(maxSamples) || maxSamples < 0) {
        throw new RangeError(`maxSamples must be a non-negative integer: ${maxSamples}`);
      }
      const filter = fingerprints === undefined ? null : listValue([...fingerprints]);
      const files = await this.connection.runAndReadAll(SQL.fileTotals, [filter], [LIST(VARCHAR)]);
      let bytes = 0;
      let lines = 0;
      let parsedLines = 0;
      let malformedLines = 0;
      let repeatsDropped = 0;
      const malformedByReason: Record<string, number> = {};
      const unreadableFiles: { file: string; reason: string }[] = [];
      for (const row of files.getRows()) {
        const [, path, size, fileLines, parsed, malformed, byReason, unreadable, repeats] = row;
        repeatsDropped += Number(repeats ?? 0);
        bytes += Number(size);
        lines += Number(fileLines);
        parsedLines += Number(parsed);
        malformedLines += Number(malformed);
        for (const [reason, count] of Object.entries(parseReasons(String(byReason)))) {
          malformedByReason[reason] = (malformedByReason[reason] ?? 0) + count;
        }
        if (unreadable !== null) unreadableFiles.push({ file: String(path), reason: String(unreadable) });
      }
      const samples = await this.connection.runAndReadAll(
        SQL.samples,
        [filter, BigInt(maxSamples)],
        [LIST(VARCHAR), BIGINT],
      );
      return {
        files: files.currentRowCount,
        filesSkipped: options.filesSkipped ?? 0,
        bytes,
        lines,
        parsedLines,
        malformedLines,
        malformedByReason,
        repeatsDropped,
        malformedSamples: samples.getRows().map(([file, line, reason, text]) => ({
          file: String(file),
          line: Number(line),
          reason: String(reason),
          text: String(text),
        })),
        unreadableFiles,
      };
    });
  }

  /**
   * Forgets the request identities of event days more than `days` before the newest one recorded: a
   * record delivered again later than that is no longer recognised (see request-claims.ts).
   */
  forgetRequestClaims(days: number): Promise<void> {
    return this.serial('forgetRequestClaims', () => forgetRequestClaims(this.connection, days));
  }

  /** First and last slot start (epoch ms) in the rollup, or undefined when it is empty. */
  dataExtent(): Promise<{ minMs: number; maxMs: number } | undefined> {
    return this.serial('dataExtent', async () => {
      const [min, max] = (await this.connection.runAndReadAll(SQL.dataExtent)).getRows()[0] ?? [];
      if (min === null || min === undefined || max === null || max === undefined) return undefined;
      return { minMs: Number(min), maxMs: Number(max) };
    });
  }

  // ---- UsageSource ---------------------------------------------------------------------------------

  usage(range: Interval): Promise<UsageRow[]> {
    return this.serial('usage', async () => {
      const query = usageQuery(range);
      const reader = await this.connection.runAndReadAll(query.sql, [...query.params]);
      // Column-wise reading is several times faster than row-wise for large results.
      const [slot, bucket, requester, accessPoint, dataset, operation, status, requests, bytes, records] =
        reader.getColumns() as [
          bigint[],
          string[],
          string[],
          string[],
          string[],
          string[],
          StatusClass[],
          bigint[],
          bigint[],
          bigint[],
        ];
      const rows: UsageRow[] = new Array(reader.currentRowCount);
      for (let i = 0; i < rows.length; i++) {
        rows[i] = {
          slotStart: Number(slot[i]),
          bucket: bucket[i]!,
          requester: requester[i]!,
          accessPoint: accessPoint[i]!,
          dataset: dataset[i]!,
          operation: operation[i]!,
          statusClass: status[i]!,
          requests: requests[i]!,
          bytesSent: bytes[i]!,
          records: records[i]!,
        };
      }
      return rows;
    });
  }

  // ---- NoticeLedger --------------------------------------------------------------------------------

  claim(
    key: NoticeKey,
    claim: { runId: string; figuresJson: string; nowMs: number; staleAfterMs: number },
  ): Promise<'claimed' | 'already-sent' | 'held-by-another-run'> {
    return this.serial('claim', () =>
      this.transaction(async () => {
        if (!Number.isSafeInteger(claim.nowMs) || !Number.isSafeInteger(claim.staleAfterMs)) {
          throw new RangeError('claim: nowMs and staleAfterMs must be integer milliseconds');
        }
        const k = keyParams(key);
        const rows = (await this.connection.runAndReadAll(SQL.ledgerGet, k)).getRows();
        const existing = rows[0];
        const write = [...k, claim.runId, claim.figuresJson, BigInt(claim.nowMs)];
        if (!existing) {
          await this.connection.run(SQL.ledgerInsertPending, write);
          return 'claimed';
        }
        const [state, runId, claimedAtMs] = existing;
        if (state === 'sent') return 'already-sent';
        const fresh = (claimedAtMs as bigint) + BigInt(claim.staleAfterMs) > BigInt(claim.nowMs);
        if (runId !== claim.runId && fresh) return 'held-by-another-run';
        // A stale claim is a run that died between claiming and sending: take it over.
        await this.connection.run(SQL.ledgerTakeOver, write);
        return 'claimed';
      }),
    );
  }

  /**
   * Records that the notice went out. A message that was sent is recorded even if another run took the
   * claim over meanwhile; when the key is already `sent`, the first record stands.
   *
   * @throws DuckDbStoreError when the key was never claimed.
   */
  markSent(key: NoticeKey, sent: { runId: string; messageId: string; sentAt: string }): Promise<void> {
    return this.serial('markSent', () =>
      this.transaction(async () => {
        const k = keyParams(key);
        const updated = await this.connection.run(SQL.ledgerMarkSent, [
          ...k,
          sent.runId,
          sent.messageId,
          sent.sentAt,
        ]);
        if (updated.rowsChanged > 0) return;
        const exists = (await this.connection.runAndReadAll(SQL.ledgerGet, k)).currentRowCount > 0;
        if (!exists) {
          throw new DuckDbStoreError(
            'markSent',
            this.path,
            `no claim for ${key.partnerId}/${key.periodId}/${key.level}`,
          );
        }
      }),
    );
  }

  /** Deletes this run's pending claim; a claim another run holds, or a sent notice, is left alone. */
  release(key: NoticeKey, runId: string): Promise<void> {
    return this.serial('release', async () => {
      await this.connection.run(SQL.ledgerRelease, [...keyParams(key), runId]);
    });
  }

  entries(partnerId: string, periodId: string): Promise<LedgerEntry[]> {
    return this.serial('entries', async () => {
      const reader = await this.connection.runAndReadAll(SQL.ledgerEntries, [partnerId, periodId]);
      return reader.getRows().map(([partner, period, level, state, runId, messageId, sentAt, figures]) => ({
        partnerId: String(partner),
        periodId: String(period),
        level: String(level),
        state: state === 'sent' ? 'sent' : 'pending',
        runId: String(runId),
        ...(messageId === null ? {} : { messageId: String(messageId) }),
        ...(sentAt === null ? {} : { sentAt: String(sentAt) }),
        figuresJson: String(figures),
      }));
    });
  }

  // ---- internals -----------------------------------------------------------------------------------

  private async initialise(): Promise<void> {
    // Claims in the first release's shape: dropped, as the changed ingestion settings fingerprint
    // (rollup: 3, local-ingest.ts) makes the next ingestion rebuild the rollup and its claims anyway.
    if ((await this.connection.runAndReadAll(OLD_CLAIMS_SHAPE)).currentRowCount > 0) {
      await this.connection.run(DROP_OLD_CLAIMS);
    }
    for (const statement of CREATE_SCHEMA) await this.connection.run(statement);
    await this.connection.run(SQL.insertSettingIfAbsent, [SETTING_SCHEMA_VERSION, SCHEMA_VERSION]);
    const version = await this.setting(SETTING_SCHEMA_VERSION);
    if (version !== SCHEMA_VERSION) {
      throw new DuckDbStoreError(
        'open',
        this.path,
        `schema version ${version} is not ${SCHEMA_VERSION}; use a new state file or the matching release`,
      );
    }
  }

  private async writeFile({ file, rows, stats }: FileIngestion): Promise<void> {
    this.checkStats(file, stats);
    const superseded = (
      await this.connection.runAndReadAll(SQL.supersededFiles, [file.basename, file.fingerprint])
    )
      .getRows()
      .map(([fingerprint]) => String(fingerprint));
    // Most files are new: skip the deletes, which scan the rollup, when nothing is superseded.
    if (superseded.length > 0) {
      const list: DuckDBValue[] = [listValue(superseded)];
      const types: DuckDBType[] = [LIST(VARCHAR)];
      await this.connection.run(SQL.deleteRollupOf, list, types);
      await this.connection.run(SQL.deleteClaimsOf, list, types);
      await this.connection.run(SQL.deleteClaimFilesOf, list, types);
      await this.connection.run(SQL.deleteSamplesOf, list, types);
      await this.connection.run(SQL.deleteFilesOf, list, types);
    }
    await appendRollupRows(this.connection, file.fingerprint, rows);
    await this.connection.run(SQL.insertFile, [
      file.fingerprint,
      file.path,
      file.basename,
      BigInt(file.size),
      file.layout,
      BigInt(stats.lines),
      BigInt(stats.parsedLines),
      BigInt(stats.malformedLines),
      JSON.stringify(stats.malformedByReason),
      stats.unreadableReason ?? null,
      BigInt(this.clock.now().getTime()),
    ]);
    for (const sample of stats.samples) {
      await this.connection.run(SQL.insertSample, [
        file.fingerprint,
        file.path,
        BigInt(sample.line),
        sample.reason,
        sample.text.slice(0, SAMPLE_TEXT_MAX),
      ]);
    }
  }

  private async writeStagedFiles(staged: StagedRollup, files: readonly StagedFileIngestion[]): Promise<void> {
    if (files.length === 0) return;
    for (const { file, stats } of files) this.checkStats(file, stats);
    const superseded = (
      await this.connection.runAndReadAll(
        STREAM_SQL.supersededBy,
        [listValue(files.map((f) => f.file.basename)), listValue(files.map((f) => f.file.fingerprint))],
        [LIST(VARCHAR), LIST(VARCHAR)],
      )
    )
      .getRows()
      .map(([fingerprint]) => String(fingerprint));
    if (superseded.length > 0) {
      const list: DuckDBValue[] = [listValue(superseded)];
      const types: DuckDBType[] = [LIST(VARCHAR)];
      await this.connection.run(SQL.deleteRollupOf, list, types);
      await this.connection.run(SQL.deleteClaimsOf, list, types);
      await this.connection.run(SQL.deleteClaimFilesOf, list, types);
      await this.connection.run(SQL.deleteSamplesOf, list, types);
      await this.connection.run(SQL.deleteFilesOf, list, types);
    }
    // As if recorded one by one: a file is replaced by any later one with its basename or fingerprint.
    const laterNames = new Set<string>();
    const laterFingerprints = new Set<string>();
    const kept: StagedFileIngestion[] = [];
    for (let i = files.length - 1; i >= 0; i--) {
      const f = files[i]!;
      if (!laterNames.has(f.file.basename) && !laterFingerprints.has(f.file.fingerprint)) kept.unshift(f);
      laterNames.add(f.file.basename);
      laterFingerprints.add(f.file.fingerprint);
    }
    await staged.discard(files.filter((f) => !kept.includes(f)).map((f) => f.item));
    const written = kept.map((f) => ({ item: f.item, batch: f.file.fingerprint }));
    const repeats = await staged.dropRepeats(written);
    await staged.insertInto(written);
    if (repeats.size > 0) {
      const withRepeats = kept.filter((f) => repeats.has(f.item));
      await deleteEmptiedRows(
        this.connection,
        withRepeats.map((f) => f.file.fingerprint),
      );
    }
    const column = <T extends DuckDBValue>(pick: (f: StagedFileIngestion) => T) => listValue(kept.map(pick));
    await this.connection.run(
      STREAM_SQL.insertFiles,
      [
        column((f) => f.file.fingerprint),
        column((f) => f.file.path),
        column((f) => f.file.basename),
        column((f) => BigInt(f.file.size)),
        column((f) => f.file.layout),
        column((f) => BigInt(f.stats.lines)),
        column((f) => BigInt(f.stats.parsedLines)),
        column((f) => BigInt(f.stats.malformedLines)),
        column((f) => JSON.stringify(f.stats.malformedByReason)),
        column((f) => f.stats.unreadableReason ?? null),
        BigInt(this.clock.now().getTime()),
      ],
      [
        LIST(VARCHAR),
        LIST(VARCHAR),
        LIST(VARCHAR),
        LIST(BIGINT),
        LIST(VARCHAR),
        LIST(BIGINT),
        LIST(BIGINT),
        LIST(BIGINT),
        LIST(VARCHAR),
        LIST(VARCHAR),
        BIGINT,
      ],
    );
    if (repeats.size > 0) {
      const withRepeats = kept.filter((f) => repeats.has(f.item));
      await this.connection.run(
        STREAM_SQL.setRepeatsDropped,
        [
          listValue(withRepeats.map((f) => f.file.fingerprint)),
          listValue(withRepeats.map((f) => BigInt(repeats.get(f.item)!))),
        ],
        [LIST(VARCHAR), LIST(BIGINT)],
      );
    }
    const samples = kept.flatMap((f) => f.stats.samples.map((sample) => ({ f, sample })));
    if (samples.length > 0) {
      await this.connection.run(
        STREAM_SQL.insertSamples,
        [
          listValue(samples.map((s) => s.f.file.fingerprint)),
          listValue(samples.map((s) => s.f.file.path)),
          listValue(samples.map((s) => BigInt(s.sample.line))),
          listValue(samples.map((s) => s.sample.reason)),
          listValue(samples.map((s) => s.sample.text.slice(0, SAMPLE_TEXT_MAX))),
        ],
        [LIST(VARCHAR), LIST(VARCHAR), LIST(BIGINT), LIST(VARCHAR), LIST(VARCHAR)],
      );
    }
  }

  private checkStats(file: IngestedFile, stats: FileStats): void {
    if (stats.lines !== stats.parsedLines + stats.malformedLines) {
      throw new DuckDbStoreError(
        'replaceFile',
        this.path,
        `${file.path}: lines (${stats.lines}) must equal parsed (${stats.parsedLines}) + malformed (${stats.malformedLines})`,
      );
    }
  }

  private async setting(key: string): Promise<string | undefined> {
    const value = await this.scalar(SQL.getSetting, [key]);
    return value === undefined || value === null ? undefined : String(value);
  }

  private async scalar(sql: string, params: DuckDBValue[] = []): Promise<DuckDBValue | undefined> {
    return (await this.connection.runAndReadAll(sql, params)).getRows()[0]?.[0];
  }

  private async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.connection.run('BEGIN TRANSACTION');
    try {
      const result = await work();
      await this.connection.run('COMMIT');
      return result;
    } catch (error) {
      try {
        await this.connection.run('ROLLBACK');
      } catch {
        // A failed COMMIT has already ended the transaction; the first error is the one to report.
      }
      throw error;
    }
  }

  /** Runs `work` after every earlier call settled, wrapping DuckDB's errors with the operation's name. */
  private serial<T>(operation: string, work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new DuckDbStoreError(operation, this.path, 'the store is closed');
      try {
        return await work();
      } catch (cause) {
        if (cause instanceof DuckDbStoreError || cause instanceof InvalidRollupRowError) throw cause;
        if (cause instanceof RangeError) throw cause;
        throw new DuckDbStoreError(operation, this.path, messageOf(cause), { cause });
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function keyParams(key: NoticeKey): string[] {
  return [key.partnerId, key.periodId, key.level];
}

function parseReasons(json: string): Record<string, number> {
  const parsed: unknown = JSON.parse(json);
  const out: Record<string, number> = {};
  if (parsed && typeof parsed === 'object') {
    for (const [reason, count] of Object.entries(parsed)) {
      if (typeof count === 'number') out[reason] = count;
    }
  }
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
