/**
 * `partner-audit holdings`: the statement of one partner from a state file, as text, JSON and CSV, and
 * clear errors for a window, partner or state it cannot read.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { UsageError } from '../../functions/cli/args.js';
import { runHoldingsCommand } from '../../functions/cli/holdings-command.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { logLine } from '../support/log-lines.js';

let root: string;
let registry: string;
let db: string;

const REGISTRY = {
  version: 1,
  provider: {
    name: 'Northwind Data',
    noticeFrom: 'Data Partnerships <partners@northwind.example>',
    contactEmail: 'compliance@northwind.example',
  },
  partners: [
    {
      id: 'acme',
      name: 'Acme Analytics',
      accountOwners: [{ email: 'ops@acme.example' }],
      timeZone: 'UTC',
      applications: [{ id: 'ingest', name: 'Ingest', principals: [{ account: '111122223333' }] }],
      contracts: [
        {
          id: 'acme-2026',
          effectiveFrom: '2026-01-01',
          currency: 'EUR',
          datasets: ['feeds/weather/'],
          limits: { monthly: { requests: 1000 } },
        },
      ],
    },
  ],
};

async function run(argv: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    expect(await runHoldingsCommand(argv)).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'holdings-command-'));
  registry = join(root, 'registry.json');
  await writeFile(registry, JSON.stringify(REGISTRY));
  await mkdir(join(root, 'logs'));
  const log = join(root, 'logs', '2026-03-15-00-00-00-AAAAAAAAAAAAAAAA');
  await writeFile(
    log,
    `${[
      logLine({
        time: '14/Mar/2026:10:00:00 +0000',
        key: 'feeds/weather/a.csv',
        bytesSent: '100',
        objectSize: '100',
      }),
      logLine({
        time: '14/Mar/2026:11:00:00 +0000',
        key: 'feeds/weather/a.csv',
        bytesSent: '100',
        objectSize: '100',
      }),
    ].join('\n')}\n`,
  );
  db = join(root, 'state.duckdb');
  const store = await DuckDbState.open(db);
  await ingestPaths(store.ingestLog, [log], { datasetDepth: 2, workers: 0, holdings: true });
  await store.close();
});

afterEach(() => vi.restoreAllMocks());

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('partner-audit holdings', () => {
  const window = ['--from', '2026-03-01', '--to', '2026-04-01', '--registry', '', '--db', ''];
  const args = (...extra: string[]) => {
    const w = [...window];
    w[5] = registry;
    w[7] = db;
    return ['--partner', 'acme', ...w, ...extra];
  };

  it('prints the statement: one object read twice, ratio 2', async () => {
    const text = await run(args());
    expect(text).toContain('Holdings statement: Acme Analytics (acme)');
    expect(text).toContain('Distinct objects:        1\n');
    expect(text).toContain('Retrievals:              2 (2 whole)');
    expect(text).toContain('Re-download ratio:       2.0000');
  });

  it('prints JSON and CSV', async () => {
    const json = JSON.parse(await run(args('--json'))) as { partners: { totals: { objects: string } }[] };
    expect(json.partners[0]!.totals.objects).toBe('1');
    const csv = await run(args('--csv'));
    expect(csv).toContain('acme,Acme Analytics,2026-03-01,2026-04-01,*,*,1,0,0,100,0,2,2,200,2.0000,');
  });

  it('names what it cannot read', async () => {
    await expect(
      runHoldingsCommand(['--partner', 'acme', '--from', '2026-03-01', '--registry', registry]),
    ).rejects.toThrow(/--from YYYY-MM-DD and --to YYYY-MM-DD are required/);
    await expect(
      runHoldingsCommand([
        '--partner',
        'nobody',
        '--from',
        '2026-03-01',
        '--to',
        '2026-04-01',
        '--registry',
        registry,
        '--db',
        db,
      ]),
    ).rejects.toThrow(UsageError);
    await expect(
      runHoldingsCommand([
        '--partner',
        'acme',
        '--from',
        '2026-03-01',
        '--to',
        '2026-04-01',
        '--registry',
        registry,
        '--db',
        join(root, 'none.duckdb'),
      ]),
    ).rejects.toThrow(/no state file there/);
  });

  it('refuses a state ingested without holdings (settings.holdings off), saying how to turn them on', async () => {
    const off = join(root, 'off.duckdb');
    const store = await DuckDbState.open(off);
    await ingestPaths(store.ingestLog, [join(root, 'logs')], { datasetDepth: 2, workers: 0 });
    await store.close();
    const w = args();
    w[w.indexOf(db)] = off;
    const refused = runHoldingsCommand(w);
    await expect(refused).rejects.toThrow(UsageError);
    await expect(refused).rejects.toThrow(
      /off\.duckdb keeps no holdings: set `settings\.holdings: true` in the registry and run ingest/,
    );
  });
});
