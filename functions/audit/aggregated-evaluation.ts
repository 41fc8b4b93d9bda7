/**
 * Evaluation from what the engine aggregated (functions/adapters/sql/usage-aggregation-sql.ts) instead
 * of from every rollup row: the same domain functions, evaluate.ts unchanged, fed one representative
 * row per partner, application, dataset and local day (and per unattributed requester, access point and
 * dataset). The figures are identical to the whole-row path's because evaluate.ts reads a row only for
 * what the engine already decided or kept:
 * - its slot, to cut at the period and the data's end and to find the local day: the representative
 *   row starts at its local day's first instant, which lies in the same period and before the cut
 *   whenever any slot of that day does (a slot never straddles midnight, OVERAGES.md);
 * - its operation and status class, to apply the contract's counting: the engine applied them, so the
 *   row carries an operation and a status the governing version counts;
 * - its requester, to attribute: the row carries the application the engine attributed it to.
 *
 * This is the bridge until the evaluate use case takes the aggregated rows itself (issue 13's wiring):
 * it lets both paths be compared figure for figure now.
 */
import type { Attribution, Attributor } from '../domain/attribution.js';
import { evaluatePartnerPeriod, evaluateUnattributed } from '../domain/evaluate.js';
import type { Finding, PartnerPeriodEvaluation, UnattributedFigure } from '../domain/evaluation.js';
import { contractOn, type Partner, type Registry } from '../domain/registry.js';
import { type Interval, startOfLocalDate } from '../domain/time.js';
import type { StatusClass, UsageRow } from '../domain/usage.js';
import type { DailyUsage, UnattributedDatasetUsage } from '../ports.js';
import { type AuditWindow, planPeriods } from './evaluate-window.js';

export type { DailyUsage, UnattributedDatasetUsage } from '../ports.js';

type PlannedPeriod = ReturnType<typeof planPeriods>[number];

const SEPARATOR = '\u0000';

/** An operation the counted patterns match: the first pattern itself, or its prefix when it ends in `*`. */
function countedOperation(patterns: readonly string[]): string {
  const first = patterns[0]!;
  return first.endsWith('*') ? first.slice(0, -1) : first;
}

/** Period evaluations and the partner periods without a contract in force. */
export interface DailyEvaluation {
  evaluations: PartnerPeriodEvaluation[];
  uncovered: { partnerId: string; periodId: string }[];
}

/**
 * Every period evaluation of `partners` over `window`, from the engine's daily rows, as
 * evaluate-window.ts would give them from the rollup rows. `dataEndMs` as there. Partner periods
 * without a contract in force are listed in `uncovered`.
 */
export function evaluateDailyUsage(
  registry: Registry,
  partners: readonly Partner[],
  window: AuditWindow,
  daily: readonly DailyUsage[],
  dataEndMs?: number,
): DailyEvaluation {
  const plan = planByPartner(partners, window, dataEndMs);
  const byPartner = new Map<string, DailyUsage[]>();
  for (const d of daily) {
    if (!plan.has(d.partnerId)) continue;
    let rows = byPartner.get(d.partnerId);
    if (!rows) {
      rows = [];
      byPartner.set(d.partnerId, rows);
    }
    rows.push(d);
  }
  const evaluate = partnerEvaluator(registry);
  const out: DailyEvaluation = { evaluations: [], uncovered: [] };
  for (const partner of partners) {
    const one = evaluate(partner, plan.get(partner.id)!, byPartner.get(partner.id) ?? []);
    out.evaluations.push(...one.evaluations);
    out.uncovered.push(...one.uncovered);
  }
  return out;
}

/**
 * {@link evaluateDailyUsage} from rows handed over one partner at a time: `each` calls `visit` with
 * each partner's complete rows (AggregatedUsageSource.eachPartnerDailyUsage), and each partner is
 * evaluated as its rows arrive, its rows then dropped, so that no more than one partner's rows are
 * held. The result, in the order of `partners`, is evaluateDailyUsage's over the same rows; partners
 * `each` never visits are evaluated without usage, as there.
 *
 * @throws Error when `each` visits a partner twice (its rows would be evaluated in two parts).
 */
export async function evaluateDailyUsageByPartner(
  registry: Registry,
  partners: readonly Partner[],
  window: AuditWindow,
  each: (visit: (partnerId: string, rows: readonly DailyUsage[]) => void) => Promise<void>,
  dataEndMs?: number,
): Promise<DailyEvaluation> {
  const plan = planByPartner(partners, window, dataEndMs);
  const byId = new Map(partners.map((p) => [p.id, p]));
  const evaluate = partnerEvaluator(registry);
  const done = new Map<string, DailyEvaluation>();
  await each((partnerId, rows) => {
    const partner = byId.get(partnerId);
    if (!partner) return;
    if (done.has(partnerId)) throw new Error(`partner "${partnerId}"'s daily rows were handed over twice`);
    done.set(partnerId, evaluate(partner, plan.get(partnerId)!, rows));
  });
  const out: DailyEvaluation = { evaluations: [], uncovered: [] };
  for (const partner of partners) {
    const one = done.get(partner.id) ?? evaluate(partner, plan.get(partner.id)!, []);
    out.evaluations.push(...one.evaluations);
    out.uncovered.push(...one.uncovered);
  }
  return out;
}

/** The window's planned periods per partner (validating the window first, as planPeriods does). */
function planByPartner(
  partners: readonly Partner[],
  window: AuditWindow,
  dataEndMs: number | undefined,
): Map<string, PlannedPeriod[]> {
  const plan = new Map<string, PlannedPeriod[]>(partners.map((p) => [p.id, []]));
  for (const planned of planPeriods(partners, window, dataEndMs)) plan.get(planned.partner.id)!.push(planned);
  return plan;
}

/** One partner's planned periods evaluated from its daily rows; shares its caches across partners. */
function partnerEvaluator(registry: Registry) {
  // A local day's first instant, once per zone and date (a conversion costs some 10 µs; rows are
  // partners x applications x datasets x days, some 960,000 for 1,000 partners' month).
  const dayStarts = new Map<string, number>();
  const startOf = (date: string, timeZone: string) =>
    getOrSet(dayStarts, `${timeZone} ${date}`, () => startOfLocalDate(date, timeZone));
  const targets = new Map<string, Attribution>();
  const attribute: Attributor = (requester) => {
    let t = targets.get(requester);
    if (!t) {
      const [partnerId, applicationId] = requester.split(SEPARATOR) as [string, string];
      t = { partnerId, applicationId };
      targets.set(requester, t);
    }
    return t;
  };
  return (partner: Partner, planned: readonly PlannedPeriod[], daily: readonly DailyUsage[]) => {
    const rows: UsageRow[] = [];
    for (const d of daily) {
      if (d.partnerId !== partner.id) continue;
      // The version in force for the day's month governs it; the engine counted by it.
      const contract = contractOn(partner, `${d.date.slice(0, 8)}01`);
      if (!contract) continue;
      rows.push({
        slotStart: startOf(d.date, partner.timeZone),
        bucket: '-',
        requester: `${d.partnerId}${SEPARATOR}${d.applicationId}`,
        accessPoint: '-',
        dataset: d.dataset,
        operation: countedOperation(contract.counted.operations),
        statusClass: contract.counted.statuses[0] as StatusClass,
        requests: d.requests,
        bytesSent: d.bytesSent,
        records: d.records,
      });
    }
    const out: DailyEvaluation = { evaluations: [], uncovered: [] };
    for (const { period, asOfMs } of planned) {
      const e = evaluatePartnerPeriod({ registry, partner, period, rows, asOfMs, attribute });
      if (e) out.evaluations.push(e);
      else out.uncovered.push({ partnerId: partner.id, periodId: period.id });
    }
    return out;
  };
}

/** The unattributed figures and findings, from the engine's rows, as evaluateUnattributed gives them. */
export function evaluateUnattributedUsage(
  registry: Registry,
  range: Interval,
  usage: readonly UnattributedDatasetUsage[],
): { figures: UnattributedFigure[]; findings: Finding[] } {
  const rows: UsageRow[] = usage.map((u) => ({
    slotStart: range.startMs,
    bucket: '-',
    requester: u.requester,
    accessPoint: u.accessPoint,
    dataset: u.dataset,
    operation: '-',
    // A success reads partner data only where the engine said it did; a refused request never does.
    statusClass: u.touchedPartnerData ? '2xx' : '4xx',
    requests: u.requests,
    bytesSent: u.bytesSent,
    records: u.records,
  }));
  // The engine left out every attributed and every ignored requester already.
  return evaluateUnattributed({ registry, rows, range, attribute: () => undefined });
}

function getOrSet<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
