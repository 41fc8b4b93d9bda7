/**
 * The run planner's rules, written once for both engines: the window asked for, the run id, the code
 * version, and the run's report files written through the ReportStore port.
 */
import { describe, expect, it } from 'vitest';
import {
  CODE_VERSION,
  newRunId,
  publishRunReport,
  RUN_ID_FORMAT,
  RUN_OUTPUTS,
  RunWindowError,
  requestedWindow,
  utcDate,
  writePreview,
} from '../../functions/audit/run-planner.js';
import type { ReportStore } from '../../functions/ports.js';
import packageJson from '../../package.json' with { type: 'json' };

/** A ReportStore that keeps what it is given, in order. */
class MemoryReportStore implements ReportStore {
  readonly puts: { name: string; body: string; contentType: string }[] = [];
  async put(name: string, body: string | Uint8Array, contentType: string): Promise<string> {
    this.puts.push({
      name,
      body: typeof body === 'string' ? body : Buffer.from(body).toString(),
      contentType,
    });
    return `mem:${name}`;
  }
}

describe('requestedWindow', () => {
  const today = '2026-03-20';
  it.each([
    ['both: that window', { from: '2026-02-01', to: '2026-03-01' }, { from: '2026-02-01', to: '2026-03-01' }],
    ['both, past today', { from: '2026-03-19', to: '2026-03-25' }, { from: '2026-03-19', to: '2026-03-25' }],
    ['only to: the month it closes', { to: '2026-03-01' }, { from: '2026-02-01', to: '2026-03-01' }],
    ['only to, mid-month: from the first', { to: '2026-03-10' }, { from: '2026-03-01', to: '2026-03-10' }],
    ['only from: up to today, exclusive', { from: '2026-01-15' }, { from: '2026-01-15', to: '2026-03-20' }],
  ])('%s', (_, request, window) => {
    expect(requestedWindow(request, today)).toEqual(window);
  });

  it('leaves the window to the engine when neither bound is given', () => {
    expect(requestedWindow({}, today)).toBeUndefined();
    expect(requestedWindow({ from: undefined, to: undefined }, today)).toBeUndefined();
  });

  it.each([
    [{ from: '2026-03-21' }, /"from" \(2026-03-21\) is in the future \(today is 2026-03-20\)/],
    [{ from: '2026-03-20' }, /"from" \(2026-03-20\) must be before today \(2026-03-20\)/],
    [{ from: '2026-03-05', to: '2026-03-05' }, /"from" \(2026-03-05\) must be before "to" \(2026-03-05\)/],
    [{ from: '2026-03-10', to: '2026-03-01' }, /must be before "to"/],
  ])('refuses %j, saying why', (request, message) => {
    expect(() => requestedWindow(request, today)).toThrow(RunWindowError);
    expect(() => requestedWindow(request, today)).toThrow(message);
  });
});

describe('run id and code version', () => {
  it('makes an id from the start time, to the second, and six random hex digits', () => {
    const at = new Date('2026-03-20T10:04:05.678Z');
    const a = newRunId(at);
    expect(a).toMatch(RUN_ID_FORMAT);
    expect(a.startsWith('20260320T100405Z-')).toBe(true);
    expect(newRunId(at)).not.toBe(a);
  });

  it('keeps an execution name, with odd characters made safe', () => {
    expect(newRunId(new Date(), 'nightly-2026/03/20 x')).toBe('nightly-2026_03_20_x');
  });

  it('states the version in package.json', () => {
    expect(CODE_VERSION).toBe(packageJson.version);
    expect(CODE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('takes today as the UTC date', () => {
    expect(utcDate(new Date('2026-03-31T23:30:00-02:00'))).toBe('2026-04-01');
  });
});

describe('publishRunReport and writePreview', () => {
  const input = {
    runId: '20260320T100000Z-abcdef',
    engine: 'test',
    window: { from: '2026-03-01', to: '2026-03-20' },
    dryRun: true,
    registryHash: 'h',
    input: {
      files: 0,
      filesSkipped: 0,
      bytes: 0,
      lines: 0,
      parsedLines: 0,
      malformedLines: 0,
      malformedByReason: {},
      malformedSamples: [],
      unreadableFiles: [],
    },
    evaluations: [],
    unattributed: { figures: [], findings: [] },
    uncovered: [],
    notices: [],
    noticeDiffs: [],
  };
  const clock = { now: () => new Date('2026-03-20T10:00:00Z') };

  it('writes the CSV, the page, the schema and the network findings CSV, then report.json last, under the prefix', async () => {
    const store = new MemoryReportStore();
    const out = await publishRunReport(
      { reports: store, clock, renderHtml: (r) => `<p>${r.runId}</p>` },
      input,
      { prefix: 'runs/x/', withSchema: true },
    );
    expect(store.puts.map((p) => [p.name, p.contentType])).toEqual([
      [`runs/x/${RUN_OUTPUTS.csv}`, 'text/csv; charset=utf-8'],
      [`runs/x/${RUN_OUTPUTS.html}`, 'text/html; charset=utf-8'],
      [`runs/x/${RUN_OUTPUTS.schema}`, 'application/json'],
      [`runs/x/${RUN_OUTPUTS.networkCsv}`, 'text/csv; charset=utf-8'],
      [`runs/x/${RUN_OUTPUTS.json}`, 'application/json'],
    ]);
    expect(out.locations).toEqual({
      csv: 'mem:runs/x/usage.csv',
      html: 'mem:runs/x/report.html',
      json: 'mem:runs/x/report.json',
    });
    expect(out.html).toBe('<p>20260320T100000Z-abcdef</p>');
    expect(JSON.parse(store.puts.at(-1)!.body)).toMatchObject({
      runId: input.runId,
      codeVersion: packageJson.version,
      generatedAt: '2026-03-20T10:00:00.000Z',
      window: input.window,
    });
  });

  it('writes no schema unless asked', async () => {
    const store = new MemoryReportStore();
    await publishRunReport({ reports: store, clock, renderHtml: () => '' }, input, { prefix: '' });
    expect(store.puts.map((p) => p.name)).toEqual([
      'usage.csv',
      'report.html',
      'network-findings.csv',
      'report.json',
    ]);
  });

  it('writes a preview as its page, then the message itself', async () => {
    const store = new MemoryReportStore();
    expect(await writePreview(store, 'notices/a-2026-03-warning', { raw: 'MIME', html: '<p>hi</p>' })).toBe(
      'mem:notices/a-2026-03-warning.eml',
    );
    expect(store.puts).toEqual([
      { name: 'notices/a-2026-03-warning.html', body: '<p>hi</p>', contentType: 'text/html; charset=utf-8' },
      { name: 'notices/a-2026-03-warning.eml', body: 'MIME', contentType: 'message/rfc822' },
    ]);
  });
});
