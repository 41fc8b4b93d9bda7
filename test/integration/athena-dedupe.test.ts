/**
 * Each request counted once on the AWS path (the MERGE of a delivery date, on the local Athena server),
 * with the same totals as the local engine given the same log objects: a log object delivered twice
 * under two keys, records repeated in one object, and records of one object delivered again days later
 * in another delivery date's partition.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import {
  AthenaUsageSource,
  athenaInputSummary,
} from '../../functions/adapters/athena/athena-usage-source.js';
import { replaceBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import type { UsageRow } from '../../functions/domain/usage.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { localAthenaClient } from '../support/aws-local-clients.js';
import { logLine } from '../support/log-lines.js';

const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
const PREFIX = 'logs/111122223333/eu-central-1/meteo-feeds-prod';
const RANGE = { startMs: Date.UTC(2026, 2, 1), endMs: Date.UTC(2026, 3, 1) };

let dir: string;
const servers: AthenaLocalServer[] = [];

/** Request `i`: its own id, time and row; events on 14 March. */
function line(i: number): string {
  return logLine({
    time: `14/Mar/2026:${String(10 + (i % 12)).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}:00 +0000`,
    requester: `arn:aws:iam::111122223333:user/u${i % 3}`,
    requestId: `AWS${String(i).padStart(8, '0')}Q`,
    hostId: `h${i}/x=`,
    key: `feeds/d${i % 2}/f${i % 5}.csv`,
    bytesSent: String(500 + i * 11),
  });
}

function text(ids: readonly number[]): string {
  return `${ids.map(line).join('\n')}\n`;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

function sorted(rows: readonly UsageRow[]): UsageRow[] {
  const key = (r: UsageRow) =>
    [r.slotStart, r.bucket, r.requester, r.accessPoint, r.dataset, r.operation, r.statusClass].join('|');
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** A log object: the delivery date is in the key (PartitionedPrefix, delivery-time dates). */
interface LogObject {
  readonly date: string;
  readonly name: string;
  readonly body: string;
}

async function athenaWith(objects: readonly LogObject[]) {
  const server = await AthenaLocalServer.start(tables);
  servers.push(server);
  for (const o of objects) await server.addLogObject(`${PREFIX}/${o.date}/${o.name}`, o.body);
  const runner = new AthenaQueryRunner(localAthenaClient(server.endpoint), {
    workGroup: 'partner-audit',
    sleep: async () => {},
  });
  // A run id per read: the same statement in the same run is one idempotent query, whose first answer
  // would come back again.
  let reads = 0;
  return {
    rollUp: async (batch: string, lookback = 0) => {
      await runner.run(
        replaceBatchRollupSql(tables, batch, { datasetDepth: 2, requestIdLookbackDays: lookback }),
        `r-${batch}-${Math.random()}`,
      );
    },
    usage: async () => sorted(await new AthenaUsageSource(runner, tables, `read-${reads++}`).usage(RANGE)),
    input: (from: string, to: string) => athenaInputSummary(runner, tables, `read-${reads++}`, { from, to }),
  };
}

/** The local engine's usage of the same objects (files named as the keys' last segments). */
async function localUsage(objects: readonly LogObject[]): Promise<UsageRow[]> {
  const root = await mkdtemp(join(dir, 'local-'));
  const paths: string[] = [];
  for (const o of objects) {
    const path = join(root, o.date.replaceAll('/', '-'), o.name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, o.body);
    paths.push(path);
  }
  const store = await DuckDbState.open(join(root, 'state.duckdb'));
  try {
    await ingestPaths(store.ingestLog, paths, { datasetDepth: 2, workers: 0 });
    return sorted(await store.usageSource.usage(RANGE));
  } finally {
    await store.close();
  }
}

function totals(rows: readonly UsageRow[]): { requests: bigint; bytes: bigint } {
  return rows.reduce((t, r) => ({ requests: t.requests + r.requests, bytes: t.bytes + r.bytesSent }), {
    requests: 0n,
    bytes: 0n,
  });
}

const FIRST = { date: '2026/03/14', name: '2026-03-14-12-00-00-AAAAAAAAAAAAAAAA', body: text(range(0, 60)) };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'athena-dedupe-'));
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the Athena roll-up counts each request once', () => {
  it('counts a log object delivered twice in one delivery date once, as the local engine does', async () => {
    const copy = { ...FIRST, name: '2026-03-14-13-30-00-BBBBBBBBBBBBBBBB' };
    const athena = await athenaWith([FIRST, copy]);
    await athena.rollUp('2026/03/14');
    const usage = await athena.usage();
    const truth = await localUsage([FIRST]);
    expect(usage).toEqual(truth);
    expect(await localUsage([FIRST, copy])).toEqual(truth);
    const input = await athena.input('2026/03/14', '2026/03/14');
    expect(input.repeatsDropped).toBe(60);
    expect(input.parsedLines).toBe(120);
    expect(input.lines).toBe(120);
  });

  it('drops repeats inside one object', async () => {
    const doubled = { ...FIRST, body: text([...range(0, 60), 3, 4, 3]) };
    const athena = await athenaWith([doubled]);
    await athena.rollUp('2026/03/14');
    expect(await athena.usage()).toEqual(await localUsage([FIRST]));
    expect((await athena.input('2026/03/14', '2026/03/14')).repeatsDropped).toBe(3);
  });

  it('with a lookback, drops records delivered again three days later, in either roll-up order and on reruns', async () => {
    const late = {
      date: '2026/03/17',
      name: '2026-03-17-08-00-00-CCCCCCCCCCCCCCCC',
      body: text(range(40, 90)),
    };
    const truth = await localUsage([{ ...FIRST, body: text(range(0, 90)) }]);
    expect(await localUsage([FIRST, late])).toEqual(truth);

    const forward = await athenaWith([FIRST, late]);
    await forward.rollUp('2026/03/14', 3);
    await forward.rollUp('2026/03/17', 3);
    expect(await forward.usage()).toEqual(truth);
    expect((await forward.input('2026/03/14', '2026/03/17')).repeatsDropped).toBe(20);
    // Rerunning either date, in any order, changes nothing.
    await forward.rollUp('2026/03/14', 3);
    await forward.rollUp('2026/03/17', 3);
    await forward.rollUp('2026/03/14', 3);
    expect(await forward.usage()).toEqual(truth);

    const backward = await athenaWith([FIRST, late]);
    await backward.rollUp('2026/03/17', 3);
    await backward.rollUp('2026/03/14', 3);
    expect(await backward.usage()).toEqual(truth);
    expect((await backward.input('2026/03/14', '2026/03/17')).repeatsDropped).toBe(20);
  });

  it('without a lookback (the default), checks each delivery date on its own', async () => {
    const late = {
      date: '2026/03/17',
      name: '2026-03-17-08-00-00-DDDDDDDDDDDDDDDD',
      body: text(range(40, 90)),
    };
    const athena = await athenaWith([FIRST, late]);
    await athena.rollUp('2026/03/14');
    await athena.rollUp('2026/03/17');
    const once = totals(await localUsage([{ ...FIRST, body: text(range(0, 90)) }]));
    expect(totals(await athena.usage()).requests).toBe(once.requests + 20n);
  });

  it('with a lookback, does not reach records whose event is earlier than it', async () => {
    const late = {
      date: '2026/03/17',
      name: '2026-03-17-08-00-00-EEEEEEEEEEEEEEEE',
      body: text(range(40, 90)),
    };
    const athena = await athenaWith([FIRST, late]);
    await athena.rollUp('2026/03/14', 2);
    await athena.rollUp('2026/03/17', 2);
    const once = totals(await localUsage([{ ...FIRST, body: text(range(0, 90)) }]));
    expect(totals(await athena.usage()).requests).toBe(once.requests + 20n);
  });
});
