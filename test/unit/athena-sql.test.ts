import { describe, expect, it } from 'vitest';
import {
  clearBatchSql,
  insertBatchRollupSql,
  isBatch,
  parseSlotStart,
  quoteIdentifier,
  readInputSql,
  readLastSlotSql,
  readUsageSql,
  replaceBatchRollupSql,
  SqlInputError,
  sqlString,
  timestampLiteral,
} from '../../functions/adapters/athena/sql.js';
import {
  partnerDailyUsageSql,
  TRINO,
  unattributedUsageSql,
} from '../../functions/adapters/sql/usage-aggregation-sql.js';

const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
const withManifest = { ...tables, manifestTable: 'dataset_manifest' };

describe('clearBatchSql', () => {
  it('deletes one batch, written as a literal since Athena does not parameterise DELETE', () => {
    expect(clearBatchSql(tables, '2026/03/14')).toEqual({
      sql: `DELETE FROM "partner_audit"."usage_rollup" WHERE batch = '2026/03/14'`,
      params: [],
    });
  });
});

describe('insertBatchRollupSql', () => {
  it('rolls up one delivery date with the golden text', () => {
    const q = insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2 });
    expect(q.params).toEqual(["'2026/03/14'"]);
    expect(
      q.sql,
    ).toBe(`INSERT INTO "partner_audit"."usage_rollup" (slot_start, bucket, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records, batch, request_ids, grain, source_address, source_prefix, address_key, address_class, vpce, source_region, object_key, version_id, first_ms, last_ms, object_size, object_records, retrievals, full_retrievals)
SELECT
  slot_start, bucket, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records, batch, request_ids,
  grain, source_address, CASE WHEN grain = 'network' THEN source_prefix ELSE '-' END AS source_prefix, CASE WHEN grain = 'network' THEN address_key ELSE '-' END AS address_key, CASE WHEN grain = 'network' THEN address_class ELSE '-' END AS address_class, vpce, source_region,
  '-' AS object_key, '-' AS version_id,
  first_ms, last_ms, CAST(NULL AS bigint) AS object_size, CAST(NULL AS bigint) AS object_records, CAST(NULL AS bigint) AS retrievals, CAST(NULL AS bigint) AS full_retrievals
FROM (
  SELECT a6.*,
    CASE
      WHEN a6.source_address IN ('', '-') THEN '-'
      WHEN a6.a_is_v4 THEN CAST(a6.a_o1 AS varchar) || '.' || CAST(a6.a_o2 AS varchar) || '.' || CAST(a6.a_o3 AS varchar) || '.0/24'
      WHEN a6.a_is_v6 THEN
        CASE
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          ELSE ''
        END || '::/48'
      ELSE a6.source_address
    END AS source_prefix,
    CASE
      WHEN a6.source_address IN ('', '-') THEN '-'
      WHEN a6.a_is_v4 THEN '4:' || substr('0123456789abcdef', CAST((a6.a_o1 - a6.a_o1 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o1 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o2 - a6.a_o2 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o2 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o3 - a6.a_o3 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o3 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o4 - a6.a_o4 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o4 % 16 AS integer) + 1, 1)
      WHEN a6.a_is_v6 THEN '6:' || lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 4)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 5)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 6)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 7)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 8)), 4, '0')
      ELSE '-'
    END AS address_key,
    CASE
      WHEN a6.source_address IN ('', '-') THEN 'none'
      WHEN a6.a_is_v4 THEN 'ipv4'
      WHEN a6.a_is_v6 THEN 'ipv6'
      ELSE 'unparsed'
    END AS address_class
  FROM (
    SELECT a5.*,
      a5.a_v6_shape AND (strpos(a5.a_padded, '::') = 0 OR (length(a5.a_padded) - length(replace(a5.a_padded, ':', ''))) - a5.a_pads <= 7) AS a_is_v6,
      CASE
        WHEN strpos(a5.a_padded, '::') = 0 THEN a5.a_padded
        ELSE replace(a5.a_padded, '::', ':' || lpad('', CAST(greatest(0, 2 * (8 - (length(a5.a_padded) - length(replace(a5.a_padded, ':', ''))))) AS integer), '0:'))
      END AS a_full
    FROM (
      SELECT a4.*,
        coalesce(regexp_like(a4.a_hex, '^[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4}){7}$') OR regexp_like(a4.a_hex, '^([0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4})*){0,1}::([0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4})*){0,1}$'), false) AS a_v6_shape,
        CASE WHEN substr(a4.a_hex, 1, 2) = '::' THEN '0' ELSE '' END || a4.a_hex || CASE WHEN length(a4.a_hex) >= 2 AND substr(a4.a_hex, length(a4.a_hex) - 1) = '::' THEN '0' ELSE '' END AS a_padded,
        CASE WHEN substr(a4.a_hex, 1, 2) = '::' THEN 1 ELSE 0 END + CASE WHEN length(a4.a_hex) >= 2 AND substr(a4.a_hex, length(a4.a_hex) - 1) = '::' THEN 1 ELSE 0 END AS a_pads
      FROM (
        SELECT a3.*,
          coalesce(NOT regexp_like(a3.source_address, '[^0-9.]') AND regexp_like(a3.source_address, '^(0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})$') AND a3.a_o1 <= 255 AND a3.a_o2 <= 255 AND a3.a_o3 <= 255 AND a3.a_o4 <= 255, false) AS a_is_v4,
          CASE
            WHEN length(a3.source_address) < 2 OR length(a3.source_address) > 45 OR NOT (NOT regexp_like(a3.source_address, '[^0-9a-fA-F:.]')) THEN NULL
            WHEN strpos(a3.a_tail, '.') = 0 THEN a3.source_address
            WHEN coalesce(NOT regexp_like(a3.a_tail, '[^0-9.]') AND regexp_like(a3.a_tail, '^(0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})$') AND a3.a_t1 <= 255 AND a3.a_t2 <= 255 AND a3.a_t3 <= 255 AND a3.a_t4 <= 255, false) AND strpos(substr(a3.source_address, 1, length(a3.source_address) - length(a3.a_tail)), '.') = 0
            THEN substr(a3.source_address, 1, length(a3.source_address) - length(a3.a_tail)) || substr('0123456789abcdef', CAST((a3.a_t1 - a3.a_t1 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t1 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a3.a_t2 - a3.a_t2 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t2 % 16 AS integer) + 1, 1) || ':' || substr('0123456789abcdef', CAST((a3.a_t3 - a3.a_t3 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t3 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a3.a_t4 - a3.a_t4 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t4 % 16 AS integer) + 1, 1)
          END AS a_hex
        FROM (
          SELECT a2.*,
            try_cast(nullif(split_part(a2.a_tail, '.', 1), '') AS integer) AS a_t1,
            try_cast(nullif(split_part(a2.a_tail, '.', 2), '') AS integer) AS a_t2,
            try_cast(nullif(split_part(a2.a_tail, '.', 3), '') AS integer) AS a_t3,
            try_cast(nullif(split_part(a2.a_tail, '.', 4), '') AS integer) AS a_t4
          FROM (
            SELECT a1.*,
              regexp_extract(a1.source_address, '[^:]*$') AS a_tail,
              try_cast(nullif(split_part(a1.source_address, '.', 1), '') AS integer) AS a_o1,
              try_cast(nullif(split_part(a1.source_address, '.', 2), '') AS integer) AS a_o2,
              try_cast(nullif(split_part(a1.source_address, '.', 3), '') AS integer) AS a_o3,
              try_cast(nullif(split_part(a1.source_address, '.', 4), '') AS integer) AS a_o4
            FROM (
              SELECT g.*, CAST(0 AS bigint) AS records
              FROM (
                SELECT
                  CASE WHEN grouping(dataset) = 0 THEN 'usage' WHEN grouping(source_address) = 0 THEN 'network' END AS grain,
                  slot_start, coalesce(bucket, '-') AS bucket, requester, access_point, coalesce(dataset, '-') AS dataset, coalesce(operation, '-') AS operation, coalesce(status_class, '-') AS status_class,
                  coalesce(source_address, '-') AS source_address, coalesce(vpce, '-') AS vpce, coalesce(source_region, '-') AS source_region,
                  count(*) AS requests,
                  sum(bytes_sent) AS bytes_sent,
                  batch,
                  CASE WHEN grouping(dataset) = 0 THEN nullif(array_join(array_agg(CAST(request_hash AS varchar)), ','), '') END AS request_ids,
                  CASE WHEN grouping(source_address) = 0 THEN min(line_ms) END AS first_ms,
                  CASE WHEN grouping(source_address) = 0 THEN max(line_ms) END AS last_ms
                FROM (
                  SELECT
                      CASE WHEN is_repeat THEN CAST(CAST(replace(batch, '/', '-') AS date) AS timestamp) ELSE slot_start END AS slot_start,
                      CASE WHEN is_repeat THEN '-' ELSE bucket END AS bucket,
                      CASE WHEN is_repeat THEN '-' ELSE requester END AS requester,
                      CASE WHEN is_repeat THEN '-' ELSE access_point END AS access_point,
                      CASE WHEN is_repeat THEN '-' ELSE dataset END AS dataset,
                      CASE WHEN is_repeat THEN '(repeats-dropped)' ELSE operation END AS operation,
                      CASE WHEN is_repeat THEN '-' ELSE status_class END AS status_class,
                      CASE WHEN is_repeat THEN CAST(0 AS bigint) ELSE bytes_sent END AS bytes_sent,
                      CASE WHEN is_repeat THEN NULL ELSE source_address END AS source_address,
                      CASE WHEN is_repeat THEN NULL ELSE vpce END AS vpce,
                      CASE WHEN is_repeat THEN NULL ELSE source_region END AS source_region,
                      CASE WHEN is_repeat THEN NULL ELSE line_ms END AS line_ms,
                      CASE WHEN is_repeat THEN NULL ELSE request_hash END AS request_hash,
                      batch
                    FROM (
                      SELECT
                        s.*,
                        s.request_hash IS NOT NULL AND (
                          row_number() OVER (PARTITION BY s.request_hash ORDER BY s.slot_start, s.bytes_sent) > 1
                        ) AS is_repeat
                      FROM (
                        SELECT
                            CASE
                              WHEN ok AND requestid IS NOT NULL AND requestid NOT IN ('', '-')
                              THEN from_big_endian_64(xxhash64(to_utf8(requestid || ' ' || coalesce(nullif(hostid, ''), '-'))))
                            END AS request_hash,
                            CASE WHEN ok
                              THEN CAST(from_unixtime(floor(to_unixtime(event_time) / 900) * 900) AS timestamp)
                              ELSE CAST(CAST(replace(delivery_date, '/', '-') AS date) AS timestamp)
                            END AS slot_start,
                            CASE WHEN ok THEN coalesce(nullif(bucket_name, ''), '-') ELSE '-' END AS bucket,
                            CASE WHEN ok THEN coalesce(nullif(requester, ''), '-') ELSE '-' END AS requester,
                            CASE WHEN ok THEN coalesce(nullif(accesspointarn, ''), '-') ELSE '-' END AS access_point,
                            CASE
                              WHEN NOT ok OR object_key = '-' OR object_key = '' THEN '-'
                              WHEN strpos(object_key, '/') = 0 THEN '/'
                              ELSE regexp_extract(object_key, '^([^/]*/){1,2}')
                            END AS dataset,
                            CASE
                              WHEN requestdatetime IS NULL THEN '(malformed:no-match)'
                              WHEN event_time IS NULL THEN '(malformed:bad-time)'
                              WHEN NOT bytes_ok THEN '(malformed:bad-bytes)'
                              WHEN NOT ok THEN '(malformed:bad-duration)'
                              ELSE coalesce(nullif(operation, ''), '-')
                            END AS operation,
                            CASE
                              WHEN ok AND length(httpstatus) = 3 AND substr(httpstatus, 1, 1) BETWEEN '1' AND '5'
                              THEN substr(httpstatus, 1, 1) || 'xx'
                              ELSE '-'
                            END AS status_class,
                            CASE WHEN NOT ok OR bytessent = '-' THEN CAST(0 AS bigint) ELSE try_cast(bytessent AS bigint) END AS bytes_sent,
                            CASE WHEN ok THEN coalesce(nullif(remoteip, ''), '-') END AS source_address,
                            CASE WHEN ok THEN CASE
                              WHEN length(endpoint) > 19
                                AND substr(endpoint, length(endpoint) - 18) = '.vpce.amazonaws.com'
                              THEN coalesce(nullif(lower(regexp_extract(endpoint, '(^|[.])([vV][pP][cC][eE]-[0-9a-fA-F]+)[-.]', 2)), ''), '-')
                              ELSE '-'
                            END END AS vpce,
                            CASE WHEN ok THEN coalesce(nullif(sourceregion, ''), '-') END AS source_region,
                            CASE WHEN ok THEN CAST(to_unixtime(event_time) * 1000 AS bigint) END AS line_ms,
                            delivery_date AS batch
                          FROM (
                            SELECT
                              bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
                              requestid, hostid, remoteip, endpoint, sourceregion,
                              event_time, bytes_ok, event_time IS NOT NULL AND bytes_ok AND times_ok AS ok,
                              CASE
                                WHEN strpos("key", '%') = 0 OR decoded_key IS NULL THEN "key"
                                WHEN strpos(decoded_key, chr(65533)) > 0 AND strpos(upper("key"), '%EF%BF%BD') = 0 THEN "key"
                                ELSE decoded_key
                              END AS object_key
                            FROM (
                              SELECT
                                bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
                                requestid, hostid, remoteip, endpoint, sourceregion,
                                "key",
                                CASE WHEN regexp_like(requestdatetime, '^(0[1-9]|[12][0-9]|3[01])/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(19[7-9][0-9]|[2-9][0-9]{3}):([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] [+-]([01][0-9]|2[0-3])[0-5][0-9]$')
                                  THEN try(parse_datetime(requestdatetime, 'dd/MMM/yyyy:HH:mm:ss Z'))
                                END AS event_time,
                                CASE WHEN strpos("key", '%') > 0 THEN try(url_decode(replace("key", '+', '%2B'))) END AS decoded_key,
                                (bytessent = '-' OR coalesce(length(bytessent) <= 16 AND try_cast(bytessent AS bigint) <= 9007199254740991, false)) AND (objectsize = '-' OR coalesce(length(objectsize) <= 16 AND try_cast(objectsize AS bigint) <= 9007199254740991, false)) AS bytes_ok,
                                (totaltime = '-' OR coalesce(length(totaltime) <= 16 AND try_cast(totaltime AS bigint) <= 9007199254740991, false)) AND (turnaroundtime = '-' OR coalesce(length(turnaroundtime) <= 16 AND try_cast(turnaroundtime AS bigint) <= 9007199254740991, false)) AS times_ok
                              FROM "partner_audit"."access_logs"
                              WHERE delivery_date = ?
                            ) AS logged
                          ) AS parsed
                      ) AS s
                    ) AS counted
                ) AS shaped
                GROUP BY GROUPING SETS (
                  (slot_start, bucket, requester, access_point, dataset, operation, status_class, batch),
                  (slot_start, requester, access_point, source_address, vpce, source_region, batch)
                )
                HAVING NOT grouping(source_address) = 0 OR source_address IS NOT NULL
              ) AS g
            ) AS a1
          ) AS a2
        ) AS a3
      ) AS a4
    ) AS a5
  ) AS a6
) AS classified`);
  });

  it('writes the dataset depth from the registry into the dataset pattern', () => {
    expect(insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: 3 }).sql).toContain("'^([^/]*/){1,3}'");
  });

  it('has exactly one placeholder, in the WHERE clause', () => {
    const { sql } = insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2 });
    const placeholders = sql.replace(/'[^']*'/g, "''").match(/\?/g) ?? [];
    expect(placeholders).toHaveLength(1);
    expect(sql.indexOf('?')).toBeGreaterThan(sql.indexOf('WHERE'));
  });

  it.each([0, 9, 2.5, Number.NaN, -1])('refuses dataset depth %s before it reaches the SQL text', (depth) => {
    expect(() => insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: depth })).toThrow(SqlInputError);
  });

  it.each(["2026/03/14' OR 1=1 --", '2026-03-14', '2026/02/30', '26/03/14', ''])(
    'refuses batch %j',
    (batch) => {
      expect(() => insertBatchRollupSql(tables, batch, { datasetDepth: 2 })).toThrow(SqlInputError);
      expect(() => clearBatchSql(tables, batch)).toThrow(SqlInputError);
    },
  );

  it.each([
    { ...tables, database: 'Partner' },
    { ...tables, logsTable: 'logs"; DROP TABLE x; --' },
    { ...tables, rollupTable: '' },
    { ...tables, rollupTable: 'usage-rollup' },
  ])('refuses a table name that is not a plain Glue name: %j', (bad) => {
    expect(() => insertBatchRollupSql(bad, '2026/03/14', { datasetDepth: 2 })).toThrow(SqlInputError);
  });
});

describe('insertBatchRollupSql with a manifest table', () => {
  it('counts records of full reads with 200 from the manifest, with the golden text', () => {
    const q = insertBatchRollupSql(withManifest, '2026/03/14', { datasetDepth: 2 });
    expect(q.params).toEqual(["'2026/03/14'"]);
    expect(
      q.sql,
    ).toBe(`INSERT INTO "partner_audit"."usage_rollup" (slot_start, bucket, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records, batch, request_ids, grain, source_address, source_prefix, address_key, address_class, vpce, source_region, object_key, version_id, first_ms, last_ms, object_size, object_records, retrievals, full_retrievals)
SELECT
  slot_start, bucket, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records, batch, request_ids,
  grain, source_address, CASE WHEN grain = 'network' THEN source_prefix ELSE '-' END AS source_prefix, CASE WHEN grain = 'network' THEN address_key ELSE '-' END AS address_key, CASE WHEN grain = 'network' THEN address_class ELSE '-' END AS address_class, vpce, source_region,
  '-' AS object_key, '-' AS version_id,
  first_ms, last_ms, CAST(NULL AS bigint) AS object_size, CAST(NULL AS bigint) AS object_records, CAST(NULL AS bigint) AS retrievals, CAST(NULL AS bigint) AS full_retrievals
FROM (
  SELECT a6.*,
    CASE
      WHEN a6.source_address IN ('', '-') THEN '-'
      WHEN a6.a_is_v4 THEN CAST(a6.a_o1 AS varchar) || '.' || CAST(a6.a_o2 AS varchar) || '.' || CAST(a6.a_o3 AS varchar) || '.0/24'
      WHEN a6.a_is_v6 THEN
        CASE
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          ELSE ''
        END || '::/48'
      ELSE a6.source_address
    END AS source_prefix,
    CASE
      WHEN a6.source_address IN ('', '-') THEN '-'
      WHEN a6.a_is_v4 THEN '4:' || substr('0123456789abcdef', CAST((a6.a_o1 - a6.a_o1 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o1 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o2 - a6.a_o2 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o2 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o3 - a6.a_o3 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o3 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o4 - a6.a_o4 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o4 % 16 AS integer) + 1, 1)
      WHEN a6.a_is_v6 THEN '6:' || lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 4)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 5)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 6)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 7)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 8)), 4, '0')
      ELSE '-'
    END AS address_key,
    CASE
      WHEN a6.source_address IN ('', '-') THEN 'none'
      WHEN a6.a_is_v4 THEN 'ipv4'
      WHEN a6.a_is_v6 THEN 'ipv6'
      ELSE 'unparsed'
    END AS address_class
  FROM (
    SELECT a5.*,
      a5.a_v6_shape AND (strpos(a5.a_padded, '::') = 0 OR (length(a5.a_padded) - length(replace(a5.a_padded, ':', ''))) - a5.a_pads <= 7) AS a_is_v6,
      CASE
        WHEN strpos(a5.a_padded, '::') = 0 THEN a5.a_padded
        ELSE replace(a5.a_padded, '::', ':' || lpad('', CAST(greatest(0, 2 * (8 - (length(a5.a_padded) - length(replace(a5.a_padded, ':', ''))))) AS integer), '0:'))
      END AS a_full
    FROM (
      SELECT a4.*,
        coalesce(regexp_like(a4.a_hex, '^[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4}){7}$') OR regexp_like(a4.a_hex, '^([0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4})*){0,1}::([0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4})*){0,1}$'), false) AS a_v6_shape,
        CASE WHEN substr(a4.a_hex, 1, 2) = '::' THEN '0' ELSE '' END || a4.a_hex || CASE WHEN length(a4.a_hex) >= 2 AND substr(a4.a_hex, length(a4.a_hex) - 1) = '::' THEN '0' ELSE '' END AS a_padded,
        CASE WHEN substr(a4.a_hex, 1, 2) = '::' THEN 1 ELSE 0 END + CASE WHEN length(a4.a_hex) >= 2 AND substr(a4.a_hex, length(a4.a_hex) - 1) = '::' THEN 1 ELSE 0 END AS a_pads
      FROM (
        SELECT a3.*,
          coalesce(NOT regexp_like(a3.source_address, '[^0-9.]') AND regexp_like(a3.source_address, '^(0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})$') AND a3.a_o1 <= 255 AND a3.a_o2 <= 255 AND a3.a_o3 <= 255 AND a3.a_o4 <= 255, false) AS a_is_v4,
          CASE
            WHEN length(a3.source_address) < 2 OR length(a3.source_address) > 45 OR NOT (NOT regexp_like(a3.source_address, '[^0-9a-fA-F:.]')) THEN NULL
            WHEN strpos(a3.a_tail, '.') = 0 THEN a3.source_address
            WHEN coalesce(NOT regexp_like(a3.a_tail, '[^0-9.]') AND regexp_like(a3.a_tail, '^(0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})$') AND a3.a_t1 <= 255 AND a3.a_t2 <= 255 AND a3.a_t3 <= 255 AND a3.a_t4 <= 255, false) AND strpos(substr(a3.source_address, 1, length(a3.source_address) - length(a3.a_tail)), '.') = 0
            THEN substr(a3.source_address, 1, length(a3.source_address) - length(a3.a_tail)) || substr('0123456789abcdef', CAST((a3.a_t1 - a3.a_t1 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t1 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a3.a_t2 - a3.a_t2 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t2 % 16 AS integer) + 1, 1) || ':' || substr('0123456789abcdef', CAST((a3.a_t3 - a3.a_t3 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t3 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a3.a_t4 - a3.a_t4 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t4 % 16 AS integer) + 1, 1)
          END AS a_hex
        FROM (
          SELECT a2.*,
            try_cast(nullif(split_part(a2.a_tail, '.', 1), '') AS integer) AS a_t1,
            try_cast(nullif(split_part(a2.a_tail, '.', 2), '') AS integer) AS a_t2,
            try_cast(nullif(split_part(a2.a_tail, '.', 3), '') AS integer) AS a_t3,
            try_cast(nullif(split_part(a2.a_tail, '.', 4), '') AS integer) AS a_t4
          FROM (
            SELECT a1.*,
              regexp_extract(a1.source_address, '[^:]*$') AS a_tail,
              try_cast(nullif(split_part(a1.source_address, '.', 1), '') AS integer) AS a_o1,
              try_cast(nullif(split_part(a1.source_address, '.', 2), '') AS integer) AS a_o2,
              try_cast(nullif(split_part(a1.source_address, '.', 3), '') AS integer) AS a_o3,
              try_cast(nullif(split_part(a1.source_address, '.', 4), '') AS integer) AS a_o4
            FROM (
              SELECT
                grain, slot_start, bucket, requester, access_point, dataset, operation, status_class, source_address, vpce, source_region,
                sum(requests) AS requests,
                sum(bytes_sent) AS bytes_sent,
                sum(requests * records_per_read) AS records,
                batch,
                nullif(array_join(array_agg(request_ids), ','), '') AS request_ids,
                min(first_ms) AS first_ms,
                max(last_ms) AS last_ms
              FROM (
                SELECT
                  g.grain, g.slot_start, g.bucket, g.requester, g.access_point, g.dataset, g.operation, g.status_class, g.source_address, g.vpce, g.source_region, g.batch, g.requests, g.bytes_sent, arbitrary(g.request_ids) AS request_ids,
                  arbitrary(g.first_ms) AS first_ms, arbitrary(g.last_ms) AS last_ms,
                  coalesce(max_by(m.records, CASE WHEN m.records IS NOT NULL THEN p.i END), 0) AS records_per_read
                FROM (
                  SELECT
                    CASE WHEN grouping(dataset) = 0 THEN 'usage' WHEN grouping(source_address) = 0 THEN 'network' END AS grain,
                    slot_start, coalesce(bucket, '-') AS bucket, requester, access_point, coalesce(dataset, '-') AS dataset, coalesce(operation, '-') AS operation, coalesce(status_class, '-') AS status_class,
                    coalesce(source_address, '-') AS source_address, coalesce(vpce, '-') AS vpce, coalesce(source_region, '-') AS source_region, record_key,
                    count(*) AS requests,
                    sum(bytes_sent) AS bytes_sent,
                    batch,
                    CASE WHEN grouping(dataset) = 0 THEN nullif(array_join(array_agg(CAST(request_hash AS varchar)), ','), '') END AS request_ids,
                    CASE WHEN grouping(source_address) = 0 THEN min(line_ms) END AS first_ms,
                    CASE WHEN grouping(source_address) = 0 THEN max(line_ms) END AS last_ms
                  FROM (
                    SELECT
                        CASE WHEN is_repeat THEN CAST(CAST(replace(batch, '/', '-') AS date) AS timestamp) ELSE slot_start END AS slot_start,
                        CASE WHEN is_repeat THEN '-' ELSE bucket END AS bucket,
                        CASE WHEN is_repeat THEN '-' ELSE requester END AS requester,
                        CASE WHEN is_repeat THEN '-' ELSE access_point END AS access_point,
                        CASE WHEN is_repeat THEN '-' ELSE dataset END AS dataset,
                        CASE WHEN is_repeat THEN '(repeats-dropped)' ELSE operation END AS operation,
                        CASE WHEN is_repeat THEN '-' ELSE status_class END AS status_class,
                        CASE WHEN is_repeat THEN CAST(0 AS bigint) ELSE bytes_sent END AS bytes_sent,
                        CASE WHEN is_repeat THEN NULL ELSE record_key END AS record_key,
                        CASE WHEN is_repeat THEN NULL ELSE source_address END AS source_address,
                        CASE WHEN is_repeat THEN NULL ELSE vpce END AS vpce,
                        CASE WHEN is_repeat THEN NULL ELSE source_region END AS source_region,
                        CASE WHEN is_repeat THEN NULL ELSE line_ms END AS line_ms,
                        CASE WHEN is_repeat THEN NULL ELSE request_hash END AS request_hash,
                        batch
                      FROM (
                        SELECT
                          s.*,
                          s.request_hash IS NOT NULL AND (
                            row_number() OVER (PARTITION BY s.request_hash ORDER BY s.slot_start, s.bytes_sent) > 1
                          ) AS is_repeat
                        FROM (
                          SELECT
                              CASE
                                WHEN ok AND requestid IS NOT NULL AND requestid NOT IN ('', '-')
                                THEN from_big_endian_64(xxhash64(to_utf8(requestid || ' ' || coalesce(nullif(hostid, ''), '-'))))
                              END AS request_hash,
                              CASE WHEN ok
                                THEN CAST(from_unixtime(floor(to_unixtime(event_time) / 900) * 900) AS timestamp)
                                ELSE CAST(CAST(replace(delivery_date, '/', '-') AS date) AS timestamp)
                              END AS slot_start,
                              CASE WHEN ok THEN coalesce(nullif(bucket_name, ''), '-') ELSE '-' END AS bucket,
                              CASE WHEN ok THEN coalesce(nullif(requester, ''), '-') ELSE '-' END AS requester,
                              CASE WHEN ok THEN coalesce(nullif(accesspointarn, ''), '-') ELSE '-' END AS access_point,
                              CASE
                                WHEN NOT ok OR object_key = '-' OR object_key = '' THEN '-'
                                WHEN strpos(object_key, '/') = 0 THEN '/'
                                ELSE regexp_extract(object_key, '^([^/]*/){1,2}')
                              END AS dataset,
                              CASE
                                WHEN requestdatetime IS NULL THEN '(malformed:no-match)'
                                WHEN event_time IS NULL THEN '(malformed:bad-time)'
                                WHEN NOT bytes_ok THEN '(malformed:bad-bytes)'
                                WHEN NOT ok THEN '(malformed:bad-duration)'
                                ELSE coalesce(nullif(operation, ''), '-')
                              END AS operation,
                              CASE
                                WHEN ok AND length(httpstatus) = 3 AND substr(httpstatus, 1, 1) BETWEEN '1' AND '5'
                                THEN substr(httpstatus, 1, 1) || 'xx'
                                ELSE '-'
                              END AS status_class,
                              CASE WHEN NOT ok OR bytessent = '-' THEN CAST(0 AS bigint) ELSE try_cast(bytessent AS bigint) END AS bytes_sent,
                              CASE
                                WHEN ok AND operation IN ('REST.GET.OBJECT', 'WEBSITE.GET.OBJECT') AND httpstatus = '200'
                                THEN CASE WHEN object_key = '' THEN '-' ELSE object_key END
                              END AS record_key,
                              CASE WHEN ok THEN coalesce(nullif(remoteip, ''), '-') END AS source_address,
                              CASE WHEN ok THEN CASE
                                WHEN length(endpoint) > 19
                                  AND substr(endpoint, length(endpoint) - 18) = '.vpce.amazonaws.com'
                                THEN coalesce(nullif(lower(regexp_extract(endpoint, '(^|[.])([vV][pP][cC][eE]-[0-9a-fA-F]+)[-.]', 2)), ''), '-')
                                ELSE '-'
                              END END AS vpce,
                              CASE WHEN ok THEN coalesce(nullif(sourceregion, ''), '-') END AS source_region,
                              CASE WHEN ok THEN CAST(to_unixtime(event_time) * 1000 AS bigint) END AS line_ms,
                              delivery_date AS batch
                            FROM (
                              SELECT
                                bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
                                requestid, hostid, remoteip, endpoint, sourceregion,
                                event_time, bytes_ok, event_time IS NOT NULL AND bytes_ok AND times_ok AS ok,
                                CASE
                                  WHEN strpos("key", '%') = 0 OR decoded_key IS NULL THEN "key"
                                  WHEN strpos(decoded_key, chr(65533)) > 0 AND strpos(upper("key"), '%EF%BF%BD') = 0 THEN "key"
                                  ELSE decoded_key
                                END AS object_key
                              FROM (
                                SELECT
                                  bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
                                  requestid, hostid, remoteip, endpoint, sourceregion,
                                  "key",
                                  CASE WHEN regexp_like(requestdatetime, '^(0[1-9]|[12][0-9]|3[01])/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(19[7-9][0-9]|[2-9][0-9]{3}):([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] [+-]([01][0-9]|2[0-3])[0-5][0-9]$')
                                    THEN try(parse_datetime(requestdatetime, 'dd/MMM/yyyy:HH:mm:ss Z'))
                                  END AS event_time,
                                  CASE WHEN strpos("key", '%') > 0 THEN try(url_decode(replace("key", '+', '%2B'))) END AS decoded_key,
                                  (bytessent = '-' OR coalesce(length(bytessent) <= 16 AND try_cast(bytessent AS bigint) <= 9007199254740991, false)) AND (objectsize = '-' OR coalesce(length(objectsize) <= 16 AND try_cast(objectsize AS bigint) <= 9007199254740991, false)) AS bytes_ok,
                                  (totaltime = '-' OR coalesce(length(totaltime) <= 16 AND try_cast(totaltime AS bigint) <= 9007199254740991, false)) AND (turnaroundtime = '-' OR coalesce(length(turnaroundtime) <= 16 AND try_cast(turnaroundtime AS bigint) <= 9007199254740991, false)) AS times_ok
                                FROM "partner_audit"."access_logs"
                                WHERE delivery_date = ?
                              ) AS logged
                            ) AS parsed
                        ) AS s
                      ) AS counted
                  ) AS shaped
                  GROUP BY GROUPING SETS (
                    (slot_start, bucket, requester, access_point, dataset, operation, status_class, batch, record_key),
                    (slot_start, requester, access_point, source_address, vpce, source_region, batch)
                  )
                  HAVING NOT grouping(source_address) = 0 OR source_address IS NOT NULL
                ) AS g
                CROSS JOIN UNNEST(sequence(1, coalesce(length(g.record_key), 1))) AS p(i)
                LEFT JOIN (
                  SELECT replace(key_or_prefix, '""', '"') AS key_or_prefix, records
                  FROM "partner_audit"."dataset_manifest"
                  WHERE records IS NOT NULL
                ) AS m
                ON m.key_or_prefix = substr(g.record_key, 1, p.i)
                WHERE g.record_key IS NULL OR p.i = length(g.record_key) OR substr(g.record_key, p.i, 1) = '/'
                GROUP BY g.grain, g.slot_start, g.bucket, g.requester, g.access_point, g.dataset, g.operation, g.status_class, g.source_address, g.vpce, g.source_region, g.batch, g.record_key, g.requests, g.bytes_sent
              ) AS looked_up
              GROUP BY grain, slot_start, bucket, requester, access_point, dataset, operation, status_class, source_address, vpce, source_region, batch
            ) AS a1
          ) AS a2
        ) AS a3
      ) AS a4
    ) AS a5
  ) AS a6
) AS classified`);
  });

  it('writes 0 records, and does not name a manifest, without a manifest table', () => {
    const { sql } = insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2 });
    expect(sql).toContain('CAST(0 AS bigint) AS records');
    expect(sql).not.toMatch(/manifest|record_key/);
  });

  it('still has exactly one placeholder, in the first WHERE clause', () => {
    const { sql } = insertBatchRollupSql(withManifest, '2026/03/14', { datasetDepth: 2 });
    const placeholders = sql.replace(/'[^']*'/g, "''").match(/\?/g) ?? [];
    expect(placeholders).toHaveLength(1);
    expect(sql.indexOf('?')).toBeGreaterThan(sql.indexOf('WHERE'));
    expect(sql.indexOf('WHERE delivery_date = ?')).toBe(sql.indexOf('WHERE'));
  });

  it.each(['Dataset_Manifest', 'manifest"; DROP TABLE x; --', ''])(
    'refuses manifest table name %j before it reaches the SQL text',
    (manifestTable) => {
      expect(() =>
        insertBatchRollupSql({ ...tables, manifestTable }, '2026/03/14', { datasetDepth: 2 }),
      ).toThrow(SqlInputError);
    },
  );
});

describe('insertBatchRollupSql with holdings (the held grain, HOLDINGS.md)', () => {
  it('groups the held retrievals into the held grain in the same scan, with the golden text', () => {
    const q = insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2, holdings: true });
    expect(q.params).toEqual(["'2026/03/14'"]);
    expect(
      q.sql,
    ).toBe(`INSERT INTO "partner_audit"."usage_rollup" (slot_start, bucket, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records, batch, request_ids, grain, source_address, source_prefix, address_key, address_class, vpce, source_region, object_key, version_id, first_ms, last_ms, object_size, object_records, retrievals, full_retrievals)
SELECT
  slot_start, bucket, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records, batch, request_ids,
  grain, source_address, CASE WHEN grain = 'network' THEN source_prefix ELSE '-' END AS source_prefix, CASE WHEN grain = 'network' THEN address_key ELSE '-' END AS address_key, CASE WHEN grain = 'network' THEN address_class ELSE '-' END AS address_class, vpce, source_region,
  object_key, version_id,
  first_ms, last_ms, object_size, object_records, retrievals, full_retrievals
FROM (
  SELECT a6.*,
    CASE
      WHEN a6.source_address IN ('', '-') THEN '-'
      WHEN a6.a_is_v4 THEN CAST(a6.a_o1 AS varchar) || '.' || CAST(a6.a_o2 AS varchar) || '.' || CAST(a6.a_o3 AS varchar) || '.0/24'
      WHEN a6.a_is_v6 THEN
        CASE
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) || ':' || regexp_extract(lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          WHEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1) <> '0' THEN regexp_extract(lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0'), '^0*([0-9a-f]+)$', 1)
          ELSE ''
        END || '::/48'
      ELSE a6.source_address
    END AS source_prefix,
    CASE
      WHEN a6.source_address IN ('', '-') THEN '-'
      WHEN a6.a_is_v4 THEN '4:' || substr('0123456789abcdef', CAST((a6.a_o1 - a6.a_o1 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o1 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o2 - a6.a_o2 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o2 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o3 - a6.a_o3 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o3 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a6.a_o4 - a6.a_o4 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a6.a_o4 % 16 AS integer) + 1, 1)
      WHEN a6.a_is_v6 THEN '6:' || lpad(lower(split_part(a6.a_full, ':', 1)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 2)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 3)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 4)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 5)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 6)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 7)), 4, '0') || lpad(lower(split_part(a6.a_full, ':', 8)), 4, '0')
      ELSE '-'
    END AS address_key,
    CASE
      WHEN a6.source_address IN ('', '-') THEN 'none'
      WHEN a6.a_is_v4 THEN 'ipv4'
      WHEN a6.a_is_v6 THEN 'ipv6'
      ELSE 'unparsed'
    END AS address_class
  FROM (
    SELECT a5.*,
      a5.a_v6_shape AND (strpos(a5.a_padded, '::') = 0 OR (length(a5.a_padded) - length(replace(a5.a_padded, ':', ''))) - a5.a_pads <= 7) AS a_is_v6,
      CASE
        WHEN strpos(a5.a_padded, '::') = 0 THEN a5.a_padded
        ELSE replace(a5.a_padded, '::', ':' || lpad('', CAST(greatest(0, 2 * (8 - (length(a5.a_padded) - length(replace(a5.a_padded, ':', ''))))) AS integer), '0:'))
      END AS a_full
    FROM (
      SELECT a4.*,
        coalesce(regexp_like(a4.a_hex, '^[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4}){7}$') OR regexp_like(a4.a_hex, '^([0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4})*){0,1}::([0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4})*){0,1}$'), false) AS a_v6_shape,
        CASE WHEN substr(a4.a_hex, 1, 2) = '::' THEN '0' ELSE '' END || a4.a_hex || CASE WHEN length(a4.a_hex) >= 2 AND substr(a4.a_hex, length(a4.a_hex) - 1) = '::' THEN '0' ELSE '' END AS a_padded,
        CASE WHEN substr(a4.a_hex, 1, 2) = '::' THEN 1 ELSE 0 END + CASE WHEN length(a4.a_hex) >= 2 AND substr(a4.a_hex, length(a4.a_hex) - 1) = '::' THEN 1 ELSE 0 END AS a_pads
      FROM (
        SELECT a3.*,
          coalesce(NOT regexp_like(a3.source_address, '[^0-9.]') AND regexp_like(a3.source_address, '^(0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})$') AND a3.a_o1 <= 255 AND a3.a_o2 <= 255 AND a3.a_o3 <= 255 AND a3.a_o4 <= 255, false) AS a_is_v4,
          CASE
            WHEN length(a3.source_address) < 2 OR length(a3.source_address) > 45 OR NOT (NOT regexp_like(a3.source_address, '[^0-9a-fA-F:.]')) THEN NULL
            WHEN strpos(a3.a_tail, '.') = 0 THEN a3.source_address
            WHEN coalesce(NOT regexp_like(a3.a_tail, '[^0-9.]') AND regexp_like(a3.a_tail, '^(0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})$') AND a3.a_t1 <= 255 AND a3.a_t2 <= 255 AND a3.a_t3 <= 255 AND a3.a_t4 <= 255, false) AND strpos(substr(a3.source_address, 1, length(a3.source_address) - length(a3.a_tail)), '.') = 0
            THEN substr(a3.source_address, 1, length(a3.source_address) - length(a3.a_tail)) || substr('0123456789abcdef', CAST((a3.a_t1 - a3.a_t1 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t1 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a3.a_t2 - a3.a_t2 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t2 % 16 AS integer) + 1, 1) || ':' || substr('0123456789abcdef', CAST((a3.a_t3 - a3.a_t3 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t3 % 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST((a3.a_t4 - a3.a_t4 % 16) / 16 AS integer) + 1, 1) || substr('0123456789abcdef', CAST(a3.a_t4 % 16 AS integer) + 1, 1)
          END AS a_hex
        FROM (
          SELECT a2.*,
            try_cast(nullif(split_part(a2.a_tail, '.', 1), '') AS integer) AS a_t1,
            try_cast(nullif(split_part(a2.a_tail, '.', 2), '') AS integer) AS a_t2,
            try_cast(nullif(split_part(a2.a_tail, '.', 3), '') AS integer) AS a_t3,
            try_cast(nullif(split_part(a2.a_tail, '.', 4), '') AS integer) AS a_t4
          FROM (
            SELECT a1.*,
              regexp_extract(a1.source_address, '[^:]*$') AS a_tail,
              try_cast(nullif(split_part(a1.source_address, '.', 1), '') AS integer) AS a_o1,
              try_cast(nullif(split_part(a1.source_address, '.', 2), '') AS integer) AS a_o2,
              try_cast(nullif(split_part(a1.source_address, '.', 3), '') AS integer) AS a_o3,
              try_cast(nullif(split_part(a1.source_address, '.', 4), '') AS integer) AS a_o4
            FROM (
              SELECT g.*, CAST(0 AS bigint) AS records, CASE WHEN g.grain = 'held' THEN CAST(0 AS bigint) END AS object_records
              FROM (
                SELECT
                  CASE WHEN grouping(operation) = 0 THEN 'usage' WHEN grouping(source_address) = 0 THEN 'network' WHEN grouping(held_key) = 0 THEN 'held' END AS grain,
                  slot_start, coalesce(bucket, '-') AS bucket, requester, access_point, coalesce(dataset, '-') AS dataset, coalesce(operation, '-') AS operation, coalesce(status_class, '-') AS status_class,
                  coalesce(source_address, '-') AS source_address, coalesce(vpce, '-') AS vpce, coalesce(source_region, '-') AS source_region,
                  coalesce(held_key, '-') AS object_key, coalesce(held_version, '-') AS version_id, held_size AS object_size,
                  count(*) AS requests,
                  sum(bytes_sent) AS bytes_sent,
                  batch,
                  CASE WHEN grouping(operation) = 0 THEN nullif(array_join(array_agg(CAST(request_hash AS varchar)), ','), '') END AS request_ids,
                  CASE WHEN grouping(source_address) = 0 OR grouping(held_key) = 0 THEN min(line_ms) END AS first_ms,
                  CASE WHEN grouping(source_address) = 0 OR grouping(held_key) = 0 THEN max(line_ms) END AS last_ms,
                  CASE WHEN grouping(held_key) = 0 THEN count(*) END AS retrievals,
                  CASE WHEN grouping(held_key) = 0 THEN sum(held_full) END AS full_retrievals
                FROM (
                  SELECT
                      CASE WHEN is_repeat THEN CAST(CAST(replace(batch, '/', '-') AS date) AS timestamp) ELSE slot_start END AS slot_start,
                      CASE WHEN is_repeat THEN '-' ELSE bucket END AS bucket,
                      CASE WHEN is_repeat THEN '-' ELSE requester END AS requester,
                      CASE WHEN is_repeat THEN '-' ELSE access_point END AS access_point,
                      CASE WHEN is_repeat THEN '-' ELSE dataset END AS dataset,
                      CASE WHEN is_repeat THEN '(repeats-dropped)' ELSE operation END AS operation,
                      CASE WHEN is_repeat THEN '-' ELSE status_class END AS status_class,
                      CASE WHEN is_repeat THEN CAST(0 AS bigint) ELSE bytes_sent END AS bytes_sent,
                      CASE WHEN is_repeat THEN NULL ELSE source_address END AS source_address,
                      CASE WHEN is_repeat THEN NULL ELSE vpce END AS vpce,
                      CASE WHEN is_repeat THEN NULL ELSE source_region END AS source_region,
                      CASE WHEN is_repeat THEN NULL ELSE line_ms END AS line_ms,
                      CASE WHEN is_repeat THEN NULL ELSE held_key END AS held_key, held_version, held_size, held_full,
                      CASE WHEN is_repeat THEN NULL ELSE request_hash END AS request_hash,
                      batch
                    FROM (
                      SELECT
                        s.*,
                        s.request_hash IS NOT NULL AND (
                          row_number() OVER (PARTITION BY s.request_hash ORDER BY s.slot_start, s.bytes_sent) > 1
                        ) AS is_repeat
                      FROM (
                        SELECT
                            CASE
                              WHEN ok AND requestid IS NOT NULL AND requestid NOT IN ('', '-')
                              THEN from_big_endian_64(xxhash64(to_utf8(requestid || ' ' || coalesce(nullif(hostid, ''), '-'))))
                            END AS request_hash,
                            CASE WHEN ok
                              THEN CAST(from_unixtime(floor(to_unixtime(event_time) / 900) * 900) AS timestamp)
                              ELSE CAST(CAST(replace(delivery_date, '/', '-') AS date) AS timestamp)
                            END AS slot_start,
                            CASE WHEN ok THEN coalesce(nullif(bucket_name, ''), '-') ELSE '-' END AS bucket,
                            CASE WHEN ok THEN coalesce(nullif(requester, ''), '-') ELSE '-' END AS requester,
                            CASE WHEN ok THEN coalesce(nullif(accesspointarn, ''), '-') ELSE '-' END AS access_point,
                            CASE
                              WHEN NOT ok OR object_key = '-' OR object_key = '' THEN '-'
                              WHEN strpos(object_key, '/') = 0 THEN '/'
                              ELSE regexp_extract(object_key, '^([^/]*/){1,2}')
                            END AS dataset,
                            CASE
                              WHEN requestdatetime IS NULL THEN '(malformed:no-match)'
                              WHEN event_time IS NULL THEN '(malformed:bad-time)'
                              WHEN NOT bytes_ok THEN '(malformed:bad-bytes)'
                              WHEN NOT ok THEN '(malformed:bad-duration)'
                              ELSE coalesce(nullif(operation, ''), '-')
                            END AS operation,
                            CASE
                              WHEN ok AND length(httpstatus) = 3 AND substr(httpstatus, 1, 1) BETWEEN '1' AND '5'
                              THEN substr(httpstatus, 1, 1) || 'xx'
                              ELSE '-'
                            END AS status_class,
                            CASE WHEN NOT ok OR bytessent = '-' THEN CAST(0 AS bigint) ELSE try_cast(bytessent AS bigint) END AS bytes_sent,
                            CASE WHEN ok THEN coalesce(nullif(remoteip, ''), '-') END AS source_address,
                            CASE WHEN ok THEN CASE
                              WHEN length(endpoint) > 19
                                AND substr(endpoint, length(endpoint) - 18) = '.vpce.amazonaws.com'
                              THEN coalesce(nullif(lower(regexp_extract(endpoint, '(^|[.])([vV][pP][cC][eE]-[0-9a-fA-F]+)[-.]', 2)), ''), '-')
                              ELSE '-'
                            END END AS vpce,
                            CASE WHEN ok THEN coalesce(nullif(sourceregion, ''), '-') END AS source_region,
                            CASE WHEN ok THEN CAST(to_unixtime(event_time) * 1000 AS bigint) END AS line_ms,
                            CASE
                              WHEN ok AND operation IN ('REST.GET.OBJECT', 'WEBSITE.GET.OBJECT') AND httpstatus IN ('200', '206')
                              THEN CASE WHEN object_key = '' THEN '-' ELSE object_key END
                            END AS held_key,
                            coalesce(nullif(versionid, ''), '-') AS held_version,
                            try_cast(nullif(objectsize, '-') AS bigint) AS held_size,
                            CASE WHEN httpstatus = '200' THEN 1 ELSE 0 END AS held_full,
                            delivery_date AS batch
                          FROM (
                            SELECT
                              bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
                              requestid, hostid, remoteip, endpoint, sourceregion, versionid, objectsize,
                              event_time, bytes_ok, event_time IS NOT NULL AND bytes_ok AND times_ok AS ok,
                              CASE
                                WHEN strpos("key", '%') = 0 OR decoded_key IS NULL THEN "key"
                                WHEN strpos(decoded_key, chr(65533)) > 0 AND strpos(upper("key"), '%EF%BF%BD') = 0 THEN "key"
                                ELSE decoded_key
                              END AS object_key
                            FROM (
                              SELECT
                                bucket_name, requester, accesspointarn, operation, httpstatus, bytessent, delivery_date, requestdatetime,
                                requestid, hostid, remoteip, endpoint, sourceregion, versionid, objectsize,
                                "key",
                                CASE WHEN regexp_like(requestdatetime, '^(0[1-9]|[12][0-9]|3[01])/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(19[7-9][0-9]|[2-9][0-9]{3}):([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] [+-]([01][0-9]|2[0-3])[0-5][0-9]$')
                                  THEN try(parse_datetime(requestdatetime, 'dd/MMM/yyyy:HH:mm:ss Z'))
                                END AS event_time,
                                CASE WHEN strpos("key", '%') > 0 THEN try(url_decode(replace("key", '+', '%2B'))) END AS decoded_key,
                                (bytessent = '-' OR coalesce(length(bytessent) <= 16 AND try_cast(bytessent AS bigint) <= 9007199254740991, false)) AND (objectsize = '-' OR coalesce(length(objectsize) <= 16 AND try_cast(objectsize AS bigint) <= 9007199254740991, false)) AS bytes_ok,
                                (totaltime = '-' OR coalesce(length(totaltime) <= 16 AND try_cast(totaltime AS bigint) <= 9007199254740991, false)) AND (turnaroundtime = '-' OR coalesce(length(turnaroundtime) <= 16 AND try_cast(turnaroundtime AS bigint) <= 9007199254740991, false)) AS times_ok
                              FROM "partner_audit"."access_logs"
                              WHERE delivery_date = ?
                            ) AS logged
                          ) AS parsed
                      ) AS s
                    ) AS counted
                ) AS shaped
                GROUP BY GROUPING SETS (
                  (slot_start, bucket, requester, access_point, dataset, operation, status_class, batch),
                  (slot_start, requester, access_point, source_address, vpce, source_region, batch),
                  (slot_start, bucket, requester, access_point, dataset, held_key, held_version, held_size, batch)
                )
                HAVING (NOT grouping(source_address) = 0 OR source_address IS NOT NULL) AND (NOT grouping(held_key) = 0 OR held_key IS NOT NULL)
              ) AS g
            ) AS a1
          ) AS a2
        ) AS a3
      ) AS a4
    ) AS a5
  ) AS a6
) AS classified`);
  });

  it('is the statement without holdings when they are off, naming no held column of the lines', () => {
    const off = insertBatchRollupSql(withManifest, '2026/03/14', { datasetDepth: 2, holdings: false }).sql;
    expect(off).toBe(insertBatchRollupSql(withManifest, '2026/03/14', { datasetDepth: 2 }).sql);
    expect(off).not.toMatch(/held_key|held_version|held_size|versionid|'held'/);
    const on = insertBatchRollupSql(withManifest, '2026/03/14', { datasetDepth: 2, holdings: true }).sql;
    // The logs are still read once: one FROM the logs table, one WHERE on its partition.
    expect(on.match(/"partner_audit"\."access_logs"/g)).toHaveLength(1);
    expect(on).toContain('coalesce(record_key, held_key) AS record_key');
    expect(on).toContain("CASE WHEN grain = 'held' THEN max(records_per_read) END AS object_records");
  });
});

describe('replaceBatchRollupSql with holdings', () => {
  it('keys a held row by its object size too, an unknown size (NULL) equal to itself', () => {
    const { sql } = replaceBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2, holdings: true });
    expect(sql).toContain('AND coalesce(n.object_size, -1) = coalesce(o.object_size, -1)\n');
    expect(sql).toContain(
      "AND coalesce(r.version_id, '-') = s.version_id AND coalesce(r.object_size, -1) = coalesce(s.object_size, -1)\n",
    );
    expect(sql).toContain('version_id = s.version_id, object_size = s.object_size\n');
    expect(sql).toContain("WHEN grouping(held_key) = 0 THEN 'held'");
  });
});

describe('replaceBatchRollupSql', () => {
  it('merges the same rows insertBatchRollupSql inserts, with or without a manifest table', () => {
    for (const t of [tables, withManifest]) {
      const insert = insertBatchRollupSql(t, '2026/03/14', { datasetDepth: 2 }).sql;
      const aggregate = insert
        .slice(insert.indexOf('\nSELECT') + 1)
        .replace('WHERE delivery_date = ?', "WHERE delivery_date = '2026/03/14'")
        .replaceAll('\n', '\n    ');
      const merge = replaceBatchRollupSql(t, '2026/03/14', { datasetDepth: 2 });
      expect(merge.params).toEqual([]);
      expect(merge.sql).toContain(`  FROM (\n    ${aggregate}\n  ) AS n\n`);
    }
  });

  it('updates records with requests and bytes sent', () => {
    expect(replaceBatchRollupSql(withManifest, '2026/03/14', { datasetDepth: 2 }).sql).toContain(
      'WHEN MATCHED THEN UPDATE SET requests = s.requests, bytes_sent = s.bytes_sent, records = s.records',
    );
  });
});

describe('readUsageSql', () => {
  it('reads [start, end) summed over batches, with the golden text', () => {
    const q = readUsageSql(tables, { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 2, 14, 23, 45) });
    expect(q.params).toEqual(["'2026-03-01 00:00:00.000'", "'2026-03-14 23:45:00.000'"]);
    expect(q.sql).toBe(`SELECT
  CAST(slot_start AS varchar) AS slot,
  bucket, requester, access_point, dataset, operation, status_class,
  sum(requests) AS requests,
  sum(bytes_sent) AS bytes_sent,
  sum(records) AS records
FROM "partner_audit"."usage_rollup"
WHERE slot_start >= CAST(? AS timestamp) AND slot_start < CAST(? AS timestamp)
  AND substr(operation, 1, 11) <> '(malformed:'
  AND operation <> '(repeats-dropped)'
  AND (grain IS NULL OR grain = 'usage')
GROUP BY slot_start, bucket, requester, access_point, dataset, operation, status_class
ORDER BY slot_start, bucket, requester, access_point, dataset, operation, status_class`);
  });
});

describe('readLastSlotSql', () => {
  it('finds the newest usage slot in a range, leaving out the malformed-line markers', () => {
    const q = readLastSlotSql(tables, { startMs: Date.UTC(2026, 1, 27), endMs: Date.UTC(2026, 2, 13) });
    expect(q.params).toEqual(["'2026-02-27 00:00:00.000'", "'2026-03-13 00:00:00.000'"]);
    expect(q.sql).toBe(`SELECT CAST(max(slot_start) AS varchar) AS last_slot
FROM "partner_audit"."usage_rollup"
WHERE slot_start >= CAST(? AS timestamp) AND slot_start < CAST(? AS timestamp)
  AND substr(operation, 1, 11) <> '(malformed:'
  AND operation <> '(repeats-dropped)'
  AND (grain IS NULL OR grain = 'usage')`);
  });
});

describe('readInputSql', () => {
  it('counts lines per delivery date, usage apart from each malformed-line marker', () => {
    const q = readInputSql(tables, '2026/02/28', '2026/03/15');
    expect(q.params).toEqual(["'2026/02/28'", "'2026/03/15'"]);
    expect(q.sql).toBe(`SELECT
  batch,
  CASE
    WHEN substr(operation, 1, 11) = '(malformed:' OR operation = '(repeats-dropped)'
    THEN operation
    ELSE ''
  END AS kind,
  sum(requests) AS line_count
FROM "partner_audit"."usage_rollup"
WHERE batch >= ? AND batch <= ? AND (grain IS NULL OR grain = 'usage')
GROUP BY 1, 2
ORDER BY 1, 2`);
  });

  it('refuses batches of the wrong shape', () => {
    expect(() => readInputSql(tables, '2026-02-28', '2026/03/15')).toThrow(SqlInputError);
  });
});

describe('helpers', () => {
  it('quotes strings for ExecutionParameters, doubling inner quotes', () => {
    expect(sqlString("O'Brien's")).toBe("'O''Brien''s'");
    expect(sqlString('')).toBe("''");
  });

  it('quotes only plain identifiers', () => {
    expect(quoteIdentifier('usage_rollup')).toBe('"usage_rollup"');
    expect(() => quoteIdentifier('a"b')).toThrow(SqlInputError);
  });

  it.each([
    ['2026/03/14', true],
    ['2024/02/29', true],
    ['2026/02/29', false],
    ['2026/3/14', false],
  ])('isBatch(%s) is %s', (batch, ok) => {
    expect(isBatch(batch)).toBe(ok);
  });

  it('writes instants as UTC timestamp literals, to the millisecond', () => {
    expect(timestampLiteral(Date.UTC(2026, 10, 1, 4, 15, 0, 7))).toBe('2026-11-01 04:15:00.007');
  });

  it.each([
    ['2026-03-14 09:15:00.000000', Date.UTC(2026, 2, 14, 9, 15)],
    ['2026-03-14 09:15:00', Date.UTC(2026, 2, 14, 9, 15)],
    ['2026-03-14 09:15:00.5', Date.UTC(2026, 2, 14, 9, 15, 0, 500)],
  ])('reads the slot %s as Athena or DuckDB writes it', (text, ms) => {
    expect(parseSlotStart(text)).toBe(ms);
  });

  it('refuses a slot that is not a timestamp', () => {
    expect(() => parseSlotStart('14/Mar/2026')).toThrow(SqlInputError);
  });
});

const aggregationTables = {
  database: 'partner_audit',
  rollup: 'usage_rollup',
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
};
const marchRead = { startMs: Date.UTC(2026, 1, 28, 10), endMs: Date.UTC(2026, 3, 1, 12) };

describe('partnerDailyUsageSql (Trino dialect)', () => {
  it('attributes and sums per partner, application, dataset and local day with the golden text', () => {
    const q = partnerDailyUsageSql(TRINO, aggregationTables, {
      range: marchRead,
      fromDate: '2026-03-01',
      toDate: '2026-04-01',
    });
    expect(q.params).toEqual([
      "'2026-02-28 10:00:00.000'",
      "'2026-04-01 12:00:00.000'",
      "'2026-03-01'",
      "'2026-04-01'",
    ]);
    expect(q.sql).toBe(`WITH usage AS (
  SELECT slot_start, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records
  FROM "partner_audit"."usage_rollup"
  WHERE slot_start >= CAST(? AS timestamp)
    AND slot_start < CAST(? AS timestamp)
    AND (grain IS NULL OR grain = 'usage') AND substr(operation, 1, 11) <> '(malformed:' AND operation <> '(repeats-dropped)'
),
pairs AS (
  SELECT DISTINCT requester, access_point FROM usage
),
arns AS (
  SELECT requester, access_point,
    split_part(requester, ':', 2) AS arn_partition,
    split_part(requester, ':', 3) AS arn_service,
    split_part(requester, ':', 5) AS arn_account,
    substr(requester, length(split_part(requester, ':', 2)) + length(split_part(requester, ':', 3)) + 21) AS arn_resource
  FROM pairs
  WHERE regexp_like(requester, '^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:')
),
parsed_arns AS (
  SELECT * FROM arns
  WHERE length(arn_resource) > 0 AND strpos(arn_resource, chr(10)) = 0 AND strpos(arn_resource, chr(13)) = 0 AND strpos(arn_resource, chr(8232)) = 0 AND strpos(arn_resource, chr(8233)) = 0
),
sessions AS (
  SELECT requester, access_point,
    arn_partition || ':' || arn_account || ':' || split_part(substr(arn_resource, 14), '/', 1) AS role_key
  FROM parsed_arns
  WHERE arn_service = 'sts' AND substr(arn_resource, 1, 13) = 'assumed-role/'
    AND split_part(substr(arn_resource, 14), '/', 1) <> ''
),
matches AS (
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM pairs q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'requester' AND p.match_key = q.requester
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM sessions q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'role' AND p.match_key = q.role_key
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM pairs q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'access-point' AND q.access_point <> '-' AND p.match_key = q.access_point
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM pairs q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'glob' AND q.requester LIKE p.match_key ESCAPE '\\'
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM parsed_arns q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'account' AND p.match_key = q.arn_account
),
ranked AS (
  SELECT requester, access_point, partner_id, application_id, time_zone,
    row_number() OVER (PARTITION BY requester, access_point ORDER BY rank) AS position
  FROM matches
),
attributed AS (
  SELECT requester, access_point, partner_id, application_id, time_zone FROM ranked WHERE position = 1
),
slot_days AS (
  SELECT s.slot_start, z.time_zone, CAST(CAST(from_unixtime(to_unixtime(s.slot_start), z.time_zone) AS date) AS varchar) AS local_date
  FROM (SELECT DISTINCT slot_start FROM usage) s
  CROSS JOIN (SELECT DISTINCT time_zone FROM attributed) z
),
by_day AS (
  SELECT a.partner_id, a.application_id, u.dataset, u.operation, u.status_class, z.local_date,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM usage u
  JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
  JOIN slot_days z ON z.slot_start = u.slot_start AND z.time_zone = a.time_zone
  GROUP BY 1, 2, 3, 4, 5, 6
),
dated AS (
  SELECT partner_id, application_id, dataset, operation, status_class, local_date,
    substr(local_date, 1, 8) || '01' AS month_start, requests, bytes_sent, records
  FROM by_day
  WHERE local_date >= ?
    AND local_date < ?
),
versions AS (
  SELECT DISTINCT partner_id, contract_ordinal, effective_from, effective_to FROM "partner_audit"."registry_contract_terms"
),
in_force AS (
  SELECT m.partner_id, m.month_start, min(v.contract_ordinal) AS contract_ordinal
  FROM (SELECT DISTINCT partner_id, month_start FROM dated) m
  JOIN versions v ON v.partner_id = m.partner_id AND v.effective_from <= m.month_start
    AND (v.effective_to IS NULL OR m.month_start < v.effective_to)
  GROUP BY m.partner_id, m.month_start
),
governed AS (
  SELECT t.partner_id, t.application_id, t.dataset, t.operation, t.status_class, t.local_date,
    f.contract_ordinal, t.requests, t.bytes_sent, t.records
  FROM dated t
  JOIN in_force f ON f.partner_id = t.partner_id AND f.month_start = t.month_start
),
counted_operations AS (
  SELECT DISTINCT g.partner_id, g.contract_ordinal, g.operation
  FROM (SELECT DISTINCT partner_id, contract_ordinal, operation FROM governed) g
  JOIN "partner_audit"."registry_contract_terms" o ON o.partner_id = g.partner_id AND o.contract_ordinal = g.contract_ordinal
    AND o.term = 'operation' AND g.operation LIKE o.match_key ESCAPE '\\'
)
SELECT g.partner_id, g.application_id, g.dataset, g.local_date,
  sum(g.requests) AS requests, sum(g.bytes_sent) AS bytes_sent, sum(g.records) AS records
FROM governed g
JOIN counted_operations o ON o.partner_id = g.partner_id AND o.contract_ordinal = g.contract_ordinal
  AND o.operation = g.operation
JOIN "partner_audit"."registry_contract_terms" s ON s.partner_id = g.partner_id AND s.contract_ordinal = g.contract_ordinal
  AND s.term = 'status' AND s.match_key = g.status_class
GROUP BY g.partner_id, g.application_id, g.dataset, g.local_date
ORDER BY g.partner_id, g.application_id, g.dataset, g.local_date`);
  });
});

describe('unattributedUsageSql (Trino dialect)', () => {
  it('keeps the top N unclaimed pairs with totals, with the golden text', () => {
    const q = unattributedUsageSql(TRINO, aggregationTables, { range: marchRead, top: 50 });
    expect(q.params).toEqual(["'2026-02-28 10:00:00.000'", "'2026-04-01 12:00:00.000'", '50']);
    expect(q.sql).toBe(`WITH usage AS (
  SELECT slot_start, requester, access_point, dataset, operation, status_class, requests, bytes_sent, records
  FROM "partner_audit"."usage_rollup"
  WHERE slot_start >= CAST(? AS timestamp)
    AND slot_start < CAST(? AS timestamp)
    AND (grain IS NULL OR grain = 'usage') AND substr(operation, 1, 11) <> '(malformed:' AND operation <> '(repeats-dropped)'
),
pairs AS (
  SELECT DISTINCT requester, access_point FROM usage
),
arns AS (
  SELECT requester, access_point,
    split_part(requester, ':', 2) AS arn_partition,
    split_part(requester, ':', 3) AS arn_service,
    split_part(requester, ':', 5) AS arn_account,
    substr(requester, length(split_part(requester, ':', 2)) + length(split_part(requester, ':', 3)) + 21) AS arn_resource
  FROM pairs
  WHERE regexp_like(requester, '^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:')
),
parsed_arns AS (
  SELECT * FROM arns
  WHERE length(arn_resource) > 0 AND strpos(arn_resource, chr(10)) = 0 AND strpos(arn_resource, chr(13)) = 0 AND strpos(arn_resource, chr(8232)) = 0 AND strpos(arn_resource, chr(8233)) = 0
),
sessions AS (
  SELECT requester, access_point,
    arn_partition || ':' || arn_account || ':' || split_part(substr(arn_resource, 14), '/', 1) AS role_key
  FROM parsed_arns
  WHERE arn_service = 'sts' AND substr(arn_resource, 1, 13) = 'assumed-role/'
    AND split_part(substr(arn_resource, 14), '/', 1) <> ''
),
matches AS (
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM pairs q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'requester' AND p.match_key = q.requester
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM sessions q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'role' AND p.match_key = q.role_key
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM pairs q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'access-point' AND q.access_point <> '-' AND p.match_key = q.access_point
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM pairs q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'glob' AND q.requester LIKE p.match_key ESCAPE '\\'
  UNION ALL
  SELECT q.requester, q.access_point, p.rank, p.partner_id, p.application_id, p.time_zone FROM parsed_arns q
    JOIN "partner_audit"."registry_principals" p ON p.match_on = 'account' AND p.match_key = q.arn_account
),
ranked AS (
  SELECT requester, access_point, partner_id, application_id, time_zone,
    row_number() OVER (PARTITION BY requester, access_point ORDER BY rank) AS position
  FROM matches
),
attributed AS (
  SELECT requester, access_point, partner_id, application_id, time_zone FROM ranked WHERE position = 1
),
ignored AS (
  SELECT DISTINCT q.requester
  FROM pairs q
  JOIN "partner_audit"."registry_ignored_requesters" i
    ON q.requester LIKE i.match_key ESCAPE '\\' AND (q.requester <> '-' OR i.anonymous)
),
strangers AS (
  SELECT u.requester, u.access_point, u.dataset, u.status_class,
    sum(u.requests) AS requests, sum(u.bytes_sent) AS bytes_sent, sum(u.records) AS records
  FROM usage u
  LEFT JOIN attributed a ON a.requester = u.requester AND a.access_point = u.access_point
  LEFT JOIN ignored i ON i.requester = u.requester
  WHERE a.partner_id IS NULL AND i.requester IS NULL
  GROUP BY 1, 2, 3, 4
),
partner_datasets AS (
  SELECT DISTINCT s.dataset
  FROM (SELECT DISTINCT dataset FROM strangers WHERE dataset <> '-') s
  JOIN "partner_audit"."registry_contract_terms" t ON t.term = 'dataset' AND s.dataset LIKE t.match_key ESCAPE '\\'
),
by_dataset AS (
  SELECT s.requester, s.access_point, s.dataset,
    sum(s.requests) AS requests, sum(s.bytes_sent) AS bytes_sent, sum(s.records) AS records,
    max(CASE WHEN s.status_class IN ('2xx', '3xx') AND pd.dataset IS NOT NULL THEN 1 ELSE 0 END) AS touched
  FROM strangers s
  LEFT JOIN partner_datasets pd ON pd.dataset = s.dataset
  GROUP BY 1, 2, 3
),
by_pair AS (
  SELECT requester, access_point,
    sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, sum(records) AS records
  FROM by_dataset
  GROUP BY 1, 2
),
ranked_pairs AS (
  SELECT requester, access_point,
    row_number() OVER (ORDER BY requests DESC, requester, access_point) AS position,
    count(*) OVER () AS pairs_total,
    sum(requests) OVER () AS requests_total,
    sum(bytes_sent) OVER () AS bytes_sent_total,
    sum(records) OVER () AS records_total
  FROM by_pair
)
SELECT r.position, b.requester, b.access_point, b.dataset, b.requests, b.bytes_sent, b.records, b.touched,
  r.pairs_total, r.requests_total, r.bytes_sent_total, r.records_total
FROM by_dataset b
JOIN ranked_pairs r ON r.requester = b.requester AND r.access_point = b.access_point
WHERE r.position <= ?
ORDER BY r.position, b.dataset`);
  });
});
