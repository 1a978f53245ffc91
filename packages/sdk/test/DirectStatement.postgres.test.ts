/**
 * A stock write's one statement sent straight to the pool (internal/directStatement.ts): only
 * outside any transaction and with nothing tracing it; a refusal of the database's leaves the
 * connection in the pool, and so does a caller that stops waiting (the statement still commits).
 * The work it saves is counted without a clock, in Effect operations (a
 * supervisor sees each one the run loop takes).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
import * as Tracer from "effect/Tracer"
import { describe } from "vitest"
import * as Inventory from "../src/Inventory.js"
import { Products } from "../src/Product.js"
import { Stock } from "../src/Stock.js"
import * as Store from "../src/Store.js"
import { freshPostgresDatabase, POSTGRES_URL, postgresReachable } from "./utils.js"

const store = Layer.unwrapScoped(
  Effect.map(freshPostgresDatabase, (url) => Inventory.layer(Store.postgres(url)))
)

/** Counts the Effect operations every fiber it supervises runs. */
class OperationCount extends Supervisor.AbstractSupervisor<number> {
  count = 0
  get value() {
    return Effect.sync(() => this.count)
  }
  override onEffect() {
    this.count += 1
  }
}

/** The Effect operations `effect` takes, with op supervision on for it alone. */
const operationsOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const counter = new OperationCount()
    yield* effect.pipe(
      Effect.supervised(counter),
      Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))
    )
    return counter.count
  })

/** The spans `effect` makes, by name, with the default tracer on and recording them. */
const spansOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const tracer = yield* Effect.tracer
    const names: Array<string> = []
    const recording = Tracer.make({
      span: (...args) => {
        names.push(args[0])
        return tracer.span(...args)
      },
      context: tracer.context
    })
    yield* effect.pipe(Effect.withTracer(recording), Effect.withTracerEnabled(true))
    return names
  })

describe.skipIf(!(await postgresReachable()))(`direct statements on ${POSTGRES_URL}`, () => {
  layer(Layer.merge(store, Layer.setTracerEnabled(false)), { timeout: 60_000 })((it) => {
    it.effect(
      "an adjustment's statements skip @effect/sql's wrapping, alone and in its keyed transaction",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          yield* (yield* Products).add({ sku: "DS-1", name: "Direct" })
          yield* stock.adjust({ sku: "DS-1", delta: 100 })
          // Counted on 2026-12-07: 155 through @effect/sql and a FiberRef set for the write's events;
          // 89 sent directly; 52 with the events known and the caller's context read in one step; 37
          // with the write's attempt and decision in combinators, not generators (internal/stockWrite.ts).
          const operations = yield* operationsOf(stock.adjust({ sku: "DS-1", delta: -1 }))
          expect(operations).toBeLessThan(42)
          // Keyed, in a transaction: the key's statements and the change go on the transaction's
          // connection without @effect/sql's wrapping; 561 operations through it, 340 so, 317 since
          // the transaction's events are marked by its connection instead of a FiberRef set with
          // `Effect.locally` (internal/outbox.ts), 306 with the combinators above.
          const keyed = yield* operationsOf(stock.adjust({ sku: "DS-1", delta: -1, idempotencyKey: "ds-1" }))
          expect(keyed).toBeLessThan(330)
          expect((yield* stock.level("DS-1")).onHand).toBe(98)
        })
    )

    it.effect("inside a caller's transaction the statement is part of it: a rollback undoes it", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        yield* (yield* Products).add({ sku: "DS-2", name: "Direct" })
        yield* stock.adjust({ sku: "DS-2", delta: 5 })
        const undone = yield* sql
          .withTransaction(
            Effect.zipRight(stock.adjust({ sku: "DS-2", delta: 7 }), Effect.fail("undo" as const))
          )
          .pipe(Effect.flip)
        expect(undone).toBe("undo")
        expect((yield* stock.level("DS-2")).onHand).toBe(5)
        const [movements] = yield* sql<{
          count: number
        }>`select count(*)::int as count from stock_movements where sku = 'DS-2'`
        expect(movements?.count).toBe(1)
      })
    )

    it.effect("traced, the statement keeps its sql.execute span", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Products).add({ sku: "DS-3", name: "Direct" })
        const names = yield* spansOf(Effect.withSpan(stock.adjust({ sku: "DS-3", delta: 3 }), "caller"))
        expect(names).toContain("sql.execute")
        expect((yield* stock.level("DS-3")).onHand).toBe(3)
      })
    )

    it.effect(
      "a caller that stops waiting leaves its sent statement to decide: it commits, and its connection goes back to the pool",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          yield* (yield* Products).add({ sku: "DS-5", name: "Direct" })
          yield* stock.adjust({ sku: "DS-5", delta: 10 })
          // Another transaction holds the level's row, so the adjustment's statement waits on it.
          const locked = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const holder = yield* sql
            .withTransaction(
              sql`select 1 from stock_levels where sku = 'DS-5' for update`.pipe(
                Effect.zipRight(Deferred.succeed(locked, undefined)),
                Effect.zipRight(Deferred.await(release))
              )
            )
            .pipe(Effect.fork)
          yield* Deferred.await(locked)
          const gaveUp = yield* stock
            .adjust({ sku: "DS-5", delta: -1 })
            .pipe(Effect.timeout("300 millis"), Effect.flip)
          expect(gaveUp._tag).toBe("TimeoutException")
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(holder)
          // Sent, the statement is decided once the lock is gone, whoever waits for it (docs/sdk.md).
          let level = -1
          for (let tries = 0; tries < 250 && level !== 9; tries++) {
            if (tries > 0) yield* Effect.sleep("20 millis")
            level = (yield* stock.level("DS-5")).onHand
          }
          expect(level).toBe(9)
          const [moved] = yield* sql<{ movements: number; events: number }>`
            select (select count(*) from stock_movements where sku = 'DS-5')::int as movements,
                   (select count(*) from outbox where subject = 'DS-5' and type = 'stock.updated')::int as events`
          expect(moved).toEqual({ movements: 2, events: 2 })
          // Every connection of the pool (pg's default of 10) is back: ten transactions hold one each
          // at the same time. A connection kept by the abandoned statement would leave one waiting.
          const inside = yield* Ref.make(0)
          const allInside = yield* Deferred.make<void>()
          const holdOne = sql.withTransaction(
            Effect.zipRight(
              sql`select pg_backend_pid()`,
              Effect.zipRight(
                Effect.flatMap(
                  Ref.updateAndGet(inside, (n) => n + 1),
                  (n) => (n === 10 ? Deferred.succeed(allInside, undefined) : Effect.void)
                ),
                Deferred.await(allInside)
              )
            )
          )
          const together = yield* Effect.all(
            Array.from({ length: 10 }, () => holdOne),
            {
              concurrency: "unbounded",
              discard: true
            }
          ).pipe(Effect.timeout("10 seconds"), Effect.either)
          expect(together._tag).toBe("Right")
          // The timeout and the polling run on the real clock, not the test's.
        }).pipe(Effect.withClock(Clock.make()))
    )

    it.effect("a refusal of the database's leaves the connection in the pool", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        const backends = sql<{ pid: number }>`
          select pid from pg_stat_activity where datname = current_database() and application_name = 'invkit'
          order by pid`
        yield* (yield* Products).add({ sku: "DS-4", name: "Direct" })
        yield* stock.adjust({ sku: "DS-4", delta: 1 })
        const before = (yield* backends).map((row) => row.pid)
        // No such product: the statement's foreign key refuses it (23503), answered as ProductNotFound.
        for (let i = 0; i < 5; i++) {
          const refused = yield* Effect.flip(stock.adjust({ sku: "DS-NONE", delta: 1 }))
          expect(refused._tag).toBe("ProductNotFound")
        }
        yield* stock.adjust({ sku: "DS-4", delta: 1 })
        // A connection given up would be gone from the server's list (the pool may have opened more).
        expect((yield* backends).map((row) => row.pid)).toEqual(expect.arrayContaining(before))
        expect((yield* stock.level("DS-4")).onHand).toBe(2)
      })
    )
  })
})
