/**
 * The StockCache in one process, for embedded server mode: a Map with a time to live. It keeps
 * the same guard as the Redis cache against the stale-set race: a generation per SKU and one for
 * all stock, read before loading and compared before storing, so an answer loaded before a change
 * is never stored after the change dropped the entry.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StockCache } from "./cache.js"
import { cacheRequest } from "./inventoryMetrics.js"

/** Entries kept at most; past it the oldest go first (a Map iterates in insertion order). */
const MAX_ENTRIES = 10_000

interface Entry {
  readonly text: string
  readonly expiresAt: number
  readonly sku: string | undefined
}

export const layer = (options: { readonly ttlSeconds: number }): Layer.Layer<StockCache> =>
  Layer.sync(StockCache, () => {
    const entries = new Map<string, Entry>()
    const skuGenerations = new Map<string, number>()
    let globalGeneration = 0
    const generationOf = (sku: string | undefined) =>
      sku === undefined ? globalGeneration : (skuGenerations.get(sku) ?? 0)

    return {
      through: (key, load) =>
        Effect.suspend(() => {
          if (options.ttlSeconds === 0) return load
          const id = JSON.stringify([key.name, key.sku ?? null])
          const cached = entries.get(id)
          if (cached && cached.expiresAt > Date.now()) {
            return Effect.as(cacheRequest("hit"), cached.text)
          }
          const generation = generationOf(key.sku)
          return Effect.tap(Effect.zipRight(cacheRequest("miss"), load), (text) =>
            Effect.sync(() => {
              if (generationOf(key.sku) !== generation) return
              entries.delete(id)
              entries.set(id, { text, expiresAt: Date.now() + options.ttlSeconds * 1000, sku: key.sku })
              if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!)
            })
          )
        }),
      invalidate: (skus) =>
        Effect.sync(() => {
          const changed = new Set(typeof skus === "string" ? [skus] : skus)
          for (const sku of changed) skuGenerations.set(sku, (skuGenerations.get(sku) ?? 0) + 1)
          globalGeneration++
          for (const [id, entry] of entries) {
            if (entry.sku === undefined || changed.has(entry.sku)) entries.delete(id)
          }
        }),
      shared: false,
      ready: Effect.succeed(true)
    }
  })
