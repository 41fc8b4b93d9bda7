/**
 * What the local ingester read into the state file: one record per log object (its fingerprint, name,
 * line counts, malformed samples), the staging of a parallel ingester's rows, and the request claims
 * that keep a request counted once. The next run reads only log objects this log has not seen.
 */
import { createHash } from 'node:crypto';
import {
  BIGINT,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import type { RollupRow } from '../../domain/usage.js';
import type { Clock, InputSummary, MalformedSample } from '../../ports.js';
import { appendColumns } from './append-columns.js';
import { type DuckDbDatabase, readSetting, scalar } from './duckdb-database.js';
import { DuckDbStoreError } from './errors.js';
import { deleteHoldingsOf, HOLDINGS_SQL, insertHoldings } from './holdings-writer.js';
import {
  clearRequestClaims,
  deleteClaimsOf,
  deleteEmptiedRows,
  forgetRequestClaims,
} from './request-claims.js';
import { stringCodes } from './rollup-strings.js';
import {
  appendRollupRows,
  type ColumnarRollupRows,
  FILE_STAGE_TYPES,
  STREAM_SQL,
  StagedRollup,
} from './rollup-writer.js';
import { SETTING_HOLDINGS, SETTING_INGESTION, SQL } from './schema.js';

/** A log object as the ingester found it. */
export interface IngestedFile {
  /**
   * Identity of this content (the ingester's choice, e.g. a hash of name, size and content); the row
   * batch. It covers the basename: two records with one fingerprint have one basename, and lookups by
   * fingerprint narrow by name first.
   */
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
   * `DuckDbIngestLog.replaceFiles` for staged files, in ONE transaction: earlier versions (same basename or
   * fingerprint, recorded before or earlier in `files`) are removed, then each file's staged rows are
   * summed into the rollup and its bookkeeping and samples recorded. Statements per call, not per file.
   */
  replaceFiles(files: readonly StagedFileIngestion[]): Promise<void>;
  /** Ends the stream: the allocator's setting for the ingestion goes back to DuckDB's default. */
  close(): Promise<void>;
}

/**
 * From a stream's first group write to its close, DuckDB returns freed memory to the system after
 * each bulk deallocation of more than 64 KiB (its default: 512 MiB). Without jemalloc (the Node
 * bindings' build) DuckDB's "flush" is glibc's malloc_trim, which releases the free pages of every
 * thread's arena: the memory the workers, the appenders and the group's check freed, which glibc
 * otherwise keeps, and which the group write (the run's peak) would add to. Not while the files are
 * read: trimmed then, one file of a million lines took 0.4 s more CPU (12 %) for the same peak
 * (BENCHMARKS.md, issue 15, seventh session). Thresholds of 4 and 16 MiB released nearly nothing.
 */
const TRIM_OFTEN = "SET allocator_bulk_deallocation_flush_threshold = '64KiB'";
const TRIM_DEFAULT = 'RESET allocator_bulk_deallocation_flush_threshold';

export interface DuckDbIngestLogOptions {
  /** Stamps `ingested_files.ingested_at`. @default the system clock */
  readonly clock?: Clock;
}

export interface InputSummaryOptions {
  /** At most this many malformed samples, spread over files first-line-first. @default 20 */
  readonly maxSamples?: number;
  /** Files the caller skipped as already ingested; the store cannot know what a run saw. @default 0 */
  readonly filesSkipped?: number;
  /**
   * The basenames of the files whose fingerprints are summed (any order; more is harmless): their
   * records are then found by name first, which costs a state of many records far less than a look at
   * every fingerprint. A file whose name is missing here counts as nothing.
   */
  readonly names?: readonly string[];
}

/** Longest malformed sample text kept, as `MalformedSample.text` promises. */
const SAMPLE_TEXT_MAX = 300;

const systemClock: Clock = { now: () => new Date() };

/**
 * The ingestion bookkeeping of the local state file. Each call runs in the database's queue; each
 * write is one transaction.
 */
export class DuckDbIngestLog {
  private readonly clock: Clock;

  constructor(
    private readonly database: DuckDbDatabase,
    options: DuckDbIngestLogOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  /** The stored fingerprint of the settings the rollup was built with (dataset depth, manifest). */
  ingestionSettings(): Promise<string | undefined> {
    return this.database.serial('ingestionSettings', (connection) =>
      readSetting(connection, SETTING_INGESTION),
    );
  }

  /**
   * The rollup depends on the ingestion settings, so when `fingerprint` differs from the stored one the
   * rollup, the file bookkeeping and the samples are cleared (never the notice ledger) and `fingerprint`
   * is stored. Returns true when something was cleared: every log file must then be read again.
   * `holdings` (given by ingestPaths) is stored as SETTING_HOLDINGS: whether the holdings table is kept.
   */
  resetIfSettingsChanged(
    fingerprint: string,
    options: { readonly holdings?: boolean } = {},
  ): Promise<boolean> {
    return this.database.transaction('resetIfSettingsChanged', async (connection) => {
      const stored = await readSetting(connection, SETTING_INGESTION);
      // Whether the holdings table is kept (its fingerprint is part of `fingerprint`), for its readers.
      if (options.holdings !== undefined) {
        await connection.run(SQL.putSetting, [SETTING_HOLDINGS, options.holdings ? 'on' : 'off']);
      }
      if (stored === fingerprint) return false;
      const files = await scalar(connection, SQL.countFiles);
      await connection.run(SQL.clearRollup);
      await connection.run(SQL.clearNetwork);
      await connection.run(SQL.clearFiles);
      await connection.run(SQL.clearSamples);
      await clearRequestClaims(connection);
      await connection.run(SQL.clearClaimFiles);
      for (const statement of HOLDINGS_SQL.clear) await connection.run(statement);
      await connection.run(SQL.putSetting, [SETTING_INGESTION, fingerprint]);
      return stored !== undefined || (files as bigint) > 0n;
    });
  }

  /**
   * Whether a file with this fingerprint was ingested and read. A file recorded as unreadable answers
   * false, so the next run tries it again (and reports it again if it still cannot be read).
   */
  hasFile(fingerprint: string): Promise<boolean> {
    return this.database.serial('hasFile', async (connection) => {
      const reader = await connection.runAndReadAll(SQL.hasReadableFile, [fingerprint]);
      return reader.currentRowCount > 0;
    });
  }

  /** Fingerprints `hasFile` answers true for, in one query, for an ingester checking many files. */
  ingestedFingerprints(): Promise<Set<string>> {
    return this.database.serial('ingestedFingerprints', async (connection) => {
      const reader = await connection.runAndReadAll(SQL.readableFingerprints);
      return new Set(reader.getColumns()[0]?.map(String) ?? []);
    });
  }

  /**
   * Of `fingerprints`, those `hasFile` answers true for, in one query whose cost grows with the
   * fingerprints given and one pass over the records, so that a night's new objects cost the same
   * whatever the history.
   */
  knownFingerprints(fingerprints: readonly string[]): Promise<Set<string>> {
    return this.database.serial('knownFingerprints', async (connection) => {
      if (fingerprints.length === 0) return new Set<string>();
      const reader = await connection.runAndReadAll(SQL.knownFingerprints, [textList(fingerprints)]);
      return new Set(reader.getColumns()[0]?.map(String) ?? []);
    });
  }

  /**
   * `basename\0size` of every file recorded under one of `basenames`. A file whose name and size
   * are not among them cannot have a recorded fingerprint (the fingerprint covers both), so it can be
   * read without being fingerprinted first.
   */
  recordedNameSizes(basenames: readonly string[]): Promise<Set<string>> {
    return this.database.serial('recordedNameSizes', async (connection) => {
      if (basenames.length === 0) return new Set<string>();
      const reader = await connection.runAndReadAll(SQL.recordedSizes, [textList([...new Set(basenames)])]);
      return new Set(reader.getRows().map(([name, size]) => `${String(name)}\0${String(size)}`));
    });
  }

  /**
   * Fingerprints of the recorded files that recording files named `basenames` or with `fingerprints`
   * (of files among those names: a fingerprint covers its file's name) removes: the earlier versions themselves and every file recorded in one batch with them (a batch
   * is removed whole), by fingerprint, with the path and basename each was recorded under. An
   * ingester reads such files again in the same run; it must not record anything when one of them is
   * not among its files (see BatchMatesMissingError).
   */
  filesReplacedBy(
    basenames: readonly string[],
    fingerprints: readonly string[],
  ): Promise<Map<string, { readonly path: string; readonly basename: string }>> {
    return this.database.serial('filesReplacedBy', async (connection) => {
      const batches = await supersededBatches(connection, basenames, fingerprints);
      const files = new Map<string, { readonly path: string; readonly basename: string }>();
      if (batches.length === 0) return files;
      const reader = await connection.runAndReadAll(
        SQL.filesOfBatches,
        [listValue(batches)],
        [LIST(VARCHAR)],
      );
      for (const [fingerprint, path, basename] of reader.getRows()) {
        files.set(String(fingerprint), { path: String(path), basename: String(basename) });
      }
      return files;
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
    return this.database.transaction('replaceFile', async (connection) => {
      for (const ingestion of ingestions) await this.writeFile(connection, ingestion);
    });
  }

  /** Starts staging rows for a parallel ingester (see RollupStream). One stream at a time per store. */
  openRollupStream(options: { readonly holdings?: boolean } = {}): Promise<RollupStream> {
    // Off (the registry's settings.holdings false), no holdings rows are staged and none are written.
    const holdings = options.holdings ?? true;
    return this.database.serial('openRollupStream', async (connection) => {
      const staged = await StagedRollup.open(connection);
      return {
        stage: (rows, strings) => this.database.serial('stageRollupRows', () => staged.stage(rows, strings)),
        replaceFiles: async (files) => {
          await this.database.serial('trimOften', async (c) => void (await c.run(TRIM_OFTEN)));
          return this.database.transaction('replaceFile', (c) =>
            this.writeStagedFiles(c, staged, files, holdings),
          );
        },
        close: () => this.database.serial('closeRollupStream', async (c) => void (await c.run(TRIM_DEFAULT))),
      };
    });
  }

  /**
   * Totals from the bookkeeping of the given files (all files when omitted), with a bounded sample of
   * malformed lines. Unknown fingerprints count as nothing.
   */
  inputSummary(fingerprints?: readonly string[], options: InputSummaryOptions = {}): Promise<InputSummary> {
    const maxSamples = options.maxSamples ?? 20;
    return this.database.serial('inputSummary', async (connection) => {
      if (!Number.isSafeInteger(maxSamples) || maxSamples < 0) {
        throw new RangeError(`maxSamples must be a non-negative integer: ${maxSamples}`);
      }
      const filter = fingerprints === undefined ? null : textList(fingerprints);
      const named = filter !== null && options.names !== undefined;
      const params = named ? [filter, textList([...new Set(options.names)])] : [filter];
      const types = params.map(() => VARCHAR);
      const totals = await connection.runAndReadAll(
        named ? SQL.namedFileTotals : SQL.fileTotals,
        params,
        types,
      );
      const [files, bytes, lines, parsedLines, malformedLines, repeatsDropped] = totals
        .getRows()[0]!
        .map((total) => Number(total ?? 0)) as [number, number, number, number, number, number];
      const malformedByReason: Record<string, number> = {};
      const unreadableFiles: { file: string; reason: string }[] = [];
      const problems = await connection.runAndReadAll(
        named ? SQL.namedFileProblems : SQL.fileProblems,
        params,
        types,
      );
      for (const [path, byReason, unreadable] of problems.getRows()) {
        for (const [reason, count] of Object.entries(parseReasons(String(byReason)))) {
          malformedByReason[reason] = (malformedByReason[reason] ?? 0) + count;
        }
        if (unreadable !== null) unreadableFiles.push({ file: String(path), reason: String(unreadable) });
      }
      const samples = await connection.runAndReadAll(
        SQL.samples,
        [filter, BigInt(maxSamples)],
        [VARCHAR, BIGINT],
      );
      return {
        files,
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
    return this.database.transaction('forgetRequestClaims', (connection) =>
      forgetRequestClaims(connection, days),
    );
  }

  private async writeFile(connection: DuckDBConnection, { file, rows, stats }: FileIngestion): Promise<void> {
    this.checkStats(file, stats);
    await deleteBatches(connection, await supersededBatches(connection, [file.basename], [file.fingerprint]));
    await appendRollupRows(connection, file.fingerprint, rows);
    await connection.run(SQL.insertFile, [
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
      await connection.run(SQL.insertSample, [
        file.fingerprint,
        file.path,
        BigInt(sample.line),
        sample.reason,
        sample.text.slice(0, SAMPLE_TEXT_MAX),
      ]);
    }
  }

  private async writeStagedFiles(
    connection: DuckDBConnection,
    staged: StagedRollup,
    files: readonly StagedFileIngestion[],
    holdings: boolean,
  ): Promise<void> {
    if (files.length === 0) return;
    for (const { file, stats } of files) this.checkStats(file, stats);
    await deleteBatches(
      connection,
      await supersededBatches(
        connection,
        files.map((f) => f.file.basename),
        files.map((f) => f.file.fingerprint),
      ),
    );
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
    // The files read to their end share one batch: their rows are summed together, one row per key for
    // the group rather than per file. A file that could not be read is read again by the next run and
    // replaces its own record, so it keeps a batch of its own.
    const group = groupBatch(kept.filter((f) => f.stats.unreadableReason === undefined));
    const batchOf = (f: StagedFileIngestion) =>
      f.stats.unreadableReason === undefined ? group : f.file.fingerprint;
    const written = kept.map((f) => ({ item: f.item, batch: batchOf(f) }));
    // Repeats are taken out of the holdings rows with the rollup's and the network's (holdings-writer.ts).
    const repeats = await staged.dropRepeats(written);
    // The group's batch names coded once, for the rollup, the network table and the holdings.
    const batchCodes = await stringCodes(
      connection,
      written.map((w) => w.batch),
    );
    if (holdings) await insertHoldings(connection, written, batchCodes);
    await staged.insertInto(written, batchCodes);
    if (repeats.size > 0) {
      const batches = new Set(kept.filter((f) => repeats.has(f.item)).map(batchOf));
      await deleteEmptiedRows(connection, [...batches]);
    }
    const numbers = (pick: (f: StagedFileIngestion) => number) => Float64Array.from(kept, pick);
    await appendColumns(
      connection,
      'file_stage',
      FILE_STAGE_TYPES,
      [
        Int32Array.from(kept, (_, i) => i),
        kept.map((f) => f.file.fingerprint),
        kept.map((f) => f.file.path),
        kept.map((f) => f.file.basename),
        numbers((f) => f.file.size),
        kept.map((f) => f.file.layout),
        numbers((f) => f.stats.lines),
        numbers((f) => f.stats.parsedLines),
        numbers((f) => f.stats.malformedLines),
        kept.map((f) => JSON.stringify(f.stats.malformedByReason)),
        kept.map((f) => f.stats.unreadableReason ?? null),
        numbers((f) => repeats.get(f.item) ?? 0),
        kept.map(batchOf),
      ],
      kept.length,
    );
    await connection.run(STREAM_SQL.insertFiles, [BigInt(this.clock.now().getTime())], [BIGINT]);
    await connection.run(STREAM_SQL.clearFileStage);
    const samples = kept.flatMap((f) => f.stats.samples.map((sample) => ({ f, sample })));
    if (samples.length > 0) {
      await connection.run(
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
        this.database.path,
        `${file.path}: lines (${stats.lines}) must equal parsed (${stats.parsedLines}) + malformed (${stats.malformedLines})`,
      );
    }
  }
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

/** The batches of the records that files named `basenames` or with `fingerprints` replace. */
async function supersededBatches(
  connection: DuckDBConnection,
  basenames: readonly string[],
  fingerprints: readonly string[],
): Promise<string[]> {
  if (basenames.length === 0 && fingerprints.length === 0) return [];
  const reader = await connection.runAndReadAll(SQL.supersededBatches, [
    textList(basenames),
    textList(fingerprints),
  ]);
  return reader.getRows().map(([batch]) => String(batch));
}

/**
 * Base names or fingerprints as one text, joined by `/`, which the SQL splits (`string_split`): the
 * client makes a list parameter value by value, some 20 ms for a night's 5,000 names, where one text
 * costs next to nothing. Neither a file's name nor a fingerprint can hold a `/`. An empty list is the
 * one empty text, which names nothing.
 */
function textList(values: readonly string[]): string {
  for (const value of values) {
    if (value.includes('/')) throw new RangeError(`a file name or fingerprint with a "/": ${value}`);
  }
  return values.join('/');
}

/** Removes whole batches: their rollup rows, request claims, samples and file records. */
async function deleteBatches(connection: DuckDBConnection, batches: readonly string[]): Promise<void> {
  // Most files are new: skip the deletes, which scan the rollup, when nothing is superseded.
  if (batches.length === 0) return;
  const list: DuckDBValue[] = [listValue([...batches])];
  const types: DuckDBType[] = [LIST(VARCHAR)];
  await connection.run(SQL.deleteRollupOf, list, types);
  await connection.run(SQL.deleteNetworkOf, list, types);
  await deleteHoldingsOf(connection, batches);
  await deleteClaimsOf(connection, batches);
  await connection.run(SQL.deleteClaimFilesOf, list, types);
  // Samples before the records, which name the batch's files.
  await connection.run(SQL.deleteSamplesOf, list, types);
  await connection.run(SQL.deleteFilesOf, list, types);
}

/**
 * The batch of files recorded together: a name no fingerprint can take (fingerprints are hex), the
 * same for the same files, so that a batch is found again by what it holds.
 */
function groupBatch(files: readonly StagedFileIngestion[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.file.fingerprint).update('\n');
  return `group:${hash.digest('hex')}`;
}
