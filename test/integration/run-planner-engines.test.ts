/**
 * Both engines plan a run with the run planner (functions/audit/run-planner.ts): for the same input and
 * clock, the CLI's local audit and the AWS plan and publish steps give the same window, run ids of the
 * same form, and the same report files, stamped with the same code version and time.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_ID_FORMAT, RUN_OUTPUTS } from '../../functions/audit/run-planner.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { loadRegistry } from '../../functions/cli/registry-file.js';
import { type EvaluationDocument, runKey } from '../../functions/handlers/evaluation-document.js';
import { toJsonWithBigInts } from '../../functions/handlers/json-codec.js';
import { plan } from '../../functions/handlers/plan.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import packageJson from '../../package.json' with { type: 'json' };

const ROOT = resolve(import.meta.dirname, '../..');
const REGISTRY = join(ROOT, 'examples/registry.yaml');
const LOGS = join(ROOT, 'test/fixtures/logs/simple-sample.log');
const clock = { now: () => new Date('2026-03-20T10:00:00Z') };

/** An S3 client over a map of objects: GetObject and PutObject, as the publish step sends them. */
function memoryS3(objects: Map<string, { body: string; contentType?: string }>): S3Client {
  return {
    send: async (command: unknown) => {
      if (command instanceof PutObjectCommand) {
        const { Key, Body, ContentType } = command.input;
        objects.set(Key!, {
          body: Buffer.from(Body as Uint8Array).toString('utf8'),
          contentType: ContentType,
        });
        return {};
      }
      if (command instanceof GetObjectCommand) {
        const found = objects.get(command.input.Key!);
        if (found === undefined) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
        return { Body: { transformToString: async () => found.body } };
      }
      throw new Error(`unexpected command ${(command as object).constructor.name}`);
    },
  } as unknown as S3Client;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-planner-engines-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the CLI and the AWS steps plan a run alike', () => {
  it.each([
    ['from and to', { from: '2026-02-01', to: '2026-03-01' }],
    ['only from', { from: '2026-02-10' }],
    ['only to', { to: '2026-03-10' }],
  ])('with %s: the same window, run id form and report files', async (name, request) => {
    const { registry } = await loadRegistry(REGISTRY);
    const planned = await plan(
      { loadRegistry: async () => ({ registry, hash: 'h', source: REGISTRY }), clock },
      { ...request, dryRun: true },
    );
    const outDir = join(dir, name.replaceAll(' ', '-'));
    const local = await runLocalAudit({
      logs: [LOGS],
      registryPath: REGISTRY,
      outDir,
      ...request,
      dryRun: true,
      clock,
    });

    expect(local.window).toEqual(planned.window);
    for (const runId of [local.report.runId, planned.runId]) {
      expect(runId).toMatch(RUN_ID_FORMAT);
      expect(runId.startsWith('20260320T100000Z-')).toBe(true);
    }

    // The AWS publish step over an evaluation document of the same window.
    const objects = new Map<string, { body: string; contentType?: string }>();
    const s3 = memoryS3(objects);
    const doc: EvaluationDocument = {
      version: 1,
      runId: planned.runId,
      window: planned.window,
      partners: planned.partners,
      dryRun: planned.dryRun,
      reason: planned.reason,
      registryHash: 'h',
      evaluatedAt: clock.now().toISOString(),
      engine: 'athena',
      input: local.input,
      evaluation: {
        window: planned.window,
        evaluations: local.evaluations,
        unattributed: { figures: [], findings: [] },
        uncovered: [],
      },
      bytesScanned: 0,
      queryExecutionIds: [],
    };
    const evaluationKey = runKey(planned.runId, 'evaluation.json');
    objects.set(evaluationKey, { body: toJsonWithBigInts(doc) });
    await publish(
      { s3, reportBucket: 'reports', region: 'eu-west-1', clock },
      { runId: planned.runId, evaluationKey },
    );

    const prefix = runKey(planned.runId, '');
    const awsFiles = [...objects.keys()]
      .filter((k) => k.startsWith(prefix) && k !== evaluationKey)
      .map((k) => k.slice(prefix.length));
    const localFiles = (await readdir(outDir)).filter((f) => /\.(json|csv|html)$/.test(f));
    // Locally the JSON Schema of report.json is written beside it too.
    expect(awsFiles.sort()).toEqual(
      [RUN_OUTPUTS.html, RUN_OUTPUTS.json, RUN_OUTPUTS.csv, RUN_OUTPUTS.networkCsv].sort(),
    );
    expect(localFiles.sort()).toEqual([...awsFiles, RUN_OUTPUTS.schema].sort());

    const awsReport = JSON.parse(objects.get(`${prefix}${RUN_OUTPUTS.json}`)!.body);
    const localReport = JSON.parse(await readFile(join(outDir, RUN_OUTPUTS.json), 'utf8'));
    const header = (r: Record<string, unknown>) => ({
      window: r.window,
      dryRun: r.dryRun,
      codeVersion: r.codeVersion,
      generatedAt: r.generatedAt,
    });
    expect(header(awsReport)).toEqual(header(localReport));
    expect(header(localReport)).toEqual({
      window: planned.window,
      dryRun: true,
      codeVersion: packageJson.version,
      generatedAt: '2026-03-20T10:00:00.000Z',
    });
    // The same evaluations give the same partner figures on both.
    const figures = (r: { partners: { partnerId: string; periods: { periodId: string }[] }[] }) =>
      r.partners.map((p) => ({ partnerId: p.partnerId, periods: p.periods.map((q) => q.periodId) }));
    expect(figures(localReport).length).toBeGreaterThan(0);
    expect(figures(awsReport)).toEqual(figures(localReport));
  });

  it('refuses the same windows on both, with the same reason', async () => {
    const { registry } = await loadRegistry(REGISTRY);
    const deps = { loadRegistry: async () => ({ registry, hash: 'h', source: REGISTRY }), clock };
    for (const request of [{ from: '2026-03-21' }, { from: '2026-03-20' }]) {
      const aws = await plan(deps, request).then(
        () => undefined,
        (e: Error) => e.message,
      );
      const cli = await runLocalAudit({
        logs: [LOGS],
        registryPath: REGISTRY,
        outDir: join(dir, 'refused'),
        ...request,
        dryRun: true,
        clock,
      }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(aws).toMatch(/"from" \(2026-03-2[01]\)/);
      expect(cli).toBe(aws);
    }
  });
});
