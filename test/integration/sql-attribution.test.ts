/**
 * Attribution in SQL (functions/adapters/sql/usage-aggregation-sql.ts over the tables of
 * functions/domain/attribution-table.ts) gives, on DuckDB, the same partner application as
 * attribution.ts for every requester and access point: a property over random registries and
 * requesters, with hostile characters (%, _, \, quotes, unicode, line terminators) in globs and
 * requesters, colliding roles and keys, and every kind of principal.
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_SCHEMA } from '../../functions/adapters/duckdb/schema.js';
import {
  LOCAL_AGGREGATION_TABLES,
  writeAttributionTables,
} from '../../functions/adapters/duckdb/usage-aggregation.js';
import { attributionSql, DUCKDB } from '../../functions/adapters/sql/usage-aggregation-sql.js';
import { buildAttributor } from '../../functions/domain/attribution.js';
import { type Principal, type Registry, RegistrySchema } from '../../functions/domain/registry.js';
import { deleteRollup, insertRollup } from '../support/rollup-table.js';

const ACCOUNTS = ['111122223333', '444455556666'];
const PARTITIONS = ['aws', 'aws-cn'];
const CANONICAL = ['a'.repeat(64), `${'0'.repeat(63)}f`];
const ACCESS_POINTS = [
  `arn:aws:s3:us-east-1:${ACCOUNTS[0]}:accesspoint/reports`,
  `arn:aws:s3:eu-west-1:${ACCOUNTS[1]}:accesspoint/x%_y`,
];
/** Characters that LIKE, SQL literals, regular expressions or UTF-8 treat specially. */
const HOSTILE = ['a', 'b', '-', '/', ':', '%', '_', '\\', "'", '"', '.', 'é', '😀', '[', '$'];

const piece = fc.array(fc.constantFrom(...HOSTILE), { maxLength: 4 }).map((a) => a.join(''));
const name = fc
  .array(fc.constantFrom('a', 'b', '%', '_', '\\', "'", 'é'), { minLength: 1, maxLength: 3 })
  .map((a) => a.join(''));
const account = fc.constantFrom(...ACCOUNTS);
const partition = fc.constantFrom(...PARTITIONS);

const principal: fc.Arbitrary<Principal> = fc.oneof(
  fc
    .tuple(partition, account, fc.constantFrom('', 'team/', 'a/b/'), name)
    .map(([pt, a, path, n]) => ({ arn: `arn:${pt}:iam::${a}:role/${path}${n}` })),
  fc.tuple(partition, account, name).map(([pt, a, n]) => ({ arn: `arn:${pt}:iam::${a}:user/${n}` })),
  fc
    .tuple(partition, account, name, name)
    .map(([pt, a, r, s]) => ({ arn: `arn:${pt}:sts::${a}:assumed-role/${r}/${s}` })),
  fc
    .tuple(
      partition,
      fc.constantFrom('iam', 'sts'),
      fc.constantFrom(...ACCOUNTS, '*'),
      fc.array(fc.oneof(piece, fc.constant('*')), { minLength: 1, maxLength: 4 }),
    )
    .map(([pt, svc, a, parts]) => ({ arnGlob: `arn:${pt}:${svc}::${a}:${parts.join('')}*` })),
  account.map((a) => ({ account: a })),
  fc.constantFrom(...CANONICAL).map((c) => ({ canonicalUserId: c })),
  fc.constantFrom(...ACCESS_POINTS).map((ap) => ({ accessPoint: ap })),
);

const requester: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(partition, account, name, name)
    .map(([pt, a, r, s]) => `arn:${pt}:sts::${a}:assumed-role/${r}/${s}`),
  fc.tuple(partition, account, name).map(([pt, a, r]) => `arn:${pt}:sts::${a}:assumed-role/${r}`),
  fc.tuple(partition, account, name).map(([pt, a, n]) => `arn:${pt}:iam::${a}:user/${n}`),
  fc
    .tuple(partition, account, fc.constantFrom('', 'team/'), name)
    .map(([pt, a, path, n]) => `arn:${pt}:iam::${a}:role/${path}${n}`),
  fc
    .tuple(partition, fc.constantFrom('iam', 'sts'), account, piece)
    .map(([pt, svc, a, rest]) => `arn:${pt}:${svc}::${a}:${rest}`),
  // ARN-like text attribution.ts does not read as an ARN: a line terminator, a short account, an
  // empty resource, a non-ASCII digit.
  fc
    .tuple(account, fc.constantFrom('\n', '\r', '\u2028', '\u2029'), name)
    .map(([a, t, n]) => `arn:aws:sts::${a}:assumed-role/${n}${t}/s`),
  fc.constantFrom(
    `arn:aws:iam::${ACCOUNTS[0]}:`,
    'arn:aws:iam::11112222333:user/x',
    'arn:aws:iam::١١١١٢٢٢٢٣٣٣٣:user/x',
    `arn:AWS:iam::${ACCOUNTS[0]}:user/a`,
  ),
  fc.constantFrom(...CANONICAL, '-', 'svc:cloudfront.amazonaws.com', 'AmazonS3'),
  piece,
);
const accessPoint = fc.constantFrom('-', ...ACCESS_POINTS);

/** A registry of 1-3 partners with 1-3 applications each; a principal is used once (the registry says so). */
const registry: fc.Arbitrary<Registry> = fc
  .array(fc.array(fc.array(principal, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }), {
    minLength: 1,
    maxLength: 3,
  })
  .map((partners) => {
    const seen = new Set<string>();
    const fresh = (p: Principal) => {
      const k = JSON.stringify(p);
      return !seen.has(k) && !!seen.add(k);
    };
    const raw = {
      version: 1,
      provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
      partners: partners.map((apps, pi) => ({
        id: `p${pi}`,
        name: `P${pi}`,
        timeZone: 'UTC',
        accountOwners: [{ email: 'o@p.example' }],
        applications: apps
          .map((principals, ai) => ({ id: `a${ai}`, name: `A${ai}`, principals: principals.filter(fresh) }))
          .filter((a) => a.principals.length > 0),
        contracts: [{ id: 'c', effectiveFrom: '2026-01-01', currency: 'USD', datasets: ['d/'] }],
      })),
    };
    raw.partners = raw.partners.filter((p) => p.applications.length > 0);
    return RegistrySchema.parse(raw);
  });

let db: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  connection = await db.connect();
  for (const statement of CREATE_SCHEMA) await connection.run(statement);
});

afterAll(() => {
  connection.closeSync();
  db.closeSync();
});

/** Writes one rollup row per pair, attributes in SQL, and returns `requester \0 ap -> partner/app`. */
async function sqlAttribution(reg: Registry, pairs: readonly (readonly [string, string])[]) {
  await writeAttributionTables(connection, reg);
  await deleteRollup(connection);
  for (const [r, ap] of pairs) {
    await insertRollup(connection, `VALUES (0, 'b', ?, ?, 'd/', 'REST.GET.OBJECT', '2xx', 1, 1, 0, 'x')`, [
      r,
      ap,
    ]);
  }
  const q = attributionSql(DUCKDB, LOCAL_AGGREGATION_TABLES, { startMs: 0, endMs: 1 });
  const reader = await connection.runAndReadAll(q.sql, [...q.params]);
  const out = new Map<string, string>();
  for (const [r, ap, partner, app] of reader.getRows() as string[][]) {
    out.set(`${r}\u0000${ap}`, `${partner}/${app}`);
  }
  return out;
}

describe('attributionSql on DuckDB', () => {
  it('gives the application attribution.ts gives, for random registries and requesters', async () => {
    await fc.assert(
      fc.asyncProperty(
        registry,
        fc.uniqueArray(fc.tuple(requester, accessPoint), {
          minLength: 1,
          maxLength: 25,
          selector: ([r, ap]) => `${r}\u0000${ap}`,
        }),
        async (reg, pairs) => {
          const attribute = buildAttributor(reg);
          const bySql = await sqlAttribution(reg, pairs);
          for (const [r, ap] of pairs) {
            const ts = attribute(r, ap);
            expect(bySql.get(`${r}\u0000${ap}`), `requester ${JSON.stringify(r)} via ${ap}`).toBe(
              ts ? `${ts.partnerId}/${ts.applicationId}` : undefined,
            );
          }
        },
      ),
      { numRuns: 150, seed: 20261207 },
    );
  });

  it.each([
    [
      'a literal % in a glob matches only a %',
      'arn:aws:iam::111122223333:user/100%*',
      'arn:aws:iam::111122223333:user/100%-x',
      'arn:aws:iam::111122223333:user/1000-x',
    ],
    [
      'a literal _ in a glob matches only a _',
      'arn:aws:iam::111122223333:user/a_b*',
      'arn:aws:iam::111122223333:user/a_bc',
      'arn:aws:iam::111122223333:user/axbc',
    ],
    [
      'a backslash is literal, not an escape',
      'arn:aws:iam::111122223333:user/a\\%*',
      'arn:aws:iam::111122223333:user/a\\%z',
      'arn:aws:iam::111122223333:user/a%z',
    ],
    [
      'a quote is literal',
      "arn:aws:iam::111122223333:user/o'brien*",
      "arn:aws:iam::111122223333:user/o'brien-1",
      'arn:aws:iam::111122223333:user/obrien-1',
    ],
    [
      'unicode is literal, one character per character',
      'arn:aws:iam::111122223333:user/é😀*',
      'arn:aws:iam::111122223333:user/é😀/x',
      'arn:aws:iam::111122223333:user/e😀/x',
    ],
    [
      '* runs over /',
      'arn:aws:sts::111122223333:assumed-role/*/s',
      'arn:aws:sts::111122223333:assumed-role/a/b/c/s',
      'arn:aws:sts::111122223333:assumed-role/a/b/c/t',
    ],
  ])('%s', async (_what, glob, matching, other) => {
    const reg = RegistrySchema.parse({
      version: 1,
      provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
      partners: [
        {
          id: 'p',
          name: 'P',
          timeZone: 'UTC',
          accountOwners: [{ email: 'o@p.example' }],
          applications: [{ id: 'g', name: 'G', principals: [{ arnGlob: glob }] }],
          contracts: [{ id: 'c', effectiveFrom: '2026-01-01', currency: 'USD', datasets: ['d/'] }],
        },
      ],
    });
    const bySql = await sqlAttribution(reg, [
      [matching, '-'],
      [other, '-'],
    ]);
    expect(bySql.get(`${matching}\u0000-`)).toBe('p/g');
    expect(bySql.has(`${other}\u0000-`)).toBe(false);
    // And attribution.ts agrees, so the case says something about both.
    const attribute = buildAttributor(reg);
    expect(attribute(matching, '-')?.applicationId).toBe('g');
    expect(attribute(other, '-')).toBeUndefined();
  });
});
