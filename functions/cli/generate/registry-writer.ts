/**
 * Writes the partner registry and the dataset manifest for the synthetic world, with limits set from
 * the traffic actually emitted so each partner lands where its profile says (under, near, over, far
 * over its monthly limit). The YAML is commented so a person can learn the format from it.
 */
import {
  addInto,
  type Counts,
  monthBounds,
  monthsOf,
  type PartnerTally,
  zeroCounts,
} from './ground-truth.js';
import {
  type PartnerModel,
  PROFILE_FRACTION,
  type PrincipalEntry,
  type Profile,
  type World,
} from './world.js';

/** Limits chosen for one partner's contract in force. */
export interface PartnerLimits {
  /** The billing month (partner's zone) the limits are sized for: the one the profile targets. */
  readonly mainMonth: string;
  readonly monthly: { readonly requests: bigint; readonly bytesSent: bigint; readonly records?: bigint };
  readonly daily: { readonly requests: bigint; readonly bytesSent: bigint };
  /** Limits of one application, for the partner that has them. */
  readonly application?: {
    readonly appId: string;
    readonly monthly: { readonly requests: bigint };
    readonly daily: { readonly requests: bigint };
  };
  /**
   * Whether the contract gets forecast levels: only when the limits are sized for the whole month, so
   * that the forecast tells the same story as the month's end.
   */
  readonly forecastLevels: boolean;
  /** Where the first, dearer overage tier ends (units over the limit). */
  readonly tierUpTo: { readonly requests: bigint; readonly bytesSent: bigint; readonly records: bigint };
}

/** The contract dates used for every partner, derived from the window start. */
export function contractDates(start: string): { currentFrom: string; oldFrom: string } {
  const y = Number(start.slice(0, 4));
  const m = Number(start.slice(5, 7));
  // Two months before the window's month: in force on the first local day of every period the
  // window touches, whatever the partner's zone.
  const total = y * 12 + (m - 1) - 2;
  const cy = Math.floor(total / 12);
  const cm = (total % 12) + 1;
  const currentFrom = `${cy}-${String(cm).padStart(2, '0')}-01`;
  return { currentFrom, oldFrom: `${cy - 1}-${String(cm).padStart(2, '0')}-01` };
}

type Rounding = 'nearest' | 'up' | 'down';

/** Round to three significant digits, so limits read like numbers a person would write. */
export function roundSignificant(value: number, mode: Rounding = 'nearest'): bigint {
  if (value < 1) return 1n;
  // Digits counted on the decimal text: Math.log10 may differ in the last bit between platforms.
  const digits = String(Math.floor(value)).length;
  const unit = digits <= 3 ? 1 : 10 ** (digits - 3);
  const q = value / unit;
  const r = mode === 'up' ? Math.ceil(q) : mode === 'down' ? Math.floor(q) : Math.round(q);
  return BigInt(Math.max(1, r)) * BigInt(unit);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
}

/** A daily cap: comfortably above every day, or, for a far-over partner, crossed on several days. */
function dailyCap(
  perDay: readonly number[],
  farOver: boolean,
  monthlyLimit: bigint,
  monthDays: number,
): bigint {
  const max = Math.max(1, ...perDay);
  // Never below one and a half times an even share of the monthly limit: a cap a contract could hold.
  if (!farOver) return roundSignificant(Math.max(max * 1.25, (Number(monthlyLimit) * 1.5) / monthDays), 'up');
  let cap = roundSignificant(median(perDay) * 1.4, 'nearest');
  const over = perDay.filter((v) => BigInt(Math.round(v)) > cap).length;
  if (over < 2 && perDay.length >= 3) {
    const desc = [...perDay].sort((a, b) => b - a);
    cap = roundSignificant(desc[1]! * 0.97, 'down');
  }
  return cap;
}

/** Utilisation bands of the four stories: below 80 %, 80 to 100 %, 100 to 150 %, 150 % and up. */
const BANDS: Readonly<Record<Profile, readonly [number, number]>> = {
  under: [0, 0.8],
  near: [0.8, 1],
  over: [1, 1.5],
  'far-over': [1.5, Number.POSITIVE_INFINITY],
};

/** Keep clear of a band's edges, so rounding a limit to three significant digits cannot cross one. */
const EDGE = 0.02;

/**
 * A monthly limit that puts `monthEnd` at `target` of it, moved only as far as needed for both the
 * month's end and the forecast at the data's end to lie inside [lo, hi) of it. Left at the target when
 * no limit can do both (the tests of the demo's stories would say so).
 */
function sizeLimit(
  monthEnd: number,
  forecast: number,
  target: number,
  [lo, hi]: readonly [number, number],
): bigint {
  const wanted = monthEnd / target;
  const high = Math.max(monthEnd, forecast);
  const low = Math.min(monthEnd, forecast);
  const atLeast = Number.isFinite(hi) ? high / (hi * (1 - EDGE)) : 0;
  const atMost = lo > 0 ? low / (lo * (1 + EDGE)) : Number.POSITIVE_INFINITY;
  if (atLeast > atMost) return roundSignificant(wanted);
  return roundSignificant(Math.min(atMost, Math.max(atLeast, wanted)));
}

/** What the limits are sized from. */
export interface LimitBasis {
  /**
   * The billing month whose story the limits tell (`YYYY-MM`), in each partner's zone; absent: each
   * partner's month with the most counted requests.
   */
  readonly targetMonth: string | undefined;
  /** Counted usage as written. */
  readonly written: readonly PartnerTally[];
  /** Counted usage through the target month's end (written and simulated). */
  readonly monthEnd: readonly PartnerTally[];
  /** End of the written data: the audit's "as of", from which the forecast runs. */
  readonly dataEndMs: number;
  /** Limits sized for the whole month (with forecast levels), or for the written days only. */
  readonly sizing: 'month' | 'data';
}

function sumMonth(days: ReadonlyMap<string, Counts> | undefined, month: string): Counts {
  const c = zeroCounts();
  for (const [date, v] of days ?? []) if (date.startsWith(month)) addInto(c, v);
  return c;
}

/** The partner's month with the most counted requests (the earlier one on a tie). */
function busiestMonth(t: PartnerTally): string {
  let best = '';
  let most = 0n;
  for (const [month, c] of monthsOf(t.days)) {
    if (c.requests > most) {
      best = month;
      most = c.requests;
    }
  }
  return best;
}

/**
 * Limits sized for the whole target month: each partner's use at the month's end lands at its profile's
 * fraction of the limit (under 40 %, near 85 %, over 120 %, far over 170 %), and the forecast the audit
 * makes at the data's end lands in the same band, so the report tells one story on any day.
 */
export function deriveLimits(world: World, basis: LimitBasis): PartnerLimits[] {
  return world.partners.map((p) => {
    const month = basis.targetMonth ?? busiestMonth(basis.monthEnd[p.index]!);
    // A partner without any counted use has no month: nothing to size but the defaults below.
    const { startMs, endMs } = month ? monthBounds(month, p.timeZone) : { startMs: 0, endMs: 0 };
    const asOf = Math.min(basis.dataEndMs, endMs);
    // The audit's forecast, in the generator's own arithmetic: used x period length / elapsed.
    const project = (used: bigint): number =>
      asOf >= endMs || asOf <= startMs ? Number(used) : (Number(used) * (endMs - startMs)) / (asOf - startMs);
    const all = basis.monthEnd[p.index]!;
    const main = sumMonth(all.days, month);
    const sofar = sumMonth(basis.written[p.index]!.days, month);
    const f = PROFILE_FRACTION[p.profile];
    const band = BANDS[p.profile];
    const farOver = p.profile === 'far-over';
    const days = [...all.days.values()];
    // Other limits than requests must not lift the partner out of its band: only the ceiling applies.
    const ceiling: [number, number] = [0, band[1]];
    const monthlyRequests = sizeLimit(Number(main.requests), project(sofar.requests), f, band);
    const monthlyBytes = sizeLimit(Number(main.bytesSent), project(sofar.bytesSent), f * 0.92, ceiling);
    const monthDays = month
      ? new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 0)).getUTCDate()
      : 30;
    const records = p.hasRecordsLimit
      ? sizeLimit(Number(main.records), project(sofar.records), f * 1.05, ceiling)
      : undefined;
    let application: PartnerLimits['application'];
    if (p.hasAppLimits && p.apps.length > 0) {
      const app = p.apps[0]!;
      const appDays = all.apps.get(app.id) ?? new Map<string, Counts>();
      const appMain = sumMonth(appDays, month);
      const appSofar = sumMonth(basis.written[p.index]!.apps.get(app.id), month);
      // The application runs past its own limit (130 %), on top of the partner's overage.
      const appMonthly = sizeLimit(Number(appMain.requests), project(appSofar.requests), 1.3, ceiling);
      application = {
        appId: app.id,
        monthly: { requests: appMonthly },
        daily: {
          requests: dailyCap(
            [...appDays.values()].map((c) => Number(c.requests)),
            false,
            appMonthly,
            monthDays,
          ),
        },
      };
    }
    return {
      mainMonth: month,
      forecastLevels: basis.sizing === 'month',
      monthly: {
        requests: monthlyRequests,
        bytesSent: monthlyBytes,
        ...(records === undefined ? {} : { records }),
      },
      daily: {
        requests: dailyCap(
          days.map((c) => Number(c.requests)),
          farOver,
          monthlyRequests,
          monthDays,
        ),
        bytesSent: dailyCap(
          days.map((c) => Number(c.bytesSent)),
          farOver,
          monthlyBytes,
          monthDays,
        ),
      },
      ...(application ? { application } : {}),
      tierUpTo: {
        requests: roundSignificant(Number(monthlyRequests) * 0.3),
        bytesSent: roundSignificant(Number(monthlyBytes) * 0.3),
        records: roundSignificant(Number(records ?? 1n) * 0.3),
      },
    };
  });
}

interface PriceTable {
  readonly requests: readonly [string, string];
  readonly bytesSent: readonly [string, string];
  readonly records: string;
}

/** Overage prices per currency: per 1,000 requests, per GB sent, per million records. */
const PRICES: Readonly<Record<string, PriceTable>> = {
  USD: { requests: ['2.50', '1.75'], bytesSent: ['0.12', '0.08'], records: '4.00' },
  EUR: { requests: ['2.30', '1.60'], bytesSent: ['0.11', '0.07'], records: '3.70' },
  INR: { requests: ['210.00', '145.00'], bytesSent: ['10.00', '6.50'], records: '330.00' },
  AUD: { requests: ['3.80', '2.60'], bytesSent: ['0.18', '0.12'], records: '6.00' },
  JPY: { requests: ['380', '260'], bytesSent: ['18', '12'], records: '600' },
};

const q = (s: string): string => JSON.stringify(s);

/** `1234567890` -> `1.23 GB`, for comments next to byte limits. */
export function humanBytes(n: bigint): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

function group(n: bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function quantity(n: bigint): string {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? q(n.toString()) : n.toString();
}

function principalLine(pr: PrincipalEntry): string[] {
  if ('arn' in pr) {
    return pr.arn.includes(':role/')
      ? [
          '# A role: its assumed-role sessions (arn:aws:sts::...:assumed-role/<role>/<session>) match too.',
          `arn: ${q(pr.arn)}`,
        ]
      : ['# An exact IAM user ARN.', `arn: ${q(pr.arn)}`];
  }
  if ('arnGlob' in pr)
    return [
      '# Any session of any role whose name starts so: * matches any characters.',
      `arnGlob: ${q(pr.arnGlob)}`,
    ];
  if ('account' in pr) return ['# Every user and role of this AWS account.', `account: ${q(pr.account)}`];
  if ('canonicalUserId' in pr) {
    return [
      '# A canonical user id, as S3 logs requests signed by legacy credentials.',
      `canonicalUserId: ${q(pr.canonicalUserId)}`,
    ];
  }
  return ['# Requests through this access point, whoever signs them.', `accessPoint: ${q(pr.accessPoint)}`];
}

const PROFILE_TEXT: Readonly<Record<string, string>> = {
  under: 'planned to stay UNDER its monthly limit (about 40% by the month end)',
  near: 'planned to come NEAR its monthly limit (about 85% by the month end: a warning)',
  over: 'planned to go OVER its monthly limit (about 120% by the month end, and so by forecast)',
  'far-over':
    'planned to go FAR OVER its monthly limit (about 170% by the month end) and over its daily cap on several days',
};

const OWNER_NAMES = [
  'Alex Morgan',
  'Katrin Vogel',
  'Ananya Rao',
  'Sam Okafor',
  'Jordan Lee',
  'Pasang Sherpa',
  'Mia Walker',
  'Haruto Sato',
];

function renderPartner(w: World, p: PartnerModel, l: PartnerLimits, start: string): string[] {
  const out: string[] = [];
  const { currentFrom, oldFrom } = contractDates(start);
  const prices = PRICES[p.currency] ?? PRICES['USD']!;
  const owner = OWNER_NAMES[p.index % OWNER_NAMES.length]!;
  const ownerEmail = `${owner.toLowerCase().replace(/[^a-z]+/g, '.')}@${p.domain}`;
  out.push(`  # ${p.id}: ${PROFILE_TEXT[p.profile]}.`);
  if (p.outside !== undefined)
    out.push(`  # It also reads ${w.datasets[p.outside]!.prefix}, which its contract does not allow.`);
  out.push(`  - id: ${q(p.id)}`, `    name: ${q(p.name)}`);
  out.push('    # Billing periods are calendar months, and daily caps local days, in this zone.');
  out.push(`    timeZone: ${q(p.timeZone)}`);
  out.push('    # Notices go to the account owners, with the internal contacts in copy.');
  out.push('    accountOwners:', `      - name: ${q(owner)}`, `        email: ${q(ownerEmail)}`);
  out.push(
    '    internalContacts:',
    `      - name: ${q('Partner Success')}`,
    `        email: ${q('partner-success@provider.example')}`,
  );
  out.push('    # Each application is known by the principals that sign its requests.');
  out.push('    applications:');
  for (const app of p.apps) {
    out.push(`      - id: ${q(app.id)}`, `        name: ${q(app.name)}`, '        principals:');
    for (const pr of app.principals) {
      const [comment, line] = principalLine(pr);
      out.push(`          ${comment}`, `          - ${line}`);
    }
    if (!w.declaresNetworks) continue;
    const n = app.networks;
    const list = (items: readonly string[]) => `[${items.map(q).join(', ')}]`;
    out.push(
      '        # Where it reads from: requests from anywhere else are network findings (NETWORKS.md).',
      '        networks:',
      `          cidrs: ${list(n.cidrs)}`,
    );
    if (n.vpcEndpoints.length > 0) out.push(`          vpcEndpoints: ${list(n.vpcEndpoints)}`);
    if (n.sourceRegions.length > 0) out.push(`          sourceRegions: ${list(n.sourceRegions)}`);
  }
  out.push('    contracts:');
  if (p.hasOldContract) {
    out.push(
      '      # An older version, superseded before the data starts: kept to show effective dating.',
      `      - id: ${q(`${p.id}-v1`)}`,
      `        effectiveFrom: ${q(oldFrom)}`,
      '        # Exclusive: the first local date on which this version no longer applies.',
      `        effectiveTo: ${q(currentFrom)}`,
      `        currency: ${q(p.currency)}`,
      `        datasets: [${q(w.datasets[p.allowed[0]!]!.prefix)}]`,
      '        limits:',
      '          monthly:',
      `            requests: ${quantity(roundSignificant(Number(l.monthly.requests) / 2))}`,
      '        # No thresholds: the defaults apply (warning 80%, overage 100%, escalation 150%).',
    );
  }
  const version = p.hasOldContract ? 'v2' : 'v1';
  out.push(
    `      - id: ${q(`${p.id}-${version}`)}`,
    '        # The version in force on the first local day of a billing period governs that period.',
    `        effectiveFrom: ${q(currentFrom)}`,
    `        currency: ${q(p.currency)}`,
    '        # What counts toward the limits: successful and not-modified object reads.',
    "        # HEAD, listings, errors (4xx, 5xx) and the provider's own traffic do not count.",
    '        counted:',
    `          operations: [${q('REST.GET.OBJECT')}]`,
    `          statuses: [${q('2xx')}, ${q('3xx')}]`,
    '        # Key prefixes the partner may read (as deep as settings.datasetDepth).',
    '        datasets:',
  );
  for (const ds of p.allowed) out.push(`          - ${q(w.datasets[ds]!.prefix)}`);
  out.push(
    '        limits:',
    "          # Per billing period (calendar month in the partner's zone).",
    '          monthly:',
  );
  out.push(`            requests: ${quantity(l.monthly.requests)}`);
  out.push(`            bytesSent: ${quantity(l.monthly.bytesSent)} # ${humanBytes(l.monthly.bytesSent)}`);
  if (l.monthly.records !== undefined) {
    out.push(`            # Records come from the manifest: a full read of an object retrieves its records.`);
    out.push(`            records: ${quantity(l.monthly.records)}`);
  }
  out.push('          # The "reasonable volume" cap per local day.', '          daily:');
  out.push(`            requests: ${quantity(l.daily.requests)}`);
  out.push(`            bytesSent: ${quantity(l.daily.bytesSent)} # ${humanBytes(l.daily.bytesSent)}`);
  if (l.application) {
    out.push(
      '        # Limits of one application on its own, charged only for its own excess.',
      '        applicationLimits:',
      `          ${l.application.appId}:`,
      '            monthly:',
      `              requests: ${quantity(l.application.monthly.requests)}`,
      '            daily:',
      `              requests: ${quantity(l.application.daily.requests)}`,
    );
  }
  out.push(
    `        # Prices in ${p.currency} for 'per' units over the limit; tiers are bands of the excess,`,
    '        # the first up to upTo units over, the last open-ended.',
    '        overage:',
    '          requests:',
    '            per: 1000',
    '            tiers:',
    `              - upTo: ${quantity(l.tierUpTo.requests)} # the first ${group(l.tierUpTo.requests)} requests over`,
    `                price: ${q(prices.requests[0])}`,
    `              - price: ${q(prices.requests[1])}`,
    '          bytesSent:',
    '            per: 1000000000 # 1 GB',
    '            tiers:',
    `              - upTo: ${quantity(l.tierUpTo.bytesSent)} # ${humanBytes(l.tierUpTo.bytesSent)} over`,
    `                price: ${q(prices.bytesSent[0])}`,
    `              - price: ${q(prices.bytesSent[1])}`,
  );
  if (l.monthly.records !== undefined) {
    out.push(
      '          records:',
      '            per: 1000000',
      '            tiers:',
      `              - price: ${q(prices.records)}`,
    );
  }
  out.push(
    '        # Notice levels: utilisation of a monthly limit, in percent, at which each is reached.',
    '        thresholds:',
    `          - { level: ${q('warning')}, percent: 80 }`,
    `          - { level: ${q('overage')}, percent: 100 }`,
    `          - { level: ${q('escalation')}, percent: 150 }`,
  );
  if (l.forecastLevels) {
    out.push(
      '          # basis: forecast is reached by the projection of use to the period end (from the rate',
      '          # so far): a warning before the overage, once per period, superseded by an actual level',
      '          # at or above it. No fee is due for a forecast.',
      `          - { level: ${q('forecast-overage')}, percent: 100, basis: ${q('forecast')} }`,
      `          - { level: ${q('forecast-escalation')}, percent: 150, basis: ${q('forecast')} }`,
      '        # Forecast notices wait until this many local days of the period have passed, so the rate',
      '        # means something (default 7; never in the first 24 hours).',
      '        forecastNoticeAfterDays: 3',
    );
  }
  return out;
}

/** The registry YAML for the world and the limits derived from its traffic. */
export function renderRegistry(
  w: World,
  limits: readonly PartnerLimits[],
  info: { seed: number; start: string; days: number; holdings?: boolean },
): string {
  const lines: string[] = [
    '# Partner registry of the synthetic demo data set.',
    `# Written by the partner-audit generator (seed ${info.seed}, ${info.days} days of logs from ${info.start} UTC).`,
    '# Every limit below was set from the traffic the generator wrote, so that each partner lands',
    '# where the comment above it says. Edit anything and re-run the audit to see the effect.',
    '#',
    '# Quantities are whole numbers (bytes, requests, records); prices are decimal strings.',
    '',
    'version: 1',
    '',
    'provider:',
    `  name: ${q('Example Data Co.')}`,
    '  # The From of every notice.',
    `  noticeFrom: ${q('Data Partnerships <partners@provider.example>')}`,
    '  # Where partners write to discuss or dispute a notice.',
    `  contactEmail: ${q('partners@provider.example')}`,
    '  # Days a partner has to act on a notice.',
    '  responseDays: 14',
    '',
    'settings:',
    `  # A dataset is the first two segments of a key: ${q('feeds/weather/stations/72503/2025.csv.gz')} is in ${q('feeds/weather/')}.`,
    '  datasetDepth: 2',
    "  # Traffic that is never a finding: AWS services, S3 itself (lifecycle), and the provider's own",
    `  # account ${w.providerAccount} (publishing, QA checks, cleanup). * matches any characters.`,
    '  ignoredRequesters:',
    `    - ${q('svc:*')}`,
    `    - ${q('AmazonS3')}`,
    `    - ${q(`arn:aws:iam::${w.providerAccount}:*`)}`,
    `    - ${q(`arn:aws:sts::${w.providerAccount}:*`)}`,
    '  # Records per object (CSV key_or_prefix,records), relative to this file.',
    `  manifest: ${q('manifest.csv')}`,
    ...(info.holdings === true
      ? [
          '  # Keep the holdings table: which objects each partner read, counted once (costs ingestion time).',
          '  holdings: true',
        ]
      : []),
    '',
    'partners:',
  ];
  for (const p of w.partners) {
    lines.push(...renderPartner(w, p, limits[p.index]!, info.start), '');
  }
  return lines.join('\n');
}

/** The dataset manifest CSV: header, then entries; `#` lines are comments. */
export function renderManifest(w: World): string {
  const lines = [
    'key_or_prefix,records',
    '# Records per object of the datasets. An exact key wins; else the longest prefix ending in /.',
    '# Keys are written as the access log writes them (URL-encoded); objects not covered have 0 records.',
  ];
  for (const e of w.manifest) {
    if (e.comment) lines.push(`# ${e.comment}`);
    lines.push(`${e.keyOrPrefix},${e.records}`);
  }
  return `${lines.join('\n')}\n`;
}
