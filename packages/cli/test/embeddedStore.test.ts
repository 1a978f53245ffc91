/**
 * The embedded store's directory as `inv` uses it: several commands at once, a worker holding it,
 * a directory that is not a store or not a directory, and who may read its files.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { looseEntries } from "../../sdk/test/fileModes.js"
import { binPath, runInv } from "./inv.js"
import { startServer } from "./server.js"
import { copyOfTemplateStore, type Store, target } from "./store.js"

const { INV_DATABASE_URL: _url, INV_HOME: _home, ...environment } = process.env

describe.skipIf(target === "server")("the embedded store's directory", () => {
  let store: Store

  beforeAll(async () => {
    store = await copyOfTemplateStore()
    await store.json("product", "add", "BUSY-1", "--name", "Busy widget")
  })
  afterAll(() => store?.close())

  it("six inv stock adjust at once, each opening the store itself, all succeed one after the other, and the level is their sum", async () => {
    const deltas = [1, 2, 3, 4, 5, 6]
    // The bound is raised for a busy test machine: what is tested is that they wait, not how long.
    const runs = await Promise.all(
      deltas.map((delta) =>
        store.invWith(
          { INV_LOCK_WAIT: "120", INV_STORE_PROCESS: "off" },
          "stock",
          "adjust",
          "BUSY-1",
          String(delta),
          "--reason",
          "receipt"
        )
      )
    )
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 })
    expect(runs.some((run) => /Waiting for process \d+ \(inv stock adjust, since /.test(run.stderr))).toBe(
      true
    )
    expect((await store.json("stock", "get", "BUSY-1")).onHand).toBe(21)
  }, 180_000)

  it("a running supplier worker is named at once, not waited for", async () => {
    const worker = spawn(process.execPath, [binPath, "--data-dir", store.dataDir, "supplier", "worker"], {
      env: environment
    })
    const exited = new Promise<void>((resolve) => worker.on("exit", () => resolve()))
    try {
      let stderr = ""
      await new Promise<void>((resolve, reject) => {
        worker.stderr.on("data", (chunk) => {
          stderr += chunk
          if (stderr.includes("Worker running")) resolve()
        })
        worker.on("exit", () => reject(new Error(`the worker exited early: ${stderr}`)))
      })
      const started = Date.now()
      const refused = await store.inv("stock", "adjust", "BUSY-1", "1")
      expect(Date.now() - started).toBeLessThan(8_000)
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain(`process ${worker.pid} (inv supplier worker, running since`)
      expect(refused.stderr).not.toContain("Waiting")
    } finally {
      worker.kill("SIGTERM")
      await exited
    }
  }, 60_000)

  it("a running inv-server on the directory is named at once, not waited for", async () => {
    // A store from before the marker file: the server adopts it too.
    rmSync(join(store.dataDir, "inv.store"))
    const server = await startServer(store.dataDir)
    try {
      const started = Date.now()
      const refused = await store.inv("stock", "adjust", "BUSY-1", "1")
      expect(Date.now() - started).toBeLessThan(8_000)
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/held by process \d+ \(inv-server all, running since /)
    } finally {
      await server.stop()
    }
    expect(existsSync(join(store.dataDir, "inv.store"))).toBe(true)
    // Stopped, it gives the directory back.
    expect((await store.inv("stock", "adjust", "BUSY-1", "1")).code).toBe(0)
  }, 90_000)

  it("refuses a folder that is not a store, or a file, in one sentence (exit 2), and writes nothing", async () => {
    const folder = mkdtempSync(join(inject("scratchDir"), "folder-"))
    writeFileSync(join(folder, "notes.txt"), "mine\n")
    const notStore = await runInv(["--data-dir", folder, "stock", "overview"])
    expect(notStore.code).toBe(2)
    expect(notStore.stderr).toContain(`${folder} is not empty and is not an inv store`)
    expect(notStore.stderr.trim().split("\n")).toHaveLength(1)
    expect(readdirSync(folder)).toEqual(["notes.txt"])

    const file = join(folder, "notes.txt")
    const aFile = await runInv(["--data-dir", file, "stock", "overview"])
    expect(aFile.code).toBe(2)
    expect(aFile.stderr).toContain(`${file} is a file, not a directory`)
    expect(aFile.stderr).not.toMatch(/^\s+at /m)
  })

  it("refuses a path through a file, or where no directory can be made, in one sentence naming --data-dir or INV_HOME (exit 2)", async () => {
    const folder = mkdtempSync(join(inject("scratchDir"), "folder-"))
    const file = join(folder, "notes.txt")
    writeFileSync(file, "mine\n")
    const oneSentence = (run: { code: number; stdout: string; stderr: string }, says: string) => {
      expect(run.code, run.stderr).toBe(2)
      expect(run.stdout).toBe("")
      expect(run.stderr).toMatch(/^error: [^\n]+\n$/)
      expect(run.stderr).toContain(says)
    }
    const throughFile = join(file, "data")
    oneSentence(
      await runInv(["--data-dir", throughFile, "stock", "overview"]),
      `--data-dir: cannot use ${throughFile}: a part of the path is a file`
    )
    // Nowhere a directory can be made, also for root: Node's own recursive mkdir loops forever here.
    oneSentence(
      await runInv(["--data-dir", "/proc/inv-test/data", "stock", "overview"]),
      "--data-dir: cannot create /proc/inv-test/data: no directory can be created in /proc"
    )
    oneSentence(await runInv(["stock", "overview"], { INV_HOME: file }), `INV_HOME: ${file} is a file`)
    oneSentence(
      await runInv(["store", "status"], { INV_HOME: throughFile }),
      `INV_HOME: cannot use ${throughFile}: a part of the path is a file`
    )
    oneSentence(await runInv(["store", "stop"], { INV_HOME: file }), `INV_HOME: ${file} is a file`)
    expect(readdirSync(folder)).toEqual(["notes.txt"])
  }, 60_000)

  it("a new store made by inv under umask 022 has nothing that others may read", async () => {
    const dataDir = join(mkdtempSync(join(inject("scratchDir"), "fresh-")), "data")
    const previous = process.umask(0o022)
    try {
      const made = await runInv(["--data-dir", dataDir, "product", "add", "NEW-1", "--name", "New"])
      expect(made.code).toBe(0)
    } finally {
      process.umask(previous)
    }
    expect(looseEntries(dataDir)).toEqual([])
  }, 60_000)

  it("adds the CLI's own hint to the SDK's advice", async () => {
    const missing = await store.inv("stock", "get", "NOPE-9")
    expect(missing.stderr).toContain('No product with SKU "NOPE-9". Add it first')
    expect(missing.stderr).toContain("inv product add NOPE-9 --name")
  })
})
