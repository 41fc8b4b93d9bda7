/**
 * Every function the Athena statements (sql.ts) call, as Athena engine version 3 documents it: Athena
 * v3 runs Trino's functions, and each signature below is written as Trino's function reference writes
 * it. test/infra/athena-sql-grammar.test.ts parses every statement with a Trino grammar, takes out each
 * function call and fails on one that is not listed here, so a function Athena does not have (a DuckDB
 * name, say) is caught before it reaches AWS. A new function goes here with its documented signature.
 *
 * `duckdb` says how the local Athena stand-in (test/support/athena-local-server.ts) runs the function:
 * DuckDB's own function of the same name and meaning, or a macro that translates it; the test checks
 * that the stand-in defines a macro for exactly the functions marked so, and names each difference.
 */

/** How the DuckDB-backed stand-in gives a Trino function. */
export type DuckDbEquivalent =
  | { readonly kind: 'native' }
  | { readonly kind: 'macro'; readonly difference: string };

export interface AthenaFunction {
  /** The documented signatures the statements use, `name(args) -> result type`. */
  readonly signatures: readonly string[];
  /** What the statements use it for. */
  readonly use: string;
  readonly duckdb: DuckDbEquivalent;
}

const native = { kind: 'native' } as const;

/**
 * Keyed by the lower-case name as it appears in a call. CAST and TRY_CAST are syntax rather than
 * functions in Trino's grammar, and are listed like functions so that they are checked the same way.
 */
export const ATHENA_FUNCTIONS: Readonly<Record<string, AthenaFunction>> = {
  cast: {
    signatures: ['cast(value AS type) -> type'],
    use: 'bytes sent from text, timestamps from their text parameters, slots back to text',
    duckdb: native,
  },
  try_cast: {
    signatures: ['try_cast(value AS type) -> type'],
    use: 'a conversion that gives NULL instead of failing the query',
    duckdb: native,
  },
  coalesce: {
    signatures: ['coalesce(value1, value2[, ...])'],
    use: 'defaults for absent access points, undecodable keys and keys without a manifest entry',
    duckdb: native,
  },
  nullif: {
    signatures: ['nullif(value1, value2)'],
    use: 'an empty access point ARN read as absent',
    duckdb: native,
  },
  try: {
    signatures: ['try(expression)'],
    use: 'a log time or key that does not parse becomes NULL instead of failing the roll-up',
    duckdb: native,
  },
  count: {
    signatures: ['count(*) -> bigint'],
    use: 'requests: log lines per rollup key',
    duckdb: native,
  },
  sum: {
    signatures: ['sum(x) -> [same as input]'],
    use: 'requests, bytes and records summed over lines, keys and batches',
    duckdb: native,
  },
  max: {
    signatures: ['max(x) -> [same as input]'],
    use: 'the newest usage slot; the last time a network row was seen',
    duckdb: native,
  },
  max_by: {
    signatures: ['max_by(x, y) -> [same as x]'],
    use: 'the records of the longest manifest entry that matches a key',
    duckdb: {
      kind: 'macro',
      difference:
        "DuckDB's max_by skips a row whose x is NULL; Trino skips only a NULL y and may return a NULL x. The stand-in maps it to arg_max_null, which behaves as Trino does.",
    },
  },
  length: {
    signatures: ['length(string) -> bigint'],
    use: 'status codes of three characters; the prefixes of a key',
    duckdb: native,
  },
  replace: {
    signatures: ['replace(string, search, replace) -> varchar'],
    use: 'a delivery date yyyy/MM/dd as a date; + kept as + before URL decoding; doubled quotes in the manifest',
    duckdb: native,
  },
  strpos: {
    signatures: ['strpos(string, substring) -> bigint'],
    use: 'whether a key holds % (to decode) or / (to cut into a dataset)',
    duckdb: native,
  },
  substr: {
    signatures: ['substr(string, start, length) -> varchar'],
    use: 'status class, the malformed-line marker prefix, a key prefix',
    duckdb: native,
  },
  regexp_extract: {
    signatures: [
      'regexp_extract(string, pattern) -> varchar',
      'regexp_extract(string, pattern, group) -> varchar',
    ],
    use: "the first datasetDepth segments of a key; an address's IPv6 tail, a hex group without its leading zeros, a host header's VPC endpoint id (no match is NULL in Trino, '' in DuckDB: read through nullif where it can happen)",
    duckdb: native,
  },
  url_decode: {
    signatures: ['url_decode(value) -> varchar'],
    use: 'object keys as S3 logs them, URL-encoded',
    duckdb: native,
  },
  parse_datetime: {
    signatures: ['parse_datetime(string, format) -> timestamp with time zone'],
    use: 'the log line time, [14/Mar/2026:09:12:44 +0000], with its offset',
    duckdb: {
      kind: 'macro',
      difference:
        'DuckDB has no Joda-format parser: the stand-in defines parse_datetime for the one format the statements use (LOG_TIME_FORMAT) with strptime, and refuses any other format.',
    },
  },
  to_unixtime: {
    signatures: ['to_unixtime(timestamp) -> double'],
    use: 'cutting a time to its 15-minute slot; a line time in milliseconds (first and last seen)',
    duckdb: { kind: 'macro', difference: 'DuckDB calls it epoch(timestamp).' },
  },
  from_unixtime: {
    signatures: [
      'from_unixtime(unixtime) -> timestamp(3) with time zone',
      'from_unixtime(unixtime, zone) -> timestamp(3) with time zone',
    ],
    use: "a slot start back from seconds; with a zone, a slot in the partner's time zone, cast to its local date",
    duckdb: {
      kind: 'macro',
      difference:
        'DuckDB calls it to_timestamp(seconds); with a zone, timezone(zone, to_timestamp(seconds)), a local timestamp without zone whose date is the same.',
    },
  },
  floor: {
    signatures: ['floor(x) -> [same as x]'],
    use: 'cutting a time to its 15-minute slot',
    duckdb: native,
  },
  sequence: {
    signatures: ['sequence(start, stop) -> array(bigint)'],
    use: 'every prefix length of a key, to look each up in the manifest',
    duckdb: {
      kind: 'macro',
      difference: 'DuckDB calls it generate_series(start, stop) (both ends included, as in Trino).',
    },
  },
  regexp_like: {
    signatures: ['regexp_like(string, pattern) -> boolean'],
    use: "a log time of exactly S3's shape before it is parsed (LOG_TIME_SHAPE); an address of IPv4 or IPv6 shape, after checking it holds only their characters (network-sql.ts)",
    duckdb: {
      kind: 'macro',
      difference:
        'DuckDB calls it regexp_matches(string, pattern); both search the string (RE2 there, Java here) and agree on the patterns the statements use.',
    },
  },
  chr: {
    signatures: ['chr(n) -> varchar'],
    use: 'U+FFFD, to tell a key that decodes to the replacement character from one that was logged with it',
    duckdb: native,
  },
  upper: {
    signatures: ['upper(string) -> varchar'],
    use: 'percent-escapes compared without regard to case',
    duckdb: native,
  },
  split: {
    signatures: ['split(string, delimiter) -> array(varchar)'],
    use: 'the request identities another delivery date counted, kept as one comma-separated text per rollup row',
    duckdb: native,
  },
  array_agg: {
    signatures: ['array_agg(x) -> array<[same as input]>'],
    use: "a rollup row's request identities, gathered to be kept as one text",
    duckdb: native,
  },
  array_join: {
    signatures: ['array_join(x, delimiter) -> varchar'],
    use: "a rollup row's request identities as one comma-separated text",
    duckdb: { kind: 'macro', difference: 'DuckDB calls it array_to_string(list, separator).' },
  },
  arbitrary: {
    signatures: ['arbitrary(x) -> [same as input]'],
    use: "the identities of a rollup key's lines, the same on every row of the key after the manifest join",
    duckdb: native,
  },
  split_part: {
    signatures: ['split_part(string, delimiter, index) -> varchar'],
    use: 'the partition, service and account of an ARN requester; the octets of an IPv4 address and the groups of an IPv6 one (a field past the last is NULL in Trino, empty in DuckDB; the statements ask only for fields the pattern checked guarantees, or read an empty one as NULL)',
    duckdb: native,
  },
  lower: {
    signatures: ['lower(string) -> varchar'],
    use: "an IPv6 address's hex groups and a VPC endpoint id in lower case, as the local engine keys them (network-sql.ts)",
    duckdb: native,
  },
  lpad: {
    signatures: ['lpad(string, size, padstring) -> varchar'],
    use: "an IPv6 hex group to four digits, and the zero groups a `::` stands for (network-sql.ts; the sizes are at most 16, never below a group's length, so Trino's truncation never applies)",
    duckdb: native,
  },
  greatest: {
    signatures: ['greatest(value1, value2, ..., valueN) -> [same as input]'],
    use: 'the number of zero groups a `::` stands for, never negative (network-sql.ts)',
    duckdb: native,
  },
  min: {
    signatures: ['min(x) -> [same as x]'],
    use: 'the first contract version in force for a month; the first time a network row was seen',
    duckdb: native,
  },
  row_number: {
    signatures: ['row_number() -> bigint'],
    use: 'the first line of a request within a batch keeps it; later ones are repeats',
    duckdb: native,
  },
  to_utf8: {
    signatures: ['to_utf8(string) -> varbinary'],
    use: "a request's id and host id as bytes, to hash",
    duckdb: { kind: 'macro', difference: 'DuckDB calls it encode(string).' },
  },
  xxhash64: {
    signatures: ['xxhash64(binary) -> varbinary'],
    use: "a request's identity: 64 bits of its id and host id",
    duckdb: {
      kind: 'macro',
      difference:
        "DuckDB's hash(value) is another 64-bit hash (and returns UBIGINT, not 8 bytes): identities are only compared within one engine, never across.",
    },
  },
  from_big_endian_64: {
    signatures: ['from_big_endian_64(binary) -> bigint'],
    use: 'the 64-bit identity as a bigint, to compare and store',
    duckdb: {
      kind: 'macro',
      difference: "DuckDB's stand-in turns hash()'s UBIGINT into the same signed BIGINT range Trino gives.",
    },
  },
};
