/**
 * `inv-server all` in this process against a fresh PostgreSQL database, driven through the client
 * derived from the contract (`HttpApiClient.make(InventoryApi)`) and through plain fetch.
 */
import { once } from "node:events"
import { mkdtempSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import {
  Api,
  IdempotencyKeyReused,
  InsufficientStock,
  Inventory,
  ProductNotFound,
  Reorder,
  RestockOrderNotFound,
  Store,
  SupplierNotFound
} from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually } from "./serviceProcesses.js"
import { postgresReachable, startAllOnFreshDatabase } from "./utils.js"

const reachable = await postgresReachable()

describe.skipIf(!reachable)("inv-server all over HTTP", () => {
  let baseUrl = ""
  let databaseUrl = ""
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    const server = await startAllOnFreshDatabase()
    cleanups.unshift(server.stop)
    databaseUrl = server.databaseUrl
    baseUrl = server.baseUrl
  })

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  })

  /** Runs a program that uses the derived client. */
  const run = <A, E>(program: Effect.Effect<A, E, import("@effect/platform/HttpClient").HttpClient>) =>
    Effect.runPromise(Effect.provide(program, NodeHttpClient.layerUndici))

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })

  const newProduct = {
    unit: "each",
    reorderPoint: 0,
    reorderQuantity: 0,
    maxLevel: null,
    preferredSupplier: null,
    allowBackorders: false
  }

  it("answers every endpoint, with the SDK's typed errors through the derived client", async () => {
    await run(
      Effect.gen(function* () {
        const client = yield* HttpApiClient.make(Api.InventoryApi, { baseUrl })
        // catalog
        const product = yield* client.catalog.addProduct({
          headers: {},
          payload: { ...newProduct, sku: "WID-1", name: "Widget", reorderPoint: 5, reorderQuantity: 20 }
        })
        expect(product.sku).toBe("WID-1")
        yield* client.catalog.addProduct({
          headers: {},
          payload: { ...newProduct, sku: "GAD-1", name: "Gadget" }
        })
        expect((yield* client.catalog.getProduct({ path: { sku: "WID-1" } })).name).toBe("Widget")
        expect(
          (yield* client.catalog.updateProduct({
            headers: {},
            path: { sku: "GAD-1" },
            payload: { name: "Gadget 2" }
          })).name
        ).toBe("Gadget 2")
        expect((yield* client.catalog.listProducts({ urlParams: {} })).items.map((p: any) => p.sku)).toEqual([
          "GAD-1",
          "WID-1"
        ])
        yield* client.catalog.addLocation({ headers: {}, payload: { code: "back", name: "Back room" } })
        expect((yield* client.catalog.listLocations()).items.map((l: any) => l.code)).toContain("back")

        // stock-updater
        expect(
          (yield* client.stockUpdates.set({ path: { sku: "WID-1" }, payload: { quantity: 10 }, headers: {} }))
            .onHand
        ).toBe(10)
        expect(
          (yield* client.stockUpdates.adjust({ path: { sku: "WID-1" }, payload: { delta: -3 }, headers: {} }))
            .onHand
        ).toBe(7)
        const transfer = yield* client.stockUpdates.transfer({
          path: { sku: "WID-1" },
          payload: { quantity: 2, from: "default", to: "back" },
          headers: {}
        })
        expect([transfer.from.onHand, transfer.to.onHand]).toEqual([5, 2])
        const batch = yield* client.stockUpdates.batch({
          payload: {
            changes: [
              { type: "adjust", sku: "GAD-1", delta: 4, location: "default", reason: "adjustment" },
              { type: "set", sku: "GAD-1", quantity: 9, location: "back", reason: "count" }
            ]
          },
          headers: {}
        })
        expect(batch.changes).toHaveLength(2)

        // typed errors
        const insufficient = yield* Effect.flip(
          client.stockUpdates.adjust({ path: { sku: "WID-1" }, payload: { delta: -1000 }, headers: {} })
        )
        expect(insufficient).toBeInstanceOf(InsufficientStock)
        const missing = yield* Effect.flip(client.catalog.getProduct({ path: { sku: "NOPE-1" } }))
        expect(missing).toBeInstanceOf(ProductNotFound)

        // idempotency: the same key and request replay the first answer; another request is refused
        const first = yield* client.stockUpdates.adjust({
          path: { sku: "GAD-1" },
          payload: { delta: 1 },
          headers: { "idempotency-key": "key-1" }
        })
        const again = yield* client.stockUpdates.adjust({
          path: { sku: "GAD-1" },
          payload: { delta: 1 },
          headers: { "idempotency-key": "key-1" }
        })
        expect(again).toEqual(first)
        const reused = yield* Effect.flip(
          client.stockUpdates.adjust({
            path: { sku: "GAD-1" },
            payload: { delta: 2 },
            headers: { "idempotency-key": "key-1" }
          })
        )
        expect(reused).toBeInstanceOf(IdempotencyKeyReused)

        // stock-checker
        const level = yield* client.stockChecks.level({ path: { sku: "WID-1" }, urlParams: {} })
        expect(level.onHand).toBe(7)
        expect((yield* client.stockChecks.list({ urlParams: {} })).items.length).toBeGreaterThanOrEqual(3)
        expect((yield* client.stockChecks.low({ urlParams: {} })).items.map((i: any) => i.sku)).toContain(
          "WID-1"
        )
        expect((yield* client.stockChecks.overview()).products).toBeGreaterThanOrEqual(2)
        expect(
          (yield* client.stockChecks.history({ path: { sku: "WID-1" }, urlParams: {} })).items.length
        ).toBe(4)
        // a write through the API is visible to the next read (the cache dropped the entry)
        yield* client.stockUpdates.adjust({ path: { sku: "WID-1" }, payload: { delta: 1 }, headers: {} })
        expect(
          (yield* client.stockChecks.level({ path: { sku: "WID-1" }, urlParams: {} })).onHand
        ).toBeGreaterThanOrEqual(7)

        // suppliers
        const dir = mkdtempSync(join(tmpdir(), "inv-server-feed-"))
        writeFileSync(join(dir, "feed.csv"), "code,cost\nA-1,2.5\n")
        yield* client.suppliers.add({
          headers: {},
          payload: {
            id: "acme",
            name: "Acme",
            connector: {
              type: "csv",
              source: join(dir, "feed.csv"),
              columns: { supplierSku: "code", unitCost: "cost" },
              delimiter: ",",
              timeoutMs: 10_000
            },
            schedule: null,
            createMissingProducts: false,
            leadTimeDays: 0
          }
        })
        expect((yield* client.suppliers.get({ path: { id: "acme" } })).name).toBe("Acme")
        expect(
          (yield* client.suppliers.update({
            headers: {},
            path: { id: "acme" },
            payload: { leadTimeDays: 3 }
          })).leadTimeDays
        ).toBe(3)
        expect((yield* client.suppliers.list({ urlParams: {} })).items).toHaveLength(1)
        expect((yield* client.suppliers.items({ path: { id: "acme" }, urlParams: {} })).items).toBeDefined()
        const queued = yield* client.suppliers.sync({ path: { id: "acme" } })
        expect(queued.jobId).toMatch(/.+/)
        expect((yield* client.suppliers.runs({ path: { id: "acme" }, urlParams: {} })).items).toBeDefined()
        expect(yield* Effect.flip(client.suppliers.get({ path: { id: "nobody" } }))).toBeInstanceOf(
          SupplierNotFound
        )

        // restock: an order opened by the reorder rule, then its lifecycle
        yield* client.catalog.updateProduct({
          headers: {},
          path: { sku: "WID-1" },
          payload: { preferredSupplier: "acme", reorderPoint: 50 }
        })
        const explained = yield* client.restock.explain({ path: { sku: "WID-1" }, urlParams: {} })
        expect(explained.items.length).toBeGreaterThan(0)
        yield* Effect.flatMap(Reorder.ReorderRule, (rule) => rule.evaluate("WID-1", "default")).pipe(
          Effect.provide(
            Reorder.ReorderRule.Default.pipe(Layer.provideMerge(Inventory.layer(Store.postgres(databaseUrl))))
          ),
          Effect.orDie
        )
        const orders = yield* client.restock.list({ urlParams: { sku: "WID-1" } })
        const order = orders.items.find((o: { location: string }) => o.location === "default")
        expect(order).toBeDefined()
        const orderId = order!.id
        expect((yield* client.restock.get({ path: { id: orderId } })).status).toBe("draft")
        expect((yield* client.restock.submit({ headers: {}, path: { id: orderId } })).status).toBe(
          "submitted"
        )
        const received = yield* client.restock.receive({
          path: { id: orderId },
          payload: { quantity: 1 },
          headers: {}
        })
        expect(received.receivedQuantity).toBe(1)
        expect((yield* client.restock.cancel({ headers: {}, path: { id: orderId } })).status).toBe(
          "cancelled"
        )
        expect(yield* Effect.flip(client.restock.get({ path: { id: 99999 } }))).toBeInstanceOf(
          RestockOrderNotFound
        )

        yield* client.catalog.updateProduct({
          headers: {},
          path: { sku: "WID-1" },
          payload: { preferredSupplier: null }
        })
        yield* client.suppliers.remove({ headers: {}, path: { id: "acme" } })
        expect((yield* client.catalog.archiveProduct({ headers: {}, path: { sku: "GAD-1" } })).active).toBe(
          false
        )
      })
    )
  })

  it("answers the errors' status codes", async () => {
    const insufficient = await post("/v1/stock/WID-1/adjust", { delta: -100000 })
    expect(insufficient.status).toBe(409)
    expect(await insufficient.json()).toMatchObject({ _tag: "InsufficientStock" })
    expect((await fetch(`${baseUrl}/v1/products/NOPE-2`)).status).toBe(404)
    await post("/v1/stock/WID-1/adjust", { delta: 1 }, { "idempotency-key": "k-422" })
    const reused = await post("/v1/stock/WID-1/adjust", { delta: 2 }, { "idempotency-key": "k-422" })
    expect(reused.status).toBe(422)
  })

  // The HTTP API rejects every bad input with 4xx and a clear body, never 5xx.
  const badRequests: ReadonlyArray<{
    readonly name: string
    readonly method?: string
    readonly path: string
    readonly body?: unknown
    readonly names: RegExp
  }> = [
    { name: "bad JSON", path: "/v1/stock/WID-1/adjust", body: '{"delta":', names: /JSON/ },
    { name: "wrong type", path: "/v1/stock/WID-1/adjust", body: { delta: "five" }, names: /delta/ },
    { name: "missing field", path: "/v1/stock/WID-1/set", body: {}, names: /quantity/ },
    { name: "fractional delta", path: "/v1/stock/WID-1/adjust", body: { delta: 1.5 }, names: /delta/ },
    { name: "huge number", path: "/v1/stock/WID-1/adjust", body: { delta: 1e300 }, names: /delta/ },
    { name: "zero delta", path: "/v1/stock/WID-1/adjust", body: { delta: 0 }, names: /delta/ },
    { name: "bad SKU", path: "/v1/stock/bad%20sku/adjust", body: { delta: 1 }, names: /sku/ },
    { name: "bad SKU on read", method: "GET", path: "/v1/stock/bad%20sku", names: /sku/ },
    { name: "unknown product", path: "/v1/stock/NOPE-9/adjust", body: { delta: 1 }, names: /NOPE-9/ },
    {
      name: "unknown location",
      path: "/v1/stock/WID-1/adjust",
      body: { delta: 1, location: "mars" },
      names: /mars/
    },
    {
      name: "bad reason",
      path: "/v1/stock/WID-1/adjust",
      body: { delta: 1, reason: "theft" },
      names: /reason/
    },
    { name: "empty batch", path: "/v1/stock/batch", body: { changes: [] }, names: /changes/ },
    { name: "bad cursor", method: "GET", path: "/v1/stock?cursor=nonsense", names: /cursor/ },
    { name: "limit not a number", method: "GET", path: "/v1/stock?limit=lots", names: /limit/ },
    { name: "limit out of range", method: "GET", path: "/v1/products?limit=0", names: /limit/ },
    { name: "bad boolean", method: "GET", path: "/v1/products?active=maybe", names: /active/ },
    { name: "bad order id", method: "GET", path: "/v1/restock-orders/abc", names: /id/ },
    // Numbers in a path or query are decimal digits only, as on the command line and in imports.
    { name: "limit with an exponent", method: "GET", path: "/v1/stock?limit=1e2", names: /limit.*digits/ },
    { name: "limit with a plus", method: "GET", path: "/v1/products?limit=%2B5", names: /limit.*digits/ },
    { name: "limit with a fraction", method: "GET", path: "/v1/low-stock?limit=5.0", names: /limit.*digits/ },
    { name: "order id in hex", method: "GET", path: "/v1/restock-orders/0x10", names: /digits/ },
    { name: "order id with spaces", method: "GET", path: "/v1/restock-orders/%205", names: /digits/ },
    {
      name: "a reference with an escape sequence",
      path: "/v1/stock/WID-1/adjust",
      body: { delta: 1, reference: "PO-1\u001b[2J" },
      names: /reference.*control characters/
    },

    { name: "bad product", path: "/v1/products", body: { sku: "X 1", name: "" }, names: /sku|name/ },
    {
      name: "bad supplier connector",
      path: "/v1/suppliers",
      body: { id: "s1", name: "S", connector: { type: "ftp" } },
      names: /connector|type/
    },
    { name: "unknown route", method: "GET", path: "/v1/nothing-here", names: /No route/ },
    { name: "wrong method", method: "DELETE", path: "/v1/stock/WID-1", names: /No route/ }
  ]

  it.each(badRequests)("rejects $name with 4xx and a body naming the problem", async (request) => {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method ?? "POST",
      headers: request.body === undefined ? {} : { "content-type": "application/json" },
      ...(request.body === undefined
        ? {}
        : { body: typeof request.body === "string" ? request.body : JSON.stringify(request.body) })
    })
    expect(response.status, `${request.name}: ${response.status}`).toBeGreaterThanOrEqual(400)
    expect(response.status).toBeLessThan(500)
    const body = await response.json()
    expect(JSON.stringify(body)).toMatch(request.names)
  })

  it("counts each request under the status it was answered, and one whose caller left first as 499", async () => {
    const count = async (series: RegExp) =>
      Number(series.exec(await (await fetch(`${baseUrl}/metrics`)).text())?.[1] ?? 0)
    const answered = /http_requests_total\{method="GET",route="\/v1\/overview",status="200"\} (\d+)/
    const notFound = /http_requests_total\{method="GET",route="unmatched",status="404"\} (\d+)/
    const left = /http_requests_total\{method="POST",route="\/v1\/stock\/:sku\/adjust",status="499"\} (\d+)/
    const before = [await count(answered), await count(notFound), await count(left)]
    expect((await fetch(`${baseUrl}/v1/overview`)).status).toBe(200)
    expect((await fetch(`${baseUrl}/v1/no-such-route`)).status).toBe(404)
    // A body announced and not sent in full: the caller goes while the server is still reading it.
    const socket = connect(Number(new URL(baseUrl).port), "127.0.0.1")
    await once(socket, "connect")
    socket.write(
      'POST /v1/stock/SKU-1/adjust HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"delta":'
    )
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.destroy()
    await eventually(
      "the abandoned request is counted",
      async () => ((await count(left)) === before[2]! + 1 ? true : undefined),
      5_000
    )
    expect(await count(answered)).toBe(before[0]! + 1)
    expect(await count(notFound)).toBe(before[1]! + 1)
  })

  it("serves /health, /ready, /metrics, /openapi.json and /docs", async () => {
    const health = await fetch(`${baseUrl}/health`)
    expect(health.status).toBe(200)
    const ready = await fetch(`${baseUrl}/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { database: "ok" } })
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text()
    expect(metrics).toContain("# TYPE http_requests_total counter")
    expect(metrics).toMatch(
      /http_requests_total\{method="POST",route="\/v1\/stock\/:sku\/adjust",status="200"\} \d+/
    )
    expect(metrics).toContain("http_request_duration_seconds_bucket")
    const spec = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as { paths: object }
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(["/v1/stock/{sku}/adjust", "/v1/products", "/v1/suppliers/{id}/sync"])
    )
    const docs = await fetch(`${baseUrl}/docs`)
    expect(docs.headers.get("content-type")).toMatch(/html/)
    expect(await docs.text()).toContain("swagger")
  })
})
