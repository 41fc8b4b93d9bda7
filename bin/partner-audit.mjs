#!/usr/bin/env node
// Package bin: runs the CLI as `npm run build` compiled it into build/cli/ (scripts/build.mjs; the
// `prepare` script builds on `npm ci` and `npm install`). Nothing is compiled or bundled here.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../build/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('partner-audit: not built yet: run `npm run build` in the package folder\n');
  process.exit(1);
}
const cli = await import(main.href);
await cli.runAsProcess(process.argv.slice(2));
