/** `partner-audit audit`: one audit of local log files. */

import { RunWindowError } from '../audit/run-planner.js';
import { DEFAULT_SETTLING_DAYS, MAX_SETTLING_DAYS } from '../audit/run-window.js';
import type { Clock } from '../ports.js';
import { optionalDate, parseCommandArgs, requireString, UsageError } from './args.js';
import { runLocalAudit } from './local-audit.js';
import { stderrProgress } from './progress.js';
import { printSummary } from './summary.js';
import { signingKeyFrom } from './verify-command.js';

export async function runAuditCommand(argv: string[], clock: Clock): Promise<number> {
  const v = parseCommandArgs('audit', argv, {
    logs: { type: 'string', multiple: true },
    registry: { type: 'string' },
    out: { type: 'string' },
    db: { type: 'string' },
    partner: { type: 'string', multiple: true },
    from: { type: 'string' },
    to: { type: 'string' },
    'dry-run': { type: 'boolean' },
    reason: { type: 'string' },
    'settling-days': { type: 'string' },
    quiet: { type: 'boolean' },
  });
  const logs = v.logs ?? [];
  if (logs.length === 0)
    throw new UsageError('audit: --logs <path> is required (a file or a folder of log objects)');
  const from = optionalDate('audit', 'from', v.from);
  const to = optionalDate('audit', 'to', v.to);
  if (from && to && !(from < to)) throw new UsageError(`audit: --from (${from}) must be before --to (${to})`);
  const result = await runLocalAudit({
    logs,
    registryPath: requireString('audit', 'registry', v.registry),
    outDir: v.out ?? 'audit-output',
    dbPath: v.db,
    partners: v.partner,
    from,
    to,
    dryRun: v['dry-run'] ?? false,
    reason: v.reason,
    clock,
    progress: stderrProgress(!(v.quiet ?? false)),
    signingKey: signingKeyFrom(process.env),
    settlingDays: settlingDaysOption(v['settling-days']),
  }).catch((e: unknown) => {
    // A window the run planner refuses (a --from after today) is the user's to fix: exit 2.
    throw e instanceof RunWindowError ? new UsageError(`audit: ${e.message}`, { cause: e }) : e;
  });
  printSummary(result);
  return 0;
}

/** `--settling-days N`: 0 to MAX_SETTLING_DAYS whole days. */
function settlingDaysOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SETTLING_DAYS;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > MAX_SETTLING_DAYS) {
    throw new UsageError(
      `audit: --settling-days must be a whole number of days from 0 to ${MAX_SETTLING_DAYS}, got "${value}"`,
    );
  }
  return n;
}
