/**
 * The network table beside the rollup (network-store.ts), filled by the same ingestion pass: each
 * request's remote address, source prefix, VPC endpoint and source region per requester and 15-minute slot,
 * counted once however often its record is delivered, re-ingested or read in parallel.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { networkFindings } from '../../functions/adapters/duckdb/network-findings.js';
import { SETTING_INGESTION } from '../../functions/adapters/duckdb/schema.js';
import { type IngestOptions, ingestPaths } from '../../functions/cli/local-ingest.js';
import { type Registry, RegistrySchema } from '../../functions/domain/registry.js';
import { logLine } from '../support/log-lines.js';
import { networkFiguresOf } from '../support/network-figures.js';

let root: string;
let stateCount = 0;

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::444455556666:user/bob';
const VPCE_HOST =
  'meteo-feeds-prod.bucket.vpce-0a1b2c3d4e5f60718-abcdefgh.s3.eu-central-1.vpce.amazonaws.com';

/** The day's traffic: each line a request of its own. */
const LINES = [
  logLine({ time: '14/Mar/2026:09:00:01 +0000', requester: ALICE, ip: '198.51.100.23', bytesSent: '100' }),
  logLine({ time: '14/Mar/2026:10:00:02 +0000', requester: ALICE, ip: '198.51.100.200', bytesSent: '200' }),
  logLine({
    time: '14/Mar/2026:11:00:03 +0000',
    requester: ALICE,
    ip: '2001:db8:85a3::8a2e:370:7334',
    bytesSent: '300',
  }),
  logLine({
    time: '14/Mar/2026:12:00:04 +0000',
    requester: ALICE,
    ip: '-',
    bytesSent: '400',
    sourceRegion: '-',
  }),
  logLine({
    time: '14/Mar/2026:13:00:05 +0000',
    requester: ALICE,
    ip: '10.1.2.3',
    host: VPCE_HOST,
    bytesSent: '500',
  }),
  logLine({ time: '15/Mar/2026:01:00:06 +0000', requester: BOB, ip: '203.0.113.9', bytesSent: '600' }),
  logLine({ time: '14/Mar/2026:23:59:59 +0000', requester: BOB, ip: '203.0.113.9', bytesSent: '-' }),
];

const DAY14 = Date.UTC(2026, 2, 14);
const DAY15 = Date.UTC(2026, 2, 15);
const ms = (h: number, m: number, s: number, day = DAY14) => day + ((h * 60 + m) * 60 + s) * 1000;

/** The start of the 15-minute UTC slot holding `timeMs` (the network table's grain). */
const slotOf = (timeMs: number) => Math.floor(timeMs / 900_000) * 900_000;

/**
 * What the table must hold for LINES: one row per key, its columns and sums; each line is the only one
 * of its key, so its row's slot is its own time's (the day given below is the line's, for reading), and
 * the rows come in the table's order, slot first.
 */
const EXPECTED = [
  [DAY14, ALICE, '-', '-', '-', 'none', '-', '-', 1, 400, ms(12, 0, 4), ms(12, 0, 4)],
  [
    DAY14,
    ALICE,
    '-',
    '10.1.2.3',
    '10.1.2.0/24',
    'ipv4',
    'vpce-0a1b2c3d4e5f60718',
    'eu-central-1',
    1,
    500,
    ms(13, 0, 5),
    ms(13, 0, 5),
  ],
  [
    DAY14,
    ALICE,
    '-',
    '198.51.100.200',
    '198.51.100.0/24',
    'ipv4',
    '-',
    'eu-central-1',
    1,
    200,
    ms(10, 0, 2),
    ms(10, 0, 2),
  ],
  [
    DAY14,
    ALICE,
    '-',
    '198.51.100.23',
    '198.51.100.0/24',
    'ipv4',
    '-',
    'eu-central-1',
    1,
    100,
    ms(9, 0, 1),
    ms(9, 0, 1),
  ],
  [
    DAY14,
    ALICE,
    '-',
    '2001:db8:85a3::8a2e:370:7334',
    '2001:db8:85a3::/48',
    'ipv6',
    '-',
    'eu-central-1',
    1,
    300,
    ms(11, 0, 3),
    ms(11, 0, 3),
  ],
  [
    DAY14,
    BOB,
    '-',
    '203.0.113.9',
    '203.0.113.0/24',
    'ipv4',
    '-',
    'eu-central-1',
    1,
    0,
    ms(23, 59, 59),
    ms(23, 59, 59),
  ],
  [
    DAY15,
    BOB,
    '-',
    '203.0.113.9',
    '203.0.113.0/24',
    'ipv4',
    '-',
    'eu-central-1',
    1,
    600,
    ms(1, 0, 6, DAY15),
    ms(1, 0, 6, DAY15),
  ],
]
  .map(([_day, ...rest]) => [slotOf(rest[9] as number), ...rest])
  .sort((a, b) => (a[0] as number) - (b[0] as number))
  .map((r) => r.map(String).join(' | '));

async function put(rel: string, lines: readonly string[]): Promise<string> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

async function ingest(runs: readonly (readonly string[])[], options: Partial<IngestOptions> = {}) {
  const store = await DuckDbState.open(join(root, `s${stateCount++}.duckdb`));
  for (const paths of runs)
    await ingestPaths(store.ingestLog, paths, { datasetDepth: 2, workers: 0, ...options });
  const figures = await networkFiguresOf(store.database);
  await store.close();
  return figures;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'network-ingest-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the network table (local engine)', () => {
  it('keeps per requester and 15-minute slot each remote address with its prefix, class, VPC endpoint and region', async () => {
    const file = await put('a/2026-03-15-02-00-00-AAAAAAAAAAAAAAAA', LINES);
    expect(await ingest([[file]])).toEqual(EXPECTED);
  });

  it('adds nothing when the same files are ingested again, and replaces a re-delivered file', async () => {
    const file = await put('b/2026-03-15-02-00-00-BBBBBBBBBBBBBBBB', LINES);
    expect(await ingest([[file], [file]])).toEqual(EXPECTED);
    // The same object name with other content replaces the first version's rows.
    const first = await put('c1/2026-03-15-02-00-00-CCCCCCCCCCCCCCCC', [logLine({ ip: '192.0.2.1' })]);
    const second = await put('c2/2026-03-15-02-00-00-CCCCCCCCCCCCCCCC', LINES);
    expect(await ingest([[first], [second]])).toEqual(EXPECTED);
  });

  it('counts a record delivered twice once: in one object, in two, and in a later run', async () => {
    const twice = await put('d/2026-03-15-02-00-00-DDDDDDDDDDDDDDDD', [...LINES, ...LINES.slice(0, 3)]);
    expect(await ingest([[twice]])).toEqual(EXPECTED);
    const one = await put('e/2026-03-15-02-00-00-EEEEEEEEEEEEEEEE', LINES);
    const late = await put('e/2026-03-16-02-00-00-EEEEEEEEEEEEEEEF', LINES.slice(2));
    expect(await ingest([[one, late]])).toEqual(EXPECTED);
    expect(await ingest([[late], [one]])).toEqual(EXPECTED);
  });

  it('upgrades a state file with the first release’s per-day table: dropped when opened, refilled per slot from the logs', async () => {
    const file = await put('u/2026-03-15-02-00-00-UUUUUUUUUUUUUUUU', LINES);
    const path = join(root, `s${stateCount++}.duckdb`);
    const first = await DuckDbState.open(path);
    await ingestPaths(first.ingestLog, [file], { datasetDepth: 2, workers: 0 });
    await first.close();
    // The table and ingestion settings as the release before made them: a row per UTC day.
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run('DROP VIEW network_usage');
    await connection.run('DROP TABLE network_rows');
    await connection.run(`CREATE TABLE network_usage (day_start BIGINT NOT NULL, requester VARCHAR NOT NULL,
      access_point VARCHAR NOT NULL, source_address VARCHAR NOT NULL, source_prefix VARCHAR NOT NULL,
      address_key VARCHAR NOT NULL, address_class VARCHAR NOT NULL, vpce VARCHAR NOT NULL,
      source_region VARCHAR NOT NULL, requests BIGINT NOT NULL, bytes_sent BIGINT NOT NULL,
      first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL, batch VARCHAR NOT NULL)`);
    await connection.run(`INSERT INTO network_usage VALUES (${DAY14}, 'x', '-', '-', '-', '-', 'none', '-', '-',
      1, 1, ${DAY14}, ${DAY14}, 'old')`);
    await connection.run("UPDATE settings SET value = 'rollup: 4' WHERE key = ?", [SETTING_INGESTION]);
    connection.closeSync();
    instance.closeSync();
    const upgraded = await DuckDbState.open(path);
    expect(await networkFiguresOf(upgraded.database)).toEqual([]);
    await ingestPaths(upgraded.ingestLog, [file], { datasetDepth: 2, workers: 0 });
    expect(await networkFiguresOf(upgraded.database)).toEqual(EXPECTED);
    await upgraded.close();
  });

  it('upgrades a state file whose rollup and network table are tables of strings: coded when opened, every row kept', async () => {
    const file = await put('v/2026-03-15-02-00-00-VVVVVVVVVVVVVVVV', LINES);
    const path = join(root, `s${stateCount++}.duckdb`);
    const first = await DuckDbState.open(path);
    await ingestPaths(first.ingestLog, [file], { datasetDepth: 2, workers: 0 });
    await first.close();
    // Both tables as the release before the coded one kept them: tables with the views' columns.
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    const rowsOf = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJson();
    const before = await rowsOf('SELECT * FROM network_usage ORDER BY ALL');
    expect(before.length).toBeGreaterThan(0);
    for (const [table, coded] of [
      ['rollup', 'rollup_rows'],
      ['network_usage', 'network_rows'],
    ]) {
      await connection.run(`CREATE TABLE ${table}_table AS SELECT * FROM ${table}`);
      await connection.run(`DROP VIEW ${table}`);
      await connection.run(`DROP TABLE ${coded}`);
      await connection.run(`ALTER TABLE ${table}_table RENAME TO ${table}`);
    }
    await connection.run('DROP TABLE rollup_strings');
    connection.closeSync();
    instance.closeSync();

    const upgraded = await DuckDbState.open(path);
    expect(await networkFiguresOf(upgraded.database)).toEqual(EXPECTED);
    // Re-ingesting the same object adds nothing.
    await ingestPaths(upgraded.ingestLog, [file], { datasetDepth: 2, workers: 0 });
    expect(await networkFiguresOf(upgraded.database)).toEqual(EXPECTED);
    const kinds = await upgraded.database.serial('kinds', async (c) => {
      const tables = await c.runAndReadAll(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'network%' ORDER BY 1",
      );
      const views = await c.runAndReadAll(
        "SELECT view_name FROM duckdb_views() WHERE view_name = 'network_usage'",
      );
      const after = await c.runAndReadAll('SELECT * FROM network_usage ORDER BY ALL');
      return {
        tables: tables.getRows().flat(),
        views: views.getRows().flat(),
        after: after.getRowObjectsJson(),
      };
    });
    expect(kinds).toEqual({ tables: ['network_rows'], views: ['network_usage'], after: before });
    await upgraded.close();
  });

  it('gives the same table when files are read in ranges by several threads', async () => {
    const many = Array.from({ length: 200 }, (_, i) =>
      logLine({
        time: `14/Mar/2026:${String(i % 24).padStart(2, '0')}:00:00 +0000`,
        requester: ALICE,
        ip: `198.51.${i % 3}.${i}`,
        bytesSent: String(i),
      }),
    );
    const a = await put('f/2026-03-15-02-00-00-FFFFFFFFFFFFFFFF', many);
    const b = await put('f/2026-03-15-03-00-00-FFFFFFFFFFFFFFFG', [...LINES, ...many.slice(0, 50)]);
    const serial = await ingest([[a, b]]);
    const plan = { splitAbove: 8 * 1024, minRangeBytes: 4 * 1024, maxRangeBytes: 8 * 1024, groupBytes: 4096 };
    expect(await ingest([[a, b]], { workers: 2, plan })).toEqual(serial);
    expect(serial.length).toBeGreaterThan(200);
  });
});

/** Alice's partner declares 198.51.100.0/25, the VPC endpoint and IPv6 2001:db8:85a3::/48; Bob's partner 203.0.113.0/24. */
function registry(networks: { alice?: object; bob?: object } = {}) {
  const partner = (id: string, account: string, nets: object | undefined) => ({
    id,
    name: id,
    accountOwners: [{ email: `ops@${id}.example` }],
    timeZone: 'UTC',
    applications: [
      { id: 'app', name: 'App', principals: [{ account }], ...(nets ? { networks: nets } : {}) },
    ],
    contracts: [
      { id: `${id}-2026`, effectiveFrom: '2026-01-01', currency: 'EUR', datasets: ['feeds/weather/'] },
    ],
  });
  return RegistrySchema.parse({
    version: 1,
    provider: { name: 'P', noticeFrom: 'P <p@p.example>', contactEmail: 'c@p.example' },
    partners: [
      partner('alice-co', '111122223333', networks.alice),
      partner('bob-co', '444455556666', networks.bob),
    ],
  });
}

describe('network findings (local engine)', () => {
  const RANGE = { fromDate: '2026-03-14', toDate: '2026-03-16' };
  const findings = async (reg: Registry, range = RANGE) => {
    const store = await DuckDbState.open(join(root, `f${stateCount++}.duckdb`));
    const file = await put(`g${stateCount}/2026-03-15-02-00-00-GGGGGGGGGGGGGGGG`, [
      ...LINES,
      // Bob's key used from Alice's declared /25.
      logLine({ time: '15/Mar/2026:05:00:00 +0000', requester: BOB, ip: '198.51.100.7', bytesSent: '70' }),
    ]);
    await ingestPaths(store.ingestLog, [file], { datasetDepth: 2, workers: 0 });
    const out = await store.database.serial('t', (c) => networkFindings(c, reg, range));
    await store.close();
    return out.map((f) => [
      f.kind,
      f.partnerId,
      f.requester,
      f.sourcePrefix,
      f.addressClass,
      f.vpcEndpoint,
      f.declaredBy?.partnerId ?? '',
      String(f.requests),
      String(f.bytesSent),
      f.firstSeenMs,
      f.lastSeenMs,
      f.firstEverMs,
    ]);
  };

  it("finds the requests of an application from outside its networks, by source prefix, and keys used from another partner's network", async () => {
    const got = await findings(
      registry({
        alice: { cidrs: ['198.51.100.0/25', '2001:db8:85a3::/48'], vpcEndpoints: ['vpce-0a1b2c3d4e5f60718'] },
        bob: { cidrs: ['203.0.113.0/24'] },
      }),
    );
    const out = 'credential-used-outside-declared-network';
    expect(got).toEqual([
      // Alice: `-` remote address and 198.51.100.200 (outside the /25); the VPC endpoint, the IPv6 /48
      // and 198.51.100.23 are hers.
      [out, 'alice-co', ALICE, '-', 'none', '-', '', '1', '400', ms(12, 0, 4), ms(12, 0, 4), ms(12, 0, 4)],
      [
        out,
        'alice-co',
        ALICE,
        '198.51.100.0/24',
        'ipv4',
        '-',
        '',
        '1',
        '200',
        ms(10, 0, 2),
        ms(10, 0, 2),
        ms(10, 0, 2),
      ],
      // Bob: from Alice's /25 (outside his own /24).
      [
        out,
        'bob-co',
        BOB,
        '198.51.100.0/24',
        'ipv4',
        '-',
        '',
        '1',
        '70',
        ms(5, 0, 0, DAY15),
        ms(5, 0, 0, DAY15),
        ms(5, 0, 0, DAY15),
      ],
      [
        'shared-credential',
        'bob-co',
        BOB,
        '198.51.100.0/24',
        'ipv4',
        '-',
        'alice-co',
        '1',
        '70',
        ms(5, 0, 0, DAY15),
        ms(5, 0, 0, DAY15),
        ms(5, 0, 0, DAY15),
      ],
    ]);
  });

  it('applies a registry change to usage already ingested, and raises nothing for applications that declare no network', async () => {
    expect(await findings(registry())).toEqual([]);
    const wide = await findings(registry({ alice: { cidrs: ['0.0.0.0/0', '::/0'] } }));
    // Only the request without a remote address is outside "everywhere".
    expect(wide.map((f) => [f[1], f[3]])).toEqual([['alice-co', '-']]);
    const byRegion = await findings(registry({ alice: { sourceRegions: ['eu-central-1'] } }));
    expect(byRegion.map((f) => f[3])).toEqual(['-']);
  });

  it("keeps to the local dates of the range, and dates a finding's first sighting over all days before", async () => {
    const got = await findings(registry({ bob: { cidrs: ['192.0.2.0/24'] } }), {
      fromDate: '2026-03-15',
      toDate: '2026-03-16',
    });
    // Bob's 203.0.113.0/24 was first seen on the 14th: on the 15th it is not new.
    expect(got.map((f) => [f[3], f[7], f[9], f[11]])).toEqual([
      ['198.51.100.0/24', '1', ms(5, 0, 0, DAY15), ms(5, 0, 0, DAY15)],
      ['203.0.113.0/24', '1', ms(1, 0, 6, DAY15), ms(23, 59, 59)],
    ]);
  });
});
