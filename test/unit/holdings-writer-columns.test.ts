/**
 * The holdings writer's BIGINT columns (holdings-writer.ts, bigIntColumn): whole numbers written as two
 * 32-bit words a value must read back as the same bigints as `BigInt(v * scale)`, for the values a held
 * row carries (slot starts, epoch milliseconds, counts, byte sums up to 2^53 - 1) and for negatives.
 */
import { describe, expect, it } from 'vitest';
import { bigIntColumn } from '../../functions/adapters/duckdb/holdings-writer.js';

describe('bigIntColumn', () => {
  it('reads back every whole number below 2^53 as BigInt(v * scale) would, negatives included', () => {
    const values = [
      0,
      1,
      -1,
      4294967295,
      4294967296,
      -4294967296,
      -4294967297,
      1793000000123,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
      123456789012,
    ];
    const column = bigIntColumn(Float64Array.from(values), values.length);
    expect([...column]).toEqual(values.map((v) => BigInt(v)));
  });

  it('scales (a slot number to its start in ms) and takes only the first n values', () => {
    const column = bigIntColumn(Int32Array.from([1992096, 7, 99]), 2, 900_000);
    expect([...column]).toEqual([1992096n * 900_000n, 7n * 900_000n]);
  });

  it('refuses a value that is not a whole number below 2^53, naming it', () => {
    expect(() => bigIntColumn([1.5], 1)).toThrow('holdings: 1.5 is not a whole number below 2^53');
    expect(() => bigIntColumn([2 ** 53], 1)).toThrow(`holdings: ${2 ** 53} is not a whole number below 2^53`);
    expect(() => bigIntColumn([Number.POSITIVE_INFINITY], 1)).toThrow('is not a whole number');
  });
});
