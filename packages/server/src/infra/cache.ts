/**
 * The cache port for stock-checker's answers: Redis in server mode, memory when nothing is
 * configured. It never fails and never hangs: an unavailable cache is a miss.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"

export class StockCache extends Context.Tag("@invkit/server/StockCache")<
  StockCache,
  {
    /**
     * The cached answer for `key`, else `load`'s answer, stored for next time unless the SKU (or,
     * for aggregate answers without a SKU, any stock) changed while it was loading: a late load
     * of an older state can never overwrite a newer one.
     */
    readonly through: <A, E, R>(
      key: { readonly name: string; readonly sku?: string },
      load: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E, R>
    /** Drops what is cached about a SKU and every aggregate answer, after a change. */
    readonly invalidate: (sku: string) => Effect.Effect<void>
    /** One cache for every instance (Redis), or one per process (memory). */
    readonly shared: boolean
    /** Whether the cache answers, for /ready (a cache that is down does not fail reads). */
    readonly ready: Effect.Effect<boolean>
  }
>() {}
