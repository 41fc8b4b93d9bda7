#!/usr/bin/env node
// Package bin: runs the TypeScript CLI through tsx so no build step is needed. In this process, with
// tsx's loader (what `node --import tsx` loads): starting the CLI through tsx's own command line took
// two more Node processes, some 0.35 s a run.
await import('tsx');
const { runAsProcess } = await import('../functions/cli/main.ts');
await runAsProcess(process.argv.slice(2));
