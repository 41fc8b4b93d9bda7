import { describe, expect, it } from 'vitest';
import { SqlInputError } from '../../functions/adapters/athena/sql.js';
import { networkFindingsSql } from '../../functions/adapters/duckdb/network-findings.js';
import {
  declaredNetworkRows,
  dueNetworkNotice,
  type NetworkFinding,
  networkWindowStarts,
  noticeFindingsDates,
} from '../../functions/domain/network-findings.js';
import {
  cidrHolds,
  classifyAddress,
  parseCidr,
  parseIpv6,
  vpcEndpointOfHost,
} from '../../functions/domain/networks.js';
import { parseRegistry, type Registry, RegistryError } from '../../functions/domain/registry.js';

describe('classifyAddress', () => {
  it.each([
    ['198.51.100.23', 'ipv4', '198.51.100.0/24', '4:c6336417'],
    ['10.0.0.255', 'ipv4', '10.0.0.0/24', '4:0a0000ff'],
    ['2001:db8:85a3::8a2e:370:7334', 'ipv6', '2001:db8:85a3::/48', '6:20010db885a3000000008a2e03707334'],
    ['2001:DB8::1', 'ipv6', '2001:db8::/48', '6:20010db8000000000000000000000001'],
    ['::1', 'ipv6', '::/48', '6:00000000000000000000000000000001'],
    ['::ffff:192.0.2.1', 'ipv6', '::/48', '6:00000000000000000000ffffc0000201'],
    ['-', 'none', '-', '-'],
    ['', 'none', '-', '-'],
    ['AmazonS3', 'unparsed', 'AmazonS3', '-'],
    ['198.51.100.023', 'unparsed', '198.51.100.023', '-'],
    ['1:2:3:4:5:6:7:8:9', 'unparsed', '1:2:3:4:5:6:7:8:9', '-'],
  ])('%s is %s, prefix %s', (text, cls, prefix, key) => {
    expect(classifyAddress(text)).toEqual({ class: cls, prefix, key });
  });
});

describe('parseCidr', () => {
  it('turns a CIDR into the range of address keys it holds', () => {
    const r = parseCidr('198.51.100.0/25');
    expect(cidrHolds(r, classifyAddress('198.51.100.127').key)).toBe(true);
    expect(cidrHolds(r, classifyAddress('198.51.100.128').key)).toBe(false);
    expect(cidrHolds(parseCidr('2001:db8::/32'), classifyAddress('2001:db8:ffff::1').key)).toBe(true);
    expect(cidrHolds(parseCidr('2001:db8::/32'), classifyAddress('2001:db9::1').key)).toBe(false);
    // A family never holds the other's addresses.
    expect(cidrHolds(parseCidr('0.0.0.0/0'), classifyAddress('::1').key)).toBe(false);
    expect(cidrHolds(parseCidr('198.51.100.7'), classifyAddress('198.51.100.7').key)).toBe(true);
    expect(parseIpv6('1::2::3')).toBeUndefined();
  });

  it.each([
    ['10.0.0.1/8', 'bits set past the /8 prefix'],
    ['10.0.0.0/33', 'prefix length must be a whole number 0..32'],
    ['300.0.0.0/8', 'neither IPv4'],
    ['2001:db8::/129', '0..128'],
    ['10.0.0.0/', 'prefix length'],
    ['example.com/24', 'neither IPv4'],
  ])('refuses %s', (text, reason) => {
    expect(() => parseCidr(text)).toThrow(reason);
  });
});

describe('vpcEndpointOfHost', () => {
  it('reads the endpoint id out of an interface endpoint host name, and nothing out of others', () => {
    expect(vpcEndpointOfHost('bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com')).toBe(
      'vpce-1a2b3c4d',
    );
    expect(vpcEndpointOfHost('bucket.s3.us-east-1.amazonaws.com')).toBe('-');
    expect(vpcEndpointOfHost('-')).toBe('-');
  });
});

const REGISTRY = (networks: unknown, contract: object = {}) => `
version: 1
provider: { name: P, noticeFrom: "P <p@p.example>", contactEmail: c@p.example }
partners:
  - id: acme
    name: Acme
    accountOwners: [{ email: o@acme.example }]
    timeZone: UTC
    applications:
      - id: app
        name: App
        principals: [{ account: "111122223333" }]
        networks: ${JSON.stringify(networks)}
    contracts:
      - ${JSON.stringify({ id: 'c1', effectiveFrom: '2026-01-01', currency: 'EUR', datasets: ['feeds/'], ...contract })}
`;

describe('declared networks in the registry', () => {
  it('names the path of a CIDR that does not parse, and says why', () => {
    let error: unknown;
    try {
      parseRegistry(REGISTRY({ cidrs: ['203.0.113.0/24', '10.0.0.1/8'], vpcEndpoints: ['vpc-1'] }), 'r.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).problems).toEqual([
      {
        path: 'partners[0].applications[0].networks.cidrs[1]',
        message: '"10.0.0.1/8" is not a CIDR: the address has bits set past the /8 prefix',
      },
      {
        path: 'partners[0].applications[0].networks.vpcEndpoints[0]',
        message: 'must be a VPC endpoint id such as "vpce-1a2b3c4d"',
      },
    ]);
  });

  it('refuses an empty declaration and a threshold level named like the network notice', () => {
    expect(() => parseRegistry(REGISTRY({}), 'r.yaml')).toThrow('must declare at least one CIDR');
    expect(() =>
      parseRegistry(
        REGISTRY({ cidrs: ['10.0.0.0/8'] }, { thresholds: [{ level: 'unexplained-access', percent: 80 }] }),
        'r.yaml',
      ),
    ).toThrow('partners[0].contracts[0].thresholds[0].level');
  });

  it('lists the declarations as rows for the engine, CIDRs as address-key ranges', () => {
    const reg = parseRegistry(
      REGISTRY({ cidrs: ['203.0.113.0/24'], vpcEndpoints: ['vpce-0a1b2c3d'], sourceRegions: ['eu-west-1'] }),
      'r.yaml',
    );
    expect(declaredNetworkRows(reg)).toEqual([
      {
        partner_id: 'acme',
        application_id: 'app',
        kind: 'cidr',
        lo: '4:cb007100',
        hi: '4:cb0071ff',
        value: '203.0.113.0/24',
      },
      { partner_id: 'acme', application_id: 'app', kind: 'vpce', lo: '', hi: '', value: 'vpce-0a1b2c3d' },
      { partner_id: 'acme', application_id: 'app', kind: 'region', lo: '', hi: '', value: 'eu-west-1' },
    ]);
    expect(reg.partners[0]!.contracts[0]!.unexplainedAccessNotice).toBe(false);
  });
});

describe('dueNetworkNotice', () => {
  const finding = (firstEverMs: number): NetworkFinding => ({
    kind: 'credential-used-outside-declared-network',
    partnerId: 'acme',
    applicationId: 'app',
    requester: 'r',
    accessPoint: '-',
    sourcePrefix: '192.0.2.0/24',
    addressClass: 'ipv4',
    vpcEndpoint: '-',
    sourceRegion: '-',
    declaredBy: null,
    requests: 1n,
    bytesSent: 1n,
    firstSeenMs: firstEverMs,
    lastSeenMs: firstEverMs,
    firstEverMs,
  });
  const period = { id: '2026-03', startMs: 1000, endMs: 2000 };
  const ev = { partnerId: 'acme', contractId: 'c1', period };
  const on = parseRegistry(REGISTRY({ cidrs: ['10.0.0.0/8'] }, { unexplainedAccessNotice: true }), 'r');
  const off = parseRegistry(REGISTRY({ cidrs: ['10.0.0.0/8'] }), 'r');

  it('is due for findings first seen in the period, when the contract switches it on, once', () => {
    const findings = [finding(500), finding(1500), finding(2500)];
    expect(dueNetworkNotice(on, ev, findings, []).map((f) => f.firstEverMs)).toEqual([1500]);
    expect(dueNetworkNotice(off, ev, findings, [])).toEqual([]);
    const held = [{ partnerId: 'acme', periodId: '2026-03', level: 'unexplained-access' }];
    expect(dueNetworkNotice(on, ev, findings, held)).toEqual([]);
    expect(dueNetworkNotice(on, ev, [finding(500)], [])).toEqual([]);
  });
});

describe('noticeFindingsDates', () => {
  const window = { from: '2026-03-10', to: '2026-03-20' };
  it.each([
    ['the window alone when no period is evaluated', [], { fromDate: '2026-03-10', toDate: '2026-03-20' }],
    [
      "a period reaching past the window's dates on both sides",
      [{ fromDate: '2026-03-01', toDate: '2026-04-01' }],
      { fromDate: '2026-03-01', toDate: '2026-04-01' },
    ],
    [
      'every period of every partner (dates, whatever each zone)',
      [
        { fromDate: '2026-02-01', toDate: '2026-03-01' },
        { fromDate: '2026-03-01', toDate: '2026-04-01' },
      ],
      { fromDate: '2026-02-01', toDate: '2026-04-01' },
    ],
  ])('%s', (_name, periods, expected) => {
    expect(noticeFindingsDates(window, periods)).toEqual(expected);
  });
  it('keeps a window wider than its periods', () => {
    expect(
      noticeFindingsDates({ from: '2026-02-20', to: '2026-04-02' }, [
        { fromDate: '2026-03-01', toDate: '2026-04-01' },
      ]),
    ).toEqual({ fromDate: '2026-02-20', toDate: '2026-04-02' });
  });
});

describe('networkWindowStarts', () => {
  it("is the window's first local midnight in each partner's zone", () => {
    const registry = {
      partners: [
        { id: 'kiwi', timeZone: 'Pacific/Auckland' },
        { id: 'west', timeZone: 'America/Los_Angeles' },
      ],
    } as unknown as Registry;
    expect(networkWindowStarts(registry, { from: '2026-04-01' })).toEqual({
      // NZDT (+13) ends on 5 April 2026: 1 April starts at 11:00 UTC the day before.
      kiwi: Date.UTC(2026, 2, 31, 11),
      // PDT (-7).
      west: Date.UTC(2026, 3, 1, 7),
    });
  });
});

describe('networkFindingsSql', () => {
  it('takes local dates, binds them as parameters, and reads no slot past the last zone’s end of toDate', () => {
    const q = networkFindingsSql({ fromDate: '2026-03-01', toDate: '2026-04-01' });
    // The read ends a day after toDate's UTC start (no zone starts a date later); the dates are values.
    expect(q.params).toEqual([Date.UTC(2026, 3, 2), '2026-04-01', '2026-03-01']);
    expect(q.sql).not.toContain('2026-');
  });
  it.each([
    [{ fromDate: '2026-3-01', toDate: '2026-04-01' }, 'fromDate must be a date YYYY-MM-DD, got "2026-3-01"'],
    [{ fromDate: '2026-03-01', toDate: "2026-04-01' OR 1=1" }, 'toDate must be a date YYYY-MM-DD'],
    [
      { fromDate: '2026-04-02', toDate: '2026-04-01' },
      'fromDate 2026-04-02 is after their toDate 2026-04-01',
    ],
  ])('refuses %j', (request, message) => {
    expect(() => networkFindingsSql(request)).toThrow(SqlInputError);
    expect(() => networkFindingsSql(request)).toThrow(message);
  });
});
