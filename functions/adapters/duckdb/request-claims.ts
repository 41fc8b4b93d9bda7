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
 *   ref) it went into and what it added (bytes sent, records); they are kept here, in typed arrays on
 *   this thread (RequestIdStage), until their files are recorded;
 * - when a group of files is recorded (one transaction, DuckDbIngestLog.writeStagedFiles), the identities
 *   of the group are checked against each other in open-addressing hash tables (the lines cut by their
 *   hash into partitions small enough for the processor's cache; in WebAssembly, see Cost), and against
 *   the claims, the identities that recorded files counted (a table per event day), on the event days
 *   the group's lines fall on only (a repeat is the same request, logged with the same time, so its
 *   claim has one of those days). A line whose identity another recorded file claimed, or that an
 *   earlier line of the group (in the group's order, then by row) carries, is a repeat. Its
 *   contribution is staged as a negative partial row of the row it went into, so the rows summed into
 *   the rollup leave it out; the group's first occurrences become claims of their files, appended as
 *   integers a slice at a time;
 * - replacing a file (same name or fingerprint) deletes its claims with its rows, so a rerun finds the
 *   same claims as the run before it and adds nothing; a crash before the commit leaves neither rows nor
 *   claims, and the next run reads the files again.
 *
 * Cost: the group's check runs in WebAssembly (assembly/identities.ts; as JavaScript, called once a
 * group, it ran cold in V8's interpreter): the staged columns are copied in a chunk at a time, once to
 * count the group's lines per partition and once per round of partitions to cut them, and each
 * partition goes through its table (36 bytes a line while staged; while checked, 6 more a line and 18
 * an identity, and a table of the largest partition, in the check's memory, held until the claims are
 * written out of it a slice at a time); only the lines of identities held more than once or claimed
 * are looked at again, to take them out of their rows. DuckDB reads no claim at all when the group's
 * days hold none (a new night), and otherwise joins only the group's identities of the days that hold
 * claims with the claims of those days.
 *
 * Bound: claims are kept for the event days within `days` of the newest event day claimed
 * (forgetRequestClaims, which drops the older days' tables), so a record delivered again more than
 * that long after the request is not recognised. Two different requests whose identities hash alike
 * (odds about n^2 / 2^65 for n requests in the window) would count once.
 */
import { BIGINT, DOUBLE, type DuckDBConnection, INTEGER, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { type ColumnarRequestIds, SLOT_MS } from '../../domain/usage.js';
import { appendColumns } from './append-columns.js';
import { collectGarbage } from './collect-garbage.js';
import { stageHeldRepeats } from './holdings-writer.js';
import { stageNetworkRepeats } from './network-store.js';
import { CLAIM_SLICE, type ClaimsByDay, WasmIdentities } from './wasm-identities.js';

/**
 * From how many request identities checked at once a full collection follows (collect-garbage.ts): a
 * smaller group's typed arrays are left to V8's own collections.
 */
export const COLLECT_AFTER_LINES = 100_000;

/** Slots of one UTC day: a claim's day is its slot divided by this. */
const SLOTS_PER_DAY = (24 * 60 * 60 * 1000) / SLOT_MS;

/** Per-connection work tables of the claim check, beside rollup_stream (see rollup-writer.ts). */
export const CLAIM_WORK_SCHEMA: readonly string[] = [
  // The group's identities on days that hold claims, to be looked up among those claims.
  `CREATE TEMP TABLE IF NOT EXISTS claim_probe (
    hash_high INTEGER NOT NULL,
    hash_low INTEGER NOT NULL,
    day INTEGER NOT NULL
  )`,
  // The repeats summed per partial row they were counted in.
  `CREATE TEMP TABLE IF NOT EXISTS request_repeats (
    item INTEGER NOT NULL,
    task INTEGER NOT NULL,
    ref INTEGER NOT NULL,
    requests DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL,
    records DOUBLE NOT NULL
  )`,
  // The same repeats summed per partial network row they were counted in (network-store.ts).
  `CREATE TEMP TABLE IF NOT EXISTS network_repeats (
    task INTEGER NOT NULL,
    net_ref INTEGER NOT NULL,
    requests DOUBLE NOT NULL,
    bytes_sent DOUBLE NOT NULL
  )`,
  'DELETE FROM claim_probe',
  'DELETE FROM request_repeats',
  'DELETE FROM network_repeats',
];

const PROBE_TYPES = [INTEGER, INTEGER, INTEGER];
/** A day's claim table's columns: id_hash, file. */
const CLAIM_TYPES = [BIGINT, INTEGER];
const REPEAT_TYPES = [INTEGER, INTEGER, INTEGER, DOUBLE, DOUBLE, DOUBLE];
const NETWORK_REPEAT_TYPES = [INTEGER, INTEGER, DOUBLE, DOUBLE];

/** The identity hash as one BIGINT, from its two int32 halves (no overflow: high x 2^32 + low). */
const idHash = (alias: string) =>
  `${alias}.hash_high::BIGINT * 4294967296 + (${alias}.hash_low::BIGINT & 4294967295)`;

/** The group's files: $1 their batches, in the group's order. */
const GROUP_BATCHES = `(SELECT unnest($1::VARCHAR[]) AS batch, unnest(range(len($1::VARCHAR[]))) AS ord)`;

/**
 * Claims are kept in one table per event day (UTC), named by the day's number: the nightly forgetting
 * of the oldest day is then dropping its table, where deleting its million rows from one table of two
 * weeks' claims cost some 0.1 s and as much again at the checkpoint (100 and 89 ms for a million
 * claims among 15 million). A view `request_claims` (id_hash, day, file) over the day tables is kept
 * for people and tests reading the state (claimsView); the code reads the day tables.
 */
const CLAIM_TABLE_PREFIX = 'request_claims_d';

/** SQL of the request claims; constant text, values only as parameters. */
export const CLAIM_SQL = {
  /** The days that have a claim table (claimTable). */
  claimDays: `SELECT table_name FROM duckdb_tables()
    WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary
      AND starts_with(table_name, '${CLAIM_TABLE_PREFIX}')`,
  clearProbe: 'DELETE FROM claim_probe',
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
  clearRepeats: 'DELETE FROM request_repeats',
  clearNetworkRepeats: 'DELETE FROM network_repeats',
  /** The newest file number of the claims; the group's files are numbered after it. */
  lastClaimFile: 'SELECT coalesce(max(file), 0)::INTEGER FROM request_claim_files',
  /** The group's files ($1 their batches, in order) numbered from $2 + 1. */
  claimFiles: `INSERT INTO request_claim_files (file, batch)
    SELECT $2::INTEGER + 1 + ord, batch FROM ${GROUP_BATCHES}`,
  /** Rows whose every request was a repeat; $1 the batches just written. */
  deleteEmptyRows: `DELETE FROM rollup_rows WHERE requests = 0 AND batch IN
    (SELECT id FROM rollup_strings WHERE value IN (SELECT unnest($1::VARCHAR[])))`,
} as const;

/**
 * The claim table of event day `day` (days since 1970-01-01 UTC). Table names are the one part of
 * the claims' SQL not passed as a parameter: made here, from a whole number only.
 */
export function claimTable(day: number): string {
  if (!Number.isSafeInteger(day) || day < 0) throw new RangeError(`not an event day number: ${day}`);
  return `${CLAIM_TABLE_PREFIX}${day}`;
}

/** Creates day `day`'s claim table when it has none. */
export function createClaimTable(day: number): string {
  return `CREATE TABLE IF NOT EXISTS ${claimTable(day)} (
    id_hash BIGINT NOT NULL,
    file INTEGER NOT NULL
  )`;
}

/** The view of every claim, over the tables of `days` (none: a view of no rows, of the same columns). */
export function claimsView(days: readonly number[]): string {
  const parts = days.map((day) => `SELECT id_hash, ${day}::INTEGER AS day, file FROM ${claimTable(day)}`);
  const body =
    parts.length === 0
      ? 'SELECT NULL::BIGINT AS id_hash, NULL::INTEGER AS day, NULL::INTEGER AS file WHERE false'
      : parts.join('\n  UNION ALL ');
  return `CREATE OR REPLACE VIEW request_claims AS ${body}`;
}

/** The days that have a claim table, in order. */
export async function claimDays(connection: DuckDBConnection): Promise<number[]> {
  const rows = (await connection.runAndReadAll(CLAIM_SQL.claimDays)).getRows();
  const days: number[] = [];
  for (const [name] of rows) {
    const suffix = String(name).slice(CLAIM_TABLE_PREFIX.length);
    if (/^[0-9]+$/.test(suffix)) days.push(Number(suffix));
  }
  return days.sort((a, b) => a - b);
}

/**
 * The claims of a state file made before the day tables (one table `request_claims` with a `day`
 * column), moved into day tables, and the view over them in that table's place. In the caller's
 * transaction.
 */
export async function splitClaimsByDay(connection: DuckDBConnection): Promise<void> {
  const rows = (
    await connection.runAndReadAll('SELECT DISTINCT day FROM request_claims ORDER BY day')
  ).getRows();
  const days = rows.map(([day]) => Number(day));
  for (const day of days) {
    await connection.run(createClaimTable(day));
    await connection.run(
      `INSERT INTO ${claimTable(day)} SELECT id_hash, file FROM request_claims WHERE day = $1`,
      [day],
      [INTEGER],
    );
  }
  await connection.run('DROP TABLE request_claims');
  await connection.run(claimsView(days));
}

/** Drops every claim table (the state's claims cleared) and empties the view. */
export async function clearRequestClaims(connection: DuckDBConnection): Promise<void> {
  for (const day of await claimDays(connection)) await connection.run(`DROP TABLE ${claimTable(day)}`);
  await connection.run(claimsView([]));
}

/**
 * Deletes the claims of the files of batches $1 (their numbers in request_claim_files), day table by
 * day table: a batch is superseded rarely, and a day's table skips by its row groups' file ranges.
 */
export async function deleteClaimsOf(
  connection: DuckDBConnection,
  batches: readonly string[],
): Promise<void> {
  for (const day of await claimDays(connection)) {
    await connection.run(
      `DELETE FROM ${claimTable(day)} WHERE file IN
        (SELECT file FROM request_claim_files WHERE batch IN (SELECT unnest($1::VARCHAR[])))`,
      [listValue([...batches])],
      [LIST(VARCHAR)],
    );
  }
}

/** Staged identities of lines read in one task (a batch of rows as a worker sent it). */
interface Chunk {
  readonly task: number;
  readonly lines: ColumnarRequestIds;
}

/** Repeats dropped per staged item. */
export type RepeatsDropped = ReadonlyMap<number, number>;

/**
 * The request identities of the staged rows, kept on this thread until their files are recorded: a
 * list of the columns workers sent (typed arrays, no copy), checked group by group (dropRepeats).
 * What a crash loses is what TEMP tables would have lost: lines of files not yet recorded.
 */
export class RequestIdStage {
  private chunks: Chunk[] = [];
  /** The identity check, kept from one group to the next while the groups are small. */
  private check: WasmIdentities | undefined;

  /** Lines staged and not yet checked or discarded. */
  get count(): number {
    let n = 0;
    for (const c of this.chunks) n += c.lines.count;
    return n;
  }

  /** Stages the identities of lines read in task `task`. */
  stage(task: number, lines: ColumnarRequestIds): void {
    if (lines.count > 0) this.chunks.push({ task, lines });
  }

  /** Drops the staged identities of `items`. */
  discard(items: readonly number[]): void {
    if (items.length === 0 || this.chunks.length === 0) return;
    const drop = new Set(items);
    const kept: Chunk[] = [];
    for (const chunk of this.chunks) {
      const l = chunk.lines;
      let keep = 0;
      for (let i = 0; i < l.count; i++) if (!drop.has(l.item[i]!)) keep++;
      if (keep === l.count) kept.push(chunk);
      else if (keep > 0)
        kept.push({ task: chunk.task, lines: select(l, (i) => !drop.has(l.item[i]!), keep) });
    }
    this.chunks = kept;
  }

  /**
   * Drops the staged identities of the group just checked: `check` knows which of the staged lines it
   * was given are the group's, so a chunk wholly in or out of it is dropped or kept without a look at
   * its lines here (a chunk staged since, while the group was written, is looked at line by line).
   */
  private discardGroup(group: GroupLines, table: IdentityTable): void {
    const kept: Chunk[] = [];
    for (let k = 0; k < this.chunks.length; k++) {
      const chunk = this.chunks[k]!;
      const l = chunk.lines;
      let keep = 0;
      if (group.chunks[k] === chunk) keep = l.count - table.groupLinesOf[k]!;
      else for (let i = 0; i < l.count; i++) if (group.order.of(l.item[i]!) < 0) keep++;
      if (keep === l.count) kept.push(chunk);
      else if (keep > 0)
        kept.push({ task: chunk.task, lines: select(l, (i) => group.order.of(l.item[i]!) < 0, keep) });
    }
    this.chunks = kept;
  }

  /**
   * Checks the group `items` (dropRepeats): its repeats, its new claims (written out of the check as
   * they are appended), the days that have claim tables and the newest claim file. Its staged lines
   * are unstaged.
   */
  private async checkGroup(
    connection: DuckDBConnection,
    items: readonly { readonly item: number; readonly batch: string }[],
  ): Promise<{
    repeats: GroupRepeats;
    claims: ClaimsByDay;
    known: number[];
    last: number;
  }> {
    // The chunks as staged now: more may be staged while the group is written.
    let group: GroupLines | undefined = GroupLines.of([...this.chunks], new GroupOrder(items));
    const check = this.check ?? new WasmIdentities();
    const table = IdentityTable.build(group, check);
    const known = await claimDays(connection);
    await markClaimed(connection, table, known);
    const repeats = repeatsOf(group, table);
    const last = (await connection.runAndReadAll(CLAIM_SQL.lastClaimFile)).getRows()[0]![0] as number;
    check.placeKeptLines();
    const lines = table.groupLines;
    this.discardGroup(group, table);
    group = undefined;
    // The group's staged columns (40 bytes a line) are garbage now, before DuckDB takes memory for the
    // claims (which the process's peak otherwise held together with them). The check's memory (some
    // 24 bytes a line) is held until the claims are written, then let go with the check when the group
    // was large; a small group's check is kept for the next group.
    if (lines >= COLLECT_AFTER_LINES) collectGarbage();
    const claims = check.newClaims(last + 1);
    this.check = lines >= COLLECT_AFTER_LINES ? undefined : check;
    return { repeats, claims, known, last };
  }

  /**
   * Takes the repeats out of the staged rows of `items` (a group about to be summed into the rollup, in
   * the order they are recorded), records the group's new claims and unstages its identities. Inside
   * the caller's transaction, before the rows are summed. Returns the repeats dropped per item.
   */
  async dropRepeats(
    connection: DuckDBConnection,
    items: readonly { readonly item: number; readonly batch: string }[],
  ): Promise<RepeatsDropped> {
    const dropped = new Map<number, number>();
    if (items.length === 0) return dropped;
    const { repeats, claims, known, last } = await this.checkGroup(connection, items);
    for (const [item, n] of repeats.byItem) dropped.set(item, n);
    if (repeats.count > 0) {
      await appendColumns(connection, 'request_repeats', REPEAT_TYPES, repeats.columns, repeats.count);
      await connection.run(CLAIM_SQL.stageNegatives);
      await connection.run(CLAIM_SQL.clearRepeats);
    }
    if (repeats.network.count > 0) {
      // The same repeats out of the network rows they went into (network-store.ts).
      const { count, columns } = repeats.network;
      await appendColumns(connection, 'network_repeats', NETWORK_REPEAT_TYPES, columns, count);
      await stageNetworkRepeats(connection);
      await connection.run(CLAIM_SQL.clearNetworkRepeats);
    }
    if (repeats.held.count > 0) {
      // And out of the holdings rows of the lines that read an object (holdings-writer.ts).
      const { count, columns } = repeats.held;
      await appendColumns(connection, 'held_repeats', NETWORK_REPEAT_TYPES, columns, count);
      await stageHeldRepeats(connection);
    }
    const batches = listValue(items.map((i) => i.batch));
    await connection.run(CLAIM_SQL.claimFiles, [batches, last], [LIST(VARCHAR), INTEGER]);
    await writeNewClaims(connection, claims, known);
    return dropped;
  }
}

/** The lines of `l` that `keep` selects (`n` of them), as columns of their own. */
function select(l: ColumnarRequestIds, keep: (i: number) => boolean, n: number): ColumnarRequestIds {
  const heldRef = l.heldRef === undefined ? undefined : new Int32Array(n);
  const out = {
    count: n,
    item: new Int32Array(n),
    ref: new Int32Array(n),
    slot: new Int32Array(n),
    hashHigh: new Int32Array(n),
    hashLow: new Int32Array(n),
    bytesSent: new Float64Array(n),
    records: new Float64Array(n),
    netRef: new Int32Array(n),
    ...(heldRef === undefined ? {} : { heldRef }),
  };
  let j = 0;
  for (let i = 0; i < l.count; i++) {
    if (!keep(i)) continue;
    out.item[j] = l.item[i]!;
    out.ref[j] = l.ref[i]!;
    out.slot[j] = l.slot[i]!;
    out.hashHigh[j] = l.hashHigh[i]!;
    out.hashLow[j] = l.hashLow[i]!;
    out.bytesSent[j] = l.bytesSent[i]!;
    out.records[j] = l.records[i]!;
    out.netRef[j] = l.netRef[i]!;
    if (heldRef !== undefined) heldRef[j] = l.heldRef![i]!;
    j++;
  }
  return out;
}

/** The places of the group's items in the group, by item id (-1: not in the group). */
class GroupOrder {
  /** Per item id: its place in the group, or -1. */
  readonly ords: Int32Array;

  constructor(items: readonly { readonly item: number }[]) {
    let max = 0;
    for (const { item } of items) if (item > max) max = item;
    this.ords = new Int32Array(max + 1).fill(-1);
    // An item listed twice keeps its first place.
    for (let ord = items.length - 1; ord >= 0; ord--) this.ords[items[ord]!.item] = ord;
  }

  /** The item's place in the group, or -1. */
  of(item: number): number {
    return item >= 0 && item < this.ords.length ? this.ords[item]! : -1;
  }
}

/**
 * The group's lines, numbered over every staged chunk in staging order (line `g` of chunk `k` is
 * `start[k]` + its index); a line is the group's when its item has a place in the group's order.
 */
class GroupLines {
  private constructor(
    readonly chunks: readonly Chunk[],
    /** Per chunk: the number of its first line; one more entry, the number of lines. */
    readonly start: Int32Array,
    readonly order: GroupOrder,
  ) {}

  static of(chunks: readonly Chunk[], order: GroupOrder): GroupLines {
    const start = new Int32Array(chunks.length + 1);
    for (let k = 0; k < chunks.length; k++) start[k + 1] = start[k]! + chunks[k]!.lines.count;
    return new GroupLines(chunks, start, order);
  }

  /** The chunk of line `g` (a binary search: asked for repeated identities only). */
  chunkOf(g: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.start[mid]! <= g) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Whether line `a` comes before line `b` in the group's order: the place of its file in the group,
   * then task, row, bytes, records, network row and holdings row, so that the line kept is the same on
   * every run (lines equal in all of these are interchangeable: taking out either changes the same rows
   * by the same amount).
   */
  before(a: number, b: number): boolean {
    const ka = this.chunkOf(a);
    const kb = this.chunkOf(b);
    const la = this.chunks[ka]!.lines;
    const lb = this.chunks[kb]!.lines;
    const ia = a - this.start[ka]!;
    const ib = b - this.start[kb]!;
    const oa = this.order.of(la.item[ia]!);
    const ob = this.order.of(lb.item[ib]!);
    if (oa !== ob) return oa < ob;
    const ta = this.chunks[ka]!.task;
    const tb = this.chunks[kb]!.task;
    if (ta !== tb) return ta < tb;
    if (la.ref[ia] !== lb.ref[ib]) return la.ref[ia]! < lb.ref[ib]!;
    if (la.bytesSent[ia] !== lb.bytesSent[ib]) return la.bytesSent[ia]! < lb.bytesSent[ib]!;
    if (la.records[ia] !== lb.records[ib]) return la.records[ia]! < lb.records[ib]!;
    if (la.netRef[ia] !== lb.netRef[ib]) return la.netRef[ia]! < lb.netRef[ib]!;
    return (la.heldRef?.[ia] ?? -1) < (lb.heldRef?.[ib] ?? -1);
  }
}

/**
 * Int32s per identity of a group: hash high, hash low, line kept (once the check is done, the place of
 * its file in the group: WasmIdentities.placeKeptLines), event day.
 */
const ID_INTS = 4;
/**
 * The group's distinct identities (assembly/identities.ts finds them, partition by partition: the lines
 * cut by their hash's top bits, each part through an open-addressing table small enough for the
 * processor's cache): per identity its hash, the line kept (the first in the group's order), the event
 * day of its earliest line and, once the check is done, the place of the kept line's file in the group;
 * whether a recorded file claimed it apart; and the lines of identities the group holds more than once,
 * the only lines besides those of claimed identities that can be repeats. Views of the check's memory,
 * valid until the stage checks its next group.
 */
class IdentityTable {
  private constructor(
    /** ID_INTS per identity. */
    readonly ids: Int32Array,
    readonly distinct: number,
    /** Per identity: 1 when a recorded file claimed it. */
    readonly claimed: Uint8Array,
    /** Lines of identities held more than once, each with its identity: [line, identity, ...]. */
    readonly shared: Int32Array,
    readonly sharedCount: number,
    /** Per identity: 1 when the group holds it more than once. */
    readonly multi: Uint8Array,
    /** Lines of the group. */
    readonly groupLines: number,
    /** Per chunk of the group: its lines of the group. */
    readonly groupLinesOf: Int32Array,
  ) {}

  static build(group: GroupLines, check: WasmIdentities): IdentityTable {
    const { ids, distinct, shared, sharedCount, multi, claimed, groupLines, groupLinesOf } = check.check(
      group.chunks.map((c) => c.lines),
      group.order.ords,
      SLOTS_PER_DAY,
    );
    // The check keeps an identity's first line in staging order; of an identity held more than once,
    // the line kept is the first in the group's order (its lines are listed in staging order).
    for (let s = 0; s < sharedCount; s++) {
      const g = shared[2 * s]!;
      const r = shared[2 * s + 1]! * ID_INTS + 2;
      if (group.before(g, ids[r]!)) ids[r] = g;
    }
    return new IdentityTable(ids, distinct, claimed, shared, sharedCount, multi, groupLines, groupLinesOf);
  }
}

/**
 * A table slot for an identity: its hash is uniform already, the low bits are mixed with the high
 * (assembly/identities.ts computes the same).
 */
function hashSlot(high: number, low: number, mask: number): number {
  return (Math.imul(low ^ (high >>> 15), 0x9e3779b1) >>> 7) & mask;
}

/**
 * Marks the identities a recorded file claimed. Only the group's days that hold claims are looked at:
 * none on a new night, whose days no file claimed yet.
 */
async function markClaimed(
  connection: DuckDBConnection,
  table: IdentityTable,
  known: readonly number[],
): Promise<void> {
  if (table.distinct === 0) return;
  const { ids, distinct } = table;
  const days = new Set<number>();
  let lastDay = -1;
  for (let r = 3; r < distinct * ID_INTS; r += ID_INTS) {
    // Most identities of a night share a day or two: the set is touched when the day changes.
    if (ids[r] !== lastDay) {
      lastDay = ids[r]!;
      days.add(lastDay);
    }
  }
  const claimedDays = new Set(known.filter((day) => days.has(day)));
  if (claimedDays.size === 0) return;
  let n = 0;
  for (let r = 0; r < distinct * ID_INTS; r += ID_INTS) if (claimedDays.has(ids[r + 3]!)) n++;
  const high = new Int32Array(n);
  const low = new Int32Array(n);
  const day = new Int32Array(n);
  let j = 0;
  for (let r = 0; r < distinct * ID_INTS; r += ID_INTS) {
    if (!claimedDays.has(ids[r + 3]!)) continue;
    high[j] = ids[r]!;
    low[j] = ids[r + 1]!;
    day[j] = ids[r + 3]!;
    j++;
  }
  await appendColumns(connection, 'claim_probe', PROBE_TYPES, [high, low, day], n);
  // Of the probed identities, those a recorded file claimed on one of those days: the join reads the
  // claims of those days only.
  const claims = [...claimedDays].map((day) => `SELECT id_hash FROM ${claimTable(day)}`).join(' UNION ALL ');
  const found = await connection.runAndReadAll(
    `SELECT DISTINCT p.hash_high, p.hash_low FROM claim_probe p JOIN (${claims}) c ON c.id_hash = ${idHash('p')}`,
  );
  await connection.run(CLAIM_SQL.clearProbe);
  if (found.currentRowCount === 0) return;
  // The identities found, in a table of their own (few: the records delivered again), then looked up
  // identity by identity.
  let size = 16;
  while (size < found.currentRowCount * 2) size *= 2;
  const mask = size - 1;
  const foundHigh = new Int32Array(size);
  const foundLow = new Int32Array(size);
  const used = new Uint8Array(size);
  for (const [h, l] of found.getRows()) {
    let e = hashSlot(Number(h), Number(l), mask);
    while (used[e] === 1) e = (e + 1) & mask;
    used[e] = 1;
    foundHigh[e] = Number(h);
    foundLow[e] = Number(l);
  }
  for (let id = 0; id < distinct; id++) {
    const h = ids[id * ID_INTS]!;
    const l = ids[id * ID_INTS + 1]!;
    for (let e = hashSlot(h, l, mask); used[e] === 1; e = (e + 1) & mask) {
      if (foundHigh[e] === h && foundLow[e] === l) {
        table.claimed[id] = 1;
        break;
      }
    }
  }
}

/** Repeats per partial row (task, ref) of a table beside the rollup: requests and bytes sent. */
interface SideRepeats {
  readonly count: number;
  readonly columns: (Int32Array | Float64Array)[];
}

/**
 * Repeats summed per partial row: of the rollup (item, task, ref), of the network table (task, net_ref)
 * and of the holdings table (task, held_ref).
 */
interface GroupRepeats {
  readonly count: number;
  readonly columns: (Int32Array | Float64Array)[];
  readonly byItem: Map<number, number>;
  readonly network: SideRepeats;
  readonly held: SideRepeats;
}

/**
 * The repeats of the group, summed per partial row they were counted in (item, task, ref), per partial
 * network row (task, net_ref) and per holdings row (task, held_ref, for lines that read an object):
 * every line of a claimed identity, and every line but the kept one of an identity the group holds
 * more than once.
 */
function repeatsOf(group: GroupLines, table: IdentityTable): GroupRepeats {
  const rows = new Map<
    string,
    { item: number; task: number; ref: number; n: number; bytes: number; records: number }
  >();
  const netRows: SideRows = new Map();
  const heldRows: SideRows = new Map();
  const byItem = new Map<number, number>();
  const { ids, claimed, shared, multi } = table;
  const repeat = (g: number) => {
    const k = group.chunkOf(g);
    const { task, lines: l } = group.chunks[k]!;
    const i = g - group.start[k]!;
    const item = l.item[i]!;
    const ref = l.ref[i]!;
    const key = `${item}:${task}:${ref}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = { item, task, ref, n: 0, bytes: 0, records: 0 };
      rows.set(key, row);
    }
    row.n++;
    row.bytes += l.bytesSent[i]!;
    row.records += l.records[i]!;
    byItem.set(item, (byItem.get(item) ?? 0) + 1);
    addSide(netRows, task, l.netRef[i]!, l.bytesSent[i]!);
    const heldRef = l.heldRef === undefined ? -1 : l.heldRef[i]!;
    if (heldRef >= 0) addSide(heldRows, task, heldRef, l.bytesSent[i]!);
  };
  // Of an identity held more than once: every line but the kept one, or every line when claimed.
  for (let s = 0; s < table.sharedCount; s++) {
    const g = shared[2 * s]!;
    const id = shared[2 * s + 1]!;
    if (claimed[id] === 1 || ids[id * ID_INTS + 2] !== g) repeat(g);
  }
  // Of a claimed identity held once: its line.
  for (let id = 0; id < table.distinct; id++) {
    if (claimed[id] === 1 && multi[id] !== 1) repeat(ids[id * ID_INTS + 2]!);
  }
  const count = rows.size;
  const columns = [
    new Int32Array(count),
    new Int32Array(count),
    new Int32Array(count),
    new Float64Array(count),
    new Float64Array(count),
    new Float64Array(count),
  ];
  let j = 0;
  for (const r of rows.values()) {
    columns[0]![j] = r.item;
    columns[1]![j] = r.task;
    columns[2]![j] = r.ref;
    columns[3]![j] = r.n;
    columns[4]![j] = r.bytes;
    columns[5]![j] = r.records;
    j++;
  }
  return { count, columns, byItem, network: sideColumns(netRows), held: sideColumns(heldRows) };
}

type SideRows = Map<string, { task: number; ref: number; n: number; bytes: number }>;

/** One repeat of `bytes` bytes summed into row (task, ref) of a table beside the rollup. */
function addSide(rows: SideRows, task: number, ref: number, bytes: number): void {
  const key = `${task}:${ref}`;
  let row = rows.get(key);
  if (row === undefined) {
    row = { task, ref, n: 0, bytes: 0 };
    rows.set(key, row);
  }
  row.n++;
  row.bytes += bytes;
}

/** The repeats of `rows` as columns task, ref, requests, bytes sent. */
function sideColumns(rows: SideRows): SideRepeats {
  const count = rows.size;
  const columns = [
    new Int32Array(count),
    new Int32Array(count),
    new Float64Array(count),
    new Float64Array(count),
  ];
  let j = 0;
  for (const r of rows.values()) {
    columns[0]![j] = r.task;
    columns[1]![j] = r.ref;
    columns[2]![j] = r.n;
    columns[3]![j] = r.bytes;
    j++;
  }
  return { count, columns };
}

/**
 * The group's new claims (WasmIdentities.newClaims: each identity no recorded file claimed, claimed by
 * the file of its kept line on the day of its earliest line, by day), each into its day's table
 * (created when the day has none: `known` are the days that have one), a slice at a time.
 */
async function writeNewClaims(
  connection: DuckDBConnection,
  claims: ClaimsByDay,
  known: readonly number[],
): Promise<void> {
  const { firstDay, starts } = claims;
  const tables = new Set(known);
  for (let k = 0; k + 1 < starts.length; k++) {
    const begin = starts[k]!;
    const end = starts[k + 1]!;
    if (begin === end) continue;
    const day = firstDay + k;
    if (!tables.has(day)) {
      await connection.run(createClaimTable(day));
      tables.add(day);
    }
    for (let from = begin; from < end; from += CLAIM_SLICE) {
      const to = Math.min(end, from + CLAIM_SLICE);
      await appendColumns(connection, claimTable(day), CLAIM_TYPES, claims.slice(from, to - from), to - from);
    }
  }
  if (tables.size > known.length) await connection.run(claimsView([...tables].sort((a, b) => a - b)));
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
  const held = await claimDays(connection);
  if (held.length === 0) return;
  const newest = held[held.length - 1]!;
  const kept = held.filter((day) => day >= newest - days);
  if (kept.length === held.length) return;
  for (const day of held) if (day < newest - days) await connection.run(`DROP TABLE ${claimTable(day)}`);
  await connection.run(claimsView(kept));
}
