import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteInterner, StringTable } from '../../functions/adapters/logs/byte-interner.js';

/** `text` at `offset` inside a larger buffer, as a field sits inside a read chunk. */
function placed(text: string, offset: number): { b: Buffer; view: DataView; a: number; e: number } {
  const bytes = Buffer.from(text, 'utf8');
  const b = Buffer.alloc(offset + bytes.length + 7, 0x20);
  bytes.copy(b, offset);
  return { b, view: new DataView(b.buffer, b.byteOffset, b.length), a: offset, e: offset + bytes.length };
}

function find(interner: ByteInterner, text: string, offset = 0): number {
  const { b, view, a, e } = placed(text, offset);
  return interner.find(b, view, a, e);
}

describe('ByteInterner', () => {
  it('gives equal bytes the same entry wherever they sit, and different bytes different entries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.nat({ max: 11 })), { maxLength: 60 }),
        (items) => {
          const interner = new ByteInterner(1 << 30, 2);
          const entryOf = new Map<string, number>();
          for (const [text, offset] of items) {
            const entry = find(interner, text, offset);
            const key = Buffer.from(text, 'utf8').toString('hex');
            const before = entryOf.get(key);
            if (before === undefined) {
              expect(interner.added).toBe(true);
              expect([...entryOf.values()]).not.toContain(entry);
              entryOf.set(key, entry);
            } else {
              expect(interner.added).toBe(false);
              expect(entry).toBe(before);
            }
          }
          expect(interner.size).toBe(entryOf.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('empties itself rather than grow past its limit, and counts each emptying', () => {
    const interner = new ByteInterner(3, 2);
    for (const t of ['a', 'b', 'c']) find(interner, t);
    expect(interner.size).toBe(3);
    expect(find(interner, 'd')).toBe(0);
    expect(interner.added).toBe(true);
    expect(interner.cleared).toBe(1);
    expect(find(interner, 'a')).toBe(1);
    expect(interner.added).toBe(true);
  });
});

describe('StringTable', () => {
  it('gives each string one dense id', () => {
    const table = new StringTable();
    expect([table.id('x'), table.id('y'), table.id('x')]).toEqual([0, 1, 0]);
    expect(table.values).toEqual(['x', 'y']);
  });
});
