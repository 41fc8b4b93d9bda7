/**
 * What the report says about the logs themselves: how many repeated deliveries were dropped (input
 * section) and, in the evidence section, what S3 promises about log delivery and what the audit does.
 */
import { describe, expect, it } from 'vitest';
import { buildReport, LOG_DELIVERY, ReportSchema } from '../../functions/domain/report.js';
import { renderReportHtml } from '../../functions/render/report-html.js';
import { reportInput } from '../support/report-fixtures.js';

describe('the report on log delivery', () => {
  const base = reportInput();

  it('reports the repeats dropped in its input section, 0 when the engine names none', () => {
    const withRepeats = buildReport({ ...base, input: { ...base.input, repeatsDropped: 1234 } });
    expect(ReportSchema.parse(withRepeats).input.repeatsDropped).toBe(1234);
    const without = buildReport({ ...base, input: { ...base.input, repeatsDropped: undefined } });
    expect(without.input.repeatsDropped).toBe(0);
    const html = renderReportHtml(withRepeats);
    expect(html).toContain('1,234 parsed lines repeated a request already counted');
  });

  it('states in one sentence what S3 promises about delivery and what the audit does about it', () => {
    const report = buildReport(base);
    expect(report.evidence?.logDelivery).toBe(LOG_DELIVERY);
    expect(LOG_DELIVERY.split(/\.\s/)).toHaveLength(1);
    expect(LOG_DELIVERY).toMatch(/best-effort/);
    expect(LOG_DELIVERY).toMatch(/late, twice, or \(rarely\) not at all/);
    expect(LOG_DELIVERY).toMatch(/counts each request once by its request id/);
    expect(renderReportHtml(report)).toContain(`<p class="log-delivery">${LOG_DELIVERY}</p>`);
  });

  it('still reads a report written before either was recorded', () => {
    const report = buildReport(base);
    const { repeatsDropped: _r, ...input } = report.input;
    const { logDelivery: _l, ...evidence } = report.evidence!;
    const old = ReportSchema.parse({ ...report, input, evidence });
    const html = renderReportHtml(old);
    expect(html).not.toContain('log-delivery');
    expect(html).not.toContain('repeated a request');
  });
});
