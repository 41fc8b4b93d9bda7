/**
 * DuckDB's memory limit, owned by whoever opens the database. A refresh of the daily pre-aggregate
 * lowers the limit while it runs (daily-rollup.ts) and must then set the database's own limit back,
 * exactly, which DuckDB does not allow without knowing the number:
 * - `RESET memory_limit` resets the setting's text (`current_setting` reads the default again) but
 *   leaves the lowered limit in force (the buffer manager's, which `pragma_database_size` reports);
 * - the limit reads back rounded (`18.8 GiB`), so setting back what was read drifts (18.7 GiB).
 * So the state's database is opened with a limit in bytes chosen here ({@link stateMemoryLimit}, DuckDB's
 * own rule of 80 % of the machine's memory, in whole MiB), and that number is what is set back.
 */
import { totalmem } from 'node:os';
import process from 'node:process';
import type { DuckDBConnection } from '@duckdb/node-api';

const MIB = 2 ** 20;

/**
 * The memory limit the state's database is opened with, in bytes: 80 % of the memory this process may
 * use (the machine's, or its control group's where lower), in whole MiB.
 */
export function stateMemoryLimit(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const available = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return Math.floor((available * 0.8) / MIB) * MIB;
}

/** DuckDB's text for a limit of `bytes` (for `SET memory_limit` and the `memory_limit` option). */
export function memoryLimitSetting(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < MIB) {
    throw new RangeError(`a memory limit must be a whole number of bytes of at least 1 MiB, got ${bytes}`);
  }
  return `${bytes} bytes`;
}

/** The limit DuckDB enforces, as it prints it (its buffer manager's; not `current_setting`, see above). */
export async function memoryLimitInForce(connection: DuckDBConnection): Promise<string> {
  const reader = await connection.runAndReadAll('SELECT memory_limit FROM pragma_database_size() LIMIT 1');
  return String(reader.getRows()[0]![0]);
}

/**
 * Runs `work` with DuckDB's limit lowered to `lowerTo` bytes where the database's own limit,
 * `databaseLimit` bytes (what it was opened with), is higher, and sets `databaseLimit` back after,
 * exactly, whether `work` succeeded or not.
 */
export async function withLoweredMemoryLimit<T>(
  connection: DuckDBConnection,
  lowerTo: number,
  databaseLimit: number,
  work: () => Promise<T>,
): Promise<T> {
  const back = memoryLimitSetting(databaseLimit);
  if (!(lowerTo < databaseLimit)) return work();
  await connection.run(`SET memory_limit = '${memoryLimitSetting(lowerTo)}'`);
  try {
    return await work();
  } finally {
    await connection.run(`SET memory_limit = '${back}'`);
  }
}
