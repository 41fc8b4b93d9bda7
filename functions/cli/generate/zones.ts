/**
 * Local dates and hours in IANA zones, written here on purpose instead of borrowing the domain's
 * time.ts: the ground truth must be an independent second opinion on the project's own arithmetic.
 */

const dateFormats = new Map<string, Intl.DateTimeFormat>();
const partFormats = new Map<string, Intl.DateTimeFormat>();

/** `YYYY-MM-DD` of an instant in a zone (en-CA formats dates in ISO order). */
export function localDate(epochMs: number, timeZone: string): string {
  let f = dateFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, f);
  }
  return f.format(epochMs);
}

/** Local hour (0-23) and weekday (0 = Sunday) of an instant in a zone. */
export function localHourAndWeekday(epochMs: number, timeZone: string): { hour: number; weekday: number } {
  let f = partFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', weekday: 'short' });
    partFormats.set(timeZone, f);
  }
  let hour = 0;
  let weekday = 0;
  for (const part of f.formatToParts(epochMs)) {
    if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'weekday')
      weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(part.value);
  }
  return { hour, weekday };
}

/**
 * First instant of local date `date` in `timeZone`, found by bisection over local dates (no offset
 * arithmetic to get wrong around DST): the earliest instant whose local date is not before `date`.
 */
export function startOfLocalDay(date: string, timeZone: string): number {
  const noonUtc = Date.parse(`${date}T12:00:00Z`);
  let lo = noonUtc - 40 * 3_600_000;
  let hi = noonUtc + 40 * 3_600_000;
  // Invariant: localDate(lo) < date <= localDate(hi). Minute resolution is enough for any zone.
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
    if (localDate(mid, timeZone) < date) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The local date `n` calendar days after `date`. */
export function plusDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** `YYYY-MM` of the month after `month`. */
export function nextMonth(month: string): string {
  const y = Number(month.slice(0, 4));
  const m = Number(month.slice(5, 7));
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}
