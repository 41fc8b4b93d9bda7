/**
 * The network findings through a whole local audit (runLocalAudit): in report.json, in
 * network-findings.csv and the run's evidence bundle, and the unexplained-access notice sent once per
 * period however often the audit runs, when the contract switches it on.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { logLine } from '../support/log-lines.js';

let root: string;
let logs: string;
const ALICE = 'arn:aws:iam::111122223333:user/alice';
const T0 = new Date('2026-04-02T06:00:00Z');

function registryYaml(notice: boolean): string {
  return `version: 1
provider: { name: Provider, noticeFrom: "Partners <p@provider.example>", contactEmail: c@provider.example }
partners:
  - id: alice-co
    name: Alice Co
    accountOwners: [{ email: ops@alice.example }]
    timeZone: UTC
    applications:
      - id: app
        name: App
        principals: [{ account: "111122223333" }]
        networks: { cidrs: [198.51.100.0/24] }
    contracts:
      - id: c1
        effectiveFrom: "2026-01-01"
        currency: EUR
        datasets: [feeds/weather/]
        unexplainedAccessNotice: ${notice}
`;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'network-audit-'));
  logs = join(root, 'logs');
  await mkdir(logs, { recursive: true });
  await writeFile(
    join(logs, '2026-03-15-02-00-00-AAAAAAAAAAAAAAAA'),
    `${[
      logLine({ time: '14/Mar/2026:09:00:00 +0000', requester: ALICE, ip: '198.51.100.23' }),
      logLine({ time: '14/Mar/2026:10:00:00 +0000', requester: ALICE, ip: '203.0.113.9', bytesSent: '77' }),
      logLine({ time: '14/Mar/2026:11:00:00 +0000', requester: ALICE, ip: '2001:db8::5', bytesSent: '5' }),
    ].join('\n')}\n`,
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function audit(out: string, notice: boolean) {
  const registryPath = join(root, `registry-${notice}.yaml`);
  await writeFile(registryPath, registryYaml(notice));
  return runLocalAudit({
    logs: [logs],
    registryPath,
    outDir: out,
    from: '2026-03-01',
    to: '2026-04-01',
    dryRun: false,
    clock: { now: () => T0 },
  });
}

describe('network findings in a local audit', () => {
  it('reports them in report.json and in network-findings.csv of the evidence bundle, without a notice when switched off', async () => {
    const out = join(root, 'off');
    const result = await audit(out, false);
    expect(
      result.report.networkFindings!.map((f) => [f.sourcePrefix, f.requests, f.bytesSent, f.newInWindow]),
    ).toEqual([
      ['2001:db8::/48', '1', '5', true],
      ['203.0.113.0/24', '1', '77', true],
    ]);
    const csv = await readFile(join(result.bundleDir, 'network-findings.csv'), 'utf8');
    expect(csv.split('\r\n').filter((l) => l !== '')).toHaveLength(3);
    expect(csv).toContain('203.0.113.0/24');
    expect(result.notices.map((n) => n.key.level)).not.toContain('unexplained-access');
  });

  it('sends the unexplained-access notice once for the period when the contract switches it on', async () => {
    const out = join(root, 'on');
    const first = await audit(out, true);
    const sent = first.notices.filter((n) => n.key.level === 'unexplained-access');
    expect(sent.map((n) => [n.key.periodId, n.status])).toEqual([['2026-03', 'sent']]);
    const eml = (await readdir(join(out, 'outbox'))).filter((f) => f.endsWith('.eml'));
    const body = await readFile(
      join(out, 'outbox', eml.find((f) => f.includes('unexplained-access'))!),
      'utf8',
    );
    expect(body).toContain('203.0.113.0/24');
    const again = await audit(out, true);
    expect(again.notices.filter((n) => n.key.level === 'unexplained-access' && n.status === 'sent')).toEqual(
      [],
    );
    expect((await readdir(join(out, 'outbox'))).filter((f) => f.endsWith('.eml'))).toEqual(eml);
  });
});
