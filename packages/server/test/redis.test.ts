/**
 * Redis as the services share it: two deployments on one Redis database keep apart (each answers
 * its own levels and counts its own rate, under a namespace derived from its database, or the one
 * INV_REDIS_PREFIX sets), and every service that uses Redis reports it in /ready.
 */
import { randomBytes } from "node:crypto"
import { openInventory } from "@invkit/sdk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { Redis } from "ioredis"
import pg from "pg"
import { afterAll, describe, expect, it } from "vitest"
import { type ServerConfig, serverConfig } from "../src/config.js"
import { namespaceOf } from "../src/infra/redis.js"
import * as StockChecker from "../src/stockChecker/main.js"
import * as StockUpdater from "../src/stockUpdater/main.js"
import * as SupplierSync from "../src/supplierSync/main.js"
import { servicesReachable } from "./eventFixtures.js"
import { eventually, isolatedRedisUrl, send } from "./serviceProcesses.js"
import { freePort, freshDatabase, Redacted, startInProcess, testConfig } from "./utils.js"

const reachable = await servicesReachable("postgres", "redis")

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
}, 60_000)

const mains = {
  "stock-updater": StockUpdater.main,
  "stock-checker": StockChecker.main,
  "supplier-sync": SupplierSync.main
}

/** `service` in this process on `databaseUrl`, with `overrides`; stopped after the file. */
const startService = async (
  service: keyof typeof mains,
  databaseUrl: string,
  overrides: Partial<ServerConfig>
) => {
  const main = mains[service]
  const port = await freePort()
  const server = await startInProcess(
    main(testConfig({ port, databaseUrl: Option.some(Redacted.make(databaseUrl)), ...overrides })),
    port
  )
  cleanups.unshift(server.stop)
  return server.baseUrl
}

const databaseWith = async (levels: Record<string, number>) => {
  const database = await freshDatabase()
  cleanups.push(database.drop)
  const inventory = await openInventory({ databaseUrl: database.url })
  try {
    for (const [sku, quantity] of Object.entries(levels)) {
      await inventory.products.add({ sku, name: sku })
      await inventory.stock.set(sku, quantity)
    }
  } finally {
    await inventory.close()
  }
  return database.url
}

/** What the server derives: the database's system identifier and name, asked here independently. */
const expectedNamespace = async (databaseUrl: string) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query(
      "select system_identifier::text as id, current_database() as name from pg_control_system()"
    )
    return namespaceOf({ systemIdentifier: rows[0].id, database: rows[0].name })
  } finally {
    await client.end()
  }
}

describe.skipIf(!reachable)("Redis shared by two deployments", () => {
  it("two stock-checkers on two databases, one Redis database: each answers its own levels and counts its own rate", async () => {
    const sku = `SHARED-${randomBytes(3).toString("hex").toUpperCase()}`
    const [databaseA, databaseB] = await Promise.all([databaseWith({ [sku]: 5 }), databaseWith({ [sku]: 9 })])
    const redisUrl = isolatedRedisUrl()
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
    cleanups.unshift(async () => redis.quit())
    const rate = 10
    const settings: Partial<ServerConfig> = {
      redisUrl: Option.some(Redacted.make(redisUrl)),
      cacheTtlSeconds: 300,
      limits: { maxBodyBytes: 4 * 1024 * 1024, ratePerSecond: rate }
    }
    const [a, b] = await Promise.all([
      startService("stock-checker", databaseA, settings),
      startService("stock-checker", databaseB, settings)
    ])
    const [namespaceA, namespaceB] = await Promise.all([
      expectedNamespace(databaseA),
      expectedNamespace(databaseB)
    ])
    expect(namespaceA).not.toBe(namespaceB)

    // a's answer is cached in Redis...
    await eventually(
      "a answers 5 and has it cached",
      async () => {
        const level = await send(a, "GET", `/v1/stock/${sku}`)
        const cached = await redis.keys(`*:cache:entry:*${sku}*`)
        return level.body?.onHand === 5 && cached.length > 0 ? true : undefined
      },
      15_000,
      250
    )
    // ...and b, asked the same question of its own database, answers its own level.
    expect((await send(b, "GET", `/v1/stock/${sku}`)).body).toMatchObject({ sku, onHand: 9 })
    expect((await send(a, "GET", `/v1/stock/${sku}`)).body).toMatchObject({ sku, onHand: 5 })
    // Under a namespace each.
    expect(await redis.keys(`${namespaceA}:cache:entry:*${sku}*`)).not.toEqual([])
    expect(await redis.keys(`${namespaceB}:cache:entry:*${sku}*`)).not.toEqual([])

    // Both count in Redis, each under its own namespace (keys live a second)...
    await eventually(
      "both count requests in Redis",
      async () => {
        await Promise.all([send(a, "GET", "/v1/overview"), send(b, "GET", "/v1/overview")])
        const [countsA, countsB] = await Promise.all([
          redis.keys(`${namespaceA}:rate:*`),
          redis.keys(`${namespaceB}:rate:*`)
        ])
        return countsA.length > 0 && countsB.length > 0 ? true : undefined
      },
      10_000,
      250
    )
    // ...so a's spent budget is not b's.
    const burst = await Promise.all(Array.from({ length: rate + 1 }, () => send(a, "GET", "/v1/overview")))
    expect(burst.map((answer) => answer.status)).toContain(429)
    expect((await send(b, "GET", "/v1/overview")).status).toBe(200)
  }, 60_000)

  it("INV_REDIS_PREFIX names the keys instead", async () => {
    const sku = `PREFIXED-${randomBytes(3).toString("hex").toUpperCase()}`
    const database = await databaseWith({ [sku]: 2 })
    const redisUrl = isolatedRedisUrl()
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
    cleanups.unshift(async () => redis.quit())
    const prefix = `shop-${randomBytes(3).toString("hex")}`
    const checker = await startService("stock-checker", database, {
      redisUrl: Option.some(Redacted.make(redisUrl)),
      redisPrefix: Option.some(prefix)
    })
    await eventually(
      "the level is cached under the prefix",
      async () => {
        const level = await send(checker, "GET", `/v1/stock/${sku}`)
        const cached = await redis.keys(`${prefix}:cache:entry:*${sku}*`)
        return level.body?.onHand === 2 && cached.length > 0 ? true : undefined
      },
      15_000,
      250
    )
  }, 60_000)

  it("INV_REDIS_PREFIX must be a short name: an error names the variable", () => {
    const read = (prefix: string) =>
      Effect.runSync(
        Effect.either(
          Effect.withConfigProvider(
            serverConfig("stock-checker"),
            ConfigProvider.fromMap(
              new Map([
                ["INV_AUTH", "off"],
                ["INV_REDIS_PREFIX", prefix]
              ])
            )
          )
        )
      )
    expect(Either.getOrThrow(read("shop-eu")).redisPrefix).toEqual(Option.some("shop-eu"))
    for (const bad of ["", "has space", "x".repeat(65)]) {
      const result = read(bad)
      expect(Either.isLeft(result), bad).toBe(true)
      if (Either.isLeft(result)) expect(String(result.left)).toContain("INV_REDIS_PREFIX")
    }
  })
})

describe.skipIf(!reachable)("/ready and Redis", () => {
  it("stock-updater, supplier-sync and stock-checker answer 503 naming redis when Redis does not answer", async () => {
    const database = await databaseWith({})
    // A port nothing listens on: Redis is configured but away (the shared server stays up).
    const closedPort = await freePort()
    const settings: Partial<ServerConfig> = {
      redisUrl: Option.some(Redacted.make(`redis://127.0.0.1:${closedPort}`))
    }
    for (const service of ["stock-updater", "supplier-sync", "stock-checker"] as const) {
      const base = await startService(service, database, settings)
      const ready = await eventually(
        `${service} opened its store`,
        async () => {
          const answer = await send(base, "GET", "/ready")
          return answer.body?.checks?.database === "ok" ? answer : undefined
        },
        30_000,
        100
      )
      expect(ready.status, service).toBe(503)
      expect(ready.body, service).toMatchObject({ status: "not ready", failing: ["redis"] })
    }
  }, 90_000)
})
