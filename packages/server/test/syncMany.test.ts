/**
 * `POST /v1/suppliers/sync`: several suppliers' syncs queued at once, or every active one's; an
 * unknown supplier is reported in its outcome and the others are still queued, each run recorded
 * by the workers as a single sync's. Through HTTP and through the SDK's `connect()`.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../../sdk/src/index.js"
import { eventually } from "./serviceProcesses.js"
import { postgresReachable, startAllOnFreshDatabase } from "./utils.js"

const reachable = await postgresReachable()

describe.skipIf(!reachable)("POST /v1/suppliers/sync", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  let baseUrl = ""
  let catalogUrl = ""

  const send = async (
    method: string,
    path: string,
    body?: unknown
  ): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    return { status: response.status, body: await response.json() }
  }

  const firstRun = (id: string) =>
    eventually(
      `the sync of ${id} finished`,
      async () => {
        const run = (await send("GET", `/v1/suppliers/${id}/runs`)).body.items?.at(-1)
        return run === undefined || run.status === "running" ? undefined : run
      },
      20_000,
      100
    )

  beforeAll(async () => {
    const catalog: Server = createServer((_, response) => {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ items: [{ id: "A-1" }, { id: "A-2" }] }))
    })
    await new Promise<void>((resolve) => catalog.listen(0, "127.0.0.1", resolve))
    cleanups.push(() => new Promise<void>((resolve) => catalog.close(() => resolve())))
    catalogUrl = `http://127.0.0.1:${(catalog.address() as AddressInfo).port}/catalog`
    const server = await startAllOnFreshDatabase()
    cleanups.unshift(server.stop)
    baseUrl = server.baseUrl
    for (const id of ["multi-a", "multi-b", "multi-c"]) {
      const connector = {
        type: "http-json",
        url: catalogUrl,
        itemsPath: "items",
        fields: { supplierSku: "id" }
      }
      expect((await send("POST", "/v1/suppliers", { id, name: id, connector })).status).toBe(201)
    }
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  it("queues each named supplier's sync and reports an unknown one, without stopping the others", async () => {
    const answer = await send("POST", "/v1/suppliers/sync", { supplierIds: ["multi-a", "nobody", "multi-b"] })
    expect(answer.status, JSON.stringify(answer.body)).toBe(202)
    expect(answer.body.failed).toBe(1)
    expect(answer.body.results).toEqual([
      { supplierId: "multi-a", outcome: "queued", jobId: expect.any(String) },
      {
        supplierId: "nobody",
        outcome: "failed",
        error: "SupplierNotFound",
        message: expect.stringContaining('No supplier "nobody"'),
        runId: null
      },
      { supplierId: "multi-b", outcome: "queued", jobId: expect.any(String) }
    ])
    expect(await firstRun("multi-a")).toMatchObject({ status: "succeeded", added: 2, trigger: "manual" })
    expect(await firstRun("multi-b")).toMatchObject({ status: "succeeded", added: 2 })
    expect((await send("GET", "/v1/suppliers/multi-c/runs")).body.items).toEqual([])
  })

  it("queues every active supplier with all: true, also through the SDK's connect()", async () => {
    expect((await send("PATCH", "/v1/suppliers/multi-b", { active: false })).status).toBe(200)
    const inventory = connect({ url: baseUrl })
    try {
      const result = await inventory.suppliers.syncMany({ all: true })
      expect(result.failed).toBe(0)
      expect(result.results.map((outcome) => [outcome.supplierId, outcome.outcome])).toEqual([
        ["multi-a", "queued"],
        ["multi-c", "queued"]
      ])
    } finally {
      await inventory.close()
    }
    expect(await firstRun("multi-c")).toMatchObject({ status: "succeeded", added: 2 })
  })

  it("refuses a body that names no supplier, or both ids and all, with 400 naming the field", async () => {
    for (const body of [{}, { supplierIds: ["multi-a"], all: true }, { supplierIds: [] }]) {
      const answer = await send("POST", "/v1/suppliers/sync", body)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(JSON.stringify(answer.body)).toContain("supplierIds")
    }
  })
})
