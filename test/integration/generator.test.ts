import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GenerateOptionsError,
  type GenerateSummary,
  type GroundTruthJson,
  generateDataset,
  MAX_PARTNERS,
  renderLine,
} from '../../functions/cli/generate/generator.js';
import { parseRegistry, type Registry } from '../../functions/domain/registry.js';
import { localDateOf } from '../../functions/domain/time.js';

const tempDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'generator-test-'));
  tempDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function readLog(path: string): string {
  const raw = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
}

/** Lines of a log object: every line the generator writes ends in a newline. */
function linesOf(text: string): string[] {
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

// ---- An independent reading of the logs, written for this test only ----------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** The leading fields up to the object size: none of them can hold a space or a quote. */
const HEAD =
  /^\S+ \S+ \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\] \S+ (\S+) \S+ (\S+) (\S+) (?:"[^"]*"|-) (\d{3}|-) \S+ (\d+|-) (\d+|-)(?: |$)/;
const ACCESS_POINT = / (arn:aws:s3:[a-z0-9-]+:\d{12}:accesspoint\/[^ ]+)(?: |$)/;

interface Simple {
  timeMs: number;
  requester: string;
  operation: string;
  key: string;
  status: string;
  bytesSent: bigint;
  accessPoint: string;
  /** Old 18-field lines end with the quoted user agent and the version id. */
  oldLayout: boolean;
}

function parseSimple(line: string): Simple | undefined {
  const m = HEAD.exec(line);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!);
  if (month < 0) return undefined;
  const sign = m[7] === '-' ? -1 : 1;
  const offsetMs = sign * (Number(m[8]) * 60 + Number(m[9])) * 60_000;
  const wall = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  return {
    timeMs: wall - offsetMs,
    requester: m[10]!,
    operation: m[11]!,
    key: m[12]!,
    status: m[13]!,
    bytesSent: m[14] === '-' ? 0n : BigInt(m[14]!),
    accessPoint: ACCESS_POINT.exec(line)?.[1] ?? '-',
    oldLayout: /" [^ "]+$/.test(line),
  };
}

function globRegex(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

type Who = { partnerId: string; appId: string };

function attributor(reg: Registry): (requester: string, accessPoint: string) => Who | undefined {
  const exact = new Map<string, Who>();
  const aps = new Map<string, Who>();
  const canon = new Map<string, Who>();
  const globs: [RegExp, Who][] = [];
  const accounts = new Map<string, Who>();
  for (const p of reg.partners) {
    for (const a of p.applications) {
      const who = { partnerId: p.id, appId: a.id };
      for (const pr of a.principals) {
        if ('arn' in pr) exact.set(pr.arn, who);
        else if ('accessPoint' in pr) aps.set(pr.accessPoint, who);
        else if ('canonicalUserId' in pr) canon.set(pr.canonicalUserId, who);
        else if ('arnGlob' in pr) globs.push([globRegex(pr.arnGlob), who]);
        else accounts.set(pr.account, who);
      }
    }
  }
  return (requester, accessPoint) => {
    const role = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\//.exec(requester);
    return (
      exact.get(requester) ??
      (role ? exact.get(`arn:aws:iam::${role[1]}:role/${role[2]}`) : undefined) ??
      aps.get(accessPoint) ??
      canon.get(requester) ??
      globs.find(([re]) => re.test(requester))?.[1] ??
      accounts.get(/^arn:aws:(?:iam|sts)::(\d{12}):/.exec(requester)?.[1] ?? '')
    );
  };
}

function manifestLookup(csv: string): (key: string) => bigint {
  const entries = csv
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && l !== 'key_or_prefix,records')
    .map((l) => {
      const i = l.lastIndexOf(',');
      return [l.slice(0, i), BigInt(l.slice(i + 1))] as const;
    });
  return (key) => {
    const hit = entries.find(([k]) => k === key);
    if (hit) return hit[1];
    let best: readonly [string, bigint] | undefined;
    for (const e of entries) {
      if (e[0].endsWith('/') && key.startsWith(e[0]) && (!best || e[0].length > best[0].length)) best = e;
    }
    return best?.[1] ?? 0n;
  };
}

interface C {
  requests: bigint;
  bytesSent: bigint;
  records: bigint;
}
const zero = (): C => ({ requests: 0n, bytesSent: 0n, records: 0n });
const json = (c: C) => ({
  requests: c.requests.toString(),
  bytesSent: c.bytesSent.toString(),
  records: c.records.toString(),
});

interface Recount {
  lines: number;
  malformed: number;
  partners: Map<string, Map<string, { total: C; apps: Map<string, C>; days: Map<string, C> }>>;
  unregistered: Map<string, { requests: bigint; bytesSent: bigint }>;
  shapes: Set<string>;
}

function recount(outDir: string): Recount {
  const reg = parseRegistry(readFileSync(join(outDir, 'registry.yaml'), 'utf8'), 'registry.yaml');
  const attribute = attributor(reg);
  const records = manifestLookup(readFileSync(join(outDir, 'manifest.csv'), 'utf8'));
  const ignored = reg.settings.ignoredRequesters.map(globRegex);
  const zoneOf = new Map(reg.partners.map((p) => [p.id, p.timeZone]));
  const r: Recount = {
    lines: 0,
    malformed: 0,
    partners: new Map(),
    unregistered: new Map(),
    shapes: new Set(),
  };
  for (const file of walk(join(outDir, 'logs'))) {
    for (const line of linesOf(readLog(file))) {
      r.lines++;
      const s = parseSimple(line);
      if (!s) {
        r.malformed++;
        continue;
      }
      if (s.oldLayout) r.shapes.add('18 fields');
      if (!line.includes(' +0000] ')) r.shapes.add('non-UTC offset');
      if (line.includes(' - - - ') && s.operation === 'S3.EXPIRE.OBJECT') r.shapes.add('bare dashes');
      if (s.accessPoint !== '-') r.shapes.add('access point');
      if (/ "[^"]*"[^"]*"[^"]*" (?:-|[A-Za-z0-9._]{32}) [A-Za-z0-9+/=]{76} /.test(line))
        r.shapes.add('quote in agent');
      if (s.requester.startsWith('svc:')) r.shapes.add('svc');
      r.shapes.add(`${s.operation} ${s.status}`);
      const who = attribute(s.requester, s.accessPoint);
      if (!who) {
        if (ignored.some((re) => re.test(s.requester))) continue;
        const u = r.unregistered.get(s.requester) ?? { requests: 0n, bytesSent: 0n };
        u.requests++;
        u.bytesSent += s.bytesSent;
        r.unregistered.set(s.requester, u);
        continue;
      }
      const counted =
        s.operation === 'REST.GET.OBJECT' && (s.status.startsWith('2') || s.status.startsWith('3'));
      if (!counted) continue;
      const c: C = {
        requests: 1n,
        bytesSent: s.bytesSent,
        records: s.status === '200' ? records(s.key) : 0n,
      };
      const date = localDateOf(s.timeMs, zoneOf.get(who.partnerId)!);
      const months = r.partners.get(who.partnerId) ?? new Map();
      r.partners.set(who.partnerId, months);
      const month = months.get(date.slice(0, 7)) ?? { total: zero(), apps: new Map(), days: new Map() };
      months.set(date.slice(0, 7), month);
      const add = (t: C) => {
        t.requests += c.requests;
        t.bytesSent += c.bytesSent;
        t.records += c.records;
      };
      add(month.total);
      const app = month.apps.get(who.appId) ?? zero();
      month.apps.set(who.appId, app);
      add(app);
      const day = month.days.get(date) ?? zero();
      month.days.set(date, day);
      add(day);
    }
  }
  return r;
}

// ---- The specification ------------------------------------------------------------------------

describe('generateDataset', () => {
  let out: string;
  let summary: GenerateSummary;
  let truth: GroundTruthJson;
  let registry: Registry;
  let counted: Recount;

  beforeAll(async () => {
    out = tempDir();
    // Across a month end and Berlin's DST change (29 March), in both key layouts.
    summary = await generateDataset({
      outDir: out,
      seed: 7,
      start: '2026-03-25',
      days: 10,
      requestsPerDay: 3000,
    });
    truth = JSON.parse(readFileSync(summary.groundTruthPath, 'utf8')) as GroundTruthJson;
    registry = parseRegistry(readFileSync(summary.registryPath, 'utf8'), summary.registryPath);
    counted = recount(out);
  });

  describe('the registry it writes', () => {
    it('is a valid partner registry with partners in different billing time zones', () => {
      const zones = new Set(registry.partners.map((p) => p.timeZone));
      expect(registry.partners).toHaveLength(4);
      expect(zones).toEqual(new Set(['America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'UTC']));
      expect(registry.settings.manifest).toBe('manifest.csv');
    });

    it('identifies applications by every kind of principal', () => {
      const kinds = new Set(
        registry.partners.flatMap((p) =>
          p.applications.flatMap((a) => a.principals.map((pr) => Object.keys(pr)[0])),
        ),
      );
      expect(kinds).toEqual(new Set(['arn', 'arnGlob', 'account', 'canonicalUserId', 'accessPoint']));
      for (const p of registry.partners) expect(p.applications.length).toBeGreaterThanOrEqual(2);
    });

    it('gives one partner an older contract version that ended before the logs begin', () => {
      const withOld = registry.partners.filter((p) => p.contracts.length > 1);
      expect(withOld).toHaveLength(1);
      const ended = withOld[0]!.contracts.filter((c) => c.effectiveTo !== undefined);
      expect(ended).toHaveLength(1);
      expect(ended[0]!.effectiveTo! <= '2026-03-01').toBe(true);
    });

    it('counts successful and not-modified object reads, with per-application and records limits somewhere', () => {
      for (const p of registry.partners) {
        const c = p.contracts.at(-1)!;
        expect(c.counted).toEqual({ operations: ['REST.GET.OBJECT'], statuses: ['2xx', '3xx'] });
        expect(c.limits.monthly.requests).toBeDefined();
        expect(c.limits.daily.bytesSent).toBeDefined();
      }
      const current = registry.partners.map((p) => p.contracts.at(-1)!);
      expect(current.filter((c) => Object.keys(c.applicationLimits).length > 0)).toHaveLength(1);
      expect(current.filter((c) => c.limits.monthly.records !== undefined)).toHaveLength(1);
    });

    it('matches the limits the ground truth states', () => {
      for (const p of registry.partners) {
        const c = p.contracts.at(-1)!;
        const t = truth.partners[p.id]!;
        expect(t.limits.monthly.requests).toBe(c.limits.monthly.requests!.toString());
        expect(t.limits.daily.requests).toBe(c.limits.daily.requests!.toString());
        expect(t.contractId).toBe(c.id);
      }
    });
  });

  describe('the ground truth', () => {
    it('accounts for every line written: the summary, the truth and a recount agree', () => {
      expect(summary.lines).toBe(counted.lines);
      expect(truth.input.lines).toBe(String(counted.lines));
      expect(truth.input.malformedLines).toBe(String(counted.malformed));
      expect(Number(truth.input.malformedLines)).toBeGreaterThanOrEqual(3);
      expect(Number(truth.input.parsedLines) + Number(truth.input.malformedLines)).toBe(counted.lines);
    });

    it('states counted usage per partner, month, application and local day exactly as a recount finds it', () => {
      const partnerIds = Object.keys(truth.partners).sort();
      expect([...counted.partners.keys()].sort()).toEqual(partnerIds);
      for (const id of partnerIds) {
        const months = counted.partners.get(id)!;
        const t = truth.partners[id]!;
        expect(Object.keys(t.months).sort()).toEqual([...months.keys()].sort());
        for (const [month, m] of months) {
          const tm = t.months[month]!;
          expect(tm.counted).toEqual(json(m.total));
          for (const [appId, c] of m.apps) expect(tm.applications[appId]!.counted).toEqual(json(c));
          const days = Object.fromEntries(
            Object.entries(tm.days).map(([d, v]) => [
              d,
              { requests: v.requests, bytesSent: v.bytesSent, records: v.records },
            ]),
          );
          expect(days).toEqual(Object.fromEntries([...m.days].map(([d, c]) => [d, json(c)])));
        }
      }
    });

    it('states what unregistered and anonymous requesters did, all operations included', () => {
      const expected = Object.fromEntries(
        [...counted.unregistered].map(([r, u]) => [
          r,
          { requests: u.requests.toString(), bytesSent: u.bytesSent.toString() },
        ]),
      );
      const stated = Object.fromEntries(
        Object.entries(truth.unregistered).map(([r, u]) => [
          r,
          { requests: u.requests, bytesSent: u.bytesSent },
        ]),
      );
      expect(stated).toEqual(expected);
      const crawler = Object.entries(truth.unregistered).find(([r]) => r.startsWith('arn:aws:iam::'));
      expect(crawler?.[1].touchedPartnerData).toBe(true);
      expect(truth.unregistered['-']?.anonymous).toBe(true);
    });

    it('cuts billing months at local midnight in each zone (Kolkata at 18:30 UTC)', () => {
      const kaveri = truth.partners['kaveri']!;
      expect(kaveri.months['2026-04']!.startUtc).toBe('2026-03-31T18:30:00.000Z');
      expect(kaveri.months['2026-03']!.endUtc).toBe('2026-03-31T18:30:00.000Z');
      expect(truth.partners['northwind']!.months['2026-04']!.startUtc).toBe('2026-04-01T04:00:00.000Z');
    });

    it('lands the partners under, near, over and far over their monthly limits', () => {
      const percent = (id: string) => {
        const p = truth.partners[id]!;
        return Number(p.months[p.mainMonth]!.utilisation.requests!.percent);
      };
      const byProfile = Object.fromEntries(Object.entries(truth.partners).map(([id, p]) => [p.profile, id]));
      expect(percent(byProfile['under']!)).toBeCloseTo(40, 0);
      expect(percent(byProfile['near']!)).toBeCloseTo(85, 0);
      expect(percent(byProfile['over']!)).toBeCloseTo(120, 0);
      expect(percent(byProfile['far-over']!)).toBeCloseTo(170, 0);
      const far = truth.partners[byProfile['far-over']!]!;
      expect(far.months[far.mainMonth]!.daysOverDailyCap).toBeGreaterThanOrEqual(2);
      const under = truth.partners[byProfile['under']!]!;
      expect(Object.values(under.months).every((m) => m.daysOverDailyCap === 0)).toBe(true);
      expect(
        truth.partners[byProfile['near']!]!.months[truth.partners[byProfile['near']!]!.mainMonth]!.levels,
      ).toEqual(['warning']);
    });

    it('names the dataset a partner read outside its contract', () => {
      const outside = Object.entries(truth.partners).filter(([, p]) => p.datasetsOutsideContract.length > 0);
      expect(outside).toHaveLength(1);
      const [id, p] = outside[0]!;
      const allowed = registry.partners.find((x) => x.id === id)!.contracts.at(-1)!.datasets;
      for (const ds of p.datasetsOutsideContract) expect(allowed.some((a) => ds.startsWith(a))).toBe(false);
    });
  });

  describe('the logs', () => {
    it('hold the shapes a real bucket produces', () => {
      for (const shape of [
        '18 fields',
        'non-UTC offset',
        'bare dashes',
        'access point',
        'quote in agent',
        'svc',
        'REST.GET.OBJECT 200',
        'REST.GET.OBJECT 206',
        'REST.GET.OBJECT 304',
        'REST.GET.OBJECT 403',
        'REST.GET.OBJECT 404',
        'REST.HEAD.OBJECT 200',
        'REST.PUT.OBJECT 200',
        'BATCH.DELETE.OBJECT 204',
        'S3.EXPIRE.OBJECT -',
      ]) {
        expect(counted.shapes, shape).toContain(shape);
      }
    });

    it('writes URL-encoded keys as S3 does', () => {
      const text = walk(summary.logsDir).map(readLog).join('');
      expect(text).toContain('reference/geo/countries/C%C3%B4te%20d');
      expect(text).not.toMatch(/ REST\.GET\.OBJECT reference\/geo\/countries\/[^ ]*ô/);
    });

    it('puts the first half of the days under SimplePrefix keys and the rest under PartitionedPrefix keys', () => {
      const files = walk(summary.logsDir).map((f) => relative(summary.logsDir, f));
      expect(files).toHaveLength(summary.files);
      const simple = files.filter((f) => f.startsWith('simple/'));
      const partitioned = files.filter((f) => f.startsWith('partitioned/'));
      expect(simple.length + partitioned.length).toBe(files.length);
      for (const f of simple) expect(f).toMatch(/^simple\/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}$/);
      for (const f of partitioned) {
        const m =
          /^partitioned\/\d{12}\/us-east-1\/provider-partner-data\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{4}-\d{2}-\d{2})-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}$/.exec(
            f,
          );
        expect(m, f).not.toBeNull();
        expect(`${m![1]}-${m![2]}-${m![3]}`).toBe(m![4]);
      }
      const lastSimple = simple
        .map((f) => f.slice(7, 17))
        .sort()
        .at(-1)!;
      const firstPartitioned = partitioned.map((f) => f.split('/').at(-1)!.slice(0, 10)).sort()[0]!;
      expect(lastSimple).toBe('2026-03-29');
      expect(firstPartitioned).toBe('2026-03-30');
      // One object an hour, plus one after the window for the last hour's late records.
      expect(files.length).toBeLessThanOrEqual(10 * 24 + 1);
      expect(files.length).toBeGreaterThan(10 * 24 - 5);
    });

    it("delivers some records late, in the next hour's object", () => {
      let late = 0;
      for (const f of walk(join(summary.logsDir, 'simple'))) {
        const name = f.split('/').at(-1)!;
        const hourStart = Date.parse(`${name.slice(0, 10)}T${name.slice(11, 13)}:00:00Z`);
        for (const line of linesOf(readLog(f))) {
          const s = parseSimple(line);
          if (s && s.timeMs < hourStart) late++;
        }
      }
      expect(late).toBeGreaterThan(0);
      expect(truth.input.lateRecords).toBeGreaterThanOrEqual(late);
    });
  });

  it('writes the same bytes for the same seed, and different ones for another', async () => {
    const opts = { start: '2026-01-30', days: 2, requestsPerDay: 400 } as const;
    const a = tempDir();
    const b = tempDir();
    const c = tempDir();
    await generateDataset({ ...opts, outDir: a, seed: 3 });
    await generateDataset({ ...opts, outDir: b, seed: 3 });
    await generateDataset({ ...opts, outDir: c, seed: 4 });
    const contents = (dir: string) =>
      Object.fromEntries(walk(dir).map((f) => [relative(dir, f), readFileSync(f).toString('base64')]));
    expect(contents(b)).toEqual(contents(a));
    expect(readFileSync(join(c, 'registry.yaml'), 'utf8')).not.toBe(
      readFileSync(join(a, 'registry.yaml'), 'utf8'),
    );
  });

  it('writes gzip log objects that gunzip to the lines the ground truth counts', async () => {
    const dir = tempDir();
    const s = await generateDataset({
      outDir: dir,
      start: '2026-05-01',
      days: 2,
      requestsPerDay: 500,
      gzip: true,
      layout: 'partitioned',
    });
    const files = walk(s.logsDir);
    expect(files.length).toBe(s.files);
    expect(files.every((f) => f.endsWith('.gz') && f.includes('/partitioned/'))).toBe(true);
    const lines = files.reduce((n, f) => n + linesOf(gunzipSync(readFileSync(f)).toString('utf8')).length, 0);
    const t = JSON.parse(readFileSync(s.groundTruthPath, 'utf8')) as GroundTruthJson;
    expect(String(lines)).toBe(t.input.lines);
    expect(recount(dir).malformed).toBe(Number(t.input.malformedLines));
  });

  it('leaves malformed lines out when asked', async () => {
    const dir = tempDir();
    const s = await generateDataset({
      outDir: dir,
      start: '2026-05-01',
      days: 1,
      requestsPerDay: 300,
      malformed: false,
    });
    expect(recount(dir).malformed).toBe(0);
    expect(
      (JSON.parse(readFileSync(s.groundTruthPath, 'utf8')) as GroundTruthJson).input.malformedLines,
    ).toBe('0');
  });

  it('in bench mode writes one plain file of exactly the lines asked for, of realistic length', async () => {
    const dir = tempDir();
    const progress: number[] = [];
    const s = await generateDataset({
      outDir: dir,
      start: '2026-03-01',
      days: 30,
      singleFile: { lines: 20_001 },
      onProgress: (done) => progress.push(done),
    });
    const files = walk(s.logsDir);
    expect(files).toHaveLength(1);
    const text = readFileSync(files[0]!, 'utf8');
    expect(linesOf(text)).toHaveLength(20_001);
    expect(s.lines).toBe(20_001);
    expect(s.bytes).toBe(Buffer.byteLength(text));
    expect(s.bytes / s.lines).toBeGreaterThan(450);
    expect(s.bytes / s.lines).toBeLessThan(700);
    expect(progress.at(-1)).toBe(20_001);
    const r = recount(dir);
    const t = JSON.parse(readFileSync(s.groundTruthPath, 'utf8')) as GroundTruthJson;
    expect(String(r.lines)).toBe(t.input.lines);
    expect(String(r.malformed)).toBe(t.input.malformedLines);
    for (const [id, months] of r.partners) {
      for (const [month, m] of months) expect(t.partners[id]!.months[month]!.counted).toEqual(json(m.total));
    }
  });

  it('scales past the named partners with every principal kind in each, still matching a recount', async () => {
    const dir = tempDir();
    const s = await generateDataset({
      outDir: dir,
      start: '2026-12-30',
      days: 3,
      requestsPerDay: 600,
      partners: 10,
      appsPerPartner: 5,
    });
    const reg = parseRegistry(readFileSync(s.registryPath, 'utf8'), s.registryPath);
    expect(reg.partners.map((p) => p.id)).toContain('northwind-2');
    expect(new Set(reg.partners.map((p) => p.timeZone)).size).toBe(8);
    const t = JSON.parse(readFileSync(s.groundTruthPath, 'utf8')) as GroundTruthJson;
    const r = recount(dir);
    for (const [id, months] of r.partners) {
      for (const [month, m] of months) expect(t.partners[id]!.months[month]!.counted).toEqual(json(m.total));
    }
    expect(r.partners.size).toBe(10);
  });

  it('replaces its own logs folder on a re-run', async () => {
    const dir = tempDir();
    await generateDataset({
      outDir: dir,
      start: '2026-05-01',
      days: 1,
      requestsPerDay: 200,
      layout: 'simple',
    });
    await generateDataset({
      outDir: dir,
      start: '2026-05-01',
      days: 1,
      requestsPerDay: 200,
      layout: 'partitioned',
    });
    expect(existsSync(join(dir, 'logs', 'simple'))).toBe(false);
  });

  it('rejects options out of range, naming the option', async () => {
    await expect(generateDataset({ outDir: tempDir(), start: '2026-02-30', days: 1 })).rejects.toThrow(
      GenerateOptionsError,
    );
    await expect(generateDataset({ outDir: tempDir(), start: '2026-02-01', days: 0 })).rejects.toThrow(
      /days/,
    );
  });
});

describe('generateDataset with a thousand partners', () => {
  it('writes a valid registry of 1,000 partners with distinct ids, accounts and access points, and their truth', async () => {
    const dir = tempDir();
    await generateDataset({
      outDir: dir,
      start: '2026-03-01',
      days: 1,
      partners: MAX_PARTNERS,
      requestsPerDay: 3000,
      limits: 'data',
      layout: 'simple',
      malformed: false,
    });
    const reg = parseRegistry(readFileSync(join(dir, 'registry.yaml'), 'utf8'), 'registry.yaml');
    expect(MAX_PARTNERS).toBeGreaterThanOrEqual(1000);
    expect(reg.partners).toHaveLength(MAX_PARTNERS);
    expect(new Set(reg.partners.map((p) => p.id)).size).toBe(MAX_PARTNERS);
    // parseRegistry refuses a principal written twice, so every account, role and access point is distinct.
    const principals = reg.partners.flatMap((p) => p.applications.flatMap((a) => a.principals));
    expect(new Set(principals.map((p) => JSON.stringify(p))).size).toBe(principals.length);
    const truth = JSON.parse(readFileSync(join(dir, 'ground-truth.json'), 'utf8')) as GroundTruthJson;
    expect(Object.keys(truth.partners).sort()).toEqual(reg.partners.map((p) => p.id).sort());
  }, 120_000);

  it('refuses more partners than it supports, saying how many it supports', async () => {
    await expect(
      generateDataset({ outDir: tempDir(), start: '2026-03-01', days: 1, partners: MAX_PARTNERS + 1 }),
    ).rejects.toThrow(`partners must be a whole number from 1 to ${MAX_PARTNERS}, got ${MAX_PARTNERS + 1}`);
  });
});

describe('renderLine', () => {
  const timeMs = Date.UTC(2026, 2, 1, 5, 6, 7);

  it('writes the 27 fields of today, a zero byte count as -, the time in brackets', () => {
    const line = renderLine({
      timeMs,
      requester: '-',
      operation: 'REST.GET.OBJECT',
      key: 'a/b',
      bytesSent: 0,
      httpStatus: '304',
    });
    expect(
      line.startsWith(
        '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be example-bucket [01/Mar/2026:05:06:07 +0000] ',
      ),
    ).toBe(true);
    expect(line.split(' ')).toHaveLength(28);
    expect(line).toContain(' REST.GET.OBJECT a/b "-" 304 - - - ');
  });

  it('prints the time in another offset without moving the instant', () => {
    expect(renderLine({ timeMs, utcOffsetMinutes: -300 })).toContain('[01/Mar/2026:00:06:07 -0500]');
    expect(renderLine({ timeMs, utcOffsetMinutes: 330 })).toContain('[01/Mar/2026:10:36:07 +0530]');
  });

  it('stops at the version id for 18-field lines and writes bare dashes when asked', () => {
    const line = renderLine({ timeMs, fieldCount: 18, bareQuotedDashes: true, versionId: 'v1' });
    expect(line.split(' ')).toHaveLength(19);
    expect(line.endsWith(' - - - v1')).toBe(true);
  });

  it('keeps quotes inside the user agent unescaped', () => {
    expect(renderLine({ timeMs, userAgent: 'curl "x"' })).toContain(' "curl "x"" ');
  });
});
