/**
 * Where a request came from, in the terms the registry declares and the findings report: the remote
 * address as logged, its source prefix (IPv4 /24, IPv6 /48), its network class, the VPC endpoint its
 * host header names, and an `address key` that makes a CIDR test a string range test the engines can
 * run in SQL. Pure: no I/O. The rules are in NETWORKS.md.
 */

/** The class of a logged remote address. */
export type NetworkClass = 'ipv4' | 'ipv6' | 'none' | 'unparsed';

/** A logged remote address, classified. */
export interface SourceAddress {
  readonly class: NetworkClass;
  /** `203.0.113.0/24`, `2001:db8:85a3::/48`, `-` (no remote address), or the logged text when it does not parse. */
  readonly prefix: string;
  /**
   * `4:` and 8 hex digits or `6:` and 32 (lower case), comparable as text within a family; `-` when
   * the address is missing or does not parse (no CIDR holds it).
   */
  readonly key: string;
}

/** A declared CIDR as a range of address keys [lo, hi] (both inclusive, same family). */
export interface CidrRange {
  readonly cidr: string;
  readonly lo: string;
  readonly hi: string;
}

/** The reason a CIDR or an address does not parse. */
export class NetworkParseError extends Error {
  override readonly name = 'NetworkParseError';
  constructor(
    readonly text: string,
    readonly reason: string,
  ) {
    super(`"${text}" ${reason}`);
  }
}

/** The value of a dotted-quad IPv4 address, or undefined. Leading zeros are refused (octal ambiguity). */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

/** The value of an IPv6 address (RFC 4291 text forms, an embedded IPv4 tail allowed), or undefined. */
export function parseIpv6(text: string): bigint | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) out.push(Number.parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  const given = head.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...tail];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

function hex(value: bigint, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

/** The key of IPv4 address `value`. */
function ipv4Key(value: number): string {
  return `4:${value.toString(16).padStart(8, '0')}`;
}

/** The key of IPv6 address `value`. */
function ipv6Key(value: bigint): string {
  return `6:${hex(value, 32)}`;
}

/** The /48 of an IPv6 address in RFC 5952 form (trailing zero groups compressed). */
function ipv6Prefix48(value: bigint): string {
  const groups = [
    Number((value >> 112n) & 0xffffn),
    Number((value >> 96n) & 0xffffn),
    Number((value >> 80n) & 0xffffn),
  ];
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  return `${groups.map((g) => g.toString(16)).join(':')}::/48`;
}

/** Classifies a logged remote address (field 4 of an access-log line). */
export function classifyAddress(logged: string): SourceAddress {
  if (logged === '' || logged === '-') return { class: 'none', prefix: '-', key: '-' };
  const v4 = parseIpv4(logged);
  if (v4 !== undefined) {
    const net = Math.floor(v4 / 256);
    return {
      class: 'ipv4',
      prefix: `${Math.floor(net / 65536)}.${Math.floor(net / 256) % 256}.${net % 256}.0/24`,
      key: ipv4Key(v4),
    };
  }
  const v6 = parseIpv6(logged);
  if (v6 !== undefined) return { class: 'ipv6', prefix: ipv6Prefix48(v6), key: ipv6Key(v6) };
  return { class: 'unparsed', prefix: logged, key: '-' };
}

/**
 * A declared CIDR (`203.0.113.0/24`, `2001:db8::/32`, or a bare address meaning /32 or /128) as its
 * range of address keys. Host bits must be zero, so that a typo (`10.0.0.1/8`) is not silently widened.
 *
 * @throws NetworkParseError naming what is wrong.
 */
export function parseCidr(text: string): CidrRange {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const lengthText = slash < 0 ? undefined : text.slice(slash + 1);
  const v4 = parseIpv4(address);
  const v6 = v4 === undefined ? parseIpv6(address) : undefined;
  if (v4 === undefined && v6 === undefined) {
    throw new NetworkParseError(text, 'is not a CIDR: the address is neither IPv4 (a.b.c.d) nor IPv6');
  }
  const bits = v4 !== undefined ? 32 : 128;
  let length = bits;
  if (lengthText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > bits) {
      throw new NetworkParseError(text, `is not a CIDR: the prefix length must be a whole number 0..${bits}`);
    }
    length = Number(lengthText);
  }
  const value = v4 !== undefined ? BigInt(v4) : v6!;
  const hostBits = BigInt(bits - length);
  const hostMask = (1n << hostBits) - 1n;
  if ((value & hostMask) !== 0n) {
    throw new NetworkParseError(text, `is not a CIDR: the address has bits set past the /${length} prefix`);
  }
  const lo = value;
  const hi = value | hostMask;
  return v4 !== undefined
    ? { cidr: text, lo: ipv4Key(Number(lo)), hi: ipv4Key(Number(hi)) }
    : { cidr: text, lo: ipv6Key(lo), hi: ipv6Key(hi) };
}

/** Whether the CIDR range holds the address key. */
export function cidrHolds(range: CidrRange, key: string): boolean {
  return key.length === range.lo.length && key[0] === range.lo[0] && key >= range.lo && key <= range.hi;
}

/**
 * The VPC endpoint a host header names, or `-`. An interface endpoint's DNS name puts the endpoint id
 * and a suffix of its own first (`bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com`): the id is
 * `vpce-` and the hex digits up to the next `-` or `.`.
 */
export function vpcEndpointOfHost(host: string): string {
  const m = /(?:^|\.)(vpce-[0-9a-f]+)[-.]/i.exec(host);
  return m ? m[1]!.toLowerCase() : '-';
}

/** A declared VPC endpoint id. */
export const VPC_ENDPOINT_ID = /^vpce-[0-9a-f]{8,17}$/;
/** A declared AWS region. */
export const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
