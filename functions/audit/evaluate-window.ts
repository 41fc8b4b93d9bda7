/**
 * Use case: evaluate every selected partner's billing periods that overlap an audit window.
 * Both engines call this: the CLI over DuckDB, the evaluate Lambda over Athena.
 */
import { buildAttributor } from '../domain/attribution.js';
import { evaluatePartnerPeriod, evaluateUnattributed } from '../domain/evaluate.js';
import type { Finding, PartnerPeriodEvaluation, UnattributedFigure } from '../domain/evaluation.js';
import type { Partner, Registry } from '../domain/registry.js';
import { monthlyPeriodsOverlapping, type Period, startOfLocalDate } from '../domain/time.js';
import type { UsageSource } from '../ports.js';
import { periodFinality } from './run-window.js';

/** An audit window: local dates [from, to), applied in each partner's own billing time zone. */
export interface AuditWindow {
  readonly from: string;
  readonly to: string;
}

export interface EvaluateWindowRequest {
  readonly window: AuditWindow;
  /** Partner ids to audit; all partners when absent or empty. */
  readonly partners?: readonly string[];
  /**
   * The instant up to which usage data exists (the end of the newest rollup slot). Figures are "as of"
   * the earliest of this, the window's end and the period's end, so an open period's forecast runs from
   * the data actually seen rather than from hours no log has reached yet.
   */
  readonly dataEndMs?: number;
  /**
   * When given, each period evaluation says whether its figures are final (run-window.ts): the data
   * reaches `settlingDays` past the period's end. `dataThroughMs` defaults to `dataEndMs`.
   */
  readonly settling?: { readonly settlingDays: number; readonly dataThroughMs?: number };
}

export interface WindowEvaluation {
  readonly window: AuditWindow;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
  readonly unattributed: {
    readonly figures: readonly UnattributedFigure[];
    readonly findings: readonly Finding[];
  };
  /** Partner periods with no contract in force: reported, not evaluated. */
  readonly uncovered: readonly { readonly partnerId: string; readonly periodId: string }[];
}

export class UnknownPartnerError extends Error {
  override readonly name = 'UnknownPartnerError';
  constructor(readonly partnerIds: readonly string[]) {
    super(`no partner with id ${partnerIds.map((p) => `"${p}"`).join(', ')} in the registry`);
  }
}

export class InvalidWindowError extends Error {
  override readonly name = 'InvalidWindowError';
}

/** The partners a request selects, in registry order; unknown ids are an error, not an empty audit. */
export function selectPartners(registry: Registry, ids: readonly string[] | undefined): Partner[] {
  if (!ids || ids.length === 0) return [...registry.partners];
  const unknown = ids.filter((id) => !registry.partners.some((p) => p.id === id));
  if (unknown.length > 0) throw new UnknownPartnerError(unknown);
  return registry.partners.filter((p) => ids.includes(p.id));
}

interface PlannedPeriod {
  readonly partner: Partner;
  readonly period: Period;
  readonly asOfMs: number;
}

/** Periods to evaluate: each partner's months overlapping the window, measured up to the window's end. */
export function planPeriods(
  partners: readonly Partner[],
  window: AuditWindow,
  dataEndMs: number = Number.POSITIVE_INFINITY,
): PlannedPeriod[] {
  if (!(window.from < window.to)) {
    throw new InvalidWindowError(
      `the window's "from" (${window.from}) must be before its "to" (${window.to})`,
    );
  }
  const out: PlannedPeriod[] = [];
  for (const partner of partners) {
    const windowEndMs = startOfLocalDate(window.to, partner.timeZone);
    for (const period of monthlyPeriodsOverlapping(window.from, window.to, partner.timeZone)) {
      out.push({
        partner,
        period,
        asOfMs: Math.min(period.endMs, windowEndMs, Math.max(dataEndMs, period.startMs)),
      });
    }
  }
  return out;
}

export async function evaluateWindow(
  deps: { readonly registry: Registry; readonly usage: UsageSource },
  request: EvaluateWindowRequest,
): Promise<WindowEvaluation> {
  const { registry } = deps;
  const partners = selectPartners(registry, request.partners);
  const planned = planPeriods(partners, request.window, request.dataEndMs);
  const unattributedRange = {
    startMs: startOfLocalDate(request.window.from, 'UTC'),
    endMs: startOfLocalDate(request.window.to, 'UTC'),
  };
  // One read covers every partner's periods and the unattributed window.
  const startMs = Math.min(unattributedRange.startMs, ...planned.map((p) => p.period.startMs));
  const endMs = Math.max(unattributedRange.endMs, ...planned.map((p) => p.asOfMs));
  const rows = await deps.usage.usage({ startMs, endMs });
  const attribute = buildAttributor(registry);

  const settling = request.settling && {
    settlingDays: request.settling.settlingDays,
    dataThroughMs: request.settling.dataThroughMs ?? request.dataEndMs ?? Number.NEGATIVE_INFINITY,
  };
  const evaluations: PartnerPeriodEvaluation[] = [];
  const uncovered: { partnerId: string; periodId: string }[] = [];
  for (const { partner, period, asOfMs } of planned) {
    const evaluation = evaluatePartnerPeriod({ registry, partner, period, rows, asOfMs, attribute });
    if (evaluation)
      evaluations.push(settling ? { ...evaluation, ...periodFinality(period, settling) } : evaluation);
    else uncovered.push({ partnerId: partner.id, periodId: period.id });
  }
  const unattributed = evaluateUnattributed({ registry, rows, range: unattributedRange, attribute });
  return { window: request.window, evaluations, unattributed, uncovered };
}
