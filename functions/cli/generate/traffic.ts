/**
 * Individual log records: what a partner application, the provider, AWS itself or a stranger does to
 * the bucket at a given instant, with the facts the ground truth needs about each record.
 */
import type { LogFieldCount, LogLineFields } from './log-line.js';
import { ALNUM_UPPER, HEX_LOWER, Rng, WeightedTable } from './prng.js';
import type { AppModel, DataObject, PartnerModel, World } from './world.js';

/** Who a record is attributed to in the ground truth. */
export type Actor = 'partner' | 'unregistered' | 'ignored';

/** One record about to be written, with what the ground truth must know about it. */
export interface LogEvent {
  readonly fields: LogLineFields;
  readonly actor: Actor;
  /** World.apps index for partner records, else -1. */
  readonly appIndex: number;
  /** World.datasets index of the key, or -1 for bucket-level requests. */
  readonly datasetIndex: number;
  /** Whether the partner's contract counts it: REST.GET.OBJECT with a 2xx or 3xx status. */
  readonly counted: boolean;
  readonly bytesSent: number;
  /** Manifest records retrieved: full reads (GET 200) only. */
  readonly records: number;
  /**
   * Partner records of a world that declares networks: where the request came from, as the network
   * findings group it (NETWORKS.md); undefined otherwise.
   */
  readonly source: NetworkSource | undefined;
}

/** A partner record's source network, worked out here and not by functions/domain/networks.ts. */
export interface NetworkSource {
  /** IPv4 /24 or IPv6 /48 of the remote address. */
  readonly prefix: string;
  readonly addressClass: 'ipv4' | 'ipv6';
  /** The VPC endpoint the host header names, or `-`. */
  readonly vpce: string;
  /** The source region as the line shows it: `-` in lines shorter than 27 fields. */
  readonly region: string;
  /** The access point as the line shows it: `-` in lines shorter than 25 fields. */
  readonly accessPoint: string;
  /** All of the above with the app and requester: the ground truth's key. */
  readonly key: string;
}

/** Where a partner record came from, as its line shows it. */
function networkSource(
  app: AppModel,
  requester: string,
  fieldCount: LogFieldCount,
  from: { remoteIp: string; sourceRegion: string; vpce: string },
): NetworkSource {
  const { prefix, addressClass } = sourcePrefix(from.remoteIp);
  // What the line shows: the host header is the 23rd field, the access point the 25th, the region the 27th.
  const vpce = fieldCount >= 23 ? from.vpce : '-';
  const region = fieldCount >= 27 ? from.sourceRegion : '-';
  const accessPoint = fieldCount >= 25 ? app.accessPoint : '-';
  return {
    prefix,
    addressClass,
    vpce,
    region,
    accessPoint,
    key: [app.globalIndex, requester, accessPoint, prefix, vpce, region].join('\u0000'),
  };
}

/** The /24 of an IPv4 address or the /48 of the IPv6 addresses the world writes (`2001:db8:<hex>::<hex>`). */
export function sourcePrefix(ip: string): { prefix: string; addressClass: 'ipv4' | 'ipv6' } {
  if (!ip.includes(':')) return { prefix: `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`, addressClass: 'ipv4' };
  const groups = ip.split('::')[0]!.split(':').slice(0, 3);
  while (groups.length > 0 && Number.parseInt(groups[groups.length - 1]!, 16) === 0) groups.pop();
  return { prefix: `${groups.join(':')}::/48`, addressClass: 'ipv6' };
}

type PartnerAction =
  | 'get'
  | 'range'
  | 'notModified'
  | 'head'
  | 'notFound'
  | 'denied'
  | 'list'
  | 'slowDown'
  | 'error';

const PARTNER_ACTIONS = new WeightedTable<PartnerAction>([
  ['get', 72],
  ['range', 6],
  ['notModified', 4],
  ['head', 7],
  ['notFound', 3],
  ['denied', 1],
  ['list', 4],
  ['slowDown', 0.6],
  ['error', 0.2],
]);

const FIELD_COUNTS = new WeightedTable<LogFieldCount>([
  [27, 90],
  [26, 1],
  [25, 3],
  [24, 3],
  [18, 3],
]);

/** Offsets (minutes) some older log lines carry instead of +0000. */
const ODD_OFFSETS = [-300, -240, 60, 330];
const NO_EXTRA: readonly string[] = [];
const RANGE_SIZES = [1_048_576, 4_194_304, 8_388_608, 16_777_216];

export class Traffic {
  /**
   * @param netRng decides where partner requests come from; a stream of its own, so that the records'
   *   other draws (and the usage ground truth) are those of data sets written before networks existed.
   */
  constructor(
    private readonly world: World,
    private readonly rng: Rng,
    private readonly netRng: Rng = new Rng(0x6e6574),
  ) {}

  /**
   * Where a partner request comes from: usually one of the app's own addresses (`usual`); about 0.4 % of
   * requests from an address outside its declarations; 0.2 % of its partner's first app's requests from a
   * network the next partner's first app declares (a shared credential); 2.4 % of an assumed-role glob
   * app's requests from an AWS address of no declared range, in its declared region (inside only when
   * the line carries the source region field); 5 % of an app with a VPC endpoint's requests through it,
   * from a private address. Requests from outside AWS or through PrivateLink show no source region.
   */
  private source(
    partner: PartnerModel,
    app: AppModel,
    usual: string,
    host: string,
  ): { remoteIp: string; hostHeader: string; sourceRegion: string; vpce: string } {
    const r = this.netRng.next();
    const partners = this.world.partners;
    if (!this.world.declaresNetworks) {
      return { remoteIp: usual, hostHeader: host, sourceRegion: app.sourceRegion, vpce: '-' };
    }
    if (r < 0.004) {
      const ip = app.outsideIps[Math.floor((r / 0.004) * app.outsideIps.length)]!;
      return { remoteIp: ip, hostHeader: host, sourceRegion: '-', vpce: '-' };
    }
    if (r < 0.006 && partners.length > 1 && partner.apps[0] === app) {
      const theirs = partners[(partner.index + 1) % partners.length]!.apps[0]!.ips[0]!;
      const ip = `${theirs.slice(0, theirs.lastIndexOf('.'))}.251`;
      return { remoteIp: ip, hostHeader: host, sourceRegion: '-', vpce: '-' };
    }
    if (r < 0.03 && app.kind === 'arnGlob') {
      const ip = `3.${80 + (partner.index % 100)}.${app.globalIndex % 250}.9`;
      return { remoteIp: ip, hostHeader: host, sourceRegion: app.sourceRegion, vpce: '-' };
    }
    if (r < 0.06 && app.vpceHost !== '-') {
      const ip = `10.${partner.index % 250}.${8 + (app.globalIndex % 200)}.${2 + Math.floor(r * 1000)}`;
      return {
        remoteIp: ip,
        hostHeader: app.vpceHost,
        sourceRegion: '-',
        vpce: app.networks.vpcEndpoints[0]!,
      };
    }
    return { remoteIp: usual, hostHeader: host, sourceRegion: app.sourceRegion, vpce: '-' };
  }

  private requestId(): string {
    return this.rng.chars(ALNUM_UPPER, 16);
  }

  private hostId(): string {
    return this.world.hostIds[this.rng.int(this.world.hostIds.length)]!;
  }

  private errorBytes(): number {
    return this.rng.between(231, 366);
  }

  /** Layout and time offset for a line; lines through an access point need the 25th field. */
  private layout(needsAccessPoint: boolean): {
    fieldCount: LogFieldCount;
    offset: number;
    extra: string[] | undefined;
  } {
    const fieldCount = needsAccessPoint ? 27 : FIELD_COUNTS.draw(this.rng);
    let offset = 0;
    if (fieldCount === 18 ? this.rng.chance(0.4) : this.rng.chance(0.003))
      offset = this.rng.pick(ODD_OFFSETS);
    // A field S3 may add one day: readers must ignore unknown trailing fields.
    const extra = fieldCount === 27 && this.rng.chance(0.002) ? ['-'] : undefined;
    return { fieldCount, offset, extra };
  }

  private object(datasetIndex: number): DataObject {
    const objects = this.world.datasets[datasetIndex]!.objects;
    return objects[this.rng.skewed(objects.length)]!;
  }

  /** A partner application's request. */
  partner(partner: PartnerModel, app: AppModel, timeMs: number): LogEvent {
    const rng = this.rng;
    const w = this.world;
    const datasetIndex =
      partner.outside !== undefined && rng.chance(0.04) ? partner.outside : rng.pick(app.datasets);
    const dataset = w.datasets[datasetIndex]!;
    let action = PARTNER_ACTIONS.draw(rng);
    if (action === 'get' && rng.chance(dataset.rangeShare)) action = 'range';
    const obj = this.object(datasetIndex);
    const viaAp = app.accessPoint !== '-';
    const { fieldCount, offset, extra } = this.layout(viaAp);
    const apHost = viaAp
      ? `${app.accessPoint.slice(app.accessPoint.lastIndexOf('/') + 1)}-${w.providerAccount}`
      : '';
    const hostHeader = viaAp
      ? `${apHost}.s3-accesspoint.${w.region}.amazonaws.com`
      : app.virtualHosted
        ? `${w.bucket}.s3.${w.region}.amazonaws.com`
        : `s3.${w.region}.amazonaws.com`;
    const path = viaAp || app.virtualHosted ? '' : `/${w.bucket}`;
    const presigned = rng.chance(0.03);
    const query = presigned
      ? `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=${rng.chars(HEX_LOWER, 64)}`
      : app.userAgents[0]!.startsWith('aws-sdk-js') && rng.chance(0.3)
        ? '?x-id=GetObject'
        : '';

    let operation = 'REST.GET.OBJECT';
    let method = 'GET';
    let key = obj.logKey;
    let status = '200';
    let errorCode = '-';
    let bytesSent = 0;
    let objectSize: number | string = obj.size;
    let uriTail = `${path}/${obj.logKey}${query}`;
    let records = 0;
    switch (action) {
      case 'get':
        bytesSent = obj.size;
        records = obj.records;
        break;
      case 'range': {
        status = '206';
        bytesSent = Math.min(obj.size, rng.pick(RANGE_SIZES));
        break;
      }
      case 'notModified':
        status = '304';
        break;
      case 'head':
        operation = 'REST.HEAD.OBJECT';
        method = 'HEAD';
        break;
      case 'notFound': {
        status = '404';
        errorCode = 'NoSuchKey';
        objectSize = '-';
        bytesSent = this.errorBytes();
        key = `${dataset.prefix}${obj.logKey.slice(dataset.prefix.length).replace(/\.[a-z0-9]+$/, '')}-missing.csv`;
        uriTail = `${path}/${key}${query}`;
        break;
      }
      case 'denied':
        status = '403';
        errorCode = 'AccessDenied';
        objectSize = '-';
        bytesSent = this.errorBytes();
        break;
      case 'slowDown':
        status = '503';
        errorCode = 'SlowDown';
        objectSize = '-';
        bytesSent = this.errorBytes();
        break;
      case 'error':
        status = '500';
        errorCode = 'InternalError';
        objectSize = '-';
        bytesSent = this.errorBytes();
        break;
      case 'list': {
        operation = 'REST.GET.BUCKET';
        key = '-';
        objectSize = '-';
        bytesSent = rng.between(1_200, 48_000);
        uriTail = `${path}/?list-type=2&prefix=${encodeURIComponent(dataset.prefix)}&max-keys=1000`;
        break;
      }
    }
    const counted = operation === 'REST.GET.OBJECT' && (status[0] === '2' || status[0] === '3');
    const total = action === 'get' ? Math.round(obj.size / 60_000) + rng.between(4, 60) : rng.between(3, 40);
    const versionId = action === 'get' && rng.chance(0.01) ? rng.chars(ALNUM_UPPER, 32) : '-';
    const from = this.source(partner, app, rng.pick(app.ips), hostHeader);
    const requester = rng.pick(app.requesters);
    const fields = this.record({
      timeMs,
      utcOffsetMinutes: offset,
      remoteIp: from.remoteIp,
      requester,
      operation,
      key,
      requestUri: `${method} ${uriTail}${versionId === '-' ? '' : `${query ? '&' : '?'}versionId=${versionId}`} HTTP/1.1`,
      httpStatus: status,
      errorCode,
      bytesSent,
      objectSize,
      totalTimeMs: total,
      turnAroundMs: rng.between(1, Math.min(total, 40)),
      referer:
        app.kind === 'accessPoint' && rng.chance(0.3) ? `https://portal.${partner.domain}/reports` : '-',
      userAgent: rng.chance(0.85) ? app.userAgents[0]! : rng.pick(app.userAgents),
      versionId,
      authType: presigned ? 'QueryString' : 'AuthHeader',
      hostHeader: from.hostHeader,
      accessPointArn: app.accessPoint,
      sourceRegion: from.sourceRegion,
      fieldCount,
      extraFields: extra ?? NO_EXTRA,
    });
    return {
      fields,
      actor: 'partner',
      appIndex: app.globalIndex,
      datasetIndex: key === '-' ? -1 : datasetIndex,
      counted,
      bytesSent,
      records: counted && status === '200' ? records : 0,
      source: this.world.declaresNetworks ? networkSource(app, requester, fieldCount, from) : undefined,
    };
  }

  /**
   * A complete record from the fields that differ from the provider-side defaults. Every record is
   * built by this one literal so all share one object shape: spreading partial objects over each
   * other made V8 fall back to slow dictionary objects, ten times slower to build and to read.
   */
  private record(
    o: Partial<LogLineFields> &
      Pick<LogLineFields, 'timeMs' | 'requester' | 'remoteIp' | 'operation' | 'key'>,
  ): LogLineFields {
    const tls13 = this.rng.chance(0.7);
    return {
      bucketOwner: this.world.bucketOwner,
      bucket: this.world.bucket,
      timeMs: o.timeMs,
      utcOffsetMinutes: o.utcOffsetMinutes ?? 0,
      remoteIp: o.remoteIp,
      requester: o.requester,
      requestId: this.requestId(),
      operation: o.operation,
      key: o.key,
      requestUri: o.requestUri ?? '-',
      httpStatus: o.httpStatus ?? '200',
      errorCode: o.errorCode ?? '-',
      bytesSent: o.bytesSent ?? 0,
      objectSize: o.objectSize ?? '-',
      totalTimeMs: o.totalTimeMs ?? this.rng.between(5, 90),
      turnAroundMs: o.turnAroundMs ?? this.rng.between(1, 5),
      referer: o.referer ?? '-',
      userAgent: o.userAgent ?? '-',
      versionId: o.versionId ?? '-',
      hostId: this.hostId(),
      signatureVersion: o.signatureVersion ?? 'SigV4',
      cipherSuite: o.cipherSuite ?? (tls13 ? 'TLS_AES_128_GCM_SHA256' : 'ECDHE-RSA-AES128-GCM-SHA256'),
      authType: o.authType ?? 'AuthHeader',
      hostHeader: o.hostHeader ?? `${this.world.bucket}.s3.${this.world.region}.amazonaws.com`,
      tlsVersion: o.tlsVersion ?? (tls13 ? 'TLSv1.3' : 'TLSv1.2'),
      accessPointArn: o.accessPointArn ?? '-',
      aclRequired: o.aclRequired ?? '-',
      sourceRegion: o.sourceRegion ?? this.world.region,
      fieldCount: o.fieldCount ?? 27,
      bareQuotedDashes: o.bareQuotedDashes ?? false,
      extraFields: o.extraFields ?? NO_EXTRA,
    };
  }

  private ignored(fields: LogLineFields, datasetIndex: number): LogEvent {
    return {
      fields,
      actor: 'ignored',
      appIndex: -1,
      datasetIndex,
      counted: false,
      bytesSent: 0,
      records: 0,
      source: undefined,
    };
  }

  /** The provider's publisher uploading new objects (single PUT, or a multipart upload's parts). */
  publisherPut(timeMs: number): LogEvent {
    const rng = this.rng;
    const w = this.world;
    const dsIndex = rng.chance(0.3) ? w.stagingDataset : rng.int(6);
    const obj = this.object(dsIndex);
    const multipart = obj.size > 16_000_000 && rng.chance(0.5);
    const operation = multipart ? 'REST.PUT.PART' : 'REST.PUT.OBJECT';
    const uri = multipart
      ? `PUT /${obj.logKey}?partNumber=${rng.between(1, 40)}&uploadId=${rng.chars(ALNUM_UPPER, 40)} HTTP/1.1`
      : `PUT /${obj.logKey} HTTP/1.1`;
    return this.ignored(
      this.record({
        timeMs,
        requester: w.providerPublisher,
        remoteIp: '10.20.4.17',
        operation,
        key: obj.logKey,
        requestUri: uri,
        objectSize: multipart ? 8_388_608 : obj.size,
        totalTimeMs: rng.between(80, 2_400),
        userAgent:
          'aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 command/s3.cp',
      }),
      dsIndex,
    );
  }

  /** The provider's own QA checks: HEAD and GET by an assumed role in the provider account. */
  qaRead(timeMs: number): LogEvent {
    const rng = this.rng;
    const dsIndex = rng.int(6);
    const obj = this.object(dsIndex);
    const head = rng.chance(0.7);
    return this.ignored(
      this.record({
        timeMs,
        requester: this.world.providerQaRole,
        remoteIp: '10.20.9.41',
        operation: head ? 'REST.HEAD.OBJECT' : 'REST.GET.OBJECT',
        key: obj.logKey,
        requestUri: `${head ? 'HEAD' : 'GET'} /${obj.logKey} HTTP/1.1`,
        bytesSent: head ? 0 : obj.size,
        objectSize: obj.size,
        userAgent: 'Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux lang/python#3.12.2 Botocore/1.34.69',
      }),
      dsIndex,
    );
  }

  /** Lifecycle expiry by S3 itself: no request, so URI, referer and agent are bare `-`. */
  lifecycleExpire(timeMs: number): LogEvent {
    const obj = this.object(this.world.stagingDataset);
    return this.ignored(
      this.record({
        timeMs,
        requester: 'AmazonS3',
        remoteIp: 'AmazonS3',
        operation: 'S3.EXPIRE.OBJECT',
        key: obj.logKey,
        httpStatus: '-',
        objectSize: obj.size,
        totalTimeMs: '-',
        turnAroundMs: '-',
        signatureVersion: '-',
        cipherSuite: '-',
        authType: '-',
        hostHeader: '-',
        tlsVersion: '-',
        sourceRegion: '-',
        bareQuotedDashes: true,
      }),
      this.world.stagingDataset,
    );
  }

  /** One key of a multi-object delete: S3 logs each key with bare `-` URI, referer and agent. */
  batchDelete(timeMs: number, requester: string): LogEvent {
    const obj = this.object(this.world.stagingDataset);
    return this.ignored(
      this.record({
        timeMs,
        requester,
        remoteIp: requester === 'AmazonS3' ? 'AmazonS3' : '10.20.4.17',
        operation: 'BATCH.DELETE.OBJECT',
        key: obj.logKey,
        httpStatus: '204',
        totalTimeMs: '-',
        turnAroundMs: '-',
        bareQuotedDashes: true,
      }),
      this.world.stagingDataset,
    );
  }

  /** AWS services acting for the provider (`svc:` requesters). */
  service(timeMs: number): LogEvent {
    const rng = this.rng;
    const w = this.world;
    const requester = rng.pick(w.svcRequesters);
    if (requester.startsWith('svc:config')) {
      return this.ignored(
        this.record({
          timeMs,
          requester,
          remoteIp: 'config.amazonaws.com',
          operation: 'REST.GET.BUCKETPOLICY',
          key: '-',
          requestUri: `GET /?policy HTTP/1.1`,
          bytesSent: rng.between(800, 1_500),
          userAgent: 'config.amazonaws.com',
          sourceRegion: '-',
        }),
        -1,
      );
    }
    const dsIndex = rng.pick([0, 3]);
    const obj = this.object(dsIndex);
    return this.ignored(
      this.record({
        timeMs,
        requester,
        remoteIp: `130.176.${rng.between(0, 255)}.${rng.between(1, 254)}`,
        operation: 'REST.GET.OBJECT',
        key: obj.logKey,
        requestUri: `GET /${obj.logKey} HTTP/1.1`,
        bytesSent: obj.size,
        objectSize: obj.size,
        userAgent: 'Amazon CloudFront',
        sourceRegion: '-',
      }),
      dsIndex,
    );
  }

  /** An IAM user in an account no partner registered, reading partner datasets. */
  unregistered(timeMs: number): LogEvent {
    const rng = this.rng;
    const s = this.world.unregistered;
    const dsIndex = rng.pick([0, 0, 1]);
    const obj = this.object(dsIndex);
    const ok = rng.chance(0.9);
    const bytesSent = ok ? obj.size : this.errorBytes();
    return {
      fields: this.record({
        timeMs,
        requester: s.requester,
        remoteIp: rng.pick(s.ips),
        operation: 'REST.GET.OBJECT',
        key: obj.logKey,
        requestUri: `GET /${this.world.bucket}/${obj.logKey} HTTP/1.1`,
        httpStatus: ok ? '200' : '403',
        errorCode: ok ? '-' : 'AccessDenied',
        bytesSent,
        objectSize: ok ? obj.size : '-',
        userAgent: s.userAgent,
        hostHeader: `s3.${this.world.region}.amazonaws.com`,
        sourceRegion: '-',
      }),
      actor: 'unregistered',
      appIndex: -1,
      datasetIndex: dsIndex,
      counted: false,
      bytesSent,
      records: 0,
      source: undefined,
    };
  }

  /** An unauthenticated request (requester `-`): denied, the bucket is not public. */
  anonymous(timeMs: number): LogEvent {
    const rng = this.rng;
    const dsIndex = rng.pick([1, 2, 3]);
    const obj = this.object(dsIndex);
    const bytesSent = this.errorBytes();
    return {
      fields: this.record({
        timeMs,
        requester: '-',
        remoteIp: `${rng.between(11, 223)}.${rng.int(256)}.${rng.int(256)}.${rng.between(1, 254)}`,
        operation: 'REST.GET.OBJECT',
        key: obj.logKey,
        requestUri: `GET /${obj.logKey} HTTP/1.1`,
        httpStatus: '403',
        errorCode: 'AccessDenied',
        bytesSent,
        userAgent: rng.pick([
          'Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0',
          'Go-http-client/1.1',
        ]),
        signatureVersion: '-',
        authType: '-',
        sourceRegion: '-',
      }),
      actor: 'unregistered',
      appIndex: -1,
      datasetIndex: dsIndex,
      counted: false,
      bytesSent,
      records: 0,
      source: undefined,
    };
  }
}
