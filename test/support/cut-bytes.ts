/**
 * `bytes` cut into pieces at `cuts` (each taken modulo the length + 1; order and repeats do not matter),
 * as a stream might deliver them: for tests that must hold whatever the chunk boundaries are.
 */
export function cutBytes(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) pieces.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return pieces;
}
