/**
 * A tolerant parser for one line of an S3 server access log.
 *
 * Fields are separated by single spaces, but three of them (request-URI, referer, user agent) are quoted
 * and S3 does NOT escape quotes inside them, and the time holds a space inside brackets. So a plain split
 * cannot work, and a regex over the whole line backtracks badly on hostile input. The scanner walks the
 * line's bytes once and ends each quoted field where what must follow it does follow:
 * - request-URI: a closing quote followed by status, error code and four counts, then the referer's start;
 * - referer: a closing quote followed by the start of the user agent: `"`, or a bare `-` when that quote
 *   is the line's last;
 * - user agent: the last quote of the line. S3's trailing fields never hold one, and a client that writes
 *   `"` and forged trailing fields into its user agent must not choose them (see LOG-LINES.md).
 * Where no candidate satisfies the anchor, the line is malformed. Unquoted, each of the three may only be
 * a bare `-` (S3 writes nothing else there; the Athena regex reads nothing else, see LOG-LINES.md).
 *
 * The scanning itself runs in WebAssembly (assembly/scanner.ts, with SIMD searches; see wasm-scanner.ts):
 * this module turns its positions and failure codes into fields and messages.
 *
 * Field generations: 17 fields (through user agent: the "18" of old lines when the time's inner space is
 * counted as a separator), 18 (version id), 24 (host id .. TLS version), 25 (access point ARN), 26
 * (aclRequired), 27 (source region). Fields after the 27th are counted and ignored. Fields a shorter line
 * lacks read as `-`.
 */
import { FAIL, LINE_SIZES, WasmScanner } from './wasm-scanner.js';

/** Why a line was rejected: a short, stable code (a key in counts) plus human detail. */
export type MalformedReason =
  | 'empty-line'
  | 'too-few-fields'
  | 'bad-time'
  | 'unterminated-quote'
  | 'bad-status'
  | 'bad-bytes'
  | 'bad-duration'
  /** Set by the file ingester, never by the line parser: the line exceeded the length cap. */
  | 'line-too-long'
  /** Set by the file ingester: the last, cut-off line of a file whose stream broke off. */
  | 'truncated-line';

/** A rejected line. */
export interface LineError {
  readonly ok: false;
  readonly reason: MalformedReason;
  readonly detail: string;
}

/** A parsed line. String fields hold `-` when the log had no value or the line's generation lacks it. */
export interface ParsedLine {
  readonly ok: true;
  readonly bucketOwner: string;
  readonly bucket: string;
  /** The time as logged, without brackets, e.g. `06/Feb/2019:00:00:38 +0000`. */
  readonly time: string;
  /** The time as epoch milliseconds, normalised to UTC from whatever offset was logged. */
  readonly timeMs: number;
  readonly remoteIp: string;
  readonly requester: string;
  readonly requestId: string;
  readonly operation: string;
  /** The key as logged (S3 writes it URL-encoded), or `-` for bucket-level operations. */
  readonly key: string;
  /** The request line without its quotes, e.g. `GET /bucket/key HTTP/1.1`. */
  readonly requestUri: string;
  /** Three digits, or `-` (lifecycle operations log none). */
  readonly httpStatus: string;
  readonly errorCode: string;
  /** Bytes sent, 0 when logged as `-`. */
  readonly bytesSent: number;
  /** Object size, or null when logged as `-`. */
  readonly objectSize: number | null;
  readonly totalTimeMs: number | null;
  readonly turnAroundMs: number | null;
  readonly referer: string;
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
  /** Fields present on the line, counting the bracketed time and each quoted field as one. */
  readonly fieldCount: number;
  /** Fields after the 27 known ones, ignored. */
  readonly extraFields: number;
}

export type ParseResult = ParsedLine | LineError;

/** Fields through the user agent: the least any generation of the format writes. */
export const MIN_FIELDS = 17;
/** Fields the current format defines; later ones are counted as extra. */
export const KNOWN_FIELDS = 27;

/** Position of each known field in LineScanner.start / LineScanner.end. */
export const FIELD = {
  bucketOwner: 0,
  bucket: 1,
  time: 2,
  remoteIp: 3,
  requester: 4,
  requestId: 5,
  operation: 6,
  key: 7,
  requestUri: 8,
  httpStatus: 9,
  errorCode: 10,
  bytesSent: 11,
  objectSize: 12,
  totalTime: 13,
  turnAroundTime: 14,
  referer: 15,
  userAgent: 16,
  versionId: 17,
  hostId: 18,
  signatureVersion: 19,
  cipherSuite: 20,
  authType: 21,
  hostHeader: 22,
  tlsVersion: 23,
  accessPointArn: 24,
  aclRequired: 25,
  sourceRegion: 26,
} as const;

const DASH_VALUE = -1;

const EMPTY = Buffer.alloc(0);

/** Names of the four counts, for messages (bytes sent .. turn-around time). */
const COUNT_NAMES = ['bytes sent', 'object size', 'total time', 'turn-around time'];

/** Names of the quoted fields, for messages. */
const QUOTED_NAMES: Record<number, string> = { 8: 'request-URI', 15: 'referer', 16: 'user agent' };

/** A malformed line's reason and message. */
export interface LineFailure {
  readonly reason: MalformedReason;
  readonly detail: string;
}

/**
 * The reason and message of a scan failure of `kind` (see FAIL in wasm-scanner.ts): `arg` is its
 * argument, [a, e) the offending bytes of `b` and `lineStart` where the line starts in `b`.
 */
export function describeFailure(
  kind: number,
  arg: number,
  b: Uint8Array,
  lineStart: number,
  a: number,
  e: number,
): LineFailure {
  const text = (x: number, y: number) =>
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8', x, y);
  const clip = (x: number, y: number) => {
    const t = text(x, y);
    return t.length > 40 ? `${t.slice(0, 40)}...` : t;
  };
  switch (kind) {
    case FAIL.empty:
      return { reason: 'empty-line', detail: 'the line is blank' };
    case FAIL.tooFew:
      return { reason: 'too-few-fields', detail: `${arg} fields, at least ${MIN_FIELDS} needed` };
    case FAIL.noBracket:
      // Columns count characters, as an editor shows them, not bytes.
      return { reason: 'bad-time', detail: `expected "[" at column ${text(lineStart, a).length + 1}` };
    case FAIL.noClose:
      return { reason: 'bad-time', detail: 'no closing "]"' };
    case FAIL.badTime:
      return { reason: 'bad-time', detail: `cannot read time "${clip(a, e)}"` };
    case FAIL.noSpaceAfterTime:
      return { reason: 'bad-time', detail: 'no space after "]"' };
    case FAIL.uriQuote:
      return { reason: 'unterminated-quote', detail: 'request-URI has no closing quote' };
    case FAIL.refererQuote:
      return { reason: 'unterminated-quote', detail: 'referer has no closing quote' };
    case FAIL.agentQuote:
      return { reason: 'unterminated-quote', detail: 'user agent has no closing quote' };
    case FAIL.notQuoted:
      return {
        reason: 'unterminated-quote',
        detail: `${QUOTED_NAMES[arg] ?? 'field'} "${clip(a, e)}" is neither quoted nor -`,
      };
    case FAIL.trailingQuote:
      return { reason: 'unterminated-quote', detail: 'a field after the user agent holds a quote' };
    case FAIL.badStatus:
      return { reason: 'bad-status', detail: `expected 3 digits or -, got "${clip(a, e)}"` };
    case FAIL.badCount:
      return {
        reason: arg <= FIELD.objectSize ? 'bad-bytes' : 'bad-duration',
        detail: `${COUNT_NAMES[arg - FIELD.bytesSent]} "${clip(a, e)}" is not a count`,
      };
    default:
      throw new RangeError(`the log scanner returned an unknown failure kind ${kind}`);
  }
}

/**
 * A reusable scanner over the BYTES of a line: it records where each field lies instead of cutting it
 * out, so a caller decodes only the fields it needs. Every separator the format uses (space, quote,
 * brackets) is ASCII, and UTF-8 never puts an ASCII byte inside a multi-byte character, so field
 * boundaries found on bytes are the ones the decoded text has.
 */
export class LineScanner {
  /** Start and end (exclusive) of each known field in `bytes`; equal when the field is absent or empty. */
  readonly start = new Int32Array(KNOWN_FIELDS);
  readonly end = new Int32Array(KNOWN_FIELDS);
  /** The buffer of the last line scanned (the positions above index into it). */
  bytes: Buffer = EMPTY;
  timeMs = 0;
  /** Bytes sent (0 for `-`). */
  bytesSent = 0;
  /** Object size, total time and turn-around time: -1 for `-`. */
  objectSize = -1;
  totalTime = -1;
  turnAround = -1;
  fieldCount = 0;
  /** Why the last scan failed (meaningless after a successful one). */
  reason: MalformedReason = 'empty-line';
  detail = '';
  private scanner: WasmScanner | undefined;

  /** Text of known field `i` (see FIELD), decoded as UTF-8: `-` when absent or empty. */
  text(i: number): string {
    const a = this.start[i]!;
    const b = this.end[i]!;
    return b > a ? this.bytes.toString('utf8', a, b) : '-';
  }

  /**
   * Scan the line in bytes [from, to) of `bytes` (without its line break; a trailing CR or spaces are
   * ignored). False when malformed, with `reason` and `detail` set.
   */
  scan(bytes: Buffer, from: number, to: number): boolean {
    this.scanner ??= new WasmScanner(1, 1, false, LINE_SIZES, 1);
    const w = this.scanner;
    w.load(bytes, from, to);
    const ok = w.exports.scanOne(to - from) === 1;
    const r = w.exports.resultPtr();
    const floats = w.floats;
    const ints = w.ints;
    this.bytes = bytes;
    if (!ok) {
      const i = (r + 44) >> 2;
      const failure = describeFailure(
        ints[i]!,
        ints[i + 1]!,
        bytes,
        from,
        from + ints[i + 2]!,
        from + ints[i + 3]!,
      );
      this.reason = failure.reason;
      this.detail = failure.detail;
      return false;
    }
    this.timeMs = floats[r >> 3]!;
    this.bytesSent = floats[(r >> 3) + 1]!;
    this.objectSize = floats[(r >> 3) + 2]!;
    this.totalTime = floats[(r >> 3) + 3]!;
    this.turnAround = floats[(r >> 3) + 4]!;
    this.fieldCount = ints[(r + 40) >> 2]!;
    const s = w.exports.startsPtr() >> 2;
    const e = w.exports.endsPtr() >> 2;
    for (let f = 0; f < KNOWN_FIELDS; f++) {
      const a = ints[s + f]!;
      const b = ints[e + f]!;
      this.start[f] = a === b ? 0 : from + a;
      this.end[f] = a === b ? 0 : from + b;
    }
    return true;
  }

  /** The line as a ParsedLine (after a successful scan). */
  toParsedLine(): ParsedLine {
    return {
      ok: true,
      bucketOwner: this.text(FIELD.bucketOwner),
      bucket: this.text(FIELD.bucket),
      time: this.text(FIELD.time),
      timeMs: this.timeMs,
      remoteIp: this.text(FIELD.remoteIp),
      requester: this.text(FIELD.requester),
      requestId: this.text(FIELD.requestId),
      operation: this.text(FIELD.operation),
      key: this.text(FIELD.key),
      requestUri: this.text(FIELD.requestUri),
      httpStatus: this.text(FIELD.httpStatus),
      errorCode: this.text(FIELD.errorCode),
      bytesSent: this.bytesSent,
      objectSize: this.objectSize === DASH_VALUE ? null : this.objectSize,
      totalTimeMs: this.totalTime === DASH_VALUE ? null : this.totalTime,
      turnAroundMs: this.turnAround === DASH_VALUE ? null : this.turnAround,
      referer: this.text(FIELD.referer),
      userAgent: this.text(FIELD.userAgent),
      versionId: this.text(FIELD.versionId),
      hostId: this.text(FIELD.hostId),
      signatureVersion: this.text(FIELD.signatureVersion),
      cipherSuite: this.text(FIELD.cipherSuite),
      authType: this.text(FIELD.authType),
      hostHeader: this.text(FIELD.hostHeader),
      tlsVersion: this.text(FIELD.tlsVersion),
      accessPointArn: this.text(FIELD.accessPointArn),
      aclRequired: this.text(FIELD.aclRequired),
      sourceRegion: this.text(FIELD.sourceRegion),
      fieldCount: this.fieldCount,
      extraFields: this.fieldCount > KNOWN_FIELDS ? this.fieldCount - KNOWN_FIELDS : 0,
    };
  }
}

const shared = new LineScanner();

/** Parse one access-log line (without its line break; a trailing CR or spaces are ignored). */
export function parseAccessLogLine(line: string): ParseResult {
  const bytes = Buffer.from(line, 'utf8');
  if (!shared.scan(bytes, 0, bytes.length))
    return { ok: false, reason: shared.reason, detail: shared.detail };
  return shared.toParsedLine();
}
