/**
 * Files named on the command line (`inv import <file>`, `--errors`, `export --output`): a path
 * that cannot be read or written is one sentence naming the option and the path, exit 2, and
 * changes nothing; what inv writes is readable by its owner alone. The embedded store only:
 * the paths are on this machine whatever the target.
 */
import { mkdtempSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store
let dir: string
let counts: string

beforeAll(async () => {
  store = await copyOfTemplateStore()
  dir = mkdtempSync(join(store.dataDir, "..", "files-"))
  expect((await store.inv("product", "add", "F-1", "--name", "File test")).code).toBe(0)
  counts = join(dir, "counts.csv")
  writeFileSync(counts, "sku,quantity\nF-1,5\nNOPE-1,3\n")
})

afterAll(() => store?.close())

const expectOneSentence = (run: { code: number; stdout: string; stderr: string }, says: string) => {
  expect(run.code, run.stderr).toBe(2)
  expect(run.stdout).toBe("")
  expect(run.stderr).toMatch(/^error: [^\n]+\n$/)
  expect(run.stderr).not.toMatch(/\n\s+at /)
  expect(run.stderr).toContain(says)
}

describe("file arguments", () => {
  it("refuses an import of a directory or a missing file, naming <file> and the path", async () => {
    expectOneSentence(await store.inv("import", dir), `<file> ${dir}: it is a directory`)
    const missing = join(dir, "missing.csv")
    expectOneSentence(await store.inv("import", missing), `<file> ${missing}: no such file`)
  })

  it("refuses --errors that is a directory, in a missing directory or in one it cannot write to, importing nothing", async () => {
    const missing = join(dir, "missing")
    // A parent no one may create files in: root may write to any directory, but not to /proc.
    const unwritable = join("/proc", "inv-rejected.csv")
    for (const [path, says] of [
      [dir, `--errors ${dir}: it is a directory`],
      [join(missing, "x.csv"), `--errors ${join(missing, "x.csv")}: the directory ${missing} does not exist`],
      [unwritable, `--errors ${unwritable}: no file can be created in /proc`]
    ] as const) {
      expectOneSentence(await store.inv("import", counts, "--errors", path), says)
    }
    expect((await store.json("stock", "overview")).movements).toBe(0)
  })

  it("refuses export --output that is a directory or cannot be created", async () => {
    expectOneSentence(
      await store.inv("export", "products", "--output", dir),
      `--output ${dir}: it is a directory`
    )
    const missing = join(dir, "missing")
    expectOneSentence(
      await store.inv("export", "products", "--output", join(missing, "out.csv")),
      `--output ${join(missing, "out.csv")}: the directory ${missing} does not exist; create it first`
    )
  })

  it("writes the errors file and the export readable by their owner alone (0600)", async () => {
    const errors = join(dir, "rejected.csv")
    expect((await store.inv("import", counts, "--errors", errors)).code).toBe(8)
    const output = join(dir, "products.csv")
    expect((await store.inv("export", "products", "--output", output)).code).toBe(0)
    for (const file of [errors, output]) expect(statSync(file).mode & 0o777, file).toBe(0o600)
  })
})
