import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { binPath } from "./inv.js"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store
const file = (name: string, text: string) => {
  const path = join(store.dataDir, "..", name)
  writeFileSync(path, text)
  return path
}

// The embedded store only (vitest.config.ts): over a server the import takes the batch path,
// covered against a live server by packages/server/test/cliRemote.test.ts.
beforeAll(async () => {
  store = await copyOfTemplateStore()
})

afterAll(() => store?.close())

describe("inv import / export", () => {
  it("imports products, then counts with rejected rows: exit 8, an errors file that imports again", async () => {
    const products = file("products.csv", "sku,name,reorderPoint\nA-1,Apple,2\nB-1,=Banana,0\n")
    expect((await store.inv("import", products)).code).toBe(0)

    const counts = file("counts.csv", "\uFEFFsku,quantity\r\nA-1,5\r\n\r\nB-1,x\r\nC-1,3\r\nA-1,7\r\n")
    const errors = join(store.dataDir, "..", "rejected.csv")
    const run = await store.inv("import", counts, "--errors", errors)
    expect(run.code).toBe(8)
    expect(run.stdout).toContain("applied:       1")
    expect(run.stderr).toContain('line 4: quantity: must be a number, not "x" (invalid-value)')
    expect(run.stderr).toContain("line 5: sku: no product C-1")
    expect(run.stderr).toContain("line 6: sku: A-1 at default is already on line 2")
    const rejected = readFileSync(errors, "utf8").trim().split("\n")
    expect(rejected[0]).toBe("error_line,error_column,error_code,error_message,sku,location,quantity")
    expect(rejected).toHaveLength(4)

    // The same file again: nothing added.
    const again = await store.json("import", counts)
    expect(again).toMatchObject({ status: "already-imported", applied: 0 })
    expect((await store.json("stock", "overview")).movements).toBe(1)

    // The errors file, with B-1 fixed and the others dropped, imports.
    writeFileSync(errors, `${rejected[0]}\n${rejected[1]!.replace(/,x$/, ",4")}\n`)
    expect(await store.json("import", errors)).toMatchObject({ status: "applied", applied: 1, rejected: 0 })
    expect((await store.json("stock", "get", "B-1")).onHand).toBe(4)
  })

  it("--on-error abort and --dry-run write nothing", async () => {
    const before = (await store.json("stock", "overview")).movements
    const bad = file("bad.ndjson", '{"sku":"A-1","delta":2}\n{"sku":"B-1","delta":-100}\n')
    const abort = await store.inv("--json", "import", bad, "--on-error", "abort")
    expect(abort.code).toBe(8)
    expect(JSON.parse(abort.stdout)).toMatchObject({ status: "aborted", rejected: 1 })
    const dry = await store.inv("--json", "import", bad, "--dry-run", "--import-id", "try-1")
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: "dry-run", applied: 1, rejected: 1 })
    expect((await store.json("stock", "overview")).movements).toBe(before)
  })

  it("exports CSV with formula cells escaped, NDJSON and JSON", async () => {
    const csv = await store.inv("export", "products")
    expect(csv.code).toBe(0)
    expect(csv.stdout).toContain("B-1,'=Banana,each,0,0,,,true,")
    const ndjson = await store.inv("export", "stock", "--format", "ndjson")
    expect(
      ndjson.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).sku)
    ).toEqual(["A-1", "B-1"])
    const movements = await store.json("export", "movements", "--since", "2000-01-01T00:00:00Z")
    expect(movements.map((m: any) => m.reason)).toEqual(["count", "count"])
  })

  // `script` runs the command on a pseudo-terminal (util-linux, as on CI runners); with CI=true a
  // machine without it fails here rather than skipping.
  const hasScript = spawnSync("script", ["--version"]).status === 0
  it.skipIf(!hasScript && process.env.CI !== "true")(
    "shows progress with rows per second and the time left on a terminal, and none in a pipe",
    async () => {
      if (!hasScript) throw new Error("`script` (util-linux) is needed for this test")
      const lines = ["sku,name", ...Array.from({ length: 20_000 }, (_, i) => `TTY-${i},Item ${i}`)]
      const products = file("many.csv", `${lines.join("\n")}\n`)
      const command = [process.execPath, binPath, "--data-dir", store.dataDir, "import", products]
        .map((word) => `'${word}'`)
        .join(" ")
      const onTerminal = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8" })
      expect(onTerminal.status, onTerminal.stdout).toBe(0)
      expect(onTerminal.stdout).toMatch(/Importing: [\d,]+ rows, [\d,]+ rows\/s, about \d+ s left to read/)
      expect(onTerminal.stdout).toContain("checking and applying")

      const inPipe = await store.inv("import", products, "--import-id", "again-in-a-pipe")
      expect(inPipe.stderr).not.toContain("rows/s")
    },
    60_000
  )
})
