/**
 * The Redis cache: hits and misses, invalidation of a SKU and of the aggregates, the stale-set
 * race, and outages. A Redis that is slow, stopped or unreachable costs no read an error or a
 * hang, and once it answers again no entry from before a change it missed is served.
 */
import { createServer, type Server, Socket } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Product, Stock } from "@invkit/sdk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { StockCache } from "../src/infra/cache.js"
import * as MemoryCache from "../src/infra/memoryCache.js"
import * as RedisCache from "../src/infra/redisCache.js"
import {
  eventually,
  postgresInventory,
  REDIS_URL,
  redisCommand,
  runId,
  servicesReachable,
  startRedis,
  stopRedis
} from "./eventFixtures.js"

let prefixes = 0
/** A cache with keys of its own, so tests never see each other's entries. */
const cacheLayer = (url = REDIS_URL, ttlSeconds = 60) =>
  RedisCache.layer({ url, ttlSeconds, keyPrefix: `test:${runId}:${++prefixes}:` })

/** A cache that has connected, and so trusts its entries. */
const connectedCache = Effect.gen(function* () {
  const cache = yield* StockCache
  yield* eventually("the cache connected", cache.ready)
  // The first epoch bump follows the connection; a stored entry is the sign it is done.
  yield* eventually(
    "the cache stores entries",
    Effect.gen(function* () {
      yield* cache.through({ name: "probe" }, Effect.succeed("1"))
      return (yield* cache.through({ name: "probe" }, Effect.succeed("2"))) === "1"
    })
  )
  return cache
})

/**
 * A TCP relay on loopback between the cache and Redis that the test can cut and restore: Redis
 * keeps its data while the cache cannot reach it, as in a network partition.
 */
const partitionableRedis = Effect.acquireRelease(
  Effect.promise(async () => {
    const sockets = new Set<Socket>()
    let server: Server | undefined
    const listen = (port: number) =>
      new Promise<number>((resolve) => {
        server = createServer((client) => {
          const upstream = new Socket()
          upstream.connect(6379, "127.0.0.1")
          for (const socket of [client, upstream]) {
            sockets.add(socket)
            socket.on("error", () => undefined)
            socket.on("close", () => {
              sockets.delete(socket)
              client.destroy()
              upstream.destroy()
            })
          }
          client.pipe(upstream)
          upstream.pipe(client)
        })
        server.listen(port, "127.0.0.1", () => resolve((server!.address() as { port: number }).port))
      })
    const port = await listen(0)
    const cut = () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server!.close(() => resolve())
      })
    return {
      url: `redis://127.0.0.1:${port}`,
      cut,
      restore: () => listen(port).then(() => undefined),
      cutAll: cut
    }
  }),
  (proxy) => Effect.promise(() => proxy.cutAll().catch(() => undefined))
)

describe.skipIf(!(await servicesReachable("redis", "postgres")))("Redis cache", () => {
  it.scopedLive(
    "serves hits as the text stored, and invalidation drops the SKU's and the aggregate answers",
    () =>
      Effect.gen(function* () {
        const cache = yield* connectedCache
        let loads = 0
        const level = (sku: string, text: string) =>
          cache.through(
            { name: "level", sku },
            Effect.sync(() => {
              loads += 1
              return text
            })
          )
        // An answer's JSON text, line breaks and all: a hit hands back exactly these characters.
        const answer = '{"onHand":1,\n"updatedAt":"2026-01-02T03:04:05.678Z","name":"ü 1 2\\n"}'

        expect(yield* level("A", answer)).toBe(answer)
        expect(yield* level("A", "not loaded")).toBe(answer)
        expect(yield* level("B", "b1")).toBe("b1")
        expect(yield* cache.through({ name: "overview" }, Effect.succeed("o1"))).toBe("o1")
        expect(yield* cache.through({ name: "overview" }, Effect.succeed("o2"))).toBe("o1")
        expect(loads).toBe(2)

        yield* cache.invalidate("A")
        expect(yield* level("A", "a2")).toBe("a2")
        expect(yield* level("B", "b2")).toBe("b1")
        expect(yield* cache.through({ name: "overview" }, Effect.succeed("o2"))).toBe("o2")
      }).pipe(Effect.provide(cacheLayer()))
  )

  it.scopedLive(
    "several SKUs invalidated in one step (a bulk import's): each one's entries and the aggregates dropped, the others kept, in Redis and in memory",
    () =>
      Effect.gen(function* () {
        for (const layer of [cacheLayer(), MemoryCache.layer({ ttlSeconds: 60 })]) {
          yield* Effect.gen(function* () {
            const cache = yield* connectedCache
            const skus = Array.from({ length: 1_000 }, (_, i) => `MANY-${i}`)
            for (const sku of [...skus, "KEPT"]) {
              yield* cache.through({ name: "level", sku }, Effect.succeed("before"))
            }
            yield* cache.through({ name: "overview" }, Effect.succeed("before"))
            yield* cache.invalidate(skus)
            const after = (sku?: string) =>
              cache.through(
                sku === undefined ? { name: "overview" } : { name: "level", sku },
                Effect.succeed("after")
              )
            expect(yield* after("MANY-0")).toBe("after")
            expect(yield* after("MANY-999")).toBe("after")
            expect(yield* after()).toBe("after")
            expect(yield* after("KEPT")).toBe("before")
          }).pipe(Effect.provide(layer))
        }
      })
  )

  it.scopedLive("the stale-set race: a load that started before an invalidation is not stored", () =>
    Effect.gen(function* () {
      const cache = yield* connectedCache
      const loadStarted = yield* Deferred.make<void>()
      const releaseLoad = yield* Deferred.make<void>()
      // A slow read of the old state...
      const slowRead = yield* Effect.fork(
        cache.through(
          { name: "level", sku: "RACE" },
          Effect.zipRight(
            Effect.zipRight(Deferred.succeed(loadStarted, undefined), Deferred.await(releaseLoad)),
            Effect.succeed("old")
          )
        )
      )
      const slowAggregate = yield* Effect.fork(
        cache.through(
          { name: "low" },
          Effect.zipRight(Deferred.await(releaseLoad), Effect.succeed("old low"))
        )
      )
      yield* Deferred.await(loadStarted)
      // ...overtaken by a change and its invalidation, before the read stores what it loaded.
      yield* cache.invalidate("RACE")
      yield* Deferred.succeed(releaseLoad, undefined)
      expect(yield* Fiber.join(slowRead)).toBe("old")
      expect(yield* Fiber.join(slowAggregate)).toBe("old low")

      expect(yield* cache.through({ name: "level", sku: "RACE" }, Effect.succeed("new"))).toBe("new")
      expect(yield* cache.through({ name: "low" }, Effect.succeed("new low"))).toBe("new low")
      // And the fresh answers are the ones cached now.
      expect(yield* cache.through({ name: "level", sku: "RACE" }, Effect.succeed("later"))).toBe("new")
    }).pipe(Effect.provide(cacheLayer()))
  )

  it.scopedLive(
    "an invalidation lost while Redis was unreachable leaves no stale entry once it is back",
    () =>
      Effect.gen(function* () {
        const proxy = yield* partitionableRedis
        yield* Effect.gen(function* () {
          const cache = yield* connectedCache
          expect(yield* cache.through({ name: "level", sku: "P" }, Effect.succeed("before"))).toBe("before")
          expect(yield* cache.through({ name: "level", sku: "P" }, Effect.succeed("x"))).toBe("before")

          yield* Effect.promise(proxy.cut)
          yield* eventually(
            "the cache saw Redis go",
            Effect.map(cache.ready, (ready) => !ready)
          )
          // The change happens now; its invalidation cannot reach Redis, where the entry stays.
          yield* cache.invalidate("P")
          const started = Date.now()
          expect(yield* cache.through({ name: "level", sku: "P" }, Effect.succeed("during"))).toBe("during")
          expect(Date.now() - started).toBeLessThan(1_000)

          yield* Effect.promise(proxy.restore)
          yield* eventually("the cache reconnected", cache.ready, "10 seconds")
          expect(yield* cache.through({ name: "level", sku: "P" }, Effect.succeed("after"))).toBe("after")
        }).pipe(Effect.scoped, Effect.provide(cacheLayer(proxy.url)))
      })
  )

  it.scopedLive("Redis paused (slow): every read answers from the database in time", () =>
    Effect.gen(function* () {
      const cache = yield* connectedCache
      yield* cache.through({ name: "level", sku: "SLOW" }, Effect.succeed("cached"))
      yield* redisCommand("client", "pause", "1500", "ALL")
      yield* Effect.addFinalizer(() => Effect.ignore(redisCommand("client", "unpause")))
      const timings = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) =>
          Effect.gen(function* () {
            const started = Date.now()
            const answer = yield* cache.through(
              { name: "level", sku: `SLOW-${i % 4}` },
              Effect.succeed(`loaded ${i}`)
            )
            return { answer, took: Date.now() - started }
          }),
        { concurrency: 8 }
      )
      for (const [i, { answer, took }] of timings.entries()) {
        expect(answer).toBe(`loaded ${i}`)
        expect(took).toBeLessThan(800)
      }
    }).pipe(Effect.provide(cacheLayer()))
  )

  it.scopedLive(
    "Redis stopped under read load: no failed read; started again: a change made meanwhile is visible",
    () =>
      Effect.gen(function* () {
        yield* Effect.addFinalizer(() => startRedis)
        const cache = yield* connectedCache
        const stock = yield* Stock.Stock
        const sku = `DOWN-${runId}`
        yield* (yield* Product.Products).add({ sku, name: "Read while Redis is down" })
        yield* stock.set({ sku, quantity: 7 })
        const read = cache
          .through(
            { name: "level", sku },
            Effect.map(stock.level(sku), (level) => String(level.onHand))
          )
          .pipe(Effect.map(Number))
        expect(yield* read).toBe(7)

        let reads = 0
        const failures: Array<unknown> = []
        let slowest = 0
        const readers = yield* Effect.fork(
          Effect.forEach(
            Array.from({ length: 4 }),
            () =>
              Effect.gen(function* () {
                while (true) {
                  const started = Date.now()
                  yield* read.pipe(Effect.catchAllCause((cause) => Effect.sync(() => failures.push(cause))))
                  slowest = Math.max(slowest, Date.now() - started)
                  reads += 1
                  yield* Effect.sleep("5 millis")
                }
              }),
            { concurrency: "unbounded" }
          )
        )

        yield* stopRedis
        // Changed while Redis is down: the invalidation (as the consumer would send it) is lost.
        yield* stock.adjust({ sku, delta: 5 })
        yield* cache.invalidate(sku)
        const readsBefore = reads
        yield* Effect.sleep("500 millis")
        expect(reads).toBeGreaterThan(readsBefore)
        expect(yield* read).toBe(12)

        yield* startRedis
        yield* eventually("the cache reconnected", cache.ready, "15 seconds")
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(readers)

        expect(failures).toEqual([])
        expect(slowest).toBeLessThan(1_000)
        expect(yield* read).toBe(12)
        expect(yield* read).toBe(12)
      }).pipe(Effect.provide(Layer.merge(cacheLayer(), postgresInventory()))),
    60_000
  )

  for (const [name, ttlZero] of [
    ["Redis", cacheLayer(REDIS_URL, 0)],
    ["memory", MemoryCache.layer({ ttlSeconds: 0 })]
  ] as const) {
    it.scopedLive(`TTL 0 (${name}) caches nothing: a read after a direct database write sees it`, () =>
      Effect.gen(function* () {
        const cache = yield* StockCache
        const stock = yield* Stock.Stock
        const sku = `TTL0-${name.toUpperCase()}-${runId}`
        yield* (yield* Product.Products).add({ sku, name: "Never cached" })
        yield* stock.set({ sku, quantity: 3 })
        // Once Redis is connected and trusted, a TTL above 0 would store what the next line loads.
        yield* eventually("the cache answers", cache.ready)
        yield* Effect.sleep("300 millis")
        const read = cache
          .through(
            { name: "level", sku },
            Effect.map(stock.level(sku), (level) => String(level.onHand))
          )
          .pipe(Effect.map(Number))
        expect(yield* read).toBe(3)
        // Straight to the database: no invalidation reaches the cache.
        yield* stock.adjust({ sku, delta: 4 })
        expect(yield* read).toBe(7)
      }).pipe(Effect.provide(Layer.merge(ttlZero, postgresInventory())))
    )
  }
})
