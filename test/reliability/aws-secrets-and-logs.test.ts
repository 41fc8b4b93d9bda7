/**
 * Issue 5, AWS side: no secret and no partner's address in the CloudFormation template, and no
 * account owner's address in what the Lambda steps log (Powertools logger output, captured) or throw
 * (Lambda logs a thrown error too), even when SES names a refused recipient in its error.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { asStep } from '../../functions/handlers/errors.js';
import { notify } from '../../functions/handlers/notify.handler.js';
import { plan } from '../../functions/handlers/plan.handler.js';
import { publish } from '../../functions/handlers/publish.handler.js';
import { rollup } from '../../functions/handlers/rollup.handler.js';
import { configWith, resourcesOf, synth } from '../infra/helpers.js';
import { sesError } from '../support/local-aws-servers.js';
import { BATCHES, startWorld, WINDOW, type World } from './harness.js';

vi.hoisted(() => {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'DEBUG';
  process.env['POWERTOOLS_SERVICE_NAME'] = 'partner-audit';
});

function emailsOf(registry: World['registry']): string[] {
  return registry.partners.flatMap((p) => [...p.accountOwners, ...p.internalContacts].map((x) => x.email));
}

describe('the synthesised template', () => {
  const config = configWith({ noticeMode: 'send', alarmEmail: 'oncall@provider.example' });
  const { template } = synth(config);
  const text = JSON.stringify(template.toJSON());

  it('holds no partner owner or contact address: the registry travels as an asset, not in the template', () => {
    const emails = emailsOf(config.registry);
    expect(emails.length).toBeGreaterThan(0);
    for (const email of emails) expect(text.toLowerCase()).not.toContain(email.toLowerCase());
  });

  it('holds no access key, secret key, private key or password', () => {
    expect(text).not.toMatch(/\b(AKIA|ASIA)[0-9A-Z]{16}\b/);
    expect(text).not.toMatch(/aws_secret_access_key|secretAccessKey|SecretAccessKey/i);
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(text).not.toMatch(/"(Password|MasterUserPassword|SecretString)"\s*:\s*"/);
    // A 40-character base64 run is what a secret access key looks like (logical ids aside).
    const ids = new Set(Object.keys(resourcesOf(template)));
    const runs = [...text.matchAll(/(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g)].map(
      (m) => m[0],
    );
    expect(runs.filter((r) => !ids.has(r))).toEqual([]);
  });

  it('gives the functions no setting that carries a secret or an address', () => {
    const fns = Object.values(resourcesOf(template)).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(fns.length).toBeGreaterThanOrEqual(5);
    for (const fn of fns) {
      const vars = ((fn.Properties?.['Environment'] as { Variables?: Record<string, unknown> })?.Variables ??
        {}) as Record<string, unknown>;
      for (const [name, value] of Object.entries(vars)) {
        expect(name).not.toMatch(/SECRET|PASSWORD|TOKEN|CREDENTIAL/);
        expect(JSON.stringify(value)).not.toContain('@');
      }
    }
  });
});

describe('what the steps log and throw', () => {
  let world: World;
  let output = '';

  beforeAll(async () => {
    world = await startWorld(5);
    const capture = (stream: NodeJS.WriteStream) => {
      const write = stream.write.bind(stream);
      vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
        output += String(chunk);
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write);
    };
    capture(process.stdout);
    capture(process.stderr);
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await world?.stop();
  });

  it("keeps every account owner's address out of the logs and errors of a run where SES names one", async () => {
    const runId = 'logs-1';
    const planned = await plan(
      {
        loadRegistry: async () => ({ registry: world.registry, hash: 'h', source: 's' }),
        clock: world.clock,
      },
      { ...WINDOW, executionName: runId },
    );
    const rollups = [];
    for (const batch of BATCHES) rollups.push(await rollup(world.rollupDeps(), { batch, runId }));
    const evaluation = await world.evaluate({ runId, window: planned.window, partners: [] });
    const [rejected, throttled, ok] = evaluation.partnersToNotify.map((p) => p.partnerId);
    expect(ok).toBeDefined();
    const owner = (id: string) => world.registry.partners.find((p) => p.id === id)!.accountOwners[0]!.email;
    const input = (partnerId: string) => ({ runId, evaluationKey: evaluation.evaluationKey, partnerId });

    // SES's own wording for an unverified recipient names the address.
    world.sesProxy.inject(
      sesError(
        'MessageRejected',
        `Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: ${owner(rejected!)}`,
      ),
    );
    const refused = await notify(world.notifyDeps(), input(rejected!));
    world.sesProxy.inject(sesError('Throttling', `Maximum sending rate exceeded. ${owner(throttled!)}`), 6);
    const error = await asStep(() => notify(world.notifyDeps(), input(throttled!))).then(
      () => new Error('the throttled notice was sent'),
      (e: unknown) => e as Error,
    );
    const sent = await notify(world.notifyDeps(), input(ok!));
    await publish(world.publishDeps(), {
      runId,
      evaluationKey: evaluation.evaluationKey,
      notifyResults: [refused, sent],
      rollups,
    });

    expect(refused.results[0]?.status).toBe('failed');
    expect(error.name).toBe('RetryableError');
    expect(sent.results[0]?.status).toBe('sent');
    expect(output).toContain('notified partner');
    const seen = [output, error.message, JSON.stringify(refused)].join('\n').toLowerCase();
    for (const email of emailsOf(world.registry)) expect(seen).not.toContain(email.toLowerCase());
    expect(seen).toContain('<recipient>');
  });
});
