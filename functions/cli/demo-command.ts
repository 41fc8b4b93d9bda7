/**
 * `partner-audit demo`: what a new user runs first. Generates a month of realistic logs for a few
 * partners (under, near, over and far over their limits), audits them on the embedded engine and
 * prints where the notices and the report are. Running it again shows that nothing is counted or
 * sent twice.
 */
import { join } from 'node:path';
import type { Clock } from '../ports.js';
import { optionalDate, parseCommandArgs } from './args.js';
import { generateDataset } from './generate/generator.js';
import { runLocalAudit } from './local-audit.js';
import { displayPath } from './paths.js';
import { stderrProgress } from './progress.js';
import { printSummary } from './summary.js';

/**
 * The demo's month: this month up to yesterday (UTC), or all of last month on the 1st. The logs start
 * one UTC day before the month, so that the month of every partner begins inside them, also in the
 * zones east of UTC whose month begins on the last UTC day of the one before (Kolkata at 18:30).
 */
export function demoSpan(now: Date): { start: string; days: number } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const day = now.getUTCDate();
  const monthOffset = day > 1 ? 0 : -1;
  const start = new Date(Date.UTC(y, m + monthOffset, 0)).toISOString().slice(0, 10);
  const days = day > 1 ? day : new Date(Date.UTC(y, m, 0)).getUTCDate() + 1;
  return { start, days };
}

/** `--today` pins the demo's clock (at 06:00 UTC, when a nightly run would have finished). */
function demoClock(today: string | undefined, clock: Clock): Clock {
  if (today === undefined) return clock;
  const at = new Date(`${today}T06:00:00Z`);
  return { now: () => at };
}

export async function runDemoCommand(argv: string[], clock: Clock): Promise<number> {
  const v = parseCommandArgs('demo', argv, {
    out: { type: 'string' },
    quiet: { type: 'boolean' },
    today: { type: 'string' },
  });
  const outDir = v.out ?? 'demo-output';
  const now = demoClock(optionalDate('demo', 'today', v.today), clock);
  const span = demoSpan(now.now());
  process.stdout.write(
    `Generating ${span.days} days of S3 access logs from ${span.start} into ${displayPath(join(outDir, 'data'))} ...\n`,
  );
  const data = await generateDataset({
    outDir: join(outDir, 'data'),
    start: span.start,
    days: span.days,
    layout: 'both',
    // The demo is small: it keeps holdings (settings.holdings) so that a newcomer sees the statement.
    holdings: true,
  });
  process.stdout.write(
    `  ${data.lines} lines in ${data.files} log objects; registry ${displayPath(data.registryPath)}\n`,
  );
  process.stdout.write('Auditing on the embedded engine (DuckDB) ...\n');
  const result = await runLocalAudit({
    logs: [data.logsDir],
    registryPath: data.registryPath,
    outDir,
    dryRun: false,
    reason: 'demo',
    clock: now,
    progress: stderrProgress(!(v.quiet ?? false)),
  });
  printSummary(result);
  process.stdout.write(
    `Ground truth of the generated data: ${displayPath(data.groundTruthPath)}\n` +
      'Run "npm run demo" again: the same files are skipped and no notice is sent twice.\n',
  );
  return 0;
}
