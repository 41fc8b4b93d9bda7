/**
 * The local Mailer: instead of sending, writes each notice to a folder as the exact MIME bytes SES
 * would get (`<partner>-<period>-<level>.eml`) plus an HTML preview next to it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mailer, NoticeKey, OutgoingMessage } from '../../ports.js';

/** Writing a notice to the outbox failed (disk full, permissions). Not retryable by itself. */
export class OutboxWriteError extends Error {
  override readonly name = 'OutboxWriteError';
  readonly retryable = false;
  constructor(
    readonly file: string,
    options: { cause: unknown },
  ) {
    super(`cannot write ${file}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

/** The file name stem of a notice: `<partner>-<period>-<level>`, restricted to safe characters. */
export function outboxStem(key: NoticeKey): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe(key.partnerId)}-${safe(key.periodId)}-${safe(key.level)}`;
}

/**
 * Write `body` to `path` so a reader sees the old file or the whole new one, never a part: write a
 * temporary file in the same folder, then rename it over the target.
 */
export async function writeFileAtomic(path: string, body: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, body);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Mailer that writes notices to a local folder; `providerMessageId` is the .eml file name. */
export class OutboxMailer implements Mailer {
  constructor(readonly dir: string) {}

  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    const stem = outboxStem(message.key);
    const eml = `${stem}.eml`;
    try {
      await mkdir(this.dir, { recursive: true });
      // The preview first: an .eml on disk then always has its preview beside it.
      await writeFileAtomic(join(this.dir, `${stem}.html`), message.html);
      await writeFileAtomic(join(this.dir, eml), message.raw);
    } catch (e) {
      throw new OutboxWriteError(join(this.dir, eml), { cause: e });
    }
    return { providerMessageId: eml };
  }
}
