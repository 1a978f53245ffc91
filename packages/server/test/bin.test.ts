/**
 * The built `inv-server` as a child process: embedded `all` with nothing configured, a clean
 * SIGTERM, a bad setting, and /ready when the database does not answer.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort, runBin, waitUntilAnswering } from "./utils.js"

const homes: Array<string> = []
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true })
})

describe("inv-server", () => {
  it("all, with nothing configured, serves a write and a read on the embedded store and stops on SIGTERM", async () => {
    const home = mkdtempSync(join(tmpdir(), "inv-server-home-"))
    homes.push(home)
    const port = await freePort()
    const server = runBin("all", {
      INV_HOME: home,
      PORT: String(port),
      HOST: "127.0.0.1",
      INV_SHUTDOWN_TIMEOUT: "5"
    })
    const base = `http://127.0.0.1:${port}`
    try {
      // A fresh data directory runs initdb first: seconds on a small machine.
      await waitUntilAnswering(`${base}/health`, 60_000, server.child)
      const post = (path: string, body: unknown) =>
        fetch(`${base}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body)
        })
      expect((await post("/v1/products", { sku: "EMB-1", name: "Embedded" })).status).toBe(201)
      expect((await post("/v1/stock/EMB-1/set", { quantity: 12 })).status).toBe(200)
      // Concurrent requests share the one PGlite session through the socket, a unit of work at a time.
      const adjustments = await Promise.all(
        Array.from({ length: 8 }, () => post("/v1/stock/EMB-1/adjust", { delta: 1 }))
      )
      expect(adjustments.map((r) => r.status)).toEqual(Array(8).fill(200))
      const level = await (await fetch(`${base}/v1/stock/EMB-1`)).json()
      expect(level).toMatchObject({ sku: "EMB-1", onHand: 20 })
      expect((await fetch(`${base}/ready`)).status).toBe(200)
    } finally {
      const stoppedAt = Date.now()
      server.child.kill("SIGTERM")
      const code = await server.exited
      expect(code, server.output().stderr).toBe(0)
      expect(Date.now() - stoppedAt).toBeLessThan(5_000)
    }
    // Logs are JSON lines when stdout is not a terminal, and never carry a URL's password.
    const firstLine = server.output().stdout.split("\n")[0]!
    expect(JSON.parse(firstLine)).toMatchObject({ message: "starting all" })
  }, 90_000)

  it("refuses a bad setting with a message naming it, and a non-zero exit", async () => {
    const server = runBin("stock-checker", {
      PORT: "abc",
      INV_DATABASE_URL: "mysql://root:hunter2@127.0.0.1/db"
    })
    const code = await server.exited
    const { stderr } = server.output()
    expect(code).not.toBe(0)
    expect(stderr).toContain('PORT: must be a port number between 1 and 65535, got "abc"')
    expect(stderr).toContain("INV_DATABASE_URL: must be a URL such as postgres://")
    expect(stderr).not.toContain("hunter2")
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it("refuses an unknown service with usage", async () => {
    const server = runBin("stock-teller", {})
    expect(await server.exited).toBe(2)
    expect(server.output().stderr).toContain('unknown service "stock-teller"')
  })

  it("answers /ready 503 naming the database while PostgreSQL does not answer, and /health 200", async () => {
    const [port, closedPort] = await Promise.all([freePort(), freePort()])
    const server = runBin("stock-checker", {
      PORT: String(port),
      HOST: "127.0.0.1",
      INV_DATABASE_URL: `postgres://postgres:secret-password@127.0.0.1:${closedPort}/nothing`
    })
    try {
      await waitUntilAnswering(`http://127.0.0.1:${port}/health`, 20_000, server.child)
      const ready = await fetch(`http://127.0.0.1:${port}/ready`)
      expect(ready.status).toBe(503)
      expect(await ready.json()).toMatchObject({ status: "not ready", failing: ["database"] })
      const read = await fetch(`http://127.0.0.1:${port}/v1/overview`)
      expect(read.status).toBe(503)
      expect(await read.json()).toMatchObject({ _tag: "StoreError" })
    } finally {
      server.child.kill("SIGTERM")
      expect(await server.exited).toBe(0)
    }
    expect(server.output().stdout + server.output().stderr).not.toContain("secret-password")
  })
})
