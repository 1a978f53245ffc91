/**
 * The outbox relay on PostgreSQL and RabbitMQ: every committed stock change is published once,
 * in order per SKU and location, and marked sent; two relays at once publish nothing twice.
 */
import { Socket } from "node:net"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { describe, expect, it } from "@effect/vitest"
import { Event, Inventory, Product, Stock, Store } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { EventBus } from "../src/infra/events.js"
import * as RabbitMq from "../src/infra/rabbitmq.js"
import { ListenForEvents, publishPending, runRelayWith } from "../src/infra/relay.js"
import {
  deleteQueuesAfterwards,
  eventually,
  freshDatabase,
  postgresInventory,
  RABBITMQ_URL,
  runId,
  servicesReachable,
  testChannel
} from "./eventFixtures.js"

/** A consumer that records the `stock.updated` events of this test's SKUs, as they arrive. */
const recordStockEvents = (consumerName: string, skuPrefix: string) =>
  Effect.gen(function* () {
    const seen: Array<Event.CloudEvent> = []
    yield* (yield* EventBus).consume({
      name: consumerName,
      types: ["stock.updated"],
      handle: (event) =>
        Effect.sync(() => {
          if (event.subject?.startsWith(skuPrefix)) seen.push(event)
        })
    })
    return seen
  })

const ledgerRows = (skuPrefix: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{
        count: number
      }>`select count(*)::int as count from stock_movements where sku like ${`${skuPrefix}%`}`
  ).pipe(
    Effect.map(([row]) => row!.count),
    Effect.orDie
  )

/** Each (sku, location)'s versions must arrive rising by one, from its first. */
const expectInOrderPerLevel = (seen: ReadonlyArray<Event.CloudEvent>) => {
  const lastVersion = new Map<string, number>()
  for (const event of seen) {
    const data = event.data as Event.StockUpdated
    const level = `${data.sku}@${data.location}`
    const previous = lastVersion.get(level)
    if (previous !== undefined) expect(data.version, `version order of ${level}`).toBe(previous + 1)
    lastVersion.set(level, data.version)
  }
  return lastVersion.size
}

const makeChanges = (skus: ReadonlyArray<string>, perSku: number) =>
  Effect.gen(function* () {
    const products = yield* Product.Products
    const stock = yield* Stock.Stock
    yield* Effect.forEach(skus, (sku) => products.add({ sku, name: `Relayed ${sku}` }))
    const adjustments = skus.flatMap((sku) =>
      Array.from({ length: perSku }, (_, i) => ({ sku, delta: (i % 3) + 1 }))
    )
    // Concurrent writers on the same SKUs: the order the relay sees is the database's, not ours.
    yield* Effect.forEach(adjustments, (adjustment) => stock.adjust(adjustment), {
      concurrency: 8,
      discard: true
    })
    return adjustments.length
  })

describe.skipIf(!(await servicesReachable("postgres", "rabbitmq")))(
  "outbox relay (PostgreSQL, RabbitMQ)",
  () => {
    it.scopedLive(
      "publishes every committed change once, in order per SKU and location, and marks the rows sent",
      () =>
        Effect.gen(function* () {
          const consumerName = `test-relay-order-${runId}`
          const skuPrefix = `RLY-${runId}-`
          yield* deleteQueuesAfterwards(consumerName)
          yield* Effect.gen(function* () {
            const seen = yield* recordStockEvents(consumerName, skuPrefix)
            yield* Effect.forkScoped(runRelayWith({ idle: "20 millis", batchSize: 50 }))
            const skus = ["A", "B", "C", "D"].map((suffix) => `${skuPrefix}${suffix}`)
            const changes = yield* makeChanges(skus, 30)

            const ledger = yield* ledgerRows(skuPrefix)
            expect(ledger).toBe(changes)
            yield* eventually(
              `${ledger} events arrived`,
              Effect.sync(() => seen.length >= ledger)
            )
            yield* Effect.sleep("300 millis") // a duplicate would arrive now

            expect(seen).toHaveLength(ledger)
            expect(new Set(seen.map((event) => event.id)).size).toBe(ledger)
            expect(expectInOrderPerLevel(seen)).toBe(skus.length)
            for (const event of seen) {
              expect(event).toMatchObject({ specversion: "1.0", source: "invkit", type: "stock.updated" })
            }

            const sql = yield* SqlClient.SqlClient
            const [outbox] = yield* sql<{ unsent: number; ids: Array<string> }>`
            select count(*) filter (where sent_at is null)::int as unsent,
                   array_agg(event_id::text) as ids
            from outbox where type = 'stock.updated'`
            expect(outbox!.unsent).toBe(0)
            expect(new Set(outbox!.ids)).toEqual(new Set(seen.map((event) => event.id)))
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.merge(postgresInventory(), RabbitMq.layer(RABBITMQ_URL)))
          )
        }),
      60_000
    )

    it.scopedLive(
      "listening on PostgreSQL, it publishes at the commit's notification, not at its next look",
      () =>
        Effect.gen(function* () {
          const consumerName = `test-relay-listen-${runId}`
          const skuPrefix = `LSN-${runId}-`
          yield* deleteQueuesAfterwards(consumerName)
          yield* Effect.gen(function* () {
            const seen = yield* recordStockEvents(consumerName, skuPrefix)
            // Looking again only after a minute: an event seen sooner came by the notification.
            yield* Effect.forkScoped(
              runRelayWith({ idle: "1 minute", listeningFallback: "1 minute" }).pipe(
                Effect.provideService(ListenForEvents, true)
              )
            )
            yield* Effect.sleep("500 millis") // its first look is done, and it listens
            const stock = yield* Stock.Stock
            yield* (yield* Product.Products).add({ sku: `${skuPrefix}A`, name: "Announced" })
            for (const expected of [1, 2, 3]) {
              yield* stock.adjust({ sku: `${skuPrefix}A`, delta: 1 })
              yield* eventually(
                `event ${expected} arrived`,
                Effect.sync(() => seen.length >= expected)
              )
            }
            expect(seen.map((event) => (event.data as Event.StockUpdated).onHand)).toEqual([1, 2, 3])
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.merge(postgresInventory(), RabbitMq.layer(RABBITMQ_URL)))
          )
        }),
      60_000
    )

    it.scopedLive(
      "a lost listening connection is noticed at the next look and opened again",
      () =>
        Effect.gen(function* () {
          const consumerName = `test-relay-relisten-${runId}`
          const skuPrefix = `RLS-${runId}-`
          yield* deleteQueuesAfterwards(consumerName)
          yield* Effect.gen(function* () {
            const seen = yield* recordStockEvents(consumerName, skuPrefix)
            yield* Effect.forkScoped(
              runRelayWith({ idle: "1 minute", listeningFallback: "300 millis" }).pipe(
                Effect.provideService(ListenForEvents, true)
              )
            )
            const sql = yield* SqlClient.SqlClient
            const listeners = sql<{ pid: number }>`
              select pid from pg_stat_activity
              where datname = current_database() and query ilike 'listen%' and state = 'idle'`
            yield* eventually(
              "the relay listens",
              Effect.map(listeners, (rows) => rows.length === 1)
            )
            const [first] = yield* listeners
            yield* sql`select pg_terminate_backend(${first!.pid})`
            const stock = yield* Stock.Stock
            yield* (yield* Product.Products).add({ sku: `${skuPrefix}A`, name: "Heard again" })
            yield* stock.adjust({ sku: `${skuPrefix}A`, delta: 1 })
            yield* eventually(
              "the event went out at the next look",
              Effect.sync(() => seen.length >= 1)
            )
            // The look found what no notification announced: the relay listens again, anew.
            yield* eventually(
              "the relay listens again",
              Effect.map(listeners, (rows) => rows.length === 1 && rows[0]!.pid !== first!.pid)
            )
            yield* stock.adjust({ sku: `${skuPrefix}A`, delta: 1 })
            yield* eventually(
              "the next event went out",
              Effect.sync(() => seen.length >= 2)
            )
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.merge(postgresInventory(), RabbitMq.layer(RABBITMQ_URL)))
          )
        }),
      60_000
    )

    it.scopedLive(
      "works on the embedded store (PGlite) too",
      () =>
        Effect.gen(function* () {
          const consumerName = `test-relay-pglite-${runId}`
          const skuPrefix = `PGL-${runId}-`
          yield* deleteQueuesAfterwards(consumerName)
          yield* Effect.gen(function* () {
            const seen = yield* recordStockEvents(consumerName, skuPrefix)
            yield* Effect.forkScoped(runRelayWith({ idle: "20 millis", batchSize: 7 }))
            const changes = yield* makeChanges([`${skuPrefix}A`, `${skuPrefix}B`], 10)
            yield* eventually(
              `${changes} events arrived`,
              Effect.sync(() => seen.length >= changes)
            )
            yield* Effect.sleep("200 millis")
            expect(new Set(seen.map((event) => event.id)).size).toBe(changes)
            expect(seen).toHaveLength(changes)
            expectInOrderPerLevel(seen)
            const sql = yield* SqlClient.SqlClient
            const [outbox] = yield* sql<{ unsent: number }>`
              select count(*)::int as unsent from outbox where sent_at is null`
            expect(outbox!.unsent).toBe(0)
          }).pipe(
            Effect.scoped,
            Effect.provide(
              Layer.merge(
                Layer.orDie(Inventory.layer(Store.embedded(undefined))),
                RabbitMq.layer(RABBITMQ_URL)
              )
            )
          )
        }),
      60_000
    )

    it.scopedLive(
      "two relays on one database, each with its own pool, publish nothing twice",
      () =>
        Effect.gen(function* () {
          const consumerName = `test-relay-pair-${runId}`
          const skuPrefix = `PAIR-${runId}-`
          yield* deleteQueuesAfterwards(consumerName)
          const url = yield* freshDatabase
          const bus = RabbitMq.layer(RABBITMQ_URL)
          const firstStore = Layer.orDie(Inventory.layer(Store.postgres(url)))
          const secondStore = Layer.orDie(Store.layer(Store.postgres(url)))

          yield* Effect.gen(function* () {
            const seen = yield* recordStockEvents(consumerName, skuPrefix)
            yield* Effect.forkScoped(runRelayWith({ idle: "5 millis", batchSize: 10 }))
            const secondContext = yield* Layer.build(Layer.merge(secondStore, bus))
            yield* Effect.forkScoped(
              runRelayWith({ idle: "5 millis", batchSize: 10 }).pipe(Effect.provide(secondContext))
            )
            const changes = yield* makeChanges([`${skuPrefix}X`, `${skuPrefix}Y`], 100)

            yield* eventually(
              `${changes} events arrived`,
              Effect.sync(() => seen.length >= changes)
            )
            yield* Effect.sleep("300 millis")
            expect(seen).toHaveLength(changes)
            expect(new Set(seen.map((event) => event.id)).size).toBe(changes)
            expectInOrderPerLevel(seen)
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(firstStore, bus)))
        }),
      60_000
    )
    it.scopedLive(
      "a round claims its rows under the lock and marks them in one statement",
      () =>
        Effect.gen(function* () {
          yield* Effect.gen(function* () {
            const skuPrefix = `STM-${runId}-`
            const changes = yield* makeChanges([`${skuPrefix}A`, `${skuPrefix}B`], 3)
            // Every statement the round sends, as compiled (BEGIN and COMMIT are not statements).
            const sent: Array<readonly [string, ReadonlyArray<unknown>]> = []
            const published = yield* publishPending(50).pipe(
              Statement.withTransformer((statement) =>
                Effect.sync(() => {
                  sent.push(statement.compile())
                  return statement
                })
              )
            )
            expect(published).toBeGreaterThanOrEqual(changes) // and the products' own events
            expect(sent).toHaveLength(1)
            const [round] = sent
            expect(round![0]).toMatch(/pg_try_advisory_xact_lock/)
            expect(round![0]).toMatch(/update outbox o set sent_at = now\(\)/)
            // The lock's key and the batch size: the same statement text for every batch.
            expect(round![1]).toHaveLength(2)
            // Marked: a second round finds none of them.
            expect(yield* publishPending(50)).toBe(0)
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.merge(postgresInventory(), RabbitMq.layer(RABBITMQ_URL)))
          )
        }),
      60_000
    )
    it.scopedLive(
      "a stock.updated reaches a queue bound to the reorder route only if the rule may act on it; one bound to its type gets each once",
      () =>
        Effect.gen(function* () {
          const narrow = `test-reorder-route-${runId}`
          const wide = `test-type-route-${runId}`
          yield* deleteQueuesAfterwards(narrow)
          yield* deleteQueuesAfterwards(wide)
          const sku = `ROUTE-${runId}`
          // A queue an earlier version bound by type, as supplier-sync's was.
          const channel = yield* testChannel
          yield* Effect.promise(async () => {
            await channel.assertExchange(Event.EXCHANGE, "topic", { durable: true })
            await channel.assertQueue(`invkit.${narrow}`, { durable: true })
            await channel.bindQueue(`invkit.${narrow}`, Event.EXCHANGE, "stock.updated")
          })
          const bus = yield* EventBus
          const seen = { [narrow]: [] as Array<string>, [wide]: [] as Array<string> }
          for (const [name, routes] of [
            [narrow, [Event.REORDER_ROUTE]],
            [wide, undefined]
          ] as const) {
            yield* bus.consume({
              name,
              types: ["stock.updated"],
              ...(routes === undefined ? {} : { routes }),
              handle: (event) =>
                Effect.sync(() => {
                  if (event.subject === sku) seen[name]!.push(event.id)
                })
            })
          }
          const change = (id: string, levels: { available?: number; reorderPoint?: number }) =>
            Event.toCloudEvent({
              eventId: id,
              type: "stock.updated",
              subject: sku,
              data: { sku, location: "default", delta: -1, onHand: 9, version: 1, ...levels },
              createdAt: new Date(),
              traceparent: null
            })
          const above = crypto.randomUUID()
          const atPoint = crypto.randomUUID()
          const unsaid = crypto.randomUUID()
          yield* bus.publish([
            change(above, { available: 9, reorderPoint: 5 }),
            change(atPoint, { available: 5, reorderPoint: 5 }),
            change(unsaid, {})
          ])
          yield* eventually(
            "both queues' events arrived",
            Effect.sync(() => seen[narrow]!.length >= 2 && seen[wide]!.length >= 3)
          )
          yield* Effect.sleep("300 millis") // one sent where it should not be would arrive now
          expect(seen[narrow]).toEqual([atPoint, unsaid])
          expect(seen[wide]).toEqual([above, atPoint, unsaid])
        }).pipe(Effect.provide(RabbitMq.layer(RABBITMQ_URL))),
      60_000
    )
    it.scopedLive(
      "the events of one publish leave in one write to RabbitMQ's socket, and are confirmed",
      () =>
        Effect.gen(function* () {
          const bus = yield* EventBus
          const port = Number(new URL(RABBITMQ_URL).port || 5672)
          const events = Array.from({ length: 20 }, (_, i) =>
            Event.toCloudEvent({
              eventId: crypto.randomUUID(),
              // No queue is bound to this type: the broker confirms the events and drops them.
              type: `test.unrouted.${runId}`,
              subject: `ONE-WRITE-${i}`,
              data: { i },
              createdAt: new Date(),
              traceparent: null
            })
          )
          // Every write any socket to the broker makes while the publish runs, each call into the
          // socket (a write or a writev of several chunks) counted once.
          const socket = Socket.prototype as unknown as Record<
            "_write" | "_writev",
            (...args: Array<unknown>) => unknown
          >
          const original = { write: socket._write, writev: socket._writev }
          let writes = 0
          const counted = (write: (...args: Array<unknown>) => unknown) =>
            function (this: Socket, ...args: Array<unknown>) {
              if (this.remotePort === port) writes++
              return write.apply(this, args)
            }
          socket._write = counted(original.write)
          socket._writev = counted(original.writev)
          yield* Effect.ensuring(
            bus.publish(events),
            Effect.sync(() => {
              socket._write = original.write
              socket._writev = original.writev
            })
          )
          // One by one, they were 20.
          expect(writes).toBe(1)
        }).pipe(Effect.provide(RabbitMq.layer(RABBITMQ_URL))),
      60_000
    )
  }
)
