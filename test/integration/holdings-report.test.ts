/**
 * Holdings read back by partner, application and dataset (functions/domain/HOLDINGS.md): attributed in
 * DuckDB with the registry given, distinct objects once per partner however many applications read
 * them, a read without a size joining its sized object, local days in the partner's zone, and the
 * statement rendered as text, CSV and escaped HTML.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbState } from '../../functions/adapters/duckdb/index.js';
import { HoldingsRequestError, readHoldings } from '../../functions/audit/read-holdings.js';
import { ingestPaths } from '../../functions/cli/local-ingest.js';
import { decimalRatio, type HoldingsSection } from '../../functions/domain/holdings.js';
import { holdingsToCsv } from '../../functions/domain/holdings-csv.js';
import { type Registry, RegistrySchema } from '../../functions/domain/registry.js';
import { holdingsHtml } from '../../functions/render/holdings-html.js';
import { holdingsStatementText } from '../../functions/render/holdings-text.js';
import { logLine } from '../support/log-lines.js';

let root: string;
let store: DuckDbState;

const INGEST = 'arn:aws:iam::111122223333:user/ingest';
const VIEWER = 'arn:aws:iam::111122223333:user/viewer';
const STRANGER = 'arn:aws:iam::999988887777:user/someone';

function registry(withViewer = true): Registry {
  return RegistrySchema.parse({
    version: 1,
    provider: {
      name: 'Northwind Data',
      noticeFrom: 'Data Partnerships <partners@northwind.example>',
      contactEmail: 'compliance@northwind.example',
    },
    partners: [
      {
        id: 'acme',
        name: 'Acme <Analytics>',
        accountOwners: [{ email: 'ops@acme.example' }],
        // UTC+1 in March: 23:30 UTC on the 14th is the 15th locally.
        timeZone: 'Europe/Berlin',
        applications: [
          { id: 'ingest', name: 'Ingest', principals: [{ arn: INGEST }] },
          ...(withViewer ? [{ id: 'viewer', name: 'Viewer', principals: [{ arn: VIEWER }] }] : []),
        ],
        contracts: [
          {
            id: 'acme-2026',
            effectiveFrom: '2026-01-01',
            currency: 'EUR',
            datasets: ['feeds/weather/'],
            limits: { monthly: { requests: 1000000 } },
          },
        ],
      },
    ],
  });
}

function read(time: string, requester: string, key: string, f: Parameters<typeof logLine>[0] = {}): string {
  return logLine({
    time,
    requester,
    key,
    uri: `"GET /${key} HTTP/1.1"`,
    bytesSent: '1000',
    objectSize: '1000',
    ...f,
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'holdings-report-'));
  const path = join(root, 'logs', '2026-03-16-00-00-00-AAAAAAAAAAAAAAAA');
  await mkdir(dirname(path), { recursive: true });
  const lines = [
    // a.csv: read twice by ingest, once by viewer: one object for the partner, one per application.
    read('14/Mar/2026:10:00:00 +0000', INGEST, 'feeds/weather/a.csv'),
    read('14/Mar/2026:11:00:00 +0000', INGEST, 'feeds/weather/a.csv'),
    read('14/Mar/2026:12:00:00 +0000', VIEWER, 'feeds/weather/a.csv'),
    // b.csv: read only in a range, 250 of its 4000 bytes.
    read('14/Mar/2026:12:30:00 +0000', INGEST, 'feeds/weather/b.csv', {
      status: '206',
      bytesSent: '250',
      objectSize: '4000',
    }),
    // c.csv: once with no size logged, once sized: one object of 500 bytes.
    read('14/Mar/2026:13:00:00 +0000', INGEST, 'feeds/weather/c.csv', { objectSize: '-', bytesSent: '500' }),
    read('14/Mar/2026:13:05:00 +0000', INGEST, 'feeds/weather/c.csv', {
      objectSize: '500',
      bytesSent: '500',
    }),
    // d.csv: no size at all: an object of unknown size.
    read('14/Mar/2026:13:10:00 +0000', INGEST, 'feeds/weather/d.csv', { objectSize: '-', bytesSent: '70' }),
    // <tag>.csv in another dataset, late on the 14th in UTC: the 15th in Berlin.
    read('14/Mar/2026:23:30:00 +0000', VIEWER, 'feeds/%3Cscript%3E/x.csv'),
    // Not the partner's: never in its holdings.
    read('14/Mar/2026:10:00:00 +0000', STRANGER, 'feeds/weather/a.csv'),
  ];
  await writeFile(path, `${lines.join('\n')}\n`);
  store = await DuckDbState.open(join(root, 'state.duckdb'));
  await ingestPaths(store.ingestLog, [path], { datasetDepth: 2, workers: 0, holdings: true });
});

afterAll(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const holdings = (reg: Registry, from: string, to: string): Promise<HoldingsSection> =>
  readHoldings({ registry: reg, holdings: store.holdings }, { from, to });

describe('holdings by partner, application and dataset (local engine)', () => {
  it('counts distinct objects, their bytes and records, and first and last retrieval, per partner and application', async () => {
    const s = await holdings(registry(), '2026-03-01', '2026-04-01');
    const acme = s.partners[0]!;
    expect(acme.totals).toEqual({
      objects: '5',
      partialObjects: '1',
      unknownSizeObjects: '1',
      objectBytes: String(1000 + 4000 + 500 + 1000),
      records: '0',
      retrievals: '8',
      fullRetrievals: '7',
      bytesSent: String(3000 + 250 + 1000 + 70 + 1000),
      redownloadRatio: decimalRatio(5320n, 6500n),
      firstRetrieval: '2026-03-14T10:00:00.000Z',
      lastRetrieval: '2026-03-14T23:30:00.000Z',
    });
    expect(acme.totals.redownloadRatio).toBe('0.8184');
    const weather = acme.datasets.filter((d) => d.dataset === 'feeds/weather/');
    expect(weather.map((d) => [d.applicationId, d.objects, d.retrievals, d.bytesSent])).toEqual([
      ['*', '4', '7', '4320'],
      ['ingest', '4', '6', '3320'],
      ['viewer', '1', '1', '1000'],
    ]);
    expect(
      acme.datasets.find((d) => d.dataset === 'feeds/<script>/' && d.applicationId === '*')?.objects,
    ).toBe('1');
  });

  it('cuts local days in the partner zone, and charts distinct objects by the date of their first read', async () => {
    const on14 = await holdings(registry(), '2026-03-14', '2026-03-15');
    expect(on14.partners[0]!.totals.objects).toBe('4');
    const on15 = await holdings(registry(), '2026-03-15', '2026-03-16');
    expect(on15.partners[0]!.datasets.map((d) => [d.applicationId, d.dataset, d.objects])).toEqual([
      ['*', 'feeds/<script>/', '1'],
      ['viewer', 'feeds/<script>/', '1'],
    ]);
    const all = await holdings(registry(), '2026-03-01', '2026-04-01');
    expect(all.partners[0]!.overTime.filter((o) => o.applicationId === '*')).toEqual([
      { applicationId: '*', dataset: 'feeds/<script>/', date: '2026-03-15', newObjects: '1', objects: '1' },
      { applicationId: '*', dataset: 'feeds/weather/', date: '2026-03-14', newObjects: '4', objects: '4' },
    ]);
  });

  it('applies a registry change to past reads without reading the logs again', async () => {
    const s = await holdings(registry(false), '2026-03-01', '2026-04-01');
    expect(s.partners[0]!.datasets.map((d) => d.applicationId)).toEqual(['*', 'ingest']);
    expect(s.partners[0]!.totals.objects).toBe('4');
  });

  it('refuses a window or partner it cannot read, naming the field', async () => {
    await expect(holdings(registry(), '2026-03-10', '2026-03-10')).rejects.toThrow(HoldingsRequestError);
    await expect(
      readHoldings(
        { registry: registry(), holdings: store.holdings },
        { from: '2026-03-01', to: '2026-04-01', partners: ['nobody'] },
      ),
    ).rejects.toThrow(/partner: nobody is not in the registry/);
  });

  it('renders the statement as text and CSV, and as HTML with every registry and log text escaped', async () => {
    const s = await holdings(registry(), '2026-03-01', '2026-04-01');
    const text = holdingsStatementText(s);
    expect(text).toContain('Holdings statement: Acme <Analytics> (acme)');
    expect(text).toContain('Distinct objects:        5 (1 read only in ranges) (1 of unknown size)');
    expect(text).toContain('Re-download ratio:       0.8184');
    const csv = holdingsToCsv(s);
    expect(csv.split('\r\n')[0]).toBe(
      'partner_id,partner_name,from,to,application_id,dataset,objects,partial_objects,unknown_size_objects,object_bytes,records,retrievals,full_retrievals,bytes_sent,redownload_ratio,first_retrieval,last_retrieval',
    );
    expect(csv).toContain(
      'acme,Acme <Analytics>,2026-03-01,2026-04-01,*,*,5,1,1,6500,0,8,7,5320,0.8184,2026-03-14T10:00:00.000Z,2026-03-14T23:30:00.000Z\r\n',
    );
    const page = holdingsHtml(s).toString();
    expect(page).not.toContain('<script>');
    expect(page).toContain('feeds/&lt;script&gt;/');
    expect(page).toContain('Acme &lt;Analytics&gt;');
    expect(page).toContain('<svg class="chart holdings"');
  });
});
