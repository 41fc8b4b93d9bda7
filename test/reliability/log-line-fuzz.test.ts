/**
 * Hostile log lines: a property-based fuzzer that renders realistic S3 access-log lines (every layout
 * S3 has written) and mutates them the ways broken delivery, hand edits and attackers do. Every line
 * must come back parsed or malformed with a reason, never as a throw; and garbage lines mixed into a
 * file must not change what the good lines count.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestLogFile, parseAccessLogLine } from '../../functions/adapters/logs/index.js';
import { encodeKey, type LogLineFields, renderLine } from '../../functions/cli/generate/generator.js';
import { tempDir } from './helpers.js';

const LINE_REASONS = new Set([
  'empty-line',
  'too-few-fields',
  'bad-time',
  'unterminated-quote',
  'bad-status',
  'bad-bytes',
  'bad-duration',
]);

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const account = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 12, maxLength: 12 });
const word = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'),
  minLength: 1,
  maxLength: 12,
});

/** Requester shapes S3 writes: a canonical user id, an IAM user or assumed-role ARN, a service principal. */
const requester = fc.oneof(
  hex(64),
  fc.tuple(account, word).map(([a, u]) => `arn:aws:iam::${a}:user/${u}`),
  fc.tuple(account, word, word).map(([a, r, s]) => `arn:aws:sts::${a}:assumed-role/${r}/${s}`),
  word.map((s) => `svc:${s}.amazonaws.com`),
  fc.constant('AmazonS3'),
  fc.constant('-'),
);

/** Keys with the characters real keys hold, URL-encoded as S3 logs them. */
const key = fc
  .array(fc.string({ unit: fc.constantFrom(...'abcXYZ019-_. +%"é/&=?'), minLength: 1, maxLength: 10 }), {
    minLength: 1,
    maxLength: 5,
  })
  .map((segments) => encodeKey(segments.join('/')));

/** Free text S3 writes unescaped between quotes: user agents and request lines hold quotes and spaces. */
const freeText = fc.string({
  unit: fc.constantFrom(...'abcAZ09 /.;()"-_=[]:'.split(''), ' "', '" ', 'aws-cli/2.15', 'Mozilla/5.0 (X11)'),
  maxLength: 40,
});

const operation = fc.constantFrom(
  'REST.GET.OBJECT',
  'REST.HEAD.OBJECT',
  'REST.PUT.OBJECT',
  'REST.GET.BUCKET',
  'BATCH.DELETE.OBJECT',
  'REST.COPY.OBJECT_GET',
  'S3.EXPIRE.OBJECT',
);

const fields: fc.Arbitrary<Partial<LogLineFields>> = fc.record({
  bucketOwner: hex(64),
  bucket: word,
  // 2019 to 2030, at any second, printed in any offset S3 or an old proxy used.
  timeMs: fc.integer({ min: 1_546_300_800_000, max: 1_893_456_000_000 }),
  utcOffsetMinutes: fc.integer({ min: -12 * 60, max: 14 * 60 }),
  remoteIp: fc.ipV4(),
  requester,
  requestId: fc.string({ unit: fc.constantFrom(...'ABCDEF0123456789'), minLength: 16, maxLength: 16 }),
  operation,
  key: fc.oneof(key, fc.constant('-')),
  requestUri: fc.oneof(
    freeText.map((t) => `GET /${t} HTTP/1.1`),
    fc.constant('-'),
  ),
  httpStatus: fc.constantFrom('200', '206', '304', '403', '404', '500', '503', '-'),
  errorCode: fc.constantFrom('-', 'NoSuchKey', 'AccessDenied', 'SlowDown'),
  bytesSent: fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 52n })),
  objectSize: fc.oneof(fc.nat(), fc.constant('-')),
  totalTimeMs: fc.oneof(fc.nat({ max: 100_000 }), fc.constant('-')),
  turnAroundMs: fc.oneof(fc.nat({ max: 100_000 }), fc.constant('-')),
  referer: fc.oneof(freeText, fc.constant('-')),
  userAgent: fc.oneof(freeText, fc.constant('-')),
  versionId: fc.oneof(fc.constant('-'), word),
  hostId: fc.base64String({ minLength: 4, maxLength: 76 }),
  signatureVersion: fc.constantFrom('SigV4', 'SigV2', '-'),
  cipherSuite: fc.constantFrom('TLS_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', '-'),
  authType: fc.constantFrom('AuthHeader', 'QueryString', '-'),
  hostHeader: word.map((b) => `${b}.s3.us-east-1.amazonaws.com`),
  tlsVersion: fc.constantFrom('TLSv1.2', 'TLSv1.3', '-'),
  accessPointArn: fc.oneof(
    fc.constant('-'),
    fc.tuple(account, word).map(([a, n]) => `arn:aws:s3:us-east-1:${a}:accesspoint/${n}`),
  ),
  aclRequired: fc.constantFrom('-', 'Yes'),
  sourceRegion: fc.constantFrom('us-east-1', 'eu-central-1', '-'),
  fieldCount: fc.constantFrom(18, 24, 25, 26, 27),
  bareQuotedDashes: fc.boolean(),
  extraFields: fc.array(word, { maxLength: 2 }),
});

/**
 * Fields whose line reads back one way only. S3 does not escape quotes, so a referer or agent with a
 * quote before a space or at its end (`"a" " ""`) prints like a different split of the same bytes;
 * such lines stay in the mutation fuzzing below, where any answer but a throw is acceptable.
 */
const unambiguous = (t: string | undefined) => (t ?? '-').replace(/"(?= |$)/g, '"x');
const clearFields = fields.map((f) => ({
  ...f,
  referer: unambiguous(f.referer),
  userAgent: unambiguous(f.userAgent),
}));

/** A realistic line as S3 would write it. */
const realLine = fields.map((f) => renderLine(f));
/** A realistic line that parses: the "good" lines of the file property. */
const goodLine = clearFields.map((f) => renderLine(f));

/** Characters that break tokenizers: quotes, spaces, brackets, controls, odd Unicode, lone surrogates. */
const nasty = fc.constantFrom(
  '"',
  ' ',
  '  ',
  '[',
  ']',
  '\0',
  '\t',
  '\r',
  '-',
  '\\',
  '\u2028',
  '\u2029',
  '\u0085',
  '\ufeff',
  '\ufffd',
  '\ud800',
  'é',
  '😀',
  '" "',
  '] [',
);

type Mutation = (line: string) => string;
const at = (line: string, p: number) => Math.floor(p * (line.length + 1));

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .double({ min: 0, max: 1, noNaN: true })
    .map((p) => (l: string) => l.slice(0, at(l, p)) + l.slice(at(l, p) + 1)),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), nasty).map(
    ([p, c]) =>
      (l: string) =>
        l.slice(0, at(l, p)) + c + l.slice(at(l, p)),
  ),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 30 })).map(
    ([p, n]) =>
      (l: string) =>
        l.slice(0, at(l, p) + n) + l.slice(at(l, p), at(l, p) + n) + l.slice(at(l, p) + n),
  ),
  fc.double({ min: 0, max: 1, noNaN: true }).map((p) => (l: string) => l.slice(0, at(l, p))),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 100, max: 5000 }), nasty).map(
    ([p, n, c]) =>
      (l: string) =>
        l.slice(0, at(l, p)) + c.repeat(n) + l.slice(at(l, p)),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => (l: string) => {
    const parts = l.split(' ');
    const a = i % parts.length;
    const b = j % parts.length;
    [parts[a], parts[b]] = [parts[b] ?? '', parts[a] ?? ''];
    return parts.join(' ');
  }),
  fc.nat().map((i) => (l: string) => {
    const parts = l.split(' ');
    parts.splice(i % parts.length, 1);
    return parts.join(' ');
  }),
  fc.tuple(fc.nat(), fc.string({ maxLength: 20 })).map(([i, s]) => (l: string) => {
    const parts = l.split(' ');
    parts[i % parts.length] = s;
    return parts.join(' ');
  }),
);

const mutatedLine = fc
  .tuple(realLine, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([line, ms]) => ms.reduce((l, m) => m(l), line));

/** A parse result is one of the two documented shapes, with values in range. */
function expectWellFormed(line: string): boolean {
  const r = parseAccessLogLine(line);
  if (!r.ok) {
    expect(LINE_REASONS.has(r.reason)).toBe(true);
    expect(r.detail.length).toBeGreaterThan(0);
    return false;
  }
  expect(Number.isFinite(r.timeMs)).toBe(true);
  expect(Number.isSafeInteger(r.bytesSent) && r.bytesSent >= 0).toBe(true);
  expect(r.httpStatus).toMatch(/^(\d{3}|-)$/);
  expect(r.fieldCount).toBeGreaterThanOrEqual(17);
  expect(r.extraFields).toBeGreaterThanOrEqual(0);
  return true;
}

describe('parseAccessLogLine under fuzzing', () => {
  it('parses every realistic line of every layout back to the fields it was written from', () => {
    fc.assert(
      fc.property(clearFields, (f) => {
        const r = parseAccessLogLine(renderLine(f));
        if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`);
        expect(r.timeMs).toBe(Math.floor((f.timeMs ?? 0) / 1000) * 1000);
        expect(r.requester).toBe(f.requester);
        expect(r.operation).toBe(f.operation);
        expect(r.key).toBe(f.key);
        expect(r.httpStatus).toBe(f.httpStatus);
        expect(BigInt(r.bytesSent)).toBe(BigInt(f.bytesSent ?? 0));
        expect(r.referer).toBe(f.referer === '' ? '-' : f.referer);
        expect(r.userAgent).toBe(f.userAgent === '' ? '-' : f.userAgent);
        if ((f.fieldCount ?? 27) >= 25) expect(r.accessPointArn).toBe(f.accessPointArn);
      }),
      { numRuns: 20_000, seed: 4201 },
    );
  });

  it('never throws on 80,000 mutated lines: each is parsed or malformed with a reason', () => {
    let malformed = 0;
    fc.assert(
      fc.property(mutatedLine, (line) => {
        if (!expectWellFormed(line)) malformed++;
      }),
      { numRuns: 80_000, seed: 4202 },
    );
    // Most mutations must break a line; a fuzzer whose lines all parse is not fuzzing the parser.
    expect(malformed).toBeGreaterThan(20_000);
  });

  it('never throws on arbitrary text of any length, Unicode included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (line) => {
        expectWellFormed(line);
      }),
      { numRuns: 5_000, seed: 4203 },
    );
  });

  it.each([
    ['quote-space pairs', `${renderLine({}).slice(0, 200)}"${'" '.repeat(32_000)}`],
    ['only quotes', `a b [06/Feb/2019:00:00:38 +0000] ${'"'.repeat(64_000)}`],
    ['only spaces', ' '.repeat(64_000)],
    ['only brackets', '['.repeat(64_000)],
    ['a quoted field that never closes', `${renderLine({}).slice(0, 250)} "${'x '.repeat(32_000)}`],
    ['a user agent of quotes', renderLine({ userAgent: '" "'.repeat(20_000) })],
  ])('parses a 64 KiB line of %s in linear time', (_name, line) => {
    const started = performance.now();
    expectWellFormed(line);
    // A backtracking or quadratic tokenizer takes seconds here; a linear one, about a millisecond.
    expect(performance.now() - started).toBeLessThan(250);
  });
});

/** Bytes of a line that S3 never wrote, without a newline (it would be two lines). */
const garbageBytes = fc.oneof(
  mutatedLine.map((l) => Buffer.from(l, 'utf8')),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.tuple(realLine, fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat()).map(([l, junk, i]) => {
    // Non-UTF-8 bytes spliced into an otherwise good line.
    const b = Buffer.from(l, 'utf8');
    const p = i % (b.length + 1);
    return Buffer.concat([b.subarray(0, p), Buffer.from(junk.map((x) => x | 0x80)), b.subarray(p)]);
  }),
  fc.constant(Buffer.alloc(0)),
);

/** Garbage for the file property must be malformed however a reader decodes it, and hold no newline. */
function isGarbage(bytes: Buffer): boolean {
  if (bytes.includes(10)) return false;
  return !parseAccessLogLine(bytes.toString('utf8')).ok && !parseAccessLogLine(bytes.toString('latin1')).ok;
}

describe('ingestLogFile with garbage lines interleaved', () => {
  const dir = tempDir('fuzz-files');
  let n = 0;

  it('counts the good lines exactly as without the garbage, and every line once', async () => {
    const good = fc.array(fc.tuple(goodLine, fc.constantFrom('\n', '\r\n')), { minLength: 1, maxLength: 30 });
    const junk = fc.array(fc.tuple(fc.nat(), garbageBytes), { maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(good, junk, fc.boolean(), async (goodLines, junkLines, finalNewline) => {
        const garbage = junkLines.filter(([, b]) => isGarbage(b));
        const entries: Buffer[][] = goodLines.map(([l]) => [Buffer.from(l, 'utf8')]);
        for (const [i, b] of garbage) entries[i % entries.length]?.push(b);
        const eols = goodLines.map(([, eol]) => Buffer.from(eol));
        /** Lines joined by their line ends; the last one's end is optional, unless the line is empty. */
        const file = (lines: Buffer[]) =>
          Buffer.concat(
            lines.flatMap((b, i) => {
              const last = i === lines.length - 1;
              return last && !finalNewline && b.length > 0
                ? [b]
                : [b, eols[i % eols.length] ?? Buffer.from('\n')];
            }),
          );
        const mixed = file(entries.flat());
        const clean = file(entries.map((e) => e[0] ?? Buffer.alloc(0)));
        const id = n++;
        const mixedPath = join(dir, `mixed-${id}.log`);
        const cleanPath = join(dir, `clean-${id}.log`);
        await writeFile(mixedPath, mixed);
        await writeFile(cleanPath, clean);
        const a = await ingestLogFile(mixedPath, { datasetDepth: 2 });
        const b = await ingestLogFile(cleanPath, { datasetDepth: 2 });
        expect(a.unreadable).toBeUndefined();
        // Every line is accounted for, as parsed or malformed.
        expect(a.stats.lines).toBe(goodLines.length + garbage.length);
        expect(a.stats.parsedLines + a.stats.malformedLines).toBe(a.stats.lines);
        expect(a.stats.parsedLines).toBe(goodLines.length);
        expect(a.stats.malformedLines).toBe(garbage.length);
        // The good lines' usage is untouched by what was around them (rows differ only in batch).
        const rows = (r: typeof a) => r.rows.map(({ batch: _b, ...row }) => row);
        expect(rows(a)).toEqual(rows(b));
      }),
      { numRuns: 300, seed: 4204 },
    );
  });
});
