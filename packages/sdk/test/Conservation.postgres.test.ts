/**
 * Conservation under concurrency, on PostgreSQL (PGlite has one connection, so nothing there
 * runs at once): however writers interleave, no unit appears or vanishes, no level goes below
 * zero, and a refused change leaves no trace.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe } from "vitest"
import { InsufficientStock, StockConflict } from "../src/InventoryError.js"
import { Locations } from "../src/Location.js"
import { Products } from "../src/Product.js"
import { Stock } from "../src/Stock.js"
import { expectLedgerConsistent, POSTGRES_URL, postgresReachable, postgresStore } from "./utils.js"

/** mulberry32: the same seed gives the same adjustments on every run. */
const seededRandom = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const WRITERS = 8
const ADJUSTMENTS_PER_WRITER = 300
const SKUS = Array.from({ length: 20 }, (_, i) => `CONS-${String(i).padStart(2, "0")}`)
const INITIAL = 40

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  layer(postgresStore(), { excludeTestServices: true, timeout: "60 seconds" })("conservation", (it) => {
    it.effect(
      `${WRITERS} writers × ${ADJUSTMENTS_PER_WRITER} random adjustments conserve every unit`,
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          yield* Effect.forEach(SKUS, (sku) => products.add({ sku, name: `Contended ${sku}` }))
          yield* Effect.forEach(SKUS, (sku) => stock.set({ sku, quantity: INITIAL }))

          const random = seededRandom(20261125)
          const writers = Array.from({ length: WRITERS }, () =>
            Array.from({ length: ADJUSTMENTS_PER_WRITER }, () => {
              // Deltas from -12 to +10, never 0: drifting down, so many changes are refused.
              const delta = Math.floor(random() * 22) - 12
              return { sku: SKUS[Math.floor(random() * SKUS.length)]!, delta: delta >= 0 ? delta + 1 : delta }
            })
          )
          const outcomes = yield* Effect.forEach(
            writers,
            (adjustments) =>
              Effect.forEach(adjustments, (adjustment) =>
                Effect.either(stock.adjust(adjustment)).pipe(
                  Effect.map((outcome) => ({ adjustment, outcome }))
                )
              ),
            { concurrency: WRITERS }
          ).pipe(Effect.map((perWriter) => perWriter.flat()))

          const applied = new Map<string, number>(SKUS.map((sku) => [sku, 0]))
          let successes = 0
          let rejections = 0
          for (const { adjustment, outcome } of outcomes) {
            if (Either.isRight(outcome)) {
              successes++
              applied.set(adjustment.sku, applied.get(adjustment.sku)! + adjustment.delta)
              expect(outcome.right.delta).toBe(adjustment.delta)
              expect(outcome.right.onHand).toBeGreaterThanOrEqual(0)
            } else {
              // Only running short may refuse a valid adjustment; anything else fails the test.
              expect(outcome.left).toBeInstanceOf(InsufficientStock)
              expect(outcome.left).toMatchObject({ sku: adjustment.sku, requested: -adjustment.delta })
              rejections++
            }
          }
          expect(successes + rejections).toBe(WRITERS * ADJUSTMENTS_PER_WRITER)
          expect(successes).toBeGreaterThan(0)
          expect(rejections).toBeGreaterThan(0)

          const ledger = yield* sql<{ sku: string; onHand: number; total: number; lowest: number }>`
            select l.sku, l.on_hand, sum(m.delta)::int as total, min(m.quantity_after)::int as lowest
            from stock_levels l join stock_movements m on m.sku = l.sku and m.location = l.location
            group by l.sku, l.on_hand order by l.sku`
          expect(ledger.map((row) => row.sku)).toEqual(SKUS)
          for (const row of ledger) {
            const expected = INITIAL + applied.get(row.sku)!
            expect({ sku: row.sku, onHand: row.onHand, total: row.total }).toEqual({
              sku: row.sku,
              onHand: expected,
              total: expected
            })
            expect(row.lowest).toBeGreaterThanOrEqual(0)
            expect((yield* stock.level(row.sku)).onHand).toBe(expected)
          }
          const [counts] = yield* sql<{ movements: number; events: number }>`
            select (select count(*)::int from stock_movements) as movements,
                   (select count(*)::int from outbox where type = 'stock.updated') as events`
          expect(counts).toEqual({ movements: successes + SKUS.length, events: successes + SKUS.length })
          expect(yield* expectLedgerConsistent).toBe(SKUS.length)
        }),
      120_000
    )

    it.effect("of concurrent counts that expect the same level, exactly one applies", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Products).add({ sku: "OPT-1", name: "Counted twice" })
        yield* stock.set({ sku: "OPT-1", quantity: 50 })
        for (const round of [1, 2, 3]) {
          const expected = (yield* stock.level("OPT-1")).onHand
          const outcomes = yield* Effect.all(
            Array.from({ length: 8 }, (_, i) =>
              Effect.either(stock.set({ sku: "OPT-1", quantity: round * 100 + i, expected }))
            ),
            { concurrency: 8 }
          )
          const winners = outcomes.filter(Either.isRight).map((outcome) => outcome.right)
          expect(winners).toHaveLength(1)
          for (const outcome of outcomes.filter(Either.isLeft)) {
            expect(outcome.left).toBeInstanceOf(StockConflict)
            expect(outcome.left).toMatchObject({ expected, actual: winners[0]!.onHand })
          }
          expect((yield* stock.level("OPT-1")).onHand).toBe(winners[0]!.onHand)
        }
        expect((yield* stock.history("OPT-1")).items).toHaveLength(4)
      })
    )

    it.effect(
      "transfers both ways at once neither deadlock nor lose a unit",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const locations = yield* Locations
          yield* locations.add({ code: "site-a" })
          yield* locations.add({ code: "site-b" })
          yield* (yield* Products).add({ sku: "SWAP-1", name: "Swapped" })
          yield* stock.set({ sku: "SWAP-1", quantity: 100, location: "site-a" })
          yield* stock.set({ sku: "SWAP-1", quantity: 100, location: "site-b" })

          const random = seededRandom(7)
          const transfers = Array.from({ length: 400 }, (_, i) => ({
            sku: "SWAP-1",
            quantity: 1 + Math.floor(random() * 30),
            from: i % 2 === 0 ? "site-a" : "site-b",
            to: i % 2 === 0 ? "site-b" : "site-a"
          }))
          const outcomes = yield* Effect.forEach(
            transfers,
            (transfer) =>
              Effect.either(stock.transfer(transfer)).pipe(Effect.map((outcome) => ({ transfer, outcome }))),
            { concurrency: 8 }
          )
          let netToB = 0
          let moved = 0
          for (const { transfer, outcome } of outcomes) {
            if (Either.isLeft(outcome)) {
              expect(outcome.left).toBeInstanceOf(InsufficientStock)
              continue
            }
            moved++
            netToB += transfer.to === "site-b" ? transfer.quantity : -transfer.quantity
            expect(outcome.right.from.delta).toBe(-transfer.quantity)
            expect(outcome.right.to.delta).toBe(transfer.quantity)
          }
          expect(moved).toBeGreaterThan(200)
          const level = yield* stock.level("SWAP-1")
          expect(level.onHand).toBe(200)
          expect(level.locations.map((l) => [l.location, l.onHand])).toEqual([
            ["site-a", 100 - netToB],
            ["site-b", 100 + netToB]
          ])
          yield* expectLedgerConsistent
        }),
      120_000
    )
  })
})
