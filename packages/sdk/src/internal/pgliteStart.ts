/**
 * PGlite's start, begun before the store needs it. Opening PGlite first compiles its WASM (9 MB),
 * which needs neither the data directory nor the main thread: V8 compiles it on other threads.
 * So a process about to open the embedded store begins that first, and it runs while the process
 * loads the rest of its code, takes the directory's lock and builds its layers. PGlite takes the
 * compiled module as its own option (`pgliteWasmModule`).
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import type { PGliteOptions } from "@electric-sql/pglite"

type WasmModule = NonNullable<PGliteOptions["pgliteWasmModule"]>

/** V8's WebAssembly API: not in the ES2022 library this project compiles against. */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> }

export interface PgliteArtifacts {
  readonly pgliteWasmModule: WasmModule
}

/**
 * PGlite's WASM, beside its entry module, where PGlite itself finds it. Read at once (some 10 ms):
 * a promise-based read goes on in chunks, each between two of the main thread's tasks, and the
 * store process's next task is its core's parse; the compile then began only after that.
 * PGlite's file-system bundle (`pglite.data`) is left to PGlite, which reads it as it starts: as
 * a `Blob` (the option's type) it cost two copies, more than the read itself.
 */
const load = async (): Promise<PgliteArtifacts> => {
  // Resolved with `require`'s conditions, which work in the CommonJS core too: the same folder.
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite")
  const wasm = readFileSync(join(dirname(entry), "pglite.wasm"))
  return { pgliteWasmModule: await WebAssembly.compile(wasm) }
}

/**
 * The start, once per process: kept on `globalThis` under a registered symbol, because the store
 * process's script and its core are separate bundles, each with its own copy of this module.
 */
const STARTED = Symbol.for("@invkit/sdk/pgliteStart")

/**
 * Begins compiling PGlite's WASM, once per process; answers it when ready. Undefined if it cannot
 * be read where expected: PGlite then loads it itself, as it would without this.
 */
export const startPglite = (): Promise<PgliteArtifacts | undefined> => {
  const shared = globalThis as { [STARTED]?: Promise<PgliteArtifacts | undefined> }
  shared[STARTED] ??= load().catch(() => undefined)
  return shared[STARTED]
}
