/**
 * `partner-audit holdings --partner ID --from YYYY-MM-DD --to YYYY-MM-DD --registry <file> [--db <file>]
 * [--json | --csv]`: the holdings statement of a partner from the local state (what earlier audits or
 * ingests read), attributed with the registry given (functions/domain/HOLDINGS.md).
 */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DuckDbState } from '../adapters/duckdb/index.js';
import { HoldingsRequestError, readHoldings } from '../audit/read-holdings.js';
import { holdingsToCsv } from '../domain/holdings-csv.js';
import { holdingsStatementText } from '../render/holdings-text.js';
import { optionalDate, parseCommandArgs, requireString, UsageError } from './args.js';
import { loadRegistry } from './registry-file.js';

export async function runHoldingsCommand(argv: string[]): Promise<number> {
  const v = parseCommandArgs('holdings', argv, {
    partner: { type: 'string', multiple: true },
    from: { type: 'string' },
    to: { type: 'string' },
    registry: { type: 'string' },
    db: { type: 'string' },
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
  });
  const from = optionalDate('holdings', 'from', v.from);
  const to = optionalDate('holdings', 'to', v.to);
  if (from === undefined || to === undefined) {
    throw new UsageError('holdings: --from YYYY-MM-DD and --to YYYY-MM-DD are required');
  }
  if (v.json === true && v.csv === true)
    throw new UsageError('holdings: --json and --csv exclude each other');
  const { registry } = await loadRegistry(requireString('holdings', 'registry', v.registry));
  const dbPath = resolve(v.db ?? join('audit-output', 'state.duckdb'));
  try {
    await access(dbPath);
  } catch {
    throw new UsageError(`holdings: --db ${dbPath}: no state file there (run audit or ingest first)`);
  }
  const state = await DuckDbState.open(dbPath);
  let section: Awaited<ReturnType<typeof readHoldings>>;
  try {
    if (!(await state.holdings.kept())) {
      throw new UsageError(
        `holdings: --db ${dbPath} keeps no holdings: set \`settings.holdings: true\` in the registry ` +
          'and run ingest (or audit) again; the state is then rebuilt once from its logs with holdings',
      );
    }
    section = await readHoldings(
      { registry, holdings: state.holdings },
      { from, to, ...(v.partner === undefined ? {} : { partners: v.partner }) },
    );
  } catch (e) {
    if (e instanceof HoldingsRequestError) throw new UsageError(`holdings: --${e.message}`);
    throw e;
  } finally {
    await state.close();
  }
  if (v.json === true) process.stdout.write(`${JSON.stringify(section, null, 2)}\n`);
  else if (v.csv === true) process.stdout.write(holdingsToCsv(section));
  else process.stdout.write(holdingsStatementText(section));
  return 0;
}
