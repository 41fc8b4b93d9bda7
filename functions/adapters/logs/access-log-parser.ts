/**
 * A tolerant parser for one line of an S3 server access log.
 *
 * Fields are separated by single spaces, but three of them (request-URI, referer, user agent) are quoted
 * and S3 does NOT escape quotes inside them, and the time holds a space inside brackets. So a plain split
 * cannot work, and a regex over the whole line backtracks badly on hostile input. The scanner walks the
 * line once with indexOf/charCodeAt and ends each quoted field where what must follow it does follow:
 * - request-URI: a closing quote followed by status, error code and four counts, then the referer's start;
 * - referer: a closing quote followed by the start of the user agent (`"` or a bare `-`);
 * - user agent: a closing quote after which the known trailing fields hold no quote.
 * Where no candidate satisfies the anchor (a malformed line), the first quote followed by a space is the
 * end, so that the checks of the fields after it name what is wrong.
 *
 * Field generations: 17 fields (through user agent: the "18" of old lines when the time's inner space is
 * counted as a separator), 18 (version id), 24 (host id .. TLS version), 25 (access point ARN), 26
 * (aclRequired), 27 (source region). Fields after the 27th are counted and ignored. Fields a shorter line
 * lacks read as `-`.
 */

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

const SPACE = 32;
const QUOTE = 34;
const DASH = 45;
const LBRACKET = 91;
const ZERO = 48;
const NINE = 57;

/** Returned by readCount for `-`. */
const DASH_VALUE = -1;
/** Returned by readCount for anything that is neither digits nor `-`. */
const BAD = -2;

/** How the fields after a request-URI candidate fit. */
const FIT_ERROR = 0;
/** The fields are valid, but the anchor does not hold (a quote in the error code, odd referer start). */
const FIT_WEAK = 1;
/** The fields are valid and the referer starts right after them: this is the request-URI's end. */
const FIT_STRONG = 2;

/**
 * A reusable scanner that records where each field lies instead of cutting it out, so a hot loop can
 * take only the fields it needs. `parseAccessLogLine` is the convenient form for everything else.
 */
export class LineScanner {
  /** Start and end (exclusive) of each known field in `line`; equal when the field is absent or empty. */
  readonly start = new Int32Array(KNOWN_FIELDS);
  readonly end = new Int32Array(KNOWN_FIELDS);
  /** The last line scanned. */
  line = '';
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
  /** Where the referer starts, after a successful fitMiddle. */
  private cursor = 0;

  /** Text of known field `i` (see FIELD): `-` when absent or empty. */
  text(i: number): string {
    const a = this.start[i]!;
    const b = this.end[i]!;
    return b > a ? this.line.slice(a, b) : '-';
  }

  /** Scan one line (without its line break; a trailing CR or spaces are ignored). False when malformed. */
  scan(line: string): boolean {
    this.line = line;
    const st = this.start;
    const en = this.end;
    st.fill(0);
    en.fill(0);
    let end = line.length;
    while (end > 0) {
      const c = line.charCodeAt(end - 1);
      if (c === SPACE || c === 13 || c === 10 || c === 9) end--;
      else break;
    }
    // A byte-order mark can lead a hand-edited file; it is never part of the bucket owner.
    let p = end > 0 && line.charCodeAt(0) === 0xfeff ? 1 : 0;
    if (p >= end) return this.fail('empty-line', 'the line is blank');

    for (let f = 0; f < 2; f++) {
      const sp = nextSpace(line, p, end);
      if (sp === end) return this.tooFew(f + 1);
      st[f] = p;
      en[f] = sp;
      p = sp + 1;
    }

    if (line.charCodeAt(p) !== LBRACKET) return this.fail('bad-time', `expected "[" at column ${p + 1}`);
    const close = line.indexOf(']', p);
    if (close === -1 || close >= end) return this.fail('bad-time', 'no closing "]"');
    st[FIELD.time] = p + 1;
    en[FIELD.time] = close;
    this.timeMs = parseLogTime(line, p + 1, close);
    if (Number.isNaN(this.timeMs))
      return this.fail('bad-time', `cannot read time "${clip(line, p + 1, close)}"`);
    p = close + 1;
    if (p >= end) return this.tooFew(3);
    if (line.charCodeAt(p) !== SPACE) return this.fail('bad-time', 'no space after "]"');
    p++;

    for (let f = FIELD.remoteIp; f <= FIELD.key; f++) {
      const sp = nextSpace(line, p, end);
      if (sp === end) return this.tooFew(f + 1);
      st[f] = p;
      en[f] = sp;
      p = sp + 1;
    }

    if (line.charCodeAt(p) === QUOTE) {
      const first = quoteCandidate(line, p + 1, end);
      if (first === -1) return this.fail('unterminated-quote', 'request-URI has no closing quote');
      st[FIELD.requestUri] = p + 1;
      en[FIELD.requestUri] = first;
      if (this.fitMiddle(line, first + 2, end) !== FIT_STRONG) {
        // The URI may hold `" `: look for a later quote that the following fields do anchor.
        let q = quoteCandidate(line, first + 1, end);
        while (q !== -1 && this.fitMiddle(line, q + 2, end) !== FIT_STRONG)
          q = quoteCandidate(line, q + 1, end);
        if (q !== -1) en[FIELD.requestUri] = q;
        else if (this.fitMiddle(line, first + 2, end) === FIT_ERROR) return false;
      }
    } else {
      const sp = nextSpace(line, p, end);
      st[FIELD.requestUri] = p;
      en[FIELD.requestUri] = sp;
      if (this.fitMiddle(line, sp + 1, end) === FIT_ERROR) return false;
    }
    p = this.cursor;

    if (line.charCodeAt(p) === QUOTE) {
      const q = findRefererClose(line, p + 1, end);
      if (q === -1) return this.fail('unterminated-quote', 'referer has no closing quote');
      st[FIELD.referer] = p + 1;
      en[FIELD.referer] = q;
      p = q + 2;
    } else {
      const sp = nextSpace(line, p, end);
      st[FIELD.referer] = p;
      en[FIELD.referer] = sp;
      p = sp + 1;
    }
    if (p >= end) return this.tooFew(16);

    if (line.charCodeAt(p) === QUOTE) {
      const q = findAgentClose(line, p + 1, end);
      if (q === -1) return this.fail('unterminated-quote', 'user agent has no closing quote');
      st[FIELD.userAgent] = p + 1;
      en[FIELD.userAgent] = q;
      p = q + 2;
    } else {
      const sp = nextSpace(line, p, end);
      st[FIELD.userAgent] = p;
      en[FIELD.userAgent] = sp;
      p = sp + 1;
    }

    let count = MIN_FIELDS;
    while (p < end) {
      const sp = nextSpace(line, p, end);
      if (count < KNOWN_FIELDS) {
        st[count] = p;
        en[count] = sp;
      }
      count++;
      p = sp + 1;
    }
    this.fieldCount = count;
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

  /**
   * Reads status .. turn-around time from `p`, recording them, and says how well they fit. On
   * FIT_ERROR, `reason` and `detail` say why; otherwise `cursor` is where the referer starts.
   */
  private fitMiddle(line: string, p: number, end: number): number {
    const st = this.start;
    const en = this.end;
    if (p >= end) return this.misfit(this.tooFew(9));
    let sp = nextSpace(line, p, end);
    if (sp === end) return this.misfit(this.tooFew(10));
    if (!isStatus(line, p, sp)) {
      return this.misfit(this.fail('bad-status', `expected 3 digits or -, got "${clip(line, p, sp)}"`));
    }
    st[FIELD.httpStatus] = p;
    en[FIELD.httpStatus] = sp;
    p = sp + 1;
    sp = nextSpace(line, p, end);
    if (sp === end) return this.misfit(this.tooFew(11));
    st[FIELD.errorCode] = p;
    en[FIELD.errorCode] = sp;
    const quoteAt = line.indexOf('"', p);
    const errorHasQuote = quoteAt !== -1 && quoteAt < sp;
    p = sp + 1;
    for (let f = FIELD.bytesSent; f <= FIELD.turnAroundTime; f++) {
      sp = nextSpace(line, p, end);
      if (sp === end) return this.misfit(this.tooFew(f + 1));
      const v = readCount(line, p, sp);
      if (v === BAD) {
        const what = COUNT_NAMES[f - FIELD.bytesSent]!;
        const reason = f <= FIELD.objectSize ? 'bad-bytes' : 'bad-duration';
        return this.misfit(this.fail(reason, `${what} "${clip(line, p, sp)}" is not a count`));
      }
      st[f] = p;
      en[f] = sp;
      if (f === FIELD.bytesSent) this.bytesSent = v === DASH_VALUE ? 0 : v;
      else if (f === FIELD.objectSize) this.objectSize = v;
      else if (f === FIELD.totalTime) this.totalTime = v;
      else this.turnAround = v;
      p = sp + 1;
    }
    this.cursor = p;
    const c = line.charCodeAt(p);
    return !errorHasQuote && (c === QUOTE || c === DASH) ? FIT_STRONG : FIT_WEAK;
  }

  private misfit(_failed: false): number {
    return FIT_ERROR;
  }

  private fail(reason: MalformedReason, detail: string): false {
    this.reason = reason;
    this.detail = detail;
    return false;
  }

  private tooFew(count: number): false {
    return this.fail('too-few-fields', `${count} fields, at least ${MIN_FIELDS} needed`);
  }
}

const COUNT_NAMES = ['bytes sent', 'object size', 'total time', 'turn-around time'];

const shared = new LineScanner();

/** Parse one access-log line (without its line break; a trailing CR or spaces are ignored). */
export function parseAccessLogLine(line: string): ParseResult {
  if (!shared.scan(line)) return { ok: false, reason: shared.reason, detail: shared.detail };
  return shared.toParsedLine();
}

/** Index of the next space at or after `from`, or `end` when there is none before it. */
function nextSpace(s: string, from: number, end: number): number {
  const i = s.indexOf(' ', from);
  return i === -1 || i > end ? end : i;
}

function clip(s: string, a: number, b: number): string {
  return b - a > 40 ? `${s.slice(a, a + 40)}...` : s.slice(a, b);
}

/** Digits as a number, DASH_VALUE for `-`, BAD otherwise (also past 2^53, which no log count reaches). */
function readCount(s: string, a: number, b: number): number {
  if (b - a === 1 && s.charCodeAt(a) === DASH) return DASH_VALUE;
  if (b <= a || b - a > 16) return BAD;
  let v = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c < ZERO || c > NINE) return BAD;
    v = v * 10 + (c - ZERO);
  }
  return Number.isSafeInteger(v) ? v : BAD;
}

function isStatus(s: string, a: number, b: number): boolean {
  if (b - a === 1) return s.charCodeAt(a) === DASH;
  return (
    b - a === 3 && isDigit(s.charCodeAt(a)) && isDigit(s.charCodeAt(a + 1)) && isDigit(s.charCodeAt(a + 2))
  );
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** The first `"` at or after `from` that is followed by a space or the end, or -1. */
function quoteCandidate(s: string, from: number, end: number): number {
  let q = s.indexOf('"', from);
  while (q !== -1 && q < end) {
    if (q + 1 === end || s.charCodeAt(q + 1) === SPACE) return q;
    q = s.indexOf('"', q + 1);
  }
  return -1;
}

/** The closing quote of the referer: a `"` followed by the user agent's start (` "` or a bare ` -`). */
function findRefererClose(s: string, from: number, end: number): number {
  const first = quoteCandidate(s, from, end);
  for (let q = first; q !== -1; q = quoteCandidate(s, q + 1, end)) {
    const c = s.charCodeAt(q + 2);
    if (c === QUOTE) return q;
    if (c === DASH && (q + 3 >= end || s.charCodeAt(q + 3) === SPACE)) return q;
  }
  return first;
}

/** Trailing fields after the user agent that the parser names (version id .. source region). */
const TRAILING_KNOWN = KNOWN_FIELDS - MIN_FIELDS;

/**
 * The closing quote of the user agent: the first candidate after which the next known trailing fields
 * hold no quote. A quote inside the agent fails that test because the agent's real closing quote still
 * lies ahead within those fields.
 */
function findAgentClose(s: string, from: number, end: number): number {
  const first = quoteCandidate(s, from, end);
  for (let q = first; q !== -1; q = quoteCandidate(s, q + 1, end)) {
    const nextQuote = s.indexOf('"', q + 1);
    if (nextQuote === -1 || nextQuote >= end) return q;
    let windowEnd = q + 1;
    for (let n = 0; n < TRAILING_KNOWN && windowEnd < end; n++) windowEnd = nextSpace(s, windowEnd + 1, end);
    if (nextQuote >= windowEnd) return q;
  }
  return first;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Month number (1-12) of an English three-letter abbreviation at `i`, or 0. */
function monthAt(s: string, i: number): number {
  const a = s.charCodeAt(i);
  const b = s.charCodeAt(i + 1);
  const c = s.charCodeAt(i + 2);
  // Keyed on the letters, as `Date` would need a whole date string to parse them.
  switch (a) {
    case 74: // J
      if (b === 97 && c === 110) return 1; // Jan
      if (b === 117 && c === 110) return 6; // Jun
      if (b === 117 && c === 108) return 7; // Jul
      return 0;
    case 70: // F
      return b === 101 && c === 98 ? 2 : 0; // Feb
    case 77: // M
      if (b === 97 && c === 114) return 3; // Mar
      if (b === 97 && c === 121) return 5; // May
      return 0;
    case 65: // A
      if (b === 112 && c === 114) return 4; // Apr
      if (b === 117 && c === 103) return 8; // Aug
      return 0;
    case 83: // S
      return b === 101 && c === 112 ? 9 : 0; // Sep
    case 79: // O
      return b === 99 && c === 116 ? 10 : 0; // Oct
    case 78: // N
      return b === 111 && c === 118 ? 11 : 0; // Nov
    case 68: // D
      return b === 101 && c === 99 ? 12 : 0; // Dec
    default:
      return 0;
  }
}

/** Two digits at `i` as a number, or NaN. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - ZERO;
  const b = s.charCodeAt(i + 1) - ZERO;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : Number.NaN;
}

/**
 * `DD/Mon/YYYY:HH:MM:SS ±HHMM` in [a, b) of `s` as epoch ms (UTC), or NaN. Hand-rolled rather than
 * `Date.parse`, which does not read this layout portably and costs far more per line.
 */
export function parseLogTime(s: string, a: number, b: number): number {
  if (b - a !== 26) return Number.NaN;
  if (
    s.charCodeAt(a + 2) !== 47 ||
    s.charCodeAt(a + 6) !== 47 ||
    s.charCodeAt(a + 11) !== 58 ||
    s.charCodeAt(a + 14) !== 58 ||
    s.charCodeAt(a + 17) !== 58 ||
    s.charCodeAt(a + 20) !== SPACE
  ) {
    return Number.NaN;
  }
  const day = two(s, a);
  const month = monthAt(s, a + 3);
  const year = two(s, a + 7) * 100 + two(s, a + 9);
  const hour = two(s, a + 12);
  const minute = two(s, a + 15);
  const second = two(s, a + 18);
  const sign = s.charCodeAt(a + 21);
  const offH = two(s, a + 22);
  const offM = two(s, a + 24);
  if (month === 0 || (sign !== 43 && sign !== DASH)) return Number.NaN;
  // NaN fails every comparison, so a non-digit anywhere lands here too.
  if (!(hour <= 23 && minute <= 59 && second <= 59 && offH <= 23 && offM <= 59 && year >= 1970)) {
    return Number.NaN;
  }
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (!(day >= 1 && day <= monthDays)) return Number.NaN;
  const offsetMin = (offH * 60 + offM) * (sign === DASH ? -1 : 1);
  const local = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second;
  return (local - offsetMin * 60) * 1000;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (the well-known era-based formula). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}
