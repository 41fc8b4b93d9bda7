/**
 * Each request counted once on the local engine, however often S3 delivered its log record.
 *
 * S3 delivers server access logs on a best-effort basis: a record can arrive twice, in the same log
 * object or in two objects delivered hours or days apart. The request id, with the host id where the
 * line has one, names the request, so a repeat is recognised by it (lines without a request id, `-`,
 * cannot be, and always count).
 *
 * How, given that files are read in parallel and each file is a batch that a later run may replace:
 * - the scanner leaves, per counted line, a 64-bit hash of its identity, the partial rollup row (task,
 *   ref) it went into and what it added (bytes sent, records); they are staged here beside the rows;
 * - when a group of files is recorded (one transaction, DuckDbIngestLog.writeStagedFiles), the identities
 *   of the group are checked against `request_claims`, the identities that recorded files counted,
 *   and against each other: a line whose identity another recorded file claimed, or that an earlier
 *   line of the group (in the group's order, then by row) carries, is a repeat. Its contribution is
 *   staged again as a negative partial row of the row it went into, so the rows summed into the rollup
 *   leave it out; the group's first occurrences become claims of their files;
 * - replacing a file (same name or fingerprint) deletes its claims with its rows, so a rerun finds the
 *   same claims as the run before it and adds nothing; a crash before the commit leaves neither rows nor
 *   claims, and the next run reads the files again.
 *
 * Bound: claims are kept for the event days within `days` of the newest event day claimed
 * (forgetRequestClaims), so a record delivered again more than that long after the request is not
 * recognised. Two different requests whose identities hash alike (odds about n^2 / 2^65 for n requests
 * in the window) would count once.
 */
import { DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { type ColumnarRequestIds, SLOT_MS } from '../../domain/usage.js';
import { appendColumns } from './append-columns.js';
import { stageNetworkRepeats } from './network-store.js';

/** Slots of one UTC day: a claim's day is its slot divided by this. */
const SLOTS_PER_DAY = (24 * 60 * 60 * 1000) / SLOT_MS;

/** Per-connection staging of request identities, beside rollup_stream (see rollup-writer.ts). */
export const REQUEST_STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS request_stream (
    item INTEGER NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    hash_high INTEGER NOT NULL,
    hash_low INTEGER NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    records DOUBLE NOT NULL,
    net_ref INTEGER NOT NULL
  )`,
  'DELETE FROM request_stream',
];

const REQUEST_STREAM_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, DOUBLE, DOUBLE, INTEGER];

/** The identity hash as one BIGINT, from its two int32 halves (no overflow: high x 2^32 + low). */
const ID_HASH = 'l.hash_high::BIGINT * 4294967296 + (l.hash_low::BIGINT & 4294967295)';

/** The group's files: $1 their staged items, in the group's order. */
const GROUP_ITEMS = `(SELECT unnest($1::INTEGER[]) AS item,
      unnest(range(len($1::INTEGER[])))::INTEGER AS ord)`;

/** The group's files: $1 their batches, in the group's order. */
const GROUP_BATCHES = `(SELECT unnest($1::VARCHAR[]) AS batch, unnest(range(len($1::VARCHAR[]))) AS ord)`;

/** SQL of the request claims; constant text, values only as parameters. */
export const CLAIM_SQL = {
  /**
   * Each identity of the group's lines once: how many lines carry it, the place in the group of the
   * first file that does, its event day ($2: slots per day), and whether a recorded file already
   * claimed it. Every column an INTEGER but the hash: a row per identity, so its width is memory.
   */
  groupIdentities: `CREATE OR REPLACE TEMP TABLE request_group AS
    SELECT g.id_hash, g.n, g.ord, g.day, c.id_hash IS NOT NULL AS claimed
    FROM (
      -- Integers only: the batch of a new claim is looked up by its file's place in the group.
      SELECT ${ID_HASH} AS id_hash, count(*)::INTEGER AS n, min(f.ord) AS ord,
        (min(l.slot) // $2::INTEGER)::INTEGER AS day
      FROM request_stream l JOIN ${GROUP_ITEMS} f ON f.item = l.item
      GROUP BY 1
    ) g
    -- Only the claims of the group's event days: a repeat is the same request, logged with the same
    -- time, so its claim has its day. The claims of other days (two weeks of history) are not read:
    -- their row groups are skipped by their day ranges, so the check does not grow with history.
    LEFT JOIN (
      SELECT id_hash FROM request_claims
      WHERE day BETWEEN (SELECT min(slot) // $2::INTEGER FROM request_stream)
        AND (SELECT max(slot) // $2::INTEGER FROM request_stream)
    ) c ON c.id_hash = g.id_hash`,
  /**
   * The repeats per partial row: every line of a claimed identity, and every line but the first (in
   * the group's order, then by row and contribution, so the choice is the same on every run) of an
   * identity the group holds more than once.
   */
  repeats: `CREATE OR REPLACE TEMP TABLE request_repeats AS
    SELECT item, task, ref, count(*) AS requests, sum(bytes_sent::BIGINT) AS bytes_sent,
      sum(records::BIGINT) AS records
    FROM (
      SELECT l.item, l.task, l.ref, l.bytes_sent, l.records, g.claimed,
        row_number() OVER (
          PARTITION BY g.id_hash ORDER BY f.ord, l.task, l.ref, l.bytes_sent, l.records
        ) AS nth
      FROM request_stream l
        JOIN ${GROUP_ITEMS} f ON f.item = l.item
        JOIN (SELECT * FROM request_group WHERE claimed OR n > 1) g ON g.id_hash = ${ID_HASH}
    )
    WHERE claimed OR nth > 1
    GROUP BY item, task, ref`,
  /**
   * Each repeat taken back out: a negative partial row of the row it was summed into, which (task,
   * ref) names. That row's item may be another file of the task when its files' rows were summed
   * together (a merged task, recorded as one group), so the negative row takes the row's item.
   */
  stageNegatives: `INSERT INTO rollup_stream (item, slot, status, bucket, requester, access_point, dataset,
      operation, requests, bytes_sent, records, task, ref)
    SELECT k.item, k.slot, k.status, k.bucket, k.requester, k.access_point, k.dataset, k.operation,
      -r.requests, -r.bytes_sent, -r.records, r.task, r.ref
    FROM request_repeats r
      JOIN (
        SELECT DISTINCT item, task, ref, slot, status, bucket, requester, access_point, dataset, operation
        FROM rollup_stream
        WHERE (task, ref) IN (SELECT (task, ref) FROM request_repeats)
      ) k ON k.task = r.task AND k.ref = r.ref`,
  repeatsByItem: 'SELECT item, sum(requests)::BIGINT FROM request_repeats GROUP BY item',
  /** The newest file number of the claims; the group's files are numbered after it. */
  lastClaimFile: 'SELECT coalesce(max(file), 0)::INTEGER FROM request_claim_files',
  /** The group's files ($1 their batches, in order) numbered from $2 + 1. */
  claimFiles: `INSERT INTO request_claim_files (file, batch)
    SELECT $2::INTEGER + 1 + ord, batch FROM ${GROUP_BATCHES}`,
  /** The group's first occurrences of unclaimed identities, claimed by their files (numbered from $1 + 1). */
  claim: `INSERT INTO request_claims (id_hash, day, file)
    SELECT id_hash, day, $1::INTEGER + 1 + ord::INTEGER FROM request_group WHERE NOT claimed`,
  /** Rows whose every request was a repeat; $1 the batches just written. */
  deleteEmptyRows: 'DELETE FROM rollup WHERE requests = 0 AND batch IN (SELECT unnest($1::VARCHAR[]))',
  discard: 'DELETE FROM request_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  dropWork: ['DROP TABLE IF EXISTS request_group', 'DROP TABLE IF EXISTS request_repeats'],
  /** Claims of event days more than $1 days before the newest claimed day. */
  forget: `DELETE FROM request_claims
    WHERE day < (SELECT max(day) FROM request_claims) - $1::INTEGER`,
} as const;

/** Stages the request identities of lines read in task `task`. */
export async function stageRequestIds(
  connection: DuckDBConnection,
  task: number,
  lines: ColumnarRequestIds,
): Promise<void> {
  const columns = [
    lines.item,
    new Int32Array(lines.count).fill(task),
    lines.ref,
    lines.slot,
    lines.hashHigh,
    lines.hashLow,
    lines.bytesSent,
    lines.records,
    lines.netRef,
  ];
  await appendColumns(connection, 'request_stream', REQUEST_STREAM_TYPES, columns, lines.count);
}
/** Drops the staged identities of `items`. */
export async function discardRequestIds(
  connection: DuckDBConnection,
  items: readonly number[],
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(CLAIM_SQL.discard, [listValue([...items])], [LIST(INTEGER)]);
}

/** Repeats dropped per staged item. */
export type RepeatsDropped = ReadonlyMap<number, number>;

/**
 * Takes the repeats out of the staged rows of `items` (a group about to be summed into the rollup, in
 * the order they are recorded), records the group's new claims and unstages its identities. Inside
 * the caller's transaction, before the rows are summed. Returns the repeats dropped per item.
 */
export async function dropRepeatedRequests(
  connection: DuckDBConnection,
  items: readonly { readonly item: number; readonly batch: string }[],
): Promise<RepeatsDropped> {
  const dropped = new Map<number, number>();
  if (items.length === 0) return dropped;
  const ids = listValue(items.map((i) => i.item));
  const batches = listValue(items.map((i) => i.batch));
  await connection.run(CLAIM_SQL.groupIdentities, [ids, SLOTS_PER_DAY], [LIST(INTEGER), INTEGER]);
  await connection.run(CLAIM_SQL.repeats, [ids], [LIST(INTEGER)]);
  const counts = await connection.runAndReadAll(CLAIM_SQL.repeatsByItem);
  for (const [item, n] of counts.getRows()) dropped.set(Number(item), Number(n));
  if (dropped.size > 0) {
    await connection.run(CLAIM_SQL.stageNegatives);
    // The same repeats out of the network rows they went into (network-store.ts).
    await stageNetworkRepeats(
      connection,
      items.map((i) => i.item),
    );
  }
  const last = (await connection.runAndReadAll(CLAIM_SQL.lastClaimFile)).getRows()[0]![0] as number;
  await connection.run(CLAIM_SQL.claimFiles, [batches, last], [LIST(VARCHAR), INTEGER]);
  await connection.run(CLAIM_SQL.claim, [last], [INTEGER]);
  for (const statement of CLAIM_SQL.dropWork) await connection.run(statement);
  await discardRequestIds(
    connection,
    items.map((i) => i.item),
  );
  return dropped;
}

/** After the rows were summed: deletes the rows of `batches` that repeats emptied. */
export async function deleteEmptiedRows(
  connection: DuckDBConnection,
  batches: readonly string[],
): Promise<void> {
  if (batches.length === 0) return;
  await connection.run(CLAIM_SQL.deleteEmptyRows, [listValue([...batches])], [LIST(VARCHAR)]);
}

/** Forgets the claims of event days more than `days` before the newest claimed one. */
export async function forgetRequestClaims(connection: DuckDBConnection, days: number): Promise<void> {
  if (!Number.isSafeInteger(days) || days < 1) {
    throw new RangeError(`the request id window must be a whole number of days >= 1, got ${days}`);
  }
  await connection.run(CLAIM_SQL.forget, [days], [INTEGER]);
}
