/**
 * Parallel ingestion: a pool of worker threads, one per core, reading log files into partial rollup
 * rows. Large plain files are cut into byte ranges that any worker can read (see log-reader.ts); small
 * files are grouped so that a task is worth a message; a gzip file is one task, since a deflate stream
 * cannot be entered in the middle. Workers take the next task when they finish one, so a slow file
 * holds up one worker, not the run.
 *
 * Rows reach the caller with their string columns translated into the pool's own StringTable, and the
 * item column set to the caller's file id, so rows from every worker share one id space.
 */
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bundleSources, cachedBundle } from './bundle-cache.mjs';
import { translateHeldReads } from './holdings-batch.js';
import type {
  FingerprintMessage,
  RowsMessage,
  RunnerSettings,
  TaskMessage,
  WorkerMessage,
} from './ingest-task.js';
import { fingerprintFiles, TaskRunner } from './ingest-task.js';
import type { LineSample } from './log-aggregator.js';
import type { ItemOutcome, ReadItem } from './log-reader.js';
import { type Manifest, manifestToData } from './manifest.js';
import { translateNetworkRows } from './network-rows.js';
import type { RowBatch } from './row-batch.js';
import { StringTable } from './string-table.js';
import { scannerModule } from './wasm-scanner.js';

/** A file to read, or a range of one, with the caller's id for the file. */
export interface PoolItem extends ReadItem {
  readonly fileId: number;
}

/** Items one thread reads in order. */
export interface PoolTask {
  readonly items: readonly PoolItem[];
  /** The items' rows are summed together (see TaskMessage.merge). @default false */
  readonly merge?: boolean;
}

/** What the pool hands back while it runs. */
export interface PoolHandlers {
  /**
   * Rows of finished pieces of work: `item` holds file ids, string columns ids into `pool.strings`.
   * Partial sums: one key may come in several rows. A returned promise is waited for before the run
   * ends, and workers pause while more than a few are pending, which bounds the rows in memory. An
   * item's rows are all handed here before `itemDone` is called for it.
   */
  rows(batch: RowBatch): void | Promise<void>;
  /**
   * An item of `task` was read to its end (or as far as it could be; see ItemOutcome.unreadable). A
   * task's items are handed here in order, after the task is read.
   */
  itemDone(item: PoolItem, outcome: ItemOutcome, task: PoolTask): void | Promise<void>;
}

export interface PoolOptions extends Omit<RunnerSettings, 'manifest'> {
  /**
   * Worker threads; 0 reads on the calling thread, and so does a pool given a manifest that cannot be
   * handed to a thread (one not made by parseManifest). @default os.availableParallelism()
   */
  readonly workers?: number;
  readonly manifest?: Manifest;
}

/** Row batches handed on and not yet handled before workers wait for them. */
const MAX_BACKLOG = 8;

/** A worker thread failed or stopped outside of any file problem; the run cannot be trusted. */
export class IngestWorkerError extends Error {
  override readonly name = 'IngestWorkerError';
}

interface Lane {
  /**
   * Tasks the lane takes at once: a worker is given its next task while the main thread still handles
   * the rows and outcomes of the one before, which it would otherwise wait for doing nothing.
   */
  readonly depth: number;
  run(task: TaskMessage, onRows: (message: RowsMessage) => Promise<void>): Promise<readonly ItemOutcome[]>;
  /** The fingerprints `message` asks for (null: the file could not be fingerprinted). */
  fingerprint(message: FingerprintMessage): Promise<readonly (string | null)[]>;
  close(): Promise<void>;
}

/** Files fingerprinted per message: some 30 MB hashed for small files, against one round trip. */
const FINGERPRINT_BATCH = 256;

/** Reads tasks on worker threads (or inline), handing rows and outcomes to the caller. */
export class IngestPool {
  /** The strings every id column of the rows handed out refers to. */
  readonly strings = new StringTable();
  private readonly lanes: Lane[];
  private nextTaskId = 0;

  private constructor(lanes: Lane[]) {
    this.lanes = lanes;
  }

  /** Starts the workers; they take tasks as soon as `run` gives them some. */
  static async start(options: PoolOptions): Promise<IngestPool> {
    const manifest = options.manifest === undefined ? undefined : manifestToData(options.manifest);
    const portable = options.manifest === undefined || manifest !== undefined;
    const count = portable ? (options.workers ?? availableParallelism()) : 0;
    const settings: RunnerSettings = {
      datasetDepth: options.datasetDepth,
      sampleLimit: options.sampleLimit,
      maxLineBytes: options.maxLineBytes,
      manifest,
      sendRows: options.sendRows,
      scanner: scannerModule(),
      holdings: options.holdings,
    };
    if (count <= 0) return new IngestPool([new InlineLane(settings, options.manifest)]);
    const source = await loadWorkerSource();
    return new IngestPool(Array.from({ length: count }, () => new WorkerLane(source, settings)));
  }

  /** Threads reading (1 when reading inline). */
  get size(): number {
    return this.lanes.length;
  }

  /** Runs every task; resolves when all are done and handled, rejects on the first failure. */
  async run(tasks: readonly PoolTask[], handlers: PoolHandlers): Promise<void> {
    let next = 0;
    let failed: unknown;
    // Rows handed on but not yet handled (e.g. being written): a worker goes on with its next task
    // while they are, unless too many are waiting.
    const backlog: Promise<void>[] = [];
    const start = (lane: Lane) => {
      const task = tasks[next++]!;
      const id = this.nextTaskId++;
      const message = { type: 'task', id, items: task.items, merge: task.merge === true } as const;
      const outcomes = lane.run(message, async (message) => {
        // After a failure the run is over: a task already given goes on in its worker until it closes.
        if (failed !== undefined) return;
        const handled = handlers.rows(this.translate(lane, message, task));
        if (handled !== undefined) {
          handled.catch(() => undefined);
          backlog.push(handled);
        }
      });
      outcomes.catch(() => undefined);
      return { task, outcomes };
    };
    // `given`: tasks given to the lane and not yet handled, in the order it reads them.
    const work = async (lane: Lane, given: ReturnType<typeof start>[]) => {
      for (;;) {
        // A second task is given only while every other lane has one left to take too: at the end of
        // the run, a task waiting behind another would keep a lane idle that could have read it.
        while (
          failed === undefined &&
          next < tasks.length &&
          given.length < (tasks.length - next > this.lanes.length ? lane.depth : 1)
        ) {
          given.push(start(lane));
        }
        const current = given.shift();
        if (current === undefined || failed !== undefined) return;
        const { task, outcomes } = current;
        const done = await outcomes;
        // Rows were handed on before this: a handler that queues its work keeps that order.
        // Awaited only when it returns a promise: an await an item is some 250 bytes of this thread's
        // heap, a night's thousands of small objects 1.2 MB (BENCHMARKS.md, issue 15, eighth session).
        for (let i = 0; i < task.items.length; i++) {
          const handled = handlers.itemDone(task.items[i]!, done[i]!, task);
          if (handled !== undefined) await handled;
        }
        while (backlog.length > MAX_BACKLOG) await backlog.shift();
      }
    };
    // Every lane takes its first task before any takes a second (tasks come longest first).
    const first = this.lanes.map((lane) => (next < tasks.length ? [start(lane)] : []));
    await Promise.all(
      this.lanes.map((lane, k) =>
        work(lane, first[k]!).catch((e: unknown) => {
          failed ??= e;
        }),
      ),
    );
    if (failed !== undefined) throw failed;
    await Promise.all(backlog);
  }

  /**
   * fingerprintFile's answer for each of `paths`, read and hashed on the pool's threads (a state that
   * holds a night's 5,000 objects fingerprints them all to skip them: some 0.5 s of hashing on one
   * thread). Undefined for a file that could not be fingerprinted: fingerprintFile says why.
   */
  async fingerprints(paths: readonly string[]): Promise<(string | undefined)[]> {
    const out = new Array<string | undefined>(paths.length);
    let next = 0;
    const work = async (lane: Lane) => {
      while (next < paths.length) {
        const start = next;
        next = Math.min(paths.length, start + FINGERPRINT_BATCH);
        const id = this.nextTaskId++;
        const answer = await lane.fingerprint({ type: 'fingerprint', id, paths: paths.slice(start, next) });
        for (let k = 0; k < answer.length; k++) out[start + k] = answer[k] ?? undefined;
      }
    };
    await Promise.all(this.lanes.map(work));
    return out;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.close()));
  }

  /** Local string ids of a lane -> pool ids, by lane. */
  private readonly stringMaps = new Map<Lane, Int32Array>();

  private translate(lane: Lane, message: RowsMessage, task: PoolTask): RowBatch {
    let map = this.stringMaps.get(lane) ?? new Int32Array(256);
    const needed = message.firstString + message.strings.length;
    if (needed > map.length) {
      const bigger = new Int32Array(Math.max(needed, map.length * 2));
      bigger.set(map);
      map = bigger;
    }
    this.stringMaps.set(lane, map);
    for (let k = 0; k < message.strings.length; k++) {
      map[message.firstString + k] = this.strings.id(message.strings[k]!);
    }
    const batch = message.batch;
    for (const column of [batch.bucket, batch.requester, batch.accessPoint, batch.dataset, batch.operation]) {
      for (let i = 0; i < batch.count; i++) column[i] = map[column[i]!]!;
    }
    const items = task.items;
    for (let i = 0; i < batch.count; i++) batch.item[i] = items[batch.item[i]!]!.fileId;
    const lines = batch.lines;
    for (let i = 0; i < lines.count; i++) lines.item[i] = items[lines.item[i]!]!.fileId;
    translateNetworkRows(batch.network, map, (item) => items[item]!.fileId);
    if (batch.holdings !== undefined) translateHeldReads(batch.holdings, map, items);
    // Task ids are unique in the pool: with it, a row's ref names it among every task's rows.
    return { ...batch, task: message.id };
  }
}

/**
 * How a worker gets its code. From compiled JavaScript, it loads ingest-worker.js. From the TypeScript
 * sources, Node 20 does not pass tsx's module hooks on to worker threads, and registering tsx again in
 * each worker costs some 200 ms where evaluating a 40 kB bundle costs a few: the worker is bundled into
 * the bundle cache (bundle-cache.mjs), so only the first run after a change pays for bundling; where
 * the cache cannot be written, the worker is bundled again and evaluated from memory. The package bin
 * runs the build (scripts/build.mjs), where ingest-worker.js sits next to this module's chunk.
 */
type WorkerSource = { readonly code: string } | { readonly file: string };

let workerSource: Promise<WorkerSource> | undefined;

function loadWorkerSource(): Promise<WorkerSource> {
  workerSource ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) {
      return { file: fileURLToPath(new URL('./ingest-worker.js', import.meta.url)) };
    }
    const entry = fileURLToPath(new URL('./ingest-worker.ts', import.meta.url));
    const cached = await cachedBundle(entry);
    if (cached !== undefined) return importFromWorker(cached);
    const bundle = await bundleSources(entry, { format: 'cjs' });
    return { code: bundle.files[0]!.text };
  })();
  return workerSource;
}

/**
 * Code for an evaluated worker that imports the bundle. Not `new Worker(file)`: a worker started from a
 * file inherits `--import tsx` and would load tsx for nothing.
 */
function importFromWorker(bundle: string): WorkerSource {
  return { code: `import(${JSON.stringify(pathToFileURL(bundle).href)});` };
}

interface GivenTask {
  onRows: (message: RowsMessage) => Promise<void>;
  rows: Promise<void>[];
  resolve: (outcomes: readonly ItemOutcome[]) => void;
  reject: (e: unknown) => void;
}

class WorkerLane implements Lane {
  readonly depth = 2;
  private readonly worker: Worker;
  /** Tasks posted to the worker and not yet done, by id (the worker reads them in order). */
  private readonly given = new Map<number, GivenTask>();
  /** Fingerprint requests posted and not yet answered, by id. */
  private readonly asked = new Map<
    number,
    { resolve: (fingerprints: readonly (string | null)[]) => void; reject: (e: unknown) => void }
  >();
  private dead: Error | undefined;

  constructor(source: WorkerSource, settings: RunnerSettings) {
    this.worker =
      'code' in source
        ? new Worker(source.code, { eval: true, workerData: { settings } })
        : new Worker(source.file, { workerData: { settings } });
    this.worker.on('message', (message: WorkerMessage) => this.receive(message));
    this.worker.on('error', (e) =>
      this.die(new IngestWorkerError(`ingest worker failed: ${e.message}`, { cause: e })),
    );
    this.worker.on('exit', (code) => this.die(new IngestWorkerError(`ingest worker exited (code ${code})`)));
  }

  run(task: TaskMessage, onRows: (message: RowsMessage) => Promise<void>): Promise<readonly ItemOutcome[]> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.given.set(task.id, { onRows, rows: [], resolve, reject });
      this.worker.postMessage(task);
    });
  }

  fingerprint(message: FingerprintMessage): Promise<readonly (string | null)[]> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.asked.set(message.id, { resolve, reject });
      this.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    this.dead ??= new IngestWorkerError('the ingest pool is closed');
    await this.worker.terminate();
  }

  private receive(message: WorkerMessage): void {
    if (message.type === 'fingerprints') {
      this.asked.get(message.id)?.resolve(message.fingerprints);
      this.asked.delete(message.id);
      return;
    }
    if (message.type === 'failed') {
      const error = new IngestWorkerError(`ingest worker: ${message.message}`);
      if (message.stack !== undefined) error.stack = message.stack;
      (this.given.get(message.id) ?? this.asked.get(message.id))?.reject(error);
      this.given.delete(message.id);
      this.asked.delete(message.id);
      return;
    }
    const current = this.given.get(message.id);
    if (current === undefined) return;
    if (message.type === 'rows') {
      current.rows.push(current.onRows(message));
      return;
    }
    this.given.delete(message.id);
    Promise.all(current.rows).then(() => current.resolve(message.outcomes), current.reject);
  }

  private die(error: Error): void {
    if (this.dead !== undefined) return;
    this.dead = error;
    const given = [...this.given.values(), ...this.asked.values()];
    this.given.clear();
    this.asked.clear();
    for (const task of given) task.reject(error);
  }
}

/** Reads on the calling thread, through the same TaskRunner a worker uses. */
class InlineLane implements Lane {
  /** One task at a time: it reads on the thread that would hand out the next. */
  readonly depth = 1;
  private readonly runner: TaskRunner;
  private onRows: ((message: RowsMessage) => Promise<void>) | undefined;
  private rows: Promise<void>[] = [];

  constructor(settings: RunnerSettings, manifest: Manifest | undefined) {
    this.runner = new TaskRunner(
      settings,
      (message) => {
        if (this.onRows !== undefined) this.rows.push(this.onRows(message));
      },
      manifest,
    );
  }

  async run(
    task: TaskMessage,
    onRows: (message: RowsMessage) => Promise<void>,
  ): Promise<readonly ItemOutcome[]> {
    this.onRows = onRows;
    this.rows = [];
    const outcomes = await this.runner.run(task);
    await Promise.all(this.rows);
    return outcomes;
  }

  async fingerprint(message: FingerprintMessage): Promise<readonly (string | null)[]> {
    return fingerprintFiles(message).fingerprints;
  }

  async close(): Promise<void> {}
}

/** A file's totals, from the outcomes of the items it was read in. */
export interface CombinedOutcome {
  readonly decodedBytes: number;
  readonly compressed: boolean;
  readonly lines: number;
  readonly parsedLines: number;
  readonly malformedLines: number;
  readonly malformedByReason: Readonly<Record<string, number>>;
  /** The file's first `sampleLimit` malformed lines, numbered from the start of the file. */
  readonly samples: readonly LineSample[];
  /** The first reason an item could not be read to its end. */
  readonly unreadable?: string;
}

/**
 * Adds up the outcomes of one file's items (its ranges, or the file whole). A range numbers its lines
 * from its own start: each sample is offset by the lines of the ranges before it, which makes the
 * numbers the file's own.
 */
export function combineOutcomes(
  pieces: readonly { readonly start: number; readonly outcome: ItemOutcome }[],
  sampleLimit: number,
): CombinedOutcome {
  // A file read whole (most files): its counts as they came, not copied.
  if (pieces.length === 1 && pieces[0]!.outcome.counts.samples.length <= sampleLimit) {
    const { outcome } = pieces[0]!;
    const counts = outcome.counts;
    return {
      decodedBytes: outcome.decodedBytes,
      compressed: outcome.compressed,
      lines: counts.lines,
      parsedLines: counts.parsedLines,
      malformedLines: counts.malformedLines,
      malformedByReason: counts.malformedByReason,
      samples: counts.samples,
      ...(outcome.unreadable === undefined ? {} : { unreadable: outcome.unreadable }),
    };
  }
  const ordered = [...pieces].sort((a, b) => a.start - b.start);
  let lines = 0;
  let parsedLines = 0;
  let malformedLines = 0;
  let decodedBytes = 0;
  let compressed = false;
  let unreadable: string | undefined;
  const malformedByReason: Record<string, number> = {};
  const samples: LineSample[] = [];
  for (const { outcome } of ordered) {
    const counts = outcome.counts;
    for (const s of counts.samples) {
      if (samples.length < sampleLimit) samples.push({ ...s, line: s.line + lines });
    }
    lines += counts.lines;
    parsedLines += counts.parsedLines;
    malformedLines += counts.malformedLines;
    for (const [reason, n] of Object.entries(counts.malformedByReason)) {
      malformedByReason[reason] = (malformedByReason[reason] ?? 0) + n;
    }
    decodedBytes += outcome.decodedBytes;
    compressed ||= outcome.compressed;
    unreadable ??= outcome.unreadable;
  }
  return {
    decodedBytes,
    compressed,
    lines,
    parsedLines,
    malformedLines,
    malformedByReason,
    samples,
    ...(unreadable === undefined ? {} : { unreadable }),
  };
}

/** How files are cut into tasks. */
export interface PlanOptions {
  /** Threads that will read; ranges are sized so each gets several. */
  readonly threads: number;
  /** Plain files larger than this are read in ranges. @default 16 MiB */
  readonly splitAbove?: number;
  /** Largest range. @default 256 MiB */
  readonly maxRangeBytes?: number;
  /** Smallest range but the file's last. @default 32 MiB (at most maxRangeBytes) */
  readonly minRangeBytes?: number;
  /** Small files are grouped into tasks of about this many bytes. @default 16 MiB */
  readonly groupBytes?: number;
}

/** A file to plan: the caller's id, its path and its size on disk. */
export interface PlanFile {
  readonly fileId: number;
  readonly path: string;
  readonly size: number;
  /**
   * Whether a small file's rows may be summed with those of the other files of its task (the task is
   * then `merge`): the caller records such files together, as one group. @default false
   */
  readonly mergeable?: boolean;
  /** Fingerprint the file while reading it (see ReadItem.fingerprint); small files only. @default false */
  readonly fingerprint?: boolean;
}

/** Plain files larger than this are read in ranges (PlanOptions.splitAbove). */
export const DEFAULT_SPLIT_ABOVE = 16 * 1024 * 1024;

/**
 * Cuts files into tasks: large plain files into ranges, large gzip files one task each, small files
 * grouped. Longest work first (a big gzip file cannot be shared, so it should not start last).
 */
export async function planTasks(files: readonly PlanFile[], options: PlanOptions): Promise<PoolTask[]> {
  const splitAbove = options.splitAbove ?? DEFAULT_SPLIT_ABOVE;
  const maxRange = options.maxRangeBytes ?? 256 * 1024 * 1024;
  const groupBytes = options.groupBytes ?? 16 * 1024 * 1024;
  const minRange = Math.min(options.minRangeBytes ?? 32 * 1024 * 1024, maxRange);
  const whole: { task: PoolTask; weight: number }[] = [];
  const split: PlanFile[] = [];
  const small: PoolItem[] = [];
  const alone: PoolItem[] = [];
  for (const file of files) {
    if (file.size <= splitAbove) {
      // Literals, not a spread of one into the other: V8 (Node 20) gave each object made by
      // `{ ...item, fingerprint: true }` a hidden class of its own, some 200 bytes an item held for
      // the whole run (BENCHMARKS.md, issue 15, eighth session).
      const item: PoolItem =
        file.fingerprint === true
          ? { fileId: file.fileId, path: file.path, fingerprint: true }
          : { fileId: file.fileId, path: file.path };
      (file.mergeable === true ? small : alone).push(item);
    } else if (file.path.endsWith('.gz') || (await startsWithGzipMagic(file.path))) {
      // Inflating costs several times reading: weigh compressed bytes accordingly.
      whole.push({ task: { items: [{ fileId: file.fileId, path: file.path }] }, weight: file.size * 6 });
    } else {
      split.push(file);
    }
  }
  whole.sort((a, b) => b.weight - a.weight);
  const sizes = new Map(files.map((f) => [f.fileId, f.size]));
  const grouped = (items: readonly PoolItem[], merge: boolean): PoolTask[] => {
    const groups: PoolTask[] = [];
    let group: PoolItem[] = [];
    let groupSize = 0;
    for (const item of items) {
      group.push(item);
      groupSize += sizes.get(item.fileId) ?? 0;
      if (groupSize >= groupBytes || group.length >= 1000) {
        groups.push(merge ? { items: group, merge } : { items: group });
        group = [];
        groupSize = 0;
      }
    }
    if (group.length > 0) groups.push(merge ? { items: group, merge } : { items: group });
    return groups;
  };
  const ranges = cutRanges(split, options.threads, maxRange, minRange);
  return [...whole.map((w) => w.task), ...ranges, ...grouped(small, true), ...grouped(alone, false)];
}

/**
 * Large plain files in ranges, each a share of all that is left to cut (guided scheduling): large ranges
 * while much is left, smaller and smaller ones towards the end, so that the threads finish close
 * together (the last range is the only wait) without cutting everything small: each range's rows are
 * written on their own (32 MiB ranges throughout made the main thread write 8 times the rows of 256 MiB
 * ones: 0.9 s of 4.7 s on 10 M lines). Every file gives at least two ranges, so that threads share it;
 * none is over the largest, and none but a small file's two is under half the floor.
 */
function cutRanges(
  files: readonly PlanFile[],
  threads: number,
  maxRange: number,
  minRange: number,
): PoolTask[] {
  const out: PoolTask[] = [];
  const share = Math.max(2, threads * 2);
  let left = files.reduce((sum, f) => sum + f.size, 0);
  for (const file of files) {
    let start = 0;
    while (start < file.size) {
      const fileLeft = file.size - start;
      let step = Math.min(maxRange, Math.max(minRange, Math.ceil(left / share)));
      // No crumb at the end of a file: it goes with the range before it, unless that makes a file's only
      // range or one past the largest; then what is left is halved.
      if (fileLeft - step < minRange / 2) {
        step = start === 0 || fileLeft > maxRange ? Math.ceil(fileLeft / 2) : fileLeft;
      }
      out.push({ items: [{ fileId: file.fileId, path: file.path, range: [start, start + step] }] });
      start += step;
      left -= step;
    }
  }
  return out;
}

async function startsWithGzipMagic(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    try {
      const head = Buffer.alloc(2);
      const { bytesRead } = await handle.read(head, 0, 2, 0);
      return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
    } finally {
      await handle.close();
    }
  } catch {
    // The worker reading it will name the problem as the file's unreadable reason.
    return true;
  }
}
