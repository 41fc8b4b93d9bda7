import { describe, expect, it } from 'vitest';
import { StringTable } from '../../functions/adapters/logs/string-table.js';

describe('StringTable', () => {
  it('gives each string one dense id', () => {
    const table = new StringTable();
    expect([table.id('x'), table.id('y'), table.id('x')]).toEqual([0, 1, 0]);
    expect(table.values).toEqual(['x', 'y']);
  });
});
