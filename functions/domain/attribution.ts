/**
 * Attribution: which partner application a logged requester is. The rollup keeps the raw requester, so
 * this runs at evaluation time against the current registry (a registry change re-attributes the past).
 */
import type { Principal, Registry } from './registry.js';

/** The partner application a request belongs to. */
export interface Attribution {
  readonly partnerId: string;
  readonly applicationId: string;
}

/** Maps a logged requester and access point ARN (`-` when none) to an application, or undefined. */
export type Attributor = (requester: string, accessPoint: string) => Attribution | undefined;

/** Requester logged for anonymous (unsigned) requests. */
export const ANONYMOUS = '-';

const ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$/;

interface ParsedArn {
  readonly partition: string;
  readonly service: string;
  readonly account: string;
  readonly resource: string;
}

function parseArn(text: string): ParsedArn | undefined {
  const m = ARN.exec(text);
  if (!m) return undefined;
  return { partition: m[1]!, service: m[2]!, account: m[3]!, resource: m[4]! };
}

/**
 * The role an STS session ARN was assumed from, keyed by partition, account and role name. The session
 * ARN carries only the role's name, never its IAM path, so roles are compared by name.
 */
function assumedRoleKey(arn: ParsedArn): string | undefined {
  if (arn.service !== 'sts' || !arn.resource.startsWith('assumed-role/')) return undefined;
  const name = arn.resource.slice('assumed-role/'.length).split('/')[0];
  return name ? `${arn.partition}:${arn.account}:${name}` : undefined;
}

/** The same key for an IAM role ARN (`role/path/Name` -> `Name`). */
function iamRoleKey(arn: ParsedArn): string | undefined {
  if (arn.service !== 'iam' || !arn.resource.startsWith('role/')) return undefined;
  const name = arn.resource.split('/').pop();
  return name ? `${arn.partition}:${arn.account}:${name}` : undefined;
}

/**
 * A glob where `*` matches any run of characters, `/` included, and everything else is literal.
 * Anchored at both ends.
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

interface GlobEntry {
  readonly pattern: string;
  readonly re: RegExp;
  readonly target: Attribution;
}

/**
 * Builds the attributor for a registry. When several principals match one request, the most specific
 * wins: exact ARN (the literal requester first, then the IAM role an STS session was assumed from) >
 * access point > canonical user id > ARN glob (longest pattern first, then alphabetical) > account.
 * Results are memoised per distinct (requester, access point), since rollup rows repeat them.
 */
export function buildAttributor(registry: Registry): Attributor {
  const exact = new Map<string, Attribution>();
  const roles = new Map<string, Attribution>();
  const accessPoints = new Map<string, Attribution>();
  const canonical = new Map<string, Attribution>();
  const accounts = new Map<string, Attribution>();
  const globs: GlobEntry[] = [];

  // First registration wins where two kinds collide on one key (e.g. two partners naming one account);
  // the registry rejects exact duplicates, so this only settles overlaps it cannot see.
  const put = (map: Map<string, Attribution>, key: string, target: Attribution) => {
    if (!map.has(key)) map.set(key, target);
  };

  for (const partner of registry.partners) {
    for (const app of partner.applications) {
      const target: Attribution = Object.freeze({ partnerId: partner.id, applicationId: app.id });
      for (const p of app.principals) addPrincipal(p, target);
    }
  }

  function addPrincipal(p: Principal, target: Attribution): void {
    if ('arn' in p) {
      put(exact, p.arn, target);
      const parsed = parseArn(p.arn);
      const role = parsed && iamRoleKey(parsed);
      if (role) put(roles, role, target);
    } else if ('arnGlob' in p) {
      globs.push({ pattern: p.arnGlob, re: globToRegExp(p.arnGlob), target });
    } else if ('account' in p) {
      put(accounts, p.account, target);
    } else if ('canonicalUserId' in p) {
      put(canonical, p.canonicalUserId, target);
    } else {
      put(accessPoints, p.accessPoint, target);
    }
  }

  globs.sort((a, b) =>
    b.pattern.length - a.pattern.length !== 0
      ? b.pattern.length - a.pattern.length
      : a.pattern < b.pattern
        ? -1
        : a.pattern > b.pattern
          ? 1
          : 0,
  );

  function resolve(requester: string, accessPoint: string): Attribution | undefined {
    const byArn = exact.get(requester);
    if (byArn) return byArn;
    const parsed = parseArn(requester);
    const role = parsed && assumedRoleKey(parsed);
    const byRole = role ? roles.get(role) : undefined;
    if (byRole) return byRole;
    if (accessPoint !== '-') {
      const byAp = accessPoints.get(accessPoint);
      if (byAp) return byAp;
    }
    const byCanonical = canonical.get(requester);
    if (byCanonical) return byCanonical;
    for (const g of globs) if (g.re.test(requester)) return g.target;
    return parsed ? accounts.get(parsed.account) : undefined;
  }

  const memo = new Map<string, Attribution | null>();
  return (requester, accessPoint) => {
    const key = `${requester}\u0000${accessPoint}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const found = resolve(requester, accessPoint);
    memo.set(key, found ?? null);
    return found;
  };
}

const ignoredMatchers = new WeakMap<Registry, (requester: string) => boolean>();

/**
 * True when the requester is the provider's own (settings.ignoredRequesters) and so never a finding.
 * Anonymous requests (`-`) are ignored only when the registry lists `-` itself: a broad glob such as
 * `*` does not silence them, because anonymous reads of partner data mean the bucket is open to anyone.
 */
export function isIgnoredRequester(registry: Registry, requester: string): boolean {
  let match = ignoredMatchers.get(registry);
  if (!match) {
    const patterns = registry.settings.ignoredRequesters;
    const anonymousListed = patterns.includes(ANONYMOUS);
    const res = patterns.map(globToRegExp);
    match = (r) => (r === ANONYMOUS ? anonymousListed : res.some((re) => re.test(r)));
    ignoredMatchers.set(registry, match);
  }
  return match(requester);
}
