/**
 * The dataset manifest: how many records each object holds, so that usage can be counted in records as
 * well as bytes. A CSV of `key_or_prefix,records`:
 *
 * ```
 * # comment lines and blank lines are ignored; the header line is optional
 * key_or_prefix,records
 * weather/daily/2024.csv,8784        <- an exact key
 * weather/hourly/,24                 <- every object under this prefix holds 24 records
 * "sales,eu/summary.csv",12          <- quote a key that holds a comma ("" inside quotes is one ")
 * ```
 *
 * Lookup: an exact key wins; otherwise the longest listed prefix (entries ending in `/`) that starts the
 * key; otherwise 0 records.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** A line of a manifest file could not be read. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    readonly source: string,
    readonly line: number,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(line > 0 ? `${source}:${line}: ${problem}` : `${source}: ${problem}`, options);
  }
}

/** Records per object, by exact key or by prefix. */
export interface Manifest {
  /** Where the manifest came from (a file path), for messages. */
  readonly source: string;
  /** Number of exact-key entries and of prefix entries. */
  readonly exactKeys: number;
  readonly prefixes: number;
  /**
   * sha256 (hex) of the entries in a canonical order: equal for manifests that say the same thing, so a
   * rollup built with one can be known stale when the entries (not the comments or order) change.
   */
  readonly hash: string;
  /** Records held by the object `key` (the decoded key, not its URL-encoded log form); 0n when unlisted. */
  recordsFor(key: string): bigint;
}

/** Parse manifest text; `source` names it in errors. Throws ManifestError naming the line. */
export function parseManifest(text: string, source: string): Manifest {
  const exact = new Map<string, bigint>();
  const prefixes = new Map<string, bigint>();
  const firstSeen = new Map<string, number>();
  const lines = text.split('\n');
  let sawData = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = (lines[i] ?? '').replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [key, recordsText] = splitEntry(raw, source, lineNo);
    // The header is optional: a first data line whose second column reads `records` is taken as one.
    if (!sawData && recordsText.toLowerCase() === 'records') {
      sawData = true;
      continue;
    }
    sawData = true;
    if (key === '') throw new ManifestError(source, lineNo, 'the key or prefix is empty');
    if (!/^\d+$/.test(recordsText)) {
      throw new ManifestError(source, lineNo, `records must be a whole number, got "${recordsText}"`);
    }
    const earlier = firstSeen.get(key);
    if (earlier !== undefined) {
      throw new ManifestError(source, lineNo, `"${key}" is already listed on line ${earlier}`);
    }
    firstSeen.set(key, lineNo);
    (key.endsWith('/') ? prefixes : exact).set(key, BigInt(recordsText));
  }
  return new MapManifest(source, exact, prefixes);
}

/** A manifest as plain data, for handing to a worker thread (structured clone keeps bigints). */
export interface ManifestData {
  readonly source: string;
  readonly exact: readonly (readonly [string, bigint])[];
  readonly prefixes: readonly (readonly [string, bigint])[];
}

/** The data of a manifest made by parseManifest or loadManifest; undefined for any other Manifest. */
export function manifestToData(manifest: Manifest): ManifestData | undefined {
  return manifest instanceof MapManifest ? manifest.toData() : undefined;
}

/** The manifest `data` describes (see manifestToData). */
export function manifestFromData(data: ManifestData): Manifest {
  return new MapManifest(data.source, new Map(data.exact), new Map(data.prefixes));
}

/** Read and parse a manifest file. */
export async function loadManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ManifestError(path, 0, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseManifest(text, path);
}

/** `[key, records]` of one data line: a quoted key, or everything before the last comma. */
function splitEntry(raw: string, source: string, lineNo: number): [string, string] {
  const line = raw.trim();
  if (line.startsWith('"')) {
    let key = '';
    let i = 1;
    for (;;) {
      const q = line.indexOf('"', i);
      if (q === -1) throw new ManifestError(source, lineNo, 'the quoted key has no closing quote');
      key += line.slice(i, q);
      if (line.charCodeAt(q + 1) === 34) {
        key += '"';
        i = q + 2;
        continue;
      }
      const rest = line.slice(q + 1).trim();
      if (!rest.startsWith(',')) {
        throw new ManifestError(source, lineNo, 'expected a comma after the quoted key');
      }
      return [key, rest.slice(1).trim()];
    }
  }
  const comma = line.lastIndexOf(',');
  if (comma === -1) {
    throw new ManifestError(source, lineNo, 'expected "key_or_prefix,records" (no comma found)');
  }
  return [line.slice(0, comma).trim(), line.slice(comma + 1).trim()];
}

class MapManifest implements Manifest {
  readonly exactKeys: number;
  readonly prefixes: number;
  readonly hash: string;
  constructor(
    readonly source: string,
    private readonly exact: ReadonlyMap<string, bigint>,
    private readonly byPrefix: ReadonlyMap<string, bigint>,
  ) {
    this.exactKeys = exact.size;
    this.prefixes = byPrefix.size;
    const entries = [...exact, ...byPrefix].map(([k, v]) => `${JSON.stringify(k)},${v}`);
    entries.sort();
    this.hash = createHash('sha256').update(entries.join('\n')).digest('hex');
  }

  toData(): ManifestData {
    return { source: this.source, exact: [...this.exact], prefixes: [...this.byPrefix] };
  }

  recordsFor(key: string): bigint {
    const hit = this.exact.get(key);
    if (hit !== undefined) return hit;
    if (this.byPrefix.size === 0) return 0n;
    // Walk the key's own `/` positions from the deepest: the first listed one is the longest prefix.
    for (let slash = key.lastIndexOf('/'); slash !== -1; slash = key.lastIndexOf('/', slash - 1)) {
      const records = this.byPrefix.get(key.slice(0, slash + 1));
      if (records !== undefined) return records;
      if (slash === 0) break;
    }
    return 0n;
  }
}
