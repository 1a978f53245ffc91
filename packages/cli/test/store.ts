/** Each test file's own store, copied from the one the global setup prepared. */
import { cpSync, mkdtempSync } from "node:fs"
import { join } from "node:path"
import { inject } from "vitest"
import { type Run, runInv } from "./inv.js"

export interface Store {
  readonly dataDir: string
  /** `inv --data-dir <this store> …args` */
  readonly inv: (...args: ReadonlyArray<string>) => Promise<Run>
  /** `inv --json …args`, failing the test unless it exits 0, with stdout parsed. */
  readonly json: <T = any>(...args: ReadonlyArray<string>) => Promise<T>
}

/** A copy of the store prepared once by the global setup: a fresh store costs seconds to create. */
export const copyOfTemplateStore = (): Store => {
  const dataDir = join(mkdtempSync(join(inject("scratchDir"), "store-")), "data")
  cpSync(inject("templateDataDir"), dataDir, { recursive: true })
  const inv = (...args: ReadonlyArray<string>) => runInv(["--data-dir", dataDir, ...args])
  const json = async (...args: ReadonlyArray<string>) => {
    const run = await inv("--json", ...args)
    if (run.code !== 0) throw new Error(`inv ${args.join(" ")} exited ${run.code}: ${run.stderr}`)
    return JSON.parse(run.stdout)
  }
  return { dataDir, inv, json }
}

declare module "vitest" {
  export interface ProvidedContext {
    templateDataDir: string
    /** Removed after the run, with every store copied into it. */
    scratchDir: string
  }
}
