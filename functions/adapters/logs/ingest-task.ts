/**
 * One unit of parallel ingestion: a task is a list of items (whole files, or byte ranges of one large
 * plain file) read in order by one thread. The same TaskRunner runs inside a worker thread and, when
 * there are no workers, on the main thread, so both paths read, scan and aggregate identically.
 */
import { LogAggregator } from './log-aggregator.js';
import { fingerprintFileSync } from './log-files.js';
import { type ItemOutcome, type ReadItem, readLogItem } from './log-reader.js';
import { type Manifest, type ManifestData, manifestFromData } from './manifest.js';
import { batchBuffers, type RowBatch, RowBatchBuilder } from './row-batch.js';

/** Settings every task of a run shares; plain data, so they can be a worker's `workerData`. */
export interface RunnerSettings {
  readonly datasetDepth: number;
  readonly sampleLimit: number;
  readonly maxLineBytes: number;
  readonly manifest?: ManifestData;
  /** Rows a thread collects before sending them on. @default 32768 */
  readonly sendRows?: number;
  /** Request identities a thread collects before sending them on (with its rows). @default 262144 */
  readonly sendLines?: number;
  /** The compiled log scanner, compiled once and handed to every thread. @default compiled by the thread */
  readonly scanner?: WebAssembly.Module;
  /** Keep whole-object reads for the holdings table (see ../../domain/HOLDINGS.md). @default true */
  readonly holdings?: boolean;
}

/** Main thread to worker: read these items. */
export interface TaskMessage {
  readonly type: 'task';
  readonly id: number;
  readonly items: readonly ReadItem[];
  /**
   * Sum the rows of all items together (many small files): rows then carry any one of the task's
   * items, and the caller records the task's items as one group. @default false
   */
  readonly merge?: boolean;
}

/** Main thread to worker: fingerprint these files (fingerprintFile's answer for each). */
export interface FingerprintMessage {
  readonly type: 'fingerprint';
  readonly id: number;
  readonly paths: readonly string[];
}

/**
 * Worker to main thread: the fingerprints asked by message `id`, in order; null for a file that could
 * not be fingerprinted (the caller asks fingerprintFile itself, which says why).
 */
export interface FingerprintsMessage {
  readonly type: 'fingerprints';
  readonly id: number;
  readonly fingerprints: readonly (string | null)[];
}

/**
 * Worker to main thread: rows of task `id`. String ids index the sender's table, of which this message
 * carries the entries added since the previous one (ids `firstString`, `firstString + 1`, ...).
 */
export interface RowsMessage {
  readonly type: 'rows';
  readonly id: number;
  readonly firstString: number;
  readonly strings: readonly string[];
  readonly batch: RowBatch;
}

/** Worker to main thread: task `id` is done; one outcome per item, in order. Its rows were all sent. */
export interface DoneMessage {
  readonly type: 'done';
  readonly id: number;
  readonly outcomes: readonly ItemOutcome[];
}

/** Worker to main thread: task `id` failed unexpectedly (a bug or an invalid setting, not a bad file). */
export interface FailedMessage {
  readonly type: 'failed';
  readonly id: number;
  readonly message: string;
  readonly stack?: string;
}

export type WorkerMessage = RowsMessage | DoneMessage | FailedMessage | FingerprintsMessage;

const DEFAULT_SEND_ROWS = 32768;
/** 8 MiB of line records. */
const DEFAULT_SEND_LINES = 262144;

/** Answers a FingerprintMessage, reading synchronously (a worker, or the thread that reads inline). */
export function fingerprintFiles(message: FingerprintMessage): FingerprintsMessage {
  const fingerprints = message.paths.map((path) => {
    try {
      return fingerprintFileSync(path);
    } catch {
      return null;
    }
  });
  return { type: 'fingerprints', id: message.id, fingerprints };
}

/** Reads tasks into rows, sending each batch of rows through `send` as it fills. */
export class TaskRunner {
  private readonly builder = new RowBatchBuilder(4096);
  private readonly aggregator: LogAggregator;
  private readonly maxLineBytes: number;
  private readonly sendRows: number;
  private readonly sendLines: number;
  private sentStrings = 0;

  /** `manifest`, when given, is used as it is instead of being rebuilt from `settings.manifest`. */
  constructor(
    settings: RunnerSettings,
    private readonly send: (message: RowsMessage, transfer: ArrayBuffer[]) => void,
    manifest?: Manifest,
  ) {
    this.aggregator = new LogAggregator(
      {
        datasetDepth: settings.datasetDepth,
        sampleLimit: settings.sampleLimit,
        scanner: settings.scanner,
        manifest:
          manifest ?? (settings.manifest === undefined ? undefined : manifestFromData(settings.manifest)),
      },
      this.builder,
      settings.holdings === false ? undefined : this.builder.held,
    );
    this.maxLineBytes = settings.maxLineBytes;
    this.sendRows = settings.sendRows ?? DEFAULT_SEND_ROWS;
    this.sendLines = settings.sendLines ?? DEFAULT_SEND_LINES;
  }

  async run(task: TaskMessage): Promise<ItemOutcome[]> {
    const outcomes: ItemOutcome[] = [];
    // Rows are named by (task, ref): refs start again with each task.
    this.aggregator.newRefSpace();
    const afterChunk = () => {
      if (
        this.builder.count >= this.sendRows ||
        this.builder.lineCount >= this.sendLines ||
        this.builder.held.count >= this.sendRows
      )
        this.flush(task.id);
    };
    for (let i = 0; i < task.items.length; i++) {
      outcomes.push(
        await readLogItem(task.items[i]!, i, this.aggregator, {
          maxLineBytes: this.maxLineBytes,
          afterChunk,
          merged: task.merge === true && i > 0,
          keepRows: task.merge === true && i < task.items.length - 1,
        }),
      );
    }
    this.flush(task.id);
    return outcomes;
  }

  private flush(id: number): void {
    if (this.builder.count === 0 && this.builder.lineCount === 0 && this.builder.held.count === 0) return;
    const batch = this.builder.take();
    const values = this.aggregator.strings.values;
    const firstString = this.sentStrings;
    this.sentStrings = values.length;
    this.send(
      { type: 'rows', id, firstString, strings: values.slice(firstString), batch },
      batchBuffers(batch),
    );
  }
}
