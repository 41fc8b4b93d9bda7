/**
 * The synthetic world the logs describe: the provider and its bucket, the datasets and their objects,
 * the manifest, the partners with their applications and principals, and the strangers. Everything is
 * drawn from one seed so the same seed always gives the same world.
 */
import { encodeKey } from './log-line.js';
import { BASE64, HEX_LOWER, Rng } from './prng.js';

/** Where a partner is planned to land against its monthly limit. */
export type Profile = 'under' | 'near' | 'over' | 'far-over';

/** Planned utilisation of the monthly limit, per profile. */
export const PROFILE_FRACTION: Readonly<Record<Profile, number>> = {
  under: 0.4,
  near: 0.85,
  over: 1.2,
  'far-over': 1.7,
};

const PROFILES: readonly Profile[] = ['under', 'near', 'over', 'far-over'];

export type PrincipalKind = 'arn' | 'arnGlob' | 'account' | 'canonicalUserId' | 'accessPoint';
const KINDS: readonly PrincipalKind[] = ['arn', 'arnGlob', 'account', 'canonicalUserId', 'accessPoint'];

export interface DataObject {
  /** The key as stored (may hold spaces and accents). */
  readonly key: string;
  /** The key as the access log writes it (URL-encoded). */
  readonly logKey: string;
  readonly size: number;
  /** Records per full read, from the manifest (0 where the manifest does not cover it). */
  readonly records: number;
}

export interface Dataset {
  readonly index: number;
  readonly prefix: string;
  readonly objects: readonly DataObject[];
  /** Share of reads that are ranged (206), for large objects. */
  readonly rangeShare: number;
}

/** One principal entry as the registry writes it. */
export type PrincipalEntry =
  | { readonly arn: string }
  | { readonly arnGlob: string }
  | { readonly account: string }
  | { readonly canonicalUserId: string }
  | { readonly accessPoint: string };

export interface AppModel {
  /** Index into World.apps. */
  readonly globalIndex: number;
  readonly partnerIndex: number;
  readonly id: string;
  readonly name: string;
  readonly kind: PrincipalKind;
  readonly principals: readonly PrincipalEntry[];
  /** Requesters as they appear in the log; each is matched by one of `principals`. */
  readonly requesters: readonly string[];
  /** Access point ARN the app reads through, or `-`. */
  readonly accessPoint: string;
  /** Share of the partner's traffic. */
  readonly weight: number;
  /** Datasets (indexes) it reads, all inside the contract. */
  readonly datasets: readonly number[];
  readonly ips: readonly string[];
  readonly userAgents: readonly string[];
  readonly virtualHosted: boolean;
  readonly sourceRegion: string;
  /** Where the application declares it reads from (the registry's `networks`, NETWORKS.md). */
  readonly networks: DeclaredNetworks;
  /** Addresses it is seen from now and then although no declaration of its own holds them. */
  readonly outsideIps: readonly string[];
  /** Host header of its requests through its declared VPC endpoint, or `-` when it declares none. */
  readonly vpceHost: string;
}

/** An application's declared networks as the registry writes them; `cidrs` are the /24s of its `ips`. */
export interface DeclaredNetworks {
  readonly cidrs: readonly string[];
  readonly vpcEndpoints: readonly string[];
  readonly sourceRegions: readonly string[];
}

export interface PartnerModel {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly domain: string;
  readonly timeZone: string;
  readonly currency: string;
  readonly profile: Profile;
  readonly mainAccount: string;
  readonly apps: readonly AppModel[];
  /** Dataset indexes the contract allows. */
  readonly allowed: readonly number[];
  /** A dataset it reads although its contract does not allow it, if any. */
  readonly outside: number | undefined;
  /** Share of all partner traffic. */
  readonly share: number;
  /** Day indexes with a traffic spike (far-over partners only). */
  readonly spikeDays: ReadonlySet<number>;
  /** Holds an older contract version that ended before the window. */
  readonly hasOldContract: boolean;
  /** Has its own limits per application. */
  readonly hasAppLimits: boolean;
  /** Has a monthly records limit (from the manifest). */
  readonly hasRecordsLimit: boolean;
}

export interface Stranger {
  readonly requester: string;
  readonly ips: readonly string[];
  readonly userAgent: string;
}

export interface World {
  /** Applications declare their `networks` and requests come from outside them now and then. */
  readonly declaresNetworks: boolean;
  readonly region: string;
  readonly bucket: string;
  readonly bucketOwner: string;
  readonly providerAccount: string;
  readonly providerPublisher: string;
  readonly providerQaRole: string;
  readonly providerCleanup: string;
  readonly svcRequesters: readonly string[];
  readonly datasets: readonly Dataset[];
  /** Index of the provider's own staging dataset (never in a contract). */
  readonly stagingDataset: number;
  readonly manifest: readonly ManifestEntry[];
  readonly partners: readonly PartnerModel[];
  readonly apps: readonly AppModel[];
  readonly unregistered: Stranger;
  readonly hostIds: readonly string[];
}

export interface ManifestEntry {
  readonly keyOrPrefix: string;
  readonly records: number;
  readonly comment?: string;
}

interface PartnerTemplate {
  readonly id: string;
  readonly name: string;
  readonly timeZone: string;
  readonly currency: string;
}

/** Zones chosen to make period cuts interesting: DST on both sides, half- and quarter-hour offsets. */
const PARTNER_TEMPLATES: readonly PartnerTemplate[] = [
  { id: 'northwind', name: 'Northwind Analytics', timeZone: 'America/New_York', currency: 'USD' },
  { id: 'rheinwerk', name: 'Rheinwerk Daten GmbH', timeZone: 'Europe/Berlin', currency: 'EUR' },
  { id: 'kaveri', name: 'Kaveri Insights', timeZone: 'Asia/Kolkata', currency: 'INR' },
  { id: 'meridian', name: 'Meridian Labs', timeZone: 'UTC', currency: 'USD' },
  { id: 'pacific-signal', name: 'Pacific Signal', timeZone: 'America/Los_Angeles', currency: 'USD' },
  { id: 'himal', name: 'Himal Data', timeZone: 'Asia/Kathmandu', currency: 'USD' },
  { id: 'southern-cross', name: 'Southern Cross Research', timeZone: 'Australia/Sydney', currency: 'AUD' },
  { id: 'sakura', name: 'Sakura Metrics', timeZone: 'Asia/Tokyo', currency: 'JPY' },
];

/** Datasets a partner's contract allows, by partner slot (cycled). Indexes into DATASET_PREFIXES. */
const ALLOWED_BY_SLOT: readonly (readonly number[])[] = [
  [0, 1, 3],
  [0, 2, 3],
  [1, 5, 3],
  [4, 2, 0],
  [1, 4],
  [0, 3, 5],
  [2, 4, 1],
  [5, 1],
];

const APP_BY_KIND: Readonly<Record<PrincipalKind, { slug: string; name: string }>> = {
  arn: { slug: 'ingest', name: 'Ingest service' },
  arnGlob: { slug: 'pipeline', name: 'Nightly pipeline' },
  account: { slug: 'analytics', name: 'Analytics account' },
  canonicalUserId: { slug: 'legacy-sync', name: 'Legacy sync (canonical user)' },
  accessPoint: { slug: 'dashboard', name: 'Customer dashboard (via access point)' },
};

const USER_AGENTS: readonly string[] = [
  'aws-sdk-java/2.25.11 Linux/5.10.210 OpenJDK_64-Bit_Server_VM/17.0.10',
  'Boto3/1.34.69 md/Botocore#1.34.69 os/linux#5.15.0 lang/python#3.11.8',
  'aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws command/s3.cp',
  'aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.0 lang/js md/nodejs#20.11.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0',
  'rclone/v1.66.0',
  'aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 api/s3#1.53.0',
  // Real clients put unescaped double quotes in their agent strings; parsers must cope.
  'DataFetcher/3.2 (+https://partner.example/bot; "batch" mode)',
  'curl/8.5.0 "nightly "sync" job"',
  'Apache-HttpClient/4.5.13 (Java/11.0.22) Spark/3.5.1 app="etl-daily"',
];

/** The first agents have no quotes inside. */
const PLAIN_AGENTS = 7;

const STATION_IDS = [
  '72503',
  '10382',
  '43003',
  '47662',
  '94767',
  '03772',
  '71624',
  '16242',
  '87576',
  '68816',
];
const EXCHANGES = ['XNYS', 'XNAS', 'XLON', 'XETR', 'XNSE', 'XTKS'];
const COUNTRIES = [
  "Côte d'Ivoire",
  'São Tomé and Príncipe',
  'Bosnia and Herzegovina',
  'Guinea-Bissau',
  'Åland Islands',
  'Timor-Leste',
  'Curaçao',
  'Réunion',
  'United Kingdom',
  'Viet Nam',
];
const CLIMATE_MODELS = ['CESM2', 'MPI-ESM1-2-HR', 'UKESM1-0-LL', 'EC-Earth3', 'GFDL-ESM4'];
const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'SAP', 'TCS', 'INFY', 'TM', 'BP', 'SHEL', 'ASML'];

/** The dataset prefixes (depth 2), in a fixed order the tables above refer to. */
export const DATASET_PREFIXES = [
  'feeds/weather/',
  'feeds/markets/',
  'imagery/sentinel-2/',
  'reference/geo/',
  'research/climate/',
  'premium/tick-data/',
  'internal/staging/',
] as const;

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function digits(rng: Rng, n: number): string {
  let s = String(rng.between(1, 9));
  while (s.length < n) s += String(rng.int(10));
  return s;
}

function manifestRecords(entries: readonly ManifestEntry[], logKey: string): number {
  let best: ManifestEntry | undefined;
  for (const e of entries) {
    if (e.keyOrPrefix === logKey) return e.records;
    if (
      e.keyOrPrefix.endsWith('/') &&
      logKey.startsWith(e.keyOrPrefix) &&
      (!best || e.keyOrPrefix.length > best.keyOrPrefix.length)
    ) {
      best = e;
    }
  }
  return best?.records ?? 0;
}

function buildKeys(rng: Rng, windowStartMs: number): { keys: string[][]; sizes: number[][] } {
  const day = 86_400_000;
  const keys: string[][] = DATASET_PREFIXES.map(() => []);
  const sizes: number[][] = DATASET_PREFIXES.map(() => []);
  const add = (ds: number, key: string, size: number) => {
    keys[ds]!.push(key);
    sizes[ds]!.push(size);
  };
  for (const station of STATION_IDS) {
    add(0, `feeds/weather/stations/${station}/2025.csv.gz`, rng.between(300_000, 2_400_000));
  }
  for (let d = 1; d <= 60; d++) {
    const date = isoDay(windowStartMs - d * day).replaceAll('-', '/');
    add(0, `feeds/weather/hourly/${date}/obs.csv.gz`, rng.between(120_000, 900_000));
  }
  for (const x of EXCHANGES) {
    for (let d = 1; d <= 20; d++) {
      add(
        1,
        `feeds/markets/eod/${x}/${isoDay(windowStartMs - d * day)}.csv`,
        rng.between(400_000, 2_600_000),
      );
    }
  }
  for (let i = 0; i < 80; i++) {
    const zone = rng.between(10, 60);
    const band = 'CDEFGHJKLMNPQRSTUVWX'[rng.int(20)];
    const sq = `${'ABCDEFGHJK'[rng.int(10)]}${'ABCDEFGHJK'[rng.int(10)]}`;
    const date = isoDay(windowStartMs - rng.between(1, 90) * day)
      .replaceAll('-0', '/')
      .replaceAll('-', '/');
    const b = ['B02', 'B03', 'B04', 'B08', 'TCI'][rng.int(5)];
    add(
      2,
      `imagery/sentinel-2/tiles/${zone}/${band}/${sq}/${date}/0/${b}.jp2`,
      rng.between(20_000_000, 240_000_000),
    );
  }
  for (const c of COUNTRIES) {
    add(3, `reference/geo/countries/${c}/admin-1.geojson`, rng.between(40_000, 30_000_000));
    add(3, `reference/geo/countries/${c}/places (v2).csv`, rng.between(5_000, 2_000_000));
  }
  add(3, 'reference/geo/crs/EPSG:4326.wkt', 1_219);
  for (const m of CLIMATE_MODELS) {
    for (const v of ['tas', 'pr', 'tasmax']) {
      for (const y of [2030, 2050, 2100]) {
        add(4, `research/climate/cmip6/${m}/${v}_ssp245_${y}.nc`, rng.between(90_000_000, 650_000_000));
      }
    }
  }
  for (let d = 1; d <= 10; d++) {
    const date = isoDay(windowStartMs - d * day).replaceAll('-', '/');
    for (const s of SYMBOLS)
      add(5, `premium/tick-data/${date}/${s}.parquet`, rng.between(4_000_000, 60_000_000));
  }
  for (let i = 0; i < 40; i++) {
    add(6, `internal/staging/upload-${digits(rng, 8)}.tmp`, rng.between(1_000, 80_000_000));
  }
  return { keys, sizes };
}

function buildManifest(keys: readonly string[][]): ManifestEntry[] {
  const entries: ManifestEntry[] = [
    {
      keyOrPrefix: 'feeds/weather/',
      records: 8_760,
      comment: 'station files: one reading an hour for a year',
    },
    { keyOrPrefix: 'feeds/weather/hourly/', records: 1_200, comment: 'hourly files: one row per station' },
    { keyOrPrefix: 'feeds/markets/', records: 5_000, comment: 'end-of-day files: one row per listed symbol' },
    { keyOrPrefix: 'reference/geo/', records: 250 },
    { keyOrPrefix: 'research/climate/', records: 365, comment: 'one daily field a file-day' },
    { keyOrPrefix: 'premium/tick-data/', records: 250_000 },
  ];
  // A few exact keys override their prefix: half-day trading sessions have fewer rows.
  const markets = keys[1] ?? [];
  for (let i = 0; i < markets.length; i += 17) {
    const key = markets[i];
    if (key) entries.push({ keyOrPrefix: key, records: 2_500 });
  }
  const ticks = keys[5] ?? [];
  for (let i = 3; i < ticks.length; i += 23) {
    const key = ticks[i];
    if (key) entries.push({ keyOrPrefix: key, records: 1_000_000 });
  }
  return entries;
}

function ipIn(rng: Rng, net: string): string {
  return `${net}.${rng.between(2, 254)}`;
}

/** Build the world for a seed. `windowStartMs` dates the object keys so the data looks current. */
export function buildWorld(opts: {
  seed: number;
  partners: number;
  appsPerPartner: number;
  days: number;
  windowStartMs: number;
  networks?: boolean;
}): World {
  const rng = new Rng(opts.seed);
  const usedAccounts = new Set<string>();
  const account = (): string => {
    for (;;) {
      const a = digits(rng, 12);
      if (!usedAccounts.has(a)) {
        usedAccounts.add(a);
        return a;
      }
    }
  };
  const providerAccount = account();
  const region = 'us-east-1';
  const bucket = 'provider-partner-data';
  const { keys, sizes } = buildKeys(rng.fork(1), opts.windowStartMs);
  const manifest = buildManifest(keys);
  const datasets: Dataset[] = DATASET_PREFIXES.map((prefix, index) => ({
    index,
    prefix,
    rangeShare: index === 2 ? 0.6 : index === 4 ? 0.35 : 0.02,
    objects: (keys[index] ?? []).map((key, k) => {
      const logKey = encodeKey(key);
      return { key, logKey, size: sizes[index]![k]!, records: manifestRecords(manifest, logKey) };
    }),
  }));

  const partnerCount = opts.partners;
  const apps: AppModel[] = [];
  const partners: PartnerModel[] = [];
  const rawShares = Array.from({ length: partnerCount }, () => 0.8 + 0.4 * rng.next());
  const shareSum = rawShares.reduce((a, b) => a + b, 0);
  const outsidePartner = Math.min(1, partnerCount - 1);
  for (let p = 0; p < partnerCount; p++) {
    const tpl = PARTNER_TEMPLATES[p % PARTNER_TEMPLATES.length]!;
    const cycle = Math.floor(p / PARTNER_TEMPLATES.length);
    const id = cycle === 0 ? tpl.id : `${tpl.id}-${cycle + 1}`;
    const domain = `${id}.example`;
    const profile = PROFILES[p % PROFILES.length]!;
    const allowed = ALLOWED_BY_SLOT[p % ALLOWED_BY_SLOT.length]!;
    const outside = p === outsidePartner ? [0, 1, 2, 3, 4, 5].find((d) => !allowed.includes(d)) : undefined;
    const appCount = Math.max(1, Math.min(KINDS.length, opts.appsPerPartner + [0, -1, 1, 0][p % 4]!));
    const mainAccount = account();
    const partnerApps: AppModel[] = [];
    const nets = [
      `198.51.${100 + (p % 50)}`,
      `203.0.${113 + (p % 40)}`,
      `52.${20 + (p % 200)}.${rng.between(0, 255)}`,
    ];
    const rawWeights = Array.from({ length: appCount }, () => 0.5 + rng.next());
    const weightSum = rawWeights.reduce((a, b) => a + b, 0);
    for (let a = 0; a < appCount; a++) {
      const kind = KINDS[(p + a) % KINDS.length]!;
      const { slug, name } = APP_BY_KIND[kind];
      const principals: PrincipalEntry[] = [];
      const requesters: string[] = [];
      let accessPoint = '-';
      switch (kind) {
        case 'arn': {
          const user = `arn:aws:iam::${mainAccount}:user/${slug}-svc`;
          principals.push({ arn: user });
          requesters.push(user);
          if (p === 0) {
            // A role principal: its assumed-role sessions belong to the same application.
            principals.push({ arn: `arn:aws:iam::${mainAccount}:role/${slug}-reader` });
            for (let s = 0; s < 3; s++) {
              requesters.push(
                `arn:aws:sts::${mainAccount}:assumed-role/${slug}-reader/worker-${digits(rng, 6)}`,
              );
            }
          }
          break;
        }
        case 'arnGlob': {
          principals.push({ arnGlob: `arn:aws:sts::${mainAccount}:assumed-role/${slug}-*` });
          for (const env of ['prod', 'backfill']) {
            for (let s = 0; s < 3; s++) {
              requesters.push(
                `arn:aws:sts::${mainAccount}:assumed-role/${slug}-${env}/airflow-${digits(rng, 10)}`,
              );
            }
          }
          break;
        }
        case 'account': {
          const second = account();
          principals.push({ account: second });
          requesters.push(`arn:aws:iam::${second}:user/analyst-${['priya', 'jonas', 'mei'][p % 3]}`);
          requesters.push(
            `arn:aws:sts::${second}:assumed-role/AWSReservedSSO_DataScience_${rng.chars(HEX_LOWER, 16)}/${['lena', 'arjun', 'sam'][p % 3]}@${domain}`,
          );
          break;
        }
        case 'canonicalUserId': {
          const canonical = rng.chars(HEX_LOWER, 64);
          principals.push({ canonicalUserId: canonical });
          requesters.push(canonical);
          break;
        }
        case 'accessPoint': {
          accessPoint = `arn:aws:s3:${region}:${providerAccount}:accesspoint/${id}-${slug}`;
          principals.push({ accessPoint });
          for (let s = 0; s < 2; s++) {
            requesters.push(`arn:aws:sts::${mainAccount}:assumed-role/dash-reader/lambda-${digits(rng, 8)}`);
          }
          break;
        }
      }
      const own = allowed.filter((_, i) => (i + a) % 3 !== 2 || allowed.length < 3);
      const ips = Array.from({ length: 3 }, (_, i) => ipIn(rng, nets[(a + i) % nets.length]!));
      const sourceRegion = kind === 'accessPoint' || kind === 'arnGlob' ? region : '-';
      // Declared networks and the addresses outside them take no draws: the traffic stays what it was.
      const serial = p * 8 + a + 1;
      const vpce = kind === 'arn' ? `vpce-${(0x0a1b0000 + serial).toString(16).padStart(8, '0')}` : undefined;
      const app: AppModel = {
        globalIndex: apps.length,
        partnerIndex: p,
        id: slug,
        name,
        kind,
        principals,
        requesters,
        accessPoint,
        weight: rawWeights[a]! / weightSum,
        datasets: own.length > 0 ? own : allowed,
        ips,
        // The first agent is the app's usual client; the second, used now and then, may be an odd one.
        userAgents: [
          USER_AGENTS[(p * 3 + a) % PLAIN_AGENTS]!,
          USER_AGENTS[(p + a * 5 + 7) % USER_AGENTS.length]!,
        ],
        virtualHosted: (p + a) % 2 === 0,
        sourceRegion,
        networks: {
          cidrs: [...new Set(ips.map((ip) => `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`))],
          vpcEndpoints: vpce === undefined ? [] : [vpce],
          sourceRegions: sourceRegion === '-' ? [] : [sourceRegion],
        },
        // Carrier-grade NAT space and the IPv6 documentation prefix: no partner declares either.
        outsideIps: [
          `100.${64 + (p % 64)}.${a}.${10 + (p % 200)}`,
          `100.${64 + (p % 64)}.${a + 8}.77`,
          `2001:db8:${serial.toString(16)}::${(a + 1).toString(16)}`,
        ],
        vpceHost:
          vpce === undefined
            ? '-'
            : `${bucket}.${vpce}-${(serial * 7919).toString(36)}.s3.${region}.vpce.amazonaws.com`,
      };
      apps.push(app);
      partnerApps.push(app);
    }
    const spikeDays = new Set<number>();
    // A fork, so the number of days does not shift the draws of everything after (accounts, ids).
    const spikeRng = rng.fork(100 + p);
    if (profile === 'far-over') {
      for (let d = 1; d < opts.days; d += 4) spikeDays.add(d + (spikeRng.chance(0.5) ? 1 : 0));
    }
    partners.push({
      index: p,
      id,
      name: cycle === 0 ? tpl.name : `${tpl.name} ${cycle + 1}`,
      domain,
      timeZone: tpl.timeZone,
      currency: tpl.currency,
      profile,
      mainAccount,
      apps: partnerApps,
      allowed,
      outside,
      share: rawShares[p]! / shareSum,
      spikeDays,
      hasOldContract: p === Math.min(3, partnerCount - 1),
      hasAppLimits: p === Math.min(2, partnerCount - 1),
      hasRecordsLimit: p === Math.min(2, partnerCount - 1),
    });
  }

  const hostIds = Array.from({ length: 512 }, () => `${rng.chars(BASE64, 75)}=`);
  const stranger = account();
  return {
    declaresNetworks: opts.networks ?? false,
    region,
    bucket,
    bucketOwner: rng.chars(HEX_LOWER, 64),
    providerAccount,
    providerPublisher: `arn:aws:iam::${providerAccount}:user/dataset-publisher`,
    providerQaRole: `arn:aws:sts::${providerAccount}:assumed-role/qa-audit/check-${digits(rng, 6)}`,
    providerCleanup: `arn:aws:sts::${providerAccount}:assumed-role/staging-cleanup/nightly`,
    svcRequesters: ['svc:cloudfront.amazonaws.com', 'svc:config.amazonaws.com'],
    datasets,
    stagingDataset: 6,
    manifest,
    partners,
    apps,
    unregistered: {
      requester: `arn:aws:iam::${stranger}:user/crawler`,
      ips: ['185.220.101.7', '185.220.101.33', '45.155.205.12'],
      userAgent: 'python-requests/2.28.1',
    },
    hostIds,
  };
}
