/**
 * Money without binary floating point. Prices are exact decimals (a bigint and a scale); amounts due
 * are integers in the currency's minor unit (cents for USD, yen for JPY).
 */

/** An exact non-negative decimal: `value / 10^scale`. */
export interface Decimal {
  readonly value: bigint;
  readonly scale: number;
}

const MAX_SCALE = 12;

/** Parse `"0.40"`, `"12"`, `"0.000125"`. Rejects signs, exponents and more than 12 decimals. */
export function parseDecimal(text: string): Decimal {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not a non-negative decimal such as "0.40"`);
  const frac = m[2] ?? '';
  if (frac.length > MAX_SCALE) throw new RangeError(`"${text}" has more than ${MAX_SCALE} decimal places`);
  return { value: BigInt(m[1]! + frac), scale: frac.length };
}

/** Amount of money in minor units of a currency. */
export interface Money {
  readonly currency: string;
  readonly minor: bigint;
}

/** Digits after the decimal point of a currency's minor unit (2 for USD, 0 for JPY). */
export function minorDigits(currency: string): number {
  return (
    new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
  );
}

/**
 * Round the exact rational `numerator / denominator` (in major units) to minor units, half up.
 * Both are non-negative.
 */
export function toMinorUnits(numerator: bigint, denominator: bigint, currency: string): bigint {
  if (denominator <= 0n) throw new RangeError('denominator must be positive');
  const scaled = numerator * 10n ** BigInt(minorDigits(currency));
  return (scaled * 2n + denominator) / (denominator * 2n);
}

/** `1234567n, 'USD'` -> `12345.67`: the amount as a plain decimal string. */
export function formatMinor(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const neg = minor < 0n;
  const abs = neg ? -minor : minor;
  if (digits === 0) return `${neg ? '-' : ''}${abs}`;
  const s = abs.toString().padStart(digits + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -digits)}.${s.slice(-digits)}`;
}

/** `12345.67 USD` with thousands separators, for people. */
export function formatMoney(m: Money): string {
  const [int, frac] = formatMinor(m.minor, m.currency).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${grouped}${frac === undefined ? '' : `.${frac}`} ${m.currency}`;
}
