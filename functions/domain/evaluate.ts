/**
 * The overage rules: one partner's billing period held against the contract in force, and the usage no
 * partner registered. Pure: the caller supplies the rows, the registry, the attributor and the time the
 * data reaches. Every rule here is written out in plain words in OVERAGES.md.
 */
import { type Attributor, isIgnoredRequester } from './attribution.js';
import type {
  ApplicationFigure,
  DailyFigure,
  DatasetFigure,
  FeeLine,
  Finding,
  LevelReached,
  MetricFigure,
  PartnerPeriodEvaluation,
  PeriodForecast,
  UnattributedFigure,
} from './evaluation.js';
import { priceOverage } from './pricing.js';
import {
  type Contract,
  contractOn,
  type LimitSet,
  type MetricLimits,
  type Partner,
  type Price,
  type Registry,
  type Threshold,
} from './registry.js';
import { addDays, datesBetween, type Interval, localDateOf, type Period, startOfLocalDate } from './time.js';
import { METRICS, type Metric, type StatusClass, type UsageCounts, type UsageRow } from './usage.js';

/** Input of {@link evaluatePartnerPeriod}. */
export interface PartnerPeriodInput {
  readonly registry: Registry;
  readonly partner: Partner;
  readonly period: Period;
  /** Rows covering at least the period; rows outside it are ignored. */
  readonly rows: readonly UsageRow[];
  /** Instant the data reaches (end of the audit window); slots starting at or after it are ignored. */
  readonly asOfMs: number;
  readonly attribute: Attributor;
}

/** Input of {@link evaluateUnattributed}. */
export interface UnattributedInput {
  readonly registry: Registry;
  readonly rows: readonly UsageRow[];
  /** The audit window; rows whose slot starts outside it are ignored. */
  readonly range: Interval;
  readonly attribute: Attributor;
}

/** True when `operation` is one of the counted patterns: exact, or a prefix ending in `*`. */
export function operationMatches(patterns: readonly string[], operation: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? operation.startsWith(p.slice(0, -1)) : p === operation));
}

/** Whether the contract lets the partner read `dataset`. Bucket-level operations (`-`) are allowed. */
export function isDatasetAllowed(contract: Contract, dataset: string): boolean {
  return dataset === '-' || contract.datasets.some((d) => dataset.startsWith(d));
}

/**
 * used / limit in basis points, floored. A limit of 0 (nothing included) is taken as 1 unit here, so
 * any use reads as over 100 %; `over` and fees still use the real 0.
 */
export function utilisationBp(used: bigint, limit: bigint): bigint {
  return (used * 10_000n) / (limit > 0n ? limit : 1n);
}

/**
 * Whether `used` reaches `percent` of `limit`, exactly: percent is taken to thousandths
 * (80.5 -> 80500), so the test is used x 100000 >= limit x round(percent x 1000).
 * A zero limit is taken as 1 unit, as in {@link utilisationBp}.
 */
export function reachesPercent(used: bigint, limit: bigint, percent: number): boolean {
  const milli = BigInt(Math.round(percent * 1000));
  return used * 100_000n >= (limit > 0n ? limit : 1n) * milli;
}

/**
 * Use projected to the period's end from the run rate so far: used x period length / elapsed, floored.
 * Equal to `used` once the data reaches the period's end, or before any of the period has elapsed.
 */
export function forecastOf(used: bigint, period: Interval, asOfMs: number): bigint {
  if (asOfMs >= period.endMs) return used;
  const elapsed = BigInt(asOfMs - period.startMs);
  if (elapsed <= 0n) return used;
  return (used * BigInt(period.endMs - period.startMs)) / elapsed;
}

const DAY_MS = 86_400_000;

/**
 * First instant at which a forecast notice may go out for a period: the start of local day
 * `afterDays` of the period (day 0 is its first), and never less than 24 hours after its start, since
 * a local day can be 23 hours long where a clock change falls on it.
 */
export function forecastNoticesFrom(period: Period, afterDays: number): number {
  return Math.max(
    startOfLocalDate(addDays(period.fromDate, afterDays), period.timeZone),
    period.startMs + DAY_MS,
  );
}

interface Counter {
  requests: bigint;
  bytesSent: bigint;
  records: bigint;
}

const zero = (): Counter => ({ requests: 0n, bytesSent: 0n, records: 0n });

function add(c: Counter, r: UsageCounts): void {
  c.requests += r.requests;
  c.bytesSent += r.bytesSent;
  c.records += r.records;
}

function frozen(c: Counter): UsageCounts {
  return Object.freeze({ requests: c.requests, bytesSent: c.bytesSent, records: c.records });
}

function getOr<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** 1234567n -> "1,234,567", for finding messages. */
function grouped(n: bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function describeCounts(c: UsageCounts): string {
  return `${grouped(c.requests)} requests, ${grouped(c.bytesSent)} bytes`;
}

const METRIC_WORDS: Record<Metric, string> = {
  requests: 'requests',
  bytesSent: 'bytes sent',
  records: 'records',
};

/**
 * Usage of one metric against an optional monthly limit, with the fee for the part over it that is not
 * `alreadyCharged` elsewhere (the partner's figure passes what its applications' own limits charged, so
 * no request is billed twice; an application's figure passes 0).
 */
function metricFigure(
  metric: Metric,
  used: bigint,
  limit: bigint | undefined,
  price: Price | undefined,
  currency: string,
  period: Period,
  asOfMs: number,
  applicationId: string | undefined,
  alreadyCharged: bigint,
): { figure: MetricFigure; lines: FeeLine[] } {
  const forecast = forecastOf(used, period, asOfMs);
  if (limit === undefined) {
    return {
      figure: {
        metric,
        used,
        over: 0n,
        forecast,
        forecastOver: 0n,
        feeMinor: 0n,
        priced: price !== undefined,
      },
      lines: [],
    };
  }
  const over = used > limit ? used - limit : 0n;
  const chargedOver = over > alreadyCharged ? over - alreadyCharged : 0n;
  const charge = price ? priceOverage(chargedOver, price, currency) : { lines: [], totalMinor: 0n };
  const lines: FeeLine[] = charge.lines.map((l) =>
    applicationId === undefined ? { metric, ...l } : { metric, applicationId, ...l },
  );
  return {
    figure: {
      metric,
      used,
      limit,
      utilisationBp: utilisationBp(used, limit),
      over,
      chargedOver,
      forecast,
      forecastOver: forecast > limit ? forecast - limit : 0n,
      feeMinor: charge.totalMinor,
      priced: price !== undefined,
    },
    lines,
  };
}

function overCapOf(counts: UsageCounts, daily: MetricLimits): Metric[] {
  return METRICS.filter((m) => {
    const cap = daily[m];
    return cap !== undefined && counts[m] > cap;
  });
}

function dailyFigures(
  dates: readonly string[],
  byDate: Map<string, Counter>,
  limits: LimitSet,
): DailyFigure[] {
  return dates.map((date) => {
    const counts = frozen(byDate.get(date) ?? zero());
    return { date, counts, overCap: overCapOf(counts, limits.daily) };
  });
}

/**
 * Evaluate one partner's billing period against the contract in force on the period's first local
 * date; that version governs the whole period, even if another starts mid-period. Returns undefined
 * when no contract is in force on that date. Counted rows are those attributed to the partner, whose
 * slot starts in [period start, min(period end, asOf)), whose operation and status class the contract
 * counts. See OVERAGES.md for every rule.
 */
export function evaluatePartnerPeriod(input: PartnerPeriodInput): PartnerPeriodEvaluation | undefined {
  const { partner, period, attribute } = input;
  const contract = contractOn(partner, period.fromDate);
  if (!contract) return undefined;
  const cutMs = Math.min(period.endMs, input.asOfMs);
  const complete = input.asOfMs >= period.endMs;
  const statuses = new Set<StatusClass>(contract.counted.statuses as StatusClass[]);
  const operations = contract.counted.operations;

  const totals = zero();
  const byDataset = new Map<string, Counter>();
  const byDate = new Map<string, Counter>();
  const byApp = new Map<string, { total: Counter; byDate: Map<string, Counter> }>();
  const dateOfSlot = new Map<number, string>();
  const opCounted = new Map<string, boolean>();

  for (const row of input.rows) {
    if (row.slotStart < period.startMs || row.slotStart >= cutMs) continue;
    if (!statuses.has(row.statusClass)) continue;
    let counted = opCounted.get(row.operation);
    if (counted === undefined) {
      counted = operationMatches(operations, row.operation);
      opCounted.set(row.operation, counted);
    }
    if (!counted) continue;
    const who = attribute(row.requester, row.accessPoint);
    if (!who || who.partnerId !== partner.id) continue;
    // Slots are 15 minutes and every zone's offset a multiple of that, so a slot lies in one local day.
    const date = getOr(dateOfSlot, row.slotStart, () => localDateOf(row.slotStart, period.timeZone));
    add(totals, row);
    add(getOr(byDataset, row.dataset, zero), row);
    add(getOr(byDate, date, zero), row);
    const app = getOr(byApp, who.applicationId, () => ({ total: zero(), byDate: new Map() }));
    add(app.total, row);
    add(getOr(app.byDate, date, zero), row);
  }

  // Every local day the data has reached, usage or not, so a report shows the whole calendar so far.
  const dates =
    cutMs > period.startMs
      ? datesBetween(period.fromDate, addDays(localDateOf(cutMs - 1, period.timeZone), 1))
      : [];

  // Applications first: their own excess is charged as theirs, and only the rest of the partner's
  // excess is charged at partner level (OVERAGES.md, "Per-application limits and partner limits").
  const appLines: FeeLine[] = [];
  const applications: ApplicationFigure[] = [...partner.applications]
    .sort((a, b) => byString(a.id, b.id))
    .map((app) => {
      const acc = byApp.get(app.id) ?? { total: zero(), byDate: new Map<string, Counter>() };
      const limits: LimitSet = contract.applicationLimits[app.id] ?? { monthly: {}, daily: {} };
      const appMetrics = METRICS.filter((m) => limits.monthly[m] !== undefined).map((m) => {
        const r = metricFigure(
          m,
          acc.total[m],
          limits.monthly[m],
          contract.overage[m],
          contract.currency,
          period,
          cutMs,
          app.id,
          0n,
        );
        appLines.push(...r.lines);
        return r.figure;
      });
      const daily = dailyFigures(dates, acc.byDate, limits);
      return {
        applicationId: app.id,
        name: app.name,
        counts: frozen(acc.total),
        metrics: appMetrics,
        daily,
        daysOverCap: daily.filter((d) => d.overCap.length > 0).length,
      };
    });

  const lines: FeeLine[] = [];
  const metrics = METRICS.map((m) => {
    const overAtApplications = applications
      .flatMap((a) => a.metrics)
      .filter((f) => f.metric === m)
      .reduce((sum, f) => sum + f.over, 0n);
    const r = metricFigure(
      m,
      totals[m],
      contract.limits.monthly[m],
      contract.overage[m],
      contract.currency,
      period,
      cutMs,
      undefined,
      overAtApplications,
    );
    lines.push(...r.lines);
    return r.figure;
  });
  // Partner lines first, then each application's, as the report lists them.
  lines.push(...appLines);

  const datasets: DatasetFigure[] = [...byDataset.entries()]
    .sort(([a], [b]) => byString(a, b))
    .map(([dataset, c]) => ({ dataset, counts: frozen(c), allowed: isDatasetAllowed(contract, dataset) }));

  const daily = dailyFigures(dates, byDate, contract.limits);

  const levels: LevelReached[] = [];
  const candidates: { figure: MetricFigure; applicationId?: string }[] = [
    ...metrics.map((figure) => ({ figure })),
    ...applications.flatMap((a) => a.metrics.map((figure) => ({ figure, applicationId: a.applicationId }))),
  ];
  const thresholds = [...contract.thresholds].sort(
    (a, b) => a.percent - b.percent || byString(a.level, b.level),
  );
  const reachedBy = (t: Threshold, basis: 'actual' | 'forecast'): LevelReached | undefined => {
    const amount = (f: MetricFigure) => (basis === 'forecast' ? f.forecast : f.used);
    const hit = candidates.find(
      (c) => c.figure.limit !== undefined && reachesPercent(amount(c.figure), c.figure.limit, t.percent),
    );
    if (!hit || hit.figure.limit === undefined) return undefined;
    const reached: LevelReached = {
      level: t.level,
      percent: t.percent,
      metric: hit.figure.metric,
      utilisationBp:
        basis === 'forecast'
          ? utilisationBp(hit.figure.forecast, hit.figure.limit)
          : (hit.figure.utilisationBp ?? 0n),
      ...(basis === 'forecast' ? { basis } : {}),
    };
    return hit.applicationId === undefined ? reached : { ...reached, applicationId: hit.applicationId };
  };
  for (const t of thresholds) {
    if (t.basis === 'forecast') continue;
    const reached = reachedBy(t, 'actual');
    if (reached) levels.push(reached);
  }
  // A projection exists only while the period is open; once closed the actual levels say it all.
  let forecast: PeriodForecast | undefined;
  if (!complete) {
    const noticesFromMs = forecastNoticesFrom(period, contract.forecastNoticeAfterDays);
    forecast = {
      rateFromMs: period.startMs,
      rateToMs: cutMs,
      noticesFromMs,
      noticeable: cutMs >= noticesFromMs,
      levels: thresholds
        .filter((t) => t.basis === 'forecast')
        .map((t) => reachedBy(t, 'forecast'))
        .filter((l): l is LevelReached => l !== undefined),
    };
  }

  const findings: Finding[] = [];
  for (const d of datasets) {
    if (d.allowed) continue;
    findings.push({
      kind: 'dataset-outside-contract',
      severity: 'critical',
      message: `${partner.name} read ${d.dataset}, which contract ${contract.id} does not cover (${describeCounts(d.counts)}).`,
      partnerId: partner.id,
      dataset: d.dataset,
      counts: d.counts,
    });
  }
  const capFindings: Finding[] = [];
  const capFinding = (d: DailyFigure, applicationId?: string, appName?: string): Finding => {
    const who = appName ? `${partner.name} application ${appName}` : partner.name;
    const what = d.overCap.map((m) => METRIC_WORDS[m]).join(' and ');
    const base: Finding = {
      kind: 'daily-cap-exceeded',
      severity: 'warning',
      message: `${who} exceeded the daily cap on ${what} on ${d.date} (${describeCounts(d.counts)}).`,
      partnerId: partner.id,
      date: d.date,
      counts: d.counts,
    };
    return applicationId === undefined ? base : { ...base, applicationId };
  };
  for (const d of daily) if (d.overCap.length > 0) capFindings.push(capFinding(d));
  for (const a of applications) {
    for (const d of a.daily)
      if (d.overCap.length > 0) capFindings.push(capFinding(d, a.applicationId, a.name));
  }
  // By day, the partner's own cap before its applications' caps on the same day.
  capFindings.sort(
    (a, b) => byString(a.date ?? '', b.date ?? '') || byString(a.applicationId ?? '', b.applicationId ?? ''),
  );
  findings.push(...capFindings);

  return {
    partnerId: partner.id,
    partnerName: partner.name,
    period,
    contractId: contract.id,
    currency: contract.currency,
    asOfMs: cutMs,
    complete,
    totals: frozen(totals),
    metrics,
    applications,
    datasets,
    daily,
    daysOverCap: daily.filter((d) => d.overCap.length > 0).length,
    fees: { totalMinor: lines.reduce((s, l) => s + l.amountMinor, 0n), lines },
    levels,
    ...(forecast ? { forecast } : {}),
    forecastThresholds: thresholds
      .filter((t) => t.basis === 'forecast')
      .map((t) => ({ level: t.level, percent: t.percent })),
    findings,
  };
}

/** Whether `dataset` lies within the datasets of any contract version of any partner. */
function partnerDataMatcher(registry: Registry): (dataset: string) => boolean {
  const prefixes = [...new Set(registry.partners.flatMap((p) => p.contracts.flatMap((c) => c.datasets)))];
  return (dataset) => dataset !== '-' && prefixes.some((p) => dataset.startsWith(p));
}

const SUCCESS: ReadonlySet<StatusClass> = new Set<StatusClass>(['2xx', '3xx']);

/**
 * Usage by requesters that match no partner principal and are not the provider's own
 * (settings.ignoredRequesters). Every operation and status class counts here, denied attempts included,
 * since probing is itself worth seeing. `touchedPartnerData` is true only when a request that succeeded
 * (2xx or 3xx) read a dataset inside some partner contract's datasets (any partner, any version); such a
 * requester gets a critical `unregistered-principal` finding, any other an info one. In these figures a
 * dataset's `allowed` is always false: no contract covers an unregistered requester.
 * Figures and findings are sorted by requester, then access point.
 */
export function evaluateUnattributed(input: UnattributedInput): {
  figures: UnattributedFigure[];
  findings: Finding[];
} {
  const { registry, range, attribute } = input;
  const isPartnerData = partnerDataMatcher(registry);
  const groups = new Map<
    string,
    {
      requester: string;
      accessPoint: string;
      total: Counter;
      byDataset: Map<string, Counter>;
      /** Partner datasets read successfully. */
      touched: Set<string>;
    }
  >();
  const ignored = new Map<string, boolean>();

  for (const row of input.rows) {
    if (row.slotStart < range.startMs || row.slotStart >= range.endMs) continue;
    if (attribute(row.requester, row.accessPoint)) continue;
    const skip = getOr(ignored, row.requester, () => isIgnoredRequester(registry, row.requester));
    if (skip) continue;
    const g = getOr(groups, `${row.requester}\u0000${row.accessPoint}`, () => ({
      requester: row.requester,
      accessPoint: row.accessPoint,
      total: zero(),
      byDataset: new Map<string, Counter>(),
      touched: new Set<string>(),
    }));
    add(g.total, row);
    add(getOr(g.byDataset, row.dataset, zero), row);
    if (SUCCESS.has(row.statusClass) && isPartnerData(row.dataset)) g.touched.add(row.dataset);
  }

  const sorted = [...groups.values()].sort(
    (a, b) => byString(a.requester, b.requester) || byString(a.accessPoint, b.accessPoint),
  );
  const figures: UnattributedFigure[] = sorted.map((g) => ({
    requester: g.requester,
    accessPoint: g.accessPoint,
    counts: frozen(g.total),
    datasets: [...g.byDataset.entries()]
      .sort(([a], [b]) => byString(a, b))
      .map(([dataset, c]) => ({ dataset, counts: frozen(c), allowed: false })),
    touchedPartnerData: g.touched.size > 0,
  }));
  const findings: Finding[] = figures.map((f, i) => {
    const touched = [...sorted[i]!.touched].sort(byString);
    const who = f.requester === '-' ? 'Anonymous requests' : `Unregistered requester ${f.requester}`;
    const via = f.accessPoint === '-' ? '' : ` through ${f.accessPoint}`;
    const read = touched.length > 0 ? `, reading partner data from ${touched.join(', ')}` : '';
    return {
      kind: 'unregistered-principal',
      severity: f.touchedPartnerData ? 'critical' : 'info',
      message: `${who}${via} made ${describeCounts(f.counts)}${read}.`,
      requester: f.requester,
      counts: f.counts,
    };
  });
  return { figures, findings };
}
