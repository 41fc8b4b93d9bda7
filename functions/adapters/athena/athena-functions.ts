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
    use: 'the newest usage slot',
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
    signatures: ['regexp_extract(string, pattern) -> varchar'],
    use: 'the first datasetDepth segments of a key',
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
    use: 'cutting a time to its 15-minute slot',
    duckdb: { kind: 'macro', difference: 'DuckDB calls it epoch(timestamp).' },
  },
  from_unixtime: {
    signatures: ['from_unixtime(unixtime) -> timestamp(3) with time zone'],
    use: 'a slot start back from seconds',
    duckdb: { kind: 'macro', difference: 'DuckDB calls it to_timestamp(seconds).' },
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
};
