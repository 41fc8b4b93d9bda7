import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configWith, functionId, ROOT, resourcesOf, synth } from './helpers.js';

const STEPS = ['Plan', 'Rollup', 'Aggregate', 'Assess', 'Assemble', 'Notify', 'Publish'] as const;
const MiB = 1024 * 1024;

interface Bundle {
  readonly files: readonly { name: string; size: number }[];
  readonly bytes: number;
  readonly code: string;
}

/** Synthesise with real esbuild bundling and read each step's asset directory. */
function bundles(handlersDir?: string): Record<(typeof STEPS)[number], Bundle> {
  const outdir = mkdtempSync(join(tmpdir(), 'pa-assets-'));
  const { template } = synth(configWith({ noticeMode: 'send' }), {
    bundle: true,
    outdir,
    ...(handlersDir ? { handlersDir } : {}),
  });
  const out = {} as Record<(typeof STEPS)[number], Bundle>;
  for (const step of STEPS) {
    const fn = resourcesOf(template)[functionId(template, step)]!;
    const dir = join(outdir, fn.Metadata!['aws:asset:path'] as string);
    const files = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => ({
        name: join(d.parentPath, d.name).slice(dir.length + 1),
        size: statSync(join(d.parentPath, d.name)).size,
      }));
    const code = files.map((f) => readFileSync(join(dir, f.name), 'utf8')).join('\n');
    out[step] = { files, bytes: files.reduce((n, f) => n + f.size, 0), code };
  }
  return out;
}

/** DuckDB in any form: its package name or its native binding. */
const DUCKDB = /duckdb/i;
/** A bundled SDK client carries its endpoint rule set and the smithy client; an external one is an import. */
const BUNDLED_SDK = /endpointRuleSet|smithy-client|"aws\.partition"/;

describe('Lambda bundles of the handlers', () => {
  let real: ReturnType<typeof bundles>;
  beforeAll(() => {
    real = bundles();
  });

  it.each(STEPS)('%s is one ESM file under 1 MiB', (step) => {
    const b = real[step];
    console.info(`${step}: ${b.files.map((f) => `${f.name} ${f.size} B`).join(', ')}`);
    expect(b.files.map((f) => f.name)).toEqual(['index.mjs']);
    expect(b.bytes).toBeLessThan(MiB);
  });

  it.each(STEPS)('%s contains no DuckDB, not even an import of it', (step) => {
    expect(real[step].code).not.toMatch(DUCKDB);
  });

  it.each(STEPS)('%s leaves the AWS SDK to the Lambda runtime', (step) => {
    expect(real[step].code).not.toMatch(BUNDLED_SDK);
  });
});

describe('the bundle checks themselves', () => {
  it('see a handler that imports DuckDB, and keep the AWS SDK out of the bundle', () => {
    // Entries must be under the project root; node_modules/.cache keeps the probe out of the tree.
    const cache = join(ROOT, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'pa-probe-handlers-'));
    const body =
      "import { DuckDBInstance } from '@duckdb/node-api';\n" +
      "import { S3Client } from '@aws-sdk/client-s3';\n" +
      'export const handler = async () => [DuckDBInstance, new S3Client({})];\n';
    for (const step of ['plan', 'rollup', 'aggregate', 'assess', 'assemble', 'notify', 'publish']) {
      writeFileSync(join(dir, `${step}.handler.ts`), body);
    }
    let probe: Bundle;
    try {
      probe = bundles(dir).Notify;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(probe.code).toMatch(DUCKDB);
    expect(probe.code).toMatch(/from"@aws-sdk\/client-s3"/);
    expect(probe.code).not.toMatch(BUNDLED_SDK);
  });
});
