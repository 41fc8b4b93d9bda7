import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FILE_CONTEXT,
  DeployConfigError,
  loadDeployConfig,
  parseDeployConfig,
} from '../../lib/config.js';
import { cronProblem } from '../../lib/cron.js';
import {
  configWith,
  EXAMPLE_CONFIG,
  EXISTING_LOGS,
  exampleSettings,
  ROOT,
  registryWithManifest,
} from './helpers.js';

/** The problems a bad configuration is rejected with, as `setting: message` lines. */
function problemsOf(changes: Record<string, unknown>): string[] {
  try {
    configWith(changes);
  } catch (e) {
    expect(e).toBeInstanceOf(DeployConfigError);
    return (e as DeployConfigError).problems.map((p) => `${p.setting}: ${p.message}`);
  }
  throw new Error('expected the settings to be rejected');
}

describe('cronProblem (EventBridge Scheduler cron, six fields)', () => {
  it.each([
    '30 2 * * ? *',
    '0 3 ? * MON-FRI *',
    '0/15 * * * ? *',
    '0 4 1 * ? *',
    '0 4 L * ? *',
    '0 6 ? * 2#1 *',
    '0 1 1,15 JAN,JUL ? 2026-2030',
  ])('accepts %s', (cron) => {
    expect(cronProblem(cron)).toBeUndefined();
  });

  it.each([
    ['30 2 * * *', /6 fields/],
    ['30 2 * * * *', /exactly one of day-of-month .* and day-of-week/],
    ['30 2 ? * ? *', /exactly one of/],
    ['61 2 * * ? *', /minutes field/],
    ['0 24 * * ? *', /hours field/],
    ['0 2 * 13 ? *', /month field/],
    ['0 2 ? * FUNDAY *', /day-of-week field/],
    ['0 2 */0 * ? *', /step must be at least 1/],
  ])('rejects %s', (cron, message) => {
    expect(cronProblem(cron)).toMatch(message);
  });
});

describe('parseDeployConfig', () => {
  it('reads the documented example: a created data bucket, preview notices, the example registry', () => {
    const config = configWith();
    expect(config.accessLogs).toEqual({ kind: 'created' });
    expect(config.noticeMode).toBe('preview');
    // No configuration set name: CloudFormation names the set (a redeploy after destroy never collides).
    expect(config.sender).toEqual({
      identity: 'provider.example',
      identityKind: 'domain',
      maxSendRate: 1,
      sandboxRecipients: [],
    });
    expect(config.athenaWorkgroupName).toBeUndefined();
    expect(config.schedule).toEqual({
      cron: '30 2 * * ? *',
      timeZone: 'Europe/Berlin',
      flexibleWindowMinutes: 15,
      enabled: true,
    });
    expect(config.registryFile).toBe(join(ROOT, 'lib', 'example-registry.yaml'));
    expect(config.registry.partners.map((p) => p.id)).toEqual(['acme-analytics']);
    expect(Object.isFrozen(config.schedule)).toBe(true);
  });

  it('takes an existing log bucket with its prefix and source bucket instead', () => {
    const config = configWith(EXISTING_LOGS);
    expect(config.accessLogs).toEqual({
      kind: 'existing',
      logBucketName: 'acme-logs',
      logPrefix: 's3-access/',
      sourceBucket: 'acme-data',
      sourceAccount: '123456789012',
      sourceRegion: 'eu-central-1',
    });
  });

  it('names schedule.cron when the cron is bad', () => {
    expect(problemsOf({ schedule: { cron: '30 2 * * *', timeZone: 'UTC' } })).toEqual([
      expect.stringMatching(/^schedule\.cron: must have 6 fields/),
    ]);
  });

  it('names schedule.timeZone when the zone is unknown', () => {
    expect(problemsOf({ schedule: { cron: '30 2 * * ? *', timeZone: 'Mars/Olympus' } })).toEqual([
      expect.stringMatching(/^schedule\.timeZone: must be an IANA time zone/),
    ]);
  });

  it('names logBucket when neither a log bucket nor createDataBucket is given', () => {
    expect(problemsOf({ createDataBucket: undefined })).toEqual([
      expect.stringMatching(/^logBucket: missing: name the existing bucket .* or set createDataBucket: true/),
    ]);
  });

  it('refuses a log bucket and createDataBucket together', () => {
    expect(problemsOf({ ...EXISTING_LOGS, createDataBucket: true })).toEqual([
      expect.stringMatching(/^logBucket: give either logBucket .* or createDataBucket: true, not both/),
    ]);
  });

  it('names the field of the log bucket that is wrong', () => {
    const problems = problemsOf({
      ...EXISTING_LOGS,
      logBucket: { name: 'Bad_Bucket', prefix: 'no-slash', sourceBucket: 'acme-data' },
    });
    expect(problems).toEqual([
      expect.stringMatching(/^logBucket\.name: must be an S3 bucket name/),
      expect.stringMatching(/^logBucket\.prefix: must be empty or a key prefix ending in \//),
    ]);
  });

  it('names registryFile with the registry problem and its path when the registry is invalid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pa-config-'));
    const bad = join(dir, 'registry.yaml');
    writeFileSync(bad, 'version: 1\nprovider: { name: X }\npartners: []\n');
    const problems = problemsOf({ registryFile: bad });
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^registryFile: .*registry\.yaml: /);
    expect(problems.join('\n')).toMatch(/provider\.noticeFrom/);
  });

  it('names registryFile when the file does not exist', () => {
    expect(problemsOf({ registryFile: 'no/such/registry.yaml' })).toEqual([
      expect.stringMatching(/^registryFile: cannot read the partner registry .*no\/such\/registry\.yaml/),
    ]);
  });

  it('takes the manifest the registry names, beside the registry', () => {
    const registryFile = registryWithManifest();
    expect(configWith({ registryFile }).manifestFile).toBe(join(dirname(registryFile), 'manifest.csv'));
  });

  it.each([
    ['a key listed twice', 'a/,1\nb.csv,2\na/,3\n', /manifest\.csv:3: "a\/" is already listed on line 1/],
    ['a count that is not a whole number', 'a/,1.5\n', /manifest\.csv:1: records must be a whole number/],
    ['more records than 2^53 - 1 for one object', 'a/,9007199254740992\n', /"a\/": .*more than 2\^53 - 1/],
    ['a key holding a carriage return', '"a\rb",1\n', /carriage return/],
  ])('names registryFile when the manifest has %s', (_name, manifest, message) => {
    const problems = problemsOf({ registryFile: registryWithManifest(manifest) });
    expect(problems).toEqual([expect.stringMatching(/^registryFile: the registry's settings\.manifest /)]);
    expect(problems[0]).toMatch(message);
  });

  it('refuses a sender identity that does not cover the registry noticeFrom', () => {
    expect(problemsOf({ sender: { identity: 'other.example' } })).toEqual([
      expect.stringMatching(
        /^sender\.identity: "other\.example" does not cover .*partners@provider\.example/,
      ),
    ]);
  });

  it('accepts the exact noticeFrom address as an email identity', () => {
    expect(configWith({ sender: { identity: 'partners@provider.example' } }).sender.identityKind).toBe(
      'email',
    );
  });

  it('keeps the bytes-scanned cutoff at or above Athena’s minimum', () => {
    expect(problemsOf({ bytesScannedCutoffPerQuery: 1_000_000 })).toEqual([
      expect.stringMatching(/^bytesScannedCutoffPerQuery: must be at least 10000000/),
    ]);
  });

  it('settles a closed period for 3 days by default, and names a settlingDays it cannot honour', () => {
    expect(configWith().settlingDays).toBe(3);
    expect(configWith({ settlingDays: 0 }).settlingDays).toBe(0);
    expect(problemsOf({ settlingDays: 2.5 })).toEqual([
      expect.stringMatching(/^settlingDays: must be a whole number/),
    ]);
    expect(problemsOf({ settlingDays: 45 })).toEqual([
      expect.stringMatching(/^settlingDays: must be at most 31/),
    ]);
  });

  it('names noticeMode, logsStartDate and alarmEmail, all at once', () => {
    expect(problemsOf({ noticeMode: 'loud', logsStartDate: '2026-02-30', alarmEmail: 'ops' })).toEqual([
      expect.stringMatching(/^noticeMode: must be "send" or "preview"/),
      expect.stringMatching(/^alarmEmail: must be an email address/),
      expect.stringMatching(/^logsStartDate: must be a calendar date/),
    ]);
  });

  it('names athenaWorkgroupName, sender.configurationSetName and sender.sandboxRecipients when they are not names', () => {
    expect(
      problemsOf({
        athenaWorkgroupName: 'audit wg',
        sender: {
          identity: 'provider.example',
          configurationSetName: 'a/b',
          sandboxRecipients: ['not an address'],
        },
      }),
    ).toEqual([
      expect.stringMatching(/^sender\.configurationSetName: must be 1-64 letters/),
      expect.stringMatching(/^sender\.sandboxRecipients\.0: must be an email address or a domain name/),
      expect.stringMatching(/^athenaWorkgroupName: must be 1-128 letters/),
    ]);
  });

  it('keeps the resource names and sandbox recipients it is given', () => {
    const config = configWith({
      athenaWorkgroupName: 'audit-wg',
      sender: {
        identity: 'provider.example',
        configurationSetName: 'notices',
        sandboxRecipients: ['owner@partner.example', 'partner.example'],
      },
    });
    expect(config.athenaWorkgroupName).toBe('audit-wg');
    expect(config.sender).toMatchObject({
      configurationSetName: 'notices',
      sandboxRecipients: ['owner@partner.example', 'partner.example'],
    });
  });

  it('refuses settings it does not know, so a typo is not silently ignored', () => {
    expect(problemsOf({ noticeMod: 'send' })).toEqual([expect.stringMatching(/noticeMod/)]);
  });

  it('starts the error message with the file and lists each setting', () => {
    expect(() =>
      parseDeployConfig(exampleSettings({ noticeMode: 'x' }), { source: '/p/deploy.config.json' }),
    ).toThrow(/^\/p\/deploy\.config\.json: 1 problem in the deployment settings:\n {2}noticeMode: /);
  });
});

describe('loadDeployConfig', () => {
  it('uses the example when the default deploy.config.json does not exist', () => {
    const config = loadDeployConfig({ cwd: ROOT, context: { [CONFIG_FILE_CONTEXT]: 'deploy.config.json' } });
    // The test tree has no deploy.config.json of its own: only an operator creates one.
    expect(config.source).toBe(EXAMPLE_CONFIG);
    expect(config.isExample).toBe(true);
  });

  it('fails naming the context key when an explicitly named file does not exist', () => {
    expect(() =>
      loadDeployConfig({ cwd: ROOT, context: { [CONFIG_FILE_CONTEXT]: 'prod.config.json' } }),
    ).toThrow(/partner-audit:configFile: the config file .*prod\.config\.json does not exist/);
  });

  it('reads a named file, resolving the registry relative to that file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pa-config-'));
    writeFileSync(join(dir, 'registry.yaml'), exampleRegistryText());
    writeFileSync(join(dir, 'prod.json'), JSON.stringify(exampleSettings({ registryFile: 'registry.yaml' })));
    const config = loadDeployConfig({ cwd: dir, context: { [CONFIG_FILE_CONTEXT]: 'prod.json' } });
    expect(config.registryFile).toBe(join(dir, 'registry.yaml'));
    expect(config.isExample).toBe(false);
  });

  it('lets context override single settings, reading JSON-looking text as JSON', () => {
    const config = loadDeployConfig({
      cwd: ROOT,
      context: {
        'partner-audit:noticeMode': 'send',
        'partner-audit:schedule.timeZone': 'America/New_York',
        'partner-audit:schedule.enabled': 'false',
        'partner-audit:bytesScannedCutoffPerQuery': '20000000',
      },
    });
    expect(config.noticeMode).toBe('send');
    expect(config.schedule).toMatchObject({
      cron: '30 2 * * ? *',
      timeZone: 'America/New_York',
      enabled: false,
    });
    expect(config.bytesScannedCutoffPerQuery).toBe(20_000_000);
  });

  it('reports a bad override under the overridden setting', () => {
    expect(() =>
      loadDeployConfig({ cwd: ROOT, context: { 'partner-audit:schedule.cron': 'every night' } }),
    ).toThrow(/schedule\.cron: must have 6 fields/);
  });
});

function exampleRegistryText(): string {
  return `version: 1
provider: { name: P, noticeFrom: 'P <partners@provider.example>', contactEmail: partners@provider.example }
partners:
  - id: p1
    name: P1
    accountOwners: [{ email: a@p1.example }]
    timeZone: UTC
    applications: [{ id: a, name: A, principals: [{ account: '111122223333' }] }]
    contracts: [{ id: c, effectiveFrom: '2026-01-01', currency: USD, datasets: ['feeds/x/'] }]
`;
}
