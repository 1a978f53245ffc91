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
})
