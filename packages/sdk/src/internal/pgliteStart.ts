/**
 * PGlite's start, begun before the store needs it. Opening PGlite first compiles its WASM (9 MB,
 * compiled by V8 off the main thread) and reads its file-system bundle (6 MB); neither needs the
 * data directory. So a process about to open the embedded store begins both first, and they run
 * while it loads the rest of its code, takes the directory's lock and builds its layers. PGlite
 * takes them as its own options (`pgliteWasmModule`, `fsBundle`).
 */
import { readFile } from "node:fs/promises"
import type { PGliteOptions } from "@electric-sql/pglite"

type WasmModule = NonNullable<PGliteOptions["pgliteWasmModule"]>

/** V8's WebAssembly API: not in the ES2022 library this project compiles against. */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> }

export interface PgliteArtifacts {
  readonly pgliteWasmModule: WasmModule
  readonly fsBundle: Blob
}

/** PGlite's files, beside its entry module, where PGlite itself finds them. */
const load = async (): Promise<PgliteArtifacts> => {
  const dist = new URL(".", import.meta.resolve("@electric-sql/pglite"))
  const [wasm, bundle] = await Promise.all([
    readFile(new URL("pglite.wasm", dist)),
    readFile(new URL("pglite.data", dist))
  ])
  return { pgliteWasmModule: await WebAssembly.compile(wasm), fsBundle: new Blob([bundle]) }
}

/**
 * The start, once per process: kept on `globalThis` under a registered symbol, because the store
 * process's script and its core are separate bundles, each with its own copy of this module.
 */
const STARTED = Symbol.for("@invkit/sdk/pgliteStart")

/**
 * Begins loading PGlite's WASM and bundle, once per process; answers them when ready. Undefined if
 * they cannot be read where expected: PGlite then loads them itself, as it would without this.
 */
export const startPglite = (): Promise<PgliteArtifacts | undefined> => {
  const shared = globalThis as { [STARTED]?: Promise<PgliteArtifacts | undefined> }
  shared[STARTED] ??= load().catch(() => undefined)
  return shared[STARTED]
}
