/**
 * The request identities of staged rows, checked when their group is recorded (request-claims.ts):
 * which line of a repeated identity is kept, what is taken back out of which partial row, which
 * claims are written with which file and day, and that stored claims are found on the group's days,
 * also when many identities fall on one slot of the hash table.
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  claimDays,
  claimsView,
  claimTable,
  clearRequestClaims,
  createClaimTable,
  forgetRequestClaims,
  RequestIdStage,
} from '../../functions/adapters/duckdb/request-claims.js';
import { StagedRollup } from '../../functions/adapters/duckdb/rollup-writer.js';
import { CREATE_SCHEMA } from '../../functions/adapters/duckdb/schema.js';
import type { ColumnarRequestIds } from '../../functions/domain/usage.js';

/** A slot number of 14 March 2026 (slot numbers count 15 minutes from the epoch). */
const SLOT = Math.floor(Date.UTC(2026, 2, 14, 10) / 900_000);
const DAY = Math.floor(SLOT / 96);

interface Line {
  readonly item: number;
  readonly ref: number;
  readonly high: number;
  readonly low: number;
  readonly slot?: number;
  readonly bytes?: number;
}

function lines(list: readonly Line[]): ColumnarRequestIds {
  const n = list.length;
  return {
    count: n,
    item: Int32Array.from(list, (l) => l.item),
    ref: Int32Array.from(list, (l) => l.ref),
    slot: Int32Array.from(list, (l) => l.slot ?? SLOT),
    hashHigh: Int32Array.from(list, (l) => l.high),
    hashLow: Int32Array.from(list, (l) => l.low),
    bytesSent: Float64Array.from(list, (l) => l.bytes ?? 100),
    records: Float64Array.from(list, () => 1),
    netRef: Int32Array.from(list, (l) => l.ref),
    // No line read an object for holdings.
    heldRef: new Int32Array(n).fill(-1),
  };
}

let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeEach(async () => {
  instance = await DuckDBInstance.create(':memory:');
  connection = await instance.connect();
  for (const statement of CREATE_SCHEMA) await connection.run(statement);
  // The work tables and rollup_stream, which the negative rows go into.
  await StagedRollup.open(connection);
});

afterEach(() => {
  connection.closeSync();
  instance.closeSync();
});

/** Claims of recorded files, as [id hash, day, file], into their days' tables (and the view). */
async function claim(list: readonly (readonly [number, number, number])[]): Promise<void> {
  for (const [hash, day, file] of list) {
    await connection.run(createClaimTable(day));
    await connection.run(`INSERT INTO ${claimTable(day)} VALUES (${hash}, ${file})`);
  }
  await connection.run(claimsView(await claimDays(connection)));
}

async function rows(sql: string): Promise<unknown[][]> {
  return (await connection.runAndReadAll(sql)).getRows().map((r) => r.map((v) => Number(v)));
}

/** One staged partial row per (task, ref) the lines name, so that negatives find their row. */
async function stageRows(task: number, refs: readonly { item: number; ref: number }[]): Promise<void> {
  for (const { item, ref } of refs) {
    await connection.run(
      `INSERT INTO rollup_stream VALUES (${item}, ${SLOT}, 2, 0, ${ref}, 0, 0, 0, 5, 500, 5, ${task}, ${ref})`,
    );
  }
}

describe('RequestIdStage.dropRepeats', () => {
  it('keeps the first line of an identity in the group order and takes the others out of their rows', async () => {
    const stage = new RequestIdStage();
    // Items 7 and 3, recorded in the order 3, 7: identity (1, 1) is in both; (2, 2) twice in item 7.
    stage.stage(
      10,
      lines([
        { item: 7, ref: 0, high: 1, low: 1, bytes: 40 },
        { item: 7, ref: 1, high: 2, low: 2, bytes: 50 },
        { item: 7, ref: 2, high: 2, low: 2, bytes: 60 },
      ]),
    );
    stage.stage(
      11,
      lines([
        { item: 3, ref: 0, high: 1, low: 1, bytes: 40 },
        { item: 3, ref: 0, high: 9, low: 9, bytes: 70 },
      ]),
    );
    await stageRows(10, [
      { item: 7, ref: 0 },
      { item: 7, ref: 1 },
      { item: 7, ref: 2 },
    ]);
    await stageRows(11, [{ item: 3, ref: 0 }]);
    const dropped = await stage.dropRepeats(connection, [
      { item: 3, batch: 'b3' },
      { item: 7, batch: 'b7' },
    ]);
    // Item 7's copy of (1, 1) (item 3 comes first) and its later (2, 2) line (ref 2 after ref 1).
    expect(Object.fromEntries(dropped)).toEqual({ 7: 2 });
    expect(
      await rows(
        'SELECT task, ref, requests, bytes_sent, records FROM rollup_stream WHERE requests < 0 ORDER BY ref',
      ),
    ).toEqual([
      [10, 0, -1, -40, -1],
      [10, 2, -1, -60, -1],
    ]);
    // Three identities claimed, each by the file of its kept line (numbered from 1 in the group order).
    expect(await rows('SELECT id_hash, day, file FROM request_claims ORDER BY id_hash')).toEqual([
      [2 ** 32 + 1, DAY, 1],
      [2 * 2 ** 32 + 2, DAY, 2],
      [9 * 2 ** 32 + 9, DAY, 1],
    ]);
    expect(await rows('SELECT file FROM request_claim_files ORDER BY file')).toEqual([[1], [2]]);
    expect(stage.count).toBe(0);
  });

  it('drops every line of an identity a recorded file claimed on one of the group’s days, and claims the rest', async () => {
    await claim([
      [5 * 2 ** 32 + 5, DAY, 1],
      [6 * 2 ** 32 + 6, DAY - 3, 1],
    ]);
    await connection.run("INSERT INTO request_claim_files VALUES (1, 'recorded')");
    const stage = new RequestIdStage();
    stage.stage(
      1,
      lines([
        { item: 0, ref: 0, high: 5, low: 5 },
        { item: 0, ref: 0, high: 5, low: 5 },
        { item: 0, ref: 1, high: 6, low: 6 },
        { item: 0, ref: 1, high: 6, low: 6, slot: SLOT - 3 * 96 },
        { item: 0, ref: 1, high: 8, low: 8, slot: SLOT + 96 },
      ]),
    );
    await stageRows(1, [
      { item: 0, ref: 0 },
      { item: 0, ref: 1 },
    ]);
    const dropped = await stage.dropRepeats(connection, [{ item: 0, batch: 'b' }]);
    // Both lines of (5, 5); the two of (6, 6), whose earliest line is on the day of its claim.
    expect(dropped.get(0)).toBe(4);
    expect(await rows('SELECT id_hash, day FROM request_claims WHERE file > 1 ORDER BY id_hash')).toEqual([
      [8 * 2 ** 32 + 8, DAY + 1],
    ]);
  });

  it('keeps, of an identity repeated across chunks, the line first in the group order, and claims it on its earliest day', async () => {
    const stage = new RequestIdStage();
    // Identity (4, 4) three times, in three chunks: item 6 (first in the group) in tasks 22 and 21,
    // item 5 in task 20 on the day before. The line kept is item 6's of task 21 (the lower task), which
    // staging order puts last.
    stage.stage(22, lines([{ item: 6, ref: 0, high: 4, low: 4, slot: SLOT + 96, bytes: 30 }]));
    stage.stage(20, lines([{ item: 5, ref: 0, high: 4, low: 4, slot: SLOT, bytes: 20 }]));
    stage.stage(21, lines([{ item: 6, ref: 1, high: 4, low: 4, slot: SLOT + 96, bytes: 10 }]));
    await stageRows(22, [{ item: 6, ref: 0 }]);
    await stageRows(20, [{ item: 5, ref: 0 }]);
    await stageRows(21, [{ item: 6, ref: 1 }]);
    const dropped = await stage.dropRepeats(connection, [
      { item: 6, batch: 'b6' },
      { item: 5, batch: 'b5' },
    ]);
    expect(Object.fromEntries(dropped)).toEqual({ 5: 1, 6: 1 });
    expect(
      await rows(
        'SELECT task, ref, requests, bytes_sent FROM rollup_stream WHERE requests < 0 ORDER BY task',
      ),
    ).toEqual([
      [20, 0, -1, -20],
      [22, 0, -1, -30],
    ]);
    expect(await rows('SELECT id_hash, day, file FROM request_claims')).toEqual([[4 * 2 ** 32 + 4, DAY, 1]]);
    expect(stage.count).toBe(0);
  });

  it('checks group after group on one stage, the later group against the claims of the earlier', async () => {
    const stage = new RequestIdStage();
    // Item 1 (a small group), then item 2 (more lines than a check is kept for) repeating two of item
    // 1's identities, then item 3 (small again) repeating one of item 2's.
    stage.stage(
      1,
      lines([
        { item: 1, ref: 0, high: 5, low: 5 },
        { item: 1, ref: 0, high: 6, low: 6 },
      ]),
    );
    await stageRows(1, [{ item: 1, ref: 0 }]);
    expect((await stage.dropRepeats(connection, [{ item: 1, batch: 'b1' }])).size).toBe(0);
    const many = Array.from(
      { length: 120_000 },
      (_, k): Line => ({ item: 2, ref: 0, high: 100 + k, low: k }),
    );
    stage.stage(
      2,
      lines([...many, { item: 2, ref: 1, high: 5, low: 5 }, { item: 2, ref: 1, high: 6, low: 6 }]),
    );
    await stageRows(2, [
      { item: 2, ref: 0 },
      { item: 2, ref: 1 },
    ]);
    expect(Object.fromEntries(await stage.dropRepeats(connection, [{ item: 2, batch: 'b2' }]))).toEqual({
      2: 2,
    });
    stage.stage(
      3,
      lines([
        { item: 3, ref: 0, high: 100, low: 0 },
        { item: 3, ref: 0, high: 7, low: 7 },
      ]),
    );
    await stageRows(3, [{ item: 3, ref: 0 }]);
    expect(Object.fromEntries(await stage.dropRepeats(connection, [{ item: 3, batch: 'b3' }]))).toEqual({
      3: 1,
    });
    expect(await rows('SELECT file, count(*) FROM request_claims GROUP BY file ORDER BY file')).toEqual([
      [1, 2],
      [2, 120_000],
      [3, 1],
    ]);
    expect(stage.count).toBe(0);
  });

  it('checks a group none of whose lines are staged as holding nothing, and leaves the staged lines', async () => {
    const stage = new RequestIdStage();
    stage.stage(1, lines([{ item: 9, ref: 0, high: 3, low: 3 }]));
    const dropped = await stage.dropRepeats(connection, [{ item: 1, batch: 'e' }]);
    expect(dropped.size).toBe(0);
    expect(await rows('SELECT count(*) FROM request_claims')).toEqual([[0]]);
    expect(stage.count).toBe(1);
  });

  it('tells apart identities that share a table slot, and leaves the lines of other items staged', async () => {
    const stage = new RequestIdStage();
    // low ^ (high >>> 15) is the same for all: every identity hashes to one table slot.
    const same = (k: number): Line => ({ item: k % 2, ref: k % 2, high: k << 15, low: 12345 ^ k });
    const list = Array.from({ length: 500 }, (_, k) => same(k));
    stage.stage(1, lines([...list, ...list.slice(0, 100), { item: 5, ref: 0, high: 1, low: 1 }]));
    await stageRows(1, [
      { item: 0, ref: 0 },
      { item: 1, ref: 1 },
    ]);
    const dropped = await stage.dropRepeats(connection, [
      { item: 0, batch: 'b' },
      { item: 1, batch: 'b' },
    ]);
    expect(Object.fromEntries(dropped)).toEqual({ 0: 50, 1: 50 });
    expect(await rows('SELECT count(*), count(DISTINCT id_hash) FROM request_claims')).toEqual([[500, 500]]);
    // Item 5 is not in the group: its line stays for its own group.
    expect(stage.count).toBe(1);
    stage.discard([5]);
    expect(stage.count).toBe(0);
  });

  it('writes more claims than one slice holds, every one once, in day order', async () => {
    const stage = new RequestIdStage();
    // 140,000 identities on three days, the days interleaved in staging order.
    const n = 140_000;
    const list = Array.from(
      { length: n },
      (_, k): Line => ({
        item: 0,
        ref: 0,
        high: k,
        low: -k,
        slot: SLOT + (k % 3) * 96,
      }),
    );
    stage.stage(1, lines(list));
    await stageRows(1, [{ item: 0, ref: 0 }]);
    expect((await stage.dropRepeats(connection, [{ item: 0, batch: 'b' }])).size).toBe(0);
    expect(await rows('SELECT count(*), count(DISTINCT id_hash) FROM request_claims')).toEqual([[n, n]]);
    expect(await rows('SELECT day, count(*) FROM request_claims GROUP BY day ORDER BY day')).toEqual([
      [DAY, 46_667],
      [DAY + 1, 46_667],
      [DAY + 2, 46_666],
    ]);
    // Each day's claims in that day's table.
    expect(await claimDays(connection)).toEqual([DAY, DAY + 1, DAY + 2]);
    expect(await rows(`SELECT count(*) FROM ${claimTable(DAY + 2)}`)).toEqual([[46_666]]);
  });

  it('checks a group alike whether lines of other items are staged beside it or not', async () => {
    // 120,000 lines over four items and three tasks, a third of them repeats within the group (in
    // other items, tasks and rows too), on two days: more identities than one slice of claims.
    let seed = 7;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const chunks: { task: number; list: Line[] }[] = [];
    for (let c = 0; c < 6; c++) {
      const list = Array.from({ length: 20_000 }, (): Line => {
        const id = next(80_000);
        return {
          item: next(4),
          ref: next(8),
          high: id,
          low: id ^ 0x5a5a,
          slot: SLOT + next(2) * 96,
          bytes: 10 + next(90),
        };
      });
      chunks.push({ task: c % 3, list });
    }
    const group = [2, 0, 3, 1].map((item) => ({ item, batch: 'b' }));
    const outcome = async (extra: boolean) => {
      await clearRequestClaims(connection);
      await connection.run('DELETE FROM request_claim_files');
      await connection.run('DELETE FROM rollup_stream');
      const refs = [0, 1, 2, 3].flatMap((item) => Array.from({ length: 8 }, (_, ref) => ({ item, ref })));
      for (const task of [0, 1, 2]) await stageRows(task, refs);
      const stage = new RequestIdStage();
      for (const { task, list } of chunks) stage.stage(task, lines(list));
      // A line of an item outside the group: the group no longer holds every staged line.
      if (extra) stage.stage(9, lines([{ item: 8, ref: 0, high: 1, low: 1 ^ 0x5a5a }]));
      const dropped = await stage.dropRepeats(connection, group);
      expect(stage.count).toBe(extra ? 1 : 0);
      return {
        dropped: Object.fromEntries(dropped),
        claims: await rows('SELECT id_hash, day, file FROM request_claims ORDER BY id_hash'),
        negatives: await rows(`SELECT item, task, ref, requests, bytes_sent FROM rollup_stream
          WHERE requests < 0 ORDER BY item, task, ref`),
      };
    };
    const whole = await outcome(false);
    const part = await outcome(true);
    expect(whole.claims.length).toBeGreaterThan(50_000);
    expect(Object.values(whole.dropped).reduce((a, b) => a + b, 0)).toBe(120_000 - whole.claims.length);
    expect(whole.negatives.length).toBeGreaterThan(0);
    expect(part).toEqual(whole);
  });
});

describe('forgetting the claims of days out of the window', () => {
  it('drops the tables of days more than the window before the newest, and keeps the view in step', async () => {
    await claim([
      [1, DAY - 10, 1],
      [2, DAY - 8, 1],
      [3, DAY - 7, 1],
      [4, DAY, 1],
    ]);
    await forgetRequestClaims(connection, 7);
    expect(await claimDays(connection)).toEqual([DAY - 7, DAY]);
    expect(await rows('SELECT id_hash, day FROM request_claims ORDER BY day')).toEqual([
      [3, DAY - 7],
      [4, DAY],
    ]);
    // Nothing older than the window: nothing dropped, the same view.
    await forgetRequestClaims(connection, 7);
    expect(await claimDays(connection)).toEqual([DAY - 7, DAY]);
    await expect(forgetRequestClaims(connection, 0)).rejects.toThrow(/whole number of days >= 1, got 0/);
  });

  it('leaves no claim table and an empty view when the claims are cleared', async () => {
    await claim([
      [1, DAY - 1, 1],
      [2, DAY, 1],
    ]);
    await clearRequestClaims(connection);
    expect(await claimDays(connection)).toEqual([]);
    expect(await rows('SELECT count(*) FROM request_claims')).toEqual([[0]]);
  });
});

describe('the window across a month end, with a record delivered days late', () => {
  it('keeps the last days of February past 1 March, and drops a late repeat of one of them', async () => {
    // 2026 is not a leap year: 26, 27 and 28 February, then 1 and 3 March (UTC days).
    const day = (month: number, date: number) => Date.UTC(2026, month, date) / 86_400_000;
    await claim([
      [11, day(1, 26), 1],
      [12, day(1, 27), 1],
      [13, day(1, 28), 1],
      [14, day(2, 1), 1],
      [15, day(2, 3), 1],
    ]);
    await connection.run("INSERT INTO request_claim_files VALUES (1, 'recorded')");
    // A window of 5 days from 3 March reaches back to 26 February, 6 to 25: the month end does not
    // shorten it.
    await forgetRequestClaims(connection, 5);
    expect(await claimDays(connection)).toEqual([day(1, 26), day(1, 27), day(1, 28), day(2, 1), day(2, 3)]);
    await forgetRequestClaims(connection, 4);
    expect(await claimDays(connection)).toEqual([day(1, 27), day(1, 28), day(2, 1), day(2, 3)]);
    // Delivered on 3 March: the request of 28 February at 23:59 UTC again, and one new request of 28
    // February.
    const slot28 = (day(1, 28) + 1) * 96 - 1;
    const stage = new RequestIdStage();
    stage.stage(
      1,
      lines([
        { item: 0, ref: 0, high: 0, low: 13, slot: slot28 },
        { item: 0, ref: 0, high: 0, low: 16, slot: slot28 },
      ]),
    );
    await stageRows(1, [{ item: 0, ref: 0 }]);
    const dropped = await stage.dropRepeats(connection, [{ item: 0, batch: 'late' }]);
    expect(dropped.get(0)).toBe(1);
    expect(await rows(`SELECT id_hash FROM ${claimTable(day(1, 28))} ORDER BY id_hash`)).toEqual([
      [13],
      [16],
    ]);
  });
});
