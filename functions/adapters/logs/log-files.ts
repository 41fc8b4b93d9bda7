/**
 * Finding access-log objects on disk, telling their key layout, and fingerprinting them.
 *
 * S3 writes log objects under one of two key layouts:
 * - SimplePrefix: `[prefix]YYYY-mm-DD-HH-MM-SS-UniqueString`
 * - PartitionedPrefix: `[prefix]SourceAccountId/SourceRegion/SourceBucket/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-UniqueString`
 * A local copy keeps the same names, perhaps with `.gz` added. Files of neither layout are still read
 * (`unknown`): a renamed or hand-made log is still usage.
 */
import { createHash } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import { closeSync, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

export type KeyLayout = 'simple' | 'partitioned' | 'unknown';

/** What a log object's name says about it. */
export interface LayoutInfo {
  readonly layout: KeyLayout;
  /** The timestamp written in the file name (epoch ms, UTC); absent for `unknown`. */
  readonly nameTimeMs?: number;
  /** For `partitioned`: the path segments S3 wrote before the file name. */
  readonly partition?: {
    readonly sourceAccountId: string;
    readonly sourceRegion: string;
    readonly sourceBucket: string;
    /** The partition date `YYYY-MM-DD` (event or delivery date, as the bucket's logging is set up). */
    readonly date: string;
  };
}

/** One log file found on disk. */
export interface LogFileEntry extends LayoutInfo {
  /** Absolute path. */
  readonly path: string;
  /** The file name, the last segment of path. */
  readonly basename: string;
  /** Size on disk in bytes (compressed size for gzip files). */
  readonly size: number;
}

/** The files found under the given paths, in a stable order, and what could not be looked at. */
export interface LogFileListing {
  /** Sorted by path (code-unit order, independent of locale), without duplicates. */
  readonly files: readonly LogFileEntry[];
  /** Directories that could not be listed and entries that could not be examined, with why. */
  readonly unreadable: readonly { readonly file: string; readonly reason: string }[];
}

/** A path given to listLogFiles does not exist or is neither a file nor a directory. */
export class LogPathError extends Error {
  override readonly name = 'LogPathError';
  constructor(
    readonly path: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`log path ${path}: ${problem}`, options);
  }
}

const STAMP = /(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-([A-Za-z0-9]+)(?:\.gz)?$/;
const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const YEAR = /^\d{4}$/;
const TWO_DIGITS = /^\d{2}$/;

/** Tell the key layout of a log file from its path (only the last seven segments matter). */
export function detectLayout(path: string): LayoutInfo {
  const segments = path.split(/[\\/]/).filter((s) => s !== '');
  const name = segments[segments.length - 1] ?? '';
  const m = STAMP.exec(name);
  if (!m) return { layout: 'unknown' };
  const [, y, mo, d, h, mi, s] = m;
  const nameTimeMs = utcMs(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s));
  if (nameTimeMs === undefined) return { layout: 'unknown' };
  const prefixLength = m.index;
  const dirs = segments.slice(-7, -1);
  if (prefixLength === 0 && dirs.length === 6) {
    const [account, region, bucket, yy, mm, dd] = dirs as [string, string, string, string, string, string];
    if (
      ACCOUNT.test(account) &&
      REGION.test(region) &&
      BUCKET.test(bucket) &&
      YEAR.test(yy) &&
      TWO_DIGITS.test(mm) &&
      TWO_DIGITS.test(dd) &&
      utcMs(Number(yy), Number(mm), Number(dd), 0, 0, 0) !== undefined
    ) {
      return {
        layout: 'partitioned',
        nameTimeMs,
        partition: {
          sourceAccountId: account,
          sourceRegion: region,
          sourceBucket: bucket,
          date: `${yy}-${mm}-${dd}`,
        },
      };
    }
  }
  return { layout: 'simple', nameTimeMs };
}

/** Epoch ms of a UTC wall time, or undefined when the fields are not a real date and time. */
function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number | undefined {
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) {
    return undefined;
  }
  return t;
}

/**
 * Every log file under `paths` (files, or directories searched recursively). Names starting with `.`
 * inside directories are skipped (editor and OS litter such as `.DS_Store`); a file named explicitly is
 * always taken. Symbolic links are followed, each directory visited once. Throws LogPathError when a
 * given path does not exist: a mistyped path must not pass as a quiet night.
 *
 * The file system is asked synchronously: a night of small objects is thousands of `stat` calls, and
 * each one awaited through the thread pool costs ten times the call itself (5,000 files: 0.25 s
 * against 0.03). The run has nothing else for this thread to do meanwhile.
 */
export async function listLogFiles(paths: readonly string[]): Promise<LogFileListing> {
  const found = new Map<string, LogFileEntry>();
  const unreadable: { file: string; reason: string }[] = [];
  const visitedDirs = new Set<string>();

  const addFile = (path: string, size: number) => {
    if (!found.has(path)) found.set(path, { path, basename: basename(path), size, ...detectLayout(path) });
  };

  const walk = (dir: string): void => {
    let real: string;
    let entries: Dirent[];
    try {
      real = realpathSync(dir);
      if (visitedDirs.has(real)) return;
      visitedDirs.add(real);
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      unreadable.push({ file: dir, reason: `cannot list directory: ${(e as Error).message}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        try {
          const st = statSync(path);
          if (st.isDirectory()) walk(path);
          else if (st.isFile()) addFile(path, st.size);
        } catch (e) {
          unreadable.push({ file: path, reason: `cannot examine: ${(e as Error).message}` });
        }
      }
    }
  };

  for (const given of paths) {
    const path = resolve(given);
    let st: Stats;
    try {
      st = statSync(path);
    } catch (e) {
      throw new LogPathError(given, 'does not exist or cannot be read', { cause: e });
    }
    if (st.isDirectory()) walk(path);
    else if (st.isFile()) addFile(path, st.size);
    else throw new LogPathError(given, 'is neither a file nor a directory');
  }

  const files = [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  unreadable.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { files, unreadable };
}

/** Bytes hashed from each end of a file by fingerprintFile. */
export const FINGERPRINT_EDGE_BYTES = 64 * 1024;

/**
 * A cheap identity for a log file's content: sha256 (hex) over its base name, its size, its first and its
 * last 64 KiB. S3 never rewrites a log object, so a change anywhere shows at least in the size or the
 * tail; an edit in the middle of a large file that keeps its size goes unseen, the price of not reading
 * gigabytes to decide whether to read them. The directory is left out so that moving a file does not
 * make it new.
 */
export async function fingerprintFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  const buffer = spareEdges.pop() ?? Buffer.allocUnsafe(2 * FINGERPRINT_EDGE_BYTES);
  try {
    const { size } = await handle.stat();
    const hash = createHash('sha256');
    hash.update(basename(path));
    hash.update('\0');
    hash.update(String(size));
    hash.update('\0');
    const headLength = Math.min(size, FINGERPRINT_EDGE_BYTES);
    const tailStart = Math.max(0, size - FINGERPRINT_EDGE_BYTES);
    if (size <= buffer.length) {
      // A small file is read once; its head and tail overlap, and are hashed as they always were.
      const whole = await readAt(handle, buffer, 0, size);
      hash.update(whole.subarray(0, Math.min(headLength, whole.length)));
      hash.update(whole.subarray(Math.min(tailStart, whole.length)));
    } else {
      hash.update(await readAt(handle, buffer, 0, headLength));
      hash.update(await readAt(handle, buffer, tailStart, size - tailStart));
    }
    return hash.digest('hex');
  } finally {
    spareEdges.push(buffer);
    await handle.close();
  }
}

/**
 * fingerprintFile's answer for a file whose bytes are at hand: `whole` holds the file, or at least its
 * first and last FINGERPRINT_EDGE_BYTES when `size` is larger (head, then tail, as `edges`).
 */
export function fingerprintOfBytes(path: string, size: number, head: Uint8Array, tail: Uint8Array): string {
  const hash = createHash('sha256');
  hash.update(basename(path));
  hash.update('\0');
  hash.update(String(size));
  hash.update('\0');
  hash.update(head);
  hash.update(tail);
  return hash.digest('hex');
}

/** The head and tail fingerprintFile hashes, taken from the whole file's bytes. */
export function fingerprintOfWhole(path: string, whole: Uint8Array): string {
  const size = whole.length;
  return fingerprintOfBytes(
    path,
    size,
    whole.subarray(0, Math.min(size, FINGERPRINT_EDGE_BYTES)),
    whole.subarray(Math.max(0, size - FINGERPRINT_EDGE_BYTES)),
  );
}

/**
 * fingerprintFile with synchronous reads, for a worker thread that reads files synchronously anyway.
 * Its reads go to one buffer kept for the thread: fresh memory for each file made the kernel map new
 * pages at every read, which cost as much as the hashing (2,500 objects of 126 KB on one thread of a
 * loaded machine: 0.85-1.03 s, against 0.46-0.57 with the buffer kept).
 */
export function fingerprintFileSync(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const edge = Math.min(size, FINGERPRINT_EDGE_BYTES);
    const head = readAtSync(fd, edgesSync.subarray(0, edge), 0);
    const tailStart = Math.max(0, size - FINGERPRINT_EDGE_BYTES);
    const tail = readAtSync(fd, edgesSync.subarray(edge, edge + size - tailStart), tailStart);
    return fingerprintOfBytes(path, size, head, tail);
  } finally {
    closeSync(fd);
  }
}

/** fingerprintFileSync's buffer: the head, then the tail. Reads are synchronous, so one serves a thread. */
const edgesSync = Buffer.allocUnsafe(2 * FINGERPRINT_EDGE_BYTES);

function readAtSync(fd: number, buffer: Buffer, position: number): Buffer {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/** Buffers for fingerprintFile, reused: a run fingerprints every file it is given. */
const spareEdges: Buffer[] = [];

/** Bytes [position, position + length) of the file into the start of `buffer` (fewer at its end). */
async function readAt(
  handle: Awaited<ReturnType<typeof open>>,
  buffer: Buffer,
  position: number,
  length: number,
): Promise<Buffer> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}
