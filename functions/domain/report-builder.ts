/**
 * The report built from a run's evaluations, notices and evidence (report-schema.ts says what it
 * holds); the input manifest hash of the evidence.
 */

import { createHash } from 'node:crypto';
import type { InputSummary, NoticeKey } from '../ports.js';
import type {
  DailyFigure,
  DatasetFigure,
  FeeLine,
  Finding,
  LevelReached,
  MetricFigure,
  PartnerPeriodEvaluation,
  UnattributedFigure,
} from './evaluation.js';
import type { HoldingsSection } from './holdings.js';
import { formatMinor } from './money.js';
import type { NetworkFinding } from './network-findings.js';
import { type FigureChange, formatBp, type NoticeDiff } from './notices.js';
import type { MetricLimits, Registry } from './registry.js';
import { networkFindingOut } from './report-network.js';
import { type NoticeStatus, type Report, ReportSchema } from './report-schema.js';
import type { UsageCounts } from './usage.js';

/** One notice outcome of the run, as the notice sender records it. */
export interface NoticeOutcome {
  readonly key: NoticeKey;
  readonly status: NoticeStatus;
  readonly covers?: readonly string[];
  readonly messageId?: string;
  /** Outbox .eml or preview file written locally. */
  readonly file?: string;
  readonly error?: string;
}

/** One input object of the run, for the evidence section. */
export interface EvidenceFile {
  readonly name: string;
  readonly fingerprint: string;
  readonly bytes?: number;
}

/** One query that produced usage figures, for the evidence section. */
export interface EvidenceQuery {
  /** What the query is for, e.g. `usage 2026-11-01..2026-11-21` or `rollup 2026/11/05`. */
  readonly purpose: string;
  readonly engine: string;
  readonly sql: string;
  readonly params?: readonly string[];
  readonly queryExecutionId?: string;
  readonly bytesScanned?: bigint | number;
}

/** Evidence the engine hands to buildReport; the manifest hash is computed here. */
export interface EvidenceInput {
  readonly inputFiles: readonly EvidenceFile[];
  readonly queries?: readonly EvidenceQuery[];
  readonly registrySource?: string;
  readonly rerun?: string;
}

/**
 * The text whose sha256 is the input manifest hash: one line per input object, sorted by name then
 * fingerprint, `<fingerprint>  <name>` (the layout of `sha256sum`), each ending in a newline. Written
 * out so that anyone can recompute the hash from the evidence list with standard tools.
 */
export function inputManifestText(files: readonly EvidenceFile[]): string {
  return [...files]
    .sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.fingerprint, b.fingerprint))
    .map((f) => `${f.fingerprint}  ${f.name.replace(/[\r\n]/g, ' ')}\n`)
    .join('');
}

/** sha256 (hex) of inputManifestText(files). */
export function inputManifestHash(files: readonly EvidenceFile[]): string {
  return createHash('sha256').update(inputManifestText(files), 'utf8').digest('hex');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface BuildReportInput {
  readonly runId: string;
  readonly generatedAt: Date | string;
  readonly engine: string;
  /** The audit window as the request gave it (local dates or instants). */
  readonly window: { readonly from: string; readonly to: string };
  readonly dryRun: boolean;
  /** Why the run was started (ad hoc runs). */
  readonly reason?: string;
  readonly registryHash: string;
  readonly codeVersion: string;
  readonly input: InputSummary;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
  readonly unattributed: {
    readonly figures: readonly UnattributedFigure[];
    readonly findings: readonly Finding[];
  };
  /** Partner periods with no contract in force. */
  readonly uncovered?: readonly { readonly partnerId: string; readonly periodId: string }[];
  /**
   * Network findings over the window's local dates in each partner's zone (NETWORKS.md), and the
   * instant the window starts at in each partner's zone, by partner id (a finding is new in the window
   * when first seen from then on).
   */
  readonly network?: {
    readonly findings: readonly NetworkFinding[];
    readonly windowStartMs: Readonly<Record<string, number>>;
  };
  readonly notices: readonly NoticeOutcome[];
  readonly noticeDiffs: readonly NoticeDiff[];
  /**
   * The registry the run used, so the report can state each contract's daily caps (the evaluation
   * carries only which days went over). Without it the caps are reported as null.
   */
  readonly registry?: Registry;
  /** Input fingerprints and queries; without it the report's evidence is null. */
  readonly evidence?: EvidenceInput;
  /** What each partner holds over the window (holdings.ts); without it the report's holdings are null. */
  readonly holdings?: HoldingsSection;
}

const iso = (ms: number) => new Date(ms).toISOString();
const counts = (c: UsageCounts) => ({
  requests: c.requests.toString(),
  bytesSent: c.bytesSent.toString(),
  records: c.records.toString(),
});
const moneyOf = (currency: string, minor: bigint) => ({
  currency,
  minor: minor.toString(),
  amount: formatMinor(minor, currency),
});

function metricOut(m: MetricFigure, currency: string) {
  return {
    metric: m.metric,
    used: m.used.toString(),
    limit: m.limit?.toString() ?? null,
    utilisation: m.utilisationBp === undefined ? null : formatBp(m.utilisationBp),
    over: m.over.toString(),
    chargedOver: (m.chargedOver ?? m.over).toString(),
    fee: moneyOf(currency, m.feeMinor),
    priced: m.priced,
  };
}

const dailyOut = (d: DailyFigure) => ({ date: d.date, counts: counts(d.counts), overCap: [...d.overCap] });
const datasetOut = (d: DatasetFigure) => ({
  dataset: d.dataset,
  counts: counts(d.counts),
  allowed: d.allowed,
});

function feeLineOut(l: FeeLine, currency: string) {
  return {
    metric: l.metric,
    applicationId: l.applicationId ?? null,
    tier: l.tier,
    units: l.units.toString(),
    price: l.price,
    per: l.per.toString(),
    amount: moneyOf(currency, l.amountMinor),
  };
}

function findingOut(f: Finding) {
  return {
    kind: f.kind,
    severity: f.severity,
    message: f.message,
    partnerId: f.partnerId ?? null,
    applicationId: f.applicationId ?? null,
    requester: f.requester ?? null,
    dataset: f.dataset ?? null,
    date: f.date ?? null,
    counts: counts(f.counts),
  };
}

function noticeOut(n: NoticeOutcome) {
  return {
    partnerId: n.key.partnerId,
    periodId: n.key.periodId,
    level: n.key.level,
    status: n.status,
    covers: [...(n.covers ?? [])],
    messageId: n.messageId ?? null,
    file: n.file ?? null,
    error: n.error ?? null,
  };
}

const changeOut = (c: FigureChange) => ({ path: c.path, sent: c.sent, current: c.current, delta: c.delta });

type Caps = { requests: string | null; bytesSent: string | null; records: string | null } | null;

function capsOut(limits: MetricLimits | undefined): Caps {
  if (!limits) return null;
  return {
    requests: limits.requests?.toString() ?? null,
    bytesSent: limits.bytesSent?.toString() ?? null,
    records: limits.records?.toString() ?? null,
  };
}

/** The daily caps of the contract an evaluation used, for the partner and for one application. */
function dailyCapsOf(
  ev: PartnerPeriodEvaluation,
  registry: Registry | undefined,
  applicationId?: string,
): Caps {
  if (!registry) return null;
  const contract = registry.partners
    .find((p) => p.id === ev.partnerId)
    ?.contracts.find((c) => c.id === ev.contractId);
  if (!contract) return null;
  if (applicationId === undefined) return capsOut(contract.limits.daily);
  return capsOut(contract.applicationLimits[applicationId]?.daily ?? {});
}

function evidenceOut(e: EvidenceInput | undefined) {
  if (!e) return null;
  return {
    inputFiles: e.inputFiles.map((f) => ({
      name: f.name,
      fingerprint: f.fingerprint,
      bytes: f.bytes ?? null,
    })),
    inputManifestHash: e.inputFiles.length > 0 ? inputManifestHash(e.inputFiles) : null,
    queries: (e.queries ?? []).map((q) => ({
      purpose: q.purpose,
      engine: q.engine,
      sql: q.sql,
      params: [...(q.params ?? [])],
      queryExecutionId: q.queryExecutionId ?? null,
      bytesScanned: q.bytesScanned === undefined ? null : q.bytesScanned.toString(),
    })),
    logDelivery: LOG_DELIVERY,
    registrySource: e.registrySource ?? null,
    rerun: e.rerun ?? null,
  };
}

function levelOut(l: LevelReached) {
  return {
    level: l.level,
    percent: l.percent,
    basis: l.basis ?? ('actual' as const),
    metric: l.metric,
    applicationId: l.applicationId ?? null,
    utilisation: formatBp(l.utilisationBp),
  };
}

/**
 * The evidence section's sentence on the logs themselves: what S3 promises about delivering them, and
 * what the audit does about it (README "How log lines are read", RELIABILITY.md).
 */
export const LOG_DELIVERY =
  'S3 delivers server access logs on a best-effort basis: most records arrive within a few hours, but a record can arrive late, twice, or (rarely) not at all; the audit counts a late record in the 15-minute slot it happened in once it arrives, counts each request once by its request id and host id (repeats are dropped and counted in the input section), and cannot count a record S3 never delivers.';

function periodOut(
  ev: PartnerPeriodEvaluation,
  notices: readonly NoticeOutcome[],
  registry: Registry | undefined,
) {
  const forecastMetrics = [
    ...ev.metrics.map((m) => ({ m, applicationId: null as string | null })),
    ...ev.applications.flatMap((a) =>
      a.metrics.map((m) => ({ m, applicationId: a.applicationId as string | null })),
    ),
  ].map(({ m, applicationId }) => ({
    metric: m.metric,
    applicationId,
    limit: m.limit?.toString() ?? null,
    forecast: m.forecast.toString(),
    forecastOver: m.forecastOver.toString(),
  }));
  return {
    periodId: ev.period.id,
    timeZone: ev.period.timeZone,
    fromDate: ev.period.fromDate,
    toDate: ev.period.toDate,
    startsAt: iso(ev.period.startMs),
    endsAt: iso(ev.period.endMs),
    contractId: ev.contractId,
    currency: ev.currency,
    asOf: iso(ev.asOfMs),
    complete: ev.complete,
    ...(ev.final === undefined ? {} : { final: ev.final }),
    ...(ev.finalAfterMs === undefined ? {} : { finalAfter: iso(ev.finalAfterMs) }),
    totals: counts(ev.totals),
    metrics: ev.metrics.map((m) => metricOut(m, ev.currency)),
    applications: ev.applications.map((a) => ({
      applicationId: a.applicationId,
      name: a.name,
      counts: counts(a.counts),
      metrics: a.metrics.map((m) => metricOut(m, ev.currency)),
      daily: a.daily.map(dailyOut),
      daysOverCap: a.daysOverCap,
      dailyCaps: dailyCapsOf(ev, registry, a.applicationId),
    })),
    datasets: ev.datasets.map(datasetOut),
    daily: ev.daily.map(dailyOut),
    daysOverCap: ev.daysOverCap,
    dailyCaps: dailyCapsOf(ev, registry),
    fees: {
      total: moneyOf(ev.currency, ev.fees.totalMinor),
      lines: ev.fees.lines.map((l) => feeLineOut(l, ev.currency)),
    },
    forecast: ev.complete
      ? null
      : {
          basedOnDataUntil: iso(ev.asOfMs),
          rateFrom: iso(ev.forecast?.rateFromMs ?? ev.period.startMs),
          noticesFrom: ev.forecast ? iso(ev.forecast.noticesFromMs) : null,
          levels: (ev.forecast?.levels ?? []).map(levelOut),
          metrics: forecastMetrics,
        },
    levels: ev.levels.map(levelOut),
    currentLevel: ev.levels[ev.levels.length - 1]?.level ?? null,
    findings: ev.findings.map(findingOut),
    notices: notices
      .filter((n) => n.key.partnerId === ev.partnerId && n.key.periodId === ev.period.id)
      .map(noticeOut),
  };
}

/**
 * Build the report of one run. The result is checked against ReportSchema before it is returned, so
 * a report that would not validate is a bug found here, not by a reader.
 */
export function buildReport(input: BuildReportInput): Report {
  const partners: { partnerId: string; partnerName: string; periods: ReturnType<typeof periodOut>[] }[] = [];
  for (const ev of input.evaluations) {
    let p = partners.find((x) => x.partnerId === ev.partnerId);
    if (!p) {
      p = { partnerId: ev.partnerId, partnerName: ev.partnerName, periods: [] };
      partners.push(p);
    }
    p.periods.push(periodOut(ev, input.notices, input.registry));
  }
  for (const p of partners)
    p.periods.sort((a, b) => (a.periodId < b.periodId ? -1 : a.periodId > b.periodId ? 1 : 0));

  const feesByCurrency = new Map<string, bigint>();
  for (const ev of input.evaluations) {
    feesByCurrency.set(ev.currency, (feesByCurrency.get(ev.currency) ?? 0n) + ev.fees.totalMinor);
  }
  const noticesByStatus: Record<string, number> = {};
  for (const n of input.notices) noticesByStatus[n.status] = (noticesByStatus[n.status] ?? 0) + 1;
  const overLimit = new Set(
    input.evaluations
      .filter((ev) => [...ev.metrics, ...ev.applications.flatMap((a) => a.metrics)].some((m) => m.over > 0n))
      .map((ev) => ev.partnerId),
  );
  const inp = input.input;

  const report = {
    reportVersion: 1 as const,
    runId: input.runId,
    generatedAt: typeof input.generatedAt === 'string' ? input.generatedAt : input.generatedAt.toISOString(),
    engine: input.engine,
    dryRun: input.dryRun,
    reason: input.reason ?? null,
    registryHash: input.registryHash,
    codeVersion: input.codeVersion,
    window: { from: input.window.from, to: input.window.to },
    summary: {
      partners: partners.length,
      periods: input.evaluations.length,
      fees: [...feesByCurrency.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([currency, minor]) => moneyOf(currency, minor)),
      partnersOverLimit: [...overLimit].sort(),
      findings:
        input.evaluations.reduce((n, ev) => n + ev.findings.length, 0) +
        input.unattributed.findings.length +
        (input.network?.findings.length ?? 0),
      notices: noticesByStatus,
      inputComplete: inp.malformedLines === 0 && inp.unreadableFiles.length === 0,
    },
    input: {
      files: inp.files,
      filesSkipped: inp.filesSkipped,
      bytes: inp.bytes,
      lines: inp.lines,
      parsedLines: inp.parsedLines,
      malformedLines: inp.malformedLines,
      malformedByReason: { ...inp.malformedByReason },
      repeatsDropped: inp.repeatsDropped ?? 0,
      malformedSamples: inp.malformedSamples.map((s) => ({
        file: s.file,
        line: s.line,
        reason: s.reason,
        text: s.text,
      })),
      unreadableFiles: inp.unreadableFiles.map((u) => ({ file: u.file, reason: u.reason })),
    },
    partners,
    uncovered: (input.uncovered ?? []).map((u) => ({ partnerId: u.partnerId, periodId: u.periodId })),
    unattributed: {
      figures: input.unattributed.figures.map((u) => ({
        requester: u.requester,
        accessPoint: u.accessPoint,
        counts: counts(u.counts),
        datasets: u.datasets.map(datasetOut),
        touchedPartnerData: u.touchedPartnerData,
      })),
      findings: input.unattributed.findings.map(findingOut),
    },
    networkFindings: (input.network?.findings ?? []).map((f) =>
      networkFindingOut(f, windowStartOf(input.network!.windowStartMs, f.partnerId)),
    ),
    notices: input.notices.map(noticeOut),
    noticeDiffs: input.noticeDiffs.map((d) => ({
      partnerId: d.key.partnerId,
      periodId: d.key.periodId,
      level: d.key.level,
      messageId: d.messageId ?? null,
      sentAt: d.sentAt ?? null,
      changes: d.changes.map(changeOut),
    })),
    evidence: evidenceOut(input.evidence),
    holdings: input.holdings ?? null,
  };
  return ReportSchema.parse(report);
}

/** A report input that does not hold together (a caller's bug, not bad data). */
export class ReportInputError extends Error {
  override readonly name = 'ReportInputError';
}

/** The window's start in the zone of partner `partnerId`. */
function windowStartOf(starts: Readonly<Record<string, number>>, partnerId: string): number {
  const ms = Object.hasOwn(starts, partnerId) ? starts[partnerId] : undefined;
  if (ms === undefined) {
    throw new ReportInputError(
      `network.windowStartMs has no start for partner "${partnerId}" of a network finding`,
    );
  }
  return ms;
}
