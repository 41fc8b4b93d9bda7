/**
 * The usage rollup read from Athena: the AWS implementation of the UsageSource port, over the
 * Iceberg rollup table that the rollup step fills. Month-to-date evaluation reads only this table.
 */
import type { Interval } from '../../domain/time.js';
import { SLOT_MS, STATUS_CLASSES, type StatusClass, type UsageRow } from '../../domain/usage.js';
import type { InputSummary, UsageSource } from '../../ports.js';
import type { AthenaQueryRunner, QueryOutcome, ResultRow } from './athena-client.js';
import {
  type AthenaTables,
  parseSlotStart,
  REPEATS_OPERATION,
  readInputSql,
  readLastSlotSql,
  readUsageSql,
  type SqlQuery,
} from './sql.js';

/** A rollup row that does not have the shape the rollup step writes. */
export class RollupRowError extends Error {
  override readonly name = 'RollupRowError';
}

function text(row: ResultRow, column: string): string {
  const v = row[column];
  if (v === null || v === undefined) throw new RollupRowError(`rollup column ${column} is NULL`);
  return v;
}

function count(row: ResultRow, column: string): bigint {
  const v = row[column];
  // sum() over no non-NULL value is NULL; the rollup never writes NULL counts, so this is 0.
  if (v === null || v === undefined) return 0n;
  if (!/^\d+$/.test(v)) throw new RollupRowError(`rollup column ${column} is not a count: "${v}"`);
  return BigInt(v);
}

/** One result row of readUsageSql as a UsageRow. */
export function usageRowOf(row: ResultRow): UsageRow {
  const statusClass = text(row, 'status_class');
  if (!(STATUS_CLASSES as readonly string[]).includes(statusClass)) {
    throw new RollupRowError(
      `rollup status class "${statusClass}" is not one of ${STATUS_CLASSES.join(' ')}`,
    );
  }
  return {
    slotStart: parseSlotStart(text(row, 'slot')),
    bucket: text(row, 'bucket'),
    requester: text(row, 'requester'),
    accessPoint: text(row, 'access_point'),
    dataset: text(row, 'dataset'),
    operation: text(row, 'operation'),
    statusClass: statusClass as StatusClass,
    requests: count(row, 'requests'),
    bytesSent: count(row, 'bytes_sent'),
    records: count(row, 'records'),
  };
}

/** One statement a step ran on Athena, for the report's evidence. */
export interface RecordedQuery {
  /** What the statement was for, e.g. `usage 2026-03-01T00:00:00.000Z..2026-03-12T00:00:00.000Z`. */
  readonly purpose: string;
  readonly sql: string;
  readonly params: readonly string[];
  readonly queryExecutionId: string;
  readonly bytesScanned: number;
}

/** UsageSource over the Athena rollup table. Keeps the bytes its queries scanned, for the report. */
export class AthenaUsageSource implements UsageSource {
  readonly engine = 'athena';
  private scanned = 0;
  private readonly ids: string[] = [];
  private readonly recorded: RecordedQuery[] = [];

  constructor(
    private readonly runner: AthenaQueryRunner,
    private readonly tables: AthenaTables,
    /** Makes the queries' ClientRequestTokens unique to this audit run. */
    private readonly runId: string,
  ) {}

  async usage(range: Interval): Promise<UsageRow[]> {
    const query = readUsageSql(this.tables, range);
    const out = await this.runner.select(query, this.runId, usageRowOf);
    this.record(`usage ${span(range)}`, query, out);
    return [...out.rows];
  }

  /** The end of the newest usage slot in `range` (its start plus SLOT_MS), or undefined when none. */
  async dataEnd(range: Interval): Promise<number | undefined> {
    const query = readLastSlotSql(this.tables, range);
    const out = await this.runner.select(query, this.runId, (row) => row['last_slot']);
    this.record(`data end ${span(range)}`, query, out);
    const last = out.rows[0];
    return last === null || last === undefined ? undefined : parseSlotStart(last) + SLOT_MS;
  }

  /** Bytes scanned by every query so far. */
  get bytesScanned(): number {
    return this.scanned;
  }

  get queryExecutionIds(): readonly string[] {
    return this.ids;
  }

  /** Every statement so far, with its SQL, parameters and bytes scanned. */
  get queries(): readonly RecordedQuery[] {
    return this.recorded;
  }

  private record(purpose: string, query: SqlQuery, out: QueryOutcome): void {
    this.scanned += out.bytesScanned;
    this.ids.push(out.queryExecutionId);
    this.recorded.push({
      purpose,
      sql: query.sql,
      params: query.params,
      queryExecutionId: out.queryExecutionId,
      bytesScanned: out.bytesScanned,
    });
  }
}

function span(range: Interval): string {
  return `${new Date(range.startMs).toISOString()}..${new Date(range.endMs).toISOString()}`;
}

/**
 * The input section of a report on Athena, from the rollup of the delivery dates in
 * [fromBatch, toBatch]: lines read, usage lines and malformed lines by reason, taken from the
 * malformed-line markers that the rollup writes, so the logs are not scanned a second time.
 * A "file" here is a delivery-date partition; bytes and samples are not known on this path (0, none).
 */
export async function athenaInputSummary(
  runner: AthenaQueryRunner,
  tables: AthenaTables,
  runId: string,
  batches: { readonly from: string; readonly to: string },
): Promise<InputSummary & { readonly bytesScanned: number; readonly query: RecordedQuery }> {
  const sql = readInputSql(tables, batches.from, batches.to);
  const out = await runner.select(sql, runId, (row) => ({
    batch: text(row, 'batch'),
    kind: row['kind'] ?? '',
    lines: count(row, 'line_count'),
  }));
  const byReason: Record<string, number> = {};
  let lines = 0;
  let parsed = 0;
  let repeats = 0;
  for (const r of out.rows) {
    const n = Number(r.lines);
    lines += n;
    if (r.kind === '') parsed += n;
    else if (r.kind === REPEATS_OPERATION) {
      // Parsed lines that repeat a request already counted: read, but not usage.
      parsed += n;
      repeats += n;
    } else {
      const reason = r.kind.slice(r.kind.indexOf(':') + 1, -1);
      byReason[reason] = (byReason[reason] ?? 0) + n;
    }
  }
  return {
    files: new Set(out.rows.map((r) => r.batch)).size,
    filesSkipped: 0,
    bytes: 0,
    lines,
    parsedLines: parsed,
    malformedLines: lines - parsed,
    malformedByReason: byReason,
    repeatsDropped: repeats,
    malformedSamples: [],
    unreadableFiles: [],
    bytesScanned: out.bytesScanned,
    query: {
      purpose: `input lines of delivery dates ${batches.from}..${batches.to}`,
      sql: sql.sql,
      params: sql.params,
      queryExecutionId: out.queryExecutionId,
      bytesScanned: out.bytesScanned,
    },
  };
}
