/**
 * `partner-audit report --run <dir or report.json> [--out file.html] [--partner id]`: render the
 * static HTML report of a finished run from its report.json.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../adapters/outbox/outbox-mailer.js';
import { type Report, ReportSchema } from '../domain/report.js';
import { ReportPartnerError, renderReportHtml } from '../render/report-html.js';
import { parseCommandArgs, requireString, UsageError } from './args.js';
import { displayPath } from './paths.js';

/** The report.json given cannot be read or is not a report. */
export class ReportFileError extends Error {
  override readonly name = 'ReportFileError';
  constructor(
    readonly file: string,
    message: string,
    options?: { cause: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** `--run` names a report.json, or a folder holding one (an audit's output folder or a run folder). */
export async function resolveReportPath(run: string): Promise<string> {
  const path = resolve(run);
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw new UsageError(
      `report: --run ${run}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return isDir ? join(path, 'report.json') : path;
}

/** Read and validate a report.json; the file may be old (fields added since are optional) or hostile. */
export async function readReportFile(path: string): Promise<Report> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ReportFileError(
      path,
      `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ReportFileError(path, 'is not valid JSON', { cause: e });
  }
  const parsed = ReportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReportFileError(
      path,
      `is not a partner-audit report: ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** Where the HTML goes by default: beside the report.json, one file per partner when filtered. */
export function defaultHtmlPath(reportPath: string, partnerId?: string): string {
  const safe = partnerId?.replace(/[^A-Za-z0-9._-]/g, '_');
  const stem = basename(reportPath).replace(/\.json$/i, '') || 'report';
  return join(dirname(reportPath), safe ? `${stem}-${safe}.html` : `${stem}.html`);
}

export async function runReportCommand(argv: string[]): Promise<number> {
  const v = parseCommandArgs('report', argv, {
    run: { type: 'string' },
    out: { type: 'string' },
    partner: { type: 'string' },
  });
  const run = requireString('report', 'run', v.run);
  const reportPath = await resolveReportPath(run);
  const report = await readReportFile(reportPath);
  let html: string;
  try {
    html = renderReportHtml(report, v.partner === undefined ? {} : { partnerId: v.partner });
  } catch (e) {
    if (e instanceof ReportPartnerError) {
      const known = report.partners.map((p) => p.partnerId).join(', ') || 'none';
      throw new UsageError(`report: --partner ${e.partnerId}: not in this report (partners: ${known})`);
    }
    throw e;
  }
  const out = resolve(v.out ?? defaultHtmlPath(reportPath, v.partner));
  await mkdir(dirname(out), { recursive: true });
  await writeFileAtomic(out, html);
  process.stdout.write(`Report: ${displayPath(out)}\n`);
  return 0;
}
