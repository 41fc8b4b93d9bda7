import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { contractOn, parseRegistry, RegistryError } from '../../functions/domain/registry.js';

const exampleText = readFileSync(new URL('../../examples/registry.yaml', import.meta.url), 'utf8');

function problemsOf(text: string): string[] {
  try {
    parseRegistry(text, 'r.yaml');
  } catch (e) {
    if (e instanceof RegistryError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
}

/** The example with one edit applied to its parsed form, back as JSON text (YAML reads JSON). */
function edited(edit: (r: any) => void): string {
  const raw = parseYaml(exampleText);
  edit(raw);
  return JSON.stringify(raw);
}

describe('parseRegistry', () => {
  it('reads the shipped example', () => {
    const r = parseRegistry(exampleText, 'examples/registry.yaml');
    expect(r.partners.map((p) => p.id)).toEqual(['acme-analytics', 'globex']);
    const acme = r.partners[0]!;
    expect(acme.contracts[1]!.limits.monthly.requests).toBe(1_000_000n);
    expect(acme.contracts[1]!.overage.requests!.tiers[0]!.upTo).toBe(500_000n);
    expect(r.settings.datasetDepth).toBe(2);
    // defaults fill what a person left out
    expect(r.partners[1]!.contracts[0]!.counted).toEqual({
      operations: ['REST.GET.OBJECT'],
      statuses: ['2xx', '3xx'],
    });
    expect(r.partners[1]!.contracts[0]!.thresholds.map((t) => t.level)).toEqual([
      'warning',
      'overage',
      'escalation',
    ]);
  });

  it('keeps holdings only when settings.holdings is true (off by default), and names a non-boolean', () => {
    expect(parseRegistry(exampleText, 'x').settings.holdings).toBe(false);
    expect(
      parseRegistry(
        edited((r) => delete r.settings),
        'x',
      ).settings.holdings,
    ).toBe(false);
    const on = edited((r) => {
      r.settings.holdings = true;
    });
    expect(parseRegistry(on, 'x').settings.holdings).toBe(true);
    for (const value of ['yes', 1, null]) {
      const problems = problemsOf(
        edited((r) => {
          r.settings.holdings = value;
        }),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^settings\.holdings: /);
    }
  });

  it('picks the contract version in force on a local date', () => {
    const acme = parseRegistry(exampleText, 'x').partners[0]!;
    expect(contractOn(acme, '2025-12-31')?.id).toBe('acme-2025');
    expect(contractOn(acme, '2026-01-01')?.id).toBe('acme-2026');
    expect(contractOn(acme, '2024-12-31')).toBeUndefined();
  });

  it('lists every problem with its path, not just the first', () => {
    const text = edited((r) => {
      r.partners[0].applications[0].principals[1] = { arn: 'not-an-arn' };
      r.partners[0].timeZone = 'Mars/Olympus';
      r.partners[1].accountOwners[0].email = 'nobody';
      r.partners[0].contracts[1].overage.requests.tiers[0].price = '-1';
    });
    const problems = problemsOf(text);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^partners\[0\]\.applications\[0\]\.principals\[1\]/),
        expect.stringMatching(/^partners\[0\]\.timeZone: must be an IANA time zone/),
        expect.stringMatching(/^partners\[1\]\.accountOwners\[0\]\.email: must be an email/),
        expect.stringMatching(/^partners\[0\]\.contracts\[1\]\.overage\.requests\.tiers\[0\]\.price/),
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(4);
  });

  it.each([
    [
      'duplicate partner ids',
      (r: any) => (r.partners[1].id = 'acme-analytics'),
      /partners\[1\]\.id: duplicate partner id/,
    ],
    [
      'overlapping contract versions',
      (r: any) => (r.partners[0].contracts[0].effectiveTo = '2026-02-01'),
      /partners\[0\]\.contracts\[0\]: overlaps contract "acme-2026"/,
    ],
    [
      'a per-application limit for an unknown application',
      (r: any) => (r.partners[0].contracts[1].applicationLimits.nope = { monthly: { requests: 1 } }),
      /applicationLimits\.nope: no application "nope"/,
    ],
    [
      'a dataset deeper than the dataset depth',
      (r: any) => r.partners[0].contracts[1].datasets.push('feeds/weather/daily/'),
      /datasets\[2\]: has 3 segments/,
    ],
    [
      'the same principal in two applications',
      (r: any) =>
        r.partners[1].applications[0].principals.push({ arn: 'arn:aws:iam::111122223333:user/acme-ingest' }),
      /partners\[1\]\.applications\[0\]\.principals\[1\]: same principal already identifies partners\[0\]/,
    ],
    [
      'a line break in a name (it would reach mail headers)',
      (r: any) => (r.partners[1].name = 'Globex\u2028Bcc: evil@attacker.example'),
      /partners\[1\]\.name: must be one line without control characters/,
    ],
    [
      'a CR/LF in an account owner name',
      (r: any) => (r.partners[0].accountOwners[0].name = 'Dana\r\nBcc: x@y.example'),
      /partners\[0\]\.accountOwners\[0\]\.name: must be one line/,
    ],
    [
      'an unknown key (a typo)',
      (r: any) => (r.partners[0].timezone = 'UTC'),
      /partners\[0\]: Unrecognized key/,
    ],
    [
      'a tier without upTo before the last',
      (r: any) => delete r.partners[0].contracts[1].overage.requests.tiers[0].upTo,
      /tiers\[0\]\.upTo: only the last tier may omit upTo/,
    ],
    [
      'a fractional limit',
      (r: any) => (r.partners[0].contracts[1].limits.monthly.requests = 1.5),
      /limits\.monthly\.requests/,
    ],
  ])('rejects %s', (_what, edit, pattern) => {
    expect(problemsOf(edited(edit)).join('\n')).toMatch(pattern);
  });

  it('says where broken YAML is', () => {
    const e = (() => {
      try {
        parseRegistry('version: 1\npartners: [\n  - id: x\n', 'broken.yaml');
      } catch (err) {
        return err as RegistryError;
      }
    })();
    expect(e).toBeInstanceOf(RegistryError);
    expect(e?.message).toMatch(/^broken\.yaml: 1 problem/);
    expect(e?.message).toMatch(/not valid YAML\/JSON \(line \d+\)/);
  });
});
