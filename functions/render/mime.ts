/**
 * One MIME composer for every notice: the same RFC 5322 bytes go to the local outbox (.eml) and to
 * SES SendRawEmail. Built on nodemailer's MailComposer; what is ours is the checking of the inputs
 * and what makes the bytes reproducible.
 *
 * What it guarantees: CRLF line ends; no line longer than 998 characters (bodies are quoted-printable,
 * at most 76 characters a line); non-ASCII subjects and display names as RFC 2047 `B` encoded-words;
 * no header injection: a CR or LF in an address, a Message-ID or an extra header throws
 * HeaderInjectionError, while the subject (free text built from registry names) has them replaced;
 * and the same input gives the same bytes: the Message-ID and the Date are handed in, and the
 * multipart boundary is derived from the Message-ID, so a retry sends the identical message.
 */
import { createHash } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import {
  type AddressInput,
  CR_OR_LF,
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

/** The subject as people should see it: one line, no controls, single spaces. */
export function cleanSubject(subject: string): string {
  return subject
    .replace(/[\r\n\t]+/g, ' ')
    .replace(OTHER_CONTROLS, '')
    .replace(/ {2,}/g, ' ')
    .trim();
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

function extraHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new MimeError(`header name ${JSON.stringify(name)} is not valid`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new MimeError(`header ${name} is set by buildMime and cannot be given in headers`);
    }
    if (CR_OR_LF.test(value)) throw new HeaderInjectionError(name, value);
    out[name] = value.replace(OTHER_CONTROLS, '');
  }
  return out;
}

const address = (m: Mailbox) => ({ name: m.name ?? '', address: m.email });

/** Line ends as MIME wants them, whatever the text came with. */
const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, '\r\n');

/**
 * Build a complete multipart/alternative (text + HTML) message, ready for an .eml file or SES
 * SendRawEmail. Throws HeaderInjectionError or AddressError on unsafe input; never emits a bare LF.
 */
export async function buildMime(input: MimeInput): Promise<string> {
  if (input.to.length === 0) throw new MimeError('To: at least one recipient is needed');
  if (Number.isNaN(input.date.getTime())) throw new MimeError('Date: not a valid date');
  const messageId = normaliseMessageId(input.messageId);
  const from = toMailbox(input.from, 'From');
  const to = input.to.map((a) => toMailbox(a, 'To'));
  const cc = (input.cc ?? []).map((a) => toMailbox(a, 'Cc'));
  const replyTo = input.replyTo === undefined ? undefined : toMailbox(input.replyTo, 'Reply-To');
  const headers = extraHeaders(input.headers ?? {});
  const composer = new MailComposer({
    from: address(from),
    to: to.map(address),
    ...(cc.length > 0 ? { cc: cc.map(address) } : {}),
    ...(replyTo ? { replyTo: address(replyTo) } : {}),
    subject: cleanSubject(input.subject),
    date: input.date,
    headers: {
      // On one line however long: a folded msg-id is legal but some readers do not unfold it, and
      // normaliseMessageId has made sure it holds nothing that needs encoding.
      'Message-ID': { prepared: true, value: `<${messageId}>` },
      ...headers,
    },
    // Content in hand, never `path` or `href`, and access turned off: composing reads no file and
    // fetches nothing. Buffers, because the composer takes an empty string for no content at all.
    text: { content: Buffer.from(crlf(input.text), 'utf8'), contentTransferEncoding: 'quoted-printable' },
    html: { content: Buffer.from(crlf(input.html), 'utf8'), contentTransferEncoding: 'quoted-printable' },
    disableFileAccess: true,
    disableUrlAccess: true,
    // Encoded-words in B form; bodies stay quoted-printable (set above), readable in an .eml.
    textEncoding: 'B',
    // `=_` can never occur in quoted-printable output, so the boundary cannot collide with a body line.
    boundaryPrefix: '=_partner-audit',
    baseBoundary: createHash('sha256').update(messageId).digest('hex').slice(0, 16),
    newline: '\r\n',
  });
  const raw = await composer.compile().build();
  return raw.toString('utf8');
}
