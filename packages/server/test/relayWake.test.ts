/**
 * What wakes the relay now that the outbox has no NOTIFY trigger (migration 0011): stock-updater's
 * own commits wake its relay in-process, and a writer in another process (supplier-sync, the CLI,
 * an SDK app) sends a standalone NOTIFY after its commit. The relay's own looks are an hour apart
 * here, so an event that goes out was announced; it is "out" once it waits in stock-checker's
 * queue (stock-updater declares it), on a broker of this file's own.
 */
import { randomBytes } from "node:crypto"
import { openInventory } from "@invkit/sdk"
import * as amqp from "amqplib"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import { afterAll, describe, expect, it } from "vitest"
import { RelayLooks } from "../src/infra/relay.js"
import * as StockUpdaterMain from "../src/stockUpdater/main.js"
import { servicesReachable } from "./eventFixtures.js"
import { eventually, isolatedBroker, isolatedRedisUrl, send } from "./serviceProcesses.js"
import { freePort, freshDatabase, startInProcess, testConfig } from "./utils.js"

const reachable = await servicesReachable("postgres", "rabbitmq", "redis")

/** Looks of its own an hour apart: within a test, only a wake-up makes the relay publish. */
const lookHourly = Layer.succeedContext(
  Context.make(RelayLooks, { idle: "1 hour", listeningFallback: "1 hour" })
)

describe.skipIf(!reachable)("waking the relay", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  /** stock-updater on a fresh database and broker with `sku` in its catalog; what the tests need to watch it. */
  const startStockUpdater = async (label: string, sku: string) => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    // stock-updater serves no catalog: the product is added the way supplier-sync adds it.
    const inventory = await openInventory({ databaseUrl: database.url })
    try {
      await inventory.products.add({ sku, name: "Woken" })
    } finally {
      await inventory.close()
    }
    const broker = await isolatedBroker(label)
    cleanups.push(broker.remove)
    const port = await freePort()
    const server = await startInProcess(
      StockUpdaterMain.main(
        testConfig({
          port,
          databaseUrl: Option.some(Redacted.make(database.url)),
          rabbitmqUrl: Option.some(Redacted.make(broker.url)),
          redisUrl: Option.some(Redacted.make(isolatedRedisUrl()))
        })
      ).pipe(Layer.provide(lookHourly)),
      port
    )
    cleanups.unshift(server.stop)
    const connection = await amqp.connect(broker.url)
    cleanups.unshift(() => connection.close())
    const db = new pg.Client(database.url)
    await db.connect()
    cleanups.unshift(() => db.end())
    /** The events waiting in stock-checker's queue: the relay published them. */
    const published = async () => {
      const channel = await connection.createChannel()
      channel.on("error", () => undefined)
      try {
        return (await channel.checkQueue("invkit.stock-checker")).messageCount
      } catch {
        return 0
      } finally {
        await channel.close().catch(() => undefined)
      }
    }
    /** The relay's listening connection, once it has one. */
    const listener = async () => {
      const { rows } = await db.query<{ pid: number }>(
        `select pid from pg_stat_activity
         where datname = current_database() and query ilike 'listen%' and state = 'idle'`
      )
      return rows[0]?.pid
    }
    return { databaseUrl: database.url, baseUrl: server.baseUrl, db, published, listener }
  }

  it("an HTTP adjustment is published though the relay neither looks nor hears a notification", async () => {
    const sku = `WAKE-${randomBytes(3).toString("hex").toUpperCase()}`
    const service = await startStockUpdater("wakelocal", sku)
    // Its first look publishes the product.created waiting from before it started.
    await eventually(
      "the waiting event was published",
      async () => ((await service.published()) === 1 ? true : undefined),
      15_000
    )
    // Its listening connection cut, the relay hears no NOTIFY until its next look, an hour away.
    const listener = await eventually("the relay listens", service.listener, 15_000)
    await service.db.query("select pg_terminate_backend($1)", [listener])
    await eventually(
      "the listening connection is gone",
      async () => ((await service.listener()) === undefined ? true : undefined),
      15_000
    )

    expect((await send(service.baseUrl, "POST", `/v1/stock/${sku}/adjust`, { delta: 3 })).status).toBe(200)
    // Woken in-process by the commit that wrote it.
    await eventually(
      "the stock.updated was published",
      async () => ((await service.published()) === 2 ? true : undefined),
      15_000
    )
    // The relay commits its mark after the broker's confirm: the queue may see the event first.
    await eventually(
      "the outbox rows are marked sent",
      async () => {
        const { rows } = await service.db.query<{ unsent: number }>(
          "select count(*)::int as unsent from outbox where sent_at is null"
        )
        return rows[0]!.unsent === 0 ? true : undefined
      },
      15_000
    )
  }, 60_000)

  it("an event another process commits is published at its NOTIFY, not at the relay's next look", async () => {
    const sku = `FAR-${randomBytes(3).toString("hex").toUpperCase()}`
    const service = await startStockUpdater("wakeremote", sku)
    await eventually(
      "the waiting event was published",
      async () => ((await service.published()) === 1 ? true : undefined),
      15_000
    )
    await eventually("the relay listens", service.listener, 15_000)
    // Written the way supplier-sync or the CLI writes: the SDK on the same database.
    const inventory = await openInventory({ databaseUrl: service.databaseUrl })
    try {
      await inventory.stock.set(sku, 4)
    } finally {
      await inventory.close()
    }
    await eventually(
      "the stock.updated was published",
      async () => ((await service.published()) === 2 ? true : undefined),
      15_000
    )
  }, 60_000)
})
