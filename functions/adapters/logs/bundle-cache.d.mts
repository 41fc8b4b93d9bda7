/** Types of bundle-cache.mjs (JavaScript, so that it loads without a loader). */

/** Bundling produced no code for the entry. */
export declare class BundleError extends Error {}

/** An entry's bundle: its files, relative to the bundle's folder, and the digest of every source read. */
export interface Bundle {
  readonly files: readonly { readonly path: string; readonly text: string }[];
  readonly digests: ReadonlyMap<string, string>;
}

/** `node_modules/.cache/partner-audit` in the node_modules nearest the entry; undefined if there is none. */
export declare function bundleCacheDir(entry: string): string | undefined;

/**
 * The path of the entry's ES module bundle, from the cache or made and written there now; undefined
 * when the cache cannot be written.
 */
export declare function cachedBundle(
  entry: string,
  options?: { readonly splitting?: boolean },
): Promise<string | undefined>;

/** The bundle of the entry's sources as they are now, if an earlier run made it. */
export declare function findCachedBundle(entry: string, cacheDir: string): Promise<string | undefined>;

/** Writes a bundle to the cache; the entry module's file, or undefined when it cannot be written. */
export declare function writeCachedBundle(
  entry: string,
  cacheDir: string,
  bundle: Bundle,
): Promise<string | undefined>;

/** Bundles an entry with esbuild; each source keeps its own `import.meta.url`. */
export declare function bundleSources(
  entry: string,
  options: { readonly format: 'esm' | 'cjs'; readonly splitting?: boolean },
): Promise<Bundle>;
