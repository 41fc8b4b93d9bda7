import { describe, expect, it } from 'vitest';
import { priceOverage, unroundedTierAmount } from '../../functions/domain/pricing.js';
import type { Price } from '../../functions/domain/registry.js';

/** 0.40 per 1000 for the first 200,000 over, then 0.25 per 1000. */
const tiered: Price = {
  per: 1000n,
  tiers: [{ upTo: 200_000n, price: '0.40' }, { price: '0.25' }],
};
/** A flat 0.09 per 1,000,000,000 (per GB). */
const perGb: Price = { per: 1_000_000_000n, tiers: [{ price: '0.09' }] };
/** Three bands, the middle one free. */
const threeBands: Price = {
  per: 1n,
  tiers: [{ upTo: 10n, price: '1' }, { upTo: 20n, price: '0' }, { price: '0.5' }],
};

describe('priceOverage', () => {
  it.each([
    // over, price, currency, total, [units per tier line], [amount per tier line]
    {
      why: 'exactly at the limit charges nothing',
      over: 0n,
      price: tiered,
      cur: 'USD',
      total: 0n,
      units: [],
      amounts: [],
    },
    {
      why: 'one unit over is 0.0004, rounds to 0',
      over: 1n,
      price: tiered,
      cur: 'USD',
      total: 0n,
      units: [1n],
      amounts: [0n],
    },
    {
      why: '13 units over is 0.0052, rounds half up to 1 cent',
      over: 13n,
      price: tiered,
      cur: 'USD',
      total: 1n,
      units: [13n],
      amounts: [1n],
    },
    {
      why: '12 units over is 0.0048, rounds to 0 cents',
      over: 12n,
      price: tiered,
      cur: 'USD',
      total: 0n,
      units: [12n],
      amounts: [0n],
    },
    {
      why: 'exactly half a cent (12.5 units worth) rounds up',
      over: 25n,
      price: { per: 1000n, tiers: [{ price: '0.20' }] },
      cur: 'USD',
      total: 1n,
      units: [25n],
      amounts: [1n],
    },
    {
      why: 'just below half a cent rounds down',
      over: 24n,
      price: { per: 1000n, tiers: [{ price: '0.20' }] },
      cur: 'USD',
      total: 0n,
      units: [24n],
      amounts: [0n],
    },
    {
      why: 'at the first tier boundary stays in tier 1',
      over: 200_000n,
      price: tiered,
      cur: 'USD',
      total: 8000n,
      units: [200_000n],
      amounts: [8000n],
    },
    {
      why: 'one past the boundary opens tier 2',
      over: 200_001n,
      price: tiered,
      cur: 'USD',
      total: 8000n,
      units: [200_000n, 1n],
      amounts: [8000n, 0n],
    },
    {
      why: 'rounds each tier line once: 80,340 x 0.25 / 1000 = 20.085 -> 20.09',
      over: 280_340n,
      price: tiered,
      cur: 'USD',
      total: 10_009n,
      units: [200_000n, 80_340n],
      amounts: [8000n, 2009n],
    },
    {
      why: 'a free middle band still shows its line',
      over: 25n,
      price: threeBands,
      cur: 'USD',
      total: 1250n,
      units: [10n, 10n, 5n],
      amounts: [1000n, 0n, 250n],
    },
    {
      why: 'JPY has no minor digits: 1,500 units at 0.001 yen each is 1.5 -> 2 yen',
      over: 1500n,
      price: { per: 1n, tiers: [{ price: '0.001' }] },
      cur: 'JPY',
      total: 2n,
      units: [1500n],
      amounts: [2n],
    },
    {
      why: 'JPY: 1,499 units is 1.499 -> 1 yen',
      over: 1499n,
      price: { per: 1n, tiers: [{ price: '0.001' }] },
      cur: 'JPY',
      total: 1n,
      units: [1499n],
      amounts: [1n],
    },
    {
      why: 'past 2^53 bytes, exactly: 9,007,199,254,740,993 B at 0.09/GB',
      over: 9_007_199_254_740_993n,
      price: perGb,
      cur: 'USD',
      total: 81_064_793n,
      units: [9_007_199_254_740_993n],
      amounts: [81_064_793n],
    },
    {
      why: 'a written bound on the last tier does not make the rest free',
      over: 15n,
      price: {
        per: 1n,
        tiers: [
          { upTo: 10n, price: '1' },
          { upTo: 12n, price: '2' },
        ],
      },
      cur: 'EUR',
      total: 2000n,
      units: [10n, 5n],
      amounts: [1000n, 1000n],
    },
  ])('$why', ({ over, price, cur, total, units, amounts }) => {
    const charge = priceOverage(over, price, cur);
    expect(charge.totalMinor).toBe(total);
    expect(charge.lines.map((l) => l.units)).toEqual(units);
    expect(charge.lines.map((l) => l.amountMinor)).toEqual(amounts);
    expect(charge.lines.reduce((s, l) => s + l.amountMinor, 0n)).toBe(charge.totalMinor);
  });

  it('numbers tier lines from 1 and carries the contract price as written', () => {
    const charge = priceOverage(200_001n, tiered, 'USD');
    expect(charge.lines).toEqual([
      { tier: 1, units: 200_000n, price: '0.40', per: 1000n, amountMinor: 8000n },
      { tier: 2, units: 1n, price: '0.25', per: 1000n, amountMinor: 0n },
    ]);
  });

  it('rounds per line, not on the total: two lines of 0.6 cents each make 2 cents, not 1', () => {
    const price: Price = { per: 1000n, tiers: [{ upTo: 15n, price: '0.40' }, { price: '0.40' }] };
    // 15 x 0.40 / 1000 = 0.006 twice; the sum of exact amounts (0.012) would round to 1 cent.
    expect(priceOverage(30n, price, 'USD').totalMinor).toBe(2n);
  });

  it('refuses a negative excess', () => {
    expect(() => priceOverage(-1n, tiered, 'USD')).toThrow(RangeError);
  });
});

describe('unroundedTierAmount', () => {
  it.each([
    [523456n, '0.40', 1000n, 209n, '3824', false],
    [1000n, '0.40', 1000n, 0n, '4', false],
    [1n, '1', 3n, 0n, '33333333', true],
    [1_234_567n, '12', 1n, 14_814_804n, '', false],
  ])('%s x %s / %s = %s.%s (cut: %s)', (units, price, per, whole, fraction, cut) => {
    expect(unroundedTierAmount(units, price, per)).toEqual({ whole, fraction, cut });
  });

  it('stops after the places asked for', () => {
    expect(unroundedTierAmount(2n, '1', 3n, 2)).toEqual({ whole: 0n, fraction: '66', cut: true });
  });
});
