/**
 * `npm run bench:aws-scale`: what the AWS path's evaluation costs as partners grow (issue 13), through
 * the local Athena server (test/support/athena-local-server.ts) and s3rver, the Lambda handlers called
 * as the state machine calls them, side by side in one run:
 * - old: the whole-window evaluate step (evaluate.handler.ts), which pages every rollup row of the
 *   window through GetQueryResults into one Lambda;
 * - new: Aggregate (two UNLOADs to S3, the daily sums one folder per partner), one Assess per partner
 *   (the EvaluatePartners Distributed Map), Assemble.
 *
 *   npm run bench:aws-scale [-- --partners 10,100] [-- --days 7] [-- --rows-per-slot 16]
 *                           [-- --old-max-rows 200000] [-- --data-dir bench-data/aws-scale] [-- --markdown]
 *
 * The rollup is synthesised (bench/rollup-synthesiser.ts: eight applications a partner, every kind of
 * principal) into a DuckDB file once per shape and copied into the server's rollup table. What is
 * counted is what the server and the handlers saw: statements executed, GetQueryResults pages and the
 * rows they carried, bytes scanned (the server's stand-in for Athena's pruned columnar scan: 32 bytes a
 * rollup row read), bytes UNLOADed (gzip), Lambda invocations, and the largest payload a state of the
 * evaluation receives or returns (JSON bytes; the EvaluatePartners Map's collected result counted, at
 * 12 bytes a child). Notify and publish are not run here (test/infra/state-machine-asl.test.ts walks
 * them at 1,000 partners). Seconds are wall time on a shared machine: an upper bound, not a target.
 * The old path is skipped past --old-max-rows rollup rows (the stand-in re-slices its result for each
 * page, so paging a million rows costs it minutes that Athena would not spend). Where both ran, the
 * bench checks that their evaluations are identical.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AthenaQueryRunner } from '../functions/adapters/athena/athena-client.js';
import { readS3Text } from '../functions/adapters/s3/s3-read.js';
import { addDays } from '../functions/domain/time.js';
import { aggregate } from '../functions/handlers/aggregate.handler.js';
import { assemble } from '../functions/handlers/assemble.handler.js';
import { assess } from '../functions/handlers/assess.handler.js';
import { evaluate } from '../functions/handlers/evaluate.handler.js';
import { readEvaluation } from '../functions/handlers/evaluation-document.js';
import { AthenaLocalServer, type AthenaLocalStats } from '../test/support/athena-local-server.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../test/support/aws-local-clients.js';
import { startS3rver } from '../test/support/local-aws-servers.js';
import { synthesisedRegistry, synthesiseRollup } from './rollup-synthesiser.js';

const START = '2026-03-01';
const REPORTS = 'partner-audit-reports';
const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
const registryTables = {
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
};

interface StepFigures {
  readonly queries: number;
  readonly pages: number;
  readonly rows: number;
  readonly scannedBytes: number;
  readonly unloadedBytes: number;
}

interface PathResult {
  readonly path: 'old' | 'new';
  readonly seconds: number;
  readonly invocations: number;
  readonly largestPayload: number;
  readonly steps: Readonly<Record<string, StepFigures>>;
  readonly digest: string;
}

function delta(a: AthenaLocalStats, b: AthenaLocalStats): StepFigures {
  return {
    queries: b.queries - a.queries,
    pages: b.resultPages - a.resultPages,
    rows: b.resultRows - a.resultRows,
    scannedBytes: b.bytesScanned - a.bytesScanned,
    unloadedBytes: b.bytesUnloaded - a.bytesUnloaded,
  };
}

function digestOf(value: unknown): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

const json = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      partners: { type: 'string', default: '10,100' },
      days: { type: 'string', default: '7' },
      'rows-per-slot': { type: 'string', default: '16' },
      'old-max-rows': { type: 'string', default: '200000' },
      'data-dir': { type: 'string', default: 'bench-data/aws-scale' },
      markdown: { type: 'boolean', default: false },
    },
  });
  const list = values.partners.split(',').map(Number);
  const days = Number(values.days);
  const rowsPerSlot = Number(values['rows-per-slot']);
  const oldMaxRows = Number(values['old-max-rows']);
  for (const [name, n] of [
    ['days', days],
    ['rows-per-slot', rowsPerSlot],
    ['old-max-rows', oldMaxRows],
    ...list.map((p) => ['partners', p] as const),
  ] as const) {
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--${name} must be a whole number of at least 1, got ${n}`);
  }
  const dataDir = resolve(values['data-dir']);
  await mkdir(dataDir, { recursive: true });
  const lines = [
    '| partners | rollup rows | path | step | statements | GetQueryResults pages | rows paged | bytes scanned | bytes UNLOADed | Lambda invocations | largest payload (B) | seconds |',
    '|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const partners of list) {
    const state = join(dataDir, `rollup-${partners}p-${days}d-${rowsPerSlot}r.duckdb`);
    const made = existsSync(state)
      ? undefined
      : await synthesiseRollup({ path: state, partners, start: START, days, rowsPerSlot });
    const registry = synthesisedRegistry(partners);
    const window = { from: START, to: addDays(START, days) };
    const athena = await AthenaLocalServer.start(tables);
    const s3 = await startS3rver([REPORTS]);
    try {
      const client = localS3Client(s3.endpoint);
      athena.setUnloadStore(s3UnloadStore(client));
      await athena.putRegistryTables(registry, registryTables);
      await athena.sql(`ATTACH '${state.replaceAll("'", "''")}' AS synth (READ_ONLY)`);
      await athena.sql(`INSERT INTO partner_audit.usage_rollup
        SELECT to_timestamp(slot_start / 1000)::TIMESTAMP, bucket, requester, access_point, dataset, operation,
          status_class, requests, bytes_sent, records, batch, NULL FROM synth.rollup`);
      const rows = Number(
        (await athena.sql('SELECT count(*) AS n FROM partner_audit.usage_rollup'))[0]?.['n'] ?? 0,
      );
      if (made && made.rows !== rows) throw new Error(`copied ${rows} rows of ${made.rows}`);
      const runner = new AthenaQueryRunner(localAthenaClient(athena.endpoint), {
        workGroup: 'partner-audit',
        database: tables.database,
        sleep: async () => {},
      });
      const now = new Date(`${window.to}T02:00:00Z`);
      const deps = {
        s3: client,
        reportBucket: REPORTS,
        loadRegistry: async () => ({ registry, hash: 'bench', source: 'bench' }),
        clock: { now: () => now },
      };
      const input = { window, partners: [], dryRun: true, reason: null };
      const results: PathResult[] = [];

      if (rows <= oldMaxRows) {
        const t0 = performance.now();
        const s0 = athena.stats();
        const out = await evaluate({ ...deps, runner, tables }, { ...input, runId: `old-${partners}` });
        const s1 = athena.stats();
        const doc = await readEvaluation(client, REPORTS, out.evaluationKey);
        results.push({
          path: 'old',
          seconds: (performance.now() - t0) / 1000,
          invocations: 1,
          largestPayload: Math.max(json({ ...input, runId: `old-${partners}` }), json(out)),
          steps: { Evaluate: delta(s0, s1) },
          digest: digestOf(doc.evaluation),
        });
      }

      const t0 = performance.now();
      const runId = `new-${partners}`;
      const s0 = athena.stats();
      const aggregated = await aggregate({ ...deps, runner, tables, registryTables }, { ...input, runId });
      const s1 = athena.stats();
      const items = JSON.parse(await readS3Text(client, REPORTS, aggregated.itemsKey)) as {
        partnerId: string;
      }[];
      let largest = Math.max(json({ ...input, runId }), json(aggregated));
      for (const { partnerId } of items) {
        const item = { runId, aggregateKey: aggregated.aggregateKey, partnerId };
        const out = await assess(deps, item);
        largest = Math.max(largest, json(item), json(out));
      }
      // The Map's collected result: each child's `{ "ok": true }`.
      largest = Math.max(largest, json(items.map(() => ({ ok: true }))));
      const s2 = athena.stats();
      const assembled = await assemble(deps, {
        runId,
        aggregateKey: aggregated.aggregateKey,
        itemsKey: aggregated.itemsKey,
      });
      const s3stats = athena.stats();
      largest = Math.max(largest, json(assembled));
      const doc = await readEvaluation(client, REPORTS, assembled.evaluationKey);
      results.push({
        path: 'new',
        seconds: (performance.now() - t0) / 1000,
        invocations: 2 + items.length,
        largestPayload: largest,
        steps: {
          Aggregate: delta(s0, s1),
          [`Assess x${items.length}`]: delta(s1, s2),
          Assemble: delta(s2, s3stats),
        },
        digest: digestOf(doc.evaluation),
      });
      const [old, neu] = [results.find((r) => r.path === 'old'), results.find((r) => r.path === 'new')];
      if (old && neu && old.digest !== neu.digest) {
        throw new Error(`${partners} partners: the evaluations differ (${old.digest} vs ${neu.digest})`);
      }
      for (const r of results) {
        const total = Object.values(r.steps).reduce(
          (t, s) => ({
            queries: t.queries + s.queries,
            pages: t.pages + s.pages,
            rows: t.rows + s.rows,
            scannedBytes: t.scannedBytes + s.scannedBytes,
            unloadedBytes: t.unloadedBytes + s.unloadedBytes,
          }),
          { queries: 0, pages: 0, rows: 0, scannedBytes: 0, unloadedBytes: 0 },
        );
        for (const [step, s] of [...Object.entries(r.steps), ['total', total] as const]) {
          const row = [
            partners,
            rows,
            r.path,
            step,
            s.queries,
            s.pages,
            s.rows,
            s.scannedBytes,
            s.unloadedBytes,
            step === 'total' ? r.invocations : '',
            step === 'total' ? r.largestPayload : '',
            step === 'total' ? r.seconds.toFixed(1) : '',
          ];
          const line = `| ${row.join(' | ')} |`;
          lines.push(line);
          if (!values.markdown) console.log(line);
        }
      }
      if (!values.markdown && results.length === 2)
        console.log(`  identical evaluations: ${results[0]!.digest}`);
    } finally {
      await athena.stop();
      await s3.stop();
    }
  }
  if (values.markdown) console.log(lines.join('\n'));
}

await main();
