/**
 * The Trino dialect of the aggregation, sent through the AWS SDK to the local Athena stand-in
 * (test/support/athena-local-server.ts, which runs what it receives on DuckDB with its few macros):
 * over the registry tables loaded from the canonical JSON Lines files the deployment writes, and a
 * rollup with a timestamp slot and malformed-line markers as on AWS, it returns the same rows as the
 * DuckDB dialect over the local store, which sql-aggregation.test.ts holds to the TypeScript path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AthenaUsageUnloader,
  unloadedUsageLocation,
} from '../../functions/adapters/athena/athena-aggregated-usage.js';
import { AthenaQueryRunner, type ResultRow } from '../../functions/adapters/athena/athena-client.js';
import { MALFORMED_OPERATIONS, ROLLUP_COLUMNS } from '../../functions/adapters/athena/sql.js';
import {
  AthenaAggregatedUsageSource,
  UnloadedUsageReader,
} from '../../functions/adapters/athena/unloaded-usage-reader.js';
import { CREATE_SCHEMA } from '../../functions/adapters/duckdb/schema.js';
import {
  DuckDbUsageAggregation,
  writeAttributionTables,
} from '../../functions/adapters/duckdb/usage-aggregation.js';
import {
  partnerDailyUsageSql,
  TRINO,
  unattributedUsageSql,
} from '../../functions/adapters/sql/usage-aggregation-sql.js';
import {
  partnerDailyUsageRequest,
  unattributedUsageRequest,
} from '../../functions/audit/aggregation-request.js';
import { attributionTables, toJsonLines } from '../../functions/domain/attribution-table.js';
import { RegistrySchema } from '../../functions/domain/registry.js';
import { SLOT_MS } from '../../functions/domain/usage.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { SAMPLE_AGGREGATION_TABLES } from '../support/athena-statements.js';
import { localAthenaClient, localS3Client, s3UnloadStore } from '../support/aws-local-clients.js';
import { type LocalServer, startS3rver } from '../support/local-aws-servers.js';
import { insertRollup } from '../support/rollup-table.js';

/** The rollup row of the first release: rows written before the grains (grain NULL) read as usage. */
const FIRST_RELEASE_COLUMNS = ROLLUP_COLUMNS.slice(0, ROLLUP_COLUMNS.indexOf('request_ids') + 1).join(', ');
const ACCT = '111122223333';
const registry = RegistrySchema.parse({
  version: 1,
  provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
  partners: ['Asia/Kathmandu', 'America/St_Johns', 'Europe/Berlin'].map((timeZone, i) => ({
    id: `p${i}`,
    name: `P${i}`,
    timeZone,
    accountOwners: [{ email: 'o@p.example' }],
    applications: [
      { id: 'role', name: 'Role', principals: [{ arn: `arn:aws:iam::${ACCT}:role/r${i}` }] },
      { id: 'glob', name: 'Glob', principals: [{ arnGlob: `arn:aws:iam::${ACCT}:user/p${i}_%*` }] },
    ],
    contracts: [
      {
        id: 'c',
        effectiveFrom: '2026-01-01',
        currency: 'USD',
        datasets: ['feeds/'],
        counted: { operations: ['REST.GET.*'], statuses: ['2xx', '3xx'] },
      },
    ],
  })),
});

const WINDOW = { from: '2026-03-01', to: '2026-04-01' };
const FIRST_SLOT = Date.UTC(2026, 1, 27) / SLOT_MS;
const LAST_SLOT = Date.UTC(2026, 3, 2) / SLOT_MS;

interface Row {
  slot: number;
  requester: string;
  dataset: string;
  operation: string;
  status: string;
  requests: number;
  bytes: number;
}

const rows: Row[] = fc.sample(
  fc.record({
    slot: fc.integer({ min: FIRST_SLOT, max: LAST_SLOT }).map((s) => s * SLOT_MS),
    requester: fc.oneof(
      fc.nat(2).map((i) => `arn:aws:sts::${ACCT}:assumed-role/r${i}/s`),
      fc.nat(2).map((i) => `arn:aws:iam::${ACCT}:user/p${i}_%x`),
      fc.constantFrom(`arn:aws:iam::${ACCT}:user/p0_x`, '-', 'svc:cloudfront.amazonaws.com'),
    ),
    dataset: fc.constantFrom('feeds/a/', 'other/'),
    operation: fc.constantFrom('REST.GET.OBJECT', 'REST.PUT.OBJECT'),
    status: fc.constantFrom('2xx', '4xx'),
    requests: fc.integer({ min: 1, max: 99 }),
    bytes: fc.integer({ min: 0, max: 1_000_000 }),
  }),
  { numRuns: 600, seed: 5 },
);

const dir = mkdtempSync(join(tmpdir(), 'athena-aggregation-'));
let server: AthenaLocalServer;
let s3: LocalServer;
const BUCKET = 'partner-audit-reports';
let db: DuckDBInstance;
let local: DuckDBConnection;

beforeAll(async () => {
  server = await AthenaLocalServer.start({
    database: 'partner_audit',
    logsTable: 'access_logs',
    rollupTable: 'usage_rollup',
  });
  // The registry tables as Glue reads them: the canonical JSON Lines the deployment writes, one file each.
  const t = attributionTables(registry);
  const files = {
    registry_principals: [
      t.principals,
      'rank INTEGER, match_on VARCHAR, match_key VARCHAR, partner_id VARCHAR, application_id VARCHAR, time_zone VARCHAR',
    ],
    registry_contract_terms: [
      t.terms,
      'partner_id VARCHAR, contract_ordinal INTEGER, contract_id VARCHAR, effective_from VARCHAR, effective_to VARCHAR, term VARCHAR, match_key VARCHAR',
    ],
    registry_ignored_requesters: [t.ignored, 'match_key VARCHAR, anonymous BOOLEAN'],
  } as const;
  for (const [name, [data, columns]] of Object.entries(files)) {
    const file = join(dir, `${name}.jsonl`);
    writeFileSync(file, toJsonLines(data));
    const struct = `{${columns
      .split(', ')
      .map((c) => c.split(' '))
      .map(([n, ty]) => `'${n}': '${ty}'`)
      .join(', ')}}`;
    await server.sql(
      `CREATE TABLE partner_audit.${name} AS SELECT * FROM read_json('${file}', format = 'newline_delimited', columns = ${struct})`,
    );
  }
  const values = (r: Row) =>
    `(to_timestamp(${r.slot / 1000})::TIMESTAMP, 'b', '${r.requester.replaceAll("'", "''")}', '-', '${r.dataset}', '${r.operation}', '${r.status}', ${r.requests}, ${r.bytes}, 0, 'x', NULL)`;
  await server.sql(
    `INSERT INTO partner_audit.usage_rollup (${FIRST_RELEASE_COLUMNS}) VALUES ${rows.map(values).join(', ')}`,
  );
  // A marker of malformed lines, as the nightly rollup writes them on AWS: never usage, not even an
  // unregistered requester's (where every operation counts).
  await server.sql(
    `INSERT INTO partner_audit.usage_rollup (${FIRST_RELEASE_COLUMNS}) VALUES (TIMESTAMP '2026-03-10 00:00:00', 'b', 'arn:aws:iam::999999999999:user/x', '-', 'feeds/a/', '${MALFORMED_OPERATIONS.noMatch}', '2xx', 1000000, 0, 0, 'x', NULL)`,
  );

  s3 = await startS3rver([BUCKET]);
  server.setUnloadStore(s3UnloadStore(localS3Client(s3.endpoint)));

  db = await DuckDBInstance.create(':memory:');
  local = await db.connect();
  for (const statement of CREATE_SCHEMA) await local.run(statement);
  await writeAttributionTables(local, registry);
  await insertRollup(
    local,
    `VALUES ${rows
      .map(
        (r) =>
          `(${r.slot}, 'b', '${r.requester.replaceAll("'", "''")}', '-', '${r.dataset}', '${r.operation}', '${r.status}', ${r.requests}, ${r.bytes}, 0, 'x')`,
      )
      .join(', ')}`,
  );
});

afterAll(async () => {
  await server?.stop();
  await s3?.stop();
  local?.closeSync();
  db?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

function runner(): AthenaQueryRunner {
  return new AthenaQueryRunner(localAthenaClient(server.endpoint), {
    workGroup: 'partner-audit',
    sleep: async () => {},
    random: () => 0.5,
  });
}

describe('the Trino aggregation on the Athena stand-in', () => {
  it('returns the daily rows the DuckDB dialect returns locally', async () => {
    const request = partnerDailyUsageRequest(registry.partners, WINDOW);
    const athena = await runner().select(
      partnerDailyUsageSql(TRINO, SAMPLE_AGGREGATION_TABLES, request),
      'run-daily',
      (r: ResultRow) =>
        `${r['partner_id']} ${r['application_id']} ${r['dataset']} ${r['local_date']} ${r['requests']}/${r['bytes_sent']}/${r['records']}`,
    );
    const duck = (await new DuckDbUsageAggregation(local).partnerDailyUsage(request)).map(
      (r) =>
        `${r.partnerId} ${r.applicationId} ${r.dataset} ${r.date} ${r.requests}/${r.bytesSent}/${r.records}`,
    );
    expect(duck.length).toBeGreaterThan(20);
    expect(athena.rows).toEqual(duck);
  });

  it('returns the unattributed pairs the DuckDB dialect returns locally', async () => {
    const request = unattributedUsageRequest(WINDOW, 10);
    const athena = await runner().select(
      unattributedUsageSql(TRINO, SAMPLE_AGGREGATION_TABLES, request),
      'run-strangers',
      (r: ResultRow) =>
        `${r['position']} ${r['requester']} ${r['dataset']} ${r['requests']} ${r['touched']} ${r['pairs_total']} ${r['requests_total']}`,
    );
    const duck = (await new DuckDbUsageAggregation(local).unattributedUsage(request)).map(
      (r) =>
        `${r.position} ${r.requester} ${r.dataset} ${r.requests} ${r.touchedPartnerData ? 1 : 0} ${r.totals.pairs} ${r.totals.requests}`,
    );
    expect(duck.length).toBeGreaterThan(0);
    expect(athena.rows).toEqual(duck);
  });
});

describe('the Trino aggregation unloaded to S3 (results off the paging path)', () => {
  it('gives each partner, read from its own folder, exactly the DuckDB rows, and pages no result', async () => {
    const request = partnerDailyUsageRequest(registry.partners, WINDOW);
    const location = unloadedUsageLocation(BUCKET, 'runs/unload-1/');
    const before = server.stats();
    const unloader = new AthenaUsageUnloader(runner(), SAMPLE_AGGREGATION_TABLES, 'unload-1');
    const recorded = await unloader.unloadPartnerDailyUsage(request, location);
    expect(recorded.sql).toMatch(/^UNLOAD \(/);
    expect(recorded.bytesScanned).toBeGreaterThan(0);
    const after = server.stats();
    expect(after.queries - before.queries).toBe(1);
    expect(after.resultPages - before.resultPages).toBe(0);
    // One object per partner with use: each partner's folder.
    expect(after.objectsUnloaded - before.objectsUnloaded).toBe(registry.partners.length);
    expect(after.bytesUnloaded).toBeGreaterThan(before.bytesUnloaded);

    const duck = await new DuckDbUsageAggregation(local).partnerDailyUsage(request);
    const reader = new UnloadedUsageReader(localS3Client(s3.endpoint), location);
    for (const p of registry.partners) {
      const mine = duck.filter((r) => r.partnerId === p.id);
      expect(mine.length).toBeGreaterThan(5);
      expect(await reader.partnerDailyUsage(p.id)).toEqual(mine);
    }
    expect(reader.objectsRead).toBe(registry.partners.length);
    expect(await reader.partnerDailyUsage('no-such-partner')).toEqual([]);
  });

  it('refuses to unload into a folder that already holds objects, as Athena does', async () => {
    const request = partnerDailyUsageRequest(registry.partners, WINDOW);
    const location = unloadedUsageLocation(BUCKET, 'runs/unload-2/');
    await new AthenaUsageUnloader(runner(), SAMPLE_AGGREGATION_TABLES, 'unload-2a').unloadPartnerDailyUsage(
      request,
      location,
    );
    await expect(
      new AthenaUsageUnloader(runner(), SAMPLE_AGGREGATION_TABLES, 'unload-2b').unloadPartnerDailyUsage(
        request,
        location,
      ),
    ).rejects.toThrow(/HIVE_PATH_ALREADY_EXISTS/);
  });

  it('is an AggregatedUsageSource: the same daily and unattributed rows as the DuckDB dialect', async () => {
    const source = new AthenaAggregatedUsageSource(
      runner(),
      localS3Client(s3.endpoint),
      SAMPLE_AGGREGATION_TABLES,
      { bucket: BUCKET, runPrefix: 'runs/unload-3/' },
      'unload-3',
    );
    const daily = partnerDailyUsageRequest(registry.partners, WINDOW);
    expect(await source.partnerDailyUsage(registry, daily)).toEqual(
      await new DuckDbUsageAggregation(local).partnerDailyUsage(daily),
    );
    const strangers = unattributedUsageRequest(WINDOW, 10);
    const duck = await new DuckDbUsageAggregation(local).unattributedUsage(strangers);
    expect(duck.length).toBeGreaterThan(0);
    expect(await source.unattributedUsage(registry, strangers)).toEqual(
      duck.map(({ position: _p, totals: _t, ...row }) => row),
    );
    expect(source.read.objects).toBe(registry.partners.length + 1);
  });
});
