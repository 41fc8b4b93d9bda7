/**
 * Pricing of units over a limit by the contract's tiers. Exact: bigint and decimal strings throughout,
 * rounded once per tier line (see OVERAGES.md, "Tiers and rounding").
 */
import type { FeeLine } from './evaluation.js';
import { parseDecimal, toMinorUnits } from './money.js';
import type { Price } from './registry.js';

/** One tier's charge: a FeeLine before it is tied to a metric and an application. */
export type TierCharge = Omit<FeeLine, 'metric' | 'applicationId'>;

/** The charge for units over a limit: one line per tier that holds any of them, and their sum. */
export interface OverageCharge {
  readonly lines: readonly TierCharge[];
  readonly totalMinor: bigint;
}

/**
 * Price `over` units past a limit. Tier i (numbered from 1) covers the units over the limit in
 * (upTo of tier i-1, upTo of tier i], starting from 0. The last tier has no upper bound, even when the
 * contract writes one on it: units past every written bound are charged at the last price rather than
 * given away. Each line is `units x price / per`, rounded half up to the currency's minor unit once per
 * line; the total is the sum of the rounded lines.
 */
export function priceOverage(over: bigint, price: Price, currency: string): OverageCharge {
  if (over < 0n) throw new RangeError(`units over a limit cannot be negative (got ${over})`);
  const lines: TierCharge[] = [];
  let totalMinor = 0n;
  let floor = 0n;
  price.tiers.forEach((tier, i) => {
    if (floor >= over) return;
    const isLast = i === price.tiers.length - 1;
    const ceiling = isLast || tier.upTo === undefined ? over : tier.upTo < over ? tier.upTo : over;
    const units = ceiling - floor;
    floor = ceiling;
    if (units <= 0n) return;
    const d = parseDecimal(tier.price);
    const amountMinor = toMinorUnits(units * d.value, price.per * 10n ** BigInt(d.scale), currency);
    lines.push({ tier: i + 1, units, price: tier.price, per: price.per, amountMinor });
    totalMinor += amountMinor;
  });
  return { lines, totalMinor };
}

/** A tier line's amount before rounding: `units x price / per` as a decimal, cut after some places. */
export interface UnroundedAmount {
  /** The whole part. */
  readonly whole: bigint;
  /** The decimal places written, without trailing zeros (empty for a whole amount). */
  readonly fraction: string;
  /** Whether the amount goes on past `fraction`. */
  readonly cut: boolean;
}

/**
 * The exact value of a tier line, `units x price / per`, up to `places` decimals: what the rounding
 * to minor units (OVERAGES.md, "Tiers and rounding") starts from, so a reader can check it.
 */
export function unroundedTierAmount(units: bigint, price: string, per: bigint, places = 8): UnroundedAmount {
  const p = parseDecimal(price);
  const numerator = units * p.value;
  const denominator = per * 10n ** BigInt(p.scale);
  let rest = numerator % denominator;
  let fraction = '';
  for (let i = 0; i < places && rest > 0n; i++) {
    rest *= 10n;
    fraction += (rest / denominator).toString();
    rest %= denominator;
  }
  return { whole: numerator / denominator, fraction, cut: rest > 0n };
}
