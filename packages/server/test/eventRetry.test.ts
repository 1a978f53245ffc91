/**
 * A database outage delays inbound events but drops none: while stock-updater's database refuses
 * every connection for 10 s, a valid event is retried with growing delays (not dead-lettered), and
 * it is applied once the database is back. The outage is made on a database of the test's own
 * (its connections cut and refused), never by stopping the shared PostgreSQL server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Inventory, Product, Stock, Store } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import pg from "pg"
import { POSTGRES_URL } from "../../sdk/test/postgres.js"
import { EventBus } from "../src/infra/events.js"
import * as RabbitMq from "../src/infra/rabbitmq.js"
import * as StockUpdater from "../src/stockUpdater/consumers.js"
import {
  deleteQueuesAfterwards,
  drainQueue,
  eventually,
  freshDatabase,
  ledgerOf,
  RABBITMQ_URL,
  runId,
  servicesReachable,
  testChannel
} from "./eventFixtures.js"

const OUTAGE_MS = 10_000

/** Runs one statement as the test server's administrator. */
const admin = (statement: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  })

describe.skipIf(!(await servicesReachable("postgres", "rabbitmq")))("events during a database outage", () => {
  it.scopedLive(
    "a valid inbound event during a 10 s database outage is retried, not dead-lettered, and applied once the database is back",
    () =>
      Effect.gen(function* () {
        const name = `test-db-outage-${runId}`
        yield* deleteQueuesAfterwards(name)
        const url = yield* freshDatabase
        const database = new URL(url).pathname.slice(1)
        // Whatever happens, the database takes connections again (and can be dropped) afterwards.
        yield* Effect.addFinalizer(() => admin(`alter database "${database}" allow_connections true`))

        yield* Effect.gen(function* () {
          const sku = `DBOUT-${runId}`
          yield* (yield* Product.Products).add({ sku, name: "Outage" })
          yield* (yield* Stock.Stock).set({ sku, quantity: 10 })
          const [updater] = yield* StockUpdater.consumers
          yield* (yield* EventBus).consume({ ...updater!, name })
          const channel = yield* testChannel
          const queues = RabbitMq.queuesOf(name)

          yield* admin(`alter database "${database}" allow_connections false`)
          yield* admin(
            `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}' and pid <> pg_backend_pid()`
          )
          const receipt = {
            specversion: "1.0" as const,
            id: `db-outage-${runId}`,
            source: "warehouse",
            type: "product.received",
            data: { sku, quantity: 5 }
          }
          // Published through an exchange, as a sender would: its retries must keep the routing key.
          const exchange = `test.outage.${runId}`
          yield* Effect.promise(async () => {
            await channel.assertExchange(exchange, "topic", { durable: false, autoDelete: true })
            await channel.bindQueue(queues.main, exchange, receipt.type)
            channel.publish(exchange, receipt.type, Buffer.from(JSON.stringify(receipt)), {
              persistent: true,
              contentType: RabbitMq.CONTENT_TYPE,
              messageId: receipt.id
            })
            return channel.waitForConfirms()
          })
          yield* Effect.sleep(OUTAGE_MS)
          // Still waiting for its next attempt, not given up.
          expect(yield* drainQueue(channel, queues.dead)).toEqual([])
          yield* admin(`alter database "${database}" allow_connections true`)

          const onHand = Effect.flatMap(Stock.Stock, (stock) => stock.level(sku)).pipe(
            Effect.map((level) => level.onHand),
            Effect.orElseSucceed(() => -1)
          )
          yield* eventually(
            "the receipt is applied after the outage",
            Effect.map(onHand, (n) => n === 15),
            "30 seconds"
          )
          expect(yield* ledgerOf(sku)).toEqual([
            { reason: "count", delta: 10 },
            { reason: "receipt", delta: 5 }
          ])
          expect(yield* drainQueue(channel, queues.dead)).toEqual([])
        }).pipe(
          Effect.scoped,
          Effect.provide(
            Layer.merge(
              Layer.orDie(Inventory.layer(Store.postgres(url))),
              RabbitMq.layer(RABBITMQ_URL, {
                retry: { retryFor: "2 minutes", firstDelay: "250 millis", maxDelay: "2 seconds" }
              })
            )
          )
        )
      }),
    90_000
  )
})
