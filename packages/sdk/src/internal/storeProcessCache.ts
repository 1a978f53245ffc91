/**
 * Loads the store process's core (one CommonJS bundle of the SDK and its dependencies) with V8's
 * code cache, kept in the data directory as `inv-store.cache` (0600). Compiling the bundle was
 * some 80–120 ms of a cold command on a 2-core machine; from the cache, some 20 ms. Node 20 has
 * no compile cache of its own for modules (`module.enableCompileCache` came with Node 22), and
 * `vm.Script` takes a cache only for a script, hence the CommonJS format of the core.
 *
 * V8 checks a cache against its own version and flags, but against the source by its length
 * only: the file begins with a hash of the source and the Node version and is used only when
 * they match, so a rebuilt core never runs with the compiled code of another. A cache that does
 * not match, or that V8 rejects, is made again once the first call is answered, so that it holds
 * the functions that opening the store and a call compiled.
 */
import { createHash } from "node:crypto"
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import Module, { createRequire } from "node:module"
import { dirname, join } from "node:path"
import vm from "node:vm"
import { CACHE_FILE } from "./storeProcessWire.js"

export type CacheState = "used" | "made" | "missing" | "stale" | "rejected"

export interface CoreCache {
  /** What was found when the core loaded: `used`, or why it was not (`made` once saved). */
  readonly state: () => CacheState
  /** Saves the cache when it was not used (after the first call); answers a line for the log. */
  readonly save: () => string | undefined
}

/** Where the core finds the cache that loaded it (the core and this script are separate bundles). */
const CORE_CACHE = Symbol.for("@invkit/sdk/storeProcessCache")

export const coreCache = (): CoreCache | undefined => (globalThis as { [CORE_CACHE]?: CoreCache })[CORE_CACHE]

const HASH_BYTES = 32

const readCache = (file: string): Buffer | undefined => {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

/** Runs the CommonJS bundle `core` as Node's loader would, from `dataDir`'s cache when it matches. */
export const loadCore = (core: string, dataDir: string): void => {
  const source = readFileSync(core, "utf8")
  const file = join(dataDir, CACHE_FILE)
  const key = createHash("sha256").update(`${process.version} ${process.arch}\n`).update(source).digest()
  const found = readCache(file)
  const matches =
    found !== undefined && found.length > HASH_BYTES && key.equals(found.subarray(0, HASH_BYTES))
  const script = new vm.Script(Module.wrap(source), {
    filename: core,
    cachedData: matches ? found.subarray(HASH_BYTES) : undefined,
    // The bundle's own dynamic imports (Node's modules) go to Node's loader, as in a module.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  })
  let state: CacheState =
    found === undefined ? "missing" : !matches ? "stale" : script.cachedDataRejected ? "rejected" : "used"
  ;(globalThis as { [CORE_CACHE]?: CoreCache })[CORE_CACHE] = {
    state: () => state,
    save: () => {
      if (state === "used" || state === "made") return undefined
      const was = state
      const temporary = `${file}.${process.pid}`
      try {
        writeFileSync(temporary, Buffer.concat([key, script.createCachedData()]), { mode: 0o600 })
        renameSync(temporary, file)
        state = "made"
        return `code cache made (it was ${was})`
      } catch (error) {
        rmSync(temporary, { force: true })
        return `code cache not saved: ${(error as Error).message}`
      }
    }
  }
  const module = { exports: {} }
  const wrapper = script.runInThisContext() as (...args: Array<unknown>) => void
  wrapper.call(module.exports, module.exports, createRequire(core), module, core, dirname(core))
}
