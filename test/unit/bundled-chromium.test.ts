import { describe, expect, it } from 'vitest';
import { BundledChromiumError, untar } from '../../functions/cli/bundled-chromium.js';

/** One ustar entry: a 512-byte header and the data padded to 512 bytes. */
function entry(name: string, data: string, type = '0'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write(`${Buffer.byteLength(data).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write(type, 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(data) / 512) * 512);
  body.write(data, 0, 'utf8');
  return Buffer.concat([header, body]);
}

const END = Buffer.alloc(1024);

describe('untar (the bundled Chromium archives)', () => {
  it('reads each regular file with its data and skips folders', () => {
    const archive = Buffer.concat([
      entry('fonts/', '', '5'),
      entry('fonts/a.ttf', 'x'.repeat(700)),
      entry('lib/libnss3.so', 'ELF'),
      END,
    ]);
    expect(untar(archive).map((f) => [f.path, f.data.toString()])).toEqual([
      ['fonts/a.ttf', 'x'.repeat(700)],
      ['lib/libnss3.so', 'ELF'],
    ]);
  });

  it.each(['../evil.so', '/etc/passwd', 'lib/../../evil.so'])(
    'refuses an entry that leaves its folder: %s',
    (name) => {
      expect(() => untar(Buffer.concat([entry(name, 'x'), END]))).toThrow(BundledChromiumError);
    },
  );

  it('refuses links, which the package never holds', () => {
    expect(() => untar(Buffer.concat([entry('lib/x', '', '2'), END]))).toThrow(/type "2"/);
  });
});
