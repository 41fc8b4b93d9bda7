import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressError, HeaderInjectionError, parseMailbox } from '../../functions/render/mailbox.js';
import { buildMime, type MimeInput } from '../../functions/render/mime.js';

/** A small, independent MIME reader: enough to prove what buildMime writes can be read back. */
function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _cs, enc: string, data: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(
            data
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

function decodeQp(body: string): string {
  const joined = body.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    if (joined[i] === '=') {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(joined.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return headers;
}

function parseMessage(raw: string) {
  const split = raw.indexOf('\r\n\r\n');
  const headers = parseHeaders(raw.slice(0, split));
  const boundary = /boundary="([^"]+)"/.exec(headers.get('content-type') ?? '')?.[1];
  if (!boundary) throw new Error('no boundary');
  const body = raw.slice(split + 4);
  const chunks = body.split(`--${boundary}`);
  const parts = chunks.slice(1, -1).map((chunk) => {
    const c = chunk.replace(/^\r\n/, '').replace(/\r\n$/, '');
    const at = c.indexOf('\r\n\r\n');
    const h = parseHeaders(c.slice(0, at));
    return { headers: h, body: decodeQp(c.slice(at + 4)) };
  });
  return { headers, parts, closing: chunks[chunks.length - 1] };
}

const base: MimeInput = {
  from: 'Data Partnerships <partners@northwind.example>',
  to: ['Jane Doe <jane@acme.example>', 'ops@acme.example'],
  cc: [{ name: 'Account Manager', email: 'am@northwind.example' }],
  subject: '[Action required] Acme Analytics: data usage at 152% of the November 2026 limit (escalation)',
  text: 'Hello,\nline two\n',
  html: '<p>Hello</p>',
  messageId: 'acme.2026-11.escalation.run1@partner-audit.example',
  date: new Date(Date.UTC(2026, 11, 1, 6, 5, 9)),
};

describe('buildMime', () => {
  it('writes CRLF line ends only, and no line longer than 998 characters', async () => {
    const raw = await buildMime({
      ...base,
      text: `${'x'.repeat(5000)}\n${'é'.repeat(3000)}`,
      html: 'y'.repeat(4000),
    });
    expect(raw).not.toMatch(/[^\r]\n/);
    expect(raw).not.toMatch(/\r(?!\n)/);
    for (const line of raw.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
    for (const line of raw.split('\r\n').slice(raw.split('\r\n').indexOf('') + 1)) {
      expect(line.length).toBeLessThanOrEqual(76);
    }
  });

  it('round-trips headers and both parts through an independent reader', async () => {
    const msg = parseMessage(await buildMime(base));
    expect(msg.headers.get('from')).toBe('Data Partnerships <partners@northwind.example>');
    expect(msg.headers.get('to')).toBe('Jane Doe <jane@acme.example>, ops@acme.example');
    expect(msg.headers.get('cc')).toBe('Account Manager <am@northwind.example>');
    expect(msg.headers.get('subject')).toBe(base.subject);
    expect(msg.headers.get('date')).toBe('Tue, 01 Dec 2026 06:05:09 +0000');
    expect(msg.headers.get('message-id')).toBe(`<${base.messageId}>`);
    expect(msg.headers.get('mime-version')).toBe('1.0');
    expect(msg.parts).toHaveLength(2);
    expect(msg.parts[0]!.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(msg.parts[0]!.body).toBe('Hello,\r\nline two\r\n');
    expect(msg.parts[1]!.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(msg.parts[1]!.body).toBe('<p>Hello</p>');
    expect(msg.closing).toBe('--\r\n');
  });

  it('encodes a non-ASCII subject and display name as RFC 2047 encoded-words', async () => {
    const raw = await buildMime({
      ...base,
      subject: 'Überschreitung: Müller & Söhne GmbH hat 152 % des Limits für November erreicht — 東京',
      to: [{ name: 'Jörg Müller', email: 'joerg@acme.example' }],
    });
    const headerBlock = raw.slice(0, raw.indexOf('\r\n\r\n'));
    expect(headerBlock).toMatch(/^[\x00-\x7f]*$/);
    expect(headerBlock).toContain('Subject: =?UTF-8?B?');
    for (const word of headerBlock.match(/=\?[^?]+\?B\?[^?]*\?=/g) ?? [])
      expect(word.length).toBeLessThanOrEqual(75);
    const msg = parseMessage(raw);
    expect(decodeWords(msg.headers.get('subject')!)).toBe(
      'Überschreitung: Müller & Söhne GmbH hat 152 % des Limits für November erreicht — 東京',
    );
    expect(decodeWords(msg.headers.get('to')!)).toBe('Jörg Müller <joerg@acme.example>');
  });

  it('quotes a display name with specials so the comma does not split the address', async () => {
    const msg = parseMessage(
      await buildMime({ ...base, to: [{ name: 'Doe, Jane "JD"', email: 'jane@acme.example' }] }),
    );
    expect(msg.headers.get('to')).toBe('"Doe, Jane \\"JD\\"" <jane@acme.example>');
  });

  it('folds a long ASCII subject at spaces and reads back unchanged', async () => {
    const subject = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const raw = await buildMime({ ...base, subject });
    const headerLines = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
    for (const line of headerLines) expect(line.length).toBeLessThanOrEqual(78);
    expect(parseMessage(raw).headers.get('subject')).toBe(subject);
  });

  it('strips CR and LF from the subject instead of letting it start a new header', async () => {
    const raw = await buildMime({ ...base, subject: 'Hello\r\nBcc: victim@evil.example\nX: y' });
    const msg = parseMessage(raw);
    expect(msg.headers.has('bcc')).toBe(false);
    expect(msg.headers.has('x')).toBe(false);
    expect(msg.headers.get('subject')).toBe('Hello Bcc: victim@evil.example X: y');
  });

  it.each([
    ['to as text', { to: ['jane@acme.example\r\nBcc: victim@evil.example'] }],
    ['to display name', { to: [{ name: 'Jane\nBcc: victim@evil.example', email: 'jane@acme.example' }] }],
    ['cc address', { cc: [{ email: 'am@northwind.example\r\n' }] }],
    ['from', { from: 'Partners <partners@northwind.example>\nBcc: x@evil.example' }],
    ['reply-to', { replyTo: 'a@b.example\r\nX-Evil: 1' }],
    ['message id', { messageId: 'id@x.example\r\nBcc: victim@evil.example' }],
    ['extra header value', { headers: { 'X-Ref': 'run\r\nBcc: victim@evil.example' } }],
  ])('throws HeaderInjectionError for CR/LF in %s', async (_what, over) => {
    await expect(buildMime({ ...base, ...over } as MimeInput)).rejects.toThrow(HeaderInjectionError);
  });

  it('rejects addresses that are not plain local@domain', async () => {
    await expect(buildMime({ ...base, to: ['not an address'] })).rejects.toThrow(AddressError);
    await expect(buildMime({ ...base, to: ['a@b.example, c@d.example'] })).rejects.toThrow(AddressError);
    await expect(buildMime({ ...base, to: [] })).rejects.toThrow(/at least one recipient/);
  });

  it('refuses extra headers that would replace the ones it builds', async () => {
    await expect(buildMime({ ...base, headers: { bcc: 'x@evil.example' } })).rejects.toThrow(
      /cannot be given/,
    );
    await expect(buildMime({ ...base, headers: { 'Bad Name': 'x' } })).rejects.toThrow(/not valid/);
  });

  it('writes extra headers, and accepts a Message-ID given in angle brackets', async () => {
    const msg = parseMessage(
      await buildMime({
        ...base,
        messageId: `<${base.messageId}>`,
        headers: { 'X-Partner-Audit-Notice': 'acme/2026-11/x' },
      }),
    );
    expect(msg.headers.get('x-partner-audit-notice')).toBe('acme/2026-11/x');
    expect(msg.headers.get('message-id')).toBe(`<${base.messageId}>`);
  });

  it('is deterministic: the same input gives the same bytes', async () => {
    expect(await buildMime(base)).toBe(await buildMime(base));
  });

  it('round-trips any Unicode subject and bodies (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.string({ unit: 'binary', maxLength: 400 }),
        async (subject, text, html) => {
          const raw = await buildMime({ ...base, subject, text, html });
          expect(raw).not.toMatch(/[^\r]\n|\r(?!\n)/);
          for (const line of raw.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
          const msg = parseMessage(raw);
          const expectedSubject = subject
            .replace(/[\r\n\t]+/g, ' ')
            .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '')
            .replace(/ {2,}/g, ' ')
            .trim();
          expect(decodeWords(msg.headers.get('subject') ?? '')).toBe(expectedSubject);
          const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, '\r\n');
          expect(msg.parts[0]!.body).toBe(crlf(text));
          expect(msg.parts[1]!.body).toBe(crlf(html));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the quoted-printable bodies', () => {
  it('encode =, trailing spaces, and read back a leading dot and a leading "From " unchanged', async () => {
    const msg = parseMessage(await buildMime({ ...base, text: 'a=b \n.dot\nFrom me', html: '.x\nFrom y' }));
    const raw = await buildMime({ ...base, text: 'a=b \n.dot\nFrom me' });
    expect(raw).toContain('a=3Db=20\r\n');
    expect(msg.parts[0]!.body).toBe('a=b \r\n.dot\r\nFrom me');
    expect(msg.parts[1]!.body).toBe('.x\r\nFrom y');
  });

  it('keep encoded lines within 76 characters without splitting an escape', async () => {
    const raw = await buildMime({ ...base, text: '€'.repeat(100) });
    const part = parseMessage(raw).parts[0]!;
    expect(part.body).toBe('€'.repeat(100));
    const encoded = raw.slice(raw.indexOf('=E2'), raw.indexOf('\r\n--', raw.indexOf('=E2')));
    for (const line of encoded.split('\r\n')) {
      expect(line.length).toBeLessThanOrEqual(76);
      expect(line).toMatch(/^(=[0-9A-F]{2})*=?$/);
    }
  });
});

describe('the Date header', () => {
  it('writes the day, month and zone as RFC 5322 asks', async () => {
    const msg = parseMessage(await buildMime({ ...base, date: new Date(Date.UTC(2027, 0, 3, 23, 59, 1)) }));
    expect(msg.headers.get('date')).toBe('Sun, 03 Jan 2027 23:59:01 +0000');
  });
});

describe('parseMailbox', () => {
  it.each([
    ['jane@acme.example', { email: 'jane@acme.example' }],
    ['Jane Doe <jane@acme.example>', { name: 'Jane Doe', email: 'jane@acme.example' }],
    ['"Doe, Jane" <jane@acme.example>', { name: 'Doe, Jane', email: 'jane@acme.example' }],
    ['<jane@acme.example>', { email: 'jane@acme.example' }],
  ])('reads %s', async (text, expected) => {
    expect(parseMailbox(text)).toEqual(expected);
  });
});
