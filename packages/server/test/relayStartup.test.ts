/**
 * Events waiting in the outbox when `inv-server all` starts, on a broker where no queue exists
 * yet: RabbitMQ drops a message that no queue is bound to, so the relay must publish only once the
 * process's consumers have bound theirs. It published at once, and stock-checker, whose queue was
 * bound about a second later, never heard of the first events (the counter said 2, not 3). In a
 * split deployment stock-updater also declares the other groups' queues, which may not have
 * started yet. A file of its own: the metric counters are per process.
 */
import { randomBytes } from "node:crypto"
import { openInventory } from "@invkit/sdk"
import * as amqp from "amqplib"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { afterAll, describe, expect, it } from "vitest"
import * as AllMain from "../src/all/main.js"
import * as StockUpdaterMain from "../src/stockUpdater/main.js"
import { servicesReachable } from "./eventFixtures.js"
import { eventually, isolatedBroker, isolatedRedisUrl, sampleValue, send } from "./serviceProcesses.js"
import { freePort, freshDatabase, startInProcess, testConfig } from "./utils.js"

const reachable = await servicesReachable("postgres", "rabbitmq", "redis")

describe.skipIf(!reachable)("the relay at startup", () => {
  const cleanups: Array<() => Promise<unknown>> = []

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  it("publishes the waiting events once every consumer's queue is bound, so none is lost", async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    const broker = await isolatedBroker("relaystart")
    cleanups.push(broker.remove)

    // Written before any service ran: a product.created and a stock.updated wait in the outbox.
    const sku = `START-${randomBytes(3).toString("hex").toUpperCase()}`
    const inventory = await openInventory({ databaseUrl: database.url })
    try {
      await inventory.products.add({ sku, name: "Waiting widget", reorderPoint: 10 })
      await inventory.stock.set(sku, 4)
    } finally {
      await inventory.close()
    }

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
    cleanups.unshift(server.stop)
    const consumed = async (consumer: string) =>
      sampleValue(await (await fetch(`${server.baseUrl}/metrics`)).text(), "inv_events_consumed_total", {
        consumer
      }) ?? 0

    // stock-checker takes both; supplier-sync the stock.updated (4 is at or below the point 10).
    await eventually(
      "stock-checker and supplier-sync consumed the waiting events",
      async () =>
        (await consumed("stock-checker")) >= 2 && (await consumed("supplier-sync")) >= 1 ? true : undefined,
      15_000
    )
    expect(await consumed("stock-checker")).toBe(2)
    expect(await consumed("supplier-sync")).toBe(1)
  }, 60_000)

  it("stock-updater alone (a split deployment's first start) keeps its events for the groups not started yet", async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    const broker = await isolatedBroker("relaysplit")
    cleanups.push(broker.remove)
    const sku = `SPLIT-${randomBytes(3).toString("hex").toUpperCase()}`
    const inventory = await openInventory({ databaseUrl: database.url })
    try {
      await inventory.products.add({ sku, name: "Split widget", reorderPoint: 10 })
    } finally {
      await inventory.close()
    }
    const port = await freePort()
    const server = await startInProcess(
      StockUpdaterMain.main(
        testConfig({
          port,
          databaseUrl: Option.some(Redacted.make(database.url)),
          rabbitmqUrl: Option.some(Redacted.make(broker.url)),
          redisUrl: Option.some(Redacted.make(isolatedRedisUrl()))
        })
      ),
      port
    )
    cleanups.unshift(server.stop)
    expect((await send(server.baseUrl, "POST", `/v1/stock/${sku}/set`, { quantity: 4 })).status).toBe(200)

    // Neither stock-checker nor supplier-sync has ever run on this broker: their queues hold the
    // events (product.created for stock-checker, stock.updated for both) until they start.
    const connection = await amqp.connect(broker.url)
    cleanups.unshift(() => connection.close())
    const waiting = async (queue: string) => {
      const channel = await connection.createChannel()
      channel.on("error", () => undefined)
      try {
        return (await channel.checkQueue(queue)).messageCount
      } catch {
        return 0
      } finally {
        await channel.close().catch(() => undefined)
      }
    }
    await eventually(
      "the events wait in invkit.stock-checker and invkit.supplier-sync",
      async () =>
        (await waiting("invkit.stock-checker")) === 2 && (await waiting("invkit.supplier-sync")) === 1
          ? true
          : undefined,
      15_000
    )
  }, 60_000)
})
