import { describe, expect, it } from 'vitest';
import { UsageError } from '../../functions/cli/args.js';
import { runAuditCommand } from '../../functions/cli/audit-command.js';
import { localDefaultWindow } from '../../functions/cli/local-audit.js';
import { SLOT_MS } from '../../functions/domain/usage.js';

const clock = { now: () => new Date('2026-06-15T12:00:00Z') };
/** The rollup's extent: its newest slot starts at `iso`. */
const newest = (iso: string) => ({ maxMs: Date.parse(iso) - SLOT_MS });

describe('localDefaultWindow (the CLI without --from/--to)', () => {
  it.each([
    // [newest data ends at, settling days, window]
    ['2026-04-20T00:00:00Z', 3, { from: '2026-04-01', to: '2026-05-01' }],
    // Within settlingDays (+ a day for zones west of UTC) of March's end: March is evaluated again.
    ['2026-04-02T06:00:00Z', 3, { from: '2026-03-01', to: '2026-05-01' }],
    ['2026-04-04T23:45:00Z', 3, { from: '2026-03-01', to: '2026-05-01' }],
    ['2026-04-05T00:15:00Z', 3, { from: '2026-04-01', to: '2026-05-01' }],
    // No settling: March stays only until it has ended at UTC-12 too.
    ['2026-04-01T06:00:00Z', 0, { from: '2026-03-01', to: '2026-05-01' }],
    ['2026-04-02T06:00:00Z', 0, { from: '2026-04-01', to: '2026-05-01' }],
    ['2026-04-02T06:00:00Z', 1, { from: '2026-03-01', to: '2026-05-01' }],
    ['2026-04-03T06:00:00Z', 1, { from: '2026-04-01', to: '2026-05-01' }],
    ['2027-01-01T12:00:00Z', 3, { from: '2026-12-01', to: '2027-02-01' }],
  ])('newest data to %s, settling %i days: %j', (end, settlingDays, window) => {
    expect(localDefaultWindow(newest(end), clock, settlingDays)).toEqual(window);
  });

  it('starts from how far the data reached before the run read its new files', () => {
    // Last run's data ended 3 April (March not final yet at UTC-12); today's files reach 12 April.
    expect(
      localDefaultWindow(newest('2026-04-12T00:00:00Z'), clock, 3, newest('2026-04-03T00:00:00Z')),
    ).toEqual({ from: '2026-03-01', to: '2026-05-01' });
    // Without new files the window is the same as the last run's.
    expect(
      localDefaultWindow(newest('2026-04-03T00:00:00Z'), clock, 3, newest('2026-04-03T00:00:00Z')),
    ).toEqual({ from: '2026-03-01', to: '2026-05-01' });
  });

  it('uses the clock when there is no data at all', () => {
    expect(localDefaultWindow(undefined, clock, 3)).toEqual({ from: '2026-06-01', to: '2026-07-01' });
  });
});

describe('partner-audit audit --settling-days', () => {
  it.each(['32', '400', '2.5', 'three'])(
    'refuses %s with a usage error that names the option',
    async (value) => {
      await expect(
        runAuditCommand(['--logs', 'none', '--registry', 'none.yaml', '--settling-days', value], clock),
      ).rejects.toThrow(
        new UsageError(`audit: --settling-days must be a whole number of days from 0 to 31, got "${value}"`),
      );
    },
  );
});
