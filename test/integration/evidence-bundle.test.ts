import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BundleError,
  type BundleManifest,
  chainHash,
  GENESIS,
  MANIFEST_NAME,
  verifyBundle,
  writeBundle,
} from '../../functions/adapters/local/evidence-bundle.js';

const FILES = [
  { name: 'report.json', body: '{"runId":"r1"}\n' },
  { name: 'usage.csv', body: 'partner_id,requests\r\nacme,1523456\r\n' },
  { name: 'report.html', body: '<!DOCTYPE html><p>report</p>' },
  {
    name: 'notices/acme-2026-11-escalation.eml',
    body: new Uint8Array([0x46, 0x72, 0x6f, 0x6d, 0x3a, 0x0d, 0x0a]),
  },
];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bundle-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readManifest = async () =>
  JSON.parse(await readFile(join(dir, MANIFEST_NAME), 'utf8')) as BundleManifest;
const writeManifest = (m: unknown) => writeFile(join(dir, MANIFEST_NAME), JSON.stringify(m, null, 2));

describe('writeBundle', () => {
  it('writes the files and a manifest with each size and sha256, chained in name order to the head', async () => {
    const result = await writeBundle(dir, FILES);
    expect(result.files).toBe(4);
    const m = await readManifest();
    expect(m.files.map((f) => f.name)).toEqual([
      'notices/acme-2026-11-escalation.eml',
      'report.html',
      'report.json',
      'usage.csv',
    ]);
    const csv = m.files.find((f) => f.name === 'usage.csv')!;
    expect(csv.size).toBe(Buffer.byteLength(FILES[1]!.body as string));
    expect(csv.sha256).toBe(createHash('sha256').update(FILES[1]!.body).digest('hex'));
    let previous = GENESIS;
    for (const f of m.files) {
      const expected = createHash('sha256').update(`${previous}${f.name}${f.sha256}`).digest('hex');
      expect(f.chain).toBe(expected);
      expect(chainHash(previous, f.name, f.sha256)).toBe(expected);
      previous = f.chain;
    }
    expect(m.head).toBe(previous);
    expect(result.head).toBe(previous);
    expect(m.signature).toBeNull();
    expect(await readFile(join(dir, 'notices/acme-2026-11-escalation.eml'))).toEqual(
      Buffer.from(FILES[3]!.body as Uint8Array),
    );
  });

  it('gives the same head for the same files, whatever order they are given in', async () => {
    const a = await writeBundle(dir, FILES);
    const other = await mkdtemp(join(tmpdir(), 'bundle-'));
    const b = await writeBundle(other, [...FILES].reverse());
    await rm(other, { recursive: true, force: true });
    expect(b.head).toBe(a.head);
  });

  it.each([['../escape.txt'], ['/etc/passwd'], ['a//b'], ['a\\b'], [MANIFEST_NAME], ['']])(
    'refuses the file name %j',
    async (name) => {
      await expect(writeBundle(dir, [{ name, body: 'x' }])).rejects.toThrow(BundleError);
    },
  );

  it('refuses a name given twice, and a folder holding files that are not in the bundle', async () => {
    await expect(writeBundle(dir, [FILES[0]!, FILES[0]!])).rejects.toThrow(/twice/);
    await writeFile(join(dir, 'stray.txt'), 'x');
    await expect(writeBundle(dir, FILES)).rejects.toThrow(/stray\.txt/);
  });

  it('rewrites a bundle over its own earlier files', async () => {
    await writeBundle(dir, FILES);
    await writeBundle(dir, FILES);
    expect((await verifyBundle(dir)).ok).toBe(true);
  });
});

describe('verifyBundle', () => {
  it('verifies an untouched bundle', async () => {
    const { head } = await writeBundle(dir, FILES);
    expect(await verifyBundle(dir)).toEqual({ ok: true, problems: [], files: 4, head, signature: 'absent' });
    expect((await verifyBundle(dir, { expectedHead: head })).ok).toBe(true);
  });

  it('detects a one-byte change in a file', async () => {
    await writeBundle(dir, FILES);
    const path = join(dir, 'usage.csv');
    const bytes = await readFile(path);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x01;
    await writeFile(path, bytes);
    const v = await verifyBundle(dir);
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([expect.stringMatching(/^usage\.csv: content changed/)]);
  });

  it('detects a missing file', async () => {
    await writeBundle(dir, FILES);
    await rm(join(dir, 'report.html'));
    const v = await verifyBundle(dir);
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual(['missing file: report.html']);
  });

  it('detects an added file, also in a subfolder', async () => {
    await writeBundle(dir, FILES);
    await writeFile(join(dir, 'notices', 'extra.eml'), 'x');
    const v = await verifyBundle(dir);
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual(['added file not in the manifest: notices/extra.eml']);
  });

  it('detects a symbolic link put in place of a file', async () => {
    await writeBundle(dir, FILES);
    await rm(join(dir, 'report.html'));
    await symlink(join(dir, 'report.json'), join(dir, 'report.html'));
    const v = await verifyBundle(dir);
    expect(v.problems).toContain('report.html is not a regular file');
  });

  it('detects a manifest edited to match a changed file', async () => {
    await writeBundle(dir, FILES);
    const changed = '{"runId":"r2"}\n';
    await writeFile(join(dir, 'report.json'), changed);
    const m = await readManifest();
    const entry = m.files.find((f) => f.name === 'report.json')!;
    entry.sha256 = createHash('sha256').update(changed).digest('hex');
    await writeManifest(m);
    const v = await verifyBundle(dir);
    expect(v.ok).toBe(false);
    expect(v.problems).toContain(
      `${MANIFEST_NAME}: the chain breaks at report.json (the manifest was edited)`,
    );
  });

  it('detects a manifest that drops an entry, or changes a size', async () => {
    await writeBundle(dir, FILES);
    const m = await readManifest();
    await writeManifest({ ...m, files: m.files.slice(1) });
    expect((await verifyBundle(dir)).problems).toContain(
      'added file not in the manifest: notices/acme-2026-11-escalation.eml',
    );
    m.files[1]!.size += 1;
    await writeManifest(m);
    expect((await verifyBundle(dir)).problems).toEqual([
      `report.html: ${m.files[1]!.size - 1} bytes, the manifest says ${m.files[1]!.size}`,
    ]);
  });

  it('catches a consistently rewritten manifest only against the published head or the signature', async () => {
    const { head } = await writeBundle(dir, FILES, { signingKey: 'k1' });
    await writeFile(join(dir, 'report.json'), '{"runId":"forged"}\n');
    // The forger recomputes every hash and the chain, but has no key.
    const m = await readManifest();
    let previous = GENESIS;
    for (const f of m.files) {
      const body = await readFile(join(dir, ...f.name.split('/')));
      f.size = body.byteLength;
      f.sha256 = createHash('sha256').update(body).digest('hex');
      previous = chainHash(previous, f.name, f.sha256);
      f.chain = previous;
    }
    m.head = previous;
    await writeManifest(m);
    expect((await verifyBundle(dir)).ok).toBe(true);
    const published = await verifyBundle(dir, { expectedHead: head });
    expect(published.ok).toBe(false);
    expect(published.problems[0]).toMatch(/is not the published head/);
    const signed = await verifyBundle(dir, { signingKey: 'k1' });
    expect(signed.ok).toBe(false);
    expect(signed.signature).toBe('invalid');
  });

  it('checks an HMAC signature with the key, and says when it is unchecked or missing', async () => {
    await writeBundle(dir, FILES, { signingKey: 'secret' });
    expect((await verifyBundle(dir, { signingKey: 'secret' })).signature).toBe('valid');
    expect((await verifyBundle(dir, { signingKey: 'secret' })).ok).toBe(true);
    expect((await verifyBundle(dir)).signature).toBe('unchecked');
    const wrong = await verifyBundle(dir, { signingKey: 'other' });
    expect(wrong).toMatchObject({ ok: false, signature: 'invalid' });
    // Stripping the signature does not help when the verifier holds the key.
    const m = await readManifest();
    await writeManifest({ ...m, signature: null });
    const stripped = await verifyBundle(dir, { signingKey: 'secret' });
    expect(stripped.ok).toBe(false);
    expect(stripped.problems).toContain(`${MANIFEST_NAME} has no signature, but a signing key was given`);
  });

  it('reports a missing, unparsable or foreign manifest', async () => {
    await mkdir(join(dir, 'x'));
    expect((await verifyBundle(dir)).problems[0]).toMatch(/^MANIFEST\.json cannot be read: ENOENT/);
    await writeFile(join(dir, MANIFEST_NAME), '{not json');
    expect((await verifyBundle(dir)).problems).toEqual(['MANIFEST.json is not valid JSON (edited?)']);
    await writeManifest({ format: 'something-else' });
    expect((await verifyBundle(dir)).problems[0]).toMatch(/^MANIFEST\.json is not a bundle manifest: format/);
  });
});
