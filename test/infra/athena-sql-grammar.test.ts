/**
 * Every SQL text the AWS side can send to Athena, read by grammars that no one here wrote
 * (dt-sql-parser): the statements of functions/adapters/athena/sql.ts by its Trino grammar (Athena
 * engine v3 is Trino), as sent with `?` placeholders and with the ExecutionParameters written in; the
 * stack's Glue tables as DDL by its Hive grammar. Each function a statement calls must be in
 * ATHENA_FUNCTIONS with its documented signature, and every function the local Athena stand-in
 * translates for DuckDB is named with its difference.
 *
 * The statements come from test/support/athena-statements.ts, which must cover every builder
 * sql.ts exports; add a new builder's samples there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HiveSQL } from 'dt-sql-parser/dist/parser/hive/index.js';
import { TrinoSQL } from 'dt-sql-parser/dist/parser/trino/index.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ATHENA_FUNCTIONS } from '../../functions/adapters/athena/athena-functions.js';
import * as sqlBuilders from '../../functions/adapters/athena/sql.js';
import * as unloadBuilders from '../../functions/adapters/athena/unload-sql.js';
import * as aggregationBuilders from '../../functions/adapters/sql/usage-aggregation-sql.js';
import {
  ATHENA_STATEMENT_SAMPLES,
  type AthenaStatementSample,
  glueTableDdl,
} from '../support/athena-statements.js';
import { configWith, EXISTING_LOGS, ROOT, registryWithManifest, synth } from './helpers.js';

const trino = new TrinoSQL();
const hive = new HiveSQL();

/** A parse tree node as antlr4ng gives it: rule contexts have children, tokens have text. */
interface Node {
  readonly children?: readonly Node[] | null;
  readonly start?: { readonly text?: string };
  getText(): string;
}

/**
 * Forms that Trino's grammar writes as syntax but that are functions in the documentation's sense;
 * their first token is the name (CAST or TRY_CAST, COALESCE, ...).
 */
const FUNCTION_SYNTAX = new Set([
  'CastContext',
  'CoalesceContext',
  'SubstringContext',
  'TrimContext',
  'PositionContext',
  'ExtractContext',
  'NormalizeContext',
  'ListAggContext',
  'JsonValueContext',
  'JsonQueryContext',
  'JsonExistsContext',
  'JsonObjectContext',
  'JsonArrayContext',
]);

/** The lower-case name of every function called in a statement, in order of appearance. */
function functionCalls(sql: string): string[] {
  const out: string[] = [];
  const walk = (node: Node) => {
    const kind = node.constructor.name;
    if (kind === 'FunctionCallContext') {
      const name = (node.children ?? []).find((c) => c.constructor.name === 'FunctionNameContext');
      out.push((name?.getText() ?? '?').replaceAll('"', '').toLowerCase());
    } else if (FUNCTION_SYNTAX.has(kind)) {
      out.push((node.start?.text ?? '?').toLowerCase());
    }
    for (const child of node.children ?? []) walk(child);
  };
  walk(trino.parse(sql) as unknown as Node);
  return out;
}

/** The statement with each `?` outside literals and quoted names replaced by its parameter. */
function withParameters(sql: string, params: readonly string[]): string {
  let out = '';
  let next = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j;
    } else if (c === '?') {
      if (next >= params.length) throw new Error(`more placeholders than the ${params.length} parameters`);
      out += params[next++];
    } else out += c;
  }
  if (next !== params.length) throw new Error(`${params.length} parameters for ${next} placeholders`);
  return out;
}

function syntaxErrors(sample: Pick<AthenaStatementSample, 'grammar'>, sql: string): string[] {
  if (sample.grammar === 'athena-iceberg-maintenance') return maintenanceErrors(sql);
  if (sample.grammar === 'athena-unload') return unloadErrors(sql);
  const parser = sample.grammar === 'trino' ? trino : hive;
  return parser.validate(sql).map((e) => `line ${e.startLine}:${e.startColumn} ${e.message}`);
}

/**
 * Athena's Iceberg maintenance statements, a difference from Trino (which writes
 * `ALTER TABLE t EXECUTE optimize`) named here: `OPTIMIZE <table> REWRITE DATA USING BIN_PACK
 * [WHERE <predicate>]` and `VACUUM <table>`. Their shape is matched, and the table and predicate
 * are parsed by the Trino grammar as `SELECT * FROM <table> [WHERE <predicate>]`.
 */
function maintenanceErrors(sql: string): string[] {
  const select = maintenanceAsSelect(sql);
  if (select === '')
    return ['not OPTIMIZE <table> REWRITE DATA USING BIN_PACK [WHERE ...] or VACUUM <table>'];
  return trino.validate(select).map((e) => `as ${select}: ${e.message}`);
}

/** `SELECT * FROM <table> [WHERE <predicate>]` of a maintenance statement, '' for another statement. */
function maintenanceAsSelect(sql: string): string {
  const m =
    /^OPTIMIZE\s+(\S+)\s+REWRITE\s+DATA\s+USING\s+BIN_PACK(?:\s+WHERE\s+([\s\S]+))?$/i.exec(sql.trim()) ??
    /^VACUUM\s+(\S+)()$/i.exec(sql.trim());
  return m ? `SELECT * FROM ${m[1]}${m[2] ? ` WHERE ${m[2]}` : ''}` : '';
}

/**
 * Athena's UNLOAD, which Trino does not have: `UNLOAD (<query>) TO 's3://bucket/folder/' WITH
 * (format = 'JSON', compression = 'GZIP'[, partitioned_by = ARRAY['col']])`, the shape its
 * documentation gives, with the properties it documents; the query is parsed by the Trino grammar.
 */
function unloadErrors(sql: string): string[] {
  const m = /^UNLOAD \(([\s\S]+)\)\nTO '(s3:\/\/[^']+\/)'\nWITH \((.+)\)$/.exec(sql.trim());
  if (!m) return ["not UNLOAD (<query>) TO 's3://.../' WITH (...)"];
  const props = m[3]!.split(/, (?![^[]*\])/);
  const bad = props.filter(
    (p) =>
      !/^format = '(JSON|PARQUET|ORC|AVRO|TEXTFILE)'$/.test(p) &&
      !/^compression = '(GZIP|SNAPPY|ZSTD|NONE)'$/.test(p) &&
      !/^partitioned_by = ARRAY\['\w+'(, '\w+')*\]$/.test(p),
  );
  return [
    ...bad.map((p) => `UNLOAD property not documented: ${p}`),
    ...trino.validate(m[1]!).map((e) => `the query, line ${e.startLine}:${e.startColumn} ${e.message}`),
  ];
}

/** The query an UNLOAD writes out, '' for another statement. */
function unloadQuery(sql: string): string {
  return /^UNLOAD \(([\s\S]+)\)\nTO '/.exec(sql.trim())?.[1] ?? '';
}

/** Partition transforms Athena's CREATE TABLE documents for Iceberg tables (`day(ts)`, `bucket(16, id)`). */
const ATHENA_ICEBERG_TRANSFORMS = ['identity', 'year', 'month', 'day', 'hour', 'bucket', 'truncate'];

/** An Iceberg table's DDL without its PARTITIONED BY (transforms) clause, which Hive's grammar cannot read. */
function withoutIcebergPartitioning(sql: string): string {
  return sql.includes("'table_type'='ICEBERG'") ? sql.replace(/^PARTITIONED BY \(.*\)\n/m, '') : sql;
}

let ddl: AthenaStatementSample[];
beforeAll(() => {
  // The existing-log-bucket shape with a manifest: all three tables.
  const { template } = synth(configWith({ ...EXISTING_LOGS, registryFile: registryWithManifest() }));
  ddl = glueTableDdl(template);
});

describe('the statement samples', () => {
  it('cover every statement builder sql.ts, usage-aggregation-sql.ts and unload-sql.ts export', () => {
    const builders = Object.entries({ ...sqlBuilders, ...aggregationBuilders, ...unloadBuilders })
      .filter(([name, value]) => typeof value === 'function' && name.endsWith('Sql'))
      .map(([name]) => name)
      .sort();
    expect(builders.length).toBeGreaterThan(0);
    const covered = new Set(ATHENA_STATEMENT_SAMPLES.map((s) => s.builder));
    expect(builders.filter((b) => !covered.has(b))).toEqual([]);
  });

  it('include the DDL of the logs, manifest, rollup and registry tables the stack creates', () => {
    expect(ddl.map((d) => d.builder).sort()).toEqual([
      'lib: Glue table access_logs',
      'lib: Glue table dataset_manifest',
      'lib: Glue table registry_contract_terms',
      'lib: Glue table registry_ignored_requesters',
      'lib: Glue table registry_networks',
      'lib: Glue table registry_principals',
      'lib: Glue table usage_rollup',
    ]);
  });
});

describe("dt-sql-parser's grammars", () => {
  it('refuse a statement that Trino would refuse (the check itself works)', () => {
    const broken = { ...ATHENA_STATEMENT_SAMPLES[0]! };
    const sql = broken.build().sql.replace('WHEN MATCHED THEN UPDATE SET', 'WHEN MATCHED THEN UPDATE');
    expect(syntaxErrors(broken, sql).length).toBeGreaterThan(0);
    expect(syntaxErrors(broken, 'SELECT count(*) FROM "db"."t" WHERE a = ?')).toEqual([]);
  });

  it.each(ATHENA_STATEMENT_SAMPLES.map((s) => [s.name, s] as const))('Trino parses %s as sent', (_n, s) => {
    const q = s.build();
    expect(syntaxErrors(s, q.sql)).toEqual([]);
  });

  it.each(ATHENA_STATEMENT_SAMPLES.map((s) => [s.name, s] as const))(
    'Trino parses %s with its parameters written in',
    (_n, s) => {
      const q = s.build();
      expect(syntaxErrors(s, withParameters(q.sql, q.params))).toEqual([]);
    },
  );

  it.each([
    [`OPTIMIZE "db"."usage_rollup" REWRITE DATA USING BIN_PACK WHERE batch = '2026/03/14'`, true],
    ['VACUUM "db"."usage_rollup"', true],
    [`OPTIMIZE "db"."usage_rollup" REWRITE DATA USING BIN_PACK WHERE batch = = 1`, false],
    ['VACUUM "db"."usage_rollup" RETAIN 7 DAYS', false],
  ])("reads Athena's Iceberg maintenance statement %s (accepted: %s)", (sql, ok) => {
    expect(syntaxErrors({ grammar: 'athena-iceberg-maintenance' }, sql).length === 0).toBe(ok);
  });

  it("reads Athena's UNLOAD by its documented shape, and refuses another (the check itself works)", () => {
    const q =
      "UNLOAD (SELECT a FROM t WHERE b = 1)\nTO 's3://b/p/'\nWITH (format = 'JSON', compression = 'GZIP')";
    expect(syntaxErrors({ grammar: 'athena-unload' }, q)).toEqual([]);
    expect(syntaxErrors({ grammar: 'athena-unload' }, q.replace("'JSON'", "'XML'")).length).toBe(1);
    expect(syntaxErrors({ grammar: 'athena-unload' }, q.replace('b = 1', 'b = = 1')).length).toBeGreaterThan(
      0,
    );
    expect(syntaxErrors({ grammar: 'athena-unload' }, q.replace('UNLOAD', 'UNLOAD INTO')).length).toBe(1);
  });

  it('Hive parses the DDL of each table the stack creates', () => {
    for (const d of ddl)
      expect(syntaxErrors(d, withoutIcebergPartitioning(d.build().sql)), d.name).toEqual([]);
  });

  it("takes Athena's Iceberg partition transforms out of the Hive grammar's way, and checks them on their own", () => {
    const rollup = ddl.find((d) => d.builder.endsWith('usage_rollup'))!.build().sql;
    // Hive's grammar has no rule for Athena's Iceberg partition transforms: the difference, named.
    expect(syntaxErrors(ddl[0]!, rollup).join('; ')).toMatch(/line \d+:\d+ '\(' is not valid/);
    const transforms = [...rollup.matchAll(/^PARTITIONED BY \((.*)\)$/gm)].flatMap((m) =>
      m[1]!.split(/,\s*/).map((t) => /^(\w+)\(/.exec(t)?.[1] ?? 'identity'),
    );
    expect(transforms).toEqual(['day', 'identity']);
    for (const t of transforms) expect(ATHENA_ICEBERG_TRANSFORMS).toContain(t);
  });
});

describe('the functions the statements call', () => {
  it('finds calls, including CAST and COALESCE written as syntax (the extraction works)', () => {
    expect(
      functionCalls(
        'SELECT coalesce(max_by(a, b), 0), CAST(x AS bigint), try(url_decode(k)) FROM t WHERE f(1) = ?',
      ),
    ).toEqual(['coalesce', 'max_by', 'cast', 'try', 'url_decode', 'f']);
  });

  it.each(ATHENA_STATEMENT_SAMPLES.map((s) => [s.name, s] as const))(
    '%s calls only functions Athena engine v3 documents (ATHENA_FUNCTIONS)',
    (_n, s) => {
      const sql = s.build().sql;
      const calls = functionCalls(
        s.grammar === 'athena-iceberg-maintenance'
          ? maintenanceAsSelect(sql)
          : s.grammar === 'athena-unload'
            ? unloadQuery(sql)
            : sql,
      );
      expect(calls.filter((f) => ATHENA_FUNCTIONS[f] === undefined)).toEqual([]);
    },
  );

  it('lists each function with a documented signature naming it', () => {
    for (const [name, f] of Object.entries(ATHENA_FUNCTIONS)) {
      expect(f.signatures.length, name).toBeGreaterThan(0);
      for (const s of f.signatures) expect(s.toLowerCase(), name).toMatch(new RegExp(`^${name}\\(.*\\)`));
    }
  });
});

describe('where Athena and the DuckDB stand-in differ', () => {
  const server = readFileSync(join(ROOT, 'test', 'support', 'athena-local-server.ts'), 'utf8');
  const macros = [...server.matchAll(/CREATE (?:OR REPLACE )?MACRO (\w+)\(/g)].map((m) => m[1]!).sort();
  const differing = Object.entries(ATHENA_FUNCTIONS).filter(([, f]) => f.duckdb.kind === 'macro');

  it('the stand-in translates exactly the functions ATHENA_FUNCTIONS marks as differing', () => {
    expect(macros.length).toBeGreaterThan(0);
    expect(macros).toEqual(differing.map(([name]) => name).sort());
  });

  it.each(
    differing.map(([name, f]) => [name, f.duckdb.kind === 'macro' ? f.duckdb.difference : ''] as const),
  )('%s: %s', (name, difference) => {
    expect(difference.length, name).toBeGreaterThan(20);
    expect(macros).toContain(name);
  });
});
