import { describe, expect, it } from 'vitest';
import { SqlInputError } from '../../functions/adapters/athena/sql.js';
import {
  attributionSql,
  cachedPartnerDailyUsageStatement,
  cachedUnattributedUsageStatement,
  DUCKDB,
  partnerDailyUsageSql,
  TRINO,
  unattributedUsageSql,
} from '../../functions/adapters/sql/usage-aggregation-sql.js';

const local = {
  rollup: 'rollup',
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
};
const range = { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 3, 1) };
const daily = { table: 'rollup_daily', batches: 'rollup_daily_batches', zones: [{ timeZone: 'UTC', id: 1 }] };
const cache = {
  digest: 'd',
  pairs: 'attributed_pairs',
  counted: 'counted_daily',
  unattributed: 'unattributed_daily',
};

describe('the DuckDB dialect', () => {
  it('binds instants as epoch milliseconds and dates as text, and reads local days with timezone()', () => {
    const q = partnerDailyUsageSql(DUCKDB, local, { range, fromDate: '2026-03-01', toDate: '2026-04-01' });
    expect(q.params).toEqual([range.startMs, range.endMs, '2026-03-01', '2026-04-01']);
    expect(q.sql).toContain('FROM "rollup"');
    expect(q.sql).toContain(
      'CAST(CAST(timezone(z.time_zone, to_timestamp(s.slot_start // 1000)) AS DATE) AS VARCHAR) AS local_date',
    );
    expect(q.sql).toContain("regexp_matches(requester, '^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:')");
    // The local rollup holds no malformed-line markers, so nothing is left out by operation.
    expect(q.sql).not.toContain('(malformed:');
  });

  it('differs from the Trino text only where the dialects differ', () => {
    const trino = attributionSql(TRINO, { ...local, database: 'db' }, range).sql;
    // The glob join is a dialect difference of its own (next test).
    const duck = attributionSql({ ...DUCKDB, globPrefixJoin: false }, local, range).sql;
    const strip = (s: string) =>
      s
        .replace(/"db"\./g, '')
        .replace(/regexp_(like|matches)/g, 'REGEXP')
        .replace('usage AS NOT MATERIALIZED (', 'usage AS (')
        .replace(/CAST\(\? AS (timestamp|BIGINT)\)/g, 'SLOT')
        .replace(/\n {4}AND \(grain IS NULL OR grain = 'usage'\) AND substr\(operation.*\n/, '\n');
    expect(strip(duck).replace(/\n {4}AND TRUE\n/, '\n')).toBe(strip(trino));
  });
});

describe('the glob join by literal prefix (DuckDB)', () => {
  it('changes only the glob branch: pairs joined on each distinct prefix length, then LIKE', () => {
    const like = attributionSql({ ...DUCKDB, globPrefixJoin: false }, local, range).sql;
    const prefix = attributionSql(DUCKDB, local, range).sql;
    const branch = (sql: string) => {
      const start = sql.indexOf('UNION ALL', sql.indexOf("p.match_on = 'access-point'"));
      const end = sql.indexOf('UNION ALL', start + 1);
      return [sql.slice(0, start), sql.slice(start, end), sql.slice(end)];
    };
    const [beforeLike, globLike, afterLike] = branch(like);
    const [beforePrefix, globPrefix, afterPrefix] = branch(prefix);
    expect(beforePrefix).toBe(beforeLike);
    expect(afterPrefix).toBe(afterLike);
    expect(globLike).toContain("p.match_on = 'glob' AND q.requester LIKE p.match_key ESCAPE");
    expect(globPrefix).toContain('SELECT DISTINCT length(literal_prefix) AS n');
    expect(globPrefix).toContain('p.literal_prefix = q.head AND q.requester LIKE p.match_key ESCAPE');
  });
});

describe('input the builders refuse', () => {
  it.each([
    [
      'a table name that is not an identifier',
      () => attributionSql(DUCKDB, { ...local, principals: 'p; DROP' }, range),
    ],
    ['a Trino statement without a database', () => attributionSql(TRINO, local, range)],
    [
      'an instant with a fraction of a millisecond',
      () => attributionSql(DUCKDB, local, { startMs: 0.5, endMs: 1 }),
    ],
    [
      'a date of another shape',
      () =>
        partnerDailyUsageSql(DUCKDB, local, { range, fromDate: "2026-03-01' OR 1=1", toDate: '2026-04-01' }),
    ],
    ['a top N below 1', () => unattributedUsageSql(DUCKDB, local, { range, top: 0 })],
    [
      'the attributed caches on Trino (the local engine keeps them)',
      () =>
        cachedPartnerDailyUsageStatement(
          TRINO,
          { ...local, database: 'db' },
          { range, fromDate: '2026-03-01', toDate: '2026-04-01' },
          daily,
          cache,
        ),
    ],
    [
      'a cached date of another shape',
      () =>
        cachedPartnerDailyUsageStatement(
          DUCKDB,
          local,
          { range, fromDate: '2026-3-01', toDate: '2026-04-01' },
          daily,
          cache,
        ),
    ],
    [
      'a cached top N below 1',
      () => cachedUnattributedUsageStatement(DUCKDB, local, { range, top: 0 }, daily, cache),
    ],
    [
      'cached unattributed usage over two zones',
      () =>
        cachedUnattributedUsageStatement(
          DUCKDB,
          local,
          { range, top: 5 },
          { ...daily, zones: [...daily.zones, { timeZone: 'Asia/Kathmandu', id: 2 }] },
          cache,
        ),
    ],
    [
      'a top N that is not whole',
      () => unattributedUsageSql(TRINO, { ...local, database: 'db' }, { range, top: 2.5 }),
    ],
  ])('refuses %s', (_what, build) => {
    expect(build).toThrow(SqlInputError);
  });
});
