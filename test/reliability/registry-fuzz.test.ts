/**
 * Hostile registries: the example registry's structure mutated by a fuzzer (wrong types, missing and
 * unknown keys, huge and negative numbers, bad zones, CR/LF and HTML in names, duplicated entries),
 * plus YAML-level attacks. parseRegistry must never crash: it returns a registry or throws a
 * RegistryError whose every problem names where it is.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { formatPath, parseRegistry, RegistryError } from '../../functions/domain/registry.js';
import { REPO_ROOT } from './helpers.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const EXAMPLE_TEXT = readFileSync(join(REPO_ROOT, 'examples/registry.yaml'), 'utf8');
// The example must itself be valid, or every case below tests nothing.
parseRegistry(EXAMPLE_TEXT, 'examples/registry.yaml');
const EXAMPLE = JSON.parse(JSON.stringify(parseYaml(EXAMPLE_TEXT))) as Json;

/** Every path to a node of the document, the root excluded. */
function pathsOf(node: Json, prefix: Path = []): Path[] {
  if (node === null || typeof node !== 'object') return [];
  const entries: [string | number, Json][] = Array.isArray(node)
    ? node.map((v, i) => [i, v])
    : Object.entries(node);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
}

const ALL_PATHS = pathsOf(EXAMPLE);

function getAt(doc: Json, path: Path): Json {
  let node: Json = doc;
  for (const k of path) {
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string | number, Json>)[k] ?? null;
  }
  return node;
}

/** A deep copy of `doc` with `edit` applied to the parent of `path`. */
function editAt(
  doc: Json,
  path: Path,
  edit: (parent: Record<string | number, Json> | Json[], key: string | number) => void,
): Json {
  const copy = structuredClone(doc);
  const parent = getAt(copy, path.slice(0, -1)) as Record<string | number, Json> | Json[];
  edit(parent, path[path.length - 1] as string | number);
  return copy;
}

/** A deep copy of `doc` with the node at `path` replaced by `value`. */
function setAt(doc: Json, path: Path, value: Json): Json {
  return editAt(doc, path, (p, k) => {
    (p as Record<string | number, Json>)[k] = value;
  });
}

/** Values no field of a registry should ever have to survive, yet must be refused politely. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    -0.5,
    1.5,
    1e308,
    Number.MAX_SAFE_INTEGER + 2,
    '',
    ' ',
    '-1',
    '9'.repeat(400),
    'Mars/Olympus_Mons',
    'UTC+25',
    'Europe/../../etc/passwd',
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    'Acme\r\nBcc: victim@evil.example',
    'line\u2028separator\u2029paragraph',
    '=HYPERLINK("http://evil.example","x")',
    'arn:aws:iam::111122223333:user/acme-ingest',
    '\u0000\u0007\u001b[31m',
    'x'.repeat(100_000),
    [],
    {},
    [[[[[[]]]]]],
    { __proto__: { polluted: true } } as unknown as Json,
  ),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.double(),
  fc.integer(),
);

type Mutant = { doc: Json; path: Path; kind: string };

const mutant: fc.Arbitrary<Mutant> = fc
  .tuple(fc.constantFrom(...ALL_PATHS), fc.nat(), hostileValue)
  .chain(([path, n, value]) =>
    fc.constantFrom<Mutant>(
      {
        kind: 'replace',
        path,
        doc: setAt(EXAMPLE, path, value),
      },
      {
        kind: 'delete',
        path,
        doc: editAt(EXAMPLE, path, (p, k) => {
          if (Array.isArray(p)) p.splice(k as number, 1);
          else delete p[k];
        }),
      },
      {
        kind: 'unknown-key',
        path,
        doc: editAt(EXAMPLE, path, (p) => {
          if (!Array.isArray(p)) p[`extra${n % 3}`] = value;
        }),
      },
      {
        kind: 'duplicate',
        path,
        doc: editAt(EXAMPLE, path, (p, k) => {
          if (Array.isArray(p)) p.push(structuredClone(p[k as number] ?? null));
        }),
      },
    ),
  );

/** Serialise a mutant as a person might have written it: YAML or JSON. */
const asText = (doc: Json, json: boolean) => (json ? JSON.stringify(doc) : stringify(doc));

/** The outcome of parsing: a registry, or a RegistryError whose every problem carries a path. */
function parseOrProblems(text: string): { ok: true } | { ok: false; paths: string[] } {
  try {
    parseRegistry(text, 'fuzzed.yaml');
    return { ok: true };
  } catch (e) {
    expect(e).toBeInstanceOf(RegistryError);
    const error = e as RegistryError;
    expect(error.problems.length).toBeGreaterThan(0);
    for (const p of error.problems) {
      expect(typeof p.path).toBe('string');
      expect(p.message.length).toBeGreaterThan(0);
      // The message a person reads names each place.
      expect(error.message).toContain(`  ${p.path || '(top)'}: `);
    }
    return { ok: false, paths: error.problems.map((p) => p.path) };
  }
}

describe('parseRegistry under fuzzing', () => {
  it('never crashes on 2,000 mutated registries: a registry or a RegistryError with paths', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.array(mutant, { minLength: 1, maxLength: 1 }), fc.boolean(), ([m], json) => {
        if (!m) return;
        if (!parseOrProblems(asText(m.doc, json)).ok) rejected++;
      }),
      { numRuns: 2_000, seed: 5101 },
    );
    expect(rejected).toBeGreaterThan(1_000);
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('never crashes when several mutations pile up', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...ALL_PATHS), hostileValue), { minLength: 2, maxLength: 6 }),
        (edits) => {
          let doc = EXAMPLE;
          for (const [path, value] of edits) {
            // A path may no longer exist after an earlier edit: then the edit lands on a fresh key.
            const parent = getAt(doc, path.slice(0, -1));
            if (parent === null || typeof parent !== 'object') continue;
            doc = setAt(doc, path, value);
          }
          parseOrProblems(asText(doc, false));
        },
      ),
      { numRuns: 500, seed: 5102 },
    );
  });

  it(`names the very field that has the wrong type, for each of the ${ALL_PATHS.length} fields of the example`, () => {
    // A primitive where an object or list belongs, or an object where a primitive does, is wrong
    // for every field of the schema: the problem must point at that field, not somewhere near.
    for (const path of ALL_PATHS) {
      const original = getAt(EXAMPLE, path);
      const swapped: Json = original !== null && typeof original === 'object' ? 42 : { nested: { deep: 1 } };
      const doc = setAt(EXAMPLE, path, swapped);
      const result = parseOrProblems(asText(doc, false));
      const target = formatPath(path);
      const parent = formatPath(path.slice(0, -1));
      // The field itself, or the union it is a member of (a principal is one of five shapes).
      const named = !result.ok && result.paths.some((p) => p === target || (p === parent && p !== ''));
      expect(named ? target : `${target} not named in ${JSON.stringify(result)}`).toBe(target);
    }
  });

  it('never crashes on YAML text cut or corrupted anywhere', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.string({
          unit: fc.constantFrom(
            ':',
            '-',
            '"',
            "'",
            '{',
            '[',
            '&',
            '*',
            '!',
            '|',
            '>',
            '\t',
            '\n',
            '#',
            '%',
            '@',
            '`',
            '\0',
          ),
          maxLength: 4,
        }),
        (n, junk) => {
          const p = n % (EXAMPLE_TEXT.length + 1);
          parseOrProblems(EXAMPLE_TEXT.slice(0, p) + junk + EXAMPLE_TEXT.slice(p + (n % 3)));
          parseOrProblems(EXAMPLE_TEXT.slice(0, p));
        },
      ),
      { numRuns: 400, seed: 5104 },
    );
  });
});

describe('parseRegistry on known attacks', () => {
  it.each([
    [
      'a billion-laughs alias bomb',
      `a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`,
    ],
    ['10,000 nested lists', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['a duplicate key', EXAMPLE_TEXT.replace('version: 1', 'version: 1\nversion: 1')],
    ['a JavaScript tag', `${EXAMPLE_TEXT}\nx: !!js/function "function () { process.exit(9) }"\n`],
    ['a prototype key', `${EXAMPLE_TEXT}\n__proto__: { polluted: true }\n`],
    ['an empty file', ''],
    ['a lone scalar', '42'],
    ['binary noise', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 151) % 256)).toString('latin1')],
  ])('refuses %s with a RegistryError', (_name, text) => {
    const result = parseOrProblems(text);
    expect(result.ok).toBe(false);
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('reports two partners with the same id at the second one', () => {
    const doc = structuredClone(EXAMPLE) as { partners: Json[] };
    doc.partners.push(structuredClone(doc.partners[0] ?? null));
    const result = parseOrProblems(stringify(doc));
    expect(result).toMatchObject({ ok: false });
    if (!result.ok) expect(result.paths).toContain('partners[2].id');
  });
});
