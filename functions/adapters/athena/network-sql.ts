/**
 * The network columns of the rollup's `network` grain in Trino SQL, by exactly the rules the local
 * engine applies (functions/domain/networks.ts: classifyAddress, vpcEndpointOfHost; the scanner's
 * hostIsVpce and its reading of the source region; functions/domain/NETWORKS.md):
 * - the remote address as logged (`-` for an empty field);
 * - its class (`ipv4`, `ipv6`, `none` for `-`, `unparsed` for text that is no address), its source
 *   prefix (IPv4 /24 `203.0.113.0/24`; IPv6 /48 in RFC 5952 form with its trailing zero groups
 *   compressed, `2001:db8:85a3::/48`; `-`; or the logged text when it does not parse), and its address
 *   key (`4:` and 8 hex digits, `6:` and 32, lower case; `-` when no CIDR can hold it);
 * - the VPC endpoint of an S3 interface endpoint's host header (`...vpce-<hex>-....vpce.amazonaws.com`),
 *   lower case, else `-`;
 * - the source region (the 27th field), `-` when empty or absent.
 *
 * Only functions that Trino and DuckDB both read alike, on text whose characters are checked first:
 * `split_part` past the last field (NULL in Trino, '' in DuckDB) and `regexp_extract` without a match
 * (NULL in Trino, '' in DuckDB) are only reached where the text has the fields or the match, or are
 * wrapped in `nullif(..., '')`. Integer division is avoided (Trino's is integral, DuckDB's is not):
 * a hex digit pair is `n - n % 16` over 16, an exact whole number in both. test/unit/network-sql.test.ts
 * runs real and hostile addresses and hosts through this SQL (DuckDB) and networks.ts and compares.
 */

const HEX_DIGITS = "'0123456789abcdef'";
const OCTET = '(0|[1-9][0-9]{0,2})';
const IPV4_SHAPE = `^${OCTET}[.]${OCTET}[.]${OCTET}[.]${OCTET}$`;
const GROUP = '[0-9a-fA-F]{1,4}';
const IPV6_FULL = `^${GROUP}(:${GROUP}){7}$`;
/** `{0,1}` rather than `?`: a `?` in the text, even in a literal, reads like a parameter placeholder. */
const IPV6_COMPRESSED = `^(${GROUP}(:${GROUP})*){0,1}::(${GROUP}(:${GROUP})*){0,1}$`;
/** What an S3 interface endpoint's host header ends with (the scanner's VPCE_HOST_SUFFIX). */
const VPCE_HOST_SUFFIX = '.vpce.amazonaws.com';

/** The two lower-case hex digits of `n`, an integer 0..255. */
function hexPair(n: string): string {
  const digit = (v: string) => `substr(${HEX_DIGITS}, CAST(${v} AS integer) + 1, 1)`;
  return `${digit(`(${n} - ${n} % 16) / 16`)} || ${digit(`${n} % 16`)}`;
}

/** True when `text` holds only characters of `chars` (a class body): no anchors, so no `$` subtleties. */
function onlyChars(text: string, chars: string): string {
  return `NOT regexp_like(${text}, '[^${chars}]')`;
}

/** True when the text column `text`, whose octets are columns `<octets>1..4`, is a dotted quad. */
function isIpv4(text: string, octets: string): string {
  const small = [1, 2, 3, 4].map((i) => `${octets}${i} <= 255`).join(' AND ');
  return `coalesce(${onlyChars(text, '0-9.')} AND regexp_like(${text}, '${IPV4_SHAPE}') AND ${small}, false)`;
}

/** The octets of `text` as integers (NULL where there is none), columns `<prefix>1..4`. */
function octetColumns(text: string, prefix: string): string {
  return [1, 2, 3, 4]
    .map((i) => `try_cast(nullif(split_part(${text}, '.', ${i}), '') AS integer) AS ${prefix}${i}`)
    .join(',\n  ');
}

/**
 * The rows of `rows` (a query with a text column `source_address`, the remote address as stored: never
 * NULL, `-` for none) with three more columns: `source_prefix`, `address_key`, `address_class`, and
 * helper columns whose names begin with `a_`. Each layer computes what the next reads (see the steps
 * below): no expression is repeated per line of text, and every step is plain SQL both engines read.
 */
export function classifiedAddressesSql(rows: string): string {
  /** `SELECT <alias>.*, <columns> FROM (<inner>) AS <alias>`, nested two spaces deeper. */
  const layer = (alias: string, columns: readonly string[], inner: string) => `SELECT ${alias}.*,
  ${columns.join(',\n  ')}
FROM (
  ${inner.replaceAll('\n', '\n  ')}
) AS ${alias}`;
  const x = 'a3.source_address';
  const rest = `substr(${x}, 1, length(${x}) - length(a3.a_tail))`;
  const h = 'a4.a_hex';
  const endsCompressed = `length(${h}) >= 2 AND substr(${h}, length(${h}) - 1) = '::'`;
  const p = 'a5.a_padded';
  const colons = `(length(${p}) - length(replace(${p}, ':', '')))`;
  const f = 'a6.a_full';
  const group = (i: number) => `lpad(lower(split_part(${f}, ':', ${i})), 4, '0')`;
  const short = (i: number) => `regexp_extract(${group(i)}, '^0*([0-9a-f]+)$', 1)`;
  const none = "a6.source_address IN ('', '-')";
  const octet = (i: number) => `CAST(a6.a_o${i} AS varchar)`;
  const layers = [
    // 1. The text after the last `:` (all of it without one), and the octets of a dotted quad.
    (inner: string) =>
      layer(
        'a1',
        [`regexp_extract(a1.source_address, '[^:]*$') AS a_tail`, octetColumns('a1.source_address', 'a_o')],
        inner,
      ),
    // 2. The octets of that tail, should it be an IPv4 address ending an IPv6 one.
    (inner: string) => layer('a2', [octetColumns('a2.a_tail', 'a_t')], inner),
    // 3. IPv4 or not; the IPv6 text with an IPv4 tail as two hex groups (NULL if it cannot be IPv6).
    (inner: string) =>
      layer(
        'a3',
        [
          `${isIpv4(x, 'a3.a_o')} AS a_is_v4`,
          `CASE
    WHEN length(${x}) < 2 OR length(${x}) > 45 OR NOT (${onlyChars(x, '0-9a-fA-F:.')}) THEN NULL
    WHEN strpos(a3.a_tail, '.') = 0 THEN ${x}
    WHEN ${isIpv4('a3.a_tail', 'a3.a_t')} AND strpos(${rest}, '.') = 0
    THEN ${rest} || ${hexPair('a3.a_t1')} || ${hexPair('a3.a_t2')} || ':' || ${hexPair('a3.a_t3')} || ${hexPair('a3.a_t4')}
  END AS a_hex`,
        ],
        inner,
      ),
    // 4. Eight groups, or fewer around one `::`; a `0` group added where `::` starts or ends the text.
    (inner: string) =>
      layer(
        'a4',
        [
          `coalesce(regexp_like(${h}, '${IPV6_FULL}') OR regexp_like(${h}, '${IPV6_COMPRESSED}'), false) AS a_v6_shape`,
          `CASE WHEN substr(${h}, 1, 2) = '::' THEN '0' ELSE '' END || ${h} || CASE WHEN ${endsCompressed} THEN '0' ELSE '' END AS a_padded`,
          `CASE WHEN substr(${h}, 1, 2) = '::' THEN 1 ELSE 0 END + CASE WHEN ${endsCompressed} THEN 1 ELSE 0 END AS a_pads`,
        ],
        inner,
      ),
    // 5. IPv6 when at most seven groups were given around a `::`; the `::` written out as zero groups.
    (inner: string) =>
      layer(
        'a5',
        [
          `a5.a_v6_shape AND (strpos(${p}, '::') = 0 OR ${colons} - a5.a_pads <= 7) AS a_is_v6`,
          `CASE
    WHEN strpos(${p}, '::') = 0 THEN ${p}
    ELSE replace(${p}, '::', ':' || lpad('', CAST(greatest(0, 2 * (8 - ${colons})) AS integer), '0:'))
  END AS a_full`,
        ],
        inner,
      ),
  ];
  const classified = layers.reduce((inner, wrap) => wrap(inner), rows);
  return layer(
    'a6',
    [
      `CASE
    WHEN ${none} THEN '-'
    WHEN a6.a_is_v4 THEN ${octet(1)} || '.' || ${octet(2)} || '.' || ${octet(3)} || '.0/24'
    WHEN a6.a_is_v6 THEN
      CASE
        WHEN ${short(3)} <> '0' THEN ${short(1)} || ':' || ${short(2)} || ':' || ${short(3)}
        WHEN ${short(2)} <> '0' THEN ${short(1)} || ':' || ${short(2)}
        WHEN ${short(1)} <> '0' THEN ${short(1)}
        ELSE ''
      END || '::/48'
    ELSE a6.source_address
  END AS source_prefix`,
      `CASE
    WHEN ${none} THEN '-'
    WHEN a6.a_is_v4 THEN '4:' || ${[1, 2, 3, 4].map((i) => hexPair(`a6.a_o${i}`)).join(' || ')}
    WHEN a6.a_is_v6 THEN '6:' || ${[1, 2, 3, 4, 5, 6, 7, 8].map(group).join(' || ')}
    ELSE '-'
  END AS address_key`,
      `CASE
    WHEN ${none} THEN 'none'
    WHEN a6.a_is_v4 THEN 'ipv4'
    WHEN a6.a_is_v6 THEN 'ipv6'
    ELSE 'unparsed'
  END AS address_class`,
    ],
    classified,
  );
}

/** The remote address as stored, from the logs table's `remoteip` column: `-` for an empty field. */
export const SOURCE_ADDRESS_SQL = "coalesce(nullif(remoteip, ''), '-')";

/**
 * The VPC endpoint of the logs table's `endpoint` column (the host header): when the host ends with
 * `.vpce.amazonaws.com` (and is longer), the first `vpce-<hex>` that starts it or follows a `.` and is
 * followed by `-` or `.`, lower case; else `-`.
 */
export const VPC_ENDPOINT_SQL = `CASE
      WHEN length(endpoint) > ${VPCE_HOST_SUFFIX.length}
        AND substr(endpoint, length(endpoint) - ${VPCE_HOST_SUFFIX.length - 1}) = '${VPCE_HOST_SUFFIX}'
      THEN coalesce(nullif(lower(regexp_extract(endpoint, '(^|[.])([vV][pP][cC][eE]-[0-9a-fA-F]+)[-.]', 2)), ''), '-')
      ELSE '-'
    END`;

/** The source region (the 27th field): `-` when the line has none or it is empty. */
export const SOURCE_REGION_SQL = "coalesce(nullif(sourceregion, ''), '-')";
