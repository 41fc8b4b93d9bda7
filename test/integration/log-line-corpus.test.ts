/**
 * Issue 17, item 7: one corpus of log lines (test/fixtures/logs/log-lines-corpus.txt), one table of
 * rules (functions/adapters/logs/LOG-LINES.md), two engines. Each line is rolled up alone, locally by
 * the file ingester and on the Athena path by the rollup SQL over the Glue table's regex (the local
 * Athena server), so that its classification can be read per line: both engines must count it or both
 * must call it malformed, as the corpus says, with the same rollup row, and where Athena can tell why
 * a line is malformed (anything but "the regex did not match"), with the same reason.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import {
  GRAINS,
  insertBatchRollupSql,
  MALFORMED_OPERATIONS,
  USAGE_GRAIN_ONLY,
} from '../../functions/adapters/athena/sql.js';
import { ingestLogFile } from '../../functions/adapters/logs/index.js';
import { SLOT_MS } from '../../functions/domain/usage.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { localAthenaClient } from '../support/aws-local-clients.js';
import { scanLines } from '../support/scan-lines.js';

const CORPUS = join(import.meta.dirname, '../fixtures/logs/log-lines-corpus.txt');
const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };

interface Case {
  readonly what: string;
  readonly expected: 'counted' | 'malformed';
  readonly line: string;
  /** The delivery date this line alone is rolled up under. */
  readonly batch: string;
}

/** Reads the corpus: `# what` comments, then `counted|malformed<TAB>line`. */
function parseCorpus(text: string): Case[] {
  const cases: Case[] = [];
  let what = '';
  for (const [n, raw] of text.split('\n').entries()) {
    if (raw.startsWith('#')) {
      what = raw.replace(/^#+ ?/, '');
      continue;
    }
    if (raw.trim() === '') continue;
    const tab = raw.indexOf('\t');
    const expected = raw.slice(0, tab);
    if (expected !== 'counted' && expected !== 'malformed') {
      throw new Error(`log-lines-corpus.txt:${n + 1}: expected "counted" or "malformed" and a tab`);
    }
    const day = new Date(Date.UTC(2026, 0, 1 + cases.length)).toISOString().slice(0, 10);
    cases.push({ what, expected, line: raw.slice(tab + 1), batch: day.replaceAll('-', '/') });
  }
  return cases;
}

/** One engine's reading of one line: malformed with a reason, or its rollup rows as comparable text. */
interface Reading {
  readonly malformed: string | undefined;
  readonly rows: readonly string[];
}

const rowText = (r: {
  slotStart: number;
  bucket: string;
  requester: string;
  accessPoint: string;
  dataset: string;
  operation: string;
  statusClass: string;
  requests: bigint;
  bytesSent: bigint;
}) =>
  [
    new Date(r.slotStart).toISOString(),
    r.bucket,
    r.requester,
    r.accessPoint,
    r.dataset,
    r.operation,
    r.statusClass,
    r.requests,
    r.bytesSent,
  ].join(' | ');

/** The network rows the local scanner makes of one line, as text (NETWORKS.md: what ingestion keeps). */
function localNetworkRows(line: string): string[] {
  const { batch, strings: v } = scanLines([line]);
  const n = batch.network;
  return Array.from({ length: n.count }, (_, i) =>
    [
      new Date(n.slot[i]! * SLOT_MS).toISOString(),
      v[n.requester[i]!],
      v[n.accessPoint[i]!],
      v[n.address[i]!],
      v[n.prefix[i]!],
      v[n.addressKey[i]!],
      v[n.addressClass[i]!],
      v[n.vpce[i]!],
      v[n.region[i]!],
      n.requests[i],
      n.bytesSent[i],
      n.firstMs[i],
      n.lastMs[i],
    ].join(' | '),
  );
}

let cases: Case[];
const localNetwork = new Map<string, string[]>();
const athenaNetwork = new Map<string, string[]>();
let server: AthenaLocalServer;
let dir: string;
const local = new Map<string, Reading>();
const athena = new Map<string, Reading>();

beforeAll(async () => {
  cases = parseCorpus(await readFile(CORPUS, 'utf8'));
  dir = await mkdtemp(join(tmpdir(), 'log-corpus-'));
  server = await AthenaLocalServer.start(tables);
  const runner = new AthenaQueryRunner(localAthenaClient(server.endpoint), {
    workGroup: 'partner-audit',
    sleep: async () => {},
  });
  for (const [i, c] of cases.entries()) {
    const file = join(dir, `line-${i}.log`);
    await writeFile(file, `${c.line}\n`);
    const r = await ingestLogFile(file, { datasetDepth: 2 });
    const reasons = Object.keys(r.stats.malformedByReason);
    local.set(c.batch, { malformed: reasons[0], rows: r.rows.map(rowText) });
    await server.addLogObject(`logs/${c.batch}/line-${i}`, `${c.line}\n`, c.batch);
    await runner.run(insertBatchRollupSql(tables, c.batch, { datasetDepth: 2 }), `corpus-${i}`);
  }
  const rows = await server.sql(
    `SELECT CAST(slot_start AS VARCHAR) AS slot, bucket, requester, access_point, dataset, operation,
       status_class, requests, bytes_sent, batch FROM partner_audit.usage_rollup WHERE ${USAGE_GRAIN_ONLY}`,
  );
  const networkRows = await server.sql(
    `SELECT CAST(slot_start AS VARCHAR) AS slot, requester, access_point, source_address, source_prefix,
       address_key, address_class, vpce, source_region, requests, bytes_sent, first_ms, last_ms, batch
     FROM partner_audit.usage_rollup WHERE grain = '${GRAINS.network}'`,
  );
  for (const c of cases) {
    localNetwork.set(c.batch, localNetworkRows(c.line));
    athenaNetwork.set(
      c.batch,
      networkRows
        .filter((r) => r['batch'] === c.batch)
        .map((r) =>
          [
            new Date(`${String(r['slot']).replace(' ', 'T')}Z`).toISOString(),
            ...[
              'requester',
              'access_point',
              'source_address',
              'source_prefix',
              'address_key',
              'address_class',
              'vpce',
              'source_region',
              'requests',
              'bytes_sent',
              'first_ms',
              'last_ms',
            ].map((k) => String(r[k])),
          ].join(' | '),
        ),
    );
  }
  for (const c of cases) {
    const mine = rows.filter((r) => r['batch'] === c.batch);
    const marker = mine.find((r) => String(r['operation']).startsWith('(malformed:'));
    athena.set(c.batch, {
      malformed: marker ? String(marker['operation']).slice('(malformed:'.length, -1) : undefined,
      rows: marker
        ? []
        : mine.map((r) =>
            rowText({
              slotStart: Date.parse(`${String(r['slot']).replace(' ', 'T')}Z`),
              bucket: String(r['bucket']),
              requester: String(r['requester']),
              accessPoint: String(r['access_point']),
              dataset: String(r['dataset']),
              operation: String(r['operation']),
              statusClass: String(r['status_class']),
              requests: BigInt(r['requests'] as bigint),
              bytesSent: BigInt(r['bytes_sent'] as bigint),
            }),
          ),
    });
  }
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the log-line corpus on both engines', () => {
  it('holds every kind of line the rules name, counted and malformed', () => {
    expect(cases.length).toBeGreaterThan(50);
    expect(cases.filter((c) => c.expected === 'counted').length).toBeGreaterThan(20);
    expect(cases.filter((c) => c.expected === 'malformed').length).toBeGreaterThan(20);
    expect(Object.values(MALFORMED_OPERATIONS)).toHaveLength(4);
  });

  it('is classified by the local engine as the corpus says', () => {
    for (const c of cases) {
      const r = local.get(c.batch)!;
      expect(r.malformed === undefined ? 'counted' : 'malformed', c.what).toBe(c.expected);
      if (c.expected === 'counted') expect(r.rows, c.what).toHaveLength(1);
    }
  });

  it('is classified by the Athena path as the corpus says', () => {
    for (const c of cases) {
      const r = athena.get(c.batch)!;
      expect(r.malformed === undefined ? 'counted' : 'malformed', c.what).toBe(c.expected);
    }
  });

  it('gives the same rollup row for each counted line on both engines', () => {
    for (const c of cases.filter((x) => x.expected === 'counted')) {
      expect(athena.get(c.batch)!.rows, c.what).toEqual(local.get(c.batch)!.rows);
    }
  });

  it('gives the same network row (source, prefix, class, endpoint, region, first and last time) for each counted line on both engines, and none for a malformed one', () => {
    for (const c of cases) {
      const expected = c.expected === 'counted' ? local.get(c.batch)! : undefined;
      if (expected !== undefined) expect(localNetwork.get(c.batch), c.what).toHaveLength(1);
      else expect(localNetwork.get(c.batch), c.what).toEqual([]);
      expect(athenaNetwork.get(c.batch), c.what).toEqual(localNetwork.get(c.batch));
    }
  });

  it('gives the local reason wherever Athena can tell one (every marker but no-match)', () => {
    const told = cases.filter((c) => {
      const a = athena.get(c.batch)!.malformed;
      return a !== undefined && a !== 'no-match';
    });
    expect(told.map((c) => athena.get(c.batch)!.malformed)).toEqual(
      expect.arrayContaining(['bad-time', 'bad-bytes', 'bad-duration']),
    );
    for (const c of told) expect(athena.get(c.batch)!.malformed, c.what).toBe(local.get(c.batch)!.malformed);
  });
});
