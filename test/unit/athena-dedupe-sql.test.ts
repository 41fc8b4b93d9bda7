/**
 * The request-counting parts of the roll-up statement: repeats within a delivery date always, against
 * other delivery dates only over the lookback asked for, and the marker row the repeats become.
 */
import { describe, expect, it } from 'vitest';
import {
  forgetRequestIdsSql,
  insertBatchRollupSql,
  REPEATS_OPERATION,
  replaceBatchRollupSql,
  SqlInputError,
} from '../../functions/adapters/athena/sql.js';

const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };

describe('the roll-up statement and repeated requests', () => {
  it('identifies a line by its request id and host id, and numbers repeats within the delivery date', () => {
    const { sql } = replaceBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2 });
    expect(sql).toContain(
      "THEN from_big_endian_64(xxhash64(to_utf8(requestid || ' ' || coalesce(nullif(hostid, ''), '-'))))",
    );
    expect(sql).toContain(
      'row_number() OVER (PARTITION BY s.request_hash ORDER BY s.slot_start, s.bytes_sent) > 1',
    );
    expect(sql).toContain(`CASE WHEN is_repeat THEN '${REPEATS_OPERATION}' ELSE operation END AS operation`);
    expect(sql).toContain(
      'WHEN MATCHED THEN UPDATE SET requests = s.requests, bytes_sent = s.bytes_sent, records = s.records,\n  request_ids = s.request_ids',
    );
    // Without a lookback, no other delivery date is read.
    expect(sql).not.toContain('UNNEST(split(m.request_ids');
  });

  it('reads the identities other delivery dates counted over the lookback, as literals', () => {
    const { sql, params } = replaceBatchRollupSql(tables, '2026/03/01', {
      datasetDepth: 2,
      requestIdLookbackDays: 3,
    });
    expect(params).toEqual([]);
    // The same text at any depth of nesting: compared line by line without the indentation.
    const flat = sql.replace(/\n\s+/g, '\n');
    expect(flat).toContain(`SELECT request_ids
FROM "partner_audit"."usage_rollup"
WHERE batch <> '2026/03/01' AND request_ids IS NOT NULL
AND slot_start >= TIMESTAMP '2026-02-26 00:00:00'
AND slot_start < TIMESTAMP '2026-03-03 00:00:00'
) AS m
CROSS JOIN UNNEST(split(m.request_ids, ',')) AS c(id)`);
    const insert = insertBatchRollupSql(tables, '2026/03/01', { datasetDepth: 2, requestIdLookbackDays: 3 });
    expect(insert.params).toEqual(["'2026/03/01'"]);
    expect(insert.sql).toContain("AND slot_start >= TIMESTAMP '2026-02-26 00:00:00'");
  });

  it.each([-1, 1.5, 32, Number.NaN])('refuses a lookback of %s days', (days) => {
    expect(() =>
      replaceBatchRollupSql(tables, '2026/03/01', { datasetDepth: 2, requestIdLookbackDays: days }),
    ).toThrow(SqlInputError);
  });

  it('forgets identities before an instant with a literal (UPDATE takes no parameters)', () => {
    expect(forgetRequestIdsSql(tables, Date.UTC(2026, 1, 1))).toEqual({
      sql: `UPDATE "partner_audit"."usage_rollup" SET request_ids = NULL
WHERE slot_start < TIMESTAMP '2026-02-01 00:00:00.000' AND request_ids IS NOT NULL`,
      params: [],
    });
  });
});
