/**
 * The one regular expression that reads an S3 server access log line into 27 string columns, for the
 * Glue table's RegexSerDe (Java `Matcher.matches()`) and for the local Athena server (DuckDB's RE2).
 *
 * Written in the subset that Java, RE2 and JavaScript read the same way: no lookaround, no back
 * references, no possessive quantifiers, no `.`, `\s`, `\S` or `\d` (Java's `.` stops at `\r` and
 * U+0085, JavaScript's `\S` knows Unicode spaces; explicit classes behave alike everywhere).
 *
 * How it copes with real lines (see functions/adapters/logs/LOG-LINES.md):
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
const NUMBER_OR_DASH = '([0-9]+|-)';

/**
 * The request-URI and the fields after it up to the referer (status, error code, four counts), in one
 * atomic group: the URI ends at the first closing quote after which those fields fit and the referer
 * starts (`"` or `-`), as in the local scanner's "strong fit"; once found, Java never comes back to try a
 * later quote. Error codes hold no quote, so a URI holding `" 200 "b" 1 2 3 4 "` cannot pass for one.
 */
const URI_TO_REFERER =
  '(?>("[^\\n]*?"|-) ([0-9]{3}|-) ([^ "]*) ' +
  [NUMBER_OR_DASH, NUMBER_OR_DASH, NUMBER_OR_DASH, NUMBER_OR_DASH].join(' ') +
  ' (?=["-]))';

/**
 * The referer: a bare `-`; or quoted, ending at the first quote followed by ` "` (the user agent's opening
 * quote), which the body's three kinds of step never pass: a non-quote, quotes followed by a character
 * that is neither a space nor a quote, quotes followed by a space and a non-quote; or, when the user
 * agent is a bare `-`, quoted to the line's last quote (the loop of "text, then a quote" runs to it).
 */
const REFERER = '(-|"(?:[^"\\n]|"++[^ "\\n]|"++ [^"\\n])*+"++|"(?:[^"\\n]*+")++)';
/**
 * The user agent: a bare `-`, or quoted to the LAST quote of the line. S3's trailing fields never hold a
 * quote, and the agent is the client's to write: ending it any earlier would let `x" <ten forged fields>`
 * in a user agent choose the host header, access point and every other field after it.
 */
const USER_AGENT = '("(?:[^"\\n]*+")++|-)';
/**
 * A trailing field: never a quote (which is what anchors the user agent). It may be empty (two spaces in a
 * row), as the local scanner reads it (as `-`); the rollup SQL reads an empty access point as `-`.
 */
const TRAILING = '([^ "\\n]*)';

const leading = [
  FIELD, // bucket owner
  FIELD, // bucket
  '\\[([^\\]]*)\\]', // time, with its offset (its shape is checked in SQL: LOG_TIME_SHAPE)
  FIELD, // remote IP
  FIELD, // requester
  FIELD, // request id
  FIELD, // operation
  FIELD, // key
].join(' ');

const TRAILING_FIELD_COUNT = ACCESS_LOG_COLUMNS.length - REQUIRED_FIELD_COUNT;

/** ` (f18)(?: (f19)(?: ... (?: (f27)(?: <unknown fields>)?)?...)?)?`: unknown fields hold no quote either. */
function trailingFields(): string {
  let inner = '(?: [^"\\n]*)?';
  for (let i = 0; i < TRAILING_FIELD_COUNT; i++) inner = `(?: ${TRAILING}${inner})?`;
  return inner;
}

/**
 * The regex for the Glue table's RegexSerDe `input.regex` (java.util.regex, `Matcher.matches()`). Anchored
 * at both ends so that a search behaves like Java's whole-input match; trailing spaces are tolerated.
 *
 * Why Java cannot backtrack super-linearly on it (issue 17, item 9; test/reliability/log-regex-redos.test.ts
 * runs a 20 KB hostile line through `java`): every step is deterministic or bounded.
 * - Fields before the URI are negated classes followed by the character the class excludes: a character
 *   given back can never be followed by what must follow, so each fails in one step.
 * - The URI's lazy search tries each quote once; what it checks after one (status .. turn-around) holds
 *   no quote, so no character is checked for two quotes; the atomic group (`(?>...)`) then commits: a
 *   failure later on never comes back to try another quote. Without it, each quote that looks like the
 *   URI's end would re-run everything after it: quadratic on a line full of `" 200 - 1 1 1 1 "`.
 * - The referer and user agent are possessive loops (`*+`, `++`) over steps that cannot overlap, and the
 *   three referer alternatives are each tried once.
 * - Trailing fields exclude the space that separates them and the quote, so they too fail in one step.
 * RE2 (DuckDB, the local Athena server) and JavaScript read neither possessive quantifiers nor atomic
 * groups: see ACCESS_LOG_REGEX_PORTABLE, the one place that differs.
 */
export const ACCESS_LOG_REGEX = `^${leading} ${URI_TO_REFERER}${REFERER} ${USER_AGENT}${trailingFields()} *$`;

/**
 * ACCESS_LOG_REGEX for engines that do not backtrack (RE2: DuckDB in the local Athena server) or do not
 * read possessive quantifiers and atomic groups (JavaScript, in tests): each `*+`/`++` becomes `*`/`+`,
 * `(?>` becomes `(?:` and the lookahead `(?=["-])` goes.
 *
 * The same lines match with the same groups, except in one case: the possessive loops only ever stop
 * where giving a character back could not lead to a match (the step after them needs the character they
 * stopped at), and the lookahead only repeats what the referer's first character must be anyway; but
 * without the atomic group, when what follows the URI's first fitting end does not parse (a referer or
 * user agent cut short), a backtracking engine goes on to try a later quote, and RE2 finds any match.
 * Java (Athena) and the local scanner both reject such a line; the portable regex may read it, with a
 * URI that runs up to that later quote. Only a line that is malformed after a URI holding a fake status
 * block can tell the difference (test/unit/access-log-regex.test.ts shows one).
 */
export const ACCESS_LOG_REGEX_PORTABLE = ACCESS_LOG_REGEX.replaceAll('(?>', '(?:')
  .replaceAll('(?=["-])', '')
  .replace(/([*+?}])\+/g, '$1');
