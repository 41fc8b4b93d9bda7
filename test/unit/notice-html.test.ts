import { describe, expect, it } from 'vitest';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { composeNotice } from '../../functions/render/notice.js';
import { LEVELS, makeEvaluation, makeRegistry, partnerOf } from '../support/notice-fixtures.js';

function compose(level = 'escalation', ev: PartnerPeriodEvaluation = makeEvaluation()) {
  const registry = makeRegistry();
  return composeNotice({
    registry,
    partner: partnerOf(registry),
    evaluation: ev,
    level,
    covers: [],
    messageId: 'n1@partner-audit.example',
    date: new Date('2026-11-21T05:00:00Z'),
    reportRef: 'run 20261121T050000Z-abc',
    evidenceRef: 'runs/20261121T050000Z-abc/report.json',
  });
}

const { html, text } = await compose();

describe('notice HTML for mail clients', () => {
  it('is a table layout with inline styles, at most 600 px wide, without script, stylesheet link or image', async () => {
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toMatch(/<table role="presentation" width="600"[^>]*max-width:600px/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|<form/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    // Every paragraph and heading carries its own style: many clients drop <style>.
    for (const tag of html.match(/<(p|h1|h2|td)\b[^>]*>/g) ?? []) expect(tag).toContain('style="');
  });

  it('puts the key figures first, then the action with its date, then the details', async () => {
    const order = ['Requests used', 'Over the limit', 'Overage fees so far', 'Respond by', 'Dear Acme'];
    for (const part of [html, text]) {
      const at = order.map((s) => part.indexOf(s));
      expect(at.every((i) => i >= 0)).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
      expect(part.indexOf('What you need to do, by 5 December 2026')).toBeLessThan(
        part.indexOf('Usage against contract'),
      );
    }
    expect(text).toContain('  - Requests used: 152.34% of the monthly limit (1,523,456 of 1,000,000)');
    expect(text).toContain('  - Over the limit: 523,456 requests');
    expect(text).toContain('  - Respond by: 5 December 2026');
    expect(html).toContain('152.34% of the monthly limit (1,523,456 of 1,000,000)');
  });

  it('says "Action required" at or above 100%, "Notice" below', async () => {
    expect(html).toContain('Action required · Northwind Data');
    const warning = await compose(
      'warning',
      makeEvaluation({ levels: [{ ...LEVELS.warning, utilisationBp: 8100n }] }),
    );
    expect(warning.html).toContain('Notice · Northwind Data');
    expect(warning.text.startsWith('[Notice]')).toBe(true);
  });

  it('details each application, with its own limits where the contract sets them', async () => {
    const base = makeEvaluation();
    const ev = makeEvaluation({
      applications: [
        {
          ...base.applications[0]!,
          metrics: [{ ...base.metrics[0]!, limit: 500000n, utilisationBp: 30469n, over: 1023456n }],
        },
      ],
    });
    const m = await compose('escalation', ev);
    expect(m.html).toContain('Ingest (ingest)');
    expect(m.html).toContain('Limit of Ingest: Requests');
    expect(m.html).toContain('304.69%');
    expect(m.text).toContain('Requests: used 1,523,456; limit 500,000; utilisation 304.69%');
    expect(m.text).toContain('  - Requests used by Ingest: 304.69% of the monthly limit');
  });

  it('gives the contact as a mail link, the dispute route and the report reference in both parts', async () => {
    expect(html).toContain('<a href="mailto:compliance@northwind.example"');
    for (const part of [html, text]) {
      expect(part).toContain('If you believe these figures are wrong, write to compliance@northwind.example');
      expect(part).toContain(
        'Reference: run 20261121T050000Z-abc. Evidence: runs/20261121T050000Z-abc/report.json.',
      );
    }
  });
});
