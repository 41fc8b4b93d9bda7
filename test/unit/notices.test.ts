import PostalMime from 'postal-mime';
import { describe, expect, it } from 'vitest';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import {
  diffFigures,
  dueNotices,
  NoticeFiguresError,
  noticeDiffs,
  noticeFigures,
} from '../../functions/domain/notices.js';
import type { LedgerEntry } from '../../functions/ports.js';
import { escapeHtml, formatBytes, formatCount } from '../../functions/render/format.js';
import { composeNotice, NoticeLevelError } from '../../functions/render/notice.js';
import { LEVELS, makeEvaluation, makeRegistry, partnerOf } from '../support/notice-fixtures.js';

const entry = (level: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  partnerId: 'acme',
  periodId: '2026-11',
  level,
  state: 'sent',
  runId: 'r0',
  figuresJson: '{}',
  ...over,
});

describe('dueNotices', () => {
  const all = [LEVELS.warning, LEVELS.overage, LEVELS.escalation];
  it.each([
    ['nothing reached', [], [], []],
    ['warning reached, nothing sent', [LEVELS.warning], [], [{ level: 'warning', covers: [] }]],
    [
      'first run at 160%: one notice for the highest level, covering the lower ones',
      all,
      [],
      [{ level: 'escalation', covers: ['warning', 'overage'] }],
    ],
    ['warning sent, now at 160%', all, [entry('warning')], [{ level: 'escalation', covers: ['overage'] }]],
    ['overage sent, now at 160%', all, [entry('overage')], [{ level: 'escalation', covers: [] }]],
    ['every level already sent', all, [entry('warning'), entry('overage'), entry('escalation')], []],
    ['the highest level sent covers the lower ones never sent', all, [entry('escalation')], []],
    ['a pending claim counts as held', all, [entry('escalation', { state: 'pending' })], []],
    [
      'a level sent before usage was revised down is taken as higher',
      [LEVELS.warning],
      [entry('escalation')],
      [],
    ],
    [
      'ledger entries of another period or partner are ignored',
      [LEVELS.warning],
      [entry('warning', { periodId: '2026-10' }), entry('warning', { partnerId: 'other' })],
      [{ level: 'warning', covers: [] }],
    ],
  ])('%s', (_name, levels, ledger, expected) => {
    const due = dueNotices(makeEvaluation({ levels }), ledger);
    expect(due.map((d) => ({ level: d.level, covers: d.covers }))).toEqual(expected);
    for (const d of due) expect([d.partnerId, d.periodId]).toEqual(['acme', '2026-11']);
  });

  it('orders levels by percent even when the evaluation lists them otherwise', () => {
    const due = dueNotices(makeEvaluation({ levels: [LEVELS.escalation, LEVELS.warning] }), []);
    expect(due.map((d) => d.level)).toEqual(['escalation']);
    expect(due[0]!.covers).toEqual(['warning']);
  });
});

describe('noticeFigures and diffFigures', () => {
  it('states each metric and application with bigints as strings, stable as JSON', () => {
    const f = noticeFigures(makeEvaluation());
    expect(f.metrics['requests']).toEqual({
      used: '1523456',
      limit: '1000000',
      utilisation: '152.34',
      over: '523456',
      chargedOver: '523456',
      feeMinor: '20938',
    });
    expect(f.applications['ingest']?.bytesSent).toBe('123456789012');
    expect(f.level).toBe('escalation');
    expect(JSON.stringify(noticeFigures(makeEvaluation()))).toBe(JSON.stringify(f));
  });

  it('finds nothing to report when the figures did not change', () => {
    const json = JSON.stringify(noticeFigures(makeEvaluation()));
    expect(diffFigures(json, noticeFigures(makeEvaluation()))).toEqual([]);
  });

  it('reports each changed figure with its delta', () => {
    const sent = JSON.stringify(noticeFigures(makeEvaluation()));
    const ev = makeEvaluation();
    const revised = makeEvaluation({
      metrics: [{ ...ev.metrics[0]!, used: 1523000n, over: 523000n }, ev.metrics[1]!],
      applications: [],
    });
    const changes = diffFigures(sent, noticeFigures(revised));
    expect(changes).toContainEqual({
      path: 'metrics.requests.used',
      sent: '1523456',
      current: '1523000',
      delta: '-456',
    });
    expect(changes).toContainEqual({
      path: 'metrics.requests.over',
      sent: '523456',
      current: '523000',
      delta: '-456',
    });
    expect(changes).toContainEqual({
      path: 'applications.ingest.requests',
      sent: '1523456',
      current: null,
      delta: null,
    });
    expect(changes.some((c) => c.path.startsWith('metrics.bytesSent'))).toBe(false);
  });

  it('throws NoticeFiguresError on figures that are not a JSON object', () => {
    expect(() => diffFigures('not json', noticeFigures(makeEvaluation()))).toThrow(NoticeFiguresError);
    expect(() => diffFigures('[1]', noticeFigures(makeEvaluation()))).toThrow(NoticeFiguresError);
  });

  it('noticeDiffs compares only sent notices of the same partner and period', () => {
    const sent = JSON.stringify(noticeFigures(makeEvaluation({ daysOverCap: 0 })));
    const diffs = noticeDiffs(makeEvaluation(), [
      entry('warning', { figuresJson: sent, messageId: 'm1', sentAt: '2026-11-10T06:00:00.000Z' }),
      entry('overage', { figuresJson: 'not even json', state: 'pending' }),
      entry('warning', { figuresJson: sent, periodId: '2026-10' }),
    ]);
    expect(diffs).toEqual([
      {
        key: { partnerId: 'acme', periodId: '2026-11', level: 'warning' },
        messageId: 'm1',
        sentAt: '2026-11-10T06:00:00.000Z',
        changes: [{ path: 'daysOverCap', sent: '0', current: '1', delta: '1' }],
      },
    ]);
  });
});

describe('formatting for people', () => {
  it.each([
    [0n, '0'],
    [999n, '999'],
    [1000n, '1,000'],
    [1234567890123n, '1,234,567,890,123'],
  ])('formatCount(%s) = %s', (n, s) => expect(formatCount(n)).toBe(s));

  it.each([
    [0n, '0.00 GB (0 bytes)'],
    [1n, '0.00 GB (1 byte)'],
    [5_000_000n, '0.01 GB (5,000,000 bytes)'],
    [123456789012n, '123.46 GB (123,456,789,012 bytes)'],
    [1_234_567_890_123_456n, '1,234,567.89 GB (1,234,567,890,123,456 bytes)'],
  ])('formatBytes(%s) = %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it('escapes every HTML-significant character', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
});

function compose(over: Partial<Parameters<typeof composeNotice>[0]> = {}, ev?: PartnerPeriodEvaluation) {
  const registry = makeRegistry();
  return composeNotice({
    registry,
    partner: partnerOf(registry),
    evaluation: ev ?? makeEvaluation(),
    level: 'escalation',
    covers: ['warning', 'overage'],
    messageId: 'acme.2026-11.escalation.r1@partner-audit.example',
    date: new Date('2026-11-21T05:00:00Z'),
    reportRef: 'run 20261121T050000Z-abc',
    evidenceRef: 's3://reports/runs/20261121T050000Z-abc/report.json',
    ...over,
  });
}

describe('composeNotice', () => {
  it('writes a subject a person understands', async () => {
    expect((await compose()).subject).toBe(
      '[Action required] Acme Analytics: data usage at 152% of the November 2026 limit (escalation)',
    );
    const warning = await compose({ level: 'warning', covers: [] });
    expect(warning.subject).toMatch(/^\[Notice\] Acme Analytics: /);
  });

  it('addresses account owners, copies internal contacts, replies to the provider contact', async () => {
    const m = await compose();
    expect(m.to).toEqual(['Jane Doe <jane@acme.example>', 'ops@acme.example']);
    expect(m.cc).toEqual(['Account Manager <am@northwind.example>']);
    expect(m.from).toBe('Data Partnerships <partners@northwind.example>');
    expect(m.key).toEqual({ partnerId: 'acme', periodId: '2026-11', level: 'escalation' });
    expect(m.raw).toContain('Reply-To: compliance@northwind.example');
    expect(m.raw).toContain('Message-ID: <acme.2026-11.escalation.r1@partner-audit.example>');
  });

  it('states period, level, figures, fees, forecast, findings, action, deadline, contact and evidence', async () => {
    const { text, html } = await compose();
    for (const part of [text, html]) {
      expect(part).toContain('November 2026');
      expect(part).toContain('1 November 2026 to 30 November 2026 (time zone Europe/Berlin)');
      expect(part).toContain('escalation');
      expect(part).toContain('1,523,456');
      expect(part).toContain('152.34%');
      expect(part).toContain('523,456');
      expect(part).toContain('209.38 EUR');
      expect(part).toContain('123.46 GB (123,456,789,012 bytes)');
      expect(part).toContain('Ingest');
      expect(part).toContain('2026-11-05');
      expect(part).toContain('Forecast');
      expect(part).toContain('2,285,184');
      expect(part).toContain('feeds/secret/');
      // Notice dated 21 November (Berlin) + 14 response days.
      expect(part).toContain('5 December 2026');
      expect(part).toContain('compliance@northwind.example');
      expect(part).toContain('run 20261121T050000Z-abc');
      expect(part).toContain('s3://reports/runs/20261121T050000Z-abc/report.json');
      expect(part).toContain('warning (80%) and overage (100%) levels were also reached');
    }
    expect(text).toContain('figures cover usage up to 2026-11-21 00:00 (Europe/Berlin)');
    expect(text).toContain('(209.38 EUR so far)');
  });

  it('leaves the forecast out once the period is complete', async () => {
    const { text, html } = await compose({}, makeEvaluation({ complete: true }));
    expect(text).not.toContain('Forecast');
    expect(html).not.toContain('Forecast');
    expect(text).toContain('final figures');
    expect(text).toContain('The overage fees stated above (209.38 EUR) are due under contract acme-2026.');
  });

  it('escapes <script> in partner names, application names and dataset keys in the HTML', async () => {
    const registry = makeRegistry({ name: 'Evil <script>alert(1)</script> Co' });
    const ev = makeEvaluation({
      partnerName: 'Evil <script>alert(1)</script> Co',
      applications: [
        { ...makeEvaluation().applications[0]!, name: '<script>app()</script>', applicationId: 'ingest' },
      ],
      datasets: [
        {
          dataset: 'feeds/<script>x</script>/',
          counts: { requests: 1n, bytesSent: 1n, records: 0n },
          allowed: false,
        },
      ],
      findings: [],
    });
    const m = await composeNotice({
      registry,
      partner: partnerOf(registry),
      evaluation: ev,
      level: 'overage',
      messageId: 'x@partner-audit.example',
      date: new Date('2026-11-21T05:00:00Z'),
      reportRef: 'ref <b>',
      evidenceRef: 'ev "quoted"',
    });
    expect(m.html).not.toMatch(/<script/i);
    expect(m.html).toContain('Evil &lt;script&gt;alert(1)&lt;/script&gt; Co');
    expect(m.html).toContain('&lt;script&gt;app()&lt;/script&gt;');
    expect(m.html).toContain('feeds/&lt;script&gt;x&lt;/script&gt;/');
    expect(m.html).toContain('ref &lt;b&gt;');
    // The text part says the same, unescaped.
    expect(m.text).toContain('feeds/<script>x</script>/');
  });

  it('keeps CR/LF in a partner name out of the headers', async () => {
    // The registry refuses such a name; the composer still defends itself if one gets through.
    expect(() => makeRegistry({ name: 'Acme\r\nBcc: victim@evil.example' })).toThrow(/control characters/);
    const valid = makeRegistry();
    const registry = {
      ...valid,
      partners: [{ ...valid.partners[0]!, name: 'Acme\r\nBcc: victim@evil.example' }],
    } as typeof valid;
    const m = await composeNotice({
      registry,
      partner: partnerOf(registry),
      evaluation: makeEvaluation(),
      level: 'escalation',
      messageId: 'x@partner-audit.example',
      date: new Date('2026-11-21T05:00:00Z'),
      reportRef: 'r',
      evidenceRef: 'e',
    });
    const headers = m.raw.slice(0, m.raw.indexOf('\r\n\r\n')).split('\r\n');
    expect(headers.some((h) => /^bcc:/i.test(h))).toBe(false);
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(m.subject).toContain('Acme Bcc: victim@evil.example');
  });

  it('says how much of the overage the partner fee charges when application limits charged the rest', async () => {
    const base = makeEvaluation();
    const ev = makeEvaluation({ metrics: [{ ...base.metrics[0]!, chargedOver: 23456n }, base.metrics[1]!] });
    const { text, html } = await compose({}, ev);
    expect(text).toContain(
      'over by 523,456; of which 23,456 charged here (the rest under application limits)',
    );
    expect(html).toContain('523,456, of which 23,456 charged here');
    expect(noticeFigures(ev).metrics['requests']?.chargedOver).toBe('23456');
  });

  it('throws NoticeLevelError for a level the evaluation did not reach', async () => {
    await expect(compose({ level: 'nope' })).rejects.toThrow(NoticeLevelError);
  });

  it('names the application when its own limit is the most used', async () => {
    const base = makeEvaluation();
    const ev = makeEvaluation({
      applications: [
        {
          ...base.applications[0]!,
          metrics: [{ ...base.metrics[0]!, limit: 500000n, utilisationBp: 30469n, over: 1023456n }],
        },
      ],
    });
    expect((await compose({}, ev)).subject).toBe(
      '[Action required] Acme Analytics: usage of Ingest at 304% of its November 2026 limit (escalation)',
    );
  });
});

describe('the MIME message of a notice', () => {
  it('is the same bytes when composed twice, so a retry sends the identical message', async () => {
    const first = await compose();
    const second = await compose();
    expect(second.raw).toBe(first.raw);
    expect(first.raw).toMatch(/boundary="=_partner-audit-[0-9a-f]{16}-Part_1"/);
    // Another Message-ID gives another boundary: nothing is shared between notices by chance.
    const other = await compose({ messageId: 'acme.2026-11.escalation.r2@partner-audit.example' });
    expect(other.raw).not.toBe(first.raw);
  });

  it('reads back, through an independent MIME parser, as the same headers, text and HTML', async () => {
    const m = await compose();
    const parsed = await PostalMime.parse(m.raw);
    expect(parsed.from).toEqual({ name: 'Data Partnerships', address: 'partners@northwind.example' });
    expect(parsed.to).toEqual([
      { name: 'Jane Doe', address: 'jane@acme.example' },
      { name: '', address: 'ops@acme.example' },
    ]);
    expect(parsed.cc).toEqual([{ name: 'Account Manager', address: 'am@northwind.example' }]);
    expect(parsed.replyTo).toEqual([{ name: '', address: 'compliance@northwind.example' }]);
    expect(parsed.subject).toBe(m.subject);
    expect(parsed.messageId).toBe('<acme.2026-11.escalation.r1@partner-audit.example>');
    expect(parsed.date).toBe('2026-11-21T05:00:00.000Z');
    const header = (name: string) => parsed.headers.find((h) => h.key === name)?.value;
    expect(header('auto-submitted')).toBe('auto-generated');
    expect(header('x-partner-audit-notice')).toBe('acme/2026-11/escalation');
    expect(header('x-partner-audit-report')).toBe('run 20261121T050000Z-abc');
    expect(header('content-type')).toMatch(/^multipart\/alternative;/);
    // The bodies come back as composed. postal-mime gives LF line ends, and counts the line break
    // that belongs to the boundary delimiter (RFC 2046 5.1.1) as the body's last character.
    expect(parsed.text).toBe(`${m.text}\n`);
    expect(parsed.html).toBe(`${m.html}\n`);
    expect(parsed.attachments).toEqual([]);
  });
});

describe('composeNotice for a period that has closed (late-delivered logs)', () => {
  const closed = makeEvaluation({
    complete: true,
    final: false,
    finalAfterMs: Date.parse('2026-12-03T23:00:00Z'),
  });

  it('says plainly, in text and HTML, that the notice comes after the period closed and why', async () => {
    const { text, html } = await compose({ late: true, date: new Date('2026-12-02T05:00:00Z') }, closed);
    const sentence =
      'This notice is sent after the billing period closed because access logs arrive late: S3 delivers them ' +
      'on a best-effort basis, sometimes hours or days after the requests';
    expect(text).toContain(sentence);
    expect(html).toContain(sentence);
  });

  it('does not call figures final while the period settles, and says until when they may change', async () => {
    const { text } = await compose({ late: true }, closed);
    expect(text).not.toContain('These are the final figures');
    expect(text).toContain(
      'The period has closed; access logs delivered late may still add to these figures until 2026-12-04 00:00 (Europe/Berlin), when they become final.',
    );
  });

  it('says nothing of lateness in a notice decided while the period is open', async () => {
    expect((await compose()).text).not.toContain('after the billing period closed');
    expect((await compose({ late: false }, closed)).html).not.toContain('after the billing period closed');
  });
});
