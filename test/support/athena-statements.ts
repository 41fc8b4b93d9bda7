/**
 * Every SQL text the AWS side can send to Athena, built with sample arguments, for the tests that read
 * them with a grammar (test/infra/athena-sql-grammar.test.ts):
 * - ATHENA_STATEMENT_SAMPLES: each statement builder of functions/adapters/athena/sql.ts, in each
 *   shape it can take (with and without a manifest table). The test fails while an exported builder
 *   (a function whose name ends in `Sql`) has no entry here, so a new builder is added here with
 *   sample arguments: `{ builder: 'myNewSql', name: '...', grammar: 'trino', build: () => myNewSql(...) }`.
 * - glueTableDdl: the Glue tables the stack creates (lib/constructs: logs, manifest and rollup
 *   tables), written as the Athena DDL that creates the same table. The stack creates them through
 *   CloudFormation, not DDL; the text is what an operator would run to recreate one by hand, and it
 *   shows that the names, types, SerDe properties and locations the stack uses are expressible in
 *   Athena's DDL (Hive grammar for DDL, as Athena runs DDL on Hive).
 */
import type { Template } from 'aws-cdk-lib/assertions';
import {
  type AthenaTables,
  clearBatchSql,
  forgetRequestIdsSql,
  insertBatchRollupSql,
  readInputSql,
  readLastSlotSql,
  readUsageSql,
  replaceBatchRollupSql,
  type SqlQuery,
} from '../../functions/adapters/athena/sql.js';
import {
  unloadHeldDatasetsSql,
  unloadHeldDaysSql,
  unloadNetworkFindingsSql,
  unloadPartnerDailyUsageSql,
  unloadUnattributedUsageSql,
} from '../../functions/adapters/athena/unload-sql.js';
import {
  type HoldingsTables,
  heldDatasetsSql,
  heldDaysSql,
  TRINO_HOLDINGS,
} from '../../functions/adapters/sql/holdings-sql.js';
import { networkFindingsSql } from '../../functions/adapters/sql/network-findings-sql.js';
import {
  type AggregationTables,
  attributionSql,
  partnerDailyUsageSql,
  TRINO,
  unattributedUsageSql,
} from '../../functions/adapters/sql/usage-aggregation-sql.js';
import { addGrainColumnsDdl } from '../../lib/constructs/rollup-table.js';

export interface AthenaStatementSample {
  /** What the sample shows, e.g. `replaceBatchRollupSql with a manifest table`. */
  readonly name: string;
  /** The sql.ts builder it comes from (or `lib: <table>` for table DDL). */
  readonly builder: string;
  /**
   * `trino` for what Athena runs on its engine v3, `hive` for DDL, `athena-iceberg-maintenance` for
   * Athena's own OPTIMIZE ... REWRITE DATA USING BIN_PACK [WHERE ...] and VACUUM, which no Trino or
   * Hive grammar has: the test checks their shape and parses their table and predicate with Trino;
   * `athena-unload` for Athena's UNLOAD (<query>) TO 's3://...' WITH (...), whose shape and properties
   * the test checks and whose query it parses with Trino.
   */
  readonly grammar: 'trino' | 'hive' | 'athena-iceberg-maintenance' | 'athena-unload';
  readonly build: () => SqlQuery;
}

export const SAMPLE_TABLES: AthenaTables = {
  database: 'partner_audit',
  logsTable: 'access_logs',
  rollupTable: 'usage_rollup',
};
const WITH_MANIFEST: AthenaTables = { ...SAMPLE_TABLES, manifestTable: 'dataset_manifest' };
const MARCH = { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 3, 1) };
/** The rollup and the registry's tables (lib/constructs/registry-tables.ts) the aggregation reads. */
export const SAMPLE_AGGREGATION_TABLES: AggregationTables = {
  database: 'partner_audit',
  rollup: 'usage_rollup',
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
};

/** On AWS the holdings are the rollup table's held grain. */
export const SAMPLE_HOLDINGS_TABLES: HoldingsTables = {
  ...SAMPLE_AGGREGATION_TABLES,
  holdings: SAMPLE_AGGREGATION_TABLES.rollup,
};

export const ATHENA_STATEMENT_SAMPLES: readonly AthenaStatementSample[] = [
  {
    builder: 'replaceBatchRollupSql',
    name: 'replaceBatchRollupSql (the nightly MERGE) without a manifest',
    grammar: 'trino',
    build: () => replaceBatchRollupSql(SAMPLE_TABLES, '2026/03/14', { datasetDepth: 2 }),
  },
  {
    builder: 'replaceBatchRollupSql',
    name: 'replaceBatchRollupSql (the nightly MERGE) with a manifest table',
    grammar: 'trino',
    build: () => replaceBatchRollupSql(WITH_MANIFEST, '2026/03/14', { datasetDepth: 3 }),
  },
  {
    builder: 'replaceBatchRollupSql',
    name: 'replaceBatchRollupSql with holdings (the held grain) and a manifest table',
    grammar: 'trino',
    build: () => replaceBatchRollupSql(WITH_MANIFEST, '2026/03/14', { datasetDepth: 2, holdings: true }),
  },
  {
    builder: 'replaceBatchRollupSql',
    name: 'replaceBatchRollupSql with holdings (the held grain) without a manifest',
    grammar: 'trino',
    build: () => replaceBatchRollupSql(SAMPLE_TABLES, '2026/03/14', { datasetDepth: 2, holdings: true }),
  },
  {
    builder: 'insertBatchRollupSql',
    name: 'insertBatchRollupSql without a manifest',
    grammar: 'trino',
    build: () => insertBatchRollupSql(SAMPLE_TABLES, '2026/03/14', { datasetDepth: 2 }),
  },
  {
    builder: 'insertBatchRollupSql',
    name: 'insertBatchRollupSql with a manifest table',
    grammar: 'trino',
    build: () => insertBatchRollupSql(WITH_MANIFEST, '2026/03/14', { datasetDepth: 1 }),
  },
  {
    builder: 'clearBatchSql',
    name: 'clearBatchSql',
    grammar: 'trino',
    build: () => clearBatchSql(SAMPLE_TABLES, '2026/03/14'),
  },
  {
    builder: 'readInputSql',
    name: 'readInputSql',
    grammar: 'trino',
    build: () => readInputSql(SAMPLE_TABLES, '2026/02/28', '2026/04/01'),
  },
  {
    builder: 'readUsageSql',
    name: 'readUsageSql',
    grammar: 'trino',
    build: () => readUsageSql(SAMPLE_TABLES, MARCH),
  },
  {
    builder: 'forgetRequestIdsSql',
    name: 'forgetRequestIdsSql',
    grammar: 'trino',
    build: () => forgetRequestIdsSql(SAMPLE_TABLES, Date.UTC(2026, 2, 1)),
  },
  {
    builder: 'readLastSlotSql',
    name: 'readLastSlotSql',
    grammar: 'trino',
    build: () => readLastSlotSql(SAMPLE_TABLES, MARCH),
  },
  {
    builder: 'attributionSql',
    name: 'attributionSql (usage-aggregation-sql.ts, Trino dialect)',
    grammar: 'trino',
    build: () => attributionSql(TRINO, SAMPLE_AGGREGATION_TABLES, MARCH),
  },
  {
    builder: 'partnerDailyUsageSql',
    name: 'partnerDailyUsageSql (usage-aggregation-sql.ts, Trino dialect)',
    grammar: 'trino',
    build: () =>
      partnerDailyUsageSql(TRINO, SAMPLE_AGGREGATION_TABLES, {
        range: MARCH,
        fromDate: '2026-03-01',
        toDate: '2026-04-01',
      }),
  },
  {
    builder: 'unattributedUsageSql',
    name: 'unattributedUsageSql (usage-aggregation-sql.ts, Trino dialect)',
    grammar: 'trino',
    build: () => unattributedUsageSql(TRINO, SAMPLE_AGGREGATION_TABLES, { range: MARCH, top: 50 }),
  },
  {
    builder: 'unloadPartnerDailyUsageSql',
    name: 'unloadPartnerDailyUsageSql (unload-sql.ts: the daily sums UNLOADed by partner)',
    grammar: 'athena-unload',
    build: () =>
      unloadPartnerDailyUsageSql(
        SAMPLE_AGGREGATION_TABLES,
        { range: MARCH, fromDate: '2026-03-01', toDate: '2026-04-01' },
        's3://partner-audit-reports/runs/r1/aggregate/daily/',
      ),
  },
  {
    builder: 'unloadUnattributedUsageSql',
    name: 'unloadUnattributedUsageSql (unload-sql.ts: the unattributed pairs UNLOADed)',
    grammar: 'athena-unload',
    build: () =>
      unloadUnattributedUsageSql(
        SAMPLE_AGGREGATION_TABLES,
        { range: MARCH, top: Number.MAX_SAFE_INTEGER },
        's3://partner-audit-reports/runs/r1/aggregate/unattributed/',
      ),
  },
  {
    builder: 'heldDatasetsSql',
    name: 'heldDatasetsSql (holdings-sql.ts, Trino dialect, one partner)',
    grammar: 'trino',
    build: () =>
      heldDatasetsSql(TRINO_HOLDINGS, SAMPLE_HOLDINGS_TABLES, {
        range: MARCH,
        fromDate: '2026-03-01',
        toDate: '2026-04-01',
        partnerId: 'acme',
      }),
  },
  {
    builder: 'heldDaysSql',
    name: 'heldDaysSql (holdings-sql.ts, Trino dialect)',
    grammar: 'trino',
    build: () =>
      heldDaysSql(TRINO_HOLDINGS, SAMPLE_HOLDINGS_TABLES, {
        range: MARCH,
        fromDate: '2026-03-01',
        toDate: '2026-04-01',
      }),
  },
  {
    builder: 'unloadHeldDatasetsSql',
    name: 'unloadHeldDatasetsSql (unload-sql.ts: what each partner holds, UNLOADed by partner)',
    grammar: 'athena-unload',
    build: () =>
      unloadHeldDatasetsSql(
        SAMPLE_HOLDINGS_TABLES,
        { range: MARCH, fromDate: '2026-03-01', toDate: '2026-04-01' },
        's3://partner-audit-reports/runs/r1/aggregate/held/',
      ),
  },
  {
    builder: 'unloadHeldDaysSql',
    name: 'unloadHeldDaysSql (unload-sql.ts: distinct objects first read per day, UNLOADed by partner)',
    grammar: 'athena-unload',
    build: () =>
      unloadHeldDaysSql(
        SAMPLE_HOLDINGS_TABLES,
        { range: MARCH, fromDate: '2026-03-01', toDate: '2026-04-01' },
        's3://partner-audit-reports/runs/r1/aggregate/held-days/',
      ),
  },
  {
    builder: 'networkFindingsSql',
    name: "networkFindingsSql (network-findings-sql.ts, Trino dialect: the rollup table's network grain)",
    grammar: 'trino',
    build: () =>
      networkFindingsSql(
        TRINO,
        { ...SAMPLE_AGGREGATION_TABLES, networks: 'registry_networks' },
        { fromDate: '2026-03-01', toDate: '2026-04-01' },
      ),
  },
  {
    builder: 'unloadNetworkFindingsSql',
    name: 'unloadNetworkFindingsSql (unload-sql.ts: the network findings UNLOADed by partner)',
    grammar: 'athena-unload',
    build: () =>
      unloadNetworkFindingsSql(
        { ...SAMPLE_AGGREGATION_TABLES, networks: 'registry_networks' },
        { fromDate: '2026-03-01', toDate: '2026-04-01' },
        's3://partner-audit-reports/runs/r1/aggregate/network/',
      ),
  },
  {
    builder: 'lib: addGrainColumnsDdl',
    name: 'ALTER TABLE ADD COLUMNS that brings a rollup table from before the grains to ROLLUP_COLUMNS',
    grammar: 'hive',
    build: () => ({ sql: addGrainColumnsDdl('partner_audit', 'usage_rollup'), params: [] }),
  },
];

// ---------------------------------------------------------------------------------------------
// The stack's Glue tables as Athena DDL

/** A plausible value for a CloudFormation reference in a table's properties. */
function plausible(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
  if (v['Fn::Join']) return v['Fn::Join'][1].map(plausible).join(v['Fn::Join'][0]);
  if (v.Ref === 'AWS::AccountId') return '123456789012';
  if (v.Ref === 'AWS::Region') return 'eu-central-1';
  if (v.Ref === 'AWS::Partition') return 'aws';
  // A bucket the stack creates: its name is generated from the logical id.
  if (v.Ref) return `${v.Ref.toLowerCase()}-bucket`;
  throw new Error(`no plausible value for ${JSON.stringify(value)}`);
}

/** A Hive string literal: backslash and quote escaped, as Hive's lexer reads them. */
function hiveString(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function hiveName(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** Iceberg schema types as Athena DDL names them. */
const ICEBERG_TO_ATHENA: Readonly<Record<string, string>> = {
  long: 'bigint',
  int: 'int',
  string: 'string',
  timestamp: 'timestamp',
  double: 'double',
  boolean: 'boolean',
  date: 'date',
};

interface GlueTableProperties {
  readonly DatabaseName: string;
  readonly TableInput: {
    readonly Name: string;
    readonly Parameters?: Record<string, unknown>;
    readonly PartitionKeys?: readonly { Name: string; Type: string }[];
    readonly StorageDescriptor?: {
      readonly Columns: readonly { Name: string; Type: string }[];
      readonly Location?: unknown;
      readonly InputFormat?: string;
      readonly OutputFormat?: string;
      readonly SerdeInfo?: { SerializationLibrary?: string; Parameters?: Record<string, unknown> };
    };
  };
  readonly OpenTableFormatInput?: {
    readonly IcebergInput?: {
      readonly IcebergTableInput: {
        readonly Location: unknown;
        readonly Schema: { readonly Fields: readonly { Name: string; Type: string }[] };
        readonly PartitionSpec?: { readonly Fields: readonly { SourceId: number; Transform: string }[] };
      };
    };
  };
}

/** `CREATE EXTERNAL TABLE` (Hive SerDe tables) or `CREATE TABLE ... 'table_type'='ICEBERG'`. */
function ddlOf(p: GlueTableProperties): string {
  const name = `${hiveName(p.DatabaseName)}.${hiveName(p.TableInput.Name)}`;
  const iceberg = p.OpenTableFormatInput?.IcebergInput?.IcebergTableInput;
  if (iceberg) {
    const fields = iceberg.Schema.Fields;
    const columns = fields.map((f) => {
      const type = ICEBERG_TO_ATHENA[f.Type];
      if (type === undefined) throw new Error(`Iceberg type ${f.Type} has no Athena DDL name here`);
      return `  ${hiveName(f.Name)} ${type}`;
    });
    const partitions = (iceberg.PartitionSpec?.Fields ?? []).map((f) => {
      const source = fields[f.SourceId - 1];
      if (!source) throw new Error(`partition field on unknown source id ${f.SourceId}`);
      return f.Transform === 'identity' ? hiveName(source.Name) : `${f.Transform}(${hiveName(source.Name)})`;
    });
    return [
      `CREATE TABLE ${name} (\n${columns.join(',\n')})`,
      ...(partitions.length > 0 ? [`PARTITIONED BY (${partitions.join(', ')})`] : []),
      `LOCATION ${hiveString(plausible(iceberg.Location))}`,
      `TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='zstd')`,
    ].join('\n');
  }
  const sd = p.TableInput.StorageDescriptor;
  if (!sd) throw new Error(`table ${p.TableInput.Name} has no storage descriptor`);
  const serde = sd.SerdeInfo;
  const serdeProperties = Object.entries(serde?.Parameters ?? {}).map(
    ([k, v]) => `${hiveString(k)}=${hiveString(plausible(v))}`,
  );
  const tableProperties = Object.entries(p.TableInput.Parameters ?? {})
    .filter(([k]) => k !== 'EXTERNAL')
    .map(([k, v]) => `${hiveString(k)}=${hiveString(plausible(v))}`);
  return [
    `CREATE EXTERNAL TABLE ${name} (\n${sd.Columns.map((c) => `  ${hiveName(c.Name)} ${c.Type}`).join(',\n')})`,
    ...(p.TableInput.PartitionKeys?.length
      ? [
          `PARTITIONED BY (${p.TableInput.PartitionKeys.map((k) => `${hiveName(k.Name)} ${k.Type}`).join(', ')})`,
        ]
      : []),
    ...(serde?.SerializationLibrary ? [`ROW FORMAT SERDE ${hiveString(serde.SerializationLibrary)}`] : []),
    ...(serdeProperties.length > 0 ? [`WITH SERDEPROPERTIES (${serdeProperties.join(', ')})`] : []),
    ...(sd.InputFormat && sd.OutputFormat
      ? [`STORED AS INPUTFORMAT ${hiveString(sd.InputFormat)} OUTPUTFORMAT ${hiveString(sd.OutputFormat)}`]
      : []),
    `LOCATION ${hiveString(plausible(sd.Location ?? p.TableInput.Parameters?.['storage.location.template']))}`,
    ...(tableProperties.length > 0 ? [`TBLPROPERTIES (${tableProperties.join(', ')})`] : []),
  ].join('\n');
}

/** The DDL of every Glue table in a synthesised template, one sample per table. */
export function glueTableDdl(template: Template): AthenaStatementSample[] {
  return Object.values(template.findResources('AWS::Glue::Table')).map((resource) => {
    const p = resource.Properties as GlueTableProperties;
    return {
      builder: `lib: Glue table ${p.TableInput.Name}`,
      name: `DDL of the ${p.TableInput.Name} table`,
      grammar: 'hive',
      build: () => ({ sql: ddlOf(p), params: [] }),
    };
  });
}
