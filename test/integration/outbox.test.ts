import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalReportStore, ReportStoreError } from '../../functions/adapters/local/local-report-store.js';
import { OutboxMailer, OutboxWriteError } from '../../functions/adapters/outbox/outbox-mailer.js';
import { composeSampleNotice } from '../support/notice-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const message = composeSampleNotice;

describe('OutboxMailer', () => {
  it('writes <partner>-<period>-<level>.eml with the raw MIME and an .html preview beside it', async () => {
    const outbox = join(dir, 'nested', 'outbox');
    const m = await message();
    const { providerMessageId } = await new OutboxMailer(outbox).send(m);
    expect(providerMessageId).toBe('acme-2026-11-escalation.eml');
    expect(await readFile(join(outbox, 'acme-2026-11-escalation.eml'), 'utf8')).toBe(m.raw);
    expect(await readFile(join(outbox, 'acme-2026-11-escalation.html'), 'utf8')).toBe(m.html);
    expect((await readdir(outbox)).sort()).toEqual([
      'acme-2026-11-escalation.eml',
      'acme-2026-11-escalation.html',
    ]);
  });

  it('replaces an earlier file of the same notice whole, leaving no temporary files', async () => {
    const mailer = new OutboxMailer(dir);
    await writeFile(join(dir, 'acme-2026-11-warning.eml'), 'old');
    const m = await message('warning');
    await mailer.send(m);
    await mailer.send(m);
    expect(await readFile(join(dir, 'acme-2026-11-warning.eml'), 'utf8')).toBe(m.raw);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('throws OutboxWriteError, not retryable, when the folder cannot be created', async () => {
    await writeFile(join(dir, 'a-file'), 'x');
    const error = await new OutboxMailer(join(dir, 'a-file', 'outbox')).send(await message()).catch((e) => e);
    expect(error).toBeInstanceOf(OutboxWriteError);
    expect(error.retryable).toBe(false);
  });
});

describe('LocalReportStore', () => {
  it('writes a report under a nested name, creating folders, and returns the path', async () => {
    const store = new LocalReportStore(dir);
    const path = await store.put('runs/r1/report.json', '{"a":1}\n', 'application/json');
    expect(path).toBe(join(dir, 'runs', 'r1', 'report.json'));
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n');
    await store.put('runs/r1/report.json', new TextEncoder().encode('{"a":2}\n'), 'application/json');
    expect(await readFile(path, 'utf8')).toBe('{"a":2}\n');
    expect(await readdir(join(dir, 'runs', 'r1'))).toEqual(['report.json']);
  });

  it.each(['../escape.json', '/etc/passwd', 'a/../../b', '', 'a//b'])('refuses the name %j', async (name) => {
    await expect(new LocalReportStore(dir).put(name, 'x', 'text/plain')).rejects.toThrow(ReportStoreError);
  });
});
