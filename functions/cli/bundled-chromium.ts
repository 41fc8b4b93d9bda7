/**
 * The Chromium that comes with `npm ci`: the devDependency `@sparticuz/chromium` ships a headless
 * Chromium for Linux x64 inside the package, Brotli-compressed, with the few shared libraries it needs
 * beyond glibc (NSS, NSPR, expat: `al2023.tar.br`) and a font (`fonts.tar.br`). Made for Lambda, it
 * also runs on Debian when those libraries are put on its LD_LIBRARY_PATH and fontconfig is pointed at
 * its font, so `npm test` renders pages on a machine that has only Node.js and npm.
 *
 * The package's own `executablePath()` unpacks to fixed names in the OS temp folder, checking only
 * that a file exists there: a second process can start a half-written binary, and a binary of another
 * version left there is used as is. Here each version is unpacked into its own folder, built beside it
 * under a temporary name and renamed into place in one step, so a reader sees all of it or nothing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, sep } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';

/** A Chromium to launch: its binary and what its process needs in its environment. */
export interface ChromiumInstall {
  readonly executablePath: string;
  /** Variables added to the browser process's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Where it came from, for messages: `CHROMIUM_PATH`, `@sparticuz/chromium 153.0.0`, `/usr/bin/chromium`. */
  readonly source: string;
}

/** The bundled package could not be unpacked (a damaged archive, a full disk). */
export class BundledChromiumError extends Error {
  override readonly name = 'BundledChromiumError';
}

const PACKAGE = '@sparticuz/chromium';

/** The package's folder and version, when it is installed (it is a devDependency). */
function locatePackage(): { dir: string; version: string } | undefined {
  let entry: string;
  try {
    // Its `exports` map names only the entry point (build/index.js), not package.json.
    entry = createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    return undefined;
  }
  const dir = dirname(dirname(entry));
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { dir, version };
}

/**
 * Files of a ustar archive (the package's three `.tar.br` hold only regular files and folders). Names
 * that would leave the target folder are refused.
 */
export function untar(archive: Buffer): { path: string; data: Buffer }[] {
  const out: { path: string; data: Buffer }[] = [];
  const field = (h: Buffer, start: number, length: number) =>
    h
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const path = normalize(prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    if (!Number.isSafeInteger(size) || size < 0)
      throw new BundledChromiumError(`bad tar entry size at ${offset}`);
    if (path.startsWith('..') || path.startsWith(sep))
      throw new BundledChromiumError(`tar entry leaves its folder: ${path}`);
    if (type === '0' || type === '\0')
      out.push({ path, data: archive.subarray(offset + 512, offset + 512 + size) });
    else if (type !== '5')
      throw new BundledChromiumError(`tar entry ${path} has type "${type}", not a file or folder`);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** A fontconfig file that knows only the bundled fonts, so pages render alike on every machine. */
function fontsConf(fontsDir: string, cacheDir: string): string {
  return `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>${fontsDir}</dir>
  <cachedir>${cacheDir}</cachedir>
</fontconfig>
`;
}

/** Unpacks the package's binary, libraries and fonts into `target` (a folder that does not exist yet). */
async function unpack(binDir: string, target: string): Promise<void> {
  const building = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(building, { recursive: true });
  try {
    const binary = brotliDecompressSync(await readFile(join(binDir, 'chromium.br')));
    await writeFile(join(building, 'chromium'), binary);
    await chmod(join(building, 'chromium'), 0o755);
    for (const [archive, folder] of [
      ['al2023.tar.br', 'lib'],
      ['fonts.tar.br', 'fonts'],
    ] as const) {
      for (const file of untar(brotliDecompressSync(await readFile(join(binDir, archive))))) {
        // al2023.tar holds lib/<name>; fonts.tar holds fonts.conf and fonts/<family>/...
        const relative = file.path.split(sep).slice(1).join(sep);
        if (relative === '' || file.path === 'fonts.conf') continue;
        const to = join(building, folder, relative);
        await mkdir(dirname(to), { recursive: true });
        await writeFile(to, file.data);
      }
    }
    await writeFile(
      join(building, 'fonts.conf'),
      fontsConf(join(target, 'fonts'), join(target, 'fonts-cache')),
    );
    try {
      await rename(building, target);
    } catch (error) {
      // Another process renamed its copy into place first: same version, same files.
      if (!existsSync(join(target, 'chromium'))) throw error;
    }
  } finally {
    await rm(building, { recursive: true, force: true });
  }
}

/**
 * The bundled Chromium, unpacked on first use (about 2 s) into `<cacheRoot>/partner-audit-chromium-<version>`;
 * undefined where the package is not installed or has no binary for this machine (it ships Linux x64).
 */
export async function bundledChromium(cacheRoot: string = tmpdir()): Promise<ChromiumInstall | undefined> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  const pkg = locatePackage();
  if (pkg === undefined) return undefined;
  const binDir = join(pkg.dir, 'bin');
  if (!existsSync(join(binDir, 'chromium.br'))) return undefined;
  const target = join(cacheRoot, `partner-audit-chromium-${pkg.version}`);
  if (!existsSync(join(target, 'chromium'))) {
    try {
      await unpack(binDir, target);
    } catch (error) {
      throw new BundledChromiumError(`could not unpack ${PACKAGE} ${pkg.version} into ${target}`, {
        cause: error,
      });
    }
  }
  return {
    executablePath: join(target, 'chromium'),
    env: {
      LD_LIBRARY_PATH: [join(target, 'lib'), process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
      FONTCONFIG_PATH: target,
    },
    source: `${PACKAGE} ${pkg.version}`,
  };
}
