import { describe, expect, it } from 'vitest';
import { likeLiteralPrefix } from '../../functions/adapters/duckdb/usage-aggregation.js';
import { globToLike } from '../../functions/domain/attribution-table.js';

describe('likeLiteralPrefix', () => {
  it.each([
    ['arn:aws:sts::111122223333:assumed-role/app2-*', 'arn:aws:sts::111122223333:assumed-role/app2-'],
    ['*', ''],
    ['*-suffix', ''],
    ['no-wildcard', 'no-wildcard'],
    ['100%_sure\\*', '100%_sure\\'],
    ['a_b%c\\d*e*', 'a_b%c\\d'],
    ['ünï/cødé*', 'ünï/cødé'],
  ])('gives the literal text before the first wildcard of the glob %j', (glob, prefix) => {
    expect(likeLiteralPrefix(globToLike(glob))).toBe(prefix);
  });

  it('stops at an unescaped _ as LIKE reads it, though registry globs never hold one', () => {
    expect(likeLiteralPrefix('ab_c')).toBe('ab');
  });
});
