/**
 * The dataset manifest as Athena reads it. The stack parses the operator's manifest at synth with the
 * local engine's own reader (parseManifest, so both engines accept the same files and see the same
 * entries) and deploys it rewritten in one canonical CSV form, which the Glue table reads with a
 * RegexSerDe and the local Athena server of test/support with the same regex:
 *
 * ```
 * key_or_prefix,records
 * "feeds/weather/",8760
 * "sales,eu/summary.csv",12
 * "say ""hi"".txt",3
 * ```
 *
 * Every key is quoted with its inner quotes doubled: the local reader reads that line as the same
 * entry (the file is still a valid manifest), and one regex splits it with no ambiguity whatever the
 * key holds (commas, quotes, backslashes, `#`, outer spaces), which neither LazySimpleSerDe nor
 * OpenCSVSerde (backslash escapes) can promise. The table's `key_or_prefix` column is the text between
 * the quotes, inner quotes still doubled; the rollup SQL undoes the doubling. The header line does not
 * match the regex, so Athena reads it as a row of NULLs, which joins nothing.
 *
 * Keys are unique in the file: parseManifest refuses a key listed twice, and the lines are written
 * from its entries. Lines are sorted, so the deployed object changes only when an entry does.
 */
import { type ManifestData, manifestToData, parseManifest } from '../logs/manifest.js';

/** The manifest table's columns, in capture-group order, with their Glue types. */
export const MANIFEST_TABLE_COLUMNS = [
  { name: 'key_or_prefix', type: 'string' },
  { name: 'records', type: 'bigint' },
] as const;

/**
 * One entry line of the canonical file, for the RegexSerDe `input.regex` (Java `Matcher.matches()`)
 * and for DuckDB's RE2: a quoted key (`""` inside is one quote), a comma, the records. Written as an
 * unrolled loop, so Java recurses once per inner quote pair, not once per character.
 */
export const MANIFEST_LINE_REGEX = '^"([^"]*(?:""[^"]*)*)",([0-9]+)$';

/** The first line of the canonical file: the local reader's optional header. */
export const MANIFEST_CSV_HEADER = 'key_or_prefix,records';

/** A manifest the local engine reads but the Athena table could not read the same way. */
export class AthenaManifestError extends Error {
  override readonly name = 'AthenaManifestError';
  constructor(
    readonly source: string,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${source}: ${JSON.stringify(key)}: ${problem}`);
  }
}

/** The canonical CSV of `data`'s entries; throws AthenaManifestError for an entry Athena cannot hold. */
export function renderAthenaManifest(data: ManifestData): string {
  const entries = [...data.exact, ...data.prefixes];
  const lines: string[] = [];
  for (const [key, records] of entries) {
    // Hadoop's LineReader ends a record at a lone CR as well as at LF: such a key would be cut in two.
    if (key.includes('\r')) {
      throw new AthenaManifestError(
        data.source,
        key,
        'a key holding a carriage return cannot be read by Athena',
      );
    }
    // The local engine refuses more per object when it reads one; Athena would take it: refuse it here.
    if (records > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new AthenaManifestError(
        data.source,
        key,
        `${records} records is more than 2^53 - 1 per object, which the local engine refuses`,
      );
    }
    lines.push(`"${key.replaceAll('"', '""')}",${records}`);
  }
  lines.sort();
  return `${[MANIFEST_CSV_HEADER, ...lines].join('\n')}\n`;
}

/**
 * Parse manifest `text` (named `source` in errors) as the local engine does and render its canonical
 * CSV. Throws ManifestError (a line the local reader refuses) or AthenaManifestError.
 */
export function athenaManifestCsv(text: string, source: string): string {
  const data = manifestToData(parseManifest(text, source));
  // parseManifest always makes a manifest manifestToData can read; this only satisfies the type.
  if (data === undefined) throw new AthenaManifestError(source, '', 'the manifest could not be read');
  return renderAthenaManifest(data);
}
