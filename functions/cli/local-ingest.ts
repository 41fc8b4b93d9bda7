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
import type { DuckDbIngestLog, DuckDbState, StagedFileIngestion } from '../adapters/duckdb/index.js';
import {
  combineOutcomes,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_SAMPLE_LIMIT,
  fingerprintFile,
  IngestPool,
  type ItemOutcome,
  type LogFileEntry,
  listLogFiles,
  type Manifest,
  type PlanOptions,
  planTasks,
} from '../adapters/logs/index.js';
import type { EvidenceFile } from '../domain/report.js';
import type { InputSummary } from '../ports.js';

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
  /**
   * Days of event time over which a request delivered twice is recognised: the request ids of older
   * days (counted back from the newest day ingested) are forgotten after each ingestion.
   * @default REQUEST_ID_DAYS
   */
  readonly requestIdDays?: number;
}

/**
 * How long request ids are remembered, in days of event time. S3 delivers most log records within
 * hours and gives no bound for late ones; two weeks covers the late deliveries seen in practice (and
 * the settling time of a closed period) at 8 bytes a request.
 */
export const REQUEST_ID_DAYS = 14;

/** The ingest workers `options` asks for, starting (they load their code on their own threads). */
export function startIngestWorkers(
  options: Pick<IngestOptions, 'workers' | 'datasetDepth' | 'manifest'>,
): Promise<IngestPool> {
  return IngestPool.start({
    workers: options.workers,
    datasetDepth: options.datasetDepth,
    sampleLimit: DEFAULT_SAMPLE_LIMIT,
    maxLineBytes: DEFAULT_MAX_LINE_BYTES,
    manifest: options.manifest,
  });
}

/**
 * Opens the DuckDB state for an ingestion with the workers started first: loading DuckDB (its API and
 * native library) and opening the file hold this thread for some 0.1 s, which the workers spend loading
 * their code instead of after it. Hand `pool` to ingestPaths (which closes it); close `state` when done
 * with it. The workers start even when every file turns out to be ingested already: about 10 ms to
 * start and 5 to close, measured, against the 0.1 s saved when there is reading to do.
 */
export async function openStateWithWorkers(
  dbPath: string,
  options: Pick<IngestOptions, 'workers' | 'datasetDepth' | 'manifest'>,
): Promise<{ state: DuckDbState; pool: IngestPool }> {
  const pool = await startIngestWorkers(options);
  try {
    const { DuckDbState } = await import('../adapters/duckdb/index.js');
    return { state: await DuckDbState.open(dbPath), pool };
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
        rollup: 3,
        datasetDepth: options.datasetDepth,
        manifest: options.manifestHash ?? null,
      }),
    )
    .digest('hex');
}

/** Files recorded per transaction when many small files complete. */
const FILES_PER_COMMIT = 500;
/** Files fingerprinted at once (two small reads each). */
const FINGERPRINT_CONCURRENCY = 16;

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
  const rebuilt = await log.resetIfSettingsChanged(ingestionSettingsFingerprint(options));
  const listing = await listLogFiles(paths);
  const files = listing.files;
  const fingerprints = await mapLimit(files, FINGERPRINT_CONCURRENCY, (f) => fingerprintFile(f.path));
  const known = await log.ingestedFingerprints();

  let done = 0;
  const report = (file: LogFileEntry) => {
    done++;
    options.progress?.({ phase: 'ingest', done, total: files.length, file: file.path });
  };
  // Decide as recording the files one by one in path order would: a file is skipped when its
  // fingerprint is recorded at its turn, and recording a file removes the records of others with its
  // name (a re-delivered object replaces the earlier delivery), which may make a later one due again.
  const sameName = new Map<string, number[]>();
  files.forEach((file, i) => {
    const list = sameName.get(file.basename) ?? [];
    list.push(i);
    sameName.set(file.basename, list);
  });
  const recorded = new Set(fingerprints.filter((f) => known.has(f)));
  const toRead: number[] = [];
  let skipped = 0;
  files.forEach((file, i) => {
    const fingerprint = fingerprints[i]!;
    if (recorded.has(fingerprint)) {
      skipped++;
      report(file);
      return;
    }
    toRead.push(i);
    for (const j of sameName.get(file.basename)!) recorded.delete(fingerprints[j]!);
    recorded.add(fingerprint);
  });

  if (toRead.length > 0) {
    await readFiles(log, files, fingerprints, toRead, options, report, sameName);
    await log.forgetRequestClaims(options.requestIdDays ?? REQUEST_ID_DAYS);
  }

  const summary = await log.inputSummary(fingerprints);
  return {
    summary: {
      ...summary,
      files: files.length,
      filesSkipped: skipped,
      unreadableFiles: [...listing.unreadable, ...summary.unreadableFiles],
    },
    inputs: files.map((f, i) => ({ name: f.path, fingerprint: fingerprints[i]!, bytes: f.size })),
    rebuilt,
  };
}

/** Reads files `toRead` (indexes into `files`) through the pool and records them. */
async function readFiles(
  log: DuckDbIngestLog,
  files: readonly LogFileEntry[],
  fingerprints: readonly string[],
  toRead: readonly number[],
  options: IngestOptions,
  report: (file: LogFileEntry) => void,
  sameName: ReadonlyMap<string, readonly number[]>,
): Promise<void> {
  const pool = options.pool ?? (await startIngestWorkers(options));
  try {
    const tasks = await planTasks(
      toRead.map((i) => ({ fileId: i, path: files[i]!.path, size: files[i]!.size })),
      { ...options.plan, threads: pool.size },
    );
    const itemsLeft = new Map<number, number>();
    for (const task of tasks) {
      for (const item of task.items) itemsLeft.set(item.fileId, (itemsLeft.get(item.fileId) ?? 0) + 1);
    }
    const stream = await log.openRollupStream();
    const pieces = new Map<number, { start: number; outcome: ItemOutcome }[]>();
    let ready: StagedFileIngestion[] = [];
    // Files of one name are recorded in path order, whatever order they finish in, so that the last
    // delivery is the one that stays, as when recording one by one.
    const reading = new Set(toRead);
    const parked = new Map<number, StagedFileIngestion>();
    const nextOfName = new Map<string, number>();
    const finished = (fileId: number, ingestion: StagedFileIngestion) => {
      const name = files[fileId]!.basename;
      const order = sameName.get(name)!.filter((i) => reading.has(i));
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
      itemDone: (item, outcome) => {
        const list = pieces.get(item.fileId) ?? [];
        list.push({ start: item.range?.[0] ?? 0, outcome });
        pieces.set(item.fileId, list);
        const left = itemsLeft.get(item.fileId)! - 1;
        itemsLeft.set(item.fileId, left);
        if (left > 0) return;
        pieces.delete(item.fileId);
        const file = files[item.fileId]!;
        finished(item.fileId, fileIngestion(item.fileId, file, fingerprints[item.fileId]!, list));
        // A file read in ranges is large: record it at once rather than wait for company.
        if (ready.length >= FILES_PER_COMMIT || list.length > 1) commit();
      },
    });
    try {
      await running;
    } catch (error) {
      // What was committed stays committed; the error that stopped the run is the one to report.
      await commits.catch(() => undefined);
      throw error;
    }
    if (ready.length > 0) commit();
    await commits;
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
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}
