/**
 * The holdings statements in the Trino dialect (holdings-sql.ts, TRINO_HOLDINGS: the rollup table's held
 * grain), sent through the AWS SDK to the local Athena stand-in and UNLOADed by partner to S3 (s3rver):
 * over held rows inserted into the rollup table as the nightly rollup writes them (with usage rows and
 * malformed-line markers beside them, which are not holdings), each partner's holdings read back from its
 * own folders equal, figure for figure, what the DuckDB dialect gives over the same rows in the local
 * holdings tables (HOLDINGS.md: distinct objects by key, version and size; ranges; unknown sizes; each
 * partner's local dates; `*` rows counting an object two applications read once).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { athenaManifestCsv } from '../../functions/adapters/athena/manifest-csv.js';
import { MALFORMED_OPERATIONS, replaceBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { AthenaHoldingsSource } from '../../functions/adapters/athena/unloaded-usage-reader.js';
import { DuckDbDatabase } from '../../functions/adapters/duckdb/duckdb-database.js';
import { DuckDbHoldingsSource } from '../../functions/adapters/duckdb/holdings-source.js';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { parseManifest } from '../../functions/adapters/logs/index.js';
import { readHoldings } from '../../functions/audit/read-holdings.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { RegistrySchema } from '../../functions/domain/registry.js';
import { SLOT_MS } from '../../functions/domain/usage.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { SAMPLE_AGGREGATION_TABLES } from '../support/athena-statements.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../support/aws-local-clients.js';
import { type LocalServer, startS3rver } from '../support/local-aws-servers.js';
import { logLine } from '../support/log-lines.js';

const ACCT = '111122223333';
const registry = RegistrySchema.parse({
  version: 1,
  provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
  settings: { holdings: true },
  partners: ['Asia/Kathmandu', 'America/St_Johns', 'Europe/Berlin'].map((timeZone, i) => ({
    id: `p${i}`,
    name: `P${i}`,
    timeZone,
    accountOwners: [{ email: 'o@p.example' }],
    applications: [
      { id: 'role', name: 'Role', principals: [{ arn: `arn:aws:iam::${ACCT}:role/r${i}` }] },
      { id: 'glob', name: 'Glob', principals: [{ arnGlob: `arn:aws:iam::${ACCT}:user/p${i}_*` }] },
    ],
    contracts: [
      {
        id: 'c',
        effectiveFrom: '2026-01-01',
        currency: 'USD',
        datasets: ['feeds/'],
        counted: { operations: ['REST.GET.*'], statuses: ['2xx'] },
      },
    ],
  })),
});

/** Objects as the rollup keys them: key (decoded), version id, logged size (null: `-`), records. */
const OBJECTS = [
  { key: 'feeds/a/k0.csv', version: '-', size: 1000, records: 10 },
  { key: 'feeds/a/k0.csv', version: '-', size: null, records: 10 },
  { key: 'feeds/a/k0.csv', version: '-', size: 2000, records: 10 },
  { key: 'feeds/a/k1.csv', version: 'v1', size: 4000, records: 40 },
  { key: 'feeds/a/k1.csv', version: 'v2', size: 4000, records: 40 },
  { key: 'feeds/b/café menu.csv', version: '-', size: 777, records: 7 },
  { key: 'feeds/b/only-unknown.csv', version: '-', size: null, records: 0 },
  { key: "feeds/b/it's.csv", version: '-', size: 12, records: 1 },
  { key: 'other/x', version: '-', size: 5, records: 0 },
  // Read only in ranges (206): held in part, its records not counted.
  { key: 'feeds/b/ranges-only.bin', version: '-', size: 65_536, records: 3 },
] as const;
const RANGES_ONLY = OBJECTS.length - 1;
const DATASET = (key: string) => key.replace(/^((?:[^/]*\/){1,2}).*$/, '$1');
const REQUESTERS = [
  ...[0, 1, 2].map((i) => `arn:aws:sts::${ACCT}:assumed-role/r${i}/s`),
  ...[0, 1, 2].map((i) => `arn:aws:iam::${ACCT}:user/p${i}_x`),
  'arn:aws:iam::999999999999:user/stranger',
];

const FIRST_SLOT = Date.UTC(2026, 1, 27) / SLOT_MS;
const LAST_SLOT = Date.UTC(2026, 3, 2) / SLOT_MS;

interface HeldRow {
  slot: number;
  requester: number;
  object: number;
  first: number;
  span: number;
  retrievals: number;
  full: number;
  bytes: number;
  batch: string;
}

const rows: HeldRow[] = fc
  .sample(
    fc.record({
      slot: fc.integer({ min: FIRST_SLOT, max: LAST_SLOT }).map((s) => s * SLOT_MS),
      requester: fc.nat(REQUESTERS.length - 1),
      object: fc.nat(OBJECTS.length - 1),
      first: fc.nat(SLOT_MS / 2 / 1000).map((s) => s * 1000),
      span: fc.nat(SLOT_MS / 2 / 1000 - 1).map((s) => s * 1000),
      retrievals: fc.integer({ min: 1, max: 5 }),
      full: fc.nat(5),
      bytes: fc.integer({ min: 0, max: 9_000 }),
      batch: fc.constantFrom('2026/03/01', '2026/03/02'),
    }),
    { numRuns: 500, seed: 14 },
  )
  .map((r) => ({ ...r, full: r.object === RANGES_ONLY ? 0 : Math.min(r.full, r.retrievals) }))
  // One row per batch, slot, requester and object, as both engines key them.
  .filter(
    (r, i, all) =>
      all.findIndex(
        (o) =>
          o.batch === r.batch && o.slot === r.slot && o.requester === r.requester && o.object === r.object,
      ) === i,
  );

const WINDOW = { from: '2026-03-01', to: '2026-04-01' };
const BUCKET = 'partner-audit-reports';
const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
const sqlNumber = (n: number | null) => (n === null ? 'NULL' : String(n));

let server: AthenaLocalServer;
let s3: LocalServer;
let local: DuckDbDatabase;

beforeAll(async () => {
  server = await AthenaLocalServer.start({
    database: 'partner_audit',
    logsTable: 'access_logs',
    rollupTable: 'usage_rollup',
  });
  await server.putRegistryTables(registry);
  const held = rows.map((r) => {
    const o = OBJECTS[r.object]!;
    return `(to_timestamp(${r.slot / 1000})::TIMESTAMP, 'b', ${q(REQUESTERS[r.requester]!)}, '-', ${q(DATASET(o.key))}, '-', '-', ${r.retrievals}, ${r.bytes}, 0, ${q(r.batch)}, NULL, 'held', ${q(o.key)}, ${q(o.version)}, ${r.slot + r.first}, ${r.slot + r.first + r.span}, ${sqlNumber(o.size)}, ${o.records}, ${r.retrievals}, ${r.full})`;
  });
  // Beside them, what is not a holding: a usage row and a marker of malformed lines of the same requesters.
  const other = [
    `(TIMESTAMP '2026-03-10 00:00:00', 'b', ${q(REQUESTERS[0]!)}, '-', 'feeds/a/', 'REST.GET.OBJECT', '2xx', 5, 5000, 0, '2026/03/10', NULL, 'usage', '-', '-', NULL, NULL, NULL, NULL, NULL, NULL)`,
    `(TIMESTAMP '2026-03-10 00:00:00', 'b', ${q(REQUESTERS[3]!)}, '-', 'feeds/a/', '${MALFORMED_OPERATIONS.noMatch}', '-', 9, 0, 0, '2026/03/10', NULL, 'usage', '-', '-', NULL, NULL, NULL, NULL, NULL, NULL)`,
  ];
  await server.sql(
    `INSERT INTO partner_audit.usage_rollup (slot_start, bucket, requester, access_point, dataset, operation,
      status_class, requests, bytes_sent, records, batch, request_ids, grain, object_key, version_id, first_ms,
      last_ms, object_size, object_records, retrievals, full_retrievals)
    VALUES ${[...held, ...other].join(', ')}`,
  );

  s3 = await startS3rver([BUCKET]);
  server.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));

  // The same rows in the local holdings tables (holdings-writer.ts): dictionaries and rows by id.
  local = await DuckDbDatabase.open(':memory:');
  await local.serial('fill holdings', async (c) => {
    const keys = REQUESTERS.flatMap((requester) =>
      [...new Set(OBJECTS.map((o) => DATASET(o.key)))].map((dataset) => ({ requester, dataset })),
    );
    const keyId = (requester: string, dataset: string) =>
      keys.findIndex((k) => k.requester === requester && k.dataset === dataset);
    await c.run(
      `INSERT INTO held_keys VALUES ${keys.map((k, i) => `(${i}, 'b', ${q(k.requester)}, '-', ${q(k.dataset)})`).join(', ')}`,
    );
    await c.run(
      `INSERT INTO held_objects VALUES ${OBJECTS.map((o, i) => `(${i}, ${q(o.key)}, ${q(o.version)}, ${sqlNumber(o.size)}, ${o.records})`).join(', ')}`,
    );
    // A row names its slot by number, its times in ms after the slot's start and its batch by its code
    // in rollup_strings, as the rollup's rows do.
    const batches = [...new Set(rows.map((r) => r.batch))];
    await c.run(`INSERT INTO rollup_strings VALUES ${batches.map((b, i) => `(${i}, ${q(b)})`).join(', ')}`);
    await c.run(
      `INSERT INTO held_rows VALUES ${rows
        .map((r) => {
          const o = OBJECTS[r.object]!;
          return `(${r.slot / SLOT_MS}, ${keyId(REQUESTERS[r.requester]!, DATASET(o.key))}, ${r.object}, ${r.first}, ${r.first + r.span}, ${r.retrievals}, ${r.full}, ${r.bytes}, ${batches.indexOf(r.batch)})`;
        })
        .join(', ')}`,
    );
  });
});

afterAll(async () => {
  await server?.stop();
  await s3?.stop();
  await local?.close();
});

function athena(runId: string): AthenaHoldingsSource {
  const runner = new AthenaQueryRunner(localAthenaClient(server.endpoint), {
    workGroup: 'partner-audit',
    sleep: async () => {},
    random: () => 0.5,
  });
  return new AthenaHoldingsSource(
    runner,
    localS3Client(s3.endpoint),
    SAMPLE_AGGREGATION_TABLES,
    { bucket: BUCKET, runPrefix: `runs/${runId}/` },
    runId,
  );
}

describe("holdings on the Athena stand-in (the rollup table's held grain, UNLOADed by partner)", () => {
  it('gives every partner exactly the holdings the DuckDB dialect gives locally', async () => {
    const local_ = await readHoldings({ registry, holdings: new DuckDbHoldingsSource(local) }, WINDOW);
    const source = athena('held-1');
    const aws = await readHoldings({ registry, holdings: source }, WINDOW);
    // The usage row and the marker of 10 March, inside the window, add nothing (locally they do not exist).
    expect(aws).toEqual(local_);
    // Not vacuous: every partner holds something, some only in ranges, some of unknown size, with a chart.
    for (const p of local_.partners) {
      expect(BigInt(p.totals.objects)).toBeGreaterThan(3n);
      expect(p.overTime.length).toBeGreaterThan(3);
    }
    const all = local_.partners.flatMap((p) => p.datasets);
    expect(all.some((d) => d.partialObjects !== '0')).toBe(true);
    expect(all.some((d) => d.unknownSizeObjects !== '0')).toBe(true);
    expect(all.some((d) => d.applicationId === '*')).toBe(true);
    // Two statements (datasets, days), results off the paging path.
    expect(source.unloader.queries.map((x) => x.sql.slice(0, 8))).toEqual(['UNLOAD (', 'UNLOAD (']);
  });

  it('reads one partner alone the same way', async () => {
    const request = { ...WINDOW, partners: ['p1'] };
    const local_ = await readHoldings({ registry, holdings: new DuckDbHoldingsSource(local) }, request);
    const aws = await readHoldings({ registry, holdings: athena('held-2') }, request);
    expect(aws.partners.map((p) => p.partnerId)).toEqual(['p1']);
    expect(aws).toEqual(local_);
  });
});

/**
 * The held grain of the nightly MERGE (sql.ts, replaceBatchRollupSql with holdings) line by line against
 * the local ingester, on the edges HOLDINGS.md names: a whole read and a range of one object, the same key
 * overwritten at another size in the same slot, a size not logged (alone, and beside a sized read),
 * versions, two spellings of one key, a key that does not decode, what is not held (304, HEAD, a COPY
 * source), a record delivered twice, a malformed line, and records from the manifest.
 */
describe('the held grain of the nightly MERGE, against the local ingester', () => {
  const READER = 'arn:aws:iam::111122223333:user/etl-reader';
  const edgeRegistry = RegistrySchema.parse({
    version: 1,
    provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
    settings: { holdings: true },
    partners: [
      {
        id: 'meteo',
        name: 'Meteo',
        timeZone: 'Europe/Berlin',
        accountOwners: [{ email: 'o@p.example' }],
        applications: [
          { id: 'etl', name: 'ETL', principals: [{ arn: READER }] },
          { id: 'web', name: 'Web', principals: [{ arn: 'arn:aws:iam::111122223333:user/web' }] },
        ],
        contracts: [
          {
            id: 'c',
            effectiveFrom: '2026-01-01',
            currency: 'USD',
            datasets: ['feeds/'],
            counted: { operations: ['REST.GET.*'], statuses: ['2xx'] },
          },
        ],
      },
    ],
  });
  const MANIFEST = ['key_or_prefix,records', 'feeds/,5', 'feeds/weather/2026/03/14/obs-0900.csv,1000'].join(
    '\n',
  );
  const at = (hhmmss: string) => `14/Mar/2026:${hhmmss} +0000`;
  const LINES = [
    logLine({ time: at('09:12:44') }),
    logLine({ time: at('09:12:44') }), // the same record delivered twice: one retrieval
    logLine({ time: at('09:13:01'), status: '206', bytesSent: '1048576' }), // a range of it
    logLine({ time: at('09:14:00'), objectSize: '99999', bytesSent: '99999' }), // overwritten, same slot
    logLine({ time: at('09:40:00') }), // the first object again, in the next slot
    logLine({ time: at('09:41:00'), key: 'feeds/weather/x.csv', objectSize: '-' }), // size unknown, alone
    logLine({ time: at('09:42:00'), key: 'feeds/weather/y.csv', objectSize: '-' }), // joins the sized read
    logLine({ time: at('09:43:00'), key: 'feeds/weather/y.csv', objectSize: '10', bytesSent: '10' }),
    logLine({ time: at('09:44:00'), key: 'feeds/v.csv', versionId: '3HL4kqtJlcpXroDTDmJ' }),
    logLine({ time: at('09:45:00'), key: 'feeds/v.csv', versionId: 'UIORUnfndfiufdisojhr' }),
    logLine({ time: at('09:46:00'), key: 'feeds/caf%C3%A9%20menu.csv', bytesSent: '7', objectSize: '7' }),
    logLine({ time: at('09:47:00'), key: 'feeds/caf%c3%a9%20menu.csv', bytesSent: '7', objectSize: '7' }),
    logLine({ time: at('09:48:00'), key: 'feeds/bad%FFkey.csv' }),
    logLine({ time: at('09:49:00'), status: '304', bytesSent: '-' }),
    logLine({ time: at('09:50:00'), operation: 'REST.HEAD.OBJECT', bytesSent: '-' }),
    logLine({ time: at('09:51:00'), operation: 'REST.COPY.OBJECT_GET', key: 'feeds/copied.csv' }),
    logLine({ time: at('09:52:00'), operation: 'WEBSITE.GET.OBJECT', key: 'feeds/site.html' }),
    logLine({
      time: at('09:53:00'),
      requester: 'arn:aws:iam::111122223333:user/web',
      key: 'feeds/site.html',
    }),
    'garbage that is not a log line',
  ];
  const edgeTables = {
    database: 'edges',
    logsTable: 'access_logs',
    rollupTable: 'usage_rollup',
    manifestTable: 'dataset_manifest',
  };
  const DAY = { from: '2026-03-14', to: '2026-03-15' };
  let edge: AthenaLocalServer;
  let edgeDir: string;
  let state: DuckDbState;

  beforeAll(async () => {
    edge = await AthenaLocalServer.start(edgeTables);
    await edge.putRegistryTables(edgeRegistry);
    await edge.putManifest(athenaManifestCsv(MANIFEST, 'manifest.csv'));
    await edge.addLogObject(
      'logs/111122223333/eu-central-1/meteo-feeds-prod/2026/03/14/2026-03-14-09-00-00-0A1B2C3D4E5F6071',
      `${LINES.join('\n')}\n`,
    );
    edge.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));
    edgeDir = mkdtempSync(join(tmpdir(), 'athena-held-edges-'));
    writeFileSync(join(edgeDir, 'day.log'), `${LINES.join('\n')}\n`);
    state = await DuckDbState.open(join(edgeDir, 'state.duckdb'));
    await ingestPaths(state.ingestLog, [join(edgeDir, 'day.log')], {
      datasetDepth: 2,
      manifest: parseManifest(MANIFEST, 'manifest.csv'),
      holdings: true,
      workers: 1,
    });
  });

  afterAll(async () => {
    await edge?.stop();
    await state?.close();
    if (edgeDir) rmSync(edgeDir, { recursive: true, force: true });
  });

  it('holds, after the MERGE and after it again, exactly what the local engine holds', async () => {
    const runner = new AthenaQueryRunner(localAthenaClient(edge.endpoint), {
      workGroup: 'partner-audit',
      sleep: async () => {},
      random: () => 0.5,
    });
    const localSection = await readHoldings({ registry: edgeRegistry, holdings: state.holdings }, DAY);
    const totals = localSection.partners[0]!.totals;
    // obs-0900 at two sizes, x (unknown), y, two versions of v, the café menu once, bad%FFkey, site.html.
    expect(totals).toMatchObject({ objects: '9', partialObjects: '0', unknownSizeObjects: '1' });
    // Records: obs-0900 read whole at both sizes (1000 each), every other whole read under feeds/ 5 each.
    expect(totals.records).toBe(String(2 * 1000 + 7 * 5));
    const source = (runId: string) =>
      new AthenaHoldingsSource(
        runner,
        localS3Client(s3.endpoint),
        { ...SAMPLE_AGGREGATION_TABLES, database: 'edges' },
        { bucket: BUCKET, runPrefix: `runs/${runId}/` },
        runId,
      );
    const options = { datasetDepth: 2, holdings: true };
    await runner.run(replaceBatchRollupSql(edgeTables, '2026/03/14', options), 'edges-merge-1');
    expect(await readHoldings({ registry: edgeRegistry, holdings: source('edges-1') }, DAY)).toEqual(
      localSection,
    );
    const rows = await edge.sql(`SELECT * FROM edges.usage_rollup WHERE grain = 'held' ORDER BY ALL`);
    await runner.run(replaceBatchRollupSql(edgeTables, '2026/03/14', options), 'edges-merge-2');
    expect(await edge.sql(`SELECT * FROM edges.usage_rollup WHERE grain = 'held' ORDER BY ALL`)).toEqual(
      rows,
    );
    expect(await readHoldings({ registry: edgeRegistry, holdings: source('edges-2') }, DAY)).toEqual(
      localSection,
    );
  });
});
