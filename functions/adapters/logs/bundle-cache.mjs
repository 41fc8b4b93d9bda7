// @ts-check
/**
 * A cache of esbuild bundles of our TypeScript sources, for code run from the sources that must start
 * without tsx's loader: the ingest worker threads (Node 20 does not pass tsx's hooks on to workers) when
 * the ingest pool runs under vitest or tsx. The package bin does not use it: it runs the build
 * (`npm run build`, scripts/build.mjs), where the pool loads the built worker and this module is left
 * out. A bundle is kept in `node_modules/.cache/partner-audit/`, named by a hash of every source in it,
 * so only the first run after a change pays for bundling. esbuild is a development dependency, as is
 * running from the sources.
 *
 * JavaScript, not TypeScript, so that it loads without a loader. Its types are in bundle-cache.d.mts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Bump when the bundle options or the cache layout change, so bundles made the old way are not reused. */
const BUNDLE_FORMAT = 3;

/** Bundling produced no code for the entry. */
export class BundleError extends Error {
  name = 'BundleError';
}

/**
 * The cache folder in the node_modules nearest the entry: a bundle there resolves npm packages (left
 * external) to the same node_modules as the sources themselves do.
 * @param {string} entry
 * @returns {string | undefined}
 */
export function bundleCacheDir(entry) {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'partner-audit');
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The entry's bundle, from the cache or made and written there now; undefined when the cache cannot be
 * written (the caller falls back to its own way of running the sources).
 * @param {string} entry
 * @param {{ readonly splitting?: boolean }} [options]
 * @returns {Promise<string | undefined>}
 */
export async function cachedBundle(entry, options = {}) {
  const cacheDir = bundleCacheDir(entry);
  if (cacheDir === undefined) return undefined;
  const found = await findCachedBundle(entry, cacheDir);
  if (found !== undefined) return found;
  const bundle = await bundleSources(entry, { format: 'esm', splitting: options.splitting ?? false });
  return writeCachedBundle(entry, cacheDir, bundle);
}

/**
 * The folder of a bundle: the hash of every source in it, in path order. A source that changed, or
 * that a source now imports, gives another name.
 * @param {string} entry
 * @param {ReadonlyMap<string, string>} digests
 */
function bundleName(entry, digests) {
  const hash = createHash('sha256').update(`${BUNDLE_FORMAT}\n`);
  for (const path of [...digests.keys()].sort()) hash.update(`${path}\0${digests.get(path)}\n`);
  return `${stem(entry)}-${hash.digest('hex').slice(0, 16)}`;
}

/**
 * The index of an entry's latest bundle; by path, since checkouts may share one node_modules.
 * @param {string} entry
 */
function indexName(entry) {
  return `${stem(entry)}-${createHash('sha256').update(entry).digest('hex').slice(0, 8)}.json`;
}

/** @param {string} entry */
function stem(entry) {
  return basename(entry, extname(entry));
}

/** The entry module's file inside a bundle folder. @param {string} entry */
function entryFile(entry) {
  return `${stem(entry)}.mjs`;
}

/** @param {Buffer} bytes */
function digestOf(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The bundle of the entry's sources as they are now, if an earlier run made it. The index lists the
 * sources of the latest bundle; their digests as they are now name the bundle to look for.
 * @param {string} entry
 * @param {string} cacheDir
 * @returns {Promise<string | undefined>}
 */
export async function findCachedBundle(entry, cacheDir) {
  try {
    const index = /** @type {{ sources: string[] }} */ (
      JSON.parse(await readFile(join(cacheDir, indexName(entry)), 'utf8'))
    );
    const digests = new Map();
    for (const path of index.sources) digests.set(path, digestOf(await readFile(path)));
    const file = join(cacheDir, bundleName(entry, digests), entryFile(entry));
    await access(file);
    return file;
  } catch {
    // No index, a source gone or no bundle for these sources: bundle again.
    return undefined;
  }
}

/**
 * @typedef {object} Bundle
 * @property {readonly { readonly path: string, readonly text: string }[]} files paths relative to the
 *   bundle's folder; the entry module's first
 * @property {ReadonlyMap<string, string>} digests the digest of every source read, by path
 */

/**
 * Writes a bundle folder and the entry's index (each through a rename, so a concurrent run finds a whole
 * bundle or none), and removes bundles of the entry's earlier sources. Resolves to the entry module's
 * file, or undefined when the cache cannot be written.
 * @param {string} entry
 * @param {string} cacheDir
 * @param {Bundle} bundle
 * @returns {Promise<string | undefined>}
 */
export async function writeCachedBundle(entry, cacheDir, bundle) {
  const name = bundleName(entry, bundle.digests);
  const folder = join(cacheDir, name);
  // Left behind only by a run that stopped half-way; removed with the stale bundles below.
  const temp = `.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    for (const file of bundle.files) {
      await mkdir(dirname(join(folder + temp, file.path)), { recursive: true });
      await writeFile(join(folder + temp, file.path), file.text);
    }
    await rename(folder + temp, folder).catch(async (/** @type {unknown} */ e) => {
      // Another run wrote the same sources' bundle first: theirs is as good.
      await rm(folder + temp, { recursive: true, force: true });
      if (!existsSync(join(folder, entryFile(entry)))) throw e;
    });
    const index = join(cacheDir, indexName(entry));
    await writeFile(index + temp, JSON.stringify({ sources: [...bundle.digests.keys()].sort() }));
    await rename(index + temp, index);
  } catch {
    return undefined;
  }
  const now = Date.now();
  for (const other of await readdir(cacheDir).catch(() => [])) {
    if (other === name || !other.startsWith(`${stem(entry)}-`) || other.endsWith('.json')) continue;
    // Only an hour old or more: another run may have just found this one and be loading it.
    const path = join(cacheDir, other);
    const age = await stat(path).then(
      (s) => now - s.mtimeMs,
      () => 0,
    );
    if (age > 60 * 60 * 1000) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
  return join(folder, entryFile(entry));
}

/** Packages left out of bundles: they load a native library, found from their own folder. */
const NATIVE_PACKAGES = ['@duckdb/node-bindings'];

/**
 * The package.json of the npm package a file belongs to; undefined for a file of ours.
 * @param {string} path
 */
function packageJsonOf(path) {
  const at = path.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const start = at + '/node_modules/'.length;
  const parts = path.slice(start).split('/');
  const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  return join(path.slice(0, start), `${name}`, 'package.json');
}

/**
 * Bundled CommonJS packages call `require` for Node's modules (and the native packages): an ES module
 * has none, so each file of the bundle makes its own, resolving from the bundle's place in node_modules.
 * (Spelt so that the bundling of this very file does not take it for a source's `import.meta`.)
 */
const REQUIRE_BANNER = `import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(${'import'}.meta.url);`;

/** @type {Readonly<Record<string, 'ts' | 'tsx' | 'jsx'>>} */
const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.jsx': 'jsx' };

/**
 * Bundles an entry with esbuild, the compiler of the build and of tsx. Every source keeps its own `import.meta.url`, so a file next to the
 * sources (the scanner's .wasm) is found as it is unbundled, and code that bundles another entry (the
 * ingest pool, its worker) finds that entry's sources. npm packages are bundled too, except those that
 * load native code (NATIVE_PACKAGES), which an ES module bundle imports from node_modules (a CommonJS
 * one is evaluated from memory and must not need them): loading DuckDB's API as one file rather than
 * its 181 modules takes 50 ms instead of 150, and zod and yaml save as much again. A package enters
 * the bundle's hash by its package.json (its version), not file by file. `splitting` (ES modules only)
 * puts each dynamically imported module in a chunk of its own, loaded only when imported, with the
 * packages it imports.
 * @param {string} entry
 * @param {{ readonly format: 'esm' | 'cjs', readonly splitting?: boolean }} options
 * @returns {Promise<Bundle>}
 */
export async function bundleSources(entry, options) {
  const esbuild = await import('esbuild');
  /** @type {Map<string, string>} */
  const digests = new Map();
  /** A source by its bytes; a package's file by its package.json. @type {(path: string, bytes: Buffer) => void} */
  const noteDigest = (path, bytes) => {
    const manifest = packageJsonOf(path);
    if (manifest === undefined) digests.set(path, digestOf(bytes));
    else if (!digests.has(manifest)) digests.set(manifest, digestOf(readFileSync(manifest)));
  };
  const outdir = join(dirname(entry), '.bundle');
  const built = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: options.format,
    splitting: options.format === 'esm' && (options.splitting ?? false),
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': options.format === 'esm' ? '.mjs' : '.cjs' },
    external: options.format === 'esm' ? NATIVE_PACKAGES : [],
    ...(options.format === 'esm' ? { banner: { js: REQUIRE_BANNER } } : {}),
    target: 'node20',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'source-import-meta',
        setup(build) {
          build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
            const bytes = await readFile(args.path);
            noteDigest(args.path, bytes);
            /** @type {Record<string, string>} */
            const meta = {
              url: pathToFileURL(args.path).href,
              filename: args.path,
              dirname: dirname(args.path),
            };
            const contents = bytes
              .toString('utf8')
              .replace(/\bimport\.meta\.(url|filename|dirname)\b/g, (_, key) => JSON.stringify(meta[key]));
            return { contents, loader: LOADERS[extname(args.path)] ?? 'js' };
          });
          // Any other file bundled (JSON, text) is part of the hash too.
          build.onLoad({ filter: /.*/ }, async (args) => {
            noteDigest(args.path, await readFile(args.path));
            return undefined;
          });
        },
      },
    ],
  });
  const main = join(outdir, options.format === 'esm' ? entryFile(entry) : `${stem(entry)}.cjs`);
  const first = built.outputFiles.find((f) => f.path === main);
  if (first === undefined) throw new BundleError(`bundling ${entry} produced no code`);
  const rest = built.outputFiles.filter((f) => f !== first);
  return {
    files: [first, ...rest].map((f) => ({ path: relative(outdir, f.path), text: f.text })),
    digests,
  };
}
