/**
 * The holdings use case (functions/domain/HOLDINGS.md): asks the engine for what each partner holds
 * over a window of local dates, attributed with the registry given, and builds the report's section.
 * Both the audit run and `partner-audit holdings` call it.
 */
import { buildHoldingsSection, type HoldingsSection, holdingsRange } from '../domain/holdings.js';
import type { Registry } from '../domain/registry.js';
import { isIsoDate } from '../domain/time.js';
import type { HoldingsRequest, HoldingsSource } from '../ports.js';

/** A holdings window or partner that cannot be read. */
export class HoldingsRequestError extends Error {
  override readonly name = 'HoldingsRequestError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface ReadHoldingsRequest {
  /** First local date, `YYYY-MM-DD`, in each partner's zone. */
  readonly from: string;
  /** First local date after the window. */
  readonly to: string;
  /** Only these partners (registry order kept). @default every partner */
  readonly partners?: readonly string[];
}

/**
 * The engine request of a holdings read, and the partners its section lists (registry order): the
 * window and partners checked. Both engines' callers build the request here, so that the AWS steps
 * (which unload in one step and read by partner in others) ask exactly what readHoldings asks.
 */
export function holdingsPlan(
  registry: Registry,
  request: ReadHoldingsRequest,
): { readonly query: HoldingsRequest; readonly partners: readonly HoldingsPartner[] } {
  for (const field of ['from', 'to'] as const) {
    if (!isIsoDate(request[field])) {
      throw new HoldingsRequestError(field, `must be a date YYYY-MM-DD, got "${request[field]}"`);
    }
  }
  if (request.from >= request.to) {
    throw new HoldingsRequestError('to', `must be after from (${request.from}), got ${request.to}`);
  }
  const known = registry.partners;
  for (const id of request.partners ?? []) {
    if (!known.some((p) => p.id === id)) {
      throw new HoldingsRequestError(
        'partner',
        `${id} is not in the registry (partners: ${known.map((p) => p.id).join(', ')})`,
      );
    }
  }
  const chosen =
    request.partners === undefined ? known : known.filter((p) => request.partners!.includes(p.id));
  const only = chosen.length === 1 ? chosen[0]!.id : undefined;
  return {
    query: {
      range: holdingsRange(request.from, request.to),
      fromDate: request.from,
      toDate: request.to,
      ...(only === undefined ? {} : { partnerId: only }),
    },
    partners: chosen.map((p) => ({ id: p.id, name: p.name, timeZone: p.timeZone })),
  };
}

/** A partner as the holdings section names it. */
export interface HoldingsPartner {
  readonly id: string;
  readonly name: string;
  readonly timeZone: string;
}

/** What the registry's partners (or the requested ones) hold over [from, to). */
export async function readHoldings(
  deps: { readonly registry: Registry; readonly holdings: HoldingsSource },
  request: ReadHoldingsRequest,
): Promise<HoldingsSection> {
  const { query, partners } = holdingsPlan(deps.registry, request);
  const rows = await deps.holdings.heldDatasets(deps.registry, query);
  const days = await deps.holdings.heldDays(deps.registry, query);
  return buildHoldingsSection({ from: request.from, to: request.to }, partners, rows, days);
}
