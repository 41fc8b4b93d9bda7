import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../functions/adapters/logs/ingest-file.js';

/** Feeds `text` to a splitter in pieces cut at `cuts`; returns what it reported, in order. */
function split(text: string, cuts: number[], maxBytes: number) {
  const out: string[] = [];
  const splitter = new LineSplitter(
    maxBytes,
    (line) => out.push(`line:${line}`),
    (preview, length) => out.push(`long:${length}:${preview.slice(0, 3)}`),
  );
  const bytes = Buffer.from(text, 'latin1');
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) splitter.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  const last = splitter.end();
  if (last !== null) out.push(`line:${last}`);
  return out;
}

describe('LineSplitter', () => {
  it('gives the same lines however the bytes are cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-c \r]{0,12}$/), { maxLength: 20 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 12 }),
        (lines, finalNewline, cuts) => {
          const text = lines.join('\n') + (finalNewline && lines.length > 0 ? '\n' : '');
          // A newline ends a line; text after the last newline is a line only when there is some.
          const expected = text.split('\n');
          if (expected[expected.length - 1] === '') expected.pop();
          expect(split(text, cuts, 1000)).toEqual(expected.map((l) => `line:${l}`));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reports each over-long line once, however it is cut, and goes on with the next line', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        const text = `abc\n${'x'.repeat(50)}\nde\n${'y'.repeat(11)}`;
        const out = split(text, cuts, 10);
        expect(out[0]).toBe('line:abc');
        expect(out[1]).toMatch(/^long:\d+:xxx$/);
        expect(out[2]).toBe('line:de');
        expect(out[3]).toMatch(/^long:\d+:yyy$/);
        expect(out).toHaveLength(4);
      }),
      { numRuns: 500 },
    );
  });

  it.each([[[]], [[3, 15]], [[5, 12, 16]], [[10]]])(
    'accepts a line of exactly the cap (cut at %j)',
    (cuts) => {
      expect(split(`${'z'.repeat(10)}\n${'z'.repeat(11)}\n`, cuts, 10)).toEqual([
        `line:${'z'.repeat(10)}`,
        'long:11:zzz',
      ]);
    },
  );
});
