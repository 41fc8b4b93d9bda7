/**
 * Local ingestion: every log object under the given paths goes into the DuckDB rollup once. A file
 * already ingested with the same fingerprint is skipped; a changed one replaces its earlier rows.
 */
import { createHash } from 'node:crypto';
import type { DuckDbStore } from '../adapters/duckdb/index.js';
import { fingerprintFile, ingestLogFile, listLogFiles, type Manifest } from '../adapters/logs/index.js';
import type { InputSummary } from '../ports.js';

export type Progress = (event: { phase: 'ingest'; done: number; total: number; file: string }) => void;

export interface IngestOptions {
  readonly datasetDepth: number;
  readonly manifest?: Manifest;
  readonly manifestHash?: string;
  readonly progress?: Progress;
}

export interface IngestOutcome {
  readonly summary: InputSummary;
  /** True when the ingestion settings changed and the rollup was rebuilt from the logs. */
  readonly rebuilt: boolean;
}

/** What the rollup depends on besides the logs: if it changes, every file is read again. */
export function ingestionSettingsFingerprint(options: IngestOptions): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        rollup: 1,
        datasetDepth: options.datasetDepth,
        manifest: options.manifestHash ?? null,
      }),
    )
    .digest('hex');
}

export async function ingestPaths(
  store: DuckDbStore,
  paths: readonly string[],
  options: IngestOptions,
): Promise<IngestOutcome> {
  const rebuilt = await store.resetIfSettingsChanged(ingestionSettingsFingerprint(options));
  const listing = await listLogFiles(paths);
  const files = listing.files;
  const fingerprints: string[] = [];
  let skipped = 0;
  let done = 0;
  for (const file of files) {
    const fingerprint = await fingerprintFile(file.path);
    fingerprints.push(fingerprint);
    if (await store.hasFile(fingerprint)) {
      skipped++;
    } else {
      const result = await ingestLogFile(file.path, {
        datasetDepth: options.datasetDepth,
        manifest: options.manifest,
        fingerprint,
      });
      await store.replaceFile(
        { fingerprint, path: file.path, basename: file.basename, size: file.size, layout: file.layout },
        result.rows,
        { ...result.stats, unreadableReason: result.unreadable },
      );
    }
    done++;
    options.progress?.({ phase: 'ingest', done, total: files.length, file: file.path });
  }
  const summary = await store.inputSummary(fingerprints);
  return {
    summary: {
      ...summary,
      files: files.length,
      filesSkipped: skipped,
      unreadableFiles: [...listing.unreadable, ...summary.unreadableFiles],
    },
    rebuilt,
  };
}
