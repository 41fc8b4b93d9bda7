import { describe, expect, it } from 'vitest';
import {
  DEFAULT_OPTIMIZE_RECENT_DAYS,
  optimizeRollupSql,
  vacuumRollupSql,
} from '../../functions/adapters/athena/maintenance-sql.js';
import { SqlInputError } from '../../functions/adapters/athena/sql.js';

const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };

describe('optimizeRollupSql', () => {
  it('compacts only the recent partitions of the rollup, by its partition source column', () => {
    expect(optimizeRollupSql(tables, 45)).toEqual({
      sql: `OPTIMIZE "partner_audit"."usage_rollup" REWRITE DATA USING BIN_PACK
WHERE slot_start >= CAST(current_date - INTERVAL '45' DAY AS timestamp)`,
      params: [],
    });
  });

  it('defaults to the days a nightly run can still rewrite: a month and its settling days', () => {
    expect(DEFAULT_OPTIMIZE_RECENT_DAYS).toBe(45);
    expect(optimizeRollupSql(tables).sql).toContain(`INTERVAL '45' DAY`);
  });

  it.each([0, -1, 1.5, 367, Number.NaN])('refuses %s days', (days) => {
    expect(() => optimizeRollupSql(tables, days)).toThrow(SqlInputError);
  });

  it('refuses a table name that is not a Glue name, before any SQL exists', () => {
    expect(() => optimizeRollupSql({ ...tables, rollupTable: 'x"; DROP TABLE y; --' })).toThrow(
      SqlInputError,
    );
  });
});

describe('vacuumRollupSql', () => {
  it('vacuums the rollup table', () => {
    expect(vacuumRollupSql(tables)).toEqual({ sql: 'VACUUM "partner_audit"."usage_rollup"', params: [] });
  });
});
