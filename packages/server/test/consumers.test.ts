/**
 * The services' consumers on the real broker and database: inbound sales and receipts apply once
 * however often they are delivered; invalid or impossible ones end in the dead-letter queue with
 * the reason while the consumer keeps going; failing handlers are retried a bounded number of
 * times and never loop; stock.updated opens restock orders (once) and drops cache entries.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Event, Product, Restock, Stock } from "@invkit/sdk"
import type * as amqp from "amqplib"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StockCache } from "../src/infra/cache.js"
import { type Consumer, EventBus } from "../src/infra/events.js"
import { PermanentFailure } from "../src/infra/inbox.js"
import * as RabbitMq from "../src/infra/rabbitmq.js"
import * as RedisCache from "../src/infra/redisCache.js"
import * as StockChecker from "../src/stockChecker/consumers.js"
import * as StockUpdater from "../src/stockUpdater/consumers.js"
import * as SupplierSync from "../src/supplierSync/consumers.js"
import {
  deleteQueuesAfterwards,
  drainQueue,
  eventually,
  postgresInventory,
  RABBITMQ_URL,
  REDIS_URL,
  runId,
  servicesReachable,
  testChannel
} from "./eventFixtures.js"

const MAX_ATTEMPTS = 3
const bus = RabbitMq.layer(RABBITMQ_URL, { maxAttempts: MAX_ATTEMPTS, retryDelay: "50 millis" })

/** Puts a message straight into a consumer's queue, as the exchange would, confirmed. */
const deliver = (channel: amqp.ConfirmChannel, consumerName: string, body: unknown, messageId: string) =>
  Effect.promise(() => {
    channel.sendToQueue(
      RabbitMq.queuesOf(consumerName).main,
      Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
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
            yield* (yield* Product.Products).add({ sku, name: "Inbound" })
            yield* (yield* Stock.Stock).set({ sku, quantity: 10 })
            const [updater] = yield* StockUpdater.consumers
            yield* (yield* EventBus).consume(renamed(updater!, name))
            const channel = yield* testChannel

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

            const dead = yield* deadLetters(channel, name, 4)
            const reasons = Object.fromEntries(
              dead.map((message) => [message.properties.messageId, reasonOf(message)])
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
      `a failing handler is retried, at most ${MAX_ATTEMPTS} attempts, then dead-lettered: never loops`,
      () =>
        Effect.gen(function* () {
          const flaky = `test-flaky-${runId}`
          const broken = `test-broken-${runId}`
          yield* deleteQueuesAfterwards(flaky)
          yield* deleteQueuesAfterwards(broken)
          yield* Effect.gen(function* () {
            const eventBus = yield* EventBus
            const channel = yield* testChannel
            const calls = { flaky: 0, broken: 0 }
            const handled: Array<string> = []
            yield* eventBus.consume({
              name: flaky,
              types: [],
              handle: (event) =>
                Effect.suspend(() => {
                  calls.flaky += 1
                  if (calls.flaky < MAX_ATTEMPTS) return Effect.fail(new Error("database briefly away"))
                  handled.push(event.id)
                  return Effect.void
                })
            })
            yield* eventBus.consume({
              name: broken,
              types: [],
              handle: () =>
                Effect.suspend(() => {
                  calls.broken += 1
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
            expect(calls.flaky).toBe(MAX_ATTEMPTS)
            const [dead] = yield* deadLetters(channel, broken, 1)
            expect(reasonOf(dead!)).toMatch(/a bug in the handler/)
            expect(dead!.properties.headers?.[RabbitMq.ATTEMPT_HEADER]).toBe(MAX_ATTEMPTS)
            yield* Effect.sleep("500 millis") // a loop would call it again now
            expect(calls.broken).toBe(MAX_ATTEMPTS)
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
            yield* (yield* Product.Products).add({
              sku,
              name: "Runs low",
              reorderPoint: 5,
              reorderQuantity: 20
            })
            yield* (yield* Stock.Stock).set({ sku, quantity: 3 })
            // The write itself already evaluated the rule; cancel that order so only the consumer opens one.
            const orders = yield* Restock.RestockOrders
            const opened = yield* orders.list({ sku })
            yield* Effect.forEach(opened.items, (order) => orders.cancel(order.id), { discard: true })

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
          const event: Event.CloudEvent = {
            ...inbound("product.sold", `changed-${runId}`, {}),
            type: "stock.updated",
            subject: sku
          }
          yield* deliver(channel, name, event, event.id)
          yield* eventually(
            "the cached answer is dropped",
            Effect.map(
              cache.through({ name: "level", sku }, Effect.succeed("after")),
              (answer) => answer === "after"
            )
          )
        }).pipe(
          Effect.scoped,
          Effect.provide(
            Layer.merge(
              bus,
              RedisCache.layer({ url: REDIS_URL, ttlSeconds: 60, keyPrefix: `test:${runId}:checker:` })
            )
          )
        )
      })
    )

    it.effect("PermanentFailure reads as its reason", () =>
      Effect.sync(() => expect(new PermanentFailure({ reason: "no such SKU" }).message).toBe("no such SKU"))
    )
  }
)
