/**
 * A tamper-evident evidence bundle: a folder with the run's files (report, CSV, HTML, notices) and a
 * `MANIFEST.json` listing each file's size and sha256, hash-chained in name order:
 *
 *   chain[0] = sha256(GENESIS + name[0] + sha256[0]),  chain[i] = sha256(chain[i-1] + name[i] + sha256[i])
 *
 * (hex strings concatenated; the two hashes have a fixed length, so the join is unambiguous). The last
 * chain hash, the head, commits to every name and every byte: publish it (the report log, a ticket, an
 * email) and a later change anywhere is detectable. A manifest edited by hand breaks the chain; one
 * rewritten consistently is caught by comparing the head with the published one, or by the optional
 * HMAC-SHA256 signature over the manifest when the verifier holds the key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../outbox/outbox-mailer.js';

export const MANIFEST_NAME = 'MANIFEST.json';
export const BUNDLE_FORMAT = 'partner-audit-evidence-bundle/1' as const;
/** The chain's starting value. */
export const GENESIS = '0'.repeat(64);

/** A bundle cannot be written as asked (a bad or repeated name, a file already there that is not in it). */
export class BundleError extends Error {
  override readonly name = 'BundleError';
}

export interface BundleFile {
  /** Path inside the bundle, `/`-separated, e.g. `report.json` or `notices/acme-2026-11-overage.eml`. */
  readonly name: string;
  readonly body: string | Uint8Array;
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

const ManifestSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  algorithm: z.literal('sha256'),
  genesis: Hex64,
  files: z.array(
    z.strictObject({ name: z.string(), size: z.number().int().nonnegative(), sha256: Hex64, chain: Hex64 }),
  ),
  head: Hex64,
  signature: z.strictObject({ algorithm: z.literal('hmac-sha256'), value: Hex64 }).nullable(),
});
export type BundleManifest = z.infer<typeof ManifestSchema>;

export interface BundleVerification {
  readonly ok: boolean;
  /** One sentence per problem found; empty when ok. */
  readonly problems: string[];
  /** Files the manifest lists. */
  readonly files: number;
  /** The chain head as recomputed from the manifest (null when there is no readable manifest). */
  readonly head: string | null;
  /** `valid`/`invalid` when a key was given; `unchecked` when signed but no key; `absent` when unsigned. */
  readonly signature: 'valid' | 'invalid' | 'unchecked' | 'absent';
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** One link of the chain. */
export function chainHash(previous: string, name: string, fileSha256: string): string {
  return sha256(`${previous}${name}${fileSha256}`);
}

/** Why a name cannot be a bundle path, or undefined when it can. */
function badName(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name === MANIFEST_NAME) return `is reserved for the manifest`;
  if (/[\\\u0000-\u001f\u007f]/.test(name)) return 'contains a backslash or a control character';
  if (name.startsWith('/')) return 'is absolute';
  if (name.split('/').some((s) => s === '' || s === '.' || s === '..'))
    return 'has an empty, . or .. segment';
  return undefined;
}

/** What the signature covers: the manifest without its signature, in a fixed key order. */
function signedPayload(m: Omit<BundleManifest, 'signature'>): string {
  return JSON.stringify({
    format: m.format,
    algorithm: m.algorithm,
    genesis: m.genesis,
    files: m.files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256, chain: f.chain })),
    head: m.head,
  });
}

const hmac = (key: string | Uint8Array, payload: string) =>
  createHmac('sha256', key).update(payload).digest('hex');

/** Every regular file and anything else under `dir`, as `/`-separated paths relative to it. */
async function listTree(dir: string): Promise<{ files: string[]; others: string[] }> {
  const files: string[] = [];
  const others: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      const rel = relative(dir, path).split(sep).join('/');
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.push(rel);
      else others.push(rel);
    }
  }
  await walk(dir);
  return { files: files.sort(), others: others.sort() };
}

/**
 * Write `files` into `dir` and the hash-chained `MANIFEST.json` over them (in name order). With a
 * `signingKey` the manifest also carries an HMAC-SHA256 signature. `dir` may already hold some of the
 * files (they are rewritten); any other file in it would make the bundle fail verification, so that
 * is refused.
 */
export async function writeBundle(
  dir: string,
  files: readonly BundleFile[],
  options: { readonly signingKey?: string | Uint8Array } = {},
): Promise<{ manifestPath: string; head: string; files: number }> {
  const root = resolve(dir);
  const seen = new Set<string>();
  for (const f of files) {
    const why = badName(f.name);
    if (why) throw new BundleError(`bundle file name ${JSON.stringify(f.name)} ${why}`);
    if (seen.has(f.name)) throw new BundleError(`bundle file name ${JSON.stringify(f.name)} is given twice`);
    seen.add(f.name);
  }
  await mkdir(root, { recursive: true });
  const existing = await listTree(root);
  const strangers = [...existing.files, ...existing.others].filter(
    (n) => n !== MANIFEST_NAME && !seen.has(n),
  );
  if (strangers.length > 0) {
    throw new BundleError(
      `${root} already holds files that are not in the bundle: ${strangers.slice(0, 5).join(', ')}${strangers.length > 5 ? ', ...' : ''}`,
    );
  }
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries: BundleManifest['files'] = [];
  let previous = GENESIS;
  for (const f of sorted) {
    const bytes = typeof f.body === 'string' ? Buffer.from(f.body, 'utf8') : f.body;
    const path = join(root, ...f.name.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, bytes);
    const hash = sha256(bytes);
    previous = chainHash(previous, f.name, hash);
    entries.push({ name: f.name, size: bytes.byteLength, sha256: hash, chain: previous });
  }
  const unsigned = {
    format: BUNDLE_FORMAT,
    algorithm: 'sha256' as const,
    genesis: GENESIS,
    files: entries,
    head: previous,
  };
  const manifest: BundleManifest = {
    ...unsigned,
    signature:
      options.signingKey === undefined
        ? null
        : { algorithm: 'hmac-sha256', value: hmac(options.signingKey, signedPayload(unsigned)) },
  };
  const manifestPath = join(root, MANIFEST_NAME);
  await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifestPath, head: previous, files: entries.length };
}

/**
 * Check a bundle: every listed file is there with its size and sha256, the chain follows from the
 * listed hashes to the head, nothing else is in the folder, and (with a key) the signature holds.
 * `expectedHead` is a head published elsewhere, which catches a manifest rewritten consistently.
 */
export async function verifyBundle(
  dir: string,
  options: { readonly signingKey?: string | Uint8Array; readonly expectedHead?: string } = {},
): Promise<BundleVerification> {
  const root = resolve(dir);
  const problems: string[] = [];
  const fail = (head: string | null = null, files = 0): BundleVerification => ({
    ok: false,
    problems,
    files,
    head,
    signature: 'absent',
  });

  let text: string;
  try {
    text = await readFile(join(root, MANIFEST_NAME), 'utf8');
  } catch (e) {
    problems.push(
      `${MANIFEST_NAME} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
    return fail();
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    problems.push(`${MANIFEST_NAME} is not valid JSON (edited?)`);
    return fail();
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    problems.push(
      `${MANIFEST_NAME} is not a bundle manifest: ${issue?.path.join('.') || '(top)'} ${issue?.message ?? ''}`.trim(),
    );
    return fail();
  }
  const m = parsed.data;

  // The chain, from the hashes the manifest lists.
  let previous = m.genesis;
  if (m.genesis !== GENESIS) problems.push(`${MANIFEST_NAME}: the chain does not start at the genesis value`);
  const names = new Set<string>();
  let sortedNames = true;
  m.files.forEach((f, i) => {
    const why = badName(f.name);
    if (why) problems.push(`${MANIFEST_NAME}: entry ${i + 1} name ${JSON.stringify(f.name)} ${why}`);
    if (names.has(f.name)) problems.push(`${MANIFEST_NAME}: ${f.name} is listed twice`);
    const prev = m.files[i - 1];
    if (prev && !(prev.name < f.name)) sortedNames = false;
    names.add(f.name);
    previous = chainHash(previous, f.name, f.sha256);
    if (previous !== f.chain) {
      problems.push(`${MANIFEST_NAME}: the chain breaks at ${f.name} (the manifest was edited)`);
      previous = f.chain;
    }
  });
  if (!sortedNames)
    problems.push(`${MANIFEST_NAME}: entries are not in name order (the manifest was edited)`);
  const last = m.files[m.files.length - 1];
  const recomputed = m.files.reduce((p, f) => chainHash(p, f.name, f.sha256), m.genesis);
  if ((last?.chain ?? m.genesis) !== m.head || recomputed !== m.head) {
    problems.push(`${MANIFEST_NAME}: the head does not match the chain (the manifest was edited)`);
  }
  if (options.expectedHead !== undefined && options.expectedHead !== recomputed) {
    problems.push(`the chain head ${recomputed} is not the published head ${options.expectedHead}`);
  }

  // The files themselves.
  for (const f of m.files) {
    if (badName(f.name)) continue;
    const path = join(root, ...f.name.split('/'));
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(path);
    } catch {
      problems.push(`missing file: ${f.name}`);
      continue;
    }
    if (!st.isFile()) {
      problems.push(`${f.name} is not a regular file`);
      continue;
    }
    const bytes = await readFile(path);
    const hash = sha256(bytes);
    if (bytes.byteLength !== f.size) {
      problems.push(`${f.name}: ${bytes.byteLength} bytes, the manifest says ${f.size}`);
    }
    if (hash !== f.sha256) problems.push(`${f.name}: content changed (sha256 ${hash}, manifest ${f.sha256})`);
  }
  const tree = await listTree(root);
  for (const extra of tree.files.filter((n) => n !== MANIFEST_NAME && !names.has(n))) {
    problems.push(`added file not in the manifest: ${extra}`);
  }
  for (const other of tree.others) problems.push(`${other} is not a regular file`);

  let signature: BundleVerification['signature'] = m.signature ? 'unchecked' : 'absent';
  if (options.signingKey !== undefined) {
    if (!m.signature) {
      signature = 'absent';
      problems.push(`${MANIFEST_NAME} has no signature, but a signing key was given`);
    } else {
      const expected = Buffer.from(hmac(options.signingKey, signedPayload(m)), 'hex');
      const given = Buffer.from(m.signature.value, 'hex');
      const valid = expected.length === given.length && timingSafeEqual(expected, given);
      signature = valid ? 'valid' : 'invalid';
      if (!valid) problems.push(`${MANIFEST_NAME}: the signature does not match (edited, or another key)`);
    }
  }
  return { ok: problems.length === 0, problems, files: m.files.length, head: recomputed, signature };
}
