/**
 * Upkeep of the Iceberg rollup table, run on a schedule by lib/constructs/rollup-maintenance.ts.
 * Every nightly MERGE commits new small files and a snapshot; left alone, reads slow down and the
 * warehouse keeps every replaced file. OPTIMIZE ... BIN_PACK rewrites small files into large ones, and
 * VACUUM expires old snapshots (per the table's vacuum_max_snapshot_age_seconds, 5 days unless set)
 * and deletes the files only they referenced.
 */
import { type AthenaTables, quoteIdentifier, SqlInputError, type SqlQuery } from './sql.js';

/** Days back from today whose partitions OPTIMIZE rewrites by default: the month a nightly run rewrites, and its settling days. */
export const DEFAULT_OPTIMIZE_RECENT_DAYS = 45;

function rollupTable(tables: AthenaTables): string {
  return `${quoteIdentifier(tables.database)}.${quoteIdentifier(tables.rollupTable)}`;
}

/**
 * Compact the rollup's recent partitions only. The WHERE is on slot_start, the source column of the
 * day(slot_start) partitioning (Athena allows only partition columns there), so the rewrite is
 * bounded to about `recentDays` days of files whatever the table's age; older days no longer change.
 * `current_date` keeps the text constant, so a state machine can run it as is (Athena refuses
 * ExecutionParameters outside SELECT, INSERT, CTAS and UNLOAD).
 */
export function optimizeRollupSql(
  tables: AthenaTables,
  recentDays: number = DEFAULT_OPTIMIZE_RECENT_DAYS,
): SqlQuery {
  if (!Number.isInteger(recentDays) || recentDays < 1 || recentDays > 366) {
    throw new SqlInputError(`recentDays must be an integer from 1 to 366, got ${recentDays}`);
  }
  return {
    sql:
      `OPTIMIZE ${rollupTable(tables)} REWRITE DATA USING BIN_PACK\n` +
      `WHERE slot_start >= CAST(current_date - INTERVAL '${recentDays}' DAY AS timestamp)`,
    params: [],
  };
}

/** Expire old snapshots and remove the files no live snapshot needs. */
export function vacuumRollupSql(tables: AthenaTables): SqlQuery {
  return { sql: `VACUUM ${rollupTable(tables)}`, params: [] };
}
