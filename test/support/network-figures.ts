/**
 * The network table of a local state, summed over batches by its key: what re-ingestion, replaced files,
 * repeated deliveries and crashes must leave unchanged.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDbDatabase } from '../../functions/adapters/duckdb/duckdb-database.js';

export const NETWORK_FIGURES_SQL = `SELECT slot_start, requester, access_point, source_address, source_prefix,
    address_class, vpce, source_region, sum(requests)::BIGINT, sum(bytes_sent)::BIGINT, min(first_ms), max(last_ms)
  FROM network_usage
  GROUP BY ALL
  ORDER BY ALL`;

/** One line per network key: its columns and sums, as text. */
export async function networkFiguresOf(database: DuckDbDatabase): Promise<string[]> {
  return database.serial('networkFigures', async (connection) => {
    const reader = await connection.runAndReadAll(NETWORK_FIGURES_SQL);
    return reader.getRows().map((r) => r.map(String).join(' | '));
  });
}

/** The same, from a state file no process has open. */
export async function networkFiguresOfFile(path: string): Promise<string[]> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(NETWORK_FIGURES_SQL);
    return reader.getRows().map((r) => r.map(String).join(' | '));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
