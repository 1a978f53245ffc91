/**
 * The reorder rule and restock orders on PostgreSQL, and the race PGlite cannot stage (it has
 * one connection): many writers crossing the reorder point at once open one order.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { describe } from "vitest"
import { Products } from "../src/Product.js"
import { Stock } from "../src/Stock.js"
import { openOrders, restockSuite, supplierOffering } from "./restockSuite.js"
import { expectLedgerConsistent, POSTGRES_URL, postgresReachable, postgresStore } from "./utils.js"

const WRITERS = 16

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  restockSuite(postgresStore)

  layer(postgresStore(), { excludeTestServices: true, timeout: "60 seconds" })("reorder race", (it) => {
    it.scoped(`${WRITERS} writers crossing the reorder point at once open exactly one order`, () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "RACE-1", name: "Raced", reorderPoint: 10, reorderQuantity: 7 })
        yield* supplierOffering("racer", [
          { sku: "RACE-1", availability: 100, price: 2, minOrderQty: 10, packSize: 6 }
        ])
        const stock = yield* Stock
        yield* stock.set({ sku: "RACE-1", quantity: 20 })

        // 20 → 4: the last seven writes each end at or below 10, and each evaluates the rule.
        yield* Effect.all(
          Array.from({ length: WRITERS }, () => stock.adjust({ sku: "RACE-1", delta: -1 })),
          { concurrency: WRITERS, discard: true }
        )
        expect((yield* stock.level("RACE-1")).onHand).toBe(20 - WRITERS)

        const sql = yield* SqlClient.SqlClient
        const orders = yield* sql<{ status: string; quantity: number; supplierId: string }>`
          select status, quantity, supplier_id from restock_orders where sku = 'RACE-1'`
        expect(orders).toEqual([{ status: "draft", quantity: 12, supplierId: "racer" }])
        const [open] = yield* openOrders("RACE-1")
        expect(open!.explanation.rounding).toBe(
          "7 raised to the minimum order of 10, then rounded up to whole packs of 6: 12"
        )
        const [created] = yield* sql<{ count: number }>`
          select count(*)::int as count from outbox where type = 'restock.order.created' and subject = 'RACE-1'`
        expect(created!.count).toBe(1)
        expect(yield* expectLedgerConsistent).toBe(1)
      })
    )
  })
})
