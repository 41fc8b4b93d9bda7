/**
 * Local ingestion: every log object under the given paths goes into the DuckDB rollup once. A file
 * already ingested with the same fingerprint is skipped without being read; a changed one replaces its
 * earlier rows.
 *
 * The reading is parallel (IngestPool: one worker thread per core, large plain files cut into ranges),
 * rows stream into DuckDB's staging as workers produce them, and a file enters the rollup, summed to one
 * row per key, in the same transaction that records it, so a crash leaves every file either fully
 * recorded or not at all.
 */
import { createHash } from 'node:crypto';
// Types only: DuckDB's library is loaded by openStateWithWorkers, after the workers start.
import type {
  DuckDbIngestLog,
  DuckDbState,
  RollupStream,
  StagedFileIngestion,
} from '../adapters/duckdb/index.js';
import {
  combineOutcomes,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_SAMPLE_LIMIT,
  DEFAULT_SPLIT_ABOVE,
  fingerprintFile,
  IngestPool,
  type ItemOutcome,
  type LogFileEntry,
  type LogFileListing,
  listLogFiles,
  type Manifest,
  type PlanOptions,
  type PoolTask,
  planTasks,
} from '../adapters/logs/index.js';
import type { EvidenceFile } from '../domain/report.js';
import type { InputSummary } from '../ports.js';

/**
 * Files recorded in one batch are removed together when one of them is replaced (re-delivered with
 * other content, or readable now), and read again in the same run. This run was not given some of
 * them, so recording it would lose their usage: nothing was recorded.
 */
export class BatchMatesMissingError extends Error {
  override readonly name = 'BatchMatesMissingError';
  constructor(readonly paths: readonly string[]) {
    super(
      `${paths.length} file(s) recorded together with a file this run replaces were not given to it ` +
        `(first: ${paths[0]}); nothing was recorded: give the ingest all of them, e.g. the whole folder ` +
        'they were read from',
    );
  }
}

export type Progress = (event: { phase: 'ingest'; done: number; total: number; file: string }) => void;

export interface IngestOptions {
  readonly datasetDepth: number;
  readonly manifest?: Manifest;
  readonly manifestHash?: string;
  readonly progress?: Progress;
  /** Worker threads reading logs; 0 reads on the main thread. @default os.availableParallelism() */
  readonly workers?: number;
  /** How files are cut into tasks (tests make ranges small). @default planTasks' defaults */
  readonly plan?: Omit<PlanOptions, 'threads'>;
  /**
   * Workers already started for this ingestion (see openStateWithWorkers), closed by ingestPaths when
   * it ends; otherwise ingestPaths starts its own when some file needs reading.
   */
  readonly pool?: IngestPool;
  /** The files under the paths given, listed already (see openStateWithWorkers); else listed here. */
  readonly listing?: Promise<LogFileListing>;
  /**
   * Days of event time over which a request delivered twice is recognised: the request ids of older
   * days (counted back from the newest day ingested) are forgotten after each ingestion.
   * @default REQUEST_ID_DAYS
   */
  readonly requestIdDays?: number;
  /**
   * Keep the holdings table (the registry's `settings.holdings`, ../domain/HOLDINGS.md): off, the
   * scanner looks no object up for it and nothing is staged or written to it. @default false
   */
  readonly holdings?: boolean;
}

/**
 * How long request ids are remembered, in days of event time. S3 delivers most log records within
 * hours and gives no bound for late ones; two weeks covers the late deliveries seen in practice (and
 * the settling time of a closed period) at 8 bytes a request.
 */
export const REQUEST_ID_DAYS = 14;

/** The ingest workers `options` asks for, starting (they load their code on their own threads). */
export function startIngestWorkers(
  options: Pick<IngestOptions, 'workers' | 'datasetDepth' | 'manifest' | 'holdings'>,
): Promise<IngestPool> {
  return IngestPool.start({
    workers: options.workers,
    datasetDepth: options.datasetDepth,
    sampleLimit: DEFAULT_SAMPLE_LIMIT,
    maxLineBytes: DEFAULT_MAX_LINE_BYTES,
    manifest: options.manifest,
    holdings: options.holdings ?? false,
  });
}

/**
 * Opens the DuckDB state for an ingestion with the workers started first: loading DuckDB (its API and
 * native library) and opening the file hold this thread for some 0.1 s, which the workers spend loading
 * their code instead of after it. Hand `pool` to ingestPaths (which closes it); close `state` when done
 * with it. The workers start even when every file turns out to be ingested already: about 10 ms to
 * start and 5 to close, measured, against the 0.1 s saved when there is reading to do.
 *
 * Given `logs`, the files under them are listed while DuckDB creates or opens the file on its own
 * threads (5,000 log objects: some 50 ms of this thread's time, otherwise spent after it): hand
 * `listing` to ingestPaths with the same paths, which reports its errors.
 */
export async function openStateWithWorkers(
  dbPath: string,
  options: Pick<IngestOptions, 'workers' | 'datasetDepth' | 'manifest' | 'holdings'>,
  logs?: readonly string[],
): Promise<{ state: DuckDbState; pool: IngestPool; listing?: Promise<LogFileListing> }> {
  const pool = await startIngestWorkers(options);
  try {
    const { DuckDbState } = await import('../adapters/duckdb/index.js');
    const opening = DuckDbState.open(dbPath);
    const listing = logs === undefined ? undefined : listLogFiles(logs);
    // Awaited by ingestPaths; if the state fails to open first, its error is the one reported.
    listing?.catch(() => undefined);
    return { state: await opening, pool, ...(listing === undefined ? {} : { listing }) };
  } catch (error) {
    await pool.close();
    throw error;
  }
}

export interface IngestOutcome {
  readonly summary: InputSummary;
  /** Every log object the run read or found already ingested, for the report's evidence. */
  readonly inputs: readonly EvidenceFile[];
  /** True when the ingestion settings changed and the rollup was rebuilt from the logs. */
  readonly rebuilt: boolean;
}

/** What the rollup depends on besides the logs: if it changes, every file is read again. */
export function ingestionSettingsFingerprint(options: IngestOptions): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        // 2: each request counted once (request ids); a state built before is rebuilt from the logs.
        // 3: request claims name their file by an integer (request_claim_files), not its fingerprint.
        // 4: the network table beside the rollup (network-store.ts) is filled from the logs.
        // 5: its rows are per 15-minute slot, not per UTC day (a partner's local period cuts them).
        rollup: 5,
        // 1: the holdings table (holdings-writer.ts) is filled with the rollup; a state without it is
        // rebuilt. Only when the registry turns holdings on (settings.holdings): off, the fingerprint is
        // main's, so turning them on rebuilds the state once from its logs (then past reads are held too)
        // and turning them off rebuilds it without them (no stale holdings rows stay).
        // 2: held_rows names its batch by a code of rollup_strings, not a text per row; the old table
        // is dropped when the state opens (holdings-writer.ts), and its rows rebuilt from the logs.
        ...(options.holdings === true ? { holdings: 2 } : {}),
        datasetDepth: options.datasetDepth,
        manifest: options.manifestHash ?? null,
      }),
    )
    .digest('hex');
}

/**
 * Files recorded per transaction (one group, one batch) when many small files complete: a day of
 * small log objects is a few groups. Each group checks its request identities against every claim
 * once, and its rows stay staged until it is recorded (measured on 5,000 objects of 200 lines: groups of
 * 500 spent 1.4 s in those checks where one group spends 0.4 s).
 */
const FILES_PER_COMMIT = 5000;
/** Files fingerprinted at once on this thread (two small reads each). */
const FINGERPRINT_CONCURRENCY = 16;
/**
 * From how many files to fingerprint the pool's threads do it: they may still be loading their code
 * (0.1 to 0.3 s after they start), which hashing a few files here would wait for, where a night's
 * thousands are some 0.5 s of hashing for one thread.
 */
const POOL_FINGERPRINTS_FROM = 256;

export async function ingestPaths(
  log: DuckDbIngestLog,
  paths: readonly string[],
  options: IngestOptions,
): Promise<IngestOutcome> {
  try {
    return await ingestWith(log, paths, options);
  } finally {
    await options.pool?.close();
  }
}

async function ingestWith(
  log: DuckDbIngestLog,
  paths: readonly string[],
  options: IngestOptions,
): Promise<IngestOutcome> {
  const rebuilt = await log.resetIfSettingsChanged(ingestionSettingsFingerprint(options), {
    holdings: options.holdings === true,
  });
  const listing = await (options.listing ?? listLogFiles(paths));
  const files = listing.files;
  const plan = await planReading(log, files, options.plan?.splitAbove ?? DEFAULT_SPLIT_ABOVE, options.pool);
  const { fingerprints, toRead } = plan;

  let done = 0;
  const report = (file: LogFileEntry) => {
    done++;
    options.progress?.({ phase: 'ingest', done, total: files.length, file: file.path });
  };
  for (const i of plan.skipped) report(files[i]!);

  // After a reading, its stream stays open through the claims' expiry and the summary: DuckDB returns
  // what their statements free to the system while it is (openRollupStream). Closed, 5,000 objects of
  // 200 lines ended 13 to 35 MB higher, their run's peak (BENCHMARKS.md, issue 15, eighth session).
  const stream = toRead.length > 0 ? await readFiles(log, files, plan, options, report) : undefined;
  let summary: InputSummary;
  try {
    if (stream !== undefined) await log.forgetRequestClaims(options.requestIdDays ?? REQUEST_ID_DAYS);
    summary = await log.inputSummary(fingerprints, { names: files.map((f) => f.basename) });
  } catch (error) {
    await stream?.close().catch(() => undefined);
    throw error;
  }
  await stream?.close();
  return {
    summary: {
      ...summary,
      files: files.length,
      filesSkipped: plan.skipped.length,
      unreadableFiles: [...listing.unreadable, ...summary.unreadableFiles],
    },
    inputs: files.map((f, i) => ({ name: f.path, fingerprint: fingerprints[i]!, bytes: f.size })),
    rebuilt,
  };
}

/** What a run reads and what it skips, decided before reading (planReading). */
interface ReadingPlan {
  /** By file index; a deferred file's stands for it until its worker fingerprints it (fingerprintGiven). */
  readonly fingerprints: string[];
  /** 1 for a file fingerprinted by the worker that reads it. */
  readonly deferred: Uint8Array;
  /** The files to read, by index, ascending. */
  readonly toRead: readonly number[];
  /** The files skipped as recorded already, by index. */
  readonly skipped: readonly number[];
  /** The files of each base name given more than once, by index in path order; no other name is here. */
  readonly sameName: ReadonlyMap<string, readonly number[]>;
}

/**
 * Which of `files` to read. Its own function so that its look-up tables (a few of them a file: a
 * night's 5,000 objects made them some 3 MB) are garbage once it returns, not held by the reading's
 * closures until the run ends (BENCHMARKS.md, issue 15, eighth session).
 */
async function planReading(
  log: DuckDbIngestLog,
  files: readonly LogFileEntry[],
  splitAbove: number,
  pool: IngestPool | undefined,
): Promise<ReadingPlan> {
  // A fingerprint covers the file's name and size: a file whose name and size no recorded file and
  // no other file given has is new, and is fingerprinted by the worker that reads it (opened once, and
  // hashed off this thread). The others are fingerprinted first, to skip them unread if recorded.
  const recordedSizes = await log.recordedNameSizes(files.map((f) => f.basename));
  const nameSize = (f: LogFileEntry) => `${f.basename}\0${f.size}`;
  const givenSizes = new Map<string, number>();
  for (const f of files) givenSizes.set(nameSize(f), (givenSizes.get(nameSize(f)) ?? 0) + 1);
  const deferred = new Uint8Array(files.length);
  files.forEach((f, i) => {
    if (f.size <= splitAbove && !recordedSizes.has(nameSize(f)) && givenSizes.get(nameSize(f)) === 1) {
      deferred[i] = 1;
    }
  });
  const fingerprints = await fingerprintGiven(files, deferred, pool);
  const known = await log.knownFingerprints(fingerprints.filter((_, i) => deferred[i] === 0));

  // Decide as recording the files one by one in path order would: a file is skipped when its
  // fingerprint is recorded at its turn, and recording a file removes the records of others with its
  // name (a re-delivered object replaces the earlier delivery), which may make a later one due again.
  const sameName = namesGivenTwice(files);
  const recorded = new Set(fingerprints.filter((f) => known.has(f)));
  const reading = new Set<number>();
  const skipping: number[] = [];
  files.forEach((file, i) => {
    const fingerprint = fingerprints[i]!;
    if (recorded.has(fingerprint)) {
      skipping.push(i);
      return;
    }
    reading.add(i);
    for (const j of sameName.get(file.basename) ?? [i]) recorded.delete(fingerprints[j]!);
    recorded.add(fingerprint);
  });
  // Files recorded together share a batch, and replacing one file removes its whole batch: the other
  // files of that batch given to this run are read again with it (a rare case: a log object
  // re-delivered under its name with other content, or one that could not be read before).
  // A copy of a file (one fingerprint, several paths) is read once.
  const readingFingerprints = new Set([...reading].map((i) => fingerprints[i]!));
  let replaced = new Map<string, { readonly path: string; readonly basename: string }>();
  for (let grew = reading.size > 0; grew; ) {
    grew = false;
    const order = [...reading];
    replaced = await log.filesReplacedBy(
      order.map((i) => files[i]!.basename),
      order.filter((i) => deferred[i] === 0).map((i) => fingerprints[i]!),
    );
    for (const i of skipping) {
      const fingerprint = fingerprints[i]!;
      if (!reading.has(i) && replaced.has(fingerprint) && !readingFingerprints.has(fingerprint)) {
        reading.add(i);
        readingFingerprints.add(fingerprint);
        grew = true;
      }
    }
  }
  // A replaced file's batch-mates that this run was not given would lose their usage: refuse before
  // recording anything (an earlier version of a file being read is meant to go).
  const given = new Set(fingerprints);
  const readingNames = new Set([...reading].map((i) => files[i]!.basename));
  const missing = [...replaced]
    .filter(([fingerprint, f]) => !given.has(fingerprint) && !readingNames.has(f.basename))
    .map(([, f]) => f.path);
  if (missing.length > 0) throw new BatchMatesMissingError(missing);
  return {
    fingerprints,
    deferred,
    toRead: [...reading].sort((a, b) => a - b),
    skipped: skipping.filter((i) => !reading.has(i)),
    sameName,
  };
}

/** The indexes of the files of each base name given more than once, in path order. */
function namesGivenTwice(files: readonly LogFileEntry[]): Map<string, number[]> {
  const first = new Map<string, number>();
  const twice = new Map<string, number[]>();
  files.forEach((file, i) => {
    const list = twice.get(file.basename);
    if (list !== undefined) list.push(i);
    else if (first.has(file.basename)) twice.set(file.basename, [first.get(file.basename)!, i]);
    else first.set(file.basename, i);
  });
  return twice;
}

/**
 * The fingerprints of `files`, on the pool's threads when there are many. Until read, a deferred file
 * stands under a name no fingerprint can take (they are hex). A file a thread could not fingerprint is
 * fingerprinted here, and fails here as it would have without the pool.
 */
async function fingerprintGiven(
  files: readonly LogFileEntry[],
  deferred: Uint8Array,
  pool: IngestPool | undefined,
): Promise<string[]> {
  const fingerprints = files.map((_, i) => `unread:${i}`);
  const asked = files.flatMap((_, i) => (deferred[i] === 1 ? [] : [i]));
  const found =
    pool === undefined || asked.length < POOL_FINGERPRINTS_FROM
      ? []
      : await pool.fingerprints(asked.map((i) => files[i]!.path));
  const left: number[] = [];
  asked.forEach((i, k) => {
    const fingerprint = found[k];
    if (fingerprint === undefined) left.push(i);
    else fingerprints[i] = fingerprint;
  });
  const late = await mapLimit(left, FINGERPRINT_CONCURRENCY, (i) => fingerprintFile(files[i]!.path));
  left.forEach((i, k) => {
    fingerprints[i] = late[k]!;
  });
  return fingerprints;
}

/**
 * Reads the files `plan` says to through the pool and records them; returns their stream open, for the
 * caller to close. What it keeps a file while reading is its place in arrays indexed by file, not
 * entries of maps: a night's thousands of small objects are otherwise thousands of small objects more
 * on this thread (BENCHMARKS.md, issue 15, eighth session).
 */
async function readFiles(
  log: DuckDbIngestLog,
  files: readonly LogFileEntry[],
  plan: ReadingPlan,
  options: IngestOptions,
  report: (file: LogFileEntry) => void,
): Promise<RollupStream> {
  const { fingerprints, deferred, toRead, sameName } = plan;
  const pool = options.pool ?? (await startIngestWorkers(options));
  try {
    const reading = new Uint8Array(files.length);
    for (const i of toRead) reading[i] = 1;
    // Files of one name read in this run, in path order (a name read once is not here).
    const readOfName = new Map<string, number[]>();
    for (const [name, list] of sameName) {
      const read = list.filter((i) => reading[i] === 1);
      if (read.length > 1) readOfName.set(name, read);
    }
    // Small files are read many to a task with their rows summed together, and recorded together (one
    // group, one batch). Not a file sharing its name with another one read now: files of one name are
    // recorded one after the other, in path order (see `finished`).
    const tasks = await planTasks(
      toRead.map((i) => ({
        fileId: i,
        path: files[i]!.path,
        size: files[i]!.size,
        mergeable: !readOfName.has(files[i]!.basename),
        fingerprint: deferred[i] === 1,
      })),
      { ...options.plan, threads: pool.size },
    );
    const itemsLeft = new Int32Array(files.length);
    for (const task of tasks) for (const item of task.items) itemsLeft[item.fileId]!++;
    // Files finish at the end of their task, together: the files of a merged task are then recorded in
    // one group, whatever other tasks finish meanwhile.
    const taskFiles = new Map<
      PoolTask,
      { fileId: number; pieces: { start: number; outcome: ItemOutcome }[] }[]
    >();
    const stream = await log.openRollupStream({ holdings: options.holdings === true });
    const pieces = new Map<number, { start: number; outcome: ItemOutcome }[]>();
    let ready: StagedFileIngestion[] = [];
    // Files of one name are recorded in path order, whatever order they finish in, so that the last
    // delivery is the one that stays, as when recording one by one.
    const parked = new Map<number, StagedFileIngestion>();
    const nextOfName = new Map<string, number>();
    const finished = (fileId: number, ingestion: StagedFileIngestion) => {
      const name = files[fileId]!.basename;
      const order = readOfName.get(name);
      if (order === undefined) {
        ready.push(ingestion);
        return;
      }
      parked.set(fileId, ingestion);
      let k = nextOfName.get(name) ?? 0;
      while (k < order.length && parked.has(order[k]!)) {
        ready.push(parked.get(order[k]!)!);
        parked.delete(order[k]!);
        k++;
      }
      nextOfName.set(name, k);
    };
    let commits: Promise<void> = Promise.resolve();
    const commit = () => {
      const batch = ready;
      ready = [];
      commits = commits.then(async () => {
        await stream.replaceFiles(batch);
        for (const f of batch) report(files[f.item]!);
      });
    };

    const running = pool.run(tasks, {
      rows: (batch) => stream.stage(batch, pool.strings.values),
      itemDone: (item, outcome, task) => {
        // A file read whole is its one item; one read in ranges waits in `pieces` for all of them.
        let read = [{ start: item.range?.[0] ?? 0, outcome }];
        if (item.range !== undefined) {
          read = [...(pieces.get(item.fileId) ?? []), ...read];
          pieces.set(item.fileId, read);
        }
        const left = --itemsLeft[item.fileId]!;
        const doneFiles = taskFiles.get(task) ?? [];
        if (left === 0) {
          pieces.delete(item.fileId);
          doneFiles.push({ fileId: item.fileId, pieces: read });
        }
        if (item !== task.items[task.items.length - 1]) {
          taskFiles.set(task, doneFiles);
          return;
        }
        taskFiles.delete(task);
        for (const { fileId, pieces: read } of doneFiles) {
          const fingerprint = read[0]!.outcome.fingerprint;
          if (deferred[fileId] === 1 && fingerprint !== undefined) fingerprints[fileId] = fingerprint;
        }
        const finish = () => {
          for (const { fileId, pieces: read } of doneFiles) {
            finished(fileId, fileIngestion(fileId, files[fileId]!, fingerprints[fileId]!, read));
          }
          // A file read in ranges is large: record it at once rather than wait for company.
          if (ready.length >= FILES_PER_COMMIT || (left === 0 && read.length > 1)) commit();
        };
        // A file its worker could not fingerprint (it could not open it) is fingerprinted here, as it
        // would have been before reading, and fails the same way.
        const missing = doneFiles
          .map(({ fileId }) => fileId)
          .filter((fileId) => fingerprints[fileId]!.startsWith('unread:'));
        if (missing.length === 0) return finish();
        return (async () => {
          for (const fileId of missing) fingerprints[fileId] = await fingerprintFile(files[fileId]!.path);
          finish();
        })();
      },
    });
    // What was committed stays committed; the error that stopped the run is the one to report.
    const failedWith = async (error: unknown) => {
      await commits.catch(() => undefined);
      await stream.close().catch(() => undefined);
      throw error;
    };
    await running.catch(failedWith);
    // Everything is read: the workers' memory (their heaps and buffers, tens of MB) is freed before the
    // last group's write, the run's peak (closing twice is harmless: ingestPaths closes a given pool).
    await pool.close();
    if (ready.length > 0) commit();
    await commits.catch(failedWith);
    return stream;
  } finally {
    // A given pool is closed by ingestPaths.
    if (options.pool === undefined) await pool.close();
  }
}

/** One file's bookkeeping from the outcomes of its pieces (ranges, or the whole file). */
function fileIngestion(
  item: number,
  file: LogFileEntry,
  fingerprint: string,
  pieces: { start: number; outcome: ItemOutcome }[],
): StagedFileIngestion {
  const c = combineOutcomes(pieces, DEFAULT_SAMPLE_LIMIT);
  return {
    item,
    file: { fingerprint, path: file.path, basename: file.basename, size: file.size, layout: file.layout },
    stats: {
      lines: c.lines,
      parsedLines: c.parsedLines,
      malformedLines: c.malformedLines,
      malformedByReason: c.malformedByReason,
      samples: c.samples,
      unreadableReason: c.unreadable,
    },
  };
}

/** `fn` over `items` with at most `limit` calls running, results in order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}
