/**
 * The one regular expression that reads an S3 server access log line into 27 string columns, for the
 * Glue table's RegexSerDe (Java `Matcher.matches()`) and for the local Athena server (DuckDB's RE2).
 *
 * Written in the subset that Java, RE2 and JavaScript read the same way: no lookaround, no back
 * references, no possessive quantifiers, no `.`, `\s`, `\S` or `\d` (Java's `.` stops at `\r` and
 * U+0085, JavaScript's `\S` knows Unicode spaces; explicit classes behave alike everywhere).
 *
 * How it copes with real lines (see REFERENCE.md, "S3 server access logs"):
 * - Generations: fields 1-17 are required; every field from the 18th (version id) on is optional on
 *   its own, nested so that a line with N fields fills exactly the first N columns (AWS's published
 *   table makes the trailing fields one group, so a 24-field line loses all of them).
 * - Fields after the 27th (AWS may add more) are matched and ignored.
 * - Quoted fields (request-URI, referer, user agent) are captured as written, quotes included as in
 *   AWS's published table (`"GET /a HTTP/1.1"`, `"-"`), or as a bare `-`: with one capture group per
 *   column there is no way to strip the quotes and still require the closing one, and requiring it
 *   is what rejects a line cut short inside a quoted field, as the local tokenizer does.
 * - Quotes inside quoted fields are not escaped in the logs, so a quoted field does not end at the
 *   next quote but at the first closing quote after which the rest of the line fits: the URI is
 *   anchored by the status, error code and byte counts that follow it; the user agent by the
 *   trailing fields, which never contain a quote. A referer that itself contains `" "` is split
 *   wrongly: an accepted ambiguity (the rollup reads neither field).
 * - The time keeps its offset (`06/Feb/2019:00:00:38 -0500`); the SQL normalises it to UTC.
 * - Status must be three digits or `-`; bytes sent, object size, total and turn-around time digits
 *   or `-`, as in the local tokenizer (functions/adapters/logs), so that both engines reject the same
 *   lines. A line that does not match yields a row of NULLs in Athena, which the rollup SQL skips.
 */

/** The table's columns, in capture-group order. */
export const ACCESS_LOG_COLUMNS = [
  'bucketowner',
  'bucket_name',
  'requestdatetime',
  'remoteip',
  'requester',
  'requestid',
  'operation',
  'key',
  'request_uri',
  'httpstatus',
  'errorcode',
  'bytessent',
  'objectsize',
  'totaltime',
  'turnaroundtime',
  'referrer',
  'useragent',
  'versionid',
  'hostid',
  'sigv',
  'ciphersuite',
  'authtype',
  'endpoint',
  'tlsversion',
  'accesspointarn',
  'aclrequired',
  'sourceregion',
] as const;

export type AccessLogColumn = (typeof ACCESS_LOG_COLUMNS)[number];

/** How many fields every line has: the 17 of the oldest generation. */
export const REQUIRED_FIELD_COUNT = 17;

/** A space-free field. */
const FIELD = '([^ ]*)';
/**
 * A quoted field, captured as written: with its quotes (`"-"`, `"GET /a HTTP/1.1"`) or a bare `-`.
 * Lazy, so it ends at the first closing quote after which the rest of the line still fits.
 */
const QUOTED = '("[^\\n]*?"|-)';
const NUMBER_OR_DASH = '([0-9]+|-)';
/** Trailing fields are never empty and never contain a quote: that is what anchors the user agent. */
const TRAILING = '([^ "]+)';

const leading = [
  FIELD, // bucket owner
  FIELD, // bucket
  '\\[([^\\]]*)\\]', // time, with its offset
  FIELD, // remote IP
  FIELD, // requester
  FIELD, // request id
  FIELD, // operation
  FIELD, // key
  QUOTED, // request-URI
  '([0-9]{3}|-)', // HTTP status
  FIELD, // error code
  NUMBER_OR_DASH, // bytes sent
  NUMBER_OR_DASH, // object size
  NUMBER_OR_DASH, // total time
  NUMBER_OR_DASH, // turn-around time
  QUOTED, // referer
  QUOTED, // user agent
].join(' ');

const TRAILING_FIELD_COUNT = ACCESS_LOG_COLUMNS.length - REQUIRED_FIELD_COUNT;

/** ` (f18)(?: (f19)(?: ... (?: (f27)(?: <unknown fields>)?)?...)?)?` */
function trailingFields(): string {
  let inner = '(?: [^\\n]*)?';
  for (let i = 0; i < TRAILING_FIELD_COUNT; i++) inner = `(?: ${TRAILING}${inner})?`;
  return inner;
}

/**
 * The regex for the RegexSerDe `input.regex` property and for the local Athena server. Anchored at
 * both ends so that a search (RE2 `regexp_extract`) behaves like Java's whole-input match; trailing
 * spaces are tolerated.
 */
export const ACCESS_LOG_REGEX = `^${leading}${trailingFields()} *$`;
