import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type LineError,
  type ParsedLine,
  type ParseResult,
  parseAccessLogLine,
} from '../../functions/adapters/logs/index.js';

const OWNER = '3f0a4c1b9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a';
const HOST_ID = 'Zk8xQmJ0c3dWbGp1c0tHd2ZkYm9OZz09aGVsbG8gd29ybGQ+/xyz+4BmQ=';
const AP = 'arn:aws:s3:eu-west-1:444455556666:accesspoint/acme-ap';

function parsed(line: string): ParsedLine {
  const r: ParseResult = parseAccessLogLine(line);
  if (!r.ok) throw new Error(`expected a parsed line, got ${r.reason}: ${r.detail}`);
  return r;
}

function rejected(line: string): LineError {
  const r = parseAccessLogLine(line);
  if (r.ok) throw new Error('expected a malformed line, but it parsed');
  return r;
}

/** 14 Mar 2024 09:26:53 UTC. */
const T = Date.UTC(2024, 2, 14, 9, 26, 53);

describe('parseAccessLogLine: field generations', () => {
  it('reads all 27 fields of a current line with an access point', () => {
    const line =
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] 203.0.113.17 arn:aws:iam::111122223333:user/acme-etl ` +
      `7D2F1A9C3B5E4D60 REST.GET.OBJECT weather/daily/2024-03-13.csv ` +
      `"GET /weather/daily/2024-03-13.csv HTTP/1.1" 200 - 52431 52431 41 12 "-" ` +
      `"aws-sdk-java/2.25.1 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.10" 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY ` +
      `${HOST_ID} SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader provider-data.s3.eu-west-1.amazonaws.com TLSv1.3 ` +
      `${AP} Yes eu-west-1`;
    expect(parsed(line)).toEqual({
      ok: true,
      bucketOwner: OWNER,
      bucket: 'provider-data',
      time: '14/Mar/2024:09:26:53 +0000',
      timeMs: T,
      remoteIp: '203.0.113.17',
      requester: 'arn:aws:iam::111122223333:user/acme-etl',
      requestId: '7D2F1A9C3B5E4D60',
      operation: 'REST.GET.OBJECT',
      key: 'weather/daily/2024-03-13.csv',
      requestUri: 'GET /weather/daily/2024-03-13.csv HTTP/1.1',
      httpStatus: '200',
      errorCode: '-',
      bytesSent: 52431,
      objectSize: 52431,
      totalTimeMs: 41,
      turnAroundMs: 12,
      referer: '-',
      userAgent: 'aws-sdk-java/2.25.1 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.10',
      versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
      hostId: HOST_ID,
      signatureVersion: 'SigV4',
      cipherSuite: 'ECDHE-RSA-AES128-GCM-SHA256',
      authType: 'AuthHeader',
      hostHeader: 'provider-data.s3.eu-west-1.amazonaws.com',
      tlsVersion: 'TLSv1.3',
      accessPointArn: AP,
      aclRequired: 'Yes',
      sourceRegion: 'eu-west-1',
      fieldCount: 27,
      extraFields: 0,
    });
  });

  it('reads a 26-field line (aclRequired, no source region) from an assumed role', () => {
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] 198.51.100.4 ` +
        `arn:aws:sts::111122223333:assumed-role/acme-reader/session-42 A1B2C3D4E5F60718 REST.HEAD.OBJECT ` +
        `sales/eu/q1.parquet "HEAD /sales/eu/q1.parquet HTTP/1.1" 200 - - 9000 3 2 "-" "Boto3/1.34.0" - ` +
        `${HOST_ID} SigV4 TLS_AES_128_GCM_SHA256 AuthHeader provider-data.s3.amazonaws.com TLSv1.3 - -`,
    );
    expect(r.fieldCount).toBe(26);
    expect(r.requester).toBe('arn:aws:sts::111122223333:assumed-role/acme-reader/session-42');
    expect(r.operation).toBe('REST.HEAD.OBJECT');
    expect(r.bytesSent).toBe(0);
    expect(r.objectSize).toBe(9000);
    expect(r.accessPointArn).toBe('-');
    expect(r.aclRequired).toBe('-');
    expect(r.sourceRegion).toBe('-');
    expect(r.tlsVersion).toBe('TLSv1.3');
  });

  it('reads a 25-field line (access point ARN last) from a service principal', () => {
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] - svc:logging.s3.amazonaws.com 0F1E2D3C4B5A6978 ` +
        `REST.PUT.OBJECT audit/part-0001 "PUT /audit/part-0001 HTTP/1.1" 200 - - 1200 20 18 "-" "-" - ` +
        `${HOST_ID} SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader provider-data.s3.amazonaws.com TLSv1.2 ${AP}`,
    );
    expect(r.fieldCount).toBe(25);
    expect(r.requester).toBe('svc:logging.s3.amazonaws.com');
    expect(r.remoteIp).toBe('-');
    expect(r.userAgent).toBe('-');
    expect(r.accessPointArn).toBe(AP);
    expect(r.aclRequired).toBe('-');
  });

  it('reads a 24-field lifecycle line: AmazonS3 requester, bare - URI, referer and agent, status -', () => {
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] - AmazonS3 5E6F7A8B9C0D1E2F S3.EXPIRE.OBJECT ` +
        `tmp/old.csv - - - - 2048 - - - - - ${HOST_ID} - - - - -`,
    );
    expect(r.fieldCount).toBe(24);
    expect(r.requester).toBe('AmazonS3');
    expect(r.operation).toBe('S3.EXPIRE.OBJECT');
    expect(r.key).toBe('tmp/old.csv');
    expect(r.requestUri).toBe('-');
    expect(r.httpStatus).toBe('-');
    expect(r.bytesSent).toBe(0);
    expect(r.objectSize).toBe(2048);
    expect(r.totalTimeMs).toBeNull();
    expect(r.referer).toBe('-');
    expect(r.userAgent).toBe('-');
    expect(r.hostId).toBe(HOST_ID);
    expect(r.tlsVersion).toBe('-');
    expect(r.accessPointArn).toBe('-');
  });

  it('reads an old 18-field line that ends with the version id', () => {
    const r = parsed(
      `${OWNER} provider-data [06/Feb/2014:00:00:38 +0000] 192.0.2.3 ${OWNER} 3E57427F3EXAMPLE ` +
        `REST.GET.VERSIONING - "GET /provider-data?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" -`,
    );
    expect(r.fieldCount).toBe(18);
    expect(r.requester).toBe(OWNER);
    expect(r.key).toBe('-');
    expect(r.timeMs).toBe(Date.UTC(2014, 1, 6, 0, 0, 38));
    expect(r.bytesSent).toBe(113);
    expect(r.objectSize).toBeNull();
    expect(r.turnAroundMs).toBeNull();
    expect(r.userAgent).toBe('S3Console/0.4');
    expect(r.versionId).toBe('-');
    expect(r.hostId).toBe('-');
  });

  it('reads an old line that stops at the user agent (18 tokens when the time counts as two)', () => {
    const r = parsed(
      `${OWNER} provider-data [06/Feb/2014:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT ` +
        `maps/tile.png "GET /maps/tile.png HTTP/1.1" 304 - - 5120 9 8 "http://example.com/" "curl/7.30.0"`,
    );
    expect(r.fieldCount).toBe(17);
    expect(r.requester).toBe('-');
    expect(r.httpStatus).toBe('304');
    expect(r.referer).toBe('http://example.com/');
    expect(r.userAgent).toBe('curl/7.30.0');
    expect(r.versionId).toBe('-');
    expect(r.sourceRegion).toBe('-');
  });

  it('counts and ignores fields after the 27th', () => {
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - 7D2F1A9C3B5E4D60 REST.GET.OBJECT ` +
        `a/b.csv "GET /a/b.csv HTTP/1.1" 200 - 10 10 1 1 "-" "ua" - ${HOST_ID} SigV4 ` +
        `ECDHE-RSA-AES128-GCM-SHA256 AuthHeader h.example TLSv1.2 - - eu-west-1 future-one future-two future-3`,
    );
    expect(r.sourceRegion).toBe('eu-west-1');
    expect(r.fieldCount).toBe(30);
    expect(r.extraFields).toBe(3);
  });

  it('reads a quote in a field after the 27th as part of the user agent (S3 writes none there)', () => {
    // The user agent ends at the line's last quote: a quoted field after it cannot be told from a forged
    // agent (see LOG-LINES.md), so the agent takes it in and the fields after it are what follows.
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - 7D2F1A9C3B5E4D60 REST.GET.OBJECT ` +
        `a/b.csv "GET /a/b.csv HTTP/1.1" 200 - 10 10 1 1 "-" "ua" - ${HOST_ID} SigV4 ` +
        `ECDHE-RSA-AES128-GCM-SHA256 AuthHeader h.example TLSv1.2 - - eu-west-1 future-one "future two" 42`,
    );
    expect(r.userAgent).toMatch(/^ua" - .* future-one "future two$/);
    expect(r.versionId).toBe('42');
    expect(r.sourceRegion).toBe('-');
    expect(r.fieldCount).toBe(18);
  });

  it('reads a line where every field but the time is -', () => {
    const r = parsed('- - [14/Mar/2024:09:26:53 +0000] - - - - - - - - - - - - - -');
    expect(r).toMatchObject({
      bucketOwner: '-',
      bucket: '-',
      timeMs: T,
      requester: '-',
      operation: '-',
      key: '-',
      requestUri: '-',
      httpStatus: '-',
      errorCode: '-',
      bytesSent: 0,
      objectSize: null,
      totalTimeMs: null,
      turnAroundMs: null,
      referer: '-',
      userAgent: '-',
      fieldCount: 17,
    });
  });
});

describe('parseAccessLogLine: quoting', () => {
  it('keeps unescaped quotes inside the user agent', () => {
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - 7D2F1A9C3B5E4D60 REST.GET.OBJECT ` +
        `a/b.csv "GET /a/b.csv HTTP/1.1" 200 - 10 10 1 1 "-" "Mozilla/5.0 "quoted" thing" - ${HOST_ID} SigV4 ` +
        `ECDHE-RSA-AES128-GCM-SHA256 AuthHeader h.example TLSv1.2 - - -`,
    );
    expect(r.userAgent).toBe('Mozilla/5.0 "quoted" thing');
    expect(r.versionId).toBe('-');
    expect(r.hostId).toBe(HOST_ID);
    expect(r.fieldCount).toBe(27);
  });

  it('keeps a user agent that ends the line with a quote inside it', () => {
    const r = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - R REST.GET.OBJECT a/b.csv ` +
        `"GET /a/b.csv HTTP/1.1" 200 - 10 10 1 1 "-" "say "hi" there"`,
    );
    expect(r.userAgent).toBe('say "hi" there');
    expect(r.fieldCount).toBe(17);
  });

  it('keeps unescaped quotes (and quote-space) inside the request-URI', () => {
    const r = parsed(
      `${OWNER} provider-data [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - 7D2F1A9C3B5E4D60 REST.GET.OBJECT ` +
        `a/b.csv "GET /a/b.csv?note="x" y="z" HTTP/1.1" 403 AccessDenied 243 - 4 - "-" "curl/8.5.0" -`,
    );
    expect(r.requestUri).toBe('GET /a/b.csv?note="x" y="z" HTTP/1.1');
    expect(r.httpStatus).toBe('403');
    expect(r.errorCode).toBe('AccessDenied');
    expect(r.bytesSent).toBe(243);
    expect(r.userAgent).toBe('curl/8.5.0');
  });

  it('is not fooled by a URI that holds what looks like a status block, since error codes hold no quote', () => {
    const r = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - R REST.GET.OBJECT k ` +
        `"GET /k?a=" 200 "b" 1 2 3 4 "c HTTP/1.1" 200 - 5 5 1 1 "-" "ua/1" -`,
    );
    expect(r.requestUri).toBe('GET /k?a=" 200 "b" 1 2 3 4 "c HTTP/1.1');
    expect(r.bytesSent).toBe(5);
    expect(r.userAgent).toBe('ua/1');
  });

  it('keeps a quote inside the referer', () => {
    const r = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - R REST.GET.OBJECT k ` +
        `"GET /k HTTP/1.1" 200 - 1 1 1 1 "https://example.com/?q="x"" "ua/1" -`,
    );
    expect(r.referer).toBe('https://example.com/?q="x"');
    expect(r.userAgent).toBe('ua/1');
    const spaced = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - R REST.GET.OBJECT k ` +
        `"GET /k HTTP/1.1" 200 - 1 1 1 1 "https://example.com/?q=" x" - -`,
    );
    expect(spaced.referer).toBe('https://example.com/?q=" x');
    expect(spaced.userAgent).toBe('-');
    expect(spaced.fieldCount).toBe(18);
  });

  it('reads bare - for URI, referer and agent in BATCH.DELETE.OBJECT and REST.COPY.OBJECT_GET', () => {
    const batch = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 arn:aws:iam::111122223333:user/cleaner R1 ` +
        `BATCH.DELETE.OBJECT old/x.csv - 204 - - 512 - - - - - ${HOST_ID} SigV4 ECDHE-RSA-AES128-GCM-SHA256 ` +
        `AuthHeader b.s3.amazonaws.com TLSv1.2 - - -`,
    );
    expect(batch).toMatchObject({ requestUri: '-', httpStatus: '204', referer: '-', userAgent: '-' });
    expect(batch.signatureVersion).toBe('SigV4');
    const copy = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - R2 REST.COPY.OBJECT_GET src/y.csv - 200 - - ` +
        `4096 - - - - - ${HOST_ID} - - - - -`,
    );
    expect(copy).toMatchObject({ operation: 'REST.COPY.OBJECT_GET', requestUri: '-', objectSize: 4096 });
  });

  it('reads "" and "-" as an absent value', () => {
    const r = parsed(
      `${OWNER} b [14/Mar/2024:09:26:53 +0000] 203.0.113.17 - R REST.GET.OBJECT k "-" 200 - 1 1 1 1 "" "-" -`,
    );
    expect(r.requestUri).toBe('-');
    expect(r.referer).toBe('-');
    expect(r.userAgent).toBe('-');
  });
});

describe('parseAccessLogLine: time and line ends', () => {
  it.each([
    ['14/Mar/2024:09:26:53 +0000', T],
    ['14/Mar/2024:04:26:53 -0500', T],
    ['14/Mar/2024:14:56:53 +0530', T],
    ['13/Mar/2024:23:56:53 -0930', T],
    ['01/Jan/2024:03:00:00 +0500', Date.UTC(2023, 11, 31, 22)],
    ['29/Feb/2024:12:00:00 +0000', Date.UTC(2024, 1, 29, 12)],
  ])('normalises [%s] to UTC', (time, expected) => {
    const r = parsed(`o b [${time}] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 1 1 "-" "-"`);
    expect(r.timeMs).toBe(expected);
    expect(r.time).toBe(time);
  });

  it('ignores a CRLF line end and trailing spaces', () => {
    const line = `o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 1 1 "-" "-" v1 hid`;
    const r = parsed(`${line}  \r`);
    expect(r.hostId).toBe('hid');
    expect(r.fieldCount).toBe(19);
    expect(parsed(`${line}\r\n`).hostId).toBe('hid');
  });
});

const GOOD_TAIL = '1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 1 1 "-" "-"';

describe('parseAccessLogLine: malformed lines', () => {
  it.each([
    ['', 'empty-line'],
    ['   \r', 'empty-line'],
    ['garbage', 'too-few-fields'],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 1 1',
      'too-few-fields',
    ],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 1 1 "-"',
      'too-few-fields',
    ],
    [`o b 14/Mar/2024:09:26:53 +0000 ${GOOD_TAIL}`, 'bad-time'],
    [`o b [14/Mrz/2024:09:26:53 +0000] ${GOOD_TAIL}`, 'bad-time'],
    [`o b [31/Feb/2024:09:26:53 +0000] ${GOOD_TAIL}`, 'bad-time'],
    [`o b [29/Feb/2023:09:26:53 +0000] ${GOOD_TAIL}`, 'bad-time'],
    [`o b [14/Mar/2024:24:00:00 +0000] ${GOOD_TAIL}`, 'bad-time'],
    [`o b [14/Mar/2024:09:26:53] ${GOOD_TAIL}`, 'bad-time'],
    [`o b [14/Mar/2024:09:26:53 +0000 ${GOOD_TAIL}`, 'bad-time'],
    ['o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1', 'unterminated-quote'],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 1 1 "-" "Mozilla/5.0 (X11',
      'unterminated-quote',
    ],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 20O - 1 1 1 1 "-" "-"',
      'bad-status',
    ],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 2000 - 1 1 1 1 "-" "-"',
      'bad-status',
    ],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 12k 1 1 1 "-" "-"',
      'bad-bytes',
    ],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 -1 1 1 "-" "-"',
      'bad-bytes',
    ],
    [
      'o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 1 1 x 1 "-" "-"',
      'bad-duration',
    ],
  ])('rejects %j as %s', (line, reason) => {
    const r = rejected(line);
    expect(r.reason).toBe(reason);
    expect(r.detail.length).toBeGreaterThan(0);
  });

  it('says which count is wrong', () => {
    expect(
      rejected('o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "-" 200 - 1 big 1 1 "-" "-"')
        .detail,
    ).toContain('object size "big"');
  });
});

describe('parseAccessLogLine: robustness', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9:/._+=-]{1,20}$/).filter((s) => s !== '-');
  const field = fc.oneof(token, fc.constant('-'));
  // Quotes and spaces anywhere, but no quote-space pattern that could pass for the fields that follow.
  const agent = fc
    .array(fc.stringMatching(/^[A-Za-z0-9/.;()"]{1,12}$/), { minLength: 1, maxLength: 6 })
    .map((words) => words.join(' '));
  const uri = fc
    .array(fc.stringMatching(/^[A-Za-z/?=&"]{1,12}$/), { minLength: 1, maxLength: 4 })
    .map((words) => words.join(' '));
  const count = fc.oneof(fc.nat({ max: 10_000_000 }), fc.constant(null));
  const status = fc.oneof(fc.integer({ min: 100, max: 599 }).map(String), fc.constant('-'));

  it('reads back every field of generated lines with quotes in the agent and URI', () => {
    fc.assert(
      fc.property(
        fc.record({
          owner: field,
          bucket: field,
          requester: field,
          operation: field,
          key: field,
          uri,
          status,
          bytes: count,
          size: count,
          agent,
          trailing: fc.array(field, { minLength: 0, maxLength: 12 }),
        }),
        (g) => {
          const n = (v: number | null) => (v === null ? '-' : String(v));
          const line =
            `${g.owner} ${g.bucket} [14/Mar/2024:09:26:53 +0000] 1.2.3.4 ${g.requester} R ${g.operation} ${g.key} ` +
            `"${g.uri}" ${g.status} - ${n(g.bytes)} ${n(g.size)} 7 - "-" "${g.agent}"` +
            g.trailing.map((t) => ` ${t}`).join('');
          const r = parsed(line);
          expect(r.bucketOwner).toBe(g.owner);
          expect(r.bucket).toBe(g.bucket);
          expect(r.requester).toBe(g.requester);
          expect(r.operation).toBe(g.operation);
          expect(r.key).toBe(g.key);
          expect(r.requestUri).toBe(g.uri);
          expect(r.httpStatus).toBe(g.status);
          expect(r.bytesSent).toBe(g.bytes ?? 0);
          expect(r.objectSize).toBe(g.size);
          expect(r.userAgent).toBe(g.agent);
          expect(r.fieldCount).toBe(17 + g.trailing.length);
          expect(r.versionId).toBe(g.trailing[0] ?? '-');
          expect(r.accessPointArn).toBe(g.trailing[7] ?? '-');
          expect(r.sourceRegion).toBe(g.trailing[9] ?? '-');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary text, and names a known reason when it rejects', () => {
    const reasons = new Set([
      'empty-line',
      'too-few-fields',
      'bad-time',
      'unterminated-quote',
      'bad-status',
      'bad-bytes',
      'bad-duration',
    ]);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const r = parseAccessLogLine(text);
        if (!r.ok) expect(reasons.has(r.reason)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('stays fast on a long line full of quote-space pairs', () => {
    const agent = '" x'.repeat(20_000);
    const line = `o b [14/Mar/2024:09:26:53 +0000] 1.2.3.4 - R REST.GET.OBJECT k "${agent}" 200 - 1 1 1 1 "${agent}" "${agent}"`;
    const started = performance.now();
    parseAccessLogLine(line);
    expect(performance.now() - started).toBeLessThan(250);
  });
});
