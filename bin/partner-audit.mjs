#!/usr/bin/env node
// Package bin: runs the TypeScript CLI with no build step, from an esbuild bundle of its sources kept in
// node_modules/.cache/partner-audit/ (functions/adapters/logs/bundle-cache.mjs), made again when a source
// changes. Not through tsx's loader: registering it and compiling some 100 modules through its hooks
// cost most of a short run (0.25 s before the first module), where finding the bundle means hashing the
// sources. When the cache cannot be written (or bundling fails), the CLI runs through tsx as before.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cachedBundle } from '../functions/adapters/logs/bundle-cache.mjs';

const entry = fileURLToPath(new URL('../functions/cli/main.ts', import.meta.url));
// Splitting: each command's module is a chunk imported only when the command runs, as from the sources.
const bundle = await cachedBundle(entry, { splitting: true }).catch(() => undefined);
let cli;
if (bundle === undefined) {
  await import('tsx');
  cli = await import('../functions/cli/main.ts');
} else {
  cli = await import(pathToFileURL(bundle).href);
}
await cli.runAsProcess(process.argv.slice(2));
