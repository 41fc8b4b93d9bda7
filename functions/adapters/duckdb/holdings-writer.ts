/**
 * The key-level holdings table (see ../../domain/HOLDINGS.md): one row per batch, 15-minute UTC slot,
 * requester, access point, bucket and object (key, version id, object size as logged) of the
 * whole-object reads (200 and 206) of that batch's files, with its first and last retrieval, retrievals
 * and bytes sent. The slot, as in the rollup, lets any partner's local days cut it exactly. Written from the
 * same staged lines as the rollup, in the same transaction (DuckDbIngestLog.writeStagedFiles), so the
 * logs are read once; replaced with its batch, like the rollup.
 *
 * The worker sums reads into partial rows (holdings-batch.ts) and keeps each read's request identity
 * beside its row. A repeated delivery of a request counts once: after the request claims of the group
 * were made (request-claims.ts), a read whose identity the group did not claim (a file recorded before
 * did), or that is not the first read of its identity in the group's order, is taken back out of its
 * partial row, as the rollup takes its repeats out. When the group's claims found no repeat at all (most
 * nights) the identities are never staged: they are kept in memory until their files are recorded.
 * Lines without a request id always count, as in the rollup.
 */
import { BIGINT, DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { ColumnarHeldLines, ColumnarHeldReads } from '../../domain/holdings.js';
import { SLOT_MS } from '../../domain/usage.js';
import { appendColumns } from './append-columns.js';

/** The holdings table: a plain table whose shape an Iceberg table can take as it is. */
export const HOLDINGS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS holdings (
    slot_start BIGINT NOT NULL,
    requester VARCHAR NOT NULL,
    access_point VARCHAR NOT NULL,
    bucket VARCHAR NOT NULL,
    object_key VARCHAR NOT NULL,
    version_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    object_size BIGINT,
    object_records BIGINT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    retrievals BIGINT NOT NULL,
    full_retrievals BIGINT NOT NULL,
    bytes_sent BIGINT NOT NULL,
    batch VARCHAR NOT NULL
  )`,
];

/** Per-connection staging of partial holdings rows and, when needed, identities (see rollup-writer.ts). */
export const HELD_STREAM_SCHEMA: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS held_stream (
    item INTEGER NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    requester INTEGER NOT NULL,
    access_point INTEGER NOT NULL,
    dataset INTEGER NOT NULL,
    object_key INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    object_size DOUBLE NOT NULL,
    records DOUBLE NOT NULL,
    first_ms DOUBLE,
    last_ms DOUBLE,
    retrievals DOUBLE NOT NULL,
    full_retrievals DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL
  )`,
  'DELETE FROM held_stream',
  `CREATE TEMP TABLE IF NOT EXISTS held_lines (
    item INTEGER NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL,
    hash_high INTEGER NOT NULL,
    hash_low INTEGER NOT NULL,
    whole INTEGER NOT NULL,
    bytes_sent DOUBLE NOT NULL
  )`,
  'DELETE FROM held_lines',
];

const HELD_STREAM_TYPES = [
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  INTEGER,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
];
const HELD_LINE_TYPES = [INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, DOUBLE];

/** The identity hash as one BIGINT, as request-claims.ts computes it. */
const ID_HASH = 'l.hash_high::BIGINT * 4294967296 + (l.hash_low::BIGINT & 4294967295)';

/** The group's files: $1 their staged items, in the group's order. */
const GROUP_ITEMS = `(SELECT unnest($1::INTEGER[]) AS item, unnest(range(len($1::INTEGER[]))) AS ord)`;

/** SQL of the holdings writer; constant text, values only as parameters. */
export const HOLDINGS_SQL = {
  /** The newest claim file before the group's claims are made. */
  lastClaimFile: 'SELECT coalesce(max(file), 0)::INTEGER FROM request_claim_files',
  /**
   * Each repeated read of the group ($1 its items, in order) taken back out of its partial row, as a
   * negative partial row: a read whose identity the group did not claim (no claim file after $2), or
   * that is not the first of its identity in the group's order (then by task, row and bytes, so the
   * choice is the same on every run).
   */
  stageNegatives: `INSERT INTO held_stream (item, task, ref, bucket, requester, access_point, dataset,
      object_key, version_id, slot, object_size, records, first_ms, last_ms, retrievals, full_retrievals,
      bytes_sent)
    SELECT k.item, k.task, k.ref, k.bucket, k.requester, k.access_point, k.dataset, k.object_key,
      k.version_id, k.slot, k.object_size, k.records, NULL, NULL, -r.n, -r.whole, -r.bytes
    FROM (
      SELECT task, ref, count(*) AS n, sum(whole) AS whole, sum(bytes_sent::BIGINT) AS bytes
      FROM (
        SELECT l.task, l.ref, l.whole, l.bytes_sent, ${ID_HASH} AS id,
          row_number() OVER (PARTITION BY ${ID_HASH} ORDER BY f.ord, l.task, l.ref, l.bytes_sent) AS nth
        FROM held_lines l JOIN ${GROUP_ITEMS} f ON f.item = l.item
      )
      WHERE nth > 1 OR id NOT IN (SELECT id_hash FROM request_claims WHERE file > $2::INTEGER)
      GROUP BY task, ref
    ) r
      JOIN (SELECT * FROM held_stream WHERE retrievals > 0) k ON k.task = r.task AND k.ref = r.ref`,
  /**
   * Sums the staged partial rows of the items in $1 (their batches in $2, parallel; $4 the place in $2
   * of each item's batch) into holdings, one row per batch, slot and object; rows whose every read was
   * a repeat are left out. $3 is SLOT_MS. Counts are exact in a double (below 2^53), summed as integers.
   */
  insert: `INSERT INTO holdings (slot_start, requester, access_point, bucket, object_key, version_id, dataset,
      object_size, object_records, first_ms, last_ms, retrievals, full_retrievals, bytes_sent, batch)
    SELECT g.slot::BIGINT * $3::BIGINT, r.value, a.value, b.value, k.value, v.value, d.value,
      g.object_size, g.object_records, g.first_ms, g.last_ms, g.retrievals, g.full_retrievals,
      g.bytes_sent, list_extract($2::VARCHAR[], g.batch + 1)
    FROM (
      SELECT f.batch, s.requester, s.access_point, s.bucket, s.object_key, s.version_id, s.dataset, s.slot,
        CASE WHEN s.object_size < 0 THEN NULL ELSE s.object_size::BIGINT END AS object_size,
        max(s.records::BIGINT)::BIGINT AS object_records,
        min(s.first_ms::BIGINT)::BIGINT AS first_ms,
        max(s.last_ms::BIGINT)::BIGINT AS last_ms,
        sum(s.retrievals::BIGINT)::BIGINT AS retrievals,
        sum(s.full_retrievals::BIGINT)::BIGINT AS full_retrievals,
        sum(s.bytes_sent::BIGINT)::BIGINT AS bytes_sent
      FROM held_stream s
        -- batch: the place in $2 of the item's batch (an integer groups faster than its text).
        JOIN (SELECT unnest($1::INTEGER[]) AS item, unnest($4::INTEGER[]) AS batch) f ON f.item = s.item
      GROUP BY ALL
      HAVING sum(s.retrievals::BIGINT) > 0
    ) g
      JOIN rollup_stream_strings b ON b.id = g.bucket
      JOIN rollup_stream_strings r ON r.id = g.requester
      JOIN rollup_stream_strings a ON a.id = g.access_point
      JOIN rollup_stream_strings d ON d.id = g.dataset
      JOIN rollup_stream_strings k ON k.id = g.object_key
      JOIN rollup_stream_strings v ON v.id = g.version_id`,
  discard: 'DELETE FROM held_stream WHERE item IN (SELECT unnest($1::INTEGER[]))',
  discardLines: 'DELETE FROM held_lines',
  deleteOf: 'DELETE FROM holdings WHERE batch IN (SELECT unnest($1::VARCHAR[]))',
  clear: 'DELETE FROM holdings',
} as const;

/**
 * The identities of held reads not yet recorded, by item, in memory: staged only for a group in which
 * the request claims found a repeat.
 */
export class HeldLineStore {
  private readonly byItem = new Map<
    number,
    { task: number; lines: ColumnarHeldLines; from: number; to: number }[]
  >();

  /** Keeps `lines` (read in task `task`) by item: one entry per run of one item. */
  add(task: number, lines: ColumnarHeldLines): void {
    let from = 0;
    for (let i = 1; i <= lines.count; i++) {
      if (i === lines.count || lines.item[i] !== lines.item[from]) {
        const item = lines.item[from]!;
        const list = this.byItem.get(item) ?? [];
        list.push({ task, lines, from, to: i });
        this.byItem.set(item, list);
        from = i;
      }
    }
  }

  /** Forgets the identities of `items`. */
  discard(items: readonly number[]): void {
    for (const item of items) this.byItem.delete(item);
  }

  /** Stages the identities of `items` into held_lines. */
  async stage(connection: DuckDBConnection, items: readonly number[]): Promise<void> {
    for (const item of items) {
      for (const { task, lines, from, to } of this.byItem.get(item) ?? []) {
        const n = to - from;
        const columns = [
          lines.item.subarray(from, to),
          new Int32Array(n).fill(task),
          lines.ref.subarray(from, to),
          lines.hashHigh.subarray(from, to),
          lines.hashLow.subarray(from, to),
          lines.full.subarray(from, to),
          lines.bytesSent.subarray(from, to),
        ];
        await appendColumns(connection, 'held_lines', HELD_LINE_TYPES, columns, n);
      }
    }
  }
}

/** Stages the partial holdings rows of a batch of rows read in task `task`. */
export async function stageHeldReads(
  connection: DuckDBConnection,
  task: number,
  reads: ColumnarHeldReads,
): Promise<void> {
  if (reads.count === 0) return;
  const columns = [
    reads.item,
    new Int32Array(reads.count).fill(task),
    reads.ref,
    reads.bucket,
    reads.requester,
    reads.accessPoint,
    reads.dataset,
    reads.objectKey,
    reads.versionId,
    reads.slot,
    reads.objectSize,
    reads.records,
    reads.firstMs,
    reads.lastMs,
    reads.retrievals,
    reads.fullRetrievals,
    reads.bytesSent,
  ];
  await appendColumns(connection, 'held_stream', HELD_STREAM_TYPES, columns, reads.count);
}

/** Drops the staged rows of `items`. */
export async function discardHeldReads(
  connection: DuckDBConnection,
  items: readonly number[],
): Promise<void> {
  if (items.length === 0) return;
  await connection.run(HOLDINGS_SQL.discard, [listValue([...items])], [LIST(INTEGER)]);
}

/** The newest request claim file: call before the group's claims are made, for `insertHoldings`. */
export async function lastClaimFile(connection: DuckDBConnection): Promise<number> {
  const reader = await connection.runAndReadAll(HOLDINGS_SQL.lastClaimFile);
  return Number(reader.getRows()[0]![0]);
}

/**
 * Sums the staged rows of `items` (in the group's order) into holdings and unstages them and their
 * identities. Inside the caller's transaction, after the group's request claims were made
 * (`claimsBefore`: the newest claim file before them; `anyRepeats`: whether they found any repeat in
 * the group) and before the staged strings are dropped. Returns the holdings rows written.
 */
export async function insertHoldings(
  connection: DuckDBConnection,
  lines: HeldLineStore,
  items: readonly { readonly item: number; readonly batch: string }[],
  claimsBefore: number,
  anyRepeats: boolean,
): Promise<number> {
  if (items.length === 0) return 0;
  const ids = items.map((i) => i.item);
  if (anyRepeats) {
    await lines.stage(connection, ids);
    await connection.run(
      HOLDINGS_SQL.stageNegatives,
      [listValue(ids), claimsBefore],
      [LIST(INTEGER), INTEGER],
    );
    await connection.run(HOLDINGS_SQL.discardLines);
  }
  lines.discard(ids);
  const batches = items.map((i) => i.batch);
  const firstOf = new Map<string, number>();
  batches.forEach((b, i) => {
    if (!firstOf.has(b)) firstOf.set(b, i);
  });
  const result = await connection.run(
    HOLDINGS_SQL.insert,
    [listValue(ids), listValue(batches), BigInt(SLOT_MS), listValue(batches.map((b) => firstOf.get(b)!))],
    [LIST(INTEGER), LIST(VARCHAR), BIGINT, LIST(INTEGER)],
  );
  await discardHeldReads(connection, ids);
  return Number(result.rowsChanged);
}

/** Removes the holdings of whole batches (files replaced or read again). */
export async function deleteHoldingsOf(
  connection: DuckDBConnection,
  batches: readonly string[],
): Promise<void> {
  if (batches.length === 0) return;
  await connection.run(HOLDINGS_SQL.deleteOf, [listValue([...batches])], [LIST(VARCHAR)]);
}
