/**
 * Rendering of S3 server access log lines, field by field, in each of the layouts S3 has written over
 * the years (18, 24, 25, 26 and 27 fields). Exported so tests elsewhere can build realistic lines.
 */

/** The fields of one access log record, in log order. Strings are written as given (`-` for none). */
export interface LogLineFields {
  readonly bucketOwner: string;
  readonly bucket: string;
  /** Event instant, epoch milliseconds (the seconds are what the log shows). */
  readonly timeMs: number;
  /** Offset to print the time in, minutes east of UTC: 0 prints `+0000`, -300 prints `-0500`. */
  readonly utcOffsetMinutes: number;
  readonly remoteIp: string;
  readonly requester: string;
  readonly requestId: string;
  readonly operation: string;
  /** The object key as S3 logs it: URL-encoded, or `-`. */
  readonly key: string;
  /** Request line, e.g. `GET /bucket/key HTTP/1.1`; written quoted. */
  readonly requestUri: string;
  readonly httpStatus: string;
  readonly errorCode: string;
  /** Zero is written `-`, as S3 does. */
  readonly bytesSent: number | bigint | string;
  readonly objectSize: number | bigint | string;
  readonly totalTimeMs: number | string;
  readonly turnAroundMs: number | string;
  readonly referer: string;
  /** Written quoted and NOT escaped: a `"` inside stays a bare `"`, as in real logs. */
  readonly userAgent: string;
  readonly versionId: string;
  readonly hostId: string;
  readonly signatureVersion: string;
  readonly cipherSuite: string;
  readonly authType: string;
  readonly hostHeader: string;
  readonly tlsVersion: string;
  readonly accessPointArn: string;
  readonly aclRequired: string;
  readonly sourceRegion: string;
  /** How many fields to write: 18 (up to the version id), 24, 25, 26 or 27 (today's layout). */
  readonly fieldCount: LogFieldCount;
  /**
   * Write a `-` request URI, referer or user agent bare instead of `"-"`, as S3 does for
   * BATCH.DELETE.OBJECT, REST.COPY.OBJECT_GET and S3.EXPIRE.OBJECT.
   */
  readonly bareQuotedDashes: boolean;
  /** Fields a future S3 might append after the 27th (only written with fieldCount 27). */
  readonly extraFields: readonly string[];
}

export type LogFieldCount = 18 | 24 | 25 | 26 | 27;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

let lastSecond = Number.NaN;
let lastOffset = Number.NaN;
let lastText = '';

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * `[06/Feb/2019:00:00:38 +0000]` for an instant, printed in a fixed UTC offset. The last value is
 * cached: consecutive lines mostly share a second, and this runs once per line.
 */
export function formatLogTime(timeMs: number, utcOffsetMinutes = 0): string {
  const second = Math.floor(timeMs / 1000);
  if (second === lastSecond && utcOffsetMinutes === lastOffset) return lastText;
  const d = new Date(second * 1000 + utcOffsetMinutes * 60_000);
  const abs = Math.abs(utcOffsetMinutes);
  const zone = `${utcOffsetMinutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
  const text = `[${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(
    d.getUTCHours(),
  )}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${zone}]`;
  lastSecond = second;
  lastOffset = utcOffsetMinutes;
  lastText = text;
  return text;
}

function quoted(value: string, bare: boolean): string {
  return bare && value === '-' ? '-' : `"${value}"`;
}

function bytes(value: number | bigint | string): string {
  if (typeof value === 'string') return value;
  return value === 0 || value === 0n ? '-' : String(value);
}

/**
 * One access log line (no line end) from its fields. Missing fields default to `-` (or a fixed
 * plausible value for bucket owner, bucket and time), so a test can give only what it cares about.
 */
export function renderLine(fields: Partial<LogLineFields>): string {
  const f = fields;
  const count = f.fieldCount ?? 27;
  const bare = f.bareQuotedDashes ?? false;
  // One array joined once gives a flat string; a chain of `+` gives a rope of ~50 pieces per line,
  // which costs more to flatten and collect than the line took to build.
  const parts: string[] = [
    f.bucketOwner ?? '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be',
    f.bucket ?? 'example-bucket',
    formatLogTime(f.timeMs ?? 0, f.utcOffsetMinutes ?? 0),
    f.remoteIp ?? '-',
    f.requester ?? '-',
    f.requestId ?? '-',
    f.operation ?? '-',
    f.key ?? '-',
    quoted(f.requestUri ?? '-', bare),
    f.httpStatus ?? '-',
    f.errorCode ?? '-',
    bytes(f.bytesSent ?? '-'),
    bytes(f.objectSize ?? '-'),
    String(f.totalTimeMs ?? '-'),
    String(f.turnAroundMs ?? '-'),
    quoted(f.referer ?? '-', bare),
    quoted(f.userAgent ?? '-', bare),
    f.versionId ?? '-',
  ];
  if (count > 18) {
    parts.push(
      f.hostId ?? '-',
      f.signatureVersion ?? '-',
      f.cipherSuite ?? '-',
      f.authType ?? '-',
      f.hostHeader ?? '-',
      f.tlsVersion ?? '-',
    );
    if (count > 24) parts.push(f.accessPointArn ?? '-');
    if (count > 25) parts.push(f.aclRequired ?? '-');
    if (count > 26) {
      parts.push(f.sourceRegion ?? '-');
      if (f.extraFields) parts.push(...f.extraFields);
    }
  }
  return parts.join(' ');
}

/**
 * URL-encode a key the way S3 writes it in the key field: every path segment percent-encoded, `/`
 * kept as the separator.
 */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}
