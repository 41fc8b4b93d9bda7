import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../../functions/adapters/logs/index.js';

describe('parseManifest', () => {
  const manifest = parseManifest(
    [
      '# records per object',
      'key_or_prefix,records',
      'weather/daily/2024-03-13.csv,1440',
      'weather/daily/,1000',
      'weather/,1',
      '',
      '"sales,eu/q1.csv",90',
      '"say ""hi"".csv", 7 ',
      'big/object.bin,123456789012345678901234567890',
    ].join('\r\n'),
    'manifest.csv',
  );

  it.each([
    ['weather/daily/2024-03-13.csv', 1440n, 'the exact key wins over its prefix'],
    ['weather/daily/2024-03-12.csv', 1000n, 'the longest prefix'],
    ['weather/hourly/2024-03-12.csv', 1n, 'a shorter prefix when no longer one is listed'],
    ['weather/x.csv', 1n, 'a prefix covering a key directly inside it'],
    ['sales,eu/q1.csv', 90n, 'a quoted key with a comma'],
    ['say "hi".csv', 7n, 'a quoted key with doubled quotes, records trimmed'],
    ['big/object.bin', 123456789012345678901234567890n, 'counts beyond 2^53 kept exactly'],
    ['other/a.csv', 0n, 'no entry'],
    ['weather', 0n, 'the prefix without its slash is not under it'],
    ['/weather/daily/a.csv', 0n, 'a leading slash is a different key'],
  ])('gives %s -> %s (%s)', (key, records) => {
    expect(manifest.recordsFor(key)).toBe(records);
  });

  it('counts exact keys and prefixes', () => {
    expect(manifest.exactKeys).toBe(4);
    expect(manifest.prefixes).toBe(2);
    expect(manifest.source).toBe('manifest.csv');
  });

  it('reads a manifest without a header', () => {
    expect(parseManifest('a/b.csv,3\n', 'm.csv').recordsFor('a/b.csv')).toBe(3n);
  });

  it('hashes what the entries say, not how they are written', () => {
    const a = parseManifest('# v1\nkey_or_prefix,records\nb/,2\na.csv,1\n', 'a.csv');
    const b = parseManifest('a.csv, 1\n\nb/,2', 'b.csv');
    const c = parseManifest('a.csv,1\nb/,3\n', 'c.csv');
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).toBe(b.hash);
    expect(a.hash).not.toBe(c.hash);
  });

  it.each([
    ['a.csv,many', 1, 'records must be a whole number, got "many"'],
    ['a.csv,-3', 1, 'records must be a whole number'],
    ['# c\na.csv 3', 2, 'no comma found'],
    ['a.csv,1\n,2', 2, 'the key or prefix is empty'],
    ['a.csv,1\nb.csv,2\na.csv,3', 3, '"a.csv" is already listed on line 1'],
    ['"a.csv,1', 1, 'no closing quote'],
    ['"a.csv" 1', 1, 'expected a comma after the quoted key'],
    ['key_or_prefix,records\nkey_or_prefix,records', 2, 'records must be a whole number'],
  ])('rejects %j at line %i', (text, line, message) => {
    let error: unknown;
    try {
      parseManifest(text, 'data/manifest.csv');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManifestError);
    const e = error as ManifestError;
    expect(e.name).toBe('ManifestError');
    expect(e.line).toBe(line);
    expect(e.message).toContain(`data/manifest.csv:${line}: `);
    expect(e.message).toContain(message);
  });
});
