/**
 * The synthetic data set for the demo, the tests and the benchmark: S3 server access logs of a
 * provider's data bucket as S3 would deliver them, the partner registry and dataset manifest that go
 * with them, and a ground truth of what was written, tallied independently of the project's parser,
 * attribution and overage rules.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseRegistry } from '../../domain/registry.js';
import { GroundTruthTally, type MalformedKind } from './ground-truth.js';
import { formatLogTime, renderLine } from './log-line.js';
import { HEX_UPPER, Rng, WeightedTable } from './prng.js';
import { deriveLimits, renderManifest, renderRegistry } from './registry-writer.js';
import { type LogEvent, Traffic } from './traffic.js';
import { buildGroundTruth } from './truth-json.js';
import { buildWorld, type World } from './world.js';
import { localHourAndWeekday, nextMonth, plusDays } from './zones.js';

export { encodeKey, formatLogTime, type LogLineFields, renderLine } from './log-line.js';
export type { GroundTruthJson } from './truth-json.js';

/** Key layouts of the log objects to write: S3's simple prefix, its date-partitioned one, or both. */
export type LogLayout = 'simple' | 'partitioned' | 'both';

export interface GenerateOptions {
  /** Folder to write into; its `logs/` subfolder is replaced. */
  readonly outDir: string;
  /** @default 42 */
  readonly seed?: number;
  /** @default 4 */
  readonly partners?: number;
  /** Applications per partner, varied by -1..+1 around this. @default 3 */
  readonly appsPerPartner?: number;
  /** UTC date (YYYY-MM-DD) of the first day of logs. */
  readonly start: string;
  readonly days: number;
  /** Partner requests per day across all partners (other traffic comes on top). @default 8000 */
  readonly requestsPerDay?: number;
  /** `both`: the first half of the days under logs/simple/, the rest under logs/partitioned/. @default 'both' */
  readonly layout?: LogLayout;
  /** Write `.gz` log objects. @default false */
  readonly gzip?: boolean;
  /** Mix in a few malformed lines (truncated, garbage, bad time). @default true */
  readonly malformed?: boolean;
  /**
   * `month`: monthly limits sized for the whole month of the data's end (simulated past it), so the
   * forecast and the month's end tell the same story, with forecast levels in the contracts. `data`:
   * sized for the days written (each partner reaches its story by the data's end; the forecast then
   * runs far over, so the contracts get no forecast levels), for tests that need notices due from a
   * few days of logs. @default 'month'
   */
  readonly limits?: 'month' | 'data';
  /**
   * Applications declare networks and some requests come from outside them (README.md, "Declared
   * networks"); ground-truth.json then lists every source. Off by default while the AWS path computes no
   * network findings: data sets compared across both engines keep the registry they had.
   * @default false
   */
  readonly networks?: boolean;
  /** Write `settings.holdings: true` into the registry (the holdings table, HOLDINGS.md). @default false */
  readonly holdings?: boolean;
  /** Bench mode: one big plain file of exactly this many lines (gzip and layout do not apply). */
  readonly singleFile?: { readonly lines: number };
  readonly onProgress?: (done: number, total: number) => void;
}

export interface GenerateSummary {
  /** Log objects written. */
  readonly files: number;
  /** Log lines written, malformed ones included. */
  readonly lines: number;
  /** Bytes of log objects on disk (compressed size for gzip). */
  readonly bytes: number;
  readonly registryPath: string;
  readonly manifestPath: string;
  readonly groundTruthPath: string;
  readonly logsDir: string;
}

/** An option given to the generator is out of range; `option` names it. */
export class GenerateOptionsError extends Error {
  override readonly name = 'GenerateOptionsError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`generate: ${option} ${message}`);
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Relative traffic by local hour: quiet nights, busy office hours. */
const DIURNAL = [
  0.35, 0.3, 0.28, 0.27, 0.3, 0.4, 0.6, 0.85, 1.1, 1.3, 1.4, 1.45, 1.4, 1.45, 1.5, 1.45, 1.35, 1.2, 1.0, 0.85,
  0.7, 0.6, 0.5, 0.4,
];
const DIURNAL_MEAN = DIURNAL.reduce((a, b) => a + b, 0) / 24;

/**
 * The most partners a generated world holds. Ids, accounts, access points and canonical ids stay
 * distinct well past it; it bounds the registry (about 100 lines a partner) and the truth files.
 */
export const MAX_PARTNERS = 1000;

function checkInt(option: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new GenerateOptionsError(option, `must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

interface Resolved {
  readonly outDir: string;
  readonly seed: number;
  readonly partners: number;
  readonly appsPerPartner: number;
  readonly start: string;
  readonly days: number;
  readonly requestsPerDay: number;
  readonly layout: LogLayout;
  readonly gzip: boolean;
  readonly malformed: boolean;
  readonly networks: boolean;
  readonly singleFileLines: number | undefined;
  readonly startMs: number;
  /** The billing month (`YYYY-MM`) whose story the limits tell: see {@link targetMonthOf}. */
  readonly targetMonth: string;
  /**
   * Days simulated from `start`: the written days, and in hourly mode on to the target month's end in
   * every zone, so the limits can be sized for the whole month. Days past `days` are drawn exactly as
   * if they were written (so a later, longer run writes the same first days) but not written.
   */
  readonly horizonDays: number;
  readonly limits: 'month' | 'data';
}

/**
 * The month the limits are sized for: the UTC month with the most written days, the later one on a
 * tie. A demo run on the 2nd (logs from the last day of the previous month and the 1st) sizes the new
 * month; a window from 25 March to 3 April sizes March.
 */
export function targetMonthOf(start: string, days: number): string {
  const perMonth = new Map<string, number>();
  for (let d = 0; d < days; d++) {
    const month = plusDays(start, d).slice(0, 7);
    perMonth.set(month, (perMonth.get(month) ?? 0) + 1);
  }
  let best = '';
  let most = 0;
  for (const [month, n] of perMonth) {
    if (n >= most) {
      best = month;
      most = n;
    }
  }
  return best;
}

/** Days from `start` to the day after the target month's last UTC day: its end in every zone. */
function horizonDaysOf(start: string, days: number, targetMonth: string, hourly: boolean): number {
  if (!hourly) return days;
  const end = plusDays(`${nextMonth(targetMonth)}-01`, 1);
  return Math.max(
    days,
    Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / DAY_MS),
  );
}

function resolve(opts: GenerateOptions): Resolved {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(opts.start) || Number.isNaN(Date.parse(`${opts.start}T00:00:00Z`))) {
    throw new GenerateOptionsError('start', `must be a UTC date YYYY-MM-DD, got "${opts.start}"`);
  }
  const startMs = Date.parse(`${opts.start}T00:00:00Z`);
  if (new Date(startMs).toISOString().slice(0, 10) !== opts.start) {
    throw new GenerateOptionsError('start', `is not a calendar date: "${opts.start}"`);
  }
  const layout = opts.layout ?? 'both';
  if (!['simple', 'partitioned', 'both'].includes(layout)) {
    throw new GenerateOptionsError('layout', `must be simple, partitioned or both, got "${layout}"`);
  }
  const days = checkInt('days', opts.days, 1, 3660);
  if (opts.limits !== undefined && opts.limits !== 'month' && opts.limits !== 'data') {
    throw new GenerateOptionsError('limits', `must be month or data, got "${String(opts.limits)}"`);
  }
  const targetMonth = targetMonthOf(opts.start, days);
  return {
    outDir: opts.outDir,
    seed: checkInt('seed', opts.seed ?? 42, 0, 2 ** 32 - 1),
    partners: checkInt('partners', opts.partners ?? 4, 1, MAX_PARTNERS),
    appsPerPartner: checkInt('appsPerPartner', opts.appsPerPartner ?? 3, 1, 5),
    start: opts.start,
    days,
    requestsPerDay: checkInt('requestsPerDay', opts.requestsPerDay ?? 8000, 1, 100_000_000),
    layout,
    gzip: opts.gzip ?? false,
    malformed: opts.malformed ?? true,
    networks: opts.networks ?? false,
    singleFileLines:
      opts.singleFile === undefined
        ? undefined
        : checkInt('singleFile.lines', opts.singleFile.lines, 0, 1e10),
    startMs,
    targetMonth,
    horizonDays: horizonDaysOf(
      opts.start,
      days,
      targetMonth,
      opts.singleFile === undefined && (opts.limits ?? 'month') === 'month',
    ),
    limits: opts.limits ?? 'month',
  };
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', '-').replaceAll(':', '-');
}

/** Lines that are not access log records, of the kinds log pipelines really meet. */
function malformedLine(kind: MalformedKind, rng: Rng, sample: () => string): string {
  switch (kind) {
    case 'truncated': {
      // Cut inside the request URI: the status, byte counts and all later fields are gone.
      const line = sample();
      const quote = line.indexOf(' "');
      return line.slice(0, quote + rng.between(2, 12));
    }
    case 'bad-time': {
      const line = sample();
      const bad = rng.pick([
        '[01/Foo/2026:00:00:00 +0000]',
        '[--/---/----:--:--:-- +0000]',
        '[1709251200 +0000]',
      ]);
      return line.replace(/\[[^\]]*\]/, bad);
    }
    case 'garbage':
      return rng.pick([
        '{"level":"error","msg":"log shipper restarted","pid":4242}',
        '\u0016\u0003\u0001\u0002\u0001\u0001\u00fc\u0003\u0003 binary noise',
        `${'='.repeat(20)} rotated ${'='.repeat(20)}`,
        rng.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 120),
      ]);
  }
}

const MALFORMED_KINDS: readonly MalformedKind[] = ['truncated', 'garbage', 'bad-time'];

class Writer {
  files = 0;
  bytes = 0;
  private readonly dirs = new Set<string>();

  constructor(
    private readonly logsDir: string,
    private readonly world: World,
    private readonly gzip: boolean,
  ) {}

  /** Write one log object delivered at `deliveredMs`, named per its layout. */
  object(
    layout: 'simple' | 'partitioned',
    deliveredMs: number,
    unique: string,
    lines: readonly string[],
  ): void {
    const name = `${stamp(deliveredMs)}-${unique}${this.gzip ? '.gz' : ''}`;
    let dir: string;
    if (layout === 'simple') dir = join(this.logsDir, 'simple');
    else {
      const d = new Date(deliveredMs).toISOString();
      dir = join(
        this.logsDir,
        'partitioned',
        this.world.providerAccount,
        this.world.region,
        this.world.bucket,
        d.slice(0, 4),
        d.slice(5, 7),
        d.slice(8, 10),
      );
    }
    if (!this.dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.dirs.add(dir);
    }
    const text = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    const body = this.gzip ? gzipSync(text) : text;
    writeFileSync(join(dir, name), body);
    this.files++;
    this.bytes += body.length;
  }
}

/** Traffic hour by hour, one log object per hour, some records delivered in the next hour's object. */
function writeHourly(
  r: Resolved,
  world: World,
  tally: GroundTruthTally,
  horizonTally: GroundTruthTally,
  writer: Writer,
  onProgress?: GenerateOptions['onProgress'],
): void {
  const rng = new Rng(r.seed).fork(2);
  const traffic = new Traffic(world, rng.fork(3), new Rng(r.seed).fork(0x6e6574));
  const hours = r.days * 24;
  // Past the written hours the same draws go on, so the month's end is what a longer run would write.
  const simulatedHours = r.horizonDays * 24;
  const splitHour =
    r.layout === 'simple'
      ? Number.POSITIVE_INFINITY
      : r.layout === 'partitioned'
        ? 0
        : r.days >= 2
          ? Math.floor(r.days / 2) * 24
          : 12;
  const dayNoise = world.partners.map(() =>
    Array.from({ length: r.horizonDays }, () => 0.85 + 0.3 * rng.next()),
  );
  const appTables = world.partners.map((p) => new WeightedTable(p.apps.map((a) => [a, a.weight] as const)));
  const crawlerDays = new Set<number>();
  for (let d = Math.min(2, r.horizonDays - 1); d < r.horizonDays; d += 7) {
    crawlerDays.add(d);
    if (d + 1 < r.horizonDays) crawlerDays.add(d + 1);
  }
  const poisson = (expected: number) => Math.floor(expected + rng.next());
  const sample = (): string => {
    const p = rng.pick(world.partners);
    return renderLine(traffic.partner(p, rng.pick(p.apps), r.startMs).fields);
  };
  const rpd = r.requestsPerDay;
  let carried: string[] = [];
  for (let h = 0; h <= simulatedHours; h++) {
    const hourStart = r.startMs + h * HOUR_MS;
    const events: LogEvent[] = [];
    const written = h < hours;
    if (h < simulatedHours) {
      const day = Math.floor(h / 24);
      const at = (): number => hourStart + rng.int(HOUR_MS);
      // Once per zone and hour: partners share a handful of zones.
      const localOf = new Map<string, { hour: number; weekday: number }>();
      for (const p of world.partners) {
        let local = localOf.get(p.timeZone);
        if (!local) {
          local = localHourAndWeekday(hourStart, p.timeZone);
          localOf.set(p.timeZone, local);
        }
        const { hour, weekday } = local;
        const weekend = weekday === 0 || weekday === 6 ? 0.65 : 1;
        const spike = p.spikeDays.has(day) ? 2.2 : 1;
        const expected =
          ((rpd * p.share) / 24) *
          (DIURNAL[hour]! / DIURNAL_MEAN) *
          weekend *
          dayNoise[p.index]![day]! *
          spike;
        const n = poisson(expected);
        const apps = appTables[p.index]!;
        for (let i = 0; i < n; i++) events.push(traffic.partner(p, apps.draw(rng), at()));
      }
      for (let i = poisson((rpd * 0.015) / 24); i > 0; i--) events.push(traffic.publisherPut(at()));
      for (let i = poisson((rpd * 0.004) / 24); i > 0; i--) events.push(traffic.qaRead(at()));
      for (let i = poisson((rpd * 0.01) / 24); i > 0; i--) events.push(traffic.service(at()));
      for (let i = poisson((rpd * 0.002) / 24); i > 0; i--) events.push(traffic.anonymous(at()));
      if (crawlerDays.has(day) && h % 24 < 7) {
        for (let i = poisson((rpd * 0.03) / 7); i > 0; i--) events.push(traffic.unregistered(at()));
      }
      if (h % 24 === 1) {
        // The nightly lifecycle run expires staging objects within a few minutes.
        const t0 = hourStart + rng.int(10) * 60_000;
        for (let i = rng.between(15, 40); i > 0; i--)
          events.push(traffic.lifecycleExpire(t0 + rng.int(300_000)));
      }
      if (h % 24 === 2) {
        const t0 = hourStart + rng.int(50) * 60_000;
        for (let i = rng.between(8, 25); i > 0; i--)
          events.push(traffic.batchDelete(t0 + rng.int(2_000), world.providerCleanup));
      }
      events.sort((a, b) => a.fields.timeMs - b.fields.timeMs);
    }
    const lines: string[] = carried;
    // The first hour after the window writes only the records delivered late from the last one.
    const lateFromBefore = [...carried];
    carried = [];
    const late = hourStart + 45 * 60_000;
    for (const e of events) {
      const line = renderLine(e.fields);
      if (written) tally.line(e);
      if (horizonTally !== tally) horizonTally.line(e);
      // S3 delivers best effort: a record near the end of an hour sometimes lands in the next object.
      if (e.fields.timeMs >= late && rng.chance(0.05)) {
        carried.push(line);
        if (written) tally.lateRecords++;
      } else lines.push(line);
    }
    if (r.malformed && h < simulatedHours) {
      const kinds = h === 0 ? MALFORMED_KINDS : rng.chance(0.12) ? [rng.pick(MALFORMED_KINDS)] : [];
      for (const kind of kinds) {
        lines.splice(rng.int(lines.length + 1), 0, malformedLine(kind, rng, sample));
        if (written) tally.malformedLine(kind);
      }
    }
    if (lines.length > 0) {
      const delivered = hourStart + rng.between(2, 59) * 60_000 + rng.int(60) * 1000;
      const unique = rng.chars(HEX_UPPER, 16);
      const body = written ? lines : h === hours ? lateFromBefore : [];
      if (body.length > 0) writer.object(h < splitHour ? 'simple' : 'partitioned', delivered, unique, body);
    }
    if (onProgress && written) onProgress(h + 1, hours);
  }
}

type SingleSource = number | 'publisher' | 'qa' | 'svc' | 'unregistered' | 'anonymous' | 'expire' | 'delete';

/** Records the bench file cycles through: enough for a realistic mix, few enough to pre-encode. */
const POOL_SIZE = 8192;
const REQUEST_ID_MARK = '\u0001'.repeat(16);

/** A record pre-encoded around its two per-line parts: the time and the request id. */
interface PooledRecord {
  readonly event: LogEvent;
  /** Up to and including the space before the time. */
  readonly head: Buffer;
  /** From the space after the time up to the request id. */
  readonly middle: Buffer;
  /** After the request id, with the line end. */
  readonly tail: Buffer;
  readonly offset: number;
}

function pool(r: Resolved, world: World, traffic: Traffic, rng: Rng): PooledRecord[] {
  const sources = new WeightedTable<SingleSource>([
    ...world.apps.map(
      (a) => [a.globalIndex, 0.955 * world.partners[a.partnerIndex]!.share * a.weight] as const,
    ),
    ['publisher', 0.015],
    ['qa', 0.004],
    ['svc', 0.01],
    ['unregistered', 0.008],
    ['anonymous', 0.002],
    ['expire', 0.003],
    ['delete', 0.003],
  ]);
  const out: PooledRecord[] = [];
  for (let k = 0; k < POOL_SIZE; k++) {
    const src = sources.draw(rng);
    const t = r.startMs;
    let e: LogEvent;
    if (typeof src === 'number') {
      const app = world.apps[src]!;
      e = traffic.partner(world.partners[app.partnerIndex]!, app, t);
    } else if (src === 'publisher') e = traffic.publisherPut(t);
    else if (src === 'qa') e = traffic.qaRead(t);
    else if (src === 'svc') e = traffic.service(t);
    else if (src === 'unregistered') e = traffic.unregistered(t);
    else if (src === 'anonymous') e = traffic.anonymous(t);
    else if (src === 'expire') e = traffic.lifecycleExpire(t);
    else e = traffic.batchDelete(t, world.providerCleanup);
    const line = renderLine({ ...e.fields, requestId: REQUEST_ID_MARK });
    const open = line.indexOf(' [');
    const close = line.indexOf('] ', open);
    const mark = line.indexOf(REQUEST_ID_MARK, close);
    out.push({
      event: e,
      head: Buffer.from(line.slice(0, open + 1), 'latin1'),
      middle: Buffer.from(line.slice(close + 1, mark), 'utf8'),
      tail: Buffer.from(`${line.slice(mark + REQUEST_ID_MARK.length)}\n`, 'utf8'),
      offset: e.fields.utcOffsetMinutes,
    });
  }
  return out;
}

/**
 * Writes `[DD/Mon/YYYY:HH:MM:SS +0000]` straight into a buffer: the date part is encoded once a day,
 * the clock digits per line. Same text as formatLogTime, without a Date or a string per line.
 */
class UtcClockWriter {
  private day = Number.NaN;
  private prefix = Buffer.alloc(0);

  write(buf: Buffer, pos: number, timeMs: number): number {
    const day = Math.floor(timeMs / DAY_MS);
    if (day !== this.day) {
      this.day = day;
      // `[DD/Mon/YYYY:` is the first 13 characters of the formatted midnight.
      this.prefix = Buffer.from(formatLogTime(day * DAY_MS).slice(0, 13), 'latin1');
    }
    buf.set(this.prefix, pos);
    let p = pos + this.prefix.length;
    const secondOfDay = Math.floor((timeMs - day * DAY_MS) / 1000);
    const h = Math.floor(secondOfDay / 3600);
    const m = Math.floor(secondOfDay / 60) % 60;
    const s = secondOfDay % 60;
    buf[p++] = 48 + Math.floor(h / 10);
    buf[p++] = 48 + (h % 10);
    buf[p++] = 58;
    buf[p++] = 48 + Math.floor(m / 10);
    buf[p++] = 48 + (m % 10);
    buf[p++] = 58;
    buf[p++] = 48 + Math.floor(s / 10);
    buf[p++] = 48 + (s % 10);
    return p + buf.write(' +0000]', p, 'latin1');
  }
}

const ID_CHARS = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 'latin1');

/**
 * Bench mode: exactly `lines` lines in one plain file, time spread evenly over the window. Ten million
 * lines of text cannot be built string by string fast enough, so the file cycles through a pool of
 * pre-encoded records and writes only the time and a fresh request id per line, into a large buffer.
 */
function writeSingleFile(
  r: Resolved,
  lines: number,
  world: World,
  tally: GroundTruthTally,
  logsDir: string,
  onProgress?: GenerateOptions['onProgress'],
): { bytes: number } {
  const rng = new Rng(r.seed).fork(4);
  const traffic = new Traffic(world, rng.fork(5), new Rng(r.seed).fork(0x6e6575));
  const records = pool(r, world, traffic, rng);
  const dir = join(logsDir, 'simple');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${stamp(r.startMs)}-${rng.chars(HEX_UPPER, 16)}`);
  const windowMs = r.days * DAY_MS;
  const forced = new Map<number, MalformedKind>();
  if (r.malformed && lines >= 4) {
    MALFORMED_KINDS.forEach((k, i) => {
      forced.set(Math.floor((lines * (i + 1)) / 4), k);
    });
  }
  const sample = (): string => renderLine(records[rng.int(records.length)]!.event.fields);
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  let pos = 0;
  let bytes = 0;
  const flush = () => {
    let off = 0;
    while (off < pos) off += writeSync(fd, buf, off, pos - off);
    bytes += pos;
    pos = 0;
  };
  const progressEvery = Math.max(1, Math.floor(lines / 100));
  const step = windowMs / lines;
  const clock = new UtcClockWriter();
  try {
    for (let i = 0; i < lines; i++) {
      // Leave room for the longest line (malformed ones included) before writing the next.
      if (pos > buf.length - 65_536) flush();
      const kind =
        forced.get(i) ?? (r.malformed && rng.next() < 0.00002 ? rng.pick(MALFORMED_KINDS) : undefined);
      if (kind) {
        pos += buf.write(`${malformedLine(kind, rng, sample)}\n`, pos, 'utf8');
        tally.malformedLine(kind);
        continue;
      }
      const rec = records[Math.floor(rng.next() * POOL_SIZE)]!;
      const timeMs = Math.min(r.startMs + Math.floor(i * step + rng.next() * step), r.startMs + windowMs - 1);
      buf.set(rec.head, pos);
      pos += rec.head.length;
      if (rec.offset === 0) pos = clock.write(buf, pos, timeMs);
      else pos += buf.write(formatLogTime(timeMs, rec.offset), pos, 'latin1');
      buf.set(rec.middle, pos);
      pos += rec.middle.length;
      // Three draws give 18 base-36 digits (36^6 < 2^32): a fresh 16-character request id.
      for (let d = 0; d < 3; d++) {
        let x = Math.floor(rng.next() * 2_176_782_336);
        for (let c = 0; c < 6 && d * 6 + c < 16; c++) {
          buf[pos++] = ID_CHARS[x % 36]!;
          x = Math.floor(x / 36);
        }
      }
      buf.set(rec.tail, pos);
      pos += rec.tail.length;
      tally.line(rec.event, timeMs);
      if (onProgress && (i + 1) % progressEvery === 0) onProgress(i + 1, lines);
    }
    flush();
  } finally {
    closeSync(fd);
  }
  if (onProgress && lines % progressEvery !== 0) onProgress(lines, lines);
  return { bytes };
}

/**
 * Generate the data set into `opts.outDir`: `registry.yaml`, `manifest.csv`, `ground-truth.json` and
 * the log objects under `logs/`. Deterministic: the same options give the same bytes.
 */
export async function generateDataset(opts: GenerateOptions): Promise<GenerateSummary> {
  const r = resolve(opts);
  const world = buildWorld({
    seed: r.seed,
    partners: r.partners,
    appsPerPartner: r.appsPerPartner,
    days: r.horizonDays,
    windowStartMs: r.startMs,
    networks: r.networks,
  });
  const tally = new GroundTruthTally(world, r.startMs, r.days);
  const horizonTally =
    r.horizonDays === r.days ? tally : new GroundTruthTally(world, r.startMs, r.horizonDays);
  const logsDir = join(r.outDir, 'logs');
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  let files: number;
  let bytes: number;
  if (r.singleFileLines !== undefined) {
    bytes = writeSingleFile(r, r.singleFileLines, world, tally, logsDir, opts.onProgress).bytes;
    files = 1;
  } else {
    const writer = new Writer(logsDir, world, r.gzip);
    writeHourly(r, world, tally, horizonTally, writer, opts.onProgress);
    files = writer.files;
    bytes = writer.bytes;
  }

  const tallies = tally.partnerTallies();
  const monthEnd = horizonTally === tally ? tallies : horizonTally.partnerTallies();
  const limits = deriveLimits(
    world,
    r.limits === 'month'
      ? {
          targetMonth: r.targetMonth,
          written: tallies,
          monthEnd,
          dataEndMs: r.startMs + r.days * DAY_MS,
          sizing: 'month',
        }
      : // Sized for what was written: the busiest month, as of its data (no forecast to agree with).
        {
          targetMonth: undefined,
          written: tallies,
          monthEnd: tallies,
          dataEndMs: Number.POSITIVE_INFINITY,
          sizing: 'data',
        },
  );
  const registryPath = join(r.outDir, 'registry.yaml');
  const manifestPath = join(r.outDir, 'manifest.csv');
  const groundTruthPath = join(r.outDir, 'ground-truth.json');
  const registryText = renderRegistry(world, limits, {
    seed: r.seed,
    start: r.start,
    days: r.days,
    holdings: opts.holdings === true,
  });
  // A generator that writes an invalid registry is broken: fail here, not in the audit.
  parseRegistry(registryText, registryPath);
  writeFileSync(registryPath, registryText);
  writeFileSync(manifestPath, renderManifest(world));
  const truth = buildGroundTruth({
    world,
    tally,
    tallies,
    monthEnd,
    dataEndMs: r.startMs + r.days * DAY_MS,
    limits,
    files,
    start: r.start,
    to: plusDays(r.start, r.days),
    generator: {
      seed: r.seed,
      start: r.start,
      days: r.days,
      partners: r.partners,
      appsPerPartner: r.appsPerPartner,
      requestsPerDay: r.requestsPerDay,
      layout: r.singleFileLines === undefined ? r.layout : 'single-file',
      gzip: r.singleFileLines === undefined ? r.gzip : false,
      malformed: r.malformed,
      networks: r.networks,
      mode: r.singleFileLines === undefined ? 'hourly' : 'single-file',
    },
  });
  writeFileSync(groundTruthPath, `${JSON.stringify(truth, null, 2)}\n`);
  return { files, lines: tally.lines, bytes, registryPath, manifestPath, groundTruthPath, logsDir };
}
