/**
 * Issue 5, AWS side: two executions of the same window at once (the nightly run and an ad hoc run a
 * person started), against the same rollup table and notice ledger. Their Athena statements are made
 * to interleave statement by statement. Each notice is sent at most once, and both reports state the
 * same totals as a run on its own. (Many runs racing for one ledger item is in
 * test/integration/dynamodb-ledger.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AthenaQueryRunner, type QueryOutcome } from '../../functions/adapters/athena/athena-client.js';
import type { SqlQuery } from '../../functions/adapters/athena/sql.js';
import type { Report } from '../../functions/domain/report.js';
import { type NotifyOutput, notify } from '../../functions/handlers/notify.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { type RollupOutput, rollup } from '../../functions/handlers/rollup.handler.js';
import { localAthenaClient } from '../support/aws-local-clients.js';
import { BATCHES, startWorld, TABLES, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
});

let world: World;

/**
 * Holds each runner's n-th statement until the other runner reached its n-th too (or a moment
 * passed), so that two runs' statements alternate: A1 B1 A2 B2 ...
 */
class Lockstep {
  private readonly arrivals = new Map<number, { count: number; release: () => void; done: Promise<void> }>();

  async arrive(ordinal: number): Promise<void> {
    let slot = this.arrivals.get(ordinal);
    if (!slot) {
      let release!: () => void;
      const done = new Promise<void>((resolve) => {
        release = resolve;
      });
      slot = { count: 0, release, done };
      this.arrivals.set(ordinal, slot);
    }
    slot.count += 1;
    if (slot.count >= 2) slot.release();
    await Promise.race([slot.done, new Promise((resolve) => setTimeout(resolve, 300))]);
  }
}

class LockstepRunner extends AthenaQueryRunner {
  private ordinal = 0;

  constructor(private readonly lockstep: Lockstep) {
    super(localAthenaClient(world.athena.endpoint), {
      workGroup: 'partner-audit',
      database: TABLES.database,
      sleep: async () => {},
      pollInitialMs: 1,
    });
  }

  override async run(query: SqlQuery, runId: string): Promise<QueryOutcome> {
    await this.lockstep.arrive(this.ordinal++);
    return super.run(query, runId);
  }
}

/** One execution's steps, with its own runner; notify and publish as the state machine runs them. */
async function execution(runId: string, runner: AthenaQueryRunner): Promise<Report> {
  const rollups: RollupOutput[] = [];
  for (const batch of BATCHES) rollups.push(await rollup(world.rollupDeps(runner), { batch, runId }));
  const evaluation = await world.evaluate(
    { runId, window: WINDOW, partners: [] },
    { deps: world.evaluateDeps(runner) },
  );
  const notifyResults: NotifyOutput[] = [];
  for (const { partnerId } of evaluation.partnersToNotify) {
    notifyResults.push(
      await notify(world.notifyDeps(), { runId, evaluationKey: evaluation.evaluationKey, partnerId }),
    );
  }
  const published = await publish(world.publishDeps(), {
    runId,
    evaluationKey: evaluation.evaluationKey,
    notifyResults,
    rollups,
  });
  return world.report(published.reportKey);
}

function figures(report: Report) {
  return report.partners.map((p) => ({
    partnerId: p.partnerId,
    periods: p.periods.map(({ notices: _notices, ...period }) => period),
  }));
}

beforeAll(async () => {
  world = await startWorld(9);
});

afterAll(async () => {
  await world?.stop();
});

describe('two executions of the same window at once', () => {
  it('send each notice at most once and report the same totals as one run alone', async () => {
    const alone = await execution('alone', world.runner());
    const totals = await world.rollupTotals();
    const due = alone.notices.filter((n) => n.status === 'sent').map((n) => `${n.partnerId} ${n.level}`);
    expect(due.length).toBeGreaterThan(0);

    // Start again from nothing: no rollup rows, no ledger, no mail.
    await world.athena.sql(`DELETE FROM "${TABLES.database}"."${TABLES.rollupTable}"`);
    await world.clearLedger();
    await world.ses.clear();

    const lockstep = new Lockstep();
    const [nightly, adHoc] = await Promise.all([
      execution('nightly-2026-03-05', new LockstepRunner(lockstep)),
      execution('adhoc-q1-review', new LockstepRunner(lockstep)),
    ]);

    expect(await world.rollupTotals()).toEqual(totals);
    expect(figures(nightly)).toEqual(figures(alone));
    expect(figures(adHoc)).toEqual(figures(alone));

    const subjects = (await world.ses.emails()).map((e) => e.subject);
    expect(new Set(subjects).size).toBe(subjects.length);
    expect(subjects).toHaveLength(due.length);
    const sentBy = (r: Report) =>
      r.notices.filter((n) => n.status === 'sent').map((n) => `${n.partnerId} ${n.level}`);
    expect([...sentBy(nightly), ...sentBy(adHoc)].sort()).toEqual([...due].sort());
    const ledger = world.ledger();
    for (const n of alone.notices) {
      const entries = await ledger.entries(n.partnerId, n.periodId);
      expect(entries.map((e) => e.state)).toEqual(['sent']);
    }
  });
});
