/**
 * `partner-audit verify <bundle dir> [--head <sha256>]`: check an evidence bundle. Exit 0 with
 * "verified N files, chain head ..." when every file, the chain and (with PARTNER_AUDIT_SIGNING_KEY)
 * the signature hold; exit 1 listing each problem otherwise.
 */
import { parseArgs } from 'node:util';
import { verifyBundle } from '../adapters/local/evidence-bundle.js';
import { UsageError } from './args.js';
import { displayPath } from './paths.js';

/** Where the command writes; tests hand in their own. */
export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: CommandIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** The environment variable holding the HMAC key of signed bundles. */
export const SIGNING_KEY_ENV = 'PARTNER_AUDIT_SIGNING_KEY';

/** The signing key from the environment; an empty value counts as none. */
export function signingKeyFrom(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const key = env[SIGNING_KEY_ENV];
  return key === undefined || key === '' ? undefined : key;
}

export async function runVerifyCommand(
  argv: string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  io: CommandIo = processIo,
): Promise<number> {
  const parse = (args: string[]) =>
    parseArgs({ args, options: { head: { type: 'string' } }, strict: true, allowPositionals: true });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw new UsageError(`verify: ${(e as Error).message.split('\n')[0]} (see "partner-audit help")`);
  }
  const [dir, ...more] = parsed.positionals;
  if (dir === undefined || more.length > 0) {
    throw new UsageError('verify: give exactly one bundle folder: partner-audit verify <bundle dir>');
  }
  const head = parsed.values.head;
  if (head !== undefined && !/^[0-9a-f]{64}$/.test(head)) {
    throw new UsageError('verify: --head must be a sha256 in lower-case hex (64 characters)');
  }
  const key = signingKeyFrom(env);
  const result = await verifyBundle(dir, {
    ...(key === undefined ? {} : { signingKey: key }),
    ...(head === undefined ? {} : { expectedHead: head }),
  });
  if (!result.ok) {
    io.err(
      `${displayPath(dir)}: NOT verified, ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}:\n`,
    );
    for (const p of result.problems) io.err(`  - ${p}\n`);
    return 1;
  }
  const signature =
    result.signature === 'valid'
      ? '; HMAC signature valid'
      : result.signature === 'unchecked'
        ? `; signed, but ${SIGNING_KEY_ENV} is not set, so the signature was not checked`
        : '';
  const published = head === undefined ? '' : ' (matches the published head)';
  io.out(`verified ${result.files} files, chain head ${result.head}${published}${signature}\n`);
  return 0;
}
