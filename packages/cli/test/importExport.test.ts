import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { QUANTITY_TEXT_RULE } from "@invkit/sdk/rules"
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
  // Eight `inv` runs: room for a busy machine.
  it("imports products, then counts with rejected rows: exit 8, an errors file that imports again", {
    timeout: 120_000
  }, async () => {
    const products = file("products.csv", "sku,name,reorderPoint\nA-1,Apple,2\nB-1,=Banana,0\n")
    expect((await store.inv("import", products)).code).toBe(0)

    const counts = file("counts.csv", "\uFEFFsku,quantity\r\nA-1,5\r\n\r\nB-1,x\r\nC-1,3\r\nA-1,7\r\n")
    const errors = join(store.dataDir, "..", "rejected.csv")
    const run = await store.inv("import", counts, "--errors", errors)
    expect(run.code).toBe(8)
    expect(run.stdout).toContain("applied:       1")
    expect(run.stderr).toContain(`line 4: quantity: ${QUANTITY_TEXT_RULE}, not "x" (invalid-value)`)
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

  it("escapes formula cells in the errors file as the export does, and imports them back as written", {
    timeout: 120_000
  }, async () => {
    const products = file(
      "formulas.csv",
      'sku,name,unit,reorderPoint\nFX-1,"=HYPERLINK(""x"")",+unit,x\nFX-2,-2+3,@unit,y\n'
    )
    const errors = join(store.dataDir, "..", "formulas-rejected.csv")
    expect((await store.inv("import", products, "--errors", errors)).code).toBe(8)
    const rejected = readFileSync(errors, "utf8").trim().split("\n")
    expect(rejected[1]).toContain(`,FX-1,"'=HYPERLINK(""x"")",'+unit,x,`)
    expect(rejected[2]).toContain(",FX-2,'-2+3,'@unit,y,")

    writeFileSync(
      errors,
      readFileSync(errors, "utf8").replace("'+unit,x,", "'+unit,1,").replace("'@unit,y,", "'@unit,2,")
    )
    expect(await store.json("import", errors)).toMatchObject({ applied: 2, rejected: 0 })
    expect(await store.json("product", "get", "FX-1")).toMatchObject({
      name: '=HYPERLINK("x")',
      unit: "+unit"
    })
    expect(await store.json("product", "get", "FX-2")).toMatchObject({ name: "-2+3", unit: "@unit" })
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

  it("refuses a file it cannot read with exit 2, the line and the fix, writing nothing", {
    timeout: 120_000
  }, async () => {
    const before = await store.json("stock", "overview")
    const errors = file("unclosed-errors.csv", "")
    rmSync(errors)
    const unclosed = await store.inv(
      "import",
      file("unclosed.csv", 'sku,quantity\nA-1,1\nB-1,"2\n'),
      "--errors",
      errors
    )
    expect(unclosed.code).toBe(2)
    // Not even an empty errors file is left behind.
    expect(existsSync(errors)).toBe(false)
    expect(unclosed.stderr).toContain(
      'error: <file>: line 3: a quoted value starts on or after it and is never closed; end it with " (a " inside a quoted value is written "")'
    )
    const utf16 = file("utf16.csv", "")
    writeFileSync(
      utf16,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("sku,quantity\nA-1,9\n", "utf16le")])
    )
    const wide = await store.inv("import", utf16)
    expect(wide.code).toBe(2)
    expect(wide.stderr).toContain(
      "is UTF-16 (it starts with a UTF-16 byte order mark), not UTF-8 text: save it as UTF-8 CSV"
    )
    const binary = file("binary.csv", "")
    writeFileSync(binary, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0x9b]))
    const bytes = await store.inv("import", binary)
    expect(bytes.code).toBe(2)
    expect(bytes.stderr).toContain("is UTF-16 or binary (byte 4 is a NUL byte)")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: none may reach the terminal
    expect(bytes.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\ufffd]/)
    expect(await store.json("stock", "overview")).toEqual(before)
  })

  it("repeats a short prefix of a 50 MB cell or a long argument in any error", {
    timeout: 120_000
  }, async () => {
    const huge = "x".repeat(50 * 1024 * 1024)
    const cell = await store.inv("--json", "import", file("huge.csv", `sku,quantity\nA-1,${huge}\n`))
    expect(cell.code).toBe(8)
    expect(cell.stderr.length).toBeLessThan(1000)
    const rejectedLine = cell.stderr.split("\n").find((line) => line.startsWith('{"rejected"'))
    expect(JSON.parse(rejectedLine!).rejected.message).toMatch(
      /^quantity: [^"]+, not "x{40}"… \(52,428,800 characters\)$/
    )
    const long = "9x".repeat(50_000)
    for (const args of [
      ["stock", "set", "A-1", long],
      ["import", "-", "--delimiter", long],
      ["stock", "list", `--${long}`]
    ]) {
      const run = await store.inv(...args)
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr.length).toBeLessThan(400)
      expect(run.stderr).toMatch(/(9x){19}.{0,3}… \(100,00[02] characters\)/)
    }
  })

  it("reads ; and tab from the header, takes --delimiter, and shows a missing column's mapping with a real column", {
    timeout: 120_000
  }, async () => {
    expect(
      await store.json("import", file("semicolons.csv", "sku;quantity\nA-1;21\nB-1;22\n"))
    ).toMatchObject({
      kind: "stock",
      applied: 2,
      rejected: 0
    })
    expect(await store.json("import", file("tabs.txt", "sku\tdelta\nA-1\t2\n"))).toMatchObject({
      kind: "adjustments",
      applied: 1
    })
    expect(
      await store.json("import", file("pipes.csv", "sku|quantity\nB-1|30\n"), "--delimiter", "|")
    ).toMatchObject({
      kind: "stock",
      applied: 1
    })
    expect(
      await store.json("import", file("tab-given.txt", "sku\tquantity\nB-1\t31\n"), "--delimiter", "tab")
    ).toMatchObject({
      applied: 1
    })
    expect((await store.json("stock", "get", "A-1")).onHand).toBe(23)
    expect((await store.json("stock", "get", "B-1")).onHand).toBe(31)

    const other = await store.inv("import", file("colons.csv", "sku:quantity\n"), "--delimiter", ":")
    expect(other.code).toBe(2)
    expect(other.stderr).toContain('error: --delimiter must be one of , ; | or tab, not ":"')
    const unnamed = await store.inv("import", file("unnamed.csv", "Item,quantity\nA-1,1\n"))
    expect(unnamed.code).toBe(2)
    expect(unnamed.stderr).toContain("rename a column to sku, or map one to it (Item=sku)")
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
      expect(onTerminal.stdout).toContain("Importing: 20,000 rows read; checking them…")
      expect(onTerminal.stdout).toMatch(/Importing: applying 20,000 of 20,000 rows, [\d,]+ rows\/s/)

      // Stock counts are written a chunk of lines at a time, each chunk reported as it is written.
      const counts = ["sku,quantity", ...Array.from({ length: 20_000 }, (_, i) => `TTY-${i},${i % 50}`)]
      const countsCommand = [
        process.execPath,
        binPath,
        "--data-dir",
        store.dataDir,
        "import",
        file("many-counts.csv", `${counts.join("\n")}\n`)
      ]
        .map((word) => `'${word}'`)
        .join(" ")
      const counted = spawnSync("script", ["-qec", countsCommand, "/dev/null"], { encoding: "utf8" })
      expect(counted.status, counted.stdout).toBe(0)
      expect(counted.stdout).toContain("Importing: applying 0 of 20,000 rows")
      expect(counted.stdout).toMatch(/Importing: applying 20,000 of 20,000 rows, [\d,]+ rows\/s/)

      const inPipe = await store.inv("import", products, "--import-id", "again-in-a-pipe")
      expect(inPipe.stderr).not.toContain("rows/s")
      expect(inPipe.stderr).not.toContain("progress")
    },
    // Three imports of 20,000 rows: room for a busy machine.
    180_000
  )

  it("with --json, reports each phase on stderr as progress objects, on a terminal or not", {
    timeout: 120_000
  }, async () => {
    const products = ["sku,name", ...Array.from({ length: 3_000 }, (_, i) => `JSON-${i},Item ${i}`)]
    expect((await store.inv("import", file("json-products.csv", `${products.join("\n")}\n`))).code).toBe(0)
    const counts = ["sku,quantity", ...Array.from({ length: 3_000 }, (_, i) => `JSON-${i},${(i % 7) + 1}`)]
    const run = await store.inv("--json", "import", file("json-counts.csv", `${counts.join("\n")}\n`))
    expect(run.code, run.stderr).toBe(0)
    const events = run.stderr
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line).progress)
    expect(events.map((event) => event.phase)).toEqual(
      expect.arrayContaining(["reading", "checking", "applying"])
    )
    expect(events[0]).toMatchObject({ phase: "reading" })
    expect(events.find((event) => event.phase === "checking")).toMatchObject({ rows: 3000 })
    const applied = events.filter((event) => event.phase === "applying")
    expect(applied.at(-1)).toMatchObject({ applied: 3000, total: 3000, rows: 3000 })
    for (const event of events) expect(event.rowsPerSecond).toBeGreaterThanOrEqual(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "applied", applied: 3000 })
  })
})
