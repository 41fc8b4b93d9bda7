/**
 * The access-log scanner, in AssemblyScript, compiled to WebAssembly with SIMD (`npm run build:wasm`
 * writes scanner.wasm next to this file; test/unit/scanner-wasm.test.ts checks that the committed binary
 * is what this source compiles to). It is the only scanner: `parseAccessLogLine` and the ingestion hot
 * loop both run it (see ../access-log-parser.ts for the format and the rules for unescaped quotes, and
 * ../wasm-scanner.ts for the JavaScript side).
 *
 * Two modes share one `scan`:
 * - one line: `scanOne` scans the line at INPUT and leaves every field's position and the numbers in the
 *   result area, for `parseAccessLogLine`;
 * - a block of lines: `scanBlock` splits the bytes at INPUT on newlines, scans each line, finds a good
 *   line's rollup key (bucket, requester, operation, access point, dataset) in a hash table of byte
 *   strings kept here, and adds the line to its rollup row (slot, status class, key), also kept here: a
 *   good line never reaches JavaScript. It stops for JavaScript when a table or the rows fill, when a
 *   new object needs its records from the manifest, and when a sum would pass 2^53; malformed lines
 *   leave as output records.
 *
 * Memory is laid out once by `init` and never grows afterwards (except for a single line longer than the
 * input area, in `reserveInput`), so the views JavaScript holds stay valid.
 */

// ---- bytes of the format ------------------------------------------------------------------------------
const SPACE: i32 = 32;
const QUOTE: i32 = 34;
const DASH: i32 = 45;
const SLASH: i32 = 47;
const PERCENT: i32 = 37;
const LBRACKET: i32 = 91;
const RBRACKET: i32 = 93;
const ZERO: i32 = 48;
const NEWLINE: i32 = 10;

const MIN_FIELDS: i32 = 17;
const KNOWN_FIELDS: i32 = 27;
const TIME_CLOSE_OFFSET: i32 = 27;

// Field positions (as FIELD in access-log-parser.ts).
const F_BUCKET: i32 = 1;
const F_TIME: i32 = 2;
const F_REMOTE_IP: i32 = 3;
const F_REQUESTER: i32 = 4;
const F_OPERATION: i32 = 6;
const F_KEY: i32 = 7;
const F_REQUEST_URI: i32 = 8;
const F_HTTP_STATUS: i32 = 9;
const F_ERROR_CODE: i32 = 10;
const F_BYTES_SENT: i32 = 11;
const F_OBJECT_SIZE: i32 = 12;
const F_TOTAL_TIME: i32 = 13;
const F_TURN_AROUND: i32 = 14;
const F_REFERER: i32 = 15;
const F_USER_AGENT: i32 = 16;
const F_ACCESS_POINT: i32 = 24;

const FIT_ERROR: i32 = 0;
const FIT_WEAK: i32 = 1;
const FIT_STRONG: i32 = 2;

const DASH_VALUE: i64 = -1;
const BAD: i64 = -2;
/** The largest count read (2^53 - 1): every whole number up to it is exact in an f64. */
const MAX_SAFE: i64 = 9007199254740991;
/** MAX_SAFE as an f64: sums stay exact up to it. */
const MAX_EXACT: f64 = <f64>MAX_SAFE;

// ---- why a line failed (the JavaScript side turns these into reasons and messages) --------------------
/** The line is blank. */
const K_EMPTY: i32 = 1;
/** Too few fields: `failArg` fields were found. */
const K_TOO_FEW: i32 = 2;
/** No `[` where the time starts: `failA` is where it was expected. */
const K_NO_BRACKET: i32 = 3;
/** The time has no closing `]`. */
const K_NO_CLOSE: i32 = 4;
/** The time [failA, failE) cannot be read. */
const K_BAD_TIME: i32 = 5;
/** No space after the time's `]`. */
const K_NO_SPACE_AFTER_TIME: i32 = 6;
const K_URI_QUOTE: i32 = 7;
const K_REFERER_QUOTE: i32 = 8;
const K_AGENT_QUOTE: i32 = 9;
/** The status [failA, failE) is neither three digits nor `-`. */
const K_BAD_STATUS: i32 = 10;
/** Count field `failArg` (11..14) [failA, failE) is not a count. */
const K_BAD_COUNT: i32 = 11;
/** scanBlock only: the line is longer than the cap; `failArg` is its length. */
const K_TOO_LONG: i32 = 12;
/** Quoted field `failArg` (request-URI, referer or user agent) is neither quoted nor a bare `-`. */
const K_NOT_QUOTED: i32 = 13;
/** A field after a bare `-` user agent holds a quote (S3 writes none there). */
const K_TRAILING_QUOTE: i32 = 14;

// ---- memory --------------------------------------------------------------------------------------------
/** Bytes read past the end of any area by 16-byte loads; every area is followed by this much slack. */
const SLACK: i32 = 64;

/**
 * Start and end of each known field (27 i32 each), in static memory so that setting one is a store to a
 * fixed address.
 */
const ST = memory.data(KNOWN_FIELDS * 4, 8);
const EN = memory.data(KNOWN_FIELDS * 4, 8);
/**
 * Results of scanOne: f64 timeMs, bytesSent, objectSize, totalTime, turnAround; then i32 fieldCount,
 * failKind, failArg, failA, failE. fitMiddle writes the four counts here for scanBlock too.
 */
const RESULT = memory.data(128, 8);
let INPUT: usize = 0;
let inputCap: i32 = 0;
/**
 * The line being scanned, as classifyLine found it in one SIMD pass: where its spaces are, in order
 * (SPACES, i32, `spaceCount` of them and then a sentinel past any line), so that a field's end is the next
 * entry; and its quotes as a bitmap, one bit a byte from `lineBase` (QUOTE_BITS).
 */
let SPACES: usize = 0;
let spaceCount: i32 = 0;
let QUOTE_BITS: usize = 0;
/** The rollup key of the line being added, staged for findEntry: as long as a line can be, and SLACK. */
let KEY: usize = 0;
let lineBase: i32 = 0;
let lineWords: i32 = 0;
/** scanBlock output: 8 i32 for each malformed line. */
let OUT: usize = 0;
let outCap: i32 = 0;
/**
 * The rollup rows being summed: by row, its key (slot, status class, key entry, and a fourth i32 that only
 * holdings rows use: their whole-object reads, see heldRowOf) in ROW_KEYS and
 * its sums (requests, bytes sent, records, and a fourth used by network rows) as f64 in ROW_SUMS, found
 * through ROW_SLOTS (row + 1, 0 empty). A network row (status NET_STATUS, see noteNetwork) holds requests,
 * bytes sent, first and last time (ms) of the lines of one network key in one 15-minute UTC slot.
 */
let ROW_KEYS: usize = 0;
let ROW_SUMS: usize = 0;
let ROW_SLOTS: usize = 0;
/** Bytes of one row's sums: four f64. */
const ROW_SUM_BYTES: i32 = 32;
let rowCap: i32 = 0;
let rowCount: i32 = 0;
let rowMask: i32 = 0;
/** Records per the manifest of each entry of OBJECTS, set by JavaScript (`objectsKnown` of them). */
let OBJECT_RECORDS: usize = 0;
let objectsKnown: i32 = 0;
/** A row whose sum would pass 2^53 with the next line (stop reason 6). */
let overflowRow: i32 = -1;
/** Lines scanBlock went through in its last call. */
let linesSeen: i32 = 0;
/**
 * Two tables of byte strings: KEYS, the rollup keys (five fields and a dataset kind), and OBJECTS, the
 * object keys of whole-object reads (for records from the manifest). Each is a descriptor of eight i32:
 * entries, count, capacity, slots, slot mask, arena, arena used, arena capacity. An entry is 8 i32:
 * arena offset, five field lengths, dataset kind, hash.
 */
let KEYS: usize = 0;
let OBJECTS: usize = 0;
const T_ENTRIES: usize = 0;
const T_COUNT: usize = 4;
const T_CAP: usize = 8;
const T_SLOTS: usize = 12;
const T_MASK: usize = 16;
const T_ARENA: usize = 20;
const T_USED: usize = 24;
const T_ARENA_CAP: usize = 28;
/** Whether lines that read a whole object look their object key up in OBJECTS. */
let withRecords: bool = false;

let datasetDepth: i32 = 1;
/** Length of a rollup slot in milliseconds. */
let slotMs: f64 = 900000;

/** Bytes of a bitmap of a line of up to `bytes` bytes. */
function bitmapBytes(bytes: i32): i32 {
  return ((bytes >> 6) + 2) << 3;
}

/** Bytes an input area of `bytes` takes with what goes with it: SPACES, QUOTE_BITS and KEY (see layInput). */
function inputAreaBytes(bytes: i32): i64 {
  return 2 * (<i64>bytes + SLACK) + 4 * (<i64>bytes + 65) + <i64>bitmapBytes(bytes) + 16;
}

/** Lays out an input area of `bytes` at `at` (8-aligned), then SPACES, QUOTE_BITS, KEY; returns the end. */
function layInput(at: usize, bytes: i32): usize {
  INPUT = at;
  inputCap = bytes;
  SPACES = (INPUT + <usize>bytes + SLACK + 7) & ~7;
  QUOTE_BITS = SPACES + ((<usize>bytes + 65) << 2);
  KEY = QUOTE_BITS + <usize>bitmapBytes(bytes);
  return (KEY + <usize>bytes + SLACK + 7) & ~7;
}

/** Bytes a table of `entries` entries and `arenaBytes` of text takes. */
function tableBytes(entries: i32, arenaBytes: i32): i32 {
  return 32 + entries * 32 + slotCount(entries) * 4 + arenaBytes + SLACK + 16;
}

function slotCount(entries: i32): i32 {
  let slots = 16;
  while (slots < entries * 2) slots <<= 1;
  return slots;
}

/** Lays a table out at `at` (8-aligned); returns where the next area may start. */
function layTable(at: usize, entries: i32, arenaBytes: i32): usize {
  const slots = slotCount(entries);
  store<i32>(at + T_ENTRIES, <i32>(at + 32));
  store<i32>(at + T_COUNT, 0);
  store<i32>(at + T_CAP, entries);
  store<i32>(at + T_SLOTS, <i32>(at + 32 + <usize>entries * 32));
  store<i32>(at + T_MASK, slots - 1);
  store<i32>(at + T_ARENA, <i32>(at + 32 + <usize>entries * 32 + <usize>slots * 4));
  store<i32>(at + T_USED, 0);
  store<i32>(at + T_ARENA_CAP, arenaBytes);
  return (at + 32 + <usize>entries * 32 + <usize>slots * 4 + <usize>arenaBytes + SLACK + 7) & ~7;
}

/**
 * Sets the memory up; call once. `records` says whether whole-object reads look their object key up.
 * Returns 0, or -1 when memory cannot grow.
 */
export function init(
  depth: i32,
  slotMillis: f64,
  records: bool,
  inputBytes: i32,
  outLines: i32,
  entries: i32,
  arenaBytes: i32,
  rows: i32,
): i32 {
  datasetDepth = depth;
  slotMs = slotMillis;
  withRecords = records;
  outCap = outLines;
  rowCap = rows;
  const rowSlots = slotCount(rows);
  rowMask = rowSlots - 1;
  // In i64: the input area with its list of spaces takes about six bytes a byte of input.
  const total =
    inputAreaBytes(inputBytes) +
    <i64>(outLines * 32 + rows * 48 + rowSlots * 4 + entries * 24 + 2 * tableBytes(entries, arenaBytes) + 64) +
    <i64>(NET_CACHE_SLOTS * NET_CACHE_BYTES + 16) +
    principalBytes(entries);
  let base = <usize>(memory.size() << 16);
  const pages = <i32>((total + 0xffff) >>> 16);
  if (memory.grow(pages) < 0) return -1;
  base = (base + 7) & ~7;
  OUT = layInput(base, inputBytes);
  ROW_KEYS = OUT + outLines * 32;
  ROW_SUMS = ROW_KEYS + rows * 16;
  ROW_SLOTS = ROW_SUMS + rows * ROW_SUM_BYTES;
  OBJECT_RECORDS = (ROW_SLOTS + rowSlots * 4 + 7) & ~7;
  HELD_CACHE = OBJECT_RECORDS + entries * 8;
  KEYS = HELD_CACHE + entries * 16;
  OBJECTS = layTable(KEYS, entries, arenaBytes);
  NET_CACHE = (layTable(OBJECTS, entries, arenaBytes) + 15) & ~15;
  layPrincipals(NET_CACHE + <usize>(NET_CACHE_SLOTS * NET_CACHE_BYTES), entries);
  return 0;
}

export function inputPtr(): usize {
  return INPUT;
}
export function inputCapacity(): i32 {
  return inputCap;
}
export function resultPtr(): usize {
  return RESULT;
}
export function startsPtr(): usize {
  return ST;
}
export function endsPtr(): usize {
  return EN;
}
export function outPtr(): usize {
  return OUT;
}
export function rowKeysPtr(): usize {
  return ROW_KEYS;
}
export function rowSumsPtr(): usize {
  return ROW_SUMS;
}
export function rowCount_(): i32 {
  return rowCount;
}
export function objectRecordsPtr(): usize {
  return OBJECT_RECORDS;
}
export function overflowRow_(): i32 {
  return overflowRow;
}
export function linesSeen_(): i32 {
  return linesSeen;
}

/** JavaScript has set the records of objects [objectsKnown, count) in OBJECT_RECORDS. */
export function objectsLearnt(count: i32): void {
  objectsKnown = count;
}

/** Empties the rollup rows (JavaScript has read them all). */
export function resetRows(): void {
  rowCount = 0;
  // The network cache's rows are of the last emptying.
  rowGeneration++;
  memory.fill(ROW_SLOTS, 0, (<usize>rowMask + 1) << 2);
}

/** Zeroes the sums of row `row` (JavaScript has sent them on as a partial row). */
export function zeroRow(row: i32): void {
  memory.fill(ROW_SUMS + <usize>row * ROW_SUM_BYTES, 0, ROW_SUM_BYTES);
  store<i32>(ROW_KEYS + (<usize>row << 4), 0, 12);
}

/** The row of (slot, status, entry), added with zero sums when new; -1 when new and the rows are full. */
function findRow(slot: i32, status: i32, entry: i32): i32 {
  let h = <u32>slot * 0x9e3779b1;
  h = (h ^ <u32>status) * 0x85ebca6b;
  h = (h ^ <u32>entry) * 0xc2b2ae35;
  h ^= h >> 15;
  let s = <i32>h & rowMask;
  for (;;) {
    const row = load<i32>(ROW_SLOTS + (<usize>s << 2)) - 1;
    if (row < 0) break;
    const k = ROW_KEYS + (<usize>row << 4);
    if (load<i32>(k + 8) == entry && load<i32>(k) == slot && load<i32>(k + 4) == status) return row;
    s = (s + 1) & rowMask;
  }
  if (rowCount == rowCap) return -1;
  const row = rowCount++;
  const k = ROW_KEYS + (<usize>row << 4);
  store<i32>(k, slot);
  store<i32>(k + 4, status);
  store<i32>(k + 8, entry);
  store<i32>(k + 12, 0);
  memory.fill(ROW_SUMS + <usize>row * ROW_SUM_BYTES, 0, ROW_SUM_BYTES);
  store<i32>(ROW_SLOTS + (<usize>s << 2), row + 1);
  return row;
}
/** The descriptor of table 0 (rollup keys) or 1 (object keys); see KEYS. */
export function tablePtr(which: i32): usize {
  return which == 0 ? KEYS : OBJECTS;
}

/**
 * Makes room for a single line of `bytes` at INPUT (scanOne only): a line longer than the input area
 * moves INPUT to fresh memory past everything else. Returns INPUT (which may have moved).
 */
export function reserveInput(bytes: i32): usize {
  if (bytes <= inputCap) return INPUT;
  // Past the principals, which are laid out after the tables and the network cache.
  const end = afterLineRecords(principalsEnd);
  const needed = <i64>end + 8 + inputAreaBytes(bytes);
  const have = <i64>memory.size() << 16;
  if (needed > have) {
    const pages = <i32>((needed - have + 0xffff) >>> 16);
    if (memory.grow(pages) < 0) unreachable();
  }
  layInput((end + 7) & ~7, bytes);
  return INPUT;
}

// ---- searching -----------------------------------------------------------------------------------------

/** First `c` in [from, end), or `end`: sixteen bytes a step. */
@inline
function findByte(c: i32, from: i32, end: i32): i32 {
  const pattern = i8x16.splat(<i8>c);
  let i = from;
  while (i < end) {
    const m = i8x16.bitmask(i8x16.eq(v128.load(<usize>i), pattern));
    if (m != 0) {
      const r = i + ctz(m);
      return r < end ? r : end;
    }
    i += 16;
  }
  return end;
}

/**
 * Lists the spaces and makes the quote bitmap of the line that starts at `from`, sixty-four bytes at a
 * time, until the word that holds its newline: returns where the line ends (its newline, or `limit` when
 * none comes first). The word that holds the end is done whole: spaces and quotes past the end are
 * listed and set, but every search stops at the end. One pass finds the line and its separators.
 */
function classifyLine(from: i32, limit: i32): i32 {
  lineBase = from;
  let listed = SPACES;
  const spaces = i8x16.splat(<i8>SPACE);
  const quotes = i8x16.splat(<i8>QUOTE);
  const newlines = i8x16.splat(<i8>NEWLINE);
  let w = 0;
  for (;;) {
    const a = <usize>(from + (w << 6));
    const v0 = v128.load(a);
    const v1 = v128.load(a, 16);
    const v2 = v128.load(a, 32);
    const v3 = v128.load(a, 48);
    const n0 = i8x16.eq(v0, newlines);
    const n1 = i8x16.eq(v1, newlines);
    const n2 = i8x16.eq(v2, newlines);
    const n3 = i8x16.eq(v3, newlines);
    // The space mask joined as two u32 halves: fewer widenings to u64 than one for each 16 bits.
    const low = <u32>i8x16.bitmask(i8x16.eq(v0, spaces)) | (<u32>i8x16.bitmask(i8x16.eq(v1, spaces)) << 16);
    const high = <u32>i8x16.bitmask(i8x16.eq(v2, spaces)) | (<u32>i8x16.bitmask(i8x16.eq(v3, spaces)) << 16);
    const s = <u64>low | (<u64>high << 32);
    // The quote bitmap's word, sixteen bits at a time (little-endian, so in order).
    const q = QUOTE_BITS + (<usize>w << 3);
    store<u16>(q, i8x16.bitmask(i8x16.eq(v0, quotes)));
    store<u16>(q, i8x16.bitmask(i8x16.eq(v1, quotes)), 2);
    store<u16>(q, i8x16.bitmask(i8x16.eq(v2, quotes)), 4);
    store<u16>(q, i8x16.bitmask(i8x16.eq(v3, quotes)), 6);
    const wordStart = from + (w << 6);
    // The line ends at the first newline, or at the limit, whichever comes first.
    let end = limit;
    // Most words hold no newline: one test of all four compares says so.
    if (v128.any_true(v128.or(v128.or(n0, n1), v128.or(n2, n3)))) {
      const nl =
        <u64>i8x16.bitmask(n0) |
        (<u64>i8x16.bitmask(n1) << 16) |
        (<u64>i8x16.bitmask(n2) << 32) |
        (<u64>i8x16.bitmask(n3) << 48);
      const at = wordStart + <i32>ctz(nl);
      if (at < end) end = at;
    }
    for (let bits = s; bits != 0; bits &= bits - 1) {
      store<i32>(listed, wordStart + <i32>ctz(bits));
      listed += 4;
    }
    if (end - wordStart < 64) {
      store<i32>(listed, i32.MAX_VALUE);
      spaceCount = <i32>((listed - SPACES) >> 2);
      lineWords = w + 1;
      return end;
    }
    w++;
  }
  // The loop ends by returning, at the limit at the latest (the compiler wants a value here).
  return limit;
}

/**
 * The first quote in [from, end) (`end` at most the classified line's end); `end` when there is none.
 */
@inline
function nextQuote(from: i32, end: i32): i32 {
  if (from >= end) return end;
  const rel = from - lineBase;
  let w = rel >> 6;
  let word = load<u64>(QUOTE_BITS + (<usize>w << 3)) & (<u64>-1 << <u64>(rel & 63));
  while (word == 0) {
    w++;
    if (w >= lineWords) return end;
    word = load<u64>(QUOTE_BITS + (<usize>w << 3));
  }
  const r = lineBase + (w << 6) + <i32>ctz(word);
  return r < end ? r : end;
}

/**
 * The spaces are walked by index: a field that ends at a space ends at SPACES[i], and the next one at
 * SPACES[i + 1]. `spaceAt(i, end)` is that space, or `end` when it is at or past `end` (or is the sentinel).
 */
@inline
function spaceAt(i: i32, end: i32): i32 {
  const sp = load<i32>(SPACES + (<usize>i << 2));
  return sp < end ? sp : end;
}

/** The index of the first space at or after `p`, from `i` on (no space before `p` may come after `i`). */
@inline
function spaceFrom(i: i32, p: i32): i32 {
  // The sentinel stops the search.
  while (load<i32>(SPACES + (<usize>i << 2)) < p) i++;
  return i;
}

@inline
function byteAt(i: i32): i32 {
  return <i32>load<u8>(<usize>i);
}

/** The first `"` at or after `from` followed by a space or the end, or -1. */
function quoteCandidate(from: i32, end: i32): i32 {
  let q = nextQuote(from, end);
  while (q < end) {
    if (q + 1 == end || byteAt(q + 1) == SPACE) return q;
    q = nextQuote(q + 1, end);
  }
  return -1;
}

/** `-" "` as a little-endian u32. */
const DASH_QUOTE_SPACE_QUOTE: u32 = 0x2220222d;

/**
 * The closing quote of the referer: the first `"` followed by the user agent's opening ` "`, or by a
 * bare ` -` agent when it is the line's last quote. The referer is the client's to write: a `" -` inside
 * it followed by forged trailing fields must not pass for a bare agent, and a bare agent is followed
 * only by trailing fields, which never hold a quote.
 */
function findRefererClose(from: i32, end: i32): i32 {
  const first = quoteCandidate(from, end);
  for (let q = first; q != -1; q = quoteCandidate(q + 1, end)) {
    // The line ends after the referer: let the count of fields say so.
    if (q + 2 >= end) {
      if (nextQuote(q + 1, end) == end) return q;
      continue;
    }
    const c = byteAt(q + 2);
    if (c == QUOTE) return q;
    if (c == DASH && (q + 3 >= end || byteAt(q + 3) == SPACE) && nextQuote(q + 1, end) == end) return q;
  }
  return -1;
}

/** The last `"` in [from, end) (`end` at most the classified line's end), or -1. */
function lastQuote(from: i32, end: i32): i32 {
  if (end <= from) return -1;
  const rel = end - 1 - lineBase;
  const low = (from - lineBase) >> 6;
  let w = rel >> 6;
  // Bits past `end` may be set (classifyLine does the last word whole): keep those up to end - 1.
  let word = load<u64>(QUOTE_BITS + (<usize>w << 3)) & (<u64>-1 >> <u64>(63 - (rel & 63)));
  while (word == 0) {
    if (w <= low) return -1;
    w--;
    word = load<u64>(QUOTE_BITS + (<usize>w << 3));
  }
  const q = lineBase + (w << 6) + 63 - <i32>clz(word);
  return q >= from ? q : -1;
}

// ---- the scan ------------------------------------------------------------------------------------------

let timeMs: f64 = 0;
let fieldCount: i32 = 0;
let failKind: i32 = 0;
let failArg: i32 = 0;
let failA: i32 = 0;
let failE: i32 = 0;
/**
 * Where fitMiddle left off, for scan to go on from: a position and the index of the next space (which
 * findAgentClose also leaves).
 */
let cursor: i32 = 0;
let cursorSpace: i32 = 0;
let lastDate0: i32 = 0;
let lastDate1: i32 = 0;
let lastDate2: i32 = 0;
let lastDays: f64 = NaN;
/** The last time cachedTime read (bytes 0..16 and 10..26) and what it read: zero bytes are no time. */
let lastTimeHead: v128 = i64x2(0, 0);
let lastTimeTail: v128 = i64x2(0, 0);
let lastTime: f64 = NaN;

@inline
function setStart(f: i32, v: i32): void {
  store<i32>(ST + (<usize>f << 2), v);
}
@inline
function setEnd(f: i32, v: i32): void {
  store<i32>(EN + (<usize>f << 2), v);
}
@inline
function getStart(f: i32): i32 {
  return load<i32>(ST + (<usize>f << 2));
}
@inline
function getEnd(f: i32): i32 {
  return load<i32>(EN + (<usize>f << 2));
}

function fail(kind: i32, arg: i32, a: i32, e: i32): bool {
  failKind = kind;
  failArg = arg;
  failA = a;
  failE = e;
  return false;
}

function tooFew(count: i32): bool {
  return fail(K_TOO_FEW, count, 0, 0);
}

/**
 * Scans the line in [from, to) (no line break; trailing CR, LF, tab or spaces ignored), which
 * classifyLine has been through.
 */
function scan(from: i32, to: i32): bool {
  let end = to;
  while (end > from) {
    const c = byteAt(end - 1);
    if (c == SPACE || c == 13 || c == 10 || c == 9) end--;
    else break;
  }
  let p = from;
  if (end - from >= 3 && byteAt(from) == 0xef && byteAt(from + 1) == 0xbb && byteAt(from + 2) == 0xbf) p += 3;
  if (p >= end) return fail(K_EMPTY, 0, 0, 0);

  // `i` is the index of the first space at or after `p` (see spaceAt).
  let i = 0;
  for (let f = 0; f < 2; f++) {
    const sp = spaceAt(i++, end);
    if (sp == end) return tooFew(f + 1);
    setStart(f, p);
    setEnd(f, sp);
    p = sp + 1;
  }

  if (byteAt(p) != LBRACKET) return fail(K_NO_BRACKET, 0, p, 0);
  let close = p + TIME_CLOSE_OFFSET;
  let t: f64 = close < end && byteAt(close) == RBRACKET ? cachedTime(p + 1) : NaN;
  if (isNaN(t)) {
    close = findByte(RBRACKET, p, end);
    if (close >= end) return fail(K_NO_CLOSE, 0, 0, 0);
    t = parseLogTime(p + 1, close);
    if (isNaN(t)) return fail(K_BAD_TIME, 0, p + 1, close);
  }
  setStart(F_TIME, p + 1);
  setEnd(F_TIME, close);
  timeMs = t;
  p = close + 1;
  if (p >= end) return tooFew(3);
  if (byteAt(p) != SPACE) return fail(K_NO_SPACE_AFTER_TIME, 0, 0, 0);
  p++;
  i = spaceFrom(i, p);

  for (let f = F_REMOTE_IP; f <= F_KEY; f++) {
    const sp = spaceAt(i++, end);
    if (sp == end) return tooFew(f + 1);
    setStart(f, p);
    setEnd(f, sp);
    p = sp + 1;
  }

  if (byteAt(p) == QUOTE) {
    const first = quoteCandidate(p + 1, end);
    if (first == -1) return fail(K_URI_QUOTE, 0, 0, 0);
    setStart(F_REQUEST_URI, p + 1);
    setEnd(F_REQUEST_URI, first);
    if (fitMiddle(first + 2, end, i) != FIT_STRONG) {
      // The URI may hold `" `: look for a later quote that the following fields do anchor.
      // Candidates come in order, so the index of the first space after each only moves on (from `i`
      // each time, a line full of `" x` took quadratic time).
      let q = quoteCandidate(first + 1, end);
      let j = i;
      while (q != -1) {
        j = spaceFrom(j, q + 2);
        if (fitMiddle(q + 2, end, j) == FIT_STRONG) break;
        q = quoteCandidate(q + 1, end);
      }
      if (q != -1) setEnd(F_REQUEST_URI, q);
      else if (fitMiddle(first + 2, end, i) == FIT_ERROR) return false;
      // Fields fit but no referer follows, or the error code holds a quote (S3 writes neither): no
      // end of the URI is good, as in the Athena regex (LOG-LINES.md).
      else return fail(K_URI_QUOTE, 0, 0, 0);
    }
  } else {
    const sp = spaceAt(i, end);
    if (sp - p != 1 || byteAt(p) != DASH) return fail(K_NOT_QUOTED, F_REQUEST_URI, p, sp);
    setStart(F_REQUEST_URI, p);
    setEnd(F_REQUEST_URI, sp);
    if (fitMiddle(sp + 1, end, i + 1) == FIT_ERROR) return false;
  }
  p = cursor;
  i = cursorSpace;

  if (byteAt(p) == QUOTE) {
    // The usual referer, `"-"` with the agent's quote after it, needs no search: findRefererClose would
    // find the same closing quote.
    const usual = p + 4 < end && load<u32>(<usize>(p + 1)) == DASH_QUOTE_SPACE_QUOTE;
    const q = usual ? p + 2 : findRefererClose(p + 1, end);
    if (q == -1) return fail(K_REFERER_QUOTE, 0, 0, 0);
    setStart(F_REFERER, p + 1);
    setEnd(F_REFERER, q);
    p = q + 2;
    i = spaceFrom(i, p);
  } else {
    const sp = spaceAt(i++, end);
    if (sp - p != 1 || byteAt(p) != DASH) return fail(K_NOT_QUOTED, F_REFERER, p, sp);
    setStart(F_REFERER, p);
    setEnd(F_REFERER, sp);
    p = sp + 1;
  }
  if (p >= end) return tooFew(16);

  if (byteAt(p) == QUOTE) {
    const q = findAgentClose(p + 1, end, i);
    if (q == -1) return fail(K_AGENT_QUOTE, 0, 0, 0);
    setStart(F_USER_AGENT, p + 1);
    setEnd(F_USER_AGENT, q);
    p = q + 2;
    i = cursorSpace;
  } else {
    const sp = spaceAt(i++, end);
    if (sp - p != 1 || byteAt(p) != DASH) return fail(K_NOT_QUOTED, F_USER_AGENT, p, sp);
    // As after a quoted agent, no trailing field holds a quote (the Athena regex reads none).
    if (nextQuote(sp, end) != end) return fail(K_TRAILING_QUOTE, 0, 0, 0);
    setStart(F_USER_AGENT, p);
    setEnd(F_USER_AGENT, sp);
    p = sp + 1;
  }

  let count = MIN_FIELDS;
  while (p < end) {
    const sp = spaceAt(i++, end);
    if (count < KNOWN_FIELDS) {
      setStart(count, p);
      setEnd(count, sp);
    }
    count++;
    p = sp + 1;
  }
  for (let f = count; f < KNOWN_FIELDS; f++) {
    setStart(f, 0);
    setEnd(f, 0);
  }
  fieldCount = count;
  return true;
}

/**
 * Reads status .. turn-around time from `p` (`i` no further than the index of the first space at or
 * after it) and says how well they fit; unless FIT_ERROR, `cursor` is where the referer starts and
 * `cursorSpace` the index of the first space at or after it.
 */
function fitMiddle(p: i32, end: i32, i: i32): i32 {
  if (p >= end) {
    tooFew(9);
    return FIT_ERROR;
  }
  i = spaceFrom(i, p);
  let sp = spaceAt(i++, end);
  if (sp == end) {
    tooFew(10);
    return FIT_ERROR;
  }
  if (!isStatus(p, sp)) {
    fail(K_BAD_STATUS, 0, p, sp);
    return FIT_ERROR;
  }
  setStart(F_HTTP_STATUS, p);
  setEnd(F_HTTP_STATUS, sp);
  p = sp + 1;
  sp = spaceAt(i++, end);
  if (sp == end) {
    tooFew(11);
    return FIT_ERROR;
  }
  setStart(F_ERROR_CODE, p);
  setEnd(F_ERROR_CODE, sp);
  const errorHasQuote = nextQuote(p, sp) < sp;
  p = sp + 1;
  for (let f = F_BYTES_SENT; f <= F_TURN_AROUND; f++) {
    sp = spaceAt(i++, end);
    if (sp == end) {
      tooFew(f + 1);
      return FIT_ERROR;
    }
    const v = readCount(p, sp);
    if (v == BAD) {
      fail(K_BAD_COUNT, f, p, sp);
      return FIT_ERROR;
    }
    setStart(f, p);
    setEnd(f, sp);
    // Straight to the results, which hold the counts in field order (a dash as -1).
    store<f64>(RESULT + (<usize>(f - F_BYTES_SENT + 1) << 3), <f64>v);
    p = sp + 1;
  }
  // A dash for bytes sent means none were.
  if (load<f64>(RESULT, 8) < 0) store<f64>(RESULT, 0, 8);
  cursor = p;
  cursorSpace = i;
  const c = byteAt(p);
  return !errorHasQuote && (c == QUOTE || c == DASH) ? FIT_STRONG : FIT_WEAK;
}

/**
 * The closing quote of the user agent: the line's last quote, which must be followed by a space or the
 * end. S3's trailing fields never hold a quote, and the agent is the client's to write: were it to end
 * at an earlier quote, a client could send `x" <ten well-formed fields>` and choose the host header,
 * access point and every other field after the agent (issue 17, item 2). The last quote is beyond any
 * client's reach: S3 writes it. `i` is no further than the index of the first space at or after `from`;
 * unless -1 is returned, `cursorSpace` is the index of the first space after the quote's own.
 */
function findAgentClose(from: i32, end: i32, i: i32): i32 {
  const q = lastQuote(from, end);
  if (q == -1 || (q + 1 < end && byteAt(q + 1) != SPACE)) return -1;
  cursorSpace = spaceFrom(i, q + 2);
  return q;
}

/** Digits as a number, DASH_VALUE for `-`, BAD otherwise (also past 2^53). */
@inline
function readCount(a: i32, e: i32): i64 {
  const n = e - a;
  if (n == 1 && byteAt(a) == DASH) return DASH_VALUE;
  if (n <= 0 || n > 16) return BAD;
  // The eight bytes that end at `e` (and the eight before them for a longer count), read as digits with
  // leading zeros, without a loop over the digits. A count comes after the time, so the sixteen bytes
  // before `e` are all in the line.
  if (n <= 8) {
    const digits = digitBytes(load<u64>(<usize>(e - 8)), n);
    return isDigits(digits) ? <i64>eightDigits(digits) : BAD;
  }
  const low = digitBytes(load<u64>(<usize>(e - 8)), 8);
  const high = digitBytes(load<u64>(<usize>(e - 16)), n - 8);
  if (!isDigits(low) || !isDigits(high)) return BAD;
  const v = <i64>eightDigits(high) * 100000000 + <i64>eightDigits(low);
  return v <= MAX_SAFE ? v : BAD;
}

const ZEROS: u64 = 0x3030303030303030;
const HIGH_BITS: u64 = 0x8080808080808080;

/**
 * The bytes of `w` less '0' each: its last `n` (1..8) bytes, the ones before them taken as '0'. Bytes
 * below '0' or above '9' come out with their high bit set (see isDigits): they are never borrowed from,
 * since the ones before them are digits or '0'.
 */
@inline
function digitBytes(w: u64, n: i32): u64 {
  const keep = <u64>-1 << (<u64>(8 - n) << 3);
  return ((w & keep) | (ZEROS & ~keep)) - ZEROS;
}

/** Whether each byte of digitBytes' result is 0..9: adding 118 sets the high bit of one of 10 or more. */
@inline
function isDigits(d: u64): bool {
  return ((d | (d + 0x7676767676767676)) & HIGH_BITS) == 0;
}

/** The number of the eight digits 0..9 in `d`, the first in its lowest byte: pairs, fours, then eight. */
@inline
function eightDigits(d: u64): u64 {
  d = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ff;
  d = (d * 100 + (d >> 16)) & 0x0000ffff0000ffff;
  return (d * 10000 + (d >> 32)) & 0xffffffff;
}

function isStatus(a: i32, e: i32): bool {
  if (e - a == 1) return byteAt(a) == DASH;
  return e - a == 3 && isDigit(byteAt(a)) && isDigit(byteAt(a + 1)) && isDigit(byteAt(a + 2));
}

@inline
function isDigit(c: i32): bool {
  return <u32>(c - ZERO) <= 9;
}

// ---- time ----------------------------------------------------------------------------------------------

/**
 * parseLogTime of the 26 bytes at `a`: lines come in time order, so a line mostly has the time of the
 * one before it (a busy log has many lines to a second), and when not, its date. The calendar arithmetic
 * is done once per distinct date, the rest once per distinct time.
 */
function cachedTime(a: i32): f64 {
  const head = v128.load(<usize>a);
  const tail = v128.load(<usize>a, 10);
  const same = v128.and(i8x16.eq(head, lastTimeHead), i8x16.eq(tail, lastTimeTail));
  if (v128.all_true<i8>(same)) return lastTime;
  const w0 = load<i32>(<usize>a);
  const w1 = load<i32>(<usize>(a + 4));
  const w2 = load<i32>(<usize>(a + 7));
  let days = lastDays;
  if (w0 != lastDate0 || w1 != lastDate1 || w2 != lastDate2) {
    days = logDay(a);
    lastDays = days;
    lastDate0 = w0;
    lastDate1 = w1;
    lastDate2 = w2;
  }
  lastTimeHead = head;
  lastTimeTail = tail;
  lastTime = isNaN(days) ? NaN : withTimeOfDay(a, days);
  return lastTime;
}

/** `DD/Mon/YYYY:HH:MM:SS ±HHMM` in [a, b) as epoch ms (UTC), or NaN. */
function parseLogTime(a: i32, b: i32): f64 {
  if (b - a != 26) return NaN;
  const days = logDay(a);
  return isNaN(days) ? NaN : withTimeOfDay(a, days);
}

/** Two digits at `i`, or -1. */
function two(i: i32): i32 {
  const x = byteAt(i) - ZERO;
  const y = byteAt(i + 1) - ZERO;
  return <u32>x <= 9 && <u32>y <= 9 ? x * 10 + y : -1;
}

/** Month (1-12) of the English three-letter abbreviation at `i`, or 0. */
function monthAt(i: i32): i32 {
  const w = (byteAt(i) << 16) | (byteAt(i + 1) << 8) | byteAt(i + 2);
  switch (w) {
    case 0x4a616e: return 1; // Jan
    case 0x466562: return 2; // Feb
    case 0x4d6172: return 3; // Mar
    case 0x417072: return 4; // Apr
    case 0x4d6179: return 5; // May
    case 0x4a756e: return 6; // Jun
    case 0x4a756c: return 7; // Jul
    case 0x417567: return 8; // Aug
    case 0x536570: return 9; // Sep
    case 0x4f6374: return 10; // Oct
    case 0x4e6f76: return 11; // Nov
    case 0x446563: return 12; // Dec
    default: return 0;
  }
}

function monthDays(month: i32, leap: bool): i32 {
  if (month == 2) return leap ? 29 : 28;
  return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
}

/** Days since 1970-01-01 of the `DD/Mon/YYYY` at `a`, or NaN. */
function logDay(a: i32): f64 {
  if (byteAt(a + 2) != SLASH || byteAt(a + 6) != SLASH) return NaN;
  const day = two(a);
  const month = monthAt(a + 3);
  const hi = two(a + 7);
  const lo = two(a + 9);
  if (day < 0 || hi < 0 || lo < 0 || month == 0) return NaN;
  const year = hi * 100 + lo;
  if (year < 1970) return NaN;
  const leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  if (day < 1 || day > monthDays(month, leap)) return NaN;
  return <f64>daysFromCivil(year, month, day);
}

/** Epoch ms of `days` plus the `:HH:MM:SS ±hhmm` after the date at `a`, or NaN. */
function withTimeOfDay(a: i32, days: f64): f64 {
  const colons = byteAt(a + 11) == 58 && byteAt(a + 14) == 58 && byteAt(a + 17) == 58;
  if (!colons || byteAt(a + 20) != SPACE) return NaN;
  const hour = two(a + 12);
  const minute = two(a + 15);
  const second = two(a + 18);
  const sign = byteAt(a + 21);
  const offH = two(a + 22);
  const offM = two(a + 24);
  if (sign != 43 && sign != DASH) return NaN;
  if (hour < 0 || minute < 0 || second < 0 || offH < 0 || offM < 0) return NaN;
  if (!(hour <= 23 && minute <= 59 && second <= 59 && offH <= 23 && offM <= 59)) return NaN;
  const offsetMin = (offH * 60 + offM) * (sign == DASH ? -1 : 1);
  const local = ((days * 24 + <f64>hour) * 60 + <f64>minute) * 60 + <f64>second;
  return (local - <f64>(offsetMin * 60)) * 1000;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (the era-based formula). */
function daysFromCivil(y: i32, m: i32, d: i32): i32 {
  const yy = m <= 2 ? y - 1 : y;
  const era = (yy >= 0 ? yy : yy - 399) / 400;
  const yoe = yy - era * 400;
  const doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// ---- one line ------------------------------------------------------------------------------------------

/** Scans the `length` bytes at INPUT; the result area holds the numbers, ST/EN the fields. Returns 1 or 0. */
export function scanOne(length: i32): i32 {
  const from = <i32>INPUT;
  // Padding after the line must not look like more of it: SIMD loads read past the end.
  memory.fill(INPUT + <usize>length, 0, SLACK);
  const end = classifyLine(from, from + length);
  const ok = scan(from, end);
  const r = RESULT;
  store<f64>(r, timeMs);
  store<i32>(r + 40, fieldCount);
  store<i32>(r + 44, ok ? 0 : failKind);
  store<i32>(r + 48, failArg);
  store<i32>(r + 52, failA - from);
  store<i32>(r + 56, failE - from);
  // Field positions relative to the line's start.
  for (let f = 0; f < KNOWN_FIELDS; f++) {
    const s = getStart(f);
    const e = getEnd(f);
    setStart(f, s == e ? 0 : s - from);
    setEnd(f, s == e ? 0 : e - from);
  }
  return ok ? 1 : 0;
}

// ---- a block of lines into rollup keys -----------------------------------------------------------------

/** Dataset kinds of a key entry. */
const DS_DASH: i32 = 0;
const DS_ROOT: i32 = 1;
const DS_RAW: i32 = 2;
const DS_ENCODED: i32 = 3;

/** Where scanBlock stopped; the next call goes on from there. */
let resume: i32 = 0;
/**
 * Why scanBlock stopped: 0 the block is done, 1 the output is full, 2 KEYS is full, 3 OBJECTS is full,
 * 4 the rows are full, 5 a new object needs its records, 6 a row's sum would pass 2^53.
 */
let stopReason: i32 = 0;

export function resumeAt(): i32 {
  return resume;
}
export function stoppedBecause(): i32 {
  return stopReason;
}

/** Empties table `which` (JavaScript holds nothing that refers to its entries any more). */
export function resetTable(which: i32): void {
  const t = tablePtr(which);
  if (which == 1) objectsKnown = 0;
  // The network cache and the principals name key entries.
  else forgetPrincipals();
  store<i32>(t + T_COUNT, 0);
  store<i32>(t + T_USED, 0);
  memory.fill(<usize>load<i32>(t + T_SLOTS), 0, (<usize>load<i32>(t + T_MASK) + 1) << 2);
  // The holdings row cache names key and object entries: none of its rows is found through it again.
  rowGeneration++;
}

@inline
function mix(h: u64, w: u64): u64 {
  h = (h ^ w) * 0x9e3779b97f4a7c15;
  return h ^ (h >> 29);
}

/** The low `n` bytes (1..7) of the word at `i`. */
@inline
function tail(i: i32, n: i32): u64 {
  return load<u64>(<usize>i) & ((<u64>1 << (<u64>n << 3)) - 1);
}

/** Copies bytes [a, e) to `to` sixteen at a time (so up to fifteen bytes more); returns where they end. */
@inline
function stage(to: usize, a: i32, e: i32): usize {
  for (let i = 0; i < e - a; i += 16) v128.store(to + <usize>i, v128.load(<usize>(a + i)));
  return to + <usize>(e - a);
}

/**
 * Whether the `n` bytes at `p` equal those at `a`: sixteen bytes a step (with `eq`, which is one x64
 * instruction where `ne` is two).
 */
@inline
function sameBytes(p: usize, a: usize, n: i32): bool {
  for (let i = 0; i < n; i += 16) {
    let differ = ~i8x16.bitmask(i8x16.eq(v128.load(p + <usize>i), v128.load(a + <usize>i)));
    if (n - i < 16) differ &= (1 << (n - i)) - 1;
    if ((differ & 0xffff) != 0) return false;
  }
  return true;
}

/**
 * The entry of table `t` holding the key at `key`: five byte strings of lengths `lb` .. `ld`, one after
 * the other, and `kind`; added when new. -1 when it is new and the table has no room.
 */
function findEntry(t: usize, key: usize, lb: i32, lr: i32, lo: i32, la: i32, ld: i32, kind: i32): i32 {
  const length = lb + lr + lo + la + ld;
  // Two lanes of eight bytes, so that a long key takes half as many multiplies one after the other.
  let h0: u64 = (<u64>lb | (<u64>lr << 16) | (<u64>lo << 32) | (<u64>la << 48)) ^ 0x3c6ef372fe94f82b;
  let h1: u64 = (<u64>ld | (<u64>kind << 32)) ^ 0xa54ff53a5f1d36f1;
  let i = 0;
  for (; i + 16 <= length; i += 16) {
    h0 = (h0 ^ load<u64>(key + <usize>i)) * 0x9e3779b97f4a7c15;
    h1 = (h1 ^ load<u64>(key + <usize>i, 8)) * 0x9e3779b97f4a7c15;
  }
  if (i + 8 <= length) {
    h0 = (h0 ^ load<u64>(key + <usize>i)) * 0x9e3779b97f4a7c15;
    i += 8;
  }
  if (i < length) h1 = (h1 ^ tail(<i32>key + i, length - i)) * 0x9e3779b97f4a7c15;
  const h = mix(h0, h1);
  const h32 = <i32>(h ^ (h >> 32));
  const entries = <usize>load<i32>(t + T_ENTRIES);
  const slots = <usize>load<i32>(t + T_SLOTS);
  const arena = <usize>load<i32>(t + T_ARENA);
  const mask = load<i32>(t + T_MASK);
  let slot = h32 & mask;
  for (;;) {
    const entry = load<i32>(slots + (<usize>slot << 2)) - 1;
    if (entry < 0) break;
    const k = entries + (<usize>entry << 5);
    if (
      load<i32>(k + 28) == h32 &&
      load<i32>(k + 4) == lb &&
      load<i32>(k + 8) == lr &&
      load<i32>(k + 12) == lo &&
      load<i32>(k + 16) == la &&
      load<i32>(k + 20) == ld &&
      load<i32>(k + 24) == kind &&
      sameBytes(arena + <usize>load<i32>(k), key, length)
    ) {
      return entry;
    }
    slot = (slot + 1) & mask;
  }
  const count = load<i32>(t + T_COUNT);
  const used = load<i32>(t + T_USED);
  if (count == load<i32>(t + T_CAP) || used + length > load<i32>(t + T_ARENA_CAP)) return -1;
  const k = entries + (<usize>count << 5);
  store<i32>(k, used);
  store<i32>(k + 4, lb);
  store<i32>(k + 8, lr);
  store<i32>(k + 12, lo);
  store<i32>(k + 16, la);
  store<i32>(k + 20, ld);
  store<i32>(k + 24, kind);
  store<i32>(k + 28, h32);
  memory.copy(arena + <usize>used, key, length);
  store<i32>(t + T_USED, used + length);
  store<i32>(t + T_COUNT, count + 1);
  store<i32>(slots + (<usize>slot << 2), count + 1);
  return count;
}

/**
 * Where the dataset of the key [k0, k1) ends: the `depth`-th slash, or the last slash before the end
 * when there are fewer; -1 when the key holds no slash; -2 when an escape (`%`) comes first, which may
 * hide a slash (%2F), so that the key must be decoded. Sixteen bytes are tested at once.
 */
function datasetCut(k0: i32, k1: i32, depth: i32): i32 {
  const slash = i8x16.splat(<i8>SLASH);
  const percent = i8x16.splat(<i8>PERCENT);
  let slashes = 0;
  let cut = -1;
  for (let i = k0; i < k1; i += 16) {
    const v = v128.load(<usize>i);
    const s = i8x16.bitmask(i8x16.eq(v, slash));
    const e = i8x16.bitmask(i8x16.eq(v, percent));
    let bits = s | e;
    if (k1 - i < 16) bits &= (1 << (k1 - i)) - 1;
    while (bits != 0) {
      const bit = ctz(bits);
      if ((e >> bit) & 1) return -2;
      cut = i + bit;
      if (++slashes == depth) return cut;
      bits &= bits - 1;
    }
  }
  return cut;
}

/** The operations that read a whole object: REST.GET.OBJECT and WEBSITE.GET.OBJECT. */
const REST_GET_OBJECT = memory.data<u8>([82, 69, 83, 84, 46, 71, 69, 84, 46, 79, 66, 74, 69, 67, 84]);
const WEBSITE_GET_OBJECT = memory.data<u8>([
  87, 69, 66, 83, 73, 84, 69, 46, 71, 69, 84, 46, 79, 66, 74, 69, 67, 84,
]);

/** Whether [a, e) spells the `n` (8 or more) bytes at `word`: eight at a time, the last eight overlapping. */
function spells(a: i32, e: i32, word: usize, n: i32): bool {
  if (e - a != n) return false;
  let i = 0;
  for (; i + 8 <= n; i += 8) if (load<u64>(<usize>(a + i)) != load<u64>(word + <usize>i)) return false;
  return i == n || load<u64>(<usize>(a + n - 8)) == load<u64>(word + <usize>(n - 8));
}

// ---- network keys ---------------------------------------------------------------------------------------
// Beside each rollup row, a good line is added to a network row: who (the line's principal: its requester
// and access point, see principalOf) asked from where (remote address as logged, the host header when it
// names a VPC endpoint, source region), per 15-minute UTC slot (the rollup's, so that a partner's local
// period cuts them exactly, NETWORKS.md), with requests, bytes sent and the first and last
// time. The key is a KEYS entry of kind NET_KIND and its row a row of status NET_STATUS, so both share the
// rollup's tables, stops and emptying (the rollup entry a network entry names is never emptied before it);
// JavaScript (../network-rows.ts) turns the address into its source prefix and the host into its VPC
// endpoint once per entry, and sums the rows of one requester and access point where rows are written.
// Keyed by the principal, not by the line's whole rollup key entry (which adds bucket, operation and
// dataset), a slot holds one network row per requester, access point and address, as the table keeps
// them, instead of one per rollup key entry as well (BENCHMARKS.md, "Network rows per slot").

const F_HOST_HEADER: i32 = 22;
const F_SOURCE_REGION: i32 = 26;
/** The dataset kind that marks a network key entry. */
const NET_KIND: i32 = 4;
/** The status of a network row (rollup rows have 0..5). */
const NET_STATUS: i32 = 15;
/** A network row's grain: the rollup's 15-minute slot. */
const NET_SLOT_MS: f64 = 900000;
/** How the host header of a request through an S3 interface endpoint ends. */
const VPCE_HOST_SUFFIX = memory.data<u8>([
  46, 118, 112, 99, 101, 46, 97, 109, 97, 122, 111, 110, 97, 119, 115, 46, 99, 111, 109,
]);
const VPCE_HOST_SUFFIX_LENGTH: i32 = 19;

/** Whether the line's host header is an S3 interface endpoint's name (ends in `.vpce.amazonaws.com`). */
function hostIsVpce(): bool {
  if (fieldCount <= F_HOST_HEADER) return false;
  const h0 = getStart(F_HOST_HEADER);
  const h1 = getEnd(F_HOST_HEADER);
  return h1 - h0 > VPCE_HOST_SUFFIX_LENGTH && spells(h1 - VPCE_HOST_SUFFIX_LENGTH, h1, VPCE_HOST_SUFFIX, VPCE_HOST_SUFFIX_LENGTH);
}

/**
 * Principals. The principal of a rollup key entry is the first rollup key entry with the same requester
 * and access point bytes (its representative), so that every line of one requester and access point
 * names one principal whatever its bucket, operation or dataset; JavaScript reads the representative's
 * requester and access point as it did the line's own entry. PRINCIPAL_OF holds, by rollup key entry,
 * its principal + 1 (0 not looked up yet): a lookup is made once per rollup key entry, not per line.
 * PRINCIPAL_SLOTS is an open-addressed set of the representatives (entry + 1, 0 empty) by the hash of
 * requester and access point, twice as many slots as KEYS has entries, so it never fills. Both, like the
 * network cache before them, name key entries and are emptied with KEYS (forgetPrincipals).
 */
let PRINCIPAL_OF: usize = 0;
let PRINCIPAL_SLOTS: usize = 0;
let principalMask: i32 = 0;
/** Where the network cache and the principals end (they are laid out one after the other). */
let principalsEnd: usize = 0;

/** Bytes the principals of a KEYS table of `entries` entries take. */
function principalBytes(entries: i32): i64 {
  return (<i64>entries + <i64>slotCount(entries)) * 4 + 16;
}

/** Lays the principals out at `at`, which is where the network cache ends. */
function layPrincipals(at: usize, entries: i32): void {
  PRINCIPAL_OF = at;
  PRINCIPAL_SLOTS = at + (<usize>entries << 2);
  principalMask = slotCount(entries) - 1;
  principalsEnd = PRINCIPAL_SLOTS + (<usize>(principalMask + 1) << 2);
}

/** Empties the network cache and the principals (KEYS was emptied). */
function forgetPrincipals(): void {
  memory.fill(NET_CACHE, 0, principalsEnd - NET_CACHE);
}

/** `h` with the `n` bytes at `p` hashed in, eight at a time. */
function hashBytes(h: u64, p: usize, n: i32): u64 {
  let i = 0;
  for (; i + 8 <= n; i += 8) h = (h ^ load<u64>(p + <usize>i)) * 0x9e3779b97f4a7c15;
  if (i < n) h = (h ^ tail(<i32>p + i, n - i)) * 0x9e3779b97f4a7c15;
  return mix(h, <u64>n);
}

/**
 * The length of the access point of the rollup key entry at `k`, whose text is at `a0`: 0 for `-`, which
 * JavaScript reads an empty field as (a line without the field and one with `-` are one principal).
 */
@inline
function accessPointLength(k: usize, a0: usize): i32 {
  const la = load<i32>(k + 16);
  return la == 1 && load<u8>(a0) == <u8>DASH ? 0 : la;
}

/** The principal of rollup key entry `entry` (see above): found or made once, then read from PRINCIPAL_OF. */
@inline
function principalOf(entry: i32): i32 {
  const known = load<i32>(PRINCIPAL_OF + (<usize>entry << 2));
  return known != 0 ? known - 1 : findPrincipal(entry);
}

function findPrincipal(entry: i32): i32 {
  const entries = <usize>load<i32>(KEYS + T_ENTRIES);
  const arena = <usize>load<i32>(KEYS + T_ARENA);
  // A rollup key: bucket, requester, operation, access point, dataset (scanBlock).
  const k = entries + (<usize>entry << 5);
  const lr = load<i32>(k + 8);
  const r0 = arena + <usize>load<i32>(k) + <usize>load<i32>(k + 4);
  const a0 = r0 + <usize>lr + <usize>load<i32>(k + 12);
  const la = accessPointLength(k, a0);
  const h = hashBytes(hashBytes(0x3c6ef372fe94f82b, r0, lr), a0, la);
  let s = <i32>(h ^ (h >> 32)) & principalMask;
  let principal = entry;
  for (;;) {
    const at = PRINCIPAL_SLOTS + (<usize>s << 2);
    const other = load<i32>(at) - 1;
    if (other < 0) {
      store<i32>(at, entry + 1);
      break;
    }
    const q = entries + (<usize>other << 5);
    const q0 = arena + <usize>load<i32>(q) + <usize>load<i32>(q + 4);
    const qa = q0 + <usize>load<i32>(q + 8) + <usize>load<i32>(q + 12);
    if (load<i32>(q + 8) == lr && accessPointLength(q, qa) == la) {
      if (sameBytes(q0, r0, lr) && sameBytes(qa, a0, la)) {
        principal = other;
        break;
      }
    }
    s = (s + 1) & principalMask;
  }
  store<i32>(PRINCIPAL_OF + (<usize>entry << 2), principal + 1);
  return principal;
}

/**
 * The KEYS entry of the line's network key, the line's principal being `principal` (a rollup key entry);
 * added when new; -1 when new and the table has no room. Only a host header that names an endpoint
 * (`vpce`) is kept: any other names none, and would only split rows. The region is the `regionLength`
 * bytes at `r0` (see networkRow).
 */
function networkEntry(principal: i32, vpce: bool, r0: i32, regionLength: i32): i32 {
  store<i32>(KEY, principal);
  const remote = stage(KEY + 4, getStart(F_REMOTE_IP), getEnd(F_REMOTE_IP));
  const host = vpce ? stage(remote, getStart(F_HOST_HEADER), getEnd(F_HOST_HEADER)) : remote;
  const region = stage(host, r0, r0 + regionLength);
  return findEntry(KEYS, KEY, 4, <i32>(remote - KEY - 4), <i32>(host - remote), <i32>(region - host), 0, NET_KIND);
}

/**
 * A cache of the last network keys seen with each principal (four ways a set, the set chosen by the
 * principal): most lines come from an address their requester used a little before (an application
 * spreads its requests over a few addresses), and a compare of two 16-byte fields is cheaper than hashing
 * the key. A way: principal + 1 (0 empty), network entry, address length, region length, slot, network
 * row, the row generation it is of, and (in a set's first way) the way the next miss replaces; address
 * bytes at 32, region bytes at 48. Lines with an endpoint host, or an address or region over 16 bytes
 * (long IPv6), are not cached.
 */
const NET_CACHE_SLOTS: i32 = 4096;
const NET_CACHE_BYTES: i32 = 64;
const NET_CACHE_WAYS: i32 = 4;
let NET_CACHE: usize = 0;
/** Bumped whenever the rows are emptied: a cached row of an older generation is gone. */
let rowGeneration: i32 = 1;

/** The line's network row (see networkEntry), its rollup key being `entry`: -2 KEYS full, -4 rows full. */
function networkRow(entry: i32): i32 {
  const principal = principalOf(entry);
  const slot = <i32>Math.floor(timeMs / NET_SLOT_MS);
  const a0 = getStart(F_REMOTE_IP);
  const addressLength = getEnd(F_REMOTE_IP) - a0;
  let r0 = a0;
  let regionLength = 0;
  if (fieldCount > F_SOURCE_REGION) {
    r0 = getStart(F_SOURCE_REGION);
    regionLength = getEnd(F_SOURCE_REGION) - r0;
    // JavaScript reads an empty field as `-`: a line without the field, with it empty or `-` is one key
    // (lines of one requester and address with and without the trailing fields would split rows).
    if (regionLength == 1 && byteAt(r0) == DASH) regionLength = 0;
  }
  const vpce = hostIsVpce();
  const cacheable = !vpce && addressLength <= 16 && regionLength <= 16;
  const set =
    NET_CACHE + ((<usize>principal & <usize>(NET_CACHE_SLOTS / NET_CACHE_WAYS - 1)) * <usize>(NET_CACHE_WAYS * NET_CACHE_BYTES));
  if (cacheable) {
    for (let w = 0; w < NET_CACHE_WAYS; w++) {
      const c = set + <usize>(w * NET_CACHE_BYTES);
      if (
        load<i32>(c) == principal + 1 &&
        load<i32>(c, 8) == addressLength &&
        load<i32>(c, 12) == regionLength &&
        sameBytes(c + 32, <usize>a0, addressLength) &&
        sameBytes(c + 48, <usize>r0, regionLength)
      ) {
        if (load<i32>(c, 16) == slot && load<i32>(c, 24) == rowGeneration) return load<i32>(c, 20);
        const row = findRow(slot, NET_STATUS, load<i32>(c, 4));
        if (row < 0) return -4;
        store<i32>(c, slot, 16);
        store<i32>(c, row, 20);
        store<i32>(c, rowGeneration, 24);
        return row;
      }
    }
  }
  const netEntry = networkEntry(principal, vpce, r0, regionLength);
  if (netEntry < 0) return -2;
  const row = findRow(slot, NET_STATUS, netEntry);
  if (cacheable) {
    // The set's ways are replaced in turn.
    const victim = load<i32>(set, 28);
    store<i32>(set, (victim + 1) & (NET_CACHE_WAYS - 1), 28);
    const c = set + <usize>(victim * NET_CACHE_BYTES);
    store<i32>(c, principal + 1);
    store<i32>(c, netEntry, 4);
    store<i32>(c, addressLength, 8);
    store<i32>(c, regionLength, 12);
    store<i32>(c, slot, 16);
    store<i32>(c, row, 20);
    store<i32>(c, row < 0 ? 0 : rowGeneration, 24);
    v128.store(c + 32, v128.load(<usize>a0));
    v128.store(c + 48, v128.load(<usize>r0));
  }
  return row < 0 ? -4 : row;
}

/**
 * Scans the lines in INPUT[start, length): every line ends with a newline except perhaps the last. A
 * good line is added to its rollup row here; a malformed one gets an output record (see wasm-scanner.ts)
 * and the count of records is returned. `resumeAt` says where it stopped, `stoppedBecause` why (before
 * the line it stopped at, which the next call scans again), `linesSeen_` how many lines it went through.
 * Lines longer than `maxLine` bytes are reported, not scanned.
 */
export function scanBlock(start: i32, length: i32, maxLine: i32): i32 {
  const base = <i32>INPUT;
  // What follows `length` is not touched (a reader keeps its unfinished line there): nothing the scan
  // reads past a line's end decides anything.
  const end = base + length;
  let p = base + start;
  let n = 0;
  let lines = 0;
  stopReason = 0;
  const depth = datasetDepth;
  while (p < end) {
    if (n == outCap) {
      stopReason = 1;
      break;
    }
    if (lineRecordsFull()) {
      stopReason = 7;
      break;
    }
    const nl = classifyLine(p, end);
    if (nl - p > maxLine) {
      const rec = OUT + (<usize>n << 5);
      store<i32>(rec, -K_TOO_LONG);
      store<i32>(rec + 4, p - base);
      store<i32>(rec + 8, nl - base);
      store<i32>(rec + 12, nl - p);
      store<i32>(rec + 28, lines);
      n++;
    } else if (!scan(p, nl)) {
      const rec = OUT + (<usize>n << 5);
      store<i32>(rec, -failKind);
      store<i32>(rec + 4, p - base);
      store<i32>(rec + 8, nl - base);
      store<i32>(rec + 12, failArg);
      store<i32>(rec + 20, failA - base);
      store<i32>(rec + 24, failE - base);
      store<i32>(rec + 28, lines);
      n++;
    } else {
      // The dataset: raw key bytes up to the cut when no escape comes first; the whole key when one does.
      const k0 = getStart(F_KEY);
      const k1 = getEnd(F_KEY);
      let d1 = k0;
      let kind = DS_DASH;
      if (k1 > k0 && !(k1 - k0 == 1 && byteAt(k0) == DASH)) {
        const cut = datasetCut(k0, k1, depth);
        if (cut >= 0) {
          d1 = cut + 1;
          kind = DS_RAW;
        } else if (cut == -1) {
          kind = DS_ROOT;
        } else {
          d1 = k1;
          kind = DS_ENCODED;
        }
      }
      // The key's fields one after the other in KEY, for one pass to hash it and one to compare it.
      const bucket = stage(KEY, getStart(F_BUCKET), getEnd(F_BUCKET));
      const requester = stage(bucket, getStart(F_REQUESTER), getEnd(F_REQUESTER));
      const operation = stage(requester, getStart(F_OPERATION), getEnd(F_OPERATION));
      const accessPoint =
        fieldCount > F_ACCESS_POINT
          ? stage(operation, getStart(F_ACCESS_POINT), getEnd(F_ACCESS_POINT))
          : operation;
      const dataset = kind == DS_RAW || kind == DS_ENCODED ? stage(accessPoint, k0, d1) : accessPoint;
      const entry = findEntry(
        KEYS,
        KEY,
        <i32>(bucket - KEY),
        <i32>(requester - bucket),
        <i32>(operation - requester),
        <i32>(accessPoint - operation),
        <i32>(dataset - accessPoint),
        kind,
      );
      if (entry < 0) {
        stopReason = 2;
        break;
      }
      const s0 = getStart(F_HTTP_STATUS);
      const first = byteAt(s0);
      const threeDigits = getEnd(F_HTTP_STATUS) - s0 == 3;
      const status = threeDigits && first >= 49 && first <= 53 ? first - 48 : 0;
      // Records count only for a whole object delivered (a 200 to a whole-object read): a 206 range read
      // returns part of an object, whose share of records the log cannot tell. A 200 or a 206 to a
      // whole-object read is also a holding (see ../../domain/HOLDINGS.md) when holdings are kept.
      let records: f64 = 0;
      const is200 = threeDigits && first == 50 && byteAt(s0 + 1) == ZERO && byteAt(s0 + 2) == ZERO;
      const is206 = threeDigits && first == 50 && byteAt(s0 + 1) == ZERO && byteAt(s0 + 2) == SIX;
      let object = -1;
      if ((withRecords && is200) || (holdingsOn && (is200 || is206))) {
        const o0 = getStart(F_OPERATION);
        const o1 = getEnd(F_OPERATION);
        if (spells(o0, o1, REST_GET_OBJECT, 15) || spells(o0, o1, WEBSITE_GET_OBJECT, 18)) {
          object = findObject(k0, k1);
          if (object < 0) {
            stopReason = 3;
            break;
          }
          if (withRecords && is200) {
            if (object >= objectsKnown) {
              // A new object: JavaScript looks its records up in the manifest, then this line goes on.
              stopReason = 5;
              break;
            }
            records = load<f64>(OBJECT_RECORDS + (<usize>object << 3));
          }
        }
      }
      const row = findRow(<i32>Math.floor(timeMs / slotMs), status, entry);
      if (row < 0) {
        stopReason = 4;
        break;
      }
      // The line's network row (see networkRow), found before any sum changes: a stop rescans the line,
      // and a rollup row added just above stays empty (JavaScript skips empty rows).
      const netRow = networkRow(entry);
      if (netRow < 0) {
        stopReason = -netRow;
        break;
      }
      // The line's holdings row (see heldRow), likewise before any sum changes.
      let heldRow = -1;
      if (object >= 0 && holdingsOn) {
        heldRow = heldRowOf(object, entry);
        if (heldRow < 0) {
          stopReason = 4;
          break;
        }
      }
      const lineBytes = load<f64>(RESULT, 8);
      const sums = ROW_SUMS + <usize>row * ROW_SUM_BYTES;
      const bytes = load<f64>(sums, 8) + lineBytes;
      const recordSum = load<f64>(sums, 16) + records;
      if (bytes > MAX_EXACT || recordSum > MAX_EXACT) {
        // The sum would no longer be exact: JavaScript sends the row on as it is and zeroes it.
        overflowRow = row;
        stopReason = 6;
        break;
      }
      const netSums = ROW_SUMS + <usize>netRow * ROW_SUM_BYTES;
      const netBytes = load<f64>(netSums, 8) + lineBytes;
      if (netBytes > MAX_EXACT) {
        overflowRow = netRow;
        stopReason = 6;
        break;
      }
      const heldSums: usize = heldRow < 0 ? 0 : ROW_SUMS + <usize>heldRow * ROW_SUM_BYTES;
      const heldBytes = heldRow < 0 ? 0 : load<f64>(heldSums, 8) + lineBytes;
      // Its whole-object reads are an i32 (ROW_KEYS): a row that would pass 2^31 - 1 leaves first too.
      const heldWhole = heldRow < 0 ? 0 : load<i32>(ROW_KEYS + (<usize>heldRow << 4), 12);
      if (heldBytes > MAX_EXACT || (is200 && heldWhole == I32.MAX_VALUE)) {
        overflowRow = heldRow;
        stopReason = 6;
        break;
      }
      store<f64>(sums, load<f64>(sums) + 1);
      store<f64>(sums, bytes, 8);
      store<f64>(sums, recordSum, 16);
      addTimed(netSums, netBytes);
      if (heldRow >= 0) {
        addTimed(heldSums, heldBytes);
        if (is200) store<i32>(ROW_KEYS + (<usize>heldRow << 4), heldWhole + 1, 12);
      }
      noteRequest(row, netRow, heldRow < 0 ? -1 : (heldRow << 1) | (is200 ? 1 : 0), lineBytes, records);
    }
    lines++;
    p = nl + 1;
  }
  resume = p - base;
  linesSeen = lines;
  return n;
}

// ---- request identities, for dropping repeated deliveries ----------------------------------------------
// S3 may deliver a log record twice (in one object or in two). Each counted line that carries a request
// id leaves a line record here: a 64-bit hash of its request id and host id, the rollup row it was added
// to, its slot, and its bytes sent and records, and its network row, so that the writer can take a repeat
// back out of the rows it went into (see ../request-ids.ts). Lines without a request id (`-`) leave none: nothing identifies
// them. The area is laid out by `initLineRecords`; without it no record is kept.

const F_REQUEST_ID: i32 = 5;
const F_HOST_ID: i32 = 18;
/**
 * Bytes of one line record: hash (u64), row (i32), slot (i32), bytes sent (f64), records (f64), network
 * row (i32), holdings row * 2 + 1 if the line was a 200 (i32, -1 when the line read no object for
 * holdings: a repeat is taken out of the row's whole-object reads too when it was a 200).
 */
const LINE_RECORD_BYTES: i32 = 40;
let LINE_RECORDS: usize = 0;
let lineRecordCap: i32 = 0;
let lineRecordCount: i32 = 0;
/** Where the line records area ends (0 without one): a moved input area must start past it. */
let lineRecordsEnd: usize = 0;

/**
 * Lays out room for `capacity` line records past everything `init` laid out (call after it). Returns 0,
 * or -1 when memory cannot grow.
 */
export function initLineRecords(capacity: i32): i32 {
  const at = ((<usize>memory.size() << 16) + 7) & ~7;
  const bytes = <i64>capacity * LINE_RECORD_BYTES + SLACK + 8;
  if (memory.grow(<i32>((bytes + 0xffff) >>> 16)) < 0) return -1;
  LINE_RECORDS = at;
  lineRecordCap = capacity;
  lineRecordCount = 0;
  lineRecordsEnd = at + <usize>capacity * LINE_RECORD_BYTES + SLACK;
  return 0;
}

export function lineRecordsPtr(): usize {
  return LINE_RECORDS;
}
export function lineRecordCount_(): i32 {
  return lineRecordCount;
}
/** JavaScript has read every line record. */
export function resetLineRecords(): void {
  lineRecordCount = 0;
}

function afterLineRecords(end: usize): usize {
  return lineRecordsEnd > end ? lineRecordsEnd : end;
}

@inline
function lineRecordsFull(): bool {
  return lineRecordCap > 0 && lineRecordCount == lineRecordCap;
}

/** Whether [a, e) is empty or `-`: no value. */
@inline
function noValue(a: i32, e: i32): bool {
  return e <= a || (e - a == 1 && byteAt(a) == DASH);
}

/** Hashes bytes [a, e) into `h`, eight at a time (reads up to seven bytes past `e`, within SLACK). */
function hashInto(h: u64, a: i32, e: i32): u64 {
  let i = a;
  for (; i + 8 <= e; i += 8) h = rotl<u64>(h ^ (load<u64>(<usize>i) * 0x87c37b91114253d5), 31) * 0x4cf5ad432745937f;
  if (i < e) h = rotl<u64>(h ^ (tail(i, e - i) * 0x87c37b91114253d5), 31) * 0x4cf5ad432745937f;
  return h;
}

/**
 * The identity of the line just scanned: a 64-bit hash of its request id and, where the line has one,
 * its host id; 0 when it has no request id. Never 0 otherwise.
 */
function requestIdentity(): u64 {
  const a = getStart(F_REQUEST_ID);
  const e = getEnd(F_REQUEST_ID);
  if (noValue(a, e)) return 0;
  let h = hashInto(0x243f6a8885a308d3 ^ <u64>(e - a), a, e);
  const ha = getStart(F_HOST_ID);
  const he = getEnd(F_HOST_ID);
  if (fieldCount > F_HOST_ID && !noValue(ha, he)) h = hashInto(h ^ (<u64>(he - ha) << 40), ha, he);
  // murmur3's finaliser: every input bit reaches every output bit.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

/**
 * Keeps a line record for the line just added to `row`, network row `netRow` and holdings row `held`
 * (its row * 2 + 1 for a 200; -1: none), when the area is laid out and the line has an id.
 */
function noteRequest(row: i32, netRow: i32, held: i32, bytes: f64, records: f64): void {
  if (lineRecordCap == 0) return;
  const id = requestIdentity();
  if (id == 0) return;
  const rec = LINE_RECORDS + <usize>lineRecordCount * LINE_RECORD_BYTES;
  store<u64>(rec, id);
  store<i32>(rec, row, 8);
  store<i32>(rec, <i32>Math.floor(timeMs / slotMs), 12);
  store<f64>(rec, bytes, 16);
  store<f64>(rec, records, 24);
  store<i32>(rec, netRow, 32);
  store<i32>(rec, held, 36);
  lineRecordCount++;
}

// ---- holdings: which objects a requester read (see ../../domain/HOLDINGS.md) ---------------------------
// Each counted line that reads a whole object (REST.GET.OBJECT, WEBSITE.GET.OBJECT) with status 200 or
// 206 is summed, beside its rollup and network rows, into a holdings row: its rollup key entry (bucket,
// requester, access point, dataset), its entry in OBJECTS (the key as logged, its version id and its
// object size as logged: two versions, or two sizes of an overwritten key, are two objects) and its
// slot, 200s and 206s together. The row is a row of the rollup's table whose status is negative
// (heldStatus: it names the object entry), holding reads, bytes sent, first and last time (ms), and in
// its key's fourth i32 the reads that were 200s (whole objects): one row where a row per status made a
// fifth more rows of a night (BENCHMARKS.md, hold14i). It shares the rollup's stops and emptying, and
// JavaScript decodes each object entry once
// (../holdings-batch.ts). `initHoldings` switches holdings on; without it no object is looked up for them.

const F_VERSION_ID: i32 = 17;
const SIX: i32 = 54;
let holdingsOn: bool = false;

/** Keeps holdings from now on (call after init). Returns 0. */
export function initHoldings(): i32 {
  holdingsOn = true;
  return 0;
}

/** The status of the holdings row of object entry `object`: below 0. */
@inline
function heldStatus(object: i32): i32 {
  return -object - 1;
}

/**
 * The last holdings row found for each OBJECTS entry (HELD_CACHE, four i32 an entry: row + 1, the row
 * generation it is of, slot, key entry): most reads of an object in a slot are by one
 * requester, and comparing three words is cheaper than a probe of the row table. Emptying the rows or a
 * table bumps the generation (rowGeneration), so a cached row is never one of an earlier emptying.
 */
let HELD_CACHE: usize = 0;

/** The holdings row of object entry `object` read by key entry `entry`; -1 rows full. */
@inline
function heldRowOf(object: i32, entry: i32): i32 {
  const slot = <i32>Math.floor(timeMs / slotMs);
  const c = HELD_CACHE + (<usize>object << 4);
  if (load<i32>(c, 4) == rowGeneration && load<i32>(c, 8) == slot && load<i32>(c, 12) == entry) {
    return load<i32>(c) - 1;
  }
  const row = findRow(slot, heldStatus(object), entry);
  if (row >= 0) {
    store<i32>(c, row + 1);
    store<i32>(c, rowGeneration, 4);
    store<i32>(c, slot, 8);
    store<i32>(c, entry, 12);
  }
  return row;
}

/** Adds the line just scanned to a row of requests, bytes (`bytes`, the new sum), first and last time. */
@inline
function addTimed(sums: usize, bytes: f64): void {
  const n = load<f64>(sums);
  if (n == 0) {
    store<f64>(sums, timeMs, 16);
    store<f64>(sums, timeMs, 24);
  } else {
    if (timeMs < load<f64>(sums, 16)) store<f64>(sums, timeMs, 16);
    if (timeMs > load<f64>(sums, 24)) store<f64>(sums, timeMs, 24);
  }
  store<f64>(sums, n + 1);
  store<f64>(sums, bytes, 8);
}

/**
 * The OBJECTS entry of the key [k0, k1) of the line just scanned; -1 when the table is full. With
 * holdings, the entry is the key, its version id (empty when not logged) and its object size as logged;
 * without, the key and its version id. The key comes first in the entry, so its first length is the
 * key's (what the manifest is looked up by).
 */
function findObject(k0: i32, k1: i32): i32 {
  let v0 = 0;
  let v1 = 0;
  if (fieldCount > F_VERSION_ID) {
    v0 = getStart(F_VERSION_ID);
    v1 = getEnd(F_VERSION_ID);
    if (noValue(v0, v1)) v1 = v0;
  }
  if (!holdingsOn) {
    if (v1 == v0) return findEntry(OBJECTS, <usize>k0, k1 - k0, 0, 0, 0, 0, 0);
    const version = stage(KEY, k0, k1);
    stage(version, v0, v1);
    return findEntry(OBJECTS, KEY, k1 - k0, v1 - v0, 0, 0, 0, 0);
  }
  const version = stage(KEY, k0, k1);
  const size = stage(version, v0, v1);
  const end = stage(size, getStart(F_OBJECT_SIZE), getEnd(F_OBJECT_SIZE));
  return findEntry(OBJECTS, KEY, k1 - k0, v1 - v0, <i32>(end - size), 0, 0, 0);
}
