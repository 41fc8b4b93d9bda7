/**
 * The local ReportStore: reports go to a folder, one file per name, written atomically so a reader
 * (or a crashed run) never leaves a half-written report.json behind.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { ReportStore } from '../../ports.js';
import { writeFileAtomic } from '../outbox/outbox-mailer.js';

/** A report name that would land outside the store's folder, or a failed write. */
export class ReportStoreError extends Error {
  override readonly name = 'ReportStoreError';
}

/** ReportStore over a local folder; `put` returns the absolute path written. */
export class LocalReportStore implements ReportStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** `contentType` is not kept locally: the file extension says it. */
  async put(name: string, body: string | Uint8Array, _contentType: string): Promise<string> {
    const segments = name.split(/[\\/]/);
    if (name === '' || isAbsolute(name) || segments.some((s) => s === '..' || s === '')) {
      throw new ReportStoreError(
        `report name ${JSON.stringify(name)} must be a relative path inside the store`,
      );
    }
    const path = join(this.dir, ...segments);
    if (!path.startsWith(this.dir + sep)) {
      throw new ReportStoreError(`report name ${JSON.stringify(name)} leaves ${this.dir}`);
    }
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomic(path, body);
    } catch (e) {
      throw new ReportStoreError(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
    }
    return path;
  }
}
