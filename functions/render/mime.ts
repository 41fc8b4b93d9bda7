/**
 * One MIME composer for every notice: the same RFC 5322 bytes go to the local outbox (.eml) and to
 * SES SendRawEmail. Pure: the date and the Message-ID are handed in, nothing is random.
 *
 * What it guarantees: CRLF line ends; no line longer than 998 characters (bodies are quoted-printable,
 * at most 76 characters a line); non-ASCII subjects and display names as RFC 2047 encoded-words; and
 * no header injection: a CR or LF in an address, a Message-ID or an extra header throws
 * HeaderInjectionError, while the subject (free text built from registry names) has them replaced.
 */

import {
  type AddressInput,
  CR_OR_LF,
  formatMailbox,
  HeaderInjectionError,
  type Mailbox,
  MimeError,
  OTHER_CONTROLS,
  toMailbox,
} from './mailbox.js';

export interface MimeInput {
  readonly from: AddressInput;
  readonly to: readonly AddressInput[];
  readonly cc?: readonly AddressInput[];
  readonly replyTo?: AddressInput;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** `id@domain`, with or without the angle brackets. */
  readonly messageId: string;
  readonly date: Date;
  /** Extra headers such as `X-Partner-Audit-Notice`; may not replace the ones built here. */
  readonly headers?: Readonly<Record<string, string>>;
}

const CRLF = '\r\n';
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'sender',
  'return-path',
]);
// An encoded-word may be at most 75 characters: `=?UTF-8?B?` + base64 + `?=` leaves 63 for base64,
// i.e. 45 bytes; 42 keeps a folded `Subject: ` line within the recommended 78.
const WORD_BYTES = 42;
const SOFT_LINE = 76;

/** The mailbox as a header writes it: a non-ASCII display name becomes encoded-words. */
function headerMailbox(m: Mailbox): string {
  if (!m.name) return m.email;
  if (isPrintableAscii(m.name)) return formatMailbox(m);
  return `${encodedWords(m.name).join(`${CRLF} `)} <${m.email}>`;
}

function isPrintableAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/**
 * `text` as RFC 2047 `B` encoded-words of at most 75 characters each, split between characters
 * (never inside a UTF-8 sequence), to be joined by folding whitespace.
 */
export function encodedWords(text: string): string[] {
  const words: string[] = [];
  let chunk = '';
  let chunkBytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (chunkBytes + n > WORD_BYTES && chunk) {
      words.push(encodeWord(chunk));
      chunk = '';
      chunkBytes = 0;
    }
    chunk += ch;
    chunkBytes += n;
  }
  if (chunk || words.length === 0) words.push(encodeWord(chunk));
  return words;
}

function encodeWord(s: string): string {
  return `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

/** The subject as people should see it: one line, no controls, single spaces. */
export function cleanSubject(subject: string): string {
  return subject
    .replace(/[\r\n\t]+/g, ' ')
    .replace(OTHER_CONTROLS, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** A whole `Name: value` header with an unstructured value, folded or encoded as needed. */
function unstructuredHeader(name: string, value: string): string {
  const words = value.split(' ');
  // Plain ASCII is folded at spaces; anything a reader could mistake for an encoded-word, or a word
  // too long to fold, is encoded instead.
  if (isPrintableAscii(value) && !value.includes('=?') && words.every((w) => w.length <= SOFT_LINE)) {
    const lines: string[] = [];
    let line = `${name}:`;
    for (const w of words) {
      if (line.length + 1 + w.length > 78 && line.trim() !== `${name}:`) {
        lines.push(line);
        line = '';
      }
      line += ` ${w}`;
    }
    lines.push(line);
    return lines.join(CRLF);
  }
  return `${name}: ${encodedWords(value).join(`${CRLF} `)}`;
}

function addressHeader(name: string, list: readonly AddressInput[]): string {
  const boxes = list.map((a) => headerMailbox(toMailbox(a, name)));
  const oneLine = `${name}: ${boxes.join(', ')}`;
  if (!oneLine.includes(CRLF) && oneLine.length <= 78) return oneLine;
  return `${name}: ${boxes.join(`,${CRLF} `)}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC: `Tue, 01 Dec 2026 06:00:00 +0000`. */
export function formatRfc5322Date(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new MimeError('Date: not a valid date');
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[date.getUTCDay()]}, ${p(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`
  );
}

/** The Message-ID without angle brackets; throws on anything that would not be a valid msg-id. */
export function normaliseMessageId(messageId: string): string {
  if (CR_OR_LF.test(messageId)) throw new HeaderInjectionError('Message-ID', messageId);
  const bare = messageId.trim().replace(/^<(.*)>$/, '$1');
  if (!/^[\x21-\x7e]+@[\x21-\x7e]+$/.test(bare) || /[<>@]/.test(bare.replace(/@(?=[^@]*$)/, ''))) {
    throw new MimeError(`Message-ID: ${JSON.stringify(messageId)} is not of the form id@domain`);
  }
  return bare;
}

/**
 * Quoted-printable (RFC 2045) of UTF-8 text. Line ends become CRLF; encoded lines are at most 76
 * characters. A `.` or `From ` at the start of a line is encoded too, so neither SMTP dot-stuffing
 * nor mbox quoting can alter the body.
 */
export function encodeQuotedPrintable(text: string): string {
  return text
    .replace(/\r\n|\r|\n/g, '\n')
    .split('\n')
    .map(encodeQpLine)
    .join(CRLF);
}

function encodeQpLine(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const last = i === bytes.length - 1;
    const printable = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
    const atLineStart = cur === '';
    const risky =
      atLineStart && (b === 46 || (b === 70 && bytes.subarray(i, i + 5).toString('latin1') === 'From '));
    const token =
      printable && !risky ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    // Keep room for the `=` of a soft line break.
    if (cur.length + token.length > SOFT_LINE - 1) {
      out.push(`${cur}=`);
      cur = '';
      // The byte may now sit at the start of a line, where it is risky.
      i--;
      continue;
    }
    cur += token;
  }
  out.push(cur);
  return out.join(CRLF);
}

function boundaryFor(messageId: string): string {
  // FNV-1a: a stable, dependency-free hash so the same message always gives the same bytes.
  let h = 0x811c9dc5;
  for (const c of Buffer.from(messageId, 'utf8')) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // `=_` can never occur in quoted-printable output, so the boundary cannot collide with a body line.
  return `=_partner-audit_${h.toString(16).padStart(8, '0')}`;
}

function extraHeader(name: string, value: string): string {
  if (!HEADER_NAME.test(name)) throw new MimeError(`header name ${JSON.stringify(name)} is not valid`);
  if (RESERVED_HEADERS.has(name.toLowerCase())) {
    throw new MimeError(`header ${name} is set by buildMime and cannot be given in headers`);
  }
  if (CR_OR_LF.test(value)) throw new HeaderInjectionError(name, value);
  return unstructuredHeader(name, value.replace(OTHER_CONTROLS, ''));
}

/**
 * Build a complete multipart/alternative (text + HTML) message, ready for an .eml file or SES
 * SendRawEmail. Throws HeaderInjectionError or AddressError on unsafe input; never emits a bare LF.
 */
export function buildMime(input: MimeInput): string {
  if (input.to.length === 0) throw new MimeError('To: at least one recipient is needed');
  const messageId = normaliseMessageId(input.messageId);
  const boundary = boundaryFor(messageId);
  const headers = [addressHeader('From', [input.from]), addressHeader('To', input.to)];
  if (input.cc && input.cc.length > 0) headers.push(addressHeader('Cc', input.cc));
  if (input.replyTo !== undefined) headers.push(addressHeader('Reply-To', [input.replyTo]));
  headers.push(
    unstructuredHeader('Subject', cleanSubject(input.subject)),
    `Date: ${formatRfc5322Date(input.date)}`,
    `Message-ID: <${messageId}>`,
    'MIME-Version: 1.0',
  );
  for (const [name, value] of Object.entries(input.headers ?? {})) headers.push(extraHeader(name, value));
  headers.push(`Content-Type: multipart/alternative; boundary="${boundary}"`);

  const part = (type: string, body: string) =>
    [
      `--${boundary}`,
      `Content-Type: ${type}; charset=UTF-8`,
      'Content-Transfer-Encoding: quoted-printable',
      '',
      encodeQuotedPrintable(body),
    ].join(CRLF);

  return [
    ...headers,
    '',
    'This is a multi-part message in MIME format.',
    part('text/plain', input.text),
    part('text/html', input.html),
    `--${boundary}--`,
    '',
  ].join(CRLF);
}
