/**
 * A broker outage loses nothing: RabbitMQ is stopped while 1,000 adjustments commit, then started
 * again; every committed change reaches the consumer's effects exactly once (effects = ledger rows).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Product, Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { EventBus } from "../src/infra/events.js"
import { once } from "../src/infra/inbox.js"
import * as RabbitMq from "../src/infra/rabbitmq.js"
import { runRelayWith } from "../src/infra/relay.js"
import {
  deleteQueuesAfterwards,
  eventually,
  postgresInventory,
  RABBITMQ_URL,
  runId,
  servicesReachable,
  startRabbitMq,
  stopRabbitMq
} from "./eventFixtures.js"

const ADJUSTMENTS = 1_000
const SKUS = 10

describe.skipIf(!(await servicesReachable("postgres", "rabbitmq")))("RabbitMQ outage", () => {
  it.scopedLive(
    `${ADJUSTMENTS} adjustments while RabbitMQ is stopped reach the consumer's effects exactly once after it returns`,
    () =>
      Effect.gen(function* () {
        const consumerName = `test-outage-${runId}`
        const skuPrefix = `OUT-${runId}-`
        yield* deleteQueuesAfterwards(consumerName)
        // Whatever happens, the broker runs again after this test.
        yield* Effect.addFinalizer(() => startRabbitMq)

        yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const bus = yield* EventBus
          const stock = yield* Stock.Stock
          const products = yield* Product.Products
          // The consumer's effect: one row per event, in the same transaction as its inbox row.
          yield* sql`create table effects (event_id text primary key, sku text not null)`
          let deliveries = 0
          yield* bus.consume({
            name: consumerName,
            types: ["stock.updated"],
            handle: (event) =>
              Effect.suspend(() => {
                deliveries += 1
                return once(
                  consumerName,
                  event,
                  sql`insert into effects (event_id, sku) values (${event.id}, ${event.subject ?? ""})`
                )
              }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
          })
          const skus = Array.from({ length: SKUS }, (_, i) => `${skuPrefix}${i}`)
          yield* Effect.forEach(skus, (sku) => products.add({ sku, name: `Outage ${sku}` }), {
            discard: true
          })
          yield* Effect.forkScoped(runRelayWith({ idle: "20 millis", maxBackoff: "500 millis" }))

          yield* stopRabbitMq
          yield* eventually(
            "the bus noticed the outage",
            Effect.map(bus.ready, (ready) => !ready)
          )
          yield* Effect.forEach(
            Array.from({ length: ADJUSTMENTS }, (_, i) => ({ sku: skus[i % SKUS]!, delta: (i % 5) + 1 })),
            (adjustment) => stock.adjust(adjustment),
            { concurrency: 8, discard: true }
          )
          const [during] = yield* sql<{ unsent: number; ledger: number }>`
            select (select count(*)::int from outbox where sent_at is null and type = 'stock.updated') as unsent,
                   (select count(*)::int from stock_movements) as ledger`
          // The products were added before the stop, so every change is waiting in the outbox.
          expect(during).toEqual({ unsent: ADJUSTMENTS, ledger: ADJUSTMENTS })

          yield* startRabbitMq
          yield* eventually("the bus reconnected", bus.ready, "30 seconds")
          const effectCount = sql<{ count: number }>`select count(*)::int as count from effects`.pipe(
            Effect.map(([row]) => row!.count)
          )
          yield* eventually(
            `${ADJUSTMENTS} effects`,
            Effect.map(effectCount, (count) => count >= ADJUSTMENTS),
            "40 seconds"
          )
          yield* Effect.sleep("300 millis")

          const [after] = yield* sql<{ effects: number; ledger: number; unsent: number; unknown: number }>`
            select (select count(*)::int from effects) as effects,
                   (select count(*)::int from stock_movements) as ledger,
                   (select count(*)::int from outbox where sent_at is null) as unsent,
                   (select count(*)::int from effects e
                    where not exists (select 1 from outbox o where o.event_id::text = e.event_id)) as unknown`
          expect(after).toEqual({ effects: ADJUSTMENTS, ledger: ADJUSTMENTS, unsent: 0, unknown: 0 })
          // At least once on the wire, exactly once in effect.
          expect(deliveries).toBeGreaterThanOrEqual(ADJUSTMENTS)
        }).pipe(Effect.scoped, Effect.provide(Layer.merge(postgresInventory(), RabbitMq.layer(RABBITMQ_URL))))
      }),
    90_000
  )
})
