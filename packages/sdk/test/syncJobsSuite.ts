/**
 * Syncs as background jobs (pg-boss) with retries, written once and run on every store:
 * PostgreSQL (SyncJobs.postgres.test.ts) and PGlite (SyncJobs.pglite.test.ts). A real worker works
 * the queue; the supplier is a real HTTP server on loopback that logs when each request came.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Inventory from "../src/Inventory.js"
import { Suppliers } from "../src/Supplier.js"
import { SupplierSync } from "../src/SupplierSync.js"
import { type RetryPolicy, SyncJobs, type WorkerEvent } from "../src/SyncJobs.js"
import { productsConnector, type SupplierServer, supplierServer } from "./supplierServer.js"
import type { TestStore } from "./utils.js"

const CATALOG = [
  { sku: "JOB-1", name: "Queued", availability: 4, price: 1 },
  { sku: "JOB-2", name: "Retried", availability: 0, price: 2 }
]

export type TimedEvent = WorkerEvent & { readonly at: number }

/** Runs a worker for the rest of the scope; answers the events it reports, as they come. */
export const startWorker = (retry: RetryPolicy) =>
  Effect.gen(function* () {
    const jobs = yield* SyncJobs
    const events: Array<TimedEvent> = []
    yield* Effect.forkScoped(
      jobs.work({ retry, onEvent: (event) => events.push({ ...event, at: Date.now() }) })
    )
    return events
  })

/** Waits until `done()` holds, checking every 50 ms; fails the test after `within`. */
export const eventually = (
  what: string,
  done: () => boolean,
  within: Duration.DurationInput = "20 seconds"
) =>
  Effect.sync(done).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (ok) => ok }),
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`timed out waiting for ${what}`) }),
    Effect.asVoid
  )

const runsOf = (supplierId: string) =>
  Effect.map(
    Effect.flatMap(SupplierSync, (s) => s.runs(supplierId)),
    (page) => [...page.items].reverse()
  )

/** Jobs still waiting in the queue for this supplier: a retry that would come later shows here. */
const waitingJobs = (supplierId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ count: number }>`
        select count(*)::int as count from pgboss.job
        where name = 'supplier-sync' and data ->> 'supplierId' = ${supplierId}
          and state in ('created', 'retry')`,
      (rows) => rows[0]!.count
    )
  )

const gaps = (server: SupplierServer) => server.requests.slice(1).map((r, i) => r.at - server.requests[i]!.at)

const policy = (maxAttempts: number, baseMs: number): RetryPolicy => ({
  maxAttempts,
  baseDelay: Duration.millis(baseMs),
  maxDelay: Duration.seconds(10)
})

export const syncJobsSuite = (makeStore: () => TestStore) => {
  const store = Layer.provideMerge(Inventory.jobsLayer, makeStore())

  layer(store, { excludeTestServices: true, timeout: "90 seconds" })("sync jobs", (it) => {
    it.scoped("a supplier that keeps failing is retried with growing delays, up to the limit", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        server.failAlways({ status: 503 })
        yield* Effect.flatMap(Suppliers, (s) =>
          s.add({ id: "down", name: "Down", connector: productsConnector(server) })
        )
        const events = yield* startWorker(policy(4, 200))
        yield* Effect.flatMap(SyncJobs, (jobs) => jobs.enqueue("down"))
        yield* eventually("the last attempt", () => events.some((e) => e.type === "failed"))

        const failed = events.filter((e) => e.type === "failed")
        expect(failed).toMatchObject([
          { supplierId: "down", attempt: 4, reason: "the supplier answered 503" }
        ])
        // The limit is reached: no further retry is even queued.
        expect(yield* waitingJobs("down")).toBe(0)

        const retrying = events.filter((e) => e.type === "retrying")
        expect(retrying.map((e) => e.attempt)).toEqual([1, 2, 3])
        const delays = retrying.map((e) => e.delayMs!)
        delays.forEach((delay, i) => {
          // Exponential with jitter on the upper half: 200·2^i ms, at least half of it.
          const nominal = 200 * 2 ** i
          expect(delay).toBeGreaterThanOrEqual(nominal / 2)
          expect(delay).toBeLessThanOrEqual(nominal)
        })
        expect(delays).toEqual([...delays].sort((a, b) => a - b))
        // Each attempt came no sooner than its delay after the one before.
        expect(server.requests).toHaveLength(4)
        for (const [i, gap] of gaps(server).entries()) expect(gap).toBeGreaterThanOrEqual(delays[i]!)

        const runs = yield* runsOf("down")
        expect(runs.map((r) => [r.attempt, r.status, r.error])).toEqual(
          [1, 2, 3, 4].map((attempt) => [attempt, "failed", "the supplier answered 503"])
        )
        // And nothing more arrives afterwards.
        yield* Effect.sleep("1200 millis")
        expect(server.requests).toHaveLength(4)
      })
    )

    it.scoped("a 429 with Retry-After delays the next attempt by at least that long", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        server.failNext(1, { status: 429, retryAfter: "1" })
        yield* Effect.flatMap(Suppliers, (s) =>
          s.add({ id: "limited", name: "Limited", connector: productsConnector(server) })
        )
        const events = yield* startWorker(policy(3, 100))
        yield* Effect.flatMap(SyncJobs, (jobs) => jobs.enqueue("limited"))
        yield* eventually("the retry to succeed", () => events.some((e) => e.type === "succeeded"))

        expect(events.find((e) => e.type === "retrying")).toMatchObject({
          attempt: 1,
          reason: "the supplier answered 429"
        })
        // The backoff alone would wait 50-100 ms; the supplier asked for a second.
        expect(events.find((e) => e.type === "retrying")!.delayMs).toBeGreaterThanOrEqual(1_000)
        expect(server.requests.map((r) => r.status)).toEqual([429, 200])
        expect(gaps(server)[0]).toBeGreaterThanOrEqual(1_000)
        expect((yield* runsOf("limited")).map((r) => [r.attempt, r.status])).toEqual([
          [1, "failed"],
          [2, "succeeded"]
        ])
      })
    )

    it.scoped("a permanent failure is not retried", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* Effect.flatMap(Suppliers, (s) =>
          s.add({
            id: "wrongkey",
            name: "Wrong key",
            connector: productsConnector(server, {
              apiKey: { in: "header", name: "X-API-Key", value: "nope" }
            })
          })
        )
        const events = yield* startWorker(policy(4, 100))
        yield* Effect.flatMap(SyncJobs, (jobs) => jobs.enqueue("wrongkey"))
        yield* eventually("the failure", () => events.some((e) => e.type === "failed"))

        expect(events.map((e) => [e.type, e.attempt])).toEqual([
          ["started", 1],
          ["failed", 1]
        ])
        expect(events[1]!.reason).toMatch(/^the supplier answered 401/)
        expect(yield* waitingJobs("wrongkey")).toBe(0)
        // Longer than any retry of this policy would wait.
        yield* Effect.sleep("1 second")
        expect(server.requests).toHaveLength(1)
        expect((yield* runsOf("wrongkey")).map((r) => [r.attempt, r.status])).toEqual([[1, "failed"]])
      })
    )

    it.scoped("transient failures then success end in a succeeded run of a later attempt", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        server.failNext(2, { status: 503 })
        yield* Effect.flatMap(Suppliers, (s) =>
          s.add({ id: "recovers", name: "Recovers", connector: productsConnector(server) })
        )
        const events = yield* startWorker(policy(5, 100))
        yield* Effect.flatMap(SyncJobs, (jobs) => jobs.enqueue("recovers"))
        yield* eventually("the success", () => events.some((e) => e.type === "succeeded"))

        const succeeded = events.find((e) => e.type === "succeeded")!
        expect(succeeded.attempt).toBe(3)
        expect(succeeded.run).toMatchObject({ attempt: 3, status: "succeeded", added: 2 })
        expect((yield* runsOf("recovers")).map((r) => [r.attempt, r.status])).toEqual([
          [1, "failed"],
          [2, "failed"],
          [3, "succeeded"]
        ])
        expect(server.requests.map((r) => r.status)).toEqual([503, 503, 200])
        const items = yield* Effect.flatMap(Suppliers, (s) => s.items("recovers"))
        expect(items.items.map((i) => i.supplierSku)).toEqual(["JOB-1", "JOB-2"])
      })
    )
  })
}
