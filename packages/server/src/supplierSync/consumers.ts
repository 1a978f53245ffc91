/**
 * supplier-sync's consumer: every `stock.updated` evaluates the reorder rule for its SKU and
 * location, which opens a draft restock order when available stock is at or below the reorder
 * point. The rule reads the current state, so an older event arriving late decides from fresh
 * data; the inbox makes a redelivered event a no-op.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, Reorder } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Consumer } from "../infra/events.js"
import { ensureInbox, once, PermanentFailure } from "../infra/inbox.js"

/** The consumer group, and so the queue `invkit.supplier-sync`. */
export const CONSUMER_NAME = "supplier-sync"

const decodeStockUpdated = Schema.decodeUnknown(Event.StockUpdated)

export const consumers: Effect.Effect<ReadonlyArray<Consumer>, SqlError, SqlClient.SqlClient> = Effect.gen(
  function* () {
    yield* ensureInbox
    const sql = yield* SqlClient.SqlClient
    const rule = yield* Effect.provide(Reorder.ReorderRule, Reorder.ReorderRule.Default)
    const evaluate = (event: Event.CloudEvent) =>
      Effect.gen(function* () {
        const change = yield* decodeStockUpdated(event.data).pipe(
          Effect.mapError(
            (error) =>
              new PermanentFailure({
                reason: `stock.updated ${event.id} has invalid data: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
              })
          )
        )
        yield* once(CONSUMER_NAME, event, rule.evaluate(change.sku, change.location))
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    return [{ name: CONSUMER_NAME, types: ["stock.updated"], handle: evaluate }]
  }
)
