/**
 * Use case: evaluate an audit window from what the engine attributed and aggregated (issue 13), the
 * local engine's path. It returns what evaluateWindow returns from every rollup row, figure for figure
 * (test/integration/sql-aggregation.test.ts, test/e2e/aggregated-local-audit.test.ts), while only sums
 * per partner, application, dataset and local day, and per unattributed requester, access point and
 * dataset, cross into JavaScript.
 */
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import type { Registry } from '../domain/registry.js';
import type { AggregatedUsageSource } from '../ports.js';
import {
  evaluateDailyUsage,
  evaluateDailyUsageByPartner,
  evaluateUnattributedUsage,
} from './aggregated-evaluation.js';
import { partnerDailyUsageRequest, unattributedUsageRequest } from './aggregation-request.js';
import {
  type EvaluateWindowRequest,
  planPeriods,
  selectPartners,
  type WindowEvaluation,
} from './evaluate-window.js';
import { periodFinality } from './run-window.js';

/**
 * Every unattributed requester and access point pair: the report lists them all, as evaluateWindow
 * does, so the engine's top-N cut must never apply here.
 */
const ALL_PAIRS = Number.MAX_SAFE_INTEGER;

export async function evaluateAggregatedWindow(
  deps: { readonly registry: Registry; readonly usage: AggregatedUsageSource },
  request: EvaluateWindowRequest,
): Promise<WindowEvaluation> {
  const { registry, usage } = deps;
  const partners = selectPartners(registry, request.partners);
  // Validates the window before anything is read, as evaluateWindow does.
  const planned = planPeriods(partners, request.window, request.dataEndMs);
  const dailyRequest =
    planned.length === 0 ? undefined : partnerDailyUsageRequest(partners, request.window, request.dataEndMs);
  // Partner by partner where the source can hand the rows over so (no caller then holds every
  // partner's rows at once), else read whole.
  const each = usage.eachPartnerDailyUsage?.bind(usage);
  const { evaluations, uncovered } =
    dailyRequest && each
      ? await evaluateDailyUsageByPartner(
          registry,
          partners,
          request.window,
          (visit) => each(registry, dailyRequest, visit),
          request.dataEndMs,
        )
      : evaluateDailyUsage(
          registry,
          partners,
          request.window,
          dailyRequest ? await usage.partnerDailyUsage(registry, dailyRequest) : [],
          request.dataEndMs,
        );
  const unattributedRequest = unattributedUsageRequest(request.window, ALL_PAIRS);
  const strangers = await usage.unattributedUsage(registry, unattributedRequest);

  const settling = request.settling && {
    settlingDays: request.settling.settlingDays,
    dataThroughMs: request.settling.dataThroughMs ?? request.dataEndMs ?? Number.NEGATIVE_INFINITY,
  };
  const final: PartnerPeriodEvaluation[] = settling
    ? evaluations.map((e) => ({ ...e, ...periodFinality(e.period, settling) }))
    : evaluations;
  const unattributed = evaluateUnattributedUsage(registry, unattributedRequest.range, strangers);
  return { window: request.window, evaluations: final, unattributed, uncovered };
}
