/**
 * The run planner: what every audit run decides the same way on both engines (the CLI, and the plan
 * and publish steps on AWS), so that a rule is written once.
 *
 * - **The window asked for** ({@link requestedWindow}). A window is half-open, `[from, to)`, in local
 *   dates read in each partner's own zone. Given both, that window. Given only `to`, the month that
 *   `to` closes: from the first day of the month of the day before `to`. Given only `from`, from then
 *   **up to today** (today's UTC date, exclusive: its logs are still arriving): a compliance user who
 *   asks "from March" means all usage since March, not March alone, and nothing after it is left out
 *   unseen. `from` must be before today then. Without either, each engine takes the settling window
 *   of run-window.ts over how far its data reaches (the rollup watermark on AWS, the newest log line
 *   locally).
 * - **The run id** ({@link newRunId}): `YYYYMMDDTHHMMSSZ-xxxxxx`, the run's start in UTC and six hex
 *   digits, or the Step Functions execution name (made safe) so a redriven execution keeps its id.
 * - **The code version** ({@link CODE_VERSION}): package.json's `version`, written in by the bundler
 *   at build time (the CLI's build, the CDK's Lambda bundles).
 * - **The time**: `systemClock` (system-clock.ts) is the only clock that reads the time of day;
 *   everything else takes a Clock, so tests and `demo --today` pin it.
 * - **The run's outputs** ({@link publishRunReport}): the report built with this code version and the
 *   clock's time, written through the ReportStore port as usage.csv, report.html and report.json, the
 *   JSON last (where it exists the run's outputs are complete); {@link writePreview} writes a dry
 *   run's notice as `.html` then `.eml`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { holdingsToCsv } from '../domain/holdings-csv.js';
import {
  type BuildReportInput,
  buildReport,
  type Report,
  reportJsonSchema,
  reportToCsv,
  reportToJson,
} from '../domain/report.js';
import { networkFindingsToCsv } from '../domain/report-network.js';
import { addDays, monthOf } from '../domain/time.js';
import type { Clock, ReportStore } from '../ports.js';
import type { AuditWindow } from './evaluate-window.js';

/**
 * package.json's version, which the bundlers write in when they build (scripts/build.mjs for the CLI,
 * lib/constructs/audit-functions.ts for the Lambda handlers: esbuild's `define`). Not an import of
 * package.json: that would put the whole file, dependency names and all, in every bundle.
 */
declare const PARTNER_AUDIT_VERSION: string | undefined;

/** The version of this code, as each report states it: package.json's, written in when built. */
export const CODE_VERSION: string =
  typeof PARTNER_AUDIT_VERSION === 'string' ? PARTNER_AUDIT_VERSION : sourceVersion();

/** Run from the sources (tests, tsx): package.json's version, read once. */
function sourceVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** A run id made from the time: its start in UTC (to the second) and six random hex digits. */
export const RUN_ID_FORMAT = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/**
 * A run's id: the execution name when there is one (a redriven Step Functions execution keeps its id;
 * characters other than letters, digits, `_` and `-` become `_`), else `YYYYMMDDTHHMMSSZ-xxxxxx` from
 * the run's start.
 */
export function newRunId(startedAt: Date, executionName?: string): string {
  if (executionName !== undefined) return executionName.replace(/[^A-Za-z0-9_-]/g, '_');
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `${stamp}Z-${randomBytes(3).toString('hex')}`;
}

/** The UTC date of an instant, `YYYY-MM-DD`: "today" for a run started then. */
export function utcDate(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The window asked for cannot be audited; the message says why. */
export class RunWindowError extends Error {
  override readonly name = 'RunWindowError';
}

/**
 * The window of a run asked for with `from` and/or `to` (the module's rule: both, that window; only
 * `to`, from the first of the month of the day before it; only `from`, up to `today`, exclusive), or
 * undefined when neither is given (the engine's settling window applies). Throws RunWindowError when
 * `from` is after today, or not before `to`.
 */
export function requestedWindow(
  request: { readonly from?: string | undefined; readonly to?: string | undefined },
  today: string,
): AuditWindow | undefined {
  const { from, to } = request;
  if (from === undefined && to === undefined) return undefined;
  if (from !== undefined && from > today) {
    throw new RunWindowError(`"from" (${from}) is in the future (today is ${today})`);
  }
  const window = { from: from ?? monthOf(addDays(to ?? today, -1)).first, to: to ?? today };
  if (!(window.from < window.to)) {
    throw new RunWindowError(
      to === undefined
        ? `"from" (${window.from}) must be before today (${today}): with only "from", the window runs up to today, exclusive`
        : `"from" (${window.from}) must be before "to" (${window.to}); "to" is exclusive`,
    );
  }
  return window;
}

/** The files of a run's report, by what they hold; each engine puts them under its own prefix. */
export const RUN_OUTPUTS = {
  csv: 'usage.csv',
  html: 'report.html',
  schema: 'report.schema.json',
  json: 'report.json',
  networkCsv: 'network-findings.csv',
  holdingsCsv: 'holdings.csv',
} as const;

/** A published report: the report, each file's text, and where the store put each one. */
export interface PublishedReport {
  readonly report: Report;
  readonly json: string;
  readonly csv: string;
  readonly html: string;
  /** What the store's `put` returned for each file (a path locally, the key on S3). */
  readonly locations: { readonly csv: string; readonly html: string; readonly json: string };
}

export interface PublishReportDeps {
  readonly reports: ReportStore;
  readonly clock: Clock;
  /** The report's HTML page (the rendering layer's, injected: this layer renders nothing itself). */
  readonly renderHtml: (report: Report) => string;
}

/**
 * Builds the run's report (with {@link CODE_VERSION} and the clock's time) and writes it through the
 * ReportStore: `<prefix>usage.csv`, `<prefix>report.html`, `<prefix>report.schema.json` when asked
 * for, `<prefix>network-findings.csv` and (when the report has holdings) `<prefix>holdings.csv`, then
 * `<prefix>report.json` last, so that where report.json exists the run's outputs are whole (a failed
 * write is retried whole). Both engines write the same files; the CLI also keeps the two CSVs in the
 * run's evidence bundle.
 */
export async function publishRunReport(
  deps: PublishReportDeps,
  input: Omit<BuildReportInput, 'codeVersion' | 'generatedAt'>,
  options: { readonly prefix: string; readonly withSchema?: boolean },
): Promise<PublishedReport> {
  const report = buildReport({ ...input, generatedAt: deps.clock.now(), codeVersion: CODE_VERSION });
  const json = reportToJson(report);
  const csv = reportToCsv(report);
  const html = deps.renderHtml(report);
  const at = (name: string) => `${options.prefix}${name}`;
  const csvAt = await deps.reports.put(at(RUN_OUTPUTS.csv), csv, 'text/csv; charset=utf-8');
  const htmlAt = await deps.reports.put(at(RUN_OUTPUTS.html), html, 'text/html; charset=utf-8');
  if (options.withSchema === true) {
    await deps.reports.put(
      at(RUN_OUTPUTS.schema),
      `${JSON.stringify(reportJsonSchema(), null, 2)}\n`,
      'application/json',
    );
  }
  await deps.reports.put(
    at(RUN_OUTPUTS.networkCsv),
    networkFindingsToCsv(report.networkFindings ?? []),
    'text/csv; charset=utf-8',
  );
  if (input.holdings !== undefined)
    await deps.reports.put(
      at(RUN_OUTPUTS.holdingsCsv),
      holdingsToCsv(input.holdings),
      'text/csv; charset=utf-8',
    );
  const jsonAt = await deps.reports.put(at(RUN_OUTPUTS.json), json, 'application/json');
  return { report, json, csv, html, locations: { csv: csvAt, html: htmlAt, json: jsonAt } };
}

/**
 * Writes a dry run's notice for people to read: `<stem>.html`, then `<stem>.eml` (the exact MIME bytes
 * a send would hand over), so an .eml always has its preview beside it. Resolves to the .eml's
 * location as the store gives it.
 */
export async function writePreview(
  store: ReportStore,
  stem: string,
  message: { readonly raw: string | Uint8Array; readonly html: string },
): Promise<string> {
  await store.put(`${stem}.html`, message.html, 'text/html; charset=utf-8');
  return store.put(`${stem}.eml`, message.raw, 'message/rfc822');
}
