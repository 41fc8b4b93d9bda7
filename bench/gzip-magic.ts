/** Whether a file is gzip: the two magic bytes at its start, as the ingester decides (not its name). */
import { closeSync, openSync, readSync } from 'node:fs';

export function startsWithGzipMagic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}
