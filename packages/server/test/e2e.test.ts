/**
 * End to end: the built `inv-server` as three processes (stock-updater, stock-checker,
 * supplier-sync) on one fresh PostgreSQL database, RabbitMQ and Redis, driven over HTTP.
 *
 * An adjustment through stock-updater reaches stock-checker's cache through the relay and
 * RabbitMQ (the delay is measured and printed), and supplier-sync opens one draft restock order
 * when the level crosses the reorder point. Then SIGTERM stops all three cleanly.
 *
 * Isolation: the queues `invkit.<service>` have fixed names, so the processes get a RabbitMQ
 * virtual host of their own (made with rabbitmqctl, deleted afterwards); otherwise another
 * test's processes could take this test's events. The cache uses a Redis database of its own
 * choosing (a random one of 1 to 15), apart from the other tests' keys in database 0.
 */
import { randomBytes } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Readable } from "node:stream"
import { Import, openInventory } from "@invkit/sdk"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servicesReachable } from "./eventFixtures.js"
import { eventually, isolatedBroker, isolatedRedisUrl, sleep } from "./serviceProcesses.js"
import { freePort, freshDatabase, runBin, waitUntilAnswering } from "./utils.js"

const reachable = await servicesReachable("postgres", "rabbitmq", "redis")

const SHUTDOWN_TIMEOUT_SECONDS = 5
const roles = ["stock-updater", "stock-checker", "supplier-sync"] as const
type Role = (typeof roles)[number]

/** A supplier's catalog on loopback, in the shape `{ products: [{ id, name, inventory, price }] }`. */
const catalogServer = async (products: ReadonlyArray<Record<string, unknown>>) => {
  const server: Server = createServer((request, response) => {
    if (request.url === "/catalog") {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ products }))
    } else {
      response.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/catalog`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe.skipIf(!reachable)("inv-server: three services on PostgreSQL, RabbitMQ and Redis", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  const servers = {} as Record<Role, ReturnType<typeof runBin> & { base: string }>
  let redis: Redis
  let databaseUrl: string

  beforeAll(async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    databaseUrl = database.url
    const broker = await isolatedBroker("e2e")
    cleanups.push(broker.remove)
    const ports = await Promise.all(roles.map(() => freePort()))
    const redisUrl = isolatedRedisUrl()
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
    cleanups.push(async () => redis.quit())
    roles.forEach((role, index) => {
      const port = ports[index]!
      const server = runBin(role, {
        PORT: String(port),
        HOST: "127.0.0.1",
        INV_DATABASE_URL: database.url,
        INV_RABBITMQ_URL: broker.url,
        INV_REDIS_URL: redisUrl,
        // Longer than the test: only an invalidation can drop a cached answer.
        INV_CACHE_TTL: "120",
        INV_SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT_SECONDS),
        INV_LOG_LEVEL: "warning",
        // This test is about events and caches; security.test.ts covers tokens.
        INV_AUTH: "off",
        // The supplier's catalog is served on loopback.
        INV_FEED_ALLOW_PRIVATE: "true"
      })
      servers[role] = { ...server, base: `http://127.0.0.1:${port}` }
      // Whatever happens in the test, no process outlives it (kill is a no-op after the exit).
      cleanups.unshift(async () => {
        server.child.kill("SIGKILL")
        await server.exited
      })
    })
    await Promise.all(
      roles.map((role) => waitUntilAnswering(`${servers[role].base}/ready`, 30_000, servers[role].child))
    )
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  const send = async (role: Role, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${servers[role].base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await response.text()
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
  }

  it("product changes reach stock-checker's cache: a new reorder point, an archive and a new product show well before the TTL", async () => {
    const tag = randomBytes(3).toString("hex").toUpperCase()
    const sku = `E2E-CAT-${tag}`
    cleanups.unshift(async () => {
      const keys = await redis.keys(`*:cache:*`)
      if (keys.length > 0) await redis.del(...keys)
    })
    const created = await send("supplier-sync", "POST", "/v1/products", { sku, name: "Catalog widget" })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect((await send("stock-updater", "POST", `/v1/stock/${sku}/set`, { quantity: 5 })).status).toBe(200)

    const low = async () => (await send("stock-checker", "GET", "/v1/low-stock")).body
    const overview = async () => (await send("stock-checker", "GET", "/v1/overview")).body
    const level = async () => (await send("stock-checker", "GET", `/v1/stock/${sku}`)).body
    const isLow = async () => (await low()).items.some((item: { sku: string }) => item.sku === sku)
    const readAll = async () => ({ isLow: await isLow(), overview: await overview(), level: await level() })
    // Read until the answers are the current ones and all three stored in Redis: with a TTL of
    // 120 s, only an invalidation can drop them during this test.
    const cachedWhen = (what: string, fresh: (answer: Awaited<ReturnType<typeof readAll>>) => boolean) =>
      eventually(
        what,
        async () => {
          const answer = await readAll()
          return fresh(answer) && (await redis.keys("*:cache:entry:*")).length >= 3 ? answer : undefined
        },
        10_000
      )
    const before = await cachedWhen(
      "stock-checker caches low stock, the overview and the level",
      (answer) => answer.level.onHand === 5
    )
    expect(before.isLow).toBe(false)
    expect(before.level).toMatchObject({ reorderPoint: 0, name: "Catalog widget" })

    // product.updated: the reorder point rises above the level.
    const updated = await send("supplier-sync", "PATCH", `/v1/products/${sku}`, { reorderPoint: 10 })
    expect(updated.status, JSON.stringify(updated.body)).toBe(200)
    await eventually("low stock lists the product", async () => ((await isLow()) ? true : undefined), 10_000)
    expect(await level()).toMatchObject({ reorderPoint: 10 })
    expect((await overview()).low).toBe(before.overview.low + 1)

    // product.archived: the product leaves low stock and the overview.
    await cachedWhen("the answers are cached again", (answer) => answer.isLow)
    const archived = await send("supplier-sync", "POST", `/v1/products/${sku}/archive`)
    expect(archived.status, JSON.stringify(archived.body)).toBe(200)
    await eventually(
      "low stock no longer lists the product",
      async () => ((await isLow()) ? undefined : true),
      10_000
    )
    expect((await overview()).products).toBe(before.overview.products - 1)

    // product.created: a new product counts in the overview.
    await cachedWhen(
      "the overview is cached",
      (answer) => answer.overview.products === before.overview.products - 1
    )
    const added = await send("supplier-sync", "POST", "/v1/products", {
      sku: `${sku}-NEW`,
      name: "New widget"
    })
    expect(added.status, JSON.stringify(added.body)).toBe(201)
    await eventually(
      "the overview counts the new product",
      async () => ((await overview()).products === before.overview.products ? true : undefined),
      10_000
    )
  }, 45_000)

  it("a bulk import of products and a supplier sync that adds products reach stock-checker's cache well before the TTL", async () => {
    const tag = randomBytes(3).toString("hex").toUpperCase()
    const [added, raised, archived, fromFeed] = ["ADD", "RAISE", "ARCH", "FEED"].map(
      (name) => `E2E-${name}-${tag}`
    )
    cleanups.unshift(async () => {
      const keys = await redis.keys(`*:cache:*`)
      if (keys.length > 0) await redis.del(...keys)
    })
    // RAISE holds 5 above its reorder point 0; ARCH has none, so it is low.
    for (const sku of [raised!, archived!]) {
      expect((await send("supplier-sync", "POST", "/v1/products", { sku, name: sku })).status).toBe(201)
    }
    expect((await send("stock-updater", "POST", `/v1/stock/${raised}/set`, { quantity: 5 })).status).toBe(200)

    const lowSkus = async () =>
      new Set<string>(
        (await send("stock-checker", "GET", "/v1/low-stock?limit=1000")).body.items.map(
          (item: { sku: string }) => item.sku
        )
      )
    const products = async () => (await send("stock-checker", "GET", "/v1/overview")).body.products as number
    const level = async (sku: string) => (await send("stock-checker", "GET", `/v1/stock/${sku}`)).body
    // The answers as they are now, stored in Redis (a TTL of 120 s: only an invalidation drops them).
    const cachedNow = async (what: string, fresh: (low: Set<string>) => boolean) =>
      eventually(
        what,
        async () => {
          const low = await lowSkus()
          const count = await products()
          const raisedLevel = await level(raised!)
          const entries = await redis.keys("*:cache:entry:*")
          return fresh(low) && entries.length >= 3 ? { low, count, raisedLevel } : undefined
        },
        10_000
      )
    const before = await cachedNow(
      "low stock, the overview and a level are cached",
      (low) => low.has(archived!) && !low.has(raised!)
    )
    expect(before.raisedLevel).toMatchObject({ onHand: 5, reorderPoint: 0 })

    // An import (through the SDK, on the deployment's database, as `inv import` does): one product
    // added, one whose reorder point rises above its level, one archived; one product.imported.
    const inventory = await openInventory({ databaseUrl })
    try {
      const result = await Import.importRows(
        inventory,
        Readable.from([
          `sku,name,reorderPoint,active\n${added},Added,3,true\n${raised},${raised},10,true\n${archived},${archived},0,false\n`
        ]),
        { kind: "products" }
      )
      expect(result).toMatchObject({ applied: 3 })
    } finally {
      await inventory.close()
    }
    await eventually(
      "low stock lists the added and the raised product, not the archived one",
      async () => {
        const low = await lowSkus()
        return low.has(added!) && low.has(raised!) && !low.has(archived!) ? true : undefined
      },
      10_000
    )
    expect(await level(raised!)).toMatchObject({ onHand: 5, reorderPoint: 10 })
    expect(await products()).toBe(before.count)

    // A supplier sync that adds the products its feed names and the catalog lacks.
    await cachedNow("the answers are cached again", (low) => low.has(added!))
    const catalog = await catalogServer([{ id: fromFeed, name: "From the feed", inventory: 7, price: 1 }])
    cleanups.unshift(catalog.close)
    const supplierId = `e2e-feed-${tag.toLowerCase()}`
    const supplier = await send("supplier-sync", "POST", "/v1/suppliers", {
      id: supplierId,
      name: "Feed supplier",
      createMissingProducts: true,
      connector: {
        type: "http-json",
        url: catalog.url,
        itemsPath: "products",
        fields: { supplierSku: "id", name: "name", availability: "inventory", unitCost: "price" }
      }
    })
    expect(supplier.status, JSON.stringify(supplier.body)).toBe(201)
    expect((await send("supplier-sync", "POST", `/v1/suppliers/${supplierId}/sync`)).status).toBe(202)
    await eventually(
      "the overview counts the product the sync added, and low stock lists it",
      async () =>
        (await products()) === before.count + 1 && (await lowSkus()).has(fromFeed!) ? true : undefined,
      15_000
    )
  }, 60_000)

  it("an adjustment reaches stock-checker's cache and opens one restock order; SIGTERM stops all three", async () => {
    const sku = `E2E-${randomBytes(3).toString("hex").toUpperCase()}`
    const supplierId = `e2e-${randomBytes(3).toString("hex")}`
    const catalog = await catalogServer([{ id: sku, name: "End-to-end widget", inventory: 100, price: 2.5 }])
    cleanups.unshift(catalog.close)
    // This SKU's keys in the cache's Redis database (under the deployment's namespace); the rest
    // there is left alone.
    cleanups.unshift(async () => {
      const keys = await redis.keys(`*:cache:*${sku}*`)
      if (keys.length > 0) await redis.del(...keys)
    })

    // 1. supplier-sync: the product, the supplier, and a sync of its catalog.
    const product = await send("supplier-sync", "POST", "/v1/products", {
      sku,
      name: "End-to-end widget",
      reorderPoint: 10,
      reorderQuantity: 20
    })
    expect(product.status, JSON.stringify(product.body)).toBe(201)
    const supplier = await send("supplier-sync", "POST", "/v1/suppliers", {
      id: supplierId,
      name: "End-to-end supplier",
      connector: {
        type: "http-json",
        url: catalog.url,
        itemsPath: "products",
        fields: { supplierSku: "id", name: "name", availability: "inventory", unitCost: "price" }
      }
    })
    expect(supplier.status, JSON.stringify(supplier.body)).toBe(201)
    const queued = await send("supplier-sync", "POST", `/v1/suppliers/${supplierId}/sync`)
    expect(queued.status, JSON.stringify(queued.body)).toBe(202)
    expect(queued.body).toMatchObject({ jobId: expect.any(String) })
    const runStatus = await eventually(
      "the sync run finished",
      async () => {
        const runs = await send("supplier-sync", "GET", `/v1/suppliers/${supplierId}/runs`)
        const status: string | undefined = runs.body?.items?.[0]?.status
        return status === undefined || status === "running" ? undefined : runs.body.items[0]
      },
      15_000,
      100
    )
    expect(runStatus).toMatchObject({ status: "succeeded", added: 1, rejected: 0 })

    // 2. stock-updater sets 15; stock-checker reads it (and caches it); stock-updater adjusts -6.
    expect((await send("stock-updater", "POST", `/v1/stock/${sku}/set`, { quantity: 15 })).status).toBe(200)
    // Read until the answer is 15 and stored in Redis, so that only an invalidation can drop it.
    await eventually(
      "stock-checker answers 15 and has it cached in Redis",
      async () => {
        const level = await send("stock-checker", "GET", `/v1/stock/${sku}`)
        const cached = await redis.keys(`*:cache:entry:*${JSON.stringify(sku)}*`)
        return level.status === 200 && level.body.onHand === 15 && cached.length > 0 ? true : undefined
      },
      10_000
    )
    const adjusted = await send("stock-updater", "POST", `/v1/stock/${sku}/adjust`, { delta: -6 })
    const adjustedAt = performance.now()
    expect(adjusted.status, JSON.stringify(adjusted.body)).toBe(200)
    expect(adjusted.body).toMatchObject({ sku, onHand: 9 })

    // 3. The cached 15 is dropped by stock.updated through RabbitMQ: the delay until 9 is visible.
    const delayMs = await eventually(
      "stock-checker answers 9",
      async () => {
        const level = await send("stock-checker", "GET", `/v1/stock/${sku}`)
        return level.status === 200 && level.body.onHand === 9 ? performance.now() - adjustedAt : undefined
      },
      10_000,
      5
    )
    console.log(
      `e2e: update-to-visible delay (stock-updater adjust -> stock-checker read): ${delayMs.toFixed(1)} ms`
    )
    expect(delayMs).toBeLessThan(10_000)

    // 4. supplier-sync's consumer of stock.updated opened one draft order, from the supplier.
    const orders = await eventually(
      "supplier-sync opened a restock order",
      async () => {
        const list = await send("supplier-sync", "GET", `/v1/restock-orders?sku=${sku}&open=true`)
        return list.status === 200 && list.body.items.length > 0 ? list.body.items : undefined
      },
      10_000
    )
    // A second look, after the events have had time to arrive: still exactly one.
    await sleep(500)
    const again = await send("supplier-sync", "GET", `/v1/restock-orders?sku=${sku}&open=true`)
    expect(again.body.items).toHaveLength(1)
    expect(orders).toHaveLength(1)
    expect(orders[0]).toMatchObject({
      sku,
      location: "default",
      status: "draft",
      supplierId,
      supplierSku: sku,
      quantity: 20
    })

    // 5. SIGTERM: each exits 0 within its shutdown bound.
    const stopped = await Promise.all(
      roles.map(async (role) => {
        const startedAt = Date.now()
        servers[role].child.kill("SIGTERM")
        const code = await servers[role].exited
        return { role, code, ms: Date.now() - startedAt, stderr: servers[role].output().stderr }
      })
    )
    for (const { role, code, ms, stderr } of stopped) {
      expect(code, `${role} exit code; stderr: ${stderr}`).toBe(0)
      expect(ms, `${role} shutdown time`).toBeLessThan(SHUTDOWN_TIMEOUT_SECONDS * 1000)
    }
  }, 45_000)
})
