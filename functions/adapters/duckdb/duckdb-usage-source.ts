/** The usage rollup of the local state file, read as the `UsageSource` port. */
import type { Interval } from '../../domain/time.js';
import type { StatusClass, UsageRow } from '../../domain/usage.js';
import type { UsageSource } from '../../ports.js';
import type { DuckDbDatabase } from './duckdb-database.js';
import { SQL, usageQuery } from './schema.js';

/** DuckDB implementation of `UsageSource`: sums the rollup the local ingester wrote. */
export class DuckDbUsageSource implements UsageSource {
  readonly engine = 'duckdb';

  constructor(private readonly database: DuckDbDatabase) {}

  usage(range: Interval): Promise<UsageRow[]> {
    return this.database.serial('usage', async (connection) => {
      const query = usageQuery(range);
      const reader = await connection.runAndReadAll(query.sql, [...query.params]);
      // Column-wise reading is several times faster than row-wise for large results.
      const [slot, bucket, requester, accessPoint, dataset, operation, status, requests, bytes, records] =
        reader.getColumns() as [
          bigint[],
          string[],
          string[],
          string[],
          string[],
          string[],
          StatusClass[],
          bigint[],
          bigint[],
          bigint[],
        ];
      const rows: UsageRow[] = new Array(reader.currentRowCount);
      for (let i = 0; i < rows.length; i++) {
        rows[i] = {
          slotStart: Number(slot[i]),
          bucket: bucket[i]!,
          requester: requester[i]!,
          accessPoint: accessPoint[i]!,
          dataset: dataset[i]!,
          operation: operation[i]!,
          statusClass: status[i]!,
          requests: requests[i]!,
          bytesSent: bytes[i]!,
          records: records[i]!,
        };
      }
      return rows;
    });
  }

  /** First and last slot start (epoch ms) in the rollup, or undefined when it is empty. */
  dataExtent(): Promise<{ minMs: number; maxMs: number } | undefined> {
    return this.database.serial('dataExtent', async (connection) => {
      const [min, max] = (await connection.runAndReadAll(SQL.dataExtent)).getRows()[0] ?? [];
      if (min === null || min === undefined || max === null || max === undefined) return undefined;
      return { minMs: Number(min), maxMs: Number(max) };
    });
  }
}
