/**
 * Network findings across a month end with logs arriving days late (NETWORKS.md, "What ingestion keeps"
 * and "Outputs and the notice"): March is audited before its last hours' logs arrive; the late object,
 * delivered in April and then delivered again under another name and ingested again, adds its requests
 * once, to March; a finding first seen on 1 April lands in April; and the unexplained-access notice goes
 * out once for March and once for April, however often each month is audited.
 */
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import type { NetworkFindingOut } from '../../functions/domain/report-network.js';
import { logLine } from '../support/log-lines.js';

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const REGISTRY = `version: 1
provider: { name: Provider, noticeFrom: "Partners <p@provider.example>", contactEmail: c@provider.example }
partners:
  - id: alice-co
    name: Alice Co
    accountOwners: [{ email: ops@alice.example }]
    timeZone: UTC
    applications:
      - id: app
        name: App
        principals: [{ account: "111122223333" }]
        networks: { cidrs: [198.51.100.0/24] }
    contracts:
      - id: c1
        effectiveFrom: "2026-01-01"
        currency: EUR
        datasets: [feeds/weather/]
        unexplainedAccessNotice: true
`;

const get = (time: string, ip: string, bytesSent: string) =>
  logLine({ time: `${time} +0000`, requester: ALICE, ip, bytesSent });

/** Delivered on time: March's traffic up to the evening of the 31st, one request from elsewhere. */
const ON_TIME = [
  get('30/Mar/2026:10:00:00', '198.51.100.23', '100'),
  get('31/Mar/2026:18:00:00', '203.0.113.9', '10'),
];
/** Delivered on 3 April: the last hour of March (two more sources) and the first of April. */
const LATE = [
  get('31/Mar/2026:23:50:00', '203.0.113.10', '20'),
  get('31/Mar/2026:23:55:00', '2001:db8:85a3::1', '30'),
  get('31/Mar/2026:23:59:59', '198.51.100.23', '40'),
  get('01/Apr/2026:00:10:00', '100.64.7.1', '50'),
  get('01/Apr/2026:00:20:00', '203.0.113.9', '60'),
];

let root: string;
let logs: string;
let registryPath: string;
let out: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'network-month-end-'));
  logs = join(root, 'logs');
  out = join(root, 'out');
  registryPath = join(root, 'registry.yaml');
  await mkdir(logs, { recursive: true });
  await writeFile(registryPath, REGISTRY);
  await writeFile(join(logs, '2026-03-31-19-00-00-AAAAAAAAAAAAAAAA'), `${ON_TIME.join('\n')}\n`);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function audit(from: string, to: string, now: string) {
  return runLocalAudit({
    logs: [logs],
    registryPath,
    outDir: out,
    from,
    to,
    dryRun: false,
    clock: { now: () => new Date(now) },
  });
}

/** Prefix, requests, bytes, first and last seen, new in the window. */
const figures = (fs: readonly NetworkFindingOut[] | undefined) =>
  (fs ?? []).map((f) => [f.sourcePrefix, f.requests, f.bytesSent, f.firstSeen, f.lastSeen, f.newInWindow]);

const sentUnexplained = (result: Awaited<ReturnType<typeof audit>>) =>
  result.notices
    .filter((n) => n.key.level === 'unexplained-access' && n.status === 'sent')
    .map((n) => n.key.periodId);

describe('network findings across a month end with late logs', () => {
  it('March before its late logs: one source from elsewhere, the notice for March', async () => {
    const march = await audit('2026-03-01', '2026-04-01', '2026-04-01T06:00:00Z');
    expect(figures(march.report.networkFindings)).toEqual([
      ['203.0.113.0/24', '1', '10', '2026-03-31T18:00:00.000Z', '2026-03-31T18:00:00.000Z', true],
    ]);
    expect(sentUnexplained(march)).toEqual(['2026-03']);
  });

  it('the late object adds its March requests to March once, even delivered and ingested twice', async () => {
    await writeFile(join(logs, '2026-04-03-08-00-00-BBBBBBBBBBBBBBBB'), `${LATE.join('\n')}\n`);
    const first = await audit('2026-03-01', '2026-04-01', '2026-04-03T09:00:00Z');
    // The same object delivered again under another name: the same requests, not new ones.
    await cp(
      join(logs, '2026-04-03-08-00-00-BBBBBBBBBBBBBBBB'),
      join(logs, '2026-04-03-09-00-00-CCCCCCCCCCCCCCCC'),
    );
    const again = await audit('2026-03-01', '2026-04-01', '2026-04-03T10:00:00Z');
    const expected = [
      ['2001:db8:85a3::/48', '1', '30', '2026-03-31T23:55:00.000Z', '2026-03-31T23:55:00.000Z', true],
      ['203.0.113.0/24', '2', '30', '2026-03-31T18:00:00.000Z', '2026-03-31T23:50:00.000Z', true],
    ];
    expect(figures(first.report.networkFindings)).toEqual(expected);
    expect(figures(again.report.networkFindings)).toEqual(expected);
    // A new source in March after March's notice went out: in the report, not in a second notice.
    expect(sentUnexplained(first)).toEqual([]);
    expect(sentUnexplained(again)).toEqual([]);
  });

  it('April holds only April’s requests; a source first seen in March is not new there', async () => {
    const april = await audit('2026-04-01', '2026-05-01', '2026-04-03T11:00:00Z');
    expect(figures(april.report.networkFindings)).toEqual([
      ['100.64.7.0/24', '1', '50', '2026-04-01T00:10:00.000Z', '2026-04-01T00:10:00.000Z', true],
      ['203.0.113.0/24', '1', '60', '2026-04-01T00:20:00.000Z', '2026-04-01T00:20:00.000Z', false],
    ]);
    expect(april.report.networkFindings!.find((f) => !f.newInWindow)!.firstEverSeen).toBe(
      '2026-03-31T18:00:00.000Z',
    );
    expect(sentUnexplained(april)).toEqual(['2026-04']);
    const aprilAgain = await audit('2026-04-01', '2026-05-01', '2026-04-03T12:00:00Z');
    expect(sentUnexplained(aprilAgain)).toEqual([]);
    expect(figures(aprilAgain.report.networkFindings)).toEqual(figures(april.report.networkFindings));
  });

  it('the outbox holds one unexplained-access notice per period after every run', async () => {
    const march = await audit('2026-03-01', '2026-04-01', '2026-04-04T06:00:00Z');
    expect(sentUnexplained(march)).toEqual([]);
    const emails = (await readdir(join(out, 'outbox'))).filter(
      (f) => f.endsWith('.eml') && f.includes('unexplained-access'),
    );
    expect(emails.map((f) => /2026-0[34]/.exec(f)?.[0]).sort()).toEqual(['2026-03', '2026-04']);
  });
});

describe('network findings at a month end east of UTC', () => {
  /** Alice's partner bills in Berlin: April starts at 22:00 UTC on 31 March (CEST, +02:00). */
  const berlin = REGISTRY.replace('timeZone: UTC', 'timeZone: Europe/Berlin');
  let dir: string;

  beforeAll(async () => {
    dir = join(root, 'berlin');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'registry.yaml'), berlin);
    // A source seen once, at 01:30 on 1 April in Berlin: 23:30 UTC on 31 March.
    await writeFile(
      join(dir, 'logs', '2026-04-01-02-00-00-DDDDDDDDDDDDDDDD'),
      `${[get('30/Mar/2026:10:00:00', '198.51.100.23', '100'), get('31/Mar/2026:23:30:00', '203.0.113.9', '10')].join('\n')}\n`,
    );
  });

  const berlinAudit = (from: string, to: string, now: string) =>
    runLocalAudit({
      logs: [join(dir, 'logs')],
      registryPath: join(dir, 'registry.yaml'),
      outDir: join(dir, 'out'),
      from,
      to,
      dryRun: false,
      clock: { now: () => new Date(now) },
    });

  it('sends the notice for April, the period the source was first seen in, and none for March', async () => {
    const march = await berlinAudit('2026-03-01', '2026-04-01', '2026-04-02T06:00:00Z');
    expect(sentUnexplained(march)).toEqual([]);
    const april = await berlinAudit('2026-04-01', '2026-05-01', '2026-04-02T07:00:00Z');
    expect(sentUnexplained(april)).toEqual(['2026-04']);
  });
});

describe('network findings cut at each partner’s local midnight, far from UTC', () => {
  /**
   * Two partners in one registry: kiwi bills in Auckland (NZDT, +13:00 on 31 March 2026), west in Los
   * Angeles (PDT, -07:00). Each is seen from outside its network ten minutes before its local midnight
   * of 31 March (March) and ten minutes after (April). In UTC, kiwi's April request is on 31 March and
   * west's March request on 1 April: a cut by UTC days would put both in the wrong month.
   */
  const KIWI = 'arn:aws:iam::111122223333:user/kiwi';
  const WEST = 'arn:aws:iam::444455556666:user/west';
  const partner = (id: string, zone: string, account: string, cidr: string) => `  - id: ${id}
    name: ${id}
    accountOwners: [{ email: ops@${id}.example }]
    timeZone: ${zone}
    applications:
      - id: app
        name: App
        principals: [{ account: "${account}" }]
        networks: { cidrs: [${cidr}] }
    contracts:
      - id: c-${id}
        effectiveFrom: "2026-01-01"
        currency: EUR
        datasets: [feeds/weather/]
        unexplainedAccessNotice: true
`;
  const registry = `version: 1
provider: { name: Provider, noticeFrom: "Partners <p@provider.example>", contactEmail: c@provider.example }
partners:
${partner('kiwi', 'Pacific/Auckland', '111122223333', '198.51.100.0/24')}${partner('west', 'America/Los_Angeles', '444455556666', '192.0.2.0/24')}`;
  const at = (requester: string, time: string, ip: string, bytesSent: string) =>
    logLine({ time: `${time} +0000`, requester, ip, bytesSent });
  const LINES = [
    // kiwi: 23:50 on 31 March in Auckland, then 00:10 and 09:00 on 1 April there.
    at(KIWI, '31/Mar/2026:10:50:00', '203.0.113.9', '11'),
    at(KIWI, '31/Mar/2026:11:10:00', '100.64.7.1', '12'),
    at(KIWI, '31/Mar/2026:20:00:00', '203.0.113.9', '13'),
    // west: 23:50 on 31 March in Los Angeles, then 00:10 on 1 April there.
    at(WEST, '01/Apr/2026:06:50:00', '203.0.113.77', '21'),
    at(WEST, '01/Apr/2026:07:10:00', '100.64.9.9', '22'),
    // Inside their networks: no finding.
    at(KIWI, '31/Mar/2026:10:55:00', '198.51.100.5', '1'),
    at(WEST, '01/Apr/2026:06:55:00', '192.0.2.5', '1'),
  ];
  let dir: string;

  beforeAll(async () => {
    dir = join(root, 'far');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'registry.yaml'), registry);
    await writeFile(join(dir, 'logs', '2026-04-01-12-00-00-EEEEEEEEEEEEEEEE'), `${LINES.join('\n')}\n`);
  });

  const farAudit = (from: string, to: string, now: string) =>
    runLocalAudit({
      logs: [join(dir, 'logs')],
      registryPath: join(dir, 'registry.yaml'),
      outDir: join(dir, 'out'),
      from,
      to,
      dryRun: false,
      clock: { now: () => new Date(now) },
    });
  /** Partner, prefix, requests, bytes, first and last seen, new in the window. */
  const byPartner = (fs: readonly NetworkFindingOut[] | undefined) =>
    (fs ?? []).map((f) => [f.partnerId, ...figures([f])[0]!]);
  const notices = (result: Awaited<ReturnType<typeof farAudit>>) =>
    result.notices
      .filter((n) => n.key.level === 'unexplained-access' && n.status === 'sent')
      .map((n) => `${n.key.partnerId} ${n.key.periodId}`)
      .sort();

  it('March holds the request ten minutes before each partner’s local midnight, and no later one', async () => {
    const march = await farAudit('2026-03-01', '2026-04-01', '2026-04-02T12:00:00Z');
    expect(byPartner(march.report.networkFindings)).toEqual([
      ['kiwi', '203.0.113.0/24', '1', '11', '2026-03-31T10:50:00.000Z', '2026-03-31T10:50:00.000Z', true],
      ['west', '203.0.113.0/24', '1', '21', '2026-04-01T06:50:00.000Z', '2026-04-01T06:50:00.000Z', true],
    ]);
    expect(notices(march)).toEqual(['kiwi 2026-03', 'west 2026-03']);
  });

  it('April holds the requests from each partner’s local midnight on; a March source is not new there', async () => {
    const april = await farAudit('2026-04-01', '2026-05-01', '2026-04-02T13:00:00Z');
    expect(byPartner(april.report.networkFindings)).toEqual([
      ['kiwi', '100.64.7.0/24', '1', '12', '2026-03-31T11:10:00.000Z', '2026-03-31T11:10:00.000Z', true],
      ['kiwi', '203.0.113.0/24', '1', '13', '2026-03-31T20:00:00.000Z', '2026-03-31T20:00:00.000Z', false],
      ['west', '100.64.9.0/24', '1', '22', '2026-04-01T07:10:00.000Z', '2026-04-01T07:10:00.000Z', true],
    ]);
    expect(april.report.networkFindings!.find((f) => !f.newInWindow)!.firstEverSeen).toBe(
      '2026-03-31T10:50:00.000Z',
    );
    expect(notices(april)).toEqual(['kiwi 2026-04', 'west 2026-04']);
  });

  it('sends each partner one notice per period however often the months are audited', async () => {
    const march = await farAudit('2026-03-01', '2026-04-01', '2026-04-03T12:00:00Z');
    const april = await farAudit('2026-04-01', '2026-05-01', '2026-04-03T13:00:00Z');
    expect(notices(march)).toEqual([]);
    expect(notices(april)).toEqual([]);
    const emails = (await readdir(join(dir, 'out', 'outbox'))).filter(
      (f) => f.endsWith('.eml') && f.includes('unexplained-access'),
    );
    expect(emails).toHaveLength(4);
  });

  it('a window of one day takes that day in each partner’s zone', async () => {
    const day = await farAudit('2026-03-31', '2026-04-01', '2026-04-03T14:00:00Z');
    expect(byPartner(day.report.networkFindings).map((f) => [f[0], f[1], f[4]])).toEqual([
      ['kiwi', '203.0.113.0/24', '2026-03-31T10:50:00.000Z'],
      ['west', '203.0.113.0/24', '2026-04-01T06:50:00.000Z'],
    ]);
  });
});

describe('network findings on the night the clocks go back, at a month end', () => {
  /**
   * New York leaves daylight time at 02:00 on 1 November 2026, so that local day lasts 25 hours: it
   * starts at 04:00 UTC (EDT, -04:00) and ends at 05:00 UTC on 2 November (EST, -05:00). October ends
   * at its first instant. Requests from outside the network ten minutes either side of both ends.
   */
  const EAST = 'arn:aws:iam::777788889999:user/east';
  const registry = `version: 1
provider: { name: Provider, noticeFrom: "Partners <p@provider.example>", contactEmail: c@provider.example }
partners:
  - id: east
    name: East
    accountOwners: [{ email: ops@east.example }]
    timeZone: America/New_York
    applications:
      - id: app
        name: App
        principals: [{ account: "777788889999" }]
        networks: { cidrs: [192.0.2.0/24] }
    contracts:
      - id: c-east
        effectiveFrom: "2026-01-01"
        currency: USD
        datasets: [feeds/weather/]
        unexplainedAccessNotice: true
`;
  const at = (time: string, ip: string, bytesSent: string) =>
    logLine({ time: `${time} +0000`, requester: EAST, ip, bytesSent });
  const LINES = [
    at('01/Nov/2026:03:50:00', '203.0.113.1', '1'), // 23:50 EDT on 31 October
    at('01/Nov/2026:04:10:00', '203.0.114.1', '2'), // 00:10 EDT on 1 November
    at('02/Nov/2026:04:50:00', '203.0.115.1', '3'), // 23:50 EST on 1 November (its 25th hour)
    at('02/Nov/2026:05:10:00', '203.0.116.1', '4'), // 00:10 EST on 2 November
  ];
  let dir: string;

  beforeAll(async () => {
    dir = join(root, 'fall-back');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'registry.yaml'), registry);
    await writeFile(join(dir, 'logs', '2026-11-02-12-00-00-FFFFFFFFFFFFFFFF'), `${LINES.join('\n')}\n`);
  });

  const eastAudit = (from: string, to: string, now: string) =>
    runLocalAudit({
      logs: [join(dir, 'logs')],
      registryPath: join(dir, 'registry.yaml'),
      outDir: join(dir, 'out'),
      from,
      to,
      dryRun: true,
      clock: { now: () => new Date(now) },
    });
  const prefixes = (fs: readonly NetworkFindingOut[] | undefined) => (fs ?? []).map((f) => f.sourcePrefix);

  it('October ends at New York’s midnight in daylight time', async () => {
    const october = await eastAudit('2026-10-01', '2026-11-01', '2026-11-03T12:00:00Z');
    expect(prefixes(october.report.networkFindings)).toEqual(['203.0.113.0/24']);
  });

  it('the 25-hour first of November holds both requests of its day and neither neighbour', async () => {
    const day = await eastAudit('2026-11-01', '2026-11-02', '2026-11-03T12:00:00Z');
    expect(prefixes(day.report.networkFindings)).toEqual(['203.0.114.0/24', '203.0.115.0/24']);
    const november = await eastAudit('2026-11-01', '2026-12-01', '2026-11-03T12:00:00Z');
    expect(prefixes(november.report.networkFindings)).toEqual([
      '203.0.114.0/24',
      '203.0.115.0/24',
      '203.0.116.0/24',
    ]);
  });
});
