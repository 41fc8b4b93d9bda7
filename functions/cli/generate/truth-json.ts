/**
 * The ground-truth document (ground-truth.json): the generator's own account of what it wrote, with
 * every count as a decimal string (JSON has no bigint).
 */
import {
  addInto,
  type Counts,
  countsJson,
  type GroundTruthTally,
  type MalformedKind,
  monthBounds,
  type PartnerTally,
  type SourceTally,
  zeroCounts,
} from './ground-truth.js';
import type { PartnerLimits } from './registry-writer.js';
import { type DeclaredNetworks, PROFILE_FRACTION, type World } from './world.js';
import { plusDays, startOfLocalDay } from './zones.js';

type CountsJson = ReturnType<typeof countsJson>;
type MetricName = 'requests' | 'bytesSent' | 'records';

export interface UtilisationJson {
  readonly used: string;
  readonly limit: string;
  /** used * 10000 / limit, floored. */
  readonly bp: string;
  /** The same as a percentage with two decimals, e.g. `85.12`. */
  readonly percent: string;
}

export interface DayJson extends CountsJson {
  /** Metrics whose daily cap this local day exceeded (used > cap). */
  readonly overDailyCap: MetricName[];
}

export interface MonthJson {
  readonly month: string;
  /** Half-open UTC bounds of the month in the partner's zone. */
  readonly startUtc: string;
  readonly endUtc: string;
  readonly counted: CountsJson;
  readonly utilisation: Partial<Record<MetricName, UtilisationJson>>;
  /** Notice levels reached by the partner's or an application's monthly limits (thresholds 80/100/150). */
  readonly levels: string[];
  readonly daysOverDailyCap: number;
  readonly days: Record<string, DayJson>;
  readonly applications: Record<
    string,
    {
      readonly counted: CountsJson;
      readonly utilisation: Partial<Record<MetricName, UtilisationJson>>;
      readonly days: Record<string, DayJson>;
    }
  >;
  readonly datasets: Record<string, { readonly allowed: boolean; readonly counted: CountsJson }>;
}

/** What a partner holds of one dataset over the window (HOLDINGS.md), in the generator's arithmetic. */
export interface HoldingJson {
  readonly objects: string;
  readonly firstRetrieval: string;
  readonly lastRetrieval: string;
}

export interface PartnerJson {
  readonly name: string;
  readonly timeZone: string;
  readonly currency: string;
  readonly profile: string;
  readonly targetPercent: number;
  readonly contractId: string;
  readonly allowedDatasets: string[];
  readonly datasetsOutsideContract: string[];
  /** The month the profile's target refers to: the limits are sized for its whole length. */
  readonly mainMonth: string;
  readonly limits: {
    readonly monthly: Partial<Record<MetricName, string>>;
    readonly daily: Partial<Record<MetricName, string>>;
    readonly applications: Record<
      string,
      {
        readonly monthly: Partial<Record<MetricName, string>>;
        readonly daily: Partial<Record<MetricName, string>>;
      }
    >;
  };
  readonly months: Record<string, MonthJson>;
  /**
   * The story of the target month (`mainMonth`): counted use at the month's end (written and simulated
   * past the data), and the audit's forecast at the data's end, both against the limits.
   */
  readonly story: StoryJson;
}

/** The month's end and the forecast at the data's end, in the generator's own arithmetic. */
export interface StoryJson {
  readonly month: string;
  readonly monthEnd: {
    readonly counted: { readonly requests: string; readonly bytesSent: string; readonly records: string };
    readonly utilisation: Partial<Record<MetricName, UtilisationJson>>;
    /** Actual levels the month's end reaches. */
    readonly levels: string[];
  };
  /** Null once the data reaches the month's end (the figures are final). */
  readonly forecast: {
    /** The data's end: the forecast runs from the month's start to here. */
    readonly asOf: string;
    /** used x month length / elapsed, floored, against the limit. */
    readonly utilisation: Partial<Record<MetricName, UtilisationJson>>;
    /** Forecast levels (100 % and 150 % by forecast) the projection reaches on any limit. */
    readonly levels: string[];
    /** From when the demo contract lets forecast levels be notified (3 local days, at least 24 h). */
    readonly noticesFrom: string;
  } | null;
}

export interface UnregisteredJson {
  readonly anonymous: boolean;
  readonly requests: string;
  readonly bytesSent: string;
  readonly touchedPartnerData: boolean;
  readonly datasets: Record<string, { readonly requests: string; readonly bytesSent: string }>;
}

/** The whole ground-truth document. */
export interface GroundTruthJson {
  readonly format: 'partner-audit/ground-truth@1';
  readonly generator: Record<string, unknown>;
  readonly window: {
    readonly from: string;
    readonly to: string;
    readonly startUtc: string;
    readonly endUtc: string;
  };
  readonly counting: { readonly operations: string[]; readonly statuses: string[]; readonly records: string };
  readonly input: {
    readonly files: number;
    readonly lines: string;
    readonly parsedLines: string;
    readonly malformedLines: string;
    readonly malformedByKind: Record<MalformedKind, number>;
    readonly linesByFieldCount: Record<string, number>;
    readonly nonUtcOffsetLines: number;
    readonly extraTrailingFieldLines: number;
    readonly quotedUserAgentLines: number;
    readonly lateRecords: number;
  };
  readonly partners: Record<string, PartnerJson>;
  readonly unregistered: Record<string, UnregisteredJson>;
  /** Partner id -> dataset prefix -> what its applications hold (HOLDINGS.md). */
  readonly holdings: Record<string, Record<string, HoldingJson>>;
  /** Null unless the generator declared networks (GenerateOptions.networks). */
  readonly networks: NetworksJson | null;
}

/**
 * Where each partner application's requests came from (NETWORKS.md): every operation and status, per
 * requester and source (prefix, VPC endpoint, region as the line shows them), and whether the app's own
 * declarations hold it; `declaredBy` lists the other partners' apps whose declarations hold it. The
 * network findings of a window that holds all the data are exactly the sources with `inside: false`
 * (`credential-used-outside-declared-network`), and one `shared-credential` per `declaredBy` entry of those.
 */
export interface NetworksJson {
  readonly declared: Record<string, Record<string, DeclaredNetworks>>;
  readonly sources: readonly SourceJson[];
}

export interface SourceJson {
  readonly partnerId: string;
  readonly applicationId: string;
  readonly requester: string;
  readonly accessPoint: string;
  readonly sourcePrefix: string;
  readonly addressClass: 'ipv4' | 'ipv6';
  readonly vpcEndpoint: string;
  readonly sourceRegion: string;
  readonly inside: boolean;
  readonly declaredBy: readonly { readonly partnerId: string; readonly applicationId: string }[];
  readonly requests: string;
  readonly bytesSent: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/** Whether declarations hold a source: its /24 is declared (all declared CIDRs are /24s), its endpoint or region. */
function holds(n: DeclaredNetworks, s: SourceTally): boolean {
  return n.cidrs.includes(s.prefix) || n.vpcEndpoints.includes(s.vpce) || n.sourceRegions.includes(s.region);
}

function networksJson(world: World, tally: GroundTruthTally): NetworksJson {
  const declared: Record<string, Record<string, DeclaredNetworks>> = {};
  for (const p of world.partners) {
    declared[p.id] = {};
    for (const a of p.apps) declared[p.id]![a.id] = a.networks;
  }
  const sources = tally.sourceFigures().map((s): SourceJson => {
    const app = world.apps[s.appIndex]!;
    const partner = world.partners[app.partnerIndex]!;
    return {
      partnerId: partner.id,
      applicationId: app.id,
      requester: s.requester,
      accessPoint: s.accessPoint,
      sourcePrefix: s.prefix,
      addressClass: s.addressClass,
      vpcEndpoint: s.vpce,
      sourceRegion: s.region,
      inside: holds(app.networks, s),
      declaredBy: world.apps
        .filter((o) => o.partnerIndex !== app.partnerIndex && holds(o.networks, s))
        .map((o) => ({ partnerId: world.partners[o.partnerIndex]!.id, applicationId: o.id })),
      requests: String(s.requests),
      bytesSent: String(s.bytesSent),
      firstSeen: new Date(s.firstMs).toISOString(),
      lastSeen: new Date(s.lastMs).toISOString(),
    };
  });
  const order = (x: SourceJson) =>
    [
      x.partnerId,
      x.applicationId,
      x.requester,
      x.accessPoint,
      x.sourcePrefix,
      x.vpcEndpoint,
      x.sourceRegion,
    ].join('\u0000');
  sources.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return { declared, sources };
}

const THRESHOLDS: readonly [string, bigint][] = [
  ['warning', 80n],
  ['overage', 100n],
  ['escalation', 150n],
];

function utilisation(used: bigint, limit: bigint): UtilisationJson {
  const bp = (used * 10_000n) / limit;
  return {
    used: used.toString(),
    limit: limit.toString(),
    bp: bp.toString(),
    percent: `${bp / 100n}.${(bp % 100n).toString().padStart(2, '0')}`,
  };
}

function metricsOf(
  limits: Partial<Record<MetricName, bigint>>,
  c: Counts,
): Partial<Record<MetricName, UtilisationJson>> {
  const out: Partial<Record<MetricName, UtilisationJson>> = {};
  for (const m of ['requests', 'bytesSent', 'records'] as const) {
    const limit = limits[m];
    if (limit !== undefined) out[m] = utilisation(c[m], limit);
  }
  return out;
}

function day(c: Counts, caps: Partial<Record<MetricName, bigint>>): DayJson {
  const over: MetricName[] = [];
  for (const m of ['requests', 'bytesSent', 'records'] as const) {
    const cap = caps[m];
    if (cap !== undefined && c[m] > cap) over.push(m);
  }
  return { ...countsJson(c), overDailyCap: over };
}

function stringify(l: Partial<Record<MetricName, bigint>>): Partial<Record<MetricName, string>> {
  const out: Partial<Record<MetricName, string>> = {};
  for (const [k, v] of Object.entries(l)) if (v !== undefined) out[k as MetricName] = v.toString();
  return out;
}

function sortedEntries<V>(m: Map<string, V>): [string, V][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The registry writer's forecast thresholds and minimum elapsed (registry-writer.ts). */
const FORECAST_THRESHOLDS: readonly [string, bigint][] = [
  ['forecast-overage', 100n],
  ['forecast-escalation', 150n],
];
const FORECAST_AFTER_DAYS = 3;

function sumMonth(days: ReadonlyMap<string, Counts> | undefined, month: string): Counts {
  const c = zeroCounts();
  for (const [date, v] of days ?? []) if (date.startsWith(month)) addInto(c, v);
  return c;
}

function storyOf(
  p: World['partners'][number],
  month: string,
  written: PartnerTally,
  monthEnd: PartnerTally,
  monthly: Partial<Record<MetricName, bigint>>,
  appMonthly: ReadonlyMap<string, Partial<Record<MetricName, bigint>>>,
  dataEndMs: number,
  forecastLevels: boolean,
): StoryJson {
  const { startMs, endMs } = month ? monthBounds(month, p.timeZone) : { startMs: 0, endMs: 0 };
  const levelsOf = (table: readonly [string, bigint][], amount: (c: Counts) => Counts) => {
    const reached = new Set<string>();
    const reach = (c: Counts, limits: Partial<Record<MetricName, bigint>>) => {
      const a = amount(c);
      for (const m of ['requests', 'bytesSent', 'records'] as const) {
        const limit = limits[m];
        if (limit === undefined) continue;
        for (const [level, percent] of table) if (a[m] * 100n >= limit * percent) reached.add(level);
      }
    };
    reach(sumMonth(written.days, month), monthly);
    for (const [appId, limits] of appMonthly) reach(sumMonth(written.apps.get(appId), month), limits);
    return table.map(([lv]) => lv).filter((lv) => reached.has(lv));
  };
  const endTotal = sumMonth(monthEnd.days, month);
  const endReached = new Set<string>();
  for (const m of ['requests', 'bytesSent', 'records'] as const) {
    const limit = monthly[m];
    if (limit !== undefined)
      for (const [level, percent] of THRESHOLDS)
        if (endTotal[m] * 100n >= limit * percent) endReached.add(level);
  }
  for (const [appId, limits] of appMonthly) {
    const t = sumMonth(monthEnd.apps.get(appId), month);
    for (const m of ['requests', 'bytesSent', 'records'] as const) {
      const limit = limits[m];
      if (limit !== undefined)
        for (const [level, percent] of THRESHOLDS) if (t[m] * 100n >= limit * percent) endReached.add(level);
    }
  }
  const asOf = Math.min(dataEndMs, endMs);
  let forecast: StoryJson['forecast'] = null;
  if (asOf < endMs && asOf > startMs) {
    const length = BigInt(endMs - startMs);
    const elapsed = BigInt(asOf - startMs);
    const project = (c: Counts): Counts => ({
      requests: (c.requests * length) / elapsed,
      bytesSent: (c.bytesSent * length) / elapsed,
      records: (c.records * length) / elapsed,
    });
    const noticesFrom = Math.max(
      startOfLocalDay(plusDays(`${month}-01`, FORECAST_AFTER_DAYS), p.timeZone),
      startMs + 86_400_000,
    );
    forecast = {
      asOf: new Date(asOf).toISOString(),
      utilisation: metricsOf(monthly, project(sumMonth(written.days, month))),
      levels: forecastLevels ? levelsOf(FORECAST_THRESHOLDS, project) : [],
      noticesFrom: new Date(noticesFrom).toISOString(),
    };
  }
  return {
    month,
    monthEnd: {
      counted: countsJson(endTotal),
      utilisation: metricsOf(monthly, endTotal),
      levels: THRESHOLDS.map(([lv]) => lv).filter((lv) => endReached.has(lv)),
    },
    forecast,
  };
}

export function buildGroundTruth(input: {
  world: World;
  tally: GroundTruthTally;
  tallies: readonly PartnerTally[];
  /** Counted usage through the target month's end, written and simulated. */
  monthEnd: readonly PartnerTally[];
  /** End of the written data. */
  dataEndMs: number;
  limits: readonly PartnerLimits[];
  files: number;
  generator: Record<string, unknown>;
  start: string;
  to: string;
}): GroundTruthJson {
  const { world, tally, tallies, limits } = input;
  const partners: Record<string, PartnerJson> = {};
  const contractDatasets = new Set<string>();
  for (const p of world.partners) for (const d of p.allowed) contractDatasets.add(world.datasets[d]!.prefix);

  for (const p of world.partners) {
    const t = tallies[p.index]!;
    const l = limits[p.index]!;
    const allowed = p.allowed.map((d) => world.datasets[d]!.prefix);
    const monthlyLimits: Partial<Record<MetricName, bigint>> = { ...l.monthly };
    const dailyLimits: Partial<Record<MetricName, bigint>> = { ...l.daily };
    const appMonthly = new Map<string, Partial<Record<MetricName, bigint>>>();
    const appDaily = new Map<string, Partial<Record<MetricName, bigint>>>();
    if (l.application) {
      appMonthly.set(l.application.appId, { ...l.application.monthly });
      appDaily.set(l.application.appId, { ...l.application.daily });
    }
    const months: Record<string, MonthJson> = {};
    const monthNames = [...new Set([...t.days.keys()].map((d) => d.slice(0, 7)))].sort();
    const outside = new Set<string>();
    for (const month of monthNames) {
      const total = zeroCounts();
      const days: Record<string, DayJson> = {};
      let daysOver = 0;
      for (const [date, c] of sortedEntries(t.days)) {
        if (!date.startsWith(month)) continue;
        addInto(total, c);
        const d = day(c, dailyLimits);
        if (d.overDailyCap.length > 0) daysOver++;
        days[date] = d;
      }
      const applications: MonthJson['applications'] = {};
      const utilisationNow = metricsOf(monthlyLimits, total);
      const reached = new Set<string>();
      const reach = (used: bigint, limit: bigint | undefined) => {
        if (limit === undefined) return;
        for (const [level, percent] of THRESHOLDS) if (used * 100n >= limit * percent) reached.add(level);
      };
      for (const m of ['requests', 'bytesSent', 'records'] as const) reach(total[m], monthlyLimits[m]);
      for (const app of p.apps) {
        const appDays = t.apps.get(app.id);
        const appTotal = zeroCounts();
        const appDayJson: Record<string, DayJson> = {};
        for (const [date, c] of sortedEntries(appDays ?? new Map<string, Counts>())) {
          if (!date.startsWith(month)) continue;
          addInto(appTotal, c);
          appDayJson[date] = day(c, appDaily.get(app.id) ?? {});
        }
        const lim = appMonthly.get(app.id) ?? {};
        for (const m of ['requests', 'bytesSent', 'records'] as const) reach(appTotal[m], lim[m]);
        applications[app.id] = {
          counted: countsJson(appTotal),
          utilisation: metricsOf(lim, appTotal),
          days: appDayJson,
        };
      }
      const datasets: MonthJson['datasets'] = {};
      const perDataset = new Map<string, Counts>();
      for (const [date, byDs] of t.datasets) {
        if (!date.startsWith(month)) continue;
        for (const [ds, c] of byDs) {
          let acc = perDataset.get(ds);
          if (!acc) {
            acc = zeroCounts();
            perDataset.set(ds, acc);
          }
          addInto(acc, c);
        }
      }
      for (const [ds, c] of sortedEntries(perDataset)) {
        const ok = allowed.some((a) => ds.startsWith(a));
        if (!ok) outside.add(ds);
        datasets[ds] = { allowed: ok, counted: countsJson(c) };
      }
      const bounds = monthBounds(month, p.timeZone);
      months[month] = {
        month,
        startUtc: new Date(bounds.startMs).toISOString(),
        endUtc: new Date(bounds.endMs).toISOString(),
        counted: countsJson(total),
        utilisation: utilisationNow,
        levels: THRESHOLDS.map(([lv]) => lv).filter((lv) => reached.has(lv)),
        daysOverDailyCap: daysOver,
        days,
        applications,
        datasets,
      };
    }
    const appLimitsJson: PartnerJson['limits']['applications'] = {};
    for (const [id, m] of appMonthly)
      appLimitsJson[id] = { monthly: stringify(m), daily: stringify(appDaily.get(id) ?? {}) };
    partners[p.id] = {
      name: p.name,
      timeZone: p.timeZone,
      currency: p.currency,
      profile: p.profile,
      targetPercent: Math.round(PROFILE_FRACTION[p.profile] * 100),
      contractId: `${p.id}-${p.hasOldContract ? 'v2' : 'v1'}`,
      allowedDatasets: allowed,
      datasetsOutsideContract: [...outside].sort(),
      mainMonth: l.mainMonth,
      limits: {
        monthly: stringify(monthlyLimits),
        daily: stringify(dailyLimits),
        applications: appLimitsJson,
      },
      months,
      story: storyOf(
        p,
        l.mainMonth,
        t,
        input.monthEnd[p.index]!,
        monthlyLimits,
        appMonthly,
        input.dataEndMs,
        l.forecastLevels,
      ),
    };
  }

  const unregistered: Record<string, UnregisteredJson> = {};
  for (const u of tally.unregisteredFigures()) {
    const datasets: UnregisteredJson['datasets'] = {};
    for (const d of u.datasets)
      datasets[d.dataset] = { requests: d.requests.toString(), bytesSent: d.bytesSent.toString() };
    unregistered[u.requester] = {
      anonymous: u.requester === '-',
      requests: u.requests.toString(),
      bytesSent: u.bytesSent.toString(),
      touchedPartnerData: u.datasets.some((d) => contractDatasets.has(d.dataset)),
      datasets,
    };
  }

  const windowStart = tally.windowStartMs;
  return {
    format: 'partner-audit/ground-truth@1',
    generator: input.generator,
    window: {
      from: input.start,
      to: input.to,
      startUtc: new Date(windowStart).toISOString(),
      endUtc: new Date(windowStart + tally.days * 86_400_000).toISOString(),
    },
    counting: {
      operations: ['REST.GET.OBJECT'],
      statuses: ['2xx', '3xx'],
      records:
        'manifest records of full reads only: REST.GET.OBJECT with status 200 (206 and 304 retrieve none)',
    },
    input: {
      files: input.files,
      lines: String(tally.lines),
      parsedLines: String(tally.lines - tally.malformed),
      malformedLines: String(tally.malformed),
      malformedByKind: { ...tally.malformedByKind },
      linesByFieldCount: { ...tally.byFieldCount },
      nonUtcOffsetLines: tally.offsetLines,
      extraTrailingFieldLines: tally.extraFieldLines,
      quotedUserAgentLines: tally.quotedAgentLines,
      lateRecords: tally.lateRecords,
    },
    partners,
    unregistered,
    holdings: holdingsJson(tally),
    networks: world.declaresNetworks ? networksJson(world, tally) : null,
  };
}

/**
 * Per partner id and dataset prefix: distinct objects its applications read (GET 200 or 206; key
 * decoded, version id, logged size), and the first and last read, over the whole window.
 */
function holdingsJson(tally: GroundTruthTally): Record<string, Record<string, HoldingJson>> {
  const out: Record<string, Record<string, HoldingJson>> = {};
  for (const [partner, datasets] of Object.entries(tally.holdingFigures())) {
    out[partner] = {};
    for (const [dataset, h] of Object.entries(datasets)) {
      out[partner]![dataset] = {
        objects: String(h.objects),
        firstRetrieval: new Date(h.firstMs).toISOString(),
        lastRetrieval: new Date(h.lastMs).toISOString(),
      };
    }
  }
  return out;
}
