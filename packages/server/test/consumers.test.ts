/**
 * The services' consumers on the real broker and database: inbound sales and receipts apply once
 * however often they are delivered; invalid or impossible ones, other types, a routing key that
 * is not the type and an id reused for another event end in the dead-letter queue with a short
 * reason while the consumer keeps going; failing handlers are retried for a bounded time and
 * never loop; stock.updated opens restock orders (once) and drops cache entries, and so does an
 * import's stock.imported for every level it lists; an operator's
 * redrive puts dead letters back, and they apply once.
 */
import { Readable } from "node:stream"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Event, Import, Inventory, openInventory, Product, Restock, Stock, Store } from "@invkit/sdk"
import type * as amqp from "amqplib"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StockCache } from "../src/infra/cache.js"
import { type Consumer, EventBus } from "../src/infra/events.js"
import * as RabbitMq from "../src/infra/rabbitmq.js"
import { PermanentFailure, type RetryPolicy } from "../src/infra/redelivery.js"
import * as RedisCache from "../src/infra/redisCache.js"
import * as StockChecker from "../src/stockChecker/consumers.js"
import * as StockUpdater from "../src/stockUpdater/consumers.js"
import * as SupplierSync from "../src/supplierSync/consumers.js"
import {
  deleteQueuesAfterwards,
  drainQueue,
  eventually,
  freshDatabase,
  ledgerOf,
  postgresInventory,
  RABBITMQ_URL,
  REDIS_URL,
  runId,
  servicesReachable,
  testChannel
} from "./eventFixtures.js"
import { runBin } from "./utils.js"

const RETRY: RetryPolicy = { retryFor: "1 second", firstDelay: "50 millis", maxDelay: "200 millis" }
const bus = RabbitMq.layer(RABBITMQ_URL, { retry: RETRY })

/** Puts a message straight into a consumer's queue, as the exchange would, confirmed. */
const deliver = (channel: amqp.ConfirmChannel, consumerName: string, body: unknown, messageId: string) =>
  Effect.promise(() => {
    channel.sendToQueue(
      RabbitMq.queuesOf(consumerName).main,
      Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
      { persistent: true, contentType: RabbitMq.CONTENT_TYPE, messageId }
    )
    return channel.waitForConfirms()
  })

const inbound = (type: "product.sold" | "product.received", id: string, data: unknown): Event.CloudEvent => ({
  specversion: "1.0",
  id,
  source: "till-system",
  type,
  time: new Date().toISOString(),
  datacontenttype: "application/json",
  data
})

/** A `stock.updated` as the relay publishes it, with `data` replaced by `data` when given. */
const stockUpdated = (id: string, sku: string, data?: unknown): Event.CloudEvent => ({
  specversion: "1.0",
  id,
  source: "invkit",
  type: "stock.updated",
  time: new Date().toISOString(),
  subject: sku,
  datacontenttype: "application/json",
  data: data ?? {
    sku,
    location: "default",
    delta: -1,
    onHand: 2,
    version: 2,
    reason: "sale",
    reference: null,
    actor: null,
    movementId: 2,
    at: new Date().toISOString()
  }
})

/** The consumers of a service under a name of this run's own, so no other test or service shares the queue. */
const renamed = (consumer: Consumer, name: string): Consumer => ({ ...consumer, name })

const onHand = (sku: string) =>
  Effect.flatMap(Stock.Stock, (stock) => stock.level(sku)).pipe(
    Effect.map((level) => level.onHand),
    Effect.orDie
  )

const deadLetters = (channel: amqp.Channel, consumerName: string, expected: number) =>
  Effect.gen(function* () {
    const collected: Array<amqp.GetMessage> = []
    yield* eventually(
      `${expected} dead letters in ${RabbitMq.queuesOf(consumerName).dead}`,
      Effect.map(drainQueue(channel, RabbitMq.queuesOf(consumerName).dead), (messages) => {
        collected.push(...messages)
        return collected.length >= expected
      })
    )
    return collected
  })

/**
 * A product at or below its reorder point with no open order, so the next stock.updated that
 * supplier-sync evaluates opens one. (The write itself evaluated the rule: that order is cancelled.)
 */
const runningLow = (sku: string) =>
  Effect.gen(function* () {
    yield* (yield* Product.Products).add({ sku, name: "Runs low", reorderPoint: 5, reorderQuantity: 20 })
    yield* (yield* Stock.Stock).set({ sku, quantity: 3 })
    const orders = yield* Restock.RestockOrders
    const opened = yield* orders.list({ sku })
    yield* Effect.forEach(opened.items, (order) => orders.cancel(order.id), { discard: true })
  })

/** A product with 10 in stock, and stock-updater's consumer on the queue `name`: the test's channel. */
const updaterWithStock = (name: string, sku: string) =>
  Effect.gen(function* () {
    yield* (yield* Product.Products).add({ sku, name: `Inbound ${sku}` })
    yield* (yield* Stock.Stock).set({ sku, quantity: 10 })
    const [updater] = yield* StockUpdater.consumers
    yield* (yield* EventBus).consume(renamed(updater!, name))
    return yield* testChannel
  })

/** A Redis cache with keys of this test's own. */
const testCache = (label: string) =>
  RedisCache.layer({ url: REDIS_URL, ttlSeconds: 60, keyPrefix: `test:${runId}:${label}:` })

const reasonOf = (message: amqp.GetMessage) =>
  String(message.properties.headers?.[RabbitMq.DEATH_REASON_HEADER])

describe.skipIf(!(await servicesReachable("postgres", "rabbitmq", "redis")))(
  "consumers (PostgreSQL, RabbitMQ)",
  () => {
    it.scopedLive(
      "stock-updater: a sale delivered twice removes stock once; bad ones are dead-lettered; it keeps going",
      () =>
        Effect.gen(function* () {
          const name = `test-stock-updater-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `INB-${runId}`
            const channel = yield* updaterWithStock(name, sku)

            const sale = inbound("product.sold", `sale-${runId}`, { sku, quantity: 3, reference: "ORDER-1" })
            yield* deliver(channel, name, sale, sale.id)
            yield* deliver(channel, name, sale, sale.id)
            const malformed = inbound("product.sold", `bad-${runId}`, { sku, quantity: -2 })
            yield* deliver(channel, name, malformed, malformed.id)
            yield* deliver(channel, name, "{ this is not json", `garbage-${runId}`)
            const oversold = inbound("product.sold", `oversold-${runId}`, { sku, quantity: 1000 })
            yield* deliver(channel, name, oversold, oversold.id)
            const unknownProduct = inbound("product.received", `unknown-${runId}`, {
              sku: `NOPE-${runId}`,
              quantity: 1
            })
            yield* deliver(channel, name, unknownProduct, unknownProduct.id)
            // Text PostgreSQL cannot store (a NUL) or a terminal should not print, in the envelope:
            // invalid at once, not a store failure retried for minutes.
            const nulId = inbound("product.received", `nul-${runId}\u0000`, { sku, quantity: 1 })
            yield* deliver(channel, name, nulId, `nul-id-${runId}`)
            const escapeSource = {
              ...inbound("product.received", `esc-${runId}`, { sku, quantity: 1 }),
              source: "till\u001b[2J"
            }
            yield* deliver(channel, name, escapeSource, escapeSource.id)
            // Nested 3,000 levels deep: refused before anything recurses into it (which would
            // overflow the stack, a failure retried for minutes instead of refused once).
            const deep = `{"specversion":"1.0","id":"deep-${runId}","source":"till","type":"product.received","data":{"sku":"${sku}","quantity":1,"reference":${"[".repeat(3000)}${"]".repeat(3000)}}}`
            yield* deliver(channel, name, deep, `deep-${runId}`)
            const notUtf8 = Buffer.concat([
              Buffer.from(
                JSON.stringify(
                  inbound("product.received", `latin1-${runId}`, { sku, quantity: 1, reference: "Caf" })
                ).slice(0, -3)
              ),
              Buffer.from([0xe9]),
              Buffer.from('"}}')
            ])
            yield* deliver(channel, name, notUtf8, `latin1-${runId}`)
            const receipt = inbound("product.received", `receipt-${runId}`, { sku, quantity: 5 })
            yield* deliver(channel, name, receipt, receipt.id)

            // Deliveries are handled in order: once the receipt is in, everything before it was handled.
            yield* eventually(
              "the receipt after the bad messages is applied",
              Effect.map(onHand(sku), (n) => n === 12)
            )

            const sql = yield* SqlClient.SqlClient
            const movements = yield* sql<{ reason: string; delta: number; idempotencyKey: string }>`
          select reason, delta, idempotency_key from stock_movements where sku = ${sku} order by id`
            expect(movements).toEqual([
              { reason: "count", delta: 10, idempotencyKey: null },
              { reason: "sale", delta: -3, idempotencyKey: sale.id },
              { reason: "receipt", delta: 5, idempotencyKey: receipt.id }
            ])
            const inbox = yield* sql<{
              eventId: string
            }>`select event_id from inbox where consumer = ${StockUpdater.CONSUMER_NAME}`
            expect(inbox.map((row) => row.eventId).sort()).toEqual([receipt.id, sale.id].sort())

            const dead = yield* deadLetters(channel, name, 8)
            const reasons = Object.fromEntries(
              dead.map((message) => [message.properties.messageId, reasonOf(message)])
            )
            expect(reasons[`nul-id-${runId}`]).toBe(
              "not a CloudEvents 1.0 JSON envelope: id: must not contain control characters (tabs, line breaks, escape sequences, bidirectional overrides, unpaired surrogates)"
            )
            expect(reasons[escapeSource.id]).toBe(
              "not a CloudEvents 1.0 JSON envelope: source: must not contain control characters (tabs, line breaks, escape sequences, bidirectional overrides, unpaired surrogates)"
            )
            expect(reasons[`deep-${runId}`]).toBe(
              "not a CloudEvents 1.0 JSON envelope: input: nests deeper than 32 levels; no request or event of this API needs that"
            )
            expect(reasons[`latin1-${runId}`]).toBe(
              "not a CloudEvents 1.0 JSON envelope: input: is not valid UTF-8; send JSON encoded in UTF-8"
            )
            expect(reasons[malformed.id]).toMatch(/invalid data.*quantity/s)
            expect(reasons[`garbage-${runId}`]).toMatch(/not a CloudEvents 1.0 JSON envelope/)
            expect(reasons[oversold.id]).toMatch(/InsufficientStock/)
            expect(reasons[unknownProduct.id]).toMatch(/ProductNotFound/)
            // Permanent failures skip the retries: each was tried once.
            for (const message of dead) expect(message.properties.headers?.[RabbitMq.ATTEMPT_HEADER]).toBe(1)
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "a failing handler is retried with growing delays until the retry time is up, then dead-lettered: never loops",
      () =>
        Effect.gen(function* () {
          const flaky = `test-flaky-${runId}`
          const broken = `test-broken-${runId}`
          yield* deleteQueuesAfterwards(flaky)
          yield* deleteQueuesAfterwards(broken)
          yield* Effect.gen(function* () {
            const eventBus = yield* EventBus
            const channel = yield* testChannel
            const calls = { flaky: [] as Array<number>, broken: [] as Array<number> }
            const handled: Array<string> = []
            yield* eventBus.consume({
              name: flaky,
              types: ["product.received"],
              handle: (event) =>
                Effect.suspend(() => {
                  calls.flaky.push(Date.now())
                  if (calls.flaky.length < 3) return Effect.fail(new Error("database briefly away"))
                  handled.push(event.id)
                  return Effect.void
                })
            })
            yield* eventBus.consume({
              name: broken,
              types: ["product.received"],
              handle: () =>
                Effect.suspend(() => {
                  calls.broken.push(Date.now())
                  return Effect.die(new Error("a bug in the handler"))
                })
            })
            const event = inbound("product.received", `retry-${runId}`, { sku: "ANY", quantity: 1 })
            yield* deliver(channel, flaky, event, event.id)
            yield* deliver(channel, broken, event, event.id)

            yield* eventually(
              "the flaky handler succeeded",
              Effect.sync(() => handled.length === 1)
            )
            expect(calls.flaky).toHaveLength(3)
            const [dead] = yield* deadLetters(channel, broken, 1)
            expect(reasonOf(dead!)).toMatch(/still failing after \d+ attempts: .*a bug in the handler/)
            const attempts = calls.broken.length
            expect(dead!.properties.headers?.[RabbitMq.ATTEMPT_HEADER]).toBe(attempts)
            // Waits of 50, 100, 200, 200, … ms within one second: more than three attempts, fewer than twenty.
            expect(attempts).toBeGreaterThan(3)
            expect(attempts).toBeLessThan(20)
            // Dead-lettered once the retry time had passed since the first failure, not before.
            expect(calls.broken.at(-1)! - calls.broken[0]!).toBeGreaterThanOrEqual(950)
            yield* Effect.sleep("500 millis") // a loop would call it again now
            expect(calls.broken).toHaveLength(attempts)
            expect(yield* drainQueue(channel, RabbitMq.queuesOf(flaky).dead)).toEqual([])
          }).pipe(Effect.scoped, Effect.provide(bus))
        })
    )

    it.scopedLive(
      "supplier-sync: stock.updated opens a restock order, and a redelivery changes nothing",
      () =>
        Effect.gen(function* () {
          const name = `test-supplier-sync-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `LOW-${runId}`
            yield* runningLow(sku)

            const [consumer] = yield* SupplierSync.consumers
            yield* (yield* EventBus).consume(renamed(consumer!, name))
            const sql = yield* SqlClient.SqlClient
            const [row] = yield* sql<{
              eventId: string
              type: string
              subject: string
              data: unknown
              createdAt: Date
            }>`
          select event_id::text as event_id, type, subject, data, created_at from outbox
          where type = 'stock.updated' and subject = ${sku}`
            const event = Event.toCloudEvent(row!)
            const channel = yield* testChannel
            yield* deliver(channel, name, event, event.id)
            yield* deliver(channel, name, event, event.id)

            const openOrders = sql<{ count: number }>`
          select count(*)::int as count from restock_orders where sku = ${sku} and status in ('draft', 'submitted')`
            yield* eventually(
              "a restock order is open",
              Effect.map(openOrders, ([r]) => r!.count === 1)
            )
            yield* eventually(
              "both deliveries were handled",
              Effect.map(
                Effect.promise(() => channel.checkQueue(RabbitMq.queuesOf(name).main)),
                (queue) => queue.messageCount === 0
              )
            )
            yield* Effect.sleep("300 millis")
            const [all] = yield* sql<{ orders: number; inbox: number }>`
          select (select count(*)::int from restock_orders where sku = ${sku}) as orders,
                 (select count(*)::int from inbox where consumer = ${SupplierSync.CONSUMER_NAME}) as inbox`
            // The cancelled one and the one the consumer opened.
            expect(all).toEqual({ orders: 2, inbox: 1 })
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "supplier-sync: a stock.updated that says the level is above its reorder point is acknowledged without a transaction",
      () =>
        Effect.gen(function* () {
          const name = `test-supplier-sync-above-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `ABOVE-${runId}`
            // Low in the database, so only the event's word keeps the rule from running.
            yield* runningLow(sku)
            const [consumer] = yield* SupplierSync.consumers
            yield* (yield* EventBus).consume(renamed(consumer!, name))
            const sql = yield* SqlClient.SqlClient
            const data = (available: number) => ({
              ...(stockUpdated("x", sku).data as object),
              onHand: available,
              available,
              reorderPoint: 5
            })
            const channel = yield* testChannel
            const above = stockUpdated(`above-${runId}`, sku, data(6))
            yield* deliver(channel, name, above, above.id)
            yield* eventually(
              "the event was taken off the queue",
              Effect.map(
                Effect.promise(() => channel.checkQueue(RabbitMq.queuesOf(name).main)),
                (queue) => queue.messageCount === 0
              )
            )
            yield* Effect.sleep("300 millis")
            const state = sql<{ orders: number; inbox: number }>`
              select (select count(*)::int from restock_orders where sku = ${sku} and status = 'draft') as orders,
                     (select count(*)::int from inbox where consumer = ${SupplierSync.CONSUMER_NAME}
                        and event_id = ${above.id}) as inbox`
            expect((yield* state)[0]).toEqual({ orders: 0, inbox: 0 })
            // At the point, the rule runs and opens the order.
            const at = stockUpdated(`at-${runId}`, sku, data(5))
            yield* deliver(channel, name, at, at.id)
            yield* eventually(
              "a restock order is open",
              Effect.map(state, ([r]) => r!.orders === 1)
            )
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "an import's stock.imported events drop stock-checker's cached answers of the SKUs they list, and supplier-sync opens an order for each level left at or below its point, once",
      () =>
        Effect.gen(function* () {
          const checkerName = `test-imported-checker-${runId}`
          const syncName = `test-imported-sync-${runId}`
          yield* deleteQueuesAfterwards(checkerName)
          yield* deleteQueuesAfterwards(syncName)
          const url = yield* freshDatabase
          yield* Effect.gen(function* () {
            const inventory = yield* Effect.acquireRelease(
              Effect.promise(() => openInventory({ databaseUrl: url })),
              (opened) => Effect.promise(() => opened.close())
            )
            // 2,100 counts: three events (1,000 levels each at most); every 100th level runs low.
            const sku = (i: number) => `IMP-${runId}-${String(i).padStart(4, "0")}`
            const products = ["sku,name,reorderPoint,reorderQuantity"]
            const counts = ["sku,quantity"]
            for (let i = 0; i < 2_100; i++) {
              products.push(`${sku(i)},Part ${i},5,20`)
              counts.push(`${sku(i)},${i % 100 === 0 ? 2 : 50}`)
            }
            const low = Array.from({ length: 21 }, (_, i) => sku(i * 100))
            const importText = (lines: ReadonlyArray<string>) =>
              Effect.promise(() => Import.importRows(inventory, Readable.from([`${lines.join("\n")}\n`])))
            expect((yield* importText(products)).status).toBe("applied")
            const imported = yield* importText(counts)
            expect(imported).toMatchObject({ status: "applied", applied: 2_100 })

            // The importer ran the rule itself after its commit: those orders are cancelled, so the
            // orders open afterwards are the consumer's.
            const sql = yield* SqlClient.SqlClient
            const orders = yield* Restock.RestockOrders
            const byImporter = yield* sql<{ id: number; sku: string }>`
              select id, sku from restock_orders where status = 'draft' order by sku`
            expect(byImporter.map((order) => order.sku)).toEqual(low)
            yield* Effect.forEach(byImporter, (order) => orders.cancel(order.id), { discard: true })

            // Cached answers for a SKU in the first and in the last event, and one no import touched.
            const cache = yield* StockCache
            yield* eventually("the cache connected", cache.ready)
            yield* Effect.sleep("100 millis") // its first epoch bump follows the connection
            const watched = [sku(5), sku(2_099), `UNTOUCHED-${runId}`]
            for (const watchedSku of watched) {
              yield* cache.through({ name: "level", sku: watchedSku }, Effect.succeed("before"))
            }

            const [checker] = yield* StockChecker.consumers
            const [syncer] = yield* SupplierSync.consumers
            const bus = yield* EventBus
            yield* bus.consume(renamed(checker!, checkerName))
            yield* bus.consume(renamed(syncer!, syncName))
            const rows = yield* sql<{
              eventId: string
              type: string
              subject: string
              data: unknown
              createdAt: Date
            }>`
              select event_id::text as event_id, type, subject, data, created_at from outbox
              where type = 'stock.imported' order by id`
            expect(rows).toHaveLength(3)
            expect(rows.filter((row) => row.type === "stock.updated")).toEqual([])
            const channel = yield* testChannel
            for (const row of rows) {
              const event = Event.toCloudEvent(row)
              yield* deliver(channel, checkerName, event, event.id)
              yield* deliver(channel, syncName, event, event.id)
            }
            // A redelivery of the first changes nothing.
            const first = Event.toCloudEvent(rows[0]!)
            yield* deliver(channel, syncName, first, first.id)

            const cached = (watchedSku: string) =>
              cache.through({ name: "level", sku: watchedSku }, Effect.succeed("after"))
            yield* eventually(
              "the listed SKUs' cached answers are dropped",
              Effect.map(Effect.all([cached(sku(5)), cached(sku(2_099))]), (answers) =>
                answers.every((answer) => answer === "after")
              )
            )
            const openOrders = sql<{ sku: string }>`
              select sku from restock_orders where status = 'draft' order by sku`
            yield* eventually(
              "an order is open for every level left low",
              Effect.map(openOrders, (open) => open.length === low.length)
            )
            yield* eventually(
              "every delivery was handled",
              Effect.map(
                Effect.promise(() => channel.checkQueue(RabbitMq.queuesOf(syncName).main)),
                (queue) => queue.messageCount === 0
              )
            )
            yield* Effect.sleep("300 millis")
            expect((yield* openOrders).map((order) => order.sku)).toEqual(low)
            const [inbox] = yield* sql<{ events: number }>`
              select count(*)::int as events from inbox where consumer = ${SupplierSync.CONSUMER_NAME}`
            expect(inbox!.events).toBe(3)
            // Not listed by the import: still cached.
            expect(yield* cached(`UNTOUCHED-${runId}`)).toBe("before")
            expect(yield* drainQueue(channel, RabbitMq.queuesOf(syncName).dead)).toEqual([])
            expect(yield* drainQueue(channel, RabbitMq.queuesOf(checkerName).dead)).toEqual([])
          }).pipe(
            Effect.scoped,
            Effect.provide(
              Layer.mergeAll(Layer.orDie(Inventory.layer(Store.postgres(url))), bus, testCache("imported"))
            )
          )
        })
    )

    it.scopedLive("stock-checker: stock.updated drops the SKU's cached answers", () =>
      Effect.gen(function* () {
        const name = `test-stock-checker-${runId}`
        yield* deleteQueuesAfterwards(name)
        yield* Effect.gen(function* () {
          const cache = yield* StockCache
          yield* eventually("the cache connected", cache.ready)
          yield* Effect.sleep("100 millis") // its first epoch bump follows the connection
          const sku = `CACHED-${runId}`
          expect(yield* cache.through({ name: "level", sku }, Effect.succeed("before"))).toBe("before")
          expect(yield* cache.through({ name: "level", sku }, Effect.succeed("ignored"))).toBe("before")

          const [consumer] = yield* StockChecker.consumers
          yield* (yield* EventBus).consume(renamed(consumer!, name))
          const channel = yield* testChannel
          const event = stockUpdated(`changed-${runId}`, sku)
          yield* deliver(channel, name, event, event.id)
          yield* eventually(
            "the cached answer is dropped",
            Effect.map(
              cache.through({ name: "level", sku }, Effect.succeed("after")),
              (answer) => answer === "after"
            )
          )
        }).pipe(Effect.scoped, Effect.provide(Layer.merge(bus, testCache("checker"))))
      })
    )

    it.scopedLive(
      "stock-checker: events the broker sent ahead drop their SKUs in one Redis call; a bad one among them sends each alone",
      () =>
        Effect.gen(function* () {
          const names = [`test-stock-checker-batch-${runId}`, `test-stock-checker-batch-bad-${runId}`]
          for (const name of names) yield* deleteQueuesAfterwards(name)
          const batches: Array<number> = []
          // The Redis cache, with the sizes of its batched drops written down.
          const recording = Layer.effect(
            StockCache,
            Effect.map(StockCache, (cache) => ({
              ...cache,
              invalidate: (skus: string | ReadonlyArray<string>) =>
                Effect.zipRight(
                  Effect.sync(() => batches.push(typeof skus === "string" ? 1 : skus.length)),
                  cache.invalidate(skus)
                )
            }))
          ).pipe(Layer.provide(testCache("batch")))
          yield* Effect.gen(function* () {
            const cache = yield* StockCache
            yield* eventually("the cache connected", cache.ready)
            yield* Effect.sleep("100 millis") // its first epoch bump follows the connection
            const channel = yield* testChannel
            const [consumer] = yield* StockChecker.consumers

            /** Events queued before the consumer starts, so the broker sends them ahead together. */
            const burst = (name: string, badAt: number | undefined) =>
              Effect.gen(function* () {
                const skus = Array.from({ length: 12 }, (_, i) => `BATCH-${name}-${i}`)
                for (const sku of skus) yield* cache.through({ name: "level", sku }, Effect.succeed("before"))
                yield* Effect.promise(() =>
                  channel.assertQueue(RabbitMq.queuesOf(name).main, { durable: true })
                )
                for (const [i, sku] of skus.entries()) {
                  const event = stockUpdated(`${name}-${i}`, sku)
                  yield* deliver(channel, name, event, event.id)
                  if (i === badAt) {
                    const bad = stockUpdated(`${name}-bad`, sku, "hello")
                    yield* deliver(channel, name, bad, bad.id)
                  }
                }
                yield* (yield* EventBus).consume(renamed(consumer!, name))
                for (const sku of skus) {
                  yield* eventually(
                    `the cached answer of ${sku} is dropped`,
                    Effect.map(
                      cache.through({ name: "level", sku }, Effect.succeed("after")),
                      (answer) => answer === "after"
                    )
                  )
                }
              })

            yield* burst(names[0]!, undefined)
            expect(Math.max(...batches)).toBeGreaterThan(1)

            // The bad one fails the batch; then each is handled alone, and only it is dead-lettered.
            batches.length = 0
            yield* burst(names[1]!, 5)
            const [dead] = yield* deadLetters(channel, names[1]!, 1)
            expect(dead!.properties.messageId).toBe(`${names[1]}-bad`)
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(bus, recording)))
        })
    )

    it.scopedLive(
      "a batch the broker sent ahead is acknowledged with one frame, and no delivery is left unacknowledged",
      () =>
        Effect.gen(function* () {
          const name = `test-stock-checker-acks-${runId}`
          yield* deleteQueuesAfterwards(name)
          const channel = yield* testChannel
          // amqplib's own ack, counted (the broker is the real one): how many frames, and of which kind.
          let ackDefiner: { ack: amqp.Channel["ack"] } = Object.getPrototypeOf(channel)
          while (!Object.hasOwn(ackDefiner, "ack")) ackDefiner = Object.getPrototypeOf(ackDefiner)
          const ack = ackDefiner.ack
          const acks: Array<boolean> = []
          let lastAcked = 0
          ackDefiner.ack = function (this: amqp.Channel, message, allUpTo) {
            acks.push(allUpTo === true)
            lastAcked = Math.max(lastAcked, message.fields.deliveryTag)
            return ack.call(this, message, allUpTo)
          }
          yield* Effect.addFinalizer(() => Effect.sync(() => (ackDefiner.ack = ack)))
          const { main } = RabbitMq.queuesOf(name)
          yield* Effect.promise(() => channel.assertQueue(main, { durable: true }))
          const skus = Array.from({ length: 12 }, (_, i) => `ACKS-${runId}-${i}`)
          for (const [i, sku] of skus.entries()) {
            const event = stockUpdated(`${name}-${i}`, sku)
            yield* deliver(channel, name, event, event.id)
          }
          yield* Effect.gen(function* () {
            const [consumer] = yield* StockChecker.consumers
            yield* (yield* EventBus).consume(renamed(consumer!, name))
            // The consumer's channel is new: its deliveries are tagged 1, 2, … in the order they came.
            yield* eventually(
              "the last delivery acknowledged",
              Effect.sync(() => lastAcked === skus.length)
            )
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(bus, testCache("acks"))))
          // Fewer frames than events, at least one of them for a whole batch.
          expect(acks.length).toBeLessThan(skus.length)
          expect(acks).toContain(true)
          // The consumer's channel is closed: whatever it left unacknowledged is back in the queue.
          const { messageCount } = yield* Effect.promise(() => channel.checkQueue(main))
          expect(messageCount).toBe(0)
        })
    )

    it.scopedLive(
      "stock-updater: events the broker sent ahead apply in fewer transactions than events, in delivery order; a refused one among them is dead-lettered alone, the others applied once",
      () =>
        Effect.gen(function* () {
          const name = `test-stock-updater-batch-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const skus = [`UPB-A-${runId}`, `UPB-B-${runId}`]
            for (const sku of skus) {
              yield* (yield* Product.Products).add({ sku, name: `Batched ${sku}` })
              yield* (yield* Stock.Stock).set({ sku, quantity: 10 })
            }
            const [a, b] = skus as [string, string]
            const event = (
              type: "product.sold" | "product.received",
              tag: string,
              sku: string,
              quantity: number
            ) => inbound(type, `upb-${tag}-${runId}`, { sku, quantity })
            // Each level's changes only fit in this order: the last sale of each needs the receipt.
            const applied = [
              event("product.sold", "a1", a, 8),
              event("product.sold", "b1", b, 9),
              event("product.received", "a2", a, 5),
              event("product.received", "b2", b, 4),
              event("product.sold", "a3", a, 6),
              event("product.sold", "b3", b, 5)
            ]
            const oversold = event("product.sold", "oversold", a, 1000)
            const queued = [applied[0]!, applied[1]!, applied[0]!, applied[2]!, oversold, ...applied.slice(3)]
            const channel = yield* testChannel
            // Queued before the consumer starts, so the broker sends them ahead together.
            yield* Effect.promise(() => channel.assertQueue(RabbitMq.queuesOf(name).main, { durable: true }))
            for (const message of queued) yield* deliver(channel, name, message, message.id)
            const [updater] = yield* StockUpdater.consumers
            yield* (yield* EventBus).consume(renamed(updater!, name))

            const [dead] = yield* deadLetters(channel, name, 1)
            expect(dead!.properties.messageId).toBe(oversold.id)
            expect(reasonOf(dead!)).toMatch(/InsufficientStock/)
            yield* eventually(
              "every level reached its end",
              Effect.map(Effect.all(skus.map(onHand)), ([onA, onB]) => onA === 1 && onB === 0)
            )
            expect(yield* ledgerOf(a)).toEqual([
              { reason: "count", delta: 10 },
              { reason: "sale", delta: -8 },
              { reason: "receipt", delta: 5 },
              { reason: "sale", delta: -6 }
            ])
            expect(yield* ledgerOf(b)).toEqual([
              { reason: "count", delta: 10 },
              { reason: "sale", delta: -9 },
              { reason: "receipt", delta: 4 },
              { reason: "sale", delta: -5 }
            ])
            // now() is the start of the transaction that recorded a row: one value per transaction.
            const sql = yield* SqlClient.SqlClient
            const inbox = yield* sql<{ eventId: string; transactions: number }>`
              select event_id,
                     (select count(distinct processed_at)::int from inbox where consumer = ${StockUpdater.CONSUMER_NAME}) as transactions
              from inbox where consumer = ${StockUpdater.CONSUMER_NAME}`
            expect(inbox.map((row) => row.eventId).sort()).toEqual(applied.map((e) => e.id).sort())
            expect(inbox[0]!.transactions).toBeLessThan(applied.length)
            // Nothing more comes: the duplicate and the refused one were dropped, not retried.
            yield* Effect.sleep("300 millis")
            expect(yield* drainQueue(channel, RabbitMq.queuesOf(name).dead)).toEqual([])
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "stock-updater: a retry among first deliveries is handled where it stands, so a level's events keep their order",
      () =>
        Effect.gen(function* () {
          const name = `test-stock-updater-order-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `UPO-${runId}`
            yield* (yield* Product.Products).add({ sku, name: "Ordered" })
            yield* (yield* Stock.Stock).set({ sku, quantity: 10 })
            const receipt = inbound("product.received", `upo-receipt-${runId}`, { sku, quantity: 5 })
            // Its second attempt (a copy back from the retry queue): it fits only after the receipt.
            const retried = inbound("product.sold", `upo-retried-${runId}`, { sku, quantity: 15 })
            const last = inbound("product.sold", `upo-last-${runId}`, { sku, quantity: 1 })
            const channel = yield* testChannel
            yield* Effect.promise(() => channel.assertQueue(RabbitMq.queuesOf(name).main, { durable: true }))
            yield* deliver(channel, name, receipt, receipt.id)
            yield* Effect.promise(() => {
              channel.sendToQueue(RabbitMq.queuesOf(name).main, Buffer.from(JSON.stringify(retried)), {
                persistent: true,
                contentType: RabbitMq.CONTENT_TYPE,
                messageId: retried.id,
                headers: { [RabbitMq.ATTEMPT_HEADER]: 2, [RabbitMq.ROUTING_KEY_HEADER]: retried.type }
              })
              return channel.waitForConfirms()
            })
            yield* deliver(channel, name, last, last.id)
            const [updater] = yield* StockUpdater.consumers
            yield* (yield* EventBus).consume(renamed(updater!, name))

            // In order: 10 + 5 - 15 = 0, and the last sale finds nothing left.
            const [dead] = yield* deadLetters(channel, name, 1)
            expect(dead!.properties.messageId).toBe(last.id)
            expect(yield* ledgerOf(sku)).toEqual([
              { reason: "count", delta: 10 },
              { reason: "receipt", delta: 5 },
              { reason: "sale", delta: -15 }
            ])
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "supplier-sync: stock.updated events the broker sent ahead are recorded and evaluated in fewer transactions than events; a bad one among them is dead-lettered alone, each order opened once",
      () =>
        Effect.gen(function* () {
          const name = `test-supplier-sync-batch-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const skus = Array.from({ length: 6 }, (_, i) => `SSB-${i}-${runId}`)
            for (const sku of skus) yield* runningLow(sku)
            const events = skus.map((sku) => stockUpdated(`ssb-${sku}`, sku))
            const bad = stockUpdated(`ssb-bad-${runId}`, skus[0]!, "hello")
            // A level above its point (as the event says): neither an inbox row nor an evaluation.
            const above = stockUpdated(`ssb-above-${runId}`, skus[1]!, {
              ...(events[1]!.data as object),
              available: 9,
              reorderPoint: 5
            })
            const queued = [events[0]!, events[1]!, above, events[0]!, bad, ...events.slice(2), events[3]!]
            const channel = yield* testChannel
            yield* Effect.promise(() => channel.assertQueue(RabbitMq.queuesOf(name).main, { durable: true }))
            for (const message of queued) yield* deliver(channel, name, message, message.id)
            const [sync] = yield* SupplierSync.consumers
            yield* (yield* EventBus).consume(renamed(sync!, name))

            const [dead] = yield* deadLetters(channel, name, 1)
            expect(dead!.properties.messageId).toBe(bad.id)
            const sql = yield* SqlClient.SqlClient
            const open = sql<{ sku: string; count: number }>`
              select sku, count(*)::int as count from restock_orders
              where sku = any(${skus}::text[]) and status = 'draft' group by sku order by sku`
            yield* eventually(
              "an order is open for every SKU",
              Effect.map(open, (rows) => rows.length === skus.length)
            )
            yield* Effect.sleep("300 millis")
            expect(yield* open).toEqual([...skus].sort().map((sku) => ({ sku, count: 1 })))
            // One restock.order.created per SKU from the consumer, besides the write's own (cancelled).
            const created = yield* sql<{ count: number }>`
              select count(*)::int as count from outbox
              where type = 'restock.order.created' and subject = any(${skus}::text[])`
            expect(created).toEqual([{ count: 2 * skus.length }])
            const inbox = yield* sql<{ eventId: string; transactions: number }>`
              select event_id,
                     (select count(distinct processed_at)::int from inbox where consumer = ${SupplierSync.CONSUMER_NAME}) as transactions
              from inbox where consumer = ${SupplierSync.CONSUMER_NAME}`
            expect(inbox.map((row) => row.eventId).sort()).toEqual(events.map((e) => e.id).sort())
            // now() is the start of the transaction that recorded a row: one value per transaction.
            expect(inbox[0]!.transactions).toBeLessThan(events.length)
            expect(yield* drainQueue(channel, RabbitMq.queuesOf(name).dead)).toEqual([])
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "stock-updater: only product.received and product.sold change stock; another type, or a routing key that is not the type, is dead-lettered with the reason",
      () =>
        Effect.gen(function* () {
          const name = `test-inbound-types-${runId}`
          const exchange = `test.inbound.${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `TYPES-${runId}`
            const channel = yield* updaterWithStock(name, sku)
            // A topic exchange of this test's own, routing everything to the consumer's queue, so no
            // other queue bound to inventory.events sees these messages.
            yield* Effect.promise(async () => {
              await channel.assertExchange(exchange, "topic", { durable: false, autoDelete: true })
              await channel.bindQueue(RabbitMq.queuesOf(name).main, exchange, "#")
            })
            const publish = (routingKey: string, event: Event.CloudEvent) =>
              Effect.promise(() => {
                channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(event)), {
                  persistent: true,
                  contentType: RabbitMq.CONTENT_TYPE,
                  messageId: event.id
                })
                return channel.waitForConfirms()
              })
            const movement = { sku, quantity: 5 }
            const wrongTypes = [
              "stock.updated",
              "restock.order.created",
              "PRODUCT.SOLD",
              "",
              "product.teleported"
            ]
            // A sender that mislabels its events, under an inbound routing key.
            for (const [i, type] of wrongTypes.entries()) {
              yield* publish("product.received", {
                ...inbound("product.received", `type-${i}-${runId}`, movement),
                type
              })
            }
            // An unknown type under its own routing key, as a binding of "#" would route it.
            yield* publish("product.teleported", {
              ...inbound("product.received", `own-key-${runId}`, movement),
              type: "product.teleported"
            })
            // An inbound type under the other one's routing key.
            yield* publish("product.sold", inbound("product.received", `mismatch-${runId}`, movement))
            const receipt = inbound("product.received", `types-receipt-${runId}`, { sku, quantity: 1 })
            yield* publish("product.received", receipt)

            yield* eventually(
              "the receipt after the refused messages is applied",
              Effect.map(onHand(sku), (n) => n === 11)
            )
            expect(yield* ledgerOf(sku)).toEqual([
              { reason: "count", delta: 10 },
              { reason: "receipt", delta: 1 }
            ])

            const dead = yield* deadLetters(channel, name, wrongTypes.length + 2)
            const reasons = Object.fromEntries(
              dead.map((message) => [message.properties.messageId, reasonOf(message)])
            )
            expect(reasons[`type-0-${runId}`]).toBe(
              `type "stock.updated" is not one ${name} takes (product.received, product.sold)`
            )
            expect(reasons[`type-1-${runId}`]).toMatch(/^type "restock.order.created" is not one/)
            expect(reasons[`type-2-${runId}`]).toMatch(/^type "PRODUCT.SOLD" is not one/)
            expect(reasons[`type-3-${runId}`]).toBe(
              "not a CloudEvents 1.0 JSON envelope: type: must not be empty"
            )
            expect(reasons[`type-4-${runId}`]).toMatch(/^type "product.teleported" is not one/)
            expect(reasons[`own-key-${runId}`]).toMatch(/^type "product.teleported" is not one/)
            expect(reasons[`mismatch-${runId}`]).toBe(
              `routing key "product.sold" does not match the event's type "product.received"`
            )
            for (const message of dead) {
              expect(message.properties.headers?.[RabbitMq.ATTEMPT_HEADER]).toBe(1)
              expect(message.properties.headers?.[RabbitMq.ROUTING_KEY_HEADER]).toBe(
                message.properties.messageId === `own-key-${runId}`
                  ? "product.teleported"
                  : message.properties.messageId === `mismatch-${runId}`
                    ? "product.sold"
                    : "product.received"
              )
            }
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "stock-updater: an event id used again for other data is dead-lettered; the same event again changes nothing",
      () =>
        Effect.gen(function* () {
          const name = `test-reused-id-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `REUSE-${runId}`
            const channel = yield* updaterWithStock(name, sku)

            const first = inbound("product.received", `reused-${runId}`, { sku, quantity: 5 })
            yield* deliver(channel, name, first, first.id)
            // The sender's own retry: the same type and data, sent again later.
            const retried = { ...first, time: new Date(Date.now() + 60_000).toISOString() }
            yield* deliver(channel, name, retried, retried.id)
            const otherData = { ...first, data: { sku, quantity: 7 } }
            yield* deliver(channel, name, otherData, otherData.id)
            const otherType = { ...first, type: "product.sold" }
            yield* deliver(channel, name, otherType, otherType.id)
            const marker = inbound("product.received", `reused-marker-${runId}`, { sku, quantity: 1 })
            yield* deliver(channel, name, marker, marker.id)

            yield* eventually(
              "the marker after the reused ids is applied",
              Effect.map(onHand(sku), (n) => n === 16)
            )
            expect(yield* ledgerOf(sku)).toEqual([
              { reason: "count", delta: 10 },
              { reason: "receipt", delta: 5 },
              { reason: "receipt", delta: 1 }
            ])
            const dead = yield* deadLetters(channel, name, 2)
            expect(dead).toHaveLength(2)
            for (const message of dead) {
              expect(message.properties.messageId).toBe(first.id)
              expect(reasonOf(message)).toMatch(
                new RegExp(
                  `^product\\.(received|sold) ${first.id}: this id was already used for another event`
                )
              )
            }
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        })
    )

    it.scopedLive(
      "stock-checker and supplier-sync: malformed stock.updated messages and other types are dead-lettered with a short reason, changing nothing, and both keep going",
      () =>
        Effect.gen(function* () {
          const checkerName = `test-malformed-checker-${runId}`
          const syncName = `test-malformed-sync-${runId}`
          yield* deleteQueuesAfterwards(checkerName)
          yield* deleteQueuesAfterwards(syncName)
          yield* Effect.gen(function* () {
            const sku = `MALFORMED-${runId}`
            yield* runningLow(sku)
            const cache = yield* StockCache
            yield* eventually("the cache connected", cache.ready)
            yield* Effect.sleep("100 millis") // its first epoch bump follows the connection
            expect(yield* cache.through({ name: "level", sku }, Effect.succeed("before"))).toBe("before")

            const [checker] = yield* StockChecker.consumers
            const [sync] = yield* SupplierSync.consumers
            const eventBus = yield* EventBus
            yield* eventBus.consume(renamed(checker!, checkerName))
            yield* eventBus.consume(renamed(sync!, syncName))
            const channel = yield* testChannel
            const valid = stockUpdated(`valid-${runId}`, sku)
            const bad = {
              hello: stockUpdated(`hello-${runId}`, sku, "hello"),
              noSku: stockUpdated(`no-sku-${runId}`, sku, { ...(valid.data as object), sku: undefined }),
              hugeSku: stockUpdated(`huge-sku-${runId}`, sku, {
                ...(valid.data as object),
                sku: "A".repeat(1_000_000)
              }),
              // Valid data under a type they do not take: neither may read it as stock.updated.
              otherType: { ...stockUpdated(`other-type-${runId}`, sku), type: "stock.teleported" }
            }
            for (const name of [checkerName, syncName]) {
              for (const event of Object.values(bad)) yield* deliver(channel, name, event, event.id)
            }
            const expected = {
              [bad.hello.id]:
                `stock.updated ${bad.hello.id} has invalid data: data: must be an object with sku, location, delta, onHand and version`,
              [bad.noSku.id]: `stock.updated ${bad.noSku.id} has invalid data: data.sku: is required`,
              [bad.hugeSku.id]:
                `stock.updated ${bad.hugeSku.id} has invalid data: data.sku: must be at most 64 characters`
            }
            for (const name of [checkerName, syncName]) {
              const dead = yield* deadLetters(channel, name, 4)
              const reasons = Object.fromEntries(
                dead.map((message) => [message.properties.messageId, reasonOf(message)])
              )
              expect(reasons).toEqual({
                ...expected,
                [bad.otherType.id]: `type "stock.teleported" is not one ${name} takes (${
                  name === checkerName
                    ? "stock.updated, stock.imported, stock.reserved, stock.reservation.updated, stock.reservation.released, stock.reservation.fulfilled, product.created, product.updated, product.archived, product.imported"
                    : "stock.updated, stock.imported"
                })`
              })
            }
            // Nothing acted on them: the cached answer stands and no order was opened.
            expect(yield* cache.through({ name: "level", sku }, Effect.succeed("after"))).toBe("before")
            const sql = yield* SqlClient.SqlClient
            const openOrders = sql<{ count: number }>`
              select count(*)::int as count from restock_orders where sku = ${sku} and status in ('draft', 'submitted')`
            expect(yield* openOrders).toEqual([{ count: 0 }])

            for (const name of [checkerName, syncName]) yield* deliver(channel, name, valid, valid.id)
            yield* eventually(
              "supplier-sync opened an order for the valid event",
              Effect.map(openOrders, ([row]) => row!.count === 1)
            )
            yield* eventually(
              "stock-checker dropped the cached answer for the valid event",
              Effect.map(
                cache.through({ name: "level", sku }, Effect.succeed("after")),
                (answer) => answer === "after"
              )
            )
            // A hold changes reserved and available: its event drops the cached answer too, and a
            // malformed one is dead-lettered naming the field.
            const reserved = (id: string, data: Record<string, unknown>): Event.CloudEvent => ({
              ...stockUpdated(id, sku),
              type: "stock.reserved",
              data
            })
            const hold = {
              reservationId: 1,
              sku,
              location: "default",
              quantity: 2,
              fulfilled: 0,
              reference: "cart-1",
              status: "active",
              expiresAt: null,
              reserved: 2,
              onHand: 3,
              version: 3,
              actor: null,
              at: new Date().toISOString()
            }
            const noSku = reserved(`hold-no-sku-${runId}`, { ...hold, sku: undefined })
            yield* deliver(channel, checkerName, noSku, noSku.id)
            const [deadHold] = yield* deadLetters(channel, checkerName, 1)
            expect(reasonOf(deadHold!)).toBe(
              `stock.reserved ${noSku.id} has invalid data: data.sku: is required`
            )
            const validHold = reserved(`hold-${runId}`, hold)
            yield* deliver(channel, checkerName, validHold, validHold.id)
            yield* eventually(
              "stock-checker dropped the cached answer for the hold",
              Effect.map(
                cache.through({ name: "level", sku }, Effect.succeed("held")),
                (answer) => answer === "held"
              )
            )
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.mergeAll(postgresInventory(), bus, testCache("malformed")))
          )
        })
    )

    it.scopedLive(
      "inv-server events redrive moves the dead letters back to their queue, and each event applies once",
      () =>
        Effect.gen(function* () {
          const name = `test-redrive-${runId}`
          yield* deleteQueuesAfterwards(name)
          yield* Effect.gen(function* () {
            const sku = `REDRIVE-${runId}`
            const [updater] = yield* StockUpdater.consumers
            yield* (yield* EventBus).consume(renamed(updater!, name))
            const channel = yield* testChannel
            const queues = RabbitMq.queuesOf(name)
            // A receipt for a product not added yet, delivered twice: both are dead-lettered.
            const receipt = inbound("product.received", `redrive-${runId}`, { sku, quantity: 4 })
            yield* deliver(channel, name, receipt, receipt.id)
            yield* deliver(channel, name, receipt, receipt.id)
            const deadCount = Effect.promise(() => channel.checkQueue(queues.dead)).pipe(
              Effect.map((queue) => queue.messageCount)
            )
            yield* eventually(
              "both are dead-lettered",
              Effect.map(deadCount, (count) => count === 2)
            )
            // A dead letter from before routing keys were kept: the route of its retry in their place.
            const legacy = inbound("product.received", `redrive-legacy-${runId}`, { sku, quantity: 2 })
            yield* Effect.promise(() => {
              channel.sendToQueue(queues.dead, Buffer.from(JSON.stringify(legacy)), {
                persistent: true,
                messageId: legacy.id,
                headers: { [RabbitMq.ROUTING_KEY_HEADER]: queues.main, [RabbitMq.ATTEMPT_HEADER]: 5 }
              })
              return channel.waitForConfirms()
            })

            // The cause fixed, the operator re-drives the queue.
            yield* (yield* Product.Products).add({ sku, name: "Redriven" })
            const redrive = (consumer: string) =>
              Effect.promise(async () => {
                const run = runBin("events", { INV_RABBITMQ_URL: RABBITMQ_URL }, ["redrive", consumer])
                return { code: await run.exited, ...run.output() }
              })
            const first = yield* redrive(name)
            expect(first).toEqual({
              code: 0,
              stdout: `moved 3 messages from ${queues.dead} to ${queues.main}\n`,
              stderr: ""
            })
            yield* eventually(
              "the receipts are applied",
              Effect.map(onHand(sku), (n) => n === 6)
            )
            yield* eventually(
              "the redriven messages were handled",
              Effect.map(
                Effect.promise(() => channel.checkQueue(queues.main)),
                (queue) => queue.messageCount === 0
              )
            )
            yield* Effect.sleep("300 millis")
            expect(yield* ledgerOf(sku)).toEqual([
              { reason: "receipt", delta: 4 },
              { reason: "receipt", delta: 2 }
            ])
            expect(yield* deadCount).toBe(0)
            const unknown = yield* redrive(`no-such-consumer-${runId}`)
            expect(unknown.code).toBe(1)
            expect(unknown.stderr).toBe(
              `inv-server events redrive: there is no queue invkit.no-such-consumer-${runId}.dead: check the consumer's name (e.g. stock-updater)\n`
            )
            // By the queue's name too; nothing is left to move.
            const again = yield* redrive(queues.dead)
            expect(again).toEqual({
              code: 0,
              stdout: `moved 0 messages from ${queues.dead} to ${queues.main}\n`,
              stderr: ""
            })
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), bus)))
        }),
      60_000
    )

    it.effect("PermanentFailure reads as its reason", () =>
      Effect.sync(() => expect(new PermanentFailure({ reason: "no such SKU" }).message).toBe("no such SKU"))
    )
  }
)
