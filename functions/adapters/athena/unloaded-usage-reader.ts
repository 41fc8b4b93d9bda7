/**
 * Reading what the aggregate step's UNLOADs wrote (athena-aggregated-usage.ts): one partner's folder of
 * daily sums, or the unattributed pairs, as gzip JSON Lines objects listed under their folder. Also
 * the AggregatedUsageSource port over Athena for a caller that unloads and reads in one process.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { HeldDatasetRow, HeldDayRow } from '../../domain/holdings.js';
import {
  compareNetworkFindings,
  type NetworkFinding,
  OUTSIDE_DECLARED_NETWORK,
  SHARED_CREDENTIAL,
} from '../../domain/network-findings.js';
import type { Registry } from '../../domain/registry.js';
import type {
  AggregatedUsageSource,
  DailyUsage,
  HoldingsRequest,
  HoldingsSource,
  PartnerDailyUsageRequest,
  UnattributedDatasetUsage,
  UnattributedUsageRequest,
} from '../../ports.js';
import { isRetryable, S3StoreError } from '../s3/s3-read.js';
import type { AggregationTables } from '../sql/usage-aggregation-sql.js';
import {
  AthenaUsageUnloader,
  partitionFolder,
  type UnloadedUsageLocation,
} from './athena-aggregated-usage.js';
import type { AthenaQueryRunner } from './athena-client.js';

/** An unloaded row that does not have the shape the UNLOAD writes. */
export class UnloadedRowError extends Error {
  override readonly name = 'UnloadedRowError';
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

/** An instant in epoch milliseconds, written as text; it must be a safe integer. */
function instant(row: JsonRow, column: string, where: string): number {
  const v = count(row, column, where);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new UnloadedRowError(`${where}: column ${column} is not an instant in ms: ${v}`);
  return Number(v);
}

/** Rows by application, dataset and local date: the order every caller gets. */
function byApplicationDatasetDate(
  a: { readonly applicationId: string; readonly dataset: string; readonly date: string },
  b: { readonly applicationId: string; readonly dataset: string; readonly date: string },
): number {
  return cmp(a.applicationId, b.applicationId) || cmp(a.dataset, b.dataset) || cmp(a.date, b.date);
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
    const out = await this.partnerRows(this.location.dailyPrefix, partnerId, (r, where) => ({
      partnerId,
      applicationId: text(r, 'application_id', where),
      dataset: text(r, 'dataset', where),
      date: text(r, 'local_date', where),
      requests: count(r, 'requests', where),
      bytesSent: count(r, 'bytes_sent', where),
      records: count(r, 'records', where),
    }));
    // Objects come back in key order, not in the statement's: the same order for every caller.
    return out.sort(byApplicationDatasetDate);
  }

  /**
   * What one partner holds per application (and `*`) and dataset, as the holdings UNLOAD wrote it into
   * its folder (none when it read nothing, or when the location has no holdings folder).
   */
  async partnerHeldDatasets(partnerId: string): Promise<HeldDatasetRow[]> {
    if (this.location.heldPrefix === undefined) return [];
    const out = await this.partnerRows(this.location.heldPrefix, partnerId, (r, where) => ({
      partnerId,
      applicationId: text(r, 'application_id', where),
      dataset: text(r, 'dataset', where),
      objects: count(r, 'objects', where),
      partialObjects: count(r, 'partial_objects', where),
      unknownSizeObjects: count(r, 'unknown_size_objects', where),
      objectBytes: count(r, 'object_bytes', where),
      records: count(r, 'records', where),
      retrievals: count(r, 'retrievals', where),
      fullRetrievals: count(r, 'full_retrievals', where),
      bytesSent: count(r, 'bytes_sent', where),
      firstMs: instant(r, 'first_ms', where),
      lastMs: instant(r, 'last_ms', where),
    }));
    return out.sort((a, b) => cmp(a.applicationId, b.applicationId) || cmp(a.dataset, b.dataset));
  }

  /** One partner's distinct objects first read per local date, as the holdings UNLOAD wrote them. */
  async partnerHeldDays(partnerId: string): Promise<HeldDayRow[]> {
    if (this.location.heldDaysPrefix === undefined) return [];
    const out = await this.partnerRows(this.location.heldDaysPrefix, partnerId, (r, where) => ({
      partnerId,
      applicationId: text(r, 'application_id', where),
      dataset: text(r, 'dataset', where),
      date: text(r, 'local_date', where),
      newObjects: count(r, 'new_objects', where),
    }));
    return out.sort(byApplicationDatasetDate);
  }

  /**
   * One partner's network findings from the folder `prefix` (location.networkPrefix or
   * networkNoticePrefix), in the statement's order (none when the partner has none there).
   */
  async partnerNetworkFindings(partnerId: string, prefix: string): Promise<NetworkFinding[]> {
    const out = await this.partnerRows(prefix, partnerId, (r, where): NetworkFinding => {
      const kind = text(r, 'kind', where);
      if (kind !== OUTSIDE_DECLARED_NETWORK && kind !== SHARED_CREDENTIAL)
        throw new UnloadedRowError(`${where}: column kind is not a network finding kind: ${kind}`);
      const by = r['by_partner'] ?? null;
      return {
        kind,
        partnerId,
        applicationId: text(r, 'application_id', where),
        requester: text(r, 'requester', where),
        accessPoint: text(r, 'access_point', where),
        sourcePrefix: text(r, 'source_prefix', where),
        addressClass: text(r, 'address_class', where),
        vpcEndpoint: text(r, 'vpce', where),
        sourceRegion: text(r, 'source_region', where),
        declaredBy:
          by === null
            ? null
            : { partnerId: text(r, 'by_partner', where), applicationId: text(r, 'by_application', where) },
        requests: count(r, 'requests', where),
        bytesSent: count(r, 'bytes_sent', where),
        firstSeenMs: Number(count(r, 'first_ms', where)),
        lastSeenMs: Number(count(r, 'last_ms', where)),
        firstEverMs: Number(count(r, 'first_ever_ms', where)),
      };
    });
    // Objects come back in key order: sorted as the statement orders them.
    return out.sort(compareNetworkFindings);
  }

  /**
   * Every row of one partner's folder (`partner_id=<id>/`) under `folder`, each made by `row` with where
   * it came from (object and line) for its errors.
   */
  private async partnerRows<T>(
    folder: string,
    partnerId: string,
    row: (r: JsonRow, where: string) => T,
  ): Promise<T[]> {
    const out: T[] = [];
    for (const { key, rows } of await this.readFolder(
      `${folder}${partitionFolder('partner_id', partnerId)}`,
    )) {
      rows.forEach((r, i) => {
        out.push(row(r, `s3://${this.location.bucket}/${key} line ${i + 1}`));
      });
    }
    return out;
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

/**
 * The HoldingsSource port in one process (as AthenaAggregatedUsageSource for usage): each request
 * unloads the holdings statements (the rollup table's held grain) to folders of its own under
 * `runPrefix` and reads them back, partner by partner (`partnerIds`, by default the registry's).
 */
export class AthenaHoldingsSource implements HoldingsSource {
  readonly engine = 'athena';
  readonly unloader: AthenaUsageUnloader;
  private readonly unloaded = new Map<string, Promise<UnloadedUsageReader>>();

  constructor(
    runner: AthenaQueryRunner,
    private readonly s3: S3Client,
    tables: AggregationTables,
    private readonly output: { readonly bucket: string; readonly runPrefix: string },
    runId: string,
  ) {
    this.unloader = new AthenaUsageUnloader(runner, tables, runId);
  }

  async heldDatasets(registry: Registry, request: HoldingsRequest): Promise<HeldDatasetRow[]> {
    const reader = await this.reader(request);
    const out: HeldDatasetRow[] = [];
    for (const id of partnersOf(registry, request)) out.push(...(await reader.partnerHeldDatasets(id)));
    return out;
  }

  async heldDays(registry: Registry, request: HoldingsRequest): Promise<HeldDayRow[]> {
    const reader = await this.reader(request);
    const out: HeldDayRow[] = [];
    for (const id of partnersOf(registry, request)) out.push(...(await reader.partnerHeldDays(id)));
    return out;
  }

  /** One UNLOAD of both statements per request: heldDatasets and heldDays of a request share it. */
  private reader(request: HoldingsRequest): Promise<UnloadedUsageReader> {
    const key = digest(request);
    let r = this.unloaded.get(key);
    if (r === undefined) {
      const base = `${this.output.runPrefix}held-${key}/`;
      r = this.unloader
        .unloadHoldingsPerSubmission(request, {
          bucket: this.output.bucket,
          dailyPrefix: base,
          unattributedPrefix: base,
          heldPrefix: `${base}datasets/`,
          heldDaysPrefix: `${base}days/`,
        })
        .then((location) => new UnloadedUsageReader(this.s3, location));
      this.unloaded.set(key, r);
    }
    return r;
  }
}

function partnersOf(registry: Registry, request: HoldingsRequest): string[] {
  return request.partnerId === undefined ? registry.partners.map((p) => p.id) : [request.partnerId];
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
