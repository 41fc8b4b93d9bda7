/**
 * Compiling a committed AssemblyScript module again, in memory, to hold the committed .wasm to its
 * source (test/unit/scanner-wasm.test.ts, identities-wasm.test.ts).
 */

/**
 * The part of the AssemblyScript compiler's API used here. Its own type declarations are not imported:
 * they declare the AssemblyScript standard library globally (a `console` without `error`).
 */
interface AscApi {
  main(
    argv: string[],
    options: {
      writeFile(name: string, contents: Uint8Array | string): void;
      stderr: { write(text: string | Uint8Array): void };
    },
  ): Promise<{ error?: Error | null }>;
}
const ASC_MODULE = 'assemblyscript/asc';

/**
 * What `source` (a file in the folder `dir`, with its asconfig.json there) compiles to with the release
 * target: the bytes of the .wasm it writes (`wasmName`), or the compiler's errors.
 */
export async function compileAssembly(
  dir: string,
  source: string,
  wasmName: string,
): Promise<{ wasm?: Uint8Array; errors: string }> {
  const written = new Map<string, Uint8Array>();
  const errors: string[] = [];
  const asc = ((await import(ASC_MODULE)) as { default: AscApi }).default;
  const result = await asc.main(
    [`${dir}${source}`, '--config', `${dir}asconfig.json`, '--target', 'release'],
    {
      writeFile: (name, contents) => {
        written.set(name, typeof contents === 'string' ? Buffer.from(contents) : contents);
      },
      stderr: { write: (text: string | Uint8Array) => errors.push(String(text)) },
    },
  );
  const wasm = [...written.entries()].find(([name]) => name.endsWith(wasmName))?.[1];
  return {
    ...(wasm === undefined ? {} : { wasm }),
    errors: result.error ? String(result.error) : errors.join(''),
  };
}
