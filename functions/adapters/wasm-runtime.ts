/**
 * The runtime's WebAssembly API, for the modules this project compiles from AssemblyScript and commits
 * beside their JavaScript side (the log scanner, the request-identity check). The project's type
 * library (ES2023, without DOM) does not declare the API, so it is typed here once.
 */
import { readFileSync } from 'node:fs';

interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => WebAssembly.Module;
  readonly Instance: new (module: WebAssembly.Module, imports: object) => { readonly exports: unknown };
}
const wasm = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;

/** Compiles the module in the file at `url` (a .wasm file, read whole). */
export function compileWasm(url: URL): WebAssembly.Module {
  return new wasm.Module(readFileSync(url));
}

/** The exports of a new instance of `module`, which imports nothing. */
export function instantiateWasm(module: WebAssembly.Module): unknown {
  return new wasm.Instance(module, {}).exports;
}
