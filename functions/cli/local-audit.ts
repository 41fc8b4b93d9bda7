/**
 * The local audit: ingest log files into the DuckDB state, evaluate, notify to an outbox folder and
 * write the report. Wiring only: the rules live in functions/domain, the steps in functions/audit.
 */

import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { DuckDbNetworkFindings } from '../adapters/duckdb/network-findings.js';
import { writeBundle } from '../adapters/local/evidence-bundle.js';
import { LocalReportStore } from '../adapters/local/local-report-store.js';
import { OutboxMailer, outboxStem } from '../adapters/outbox/outbox-mailer.js';
import { evaluateAggregatedWindow } from '../audit/evaluate-aggregated.js';
import { type AuditWindow, evaluateWindow } from '../audit/evaluate-window.js';
import { readHoldings } from '../audit/read-holdings.js';
import { newRunId, publishRunReport, requestedWindow, utcDate, writePreview } from '../audit/run-planner.js';
import { checkSettlingDays, DEFAULT_SETTLING_DAYS, settlingWindow } from '../audit/run-window.js';
import { diffSentNotices, type NoticeOutcome, sendNotices } from '../audit/send-notices.js';
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import { holdingsToCsv } from '../domain/holdings-csv.js';
import { networkWindowStarts, noticeFindingsDates } from '../domain/network-findings.js';
import type { Report } from '../domain/report.js';
import { networkFindingsToCsv } from '../domain/report-network.js';
import { localDateOf, monthOf } from '../domain/time.js';
import { SLOT_MS } from '../domain/usage.js';
import type { Clock, InputSummary } from '../ports.js';
import { renderReportHtml } from '../render/report-html.js';
import { failpoint } from './failpoints.js';
import { ingestPaths, openStateWithWorkers, type Progress } from './local-ingest.js';
import { loadRegistry } from './registry-file.js';

export interface LocalAuditOptions {
  readonly logs: readonly string[];
  readonly registryPath: string;
  readonly outDir: string;
  /** DuckDB state file; default `<outDir>/state.duckdb`. */
  readonly dbPath?: string;
  readonly partners?: readonly string[];
  readonly from?: string;
  readonly to?: string;
  readonly dryRun: boolean;
  readonly reason?: string;
  readonly clock: Clock;
  readonly progress?: Progress;
  /** HMAC key for the evidence bundle's signature (PARTNER_AUDIT_SIGNING_KEY); unsigned without it. */
  readonly signingKey?: string;
  /**
   * Days a closed period keeps being evaluated (and before it is "final") after its end.
   * @default DEFAULT_SETTLING_DAYS
   */
  readonly settlingDays?: number;
  /**
   * How the evaluation reads usage: `aggregated` sums in DuckDB (issue 13), `rows` reads every rollup
   * row into JavaScript (the path the AWS Evaluate step took before Aggregate). Both give the same report; `rows`
   * stays to prove it (test/e2e/aggregated-local-audit.test.ts).
   * @default 'aggregated'
   */
  readonly evaluation?: 'aggregated' | 'rows';
}

export interface LocalAuditResult {
  readonly report: Report;
  readonly window: AuditWindow;
  readonly dryRun: boolean;
  readonly input: InputSummary;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
  readonly unattributedCount: number;
  readonly findingCount: number;
  readonly reportPath: string;
  readonly csvPath: string;
  readonly htmlPath: string;
  /** The run's evidence bundle folder and the head of its hash chain. */
  readonly bundleDir: string;
  readonly bundleHead: string;
  readonly outboxDir: string;
  readonly notices: readonly NoticeOutcome[];
}

/**
 * Default window: to the end of the calendar month (UTC dates) of the newest data, from the first day
 * of the oldest month that was not yet final for some partner before this run read its files
 * (settlingWindow over the data's end before ingestion: the previous month while that was within
 * settlingDays of its end). Taking the extent before the run's files, as the AWS plan takes the
 * watermark, gives a month its final evaluation even when the new files move the data's end by
 * several days at once. Figures are as of the data's end.
 */
export function localDefaultWindow(
  extent: { maxMs: number } | undefined,
  clock: Clock,
  settlingDays: number,
  extentBefore?: { maxMs: number },
): AuditWindow {
  const newestMs = extent ? extent.maxMs : clock.now().getTime();
  const { next } = monthOf(localDateOf(newestMs, 'UTC'));
  const base = extentBefore ?? extent;
  return settlingWindow({
    dataThroughMs: base ? base.maxMs + SLOT_MS : newestMs,
    settlingDays,
    to: next,
  });
}

/**
 * One local run. Its window, run id, code version, report files and previews follow the run planner
 * (functions/audit/run-planner.ts), as the AWS steps do: `from`/`to` as asked (only `from`: up to
 * today, exclusive), else localDefaultWindow. A window that cannot be audited throws RunWindowError
 * before the state is opened.
 */
export async function runLocalAudit(options: LocalAuditOptions): Promise<LocalAuditResult> {
  const settlingDays = checkSettlingDays(options.settlingDays ?? DEFAULT_SETTLING_DAYS);
  const startedAt = options.clock.now();
  const asked = requestedWindow({ from: options.from, to: options.to }, utcDate(startedAt));
  const { registry, text: registryText, manifest } = await loadRegistry(options.registryPath);
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const settings = {
    datasetDepth: registry.settings.datasetDepth,
    manifest,
    holdings: registry.settings.holdings,
  };
  const { state, pool, listing } = await openStateWithWorkers(
    options.dbPath ?? join(outDir, 'state.duckdb'),
    settings,
    options.logs,
  );
  try {
    const extentBefore = await state.usageSource.dataExtent();
    const ingest = await ingestPaths(state.ingestLog, options.logs, {
      ...settings,
      manifestHash: manifest?.hash,
      pool,
      listing,
      progress: (event) => {
        options.progress?.(event);
        failpoint('ingest-file');
      },
    });
    failpoint('after-ingest');
    const extent = await state.usageSource.dataExtent();
    const window: AuditWindow =
      asked ?? localDefaultWindow(extent, options.clock, settlingDays, extentBefore);

    const runId = newRunId(startedAt);
    const evaluateRequest = {
      window,
      partners: options.partners,
      dataEndMs: extent ? extent.maxMs + SLOT_MS : undefined,
      // Locally the newest data stands for how far the logs have arrived.
      settling: { settlingDays },
    };
    const evaluated =
      options.evaluation === 'rows'
        ? await evaluateWindow({ registry, usage: state.usageSource }, evaluateRequest)
        : await evaluateAggregatedWindow({ registry, usage: state.aggregatedUsage }, evaluateRequest);
    // Network findings over the window's local dates, each in its partner's zone, as usage (NETWORKS.md).
    const networks = new DuckDbNetworkFindings(state.database);
    const networkFindings = await networks.findings(registry, { fromDate: window.from, toDate: window.to });
    // The notices ask which sources were first seen in each billing period: over the periods' dates,
    // which reach past the window's when it does not start or end on a month's first.
    const noticeDates = noticeFindingsDates(
      window,
      evaluated.evaluations.map((e) => e.period),
    );
    const noticeFindings =
      noticeDates.fromDate === window.from && noticeDates.toDate === window.to
        ? networkFindings
        : await networks.findings(registry, noticeDates);
    failpoint('after-evaluate');
    // What each audited partner holds over the same window (the holdings table, HOLDINGS.md), when the
    // registry keeps holdings (settings.holdings); otherwise the report has none and no holdings.csv.
    const holdings = registry.settings.holdings
      ? await readHoldings(
          { registry, holdings: state.holdings },
          {
            from: window.from,
            to: window.to,
            ...(options.partners !== undefined && options.partners.length > 0
              ? { partners: options.partners }
              : {}),
          },
        )
      : undefined;
    const holdingsCsv = holdings === undefined ? undefined : holdingsToCsv(holdings);
    // holdings.csv goes beside report.json (as on AWS) and into the run's evidence bundle.
    const outboxDir = join(outDir, options.dryRun ? 'previews' : 'outbox');
    const mailer = new OutboxMailer(outboxDir);
    // Differences against notices already sent are read before this run records its own.
    const noticeDiffs = await diffSentNotices(state.ledger, evaluated.evaluations);
    const notices = await sendNotices(
      {
        registry,
        ledger: state.ledger,
        mailer,
        copies: new LocalReportStore(outDir),
        clock: options.clock,
        onStep: (step) => failpoint(`notice-${step}`),
      },
      {
        runId,
        evaluations: evaluated.evaluations,
        dryRun: options.dryRun,
        reportRef: `partner-audit run ${runId}`,
        messageIdDomain: 'partner-audit.local',
        datedAt: startedAt,
        copiesUnder: `notice-copies/${runId}/`,
        // The state file is locked to one process at a time (DuckDbDatabase.open), so a pending claim
        // of another run here is always one that died: take it over at once rather than after 30 min.
        staleAfterMs: 0,
        networkFindings: noticeFindings,
      },
    );
    failpoint('after-notices');
    // A dry run records nothing, but its notices are rendered to previews/ for people to read.
    const files = new Map<NoticeOutcome, string>();
    const previews = new LocalReportStore(outboxDir);
    for (const n of notices) {
      if (n.status === 'sent' && n.delivery) files.set(n, join(outboxDir, n.delivery));
      if (n.status === 'previewed' && n.message) {
        files.set(n, await writePreview(previews, outboxStem(n.key), n.message));
      }
    }
    const published = await publishRunReport(
      { reports: new LocalReportStore(outDir), clock: options.clock, renderHtml: renderReportHtml },
      {
        runId,
        engine: state.usageSource.engine,
        window,
        dryRun: options.dryRun,
        reason: options.reason,
        registryHash: createHash('sha256').update(registryText).digest('hex'),
        input: ingest.summary,
        evaluations: evaluated.evaluations,
        unattributed: evaluated.unattributed,
        uncovered: evaluated.uncovered,
        network: { findings: networkFindings, windowStartMs: networkWindowStarts(registry, window) },
        notices: notices.map((n) => ({
          key: n.key,
          status: n.status,
          covers: n.covers,
          messageId: n.messageId,
          file: files.get(n),
          error: n.error,
        })),
        noticeDiffs,
        registry,
        ...(holdings === undefined ? {} : { holdings }),
        evidence: {
          inputFiles: ingest.inputs,
          registrySource: options.registryPath,
          rerun:
            `partner-audit audit ${options.logs.map((l) => `--logs ${l}`).join(' ')} ` +
            `--registry ${options.registryPath} --from ${window.from} --to ${window.to} --dry-run`,
        },
      },
      { prefix: '', withSchema: true },
    );
    const { report, json, csv, html } = published;
    // The same text as the top-level network-findings.csv both engines write, for the evidence bundle.
    const networkCsv = networkFindingsToCsv(report.networkFindings ?? []);
    // The run's evidence: report, CSV, HTML and the notices, under a hash-chained manifest.
    const bundleDir = join(outDir, 'runs', runId);
    const noticeFiles = [];
    for (const file of new Set(files.values())) {
      for (const f of [file, file.replace(/\.eml$/, '.html')]) {
        noticeFiles.push({ name: `notices/${basename(f)}`, body: await readFile(f) });
      }
    }
    const bundle = await writeBundle(
      bundleDir,
      [
        { name: 'report.json', body: json },
        { name: 'usage.csv', body: csv },
        { name: 'network-findings.csv', body: networkCsv },
        ...(holdingsCsv === undefined ? [] : [{ name: 'holdings.csv', body: holdingsCsv }]),
        { name: 'report.html', body: html },
        ...noticeFiles,
      ],
      options.signingKey === undefined ? {} : { signingKey: options.signingKey },
    );
    await writeFile(join(outDir, 'LATEST_RUN'), `${runId}\n`);
    return {
      report,
      window,
      dryRun: options.dryRun,
      input: ingest.summary,
      evaluations: evaluated.evaluations,
      unattributedCount: evaluated.unattributed.figures.length,
      findingCount:
        evaluated.unattributed.findings.length +
        evaluated.evaluations.reduce((n, e) => n + e.findings.length, 0),
      reportPath: published.locations.json,
      csvPath: published.locations.csv,
      htmlPath: published.locations.html,
      bundleDir,
      bundleHead: bundle.head,
      outboxDir,
      notices,
    };
  } finally {
    await state.close();
  }
}
