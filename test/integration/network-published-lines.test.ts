/**
 * Log lines that no one here wrote, through the local engine's ingestion into the network table: each
 * request's remote address, its class and source prefix (IPv4 /24, IPv6 /48), the VPC endpoint of its
 * host header and its source region, as NETWORKS.md says ingestion keeps them.
 *
 * Sources (the lines are reproduced as published; the expected columns are worked out by hand from the
 * fields the S3 documentation describes, not read back from this code):
 * - [S3DOC] Amazon S3 User Guide, "Amazon S3 server access log format"
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html; the 2019 revision in
 *   github.com/awsdocs/amazon-s3-developer-guide, doc_source/LogFormat.md): the five example records
 *   (22 fields, no source region) and the current 27-field example with an access point ARN and the
 *   source region. The page also states that "any field can be set to `-`".
 * - [REGION] the source-region announcement's example record, a request from us-west-2
 *   (github.com/takech9203/aws-news-summary, summarising
 *   https://aws.amazon.com/about-aws/whats-new/2026/02/amazon-s3-source-region-information/).
 * - [KDGM] production lines of a logstash filter's tests (github.com/kdgm/logstash-plugins,
 *   spec/filters/s3_access_log_spec.rb): an 18-field GET, an unauthenticated request (`-` requester),
 *   and a REST.COPY.OBJECT_GET record whose URI, referer and user agent are `-`.
 * - [SRA] an IPv6 remote address with an embedded IPv4 tail, `0123:4567:89ab:cdef::1.2.3.4`, from the
 *   S3-log parser tests of NCBI's sra-tools (LogAWSEventFixture, parse_ip6): no published S3 line
 *   with an IPv6 address was found, so it stands in the remote address field of an [S3DOC] record, as S3
 *   writes it (text, in field 4). The `-` remote address is the same record with that field `-`.
 * - [PRIVATELINK] the interface endpoint DNS name of the S3 PrivateLink guide
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html),
 *   `bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com`, in the host header of an [S3DOC] record.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { networkFindings } from '../../functions/adapters/duckdb/network-findings.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { RegistrySchema } from '../../functions/domain/registry.js';
import { networkFiguresOf } from '../support/network-figures.js';

const OWNER = '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be';
const KDGM = '2cf7e6b06335c0689c6d29163df5bb001c96870cd78609e3845f1ed76a632621';
const ACCESS_POINT = 'arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP';

/** [S3DOC] record 5 of the 2019 example (22 fields: no access point, no source region). */
const DOC_PUT = `${OWNER} awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 ${OWNER} DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg.pdf "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1`;
/** [S3DOC] record 1 of the current example (27 fields: access point ARN, aclRequired, source region). */
const DOC_27 = `${OWNER} amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 ${OWNER} 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 ${ACCESS_POINT} Yes us-east-1`;
/** [REGION] a GET from us-west-2 to a bucket in us-east-1. */
const REGION_GET = `${OWNER} amzn-s3-demo-bucket [06/Feb/2026:00:00:38 +0000] 192.0.2.3 ${OWNER} 3E57427F3EXAMPLE REST.GET.OBJECT photos/2026/01/example.jpg "GET /amzn-s3-demo-bucket/photos/2026/01/example.jpg HTTP/1.1" 200 - 2662992 3462992 70 10 "-" "aws-sdk-java/2.20.0" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket.s3.us-east-1.amazonaws.com TLSV1.2 - - us-west-2`;
/** [KDGM] an 18-field GET of a media file. */
const KDGM_GET = `${KDGM} media.kerkdienstgemist.nl [24/Mar/2013:10:22:56 +0000] 77.168.122.24 ${KDGM} A5A6B08FB9342F4D REST.GET.OBJECT 10010160/2013-03-24-0930.mp3 "GET /10010160/2013-03-24-0930.mp3?Signature=75eBWlMvIpO357%2FqKLdn0sZRP08%3D&Expires=1364127776&AWSAccessKeyId=1VYKRTJ5FFKT5B6F4NR2 HTTP/1.1" 200 - 18547033 18547033 17344 58 "http://kerkdienstgemist.nl/mp3/recorder.php?id=452" "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; WOW64; Trident/5.0)" -`;
/** [KDGM] an unauthenticated request (requester `-`), redirected. */
const KDGM_ANONYMOUS = `${KDGM} assets.staging.kerkdienstgemist.nl [10/Feb/2010:07:24:40 +0000] 10.217.37.15 - 0B76C90B3634290B REST.GET.ACL - "GET /?acl HTTP/1.1" 307 TemporaryRedirect 488 - 7 - "-" "Jakarta Commons-HttpClient/3.0" -`;
/** [KDGM] the GET half of a copy: URI, referer and user agent `-`. */
const KDGM_COPY = `${KDGM} media.staging.kerkdienstgemist.nl [17/Sep/2010:13:38:36 +0000] 85.113.244.146 ${KDGM} 71F7D2AAA93B0A05 REST.COPY.OBJECT_GET 10010150/2010-08-29-0930.mp3 - 200 - - 13538337 - - - - -`;

/**
 * Another request like the record: its request id (field 6) `requestId`, so that ingestion does not take
 * it for a second delivery of the record, and its remote address field (the fourth) `address`.
 */
function withAddress(line: string, requestId: string, address: string): string {
  const replaced = line.replace(/^(\S+ \S+ \[[^\]]*\] )\S+ (\S+) \S+/, `$1${address} $2 ${requestId}`);
  if (replaced === line) throw new Error('no remote address field replaced');
  return replaced;
}
/** Another request like the record, through host `to`. */
function withHost(line: string, requestId: string, from: string, to: string): string {
  if (!line.includes(` ${from} `)) throw new Error(`no host header ${from}`);
  return withAddress(line.replace(` ${from} `, ` ${to} `), requestId, '192.0.2.3');
}

const SRA_IPV6 = '0123:4567:89ab:cdef::1.2.3.4';
const VPCE_HOST = 'bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com';
const DOC_IPV6 = withAddress(DOC_27, '3E57427F3EXAMPL6', SRA_IPV6);
const DOC_NO_ADDRESS = withAddress(DOC_27, '3E57427F3EXAMPL0', '-');
const DOC_VPCE = withHost(
  DOC_27,
  '3E57427F3EXAMPLV',
  'amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com',
  VPCE_HOST,
);

const day = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d);
const at = (y: number, m: number, d: number, h: number, min: number, s: number) =>
  Date.UTC(y, m - 1, d, h, min, s);

let root: string;
let n = 0;

async function figuresOf(lines: readonly string[]): Promise<string[]> {
  const path = join(root, `${n}/2026-03-15-02-00-00-${String(n).padStart(16, 'A')}`);
  n++;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${lines.join('\n')}\n`);
  const store = await DuckDbState.open(join(root, `s${n}.duckdb`));
  await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0 });
  const figures = await networkFiguresOf(store.database);
  await store.close();
  return figures;
}

/**
 * A network table row as networkFiguresOf prints it: one line's, so its slot is the 15-minute UTC slot
 * of `timeMs` (`day`, the line's UTC day, is given for reading and checked to hold it).
 */
function row(
  day: number,
  requester: string,
  accessPoint: string,
  address: string,
  prefix: string,
  cls: string,
  vpce: string,
  region: string,
  requests: number,
  bytes: number,
  timeMs: number,
): string {
  const slotStart = Math.floor(timeMs / 900_000) * 900_000;
  if (slotStart < day || slotStart >= day + 86_400_000) throw new Error(`${timeMs} is not on the day ${day}`);
  return [
    slotStart,
    requester,
    accessPoint,
    address,
    prefix,
    cls,
    vpce,
    region,
    requests,
    bytes,
    timeMs,
    timeMs,
  ]
    .map(String)
    .join(' | ');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'network-published-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('published S3 access-log lines in the network table (local engine)', () => {
  it.each([
    [
      'the S3 guide’s 22-field PUT: IPv4 /24, no source region field',
      DOC_PUT,
      row(
        day(2019, 2, 6),
        OWNER,
        '-',
        '192.0.2.3',
        '192.0.2.0/24',
        'ipv4',
        '-',
        '-',
        1,
        0,
        at(2019, 2, 6, 0, 1, 57),
      ),
    ],
    [
      'the S3 guide’s 27-field record: its access point and source region',
      DOC_27,
      row(
        day(2019, 2, 6),
        OWNER,
        ACCESS_POINT,
        '192.0.2.3',
        '192.0.2.0/24',
        'ipv4',
        '-',
        'us-east-1',
        1,
        113,
        at(2019, 2, 6, 0, 0, 38),
      ),
    ],
    [
      'the source-region announcement’s GET from us-west-2',
      REGION_GET,
      row(
        day(2026, 2, 6),
        OWNER,
        '-',
        '192.0.2.3',
        '192.0.2.0/24',
        'ipv4',
        '-',
        'us-west-2',
        1,
        2662992,
        at(2026, 2, 6, 0, 0, 38),
      ),
    ],
    [
      'a production 18-field GET',
      KDGM_GET,
      row(
        day(2013, 3, 24),
        KDGM,
        '-',
        '77.168.122.24',
        '77.168.122.0/24',
        'ipv4',
        '-',
        '-',
        1,
        18547033,
        at(2013, 3, 24, 10, 22, 56),
      ),
    ],
    [
      'a production unauthenticated request',
      KDGM_ANONYMOUS,
      row(
        day(2010, 2, 10),
        '-',
        '-',
        '10.217.37.15',
        '10.217.37.0/24',
        'ipv4',
        '-',
        '-',
        1,
        488,
        at(2010, 2, 10, 7, 24, 40),
      ),
    ],
    [
      'a production COPY.OBJECT_GET record with `-` URI, referer and agent',
      KDGM_COPY,
      row(
        day(2010, 9, 17),
        KDGM,
        '-',
        '85.113.244.146',
        '85.113.244.0/24',
        'ipv4',
        '-',
        '-',
        1,
        0,
        at(2010, 9, 17, 13, 38, 36),
      ),
    ],
    [
      'an IPv6 remote address with an IPv4 tail: its /48, leading zeros dropped',
      DOC_IPV6,
      row(
        day(2019, 2, 6),
        OWNER,
        ACCESS_POINT,
        SRA_IPV6,
        '123:4567:89ab::/48',
        'ipv6',
        '-',
        'us-east-1',
        1,
        113,
        at(2019, 2, 6, 0, 0, 38),
      ),
    ],
    [
      'a `-` remote address: class none, no prefix',
      DOC_NO_ADDRESS,
      row(
        day(2019, 2, 6),
        OWNER,
        ACCESS_POINT,
        '-',
        '-',
        'none',
        '-',
        'us-east-1',
        1,
        113,
        at(2019, 2, 6, 0, 0, 38),
      ),
    ],
    [
      'a request through an interface endpoint: the endpoint id of its host header',
      DOC_VPCE,
      row(
        day(2019, 2, 6),
        OWNER,
        ACCESS_POINT,
        '192.0.2.3',
        '192.0.2.0/24',
        'ipv4',
        'vpce-1a2b3c4d',
        'us-east-1',
        1,
        113,
        at(2019, 2, 6, 0, 0, 38),
      ),
    ],
  ])('%s', async (_name, line, expected) => {
    expect(await figuresOf([line])).toEqual([expected]);
  });

  it('keeps the lines apart when ingested together', async () => {
    const all = [DOC_PUT, DOC_27, DOC_IPV6, DOC_NO_ADDRESS, DOC_VPCE, KDGM_GET, KDGM_ANONYMOUS, KDGM_COPY];
    const figures = await figuresOf(all);
    expect(figures).toHaveLength(all.length);
    expect(figures.map((f) => f.split(' | ')[5]).sort()).toEqual([
      'ipv4',
      'ipv4',
      'ipv4',
      'ipv4',
      'ipv4',
      'ipv4',
      'ipv6',
      'none',
    ]);
  });
});

describe('published lines against declared networks (local engine)', () => {
  /** The documentation's requester, as an application of one partner that declares `networks`. */
  const registry = (networks: object) =>
    RegistrySchema.parse({
      version: 1,
      provider: { name: 'P', noticeFrom: 'P <p@p.example>', contactEmail: 'c@p.example' },
      partners: [
        {
          id: 'doc-co',
          name: 'Doc Co',
          accountOwners: [{ email: 'ops@doc.example' }],
          timeZone: 'UTC',
          applications: [
            { id: 'console', name: 'Console', principals: [{ canonicalUserId: OWNER }], networks },
          ],
          contracts: [
            { id: 'doc-2019', effectiveFrom: '2019-01-01', currency: 'EUR', datasets: ['photos/'] },
          ],
        },
      ],
    });

  async function outside(networks: object): Promise<string[]> {
    const path = join(root, `${n}/2019-02-07-02-00-00-${String(n).padStart(16, 'B')}`);
    n++;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${[DOC_27, DOC_IPV6, DOC_NO_ADDRESS, DOC_VPCE].join('\n')}\n`);
    const store = await DuckDbState.open(join(root, `s${n}.duckdb`));
    await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0 });
    const range = { fromDate: '2019-02-06', toDate: '2019-02-07' };
    const found = await store.database.serial('t', (c) => networkFindings(c, registry(networks), range));
    await store.close();
    return found.map((f) => `${f.kind} ${f.sourcePrefix} ${f.addressClass} ${f.vpcEndpoint} ${f.requests}`);
  }

  it('a /24 holds the IPv4 requests, leaving the IPv6 and the address-less one outside', async () => {
    expect(await outside({ cidrs: ['192.0.2.0/24'] })).toEqual([
      'credential-used-outside-declared-network - none - 1',
      'credential-used-outside-declared-network 123:4567:89ab::/48 ipv6 - 1',
    ]);
  });

  it('an IPv6 /48, the endpoint and a /32 of the documentation address each hold theirs', async () => {
    expect(
      await outside({ cidrs: ['123:4567:89ab::/48', '192.0.2.3'], vpcEndpoints: ['vpce-1a2b3c4d'] }),
    ).toEqual(['credential-used-outside-declared-network - none - 1']);
  });

  it('the source region holds every line that carries it, a `-` address included', async () => {
    expect(await outside({ sourceRegions: ['us-east-1'] })).toEqual([]);
  });
});
