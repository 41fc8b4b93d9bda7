/**
 * Network findings (NETWORKS.md): an application that declares where it reads from, seen reading from
 * elsewhere. Pure: the registry's declarations as table rows for the engine, and the findings' shape.
 */
import { parseCidr } from './networks.js';
import type { Registry } from './registry.js';
import { startOfLocalDate } from './time.js';

export const OUTSIDE_DECLARED_NETWORK = 'credential-used-outside-declared-network';
export const SHARED_CREDENTIAL = 'shared-credential';
export type NetworkFindingKind = typeof OUTSIDE_DECLARED_NETWORK | typeof SHARED_CREDENTIAL;

/** One declared network as a row of the engine's `registry_networks` table. */
export interface DeclaredNetworkRow {
  readonly partner_id: string;
  readonly application_id: string;
  /** `cidr`: an address key in [lo, hi]; `vpce`: the VPC endpoint `value`; `region`: the source region `value`. */
  readonly kind: 'cidr' | 'vpce' | 'region';
  readonly lo: string;
  readonly hi: string;
  readonly value: string;
}

/** Every network the registry's applications declare, as rows (the registry was validated: CIDRs parse). */
export function declaredNetworkRows(registry: Registry): DeclaredNetworkRow[] {
  const rows: DeclaredNetworkRow[] = [];
  for (const partner of registry.partners) {
    for (const app of partner.applications) {
      const n = app.networks;
      if (n === undefined) continue;
      const base = { partner_id: partner.id, application_id: app.id };
      for (const cidr of n.cidrs) {
        const range = parseCidr(cidr);
        rows.push({ ...base, kind: 'cidr', lo: range.lo, hi: range.hi, value: cidr });
      }
      for (const vpce of n.vpcEndpoints) rows.push({ ...base, kind: 'vpce', lo: '', hi: '', value: vpce });
      for (const region of n.sourceRegions)
        rows.push({ ...base, kind: 'region', lo: '', hi: '', value: region });
    }
  }
  return rows;
}

/**
 * One source of a network finding: a principal of the application seen from one source prefix (with
 * its VPC endpoint and source region) outside the application's declared networks, in the range
 * asked; for `shared-credential`, from a network another partner's application declared.
 */
export interface NetworkFinding {
  readonly kind: NetworkFindingKind;
  readonly partnerId: string;
  readonly applicationId: string;
  /** The raw requester as logged. */
  readonly requester: string;
  readonly accessPoint: string;
  readonly sourcePrefix: string;
  readonly addressClass: string;
  readonly vpcEndpoint: string;
  readonly sourceRegion: string;
  /** shared-credential only: the partner and application that declared the network. */
  readonly declaredBy: { readonly partnerId: string; readonly applicationId: string } | null;
  readonly requests: bigint;
  readonly bytesSent: bigint;
  /** First and last request from there in the range (epoch ms, UTC). */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** The first request from there ever recorded (up to the range's end): new in a period if within it. */
  readonly firstEverMs: number;
}

/**
 * The order the engines return findings in (kind, partner, application, requester, access point, source
 * prefix, address class, VPC endpoint, region, then the declaring partner and application, an outside
 * finding's none first), for findings put back together from parts.
 */
export function compareNetworkFindings(a: NetworkFinding, b: NetworkFinding): number {
  const key = (f: NetworkFinding) => [
    f.kind,
    f.partnerId,
    f.applicationId,
    f.requester,
    f.accessPoint,
    f.sourcePrefix,
    f.addressClass,
    f.vpcEndpoint,
    f.sourceRegion,
    f.declaredBy?.partnerId ?? '',
    f.declaredBy?.applicationId ?? '',
  ];
  const x = key(a);
  const y = key(b);
  for (let i = 0; i < x.length; i++) {
    if (x[i]! < y[i]!) return -1;
    if (x[i]! > y[i]!) return 1;
  }
  return 0;
}

/** The partners' network findings first seen in [startMs, endMs): what an unexplained-access notice reports. */
export function newNetworkFindings(
  findings: readonly NetworkFinding[],
  partnerId: string,
  startMs: number,
  endMs: number,
): NetworkFinding[] {
  return findings.filter(
    (f) => f.partnerId === partnerId && f.firstEverMs >= startMs && f.firstEverMs < endMs,
  );
}

/**
 * The local dates that hold the window [from, to) and every period in `periods` (each a partner's
 * billing period, with its local dates): what the findings behind an unexplained-access notice must
 * cover. The findings cut each partner's dates in its own zone, so a source seen only in the first hours
 * of April in Berlin (22:00 UTC on 31 March) is new in April, and one seen at 23:30 on 31 March in
 * Auckland is new in March.
 */
export function noticeFindingsDates(
  window: { readonly from: string; readonly to: string },
  periods: readonly { readonly fromDate: string; readonly toDate: string }[],
): { fromDate: string; toDate: string } {
  let fromDate = window.from;
  let toDate = window.to;
  for (const p of periods) {
    if (p.fromDate < fromDate) fromDate = p.fromDate;
    if (p.toDate > toDate) toDate = p.toDate;
  }
  return { fromDate, toDate };
}

/**
 * The instant each partner's window [from, to) starts at, in the partner's zone, by partner id: a
 * finding of the partner is new in the window when first seen from then on (report.json newInWindow).
 */
export function networkWindowStarts(
  registry: Registry,
  window: { readonly from: string },
): Record<string, number> {
  const starts: Record<string, number> = {};
  for (const p of registry.partners) starts[p.id] = startOfLocalDate(window.from, p.timeZone);
  return starts;
}

/** The notice level of network findings new in a period (a contract switches it on). */
export const UNEXPLAINED_ACCESS_LEVEL = 'unexplained-access';

/**
 * The findings an unexplained-access notice is due for in the evaluated period, or none: the contract in
 * force switches the notice on, a finding of the partner was first seen within the period, and the
 * ledger holds no such notice for the period yet (at most one per partner and period: later new
 * findings of the same period are in the report, not in a second notice).
 */
export function dueNetworkNotice(
  registry: Registry,
  evaluation: {
    readonly partnerId: string;
    readonly contractId: string;
    readonly period: { readonly id: string; readonly startMs: number; readonly endMs: number };
  },
  findings: readonly NetworkFinding[],
  held: readonly { readonly partnerId: string; readonly periodId: string; readonly level: string }[],
): NetworkFinding[] {
  const partner = registry.partners.find((p) => p.id === evaluation.partnerId);
  const contract = partner?.contracts.find((c) => c.id === evaluation.contractId);
  if (contract?.unexplainedAccessNotice !== true) return [];
  const p = evaluation.period;
  if (
    held.some(
      (e) =>
        e.partnerId === evaluation.partnerId && e.periodId === p.id && e.level === UNEXPLAINED_ACCESS_LEVEL,
    )
  ) {
    return [];
  }
  return newNetworkFindings(findings, evaluation.partnerId, p.startMs, p.endMs);
}
