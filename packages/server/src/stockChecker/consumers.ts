/**
 * stock-checker's consumer: a `stock.updated` event drops the cached answers about its SKU and
 * every aggregate answer. Dropping twice is harmless, so it needs no inbox; events of one SKU may
 * come in any order for the same reason.
 */
import type { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { StockCache } from "../infra/cache.js"
import type { Consumer } from "../infra/events.js"

/** The consumer group, and so the queue `invkit.stock-checker`. */
export const CONSUMER_NAME = "stock-checker"

const skuOf = (event: Event.CloudEvent): string | undefined =>
  event.subject ??
  Schema.decodeUnknownOption(Schema.Struct({ sku: Schema.String }))(event.data).pipe((found) =>
    found._tag === "Some" ? found.value.sku : undefined
  )

export const consumers: Effect.Effect<ReadonlyArray<Consumer>, never, StockCache> = Effect.map(
  StockCache,
  (cache): ReadonlyArray<Consumer> => [
    {
      name: CONSUMER_NAME,
      types: ["stock.updated"],
      // A cache per process must hear every event; a shared one needs it once per group.
      perInstance: !cache.shared,
      handle: (event) => {
        const sku = skuOf(event)
        return sku === undefined ? Effect.void : cache.invalidate(sku)
      }
    }
  ]
)
