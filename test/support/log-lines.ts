import { createHash } from 'node:crypto';

/**
 * Builds S3 server access log lines for tests: a modern 27-field line by default, with any field
 * replaced and the line cut to an older generation's field count.
 */
export interface LogLineFields {
  owner: string;
  bucket: string;
  /** Without brackets: `14/Mar/2026:09:12:44 +0000`. */
  time: string;
  ip: string;
  requester: string;
  requestId: string;
  operation: string;
  key: string;
  /** As written, with quotes or a bare `-`. */
  uri: string;
  status: string;
  errorCode: string;
  bytesSent: string;
  objectSize: string;
  totalTime: string;
  turnAround: string;
  referer: string;
  userAgent: string;
  versionId: string;
  hostId: string;
  sigv: string;
  cipher: string;
  authType: string;
  host: string;
  tls: string;
  accessPoint: string;
  aclRequired: string;
  sourceRegion: string;
}

const DEFAULTS: LogLineFields = {
  owner: '5e7c1d0a9b8f7e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b3a2918070f1e',
  bucket: 'meteo-feeds-prod',
  time: '14/Mar/2026:09:12:44 +0000',
  ip: '198.51.100.23',
  requester: 'arn:aws:iam::111122223333:user/etl-reader',
  requestId: 'TZ8R2M4QK1V7PXYA',
  operation: 'REST.GET.OBJECT',
  key: 'feeds/weather/2026/03/14/obs-0900.csv',
  uri: '"GET /feeds/weather/2026/03/14/obs-0900.csv HTTP/1.1"',
  status: '200',
  errorCode: '-',
  bytesSent: '48213',
  objectSize: '48213',
  totalTime: '37',
  turnAround: '11',
  referer: '"-"',
  userAgent: '"aws-sdk-java/2.25.6 Linux/5.10"',
  versionId: '-',
  hostId: 'kQ2v9xT0bYc4Lr7Zp1Wm8Na3Ue6Jd5Hs0Fg2Bi9Ck4Ol7Pq1Rt3Sv5Xw8Yz0Ab=',
  sigv: 'SigV4',
  cipher: 'TLS_AES_128_GCM_SHA256',
  authType: 'AuthHeader',
  host: 'meteo-feeds-prod.s3.eu-central-1.amazonaws.com',
  tls: 'TLSv1.3',
  accessPoint: '-',
  aclRequired: '-',
  sourceRegion: 'eu-central-1',
};

const ORDER: (keyof LogLineFields)[] = Object.keys(DEFAULTS) as (keyof LogLineFields)[];

/** One line; `fields` cuts it to that many fields (17 to 27), `extra` appends unknown fields. */
export function logLine(
  overrides: Partial<LogLineFields> = {},
  options: { fields?: number; extra?: readonly string[] } = {},
): string {
  const f = { ...DEFAULTS, ...overrides };
  // S3 gives every request its own id: lines that differ in any field are different requests, while
  // the same line written twice is one record delivered twice (the audit counts it once).
  if (overrides.requestId === undefined) f.requestId = requestIdOf(f, options);
  const parts = ORDER.map((k) => (k === 'time' ? `[${f.time}]` : f[k]));
  return [...parts.slice(0, options.fields ?? 27), ...(options.extra ?? [])].join(' ');
}

/** A request id (16 upper-case letters and digits) derived from everything else the line holds. */
function requestIdOf(f: LogLineFields, options: { fields?: number; extra?: readonly string[] }): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([f, options.fields ?? 27, options.extra ?? []]))
    .digest();
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from(digest.subarray(0, 16), (b) => chars[b % chars.length]).join('');
}
