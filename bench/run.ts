/**
 * `npm run bench`: ingestion speed of the local engine, side by side with DuckDB's naive CSV reader and
 * `wc -l`, on generated access logs of 1 M and 10 M lines, plain and gzip, or on log files you give it.
 *
 *   npm run bench [-- --quick] [-- --sizes 1m,10m] [-- --runs 3] [-- --markdown] [-- --no-gzip]
 *                 [-- --data-dir bench-data]
 *   npm run bench -- --logs <file> [--logs <file> ...] [--registry <file>] [--runs 3] [--markdown] [--no-gzip]
 *   npm run bench -- [--files 200,2000 | --files none] [--month-objects 300000] [--no-holdings]
 *
 * Data sets are generated once into ./bench-data (git-ignored) and reused: one day of traffic in one
 * file, as `partner-audit generate --lines N` writes it, plus a gzip copy. With `--logs` nothing is
 * generated: each file (plain or gzip, told by its magic bytes) is a data set of its own, its lines
 * counted here first; a plain one also gets a gzip copy under <data-dir>/external/ unless `--no-gzip`.
 * The ingest command needs a registry, of which it reads only `settings` (dataset depth, manifest):
 * `--registry` gives one, else a minimal one is written to a temporary folder (the schema wants one
 * partner, so it registers a placeholder that matches no requester).
 *
 * Every reader runs in a child process over a warm page cache, and each figure is the median of
 * `--runs` runs:
 * - partner-audit: `node bin/partner-audit.mjs ingest ... --json`, the CLI as users run it (from its
 *   build, made once before the runs), a fresh state file per run: the whole CLI, start-up,
 *   parsing, rollup and the DuckDB write included;
 * - the same command a second time over the same state file (nothing should be parsed again);
 * - DuckDB `read_csv` split on spaces (bench/duckdb-naive.ts), in its own process, asked four ways,
 *   since DuckDB reads only the columns a query needs: grouped by requester (one column materialised;
 *   the headline "vs DuckDB", the strict comparison), `count(*)`, every column materialised into a
 *   table, and grouped as the ingester groups (the like-for-like comparison);
 * - `wc -l` (`gzip -dc | wc -l` for gzip) as the floor: reading the bytes and nothing else;
 * - GoAccess with `--log-format=AWSS3`, when `goaccess` is on the PATH.
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`) when installed, else from /proc/<pid>/status.
 *
 * Then the night as S3 delivers it (bench/nightly.ts), on the smallest size: the same lines as one file
 * and cut into log objects of `--files` lines each (S3 delivers a few hundred to a few thousand lines an
 * object), under S3's simple and partitioned key layouts, ours and DuckDB's naive reader over the same
 * glob alternated run by run; and a second night of new objects into an empty state and into one
 * holding `--month-objects` ingested objects (0: no such rows); and holdings on against off (issue 14:
 * the key-level table may cost ingestion at most 10 %), the one file and the first size of small
 * objects, runs alternated (`--no-holdings`: not measured).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip, createGzip } from 'node:zlib';
import { generateDataset } from '../functions/cli/generate/generator.js';
import { startsWithGzipMagic } from './gzip-magic.js';
import { benchNightly } from './nightly.js';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const BIN = join(ROOT, 'bin/partner-audit.mjs');
export const DUCKDB_NAIVE = join(ROOT, 'bench/duckdb-naive.ts');
/** Bump when the data a size stands for changes, so stale data sets are made again. */
const DATASET_VERSION = 1;
const GENERATE = { start: '2026-11-01', days: 1, seed: 42 } as const;

/** A command-line option the benchmark does not take. */
class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

/** A reader failed, or its output says it did not read what it was given. */
class BenchRunError extends Error {
  override readonly name = 'BenchRunError';
}

export interface Args {
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly markdown: boolean;
  readonly dataDir: string;
  readonly gzip: boolean;
  /** Log files to measure instead of generated data sets (absolute paths). */
  readonly logs: readonly string[];
  /** The registry for `--logs`; absent: a minimal one is written. */
  readonly registry?: string;
  /** Lines per object of the nightly shape (the smallest size cut into S3-sized objects); empty: none. */
  readonly files: readonly number[];
  /** Holdings on against off (issue 14), alternated, on the nightly shapes (`--no-holdings`: not). */
  readonly holdings: boolean;
  /** Ingested objects the second night's state holds (0: no second-night rows). */
  readonly monthObjects: number;
}

function parseArgs(argv: readonly string[]): Args {
  let sizes = [1_000_000, 10_000_000];
  let sizesGiven = false;
  let runs = 3;
  let markdown = false;
  let dataDir = join(ROOT, 'bench-data');
  let gzip = true;
  const logs: string[] = [];
  let registry: string | undefined;
  let files = [200, 2000];
  let monthObjects = 300_000;
  let holdings = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new BenchArgsError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') {
      sizes = [1_000_000];
      sizesGiven = true;
    } else if (arg === '--sizes') {
      sizes = value().split(',').map(parseSize);
      sizesGiven = true;
    } else if (arg === '--runs') runs = positive('--runs', value());
    else if (arg === '--markdown') markdown = true;
    else if (arg === '--data-dir') dataDir = resolve(value());
    else if (arg === '--no-gzip') gzip = false;
    else if (arg === '--logs') logs.push(resolve(value()));
    else if (arg === '--registry') registry = resolve(value());
    else if (arg === '--files') {
      const v = value();
      files = v === 'none' ? [] : v.split(',').map((n) => positive('--files', n));
    } else if (arg === '--month-objects') monthObjects = Number(value());
    else if (arg === '--no-holdings') holdings = false;
    else throw new BenchArgsError(`unknown option ${arg} (see the comment at the top of bench/run.ts)`);
  }
  if (logs.length > 0 && sizesGiven) {
    throw new BenchArgsError(
      '--sizes and --quick choose generated data sets; --logs measures the given files instead',
    );
  }
  if (registry !== undefined && logs.length === 0) {
    throw new BenchArgsError('--registry goes with --logs (generated data sets bring their own registry)');
  }
  if (!Number.isInteger(monthObjects) || monthObjects < 0) {
    throw new BenchArgsError('--month-objects must be a whole number >= 0');
  }
  return {
    sizes,
    runs,
    markdown,
    dataDir,
    gzip,
    logs,
    files: logs.length > 0 ? [] : files,
    monthObjects: logs.length > 0 ? 0 : monthObjects,
    holdings: logs.length === 0 && holdings,
    ...(registry === undefined ? {} : { registry }),
  };
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!m) throw new BenchArgsError(`--sizes takes numbers like 1m, 250k or 5000, got "${text}"`);
  const unit = m[2]?.toLowerCase() === 'm' ? 1e6 : m[2]?.toLowerCase() === 'k' ? 1e3 : 1;
  return Math.round(Number(m[1]) * unit);
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new BenchArgsError(`${name} must be a whole number >= 1`);
  return n;
}

export function label(lines: number): string {
  return lines % 1e6 === 0 ? `${lines / 1e6}M` : lines % 1e3 === 0 ? `${lines / 1e3}k` : String(lines);
}

// ---- data sets ---------------------------------------------------------------------------------------

export interface Dataset {
  readonly lines: number;
  readonly registry: string;
  readonly plain: string;
  readonly plainBytes: number;
  readonly gzip: string;
  readonly gzipBytes: number;
}

/** The data set of `lines` lines under dataDir, generated unless an intact one is there. */
export async function dataset(dataDir: string, lines: number, withGzip: boolean): Promise<Dataset> {
  const dir = join(dataDir, label(lines));
  const markerPath = join(dir, 'dataset.json');
  if (existsSync(markerPath)) {
    const marker = JSON.parse(await readFile(markerPath, 'utf8')) as Dataset & { version: number };
    const intact =
      marker.version === DATASET_VERSION &&
      marker.lines === lines &&
      sizeOf(marker.plain) === marker.plainBytes &&
      (!withGzip || (marker.gzipBytes > 0 && sizeOf(marker.gzip) === marker.gzipBytes));
    if (intact) return marker;
  }
  await mkdir(dataDir, { recursive: true });
  const needed = lines * 640 * (withGzip ? 1.25 : 1.05);
  const free = freeBytes(dataDir);
  if (free < needed) {
    throw new BenchRunError(
      `${label(lines)} lines need about ${gb(needed)} free in ${dataDir}, only ${gb(free)} are; ` +
        'free some space or pass --sizes / --quick',
    );
  }
  await rm(dir, { recursive: true, force: true });
  log(`generating ${label(lines)} log lines into ${dir} ...`);
  const summary = await generateDataset({ outDir: dir, ...GENERATE, singleFile: { lines } });
  const simpleDir = join(summary.logsDir, 'simple');
  const name = (await readdir(simpleDir))[0];
  if (name === undefined) throw new BenchRunError(`the generator wrote no log file under ${simpleDir}`);
  const plain = join(simpleDir, name);
  const gzipPath = join(dir, 'gzip', `${name}.gz`);
  if (withGzip) {
    log(`compressing it to ${gzipPath} ...`);
    await mkdir(join(dir, 'gzip'), { recursive: true });
    await pipeline(createReadStream(plain), createGzip(), createWriteStream(gzipPath));
  }
  const made = {
    version: DATASET_VERSION,
    lines,
    registry: summary.registryPath,
    plain,
    plainBytes: sizeOf(plain),
    gzip: gzipPath,
    gzipBytes: withGzip ? sizeOf(gzipPath) : -1,
  };
  await writeFile(markerPath, `${JSON.stringify(made, null, 2)}\n`);
  return made;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

/** What one table section measures: a log file as plain text and/or gzip, with its registry. */
interface BenchSet {
  /** The name in the "data" column: `1M`, or `logs#2` for the second `--logs` file. */
  readonly name: string;
  readonly lines: number;
  /** Bytes of log text (decompressed): what MB/s counts. */
  readonly textBytes: number;
  readonly registry: string;
  readonly inputs: readonly { readonly kind: 'plain' | 'gzip'; readonly file: string }[];
  /** Where the data came from, printed above the table for `--logs` files. */
  readonly legend?: string;
}

function generatedSet(set: Dataset, withGzip: boolean): BenchSet {
  return {
    name: label(set.lines),
    lines: set.lines,
    textBytes: set.plainBytes,
    registry: set.registry,
    inputs: [
      { kind: 'plain', file: set.plain },
      ...(withGzip ? [{ kind: 'gzip' as const, file: set.gzip }] : []),
    ],
  };
}

/** A `--logs` file as a data set: its lines counted here, the way the ingester counts them. */
async function externalSet(
  index: number,
  path: string,
  registry: string,
  dataDir: string,
  withGzip: boolean,
): Promise<BenchSet> {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new BenchArgsError(`--logs ${path}: not a file (give log files, not folders)`);
    size = st.size;
  } catch (e) {
    if (e instanceof BenchArgsError) throw e;
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new BenchArgsError(`--logs ${path}: cannot read it (${why})`, { cause: e });
  }
  const gzip = startsWithGzipMagic(path);
  log(`counting the lines of ${path} ...`);
  const text = await countText(path, gzip);
  if (text.lines === 0) throw new BenchArgsError(`--logs ${path}: the file holds no line`);
  const inputs: BenchSet['inputs'] = gzip
    ? [{ kind: 'gzip', file: path }]
    : [
        { kind: 'plain', file: path },
        ...(withGzip ? [{ kind: 'gzip' as const, file: await gzipCopy(path, size, dataDir) }] : []),
      ];
  const name = `logs#${index + 1}`;
  return {
    name,
    lines: text.lines,
    textBytes: text.bytes,
    registry,
    inputs,
    legend: `${name}: ${path} (${text.lines.toLocaleString('en-US')} lines, ${(text.bytes / 1e6).toFixed(1)} MB of text${gzip ? ', gzip' : ''})`,
  };
}

/**
 * Lines and bytes of text in a file, decompressed if gzip. A line ends at `\n`, and an unfinished last
 * line counts too, as the ingester counts (`wc -l` would not count it).
 */
async function countText(path: string, gzip: boolean): Promise<{ lines: number; bytes: number }> {
  const source = createReadStream(path, { highWaterMark: 1 << 20 });
  let stream: NodeJS.ReadableStream = source;
  if (gzip) {
    const gunzip = createGunzip();
    source.on('error', (e) => gunzip.destroy(e));
    stream = source.pipe(gunzip);
  }
  let lines = 0;
  let bytes = 0;
  let last = 0x0a;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return { lines: lines + (last === 0x0a ? 0 : 1), bytes };
}

/** A gzip copy of a plain `--logs` file under dataDir, made once and reused while the file is unchanged. */
async function gzipCopy(path: string, size: number, dataDir: string): Promise<string> {
  const dir = join(dataDir, 'external', createHash('sha256').update(path).digest('hex').slice(0, 16));
  const target = join(dir, `${basename(path)}.gz`);
  const markerPath = join(dir, 'source.json');
  const source = { path, size, mtimeMs: statSync(path).mtimeMs };
  if (existsSync(markerPath)) {
    const marker = JSON.parse(await readFile(markerPath, 'utf8')) as typeof source & { gzipBytes: number };
    if (
      marker.path === source.path &&
      marker.size === source.size &&
      marker.mtimeMs === source.mtimeMs &&
      sizeOf(target) === marker.gzipBytes
    ) {
      return target;
    }
  }
  await mkdir(dir, { recursive: true });
  // Access logs compress about 6 to 1; a quarter of the text leaves room for less regular ones.
  const free = freeBytes(dir);
  if (free < size / 4) {
    throw new BenchRunError(
      `a gzip copy of ${path} needs up to ${gb(size / 4)} free in ${dir}, only ${gb(free)} are; free some space or pass --no-gzip`,
    );
  }
  log(`compressing it to ${target} ...`);
  await rm(markerPath, { force: true });
  await pipeline(createReadStream(path), createGzip(), createWriteStream(target));
  await writeFile(markerPath, `${JSON.stringify({ ...source, gzipBytes: sizeOf(target) }, null, 2)}\n`);
  return target;
}

/**
 * The registry for `--logs` without `--registry`. Ingestion reads only `settings` from a registry
 * (attribution to partners happens at audit time, from the raw requester kept in the rollup), so what
 * it registers costs nothing here; the schema wants at least one partner, hence a placeholder whose only
 * principal is an ARN no log holds.
 */
const MINIMAL_REGISTRY = `# Written by bench/run.ts for --logs without --registry: ingestion reads only settings from it.
version: 1
provider:
  name: partner-audit bench
  noticeFrom: "partner-audit bench <bench@example.com>"
  contactEmail: bench@example.com
settings:
  datasetDepth: 2
partners:
  - id: bench-placeholder
    name: Placeholder that matches no requester
    timeZone: UTC
    accountOwners:
      - { email: bench@example.com }
    applications:
      - id: none
        name: No application
        principals:
          - arn: arn:aws:iam::000000000000:user/partner-audit-bench-placeholder
    contracts:
      - id: none
        effectiveFrom: 2000-01-01
        currency: USD
        datasets: [partner-audit-bench-placeholder/]
`;

// ---- running readers -------------------------------------------------------------------------------

export interface Measured {
  readonly seconds: number;
  readonly maxRssKb: number;
  /** User + system CPU seconds of the process and its threads (GNU time); absent without it. */
  readonly cpuSeconds?: number;
  readonly stdout: string;
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Runs a command to its end, timing it and taking its peak RSS. Rejects when it fails. */
export async function measure(command: string, args: readonly string[]): Promise<Measured> {
  const rssFile =
    GNU_TIME === undefined ? undefined : join(tmpdir(), `bench-rss-${process.pid}-${Date.now()}`);
  const [cmd, cmdArgs] =
    GNU_TIME === undefined || rssFile === undefined
      ? [command, [...args]]
      : [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, command, ...args]];
  const started = performance.now();
  const child = spawn(cmd, cmdArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // Without GNU time, the peak is read from /proc while the process runs (VmHWM is the high-water mark).
  let polledKb = 0;
  const poll =
    rssFile === undefined && child.pid !== undefined
      ? setInterval(() => {
          polledKb = Math.max(polledKb, vmHwmKb(child.pid!));
        }, 20)
      : undefined;
  const code = await new Promise<number | null>((done) => child.on('close', done));
  const seconds = (performance.now() - started) / 1000;
  if (poll !== undefined) clearInterval(poll);
  if (code !== 0) {
    throw new BenchRunError(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim().slice(-500)}`);
  }
  let maxRssKb = polledKb;
  let cpuSeconds: number | undefined;
  if (rssFile !== undefined) {
    const [rss, user, system] = readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)!.split(' ');
    maxRssKb = Number(rss);
    cpuSeconds = Number(user) + Number(system);
    await rm(rssFile, { force: true });
  }
  return { seconds, maxRssKb, stdout, ...(cpuSeconds === undefined ? {} : { cpuSeconds }) };
}

function vmHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One line of the table. */
export interface Row {
  readonly data: string;
  readonly reader: string;
  readonly seconds: number;
  /** Seconds of the work itself as the reader reports it (no process start-up), when it does. */
  readonly innerSeconds?: number;
  readonly lines: number;
  readonly textBytes: number;
  readonly maxRssKb: number;
  /** What the reader says it read (DuckDB's rows, groups, columns), or why a figure is missing. */
  readonly note?: string;
}

/** What a reader's stdout says: its own seconds for the work, and a note for the table. */
interface Reading {
  readonly seconds?: number;
  readonly note?: string;
}

/**
 * `runs` runs of a reader; the row holds the medians (and the last run's note). `check` validates each
 * run's stdout and throws when the reader did not read what it was given.
 */
async function bench(
  runs: number,
  row: Omit<Row, 'seconds' | 'maxRssKb' | 'innerSeconds'>,
  command: string,
  args: () => Promise<readonly string[]> | readonly string[],
  check: (stdout: string) => Reading,
  after?: () => Promise<void>,
): Promise<Row> {
  const seconds: number[] = [];
  const rss: number[] = [];
  const inner: number[] = [];
  let note = row.note;
  for (let i = 0; i < runs; i++) {
    const m = await measure(command, await args());
    seconds.push(m.seconds);
    rss.push(m.maxRssKb);
    const reading = check(m.stdout);
    if (reading.seconds !== undefined) inner.push(reading.seconds);
    note = reading.note ?? note;
    await after?.();
  }
  log(`  ${row.reader}: ${seconds.map((s) => s.toFixed(2)).join(' / ')} s`);
  return {
    ...row,
    seconds: median(seconds),
    maxRssKb: median(rss),
    ...(inner.length > 0 ? { innerSeconds: median(inner) } : {}),
    ...(note === undefined ? {} : { note }),
  };
}

interface IngestJson {
  readonly files: number;
  readonly filesSkipped: number;
  readonly lines: number;
  readonly seconds: number;
}

/** Our CLI over `file`, a fresh state file per run, then once more over the last one (second run). */
async function benchOurs(
  runs: number,
  data: string,
  file: string,
  registry: string,
  lines: number,
  textBytes: number,
) {
  const scratch = await mkdtemp(join(tmpdir(), 'partner-audit-bench-'));
  // Removed even when a run fails, so that a failing bench leaves no state files behind.
  try {
    let db = '';
    const args = async () => {
      db = join(scratch, `state-${Date.now()}.duckdb`);
      return [BIN, 'ingest', '--logs', file, '--registry', registry, '--db', db, '--json'];
    };
    const readAll = (stdout: string) => {
      const out = JSON.parse(stdout) as IngestJson;
      if (out.lines !== lines || out.filesSkipped !== 0) {
        throw new BenchRunError(
          `partner-audit ingest read ${out.lines} lines of ${lines} (${stdout.trim()})`,
        );
      }
      return { seconds: out.seconds };
    };
    // Every measured run starts from an empty state file.
    const forget = async () => {
      await rm(db, { force: true });
      await rm(`${db}.wal`, { force: true });
    };
    // Not measured: builds the CLI from the current sources (npm run build), then runs it once over an
    // empty file (which still starts the workers), so that every measured run finds its files cached.
    await measure(process.execPath, [join(ROOT, 'scripts/build.mjs')]);
    const empty = join(scratch, 'warm-up.log');
    await writeFile(empty, '');
    await measure(process.execPath, [
      BIN,
      'ingest',
      '--logs',
      empty,
      '--registry',
      registry,
      '--db',
      join(scratch, 'warm-up.duckdb'),
    ]);
    const first = await bench(
      runs,
      { data, reader: OURS, lines, textBytes },
      process.execPath,
      args,
      readAll,
      forget,
    );
    // One more ingestion, not measured, leaves a state file for the second-run measurement.
    const lastDb = join(scratch, 'second-run.duckdb');
    const ingestArgs = [BIN, 'ingest', '--logs', file, '--registry', registry, '--db', lastDb];
    await measure(process.execPath, [...ingestArgs, '--json']);
    const second = await bench(
      runs,
      {
        data,
        reader: SECOND_RUN,
        lines,
        textBytes,
        note: 'files skipped by fingerprint',
      },
      process.execPath,
      () => [...ingestArgs, '--json'],
      (stdout) => {
        const out = JSON.parse(stdout) as IngestJson;
        if (out.filesSkipped !== out.files) {
          throw new BenchRunError(`the second run read ${out.files - out.filesSkipped} file(s) again`);
        }
        return { seconds: out.seconds };
      },
    );
    return [first, second];
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The DuckDB readings, in the order of the table; the first is the headline "vs DuckDB". */
const DUCKDB_READINGS = [
  { reader: 'DuckDB read_csv, naive', flag: [] },
  { reader: 'DuckDB read_csv, naive, count(*)', flag: ['--count'] },
  { reader: 'DuckDB read_csv, naive, all columns', flag: ['--all-columns'] },
  { reader: 'DuckDB read_csv, naive rollup', flag: ['--rollup'] },
] as const;
export const OURS = 'partner-audit ingest (CLI)';
export const SECOND_RUN = 'partner-audit ingest, second run';
export const HEADLINE = DUCKDB_READINGS[0].reader;

interface DuckDbJson {
  readonly rows: number;
  readonly groups?: number;
  readonly columns?: number;
  readonly seconds: number;
}

/** DuckDB's answer as a note: the rows it read (it skips lines it cannot split), groups or columns. */
function duckDbReading(stdout: string, lines: number): Reading {
  const out = JSON.parse(stdout) as DuckDbJson;
  if (!(out.rows > 0)) throw new BenchRunError(`DuckDB read no row (${stdout.trim()})`);
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [
    out.rows === lines
      ? `${n(out.rows)} rows`
      : out.rows < lines
        ? `${n(out.rows)} rows (${n(lines - out.rows)} ${lines - out.rows === 1 ? 'line' : 'lines'} skipped)`
        : `${n(out.rows)} rows from ${n(lines)} lines`,
  ];
  if (out.groups !== undefined) parts.push(`${n(out.groups)} groups`);
  if (out.columns !== undefined) parts.push(`${n(out.columns)} columns`);
  return { seconds: out.seconds, note: parts.join(', ') };
}

async function benchSet(args: Args, set: BenchSet): Promise<Row[]> {
  const rows: Row[] = [];
  const base = { lines: set.lines, textBytes: set.textBytes };
  for (const { kind, file } of set.inputs) {
    const data = `${set.name} ${kind}`;
    log(`${data}: ${file}`);
    // Warm the page cache, so that every reader finds the file in memory.
    await measure('sh', ['-c', 'cat "$0" > /dev/null', file]);
    rows.push(...(await benchOurs(args.runs, data, file, set.registry, set.lines, set.textBytes)));
    for (const { reader, flag } of DUCKDB_READINGS) {
      rows.push(
        await bench(
          args.runs,
          { data, reader, ...base },
          process.execPath,
          () => ['--import', 'tsx', DUCKDB_NAIVE, file, ...flag],
          (stdout) => duckDbReading(stdout, set.lines),
        ),
      );
    }
    const floor =
      kind === 'plain'
        ? { reader: 'wc -l', command: 'wc', argv: ['-l', file] }
        : { reader: 'gzip -dc | wc -l', command: 'sh', argv: ['-c', 'gzip -dc "$0" | wc -l', file] };
    rows.push(
      await bench(
        args.runs,
        { data, reader: floor.reader, ...base },
        floor.command,
        () => floor.argv,
        () => ({}),
      ),
    );
    if (goaccess !== undefined) {
      const report = join(tmpdir(), `goaccess-${process.pid}.json`);
      rows.push(
        await bench(
          args.runs,
          { data, reader: 'GoAccess (AWSS3)', ...base },
          'sh',
          () => [
            '-c',
            `${kind === 'gzip' ? 'gzip -dc' : 'cat'} "$0" | "$1" - --log-format=AWSS3 -o "$2"`,
            file,
            goaccess!,
            report,
          ],
          () => ({}),
          () => rm(report, { force: true }),
        ),
      );
    }
  }
  return rows;
}

const goaccess = (() => {
  const found = spawnSync('sh', ['-c', 'command -v goaccess'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
})();

// ---- report ----------------------------------------------------------------------------------------

function machine(): string[] {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    // Not Linux: os.cpus() named it.
  }
  return [
    `cores: ${availableParallelism()} (${cpu}), RAM: ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`,
    `peak RSS from: ${GNU_TIME === undefined ? '/proc/<pid>/status VmHWM, polled' : 'GNU time -f %M'}; GoAccess: ${goaccess ?? 'not installed'}`,
  ];
}

/**
 * The table: one row per reader. Our first run carries the headline "vs DuckDB" (the naive reader
 * grouped by requester); every baseline's row carries "ours vs this", so each DuckDB reading, `wc -l`
 * and GoAccess gets its ratio without a column of its own. Both ratios are their seconds / ours.
 */
function table(rows: readonly Row[], markdown: boolean): string {
  const header = [
    'data',
    'reader',
    'seconds',
    'in-process s',
    'lines/s',
    'MB/s',
    'peak RSS',
    'vs DuckDB',
    'ours vs this',
    'note',
  ];
  const body = rows.map((r) => {
    const peers = rows.filter((p) => p.data === r.data);
    const ours = peers.find((p) => p.reader === OURS);
    const duck = peers.find((p) => p.reader === HEADLINE);
    const isOurs = r.reader === OURS || r.reader === SECOND_RUN;
    const second = r.reader === SECOND_RUN;
    const ratio = (them: Row, us: Row) => `${(them.seconds / us.seconds).toFixed(2)}x`;
    return [
      r.data,
      r.reader,
      r.seconds.toFixed(2),
      r.innerSeconds === undefined ? '' : r.innerSeconds.toFixed(2),
      second ? '-' : `${(r.lines / r.seconds / 1e6).toFixed(2)} M`,
      second ? '-' : (r.textBytes / r.seconds / 1e6).toFixed(0),
      `${(r.maxRssKb / 1024).toFixed(0)} MB`,
      r.reader === OURS && duck ? ratio(duck, r) : '',
      !isOurs && ours ? ratio(r, ours) : '',
      r.note ?? '',
    ];
  });
  if (markdown) {
    const line = (cells: readonly string[]) =>
      `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
    return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const scratch = await mkdtemp(join(tmpdir(), 'partner-audit-bench-registry-'));
  try {
    const loadBefore = loadavg();
    const sets: BenchSet[] = [];
    if (args.logs.length > 0) {
      let registry = args.registry;
      if (registry === undefined) {
        registry = join(scratch, 'registry.yaml');
        await writeFile(registry, MINIMAL_REGISTRY);
      } else if (!existsSync(registry)) {
        throw new BenchArgsError(`--registry ${registry}: no such file`);
      }
      for (const [i, path] of args.logs.entries()) {
        sets.push(await externalSet(i, path, registry, args.dataDir, args.gzip));
      }
    } else {
      for (const lines of args.sizes) {
        sets.push(generatedSet(await dataset(args.dataDir, lines, args.gzip), args.gzip));
      }
    }
    const rows: Row[] = [];
    for (const set of sets) rows.push(...(await benchSet(args, set)));
    const smallest = args.logs.length > 0 ? undefined : Math.min(...args.sizes);
    if (smallest !== undefined && (args.files.length > 0 || args.monthObjects > 0 || args.holdings)) {
      const set = await dataset(args.dataDir, smallest, false);
      rows.push(...(await benchNightly(args, set)));
    }
    const loadAfter = loadavg();
    const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
    const legends = sets.flatMap((s) => (s.legend === undefined ? [] : [s.legend]));
    const lines = [
      ...machine(),
      `load average (1, 5, 15 min): ${fmt(loadBefore)} before, ${fmt(loadAfter)} after`,
      `median of ${args.runs} runs each; MB/s counts log text (decompressed); "vs DuckDB" (against ` +
        `"${HEADLINE}") and "ours vs this" = their seconds / ours: above 1x, ours is faster`,
      ...(args.logs.length > 0
        ? [`registry: ${args.registry ?? 'a minimal one (no partner that matches a requester)'}`, ...legends]
        : []),
      '',
      table(rows, args.markdown),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  const e = error as Error;
  process.stderr.write(`bench: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}\n`);
  process.exitCode = 1;
});
