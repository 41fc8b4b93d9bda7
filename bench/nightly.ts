/**
 * The night as S3 delivers it, for `npm run bench`: the same lines as one file and as many small log
 * objects (`--files 200,2000`: lines per object), under both of S3's key layouts, each measured side by
 * side with DuckDB's naive reader over the same files (a glob), runs alternated (ours, DuckDB, ours,
 * ...) so that a noisy machine weighs on both alike; and a second night: new objects ingested into an
 * empty state and into a state already holding `--month-objects` ingested objects (with two weeks of
 * request claims), the cost per new object compared; and holdings on against off (the key-level table,
 * issue 14) on the one file and on the first size of small objects, alternated.
 *
 * The month's state is made by ingesting the first night with the CLI, then adding the other objects'
 * records and their request claims by SQL (what a month of nights leaves in the tables, without reading
 * a month of logs): ingested_files rows with fingerprints, names and batches of their own, and claims
 * spread over the 14 event days before the second night, in day order as nights write them.
 */
import { copyFile, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { claimsView, claimTable, createClaimTable } from '../functions/adapters/duckdb/request-claims.js';
import { generateDataset } from '../functions/cli/generate/generator.js';
import {
  type Args,
  BIN,
  type Dataset,
  DUCKDB_NAIVE,
  HEADLINE,
  label,
  log,
  type Measured,
  measure,
  median,
  OURS,
  type Row,
} from './run.js';
import { type SplitLayout, splitLogFile } from './split-logs.js';

const LAYOUTS: readonly SplitLayout[] = ['simple', 'partitioned'];
/** Bump when the objects a set stands for change. */
const OBJECTS_VERSION = 1;

interface Objects {
  readonly dir: string;
  /** What DuckDB reads: every object under dir. */
  readonly glob: string;
  readonly objects: number;
  readonly lines: number;
}

/** The lines of `file` cut into objects of `perObject` lines under `dir`, made once and reused. */
async function objectsOf(
  file: string,
  dir: string,
  perObject: number,
  layout: SplitLayout,
): Promise<Objects> {
  // Beside the folder, not in it: the folder holds log objects only (DuckDB's glob takes every file).
  const marker = `${dir}.json`;
  const glob = layout === 'simple' ? join(dir, '*') : join(dir, '**', '*');
  try {
    const m = JSON.parse(await readFile(marker, 'utf8')) as Objects & { version: number; source: string };
    // The folder is the one beside the marker: the path the marker recorded may be another checkout's
    // (bench-data linked into a worktree).
    if (m.version === OBJECTS_VERSION && m.source === file) return { ...m, dir, glob };
  } catch {
    // Not made yet.
  }
  await rm(dir, { recursive: true, force: true });
  log(`cutting ${file} into objects of ${perObject} lines (${layout}) under ${dir} ...`);
  const made = await splitLogFile(file, dir, { lines: perObject, layout });
  const out = { dir, glob, ...made };
  await writeFile(marker, `${JSON.stringify({ ...out, version: OBJECTS_VERSION, source: file })}\n`);
  return out;
}

interface IngestJson {
  readonly files: number;
  readonly filesSkipped: number;
  readonly lines: number;
  readonly seconds: number;
  readonly maxRssKb: number;
}

/** One ingest of `logs` by the CLI into the state file `db`, which is removed after: its measure and JSON. */
async function ingestOnce(
  logs: string,
  registry: string,
  db: string,
): Promise<{ measured: Measured; out: IngestJson }> {
  const measured = await measure(process.execPath, [
    BIN,
    'ingest',
    '--logs',
    logs,
    '--registry',
    registry,
    '--db',
    db,
    '--json',
  ]);
  await rm(db, { force: true });
  await rm(`${db}.wal`, { force: true });
  return { measured, out: JSON.parse(measured.stdout) as IngestJson };
}

/** Alternated runs of ours and DuckDB's naive reader over one input; a row each, medians and minimums. */
async function sideBySide(
  runs: number,
  data: string,
  input: { readonly path: string; readonly glob: string; readonly lines: number; readonly bytes: number },
  registry: string,
  scratch: string,
): Promise<Row[]> {
  const ours: { s: number; rss: number }[] = [];
  const duck: { s: number; rss: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const db = join(scratch, `state-${i}-${Date.now()}.duckdb`);
    const { measured: m, out } = await ingestOnce(input.path, registry, db);
    if (out.lines !== input.lines)
      throw new Error(`${data}: ingest read ${out.lines} of ${input.lines} lines`);
    ours.push({ s: m.seconds, rss: m.maxRssKb });
    const d = await measure(process.execPath, ['--import', 'tsx', DUCKDB_NAIVE, input.glob]);
    duck.push({ s: d.seconds, rss: d.maxRssKb });
  }
  log(
    `  ${data}: ours ${ours.map((r) => r.s.toFixed(2)).join(' / ')} s, DuckDB ${duck.map((r) => r.s.toFixed(2)).join(' / ')} s`,
  );
  const row = (reader: string, r: { s: number; rss: number }[]): Row => ({
    data,
    reader,
    seconds: median(r.map((x) => x.s)),
    lines: input.lines,
    textBytes: input.bytes,
    maxRssKb: median(r.map((x) => x.rss)),
    note: `min ${Math.min(...r.map((x) => x.s)).toFixed(2)} s, max RSS ${(Math.max(...r.map((x) => x.rss)) / 1024).toFixed(0)} MB, alternated`,
  });
  return [row(OURS, ours), row(HEADLINE, duck)];
}

/** The nightly rows: one file against small objects, both layouts; then the second night. */
export async function benchNightly(args: Args, set: Dataset): Promise<Row[]> {
  const rows: Row[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'partner-audit-nightly-'));
  try {
    const bytes = set.plainBytes;
    const base = label(set.lines);
    if (args.files.length > 0) {
      log(`${base}: the same lines as one file and as small objects, ours and DuckDB alternated`);
      rows.push(
        ...(await sideBySide(
          args.runs,
          `${base} one file`,
          { path: set.plain, glob: set.plain, lines: set.lines, bytes },
          set.registry,
          scratch,
        )),
      );
      for (const perObject of args.files) {
        for (const layout of LAYOUTS) {
          const dir = join(args.dataDir, base, `objects-${perObject}-${layout}`);
          const o = await objectsOf(set.plain, dir, perObject, layout);
          rows.push(
            ...(await sideBySide(
              args.runs,
              `${base} as ${o.objects} x ${perObject} (${layout})`,
              { path: o.dir, glob: o.glob, lines: o.lines, bytes },
              set.registry,
              scratch,
            )),
          );
        }
      }
    }
    if (args.monthObjects > 0) rows.push(...(await secondNight(args, set, scratch)));
    if (args.holdings) rows.push(...(await holdingsOnOff(args, set, scratch)));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return rows;
}

/** The next day's objects: a generated day of a fifth of the lines, cut into objects of 200. */
async function nextNight(args: Args, set: Dataset): Promise<Objects> {
  const lines = Math.max(1000, Math.round(set.lines / 5));
  const dir = join(args.dataDir, `night2-${label(lines)}`);
  const logs = join(dir, 'logs');
  const marker = join(dir, '.night.json');
  try {
    const m = JSON.parse(await readFile(marker, 'utf8')) as { source: string; version: number };
    if (m.version === OBJECTS_VERSION) return objectsOf(m.source, join(dir, 'objects'), 200, 'simple');
  } catch {
    // Not made yet.
  }
  await rm(dir, { recursive: true, force: true });
  log(`generating the second night (${label(lines)} lines) into ${dir} ...`);
  const summary = await generateDataset({
    outDir: logs,
    start: '2026-11-02',
    days: 1,
    seed: 43,
    singleFile: { lines },
  });
  const simple = join(summary.logsDir, 'simple');
  const source = join(simple, (await readdir(simple))[0]!);
  const o = await objectsOf(source, join(dir, 'objects'), 200, 'simple');
  await writeFile(marker, `${JSON.stringify({ source, version: OBJECTS_VERSION })}\n`);
  return o;
}

/**
 * A state of `monthObjects` ingested objects: the first night (5,000 objects of 200 lines) by the CLI,
 * the rest of the month's records and two weeks of claims (a million requests a day) by SQL.
 */
async function monthState(args: Args, set: Dataset, path: string): Promise<void> {
  const first = await objectsOf(
    set.plain,
    join(args.dataDir, label(set.lines), 'objects-200-simple'),
    200,
    'simple',
  );
  await measure(process.execPath, [
    BIN,
    'ingest',
    '--logs',
    first.dir,
    '--registry',
    set.registry,
    '--db',
    path,
  ]);
  const more = Math.max(0, args.monthObjects - first.objects);
  log(`adding ${more.toLocaleString('en-US')} objects' records and 14 days of claims to ${path} ...`);
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  const day0 = Math.floor(Date.UTC(2026, 10, 1) / 86_400_000);
  await c.run(
    `INSERT INTO ingested_files (fingerprint, path, basename, size, layout, lines, parsed_lines, malformed_lines,
        malformed_by_reason, unreadable_reason, ingested_at, repeats_dropped, batch)
      SELECT sha256('month-' || i), '/logs/month/' || i, 'month-' || i, 125000, 'simple', 200, 200, 0, '{}',
        NULL, TIMESTAMP '2026-10-15', 0, 'group:month-' || (i // 5000)
      FROM range($1::BIGINT) t(i)`,
    [BigInt(more)],
  );
  // A million claims a day, each day's in its own table as nights write them.
  const days = Array.from({ length: 14 }, (_, k) => day0 - 14 + k);
  for (const [k, day] of days.entries()) {
    await c.run(createClaimTable(day));
    await c.run(
      `INSERT INTO ${claimTable(day)} (id_hash, file)
        SELECT (hash('claim', i) >> 1)::BIGINT, (1000 + $1::INTEGER)::INTEGER
        FROM range($1::BIGINT * 1000000, ($1::BIGINT + 1) * 1000000) t(i)`,
      [k],
    );
  }
  await c.run(claimsView(days));
  await c.run('CHECKPOINT');
  c.closeSync();
  instance.closeSync();
}

/**
 * Copies the month's state to `to` and writes the copy to disk before the run. A copy left in the page
 * cache is some 150 MB of dirty pages, which the run's first commit then waited for: its WAL's fsync
 * flushed them (strace: one fsync of 206 ms), some 0.3 s that a state written the night before does
 * not cost.
 */
async function copyOnDisk(from: string, to: string): Promise<void> {
  await copyFile(from, to);
  const file = await open(to, 'r+');
  try {
    await file.datasync();
  } finally {
    await file.close();
  }
}

/** The second night into an empty state and into the month's, alternated; cost per new object. */
async function secondNight(args: Args, set: Dataset, scratch: string): Promise<Row[]> {
  const night = await nextNight(args, set);
  const month = join(scratch, 'month.duckdb');
  await monthState(args, set, month);
  const empty: number[] = [];
  const full: number[] = [];
  const rss: { empty: number[]; full: number[] } = { empty: [], full: [] };
  log(`second night: ${night.objects} new objects, into an empty state and into one of ${args.monthObjects}`);
  for (let i = 0; i < args.runs; i++) {
    for (const which of ['empty', 'full'] as const) {
      const db = join(scratch, `night2-${which}-${i}.duckdb`);
      if (which === 'full') await copyOnDisk(month, db);
      const { measured: m, out } = await ingestOnce(night.dir, set.registry, db);
      if (out.files - out.filesSkipped !== night.objects) {
        throw new Error(`second night read ${out.files - out.filesSkipped} of ${night.objects} objects`);
      }
      (which === 'empty' ? empty : full).push(m.seconds);
      rss[which].push(m.maxRssKb);
    }
  }
  log(
    `  empty: ${empty.map((s) => s.toFixed(2)).join(' / ')} s; month: ${full.map((s) => s.toFixed(2)).join(' / ')} s`,
  );
  const row = (data: string, seconds: number[], kb: number[]): Row => ({
    data,
    reader: OURS,
    seconds: median(seconds),
    lines: night.lines,
    textBytes: 0,
    maxRssKb: median(kb),
    note: `${((median(seconds) / night.objects) * 1000).toFixed(3)} ms per new object (min ${Math.min(...seconds).toFixed(2)} s), alternated`,
  });
  return [
    row(`second night, ${night.objects} x 200, empty state`, empty, rss.empty),
    row(
      `second night, ${night.objects} x 200, state of ${args.monthObjects.toLocaleString('en-US')} objects`,
      full,
      rss.full,
    ),
  ];
}

export const HOLDINGS_OFF = 'partner-audit ingest, holdings off';
export const HOLDINGS_ON = 'partner-audit ingest, holdings on';

/**
 * The registry `registry` with holdings kept (`settings.holdings: true`), written beside it (its paths,
 * the manifest's, are relative to it).
 */
async function registryWithHoldings(registry: string): Promise<string> {
  const text = await readFile(registry, 'utf8');
  if (!/^settings:\n/m.test(text)) throw new Error(`${registry}: no settings: block to add holdings to`);
  if (/^\s+holdings:/m.test(text)) throw new Error(`${registry}: settings.holdings is set already`);
  const on = join(dirname(registry), 'registry-holdings.yaml');
  await writeFile(on, text.replace(/^settings:\n/m, 'settings:\n  holdings: true\n'));
  return on;
}

/**
 * Holdings on against off: the one file and the first size of small objects (simple layout), each
 * ingested into a fresh state with the registry as it is (holdings off, their default) and with
 * holdings on, runs alternated (off, on, off, ...). A row each, medians; the on row's note gives its
 * wall and CPU seconds over off's.
 */
async function holdingsOnOff(args: Args, set: Dataset, scratch: string): Promise<Row[]> {
  const base = label(set.lines);
  const registryOn = await registryWithHoldings(set.registry);
  const inputs = [{ data: `${base} one file, holdings`, path: set.plain }];
  const perObject = args.files[0];
  if (perObject !== undefined) {
    const dir = join(args.dataDir, base, `objects-${perObject}-simple`);
    const o = await objectsOf(set.plain, dir, perObject, 'simple');
    inputs.push({ data: `${base} as ${o.objects} x ${perObject}, holdings`, path: o.dir });
  }
  const rows: Row[] = [];
  for (const input of inputs) {
    log(`${input.data}: off and on, alternated`);
    const runs = { off: [] as Measured[], on: [] as Measured[] };
    for (let i = 0; i < args.runs; i++) {
      for (const which of ['off', 'on'] as const) {
        const db = join(scratch, `holdings-${which}-${i}.duckdb`);
        const { measured, out } = await ingestOnce(
          input.path,
          which === 'on' ? registryOn : set.registry,
          db,
        );
        if (out.lines !== set.lines)
          throw new Error(`${input.data}: ingest read ${out.lines} of ${set.lines} lines`);
        runs[which].push(measured);
      }
    }
    const seconds = (r: Measured[]) => median(r.map((m) => m.seconds));
    const cpu = (r: Measured[]) =>
      r.every((m) => m.cpuSeconds !== undefined) ? median(r.map((m) => m.cpuSeconds!)) : undefined;
    const over = (on: number, off: number) =>
      `${on >= off ? '+' : ''}${(((on - off) / off) * 100).toFixed(1)} %`;
    const [cpuOff, cpuOn] = [cpu(runs.off), cpu(runs.on)];
    log(
      `  off ${runs.off.map((m) => m.seconds.toFixed(2)).join(' / ')} s, on ${runs.on.map((m) => m.seconds.toFixed(2)).join(' / ')} s`,
    );
    const row = (reader: string, r: Measured[], note: string): Row => ({
      data: input.data,
      reader,
      seconds: seconds(r),
      lines: set.lines,
      textBytes: set.plainBytes,
      maxRssKb: median(r.map((m) => m.maxRssKb)),
      note,
    });
    const cpuNote = (c: number | undefined) => (c === undefined ? '' : `CPU ${c.toFixed(2)} s, `);
    rows.push(
      row(HOLDINGS_OFF, runs.off, `${cpuNote(cpuOff)}alternated`),
      row(
        HOLDINGS_ON,
        runs.on,
        `${cpuNote(cpuOn)}over off: ${over(seconds(runs.on), seconds(runs.off))} seconds` +
          `${cpuOn === undefined || cpuOff === undefined ? '' : `, ${over(cpuOn, cpuOff)} CPU`}, alternated`,
      ),
    );
  }
  return rows;
}
