/**
 * Use case: the evaluation of an audit window in parts, for an engine that evaluates each partner on
 * its own (the AWS path's Map over partners, issue 13): one partner's periods from that partner's
 * daily sums, the unattributed findings from the unattributed pairs, and the window's evaluation put
 * back together from the parts. Together they give what evaluateAggregatedWindow gives in one piece
 * (and so what evaluateWindow gives from every rollup row): the same domain functions, the same
 * period plan, the same finality.
 */
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import type { Registry } from '../domain/registry.js';
import type { DailyUsage, UnattributedDatasetUsage } from '../ports.js';
import { evaluateDailyUsage, evaluateUnattributedUsage } from './aggregated-evaluation.js';
import { partnerDailyUsageRequest, unattributedUsageRequest } from './aggregation-request.js';
import { type AuditWindow, planPeriods, selectPartners, type WindowEvaluation } from './evaluate-window.js';
import { periodFinality } from './run-window.js';

/** Every unattributed pair: the report lists them all, as evaluateWindow does (no top-N cut). */
export const ALL_UNATTRIBUTED_PAIRS = Number.MAX_SAFE_INTEGER;

/** What every part of one window's evaluation shares, decided once before the parts run. */
export interface WindowPlan {
  readonly window: AuditWindow;
  /** The end of the data (see EvaluateWindowRequest.dataEndMs); none: up to the window's end. */
  readonly dataEndMs?: number;
  /** As EvaluateWindowRequest.settling, with `dataThroughMs` already resolved. */
  readonly settling?: { readonly settlingDays: number; readonly dataThroughMs: number };
}

/** One partner's part: its period evaluations and its periods without a contract in force. */
export interface PartnerPart {
  readonly partnerId: string;
  readonly evaluations: readonly PartnerPeriodEvaluation[];
  readonly uncovered: readonly { readonly partnerId: string; readonly periodId: string }[];
}

/**
 * The engine requests that cover every partner of `partnerIds` (all when empty) in one statement each:
 * run once, before the parts. Unknown ids are an error (UnknownPartnerError), the window is validated.
 */
export function windowAggregationRequests(
  registry: Registry,
  partnerIds: readonly string[],
  plan: WindowPlan,
) {
  const partners = selectPartners(registry, partnerIds);
  const planned = planPeriods(partners, plan.window, plan.dataEndMs);
  return {
    partners,
    daily: planned.length === 0 ? undefined : partnerDailyUsageRequest(partners, plan.window, plan.dataEndMs),
    unattributed: unattributedUsageRequest(plan.window, ALL_UNATTRIBUTED_PAIRS),
  };
}

/** One partner's periods from its daily sums (rows of other partners are ignored). */
export function evaluatePartnerPart(
  registry: Registry,
  partnerId: string,
  plan: WindowPlan,
  daily: readonly DailyUsage[],
): PartnerPart {
  const partners = selectPartners(registry, [partnerId]);
  const { evaluations, uncovered } = evaluateDailyUsage(
    registry,
    partners,
    plan.window,
    daily.filter((d) => d.partnerId === partnerId),
    plan.dataEndMs,
  );
  const settling = plan.settling;
  return {
    partnerId,
    evaluations: settling
      ? evaluations.map((e) => ({ ...e, ...periodFinality(e.period, settling) }))
      : evaluations,
    uncovered,
  };
}

/** The window's evaluation from its partners' parts, in the order given, and the unattributed pairs. */
export function assembleWindowEvaluation(
  registry: Registry,
  plan: WindowPlan,
  parts: readonly PartnerPart[],
  strangers: readonly UnattributedDatasetUsage[],
): WindowEvaluation {
  const range = unattributedUsageRequest(plan.window, ALL_UNATTRIBUTED_PAIRS).range;
  return {
    window: plan.window,
    evaluations: parts.flatMap((p) => p.evaluations),
    unattributed: evaluateUnattributedUsage(registry, range, strangers),
    uncovered: parts.flatMap((p) => p.uncovered),
  };
}
