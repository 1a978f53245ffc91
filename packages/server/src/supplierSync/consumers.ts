/**
 * supplier-sync's consumer: a `stock.updated` whose level the event says is at or below its
 * reorder point (or that does not say) evaluates the reorder rule for its SKU and location, which
 * opens a draft restock order when available stock is at or below the reorder point; a
 * `stock.imported` does the same for each level it lists that is now at or below it. The rule
 * reads the current state, so an older event arriving late decides from fresh
 * data; the inbox makes a redelivered event a no-op. Invalid data is a permanent failure: the
 * event goes to the dead-letter queue with the reason.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, Reorder } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { type Consumer, eventData } from "../infra/events.js"
import { once } from "../infra/inbox.js"

/** The consumer group, and so the queue `invkit.supplier-sync`. */
export const CONSUMER_NAME = "supplier-sync"

const decodeStockUpdated = eventData(Event.StockUpdated)
const decodeStockImported = eventData(Event.StockImported)

/** What the event says of the level against its reorder point; an older event says nothing. */
const isAboveReorderPoint = (change: Event.StockUpdated) =>
  change.available !== undefined &&
  change.reorderPoint !== undefined &&
  change.available > change.reorderPoint

export const consumers: Effect.Effect<ReadonlyArray<Consumer>, SqlError, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const rule = yield* Effect.provide(Reorder.ReorderRule, Reorder.ReorderRule.Default)
    const evaluate = (event: Event.CloudEvent) =>
      Effect.gen(function* () {
        if (event.type === "stock.imported") {
          const { levels } = yield* decodeStockImported(event)
          yield* once(CONSUMER_NAME, event, rule.evaluateAll(levels))
          return
        }
        const change = yield* decodeStockUpdated(event)
        // Left above its reorder point, the level orders nothing: no transaction, no inbox row (a
        // redelivery skips it the same way). A later change that brings it down has its own event.
        if (isAboveReorderPoint(change)) return
        yield* once(CONSUMER_NAME, event, rule.evaluate(change.sku, change.location))
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    return [{ name: CONSUMER_NAME, types: ["stock.updated", "stock.imported"], handle: evaluate }]
  }
)
