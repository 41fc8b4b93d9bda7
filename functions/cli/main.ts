/**
 * `partner-audit`: the local command line. Parses arguments, wires adapters, calls the use cases.
 * Errors are one clear line on stderr and a non-zero exit, never a stack trace (set DEBUG=1 for one).
 */
import { resolve } from 'node:path';
import { systemClock } from '../audit/system-clock.js';
import { UsageError } from './args.js';

const HELP = `partner-audit: audit partners' S3 data usage against their contracts

Usage:
  partner-audit audit --logs <path> [--logs <path> ...] --registry <file> [options]
      --out <dir>          where report.json, usage.csv and outbox/ go (default ./audit-output)
      --db <file>          DuckDB state reused between runs (default <out>/state.duckdb)
      --partner <id>       audit only this partner (repeatable)
      --from YYYY-MM-DD    first local date of the window, in each partner's time zone
                           (default: the first day of the newest data's month, or of the month
                           before while the newest data is within --settling-days of its end)
      --to YYYY-MM-DD      first local date after the window, exclusive (default: today, UTC, with --from);
                           figures are as of the end of the window or of the data, whichever is first
      --dry-run            compute and render notices to <out>/previews without recording or sending
      --reason <text>      why this audit was run, kept in the report
      --settling-days N    days a closed month keeps being evaluated for late-delivered logs before
                           its figures are final (default 3)
      --quiet              no progress output
  partner-audit ingest --logs <path> [--logs <path> ...] --registry <file> --db <file> [--workers N] [--json]
                         read log files into the DuckDB state only (a later audit with the same --db
                         finds them ingested); --workers 0 reads on the main thread
  partner-audit generate --out <dir> [--partners N] [--days N] [--start YYYY-MM-DD] [--requests-per-day N]
                         [--layout simple|partitioned|both] [--gzip] [--no-networks] [--seed N] [--lines N]
                         write synthetic logs, registry and ground truth; the applications declare
                         networks unless --no-networks
  partner-audit demo [--out <dir>] [--today YYYY-MM-DD]
                         generate a month to date of logs, audit it, print a summary (default
                         ./demo-output); --today pins the date the demo takes as today (UTC)
  partner-audit holdings --partner <id> --from YYYY-MM-DD --to YYYY-MM-DD --registry <file> [--db <file>]
                         [--json | --csv]
                         the holdings statement: distinct objects the partner read, their bytes and
                         records, first and last retrieval, re-download ratio (default --db
                         ./audit-output/state.duckdb)
  partner-audit report --run <dir|report.json> [--out <file.html>] [--partner <id>]
                         render the HTML audit report of a run
  partner-audit verify <bundle dir> [--head <sha256>]
                         check a run's evidence bundle (runs/<run id>/) against its hash-chained manifest;
                         with PARTNER_AUDIT_SIGNING_KEY set, also its HMAC signature
  partner-audit help
`;

/**
 * Runs one command and resolves to its exit code. Each command's module is imported only when that
 * command runs: eager imports made every command, even `help`, load the graphs of all the others
 * (DuckDB, zod, the report and evidence modules), most of the start-up time of a short run.
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'audit':
      return (await import('./audit-command.js')).runAuditCommand(rest, systemClock);
    case 'generate':
      return (await import('./generate-command.js')).runGenerateCommand(rest);
    case 'ingest':
      return (await import('./ingest-command.js')).runIngestCommand(rest);
    case 'demo':
      return (await import('./demo-command.js')).runDemoCommand(rest, systemClock);
    case 'report':
      return (await import('./report-command.js')).runReportCommand(rest);
    case 'holdings':
      return (await import('./holdings-command.js')).runHoldingsCommand(rest);
    case 'verify':
      return (await import('./verify-command.js')).runVerifyCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      throw new UsageError(
        `unknown command "${command}" (commands: audit, ingest, generate, demo, holdings, report, verify, help)`,
      );
  }
}

async function oneLine(error: unknown): Promise<{ message: string; code: number }> {
  if (error instanceof UsageError) return { message: error.message, code: 2 };
  // Only a command that read a registry can have thrown a RegistryError, and it has loaded the module
  // then: importing it here costs nothing on that path, and spares every other command zod and yaml.
  const { RegistryError } = await import('../domain/registry.js');
  if (error instanceof RegistryError) return { message: error.message, code: 2 };
  const e = error as Error;
  return { message: `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`, code: 1 };
}

/**
 * Runs the command line as its process: the exit code goes to `process.exitCode`, an error to stderr
 * as one line. What main.ts does as the entry point, and what bin/partner-audit.mjs calls.
 */
export async function runAsProcess(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    const { message, code } = await oneLine(error);
    process.stderr.write(`partner-audit: ${message}\n`);
    if (process.env.DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = code;
  }
}

const isEntry = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isEntry) void runAsProcess(process.argv.slice(2));
