/**
 * `npm run bench`: ingestion speed of the local engine, side by side with DuckDB's naive CSV reader and
 * `wc -l`, on generated access logs of 1 M and 10 M lines, plain and gzip.
 *
 *   npm run bench [-- --quick] [-- --sizes 1m,10m] [-- --runs 3] [-- --markdown] [-- --data-dir bench-data]
 *
 * Data sets are generated once into ./bench-data (git-ignored) and reused: one day of traffic in one
 * file, as `partner-audit generate --lines N` writes it, plus a gzip copy. Every reader runs in a child
 * process over a warm page cache, and each figure is the median of `--runs` runs:
 * - partner-audit: `node --import tsx functions/cli/main.ts ingest ... --json`, a fresh state file per
 *   run: the whole CLI, start-up, parsing, rollup and the DuckDB write included;
 * - the same command a second time over the same state file (nothing should be parsed again);
 * - DuckDB `read_csv` split on spaces, grouped by requester (bench/duckdb-naive.ts), in its own process,
 *   and the same reader grouped as the ingester groups (`--rollup`): the like-for-like comparison;
 * - `wc -l` (`gzip -dc | wc -l` for gzip) as the floor: reading the bytes and nothing else;
 * - GoAccess with `--log-format=AWSS3`, when `goaccess` is on the PATH.
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`) when installed, else from /proc/<pid>/status.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { generateDataset } from '../functions/cli/generate/generator.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const CLI = join(ROOT, 'functions/cli/main.ts');
const DUCKDB_NAIVE = join(ROOT, 'bench/duckdb-naive.ts');
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

interface Args {
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly markdown: boolean;
  readonly dataDir: string;
  readonly gzip: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let sizes = [1_000_000, 10_000_000];
  let runs = 3;
  let markdown = false;
  let dataDir = join(ROOT, 'bench-data');
  let gzip = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new BenchArgsError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') sizes = [1_000_000];
    else if (arg === '--sizes') sizes = value().split(',').map(parseSize);
    else if (arg === '--runs') runs = positive('--runs', value());
    else if (arg === '--markdown') markdown = true;
    else if (arg === '--data-dir') dataDir = resolve(value());
    else if (arg === '--no-gzip') gzip = false;
    else throw new BenchArgsError(`unknown option ${arg} (see the comment at the top of bench/run.ts)`);
  }
  return { sizes, runs, markdown, dataDir, gzip };
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

function label(lines: number): string {
  return lines % 1e6 === 0 ? `${lines / 1e6}M` : lines % 1e3 === 0 ? `${lines / 1e3}k` : String(lines);
}

// ---- data sets ---------------------------------------------------------------------------------------

interface Dataset {
  readonly lines: number;
  readonly registry: string;
  readonly plain: string;
  readonly plainBytes: number;
  readonly gzip: string;
  readonly gzipBytes: number;
}

/** The data set of `lines` lines under dataDir, generated unless an intact one is there. */
async function dataset(dataDir: string, lines: number, withGzip: boolean): Promise<Dataset> {
  const dir = join(dataDir, label(lines));
  const markerPath = join(dir, 'dataset.json');
  if (existsSync(markerPath)) {
    const marker = JSON.parse(await readFile(markerPath, 'utf8')) as Dataset & { version: number };
    const intact =
      marker.version === DATASET_VERSION &&
      marker.lines === lines &&
      sizeOf(marker.plain) === marker.plainBytes &&
      (!withGzip || sizeOf(marker.gzip) === marker.gzipBytes);
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

// ---- running readers -------------------------------------------------------------------------------

interface Measured {
  readonly seconds: number;
  readonly maxRssKb: number;
  readonly stdout: string;
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Runs a command to its end, timing it and taking its peak RSS. Rejects when it fails. */
async function measure(command: string, args: readonly string[]): Promise<Measured> {
  const rssFile =
    GNU_TIME === undefined ? undefined : join(tmpdir(), `bench-rss-${process.pid}-${Date.now()}`);
  const [cmd, cmdArgs] =
    GNU_TIME === undefined || rssFile === undefined
      ? [command, [...args]]
      : [GNU_TIME, ['-f', '%M', '-o', rssFile, command, ...args]];
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
  if (rssFile !== undefined) {
    maxRssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
    await rm(rssFile, { force: true });
  }
  return { seconds, maxRssKb, stdout };
}

function vmHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One line of the table. */
interface Row {
  readonly data: string;
  readonly reader: string;
  readonly seconds: number;
  /** Seconds of the work itself as the reader reports it (no process start-up), when it does. */
  readonly innerSeconds?: number;
  readonly lines: number;
  readonly textBytes: number;
  readonly maxRssKb: number;
  readonly note?: string;
}

/** `runs` runs of a reader; the row holds the medians. `check` validates each run's stdout. */
async function bench(
  runs: number,
  row: Omit<Row, 'seconds' | 'maxRssKb' | 'innerSeconds'>,
  command: string,
  args: () => Promise<readonly string[]> | readonly string[],
  check: (stdout: string) => number | undefined,
  after?: () => Promise<void>,
): Promise<Row> {
  const seconds: number[] = [];
  const rss: number[] = [];
  const inner: number[] = [];
  for (let i = 0; i < runs; i++) {
    const m = await measure(command, await args());
    seconds.push(m.seconds);
    rss.push(m.maxRssKb);
    const s = check(m.stdout);
    if (s !== undefined) inner.push(s);
    await after?.();
  }
  log(`  ${row.reader}: ${seconds.map((s) => s.toFixed(2)).join(' / ')} s`);
  return {
    ...row,
    seconds: median(seconds),
    maxRssKb: median(rss),
    ...(inner.length > 0 ? { innerSeconds: median(inner) } : {}),
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
  let db = '';
  const args = async () => {
    db = join(scratch, `state-${Date.now()}.duckdb`);
    return ['--import', 'tsx', CLI, 'ingest', '--logs', file, '--registry', registry, '--db', db, '--json'];
  };
  const readAll = (stdout: string) => {
    const out = JSON.parse(stdout) as IngestJson;
    if (out.lines !== lines || out.filesSkipped !== 0) {
      throw new BenchRunError(`partner-audit ingest read ${out.lines} lines of ${lines} (${stdout.trim()})`);
    }
    return out.seconds;
  };
  // Every measured run starts from an empty state file.
  const forget = async () => {
    await rm(db, { force: true });
    await rm(`${db}.wal`, { force: true });
  };
  const first = await bench(
    runs,
    { data, reader: 'partner-audit ingest (CLI)', lines, textBytes },
    process.execPath,
    args,
    readAll,
    forget,
  );
  // One more ingestion, not measured, leaves a state file for the second-run measurement.
  const lastDb = join(scratch, 'second-run.duckdb');
  const ingestArgs = [
    '--import',
    'tsx',
    CLI,
    'ingest',
    '--logs',
    file,
    '--registry',
    registry,
    '--db',
    lastDb,
  ];
  await measure(process.execPath, [...ingestArgs, '--json']);
  const second = await bench(
    runs,
    {
      data,
      reader: 'partner-audit ingest, second run',
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
      return out.seconds;
    },
  );
  await rm(scratch, { recursive: true, force: true });
  return [first, second];
}

async function benchDataset(args: Args, set: Dataset): Promise<Row[]> {
  const rows: Row[] = [];
  const inputs: { kind: string; file: string }[] = [{ kind: 'plain', file: set.plain }];
  if (args.gzip) inputs.push({ kind: 'gzip', file: set.gzip });
  for (const { kind, file } of inputs) {
    const data = `${label(set.lines)} ${kind}`;
    log(`${data}: ${file}`);
    // Warm the page cache, so that every reader finds the file in memory.
    await measure('sh', ['-c', 'cat "$0" > /dev/null', file]);
    rows.push(...(await benchOurs(args.runs, data, file, set.registry, set.lines, set.plainBytes)));
    for (const [reader, extra] of [
      ['DuckDB read_csv, naive', []],
      ['DuckDB read_csv, naive rollup', ['--rollup']],
    ] as const) {
      rows.push(
        await bench(
          args.runs,
          { data, reader, lines: set.lines, textBytes: set.plainBytes },
          process.execPath,
          () => ['--import', 'tsx', DUCKDB_NAIVE, file, ...extra],
          (stdout) => (JSON.parse(stdout) as { seconds: number }).seconds,
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
        { data, reader: floor.reader, lines: set.lines, textBytes: set.plainBytes },
        floor.command,
        () => floor.argv,
        () => undefined,
      ),
    );
    if (goaccess !== undefined) {
      const report = join(tmpdir(), `goaccess-${process.pid}.json`);
      rows.push(
        await bench(
          args.runs,
          { data, reader: 'GoAccess (AWSS3)', lines: set.lines, textBytes: set.plainBytes },
          'sh',
          () => [
            '-c',
            `${kind === 'gzip' ? 'gzip -dc' : 'cat'} "$0" | "$1" - --log-format=AWSS3 -o "$2"`,
            file,
            goaccess!,
            report,
          ],
          () => undefined,
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
    'vs DuckDB rollup',
    'vs wc -l',
  ];
  const body = rows.map((r) => {
    const peers = rows.filter((p) => p.data === r.data);
    const duck = peers.find((p) => p.reader === 'DuckDB read_csv, naive');
    const duckRollup = peers.find((p) => p.reader === 'DuckDB read_csv, naive rollup');
    const wc = peers.find((p) => p.reader.includes('wc -l'));
    const ours = r.reader === 'partner-audit ingest (CLI)';
    const second = r.reader.includes('second run');
    return [
      r.data,
      r.reader,
      r.seconds.toFixed(2),
      r.innerSeconds === undefined ? '' : r.innerSeconds.toFixed(2),
      second ? '-' : `${(r.lines / r.seconds / 1e6).toFixed(2)} M`,
      second ? '-' : (r.textBytes / r.seconds / 1e6).toFixed(0),
      `${(r.maxRssKb / 1024).toFixed(0)} MB`,
      ours && duck ? `${(duck.seconds / r.seconds).toFixed(2)}x` : '',
      ours && duckRollup ? `${(duckRollup.seconds / r.seconds).toFixed(2)}x` : '',
      ours && wc ? `${(wc.seconds / r.seconds).toFixed(2)}x` : '',
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

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const loadBefore = loadavg();
  const rows: Row[] = [];
  for (const lines of args.sizes)
    rows.push(...(await benchDataset(args, await dataset(args.dataDir, lines, args.gzip))));
  const loadAfter = loadavg();
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    ...machine(),
    `load average (1, 5, 15 min): ${fmt(loadBefore)} before, ${fmt(loadAfter)} after`,
    `median of ${args.runs} runs each; MB/s counts log text (decompressed); "vs" = their seconds / ours`,
    '',
    table(rows, args.markdown),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  const e = error as Error;
  process.stderr.write(`bench: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}\n`);
  process.exitCode = 1;
});
