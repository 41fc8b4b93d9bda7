/**
 * Every counted line of the log-line corpus (test/fixtures/logs/log-lines-corpus.txt: each rule of
 * LOG-LINES.md, quotes in odd places, 17 to 27+ fields) gets its network class from its remote address
 * field, and keeps it when that field is an IPv6 address, `-`, or empty. No real S3 line with an IPv6
 * remote address was at hand here: those variants are the corpus lines with the fourth field replaced
 * (S3 writes the address as text, `2001:db8::1`, in that field, as it writes an IPv4 one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanLines } from '../support/scan-lines.js';

const counted = readFileSync(join(import.meta.dirname, '../fixtures/logs/log-lines-corpus.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('counted\t'))
  .map((l) => l.slice('counted\t'.length));

/** The classes and prefixes of the network rows of one line, and its rollup requests. */
function networkOf(line: string): { rows: string[]; requests: number } {
  const { batch, strings: s } = scanLines([line]);
  const n = batch.network;
  const rows = Array.from(
    { length: n.count },
    (_, i) => `${s[n.addressClass[i]!]} ${s[n.prefix[i]!]} ${n.requests[i]}`,
  );
  return { rows, requests: batch.requests.reduce((a, b) => a + b, 0) };
}

/** The line with its remote address field (the fourth, after the bracketed time) replaced. */
function withAddress(line: string, address: string): string {
  return line.replace(/^(\S* \S* \[[^\]]*\] )\S*/, `$1${address}`);
}

describe('network classes of the log-line corpus', () => {
  it('has counted lines to classify', () => {
    expect(counted.length).toBeGreaterThan(25);
  });

  it.each(counted.map((line, i) => [i, line]))(
    'classifies counted line %i by its remote address',
    (_i, line) => {
      const logged = /^\S* \S* \[[^\]]*\] (\S*)/.exec(line)![1]!;
      const expected =
        logged === '198.51.100.23'
          ? 'ipv4 198.51.100.0/24 1'
          : logged === '-'
            ? 'none - 1'
            : `unparsed ${logged} 1`;
      expect(networkOf(line)).toEqual({ rows: [expected], requests: 1 });
      expect(networkOf(withAddress(line, '2001:db8:85a3::8a2e:370:7334'))).toEqual({
        rows: ['ipv6 2001:db8:85a3::/48 1'],
        requests: 1,
      });
      expect(networkOf(withAddress(line, '-'))).toEqual({ rows: ['none - 1'], requests: 1 });
    },
  );
});
