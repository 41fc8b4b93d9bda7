/**
 * The deploy setting for counting a request once across delivery dates: handed to the functions as
 * REQUEST_ID_LOOKBACK_DAYS when not 0 (3 by default), refused with its name when out of range.
 */
import { describe, expect, it } from 'vitest';
import { configWith, resourcesOf, stateMachineDefinition, synth } from './helpers.js';

function lookbackEnv(config: ReturnType<typeof configWith>): (string | undefined)[] {
  return Object.values(resourcesOf(synth(config).template))
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => {
      const env = r.Properties?.['Environment'] as { Variables?: Record<string, string> } | undefined;
      return env?.Variables?.['REQUEST_ID_LOOKBACK_DAYS'];
    });
}

function rollupMaxConcurrency(config: ReturnType<typeof configWith>): number | undefined {
  const definition = stateMachineDefinition(synth(config).template) as unknown as {
    States: Record<string, { MaxConcurrency?: number }>;
  };
  return definition.States['RollUp']?.MaxConcurrency;
}

describe('requestIdLookbackDays', () => {
  it('is handed to the functions when set', () => {
    const values = lookbackEnv(configWith({ requestIdLookbackDays: 3 }));
    expect(values.length).toBeGreaterThan(0);
    expect(values.filter((v) => v !== undefined)).toContain('3');
  });

  it('is 3 days by default, and the RollUp map then rolls up one delivery date at a time', () => {
    const config = configWith();
    expect(lookbackEnv(config).filter((v) => v !== undefined)).toContain('3');
    expect(rollupMaxConcurrency(config)).toBe(1);
  });

  it('is absent at 0: each delivery date is checked on its own, two rolled up at once', () => {
    const config = configWith({ requestIdLookbackDays: 0 });
    expect(lookbackEnv(config).every((v) => v === undefined)).toBe(true);
    expect(rollupMaxConcurrency(config)).toBe(2);
  });

  it.each([-1, 32, 1.5])('refuses %s days, naming the setting', (days) => {
    expect(() => configWith({ requestIdLookbackDays: days })).toThrow(/requestIdLookbackDays/);
  });
});
