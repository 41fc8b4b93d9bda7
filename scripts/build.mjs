// @ts-check
/**
 * `npm run build` (and `prepare`, so `npm ci` leaves a working `npx partner-audit`): compiles what the
 * command line runs into build/cli/, so nothing is bundled or compiled when it starts.
 *
 * - main.js: the CLI (functions/cli/main.ts); each command's module is a chunk of its own, loaded only
 *   when that command runs, as from the sources.
 * - ingest-worker.js: the ingest pool's worker thread (functions/adapters/logs/ingest-worker.ts), which
 *   the pool loads as `./ingest-worker.js` next to its own module: every chunk sits in the one folder.
 * - assembly/scanner.wasm: the log scanner, found the same way (`./assembly/scanner.wasm`); beside it
 *   assembly/identities.wasm, the request-identity check (functions/adapters/duckdb/wasm-identities.ts).
 * - build/meta.json: esbuild's account of what went into which file (the tests read it).
 *
 * npm packages are bundled (loading DuckDB's API as one file rather than its 181 modules takes 50 ms
 * instead of 150), except those that load a native library, found from their own folder (NATIVE).
 * The Lambda entry points are bundled by the CDK at synth time (lib/constructs/audit-functions.ts).
 */
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = join(ROOT, 'build', 'cli');

/** Packages left out of the build: they load a native library from their own folder. */
export const NATIVE = ['@duckdb/node-bindings'];

/**
 * Bundled CommonJS packages call `require` for Node's modules: an ES module has none, so each output
 * file makes its own, resolving from its place in the project.
 */
const REQUIRE_BANNER =
  "import { createRequire as __partnerAuditRequire } from 'node:module'; const require = __partnerAuditRequire(import.meta.url);";

/**
 * The ingest pool bundles its worker at run time only when it runs from the TypeScript sources (tests,
 * tsx); the built pool loads ingest-worker.js. The bundler is left out of the build.
 * @type {esbuild.Plugin}
 */
const noRuntimeBundler = {
  name: 'no-runtime-bundler',
  setup(build) {
    build.onResolve({ filter: /\/bundle-cache\.mjs$/ }, () => ({ path: 'bundle-cache', namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents:
        "const built = () => { throw new Error('the built CLI does not bundle at run time'); };\n" +
        'export const cachedBundle = built;\nexport const bundleSources = built;\n',
      loader: 'js',
    }));
  },
};

/**
 * zod re-exports every one of its message locales (`z.locales`, some 360 kB of its 730) and configures
 * English at load. The CLI speaks English only: its build gets a `locales` of English alone, which
 * every message the CLI prints uses anyway (the bundle parses and loads a third less of zod).
 * @type {esbuild.Plugin}
 */
const englishZodOnly = {
  name: 'english-zod-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-english' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-english' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};\n`,
      loader: 'js',
      resolveDir: dirname(args.path),
    }));
  },
};

/** package.json's version. */
export function packageVersion() {
  return /** @type {{ version: string }} */ (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')))
    .version;
}

export async function build() {
  await rm(OUT_DIR, { recursive: true, force: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: {
      main: 'functions/cli/main.ts',
      'ingest-worker': 'functions/adapters/logs/ingest-worker.ts',
    },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: OUT_DIR,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    external: NATIVE,
    banner: { js: REQUIRE_BANNER },
    // The code version each report states (functions/audit/run-planner.ts: CODE_VERSION).
    define: { PARTNER_AUDIT_VERSION: JSON.stringify(packageVersion()) },
    plugins: [noRuntimeBundler, englishZodOnly],
    metafile: true,
    logLevel: 'warning',
  });
  await mkdir(join(OUT_DIR, 'assembly'), { recursive: true });
  await copyFile(
    join(ROOT, 'functions/adapters/logs/assembly/scanner.wasm'),
    join(OUT_DIR, 'assembly/scanner.wasm'),
  );
  await copyFile(
    join(ROOT, 'functions/adapters/duckdb/assembly/identities.wasm'),
    join(OUT_DIR, 'assembly/identities.wasm'),
  );
  await writeFile(join(OUT_DIR, '..', 'meta.json'), JSON.stringify(result.metafile));
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const result = await build();
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  const files = Object.keys(result.metafile.outputs).length;
  process.stdout.write(
    `build: ${files} files, ${(bytes / 1024).toFixed(0)} kB in build/cli/ (${(performance.now() - started).toFixed(0)} ms)\n`,
  );
}
