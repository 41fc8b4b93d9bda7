/**
 * The network findings in report.json and in `network-findings.csv` (NETWORKS.md): one entry per
 * finding source (partner, application, requester, source prefix, ...), counts as decimal strings.
 */
import { z } from 'zod';
import type { NetworkFinding } from './network-findings.js';
import { csvTextCell } from './report-csv.js';

const Int = z.string().regex(/^\d+$/).describe('an integer as a decimal string');
const Instant = z.iso.datetime().describe('an ISO 8601 instant in UTC');

export const NetworkFindingSchema = z
  .strictObject({
    kind: z.enum(['credential-used-outside-declared-network', 'shared-credential']),
    partnerId: z.string(),
    applicationId: z.string(),
    requester: z.string().describe('the raw requester as logged'),
    accessPoint: z.string(),
    sourcePrefix: z.string().describe('IPv4 /24, IPv6 /48, `-` (no remote address), or the logged text'),
    addressClass: z.enum(['ipv4', 'ipv6', 'none', 'unparsed']),
    vpcEndpoint: z.string().describe('the VPC endpoint the host header named, or `-`'),
    sourceRegion: z.string().describe('the source region field, or `-`'),
    declaredBy: z
      .strictObject({ partnerId: z.string(), applicationId: z.string() })
      .nullable()
      .describe('shared-credential: whose declared network it was'),
    requests: Int,
    bytesSent: Int,
    firstSeen: Instant,
    lastSeen: Instant,
    firstEverSeen: Instant.describe('the first request from there recorded, up to the window end'),
    newInWindow: z.boolean().describe('firstEverSeen is inside the window'),
  })
  .describe(
    "an application seen from outside its declared networks (the window's local dates in its partner's time zone)",
  );
export type NetworkFindingOut = z.infer<typeof NetworkFindingSchema>;

/** A finding as report.json states it; `windowStartMs` decides `newInWindow`. */
export function networkFindingOut(f: NetworkFinding, windowStartMs: number): NetworkFindingOut {
  return {
    kind: f.kind,
    partnerId: f.partnerId,
    applicationId: f.applicationId,
    requester: f.requester,
    accessPoint: f.accessPoint,
    sourcePrefix: f.sourcePrefix,
    addressClass: f.addressClass as NetworkFindingOut['addressClass'],
    vpcEndpoint: f.vpcEndpoint,
    sourceRegion: f.sourceRegion,
    declaredBy: f.declaredBy === null ? null : { ...f.declaredBy },
    requests: f.requests.toString(),
    bytesSent: f.bytesSent.toString(),
    firstSeen: new Date(f.firstSeenMs).toISOString(),
    lastSeen: new Date(f.lastSeenMs).toISOString(),
    firstEverSeen: new Date(f.firstEverMs).toISOString(),
    newInWindow: f.firstEverMs >= windowStartMs,
  };
}

export const NETWORK_CSV_COLUMNS = [
  'kind',
  'partner_id',
  'application_id',
  'requester',
  'access_point',
  'source_prefix',
  'address_class',
  'vpc_endpoint',
  'source_region',
  'declared_by_partner',
  'declared_by_application',
  'requests',
  'bytes_sent',
  'first_seen',
  'last_seen',
  'first_ever_seen',
  'new_in_window',
] as const;

/** The network findings as RFC 4180 CSV (CRLF, header row); text cells guarded as usage.csv's are. */
export function networkFindingsToCsv(findings: readonly NetworkFindingOut[]): string {
  const rows: string[] = [NETWORK_CSV_COLUMNS.join(',')];
  for (const f of findings) {
    rows.push(
      [
        csvTextCell(f.kind),
        csvTextCell(f.partnerId),
        csvTextCell(f.applicationId),
        csvTextCell(f.requester),
        csvTextCell(f.accessPoint),
        csvTextCell(f.sourcePrefix),
        csvTextCell(f.addressClass),
        csvTextCell(f.vpcEndpoint),
        csvTextCell(f.sourceRegion),
        csvTextCell(f.declaredBy?.partnerId ?? ''),
        csvTextCell(f.declaredBy?.applicationId ?? ''),
        f.requests,
        f.bytesSent,
        f.firstSeen,
        f.lastSeen,
        f.firstEverSeen,
        String(f.newInWindow),
      ].join(','),
    );
  }
  return `${rows.join('\r\n')}\r\n`;
}
