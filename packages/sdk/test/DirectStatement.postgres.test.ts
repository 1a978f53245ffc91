/**
 * A stock write's one statement sent straight to the pool (internal/directStatement.ts): only
 * outside any transaction and with nothing tracing it; a refusal of the database's leaves the
 * connection in the pool. The work it saves is counted without a clock, in Effect operations (a
 * supervisor sees each one the run loop takes).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
          // 89 sent directly; 52 with the events known and the caller's context read in one step.
          const operations = yield* operationsOf(stock.adjust({ sku: "DS-1", delta: -1 }))
          expect(operations).toBeLessThan(70)
          // Keyed, in a transaction: the key's statements and the change go on the transaction's
          // connection without @effect/sql's wrapping; 561 operations through it, 340 so, 317 since
          // the transaction's events are marked by its connection instead of a FiberRef set with
          // `Effect.locally` (internal/outbox.ts).
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
