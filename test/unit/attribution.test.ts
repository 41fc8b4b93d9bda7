import { describe, expect, it } from 'vitest';
import { buildAttributor, globToRegExp, isIgnoredRequester } from '../../functions/domain/attribution.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';

const ACCT = '111122223333';
const OTHER = '444455556666';
const CANONICAL = 'a'.repeat(64);
const AP = `arn:aws:s3:us-east-1:${ACCT}:accesspoint/reports`;

/** Each application holds one principal, so the application id tells which principal matched. */
function registryWith(principals: Record<string, object>, settings?: object): Registry {
  return parseRegistry(
    JSON.stringify({
      version: 1,
      provider: { name: 'Provider', noticeFrom: 'p@provider.example', contactEmail: 'p@provider.example' },
      ...(settings ? { settings } : {}),
      partners: [
        {
          id: 'acme',
          name: 'Acme',
          timeZone: 'UTC',
          accountOwners: [{ email: 'o@acme.example' }],
          applications: Object.entries(principals).map(([id, p]) => ({ id, name: id, principals: [p] })),
          contracts: [{ id: 'c1', effectiveFrom: '2026-01-01', currency: 'USD', datasets: ['feeds/'] }],
        },
      ],
    }),
    'test',
  );
}

const all = {
  exact: { arn: `arn:aws:sts::${ACCT}:assumed-role/ingest-prod/run-1` },
  role: { arn: `arn:aws:iam::${ACCT}:role/team/ingest-prod` },
  'access-point': { accessPoint: AP },
  canonical: { canonicalUserId: CANONICAL },
  'glob-long': { arnGlob: `arn:aws:sts::${ACCT}:assumed-role/ingest-*` },
  'glob-short': { arnGlob: `arn:aws:sts::${ACCT}:*` },
  account: { account: ACCT },
};

/** The registry minus some principals, to see who wins once the more specific ones are gone. */
function without(...ids: (keyof typeof all)[]): Registry {
  return registryWith(Object.fromEntries(Object.entries(all).filter(([id]) => !ids.includes(id as never))));
}

describe('buildAttributor', () => {
  const session = `arn:aws:sts::${ACCT}:assumed-role/ingest-prod/run-1`;

  it.each([
    { removed: [], expected: 'exact' },
    { removed: ['exact'], expected: 'role' },
    { removed: ['exact', 'role'], expected: 'access-point' },
    { removed: ['exact', 'role', 'access-point'], expected: 'glob-long' },
    { removed: ['exact', 'role', 'access-point', 'glob-long'], expected: 'glob-short' },
    { removed: ['exact', 'role', 'access-point', 'glob-long', 'glob-short'], expected: 'account' },
  ] as { removed: (keyof typeof all)[]; expected: string }[])(
    'prefers the most specific principal: without $removed it is $expected',
    ({ removed, expected }) => {
      const attribute = buildAttributor(without(...removed));
      expect(attribute(session, AP)).toEqual({ partnerId: 'acme', applicationId: expected });
    },
  );

  it('prefers an access point over a canonical user id', () => {
    const attribute = buildAttributor(
      registryWith({ ap: { accessPoint: AP }, cu: { canonicalUserId: CANONICAL } }),
    );
    expect(attribute(CANONICAL, AP)?.applicationId).toBe('ap');
    expect(attribute(CANONICAL, '-')?.applicationId).toBe('cu');
  });

  it('prefers a canonical user id over a glob that also matches it', () => {
    const attribute = buildAttributor(
      registryWith({ cu: { canonicalUserId: CANONICAL }, any: { arnGlob: `arn:aws:iam::${ACCT}:*` } }),
    );
    expect(attribute(CANONICAL, '-')?.applicationId).toBe('cu');
  });

  it('matches an IAM user ARN exactly and nothing else by it', () => {
    const attribute = buildAttributor(registryWith({ u: { arn: `arn:aws:iam::${ACCT}:user/etl` } }));
    expect(attribute(`arn:aws:iam::${ACCT}:user/etl`, '-')?.applicationId).toBe('u');
    expect(attribute(`arn:aws:iam::${ACCT}:user/etl2`, '-')).toBeUndefined();
  });

  it('matches any session of an IAM role, by role name, in the same account only', () => {
    const attribute = buildAttributor(registryWith({ r: { arn: `arn:aws:iam::${ACCT}:role/path/reader` } }));
    expect(attribute(`arn:aws:sts::${ACCT}:assumed-role/reader/s1`, '-')?.applicationId).toBe('r');
    expect(attribute(`arn:aws:sts::${OTHER}:assumed-role/reader/s1`, '-')).toBeUndefined();
    expect(attribute(`arn:aws:sts::${ACCT}:assumed-role/reader2/s1`, '-')).toBeUndefined();
  });

  it('lets * in a glob run across / and anchors both ends', () => {
    const attribute = buildAttributor(
      registryWith({ g: { arnGlob: `arn:aws:sts::${ACCT}:assumed-role/ingest-*` } }),
    );
    expect(attribute(`arn:aws:sts::${ACCT}:assumed-role/ingest-a/session/x`, '-')?.applicationId).toBe('g');
    expect(attribute(`arn:aws:sts::${ACCT}:assumed-role/ingest`, '-')).toBeUndefined();
    expect(attribute(`xarn:aws:sts::${ACCT}:assumed-role/ingest-a/s`, '-')).toBeUndefined();
  });

  it('treats glob metacharacters other than * literally', () => {
    expect(globToRegExp('arn:aws:iam::1:user/a.b*').test('arn:aws:iam::1:user/aXb1')).toBe(false);
    expect(globToRegExp('arn:aws:iam::1:user/a.b*').test('arn:aws:iam::1:user/a.b1')).toBe(true);
  });

  it('matches an account against both IAM and STS ARNs in it, and not a canonical id or another account', () => {
    const attribute = buildAttributor(registryWith({ a: { account: ACCT } }));
    expect(attribute(`arn:aws:iam::${ACCT}:user/x`, '-')?.applicationId).toBe('a');
    expect(attribute(`arn:aws:sts::${ACCT}:assumed-role/r/s`, '-')?.applicationId).toBe('a');
    expect(attribute(`arn:aws:sts::${OTHER}:assumed-role/r/s`, '-')).toBeUndefined();
    expect(attribute(CANONICAL, '-')).toBeUndefined();
  });

  it('matches an access point only when the row came through it', () => {
    const attribute = buildAttributor(registryWith({ ap: { accessPoint: AP } }));
    expect(attribute(`arn:aws:iam::${OTHER}:user/x`, AP)?.applicationId).toBe('ap');
    expect(attribute(`arn:aws:iam::${OTHER}:user/x`, '-')).toBeUndefined();
  });

  it('gives the same answer from its memo as the first time', () => {
    const attribute = buildAttributor(registryWith({ a: { account: ACCT } }));
    const first = attribute(`arn:aws:iam::${ACCT}:user/x`, '-');
    expect(attribute(`arn:aws:iam::${ACCT}:user/x`, '-')).toBe(first);
    expect(attribute('-', '-')).toBeUndefined();
    expect(attribute('-', '-')).toBeUndefined();
  });
});

describe('isIgnoredRequester', () => {
  const reg = registryWith({ a: { account: ACCT } });

  it.each([
    ['svc:logging.s3.amazonaws.com', true],
    ['AmazonS3', true],
    ['AmazonS3x', false],
    [`arn:aws:iam::${ACCT}:user/x`, false],
    ['-', false],
  ])('with the default settings, %s is ignored: %s', (requester, ignored) => {
    expect(isIgnoredRequester(reg, requester)).toBe(ignored);
  });

  it('does not let a catch-all glob silence anonymous requests', () => {
    const broad = registryWith({ a: { account: ACCT } }, { ignoredRequesters: ['*'] });
    expect(isIgnoredRequester(broad, 'arn:aws:iam::1:user/x')).toBe(true);
    expect(isIgnoredRequester(broad, '-')).toBe(false);
  });

  it('ignores anonymous requests when the registry lists - itself', () => {
    const listed = registryWith({ a: { account: ACCT } }, { ignoredRequesters: ['-'] });
    expect(isIgnoredRequester(listed, '-')).toBe(true);
  });
});
