/**
 * A full garbage collection of this thread's heap, asked for where a large amount of memory has just
 * become garbage and native memory is about to be taken. V8 frees an ArrayBuffer's memory only when it
 * collects the buffer, and it collects by the size of its own heap, which typed arrays barely touch:
 * the request-identity check of a million lines leaves about 50 to 65 MB of them unreferenced, still
 * held through the rollup write that follows, and the process's peak was the sum of both (BENCHMARKS.md,
 * issue 15). Node exposes `gc` only under --expose-gc; the flag is set for one new context, which
 * hands out the function, and cleared again.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

export function collectGarbage(): void {
  if (collect === undefined) collect = findCollector();
  collect?.();
}

function findCollector(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    // Without it the memory is freed at V8's next collection, as before.
    return null;
  }
}
