/**
 * The cache port for stock-checker's answers: Redis in server mode, memory when nothing is
 * configured. It never fails and never hangs: an unavailable cache is a miss. It keeps each
 * answer as the response's JSON text, so a hit is sent as it is, with no decoding or encoding:
 * the contract's schema checks an answer once, when it is loaded from the database.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"

export class StockCache extends Context.Tag("@invkit/server/StockCache")<
  StockCache,
  {
    /**
     * The cached answer (JSON text) for `key`, else `load`'s, stored for next time unless the SKU
     * (or, for aggregate answers without a SKU, any stock) changed while it was loading: a late
     * load of an older state can never overwrite a newer one.
     */
    readonly through: <E, R>(
      key: { readonly name: string; readonly sku?: string },
      load: Effect.Effect<string, E, R>
    ) => Effect.Effect<string, E, R>
    /**
     * Drops what is cached about a SKU (or several, in one step: a bulk import's thousand) and
     * every aggregate answer, after a change.
     */
    readonly invalidate: (skus: string | ReadonlyArray<string>) => Effect.Effect<void>
    /** One cache for every instance (Redis), or one per process (memory). */
    readonly shared: boolean
    /** Whether the cache answers, for /ready (a cache that is down does not fail reads). */
    readonly ready: Effect.Effect<boolean>
  }
>() {}

/**
 * Drops the cached answers about the SKUs just written, from the cache this process holds, so a
 * read through it right after the write sees the write: with Redis that is every stock-checker's
 * cache, in `inv-server all` its own. The `stock.updated` events do the same for the other
 * caches, a little later; dropping twice is harmless.
 */
export const invalidateHere = (skus: Iterable<string>) =>
  Effect.flatMap(
    Effect.serviceOption(StockCache),
    Option.match({
      onNone: () => Effect.void,
      onSome: (cache) => cache.invalidate([...new Set(skus)])
    })
  )

/**
 * `cache` with the invalidations asked for in one turn of the event loop sent as one (flushed by
 * setImmediate): the writes of one group commit resume together, so their SKUs are dropped in one
 * Redis round trip instead of one each. Every caller still resumes only once that drop is done,
 * so a write is answered after its entries are gone (read-your-own-writes).
 */
export const invalidatedTogether = (cache: Context.Tag.Service<StockCache>) =>
  Effect.map(Effect.runtime<never>(), (runtime): Context.Tag.Service<StockCache> => {
    const run = Runtime.runPromise(runtime)
    let pending: { readonly skus: Set<string>; readonly dropped: Promise<void> } | undefined
    return {
      ...cache,
      invalidate: (skus) =>
        Effect.promise(() => {
          if (pending === undefined) {
            const batch = new Set<string>()
            pending = {
              skus: batch,
              dropped: new Promise((resolve) =>
                setImmediate(() => {
                  pending = undefined
                  // invalidate never fails: a drop that did not reach Redis retires every entry.
                  run(cache.invalidate([...batch])).then(resolve, resolve)
                })
              )
            }
          }
          for (const sku of typeof skus === "string" ? [skus] : skus) pending.skus.add(sku)
          return pending.dropped
        })
    }
  })
