/** `partner-audit generate`: a realistic synthetic data set with its ground truth. */

import { optionalDate, optionalPositiveInt, parseCommandArgs, requireString, UsageError } from './args.js';
import { generateDataset } from './generate/generator.js';
import { displayPath } from './paths.js';

const LAYOUTS = ['simple', 'partitioned', 'both'] as const;
type Layout = (typeof LAYOUTS)[number];

export async function runGenerateCommand(argv: string[]): Promise<number> {
  const v = parseCommandArgs('generate', argv, {
    out: { type: 'string' },
    partners: { type: 'string' },
    days: { type: 'string' },
    start: { type: 'string' },
    'requests-per-day': { type: 'string' },
    layout: { type: 'string' },
    gzip: { type: 'boolean' },
    networks: { type: 'boolean' },
    'no-networks': { type: 'boolean' },
    seed: { type: 'string' },
    lines: { type: 'string' },
  });
  const layout = (v.layout ?? 'both') as Layout;
  if (!LAYOUTS.includes(layout))
    throw new UsageError(`generate: --layout must be one of ${LAYOUTS.join(', ')}`);
  const lines = optionalPositiveInt('generate', 'lines', v.lines);
  // Declared networks are on unless `--no-networks` (the generator's own default, for the library's
  // callers, stays off: data sets both engines audit keep their registry).
  if (v.networks === true && v['no-networks'] === true)
    throw new UsageError('generate: --networks and --no-networks cannot both be given');
  const networks = v['no-networks'] !== true;
  const summary = await generateDataset({
    outDir: requireString('generate', 'out', v.out),
    partners: optionalPositiveInt('generate', 'partners', v.partners),
    days: optionalPositiveInt('generate', 'days', v.days) ?? 28,
    start: optionalDate('generate', 'start', v.start) ?? '2026-11-01',
    requestsPerDay: optionalPositiveInt('generate', 'requests-per-day', v['requests-per-day']),
    layout,
    gzip: v.gzip ?? false,
    networks,
    seed: optionalPositiveInt('generate', 'seed', v.seed),
    singleFile: lines === undefined ? undefined : { lines },
  });
  process.stdout.write(
    `Generated ${summary.lines} log lines in ${summary.files} files under ${displayPath(summary.logsDir)}\n` +
      `Registry: ${displayPath(summary.registryPath)}\nGround truth: ${displayPath(summary.groundTruthPath)}\n`,
  );
  return 0;
}
