/**
 * The store process's script (see storeProcessCore.ts). It begins PGlite's start (reading and
 * compiling its WASM, off the main thread) and only then loads the store process itself: one
 * bundle of the SDK and its dependencies that V8 takes some 60 ms to parse, during which the
 * WASM compiles instead of after. The path is computed, so the build leaves the core its own file.
 */
import { startPglite } from "./pgliteStart.js"

void startPglite()
await import(new URL("./storeProcessCore.js", import.meta.url).href)
