/**
 * The AWS implementation of the AggregatedUsageSource port (issue 13): Athena attributes and sums the
 * rollup (usage-aggregation-sql.ts, Trino dialect, over the registry's Glue tables), UNLOADs the sums
 * to the report bucket as gzip JSON Lines (unload-sql.ts), and the caller reads back only what it
 * needs: one partner's folder, or the unattributed pairs. No result crosses GetQueryResults, so what a
 * Lambda pages through never grows with the rollup's rows, and no Lambda needs every partner's sums.
 *
 * The two halves are apart because on AWS they run in different steps: the aggregate step unloads
 * once per run ({@link AthenaUsageUnloader}); each partner's step, and the step that assembles the
 * evaluation, read ({@link UnloadedUsageReader}). {@link AthenaAggregatedUsageSource} joins them behind
 * the port for a caller that does both in one process.
 *
 * The registry tables Athena attributes with are those the stack deployed with the registry
 * (lib/constructs/registry-tables.ts), so the registry a caller passes must be the deployed one; the
 * steps check that by the registry's hash (functions/handlers/aggregate.handler.ts).
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Registry } from '../../domain/registry.js';
import type {
  AggregatedUsageSource,
  DailyUsage,
  PartnerDailyUsageRequest,
  UnattributedDatasetUsage,
  UnattributedUsageRequest,
} from '../../ports.js';
import { isRetryable, S3StoreError } from '../s3/s3-read.js';
import type { AggregationTables } from '../sql/usage-aggregation-sql.js';
import type { AthenaQueryRunner } from './athena-client.js';
import type { RecordedQuery } from './athena-usage-source.js';
import { unloadLocation, unloadPartnerDailyUsageSql, unloadUnattributedUsageSql } from './unload-sql.js';

/** Where a run's unloaded sums live: two folders of one bucket. */
export interface UnloadedUsageLocation {
  readonly bucket: string;
  /** Folder of the daily sums, one `partner_id=<id>/` folder per partner, ending in `/`. */
  readonly dailyPrefix: string;
  /** Folder of the unattributed pairs, ending in `/`. */
  readonly unattributedPrefix: string;
}

/** The folders of a run's aggregation under `runs/<runId>/aggregate/`. */
export function unloadedUsageLocation(bucket: string, runPrefix: string): UnloadedUsageLocation {
  return {
    bucket,
    dailyPrefix: `${runPrefix}aggregate/daily/`,
    unattributedPrefix: `${runPrefix}aggregate/unattributed/`,
  };
}

/** An unloaded row that does not have the shape the UNLOAD writes. */
export class UnloadedRowError extends Error {
  override readonly name = 'UnloadedRowError';
}

/**
 * Athena's (Hive's) escaping of a partition value in a folder name: the characters a path cannot
 * hold as they are become `%XX`. Registry ids are `[a-z0-9][a-z0-9-_]*`, which it leaves alone.
 */
export function partitionFolder(column: string, value: string): string {
  const escaped = value.replace(
    /[\x00-\x1f"#%'*/:=?\\\x7f{[\]^]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
  return `${column}=${escaped}/`;
}

/** Runs the UNLOADs of one run. Keeps what each statement scanned, for the report. */
export class AthenaUsageUnloader {
  private readonly recorded: RecordedQuery[] = [];

  constructor(
    private readonly runner: AthenaQueryRunner,
    private readonly tables: AggregationTables,
    /** Makes the queries' ClientRequestTokens unique to this audit run. */
    private readonly runId: string,
  ) {}

  /** Unloads the daily sums of `request` into `location.dailyPrefix`, by partner. */
  async unloadPartnerDailyUsage(
    request: PartnerDailyUsageRequest,
    location: UnloadedUsageLocation,
  ): Promise<RecordedQuery> {
    const query = unloadPartnerDailyUsageSql(
      this.tables,
      request,
      unloadLocation(location.bucket, location.dailyPrefix),
    );
    const out = await this.runner.run(query, this.runId);
    return this.record(`daily usage by partner ${request.fromDate}..${request.toDate}`, query, out);
  }

  /** Unloads the unattributed pairs of `request` into `location.unattributedPrefix`. */
  async unloadUnattributedUsage(
    request: UnattributedUsageRequest,
    location: UnloadedUsageLocation,
  ): Promise<RecordedQuery> {
    const query = unloadUnattributedUsageSql(
      this.tables,
      request,
      unloadLocation(location.bucket, location.unattributedPrefix),
    );
    const out = await this.runner.run(query, this.runId);
    const span = `${new Date(request.range.startMs).toISOString()}..${new Date(request.range.endMs).toISOString()}`;
    return this.record(`unattributed usage ${span}`, query, out);
  }

  get queries(): readonly RecordedQuery[] {
    return this.recorded;
  }

  get bytesScanned(): number {
    return this.recorded.reduce((n, q) => n + q.bytesScanned, 0);
  }

  private record(
    purpose: string,
    query: { sql: string; params: readonly string[] },
    out: { queryExecutionId: string; bytesScanned: number },
  ): RecordedQuery {
    const q: RecordedQuery = {
      purpose,
      sql: query.sql,
      params: query.params,
      queryExecutionId: out.queryExecutionId,
      bytesScanned: out.bytesScanned,
    };
    this.recorded.push(q);
    return q;
  }
}

type JsonRow = Readonly<Record<string, unknown>>;

function text(row: JsonRow, column: string, where: string): string {
  const v = row[column];
  if (typeof v !== 'string')
    throw new UnloadedRowError(`${where}: column ${column} is not text: ${String(v)}`);
  return v;
}

function count(row: JsonRow, column: string, where: string): bigint {
  const v = row[column];
  // sum() over no non-NULL value is NULL (Athena leaves the key out); the rollup never writes NULL counts.
  if (v === null || v === undefined) return 0n;
  if (typeof v !== 'string' || !/^\d+$/.test(v))
    throw new UnloadedRowError(`${where}: column ${column} is not a count: ${JSON.stringify(v)}`);
  return BigInt(v);
}

/** Reads what an UNLOAD wrote: the gzip JSON Lines objects of a folder. Counts what it read. */
export class UnloadedUsageReader {
  /** Objects and (compressed) bytes read so far, for measuring. */
  objectsRead = 0;
  bytesRead = 0;

  constructor(
    private readonly s3: S3Client,
    readonly location: UnloadedUsageLocation,
  ) {}

  /** The daily sums of one partner (none when the partner had no counted use). */
  async partnerDailyUsage(partnerId: string): Promise<DailyUsage[]> {
    const prefix = `${this.location.dailyPrefix}${partitionFolder('partner_id', partnerId)}`;
    const out: DailyUsage[] = [];
    for (const { key, rows } of await this.readFolder(prefix)) {
      rows.forEach((r, i) => {
        const where = `s3://${this.location.bucket}/${key} line ${i + 1}`;
        out.push({
          partnerId,
          applicationId: text(r, 'application_id', where),
          dataset: text(r, 'dataset', where),
          date: text(r, 'local_date', where),
          requests: count(r, 'requests', where),
          bytesSent: count(r, 'bytes_sent', where),
          records: count(r, 'records', where),
        });
      });
    }
    // Objects come back in key order, not in the statement's: the same order for every caller.
    return out.sort(
      (a, b) => cmp(a.applicationId, b.applicationId) || cmp(a.dataset, b.dataset) || cmp(a.date, b.date),
    );
  }

  /** Every unattributed requester, access point and dataset the UNLOAD wrote. */
  async unattributedUsage(): Promise<UnattributedDatasetUsage[]> {
    const out: { position: number; row: UnattributedDatasetUsage }[] = [];
    for (const { key, rows } of await this.readFolder(this.location.unattributedPrefix)) {
      rows.forEach((r, i) => {
        const where = `s3://${this.location.bucket}/${key} line ${i + 1}`;
        out.push({
          position: Number(count(r, 'position', where)),
          row: {
            requester: text(r, 'requester', where),
            accessPoint: text(r, 'access_point', where),
            dataset: text(r, 'dataset', where),
            requests: count(r, 'requests', where),
            bytesSent: count(r, 'bytes_sent', where),
            records: count(r, 'records', where),
            touchedPartnerData: count(r, 'touched', where) === 1n,
          },
        });
      });
    }
    return out.sort((a, b) => a.position - b.position || cmp(a.row.dataset, b.row.dataset)).map((r) => r.row);
  }

  private async readFolder(prefix: string): Promise<{ key: string; rows: JsonRow[] }[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.send(
        () =>
          this.s3.send(
            new ListObjectsV2Command({
              Bucket: this.location.bucket,
              Prefix: prefix,
              ContinuationToken: token,
            }),
          ),
        `list s3://${this.location.bucket}/${prefix}`,
      );
      for (const o of page.Contents ?? []) if (o.Key && !o.Key.endsWith('/')) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    keys.sort();
    const out: { key: string; rows: JsonRow[] }[] = [];
    for (const key of keys) {
      const where = `s3://${this.location.bucket}/${key}`;
      const got = await this.send(
        () => this.s3.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key })),
        `read ${where}`,
      );
      if (!got.Body) throw new S3StoreError(`could not read ${where}: the object has no body`, true);
      const bytes = await got.Body.transformToByteArray();
      this.objectsRead++;
      this.bytesRead += bytes.length;
      const body =
        key.endsWith('.gz') || (bytes[0] === 0x1f && bytes[1] === 0x8b) ? gunzipSync(bytes) : bytes;
      const rows = Buffer.from(body)
        .toString('utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line, i) => {
          try {
            return JSON.parse(line) as JsonRow;
          } catch (error) {
            throw new UnloadedRowError(`${where} line ${i + 1}: not JSON: ${(error as Error).message}`, {
              cause: error,
            });
          }
        });
      out.push({ key, rows });
    }
    return out;
  }

  private async send<T>(call: () => Promise<T>, what: string): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new S3StoreError(`could not ${what}: ${(error as Error).message}`, isRetryable(error), {
        cause: error,
      });
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The port in one process: each call unloads its statement to a folder of its own under `runPrefix`
 * (named by a hash of the request, since Athena unloads only into an empty folder) and reads it back.
 * `partnerIds` limits what partnerDailyUsage reads; by default every partner of the registry.
 */
export class AthenaAggregatedUsageSource implements AggregatedUsageSource {
  readonly engine = 'athena';
  readonly unloader: AthenaUsageUnloader;
  private readonly readers: UnloadedUsageReader[] = [];

  constructor(
    runner: AthenaQueryRunner,
    private readonly s3: S3Client,
    tables: AggregationTables,
    private readonly output: { readonly bucket: string; readonly runPrefix: string },
    runId: string,
  ) {
    this.unloader = new AthenaUsageUnloader(runner, tables, runId);
  }

  async partnerDailyUsage(registry: Registry, request: PartnerDailyUsageRequest): Promise<DailyUsage[]> {
    const reader = this.reader(`daily-${digest(request)}/`);
    await this.unloader.unloadPartnerDailyUsage(request, reader.location);
    const out: DailyUsage[] = [];
    for (const p of registry.partners) out.push(...(await reader.partnerDailyUsage(p.id)));
    return out;
  }

  async unattributedUsage(
    _registry: Registry,
    request: UnattributedUsageRequest,
  ): Promise<UnattributedDatasetUsage[]> {
    const reader = this.reader(`unattributed-${digest(request)}/`);
    await this.unloader.unloadUnattributedUsage(request, reader.location);
    return reader.unattributedUsage();
  }

  /** Objects and bytes read back from S3 so far. */
  get read(): { readonly objects: number; readonly bytes: number } {
    return {
      objects: this.readers.reduce((n, r) => n + r.objectsRead, 0),
      bytes: this.readers.reduce((n, r) => n + r.bytesRead, 0),
    };
  }

  private reader(folder: string): UnloadedUsageReader {
    const base = `${this.output.runPrefix}${folder}`;
    const r = new UnloadedUsageReader(this.s3, {
      bucket: this.output.bucket,
      dailyPrefix: base,
      unattributedPrefix: base,
    });
    this.readers.push(r);
    return r;
  }
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
