/**
 * What reaches stdout and stderr when stdout goes away or fails, and when stored text holds
 * control characters. The embedded store only: a closed pipe and a terminal are the same on
 * every target, and the raw rows are written into the store's own database.
 */
import { spawn } from "node:child_process"
import { closeSync, openSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { binPath, environment } from "./inv.js"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store

// Enough rows that the listing is larger than a pipe's buffer (64 KiB), so inv is still writing
// when the reader goes away.
const ROWS = 5000

beforeAll(async () => {
  store = await copyOfTemplateStore()
  const products = join(store.dataDir, "..", "many.csv")
  const lines = Array.from({ length: ROWS }, (_, i) => `MANY-${i},Item number ${i} of the big listing`)
  writeFileSync(products, `sku,name\n${lines.join("\n")}\n`)
  expect((await store.inv("import", products)).code).toBe(0)
})

afterAll(() => store?.close())

interface Ended {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `inv` with stdout as given; `firstLineOnly` closes the pipe after the first line, as `| head -1`. */
const runWithStdout = (
  args: ReadonlyArray<string>,
  stdout: "pipe" | number,
  firstLineOnly = false
): Promise<Ended> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath, "--data-dir", store.dataDir, ...args], {
      env: environment,
      stdio: ["ignore", stdout, "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout?.on("data", (chunk) => {
      out += chunk
      if (firstLineOnly && out.includes("\n")) {
        out = out.slice(0, out.indexOf("\n") + 1)
        child.stdout?.destroy()
      }
    })
    child.stderr?.on("data", (chunk) => {
      err += chunk
    })
    child.on("close", (code) => resolve({ code, stdout: out, stderr: err }))
  })

describe("stdout closed or failing", () => {
  it("ends a listing quietly with exit 0 when the reader closes the pipe after the first line", async () => {
    const run = await runWithStdout(["product", "list", "--all"], "pipe", true)
    expect(run.stdout).toMatch(/^SKU\s+NAME/)
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
  })

  it("ends an export quietly with exit 0 when the reader closes the pipe after the first line", async () => {
    const run = await runWithStdout(["export", "products"], "pipe", true)
    expect(run.stdout).toMatch(/^sku,name,/)
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
  })

  it("says in one line that the output cannot be written on a full disk, exit 1", async () => {
    for (const args of [
      ["product", "list", "--all"],
      ["export", "products"],
      ["--json", "stock", "overview"]
    ]) {
      const full = openSync("/dev/full", "w")
      const run = await runWithStdout(args, full).finally(() => closeSync(full))
      expect(run.code, args.join(" ")).toBe(1)
      expect(run.stderr, args.join(" ")).toMatch(
        /^error: cannot write the output \(ENOSPC: no space left on device, write\); [^\n]*\n$/
      )
    }
  }, 60_000)
})

describe("control characters in stored text", () => {
  const hostile = "Red\x1b[31m alert\r\x07 bell\x9b2J\x7f end"

  it("are printed escaped in tables, records and messages, and exactly in JSON", async () => {
    expect((await store.inv("product", "add", "ESC-1", "--name", "Plain")).code).toBe(0)
    expect((await store.inv("stock", "set", "ESC-1", "3", "--reference", "plain")).code).toBe(0)
    // Written straight into the store, as an older version or another writer could have left it.
    // The store process holds the directory open: stop it before writing to it directly.
    expect((await store.inv("store", "stop")).code).toBe(0)
    const db = await PGlite.create({ dataDir: store.dataDir })
    try {
      await db.query("update products set name = $1 where sku = 'ESC-1'", [hostile])
      // The ledger's append-only trigger stands aside, as for a restore.
      await db.exec("set session_replication_role = replica")
      await db.query("update stock_movements set reference = $1 where sku = 'ESC-1'", [hostile])
    } finally {
      await db.close()
    }

    // Any control character but the line break.
    const noControls = /[^\P{Cc}\n]/u
    for (const args of [
      ["product", "list", "--text", "Red"],
      ["product", "get", "ESC-1"],
      ["stock", "get", "ESC-1"],
      ["stock", "history", "ESC-1"]
    ]) {
      const run = await store.inv(...args)
      expect(run.code, args.join(" ")).toBe(0)
      expect(run.stdout, args.join(" ")).not.toMatch(noControls)
      expect(run.stderr, args.join(" ")).not.toMatch(noControls)
      expect(run.stdout, args.join(" ")).toContain(
        "Red\\u001b[31m alert\\u000d\\u0007 bell\\u009b2J\\u007f end"
      )
    }

    const json = await store.inv("--json", "product", "get", "ESC-1")
    expect(json.stdout).not.toMatch(noControls)
    expect(JSON.parse(json.stdout).name).toBe(hostile)
  }, 60_000)
})
