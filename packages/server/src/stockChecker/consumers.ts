/**
 * stock-checker's consumer: a `stock.updated` event (a `stock.imported` for each SKU it lists),
 * a reservation's event (it changes reserved and available), and a product's `product.created`,
 * `product.updated` or `product.archived` (its reorder point and active flag shape low stock and
 * the overview; a `product.imported` for each product it lists, from a bulk import), drop the cached answers about its SKU and every aggregate answer. Dropping twice is harmless, so it needs no inbox; events of one SKU may
 * come in any order for the same reason. Invalid data is a permanent failure: the event goes to
 * the dead-letter queue with the reason.
 */
import { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { StockCache } from "../infra/cache.js"
import { type Consumer, eventData } from "../infra/events.js"
import type { PermanentFailure } from "../infra/redelivery.js"

/** The consumer group, and so the queue `invkit.stock-checker`. */
export const CONSUMER_NAME = "stock-checker"

const decodeStockUpdated = eventData(Event.StockUpdated)
const decodeStockImported = eventData(Event.StockImported)
const decodeProductChanged = eventData(Event.ProductChanged)
const decodeProductImported = eventData(Event.ProductImported)
const decodeReservationChanged = eventData(Event.ReservationChanged)

const isReservationEvent = (type: string): boolean =>
  (Event.reservationTypes as ReadonlyArray<string>).includes(type)

/** The SKUs whose cached answers the event makes stale. */
const changedSkus = (event: Event.CloudEvent): Effect.Effect<ReadonlyArray<string>, PermanentFailure> =>
  event.type === "stock.updated"
    ? Effect.map(decodeStockUpdated(event), (change) => [change.sku])
    : event.type === "stock.imported"
      ? Effect.map(decodeStockImported(event), ({ levels }) => [...new Set(levels.map((level) => level.sku))])
      : isReservationEvent(event.type)
        ? Effect.map(decodeReservationChanged(event), (hold) => [hold.sku])
        : event.type === "product.imported"
          ? Effect.map(decodeProductImported(event), ({ products }) => products.map((product) => product.sku))
          : Effect.map(decodeProductChanged(event), (product) => [product.sku])

export const consumers: Effect.Effect<ReadonlyArray<Consumer>, never, StockCache> = Effect.map(
  StockCache,
  (cache): ReadonlyArray<Consumer> => [
    {
      name: CONSUMER_NAME,
      types: [
        "stock.updated",
        "stock.imported",
        ...Event.reservationTypes,
        ...Event.catalogTypes,
        "product.imported"
      ],
      // A cache per process must hear every event; a shared one needs it once per group.
      perInstance: !cache.shared,
      // The SKUs of one event in one step: a thousand separate round trips would time out.
      handle: (event) => Effect.flatMap(changedSkus(event), cache.invalidate),
      // And of every event the broker sent ahead: one Redis round trip for the batch.
      handleBatch: (events) =>
        Effect.flatMap(Effect.forEach(events, changedSkus), (skus) =>
          cache.invalidate([...new Set(skus.flat())])
        )
    }
  ]
)
