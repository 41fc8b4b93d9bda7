/**
 * The outbox mailer's side of the Mailer port's "may have sent" contract, and the local audit (the
 * CLI's path: DuckDB ledger, outbox) keeping a notice as handed over, never sending it again, when the
 * outbox may have delivered it. The file system's rename, which puts an `.eml` in place, is made to
 * fail where a test says so; everything else is real.
 */
import * as fs from 'node:fs/promises';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutboxMailer, OutboxWriteError } from '../../functions/adapters/outbox/outbox-mailer.js';
import { runLocalAudit } from '../../functions/cli/local-audit.js';
import { keysIn, ledgerEntries, smallDataset } from '../reliability/helpers.js';
import { composeSampleNotice } from '../support/notice-fixtures.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, rename: vi.fn(actual.rename) };
});

const realRename = (await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises')).rename;
const rename = vi.mocked(fs.rename);

/** The next rename onto an `.eml` in `dir` fails with `code`; the file is not moved. */
function failNextEmlRename(dir: string, code: string): void {
  rename.mockImplementation(async (from, to) => {
    if (String(to).endsWith('.eml') && dirname(String(to)) === dir) {
      rename.mockImplementation(realRename);
      throw Object.assign(new Error(`${code}: rename '${String(from)}' -> '${String(to)}'`), { code });
    }
    return realRename(from, to);
  });
}

/** The targets of every rename onto an `.eml` in `dir` so far. */
function emlRenames(dir: string): string[] {
  return rename.mock.calls
    .map(([, to]) => String(to))
    .filter((to) => dirname(to) === dir && to.endsWith('.eml'));
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'outbox-may-have-sent-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  rename.mockImplementation(realRename);
});

const message = composeSampleNotice;

describe('OutboxMailer and the "may have sent" contract', () => {
  it('says a failure before the .eml is put in place sent nothing', async () => {
    const dir = join(root, 'refused');
    failNextEmlRename(dir, 'EACCES');
    const error = await new OutboxMailer(dir).send(await message()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboxWriteError);
    expect(error).toMatchObject({ mayHaveSent: false, retryable: false });
    expect((await readdir(dir)).filter((f) => f.endsWith('.eml') || f.endsWith('.tmp'))).toEqual([]);
  });

  it('says it may have sent when the rename that delivers fails without a clear refusal (EIO)', async () => {
    const dir = join(root, 'eio');
    failNextEmlRename(dir, 'EIO');
    const error = await new OutboxMailer(dir).send(await message()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboxWriteError);
    expect(error).toMatchObject({ mayHaveSent: true, retryable: false });
  });

  it('tells whether a message was delivered, by the Message-ID of the .eml in the folder', async () => {
    const dir = join(root, 'delivered');
    const mailer = new OutboxMailer(dir);
    const m = await message();
    expect(await mailer.delivered(m)).toBeUndefined();
    await mailer.send(m);
    expect(await mailer.delivered(m)).toEqual({ providerMessageId: 'acme-2026-11-escalation.eml' });
    // The same notice from another run (another Message-ID) was not delivered by this file.
    expect(await mailer.delivered({ key: m.key, messageId: 'acme.2026-11.escalation.r2@x.example' })).toBe(
      undefined,
    );
  });
});

describe('a local audit whose outbox may have delivered a notice', () => {
  it('keeps the attempt mark, reports the notice failed with how to check, and never sends it again', async () => {
    const data = await smallDataset(join(root, 'data'));
    const out = join(root, 'audit');
    const outbox = join(out, 'outbox');
    const audit = (atMs: number) =>
      runLocalAudit({
        logs: [data.logsDir],
        registryPath: data.registryPath,
        outDir: out,
        dryRun: false,
        clock: { now: () => new Date(atMs) },
      });
    const t0 = Date.parse('2026-03-03T06:00:00Z');
    failNextEmlRename(outbox, 'EIO');
    const first = await audit(t0);

    const failed = first.notices.filter((n) => n.status === 'failed');
    expect(failed).toHaveLength(1);
    const cut = failed[0]!;
    const cutKey = `${cut.key.partnerId}/${cut.key.periodId}/${cut.key.level}`;
    expect(cut.error).toMatch(
      new RegExp(
        `^the outbox may have sent it, and gave no answer that says so \\(.*EIO.*\\): kept as handed to the outbox so that no run sends it twice; check the outbox folder ${outbox} for ${cut.messageId?.replace(/[.]/g, '\\.')} before sending it by hand$`,
      ),
    );
    const sentFirst = first.notices.filter((n) => n.status === 'sent').map((n) => n.delivery);
    expect(sentFirst.length).toBeGreaterThan(0);
    const ledgerAfterFirst = await ledgerEntries(join(out, 'state.duckdb'), data.registryPath, ['2026-03']);
    expect(keysIn(ledgerAfterFirst, 'pending')).toEqual([cutKey]);
    expect(ledgerAfterFirst.find((e) => e.state === 'pending')?.messageId).toBe(cut.messageId);

    // The next run, a day later (any claim long stale): the notice is not handed to the outbox again.
    const second = await audit(t0 + 24 * 3_600_000);
    const again = second.notices.find(
      (n) => `${n.key.partnerId}/${n.key.periodId}/${n.key.level}` === cutKey,
    );
    expect(again).toMatchObject({ status: 'already-sent', messageId: cut.messageId });
    expect(again?.error).toContain('not sent again; check the outbox folder');
    expect(second.notices.filter((n) => n.status === 'sent')).toEqual([]);
    const cutFile = join(outbox, `${cut.key.partnerId}-${cut.key.periodId}-${cut.key.level}.eml`);
    expect(emlRenames(outbox).filter((to) => to === cutFile)).toHaveLength(1);
    expect((await readdir(outbox)).filter((f) => f.endsWith('.eml')).sort()).toEqual(
      sentFirst.map((f) => basename(f ?? '')).sort(),
    );
    const ledgerAfterSecond = await ledgerEntries(join(out, 'state.duckdb'), data.registryPath, ['2026-03']);
    expect(keysIn(ledgerAfterSecond, 'pending')).toEqual([cutKey]);
  });
});
