/**
 * The remote SDK client (`connect`) against `inv-server all` in this process, on a fresh
 * PostgreSQL database: the embedded facade's scenario over HTTP, and retries through a proxy that
 * fails the first two attempts of a write.
 */
import { createServer, request as httpRequest, type Server } from "node:http"
import {
  connect,
  InsufficientStock,
  InvalidInput,
  type InventoryClient,
  ProductNotFound,
  Remote,
  StoreError
} from "@invkit/sdk"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, jwtAuth, postgresReachable, startAllOnFreshDatabase, testToken } from "./utils.js"

const reachable = await postgresReachable()

/** A proxy on 127.0.0.1 that answers 503 to the first `failures` requests matching `fails`. */
const flakyProxy = async (
  target: string,
  fails: (method: string, path: string) => boolean,
  failures: number
) => {
  const seen: Array<{ status: number; key: string | undefined }> = []
  let failed = 0
  const server: Server = createServer((req, res) => {
    const key = req.headers["idempotency-key"] as string | undefined
    if (fails(req.method ?? "", req.url ?? "") && failed < failures) {
      failed++
      seen.push({ status: 503, key })
      req.resume()
      // The first failure asks for a one-second wait; the second leaves it to the backoff.
      res.writeHead(503, failed === 1 ? { "retry-after": "1" } : {}).end()
      return
    }
    if (fails(req.method ?? "", req.url ?? "")) seen.push({ status: 0, key })
    const url = new URL(req.url ?? "/", target)
    const upstream = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: req.method,
        headers: req.headers
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      }
    )
    upstream.on("error", () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe.skipIf(!reachable)("the remote SDK client against inv-server all", () => {
  let baseUrl = ""
  const cleanups: Array<() => Promise<unknown>> = []
  let inv: InventoryClient
  let token = ""

  beforeAll(async () => {
    const server = await startAllOnFreshDatabase({ auth: jwtAuth })
    cleanups.unshift(server.stop)
    baseUrl = server.baseUrl
    token = await testToken("admin", "remote-sdk")
    inv = connect({ url: baseUrl, token })
    cleanups.unshift(() => inv.close())
  })

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  })

  it("runs the embedded facade's scenario with the same results", async () => {
    expect(inv.store).toContain(baseUrl)
    // defaults filled as the embedded facade does: unit, reorderQuantity, maxLevel, …
    // A name is taken as given or refused, never trimmed, over HTTP as in the embedded store.
    await expect(inv.products.add({ sku: "WID-1", name: " Widget " })).rejects.toMatchObject({
      _tag: "InvalidInput",
      field: "name"
    })
    const product = await inv.products.add({ sku: "WID-1", name: "Widget", reorderPoint: 5 })
    expect(product).toMatchObject({ sku: "WID-1", name: "Widget", unit: "each", reorderQuantity: 0 })
    expect((await inv.products.get("WID-1")).name).toBe("Widget")

    const set = await inv.stock.set("WID-1", 10)
    expect(set).toMatchObject({ sku: "WID-1", location: "default", delta: 10, onHand: 10, reason: "count" })
    const adjusted = await inv.stock.adjust("WID-1", -3, { reason: "sale", reference: "ORDER-9" })
    expect(adjusted).toMatchObject({ delta: -3, onHand: 7, reason: "sale", reference: "ORDER-9" })

    const keyed = await inv.stock.adjust("WID-1", -3, { idempotencyKey: "remote-key-1" })
    const replay = await inv.stock.adjust("WID-1", -3, { idempotencyKey: "remote-key-1" })
    expect(keyed.onHand).toBe(4)
    expect(replay.movementId).toBe(keyed.movementId)
    expect(replay.onHand).toBe(4)

    const low = (await inv.stock.low()).items
    expect(low.map((item) => [item.sku, item.location, item.available, item.shortfall])).toEqual([
      ["WID-1", "default", 4, 1]
    ])
    expect(await inv.stock.overview()).toMatchObject({ products: 1, units: 4, low: 1, outOfStock: 0, ok: 0 })

    const history = await inv.stock.history("WID-1")
    expect(history.items.map((m) => m.delta)).toEqual([-3, -3, 10])
    expect(history.items[0]?.at).toBeInstanceOf(Date)
    expect((await inv.stock.history("WID-1", { until: new Date(0) })).items).toEqual([])

    const level = await inv.stock.level("WID-1")
    expect(level).toMatchObject({ onHand: 4, available: 4, reorderPoint: 5 })

    const insufficient = await inv.stock.adjust("WID-1", -100).catch((error) => error)
    expect(insufficient).toBeInstanceOf(InsufficientStock)
    expect(insufficient).toMatchObject({ sku: "WID-1", available: 4, requested: 100 })
    await expect(inv.products.get("NOPE-1")).rejects.toBeInstanceOf(ProductNotFound)
    await expect(inv.stock.level("NOPE-1")).rejects.toBeInstanceOf(ProductNotFound)
    await expect(inv.products.add({ sku: "BAD-1", name: "" })).rejects.toBeInstanceOf(InvalidInput)

    const all: Array<string> = []
    for await (const row of inv.stock.all({ limit: 1 })) all.push(row.sku)
    expect(all).toEqual(["WID-1"])

    await expect(inv.suppliers.sync("any")).rejects.toBeInstanceOf(Remote.NotAvailableRemotely)
    await expect(inv.suppliers.worker()).rejects.toBeInstanceOf(Remote.NotAvailableRemotely)
  })

  it("retries a write that fails twice with 503, and the change applies once", async () => {
    await inv.products.add({ sku: "RET-1", name: "Retried" })
    const proxy = await flakyProxy(
      baseUrl,
      (method, path) => method === "POST" && path.startsWith("/v1/stock/RET-1/adjust"),
      2
    )
    const remote = connect({ url: proxy.url, token, maxRetries: 3 })
    try {
      const started = Date.now()
      const change = await remote.stock.adjust("RET-1", 5, { reason: "receipt" })
      expect(Date.now() - started).toBeGreaterThanOrEqual(900) // the Retry-After was honoured
      expect(change.onHand).toBe(5)
      expect(proxy.seen.map((attempt) => attempt.status)).toEqual([503, 503, 0])
      // one key, generated by the client, on every attempt
      const keys = new Set(proxy.seen.map((attempt) => attempt.key))
      expect(keys.size).toBe(1)
      expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/)

      const history = await inv.stock.history("RET-1")
      expect(history.items.map((m) => m.delta)).toEqual([5])
    } finally {
      await remote.close()
      await proxy.close()
    }
  })

  it("rejects with StoreError when nothing answers", async () => {
    const port = await freePort()
    const remote = connect({ url: `http://127.0.0.1:${port}`, maxRetries: 1 })
    try {
      const error = await remote.stock.overview().catch((e) => e)
      expect(error).toBeInstanceOf(StoreError)
      expect(error.reason).toContain("no answer")
    } finally {
      await remote.close()
    }
  })

  it("sends each path parameter percent-encoded: an id or SKU with / ; ? or .. reaches its own route or none", async () => {
    await inv.products.add({ sku: "PATH-1", name: "Original" })
    await inv.stock.set("PATH-1", 5)
    await inv.products.add({ sku: "PATH/2", name: "With a slash" })
    await inv.stock.set("PATH/2", 3)
    await inv.suppliers.add({
      id: "path-acme",
      name: "Acme",
      connector: { type: "http-json", url: "http://127.0.0.1:9/feed", fields: { supplierSku: "code" } }
    })
    const hold = await inv.reservations.create({ sku: "PATH-1", quantity: 1, reference: "path-test" })
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        (answer) => ({ answered: answer }),
        (error: Error & { readonly field?: string }) => ({
          _tag: (error as { _tag?: string })._tag,
          field: error.field
        })
      )

    // A SKU may hold "/" and "." (the code rule): it is one path segment, not a route of its own.
    expect(await inv.stock.level("PATH/2")).toMatchObject({ sku: "PATH/2", onHand: 3 })
    expect((await inv.stock.history("PATH/2")).items.map((m) => m.delta)).toEqual([3])
    expect((await inv.products.get("PATH/2")).name).toBe("With a slash")
    expect(await refusal(inv.stock.level("PATH-1/history"))).toEqual({
      _tag: "ProductNotFound",
      field: undefined
    })
    expect(await refusal(inv.products.update("x/../PATH-1", { name: "Hijacked" }))).toEqual({
      _tag: "ProductNotFound",
      field: undefined
    })
    expect(await refusal(inv.stock.level("PATH-1?location=x"))).toMatchObject({ _tag: "InvalidInput" })
    expect(await refusal(inv.stock.level("PATH-1;x"))).toMatchObject({ _tag: "InvalidInput" })
    // "." and ".." are steps of a URL's path that no encoding survives: refused before sending.
    expect(await refusal(inv.stock.level(".."))).toEqual({ _tag: "InvalidInput", field: "sku" })
    expect(await refusal(inv.products.update(".", { name: "Hijacked" }))).toEqual({
      _tag: "InvalidInput",
      field: "sku"
    })

    // A supplier id typed with a path in it, checked as the embedded store checks it.
    for (const id of ["../products/PATH-1", "path-acme;x", "path-acme?x=1", "path-acme/items", ".."]) {
      expect(await refusal(inv.suppliers.update(id, { name: "Hijacked" }))).toEqual({
        _tag: "InvalidInput",
        field: "id"
      })
      expect(await refusal(inv.suppliers.get(id))).toEqual({ _tag: "InvalidInput", field: "id" })
    }
    // A reservation id that is not a number, from JavaScript, is refused naming it as well.
    for (const id of [`${hold.id}/../../products/PATH-1`, `${hold.id};x`, `${hold.id}?x`, ".."]) {
      expect(await refusal(inv.reservations.get(id as unknown as number))).toEqual({
        _tag: "InvalidInput",
        field: "id"
      })
      expect(await refusal(inv.reservations.release(id as unknown as number))).toEqual({
        _tag: "InvalidInput",
        field: "id"
      })
    }
    expect(await refusal(inv.restock.get("1/../../products" as unknown as number))).toEqual({
      _tag: "InvalidInput",
      field: "orderId"
    })

    // A body is checked on the client as the embedded store checks it (a property it does not
    // know is dropped there), so the server's strict contract never sees one.
    const queued = await inv.suppliers.syncMany({ supplierIds: ["path-acme"], force: true } as never)
    expect(queued).toMatchObject({ failed: 0, results: [{ supplierId: "path-acme", outcome: "queued" }] })
    expect(await refusal(inv.suppliers.syncMany({ supplierIds: ["../products"] }))).toEqual({
      _tag: "InvalidInput",
      field: "supplierIds[0]"
    })

    // Nothing reached another route: the product, the supplier and the hold are as they were.
    expect((await inv.products.get("PATH-1")).name).toBe("Original")
    expect((await inv.suppliers.get("path-acme")).name).toBe("Acme")
    expect(await inv.reservations.get(hold.id)).toMatchObject({ status: "active", quantity: 1 })
    expect(await inv.stock.level("PATH-1")).toMatchObject({ onHand: 5, reserved: 1 })
  })

  it("gives up after maxRetries and rejects with StoreError", async () => {
    await inv.products.add({ sku: "RET-2", name: "Never" })
    const proxy = await flakyProxy(
      baseUrl,
      (method, path) => method === "POST" && path.startsWith("/v1/stock/RET-2/set"),
      10
    )
    const remote = connect({ url: proxy.url, token, maxRetries: 1 })
    try {
      // a 503 without the contract's body: a StoreError, as when the embedded store is gone
      await expect(remote.stock.set("RET-2", 3)).rejects.toBeInstanceOf(StoreError)
      expect(proxy.seen).toHaveLength(2)
      expect((await inv.stock.history("RET-2")).items).toEqual([])
    } finally {
      await remote.close()
      await proxy.close()
    }
  })
})
