/**
 * The report and a notice as a person sees them: rendered in headless Chromium (CHROMIUM_PATH, else
 * the one `npm ci` installs with @sparticuz/chromium, else Debian's `chromium`) at desktop and phone width. Screenshots go to a folder under the OS temp dir,
 * printed at the end, for a person to look at.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP_WIDTH,
  findChromium,
  type HeadlessBrowser,
  inspectHtml,
  launchChromium,
  PHONE_WIDTH,
  takeScreenshots,
} from '../../functions/cli/screenshots.js';
import { composeNotice } from '../../functions/render/notice.js';
import { renderReportHtml } from '../../functions/render/report-html.js';
import { makeRegistry, partnerOf } from '../support/notice-fixtures.js';
import { makeCappedRegistry, makeDailyEvaluation, makeReport } from '../support/report-fixtures.js';

const SCREENSHOT_DIR = join(tmpdir(), 'partner-audit-screenshots');

const reportHtml = renderReportHtml(makeReport());

async function noticeHtml(partnerName = 'Acme Analytics', appName = 'Ingest'): Promise<string> {
  const registry = makeRegistry({ name: partnerName, appName });
  const base = makeDailyEvaluation();
  const notice = await composeNotice({
    registry,
    partner: partnerOf(registry),
    evaluation: makeDailyEvaluation({
      partnerName,
      applications: [{ ...base.applications[0]!, name: appName }],
    }),
    level: 'escalation',
    covers: ['warning', 'overage'],
    messageId: 'acme.2026-11.escalation.r1@partner-audit.example',
    date: new Date('2026-11-21T05:00:00Z'),
    reportRef: 'partner-audit run 20261121T050000Z-abc123',
    evidenceRef: 'audit-output/runs/20261121T050000Z-abc123/report.json',
  });
  return notice.html;
}

let browser: HeadlessBrowser;
beforeAll(async () => {
  browser = await launchChromium(await findChromium());
});
afterAll(async () => {
  await browser?.close();
});

describe('the HTML report in Chromium', () => {
  it.each([DESKTOP_WIDTH, PHONE_WIDTH])('draws every chart at %i px', async (width) => {
    const page = await inspectHtml(browser, reportHtml, width);
    // Acme: requests and bytes per day, requests and bytes cumulative; Zeta: two daily, one cumulative.
    expect(page.svgCount).toBe(7);
    expect(page.svgDrawn).toBe(7);
    // 20 days with data in each of the four daily charts.
    expect(page.barsDrawn).toBe(80);
  });

  it.each([DESKTOP_WIDTH, PHONE_WIDTH])('has no horizontal overflow at %i px', async (width) => {
    const page = await inspectHtml(browser, reportHtml, width);
    expect(page.innerWidth).toBe(width);
    expect(page.scrollWidth).toBeLessThanOrEqual(page.innerWidth);
  });

  it('keeps long unbroken names, keys and requesters inside a phone screen', async () => {
    const long = `x${'Y'.repeat(120)}`;
    const base = makeDailyEvaluation();
    const html = renderReportHtml(
      makeReport({
        evaluations: [
          makeDailyEvaluation({
            partnerName: `Acme${long}`,
            applications: [{ ...base.applications[0]!, name: `App${long}`, applicationId: `id${long}` }],
            datasets: [{ ...base.datasets[0]!, dataset: `feeds/${long}/` }],
          }),
        ],
      }),
    );
    const page = await inspectHtml(browser, html, PHONE_WIDTH);
    expect(page.scrollWidth).toBeLessThanOrEqual(page.innerWidth);
  });

  it('shows the key numbers as text on a phone', async () => {
    const { text } = await inspectHtml(browser, reportHtml, PHONE_WIDTH);
    for (const figure of [
      '1,523,456',
      '1,000,000',
      '152.34%',
      '523,456',
      '209.38 EUR',
      '2,285,184',
      '123.46 GB',
      'feeds/secret/',
      'Zeta Maps',
    ]) {
      expect(text).toContain(figure);
    }
    expect(text).toMatch(/523,456 requests × 0\.40 EUR ÷ 1,000 = 209\.3824 EUR/);
  });

  it('fetches nothing and runs no script, even with hostile names in the report', async () => {
    const hostile = '<img src=https://evil.example/x onerror=alert(1)><script>alert(2)</script>';
    const html = renderReportHtml(
      makeReport({
        evaluations: [makeDailyEvaluation({ partnerName: hostile })],
        registry: makeCappedRegistry({ partner: hostile }),
      }),
    );
    const before = browser.requests.length;
    const page = await inspectHtml(browser, html, PHONE_WIDTH);
    expect(page.dialogs).toBe(0);
    expect(browser.requests.slice(before)).toEqual([]);
    expect(page.text).toContain(hostile);
  });

  it('starts each partner on a new page when printed', async () => {
    const page = await browser.context.newPage();
    try {
      await page.setContent(reportHtml);
      await page.emulateMedia({ media: 'print' });
      const breaks = await page.evaluate(
        `[...document.querySelectorAll('section.partner')].map((s) => getComputedStyle(s).breakBefore)`,
      );
      expect(breaks).toEqual(['page', 'page']);
      const pdf = await page.pdf({ format: 'A4' });
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    } finally {
      await page.close();
    }
  });
});

describe('a notice in Chromium', () => {
  let html: string;
  beforeAll(async () => {
    html = await noticeHtml();
  });

  it.each([DESKTOP_WIDTH, PHONE_WIDTH])('has no horizontal overflow at %i px', async (width) => {
    const page = await inspectHtml(browser, html, width);
    expect(page.scrollWidth).toBeLessThanOrEqual(page.innerWidth);
  });

  it('shows the key figures, the action with its date and the contact first, as text', async () => {
    const { text } = await inspectHtml(browser, html, PHONE_WIDTH);
    for (const figure of [
      '152.34% of the monthly limit',
      '523,456 requests',
      '209.38 EUR',
      '5 December 2026',
      'What you need to do, by 5 December 2026',
      'compliance@northwind.example',
      'partner-audit run 20261121T050000Z-abc123',
      'Ingest',
    ]) {
      expect(text).toContain(figure);
    }
    // Key figures come before the details.
    expect(text.indexOf('209.38 EUR')).toBeLessThan(text.indexOf('Usage against contract'));
  });

  it('keeps a long unbroken partner name inside a phone screen', async () => {
    const page = await inspectHtml(
      browser,
      await noticeHtml(`Acme${'X'.repeat(80)}`, `App${'Y'.repeat(80)}`),
      PHONE_WIDTH,
    );
    expect(page.scrollWidth).toBeLessThanOrEqual(page.innerWidth);
  });
});

describe('screenshots', () => {
  it('writes desktop and phone PNGs of the report and the notice', async () => {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    const files = await takeScreenshots(
      browser,
      [
        { name: 'report', html: reportHtml },
        { name: 'notice', html: await noticeHtml() },
      ],
      SCREENSHOT_DIR,
    );
    expect(files.map((f) => f.slice(SCREENSHOT_DIR.length + 1))).toEqual([
      'report-desktop.png',
      'report-phone.png',
      'notice-desktop.png',
      'notice-phone.png',
    ]);
    for (const f of files) {
      const png = await readFile(f);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      // A phone-width screenshot is 390 px wide (the IHDR width field).
      if (f.endsWith('-phone.png')) expect(png.readUInt32BE(16)).toBe(PHONE_WIDTH);
      if (f.endsWith('-desktop.png')) expect(png.readUInt32BE(16)).toBe(DESKTOP_WIDTH);
      expect((await stat(f)).size).toBeGreaterThan(10_000);
    }
    process.stdout.write(`screenshots in ${SCREENSHOT_DIR}\n`);
  });
});
