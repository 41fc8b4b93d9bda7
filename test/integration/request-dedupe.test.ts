/**
 * Each request counted once on the local engine: S3 may deliver a log record twice, in one object or in
 * two objects delivered days apart; the request id (with the host id) identifies it. A repeat changes
 * no total, is reported as dropped, and a rerun adds nothing, whatever order and threads read the files.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { type IngestOptions, ingestPaths } from '../../functions/cli/local-ingest.js';
import type { InputSummary } from '../../functions/ports.js';
import { logLine } from '../support/log-lines.js';
import { networkFiguresOf } from '../support/network-figures.js';

let root: string;
let states: string;

/** Line `i` of a day's traffic: a request of its own, at its own time, in one of several rows. */
function line(i: number, overrides: Parameters<typeof logLine>[0] = {}): string {
  return logLine({
    time: `14/Mar/2026:${String(i % 24).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000`,
    requester: `arn:aws:iam::111122223333:user/u${i % 4}`,
    requestId: `REQ${String(i).padStart(8, '0')}X`,
    hostId: `host${i % 3}/${i}=`,
    key: `feeds/d${i % 3}/f${i % 7}.csv`,
    bytesSent: String(1000 + i * 13),
    ...overrides,
  });
}

function text(lines: readonly string[]): string {
  return `${lines.join('\n')}\n`;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

async function put(rel: string, body: string): Promise<string> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, body);
  return path;
}

interface Totals {
  readonly requests: bigint;
  readonly bytesSent: bigint;
  readonly rows: number;
  readonly byRequester: Record<string, string>;
  /** The network table, summed by key: a repeat must change it no more than the rollup. */
  readonly network: readonly string[];
}

async function totalsOf(store: DuckDbState): Promise<Totals> {
  const rows = await store.usageSource.usage({ startMs: 0, endMs: Date.UTC(2100, 0, 1) });
  const byRequester: Record<string, string> = {};
  let requests = 0n;
  let bytesSent = 0n;
  for (const r of rows) {
    requests += r.requests;
    bytesSent += r.bytesSent;
    const k = `${r.requester} ${r.dataset} ${r.slotStart}`;
    byRequester[k] = String(BigInt(byRequester[k] ?? '0') + r.requests) + `/${r.bytesSent}`;
  }
  return {
    requests,
    bytesSent,
    rows: rows.length,
    byRequester,
    network: await networkFiguresOf(store.database),
  };
}

let stateCount = 0;

/** Ingests `runs` one after the other into a fresh state; the totals and each run's input summary. */
async function ingest(
  runs: readonly (readonly string[])[],
  options: Partial<IngestOptions> = {},
): Promise<{ totals: Totals; summaries: InputSummary[]; store: DuckDbState }> {
  const store = await DuckDbState.open(join(states, `s${stateCount++}.duckdb`));
  const summaries: InputSummary[] = [];
  for (const paths of runs) {
    const outcome = await ingestPaths(store.ingestLog, paths, { datasetDepth: 2, workers: 0, ...options });
    summaries.push(outcome.summary);
  }
  return { totals: await totalsOf(store), summaries, store };
}

/** The totals of the distinct requests `ids`, written once each in one file. */
async function truthOf(ids: readonly number[]): Promise<Totals> {
  const path = await put(
    `truth/${stateCount}/2026-03-14-23-59-59-TRUTHTRUTHTRUTH`,
    text(ids.map((i) => line(i))),
  );
  const { totals, store } = await ingest([[path]]);
  await store.close();
  return totals;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dedupe-'));
  states = await mkdtemp(join(tmpdir(), 'dedupe-state-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(states, { recursive: true, force: true });
});

describe('a record delivered twice is counted once (local engine)', () => {
  it('counts the same log object delivered under two keys once, and reports its lines as repeats', async () => {
    const body = text(range(0, 300).map((i) => line(i)));
    const first = await put('twice/a/2026-03-14-10-00-00-AAAAAAAAAAAAAAAA', body);
    const second = await put('twice/b/2026-03-15-02-10-00-BBBBBBBBBBBBBBBB', body);
    const truth = await truthOf(range(0, 300));
    const { totals, summaries, store } = await ingest([[first, second]]);
    expect(totals).toEqual(truth);
    expect(summaries[0]!.parsedLines).toBe(600);
    expect(summaries[0]!.repeatsDropped).toBe(300);
    await store.close();
  });

  it('counts records found in two different objects once, the overlap dropped from the later one', async () => {
    const early = await put(
      'overlap/2026-03-14-10-00-00-CCCCCCCCCCCCCCCC',
      text(range(0, 200).map((i) => line(i))),
    );
    const late = await put(
      'overlap/2026-03-17-06-00-00-DDDDDDDDDDDDDDDD',
      text([...range(150, 260), ...range(20, 30)].map((i) => line(i))),
    );
    const truth = await truthOf(range(0, 260));
    const { totals, summaries, store } = await ingest([[early, late]]);
    expect(totals).toEqual(truth);
    expect(summaries[0]!.repeatsDropped).toBe(60);
    await store.close();
  });

  it('drops a repeat inside one object, and keeps every line without a request id', async () => {
    const noId = line(5, { requestId: '-' });
    const path = await put(
      'inside/2026-03-14-11-00-00-EEEEEEEEEEEEEEEE',
      text([...range(0, 50).map((i) => line(i)), line(7), line(8), line(7), noId, noId, noId]),
    );
    const { totals, summaries, store } = await ingest([[path]]);
    const truth = await truthOf(range(0, 50));
    expect(totals.requests).toBe(truth.requests + 3n);
    expect(totals.bytesSent).toBe(truth.bytesSent + 3n * BigInt(1000 + 5 * 13));
    expect(summaries[0]!.repeatsDropped).toBe(3);
    await store.close();
  });

  it('tells two requests with one request id but different host ids apart', async () => {
    const path = await put(
      'hosts/2026-03-14-12-00-00-FFFFFFFFFFFFFFFF',
      text([line(1), line(1, { hostId: 'another-host=' }), line(1)]),
    );
    const { totals, summaries, store } = await ingest([[path]]);
    expect(totals.requests).toBe(2n);
    expect(summaries[0]!.repeatsDropped).toBe(1);
    await store.close();
  });

  it('drops a late repeat delivered in a later run, and adds nothing when the runs are repeated', async () => {
    const day1 = await put(
      'runs/2026-03-14-10-00-00-GGGGGGGGGGGGGGGG',
      text(range(0, 120).map((i) => line(i))),
    );
    const day3 = await put(
      'runs/2026-03-16-10-00-00-HHHHHHHHHHHHHHHH',
      text(range(100, 180).map((i) => line(i))),
    );
    const truth = await truthOf(range(0, 180));
    const { totals, summaries, store } = await ingest([[day1], [day1, day3], [day1, day3]]);
    expect(totals).toEqual(truth);
    expect(summaries.map((s) => s.repeatsDropped)).toEqual([0, 20, 20]);
    await store.close();
  });

  it('gives the same totals whichever object is read first, and when re-delivered objects replace', async () => {
    const a = await put(
      'order/x/2026-03-14-10-00-00-IIIIIIIIIIIIIIII',
      text(range(0, 90).map((i) => line(i))),
    );
    const b = await put(
      'order/y/2026-03-15-10-00-00-JJJJJJJJJJJJJJJJ',
      text(range(60, 140).map((i) => line(i))),
    );
    const truth = await truthOf(range(0, 140));
    const forward = await ingest([[a], [b]]);
    const backward = await ingest([[b], [a]]);
    expect(forward.totals).toEqual(truth);
    expect(backward.totals).toEqual(truth);
    // The claiming object delivered again under its own name (new content: one line more) replaces
    // its rows and claims; the other object's repeats stay dropped, and nothing is counted twice.
    const again = await put(
      'order/z/2026-03-14-10-00-00-IIIIIIIIIIIIIIII',
      text(range(0, 91).map((i) => line(i))),
    );
    await ingestPaths(forward.store.ingestLog, [again], { datasetDepth: 2, workers: 0 });
    expect(await totalsOf(forward.store)).toEqual(truth);
    await forward.store.close();
    await backward.store.close();
  });

  it('is exact when objects are read in ranges by several threads and recorded in one group', async () => {
    // Large enough to be cut into ranges; the copy's lines are shuffled into other ranges.
    const ids = range(0, 6000);
    const big = await put('threads/2026-03-14-10-00-00-KKKKKKKKKKKKKKKK', text(ids.map((i) => line(i))));
    const shuffled = [...ids].sort((p, q) => ((p * 7919) % 6007) - ((q * 7919) % 6007));
    const copy = await put(
      'threads/2026-03-15-10-00-00-LLLLLLLLLLLLLLLL',
      text([...shuffled.slice(0, 3000), ...range(6000, 6100)].map((i) => line(i))),
    );
    const small = range(0, 40).map(async (k) =>
      put(
        `threads/small/2026-03-16-10-00-${String(k).padStart(2, '0')}-M${k}`,
        text([line(k * 37), line(7000 + k)]),
      ),
    );
    const paths = [big, copy, ...(await Promise.all(small))];
    const truth = await truthOf([...range(0, 6100), ...range(7000, 7040)]);
    const plan = {
      splitAbove: 64 * 1024,
      minRangeBytes: 48 * 1024,
      maxRangeBytes: 96 * 1024,
      groupBytes: 4096,
    };
    const { totals, summaries, store } = await ingest([paths], { workers: 2, plan });
    expect(totals).toEqual(truth);
    expect(summaries[0]!.repeatsDropped).toBe(3000 + 40);
    await store.close();
  }, 60_000);

  it('forgets request ids of event days further back than the window', async () => {
    const old = await put(
      'window/2026-03-01-10-00-00-NNNNNNNNNNNNNNNN',
      text([line(1, { time: '01/Mar/2026:10:00:00 +0000' })]),
    );
    const recent = await put(
      'window/2026-03-14-10-00-00-OOOOOOOOOOOOOOOO',
      text(range(10, 20).map((i) => line(i))),
    );
    const lateCopy = await put(
      'window/2026-03-20-10-00-00-PPPPPPPPPPPPPPPP',
      text([line(1, { time: '01/Mar/2026:10:00:00 +0000' }), line(12)]),
    );
    const { totals, summaries, store } = await ingest([[old, recent], [lateCopy]], { requestIdDays: 7 });
    // 13 days after the newest day: the request of 1 March was forgotten and counts again; the
    // repeat within the window is still dropped.
    expect(totals.requests).toBe(1n + 10n + 1n);
    expect(summaries[1]!.repeatsDropped).toBe(1);
    await store.close();
  });
});
