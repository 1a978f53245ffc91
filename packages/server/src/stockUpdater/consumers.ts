/**
 * stock-updater's consumer: the inbound types other systems publish, `product.received` (adds
 * stock) and `product.sold` (removes stock), and nothing else. `data` must be an
 * `Event.ProductMovement`. An event of another type, invalid data, a product or location we do
 * not know, a sale of stock that is not there, or an id already used for another event is a
 * permanent failure: the event goes to the dead-letter queue with the reason, at once. The change
 * is applied with the event id as its idempotency key and recorded in the inbox in the same
 * transaction, so a redelivered event changes stock once.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, type InvalidInput, Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { type Consumer, eventData } from "../infra/events.js"
import { once } from "../infra/inbox.js"
import { PermanentFailure } from "../infra/redelivery.js"

/** The consumer group, and so the queue `invkit.stock-updater`. */
export const CONSUMER_NAME = "stock-updater"

/** What each inbound type does to stock; a type not listed here is never applied. */
const movements: Record<Event.InboundType, { readonly sign: 1 | -1; readonly reason: "receipt" | "sale" }> = {
  "product.received": { sign: 1, reason: "receipt" },
  "product.sold": { sign: -1, reason: "sale" }
}

/** Whether a failure of the stock change is final (retrying cannot help) or may pass. */
const permanent: Record<(InvalidInput | Stock.WriteError)["_tag"], boolean> = {
  InvalidInput: true,
  ProductNotFound: true,
  LocationNotFound: true,
  InsufficientStock: true,
  IdempotencyKeyReused: true,
  StockConflict: false,
  StoreError: false
}

const decodeMovement = eventData(Event.ProductMovement)

export const consumers: Effect.Effect<
  ReadonlyArray<Consumer>,
  SqlError,
  SqlClient.SqlClient | Stock.Stock
> = Effect.gen(function* () {
  const context = yield* Effect.context<SqlClient.SqlClient | Stock.Stock>()
  const stock = yield* Stock.Stock

  const apply = (event: Event.CloudEvent) =>
    Effect.gen(function* () {
      const effect = Object.hasOwn(movements, event.type)
        ? movements[event.type as Event.InboundType]
        : undefined
      if (effect === undefined) {
        return yield* new PermanentFailure({
          reason: `${JSON.stringify(event.type)} ${event.id}: not an inbound type; other systems may send only ${Event.inboundTypes.join(" and ")}`
        })
      }
      const movement = yield* decodeMovement(event)
      // The inbox row and the change commit together, in the next group of stock writes.
      yield* stock
        .inGroup(
          once(
            CONSUMER_NAME,
            event,
            stock.adjust({
              sku: movement.sku,
              delta: effect.sign * movement.quantity,
              ...(movement.location === undefined ? {} : { location: movement.location }),
              reason: effect.reason,
              reference: movement.reference ?? `${event.type} ${event.id}`.slice(0, 200),
              actor: event.source.slice(0, 200),
              idempotencyKey: event.id
            })
          ).pipe(Effect.provide(context))
        )
        .pipe(
          Effect.mapError((error) =>
            Object.hasOwn(permanent, error._tag) && permanent[error._tag as keyof typeof permanent]
              ? new PermanentFailure({
                  reason: `${event.type} ${event.id} rejected: ${error._tag}: ${error.message}`
                })
              : error
          )
        )
    }).pipe(Effect.provide(context))

  return [{ name: CONSUMER_NAME, types: Event.inboundTypes, handle: apply }]
})
