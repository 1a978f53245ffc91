/**
 * The request path's Redis traffic, counted on a real Redis (MONITOR, the commands under the test's
 * own namespace): a burst of one subject's requests is counted in fewer round trips than requests,
 * yet lets in exactly the rate; the cache drops asked for by writes that finish together (a group
 * commit) go to Redis as one script call, and each writer resumes only after its entries are gone;
 * a cached read is stored as its response's bytes and a hit is sent as stored, with no schema work;
 * a burst of cached reads is answered from the process's copy with no Redis command but the PINGs
 * that confirm it, at most one a read; without that copy (a Redis user not allowed to track keys)
 * a burst costs one MGET each and nothing else, the reads of one turn of the event loop in one write
 * to Redis; every answer, a refusal too, echoes the request id.
 */
import { randomBytes } from "node:crypto"
import { Socket } from "node:net"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { StockCache } from "../src/infra/cache.js"
import * as EventWiring from "../src/infra/eventWiring.js"
import * as StockChecker from "../src/stockChecker/main.js"
import { eventually as eventuallyEffect, REDIS_URL, servicesReachable } from "./eventFixtures.js"
import { eventually, send } from "./serviceProcesses.js"
import { freePort, freshDatabase, jwtAuth, startInProcess, testConfig, testToken } from "./utils.js"

const reachable = await servicesReachable("postgres", "redis")

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
}, 60_000)

/**
 * The commands clients ran on keys under `prefix` (by default the scripts: EVAL, EVALSHA), as
 * MONITOR sees them.
 */
const monitorUnder = async (prefix: string, commands = /^eval/i) => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const monitor = await redis.monitor()
  const seen: Array<ReadonlyArray<string>> = []
  monitor.on("monitor", (_time: string, args: ReadonlyArray<string>, source: string) => {
    if (source !== "lua" && commands.test(args[0] ?? "") && args.some((arg) => arg.includes(prefix)))
      seen.push(args)
  })
  return {
    seen,
    stop: async () => {
      monitor.disconnect()
      redis.disconnect()
    }
  }
}

describe.skipIf(!reachable)("a lean request path", () => {
  it("counts a burst of one subject's requests in fewer Redis round trips than requests, and lets in exactly the rate", async () => {
    const prefix = `test-lean-${randomBytes(4).toString("hex")}`
    const rate = 10
    const burst = 25
    const database = await freshDatabase()
    cleanups.unshift(database.drop)
    const port = await freePort()
    const server = await startInProcess(
      StockChecker.main(
        testConfig({
          port,
          databaseUrl: Option.some(Redacted.make(database.url)),
          redisUrl: Option.some(Redacted.make(REDIS_URL)),
          redisPrefix: Option.some(prefix),
          auth: jwtAuth,
          limits: { maxBodyBytes: 1024 * 1024, ratePerSecond: rate }
        })
      ),
      port
    )
    cleanups.unshift(server.stop)
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    cleanups.unshift(async () => redis.quit())
    // Another subject's requests (admitted or not) until they are counted in Redis: the limiter is
    // connected.
    const probe = { authorization: `Bearer ${await testToken("viewer", `probe-${prefix}`)}` }
    await eventually(
      "the rate is counted in Redis",
      async () => {
        await send(server.baseUrl, "GET", "/v1/overview", undefined, probe)
        return (await redis.keys(`${prefix}:rate:*`)).length > 0 ? true : undefined
      },
      15_000,
      100
    )

    // As many open connections as the burst will use, so its requests arrive together, as a
    // busy server's do (requests on fresh connections trickle in one by one).
    await Promise.all(
      Array.from({ length: burst }, () => send(server.baseUrl, "GET", "/v1/overview", undefined, probe))
    )

    const subject = `burst-${prefix}`
    const headers = { authorization: `Bearer ${await testToken("viewer", subject)}` }
    const monitor = await monitorUnder(`${prefix}:rate:subject:${subject}`)
    cleanups.unshift(monitor.stop)
    const answers = await Promise.all(
      Array.from({ length: burst }, () => send(server.baseUrl, "GET", "/v1/overview", undefined, headers))
    )
    // MONITOR reports a command before the next reply; one more round trip makes sure all are in.
    await redis.ping()
    await monitor.stop()

    const statuses = answers.map((answer) => answer.status)
    expect(statuses.filter((status) => status === 200)).toHaveLength(rate)
    expect(statuses.filter((status) => status === 429)).toHaveLength(burst - rate)
    // Every request counted once (the increments add up to the burst)...
    const increments = monitor.seen.map(([, _script, _keys, _key, points]) => Number(points))
    expect(increments.reduce((sum, n) => sum + n, 0)).toBe(burst)
    // ...in fewer round trips than requests (one per request before).
    expect(monitor.seen.length).toBeLessThan(burst / 2)
  }, 60_000)

  it("sends the cache drops of writes that finish together as one Redis call, each writer resuming after its entries are gone", async () => {
    const prefix = `test-lean-${randomBytes(4).toString("hex")}`
    const skus = Array.from({ length: 20 }, (_, i) => `LEAN-${i}`)
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    cleanups.unshift(async () => redis.quit())
    const entryKey = (sku: string) => `${prefix}:cache:entry:${JSON.stringify(["level", sku])}`

    const program = Effect.gen(function* () {
      const cache = yield* StockCache
      // Stored entries for every SKU (the first ones only once the cache trusts Redis).
      yield* eventuallyEffect(
        "every SKU cached",
        Effect.gen(function* () {
          for (const sku of skus) yield* cache.through({ name: "level", sku }, Effect.succeed("1"))
          return (yield* Effect.promise(() => redis.exists(...skus.map(entryKey)))) === skus.length
        })
      )
      const monitor = yield* Effect.promise(() => monitorUnder(`${prefix}:cache:`))
      // Each writer checks its entry right as it resumes: gone already.
      const leftBehind = yield* Effect.forEach(
        skus,
        (sku) =>
          Effect.zipRight(
            cache.invalidate([sku]),
            Effect.promise(() => redis.exists(entryKey(sku)))
          ),
        { concurrency: "unbounded" }
      )
      yield* Effect.promise(() => redis.ping())
      yield* Effect.promise(monitor.stop)
      return { leftBehind, calls: monitor.seen }
    })
    const { leftBehind, calls } = await Effect.runPromise(
      program.pipe(
        Effect.provide(
          EventWiring.stockCache({
            redisUrl: Option.some(Redacted.make(REDIS_URL)),
            ttlSeconds: 60,
            namespace: Effect.succeed(prefix)
          })
        ),
        Effect.scoped
      )
    )
    expect(leftBehind).toEqual(skus.map(() => 0))
    // One script call for the twenty writers (twenty before), naming every SKU's generation.
    expect(calls).toHaveLength(1)
    for (const sku of skus) expect(calls[0]).toContain(`${prefix}:cache:generation:sku:${sku}`)
  }, 60_000)

  /** stock-checker on a fresh database and Redis under `prefix`, a Redis client, a viewer's headers. */
  const cachedChecker = async (prefix: string, redisUrl = REDIS_URL) => {
    const database = await freshDatabase()
    cleanups.unshift(database.drop)
    const port = await freePort()
    const server = await startInProcess(
      StockChecker.main(
        testConfig({
          port,
          databaseUrl: Option.some(Redacted.make(database.url)),
          redisUrl: Option.some(Redacted.make(redisUrl)),
          redisPrefix: Option.some(prefix),
          auth: jwtAuth
        })
      ),
      port
    )
    cleanups.unshift(server.stop)
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    cleanups.unshift(async () => redis.quit())
    const headers = { authorization: `Bearer ${await testToken("viewer", `reader-${prefix}`)}` }
    return { server, redis, headers }
  }

  it("stores a cached read as its response's bytes and sends a hit as stored, with no decoding or encoding", async () => {
    const prefix = `test-lean-${randomBytes(4).toString("hex")}`
    const { server, redis, headers } = await cachedChecker(prefix)
    const read = async () => {
      const response = await fetch(`${server.baseUrl}/v1/overview`, { headers })
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        body: await response.text()
      }
    }
    const entryKey = `${prefix}:cache:entry:${JSON.stringify(["overview", null])}`
    // The first read that the cache (connected, trusted) stores.
    const miss = await eventually(
      "the overview is cached",
      async () => {
        const answer = await read()
        return (await redis.exists(entryKey)) === 1 ? answer : undefined
      },
      15_000,
      100
    )
    expect(miss.status).toBe(200)
    expect(miss.type).toBe("application/json")
    expect(JSON.parse(miss.body)).toMatchObject({ products: 0, units: 0 })
    expect(await read()).toEqual(miss)
    const stored = (await redis.get(entryKey)) ?? ""

    // The entry changed behind the cache's back into what the contract's schema refuses (a count
    // as text): a hit that decoded and encoded would fail on it; one sent as stored does not. It is
    // stored under a new generation, so the process's copy of the old entry is dropped.
    const [stamp = "", ...body] = stored.split("\n")
    const [epoch, , expiresAt] = stamp.split(" ")
    const generation = await redis.incr(`${prefix}:cache:generation`)
    const tampered = `${epoch} ${generation} ${expiresAt}\n${body.join("\n").replace('"products":0', '"products":"none"')}`
    expect(tampered).toContain('"products":"none"')
    await redis.set(entryKey, tampered, "KEEPTTL")
    const hit = await read()
    expect(hit.status).toBe(200)
    expect(hit.type).toBe("application/json")
    expect(JSON.parse(hit.body)).toMatchObject({ products: "none", units: 0 })
    // What Redis holds is the response itself, after the line that says when it was loaded.
    expect(stored.endsWith(miss.body)).toBe(true)
  }, 60_000)

  it("answers a burst of cached reads from the process's copy: no Redis command but PINGs, at most one a read", async () => {
    const prefix = `test-lean-${randomBytes(4).toString("hex")}`
    const burst = 20
    const { server, redis, headers } = await cachedChecker(prefix)
    const read = () => send(server.baseUrl, "GET", "/v1/overview", undefined, headers)
    // Every command of every client, with where it came from.
    const monitor = await redis.duplicate().monitor()
    cleanups.unshift(async () => monitor.disconnect())
    const seen: Array<{ readonly args: ReadonlyArray<string>; readonly source: string }> = []
    monitor.on("monitor", (_time: string, args: ReadonlyArray<string>, source: string) => {
      seen.push({ args, source })
    })
    const underPrefix = () =>
      seen.filter(({ args, source }) => source !== "lua" && args.some((arg) => arg.includes(prefix)))
    await eventually(
      "a read is answered from the copy, with no command under the prefix",
      async () => {
        const before = underPrefix().length
        expect((await read()).status).toBe(200)
        await redis.ping()
        return underPrefix().length === before ? true : undefined
      },
      15_000,
      100
    )
    // The connection that keeps the copy coherent is named after the deployment's keys.
    const tracker = String(await redis.client("LIST"))
      .split("\n")
      .find((line) => line.includes(` name=invkit-copy:${prefix}:cache:epoch `))
    const trackerAddress = /\baddr=(\S+)/.exec(tracker ?? "")?.[1]
    expect(trackerAddress).toBeDefined()
    await Promise.all(Array.from({ length: burst }, read))

    const before = seen.length
    const answers = await Promise.all(Array.from({ length: burst }, read))
    await redis.ping()
    const during = seen.slice(before)
    expect(answers.map((answer) => answer.status)).toEqual(Array(burst).fill(200))
    expect(during.filter(({ args }) => args.some((arg) => arg.includes(prefix)))).toEqual([])
    const pings = during.filter(({ source }) => source === trackerAddress)
    expect(pings.every(({ args }) => args[0]?.toLowerCase() === "ping")).toBe(true)
    // One PING confirms the copies of every read that began before it was sent.
    expect(pings.length).toBeGreaterThan(0)
    expect(pings.length).toBeLessThanOrEqual(burst)
  }, 60_000)

  it("without the copy (a Redis user not allowed to track keys), answers a burst of cached reads with one MGET each and no other command, the reads of one turn in one write to Redis", async () => {
    const prefix = `test-lean-${randomBytes(4).toString("hex")}`
    const burst = 20
    const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    const user = `invkit-lean-${randomBytes(4).toString("hex")}`
    await admin.acl("SETUSER", user, "on", "nopass", "~*", "&*", "+@all", "-client|tracking")
    cleanups.unshift(async () => {
      await admin.acl("DELUSER", user)
      await admin.quit()
    })
    const { server, redis, headers } = await cachedChecker(
      prefix,
      REDIS_URL.replace("redis://", `redis://${user}@`)
    )
    const entryKey = `${prefix}:cache:entry:${JSON.stringify(["overview", null])}`
    await eventually(
      "the overview is cached",
      async () => {
        await send(server.baseUrl, "GET", "/v1/overview", undefined, headers)
        return (await redis.exists(entryKey)) === 1 ? true : undefined
      },
      15_000,
      100
    )
    // As many open connections as the burst will use, so that its requests arrive together.
    await Promise.all(
      Array.from({ length: burst }, () => send(server.baseUrl, "GET", "/v1/overview", undefined, headers))
    )

    const monitor = await monitorUnder(prefix, /./)
    cleanups.unshift(monitor.stop)
    // The writes of this process's sockets that carry the entry's key: the service's to Redis.
    let writes = 0
    const write = Socket.prototype.write
    Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: Array<unknown>) {
      if ((typeof chunk === "string" || Buffer.isBuffer(chunk)) && chunk.toString().includes(entryKey))
        writes++
      return write.call(this, chunk as string, ...(rest as [])) as boolean
    } as typeof write
    let answers: Array<{ status: number }>
    try {
      answers = await Promise.all(
        Array.from({ length: burst }, () => send(server.baseUrl, "GET", "/v1/overview", undefined, headers))
      )
    } finally {
      Socket.prototype.write = write
    }
    // MONITOR reports a command before the next reply; one more round trip makes sure all are in.
    await redis.ping()
    await monitor.stop()

    expect(answers.map((answer) => answer.status)).toEqual(Array(burst).fill(200))
    // One command per read, an MGET of the entry with its epoch and generation; nothing else.
    expect(monitor.seen.map(([command]) => command!.toLowerCase())).toEqual(Array(burst).fill("mget"))
    for (const args of monitor.seen) expect(args[1]).toBe(entryKey)
    // Sent in fewer writes than reads (one write per read before).
    expect(writes).toBeGreaterThan(0)
    expect(writes).toBeLessThan(burst / 2)
  }, 60_000)

  it("echoes the request id on every answer, a refusal by the guard and the router's 404 too", async () => {
    const database = await freshDatabase()
    cleanups.unshift(database.drop)
    const port = await freePort()
    const server = await startInProcess(
      StockChecker.main(
        testConfig({ port, databaseUrl: Option.some(Redacted.make(database.url)), auth: jwtAuth })
      ),
      port
    )
    cleanups.unshift(server.stop)
    const viewer = { authorization: `Bearer ${await testToken("viewer", "request-ids")}` }
    const answers = [
      ["200", "/v1/overview", viewer],
      ["401", "/v1/overview", {}],
      ["404", "/v1/no-such-route", viewer]
    ] as const
    for (const [status, path, auth] of answers) {
      const given = `lean-${status}-${randomBytes(4).toString("hex")}`
      const answer = await send(server.baseUrl, "GET", path, undefined, { ...auth, "x-request-id": given })
      expect(answer.status).toBe(Number(status))
      expect(answer.headers.get("x-request-id")).toBe(given)
    }
    // One the caller did not give is made up, one per request.
    const made = await Promise.all(
      [1, 2].map(async () => (await send(server.baseUrl, "GET", "/v1/overview", undefined, {})).headers)
    )
    expect(made[0]!.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    expect(made[0]!.get("x-request-id")).not.toBe(made[1]!.get("x-request-id"))
  }, 60_000)
})
