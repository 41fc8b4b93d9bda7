/**
 * DuckDB's memory limit owned by whoever opens the database (functions/adapters/duckdb/memory-limit.ts):
 * lowered while some work runs and set back exactly after, the limit in force (the buffer manager's,
 * which `RESET` does not restore) as well as the setting's text, whether the work succeeds or throws.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import {
  memoryLimitInForce,
  memoryLimitSetting,
  stateMemoryLimit,
  withLoweredMemoryLimit,
} from '../../functions/adapters/duckdb/memory-limit.js';

/** A limit DuckDB prints as 1.1 GiB: set back from that text it would read 1.0 GiB. */
const OWN = 1_234_567_890;

describe('the memory limit', () => {
  it('is lowered while the work runs and set back exactly after, also when the work throws', async () => {
    const db = await DuckDBInstance.create(':memory:', { memory_limit: memoryLimitSetting(OWN) });
    const c = await db.connect();
    try {
      const setting = async () =>
        String((await c.runAndReadAll("SELECT current_setting('memory_limit')")).getRows()[0]![0]);
      expect(await memoryLimitInForce(c)).toBe('1.1 GiB');
      const text = await setting();
      const during = await withLoweredMemoryLimit(c, 256 * 2 ** 20, OWN, () => memoryLimitInForce(c));
      expect(during).toBe('256.0 MiB');
      expect(await memoryLimitInForce(c)).toBe('1.1 GiB');
      expect(await setting()).toBe(text);
      await expect(
        withLoweredMemoryLimit(c, 256 * 2 ** 20, OWN, async () => {
          throw new Error('work failed');
        }),
      ).rejects.toThrow('work failed');
      expect(await memoryLimitInForce(c)).toBe('1.1 GiB');
      // Not lower than the database's own: left as it is.
      expect(await withLoweredMemoryLimit(c, 2 * OWN, OWN, () => memoryLimitInForce(c))).toBe('1.1 GiB');
    } finally {
      c.closeSync();
      db.closeSync();
    }
  });

  it("is the state's own limit in whole MiB, and refuses a limit that is not whole bytes of at least 1 MiB", () => {
    const own = stateMemoryLimit();
    expect(own % 2 ** 20).toBe(0);
    expect(own).toBeGreaterThan(0);
    expect(memoryLimitSetting(own)).toBe(`${own} bytes`);
    expect(() => memoryLimitSetting(2 ** 20 + 0.5)).toThrow(
      'a memory limit must be a whole number of bytes of at least 1 MiB, got 1048576.5',
    );
    expect(() => memoryLimitSetting(1024)).toThrow('at least 1 MiB, got 1024');
  });
});
