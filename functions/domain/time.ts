/**
 * Calendar arithmetic in named IANA time zones, with no library and no clock reads.
 * Periods are half-open: [start, end). A "local date" is an ISO `YYYY-MM-DD` string in a zone.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The runtime's canonical zone names, read once (a few ms); see isValidTimeZone. */
let canonicalZones: ReadonlySet<string> | undefined;

/**
 * True when `timeZone` is an IANA zone this runtime knows. A canonical name (or `UTC`, which every
 * runtime takes) is looked up in the runtime's list; any other (a link such as `US/Eastern`, another
 * spelling) is tried on a formatter. The first formatter of a process costs some 40 ms of locale data,
 * which a command that only checks a registry's zones (ingest) then never pays.
 */
export function isValidTimeZone(timeZone: string): boolean {
  canonicalZones ??= new Set(Intl.supportedValuesOf('timeZone'));
  if (timeZone === 'UTC' || canonicalZones.has(timeZone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallClock(epochMs: number, timeZone: string): WallClock {
  const parts = formatterFor(timeZone).formatToParts(new Date(epochMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

/** Offset of `timeZone` from UTC at instant `epochMs`, in milliseconds (east positive). */
export function offsetMs(epochMs: number, timeZone: string): number {
  const w = wallClock(epochMs, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/** The local calendar date (`YYYY-MM-DD`) of an instant in a zone. */
export function localDateOf(epochMs: number, timeZone: string): string {
  const w = wallClock(epochMs, timeZone);
  return `${String(w.year).padStart(4, '0')}-${pad2(w.month)}-${pad2(w.day)}`;
}

/**
 * The instant at which local date `date` begins in `timeZone` (its first existing minute: where a DST
 * jump skips midnight, the day begins when the clock resumes).
 */
export function startOfLocalDate(date: string, timeZone: string): number {
  const [y, m, d] = parseDate(date);
  const wallMidnight = Date.UTC(y, m - 1, d);
  // Two passes converge for every real zone: the offset at the guess, then at the corrected guess.
  let guess = wallMidnight - offsetMs(wallMidnight, timeZone);
  guess = wallMidnight - offsetMs(guess, timeZone);
  if (localDateOf(guess, timeZone) !== date) {
    // Midnight does not exist (DST gap at 00:00): step forward to the first instant of the date.
    for (let t = guess; t < guess + 3 * 3600_000; t += 15 * 60_000) {
      if (localDateOf(t, timeZone) === date) return t;
    }
  }
  return guess;
}

export function parseDate(date: string): [number, number, number] {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new RangeError(`not a date (YYYY-MM-DD): ${date}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const check = new Date(Date.UTC(y, mo - 1, d));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) {
    throw new RangeError(`not a calendar date: ${date}`);
  }
  return [y, mo, d];
}

export function isIsoDate(date: string): boolean {
  try {
    parseDate(date);
    return true;
  } catch {
    return false;
  }
}

/** `date` plus `days` calendar days (pure calendar arithmetic, no zone). */
export function addDays(date: string, days: number): string {
  const [y, m, d] = parseDate(date);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** First day of the month holding `date`, and of the month after it. */
export function monthOf(date: string): { first: string; next: string } {
  const [y, m] = parseDate(date);
  const first = `${String(y).padStart(4, '0')}-${pad2(m)}-01`;
  const nextY = m === 12 ? y + 1 : y;
  const nextM = m === 12 ? 1 : m + 1;
  return { first, next: `${String(nextY).padStart(4, '0')}-${pad2(nextM)}-01` };
}

/** Local dates from `from` (inclusive) to `to` (exclusive). */
export function datesBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d < to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** A half-open interval of instants, [startMs, endMs). */
export interface Interval {
  readonly startMs: number;
  readonly endMs: number;
}

/** A billing period: a calendar month in a named zone, half-open. */
export interface Period extends Interval {
  /** `YYYY-MM`, the period's name. */
  readonly id: string;
  readonly timeZone: string;
  /** First local date of the period, and first local date after it. */
  readonly fromDate: string;
  readonly toDate: string;
}

export function monthlyPeriod(dateInMonth: string, timeZone: string): Period {
  const { first, next } = monthOf(dateInMonth);
  return {
    id: first.slice(0, 7),
    timeZone,
    fromDate: first,
    toDate: next,
    startMs: startOfLocalDate(first, timeZone),
    endMs: startOfLocalDate(next, timeZone),
  };
}

/** Every monthly period in `timeZone` that overlaps the local dates [from, to). */
export function monthlyPeriodsOverlapping(from: string, to: string, timeZone: string): Period[] {
  const out: Period[] = [];
  let p = monthlyPeriod(from, timeZone);
  while (p.fromDate < to) {
    out.push(p);
    p = monthlyPeriod(p.toDate, timeZone);
  }
  return out;
}

/** A change of a zone's offset from UTC (a daylight-saving change, or a change of standard time). */
export interface ClockChange {
  /** The instant of the change. */
  readonly atMs: number;
  readonly offsetBeforeMs: number;
  readonly offsetAfterMs: number;
  /**
   * The local date and wall-clock minute of the day at which the change happens, read on the clock
   * before it (02:00 for Berlin's spring change, 03:00 for its autumn one).
   */
  readonly localDate: string;
  readonly localMinute: number;
}

/**
 * Every offset change of `timeZone` in [fromMs, toMs), to the minute. Zones change at most a few
 * times a year and never twice within a day, so a daily scan then a bisection finds them all.
 */
export function clockChanges(fromMs: number, toMs: number, timeZone: string): ClockChange[] {
  const STEP = 86_400_000;
  const out: ClockChange[] = [];
  let before = offsetMs(fromMs, timeZone);
  for (let t = fromMs; t < toMs; t += STEP) {
    const next = Math.min(t + STEP, toMs);
    const after = offsetMs(next, timeZone);
    if (after === before) continue;
    // The offset at `lo` is the old one and at `hi` the new one; bisect to the minute.
    let lo = t;
    let hi = next;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (offsetMs(mid, timeZone) === before) lo = mid;
      else hi = mid;
    }
    const wall = hi + before;
    const date = new Date(wall).toISOString();
    out.push({
      atMs: hi,
      offsetBeforeMs: before,
      offsetAfterMs: after,
      localDate: date.slice(0, 10),
      localMinute: Math.floor((wall % 86_400_000) / 60_000),
    });
    before = after;
  }
  return out;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
