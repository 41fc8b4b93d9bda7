/**
 * JSON for what one step hands the next through S3 (the evaluation): bigints survive the trip as
 * `{"$bigint":"123"}`, since counts pass 2^53 and JSON numbers would round them.
 */

/** Serialises a value holding bigints. */
export function toJsonWithBigInts(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

/** Reads what toJsonWithBigInts wrote. */
export function fromJsonWithBigInts<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === '$bigint' && typeof o['$bigint'] === 'string')
        return BigInt(o['$bigint']);
    }
    return v;
  }) as T;
}
