import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AthenaManifestError,
  athenaManifestCsv,
  MANIFEST_CSV_HEADER,
  MANIFEST_LINE_REGEX,
  renderAthenaManifest,
} from '../../functions/adapters/athena/manifest-csv.js';
import { ManifestError, manifestToData, parseManifest } from '../../functions/adapters/logs/manifest.js';

const OPERATOR_MANIFEST = `# records per object
key_or_prefix,records
feeds/weather/,8760
feeds/weather/hourly/,24
"sales,eu/summary.csv",12
  padded/key.txt  ,5
"say ""hi"".txt",3
#hash/,1
`;

/** Key and records of a canonical entry line, as the table's regex and the rollup SQL read it. */
function readLine(line: string): [string, string] | undefined {
  const m = new RegExp(MANIFEST_LINE_REGEX).exec(line);
  return m ? [m[1]!.replaceAll('""', '"'), m[2]!] : undefined;
}

describe('athenaManifestCsv', () => {
  it('rewrites an operator manifest with every key quoted, sorted, after the header', () => {
    expect(athenaManifestCsv(OPERATOR_MANIFEST, 'manifest.csv')).toBe(
      [
        MANIFEST_CSV_HEADER,
        '"feeds/weather/",8760',
        '"feeds/weather/hourly/",24',
        '"padded/key.txt",5',
        '"sales,eu/summary.csv",12',
        '"say ""hi"".txt",3',
        '',
      ].join('\n'),
    );
  });

  it('says the same as the manifest it came from, to the local reader', () => {
    const canonical = athenaManifestCsv(OPERATOR_MANIFEST, 'manifest.csv');
    expect(parseManifest(canonical, 'canonical').hash).toBe(
      parseManifest(OPERATOR_MANIFEST, 'original').hash,
    );
  });

  it('keeps a comment line out, so "#hash/" is not an entry', () => {
    expect(athenaManifestCsv(OPERATOR_MANIFEST, 'manifest.csv')).not.toContain('#hash/');
  });

  it('refuses what the local reader refuses, naming the line', () => {
    expect(() => athenaManifestCsv('a/,1\na/,2\n', 'manifest.csv')).toThrow(ManifestError);
    expect(() => athenaManifestCsv('a/,1\na/,2\n', 'manifest.csv')).toThrow(
      'manifest.csv:2: "a/" is already listed on line 1',
    );
  });

  it.each([
    ['a key holding a carriage return', '"a\rb",1\n', /carriage return/],
    ['more than 2^53 - 1 records for one object', 'a/,9007199254740992\n', /more than 2\^53 - 1/],
  ])('refuses %s, which Athena would not read as the local engine does', (_name, text, message) => {
    expect(() => athenaManifestCsv(text, 'manifest.csv')).toThrow(AthenaManifestError);
    expect(() => athenaManifestCsv(text, 'manifest.csv')).toThrow(message);
  });

  it('takes exactly 2^53 - 1 records', () => {
    expect(athenaManifestCsv('a/,9007199254740991\n', 'm')).toContain('"a/",9007199254740991');
  });
});

describe('MANIFEST_LINE_REGEX', () => {
  it('does not read the header, so Athena reads it as a row of NULLs', () => {
    expect(readLine(MANIFEST_CSV_HEADER)).toBeUndefined();
  });

  it.each([
    ['"a/b.csv",3', ['a/b.csv', '3']],
    ['"sales,eu/x.csv",12', ['sales,eu/x.csv', '12']],
    ['"say ""hi"".txt",3', ['say "hi".txt', '3']],
    ['"""",1', ['"', '1']],
    ['"a"",b"",c",7', ['a",b",c', '7']],
    ['"C:\\data\\x.csv",9', ['C:\\data\\x.csv', '9']],
  ])('reads %s', (line, entry) => {
    expect(readLine(line)).toEqual(entry);
  });

  it.each(['"a"b",1', '"a",', '"a",1x', 'a,1', '"a",-1'])('does not read %s', (line) => {
    expect(readLine(line)).toBeUndefined();
  });
});

describe('renderAthenaManifest', () => {
  /** Keys as S3 may hold them (any text but line ends), split into exact keys and prefixes. */
  const keys = fc.uniqueArray(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((k) => !/[\r\n]/.test(k)),
    { maxLength: 30 },
  );
  const records = fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) });

  it('round-trips any entries through both readers: the local parser and the table regex', () => {
    fc.assert(
      fc.property(keys, fc.array(records, { minLength: 30, maxLength: 30 }), (ks, rs) => {
        const entries = ks.map((k, i) => [k, rs[i]!] as const);
        const data = {
          source: 'generated',
          exact: entries.filter(([k]) => !k.endsWith('/')),
          prefixes: entries.filter(([k]) => k.endsWith('/')),
        };
        const csv = renderAthenaManifest(data);
        const back = manifestToData(parseManifest(csv, 'canonical'))!;
        expect(new Map(back.exact)).toEqual(new Map(data.exact));
        expect(new Map(back.prefixes)).toEqual(new Map(data.prefixes));
        const lines = csv.split('\n').slice(1, -1);
        expect(new Map(lines.map((l) => readLine(l)!))).toEqual(
          new Map(entries.map(([k, r]) => [k, String(r)])),
        );
      }),
      { numRuns: 300 },
    );
  });
});
