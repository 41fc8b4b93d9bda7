/**
 * CloudFormation's own linter (cfn-lint, Python) over the synthesised template of each deployment
 * shape: no error, and no warning or informational finding beyond those listed with their reasons in
 * cfn-lint-allowed.ts. cfn-lint is not an npm package: where it is not installed (PyPI is not reachable
 * from these machines and Debian 12 has no package of it), the tests are skipped and say so in one line;
 * .ci/run reports the same. `npm run lint:cfn` runs this file alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployConfig } from '../../lib/config.js';
import { CFN_LINT_ALLOWED } from './cfn-lint-allowed.js';
import { configWith, EXISTING_LOGS, registryWithManifest, synth } from './helpers.js';

const CFN_LINT = process.env['CFN_LINT'] ?? 'cfn-lint';

function cfnLintVersion(): string | undefined {
  const r = spawnSync(CFN_LINT, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const version = cfnLintVersion();
if (version === undefined) {
  console.warn(
    `cfn-lint not found (${CFN_LINT}): the CloudFormation lint tests are skipped; install it with "pip install cfn-lint" or set CFN_LINT to its path`,
  );
}

interface Finding {
  readonly Filename: string;
  readonly Level: 'Error' | 'Warning' | 'Informational';
  readonly Message: string;
  readonly Rule: { readonly Id: string };
  readonly Location: { readonly Path: readonly (string | number)[] };
}

/** cfn-lint's findings over the given template files (its exit code says only which levels occurred). */
function lint(files: readonly string[]): Finding[] {
  const r = spawnSync(CFN_LINT, ['--format', 'json', '--', ...files], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  // Exit codes are a bit mask of the levels found (2 error, 4 warning, 8 informational); 1 is a crash.
  if (r.status === null || (r.status & 1) === 1) throw new Error(`cfn-lint failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Finding[];
}

function describeFinding(f: Finding): string {
  return `${f.Level} ${f.Rule.Id} in ${f.Filename.split('/').at(-1)} at ${f.Location.Path.join('/')}: ${f.Message}`;
}

/** The deployment shapes whose templates differ: what the nag test covers, plus sending with an alarm. */
const DEPLOYMENTS: readonly (readonly [string, () => DeployConfig])[] = [
  ['example', () => configWith()],
  ['sending', () => configWith({ noticeMode: 'send', alarmEmail: 'ops@provider.example' })],
  [
    'existing-logs-manifest',
    () => configWith({ ...EXISTING_LOGS, noticeMode: 'send', registryFile: registryWithManifest() }),
  ],
  [
    'email-identity-no-schedule',
    () =>
      configWith({
        sender: { identity: 'partners@provider.example' },
        schedule: { cron: '0 4 ? * MON-FRI *', timeZone: 'UTC', enabled: false },
      }),
  ],
];

describe.skipIf(version === undefined)(`cfn-lint (${version ?? 'not installed'})`, () => {
  let dir: string;
  let findings: Finding[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pa-cfn-lint-'));
    const files = DEPLOYMENTS.map(([name, config]) => {
      const file = join(dir, `${name}.template.json`);
      writeFileSync(file, JSON.stringify(synth(config()).template.toJSON(), null, 1));
      return file;
    });
    findings = lint(files);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds an error in a template that has one (the check itself works)', () => {
    const file = join(dir, 'broken.template.json');
    writeFileSync(
      file,
      JSON.stringify({
        Resources: { Bucket: { Type: 'AWS::S3::Bucket', Properties: { BucketNme: 'typo' } } },
      }),
    );
    expect(lint([file]).map((f) => `${f.Level} ${f.Rule.Id}`)).toContain('Error E3002');
  });

  it('reports no error in any synthesised template', () => {
    expect(findings.filter((f) => f.Level === 'Error').map(describeFinding)).toEqual([]);
  });

  it('reports no warning or informational finding that cfn-lint-allowed.ts does not list with its reason', () => {
    const unexplained = findings
      .filter((f) => f.Level !== 'Error')
      .filter((f) => !CFN_LINT_ALLOWED.some((a) => a.rule === f.Rule.Id && a.message.test(f.Message)));
    expect(unexplained.map(describeFinding)).toEqual([]);
  });

  it('lists only findings that still occur, each with a reason', () => {
    for (const a of CFN_LINT_ALLOWED) {
      expect(a.reason.length, a.rule).toBeGreaterThan(40);
      expect(
        findings.some((f) => f.Rule.Id === a.rule && a.message.test(f.Message)),
        `${a.rule} ${a.message} no longer occurs: remove it from cfn-lint-allowed.ts`,
      ).toBe(true);
    }
  });
});
