// TEMPORARY profiling timers (not committed).
const acc = new Map<string, number>();
const cnt = new Map<string, number>();
export function tAdd(name: string, ms: number): void {
  acc.set(name, (acc.get(name) ?? 0) + ms);
  cnt.set(name, (cnt.get(name) ?? 0) + 1);
}
export async function tA<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try { return await f(); } finally { tAdd(name, performance.now() - t); }
}
export function tS<T>(name: string, f: () => T): T {
  const t = performance.now();
  try { return f(); } finally { tAdd(name, performance.now() - t); }
}
if (process.env.H14T) {
  const { isMainThread, threadId } = await import('node:worker_threads');
  const dump = () => {
    const lines = [...acc].map(([k, v]) => `  ${k}: ${v.toFixed(1)} ms (${cnt.get(k)})`);
    if (lines.length) process.stderr.write(`[t ${isMainThread ? 'main' : `w${threadId}`}]\n${lines.join('\n')}\n`);
  };
  process.on('exit', dump);
  (globalThis as any).__tdump = dump;
}
