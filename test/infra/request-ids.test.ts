/**
 * The deploy setting for counting a request once across delivery dates: handed to the functions as
 * REQUEST_ID_LOOKBACK_DAYS when set, absent by default, refused with its name when out of range.
 */
import { describe, expect, it } from 'vitest';
import { configWith, resourcesOf, synth } from './helpers.js';

function lookbackEnv(config: ReturnType<typeof configWith>): (string | undefined)[] {
  return Object.values(resourcesOf(synth(config).template))
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => {
      const env = r.Properties?.['Environment'] as { Variables?: Record<string, string> } | undefined;
      return env?.Variables?.['REQUEST_ID_LOOKBACK_DAYS'];
    });
}

describe('requestIdLookbackDays', () => {
  it('is handed to the functions when set', () => {
    const values = lookbackEnv(configWith({ requestIdLookbackDays: 3 }));
    expect(values.length).toBeGreaterThan(0);
    expect(values.filter((v) => v !== undefined)).toContain('3');
  });

  it('is absent by default: each delivery date is checked on its own', () => {
    expect(lookbackEnv(configWith()).every((v) => v === undefined)).toBe(true);
  });

  it.each([-1, 32, 1.5])('refuses %s days, naming the setting', (days) => {
    expect(() => configWith({ requestIdLookbackDays: days })).toThrow(/requestIdLookbackDays/);
  });
});
