/**
 * `partner-audit ingest`: read log files into the DuckDB state without auditing. The nightly audit
 * then finds them ingested; the benchmark times ingestion through it.
 */
import { optionalPositiveInt, parseCommandArgs, requireString, UsageError } from './args.js';
import { ingestPaths, openStateWithWorkers } from './local-ingest.js';
import { displayPath } from './paths.js';
import { stderrProgress } from './progress.js';
import { loadRegistry } from './registry-file.js';

export async function runIngestCommand(argv: string[]): Promise<number> {
  const v = parseCommandArgs('ingest', argv, {
    logs: { type: 'string', multiple: true },
    registry: { type: 'string' },
    db: { type: 'string' },
    workers: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  });
  const logs = v.logs ?? [];
  if (logs.length === 0) {
    throw new UsageError('ingest: --logs <path> is required (a file or a folder of log objects)');
  }
  const dbPath = requireString('ingest', 'db', v.db);
  const workers = v.workers === '0' ? 0 : optionalPositiveInt('ingest', 'workers', v.workers);
  const { registry, manifest } = await loadRegistry(requireString('ingest', 'registry', v.registry));
  const started = performance.now();
  const settings = {
    datasetDepth: registry.settings.datasetDepth,
    manifest,
    workers,
    holdings: registry.settings.holdings,
  };
  const { state, pool, listing } = await openStateWithWorkers(dbPath, settings, logs);
  let outcome: Awaited<ReturnType<typeof ingestPaths>>;
  try {
    outcome = await ingestPaths(state.ingestLog, logs, {
      ...settings,
      manifestHash: manifest?.hash,
      pool,
      listing,
      progress: v.json === true ? undefined : stderrProgress(!(v.quiet ?? false)),
    });
  } finally {
    await state.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const s = outcome.summary;
  if (v.json === true) {
    process.stdout.write(
      `${JSON.stringify({
        files: s.files,
        filesSkipped: s.filesSkipped,
        bytes: s.bytes,
        lines: s.lines,
        parsedLines: s.parsedLines,
        malformedLines: s.malformedLines,
        repeatsDropped: s.repeatsDropped ?? 0,
        unreadableFiles: s.unreadableFiles.length,
        rebuilt: outcome.rebuilt,
        seconds,
        // Peak resident memory of this process, worker threads included (they share it).
        maxRssKb: process.resourceUsage().maxRSS,
      })}\n`,
    );
  } else {
    const n = (x: number) => x.toLocaleString('en-US');
    process.stdout.write(
      `Ingested ${n(s.files - s.filesSkipped)} of ${n(s.files)} log files (${n(s.filesSkipped)} already in the state) ` +
        `into ${displayPath(dbPath)} in ${seconds.toFixed(2)} s\n` +
        `Lines: ${n(s.lines)} (${n(s.parsedLines)} parsed, ${n(s.malformedLines)} malformed; ` +
        `${n(s.repeatsDropped ?? 0)} repeated requests not counted again)` +
        `${s.unreadableFiles.length > 0 ? `; ${s.unreadableFiles.length} unreadable files` : ''}\n`,
    );
  }
  return 0;
}
