import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../functions/adapters/duckdb/collect-garbage.js';

describe('collectGarbage', () => {
  it('collects an unreferenced typed array now, not at V8’s next collection', async () => {
    const ref = (() => new WeakRef(new Float64Array(1_000_000)))();
    // A WeakRef's target is kept until the job that made (or last dereferenced) it ends.
    await nextTurn();
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });

  it('can be asked again', async () => {
    const ref = (() => new WeakRef({ rows: new Int32Array(100_000) }))();
    await nextTurn();
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });
});
