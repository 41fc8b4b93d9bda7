import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { configWith, EXISTING_LOGS, registryWithManifest, type Synthesised, synth } from './helpers.js';

/** Findings left after acknowledgements, as `rule at path` lines (errors and warnings alike). */
function findingsOf(s: Synthesised): string[] {
  const report = new AwsSolutionsChecks(s.app).validateScope(s.stack);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
  );
}

/** Every acknowledgement in the tree: rule id and reason, by construct path. */
function acknowledgementsOf(root: IConstruct): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
        out.push({
          path: c.node.path,
          id,
          reason: typeof reason === 'string' ? reason : JSON.stringify(reason),
        });
      }
    }
  }
  return out;
}

describe('cdk-nag AwsSolutions', () => {
  it('reports a finding on a bucket without guardrails (the check itself works)', () => {
    const app = new App();
    const stack = new Stack(app, 'Bare');
    new s3.Bucket(stack, 'Bare');
    app.synth();
    const rules = new AwsSolutionsChecks(app).validateScope(stack).violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });

  it.each([
    ['the example (created data bucket, preview)', () => configWith()],
    [
      'an existing log bucket, sending, with an alarm email',
      () => configWith({ ...EXISTING_LOGS, noticeMode: 'send', alarmEmail: 'ops@provider.example' }),
    ],
    [
      'an email sender identity and the schedule disabled',
      () =>
        configWith({
          sender: { identity: 'partners@provider.example' },
          schedule: { cron: '0 4 ? * MON-FRI *', timeZone: 'UTC', enabled: false },
        }),
    ],
    [
      'a registry with a dataset manifest (the manifest table)',
      () => configWith({ ...EXISTING_LOGS, registryFile: registryWithManifest() }),
    ],
  ])('leaves no unacknowledged error or warning for %s', (_name, config) => {
    const s = synth(config());
    expect(findingsOf(s)).toEqual([]);
  });

  it('gives every acknowledgement a specific reason', () => {
    const s = synth(configWith({ noticeMode: 'send' }));
    const acks = acknowledgementsOf(s.app).filter((a) => a.id.includes('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.reason.length, `${a.id} at ${a.path}`).toBeGreaterThan(40);
      // A wildcard is acknowledged one finding at a time, never the whole rule.
      if (a.id.includes('IAM5')) expect(a.id, a.path).toMatch(/IAM5\[(Resource|Action)::.+\]$/);
    }
  });
});
