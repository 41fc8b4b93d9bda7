/**
 * Bad command lines, run as a user runs them: one clear line on stderr, exit code 2 for a usage
 * error and 1 for a failure, never a stack trace, and no audit started on a mistyped command.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, smallDataset, tempDir } from './helpers.js';

const root = tempDir('cli');
/** Where usage errors are told to write: it must never appear. */
const usageOut = join(root, 'usage-out');
let registry = '';
let logs = '';

beforeAll(async () => {
  const data = await smallDataset(join(root, 'data'));
  registry = data.registryPath;
  logs = data.logsDir;
  writeFileSync(join(root, 'not-a-db.duckdb'), 'this is not a database\n');
});

/** Arguments with placeholders, filled in once the data set exists. */
type Case = [name: string, args: string[], code: 1 | 2, message: RegExp];

const cases: Case[] = [
  ['an unknown command', ['frobnicate'], 2, /unknown command "frobnicate"/],
  [
    'an unknown flag',
    ['audit', '--bogus', '--logs', '@logs', '--registry', '@reg'],
    2,
    /Unknown option '--bogus'/,
  ],
  ['a flag without its value', ['audit', '--registry', '@reg', '--logs'], 2, /Option '--logs/],
  ['no --logs', ['audit', '--registry', '@reg'], 2, /--logs <path> is required/],
  ['no --registry', ['audit', '--logs', '@logs'], 2, /--registry is required/],
  [
    'a month 13',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--from', '2026-13-01'],
    2,
    /--from must be a date YYYY-MM-DD/,
  ],
  [
    'a 30 February',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--to', '2026-02-30'],
    2,
    /--to must be a date/,
  ],
  [
    'an injected date',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--from', "2026-03-01' OR 1=1 --"],
    2,
    /--from must be a date/,
  ],
  [
    '--from after --to',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--from', '2026-03-05', '--to', '2026-03-01'],
    2,
    /--from \(2026-03-05\) must be before --to \(2026-03-01\)/,
  ],
  [
    'a missing registry',
    ['audit', '--logs', '@logs', '--registry', '@root/nope.yaml'],
    2,
    /cannot read the registry .*nope\.yaml: ENOENT/,
  ],
  [
    'a missing logs path',
    ['audit', '--logs', '@root/no-such-logs', '--registry', '@reg'],
    1,
    /log path .*no-such-logs: does not exist/,
  ],
  [
    'an unknown partner',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--partner', 'nobody', '--quiet'],
    1,
    /no partner with id "nobody"/,
  ],
  [
    'a state file that is no database',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--db', '@root/not-a-db.duckdb', '--quiet'],
    1,
    /not-a-db\.duckdb.*not a valid DuckDB database/,
  ],
  [
    'an output folder under a file',
    ['audit', '--logs', '@logs', '--registry', '@reg', '--out', '@root/not-a-db.duckdb/out'],
    1,
    /ENOTDIR/,
  ],
  [
    'generate with words for days',
    ['generate', '--out', '@out', '--days', 'many'],
    2,
    /--days must be a positive whole number/,
  ],
];

describe('the CLI given bad arguments', () => {
  it.concurrent.each(cases)(
    'refuses %s: one line on stderr, no stack trace',
    async (name, template, code, message) => {
      const args = template.map((a) =>
        a
          .replace('@logs', logs)
          .replace('@reg', registry)
          .replace('@root', root)
          .replace('@out', join(usageOut, 'generated')),
      );
      const hasOut = args.includes('--out');
      // Failures get a folder each: the runs go at once, and a shared state file would be locked.
      const failureOut = join(root, `out-${name.replace(/\W+/g, '-')}`);
      const r = await runCli(hasOut ? args : [...args, '--out', code === 2 ? usageOut : failureOut]);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(code);
      expect(r.stdout).toBe('');
      // Exactly one line, naming the program; no "    at file:line" frames of a stack trace.
      expect(r.stderr).toMatch(/^partner-audit: [^\n]+\n$/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stderr).toMatch(message);
    },
  );

  it('starts no audit for a usage error: the output folder is never created', () => {
    // Runs after the concurrent cases above; every usage error pointed --out at this folder.
    expect(existsSync(usageOut)).toBe(false);
  });
});
