/**
 * Reservations on PostgreSQL, and the races PGlite cannot stage (it has one connection): many
 * callers holding the same units at once, and two sweepers closing the same expired holds.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { describe } from "vitest"
import * as Inventory from "../src/Inventory.js"
import { Products } from "../src/Product.js"
import { Reservations } from "../src/Reservation.js"
import { Stock } from "../src/Stock.js"
import { SyncJobs } from "../src/SyncJobs.js"
import { eventsOf, expectHoldsConsistent, expireNow, reservationSuite } from "./reservationSuite.js"
import { eventually } from "./syncJobsSuite.js"
import { POSTGRES_URL, postgresReachable, postgresStore } from "./utils.js"

const CALLERS = 32

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  reservationSuite(postgresStore)

  layer(postgresStore(), { excludeTestServices: true, timeout: "60 seconds" })("races", (it) => {
    it.effect(`${CALLERS} concurrent holds on 10 available: exactly as many succeed as fit`, () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "RACE-H", name: "Raced hold" })
        yield* (yield* Stock).set({ sku: "RACE-H", quantity: 10 })
        const holds = yield* Reservations
        // Holds of 1 and 2 units: which ones win depends on the race, the sum never passes 10.
        const outcomes = yield* Effect.all(
          Array.from({ length: CALLERS }, (_, i) =>
            Effect.either(holds.create({ sku: "RACE-H", quantity: 1 + (i % 2), reference: `cart-${i}` }))
          ),
          { concurrency: CALLERS }
        )
        const held = outcomes.flatMap((o) => (o._tag === "Right" ? [o.right.quantity] : []))
        const refused = outcomes.flatMap((o) => (o._tag === "Left" ? [o.left] : []))
        const total = held.reduce((a, b) => a + b, 0)
        expect(total).toBeLessThanOrEqual(10)
        // Refused only when it no longer fitted: at most 1 unit left over when a 2 was refused.
        expect(total).toBeGreaterThanOrEqual(9)
        expect(refused.every((e) => e._tag === "InsufficientStock")).toBe(true)
        expect(held.length + refused.length).toBe(CALLERS)
        expect(yield* (yield* Stock).level("RACE-H")).toMatchObject({ onHand: 10, reserved: total })
        expect(yield* expectHoldsConsistent).toBeGreaterThan(0)
      })
    )

    it.effect("the same hold released by many callers at once is released once, with one event", () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "RACE-R", name: "Raced release" })
        yield* (yield* Stock).set({ sku: "RACE-R", quantity: 10 })
        const holds = yield* Reservations
        const hold = yield* holds.create({ sku: "RACE-R", quantity: 4, reference: "cart-released-twice" })
        const answers = yield* Effect.all(
          Array.from({ length: 8 }, () => holds.release(hold.id)),
          { concurrency: 8 }
        )
        expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill("released"))
        expect(yield* eventsOf("stock.reservation.released", hold.id)).toHaveLength(1)
        expect(yield* (yield* Stock).level("RACE-R")).toMatchObject({ reserved: 0, available: 10 })
        expect(yield* expectHoldsConsistent).toBeGreaterThan(0)
      })
    )

    it.effect("holds racing over expired ones are each placed or refused, never a store failure", () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "RACE-X", name: "Raced over expired holds" })
        yield* (yield* Stock).set({ sku: "RACE-X", quantity: 10 })
        const holds = yield* Reservations
        // Each round: the level full of holds past their expiry that nothing has closed yet, then
        // more callers than units. One caller expires them; another, which waited for the level's
        // lock, read the level after that commit but the holds as they were before it, counted
        // them twice, and answered "a hold that fits was refused" (a 503 over HTTP).
        for (let round = 0; round < 6; round++) {
          const stale = yield* holds.list({ sku: "RACE-X", status: "active", limit: 100 })
          for (const hold of stale.items) yield* expireNow(hold.id)
          for (let i = stale.items.length; i < 10; i++) {
            yield* expireNow(
              (yield* holds.create({ sku: "RACE-X", quantity: 1, reference: `old-${round}-${i}` })).id
            )
          }
          const outcomes = yield* Effect.all(
            Array.from({ length: CALLERS }, (_, i) =>
              Effect.either(holds.create({ sku: "RACE-X", quantity: 1, reference: `new-${round}-${i}` }))
            ),
            { concurrency: CALLERS }
          )
          const failures = outcomes.flatMap((o) => (o._tag === "Left" ? [o.left._tag] : []))
          expect(failures.filter((tag) => tag !== "InsufficientStock")).toEqual([])
          expect(outcomes.filter((o) => o._tag === "Right")).toHaveLength(10)
        }
        expect(yield* expectHoldsConsistent).toBeGreaterThan(0)
      })
    )

    it.effect("two sweepers at once close each expired hold exactly once", () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "SWEEP-1", name: "Swept" })
        yield* (yield* Stock).set({ sku: "SWEEP-1", quantity: 1000 })
        const holds = yield* Reservations
        const ids: Array<number> = []
        for (let i = 0; i < 700; i++) {
          ids.push(
            (yield* holds.create({ sku: "SWEEP-1", quantity: 1, reference: `c${i}`, expiresIn: 60 })).id
          )
        }
        for (const id of ids) yield* expireNow(id)
        const [a, b] = yield* Effect.all([holds.sweepExpired(), holds.sweepExpired()], { concurrency: 2 })
        expect(a.expired + b.expired).toBe(700)
        for (const id of [ids[0]!, ids[350]!, ids[699]!]) {
          expect(yield* eventsOf("stock.reservation.released", id)).toHaveLength(1)
        }
        expect(yield* (yield* Stock).level("SWEEP-1")).toMatchObject({ reserved: 0, available: 1000 })
        expect(yield* expectHoldsConsistent).toBeGreaterThan(0)
      })
    )
  })

  layer(postgresStore(), { excludeTestServices: true, timeout: "90 seconds" })("the sweeper job", (it) => {
    it.scoped("two workers: each expired hold is released once, in the background", () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "JOB-H", name: "Swept by a worker" })
        yield* (yield* Stock).set({ sku: "JOB-H", quantity: 50 })
        const holds = yield* Reservations
        const ids: Array<number> = []
        for (let i = 0; i < 20; i++) {
          ids.push(
            (yield* holds.create({ sku: "JOB-H", quantity: 2, reference: `c${i}`, expiresIn: "1h" })).id
          )
        }
        // Two workers, each with its own job queue client, as two supplier-sync processes have.
        const swept: Array<number> = []
        for (let worker = 0; worker < 2; worker++) {
          const context = yield* Layer.build(Inventory.jobsLayer)
          const jobs = Context.get(context, SyncJobs)
          yield* Effect.forkScoped(
            jobs.work({
              sweepEvery: "1 second",
              scheduleEvery: "200 millis",
              onSweep: (result) => swept.push(result.expired)
            })
          )
        }
        for (const id of ids) yield* expireNow(id)
        const sql = yield* SqlClient.SqlClient
        const released = () => swept.reduce((a, b) => a + b, 0) >= ids.length
        yield* eventually("the sweep", released, "30 seconds")
        const [{ events }] = (yield* sql`
          select count(*)::int as events from outbox where type = 'stock.reservation.released'
            and data ->> 'cause' = 'expired'`) as any
        expect(events).toBe(ids.length)
        for (const id of [ids[0]!, ids[19]!])
          expect(yield* eventsOf("stock.reservation.released", id)).toHaveLength(1)
        expect(yield* (yield* Stock).level("JOB-H")).toMatchObject({ reserved: 0, available: 50 })
        expect(yield* expectHoldsConsistent).toBeGreaterThan(0)
      })
    )
  })
})
