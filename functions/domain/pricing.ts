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
