/**
 * The generator's declared networks (functions/cli/generate/README.md, "Declared networks") against a
 * local audit: the ground truth lists, per application requester, every source network its requests
 * came from, tallied as the generator wrote them and judged by the generator's own reading of the
 * declarations (not functions/domain/networks.ts). The report's networkFindings over a window that holds
 * all the data must be exactly the sources outside the app's declarations, plus one shared-credential
 * finding per other partner's app that declared the source.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../functions/cli/generate/generator.js';
import type { GroundTruthJson, SourceJson } from '../../functions/cli/generate/truth-json.js';
import { runGenerateCommand } from '../../functions/cli/generate-command.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { NetworkFindingOut } from '../../functions/domain/report-network.js';

let root: string;
let truth: GroundTruthJson;
let findings: readonly NetworkFindingOut[];
let registryText: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'generator-networks-'));
  const data = join(root, 'data');
  const summary = await generateDataset({
    outDir: data,
    seed: 11,
    start: '2026-03-29',
    days: 5,
    requestsPerDay: 4000,
    networks: true,
  });
  truth = JSON.parse(await readFile(summary.groundTruthPath, 'utf8')) as GroundTruthJson;
  registryText = await readFile(summary.registryPath, 'utf8');
  const result = await runLocalAudit({
    logs: [summary.logsDir],
    registryPath: summary.registryPath,
    outDir: join(root, 'out'),
    from: truth.window.from,
    to: truth.window.to,
    dryRun: true,
    clock: { now: () => new Date('2026-04-05T06:00:00Z') },
  });
  findings = result.report.networkFindings ?? [];
}, 240_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The findings the ground truth says a whole-data window must report, as report.json writes them. */
function expectedFindings(sources: readonly SourceJson[]): NetworkFindingOut[] {
  const out: NetworkFindingOut[] = [];
  for (const s of sources) {
    if (s.inside) continue;
    const common = {
      partnerId: s.partnerId,
      applicationId: s.applicationId,
      requester: s.requester,
      accessPoint: s.accessPoint,
      sourcePrefix: s.sourcePrefix,
      addressClass: s.addressClass,
      vpcEndpoint: s.vpcEndpoint,
      sourceRegion: s.sourceRegion,
      requests: s.requests,
      bytesSent: s.bytesSent,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      firstEverSeen: s.firstSeen,
      newInWindow: true,
    };
    out.push({ kind: 'credential-used-outside-declared-network', ...common, declaredBy: null });
    for (const by of s.declaredBy) out.push({ kind: 'shared-credential', ...common, declaredBy: { ...by } });
  }
  return out;
}

/** Order-free comparison: one line per finding. */
const lines = (fs: readonly NetworkFindingOut[]) =>
  fs
    .map((f) => JSON.stringify(Object.fromEntries(Object.entries(f).sort(([a], [b]) => (a < b ? -1 : 1)))))
    .sort();

describe('the generator’s declared networks', () => {
  it('declares networks for every application in a registry that validates', () => {
    const registry = parseRegistry(registryText, 'registry.yaml');
    const apps = registry.partners.flatMap((p) => p.applications);
    expect(apps.length).toBeGreaterThan(4);
    for (const app of apps) expect(app.networks?.cidrs.length).toBeGreaterThan(0);
    expect(apps.some((a) => (a.networks?.vpcEndpoints.length ?? 0) > 0)).toBe(true);
    expect(apps.some((a) => (a.networks?.sourceRegions.length ?? 0) > 0)).toBe(true);
  });

  it('writes requests from outside the declarations, IPv4 and IPv6, and shared credentials', () => {
    const outside = truth.networks!.sources.filter((s) => !s.inside);
    expect(new Set(outside.map((s) => s.addressClass))).toEqual(new Set(['ipv4', 'ipv6']));
    expect(outside.some((s) => s.declaredBy.length > 0)).toBe(true);
    // Through a declared VPC endpoint from an undeclared private address: inside by the endpoint.
    expect(truth.networks!.sources.some((s) => s.inside && s.vpcEndpoint !== '-')).toBe(true);
    // An AWS address inside by its region only when the line shows the region field.
    expect(
      truth.networks!.sources.some(
        (s) => s.sourcePrefix.startsWith('3.') && s.sourceRegion !== '-' && s.inside,
      ),
    ).toBe(true);
    expect(truth.networks!.sources.some((s) => s.sourcePrefix.startsWith('3.') && !s.inside)).toBe(true);
  });

  it('the local report’s networkFindings are exactly the ground truth’s', () => {
    const expected = expectedFindings(truth.networks!.sources);
    expect(expected.length).toBeGreaterThan(5);
    expect(lines(findings)).toEqual(lines(expected));
  });
});

describe('partner-audit generate: declared networks on unless --no-networks', () => {
  it('declares networks and lists the sources by default and with --networks, neither with --no-networks', async () => {
    const stdout = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      for (const [flags, declared] of [
        [[], true],
        [['--networks'], true],
        [['--no-networks'], false],
      ] as const) {
        const out = join(root, `cli-${flags.join('') || 'default'}`);
        const argv = ['--out', out, '--days', '1', '--start', '2026-03-02', '--requests-per-day', '300'];
        expect(await runGenerateCommand([...argv, ...flags])).toBe(0);
        const t = JSON.parse(await readFile(join(out, 'ground-truth.json'), 'utf8')) as GroundTruthJson;
        const yaml = await readFile(join(out, 'registry.yaml'), 'utf8');
        expect(t.networks !== null).toBe(declared);
        expect(yaml.includes('networks:')).toBe(declared);
        expect(t.generator['networks']).toBe(declared);
      }
    } finally {
      process.stdout.write = stdout;
    }
  });

  it('refuses --networks with --no-networks, naming both', async () => {
    await expect(
      runGenerateCommand(['--out', join(root, 'cli-both'), '--days', '1', '--networks', '--no-networks']),
    ).rejects.toThrow('generate: --networks and --no-networks cannot both be given');
  });
});
