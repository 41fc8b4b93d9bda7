/**
 * The coded tables' dictionary (functions/adapters/duckdb/rollup-strings.ts): `stringCodes` gives each
 * string one dense code, adds only the strings not held yet, and leaves nothing behind when the
 * transaction that added a string rolls back.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchCodeOf, stringCodes } from '../../functions/adapters/duckdb/rollup-strings.js';

let instance: DuckDBInstance;

beforeEach(async () => {
  instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  await c.run('CREATE TABLE rollup_strings (id INTEGER NOT NULL, value VARCHAR NOT NULL)');
  c.closeSync();
});

afterEach(() => {
  instance.closeSync();
});

async function held(): Promise<[number, string][]> {
  const c = await instance.connect();
  const rows = (await c.runAndReadAll('SELECT id, value FROM rollup_strings ORDER BY id')).getRows();
  c.closeSync();
  return rows.map(([id, value]) => [Number(id), String(value)]);
}

describe('stringCodes', () => {
  it('codes new strings densely from 0, each once however often it is asked for, in sorted order', async () => {
    const c = await instance.connect();
    const codes = await stringCodes(c, ['b', 'a', 'b', 'c', 'a']);
    expect([...codes].sort()).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
    expect(await held()).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
  });

  it('reads the codes of strings held and adds the others after the largest code', async () => {
    const c = await instance.connect();
    await c.run("INSERT INTO rollup_strings VALUES (0, 'x'), (1, 'y'), (5, 'z')");
    const codes = await stringCodes(c, ['z', 'new 2', 'x', 'new 1', 'ünï cödé / key with spaces']);
    expect(codes.get('x')).toBe(0);
    expect(codes.get('z')).toBe(5);
    expect(codes.get('new 1')).toBe(6);
    expect(codes.get('new 2')).toBe(7);
    expect(codes.get('ünï cödé / key with spaces')).toBe(8);
    expect((await held()).length).toBe(6);
    // Asked again, nothing is added and the codes are the same.
    expect(await stringCodes(c, ['new 1', 'y'])).toEqual(
      new Map([
        ['new 1', 6],
        ['y', 1],
      ]),
    );
    expect((await held()).length).toBe(6);
  });

  it('adds nothing for an empty list', async () => {
    const c = await instance.connect();
    expect((await stringCodes(c, [])).size).toBe(0);
    expect(await held()).toEqual([]);
  });

  it('leaves no string of a transaction that rolled back, and codes it again afterwards', async () => {
    const c = await instance.connect();
    await stringCodes(c, ['kept']);
    await c.run('BEGIN TRANSACTION');
    expect((await stringCodes(c, ['group:abc'])).get('group:abc')).toBe(1);
    await c.run('ROLLBACK');
    expect(await held()).toEqual([[0, 'kept']]);
    expect((await stringCodes(c, ['other', 'group:abc'])).get('group:abc')).toBe(1);
    expect(await held()).toEqual([
      [0, 'kept'],
      [1, 'group:abc'],
      [2, 'other'],
    ]);
  });
});

describe('batchCodeOf', () => {
  it('names the batch that has no code', () => {
    expect(batchCodeOf(new Map([['group:a', 3]]), 'group:a')).toBe(3);
    expect(() => batchCodeOf(new Map(), 'group:b')).toThrow(/batch "group:b" has no code in rollup_strings/);
  });
});
