/**
 * The ground truth: what the generator emitted, tallied line by line as it writes, so an audit of the
 * data set can be checked against figures that never went through the project's own parser,
 * attribution or evaluation. Local days come from Intl (zones.ts), not from functions/domain.
 */
import type { LogFieldCount } from './log-line.js';
import type { LogEvent } from './traffic.js';
import type { World } from './world.js';
import { localDate, nextMonth, startOfLocalDay } from './zones.js';

const SLOT_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

/** The kinds of malformed line the generator writes. */
export type MalformedKind = 'truncated' | 'garbage' | 'bad-time';

/** Counts as bigint, the JSON form writes them as decimal strings. */
export interface Counts {
  requests: bigint;
  bytesSent: bigint;
  records: bigint;
}

interface Unregistered {
  requests: number;
  bytesSent: number;
  datasets: Map<number, { requests: number; bytesSent: number }>;
}

/** The requests of one app's requester from one source network (prefix, VPC endpoint, region). */
export interface SourceTally {
  readonly appIndex: number;
  readonly requester: string;
  readonly accessPoint: string;
  readonly prefix: string;
  readonly addressClass: 'ipv4' | 'ipv6';
  readonly vpce: string;
  readonly region: string;
  requests: number;
  bytesSent: number;
  firstMs: number;
  lastMs: number;
}

/** Counted usage of one partner, split by local day, application and dataset. */
export interface PartnerTally {
  /** Local date -> counts. */
  readonly days: Map<string, Counts>;
  /** App id -> local date -> counts. */
  readonly apps: Map<string, Map<string, Counts>>;
  /** Local date -> dataset prefix -> counts. */
  readonly datasets: Map<string, Map<string, Counts>>;
}

export function zeroCounts(): Counts {
  return { requests: 0n, bytesSent: 0n, records: 0n };
}

export function addInto(target: Counts, c: Counts): void {
  target.requests += c.requests;
  target.bytesSent += c.bytesSent;
  target.records += c.records;
}

/**
 * Tallies emitted records. Counted partner usage goes into a flat Float64Array indexed by
 * (app, dataset, local day) so the bench mode's ten million lines cost a few array writes each;
 * sums stay far below 2^53 per cell.
 */
export class GroundTruthTally {
  readonly slotCount: number;
  private readonly localDays: number;
  /** Per partner: local day index of each 15-minute slot of the window. */
  private readonly slotDay: Int32Array[];
  /** Per partner: local dates by local day index. */
  private readonly dayNames: string[][];
  private readonly counted: Float64Array;
  private readonly datasetCount: number;
  private readonly unregistered = new Map<string, Unregistered>();
  /** Partner records by source (NetworkSource.key): every operation and status, as the findings count. */
  private readonly sources = new Map<string, SourceTally>();
  /**
   * Holdings (functions/domain/HOLDINGS.md, in the generator's own terms): per partner and dataset
   * prefix, each object a GET 200 or 206 of a partner application read (key decoded, version, logged
   * size), with its first and last read.
   */
  private readonly held = new Map<string, Map<string, { first: number; last: number }>>();

  lines = 0;
  malformed = 0;
  readonly malformedByKind: Record<MalformedKind, number> = { truncated: 0, garbage: 0, 'bad-time': 0 };
  readonly byFieldCount: Record<string, number> = {};
  offsetLines = 0;
  extraFieldLines = 0;
  lateRecords = 0;
  quotedAgentLines = 0;

  constructor(
    private readonly world: World,
    readonly windowStartMs: number,
    readonly days: number,
  ) {
    this.slotCount = days * (DAY_MS / SLOT_MS);
    this.localDays = days + 2;
    this.datasetCount = world.datasets.length;
    this.slotDay = [];
    this.dayNames = [];
    // Partners share a handful of zones: one table per zone, so a thousand partners cost what a few do.
    const byZone = new Map<string, { table: Int32Array; names: string[] }>();
    for (const p of world.partners) {
      const shared = byZone.get(p.timeZone);
      if (shared) {
        this.slotDay.push(shared.table);
        this.dayNames.push(shared.names);
        continue;
      }
      const table = new Int32Array(this.slotCount);
      const names: string[] = [];
      const indexOf = new Map<string, number>();
      for (let s = 0; s < this.slotCount; s++) {
        // Every zone in use changes offset on a quarter hour, so a slot never straddles midnight.
        const d = localDate(windowStartMs + s * SLOT_MS, p.timeZone);
        let i = indexOf.get(d);
        if (i === undefined) {
          i = names.length;
          names.push(d);
          indexOf.set(d, i);
        }
        table[s] = i;
      }
      byZone.set(p.timeZone, { table, names });
      this.slotDay.push(table);
      this.dayNames.push(names);
    }
    this.counted = new Float64Array(world.apps.length * this.datasetCount * this.localDays * 3);
  }

  /** Record one well-formed line that was written (at `timeMs`, when the line reuses a record's text). */
  line(e: LogEvent, timeMs: number = e.fields.timeMs): void {
    this.lines++;
    const fc = e.fields.fieldCount;
    this.byFieldCount[fc] = (this.byFieldCount[fc] ?? 0) + 1;
    if (e.fields.utcOffsetMinutes !== 0) this.offsetLines++;
    if (e.fields.extraFields.length > 0) this.extraFieldLines++;
    if (e.fields.userAgent.includes('"')) this.quotedAgentLines++;
    if (e.actor === 'partner') {
      if (e.source) this.source(e, timeMs);
      this.holding(e, timeMs);
      if (!e.counted) return;
      const slot = Math.floor((timeMs - this.windowStartMs) / SLOT_MS);
      if (slot < 0 || slot >= this.slotCount) throw new RangeError(`event outside the window: ${timeMs}`);
      const app = this.world.apps[e.appIndex]!;
      const day = this.slotDay[app.partnerIndex]![slot]!;
      const i = ((e.appIndex * this.datasetCount + e.datasetIndex) * this.localDays + day) * 3;
      this.counted[i]! += 1;
      this.counted[i + 1]! += e.bytesSent;
      this.counted[i + 2]! += e.records;
    } else if (e.actor === 'unregistered') {
      const r = e.fields.requester;
      let u = this.unregistered.get(r);
      if (!u) {
        u = { requests: 0, bytesSent: 0, datasets: new Map() };
        this.unregistered.set(r, u);
      }
      u.requests++;
      u.bytesSent += e.bytesSent;
      if (e.datasetIndex >= 0) {
        let d = u.datasets.get(e.datasetIndex);
        if (!d) {
          d = { requests: 0, bytesSent: 0 };
          u.datasets.set(e.datasetIndex, d);
        }
        d.requests++;
        d.bytesSent += e.bytesSent;
      }
    }
  }

  private source(e: LogEvent, at: number): void {
    const s = e.source!;
    // The line shows whole seconds.
    const timeMs = at - (at % 1000);
    const t = this.sources.get(s.key);
    if (t) {
      t.requests++;
      t.bytesSent += e.bytesSent;
      if (timeMs < t.firstMs) t.firstMs = timeMs;
      if (timeMs > t.lastMs) t.lastMs = timeMs;
      return;
    }
    this.sources.set(s.key, {
      appIndex: e.appIndex,
      requester: e.fields.requester,
      accessPoint: s.accessPoint,
      prefix: s.prefix,
      addressClass: s.addressClass,
      vpce: s.vpce,
      region: s.region,
      requests: 1,
      bytesSent: e.bytesSent,
      firstMs: timeMs,
      lastMs: timeMs,
    });
  }

  /** The partner records' sources, summed. */
  sourceFigures(): readonly SourceTally[] {
    return [...this.sources.values()];
  }

  private holding(e: LogEvent, timeMs: number): void {
    const f = e.fields;
    if (f.operation !== 'REST.GET.OBJECT' && f.operation !== 'WEBSITE.GET.OBJECT') return;
    if (f.httpStatus !== '200' && f.httpStatus !== '206') return;
    if (e.datasetIndex < 0) return;
    const partner = this.world.partners[this.world.apps[e.appIndex]!.partnerIndex]!.id;
    const at = `${partner}\u0000${this.world.datasets[e.datasetIndex]!.prefix}`;
    let objects = this.held.get(at);
    if (!objects) {
      objects = new Map();
      this.held.set(at, objects);
    }
    let key = f.key;
    try {
      key = decodeURIComponent(f.key);
    } catch {
      // Kept as logged, as S3's bytes are.
    }
    const id = `${key}\u0000${f.versionId}\u0000${String(f.objectSize)}`;
    // The log shows whole seconds.
    const second = Math.floor(timeMs / 1000) * 1000;
    const o = objects.get(id);
    if (!o) objects.set(id, { first: second, last: second });
    else {
      o.first = Math.min(o.first, second);
      o.last = Math.max(o.last, second);
    }
  }

  /** Distinct objects held, first and last read, per partner id and dataset prefix. */
  holdingFigures(): Record<string, Record<string, { objects: number; firstMs: number; lastMs: number }>> {
    const out: Record<string, Record<string, { objects: number; firstMs: number; lastMs: number }>> = {};
    for (const [at, objects] of [...this.held.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [partner, dataset] = at.split('\u0000') as [string, string];
      let first = Number.POSITIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      for (const o of objects.values()) {
        first = Math.min(first, o.first);
        last = Math.max(last, o.last);
      }
      out[partner] ??= {};
      out[partner]![dataset] = { objects: objects.size, firstMs: first, lastMs: last };
    }
    return out;
  }

  malformedLine(kind: MalformedKind): void {
    this.lines++;
    this.malformed++;
    this.malformedByKind[kind]++;
  }

  /** Counted usage per partner, regrouped from the flat tally. */
  partnerTallies(): PartnerTally[] {
    const out: PartnerTally[] = this.world.partners.map(() => ({
      days: new Map(),
      apps: new Map(),
      datasets: new Map(),
    }));
    for (const app of this.world.apps) {
      const t = out[app.partnerIndex]!;
      const names = this.dayNames[app.partnerIndex]!;
      for (let ds = 0; ds < this.datasetCount; ds++) {
        for (let day = 0; day < names.length; day++) {
          const i = ((app.globalIndex * this.datasetCount + ds) * this.localDays + day) * 3;
          const requests = this.counted[i]!;
          if (requests === 0) continue;
          const c: Counts = {
            requests: BigInt(requests),
            bytesSent: BigInt(this.counted[i + 1]!),
            records: BigInt(this.counted[i + 2]!),
          };
          const date = names[day]!;
          const prefix = this.world.datasets[ds]!.prefix;
          bump(t.days, date, c);
          let appDays = t.apps.get(app.id);
          if (!appDays) {
            appDays = new Map();
            t.apps.set(app.id, appDays);
          }
          bump(appDays, date, c);
          let dsDay = t.datasets.get(date);
          if (!dsDay) {
            dsDay = new Map();
            t.datasets.set(date, dsDay);
          }
          bump(dsDay, prefix, c);
        }
      }
    }
    return out;
  }

  unregisteredFigures(): {
    requester: string;
    requests: bigint;
    bytesSent: bigint;
    datasets: { dataset: string; requests: bigint; bytesSent: bigint }[];
  }[] {
    return [...this.unregistered.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([requester, u]) => ({
        requester,
        requests: BigInt(u.requests),
        bytesSent: BigInt(u.bytesSent),
        datasets: [...u.datasets.entries()]
          .map(([ds, d]) => ({
            dataset: this.world.datasets[ds]!.prefix,
            requests: BigInt(d.requests),
            bytesSent: BigInt(d.bytesSent),
          }))
          .sort((a, b) => (a.dataset < b.dataset ? -1 : 1)),
      }));
  }

  fieldCountOf(n: LogFieldCount): number {
    return this.byFieldCount[n] ?? 0;
  }
}

function bump<K>(map: Map<K, Counts>, key: K, c: Counts): void {
  let t = map.get(key);
  if (!t) {
    t = zeroCounts();
    map.set(key, t);
  }
  addInto(t, c);
}

/** Months (`YYYY-MM`) present in a partner's local days, each with its summed counts. */
export function monthsOf(days: Map<string, Counts>): Map<string, Counts> {
  const months = new Map<string, Counts>();
  for (const [date, c] of [...days.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    bump(months, date.slice(0, 7), c);
  }
  return months;
}

/** The half-open UTC bounds of a local calendar month. */
export function monthBounds(month: string, timeZone: string): { startMs: number; endMs: number } {
  return {
    startMs: startOfLocalDay(`${month}-01`, timeZone),
    endMs: startOfLocalDay(`${nextMonth(month)}-01`, timeZone),
  };
}

export function countsJson(c: Counts): { requests: string; bytesSent: string; records: string } {
  return {
    requests: c.requests.toString(),
    bytesSent: c.bytesSent.toString(),
    records: c.records.toString(),
  };
}
