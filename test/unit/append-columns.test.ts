/**
 * appendColumns (functions/adapters/duckdb/append-columns.ts) writes a text column's values into a
 * chunk only when they differ from those the chunk's vector holds from the last chunk appended: every
 * row must still read back with its own text, whether the texts repeat across chunks (a batch's name on
 * every row), change within one, or change from one chunk to the next, and in a last, shorter chunk.
 */
import { DOUBLE, DuckDBInstance, INTEGER, VARCHAR } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { appendColumns, PendingAppend } from '../../functions/adapters/duckdb/append-columns.js';

async function roundTrip(texts: readonly string[]): Promise<string[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run('CREATE TABLE t (n INTEGER NOT NULL, text VARCHAR NOT NULL)');
    const n = Int32Array.from({ length: texts.length }, (_, i) => i);
    await appendColumns(connection, 't', [INTEGER, VARCHAR], [n, texts], texts.length);
    const rows = (await connection.runAndReadAll('SELECT n, text FROM t ORDER BY n')).getRows();
    expect(rows.map(([i]) => Number(i))).toEqual([...n]);
    return rows.map(([, text]) => String(text));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('appendColumns, text columns', () => {
  it('writes one text repeated over many chunks and a shorter last one on every row', async () => {
    const texts = Array.from({ length: 2048 * 3 + 17 }, () => 'batch-0123456789abcdef0123456789abcdef');
    expect(await roundTrip(texts)).toEqual(texts);
  });

  it('writes texts that change from chunk to chunk, within a chunk and back, each on its row', async () => {
    const texts = Array.from({ length: 2048 * 5 + 3 }, (_, i) => {
      const chunk = Math.floor(i / 2048);
      if (chunk === 0 || chunk === 1) return 'first batch, a text longer than twelve bytes';
      if (chunk === 2) return i % 2 === 0 ? 'even' : `odd ${i}`;
      if (chunk === 3) return 'first batch, a text longer than twelve bytes';
      return i === 2048 * 4 + 5 ? 'one row of its own' : 'short';
    });
    expect(await roundTrip(texts)).toEqual(texts);
  });

  it('writes a table of one short chunk', async () => {
    expect(await roundTrip(['a', 'b', 'a'])).toEqual(['a', 'b', 'a']);
  });
});

describe('appendColumns, numbers', () => {
  it('stores DOUBLE values appended to BIGINT columns exactly, for whole numbers below 2^53 (held_rows)', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run('CREATE TABLE t (n INTEGER NOT NULL, v BIGINT NOT NULL)');
      const values = [
        0,
        1,
        -1,
        4294967295,
        4294967296,
        -4294967297,
        1793000000123,
        2 ** 53 - 1,
        -(2 ** 53 - 1),
      ];
      // Over two chunks and a shorter third.
      const all = Array.from({ length: 2048 * 2 + 5 }, (_, i) => values[i % values.length]!);
      const n = Int32Array.from({ length: all.length }, (_, i) => i);
      await appendColumns(connection, 't', [INTEGER, DOUBLE], [n, Float64Array.from(all)], all.length);
      const rows = (await connection.runAndReadAll('SELECT v FROM t ORDER BY n')).getRows();
      expect(rows.map(([v]) => v)).toEqual(all.map((v) => BigInt(v)));
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});

describe('PendingAppend', () => {
  it('holds rows until flushed, then appends them all in the order given; longer arrays count only their rows', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run('CREATE TABLE t (n INTEGER NOT NULL, x DOUBLE NOT NULL, text VARCHAR NOT NULL)');
      const pending = new PendingAppend('t', [INTEGER, DOUBLE, VARCHAR]);
      const count = async () =>
        Number((await connection.runAndReadAll('SELECT count(*) FROM t')).getRows()[0]![0]);
      // Parts of 3, 0 and 2 rows; the first part's arrays are longer than its rows.
      await pending.add(
        connection,
        [Int32Array.of(1, 2, 3, 99), Float64Array.of(0.5, 1.5, 2.5, 99), ['a', 'b', 'c', 'z']],
        3,
      );
      await pending.add(connection, [new Int32Array(0), new Float64Array(0), []], 0);
      await pending.add(connection, [Int32Array.of(4, 5), Float64Array.of(3.5, 4.5), ['d', 'e']], 2);
      expect(await count()).toBe(0);
      await pending.flush(connection);
      const rows = (await connection.runAndReadAll('SELECT n, x, text FROM t ORDER BY n')).getRows();
      expect(rows).toEqual([
        [1, 0.5, 'a'],
        [2, 1.5, 'b'],
        [3, 2.5, 'c'],
        [4, 3.5, 'd'],
        [5, 4.5, 'e'],
      ]);
      // Nothing is held twice, and `clear` drops what is held.
      await pending.flush(connection);
      await pending.add(connection, [Int32Array.of(6), Float64Array.of(6), ['f']], 1);
      pending.clear();
      await pending.flush(connection);
      expect(await count()).toBe(5);
      // A column count other than the table's is refused.
      await expect(pending.add(connection, [Int32Array.of(7)], 1)).rejects.toThrow(RangeError);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('appends on its own once 65,536 rows are held', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run('CREATE TABLE t (n INTEGER NOT NULL)');
      const pending = new PendingAppend('t', [INTEGER]);
      const part = Int32Array.from({ length: 30_000 }, (_, i) => i);
      await pending.add(connection, [part], part.length);
      await pending.add(connection, [part], part.length);
      const count = async () =>
        Number((await connection.runAndReadAll('SELECT count(*) FROM t')).getRows()[0]![0]);
      expect(await count()).toBe(0);
      await pending.add(connection, [part], part.length);
      expect(await count()).toBe(90_000);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
