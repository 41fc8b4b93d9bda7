import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_LOG_COLUMNS,
  ACCESS_LOG_REGEX,
  ACCESS_LOG_REGEX_PORTABLE,
  type AccessLogColumn,
} from '../../functions/adapters/athena/access-log-regex.js';

// JavaScript reads the portable form (no possessive quantifiers or atomic groups); the Java form is
// exercised through `java` in test/reliability/log-regex-redos.test.ts.
const re = new RegExp(ACCESS_LOG_REGEX_PORTABLE);

/** What the RegexSerDe would put in each column: the group, or null where it did not take part. */
function columns(line: string): Record<AccessLogColumn, string | null> | undefined {
  const m = re.exec(line);
  if (!m) return undefined;
  return Object.fromEntries(ACCESS_LOG_COLUMNS.map((c, i) => [c, m[i + 1] ?? null])) as Record<
    AccessLogColumn,
    string | null
  >;
}

const OWNER = '5e7c1d0a9b8f7e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b3a2918070f1e';

/** The 27 fields of one modern line, as written in the log (quoted fields with their quotes). */
const MODERN = [
  OWNER,
  'meteo-feeds-prod',
  '[14/Mar/2026:09:12:44 +0000]',
  '198.51.100.23',
  'arn:aws:sts::111122223333:assumed-role/ingest-nightly/i-0abc12de',
  'TZ8R2M4QK1V7PXYA',
  'REST.GET.OBJECT',
  'feeds/weather/2026/03/14/obs-0900.csv',
  '"GET /feeds/weather/2026/03/14/obs-0900.csv?x-id=GetObject HTTP/1.1"',
  '200',
  '-',
  '48213',
  '48213',
  '37',
  '11',
  '"-"',
  '"aws-sdk-java/2.25.6 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9"',
  '-',
  'kQ2v9xT0bYc4Lr7Zp1Wm8Na3Ue6Jd5Hs0Fg2Bi9Ck4Ol7Pq1Rt3Sv5Xw8Yz0Ab=',
  'SigV4',
  'TLS_AES_128_GCM_SHA256',
  'AuthHeader',
  'meteo-feeds-prod.s3.eu-central-1.amazonaws.com',
  'TLSv1.3',
  '-',
  '-',
  'eu-central-1',
];

function lineOf(fields: readonly string[]): string {
  return fields.join(' ');
}

describe('ACCESS_LOG_REGEX', () => {
  it('has exactly one capture group per column, 27 in all', () => {
    const groups = (new RegExp(`${ACCESS_LOG_REGEX_PORTABLE}|`).exec('')?.length ?? 0) - 1;
    expect(groups).toBe(27);
    expect(ACCESS_LOG_COLUMNS).toHaveLength(27);
  });

  it('uses only constructs that Java, RE2 and JavaScript read alike (in its portable form)', () => {
    // lookaround and back references are not RE2; possessive quantifiers are not RE2 or JavaScript
    expect(ACCESS_LOG_REGEX_PORTABLE).not.toMatch(/\(\?[=!<>]/);
    expect(ACCESS_LOG_REGEX_PORTABLE).not.toMatch(/\\[1-9]/);
    expect(ACCESS_LOG_REGEX_PORTABLE).not.toMatch(/[*+?}]\+/);
    // `.` and the \s \S \d classes differ between the engines (line terminators, Unicode spaces)
    expect(ACCESS_LOG_REGEX_PORTABLE.replace(/\\./g, '')).not.toMatch(/\./);
    expect(ACCESS_LOG_REGEX_PORTABLE).not.toMatch(/\\[sSdDwW]/);
    expect(ACCESS_LOG_REGEX_PORTABLE.startsWith('^')).toBe(true);
    expect(ACCESS_LOG_REGEX_PORTABLE.endsWith('$')).toBe(true);
  });

  it('differs in its Java form only by possessive quantifiers, one atomic group and one lookahead', () => {
    expect(ACCESS_LOG_REGEX).not.toMatch(/\\[1-9]/);
    expect(ACCESS_LOG_REGEX).not.toMatch(/\(\?[!<]/);
    expect(ACCESS_LOG_REGEX.match(/\(\?>/g)).toHaveLength(1);
    expect(ACCESS_LOG_REGEX.match(/\(\?=/g)).toEqual(['(?=']);
    expect(ACCESS_LOG_REGEX.match(/[*+]\+/g)?.length).toBeGreaterThan(0);
    const stripped = ACCESS_LOG_REGEX.replaceAll('(?>', '(?:')
      .replaceAll('(?=["-])', '')
      .replaceAll('*+', '*')
      .replaceAll('++', '+');
    expect(stripped).toBe(ACCESS_LOG_REGEX_PORTABLE);
  });

  it('reads every field of a modern 27-field line', () => {
    const c = columns(lineOf(MODERN));
    expect(c).toEqual(
      Object.fromEntries(
        ACCESS_LOG_COLUMNS.map((name, i) => [name, i === 2 ? MODERN[i]!.slice(1, -1) : MODERN[i]]),
      ),
    );
    expect(c?.requestdatetime).toBe('14/Mar/2026:09:12:44 +0000');
  });

  it.each([17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27])(
    'fills exactly the first %i columns of a %i-field line, leaving the rest NULL',
    (n) => {
      const fields = MODERN.slice(0, n);
      const c = columns(lineOf(fields));
      expect(c).toBeDefined();
      ACCESS_LOG_COLUMNS.forEach((name, i) => {
        const expected = i < n ? (i === 2 ? fields[i]!.slice(1, -1) : fields[i]) : null;
        expect(c?.[name], name).toBe(expected);
      });
    },
  );

  it('reads an old 18-field line that ends with the version id', () => {
    const line =
      `${OWNER} archive-bucket [03/Nov/2016:22:41:09 -0500] 203.0.113.9 ${OWNER} 7D1F0A2B3C4E5F60 ` +
      'REST.GET.OBJECT photos/2016/cat.jpg "GET /archive-bucket/photos/2016/cat.jpg HTTP/1.1" 200 - ' +
      '112233 112233 120 45 "http://example.org/gallery" "Mozilla/5.0 (Windows NT 6.1)" 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY';
    const c = columns(line);
    expect(c?.requestdatetime).toBe('03/Nov/2016:22:41:09 -0500');
    expect(c?.bytessent).toBe('112233');
    expect(c?.useragent).toBe('"Mozilla/5.0 (Windows NT 6.1)"');
    expect(c?.versionid).toBe('3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY');
    expect(c?.hostid).toBeNull();
  });

  it('ignores fields after the 27th', () => {
    const line = `${lineOf(MODERN)} some-new-field a-future-field 42`;
    const c = columns(line);
    expect(c?.sourceregion).toBe('eu-central-1');
    expect(c?.useragent).toBe(MODERN[16]);
  });

  it('reads a quote in a field after the 27th as part of the user agent, which ends at the last quote', () => {
    // S3 writes no quote after the user agent; one there cannot be told from a forged agent.
    const line = `${lineOf(MODERN)} some-new-field "a quoted, future field" 42`;
    const c = columns(line);
    expect(c?.useragent).toBe(`${MODERN.slice(16).join(' ')} some-new-field "a quoted, future field"`);
    expect(c?.versionid).toBe('42');
    expect(c?.sourceregion).toBeNull();
  });

  it('keeps unescaped quotes inside the user agent and aligns the fields after it', () => {
    const fields = [...MODERN];
    fields[16] = '"Mozilla/5.0 "compatible; Feedbot/2.1" (+https://bot.example/"about")"';
    const c = columns(lineOf(fields));
    expect(c?.useragent).toBe(fields[16]);
    expect(c?.hostid).toBe(MODERN[18]);
    expect(c?.sourceregion).toBe('eu-central-1');
  });

  it('keeps an unescaped quote followed by a space inside the user agent', () => {
    const fields = [...MODERN];
    fields[16] = '"curl/8.4 "my agent" x"';
    const c = columns(lineOf(fields.slice(0, 24)));
    expect(c?.useragent).toBe('"curl/8.4 "my agent" x"');
    expect(c?.versionid).toBe('-');
    expect(c?.tlsversion).toBe('TLSv1.3');
  });

  it('keeps an unescaped quote inside the request-URI and still reads the status and bytes', () => {
    const fields = [...MODERN];
    fields[7] = 'feeds/weather/odd%22name.csv';
    fields[8] = '"GET /feeds/weather/odd"name.csv HTTP/1.1"';
    const c = columns(lineOf(fields));
    expect(c?.request_uri).toBe('"GET /feeds/weather/odd"name.csv HTTP/1.1"');
    expect(c?.httpstatus).toBe('200');
    expect(c?.bytessent).toBe('48213');
  });

  it.each([
    ['BATCH.DELETE.OBJECT', '204'],
    ['S3.EXPIRE.OBJECT', '-'],
    ['REST.COPY.OBJECT_GET', '200'],
  ])('reads bare - request-URI, referer and user agent of %s lines', (operation, status) => {
    const line =
      `${OWNER} meteo-feeds-prod [15/Mar/2026:00:31:02 +0000] - AmazonS3 9QX2M7V1K0A4B8C3 ` +
      `${operation} feeds/tmp/old.csv - ${status} - - 9812 - - - - - - - - - -`;
    const c = columns(line);
    expect(c?.requester).toBe('AmazonS3');
    expect(c?.operation).toBe(operation);
    expect(c?.request_uri).toBe('-');
    expect(c?.httpstatus).toBe(status);
    expect(c?.referrer).toBe('-');
    expect(c?.useragent).toBe('-');
    expect(c?.versionid).toBe('-');
    expect(c?.authtype).toBe('-');
  });

  it('reads a quoted "-" as written', () => {
    const c = columns(lineOf(MODERN));
    expect(c?.referrer).toBe('"-"');
  });

  it('reads an access point request and a ranged GET', () => {
    const fields = [...MODERN];
    fields[9] = '206';
    fields[11] = '1048576';
    fields[24] = 'arn:aws:s3:eu-central-1:444455556666:accesspoint/partner-reader';
    fields[25] = 'Yes';
    const c = columns(lineOf(fields));
    expect(c?.httpstatus).toBe('206');
    expect(c?.accesspointarn).toBe('arn:aws:s3:eu-central-1:444455556666:accesspoint/partner-reader');
    expect(c?.aclrequired).toBe('Yes');
  });

  it.each([
    ['a canonical user id', OWNER],
    ['an IAM user ARN', 'arn:aws:iam::444455556666:user/etl-reader'],
    ['a service principal', 'svc:logging.s3.amazonaws.com'],
    ['AmazonS3', 'AmazonS3'],
    ['anonymous', '-'],
  ])('reads %s as requester', (_, requester) => {
    const fields = [...MODERN];
    fields[4] = requester;
    expect(columns(lineOf(fields))?.requester).toBe(requester);
  });

  it('reads - in every field that may hold it', () => {
    const fields = MODERN.map((f, i) => (i === 2 ? f : '-'));
    fields[9] = '-';
    const c = columns(lineOf(fields));
    expect(c?.httpstatus).toBe('-');
    expect(c?.bytessent).toBe('-');
    expect(c?.sourceregion).toBe('-');
  });

  it('tolerates trailing spaces', () => {
    expect(columns(`${lineOf(MODERN)}  `)?.sourceregion).toBe('eu-central-1');
    expect(columns(`${lineOf(MODERN.slice(0, 24))} `)?.tlsversion).toBe('TLSv1.3');
  });

  it.each([
    ['an empty line', ''],
    ['garbage', '\u0000\u0001 binary junk \uFFFD'],
    ['a line cut inside the request-URI', lineOf(MODERN).slice(0, 230)],
    ['a line cut inside the user agent', lineOf(MODERN.slice(0, 17)).slice(0, -10)],
    ['a 16-field line (no user agent)', lineOf(MODERN.slice(0, 16))],
    ['a status that is not 3 digits', lineOf(MODERN.map((f, i) => (i === 9 ? '2000' : f)))],
    ['bytes sent that are not a number', lineOf(MODERN.map((f, i) => (i === 11 ? '12k' : f)))],
    ['a total time that is not a number', lineOf(MODERN.map((f, i) => (i === 13 ? '3.5' : f)))],
    ['a time without brackets', lineOf(MODERN.map((f, i) => (i === 2 ? '14/Mar/2026:09:12:44' : f)))],
  ])('does not match %s', (_, line) => {
    expect(re.test(line)).toBe(false);
  });

  it('fails fast on a long line that almost matches', () => {
    const noise = Array.from({ length: 1000 }, () => '"x"').join(' ');
    const fields = [...MODERN.slice(0, 15), noise, noise, 'v1', 'h"ost'];
    const t0 = performance.now();
    expect(re.test(lineOf(fields))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('recovers generated fields of any generation, with quotes anywhere inside the user agent', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9._:/+=-]{1,20}$/);
    const agentText = fc
      .array(fc.oneof(token, fc.constant('"'), fc.constant(' '), fc.constant('"x y"')), { maxLength: 12 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(
        fc.integer({ min: 17, max: 29 }),
        agentText,
        fc.array(token, { minLength: 10, maxLength: 10 }),
        fc.constantFrom('200', '206', '304', '403', '-'),
        (n, agent, trailing, status) => {
          const fields = [...MODERN];
          fields[9] = status;
          fields[16] = `"${agent}"`;
          trailing.forEach((t, i) => {
            fields[17 + i] = t;
          });
          const written = [...fields, 'extra1', 'extra2'].slice(0, n);
          const c = columns(lineOf(written));
          expect(c).toBeDefined();
          ACCESS_LOG_COLUMNS.forEach((name, i) => {
            const expected = i < n ? (i === 2 ? written[i]!.slice(1, -1) : written[i]) : null;
            expect(c?.[name]).toBe(expected);
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
