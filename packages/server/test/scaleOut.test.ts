/**
 * Scale out: two instances of each service (six processes of the built `inv-server`) on one fresh
 * PostgreSQL database, one RabbitMQ virtual host and one Redis database.
 *
 * Concurrent adjustments go through both stock-updaters, and inbound `product.received` events
 * are published to the exchange. Then:
 * - every change reaches each consumer group's effects exactly once: the inbox holds one row per
 *   event and group, the groups' consumed counters (summed over both instances) equal the events,
 *   and every inbound event made one ledger movement;
 * - both instances of each group did some of the work (they compete on one queue);
 * - every level equals the sum of its ledger, and the expected total;
 * - both stock-checkers answer the same, current levels (their cached answers were invalidated);
 * - a read on either stock-checker right after a write was answered shows it (each keeps a copy
 *   of the shared cache that Redis keeps coherent);
 * - the scheduler ran each slot of a 2-second schedule once across both supplier-sync instances.
 */
import { randomBytes } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as amqp from "amqplib"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servicesReachable } from "./eventFixtures.js"
import {
  eventually,
  isolatedBroker,
  isolatedRedisUrl,
  type ServiceProcess,
  sampleValue,
  send,
  sleep,
  startService,
  stopAll
} from "./serviceProcesses.js"
import { freshDatabase } from "./utils.js"

const reachable = await servicesReachable("postgres", "rabbitmq", "redis")

const SKUS = 4
const ADJUSTMENTS_PER_SKU = 40
const INBOUND_EVENTS = 40
const START_LEVEL = 100

/** A supplier's catalog on loopback. */
const catalogServer = async () => {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ products: [{ id: "SCHED-1", name: "Scheduled", inventory: 1, price: 1 }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/catalog`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe.skipIf(!reachable)("scale out: two instances of each service", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  const processes: Array<ServiceProcess> = []
  const instances = {} as Record<
    "stock-updater" | "stock-checker" | "supplier-sync",
    [ServiceProcess, ServiceProcess]
  >
  let db: pg.Client
  let brokerUrl: string

  const query = async <A>(text: string, values: Array<unknown> = []) =>
    (await db.query(text, values)).rows as Array<A>

  beforeAll(async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    const broker = await isolatedBroker("scale-out")
    cleanups.push(broker.remove)
    brokerUrl = broker.url
    const env = {
      INV_DATABASE_URL: database.url,
      INV_RABBITMQ_URL: broker.url,
      INV_REDIS_URL: isolatedRedisUrl(),
      INV_CACHE_TTL: "300",
      INV_LOG_LEVEL: "warning",
      // This test is about scaling; security.test.ts covers tokens, feedAccess.test.ts the feeds.
      INV_AUTH: "off",
      INV_FEED_ALLOW_PRIVATE: "true"
    }
    cleanups.unshift(() => stopAll(processes))
    // The first process migrates the fresh database; the other five start together.
    const first = await startService("supplier-sync", env, "supplier-sync-1")
    processes.push(first)
    const rest = await Promise.all([
      startService("supplier-sync", env, "supplier-sync-2"),
      startService("stock-updater", env, "stock-updater-1"),
      startService("stock-updater", env, "stock-updater-2"),
      startService("stock-checker", env, "stock-checker-1"),
      startService("stock-checker", env, "stock-checker-2")
    ])
    processes.push(...rest)
    instances["supplier-sync"] = [first, rest[0]]
    instances["stock-updater"] = [rest[1], rest[2]]
    instances["stock-checker"] = [rest[3], rest[4]]
    for (const service of processes) {
      await eventually(
        `${service.name} is ready`,
        async () => ((await fetch(`${service.base}/ready`)).ok ? true : undefined),
        30_000
      )
    }
    db = new pg.Client({ connectionString: database.url })
    await db.connect()
    cleanups.unshift(() => db.end())
  }, 90_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  const metricsOf = async (service: ServiceProcess) => (await fetch(`${service.base}/metrics`)).text()
  const consumedBy = async (group: keyof typeof instances) =>
    Promise.all(
      instances[group].map(
        async (service) =>
          sampleValue(await metricsOf(service), "inv_events_consumed_total", { consumer: group }) ?? 0
      )
    )

  it("competing consumers, one relay's worth of effects, consistent levels and reads, each slot once", async () => {
    const tag = randomBytes(3).toString("hex").toUpperCase()
    const skus = Array.from({ length: SKUS }, (_, i) => `SCALE-${tag}-${i}`)
    const [sync1] = instances["supplier-sync"]
    const [updater1, updater2] = instances["stock-updater"]
    const [checker1, checker2] = instances["stock-checker"]

    for (const sku of skus) {
      // Its reorder point above every level it reaches: each stock.updated is one supplier-sync is
      // sent (the others go to stock-checker only), so both groups compete for every change.
      const product = await send(sync1.base, "POST", "/v1/products", {
        sku,
        name: `Scaled ${sku}`,
        reorderPoint: 10 * START_LEVEL
      })
      expect(product.status, JSON.stringify(product.body)).toBe(201)
      expect(
        (await send(updater1.base, "POST", `/v1/stock/${sku}/set`, { quantity: START_LEVEL })).status
      ).toBe(200)
    }
    // Warm both stock-checkers' (shared) cache with the starting levels.
    for (const sku of skus) {
      await eventually(
        `both stock-checkers answer ${START_LEVEL} for ${sku}`,
        async () => {
          const [a, b] = await Promise.all([
            send(checker1.base, "GET", `/v1/stock/${sku}`),
            send(checker2.base, "GET", `/v1/stock/${sku}`)
          ])
          return a.body?.onHand === START_LEVEL && b.body?.onHand === START_LEVEL ? true : undefined
        },
        10_000
      )
    }

    // Concurrent adjustments through both stock-updaters: +2 and -1 alternately, never below zero.
    const requests = skus.flatMap((sku) =>
      Array.from({ length: ADJUSTMENTS_PER_SKU }, (_, i) => ({ sku, delta: i % 2 === 0 ? 2 : -1, i }))
    )
    const expected = new Map(skus.map((sku) => [sku, START_LEVEL]))
    let next = 0
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < requests.length) {
          const { sku, delta, i } = requests[next++]!
          const updater = i % 2 === 0 ? updater1 : updater2
          const answer = await send(updater.base, "POST", `/v1/stock/${sku}/adjust`, { delta })
          expect(answer.status, JSON.stringify(answer.body)).toBe(200)
          expected.set(sku, expected.get(sku)! + delta)
        }
      })
    )

    // Inbound events from "another system", for the stock-updater consumer group.
    const connection = await amqp.connect(brokerUrl)
    const channel = await connection.createConfirmChannel()
    for (let i = 0; i < INBOUND_EVENTS; i++) {
      const sku = skus[i % SKUS]!
      const id = `inbound-${tag}-${i}`
      channel.publish(
        "inventory.events",
        "product.received",
        Buffer.from(
          JSON.stringify({
            specversion: "1.0",
            id,
            source: "warehouse-scanner",
            type: "product.received",
            subject: sku,
            data: { sku, quantity: 1 }
          })
        ),
        { persistent: true, messageId: id, contentType: "application/cloudevents+json" }
      )
      expected.set(sku, expected.get(sku)! + 1)
    }
    await channel.waitForConfirms()
    await connection.close()

    // Every stock.updated event, from HTTP and from the inbound events, reaches both groups once.
    const stockUpdates = SKUS + requests.length + INBOUND_EVENTS
    // stock-checker also takes each product's product.created, to drop the catalog's cached answers.
    const checkerEvents = stockUpdates + SKUS
    await eventually(
      "every event was consumed by each group",
      async () => {
        const [outbox] = await query<{ unsent: number; sent: number }>(
          "select count(*) filter (where sent_at is null)::int as unsent, count(*) filter (where type = 'stock.updated')::int as sent from outbox"
        )
        const [checker, sync, updater] = await Promise.all([
          consumedBy("stock-checker"),
          consumedBy("supplier-sync"),
          consumedBy("stock-updater")
        ])
        const total = (counts: Array<number>) => counts.reduce((a, b) => a + b, 0)
        return outbox?.unsent === 0 &&
          outbox.sent === stockUpdates &&
          total(checker) >= checkerEvents &&
          total(sync) >= stockUpdates &&
          total(updater) >= INBOUND_EVENTS
          ? true
          : undefined
      },
      30_000,
      200
    )
    // A moment for any duplicate to show up, then the counts must be exact.
    await sleep(500)
    const consumed = {
      checker: await consumedBy("stock-checker"),
      sync: await consumedBy("supplier-sync"),
      updater: await consumedBy("stock-updater")
    }
    console.log(`scale-out: events consumed per instance ${JSON.stringify(consumed)}`)
    expect(consumed.checker[0]! + consumed.checker[1]!).toBe(checkerEvents)
    expect(consumed.sync[0]! + consumed.sync[1]!).toBe(stockUpdates)
    expect(consumed.updater[0]! + consumed.updater[1]!).toBe(INBOUND_EVENTS)
    for (const counts of Object.values(consumed)) {
      expect(counts[0], "instance 1 did some of the work").toBeGreaterThan(0)
      expect(counts[1], "instance 2 did some of the work").toBeGreaterThan(0)
    }

    // The consumers' recorded effects: one inbox row per inbound event, one per stock.updated that
    // left its level at or below the reorder point (supplier-sync skips the others without a
    // transaction), one movement per inbound event.
    const [atPoint] = await query<{ events: number }>(
      `select count(*)::int as events from outbox where type = 'stock.updated'
         and not coalesce((data ->> 'available')::int > (data ->> 'reorderPoint')::int, false)`
    )
    const inbox = await query<{ consumer: string; events: number }>(
      "select consumer, count(*)::int as events from inbox group by consumer order by consumer"
    )
    expect(inbox).toEqual([
      { consumer: "stock-updater", events: INBOUND_EVENTS },
      ...(atPoint!.events > 0 ? [{ consumer: "supplier-sync", events: atPoint!.events }] : [])
    ])
    const [receipts] = await query<{ movements: number }>(
      "select count(*)::int as movements from stock_movements where reason = 'receipt' and idempotency_key like $1",
      [`inbound-${tag}-%`]
    )
    expect(receipts?.movements).toBe(INBOUND_EVENTS)
    // Tracing is off here: no trace context is stored.
    const [traced] = await query<{ rows: number }>(
      "select count(*)::int as rows from outbox where traceparent is not null"
    )
    expect(traced?.rows).toBe(0)

    // Levels equal their ledgers and the expected totals; both stock-checkers answer them.
    const levels = await query<{ sku: string; onHand: number; ledger: number }>(
      `select l.sku, l.on_hand as "onHand",
              (select sum(delta)::int from stock_movements m where m.sku = l.sku and m.location = l.location) as ledger
       from stock_levels l where l.sku = any($1) order by l.sku`,
      [skus]
    )
    expect(levels).toHaveLength(SKUS)
    for (const level of levels) {
      expect(level.onHand, `${level.sku}: level equals the ledger's sum`).toBe(level.ledger)
      expect(level.onHand, `${level.sku}: level equals the expected total`).toBe(expected.get(level.sku))
      const [a, b] = await Promise.all([
        send(checker1.base, "GET", `/v1/stock/${level.sku}`),
        send(checker2.base, "GET", `/v1/stock/${level.sku}`)
      ])
      expect(a.body.onHand).toBe(level.onHand)
      expect(b.body.onHand).toBe(level.onHand)
    }
  }, 60_000)

  it("a read on either stock-checker right after a write's answer on either stock-updater shows the write, each checker with its copy of the shared cache", async () => {
    const sku = `SCALE-RYOW-${randomBytes(3).toString("hex").toUpperCase()}`
    const [sync1] = instances["supplier-sync"]
    const updaters = instances["stock-updater"]
    const checkers = instances["stock-checker"]
    expect((await send(sync1.base, "POST", "/v1/products", { sku, name: "Read after write" })).status).toBe(
      201
    )
    expect((await send(updaters[0].base, "POST", `/v1/stock/${sku}/set`, { quantity: 0 })).status).toBe(200)
    for (let round = 1; round <= 60; round++) {
      // Both checkers have the level cached (and copied) before the write.
      for (const checker of checkers) {
        for (let read = 0; read < 2; read++) {
          expect((await send(checker.base, "GET", `/v1/stock/${sku}`)).body?.onHand).toBe(round - 1)
        }
      }
      const write = await send(updaters[round % 2]!.base, "POST", `/v1/stock/${sku}/adjust`, {
        delta: 1,
        reason: "receipt"
      })
      expect(write.status).toBe(200)
      const reads = await Promise.all(
        checkers.map((checker) => send(checker.base, "GET", `/v1/stock/${sku}`))
      )
      expect(reads.map((read) => read.body?.onHand)).toEqual([round, round])
    }
    // The reads were answered by the cache (a copy, or Redis), not loaded: hits outnumber misses.
    for (const checker of checkers) {
      const metrics = await metricsOf(checker)
      const hits = sampleValue(metrics, "inv_cache_requests_total", { result: "hit" }) ?? 0
      const misses = sampleValue(metrics, "inv_cache_requests_total", { result: "miss" }) ?? 0
      expect(hits).toBeGreaterThan(misses)
    }
  }, 60_000)

  it("the scheduler runs each slot once across both supplier-sync instances", async () => {
    const catalog = await catalogServer()
    cleanups.unshift(catalog.close)
    const supplierId = `scheduled-${randomBytes(3).toString("hex")}`
    const [sync1, sync2] = instances["supplier-sync"]
    const created = await send(sync1.base, "POST", "/v1/suppliers", {
      id: supplierId,
      name: "Every two seconds",
      schedule: "*/2 * * * * *",
      connector: {
        type: "http-json",
        url: catalog.url,
        itemsPath: "products",
        fields: { supplierSku: "id", name: "name", availability: "inventory", unitCost: "price" }
      }
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const startedAt = Date.now()
    await sleep(7_000)
    await query("update suppliers set schedule = null where id = $1", [supplierId])
    const stoppedAt = Date.now()
    await sleep(1_500) // the last slot's run finishes

    const runs = await query<{ startedAt: Date; trigger: string; status: string }>(
      `select started_at as "startedAt", trigger, status from sync_runs where supplier_id = $1 order by id`,
      [supplierId]
    )
    const slots = Math.ceil((stoppedAt - startedAt) / 2_000) + 1
    console.log(
      `scale-out: ${runs.length} scheduled runs in ${stoppedAt - startedAt} ms (at most ${slots} slots)`
    )
    expect(runs.length).toBeGreaterThanOrEqual(2)
    expect(runs.length).toBeLessThanOrEqual(slots)
    expect(runs.every((run) => run.trigger === "scheduled" && run.status === "succeeded")).toBe(true)
    // One run per 2-second slot: no two runs of a slot.
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i]!.startedAt.getTime() - runs[i - 1]!.startedAt.getTime()).toBeGreaterThan(1_000)
    }
    const [jobs] = await query<{ jobs: number }>(
      "select count(*)::int as jobs from pgboss.job where name = 'supplier-sync' and data->>'supplierId' = $1",
      [supplierId]
    )
    expect(jobs?.jobs).toBe(runs.length)
    // Both instances' metrics together count each run once.
    const succeeded = await Promise.all(
      [sync1, sync2].map(
        async (service) =>
          sampleValue(await metricsOf(service), "inv_sync_runs_total", { status: "succeeded" }) ?? 0
      )
    )
    expect(succeeded[0]! + succeeded[1]!).toBe(runs.length)
  }, 30_000)
})
