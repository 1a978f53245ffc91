/**
 * stock-checker's consumer: a `stock.updated` event, and a product's `product.created`,
 * `product.updated` or `product.archived` (its reorder point and active flag shape low stock and
 * the overview), drop the cached answers about its SKU and every aggregate answer. Dropping twice is harmless, so it needs no inbox; events of one SKU may
 * come in any order for the same reason. Invalid data is a permanent failure: the event goes to
 * the dead-letter queue with the reason.
 */
import { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { StockCache } from "../infra/cache.js"
import { type Consumer, eventData } from "../infra/events.js"

/** The consumer group, and so the queue `invkit.stock-checker`. */
export const CONSUMER_NAME = "stock-checker"

const decodeStockUpdated = eventData(Event.StockUpdated)
const decodeProductChanged = eventData(Event.ProductChanged)

/** The SKU whose cached answers the event makes stale. */
const changedSku = (event: Event.CloudEvent) =>
  event.type === "stock.updated"
    ? Effect.map(decodeStockUpdated(event), (change) => change.sku)
    : Effect.map(decodeProductChanged(event), (product) => product.sku)

export const consumers: Effect.Effect<ReadonlyArray<Consumer>, never, StockCache> = Effect.map(
  StockCache,
  (cache): ReadonlyArray<Consumer> => [
    {
      name: CONSUMER_NAME,
      types: ["stock.updated", ...Event.catalogTypes],
      // A cache per process must hear every event; a shared one needs it once per group.
      perInstance: !cache.shared,
      handle: (event) => Effect.flatMap(changedSku(event), cache.invalidate),
      // One Redis round trip for the SKUs of every event the broker sent ahead.
      handleBatch: (events) => Effect.flatMap(Effect.forEach(events, changedSku), cache.invalidateAll)
    }
  ]
)
