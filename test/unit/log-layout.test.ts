import { describe, expect, it } from 'vitest';
import { detectLayout } from '../../functions/adapters/logs/index.js';

describe('detectLayout', () => {
  it('recognises a SimplePrefix key with a directory prefix', () => {
    expect(detectLayout('/data/logs/acme/2024-03-14-09-30-00-5A1B2C3D4E5F6071')).toEqual({
      layout: 'simple',
      nameTimeMs: Date.UTC(2024, 2, 14, 9, 30, 0),
    });
  });

  it('recognises a SimplePrefix key whose prefix is part of the name, gzipped', () => {
    expect(detectLayout('logs/access-2024-03-14-09-30-00-5A1B2C3D4E5F6071.gz')).toEqual({
      layout: 'simple',
      nameTimeMs: Date.UTC(2024, 2, 14, 9, 30, 0),
    });
  });

  it('recognises a PartitionedPrefix key and reads its partition', () => {
    expect(
      detectLayout(
        '/x/logs/123456789012/eu-west-1/provider-data/2024/03/14/2024-03-14-10-00-00-7A6B5C4D3E2F1A0B',
      ),
    ).toEqual({
      layout: 'partitioned',
      nameTimeMs: Date.UTC(2024, 2, 14, 10, 0, 0),
      partition: {
        sourceAccountId: '123456789012',
        sourceRegion: 'eu-west-1',
        sourceBucket: 'provider-data',
        date: '2024-03-14',
      },
    });
  });

  it('takes a delivery-time partition whose date differs from the name as partitioned', () => {
    const info = detectLayout('123456789012/us-gov-west-1/b.with.dots/2024/03/15/2024-03-14-23-59-59-ABC');
    expect(info.layout).toBe('partitioned');
    expect(info.partition?.date).toBe('2024-03-15');
  });

  it.each([
    ['a partition with an 11-digit account', '12345678901/eu-west-1/b1b/2024/03/14/2024-03-14-10-00-00-AB'],
    ['a partition with a bad region', '123456789012/europe/b1b/2024/03/14/2024-03-14-10-00-00-AB'],
    [
      'a partitioned-looking path whose file name has a prefix',
      '123456789012/eu-west-1/b1b/2024/03/14/x2024-03-14-10-00-00-AB',
    ],
    ['a partition date that does not exist', '123456789012/eu-west-1/b1b/2024/02/30/2024-03-14-10-00-00-AB'],
  ])('falls back to simple for %s', (_what, path) => {
    expect(detectLayout(path).layout).toBe('simple');
    expect(detectLayout(path).partition).toBeUndefined();
  });

  it.each([
    ['notes.log'],
    ['2024-03-14-10-00-00'],
    ['2024-13-14-10-00-00-ABCDEF'],
    ['2024-03-14-24-00-00-ABCDEF'],
    ['2024-03-14-10-00-00-ABCDEF.txt'],
  ])('calls %s unknown', (name) => {
    expect(detectLayout(`/logs/${name}`)).toEqual({ layout: 'unknown' });
  });
});
