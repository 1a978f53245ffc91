/**
 * The inventory's metrics on `/metrics`: `inv-server all` in this process on a fresh PostgreSQL
 * database, a RabbitMQ virtual host of its own and a Redis database of its own. A stock change, two
 * reads, a supplier sync and one inbound event that cannot apply (so it is dead-lettered) must show
 * in the metrics the deploy files' alerts and dashboard query, with their Prometheus types.
 */
import { randomBytes } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as amqp from "amqplib"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as AllMain from "../src/all/main.js"
import { servicesReachable } from "./eventFixtures.js"
import { eventually, isolatedBroker, isolatedRedisUrl, sampleValue, send } from "./serviceProcesses.js"
import { freePort, freshDatabase, startInProcess, testConfig } from "./utils.js"

const reachable = await servicesReachable("postgres", "rabbitmq", "redis")

const catalogServer = async () => {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ products: [{ id: "M-1", name: "Measured", inventory: 3, price: 1 }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/catalog`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe.skipIf(!reachable)("/metrics: the inventory's metrics", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  let base: string
  let brokerUrl: string

  beforeAll(async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    const broker = await isolatedBroker("metrics")
    cleanups.push(broker.remove)
    brokerUrl = broker.url
    const port = await freePort()
    const server = await startInProcess(
      AllMain.main(
        testConfig({
          port,
          databaseUrl: Option.some(Redacted.make(database.url)),
          rabbitmqUrl: Option.some(Redacted.make(broker.url)),
          redisUrl: Option.some(Redacted.make(isolatedRedisUrl()))
        })
      ),
      port
    )
    base = server.baseUrl
    cleanups.unshift(server.stop)
    await eventually("ready", async () => ((await fetch(`${base}/ready`)).ok ? true : undefined), 20_000)
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  const metrics = async () => (await fetch(`${base}/metrics`)).text()

  it("counts stock changes, events, cache requests, syncs and dead letters; samples the gauges", async () => {
    const sku = `MET-${randomBytes(3).toString("hex").toUpperCase()}`
    // At or below its reorder point after each change: supplier-sync is sent both stock.updated.
    expect(
      (await send(base, "POST", "/v1/products", { sku, name: "Measured widget", reorderPoint: 10 })).status
    ).toBe(201)
    expect(
      (await send(base, "POST", `/v1/stock/${sku}/adjust`, { delta: 5, reason: "receipt" })).status
    ).toBe(200)
    expect((await send(base, "POST", `/v1/stock/${sku}/adjust`, { delta: -1, reason: "sale" })).status).toBe(
      200
    )

    // Two reads of an unchanged level once the events are through: a miss, then a hit.
    // stock-checker consumes product.created and both stock.updated: exactly three.
    const consumed = await eventually(
      "stock-checker handled product.created and both stock.updated events",
      async () => {
        const value =
          sampleValue(await metrics(), "inv_events_consumed_total", { consumer: "stock-checker" }) ?? 0
        return value >= 3 ? value : undefined
      },
      10_000
    )
    expect(consumed).toBe(3)
    expect((await send(base, "GET", `/v1/stock/${sku}`)).body.onHand).toBe(4)
    // The next read is a hit, unless storing the first answer took Redis longer than the cache's
    // 200 ms timeout (a loaded machine): then a later one is.
    await eventually(
      "a read answered from the cache",
      async () => {
        expect((await send(base, "GET", `/v1/stock/${sku}`)).body.onHand).toBe(4)
        return (sampleValue(await metrics(), "inv_cache_requests_total", { result: "hit" }) ?? 0) >= 1
          ? true
          : undefined
      },
      5_000
    )

    // A supplier sync, run by the worker.
    const catalog = await catalogServer()
    cleanups.unshift(catalog.close)
    const supplierId = `met-${randomBytes(3).toString("hex")}`
    expect(
      (
        await send(base, "POST", "/v1/suppliers", {
          id: supplierId,
          name: "Measured supplier",
          connector: {
            type: "http-json",
            url: catalog.url,
            itemsPath: "products",
            fields: { supplierSku: "id", name: "name", availability: "inventory", unitCost: "price" }
          }
        })
      ).status
    ).toBe(201)
    expect((await send(base, "POST", `/v1/suppliers/${supplierId}/sync`)).status).toBe(202)

    // An inbound sale of a product nobody knows: a permanent failure, dead-lettered at once.
    const connection = await amqp.connect(brokerUrl)
    const channel = await connection.createConfirmChannel()
    const id = `unknown-${sku}`
    channel.publish(
      "inventory.events",
      "product.sold",
      Buffer.from(
        JSON.stringify({
          specversion: "1.0",
          id,
          source: "till",
          type: "product.sold",
          data: { sku: "NO-SUCH-SKU", quantity: 1 }
        })
      ),
      { persistent: true, messageId: id }
    )
    await channel.waitForConfirms()
    await connection.close()

    // The sampled gauges catch up within a sampling period (5 s).
    const text = await eventually(
      "the sync, the dead letter and the sampled gauges show",
      async () => {
        const text = await metrics()
        return (sampleValue(text, "inv_sync_runs_total", { status: "succeeded" }) ?? 0) >= 1 &&
          (sampleValue(text, "inv_dead_letter_queue_messages", { consumer: "stock-updater" }) ?? 0) >= 1
          ? text
          : undefined
      },
      15_000,
      200
    )

    const type = (name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, "m").exec(text)?.[1]
    for (const counter of [
      "inv_stock_changes_total",
      "inv_events_consumed_total",
      "inv_events_dead_lettered_total",
      "inv_cache_requests_total",
      "inv_sync_runs_total"
    ]) {
      expect(type(counter), counter).toBe("counter")
    }
    for (const gauge of [
      "inv_outbox_pending",
      "inv_outbox_publish_lag_seconds",
      "inv_dead_letter_queue_messages",
      "inv_jobs_queued",
      "inv_ready"
    ]) {
      expect(type(gauge), gauge).toBe("gauge")
    }
    expect(type("inv_sync_duration_seconds")).toBe("histogram")

    expect(sampleValue(text, "inv_stock_changes_total", { reason: "receipt" })).toBeGreaterThanOrEqual(1)
    expect(sampleValue(text, "inv_stock_changes_total", { reason: "sale" })).toBeGreaterThanOrEqual(1)
    expect(
      sampleValue(text, "inv_events_consumed_total", { consumer: "supplier-sync" })
    ).toBeGreaterThanOrEqual(2)
    expect(sampleValue(text, "inv_events_dead_lettered_total", { consumer: "stock-updater" })).toBe(1)
    expect(sampleValue(text, "inv_cache_requests_total", { result: "miss" })).toBeGreaterThanOrEqual(1)
    expect(sampleValue(text, "inv_cache_requests_total", { result: "hit" })).toBeGreaterThanOrEqual(1)
    expect(sampleValue(text, "inv_sync_duration_seconds_count")).toBeGreaterThanOrEqual(1)
    expect(sampleValue(text, "inv_outbox_pending")).toBe(0)
    expect(sampleValue(text, "inv_outbox_publish_lag_seconds")).toBe(0)
    expect(sampleValue(text, "inv_jobs_queued")).toBe(0)
    expect(sampleValue(text, "inv_ready")).toBe(1)
    // No `service` label of its own: Prometheus adds it per target.
    expect(text).not.toMatch(/^inv_\w+\{[^}]*service=/m)
  }, 45_000)
})
