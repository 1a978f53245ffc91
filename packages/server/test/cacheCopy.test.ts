/**
 * Each process's copy of the shared Redis cache (infra/trackedCopy.ts): a hit on it asks Redis
 * nothing, and it never serves what another instance's change retired: not right after the change
 * (read-your-own-writes across instances), not from a load that a change overtook, not after its
 * tracking connection was cut, not past the entry's TTL.
 */
import { createServer, Socket } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import { StockCache } from "../src/infra/cache.js"
import * as RedisCache from "../src/infra/redisCache.js"
import * as TrackedCopy from "../src/infra/trackedCopy.js"
import { eventually, REDIS_URL, redisCommand, runId, servicesReachable } from "./eventFixtures.js"

let prefixes = 0
const newPrefix = () => `test:${runId}:copy${++prefixes}:`

/** One stock-checker instance's cache under `prefix`: several share what Redis holds. */
const instance = (prefix: string, ttlSeconds = 60, url = REDIS_URL) =>
  Effect.map(Layer.build(RedisCache.layer({ url, ttlSeconds, keyPrefix: prefix })), (context) =>
    Context.get(context, StockCache)
  )

/**
 * A relay on loopback to Redis. It hands the client what Redis sent `delayMs` late, in order (the
 * message about another instance's change then reaches this one after that change was answered),
 * and `freeze` stops its open connections without closing them (a connection that stalls), while
 * new connections pass.
 */
const redisRelay = (delayMs = 0) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{
          readonly url: string
          readonly connections: () => number
          readonly freeze: () => void
          readonly close: () => void
        }>((resolve) => {
          // Every connection made, open or not (for `connections`).
          const made = new Set<{ frozen: boolean; sockets: readonly [Socket, Socket] }>()
          const server = createServer((client) => {
            const upstream = new Socket()
            upstream.connect(6379, "127.0.0.1")
            const pair = { frozen: false, sockets: [client, upstream] as const }
            made.add(pair)
            client.on("data", (chunk) => pair.frozen || upstream.write(chunk))
            upstream.on("data", (chunk) => {
              if (pair.frozen) return
              if (delayMs === 0) client.write(chunk)
              else setTimeout(() => client.writable && client.write(chunk), delayMs)
            })
            for (const [socket, other] of [
              [client, upstream],
              [upstream, client]
            ] as const) {
              socket.on("error", () => other.destroy())
              socket.on("close", () => other.destroy())
            }
          })
          server.listen(0, "127.0.0.1", () => {
            resolve({
              url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`,
              connections: () => made.size,
              freeze: () => {
                for (const pair of made) pair.frozen = true
              },
              close: () => {
                for (const pair of made) for (const socket of pair.sockets) socket.destroy()
                server.close()
              }
            })
          })
        })
    ),
    (relay) => Effect.sync(relay.close)
  )

const entryKey = (prefix: string, name: string, sku: string) =>
  `${prefix}entry:${JSON.stringify([name, sku])}`

/**
 * Reads `sku` through `cache` until the answer outlives its entry in Redis: then it came from the
 * copy in this process, which is kept once tracking is on.
 */
const copied = (cache: Context.Tag.Service<typeof StockCache>, prefix: string, sku: string) =>
  eventually(
    `a copy of ${sku} is kept`,
    Effect.gen(function* () {
      const first = yield* cache.through({ name: "level", sku }, Effect.succeed(`loaded ${Math.random()}`))
      yield* redisCommand("del", entryKey(prefix, "level", sku))
      const second = yield* cache.through({ name: "level", sku }, Effect.succeed(`reloaded ${Math.random()}`))
      return second === first
    })
  )

describe.skipIf(!(await servicesReachable("redis")))("the cache's copy in each process", () => {
  it.scopedLive(
    "a hit on the copy asks Redis nothing; another instance's change is seen right after it",
    () =>
      Effect.gen(function* () {
        const prefix = newPrefix()
        const reader = yield* instance(prefix)
        const writer = yield* instance(prefix)
        yield* copied(reader, prefix, "C")
        // Read, change elsewhere, read again: the second read follows the change's answer at once.
        for (let i = 0; i < 200; i++) {
          yield* reader.through({ name: "level", sku: "C" }, Effect.succeed(`before ${i}`))
          yield* reader.through({ name: "overview" }, Effect.succeed(`overview before ${i}`))
          yield* writer.invalidate(["C"])
          expect(yield* reader.through({ name: "level", sku: "C" }, Effect.succeed(`after ${i}`))).toBe(
            `after ${i}`
          )
          expect(yield* reader.through({ name: "overview" }, Effect.succeed(`overview after ${i}`))).toBe(
            `overview after ${i}`
          )
        }
        // A change of another SKU keeps C's copy.
        yield* copied(reader, prefix, "C")
        const kept = yield* reader.through({ name: "level", sku: "C" }, Effect.succeed("not kept"))
        yield* writer.invalidate(["D"])
        expect(yield* reader.through({ name: "level", sku: "C" }, Effect.succeed("not kept"))).toBe(kept)
      })
  )

  it.scopedLive(
    "read-your-own-writes when the message about the change comes late: the copy waits for it",
    () =>
      Effect.gen(function* () {
        const relay = yield* redisRelay(30)
        const prefix = newPrefix()
        const reader = yield* instance(prefix, 60, relay.url)
        const writer = yield* instance(prefix)
        for (let i = 0; i < 5; i++) {
          yield* copied(reader, prefix, "L")
          yield* writer.invalidate(["L"])
          expect(yield* reader.through({ name: "level", sku: "L" }, Effect.succeed(`after ${i}`))).toBe(
            `after ${i}`
          )
        }
      })
  )

  /**
   * A copy of its own under a new prefix, through `url`, once tracking is on; `confirmed` is a
   * lookup awaited.
   */
  const trackedCopy = (url = REDIS_URL, commandTimeoutMs = 1_000) =>
    Effect.gen(function* () {
      const prefix = newPrefix()
      const copy = yield* Effect.acquireRelease(
        Effect.sync(() =>
          TrackedCopy.make(url, {
            commandTimeoutMs,
            epochKey: `${prefix}epoch`,
            generationPrefix: `${prefix}generation`,
            onRefused: (reason) => {
              throw new Error(reason)
            }
          })
        ),
        (copy) => Effect.sync(copy.close)
      )
      const confirmed = (generation: string, key: string) => {
        const found = copy.lookup(generation, key)
        return found === undefined ? Effect.succeed(undefined) : Effect.promise(() => found)
      }
      const later = Date.now() + 60_000
      yield* eventually(
        "tracking is on",
        Effect.suspend(() => {
          copy.remember(copy.mark(), `${prefix}generation:sku:PROBE`, "probe", "x", later)
          return Effect.map(confirmed(`${prefix}generation:sku:PROBE`, "probe"), (text) => text === "x")
        })
      )
      return { prefix, copy, confirmed, later }
    })

  it.scopedLive("a copy of what Redis answered before a change arrived is not kept", () =>
    Effect.gen(function* () {
      const { prefix, copy, confirmed, later } = yield* trackedCopy()
      const generation = `${prefix}generation:sku:R`
      // The command is sent (the mark), the SKU changes, then its answer comes back.
      const sent = copy.mark()
      yield* redisCommand("incr", generation)
      // Another key's confirmed lookup waits for a PING sent after the change: its message is in.
      copy.remember(copy.mark(), `${prefix}generation:sku:OTHER`, "probe", "y", later)
      expect(yield* confirmed(`${prefix}generation:sku:OTHER`, "probe")).toBe("y")
      copy.remember(sent, generation, "e", "old", later)
      expect(copy.lookup(generation, "e")).toBeUndefined()
      // What a command sent after the change answered is kept.
      copy.remember(copy.mark(), generation, "e", "new", later)
      expect(yield* confirmed(generation, "e")).toBe("new")
    })
  )

  it.scopedLive(
    "a tracking connection that stalls without closing: the read goes to the database, and the copy starts again on a new connection",
    () =>
      Effect.gen(function* () {
        const relay = yield* redisRelay()
        const { prefix, copy, confirmed: confirmedAt, later } = yield* trackedCopy(relay.url, 300)
        const generation = `${prefix}generation:sku:F`
        const confirmed = () => confirmedAt(generation, "level")
        const copiedAgain = eventually(
          "the copy is kept and confirmed",
          Effect.suspend(() => {
            copy.remember(copy.mark(), generation, "level", "kept", later)
            return Effect.map(confirmed(), (text) => text === "kept")
          }),
          "10 seconds"
        )
        yield* copiedAgain
        expect(relay.connections()).toBe(1)

        relay.freeze()
        // The PING does not come back: the read is told to go to the database (never a rejection).
        expect(yield* confirmed()).toBeNull()
        // And the copy is not used again on that connection: it comes back on a new one.
        yield* copiedAgain
        expect(relay.connections()).toBe(2)
      })
  )

  it.scopedLive(
    "the copy is bounded: 10,000 entries and 16 Mi characters, the oldest SKU's dropped first",
    () =>
      Effect.gen(function* () {
        const { prefix, copy, confirmed, later } = yield* trackedCopy()
        const generation = (i: number) => `${prefix}generation:sku:S${i}`
        for (let i = 0; i <= 10_000; i++) copy.remember(copy.mark(), generation(i), "level", `${i}`, later)
        // The probe was the oldest, then S0: both made room.
        expect(copy.lookup(generation(0), "level")).toBeUndefined()
        expect(yield* confirmed(generation(1), "level")).toBe("1")
        expect(yield* confirmed(generation(10_000), "level")).toBe("10000")
        // The same entry again replaces its copy: no room taken.
        copy.remember(copy.mark(), generation(10_000), "level", "again", later)
        expect(yield* confirmed(generation(1), "level")).toBe("1")

        const big = "x".repeat(9 * 1024 * 1024)
        copy.remember(copy.mark(), generation(1), "list", big, later)
        copy.remember(copy.mark(), generation(2), "list", big, later)
        expect(copy.lookup(generation(1), "list")).toBeUndefined()
        expect((yield* confirmed(generation(2), "list"))?.length).toBe(big.length)
        // An answer larger than the whole copy is not copied.
        copy.remember(copy.mark(), generation(3), "list", `${big}${big}`, later)
        expect(copy.lookup(generation(3), "list")).toBeUndefined()
      })
  )

  it.scopedLive("the tracking connection cut: a change made meanwhile is seen, the copy resumes after", () =>
    Effect.gen(function* () {
      const prefix = newPrefix()
      const reader = yield* instance(prefix)
      const writer = yield* instance(prefix)
      yield* copied(reader, prefix, "K")
      const admin = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(REDIS_URL)),
        (redis) => Effect.promise(() => redis.quit())
      )
      for (let i = 0; i < 3; i++) {
        const clients = String(yield* Effect.promise(() => admin.client("LIST")))
        const tracker = clients.split("\n").find((line) => line.includes(` name=invkit-copy:${prefix}epoch `))
        expect(tracker).toBeDefined()
        const id = /\bid=(\d+)/.exec(tracker!)![1]!
        yield* Effect.promise(() => admin.client("KILL", "ID", id))
        yield* writer.invalidate(["K"])
        expect(yield* reader.through({ name: "level", sku: "K" }, Effect.succeed(`after cut ${i}`))).toBe(
          `after cut ${i}`
        )
        yield* copied(reader, prefix, "K")
      }
    })
  )

  it.scopedLive(
    "two deployments on one Redis: each keeps its own copies, a change in one leaves the other's",
    () =>
      Effect.gen(function* () {
        const [first, second] = [newPrefix(), newPrefix()]
        const firstReader = yield* instance(first)
        const secondReader = yield* instance(second)
        const secondWriter = yield* instance(second)
        yield* copied(firstReader, first, "SAME")
        yield* copied(secondReader, second, "SAME")
        const firstAnswer = yield* firstReader.through(
          { name: "level", sku: "SAME" },
          Effect.succeed("reloaded")
        )
        expect(yield* secondReader.through({ name: "level", sku: "SAME" }, Effect.succeed("x"))).not.toBe(
          firstAnswer
        )
        yield* secondWriter.invalidate("SAME")
        expect(
          yield* secondReader.through({ name: "level", sku: "SAME" }, Effect.succeed("second's new"))
        ).toBe("second's new")
        // The first deployment's entry is gone from Redis (copied() deleted it): only its copy answers.
        expect(yield* firstReader.through({ name: "level", sku: "SAME" }, Effect.succeed("reloaded"))).toBe(
          firstAnswer
        )
      })
  )

  it.scopedLive("a copy lives no longer than its entry's TTL", () =>
    Effect.gen(function* () {
      const prefix = newPrefix()
      const reader = yield* instance(prefix, 1)
      yield* copied(reader, prefix, "T")
      yield* Effect.sleep("1100 millis")
      expect(yield* reader.through({ name: "level", sku: "T" }, Effect.succeed("expired"))).toBe("expired")
    })
  )

  it.scopedLive("a Redis user not allowed to track: no copy, every read asks Redis, changes are seen", () =>
    Effect.gen(function* () {
      const user = `invkit-notrack-${runId}`
      yield* redisCommand("acl", "setuser", user, "on", "nopass", "~*", "&*", "+@all", "-client|tracking")
      yield* Effect.addFinalizer(() => Effect.ignore(redisCommand("acl", "deluser", user)))
      const url = REDIS_URL.replace("redis://", `redis://${user}@`)
      const prefix = newPrefix()
      const layer = (ttlSeconds: number) => RedisCache.layer({ url, ttlSeconds, keyPrefix: prefix })
      const reader = Context.get(yield* Layer.build(layer(60)), StockCache)
      const writer = Context.get(yield* Layer.build(layer(60)), StockCache)
      yield* eventually(
        "the cache stores entries",
        Effect.map(
          Effect.zipRight(
            reader.through({ name: "level", sku: "N" }, Effect.succeed("first")),
            reader.through({ name: "level", sku: "N" }, Effect.succeed("second"))
          ),
          (text) => text === "first"
        )
      )
      yield* Effect.sleep("300 millis")
      yield* redisCommand("del", entryKey(prefix, "level", "N"))
      expect(yield* reader.through({ name: "level", sku: "N" }, Effect.succeed("from Redis"))).toBe(
        "from Redis"
      )
      yield* writer.invalidate("N")
      expect(yield* reader.through({ name: "level", sku: "N" }, Effect.succeed("changed"))).toBe("changed")
    })
  )
})
