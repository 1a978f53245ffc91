/**
 * stock-updater's consumer: the inbound types other systems publish, `product.received` (adds
 * stock) and `product.sold` (removes stock), and nothing else. `data` must be an
 * `Event.ProductMovement`. An event of another type, invalid data, a product or location we do
 * not know, a sale of stock that is not there, or an id already used for another event is a
 * permanent failure: the event goes to the dead-letter queue with the reason, at once. The change
 * is applied with the event id as its idempotency key and recorded in the inbox in the same
 * transaction, so a redelivered event changes stock once. The events the broker sent ahead are
 * applied together, in one transaction (see `applyAll`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, type InvalidInput, Stock } from "@invkit/sdk"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
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

/** A batch in which an event failed; its events are then handled one by one. */
class BatchRefused extends Data.TaggedError("BatchRefused")<{ readonly reason: string }> {}

export const consumers: Effect.Effect<
  ReadonlyArray<Consumer>,
  SqlError,
  SqlClient.SqlClient | Stock.Stock
> = Effect.gen(function* () {
  const context = yield* Effect.context<SqlClient.SqlClient | Stock.Stock>()
  const stock = yield* Stock.Stock
  const sql = yield* SqlClient.SqlClient

  /** The stock change an event asks for, or a permanent failure saying why it cannot be one. */
  const changeOf = (event: Event.CloudEvent): Effect.Effect<Stock.AdjustStock, PermanentFailure> =>
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
      return {
        sku: movement.sku,
        delta: effect.sign * movement.quantity,
        ...(movement.location === undefined ? {} : { location: movement.location }),
        reason: effect.reason,
        reference: movement.reference ?? `${event.type} ${event.id}`.slice(0, 200),
        actor: event.source.slice(0, 200),
        idempotencyKey: event.id
      }
    })

  /** The change with the event's inbox row, as one savepoint: a refusal undoes only its own writes. */
  const applyOnce = (event: Event.CloudEvent, change: Stock.AdjustStock) =>
    once(CONSUMER_NAME, event, stock.adjust(change)).pipe(
      Effect.mapError((error) =>
        Object.hasOwn(permanent, error._tag) && permanent[error._tag as keyof typeof permanent]
          ? new PermanentFailure({
              reason: `${event.type} ${event.id} rejected: ${error._tag}: ${error.message}`
            })
          : error
      ),
      Effect.provide(context)
    )

  // The inbox row and the change commit together, in the next group of stock writes.
  const apply = (event: Event.CloudEvent) =>
    Effect.flatMap(changeOf(event), (change) => stock.inGroup(applyOnce(event, change)))

  /**
   * The events the broker sent ahead, as one request of the next group (one transaction, one
   * commit), in delivery order, so changes to one level apply in the order they came; each event
   * is its own savepoint. If any was invalid, refused or failed, the batch fails once the others
   * have committed: each is then handled alone, where the inbox skips those applied here and the
   * failing one meets its fate (retried or dead-lettered) by itself.
   */
  const applyAll = (events: ReadonlyArray<Event.CloudEvent>) =>
    Effect.gen(function* () {
      const changes = yield* Effect.forEach(events, (event) => Effect.either(changeOf(event)))
      const valid = events.flatMap((event, i) => {
        const change = changes[i]!
        return Either.isRight(change) ? [{ event, change: change.right }] : []
      })
      const exits =
        valid.length === 0
          ? []
          : yield* stock.inGroup(
              // Its own transaction when group commit is off, a savepoint of the group's when on.
              sql.withTransaction(
                Effect.forEach(valid, ({ event, change }) => Effect.exit(applyOnce(event, change)))
              )
            )
      if (changes.some(Either.isLeft) || exits.some(Exit.isFailure)) {
        return yield* new BatchRefused({ reason: `an event of ${events.length} failed` })
      }
    })

  return [{ name: CONSUMER_NAME, types: Event.inboundTypes, handle: apply, handleBatch: applyAll }]
})
