/**
 * The AWS path's network columns (functions/adapters/athena/network-sql.ts) against the local engine's
 * rules: real and hostile remote addresses through classifyAddress (networks.ts) and through the SQL,
 * and whole log lines (host header and source region variants) through the local scanner and through
 * the logs table's regex and the SQL. The SQL runs on DuckDB with the one macro the Athena stand-in
 * gives it (regexp_like); athena-sql-grammar.test.ts checks that Trino reads the same text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCESS_LOG_COLUMNS,
  ACCESS_LOG_REGEX_PORTABLE,
} from '../../functions/adapters/athena/access-log-regex.js';
import {
  classifiedAddressesSql,
  SOURCE_ADDRESS_SQL,
  SOURCE_REGION_SQL,
  VPC_ENDPOINT_SQL,
} from '../../functions/adapters/athena/network-sql.js';
import { classifyAddress } from '../../functions/domain/networks.js';
import { scanLines } from '../support/scan-lines.js';

let connection: DuckDBConnection;

beforeAll(async () => {
  const instance = await DuckDBInstance.create(':memory:');
  connection = await instance.connect();
  await connection.run('CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)');
});

afterAll(() => {
  connection.closeSync();
});

const literal = (s: string | undefined) => (s === undefined ? 'NULL' : `'${s.replaceAll("'", "''")}'`);

/** Real addresses (S3 logs, RFC 5952 and RFC 4291 examples) and hostile text, as a remote address field holds it. */
const ADDRESSES = [
  // IPv4
  '198.51.100.23',
  '10.0.0.255',
  '0.0.0.0',
  '255.255.255.255',
  '192.0.2.1',
  '72.21.206.5',
  '1.2.3.4',
  // IPv6, full and compressed, upper and lower case, IPv4-mapped and -compatible
  '2001:db8:85a3::8a2e:370:7334',
  '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
  '2001:DB8::1',
  '2001:db8:0:0:1:0:0:1',
  '2001:db8::',
  '2001:db8:1200::',
  '2600:1f18:24e6:b902::e7c',
  'fe80::1',
  '::1',
  '::',
  '::ffff:192.0.2.1',
  '::ffff:c000:201',
  '::192.0.2.1',
  '64:ff9b::198.51.100.23',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '1::8',
  '0:0:1::',
  '0000:0000:0001::',
  'ABCD:EF01:2345:6789:ABCD:EF01:2345:6789',
  '1:2:3:4:5:6:192.0.2.1',
  '1:2:3:4:5::192.0.2.1',
  // none
  '-',
  // junk
  'AmazonS3',
  'localhost',
  '198.51.100.023',
  '256.0.0.1',
  '1.2.3',
  '1.2.3.4.5',
  '1.2.3.',
  '.1.2.3',
  '1:2:3:4:5:6:7:8:9',
  '1::2::3',
  ':::',
  ':1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:',
  '1:2:3:4:5:6:7::8',
  '::1:2:3:4:5:6:7:8',
  '12345::1',
  '1.2.3.4::',
  '1.2.3.4:1::',
  '::1.2.3.4:1',
  '::256.1.1.1',
  '::1.2.3.04',
  '1:2:3:4:5:6:7:1.2.3.4',
  'g::1',
  ':',
  ':::1',
  '[::1]',
  '::1%eth0',
  '2001:db8::1/64',
  `${'0:'.repeat(22)}1`,
  '１.２.３.４',
  "1.2.3.4' OR '1'='1",
  '%31.2.3.4',
  'fe80::1\u2028',
  '1.2.3.4\u0085',
];

describe('the remote address in Trino SQL', () => {
  it('classifies every address exactly as the local engine does', async () => {
    const rows = ADDRESSES.map((a) => `SELECT ${literal(a)} AS source_address`).join('\nUNION ALL\n');
    const reader = await connection.runAndReadAll(
      `SELECT source_address, address_class, source_prefix, address_key FROM (${classifiedAddressesSql(rows)}) t`,
    );
    const got = new Map(reader.getRows().map((r) => [String(r[0]), r.slice(1).map(String)]));
    expect(got.size).toBe(ADDRESSES.length);
    for (const address of ADDRESSES) {
      const local = classifyAddress(address);
      expect({ address, sql: got.get(address) }).toEqual({
        address,
        sql: [local.class, local.prefix, local.key],
      });
    }
    // The list holds each kind, so the comparison cannot pass by everything being unparsed.
    const classes = new Set(ADDRESSES.map((a) => classifyAddress(a).class));
    expect([...classes].sort()).toEqual(['ipv4', 'ipv6', 'none', 'unparsed']);
  });
});

const corpusLine = readFileSync(join(import.meta.dirname, '../fixtures/logs/log-lines-corpus.txt'), 'utf8')
  .split('\n')
  .find((l) => l.startsWith('counted\t') && l.endsWith(' eu-central-1'))!
  .slice('counted\t'.length);

/** The line with its fields from the 4th (remote address) and the 23rd (host header) on replaced. */
function lineWith(address: string, host: string, tail: string): string {
  const m = /^(\S* \S* \[[^\]]*\] )\S*( .*" )(\S* \S* \S* \S* \S*) \S* .*$/.exec(corpusLine);
  if (!m) throw new Error('the corpus line does not have the expected shape');
  // Fields 18-22 (version id, host id, signature, cipher, auth type) kept; 23 (host) replaced; what follows as `tail`.
  return `${m[1]}${address}${m[2]}${m[3]} ${host}${tail}`;
}

/** The network rows the local scanner makes of one line: address, vpce, region. */
function scanned(line: string): string[] {
  const { batch, strings: s } = scanLines([line]);
  const n = batch.network;
  return Array.from({ length: n.count }, (_, i) =>
    [s[n.address[i]!], s[n.vpce[i]!], s[n.region[i]!]].join(' '),
  );
}

const HOSTS = [
  'bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com',
  'vpce-0a1b2c3d4e5f60718-abcdefgh.s3.eu-west-1.vpce.amazonaws.com',
  'bucket.VPCE-0A1B2C3D-x.s3.eu-west-1.vpce.amazonaws.com',
  'bucket.s3.us-east-1.amazonaws.com',
  'meteo-feeds-prod.s3.eu-central-1.amazonaws.com',
  '.vpce.amazonaws.com',
  'x.vpce.amazonaws.com',
  'vpce-12.vpce.amazonaws.com',
  'bucket.vpce-zz.s3.vpce.amazonaws.com',
  'bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com.evil.example',
  'bucket.avpce-1a2b.s3.vpce.amazonaws.com',
  'bucket.vpce-1a2b.s3.VPCE.amazonaws.com',
  '-',
  '',
];

/** Trailing fields after the host: TLS version, access point, ACL required, source region (or fewer). */
const TAILS = [
  ' TLSv1.3 - - eu-central-1',
  ' TLSv1.3 - - -',
  ' TLSv1.3 - - ',
  ' TLSv1.3 - -',
  ' TLSv1.3',
  '',
];

describe('the host header and source region in Trino SQL', () => {
  it('gives every line the VPC endpoint and region the local scanner gives it', async () => {
    const regex = new RegExp(ACCESS_LOG_REGEX_PORTABLE);
    const ip = ACCESS_LOG_COLUMNS.indexOf('remoteip') + 1;
    const endpoint = ACCESS_LOG_COLUMNS.indexOf('endpoint') + 1;
    const region = ACCESS_LOG_COLUMNS.indexOf('sourceregion') + 1;
    const cases: { line: string; local: string[] }[] = [];
    const rows: string[] = [];
    for (const host of HOSTS) {
      for (const tail of TAILS) {
        const line = lineWith(host === '' ? '2001:db8::1' : '198.51.100.23', host, tail);
        const m = regex.exec(line);
        if (!m) throw new Error(`the logs table's regex does not read ${line}`);
        // As the Glue table (and the stand-in) reads a trailing group: absent or empty is NULL.
        const field = (i: number) => (i > 17 && !m[i] ? undefined : m[i]);
        rows.push(
          `SELECT ${cases.length} AS n, ${literal(field(ip))} AS remoteip, ${literal(field(endpoint))} AS endpoint, ${literal(field(region))} AS sourceregion`,
        );
        cases.push({ line, local: scanned(line) });
      }
    }
    const reader = await connection.runAndReadAll(
      `SELECT n, ${SOURCE_ADDRESS_SQL}, ${VPC_ENDPOINT_SQL}, ${SOURCE_REGION_SQL} FROM (${rows.join(' UNION ALL ')}) t ORDER BY n`,
    );
    const sql = reader.getRows().map((r) => [String(r[1]), String(r[2]), String(r[3])].join(' '));
    expect(sql).toHaveLength(cases.length);
    cases.forEach((c, i) => {
      expect({ line: c.line, sql: [sql[i]] }).toEqual({ line: c.line, sql: c.local });
    });
    // Endpoints and regions were found, and not only `-`.
    expect(new Set(sql.map((s) => s.split(' ')[1])).size).toBeGreaterThan(2);
    expect(new Set(sql.map((s) => s.split(' ')[2]))).toEqual(new Set(['eu-central-1', '-']));
  });
});
