/**
 * The worked example of functions/domain/OVERAGES.md, read from the document's own fenced blocks, so
 * that the page people read and the code that bills cannot say different things.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildAttributor } from '../../functions/domain/attribution.js';
import { evaluatePartnerPeriod } from '../../functions/domain/evaluate.js';
import type { PartnerPeriodEvaluation } from '../../functions/domain/evaluation.js';
import { formatMoney } from '../../functions/domain/money.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import { monthlyPeriod } from '../../functions/domain/time.js';
import { type StatusClass, slotOf, type UsageRow } from '../../functions/domain/usage.js';
import { formatCount } from '../../functions/render/format.js';

const doc = readFileSync(new URL('../../functions/domain/OVERAGES.md', import.meta.url), 'utf8');

/** The body of the ```yaml block whose first line is `# worked-example: <name>`. */
function block(name: string): string {
  const re = /```yaml\n# worked-example: ([a-z-]+)\n([\s\S]*?)```/g;
  for (const m of doc.matchAll(re)) if (m[1] === name) return m[2]!;
  throw new Error(`OVERAGES.md has no "worked-example: ${name}" block`);
}

interface UsageLine {
  at: string;
  requester: string;
  operation: string;
  status: StatusClass;
  dataset: string;
  requests: number;
  bytesSent: number;
}
type Figure = Record<string, number>;
interface Expected {
  asOf: string;
  metrics: Record<string, Figure>;
  applications: Record<string, Record<string, Figure>>;
  feeLines: { metric: string; application?: string; tier: number; units: number; amountMinor: number }[];
  totalMinor: number;
  total: string;
  daysOverCap: string[];
  levels: { level: string; metric: string }[];
  midMonth: { asOf: string; requests: Figure };
}

const partner = parseYaml(block('partner'));
const registry = parseRegistry(
  JSON.stringify({
    version: 1,
    provider: { name: 'Provider', noticeFrom: 'p@provider.example', contactEmail: 'p@provider.example' },
    partners: [partner],
  }),
  'OVERAGES.md',
);
const usage = parseYaml(block('usage')) as UsageLine[];
const expected = parseYaml(block('expected')) as Expected;
const rows: UsageRow[] = usage.map((u) => ({
  slotStart: slotOf(Date.parse(u.at)),
  bucket: 'data',
  requester: u.requester,
  accessPoint: '-',
  dataset: u.dataset,
  operation: u.operation,
  statusClass: u.status,
  requests: BigInt(u.requests),
  bytesSent: BigInt(u.bytesSent),
  records: 0n,
}));
const period = monthlyPeriod('2026-03-01', registry.partners[0]!.timeZone);

function evaluateAsOf(asOf: string): PartnerPeriodEvaluation {
  const out = evaluatePartnerPeriod({
    registry,
    partner: registry.partners[0]!,
    period,
    rows,
    asOfMs: Date.parse(asOf),
    attribute: buildAttributor(registry),
  });
  if (!out) throw new Error('the example has no contract in force');
  return out;
}

/** The figure's fields named in the document, as bigints. */
function asBigints(f: Figure): Record<string, bigint> {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, BigInt(v)]));
}

describe('the worked example of OVERAGES.md', () => {
  const e = evaluateAsOf(expected.asOf);

  it('covers a 743-hour March in New York and is complete', () => {
    expect(period.endMs - period.startMs).toBe(743 * 3600_000);
    expect(e.complete).toBe(true);
  });

  it.each(Object.keys(expected.metrics))('gives the partner %s figures stated in the document', (metric) => {
    const figure = e.metrics.find((m) => m.metric === metric);
    expect(figure).toMatchObject(asBigints(expected.metrics[metric]!));
  });

  it.each(Object.keys(expected.applications))('gives application %s the figures stated', (appId) => {
    const app = e.applications.find((a) => a.applicationId === appId)!;
    const want = expected.applications[appId]!;
    expect(app.metrics.map((m) => m.metric)).toEqual(Object.keys(want));
    for (const m of app.metrics) expect(m).toMatchObject(asBigints(want[m.metric]!));
  });

  it('has exactly the fee lines stated, in that order', () => {
    expect(
      e.fees.lines.map((l) => ({
        metric: l.metric,
        ...(l.applicationId ? { application: l.applicationId } : {}),
        tier: l.tier,
        units: l.units,
        amountMinor: l.amountMinor,
      })),
    ).toEqual(
      expected.feeLines.map((l) => ({ ...l, units: BigInt(l.units), amountMinor: BigInt(l.amountMinor) })),
    );
  });

  it('charges the total fee stated, in the words of step 7 too', () => {
    expect(e.fees.totalMinor).toBe(BigInt(expected.totalMinor));
    expect(formatMoney({ currency: e.currency, minor: e.fees.totalMinor })).toBe(expected.total);
    expect(doc).toContain(`= **${expected.totalMinor} cents = ${expected.total}**`);
  });

  it('is summarised with the same total in the README section "How overages are computed"', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(
      readme.indexOf('## How overages are computed'),
      readme.indexOf('## What a notice'),
    );
    expect(section).toContain(`**${expected.total}**`);
    expect(section).toContain(formatCount(e.metrics.find((m) => m.metric === 'requests')!.used));
  });

  it('finds the days over the daily cap stated', () => {
    expect(e.daily.filter((d) => d.overCap.length > 0).map((d) => d.date)).toEqual(expected.daysOverCap);
    expect(e.findings.filter((f) => f.kind === 'daily-cap-exceeded').map((f) => f.date)).toEqual(
      expected.daysOverCap,
    );
    expect(e.findings.filter((f) => f.kind !== 'daily-cap-exceeded')).toEqual([]);
  });

  it('reaches the levels stated', () => {
    expect(e.levels.map((l) => ({ level: l.level, metric: l.metric }))).toEqual(expected.levels);
  });

  it('forecasts mid-month as stated', () => {
    const mid = evaluateAsOf(expected.midMonth.asOf);
    expect(mid.complete).toBe(false);
    expect(mid.metrics.find((m) => m.metric === 'requests')).toMatchObject(
      asBigints(expected.midMonth.requests),
    );
  });
});
