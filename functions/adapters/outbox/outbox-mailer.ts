/**
 * The local Mailer: instead of sending, writes each notice to a folder as the exact MIME bytes SES
 * would get (`<partner>-<period>-<level>.eml`) plus an HTML preview next to it.
 *
 * Delivery is the rename that puts the `.eml` in place. A failure before it (the folder, the preview,
 * the temporary file) certainly delivered nothing; a failure of the rename itself that the file system
 * does not clearly call a refusal (EIO, a timeout of a network file system) may have delivered it, and
 * says so (`mayHaveSent`). Since the folder is the delivery, `delivered` can tell afterwards whether a
 * message is there.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mailer, MailerFailure, NoticeKey, OutgoingMessage } from '../../ports.js';

/** Writing a notice to the outbox failed (disk full, permissions). Not retryable by itself. */
export class OutboxWriteError extends Error implements MailerFailure {
  override readonly name = 'OutboxWriteError';
  readonly retryable = false;
  readonly mayHaveSent: boolean;
  constructor(
    readonly file: string,
    options: { cause: unknown; mayHaveSent?: boolean },
  ) {
    super(`cannot write ${file}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
    this.mayHaveSent = options.mayHaveSent ?? false;
  }
}

/** Errors of a rename that certainly left the target as it was: the file system refused it. */
const RENAME_REFUSED = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EXDEV',
  'EISDIR',
  'ENOTDIR',
  'ENOSPC',
  'EROFS',
  'EBUSY',
  'EINVAL',
  'ENAMETOOLONG',
]);

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

/** The Message-ID of a raw message (without angle brackets), from its header. */
function messageIdOf(raw: string): string | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const header = end === -1 ? raw : raw.slice(0, end);
  return /^Message-ID:[ \t]*<([^>\r\n]+)>/im.exec(header)?.[1];
}

/** Mailer that writes notices to a local folder; `providerMessageId` is the .eml file name. */
export class OutboxMailer implements Mailer {
  readonly name = 'the outbox';
  readonly sendingRecords: string;

  constructor(readonly dir: string) {
    this.sendingRecords = `the outbox folder ${dir}`;
  }

  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    const stem = outboxStem(message.key);
    const eml = `${stem}.eml`;
    const path = join(this.dir, eml);
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true });
      // The preview first: an .eml on disk then always has its preview beside it.
      await writeFileAtomic(join(this.dir, `${stem}.html`), message.html);
      await writeFile(tmp, message.raw);
    } catch (e) {
      // Cleanup is best effort: the folder itself may be what failed.
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new OutboxWriteError(path, { cause: e });
    }
    try {
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      const code = (e as { code?: unknown }).code;
      throw new OutboxWriteError(path, {
        cause: e,
        mayHaveSent: !(typeof code === 'string' && RENAME_REFUSED.has(code)),
      });
    }
    return { providerMessageId: eml };
  }

  /** The `.eml` in the folder when it holds this very message (its Message-ID), else undefined. */
  async delivered(message: {
    key: NoticeKey;
    messageId: string;
  }): Promise<{ providerMessageId: string } | undefined> {
    const eml = `${outboxStem(message.key)}.eml`;
    let raw: string;
    try {
      raw = await readFile(join(this.dir, eml), 'utf8');
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
      throw e;
    }
    return messageIdOf(raw) === message.messageId ? { providerMessageId: eml } : undefined;
  }
}
