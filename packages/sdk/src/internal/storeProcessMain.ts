/**
 * The store process's script (see storeProcessCore.ts). It begins PGlite's start (compiling its
 * WASM, off the main thread) and only then loads the store process itself: one bundle of the SDK
 * and its dependencies, compiled from V8's code cache when the data directory has one (see
 * storeProcessCache.ts), while the WASM compiles.
 */
import { fileURLToPath } from "node:url"
import { startPglite } from "./pgliteStart.js"
import { loadCore } from "./storeProcessCache.js"

void startPglite()
loadCore(fileURLToPath(new URL("./storeProcessCore.cjs", import.meta.url)), process.argv[2]!)
