/**
 * What opening the embedded store loads. An embedded open pays for every module it loads before
 * PGlite answers, so it loads only what it uses: nothing of PostgreSQL's client (pg, @effect/sql-pg,
 * pg-boss, pg-copy-streams), of the remote client (undici), of CSV or of cron schedules. Checked on
 * the build (`dist`), as users and the store process load it, in fresh processes. The store
 * process's script is one bundle, so Node resolves nothing of Effect or the SDK's dependencies there.
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

  it("the store process's start loads one file of its own and PGlite, no module of Effect, pg or the rest", async () => {
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
    const storeProcess = processes.find((packages) => packages.includes("@electric-sql/pglite"))
    // Its script is a bundle of the SDK and its dependencies (tsup.config.ts): Node resolves one
    // module instead of some five hundred. Only PGlite, which finds its WASM beside itself, is outside.
    expect(new Set(storeProcess)).toEqual(new Set(["@electric-sql/pglite"]))
  })
})
