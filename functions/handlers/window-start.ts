/**
 * What the Evaluate and Aggregate steps do first, written once: record the rollup watermark, then find
 * where the window's data ends; and the delivery dates whose logs can hold the window's requests.
 */
import type { AthenaQueryRunner } from '../adapters/athena/athena-client.js';
import { AthenaUsageSource } from '../adapters/athena/athena-usage-source.js';
import type { AthenaTables } from '../adapters/athena/sql.js';
import { addDays, startOfLocalDate } from '../domain/time.js';
import type { Clock, RollupWatermark } from '../ports.js';
import { logger } from './observability.js';
import type { EvaluateInput } from './step-contracts.js';
import { runnerForStep, type StepContext } from './step-deadline.js';

export interface WindowStartDeps {
  readonly runner: AthenaQueryRunner;
  readonly tables: AthenaTables;
  readonly clock: Clock;
  /** Advanced to the plan's `advanceWatermarkTo`; without one nothing is recorded. */
  readonly watermark?: Pick<RollupWatermark, 'advance'>;
}

export interface WindowStart {
  /** The invocation's runner: every query shares its deadline, and a retry resumes them by their tokens. */
  readonly runner: AthenaQueryRunner;
  readonly usage: AthenaUsageSource;
  readonly dataEndMs: number | undefined;
}

export async function startWindow(
  deps: WindowStartDeps,
  input: EvaluateInput,
  context?: StepContext,
): Promise<WindowStart> {
  // The state machine runs the step only after every batch of the roll-up succeeded, so every
  // delivery date up to the plan's last one is rolled up now. Recorded first: an evaluation that
  // fails later does not undo the roll-up. Forward only, so a retry or an older run is a no-op.
  const advanceTo = input.settling?.advanceWatermarkTo;
  if (advanceTo && deps.watermark) {
    const moved = await deps.watermark.advance(advanceTo, {
      runId: input.runId,
      nowMs: deps.clock.now().getTime(),
    });
    logger.info('rollup watermark', { advanceTo, moved });
  }
  const runner = runnerForStep(deps.runner, context);
  const usage = new AthenaUsageSource(runner, deps.tables, input.runId);
  // Where the data ends, as the local engine takes it from its rollup's extent. Two days either side
  // of the window cover every time zone and are enough: data past the window's end changes nothing.
  const dataEndMs = await usage.dataEnd({
    startMs: startOfLocalDate(addDays(input.window.from, -2), 'UTC'),
    endMs: startOfLocalDate(addDays(input.window.to, 2), 'UTC'),
  });
  return { runner, usage, dataEndMs };
}

/** The delivery dates (as S3 key dates) whose log objects can hold the window's requests (see plan). */
export function inputDeliveryDates(window: EvaluateInput['window']): { from: string; to: string } {
  return {
    from: addDays(window.from, -1).replaceAll('-', '/'),
    to: window.to.replaceAll('-', '/'),
  };
}
