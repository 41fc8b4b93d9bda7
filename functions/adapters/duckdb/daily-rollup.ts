/**
 * The rollup's daily pre-aggregate per time zone: the rollup's rows summed per local day of a zone,
 * requester, access point, dataset, operation and status class, kept per rollup batch, so that the
 * local evaluation reads one row per key and day instead of one per key and 15-minute slot (96 times
 * fewer at the founding case's density; functions/adapters/sql/usage-aggregation-sql.ts, DailySource).
 *
 * It is derived data, rebuilt from the rollup and never from the logs:
 * - per zone and batch: a marker row records the batch's rollup rows, slot extent and the signature of
 *   its recorded files (their number and latest ingestion time, and the ingestion settings), so a batch
 *   that re-ingestion replaced or removed, or a rollup rebuilt under new settings, is found and its
 *   daily rows dropped and rebuilt;
 * - a zone is materialised on demand, the first time a registry uses it (a partner moving to another
 *   zone applies to past usage without reading logs again);
 * - attribution stays in SQL at read time (the rows keep the requester and access point), so a change
 *   of the registry's principals applies to the past as it does on the slot rows.
 * One refresh is one transaction: a failure part-way leaves the tables as they were; a large one (a
 * state's first build) commits batch by batch, each batch's rows with its markers (commitRows).
 *
 * Building one batch for several zones reads its slot rows once: they are summed per "segment", the
 * runs of slots that share their local day in every zone built (a few a day), and each zone's days are
 * then summed from the segments.
 */
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { SLOT_MS } from '../../domain/usage.js';
import { withLoweredMemoryLimit } from './memory-limit.js';
import { SETTING_INGESTION } from './schema.js';

/** A zone the pre-aggregate cannot be kept in. */
export class InvalidDailyZoneError extends Error {
  override readonly name = 'InvalidDailyZoneError';
  constructor(
    readonly timeZone: string,
    readonly reason: string,
  ) {
    super(`time zone "${timeZone}": ${reason}`);
  }
}

/** The tables of the pre-aggregate, in the state file beside the rollup. */
export const DAILY_ROLLUP_TABLES = Object.freeze({
  daily: 'rollup_daily',
  batches: 'rollup_daily_batches',
  zones: 'rollup_daily_zones',
});

/** Idempotent; no constraints, so that a batch's rows can be dropped and rebuilt in one transaction. */
export const CREATE_DAILY_ROLLUP: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS rollup_daily_zones (
    zone_id INTEGER NOT NULL,
    time_zone VARCHAR NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS rollup_daily_batches (
    zone_id INTEGER NOT NULL,
    batch VARCHAR NOT NULL,
    rollup_rows BIGINT NOT NULL,
    min_slot BIGINT,
    max_slot BIGINT,
    files VARCHAR NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS rollup_daily (
    zone_id INTEGER NOT NULL,
    batch VARCHAR NOT NULL,
    local_date VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,
    status_class VARCHAR NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    records BIGINT NOT NULL
  )`,
];

/** A zone of the pre-aggregate and its id in `rollup_daily`. */
export interface DailyZone {
  readonly timeZone: string;
  readonly id: number;
}

/** What a refresh found and did. */
export interface DailyRollupRefresh {
  /** The zones asked for, with their ids, in the order asked. */
  readonly zones: readonly DailyZone[];
  /** `counts`: the markers agreed with the rollup's row count and the recorded files, nothing read. */
  readonly check: 'counts' | 'census';
  /** Batch and zone pairs whose daily rows were dropped (replaced or removed batches). */
  readonly dropped: number;
  /** Batch and zone pairs built. */
  readonly built: number;
  /** Rollup rows read to build them. */
  readonly rowsRead: number;
}

/** Steps a refresh reports, for tests that fail it part-way. */
export type DailyRollupStep = 'dropped' | 'staged' | 'built';

export interface DailyRollupOptions {
  /** Called after each step (a test throws here to fail the refresh part-way). */
  readonly onStep?: (step: DailyRollupStep, batch?: string) => void;
  /**
   * DuckDB's memory limit while the refresh runs, where the database's own (`databaseMemoryLimit`) is
   * higher: DuckDB's default is 80 % of the machine's memory, and a cold build of 10 founding-case
   * partners then peaked at 1.3 GB against 0.63 GB under 500 MB (spilling to the state's temporary
   * directory). @default '512MB'
   */
  readonly memoryLimit?: string;
  /**
   * The database's own memory limit in bytes, as it was opened with (DuckDbDatabase.memoryLimit,
   * memory-limit.ts): the refresh sets it back after lowering it to `memoryLimit`, exactly. Without it
   * the refresh leaves the limit as it is: DuckDB reads its limit back rounded, and `RESET` leaves a
   * lowered limit in force, so a limit the refresh was not told cannot be set back.
   */
  readonly databaseMemoryLimit?: number;
  /**
   * A refresh that reads more rollup rows than this commits each batch (its daily rows and markers)
   * in its own transaction, the dropped batches with the first: a failure part-way then leaves the
   * batches before it built (their rows and markers together, so the tables stay consistent) and the
   * rest to the next refresh. Below it the refresh is one transaction. @default 8,000,000
   */
  readonly commitRows?: number;
}

/** See {@link DailyRollupOptions.commitRows}. */
const COMMIT_ROWS = 8_000_000;

const UNITS: Record<string, number> = {
  bytes: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/** Bytes of a DuckDB memory size (`512MB`, `18.8 GiB`); NaN when it is not one. */
export function memoryBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$/.exec(text.trim());
  const unit = m && UNITS[m[2]!];
  return m && unit ? Number(m[1]) * unit : Number.NaN;
}

/** About how many rollup rows one staging statement sums (its groups are held in memory). */
const STAGE_ROWS = 8_000_000;

interface BatchCensus {
  readonly rows: number;
  readonly minSlot: number | null;
  readonly maxSlot: number | null;
  /** The batch's code in `rollup_rows` (schema.ts); -1 for a batch without rows. */
  readonly code: number;
}

interface Marker {
  readonly rows: number;
  readonly files: string;
}

function rowsOf(reader: { getRows(): unknown[][] }): unknown[][] {
  return reader.getRows();
}

function num(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/**
 * Brings the pre-aggregate of `zones` up to date with the rollup, in one transaction on `connection`
 * (which must not be inside one; a large refresh in one a batch, see commitRows), and returns the
 * zones' ids.
 *
 * @throws InvalidDailyZoneError when a zone is not an IANA name DuckDB knows.
 */
export async function refreshDailyRollup(
  connection: DuckDBConnection,
  zones: readonly string[],
  options: DailyRollupOptions = {},
): Promise<DailyRollupRefresh> {
  const asked = [...new Set(zones)];
  for (const zone of asked) await checkZone(connection, zone);
  for (const statement of CREATE_DAILY_ROLLUP) await connection.run(statement);
  const limit = options.memoryLimit ?? '512MB';
  const lowerTo = memoryBytes(limit);
  if (Number.isNaN(lowerTo)) {
    throw new RangeError(`memoryLimit must be a size such as 512MB, got "${limit}"`);
  }
  const inTransaction = async () => {
    await connection.run('BEGIN TRANSACTION');
    try {
      const result = await refreshInTransaction(connection, asked, options);
      await connection.run('COMMIT');
      return result;
    } catch (error) {
      try {
        await connection.run('ROLLBACK');
      } catch {
        // A failed COMMIT has already ended the transaction; the first error is the one to report.
      }
      throw error;
    }
  };
  return options.databaseMemoryLimit === undefined
    ? inTransaction()
    : withLoweredMemoryLimit(connection, Math.floor(lowerTo), options.databaseMemoryLimit, inTransaction);
}

async function checkZone(connection: DuckDBConnection, zone: string): Promise<void> {
  const known = await connection.runAndReadAll('SELECT 1 FROM pg_timezone_names() WHERE name = $1', [zone]);
  if (known.currentRowCount === 0) throw new InvalidDailyZoneError(zone, 'DuckDB knows no such zone');
}

async function zoneIds(connection: DuckDBConnection, zones: readonly string[]): Promise<DailyZone[]> {
  const known = new Map<string, number>();
  let next = 1;
  for (const [id, name] of rowsOf(
    await connection.runAndReadAll('SELECT zone_id, time_zone FROM rollup_daily_zones'),
  )) {
    known.set(String(name), Number(id));
    next = Math.max(next, Number(id) + 1);
  }
  const result: DailyZone[] = [];
  for (const timeZone of zones) {
    let id = known.get(timeZone);
    if (id === undefined) {
      id = next++;
      known.set(timeZone, id);
      await connection.run('INSERT INTO rollup_daily_zones (zone_id, time_zone) VALUES ($1, $2)', [
        id,
        timeZone,
      ]);
    }
    result.push({ timeZone, id });
  }
  return result;
}

/** The signature of each batch's recorded files; batches written without files have none. */
async function fileSignatures(connection: DuckDBConnection): Promise<Map<string, string>> {
  const settings =
    rowsOf(
      await connection.runAndReadAll('SELECT value FROM settings WHERE key = $1', [SETTING_INGESTION]),
    )[0]?.[0] ?? '';
  const result = new Map<string, string>();
  for (const [batch, files, latest] of rowsOf(
    await connection.runAndReadAll(`SELECT coalesce(batch, fingerprint), count(*)::VARCHAR,
        coalesce(max(epoch_ms(ingested_at)), 0)::VARCHAR
      FROM ingested_files GROUP BY 1`),
  )) {
    result.set(String(batch), `${files}:${latest}:${String(settings)}`);
  }
  return result;
}

async function refreshInTransaction(
  connection: DuckDBConnection,
  asked: readonly string[],
  options: DailyRollupOptions,
): Promise<DailyRollupRefresh> {
  const zones = await zoneIds(connection, asked);
  const total = Number(rowsOf(await connection.runAndReadAll('SELECT count(*) FROM rollup_rows'))[0]![0]);
  const files = await fileSignatures(connection);
  const markers = new Map<number, Map<string, Marker>>(zones.map((z) => [z.id, new Map()]));
  for (const [zone, batch, rows, signature] of rowsOf(
    await connection.runAndReadAll('SELECT zone_id, batch, rollup_rows, files FROM rollup_daily_batches'),
  )) {
    markers.get(Number(zone))?.set(String(batch), { rows: Number(rows), files: String(signature) });
  }
  const upToDate = (zone: DailyZone): boolean => {
    const mine = markers.get(zone.id)!;
    let rows = 0;
    for (const m of mine.values()) rows += m.rows;
    if (rows !== total) return false;
    for (const [batch, signature] of files) if (mine.get(batch)?.files !== signature) return false;
    return true;
  };
  if (zones.every(upToDate)) return { zones, check: 'counts', dropped: 0, built: 0, rowsRead: 0 };

  // Something changed: count every batch of the rollup (one pass over two integer columns; each
  // batch's name decoded once, after the grouping).
  const census = new Map<string, BatchCensus>();
  for (const [batch, code, rows, minSlot, maxSlot] of rowsOf(
    await connection.runAndReadAll(
      `SELECT s.value, c.batch, c.n, c.min_slot, c.max_slot
      FROM (SELECT batch, count(*) AS n, min(slot_start) AS min_slot, max(slot_start) AS max_slot
        FROM rollup_rows GROUP BY batch) c
      JOIN rollup_strings s ON s.id = c.batch`,
    ),
  )) {
    census.set(String(batch), {
      rows: Number(rows),
      minSlot: num(minSlot),
      maxSlot: num(maxSlot),
      code: Number(code),
    });
  }
  // Recorded batches without rows (unreadable files) get a marker of zero rows, so the check above holds.
  for (const batch of files.keys()) {
    if (!census.has(batch)) census.set(batch, { rows: 0, minSlot: null, maxSlot: null, code: -1 });
  }
  const signatureOf = (batch: string) => files.get(batch) ?? '';
  let dropped = 0;
  const toBuild = new Map<string, DailyZone[]>();
  for (const zone of zones) {
    const mine = markers.get(zone.id)!;
    const stale = [...mine].filter(([batch, m]) => {
      const c = census.get(batch);
      return !c || c.rows !== m.rows || m.files !== signatureOf(batch);
    });
    if (stale.length > 0) {
      const batches = stale.map(([batch]) => batch);
      await connection.run(
        'DELETE FROM rollup_daily WHERE zone_id = $1 AND batch IN (SELECT unnest($2::VARCHAR[]))',
        [zone.id, listOf(batches)],
      );
      await connection.run(
        'DELETE FROM rollup_daily_batches WHERE zone_id = $1 AND batch IN (SELECT unnest($2::VARCHAR[]))',
        [zone.id, listOf(batches)],
      );
      for (const batch of batches) mine.delete(batch);
      dropped += batches.length;
    }
    for (const batch of census.keys()) {
      if (mine.has(batch)) continue;
      let list = toBuild.get(batch);
      if (!list) {
        list = [];
        toBuild.set(batch, list);
      }
      list.push(zone);
    }
  }
  options.onStep?.('dropped');
  let built = 0;
  let rowsRead = 0;
  // A large refresh commits batch by batch: DuckDB holds a transaction's new rows in memory (spilling
  // only part), so one transaction for a state's first build outgrew any fixed limit.
  let toRead = 0;
  for (const batch of toBuild.keys()) toRead += census.get(batch)!.rows;
  const commitEach = toRead > (options.commitRows ?? COMMIT_ROWS);
  for (const [batch, batchZones] of [...toBuild].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const c = census.get(batch)!;
    if (c.rows > 0) await buildBatch(connection, batch, c, batchZones, options);
    for (const zone of batchZones) {
      await connection.run(
        `INSERT INTO rollup_daily_batches (zone_id, batch, rollup_rows, min_slot, max_slot, files)
          VALUES ($1, $2, $3, $4, $5, $6)`,
        [zone.id, batch, c.rows, c.minSlot, c.maxSlot, signatureOf(batch)],
      );
    }
    built += batchZones.length;
    rowsRead += c.rows;
    options.onStep?.('built', batch);
    if (commitEach) {
      await connection.run('COMMIT');
      await connection.run('BEGIN TRANSACTION');
    }
  }
  return { zones, check: 'census', dropped, built, rowsRead };
}

function listOf(values: readonly string[]) {
  return listValue([...values]);
}

/** The daily rows of one batch for `zones`, from its slot rows read once (see the file's comment). */
async function buildBatch(
  connection: DuckDBConnection,
  batch: string,
  census: BatchCensus,
  zones: readonly DailyZone[],
  options: DailyRollupOptions,
): Promise<void> {
  await connection.run(
    `CREATE OR REPLACE TEMP TABLE daily_slot_days AS
    SELECT s.slot_start, z.zone_id,
      CAST(CAST(timezone(z.time_zone, to_timestamp(s.slot_start // 1000)) AS DATE) AS VARCHAR) AS local_date
    FROM (SELECT unnest(range($1::BIGINT, $2::BIGINT + 1, ${SLOT_MS})) AS slot_start) s
    CROSS JOIN (SELECT unnest($3::INTEGER[]) AS zone_id, unnest($4::VARCHAR[]) AS time_zone) z`,
    [
      census.minSlot,
      census.maxSlot,
      listValue(zones.map((z) => z.id)),
      listValue(zones.map((z) => z.timeZone)),
    ],
  );
  // Runs of slots sharing their local day in every zone ("segments"), each named by its first slot:
  // slots are in order and local days never go back, so a segment is an interval of slots.
  await connection.run(`CREATE OR REPLACE TEMP TABLE daily_slot_segments AS
    SELECT slot_start, min(slot_start) OVER (PARTITION BY days) AS segment_start
    FROM (SELECT slot_start, string_agg(local_date, ',' ORDER BY zone_id) AS days
      FROM daily_slot_days GROUP BY slot_start)`);
  const segments = rowsOf(
    await connection.runAndReadAll(`SELECT segment_start, max(slot_start)
      FROM daily_slot_segments GROUP BY segment_start ORDER BY segment_start`),
  ).map(([from, to]) => [Number(from), Number(to)] as const);
  // Staged as the rollup stores them, by integer code (schema.ts): grouped by codes, and each zone's
  // daily rows decoded after their grouping, once per distinct code, never per slot row.
  await connection.run(`CREATE OR REPLACE TEMP TABLE daily_stage (
    segment_start BIGINT NOT NULL, requester INTEGER NOT NULL, access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL, operation INTEGER NOT NULL, status_class INTEGER NOT NULL,
    requests HUGEINT NOT NULL, bytes_sent HUGEINT NOT NULL, records HUGEINT NOT NULL)`);
  // Segments summed a few at a time, so that one statement's groups stay within memory: about
  // STAGE_ROWS rollup rows a statement, judged from the batch's rows per slot.
  const span = (census.maxSlot! - census.minSlot!) / SLOT_MS + 1;
  const rowsPerSlot = census.rows / span;
  let chunkFrom = segments[0]![0];
  let chunkRows = 0;
  for (let i = 0; i < segments.length; i++) {
    const [from, to] = segments[i]!;
    chunkRows += ((to - from) / SLOT_MS + 1) * rowsPerSlot;
    if (i < segments.length - 1 && chunkRows + rowsPerSlot * 96 < STAGE_ROWS) continue;
    await connection.run(
      `INSERT INTO daily_stage
      SELECT g.segment_start, r.requester, r.access_point, r.dataset, r.operation, r.status_class,
        sum(r.requests), sum(r.bytes_sent), sum(r.records)
      FROM rollup_rows r JOIN daily_slot_segments g ON g.slot_start = r.slot_start
      WHERE r.batch = $1::INTEGER AND r.slot_start >= $2::BIGINT AND r.slot_start <= $3::BIGINT
      GROUP BY g.segment_start, r.requester, r.access_point, r.dataset, r.operation, r.status_class`,
      [census.code, chunkFrom, to],
    );
    chunkFrom = segments[i + 1]?.[0] ?? chunkFrom;
    chunkRows = 0;
  }
  options.onStep?.('staged', batch);
  for (const zone of zones) {
    await connection.run(
      `INSERT INTO rollup_daily
      SELECT $1::INTEGER, $2, x.local_date, q.value, a.value, t.value, o.value, c.value,
        x.requests, x.bytes_sent, x.records
      FROM (
        SELECT d.local_date, s.requester, s.access_point, s.dataset, s.operation, s.status_class,
          CAST(sum(s.requests) AS BIGINT) AS requests, CAST(sum(s.bytes_sent) AS BIGINT) AS bytes_sent,
          CAST(sum(s.records) AS BIGINT) AS records
        FROM daily_stage s
        JOIN daily_slot_days d ON d.slot_start = s.segment_start AND d.zone_id = $1::INTEGER
        GROUP BY d.local_date, s.requester, s.access_point, s.dataset, s.operation, s.status_class
      ) x
      JOIN rollup_strings q ON q.id = x.requester
      JOIN rollup_strings a ON a.id = x.access_point
      JOIN rollup_strings t ON t.id = x.dataset
      JOIN rollup_strings o ON o.id = x.operation
      JOIN rollup_strings c ON c.id = x.status_class`,
      [zone.id, batch],
    );
  }
  await connection.run('DROP TABLE daily_stage');
  await connection.run('DROP TABLE daily_slot_segments');
  await connection.run('DROP TABLE daily_slot_days');
}
