import { describe, expect, it } from 'vitest';
import {
  attributionTables,
  contractTermRows,
  globToLike,
  ignoredRequesterRows,
  likeLiteral,
  operationToLike,
  principalRows,
  toJsonLines,
} from '../../functions/domain/attribution-table.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';

const ACCT = '111122223333';

function registry(partners: object[], settings?: object): Registry {
  return parseRegistry(
    JSON.stringify({
      version: 1,
      provider: { name: 'P', noticeFrom: 'p@p.example', contactEmail: 'p@p.example' },
      ...(settings ? { settings } : {}),
      partners: partners.map((p, i) => ({
        id: `p${i}`,
        name: `P${i}`,
        timeZone: 'Europe/Berlin',
        accountOwners: [{ email: 'o@p.example' }],
        contracts: [{ id: 'c1', effectiveFrom: '2026-01-01', currency: 'USD', datasets: ['feeds/'] }],
        ...p,
      })),
    }),
    'test',
  );
}

describe('likeLiteral and globToLike', () => {
  it.each([
    ['plain', 'abc', 'abc'],
    ['a percent', '100%', '100\\%'],
    ['an underscore', 'a_b', 'a\\_b'],
    ['a backslash', 'a\\b', 'a\\\\b'],
    ['quotes, which parameters carry as they are', `o'b"c`, `o'b"c`],
    ['unicode', 'é😀', 'é😀'],
  ])('escapes %s', (_what, text, like) => {
    expect(likeLiteral(text)).toBe(like);
  });

  it.each([
    ['arn:aws:sts::1:assumed-role/x-*', 'arn:aws:sts::1:assumed-role/x-%'],
    ['*a*', '%a%'],
    ['a_%\\*', 'a\\_\\%\\\\%'],
    ['**', '%%'],
  ])('writes glob %s as LIKE %s', (glob, like) => {
    expect(globToLike(glob)).toBe(like);
  });

  it.each([
    ['REST.GET.OBJECT', 'REST.GET.OBJECT'],
    ['REST.GET.*', 'REST.GET.%'],
    ['REST_GET*', 'REST\\_GET%'],
    ['A*B', 'A*B'],
    ['*', '%'],
  ])('writes counted operation %s as LIKE %s (only a trailing * is a wildcard)', (op, like) => {
    expect(operationToLike(op)).toBe(like);
  });
});

describe('principalRows', () => {
  it('ranks exact ARN, session role, access point, canonical id, glob (longest first), account', () => {
    const reg = registry([
      {
        applications: [
          {
            id: 'all',
            name: 'All',
            principals: [
              { account: ACCT },
              { arnGlob: `arn:aws:sts::${ACCT}:*` },
              { arnGlob: `arn:aws:sts::${ACCT}:assumed-role/x-*` },
              { canonicalUserId: 'a'.repeat(64) },
              { accessPoint: `arn:aws:s3:us-east-1:${ACCT}:accesspoint/ap` },
              { arn: `arn:aws:iam::${ACCT}:role/team/Reader` },
            ],
          },
        ],
      },
    ]);
    expect(principalRows(reg).map((r) => [r.rank, r.match_on, r.match_key])).toEqual([
      [1, 'requester', `arn:aws:iam::${ACCT}:role/team/Reader`],
      [2, 'role', `aws:${ACCT}:Reader`],
      [3, 'access-point', `arn:aws:s3:us-east-1:${ACCT}:accesspoint/ap`],
      [4, 'requester', 'a'.repeat(64)],
      [5, 'glob', `arn:aws:sts::${ACCT}:assumed-role/x-%`],
      [6, 'glob', `arn:aws:sts::${ACCT}:%`],
      [7, 'account', ACCT],
    ]);
    expect(new Set(principalRows(reg).map((r) => r.time_zone))).toEqual(new Set(['Europe/Berlin']));
  });

  it('keeps only the first registration of a key, as attribution.ts does', () => {
    const reg = registry([
      {
        applications: [{ id: 'one', name: 'One', principals: [{ arn: `arn:aws:iam::${ACCT}:role/a/R` }] }],
      },
      {
        applications: [
          {
            id: 'two',
            name: 'Two',
            principals: [{ arn: `arn:aws:iam::${ACCT}:role/b/R` }, { account: ACCT }],
          },
        ],
      },
    ]);
    // Two role ARNs, one role name (the registry allows it): the first wins the sessions.
    const rows = principalRows(reg);
    expect(rows.filter((r) => r.match_on === 'role')).toEqual([
      expect.objectContaining({ match_key: `aws:${ACCT}:R`, partner_id: 'p0', application_id: 'one' }),
    ]);
    expect(rows.filter((r) => r.match_on === 'account')).toEqual([
      expect.objectContaining({ match_key: ACCT, partner_id: 'p1', application_id: 'two' }),
    ]);
  });

  it('orders globs of one length by code units, and equal globs by registration', () => {
    const reg = registry([
      { applications: [{ id: 'b', name: 'B', principals: [{ arnGlob: `arn:aws:iam::${ACCT}:user/b*` }] }] },
      { applications: [{ id: 'a', name: 'A', principals: [{ arnGlob: `arn:aws:iam::${ACCT}:user/a*` }] }] },
    ]);
    expect(principalRows(reg).map((r) => r.application_id)).toEqual(['a', 'b']);
  });
});

describe('contractTermRows', () => {
  it('writes each version once per term, in registry order, with open ends as null', () => {
    const reg = registry([
      {
        applications: [{ id: 'a', name: 'A', principals: [{ account: ACCT }] }],
        contracts: [
          {
            id: 'v1',
            effectiveFrom: '2026-01-01',
            effectiveTo: '2026-04-01',
            currency: 'USD',
            datasets: ['feeds/a_b/'],
            counted: { operations: ['REST.GET.*', 'REST.GET.*'], statuses: ['2xx'] },
          },
          { id: 'v2', effectiveFrom: '2026-04-01', currency: 'USD', datasets: ['feeds/'] },
        ],
      },
    ]);
    expect(contractTermRows(reg)).toEqual([
      {
        partner_id: 'p0',
        contract_ordinal: 0,
        contract_id: 'v1',
        effective_from: '2026-01-01',
        effective_to: '2026-04-01',
        term: 'operation',
        match_key: 'REST.GET.%',
      },
      {
        partner_id: 'p0',
        contract_ordinal: 0,
        contract_id: 'v1',
        effective_from: '2026-01-01',
        effective_to: '2026-04-01',
        term: 'status',
        match_key: '2xx',
      },
      {
        partner_id: 'p0',
        contract_ordinal: 0,
        contract_id: 'v1',
        effective_from: '2026-01-01',
        effective_to: '2026-04-01',
        term: 'dataset',
        match_key: 'feeds/a\\_b/%',
      },
      {
        partner_id: 'p0',
        contract_ordinal: 1,
        contract_id: 'v2',
        effective_from: '2026-04-01',
        effective_to: null,
        term: 'operation',
        match_key: 'REST.GET.OBJECT',
      },
      {
        partner_id: 'p0',
        contract_ordinal: 1,
        contract_id: 'v2',
        effective_from: '2026-04-01',
        effective_to: null,
        term: 'status',
        match_key: '2xx',
      },
      {
        partner_id: 'p0',
        contract_ordinal: 1,
        contract_id: 'v2',
        effective_from: '2026-04-01',
        effective_to: null,
        term: 'status',
        match_key: '3xx',
      },
      {
        partner_id: 'p0',
        contract_ordinal: 1,
        contract_id: 'v2',
        effective_from: '2026-04-01',
        effective_to: null,
        term: 'dataset',
        match_key: 'feeds/%',
      },
    ]);
  });
});

describe('ignoredRequesterRows', () => {
  it('marks only the literal - as silencing anonymous requests', () => {
    const reg = registry([{ applications: [{ id: 'a', name: 'A', principals: [{ account: ACCT }] }] }], {
      ignoredRequesters: ['svc:*', '-', '*', 'svc:*'],
    });
    expect(ignoredRequesterRows(reg)).toEqual([
      { match_key: 'svc:%', anonymous: false },
      { match_key: '-', anonymous: true },
      { match_key: '%', anonymous: false },
    ]);
  });
});

describe('toJsonLines', () => {
  it('writes one JSON object a line, so no value can break a line', () => {
    const text = toJsonLines([{ match_key: 'a\nb\r"c' }, { match_key: '\u2028' }]);
    expect(text).toBe('{"match_key":"a\\nb\\r\\"c"}\n{"match_key":"\u2028"}\n');
    expect(text.split('\n')).toHaveLength(3);
  });

  it('is the same text for the same registry', () => {
    const make = () =>
      registry([{ applications: [{ id: 'a', name: 'A', principals: [{ account: ACCT }] }] }]);
    const a = attributionTables(make());
    const b = attributionTables(make());
    expect(toJsonLines(a.principals)).toBe(toJsonLines(b.principals));
    expect(toJsonLines(a.terms)).toBe(toJsonLines(b.terms));
  });
});
