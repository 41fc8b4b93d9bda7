/**
 * The registry file the CLI is given, with the dataset manifest it names. Its own module: the ingest
 * command needs it without the rest of the audit's graph.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Manifest, parseManifest } from '../adapters/logs/manifest.js';
import { parseRegistry, type Registry } from '../domain/registry.js';
import { UsageError } from './args.js';

export interface LoadedRegistryFile {
  readonly registry: Registry;
  /** The file's text, as read (the report cites its hash). */
  readonly text: string;
  readonly manifest?: Manifest;
}

export async function loadRegistry(path: string): Promise<LoadedRegistryFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read the registry ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const registry = parseRegistry(text, path);
  const manifestRel = registry.settings.manifest;
  if (!manifestRel) return { registry, text };
  const manifestPath = resolve(dirname(path), manifestRel);
  let manifestText: string;
  try {
    manifestText = await readFile(manifestPath, 'utf8');
  } catch (e) {
    throw new UsageError(
      `${path}: settings.manifest: cannot read ${manifestPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return { registry, text, manifest: parseManifest(manifestText, manifestPath) };
}
