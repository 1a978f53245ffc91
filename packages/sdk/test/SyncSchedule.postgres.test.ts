/**
 * Schedules under more than one worker, on PostgreSQL: two separate inventories (as two processes
 * would open them) on one database, each running a worker, and a supplier synced every 2 seconds.
 * Every slot must run exactly once: no slot twice (both workers queue every slot), none skipped.
 */

import { expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import pg from "pg"
import { describe } from "vitest"
import { type Inventory, openInventory } from "../src/Inventory.js"
import type { WorkerEvent } from "../src/SyncJobs.js"
import { productsConnector, supplierServer } from "./supplierServer.js"
import { freshPostgresDatabase, POSTGRES_URL, postgresReachable } from "./utils.js"

const SLOT_MS = 2_000
const WINDOW_MS = 22_000

const openScoped = (databaseUrl: string) =>
  Effect.acquireRelease(
    Effect.promise(() => openInventory({ databaseUrl })),
    (inventory) => Effect.promise(() => inventory.close())
  )

const startWorker = (inventory: Inventory, events: Array<WorkerEvent>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      inventory.suppliers.worker({
        // Looking for due slots four times a second keeps the two schedulers racing for each slot.
        scheduleEvery: "250 millis",
        // One attempt: a failed slot must show as a failed run, not be hidden by a retry.
        retry: { maxAttempts: 1, baseDelay: Duration.millis(100), maxDelay: Duration.millis(100) },
        onEvent: (event) => events.push(event)
      })
    ),
    (worker) => Effect.promise(() => worker.stop())
  )

/** The scheduled jobs pg-boss holds for the supplier, with the time each was queued. */
const scheduledJobs = (databaseUrl: string, supplierId: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    try {
      const { rows } = await client.query<{ createdMs: number; state: string }>(
        `select (extract(epoch from created_on) * 1000)::float8 as "createdMs", state from pgboss.job
         where name = 'supplier-sync' and data ->> 'supplierId' = $1 and data ->> 'trigger' = 'scheduled'`,
        [supplierId]
      )
      return rows
    } finally {
      await client.end()
    }
  })

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  it.scopedLive(
    "two workers on one database run each slot of a 2-second schedule exactly once",
    () =>
      Effect.gen(function* () {
        const databaseUrl = yield* freshPostgresDatabase
        const first = yield* openScoped(databaseUrl)
        const second = yield* openScoped(databaseUrl)
        const server = yield* supplierServer([{ sku: "TICK-1", name: "Ticking", availability: 1, price: 1 }])
        const added = yield* Effect.promise(() =>
          first.suppliers.add({
            id: "ticker",
            name: "Ticker",
            connector: productsConnector(server),
            schedule: "*/2 * * * * *"
          })
        )
        const firstEvents: Array<WorkerEvent> = []
        const secondEvents: Array<WorkerEvent> = []
        // Starting the job queue takes a moment (longer on a busy machine): the window opens once
        // both workers run, and closes when both have stopped.
        const startedAt = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* startWorker(first, firstEvents)
            yield* startWorker(second, secondEvents)
            const startedAt = Date.now()
            yield* Effect.sleep(WINDOW_MS)
            return startedAt
          })
        )
        const stoppedAt = Date.now()

        const jobs = yield* scheduledJobs(databaseUrl, "ticker")
        const slots = jobs.map((job) => Math.floor(job.createdMs / SLOT_MS))
        const perSlot = new Map<number, number>()
        for (const slot of slots) perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1)
        // No slot twice.
        expect(
          [...perSlot.entries()].filter(([, count]) => count > 1),
          "slots queued twice"
        ).toEqual([])
        // No gap, and the whole window covered but for its first and last slot.
        const firstSlot = Math.min(...slots)
        const lastSlot = Math.max(...slots)
        expect(
          slots.sort((a, b) => a - b),
          "slots with a gap"
        ).toEqual(Array.from({ length: lastSlot - firstSlot + 1 }, (_, i) => firstSlot + i))
        const window = JSON.stringify({
          slots,
          created: Math.floor(added.createdAt.getTime() / SLOT_MS),
          started: Math.floor(startedAt / SLOT_MS),
          stopped: Math.floor(stoppedAt / SLOT_MS)
        })
        expect(firstSlot, window).toBeLessThanOrEqual(Math.floor(startedAt / SLOT_MS) + 1)
        expect(lastSlot, window).toBeGreaterThanOrEqual(Math.floor(stoppedAt / SLOT_MS) - 2)
        expect(jobs.length, window).toBeGreaterThanOrEqual(WINDOW_MS / SLOT_MS - 2)

        // Each queued slot ran once, in one worker or the other, and each run fetched once.
        const runs = (yield* Effect.promise(() => second.suppliers.runs("ticker", { limit: 100 }))).items
        const ran = runs.filter((run) => run.status !== "running")
        expect(
          ran.filter((run) => run.trigger !== "scheduled" || run.status !== "succeeded"),
          "runs that were not scheduled successes"
        ).toEqual([])
        // A job and its run are ended by two writes, on two connections: around the window's end,
        // under load, one may be seen ended without the other.
        const completed = jobs.filter((job) => job.state === "completed").length
        expect(
          Math.abs(completed - ran.length),
          JSON.stringify({ completed, ran: ran.length })
        ).toBeLessThanOrEqual(1)
        expect(ran.length).toBeGreaterThanOrEqual(jobs.length - 1) // the last may still be queued
        // A run still going may have fetched already: each run fetched once, the ended ones surely.
        expect(server.requests.length).toBeGreaterThanOrEqual(ran.length)
        expect(server.requests.length).toBeLessThanOrEqual(runs.length)
        const events = [...firstEvents, ...secondEvents]
        // Both schedulers looked for every slot; only one queued each.
        expect(events.filter((e) => e.type === "scheduled")).toHaveLength(jobs.length)
        expect(events.filter((e) => e.type === "succeeded")).toHaveLength(ran.length)
      }),
    60_000
  )
})
