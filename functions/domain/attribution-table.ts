/**
 * The registry as tables an engine can join: attribution (attribution.ts) and the contracts' counted
 * terms (evaluate.ts) written as rows, so that DuckDB and Athena attribute and aggregate the rollup in
 * SQL by exactly the rules of OVERAGES.md, and JavaScript receives only sums per partner, application,
 * dataset and local day. Pure: the same registry gives the same rows, in the same order, byte for byte
 * once written as JSON Lines (the canonical file deployed beside the registry on AWS, and loaded into a
 * DuckDB table locally).
 *
 * Precedence is data, not SQL: every principal row carries a `rank`, one integer that orders all rows
 * as attribution.ts tries them (exact ARN, role of an assumed-role session, access point, canonical id,
 * ARN glob longest first, account; within a kind, first registration first). A request belongs to the
 * application of the matching row with the lowest rank. Rows that can never win (a second registration
 * of the same key in the same kind) are left out, so an equality join finds at most one row per kind.
 */
import type { Registry } from './registry.js';

/** How a principal row is compared with a rollup row's requester and access point. */
export type PrincipalMatch =
  /** `match_key` equals the requester (an exact `arn`, or a `canonicalUserId`). */
  | 'requester'
  /** `match_key` equals `partition:account:role-name` of an STS assumed-role session requester. */
  | 'role'
  /** `match_key` equals the access point (never `-`). */
  | 'access-point'
  /** The requester is `LIKE match_key ESCAPE '\'` (an `arnGlob`). */
  | 'glob'
  /** `match_key` equals the account of an IAM or STS ARN requester. */
  | 'account';

/** One principal as the engines join it. Column names are the SQL ones. */
export interface PrincipalRow {
  /** Order of precedence over all rows: the matching row with the lowest rank wins. From 1. */
  readonly rank: number;
  readonly match_on: PrincipalMatch;
  readonly match_key: string;
  readonly partner_id: string;
  readonly application_id: string;
  /** The partner's billing time zone, so that one join gives the local day too. */
  readonly time_zone: string;
}

/**
 * What a contract version counts and covers, one row per term. The version in force for a billing
 * period is the partner's lowest `contract_ordinal` whose [effective_from, effective_to) holds the
 * period's first local date (registry.ts `contractOn`).
 */
export interface ContractTermRow {
  readonly partner_id: string;
  /** Position of the version in the partner's `contracts` (from 0): the first in force wins. */
  readonly contract_ordinal: number;
  readonly contract_id: string;
  /** First local date in force, `YYYY-MM-DD`. */
  readonly effective_from: string;
  /** First local date no longer in force; null when open-ended. */
  readonly effective_to: string | null;
  /**
   * `operation`: a counted operation as a LIKE pattern (exact, or a prefix for a pattern ending in `*`);
   * `status`: a counted status class, compared by equality; `dataset`: a dataset prefix the version
   * covers, as a LIKE pattern (prefix followed by `%`).
   */
  readonly term: 'operation' | 'status' | 'dataset';
  readonly match_key: string;
}

/** A requester pattern of `settings.ignoredRequesters` as a LIKE pattern. */
export interface IgnoredRequesterRow {
  readonly match_key: string;
  /** True for the literal `-`: only then are anonymous requests ignored (OVERAGES.md). */
  readonly anonymous: boolean;
}

/** The escape character of every LIKE pattern written here (`LIKE p ESCAPE '\'` in both dialects). */
export const LIKE_ESCAPE = '\\';

/** `text` as a LIKE pattern that matches exactly it: `%`, `_` and the escape itself are escaped. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * A registry glob (`*` matches any run of characters, `/` included; every other character is literal)
 * as a LIKE pattern: the same strings match both (attribution.ts `globToRegExp`).
 */
export function globToLike(glob: string): string {
  return glob.split('*').map(likeLiteral).join('%');
}

/** A counted-operation pattern (exact, or a prefix when it ends in `*`) as a LIKE pattern. */
export function operationToLike(pattern: string): string {
  return pattern.endsWith('*') ? `${likeLiteral(pattern.slice(0, -1))}%` : likeLiteral(pattern);
}

const ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$/;

/** `partition:account:name` of an IAM role ARN (`role/path/Name` -> `Name`), as attribution.ts keys it. */
function iamRoleKey(arn: string): string | undefined {
  const m = ARN.exec(arn);
  const resource = m?.[2] === 'iam' ? m[4]! : '';
  if (!m || !resource.startsWith('role/')) return undefined;
  const name = resource.split('/').pop();
  return name ? `${m[1]}:${m[3]}:${name}` : undefined;
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The principal rows of a registry, ordered by rank. Within the exact, role, access point, canonical
 * and account kinds the first registration of a key wins (attribution.ts keeps the first too); globs
 * are ordered longest pattern first, then by code units, then by registration, as attribution.ts
 * tries them.
 */
export function principalRows(registry: Registry): PrincipalRow[] {
  type Candidate = Omit<PrincipalRow, 'rank' | 'match_on'> & { readonly pattern?: string };
  const exact: Candidate[] = [];
  const roles: Candidate[] = [];
  const accessPoints: Candidate[] = [];
  const canonical: Candidate[] = [];
  const globs: Candidate[] = [];
  const accounts: Candidate[] = [];
  for (const partner of registry.partners) {
    for (const app of partner.applications) {
      const target = { partner_id: partner.id, application_id: app.id, time_zone: partner.timeZone };
      for (const p of app.principals) {
        if ('arn' in p) {
          exact.push({ ...target, match_key: p.arn });
          const role = iamRoleKey(p.arn);
          if (role) roles.push({ ...target, match_key: role });
        } else if ('arnGlob' in p) {
          globs.push({ ...target, match_key: globToLike(p.arnGlob), pattern: p.arnGlob });
        } else if ('account' in p) {
          accounts.push({ ...target, match_key: p.account });
        } else if ('canonicalUserId' in p) {
          canonical.push({ ...target, match_key: p.canonicalUserId });
        } else {
          accessPoints.push({ ...target, match_key: p.accessPoint });
        }
      }
    }
  }
  // Array.prototype.sort is stable: equal patterns keep their registration order.
  globs.sort((a, b) => b.pattern!.length - a.pattern!.length || byCodeUnits(a.pattern!, b.pattern!));
  const firstOfEachKey = (rows: Candidate[]) => {
    const seen = new Set<string>();
    return rows.filter((r) => !seen.has(r.match_key) && seen.add(r.match_key));
  };
  const ordered: [PrincipalMatch, Candidate[]][] = [
    ['requester', firstOfEachKey(exact)],
    ['role', firstOfEachKey(roles)],
    ['access-point', firstOfEachKey(accessPoints)],
    ['requester', firstOfEachKey(canonical)],
    ['glob', globs],
    ['account', firstOfEachKey(accounts)],
  ];
  const out: PrincipalRow[] = [];
  for (const [match_on, rows] of ordered) {
    for (const r of rows) {
      out.push({
        rank: out.length + 1,
        match_on,
        match_key: r.match_key,
        partner_id: r.partner_id,
        application_id: r.application_id,
        time_zone: r.time_zone,
      });
    }
  }
  // An exact ARN and a canonical id share `requester`; they can never be equal (an ARN starts `arn:`,
  // a canonical id is 64 hex digits), so at most one row per kind and key still holds.
  return out;
}

/** The counted operations and statuses and the covered datasets of every contract version. */
export function contractTermRows(registry: Registry): ContractTermRow[] {
  const out: ContractTermRow[] = [];
  for (const partner of registry.partners) {
    partner.contracts.forEach((c, ordinal) => {
      const version = {
        partner_id: partner.id,
        contract_ordinal: ordinal,
        contract_id: c.id,
        effective_from: c.effectiveFrom,
        effective_to: c.effectiveTo ?? null,
      };
      // Each key once: a pattern written twice must not count a row twice in a join.
      const terms = new Set<string>();
      const add = (term: ContractTermRow['term'], match_key: string) => {
        const k = `${term}\u0000${match_key}`;
        if (terms.has(k)) return;
        terms.add(k);
        out.push({ ...version, term, match_key });
      };
      for (const op of c.counted.operations) add('operation', operationToLike(op));
      for (const s of c.counted.statuses) add('status', s);
      for (const d of c.datasets) add('dataset', `${likeLiteral(d)}%`);
    });
  }
  return out;
}

/** `settings.ignoredRequesters` as LIKE patterns, each once. */
export function ignoredRequesterRows(registry: Registry): IgnoredRequesterRow[] {
  return [...new Set(registry.settings.ignoredRequesters)].map((p) => ({
    match_key: globToLike(p),
    anonymous: p === '-',
  }));
}

/** The three tables of a registry, as the engines load them. */
export interface AttributionTables {
  readonly principals: readonly PrincipalRow[];
  readonly terms: readonly ContractTermRow[];
  readonly ignored: readonly IgnoredRequesterRow[];
}

export function attributionTables(registry: Registry): AttributionTables {
  return {
    principals: principalRows(registry),
    terms: contractTermRows(registry),
    ignored: ignoredRequesterRows(registry),
  };
}

/**
 * Rows as JSON Lines, the canonical file form: one object a line, keys in the interface's order, `\n`
 * after every line. JSON escapes every control character, so no value can break a line (`\u2028` and
 * `\u2029` stay as they are, and line readers split only on `\n` and `\r`, which JSON always escapes).
 */
export function toJsonLines(rows: readonly object[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}
