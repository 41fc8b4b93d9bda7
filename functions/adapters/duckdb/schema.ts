/**
 * The DuckDB store's schema and its SQL. Every statement is constant text with positional parameters:
 * values never enter SQL by concatenation.
 *
 * `rollup.slot_start` is BIGINT epoch milliseconds (UTC), the same number `UsageKey.slotStart` carries,
 * so no time zone or TIMESTAMP conversion sits between the store and the domain.
 */
import type { Interval } from '../../domain/time.js';
import { HOLDINGS_SCHEMA } from './holdings-writer.js';
import { NETWORK_SQL, NETWORK_TABLE_SCHEMA, upgradeNetwork } from './network-store.js';
import { DICTIONARY_LIST } from './rollup-strings.js';

/** Bumped when a table changes shape; a file written with another version is refused, not guessed at. */
export const SCHEMA_VERSION = '1';

/** `settings` keys. */
export const SETTING_SCHEMA_VERSION = 'schema_version';
export const SETTING_INGESTION = 'ingestion_settings';
/** `on` when the last ingestion kept the holdings table (the registry's settings.holdings), else `off`. */
export const SETTING_HOLDINGS = 'holdings';

/**
 * The rollup, stored coded: every string column (and the batch) as an integer naming a string of
 * `rollup_strings`. Writing 330,000 rows of six strings and a batch name per million log lines cost
 * DuckDB about twice the time and memory of the same rows as integers, and the final checkpoint more
 * still (BENCHMARKS.md, issue 15). Readers read the view `rollup` (ROLLUP_VIEW), which decodes them
 * under the columns the table had; writers code through ROLLUP_CODE. A state file whose `rollup` is
 * still that table is coded when opened (UPGRADE_ROLLUP).
 */
const ROLLUP_TABLES: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS rollup_rows (
    slot_start BIGINT NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    operation INTEGER NOT NULL,
    status_class INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    records BIGINT NOT NULL,
    batch INTEGER NOT NULL
  )`,
  // Each string once (stringCodes in rollup-strings.ts adds only those not there yet: one writer holds
  // the file).
  // Never removed, so that a code read once stays valid (StagedRollup caches them); they are few
  // (buckets, requesters, access points, datasets, operations, status classes, a batch name per group).
  `CREATE TABLE IF NOT EXISTS rollup_strings (
    id INTEGER NOT NULL,
    value VARCHAR NOT NULL
  )`,
];

/**
 * The rollup as its readers know it (replaced at every open, so a file always has this release's): the
 * columns of the table it was, decoded from `rollup_rows` by position in one list of every string
 * (codes are dense from 0: added as max + 1, 2, ..., never removed; a gap would read NULL, never
 * another string). Not joins with `rollup_strings`: seven joins in a view that readers join further let
 * DuckDB's join order put the rollup on a build side (the scale bench's SQL path: 1.4 GB against
 * 260 MB), where one list read once costs what the table did.
 */
const ROLLUP_VIEW = `CREATE OR REPLACE VIEW rollup AS
  SELECT r.slot_start, l.v[r.bucket + 1] AS bucket, l.v[r.requester + 1] AS requester,
    l.v[r.access_point + 1] AS access_point, l.v[r.dataset + 1] AS dataset, l.v[r.operation + 1] AS operation,
    l.v[r.status_class + 1] AS status_class, r.requests, r.bytes_sent, r.records, l.v[r.batch + 1] AS batch
  FROM rollup_rows r, ${DICTIONARY_LIST} l`;

/**
 * Coding rollup rows into `rollup_rows` and `rollup_strings`; constant text, values only as parameters.
 */
export const ROLLUP_CODE = {
  /**
   * Adds the strings of the table `rollup_input` (the rollup's columns, as strings) that
   * `rollup_strings` does not hold yet.
   */
  addInputStrings: `INSERT INTO rollup_strings (id, value)
    SELECT (SELECT coalesce(max(id), -1) FROM rollup_strings) + row_number() OVER (ORDER BY value), value
    FROM (SELECT DISTINCT unnest([bucket, requester, access_point, dataset, operation, status_class, batch])
      AS value FROM rollup_input)
    WHERE value NOT IN (SELECT value FROM rollup_strings)`,
  /** Codes every row of `rollup_input` into `rollup_rows` (after addInputStrings). */
  insertInput: `INSERT INTO rollup_rows (slot_start, bucket, requester, access_point, dataset, operation,
      status_class, requests, bytes_sent, records, batch)
    SELECT x.slot_start, b.id, q.id, a.id, d.id, o.id, c.id, x.requests, x.bytes_sent, x.records, t.id
    FROM rollup_input x
      JOIN rollup_strings b ON b.value = x.bucket
      JOIN rollup_strings q ON q.value = x.requester
      JOIN rollup_strings a ON a.value = x.access_point
      JOIN rollup_strings d ON d.value = x.dataset
      JOIN rollup_strings o ON o.value = x.operation
      JOIN rollup_strings c ON c.value = x.status_class
      JOIN rollup_strings t ON t.value = x.batch`,
} as const;

/** Codes a per-slot network table of strings (network-store.ts); after UPGRADE_ROLLUP, before CREATE_SCHEMA. */
export const UPGRADE_NETWORK: readonly string[] = upgradeNetwork(ROLLUP_TABLES);

/** The rollup table as it was before it was coded: still a table, not the view. */
export const ROLLUP_UNCODED = `SELECT 1 FROM duckdb_tables()
  WHERE table_name = 'rollup' AND schema_name = 'main' AND NOT temporary`;

/**
 * Codes a `rollup` table of the earlier shape into `rollup_rows` (every row, the same figures), then
 * drops it; CREATE_SCHEMA then creates the view in its place. Run in one transaction, before CREATE_SCHEMA.
 */
export const UPGRADE_ROLLUP: readonly string[] = [
  'ALTER TABLE rollup RENAME TO rollup_input',
  ...ROLLUP_TABLES,
  ROLLUP_CODE.addInputStrings,
  ROLLUP_CODE.insertInput,
  'DROP TABLE rollup_input',
];

/** Run once per open; every statement is idempotent. */
export const CREATE_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
  )`,
  ...ROLLUP_TABLES,
  ROLLUP_VIEW,
  // Who asked from where, per slot, beside the rollup (network-store.ts); added after version 1, and
  // filled for old files when the ingestion settings fingerprint (rollup: 5) rebuilds the rollup.
  ...NETWORK_TABLE_SCHEMA,
  // No PRIMARY KEY: DuckDB keeps a key's index whole in memory and writes it whole at every
  // checkpoint, so it grew each run's cost with every object ever recorded (a month of small log
  // objects is 300,000 rows). A fingerprint is still recorded once: one process writes the file (its
  // lock), and recording a file first removes any record with its fingerprint or name
  // (SQL.supersededBatches, a semi-join on the files given). State files made with the key are
  // rebuilt without it when opened (INGESTED_FILES_WITH_KEY).
  ingestedFilesTable('ingested_files'),
  // Repeated deliveries of a request dropped from the file's rows (see request-claims.ts); added after
  // version 1 was released, hence the ALTER and its default for files recorded before.
  'ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS repeats_dropped BIGINT DEFAULT 0',
  // The rollup batch holding the file's rows. Files recorded together share one (their rows summed:
  // thousands of small log objects would otherwise keep a copy of every key per object); NULL, as for
  // files recorded before groups, is the file's own fingerprint. See DuckDbIngestLog.
  'ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS batch VARCHAR',
  // The identities (request id and host id, hashed) that recorded files counted, in a table per event
  // day (UTC, request-claims.ts: claimTable), each with a small integer naming the file that claimed it
  // (request_claim_files): a claim is then two integers, where the file's fingerprint per claim cost a
  // string each. The view `request_claims` shows them all with their day; a new state's, none. State
  // files whose request_claims still has the fingerprint (`batch`) lose that table when opened, and
  // their rollup is rebuilt, since the ingestion settings fingerprint changed with it (rollup: 3);
  // those with one table of claims and their day have it split by day (CLAIMS_ONE_TABLE).
  `CREATE VIEW IF NOT EXISTS request_claims AS
    SELECT NULL::BIGINT AS id_hash, NULL::INTEGER AS day, NULL::INTEGER AS file WHERE false`,
  `CREATE TABLE IF NOT EXISTS request_claim_files (
    file INTEGER NOT NULL,
    batch VARCHAR NOT NULL
  )`,
  // Which objects each requester read, per batch (holdings-writer.ts, ../../domain/HOLDINGS.md).
  ...HOLDINGS_SCHEMA,
  `CREATE TABLE IF NOT EXISTS malformed_samples (
    fingerprint VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    text VARCHAR NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS notice_ledger (
    partner_id VARCHAR NOT NULL,
    period_id VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    state VARCHAR NOT NULL CHECK (state IN ('pending', 'sent')),
    run_id VARCHAR NOT NULL,
    message_id VARCHAR,
    sent_at VARCHAR,
    figures_json VARCHAR NOT NULL,
    claimed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (partner_id, period_id, level)
  )`,
  // When a pending claim was handed to the mailer (DuckDbNoticeLedger.markAttempt, with its message_id):
  // added after version 1 was released, hence the ALTER. Files written before hold no pending claim
  // with a message_id (markSent set it together with state 'sent'), so no row needs changing.
  'ALTER TABLE notice_ledger ADD COLUMN IF NOT EXISTS attempted_at_ms BIGINT',
  // Per-connection staging for bulk rollup writes: integer codes into a small string dictionary.
  // Moving integers into DuckDB is a memory copy, while every string costs a native call, and rollup
  // strings repeat heavily (one bucket, a few operations, a few hundred requesters).
  `CREATE TEMP TABLE IF NOT EXISTS rollup_stage (
    slot_start BIGINT NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    operation INTEGER NOT NULL,
    status_class INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    records BIGINT NOT NULL
  )`,
  `CREATE TEMP TABLE IF NOT EXISTS stage_strings (
    id INTEGER NOT NULL,
    value VARCHAR NOT NULL
  )`,
  // The staged dictionary's codes (`id`) with the codes of `rollup_strings` for the same strings.
  `CREATE TEMP VIEW IF NOT EXISTS stage_codes AS
    SELECT s.id, d.id AS code FROM stage_strings s JOIN rollup_strings d ON d.value = s.value`,
];

/**
 * `ingested_files` in its current shape under `name`: the columns of version 1, then those added
 * since (repeats_dropped, batch), without the PRIMARY KEY that version 1 had on the fingerprint.
 */
function ingestedFilesTable(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
    fingerprint VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    basename VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    layout VARCHAR NOT NULL,
    lines BIGINT NOT NULL,
    parsed_lines BIGINT NOT NULL,
    malformed_lines BIGINT NOT NULL,
    malformed_by_reason VARCHAR NOT NULL,
    unreadable_reason VARCHAR,
    ingested_at TIMESTAMP NOT NULL,
    repeats_dropped BIGINT DEFAULT 0,
    batch VARCHAR
  )`;
}

/** Whether `ingested_files` still has version 1's PRIMARY KEY (a row when it has). */
export const INGESTED_FILES_WITH_KEY = `SELECT 1 FROM duckdb_constraints()
  WHERE table_name = 'ingested_files' AND schema_name = 'main' AND constraint_type = 'PRIMARY KEY'`;

/**
 * Rebuilds `ingested_files` without its PRIMARY KEY (DuckDB cannot drop a key in place): a copy of
 * every record in the current shape, then the copy takes the table's name. Run in one transaction,
 * after CREATE_SCHEMA added the later columns.
 */
export const REBUILD_INGESTED_FILES: readonly string[] = [
  'DROP TABLE IF EXISTS ingested_files_rebuilt',
  ingestedFilesTable('ingested_files_rebuilt'),
  `INSERT INTO ingested_files_rebuilt (fingerprint, path, basename, size, layout, lines, parsed_lines,
      malformed_lines, malformed_by_reason, unreadable_reason, ingested_at, repeats_dropped, batch)
    SELECT fingerprint, path, basename, size, layout, lines, parsed_lines, malformed_lines,
      malformed_by_reason, unreadable_reason, ingested_at, repeats_dropped, batch
    FROM ingested_files`,
  'DROP TABLE ingested_files',
  'ALTER TABLE ingested_files_rebuilt RENAME TO ingested_files',
];

/** request_claims as the first release of counting each request once made it: a fingerprint per claim. */
export const OLD_CLAIMS_SHAPE = `SELECT 1 FROM duckdb_columns()
  WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'request_claims'
    AND column_name = 'batch'`;
export const DROP_OLD_CLAIMS = 'DROP TABLE request_claims';

/** request_claims as one table of every day's claims (a row when it is): split into day tables when opened. */
export const CLAIMS_ONE_TABLE = `SELECT 1 FROM duckdb_tables()
  WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'request_claims'
    AND NOT temporary`;

/**
 * The files of fingerprints $1 among those named $2. A fingerprint covers its file's name
 * (IngestedFile.fingerprint), so this is the files of fingerprints $1, found by their names first: the
 * names of a state's records compress to a fraction of their fingerprints (64 hex digits each), and a
 * night's names sort apart from earlier nights', so a state holding a month of objects reads a
 * fraction of what a lookup by fingerprint alone reads (15 ms against 40 on 300,000 records).
 */
const NAMED_FILES = `basename IN (SELECT unnest(string_split($2, '/')))
  AND fingerprint IN (SELECT unnest(string_split($1, '/')))`;

function fileTotals(files: string): string {
  return `SELECT count(*), sum(size), sum(lines), sum(parsed_lines), sum(malformed_lines),
      sum(coalesce(repeats_dropped, 0))
    FROM ingested_files WHERE ${files}`;
}

function fileProblems(files: string): string {
  return `SELECT path, malformed_by_reason, unreadable_reason
    FROM ingested_files
    WHERE (${files})
      AND (malformed_by_reason <> '{}' OR unreadable_reason IS NOT NULL)
    ORDER BY path, fingerprint`;
}

export const SQL = {
  getSetting: 'SELECT value FROM settings WHERE key = $1',
  putSetting: 'INSERT OR REPLACE INTO settings (key, value) VALUES ($1, $2)',
  insertSettingIfAbsent: 'INSERT OR IGNORE INTO settings (key, value) VALUES ($1, $2)',

  /** The rows only: `rollup_strings` keeps its strings (codes are never reused, see StagedRollup). */
  clearRollup: 'DELETE FROM rollup_rows',
  clearNetwork: NETWORK_SQL.clear,
  clearFiles: 'DELETE FROM ingested_files',
  clearSamples: 'DELETE FROM malformed_samples',
  clearClaimFiles: 'DELETE FROM request_claim_files',
  countFiles: 'SELECT count(*) FROM ingested_files',

  hasReadableFile: 'SELECT 1 FROM ingested_files WHERE fingerprint = $1 AND unreadable_reason IS NULL',
  readableFingerprints: 'SELECT fingerprint FROM ingested_files WHERE unreadable_reason IS NULL',
  /**
   * The batches of earlier versions of files named $1 (basenames) or with fingerprints $2: the same
   * fingerprint, or the same object name with other content. Semi-joins, so that the cost grows with
   * the files given and one pass over the records, not with their product; the fingerprints' files are
   * among the names $1 and found by name first (NAMED_FILES). Here and below, names and fingerprints
   * come as one text joined by `/` (textList in duckdb-ingest-log.ts).
   */
  supersededBatches: `SELECT coalesce(batch, fingerprint) FROM ingested_files
      WHERE basename IN (SELECT unnest(string_split($1, '/')))
    UNION
    SELECT coalesce(batch, fingerprint) FROM ingested_files
      WHERE basename IN (SELECT unnest(string_split($1, '/')))
        AND fingerprint IN (SELECT unnest(string_split($2, '/')))`,
  /** Every file recorded in the batches $1 (a batch is removed whole, with all its files). */
  filesOfBatches: `SELECT fingerprint, path, basename FROM ingested_files
    WHERE coalesce(batch, fingerprint) IN (SELECT unnest($1::VARCHAR[]))`,
  deleteRollupOf: `DELETE FROM rollup_rows WHERE batch IN
    (SELECT id FROM rollup_strings WHERE value IN (SELECT unnest($1::VARCHAR[])))`,
  deleteNetworkOf: NETWORK_SQL.deleteOf,
  deleteClaimFilesOf: 'DELETE FROM request_claim_files WHERE batch IN (SELECT unnest($1::VARCHAR[]))',
  deleteSamplesOf: `DELETE FROM malformed_samples WHERE fingerprint IN
    (SELECT fingerprint FROM ingested_files WHERE coalesce(batch, fingerprint) IN (SELECT unnest($1::VARCHAR[])))`,
  deleteFilesOf:
    'DELETE FROM ingested_files WHERE coalesce(batch, fingerprint) IN (SELECT unnest($1::VARCHAR[]))',
  /** Of the fingerprints $1, those of files recorded and read. */
  knownFingerprints: `SELECT fingerprint FROM ingested_files
    WHERE unreadable_reason IS NULL AND fingerprint IN (SELECT unnest(string_split($1, '/')))`,
  /** Name and size of every file recorded under one of the names $1. */
  recordedSizes: `SELECT basename, size FROM ingested_files
    WHERE basename IN (SELECT unnest(string_split($1, '/')))`,
  insertFile: `INSERT INTO ingested_files (fingerprint, path, basename, size, layout, lines, parsed_lines,
      malformed_lines, malformed_by_reason, unreadable_reason, ingested_at, batch)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, epoch_ms($11::BIGINT), $1)`,
  insertSample:
    'INSERT INTO malformed_samples (fingerprint, path, line, reason, text) VALUES ($1, $2, $3, $4, $5)',

  /** Adds the staged dictionary's strings and the batch $1 to `rollup_strings` (those not there yet). */
  addStagedStrings: `INSERT INTO rollup_strings (id, value)
    SELECT (SELECT coalesce(max(id), -1) FROM rollup_strings) + row_number() OVER (ORDER BY value), value
    FROM (SELECT value FROM stage_strings UNION SELECT $1::VARCHAR)
    WHERE value NOT IN (SELECT value FROM rollup_strings)`,
  /** The code of the string $1 in `rollup_strings`. */
  rollupCode: 'SELECT id FROM rollup_strings WHERE value = $1',
  /**
   * Recodes the staged rows from the staged dictionary's codes to those of `rollup_strings`, tagging
   * them with the batch's code $1 (read apart: DuckDB 1.5 never finished this statement with the
   * batch's code as a scalar subquery on a `rollup_strings` written in the same transaction).
   */
  unstageRollup: `INSERT INTO rollup_rows (slot_start, bucket, requester, access_point, dataset, operation,
      status_class, requests, bytes_sent, records, batch)
    SELECT s.slot_start, b.code, r.code, a.code, d.code, o.code, c.code,
      s.requests, s.bytes_sent, s.records, $1::INTEGER
    FROM rollup_stage s
      JOIN stage_codes b ON b.id = s.bucket
      JOIN stage_codes r ON r.id = s.requester
      JOIN stage_codes a ON a.id = s.access_point
      JOIN stage_codes d ON d.id = s.dataset
      JOIN stage_codes o ON o.id = s.operation
      JOIN stage_codes c ON c.id = s.status_class`,
  clearStage: 'DELETE FROM rollup_stage',
  clearStageStrings: 'DELETE FROM stage_strings',

  /** From the coded rows: every row of them has its strings, so the view would give the same. */
  dataExtent: 'SELECT min(slot_start), max(slot_start) FROM rollup_rows',

  /**
   * Totals over the files $1 (all when NULL), summed here: a night's 5,000 rows read out value by value
   * cost the client some 50 ms. Then the files with something to report, in path order.
   */
  fileTotals: fileTotals("$1 IS NULL OR fingerprint IN (SELECT unnest(string_split($1, '/')))"),
  fileProblems: fileProblems("$1 IS NULL OR fingerprint IN (SELECT unnest(string_split($1, '/')))"),
  /**
   * The same for the files $1 named $2 (InputSummaryOptions.names): the names are looked at first, as in
   * supersededBatches.
   */
  namedFileTotals: fileTotals(NAMED_FILES),
  namedFileProblems: fileProblems(NAMED_FILES),
  /** The first samples of every file before the second of any, so one bad file cannot hide the rest. */
  samples: `SELECT path, line, reason, text FROM (
      SELECT path, line, reason, text,
        row_number() OVER (PARTITION BY fingerprint ORDER BY line) AS nth
      FROM malformed_samples WHERE $1 IS NULL OR fingerprint IN (SELECT unnest(string_split($1, '/')))
    ) ORDER BY nth, path, line LIMIT $2::BIGINT`,

  ledgerGet: `SELECT state, run_id, claimed_at_ms, message_id FROM notice_ledger
    WHERE partner_id = $1 AND period_id = $2 AND level = $3`,
  ledgerInsertPending: `INSERT INTO notice_ledger (partner_id, period_id, level, state, run_id, figures_json,
      claimed_at_ms) VALUES ($1, $2, $3, 'pending', $4, $5, $6::BIGINT)`,
  /** Never a claim handed to the mailer (message_id set): its message may have left. */
  ledgerTakeOver: `UPDATE notice_ledger SET run_id = $4, figures_json = $5, claimed_at_ms = $6::BIGINT
    WHERE partner_id = $1 AND period_id = $2 AND level = $3 AND state = 'pending' AND message_id IS NULL`,
  ledgerMarkAttempt: `UPDATE notice_ledger SET message_id = $5, attempted_at_ms = $6::BIGINT
    WHERE partner_id = $1 AND period_id = $2 AND level = $3 AND state = 'pending' AND run_id = $4
      AND (message_id IS NULL OR message_id = $5)`,
  ledgerClearAttempt: `UPDATE notice_ledger SET message_id = NULL, attempted_at_ms = NULL
    WHERE partner_id = $1 AND period_id = $2 AND level = $3 AND state = 'pending' AND run_id = $4`,
  ledgerMarkSent: `UPDATE notice_ledger SET state = 'sent', run_id = $4, message_id = $5, sent_at = $6
    WHERE partner_id = $1 AND period_id = $2 AND level = $3 AND state = 'pending'`,
  ledgerRelease: `DELETE FROM notice_ledger
    WHERE partner_id = $1 AND period_id = $2 AND level = $3 AND state = 'pending' AND run_id = $4
      AND message_id IS NULL`,
  ledgerEntries: `SELECT partner_id, period_id, level, state, run_id, message_id, sent_at, figures_json
    FROM notice_ledger WHERE partner_id = $1 AND period_id = $2 ORDER BY level`,
} as const;

/** A statement and its positional parameters. */
export interface Query {
  readonly sql: string;
  readonly params: readonly bigint[];
}

/**
 * Usage in [startMs, endMs), summed over batches by the usage key. Ordered so that two reads of the
 * same data give the same rows in the same order (reports and tests compare them).
 */
export function usageQuery(range: Interval): Query {
  if (!Number.isSafeInteger(range.startMs) || !Number.isSafeInteger(range.endMs)) {
    throw new RangeError(`usage range must be integer epoch milliseconds: ${range.startMs}..${range.endMs}`);
  }
  return {
    sql: `SELECT slot_start, bucket, requester, access_point, dataset, operation, status_class,
    sum(requests) AS requests, sum(bytes_sent) AS bytes_sent, sum(records) AS records
  FROM rollup
  WHERE slot_start >= $1::BIGINT AND slot_start < $2::BIGINT
  GROUP BY slot_start, bucket, requester, access_point, dataset, operation, status_class
  ORDER BY slot_start, bucket, requester, access_point, dataset, operation, status_class`,
    params: [BigInt(range.startMs), BigInt(range.endMs)],
  };
}
