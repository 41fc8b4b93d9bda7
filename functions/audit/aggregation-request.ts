/**
 * What to ask the engine for when it attributes and aggregates (functions/adapters/sql/
 * usage-aggregation-sql.ts): the same slots, days and contract versions evaluate-window.ts reads rows
 * for and evaluate.ts counts, expressed as one request for every partner at once.
 *
 * evaluate.ts counts, for each partner and billing period overlapping the window, the slots in
 * [period start, min(period end, window end in the partner's zone, data end)). A slot lies in exactly
 * one local day (OVERAGES.md), so that is the same as: local day in [first of the month of `from`, `to`)
 * in the partner's zone, and slot before the data's end. Only the data's end can cut a local day.
 */

import type {
  PartnerDailyUsageRequest,
  UnattributedUsageRequest,
} from '../adapters/sql/usage-aggregation-sql.js';
import type { Partner } from '../domain/registry.js';
import { monthOf, startOfLocalDate } from '../domain/time.js';
import { type AuditWindow, planPeriods } from './evaluate-window.js';

/**
 * The request for counted use per partner, application, dataset and local day over `window`, for
 * `partners`, with data up to `dataEndMs` (exclusive; none: up to the window's end).
 */
export function partnerDailyUsageRequest(
  partners: readonly Partner[],
  window: AuditWindow,
  dataEndMs: number = Number.POSITIVE_INFINITY,
): PartnerDailyUsageRequest {
  // planPeriods validates the window; its periods give each partner's first instant.
  const planned = planPeriods(partners, window, dataEndMs);
  const startMs = Math.min(...planned.map((p) => p.period.startMs));
  const windowEndMs = Math.max(...partners.map((p) => startOfLocalDate(window.to, p.timeZone)));
  const endMs = Math.max(startMs, Math.min(dataEndMs, windowEndMs));
  return { range: { startMs, endMs }, fromDate: monthOf(window.from).first, toDate: window.to };
}

/** The request for the unattributed usage of `window`: its local dates taken in UTC, as evaluate-window.ts does. */
export function unattributedUsageRequest(window: AuditWindow, top: number): UnattributedUsageRequest {
  return {
    range: { startMs: startOfLocalDate(window.from, 'UTC'), endMs: startOfLocalDate(window.to, 'UTC') },
    top,
  };
}
