import { spawn } from "node:child_process"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { binPath } from "./inv.js"
import { copyOfTemplateStore, type Store, target } from "./store.js"
import { type SupplierFeeds, startSupplierFeeds } from "./supplierFeeds.js"

const { INV_DATABASE_URL: _url, INV_HOME: _home, ...environment } = process.env

// Needs a local store: the worker runs the scheduled syncs in the CLI's own process.
describe.skipIf(target === "server")("inv supplier worker", () => {
  let store: Store
  let feeds: SupplierFeeds

  beforeAll(async () => {
    store = await copyOfTemplateStore()
    feeds = await startSupplierFeeds()
    await store.json(
      "supplier",
      "add",
      "csvco",
      "--name",
      "CSV Co",
      "--csv",
      `${feeds.baseUrl}/csvco/catalog.csv`,
      "--map",
      "supplierSku=sku",
      "--schedule",
      "*/2 * * * * *"
    )
  })

  afterAll(async () => {
    await feeds?.close()
    await store?.close()
  })

  it("runs scheduled syncs until SIGTERM, then stops cleanly (exit 0)", async () => {
    const worker = spawn(
      process.execPath,
      [binPath, "--data-dir", store.dataDir, "--json", "supplier", "worker"],
      {
        env: environment
      }
    )
    let stdout = ""
    let stderr = ""
    worker.stdout.on("data", (chunk) => {
      stdout += chunk
    })
    const exited = new Promise<number | null>((resolve) => worker.on("exit", (code) => resolve(code)))
    // Seven seconds of schedule every two seconds, counted from when the worker is ready.
    await new Promise<void>((resolve, reject) => {
      worker.stderr.on("data", (chunk) => {
        stderr += chunk
        if (stderr.includes("Worker running")) resolve()
      })
      worker.on("exit", () => reject(new Error(`the worker exited early: ${stderr}`)))
    })
    await new Promise((resolve) => setTimeout(resolve, 7_000))
    worker.kill("SIGTERM")

    expect(await exited).toBe(0)
    expect(stderr).toContain("SIGTERM: stopping")
    expect(stderr).toMatch(/csvco: sync succeeded: 2 added/)
    expect(stderr).toContain("Worker stopped.")
    // --json: one event per line on stdout.
    const events = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
    expect(events.filter((event) => event.type === "scheduled").length).toBeGreaterThanOrEqual(2)

    const runs = await store.json("supplier", "runs", "csvco")
    const scheduled = runs.items.filter(
      (run: any) => run.trigger === "scheduled" && run.status === "succeeded"
    )
    expect(scheduled.length).toBeGreaterThanOrEqual(2)
  }, 40_000)

  it("with --json, ends quietly with exit 0 once its stdout's reader goes away (| head -1)", async () => {
    const worker = spawn(
      process.execPath,
      [binPath, "--data-dir", store.dataDir, "--json", "supplier", "worker"],
      { env: environment }
    )
    let stderr = ""
    worker.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) => worker.on("exit", (code) => resolve(code)))
    // As `head -1` does: read the first line, then close the pipe.
    const firstLine = await new Promise<string>((resolve, reject) => {
      let stdout = ""
      worker.stdout.on("data", (chunk) => {
        stdout += chunk
        if (stdout.includes("\n")) {
          worker.stdout.destroy()
          resolve(stdout.slice(0, stdout.indexOf("\n")))
        }
      })
      worker.on("exit", () => reject(new Error(`the worker exited before its first line: ${stderr}`)))
    })
    expect(JSON.parse(firstLine)).toHaveProperty("type")
    // The schedule runs every two seconds: its next event finds the pipe closed.
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve("still running after 20 s"), 20_000))
    ])
    if (code === "still running after 20 s") {
      worker.kill("SIGKILL")
      await exited
    }
    expect(code).toBe(0)
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /)
  }, 60_000)
})
