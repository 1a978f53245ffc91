/**
 * stock-updater's consumer: inbound `product.received` (adds stock) and `product.sold` (removes
 * stock) from other systems. `data` must be an `Event.ProductMovement`; an invalid one, a product
 * or location we do not know, or a sale of stock that is not there is a permanent failure: the
 * event goes to the dead-letter queue with the reason, at once. The change is applied with the
 * event id as its idempotency key and recorded in the inbox in the same transaction, so a
 * redelivered event changes stock once.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Consumer } from "../infra/events.js"
import { ensureInbox, once, PermanentFailure } from "../infra/inbox.js"

/** The consumer group, and so the queue `invkit.stock-updater`. */
export const CONSUMER_NAME = "stock-updater"

const decodeMovement = Schema.decodeUnknown(Event.ProductMovement)

/** Domain errors that no retry can fix; anything else (the store failing) is retried. */
const PERMANENT = new Set([
  "InvalidInput",
  "ProductNotFound",
  "LocationNotFound",
  "InsufficientStock",
  "IdempotencyKeyReused"
])

export const consumers: Effect.Effect<
  ReadonlyArray<Consumer>,
  SqlError,
  SqlClient.SqlClient | Stock.Stock
> = Effect.gen(function* () {
  yield* ensureInbox
  const context = yield* Effect.context<SqlClient.SqlClient | Stock.Stock>()
  const stock = yield* Stock.Stock

  const apply = (event: Event.CloudEvent) =>
    Effect.gen(function* () {
      const movement = yield* decodeMovement(event.data, { onExcessProperty: "ignore" }).pipe(
        Effect.mapError(
          (error) =>
            new PermanentFailure({
              reason: `${event.type} ${event.id} has invalid data: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
            })
        )
      )
      const sold = event.type === "product.sold"
      yield* once(
        CONSUMER_NAME,
        event,
        stock.adjust({
          sku: movement.sku,
          delta: sold ? -movement.quantity : movement.quantity,
          ...(movement.location === undefined ? {} : { location: movement.location }),
          reason: sold ? "sale" : "receipt",
          reference: movement.reference ?? `${event.type} ${event.id}`.slice(0, 200),
          actor: event.source.slice(0, 200),
          idempotencyKey: event.id
        })
      ).pipe(
        Effect.catchIf(
          (error): error is Exclude<typeof error, SqlError> =>
            typeof error === "object" && error !== null && PERMANENT.has(error._tag),
          (error) =>
            Effect.fail(
              new PermanentFailure({
                reason: `${event.type} ${event.id} rejected: ${error._tag}: ${error.message}`
              })
            )
        )
      )
    }).pipe(Effect.provide(context))

  return [{ name: CONSUMER_NAME, types: ["product.received", "product.sold"], handle: apply }]
})
