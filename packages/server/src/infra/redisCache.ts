/**
 * The StockCache on Redis (ioredis), shared by every stock-checker instance.
 *
 * Coherence. Redis holds generation counters: one per SKU, one global (for answers about many
 * SKUs: low stock, overview) and an epoch. Every entry stores the epoch and the generation that
 * were current *before* its value was loaded, and is served only while both are still current.
 * `invalidate(skus)` bumps the SKUs' and the global generation and deletes the SKUs' entries and
 * the aggregate ones, in one script however many SKUs (a bulk import lists a thousand per event). The store after a load is a compare-and-set in one Lua script: if an
 * invalidation happened while loading, the older value is not stored (the stale-set race).
 *
 * Outages. Commands fail fast (no offline queue, a short command timeout): a cache that is down
 * or slow is a miss, and the answer comes from `load`; `through` never fails because of Redis
 * and never waits longer than the timeout for it. An invalidation that could not reach Redis
 * would leave a stale entry behind, so the cache bumps the epoch, which retires every entry at
 * once, whenever it (re)connects and after any failed invalidation; until that bump succeeded it
 * neither reads nor writes entries. Generation keys have no TTL: run Redis with a `noeviction` or
 * `volatile-*` eviction policy so they are never evicted.
 *
 * Each process that reads keeps a copy of the entries it was answered (infra/trackedCopy.ts), which
 * Redis keeps coherent: a hit on it costs no command of its own.
 *
 * Keys start with the deployment's namespace (infra/redis.ts); until it is known the cache is
 * untrusted too. A TTL of 0 caches nothing, but invalidations still go out: other instances (during
 * a rollout, say) may cache with another TTL.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type { Result } from "ioredis"
import { StockCache } from "./cache.js"
import { cacheRequest, unsafeCacheRequest } from "./inventoryMetrics.js"
import { connect } from "./redis.js"
import * as TrackedCopy from "./trackedCopy.js"

export interface RedisCacheOptions {
  readonly url: Redacted.Redacted<string> | string
  /** How long an entry lives at most, in seconds; 0 caches nothing. */
  readonly ttlSeconds: number
  /** The longest Redis may take to answer one command before it counts as a miss. Default 200 ms. */
  readonly commandTimeout?: Duration.DurationInput
  /**
   * Prefix of every key, so several deployments (or tests) can share one Redis; an effect when it is
   * known only later (the namespace derived from the database).
   */
  readonly keyPrefix: string | Effect.Effect<string>
}

declare module "ioredis" {
  interface RedisCommander<Context> {
    storeIfCurrent(
      entryKey: string,
      epochKey: string,
      generationKey: string,
      indexKey: string,
      epoch: string,
      generation: string,
      payload: string,
      ttlSeconds: number
    ): Result<number, Context>
    /** Keys: the global generation, the aggregate index, then each SKU's generation and index. */
    invalidateSkus(numberOfKeys: number, ...keys: ReadonlyArray<string>): Result<number, Context>
  }
}

/**
 * Stores the entry only if the epoch and the generation read before the load are still current,
 * and remembers its key in an index so an invalidation can delete it.
 */
const STORE_IF_CURRENT = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('SADD', KEYS[4], KEYS[1])
redis.call('EXPIRE', KEYS[4], ARGV[4])
return 1`

/** Bumps the SKUs' and the global generation, then deletes the entries they retire. */
const INVALIDATE_SKUS = `
local function drop(index)
  local entries = redis.call('SMEMBERS', index)
  for i = 1, #entries, 500 do
    redis.call('DEL', unpack(entries, i, math.min(i + 499, #entries)))
  end
  redis.call('DEL', index)
end
redis.call('INCR', KEYS[1])
drop(KEYS[2])
for k = 3, #KEYS, 2 do
  redis.call('INCR', KEYS[k])
  drop(KEYS[k + 1])
end
return 1`

/**
 * An entry is the epoch and generation it was loaded under and when it expires (ms since the epoch,
 * for the copies kept in each process), then the answer's JSON text: `1 7 1796000000000\n{"sku":…}`.
 * A hit is checked by comparing the start of that first line and served by slicing the rest, with
 * no parsing of the answer. An entry in another shape (an older release's) never matches: a miss.
 */
const stampOf = (epoch: string, generation: string) => `${epoch} ${generation} `

export const layer = (options: RedisCacheOptions): Layer.Layer<StockCache> =>
  Layer.scoped(
    StockCache,
    Effect.gen(function* () {
      const timeoutMs = Duration.toMillis(options.commandTimeout ?? "200 millis")
      const { ttlSeconds } = options
      const keysUnder = (prefix: string) => ({
        epoch: `${prefix}epoch`,
        globalGeneration: `${prefix}generation`,
        skuGeneration: (sku: string) => `${prefix}generation:sku:${sku}`,
        skuIndex: (sku: string) => `${prefix}index:sku:${sku}`,
        aggregateIndex: `${prefix}index:aggregate`,
        entry: (name: string, sku: string | undefined) =>
          `${prefix}entry:${JSON.stringify([name, sku ?? null])}`
      })
      let keys: ReturnType<typeof keysUnder> | undefined =
        typeof options.keyPrefix === "string" ? keysUnder(options.keyPrefix) : undefined

      const url = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
      const redis = yield* connect(
        url,
        // The reads of one turn of the event loop leave in one write: a write per MGET was a tenth
        // of a cached read's CPU (docs/benchmarks-log.md).
        { commandTimeoutMs: timeoutMs, autoPipelining: true }
      )
      redis.defineCommand("storeIfCurrent", { numberOfKeys: 4, lua: STORE_IF_CURRENT })
      // No fixed number of keys: the first argument says how many follow.
      redis.defineCommand("invalidateSkus", { lua: INVALIDATE_SKUS })

      /**
       * Whether entries may not be trusted until the epoch is bumped: from the start, after a
       * disconnection, after an invalidation that failed.
       */
      let untrusted = true
      // Retirements asked for; a bump only restores trust if none was asked for after it was sent.
      let retirementsAsked = 0
      let repairing = false
      const distrust = () => {
        retirementsAsked += 1
        untrusted = true
      }
      const repair = () => {
        const epochKey = keys?.epoch
        if (repairing || !untrusted || epochKey === undefined) return
        repairing = true
        const covers = retirementsAsked
        redis
          .incr(epochKey)
          .then(
            () => {
              if (covers === retirementsAsked) untrusted = false
            },
            () => undefined
          )
          .finally(() => {
            repairing = false
          })
      }
      const retireEverything = () => {
        distrust()
        repair()
      }
      redis.on("close", distrust)
      redis.on("ready", retireEverything)
      if (typeof options.keyPrefix !== "string") {
        yield* Effect.forkScoped(
          Effect.map(options.keyPrefix, (prefix) => {
            keys = keysUnder(prefix)
            repair()
          })
        )
      }

      /**
       * A Redis command, which answers within the timeout or fails: the client's own
       * `commandTimeout` and its refusal to queue while disconnected (infra/redis.ts) bound it.
       */
      const command = <A>(run: () => Promise<A>) => Effect.tryPromise(run)

      // Started by the first read: a process that only invalidates (stock-updater) keeps no copy.
      let copy: TrackedCopy.TrackedCopy | undefined
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          copy?.close()
          // A read that comes after the cache closed opens no connection that nothing would close.
          copy = TrackedCopy.none
        })
      )
      const copyUnder = (current: NonNullable<typeof keys>) => {
        if (copy === undefined) {
          copy = TrackedCopy.make(url, {
            commandTimeoutMs: timeoutMs,
            epochKey: current.epoch,
            generationPrefix: current.globalGeneration,
            onRefused: (reason) =>
              runFork(
                Effect.logWarning(
                  `cache: Redis refused to track keys (${reason}); each read asks Redis, no copy is kept in this process`
                )
              )
          })
        }
        return copy
      }

      /** The entry from Redis, else `load`'s answer, stored there; either one copied here. */
      const throughRedis = <E, R>(
        current: NonNullable<typeof keys>,
        local: TrackedCopy.TrackedCopy,
        key: { readonly name: string; readonly sku?: string },
        entryKey: string,
        generationKey: string,
        load: Effect.Effect<string, E, R>
      ): Effect.Effect<string, E, R> => {
        const mark = local.mark()
        return Effect.matchEffect(
          command(() => redis.mget(entryKey, current.epoch, generationKey)),
          {
            onFailure: () => Effect.zipRight(cacheRequest("error"), load),
            onSuccess: ([cached, epochNow, generationNow]) => {
              const epoch = epochNow ?? "0"
              const generation = generationNow ?? "0"
              const stamp = stampOf(epoch, generation)
              const textAt = cached?.startsWith(stamp) ? cached.indexOf("\n", stamp.length) + 1 : 0
              if (textAt > 0) {
                unsafeCacheRequest("hit")
                const text = cached!.slice(textAt)
                local.remember(
                  mark,
                  generationKey,
                  entryKey,
                  text,
                  Number(cached!.slice(stamp.length, textAt - 1))
                )
                return Effect.succeed(text)
              }
              return Effect.zipRight(cacheRequest("miss"), load).pipe(
                Effect.tap((text) => {
                  const expiresAt = Date.now() + ttlSeconds * 1000
                  return command(() =>
                    redis.storeIfCurrent(
                      entryKey,
                      current.epoch,
                      generationKey,
                      key.sku === undefined ? current.aggregateIndex : current.skuIndex(key.sku),
                      epoch,
                      generation,
                      `${stamp}${expiresAt}\n${text}`,
                      ttlSeconds
                    )
                  ).pipe(
                    Effect.tap((stored) => {
                      if (stored === 1) local.remember(mark, generationKey, entryKey, text, expiresAt)
                    }),
                    Effect.ignore
                  )
                })
              )
            }
          }
        )
      }

      // A hit on the copy is a lookup and a PING shared by the turn's reads; on Redis one command.
      const through = <E, R>(
        key: { readonly name: string; readonly sku?: string },
        load: Effect.Effect<string, E, R>
      ): Effect.Effect<string, E, R> =>
        Effect.suspend(() => {
          if (ttlSeconds === 0) return load
          const current = keys
          if (untrusted || current === undefined) {
            // Entries are retired after an outage: an error until Redis answers the epoch bump.
            repair()
            return Effect.zipRight(cacheRequest("error"), load)
          }
          const local = copyUnder(current)
          const entryKey = current.entry(key.name, key.sku)
          const generationKey =
            key.sku === undefined ? current.globalGeneration : current.skuGeneration(key.sku)
          const copied = local.lookup(generationKey, entryKey)
          if (copied === undefined) return throughRedis(current, local, key, entryKey, generationKey, load)
          return Effect.flatMap(
            Effect.promise(() => copied),
            (text) => {
              // The PING did not come back in time: Redis is slow or away, as for a failed MGET.
              if (text === null) return Effect.zipRight(cacheRequest("error"), load)
              if (text === undefined) return throughRedis(current, local, key, entryKey, generationKey, load)
              unsafeCacheRequest("hit")
              return Effect.succeed(text)
            }
          )
        })

      const invalidate = (skus: string | ReadonlyArray<string>): Effect.Effect<void> => {
        const changed = typeof skus === "string" ? [skus] : skus
        const named = changed.length === 1 ? changed[0] : `${changed.length} SKUs`
        return command(() => {
          const current = keys
          if (current === undefined) throw new Error("the namespace is not known yet")
          const keyList = [
            current.globalGeneration,
            current.aggregateIndex,
            ...changed.flatMap((sku) => [current.skuGeneration(sku), current.skuIndex(sku)])
          ]
          return redis.invalidateSkus(keyList.length, ...keyList)
        }).pipe(
          Effect.asVoid,
          Effect.catchAll(() =>
            Effect.zipRight(
              Effect.sync(retireEverything),
              Effect.logWarning(
                `cache: could not invalidate ${named} in Redis; retiring every entry once it answers`
              )
            )
          )
        )
      }

      return {
        through,
        invalidate,
        shared: true,
        ready: command(() => redis.ping()).pipe(
          Effect.as(true),
          Effect.orElseSucceed(() => false)
        )
      }
    })
  )
