/**
 * stock-checker's reads on a read replica (INV_DATABASE_READ_URL), with the primary as fallback.
 *
 * There is no streaming replica on a test machine, so the "replica" is a second database, migrated
 * like the primary, whose data the test deliberately makes differ from the primary's (the same SKU
 * at another level): an answer then shows which database it came from. Then the replica goes away
 * (its database is dropped, which closes its connections), and a second stock-checker points its
 * read URL at a closed port: both answer from the primary and log a warning.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Inventory, Product, Stock, Store } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as StockCheckerMain from "../src/stockChecker/main.js"
import { eventually, send } from "./serviceProcesses.js"
import { freePort, freshDatabase, postgresReachable, startInProcess, testConfig } from "./utils.js"

const reachable = await postgresReachable()

const SKU = "REPLICA-1"

/** Opens `url` (migrating it), adds the product and sets its level. */
const seed = (url: string, onHand: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* Effect.flatMap(Product.Products, (products) =>
        products.add({ sku: SKU, name: "Replicated widget" })
      )
      yield* Effect.flatMap(Stock.Stock, (stock) => stock.set({ sku: SKU, quantity: onHand }))
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`select 1`)
    }).pipe(Effect.provide(Inventory.layer(Store.postgres(url))), Effect.scoped)
  )

/** Every log line the service writes, for assertions. */
const capturedLogs = () => {
  const lines: Array<{ level: string; message: string }> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message)
      })
    })
  )
  return { lines, layer }
}

describe.skipIf(!reachable)("stock-checker on a read replica (PostgreSQL)", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  let primary: Awaited<ReturnType<typeof freshDatabase>>
  let replica: Awaited<ReturnType<typeof freshDatabase>>

  beforeAll(async () => {
    primary = await freshDatabase()
    replica = await freshDatabase()
    cleanups.push(primary.drop, replica.drop)
    // Diverged on purpose: 42 on the primary, 7 on the "replica".
    await seed(primary.url, 42)
    await seed(replica.url, 7)
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }, 60_000)

  const startChecker = async (readUrl: string) => {
    const port = await freePort()
    const logs = capturedLogs()
    const server = await startInProcess(
      StockCheckerMain.main(
        testConfig({
          port,
          databaseUrl: Option.some(Redacted.make(primary.url)),
          databaseReadUrl: Option.some(Redacted.make(readUrl)),
          // No caching: every answer comes from a database.
          cacheTtlSeconds: 0
        })
      ).pipe(Layer.provide(logs.layer)),
      port
    )
    cleanups.unshift(server.stop)
    return { ...server, logs: logs.lines }
  }

  it("reads go to the replica, and to the primary with a warning once the replica is gone", async () => {
    const checker = await startChecker(replica.url)
    const fromReplica = await eventually(
      "stock-checker answers from the replica",
      async () => {
        const level = await send(checker.baseUrl, "GET", `/v1/stock/${SKU}`)
        return level.status === 200 && level.body.onHand === 7 ? level : undefined
      },
      10_000
    )
    expect(fromReplica.body.onHand).toBe(7)

    // The replica dies: its database is dropped, its connections closed.
    await replica.drop()
    const level = await send(checker.baseUrl, "GET", `/v1/stock/${SKU}`)
    expect(level.status, JSON.stringify(level.body)).toBe(200)
    expect(level.body.onHand).toBe(42)
    expect(
      checker.logs.some(
        (line) => line.level === "WARN" && line.message.includes("read replica not answering")
      )
    ).toBe(true)
  }, 30_000)

  it("a replica that never answers (closed port) leaves reads on the primary, with a warning", async () => {
    const closedPort = await freePort()
    const url = new URL(primary.url)
    url.port = String(closedPort)
    url.password = "replica-secret-pw"
    const checker = await startChecker(url.toString())
    const level = await send(checker.baseUrl, "GET", `/v1/stock/${SKU}`)
    expect(level.status, JSON.stringify(level.body)).toBe(200)
    expect(level.body.onHand).toBe(42)
    await eventually(
      "the fallback is logged as a warning",
      async () =>
        checker.logs.some(
          (line) => line.level === "WARN" && line.message.includes("read replica not answering")
        )
          ? true
          : undefined,
      10_000
    )
    // The warning is written when the fallback starts, not once per read.
    for (let i = 0; i < 5; i++) await send(checker.baseUrl, "GET", `/v1/stock/${SKU}`)
    const warnings = checker.logs.filter((line) => line.message.includes("read replica not answering"))
    expect(warnings.length).toBeLessThanOrEqual(2)
    // The replica URL's password is never logged.
    expect(checker.logs.every((line) => !line.message.includes("replica-secret-pw"))).toBe(true)
  }, 30_000)
})
