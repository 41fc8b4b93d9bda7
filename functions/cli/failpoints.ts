/**
 * Failpoints for crash tests: a named point in the local audit where a test can make the process die
 * as abruptly as a power cut or an OOM kill would, to prove that a later run repairs what was left.
 *
 * The environment variable PARTNER_AUDIT_FAILPOINT holds `name` (die the first time the point is
 * reached) or `name:count` (die the count-th time). Unset, or naming another point, it does nothing:
 * production runs pay one string comparison per point.
 */

/** The environment variable that arms a failpoint. */
export const FAILPOINT_ENV = 'PARTNER_AUDIT_FAILPOINT';

/** An armed failpoint, parsed once from the environment. */
export interface FailpointSpec {
  readonly name: string;
  /** Die on this hit of the point (1 = the first). */
  readonly count: number;
}

/** The value of PARTNER_AUDIT_FAILPOINT is not `name` or `name:count`. */
export class FailpointSpecError extends Error {
  override readonly name = 'FailpointSpecError';
  constructor(readonly value: string) {
    super(
      `${FAILPOINT_ENV}=${JSON.stringify(value)} must be "name" or "name:count" (count a whole number >= 1)`,
    );
  }
}

/** Parse `name` or `name:count`; undefined for an empty or absent value. */
export function parseFailpointSpec(value: string | undefined): FailpointSpec | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^([A-Za-z0-9._-]+)(?::(\d{1,9}))?$/.exec(value);
  const count = m?.[2] === undefined ? 1 : Number(m[2]);
  if (!m?.[1] || count < 1) throw new FailpointSpecError(value);
  return { name: m[1], count };
}

let armed: FailpointSpec | undefined | null = null;
const hits = new Map<string, number>();

/**
 * Kill this process with SIGKILL (no exit handlers, no flushing, no finally blocks) when the armed
 * failpoint is `name` and this is its count-th hit; otherwise return at once.
 */
export function failpoint(name: string): void {
  // Read once: the environment of a running audit does not change, and a bad value fails the first
  // point reached rather than every one.
  if (armed === null) armed = parseFailpointSpec(process.env[FAILPOINT_ENV]);
  if (armed === undefined || armed.name !== name) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n === armed.count) process.kill(process.pid, 'SIGKILL');
}
