/**
 * Screenshots of the HTML audit report and of a notice, at desktop (1280 px) and phone (390 px)
 * width, taken in headless Chromium (see findChromium; driven by playwright-core), for people to
 * look at. Also the browser helpers the rendering tests use, so both see pages the same way.
 *
 *   tsx functions/cli/screenshots.ts <out dir> [--run <audit output dir or report.json>] [--chromium <path>]
 *
 * `--run` defaults to `demo-output` (run `npm run demo` first). The notice is the one of the highest
 * level the report lists with a local file (its `.html` preview beside the `.eml`), else the first
 * preview found in the run's `outbox/` or `previews/` folder.
 */
import { access, constants, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { renderReportHtml } from '../render/report-html.js';
import { parseCommandArgs, UsageError } from './args.js';
import { bundledChromium, type ChromiumInstall } from './bundled-chromium.js';
import { displayPath } from './paths.js';
import { readReportFile, resolveReportPath } from './report-command.js';

export const DESKTOP_WIDTH = 1280;
export const PHONE_WIDTH = 390;
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/**
 * Chromium flags: no sandbox (containers and CI run as root), no GPU, and nothing that reaches out
 * (background networking, component updates, sync, QUIC). playwright adds `--headless` itself.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** No Chromium where we looked. */
export class ChromiumMissingError extends Error {
  override readonly name = 'ChromiumMissingError';
  constructor(readonly path: string) {
    super(
      `no Chromium at ${path}: install Debian's package (apt-get install -y chromium) or pass --chromium <path> / set CHROMIUM_PATH`,
    );
  }
}

/** A headless Chromium with a fresh profile folder, removed again on close. */
export interface HeadlessBrowser {
  readonly context: BrowserContext;
  /** Requests pages tried to make; every one is refused, and a report or notice should make none. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * The Chromium to use: `CHROMIUM_PATH` when set (a person chose it), else the one that came with
 * `npm ci` (@sparticuz/chromium, Linux x64: a pinned version, the same on every machine), else
 * Debian's `/usr/bin/chromium`. Throws ChromiumMissingError when there is none.
 */
export async function findChromium(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ChromiumInstall> {
  const chosen = env['CHROMIUM_PATH'];
  if (chosen !== undefined && chosen !== '')
    return { executablePath: chosen, env: {}, source: 'CHROMIUM_PATH' };
  const bundled = await bundledChromium();
  if (bundled !== undefined) return bundled;
  if (await isExecutable(DEFAULT_CHROMIUM))
    return { executablePath: DEFAULT_CHROMIUM, env: {}, source: DEFAULT_CHROMIUM };
  throw new ChromiumMissingError(
    `${DEFAULT_CHROMIUM} (and no bundled @sparticuz/chromium for ${process.platform}-${process.arch})`,
  );
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function launchChromium(
  install: ChromiumInstall | string = DEFAULT_CHROMIUM,
): Promise<HeadlessBrowser> {
  const { executablePath, env } =
    typeof install === 'string' ? { executablePath: install, env: {} } : install;
  if (!(await isExecutable(executablePath))) throw new ChromiumMissingError(executablePath);
  const userDataDir = await mkdtemp(join(tmpdir(), 'partner-audit-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
    // The bundled browser's own libraries and fonts; playwright passes the rest of process.env.
    ...(Object.keys(env).length > 0 ? { env: { ...process.env, ...env } } : {}),
    viewport: { width: DESKTOP_WIDTH, height: 900 },
  });
  const requests: string[] = [];
  // The pages are self-contained: anything they try to fetch is a defect, recorded and refused.
  await context.route('**/*', async (route) => {
    requests.push(route.request().url());
    await route.abort();
  });
  return {
    context,
    requests,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** What a person would see of a page at one width. */
export interface PageFacts {
  readonly innerWidth: number;
  /** Width of the whole document; above innerWidth means sideways scrolling. */
  readonly scrollWidth: number;
  readonly svgCount: number;
  /** SVGs with a non-zero box holding at least one shape of non-zero size. */
  readonly svgDrawn: number;
  /** Bars of bar charts with a non-zero height. */
  readonly barsDrawn: number;
  /** The page's text as rendered (hidden text excluded). */
  readonly text: string;
  /** Alert/confirm dialogs the page raised (a script ran): must be 0. */
  readonly dialogs: number;
}

// A string, not a function: this project's TypeScript has no DOM types, and the code runs in the page.
const FACTS_SCRIPT = `(() => {
  const svgs = [...document.querySelectorAll('svg')];
  const drawn = svgs.filter((s) => {
    const r = s.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) return false;
    return [...s.querySelectorAll('rect,line,polyline,polygon,circle,path')].some((el) => {
      const b = el.getBBox();
      return b.width > 0 || b.height > 0;
    });
  }).length;
  const bars = [...document.querySelectorAll('svg rect.bar')].filter((b) => b.getBoundingClientRect().height > 0).length;
  return {
    innerWidth: window.innerWidth,
    scrollWidth: document.scrollingElement.scrollWidth,
    svgCount: svgs.length,
    svgDrawn: drawn,
    barsDrawn: bars,
    text: document.body.innerText,
  };
})()`;

async function withPage<T>(
  browser: HeadlessBrowser,
  html: string,
  width: number,
  use: (page: Awaited<ReturnType<BrowserContext['newPage']>>, dialogs: () => number) => Promise<T>,
): Promise<T> {
  const page = await browser.context.newPage();
  let dialogs = 0;
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });
  try {
    await page.setViewportSize({ width, height: 900 });
    await page.setContent(html, { waitUntil: 'load' });
    return await use(page, () => dialogs);
  } finally {
    await page.close();
  }
}

/** Load `html` at `width` px and report what is on screen. */
export async function inspectHtml(browser: HeadlessBrowser, html: string, width: number): Promise<PageFacts> {
  return withPage(browser, html, width, async (page, dialogs) => {
    const facts = (await page.evaluate(FACTS_SCRIPT)) as Omit<PageFacts, 'dialogs'>;
    return { ...facts, dialogs: dialogs() };
  });
}

/** A full-page PNG of `html` at `width` px. */
export async function screenshotHtml(
  browser: HeadlessBrowser,
  html: string,
  width: number,
  path: string,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await withPage(browser, html, width, (page) =>
    page.screenshot({ path, fullPage: true }).then(() => undefined),
  );
}

/** `<name>-desktop.png` and `<name>-phone.png` for each page; returns the files written. */
export async function takeScreenshots(
  browser: HeadlessBrowser,
  pages: readonly { readonly name: string; readonly html: string }[],
  outDir: string,
): Promise<string[]> {
  const written: string[] = [];
  for (const p of pages) {
    for (const [suffix, width] of [
      ['desktop', DESKTOP_WIDTH],
      ['phone', PHONE_WIDTH],
    ] as const) {
      const path = join(resolve(outDir), `${p.name}-${suffix}.png`);
      await screenshotHtml(browser, p.html, width, path);
      written.push(path);
    }
  }
  return written;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The report of a run rendered to HTML, and the HTML of one of its notices if one was written. */
export async function loadRunPages(
  run: string,
): Promise<{ report: string; notice?: string; noticeFrom?: string }> {
  const reportPath = await resolveReportPath(run);
  const report = await readReportFile(reportPath);
  // The notice of the highest level reached shows the most: take it first.
  const percentOf = (n: (typeof report.notices)[number]) =>
    report.partners
      .find((p) => p.partnerId === n.partnerId)
      ?.periods.find((p) => p.periodId === n.periodId)
      ?.levels.find((l) => l.level === n.level)?.percent ?? 0;
  const candidates = [...report.notices]
    .sort((a, b) => percentOf(b) - percentOf(a))
    .map((n) => n.file)
    .filter((f): f is string => f !== null)
    .map((f) => resolve(dirname(reportPath), f).replace(/\.eml$/, '.html'));
  for (const folder of ['outbox', 'previews']) {
    const dir = join(dirname(reportPath), folder);
    const names = await readdir(dir).catch(() => [] as string[]);
    candidates.push(
      ...names
        .filter((n) => n.endsWith('.html'))
        .sort()
        .map((n) => join(dir, n)),
    );
  }
  for (const path of candidates) {
    const notice = await readIfExists(path);
    if (notice !== undefined) return { report: renderReportHtml(report), notice, noticeFrom: path };
  }
  return { report: renderReportHtml(report) };
}

/** `screenshots <out dir> [--run <dir or report.json>] [--chromium <path>]`; returns the exit code. */
export async function runScreenshotsCommand(argv: string[]): Promise<number> {
  const positional = argv[0] !== undefined && !argv[0].startsWith('--') ? argv[0] : undefined;
  const v = parseCommandArgs('screenshots', positional === undefined ? argv : argv.slice(1), {
    run: { type: 'string' },
    chromium: { type: 'string' },
  });
  if (positional === undefined) {
    throw new UsageError('screenshots: give the folder to write to: screenshots <out dir> [--run <dir>]');
  }
  const run = v.run ?? 'demo-output';
  let pages: Awaited<ReturnType<typeof loadRunPages>>;
  try {
    pages = await loadRunPages(run);
  } catch (e) {
    if (e instanceof UsageError && v.run === undefined) {
      throw new UsageError(
        `screenshots: no ${run}/report.json: run "npm run demo" first, or pass --run <dir>`,
      );
    }
    throw e;
  }
  const browser = await launchChromium(v.chromium ?? (await findChromium()));
  try {
    const list = [{ name: 'report', html: pages.report }];
    if (pages.notice !== undefined) list.push({ name: 'notice', html: pages.notice });
    const files = await takeScreenshots(browser, list, positional);
    for (const f of files) process.stdout.write(`${displayPath(f)}\n`);
    if (pages.noticeFrom === undefined)
      process.stdout.write('(no notice preview in this run: report only)\n');
    else process.stdout.write(`(notice from ${displayPath(pages.noticeFrom)})\n`);
  } finally {
    await browser.close();
  }
  return 0;
}

const isEntry = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isEntry) {
  runScreenshotsCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const e = error as Error;
      process.stderr.write(`screenshots: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}\n`);
      process.exitCode = error instanceof UsageError ? 2 : 1;
    },
  );
}
