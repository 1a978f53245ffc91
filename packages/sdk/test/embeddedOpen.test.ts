/**
 * What opening the embedded store loads. An embedded open pays for every module it loads before
 * PGlite answers, so it loads only what it uses: nothing of PostgreSQL's client (pg, @effect/sql-pg,
 * pg-boss, pg-copy-streams), of the remote client (undici), of CSV or of cron schedules. Checked on
 * the build (`dist`), as users and the store process load it, in fresh processes.
 */
import { execFile } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, describe, expect, inject, it } from "vitest"

const run = promisify(execFile)
const recorder = new URL("./recordModules.mjs", import.meta.url).href
const dist = fileURLToPath(new URL("../dist/", import.meta.url))
const root = mkdtempSync(join(tmpdir(), "invkit-sdk-open-modules-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const unused = [
  "pg",
  "pg-boss",
  "pg-copy-streams",
  "@effect/sql-pg",
  "undici",
  "cron-parser",
  "csv-parse",
  "csv-stringify"
]

/** The package a loaded module belongs to: the path after the last node_modules. */
const packageOf = (location: string): string | undefined => {
  const at = location.lastIndexOf("/node_modules/")
  if (at < 0) return undefined
  const [scope, name] = location.slice(at + "/node_modules/".length).split("/")
  return scope?.startsWith("@") ? `${scope}/${name}` : scope
}

/**
 * Runs `script` (an ES module) with the recorder; answers, for each process, the packages of the
 * modules it loaded, in the order it resolved them (ES modules; then the CommonJS ones).
 */
const packagesLoadedBy = async (name: string, script: string) => {
  const dir = join(root, name)
  mkdirSync(join(dir, "modules"), { recursive: true })
  const dataDir = join(dir, "data")
  cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true })
  await run(process.execPath, ["--input-type=module", "-e", script, dist, dataDir], {
    env: { ...process.env, NODE_OPTIONS: `--import=${recorder}`, INV_TEST_MODULES_DIR: join(dir, "modules") }
  })
  return readdirSync(join(dir, "modules")).map((file) =>
    readFileSync(join(dir, "modules", file), "utf8")
      .split("\n")
      .map(packageOf)
      .filter((found) => found !== undefined)
  )
}

describe("an embedded open", () => {
  it("openInventory({ dataDir }) loads none of pg, pg-boss, @effect/sql-pg, undici, cron-parser, csv-*", async () => {
    const [inOrder, ...others] = await packagesLoadedBy(
      "in-process",
      `const [dist, dataDir] = process.argv.slice(1)
       const { openInventory } = await import(dist + "index.js")
       const inventory = await openInventory({ dataDir })
       await inventory.stock.level("SKU-NONE").catch(() => undefined)
       await inventory.close()`
    )
    expect(others).toEqual([])
    const loaded = new Set(inOrder)
    // The recorder works: it saw PGlite and Effect.
    expect(loaded).toContain("@electric-sql/pglite")
    expect(loaded).toContain("effect")
    expect(unused.filter((name) => loaded!.has(name))).toEqual([])
  })

  it("the store process's start loads none of them either, and begins PGlite's before Effect", async () => {
    const processes = await packagesLoadedBy(
      "store-process",
      `const [dist, dataDir] = process.argv.slice(1)
       const StoreProcess = await import(dist + "StoreProcess.js")
       const inventory = await StoreProcess.connect(dataDir)
       await inventory.stock.level("SKU-NONE").catch(() => undefined)
       await inventory.close()
       await StoreProcess.stop(dataDir)`
    )
    // The client, and the store process it started.
    expect(processes).toHaveLength(2)
    const inOrder = processes.find((packages) => packages.includes("@electric-sql/pglite"))
    expect(inOrder).toBeDefined()
    const storeProcess = new Set(inOrder)
    expect(storeProcess).toContain("effect")
    expect(unused.filter((name) => storeProcess.has(name))).toEqual([])
    // PGlite's start (finding its WASM, to compile it off the main thread) begins before the SDK's
    // core, Effect first, is loaded: the two overlap.
    expect(inOrder!.indexOf("@electric-sql/pglite")).toBeLessThan(inOrder!.indexOf("effect"))
  })
})
