/**
 * The reorder rule and restock orders, written once and run on every store: PGlite
 * (Restock.pglite.test.ts) and PostgreSQL (Restock.postgres.test.ts). Supplier items come from
 * real syncs of a loopback HTTP supplier, as they would in use.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import {
  IdempotencyKeyReused,
  InvalidInput,
  OverDelivery,
  RestockOrderClosed
} from "../src/InventoryError.js"
import { type NewProduct, Products } from "../src/Product.js"
import { ReorderRule } from "../src/Reorder.js"
import { RestockOrders } from "../src/Restock.js"
import { MAX_LEVEL } from "../src/Rules.js"
import { Stock } from "../src/Stock.js"
import { Suppliers } from "../src/Supplier.js"
import { SupplierSync } from "../src/SupplierSync.js"
import { type CatalogEntry, productsConnector, supplierServer } from "./supplierServer.js"
import { expectLedgerConsistent, type TestStore } from "./utils.js"

/**
 * A supplier whose catalog (with minimum order and pack size) is synced from a loopback server;
 * the server lives as long as the enclosing scope. Items link to our products when synced, so
 * the products come first.
 */
export const supplierOffering = (id: string, catalog: ReadonlyArray<CatalogEntry>) =>
  Effect.gen(function* () {
    const server = yield* supplierServer(catalog)
    const connector = productsConnector(server)
    yield* (yield* Suppliers).add({
      id,
      name: `Supplier ${id}`,
      connector: { ...connector, fields: { ...connector.fields, minOrderQty: "moq", packSize: "pack" } }
    })
    yield* (yield* SupplierSync).sync(id)
    return server
  })

const addProduct = (product: NewProduct) => Effect.flatMap(Products, (products) => products.add(product))

/** The open (draft or submitted) orders of a product. */
export const openOrders = (sku: string) =>
  Effect.map(
    Effect.flatMap(RestockOrders, (orders) => orders.list({ open: true, sku })),
    (page) => page.items
  )

/** Every movement of a product that a restock order's receipt wrote. */
const restockMovements = (sku: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ delta: number; reference: string; quantityAfter: number }>`
      select delta, reference, quantity_after from stock_movements
      where sku = ${sku} and reason = 'restock' order by id`
  )

export const restockSuite = (makeStore: () => TestStore) => {
  const options = { excludeTestServices: true, timeout: "60 seconds" } as const

  layer(makeStore(), options)("reorder rule", (it) => {
    it.scoped("the preferred supplier is chosen over a cheaper one", () =>
      Effect.gen(function* () {
        yield* addProduct({ sku: "PREF-1", name: "Preferred", reorderPoint: 5, reorderQuantity: 10 })
        // Offered with no availability: the preferred supplier still offers it.
        yield* supplierOffering("preferred", [{ sku: "PREF-1", availability: 0, price: 9 }])
        yield* supplierOffering("bargain", [{ sku: "PREF-1", availability: 50, price: 2 }])
        yield* (yield* Products).update("PREF-1", { preferredSupplier: "preferred" })
        yield* (yield* Stock).set({ sku: "PREF-1", quantity: 3 })
        const [order] = yield* openOrders("PREF-1")
        expect(order).toMatchObject({
          sku: "PREF-1",
          location: "default",
          status: "draft",
          supplierId: "preferred",
          supplierSku: "PREF-1",
          unitCost: 9,
          quantity: 10
        })
        expect(order!.explanation.supplier).toMatchObject({ supplierId: "preferred", why: "preferred" })
        expect(order!.explanation.summary).toBe(
          "order 10 from preferred (preferred): 3 available is at or below the reorder point of 5"
        )
      })
    )

    it.scoped("otherwise the cheapest active item that has availability", () =>
      Effect.gen(function* () {
        yield* addProduct({ sku: "CHEAP-1", name: "Cheapest", reorderPoint: 5, reorderQuantity: 10 })
        yield* supplierOffering("none-left", [{ sku: "CHEAP-1", availability: 0, price: 1 }])
        yield* supplierOffering("middle", [{ sku: "CHEAP-1", availability: 5, price: 4 }])
        yield* supplierOffering("dearest", [{ sku: "CHEAP-1", availability: 100, price: 8 }])
        // The cheapest of all, but its item vanished from its feed: inactive.
        const gone = yield* supplierOffering("gone", [{ sku: "CHEAP-1", availability: 100, price: 0.5 }])
        gone.catalog = []
        expect(yield* (yield* SupplierSync).sync("gone")).toMatchObject({ deactivated: 1 })

        yield* (yield* Stock).set({ sku: "CHEAP-1", quantity: 5 })
        const [order] = yield* openOrders("CHEAP-1")
        expect(order).toMatchObject({ supplierId: "middle", unitCost: 4, quantity: 10 })
        expect(order!.explanation.supplier).toMatchObject({
          supplierId: "middle",
          why: "cheapest",
          availability: 5
        })
      })
    )

    it.scoped("with a max level the order fills up to it, rounded up to whole packs", () =>
      Effect.gen(function* () {
        yield* addProduct({
          sku: "MAX-1",
          name: "Max level",
          reorderPoint: 10,
          reorderQuantity: 5,
          maxLevel: 50
        })
        yield* supplierOffering("packs", [{ sku: "MAX-1", availability: 500, price: 1, packSize: 10 }])
        yield* (yield* Stock).set({ sku: "MAX-1", quantity: 8 })
        const [order] = yield* openOrders("MAX-1")
        expect(order).toMatchObject({ quantity: 50, supplierId: "packs" })
        expect(order!.explanation).toMatchObject({
          available: 8,
          maxLevel: 50,
          wanted: 42,
          quantity: 50,
          rounding: "42 rounded up to whole packs of 10: 50"
        })
      })
    )

    it.scoped("the quantity is raised to the minimum order, then rounded up to whole packs", () =>
      Effect.gen(function* () {
        yield* addProduct({ sku: "MOQ-1", name: "Minimum order", reorderPoint: 10, reorderQuantity: 7 })
        yield* supplierOffering("minimums", [
          { sku: "MOQ-1", availability: 500, price: 1, minOrderQty: 10, packSize: 6 }
        ])
        yield* (yield* Stock).set({ sku: "MOQ-1", quantity: 4 })
        const [order] = yield* openOrders("MOQ-1")
        expect(order).toMatchObject({ quantity: 12 })
        expect(order!.explanation).toMatchObject({
          wanted: 7,
          quantity: 12,
          rounding: "7 raised to the minimum order of 10, then rounded up to whole packs of 6: 12"
        })
      })
    )

    it.scoped("no order above the reorder point, one at it, and explain says why each time", () =>
      Effect.gen(function* () {
        yield* addProduct({ sku: "EXP-1", name: "Explained", reorderPoint: 10, reorderQuantity: 5 })
        yield* supplierOffering("explainer", [{ sku: "EXP-1", availability: 9, price: 3 }])
        const stock = yield* Stock
        const orders = yield* RestockOrders

        yield* stock.set({ sku: "EXP-1", quantity: 11 })
        expect(yield* openOrders("EXP-1")).toEqual([])
        expect(yield* orders.explain("EXP-1")).toMatchObject([
          {
            sku: "EXP-1",
            location: "default",
            onHand: 11,
            available: 11,
            reorderPoint: 10,
            decision: "above-reorder-point",
            openOrderId: null,
            summary: "no order: 11 available is above the reorder point of 10"
          }
        ])

        yield* stock.adjust({ sku: "EXP-1", delta: -1 })
        const [order] = yield* openOrders("EXP-1")
        expect(order).toMatchObject({ quantity: 5, supplierId: "explainer" })

        // Further writes below the point find the order open and open no second one.
        yield* stock.adjust({ sku: "EXP-1", delta: -3 })
        expect(yield* openOrders("EXP-1")).toHaveLength(1)
        expect(yield* orders.explain("EXP-1")).toMatchObject([
          {
            onHand: 7,
            decision: "order-open",
            openOrderId: order!.id,
            supplier: { supplierId: "explainer", why: "cheapest" },
            summary: `no order: restock order ${order!.id} is already open`
          }
        ])
      })
    )

    it.effect("of many levels, evaluates one by one only those whose decision may be an order", () =>
      Effect.gen(function* () {
        yield* addProduct({ sku: "MANY-ORDER", name: "Orders", reorderPoint: 5, reorderQuantity: 10 })
        yield* addProduct({ sku: "MANY-NOQTY", name: "No quantity", reorderPoint: 5 })
        yield* addProduct({ sku: "MANY-MAX", name: "At its max", reorderPoint: 5, maxLevel: 5 })
        yield* addProduct({ sku: "MANY-ABOVE", name: "Above", reorderPoint: 5, reorderQuantity: 10 })
        const stock = yield* Stock
        yield* stock.set({ sku: "MANY-ORDER", quantity: 3 })
        yield* stock.set({ sku: "MANY-NOQTY", quantity: 3 })
        yield* stock.set({ sku: "MANY-MAX", quantity: 5 })
        yield* stock.set({ sku: "MANY-ABOVE", quantity: 9 })
        const levels = ["MANY-ORDER", "MANY-NOQTY", "MANY-MAX", "MANY-ABOVE"].map((sku) => ({
          sku,
          location: "default"
        }))
        const evaluateAll = Effect.flatMap(ReorderRule, (rule) => rule.evaluateAll(levels)).pipe(
          Effect.provide(ReorderRule.Default)
        )
        // The write opened MANY-ORDER's order; the others have nothing to order or are above.
        const [opened] = yield* openOrders("MANY-ORDER")
        expect(yield* evaluateAll).toBe(0)
        yield* (yield* RestockOrders).cancel(opened!.id)
        expect(yield* evaluateAll).toBe(1)
        const [reopened] = yield* openOrders("MANY-ORDER")
        expect(reopened).toMatchObject({ status: "draft", quantity: 10 })
        expect(reopened!.id).not.toBe(opened!.id)
        expect(yield* openOrders("MANY-NOQTY")).toEqual([])
        expect(yield* openOrders("MANY-MAX")).toEqual([])
      })
    )

    it.effect("with no supplier offering the product, the order opens without one, unrounded", () =>
      Effect.gen(function* () {
        yield* addProduct({ sku: "ORPH-1", name: "Nobody sells it", reorderPoint: 2, reorderQuantity: 3 })
        yield* (yield* Stock).set({ sku: "ORPH-1", quantity: 1 })
        const [order] = yield* openOrders("ORPH-1")
        expect(order).toMatchObject({ supplierId: null, supplierSku: null, unitCost: null, quantity: 3 })
        expect(order!.explanation).toMatchObject({
          supplier: null,
          rounding: "no supplier item: not rounded"
        })
      })
    )
  })

  layer(makeStore(), options)("restock orders", (it) => {
    /** A draft order of 12 (7 raised to 10, packs of 6) for `sku`, from stock 4. */
    const draftOrder = (sku: string) =>
      Effect.gen(function* () {
        yield* addProduct({ sku, name: `Ordered ${sku}`, reorderPoint: 10, reorderQuantity: 7 })
        yield* supplierOffering(`for-${sku.toLowerCase()}`, [
          { sku, availability: 100, price: 2, minOrderQty: 10, packSize: 6 }
        ])
        yield* (yield* Stock).set({ sku, quantity: 4 })
        const [order] = yield* openOrders(sku)
        expect(order).toMatchObject({ status: "draft", quantity: 12, receivedQuantity: 0 })
        return order!
      })

    it.scoped("submit, receive part, then the rest: received, through the ledger", () =>
      Effect.gen(function* () {
        const orders = yield* RestockOrders
        const draft = yield* draftOrder("LIFE-1")
        const submitted = yield* orders.submit(draft.id)
        expect(submitted).toMatchObject({ status: "submitted", closedAt: null })
        expect(submitted.submittedAt).toBeInstanceOf(Date)

        const part = yield* orders.receive({ orderId: draft.id, quantity: 5, actor: "dock-1" })
        expect(part).toMatchObject({ status: "submitted", receivedQuantity: 5, closedAt: null })
        const rest = yield* orders.receive({ orderId: draft.id })
        expect(rest).toMatchObject({ status: "received", receivedQuantity: 12, overDelivered: 0 })
        expect(rest.closedAt).toBeInstanceOf(Date)

        expect((yield* (yield* Stock).level("LIFE-1")).onHand).toBe(16)
        expect(yield* restockMovements("LIFE-1")).toEqual([
          { delta: 5, reference: `restock-order:${draft.id}`, quantityAfter: 9 },
          { delta: 7, reference: `restock-order:${draft.id}`, quantityAfter: 16 }
        ])
        const sql = yield* SqlClient.SqlClient
        const received = yield* sql<{ data: unknown }>`
          select data from outbox where type = 'restock.order.received' and subject = 'LIFE-1' order by id`
        expect(received.map((e) => e.data)).toMatchObject([
          { orderId: draft.id, received: 5, receivedQuantity: 5, status: "submitted" },
          { orderId: draft.id, received: 7, receivedQuantity: 12, status: "received" }
        ])
        expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
      })
    )

    it.scoped("receiving twice with the same idempotency key adds the units once", () =>
      Effect.gen(function* () {
        const orders = yield* RestockOrders
        const draft = yield* draftOrder("IDEM-1")
        yield* orders.submit(draft.id)
        const first = yield* orders.receive({ orderId: draft.id, quantity: 4, idempotencyKey: "dock-idem-1" })
        const again = yield* orders.receive({ orderId: draft.id, quantity: 4, idempotencyKey: "dock-idem-1" })
        expect(again).toEqual(first)
        expect(first).toMatchObject({ receivedQuantity: 4, status: "submitted" })
        expect((yield* (yield* Stock).level("IDEM-1")).onHand).toBe(8)
        expect(yield* restockMovements("IDEM-1")).toEqual([
          { delta: 4, reference: `restock-order:${draft.id}`, quantityAfter: 8 }
        ])
        // The same key for a different receipt is refused, and adds nothing either.
        const reused = yield* Effect.flip(
          orders.receive({ orderId: draft.id, quantity: 2, idempotencyKey: "dock-idem-1" })
        )
        expect(reused).toBeInstanceOf(IdempotencyKeyReused)
        expect((yield* orders.get(draft.id)).receivedQuantity).toBe(4)
        expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
      })
    )

    it.scoped("more than is outstanding is refused, unless allowed, and the order shows the excess", () =>
      Effect.gen(function* () {
        const orders = yield* RestockOrders
        const draft = yield* draftOrder("OVER-1")
        yield* orders.submit(draft.id)
        yield* orders.receive({ orderId: draft.id, quantity: 2 })

        const refused = yield* Effect.flip(orders.receive({ orderId: draft.id, quantity: 55 }))
        expect(refused).toBeInstanceOf(OverDelivery)
        expect(refused).toMatchObject({ orderId: draft.id, outstanding: 10, quantity: 55 })
        expect(refused.message).toContain("10 unit(s) outstanding, not 55")
        expect(refused.message).toContain("45 over")
        expect(yield* orders.get(draft.id)).toMatchObject({ receivedQuantity: 2, status: "submitted" })
        expect((yield* (yield* Stock).level("OVER-1")).onHand).toBe(6)

        const received = yield* orders.receive({ orderId: draft.id, quantity: 55, allowOverDelivery: true })
        expect(received).toMatchObject({ status: "received", receivedQuantity: 57, overDelivered: 45 })
        expect(yield* orders.get(draft.id)).toMatchObject({ overDelivered: 45 })
        expect((yield* (yield* Stock).level("OVER-1")).onHand).toBe(61)
        const sql = yield* SqlClient.SqlClient
        const [event] = yield* sql<{ data: unknown }>`
          select data from outbox where type = 'restock.order.received' and subject = 'OVER-1'
          order by id desc limit 1`
        expect(event!.data).toMatchObject({ received: 55, receivedQuantity: 57, overDelivered: 45 })
        expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
      })
    )

    it.scoped(
      "a receipt that would take the level past its limit is refused on quantity, changing nothing",
      () =>
        Effect.gen(function* () {
          const orders = yield* RestockOrders
          const draft = yield* draftOrder("FULL-1")
          yield* orders.submit(draft.id)
          yield* (yield* Stock).set({ sku: "FULL-1", quantity: MAX_LEVEL - 5 })
          const refused = yield* Effect.flip(orders.receive({ orderId: draft.id, quantity: 6 }))
          expect(refused).toBeInstanceOf(InvalidInput)
          expect(refused).toMatchObject({
            field: "quantity",
            rule: expect.stringContaining(`at most ${MAX_LEVEL}`)
          })
          expect((yield* (yield* Stock).level("FULL-1")).onHand).toBe(MAX_LEVEL - 5)
          expect(yield* orders.get(draft.id)).toMatchObject({ status: "submitted", receivedQuantity: 0 })
          expect(yield* restockMovements("FULL-1")).toEqual([])
          yield* orders.receive({ orderId: draft.id, quantity: 5 })
          expect((yield* (yield* Stock).level("FULL-1")).onHand).toBe(MAX_LEVEL)
        })
    )

    it.scoped("an order cannot be received before it is submitted", () =>
      Effect.gen(function* () {
        const orders = yield* RestockOrders
        const draft = yield* draftOrder("EARLY-1")
        const refused = yield* Effect.flip(orders.receive({ orderId: draft.id }))
        expect(refused).toBeInstanceOf(RestockOrderClosed)
        expect(refused).toMatchObject({
          orderId: draft.id,
          status: "draft",
          action: "received before it is submitted"
        })
        expect((yield* (yield* Stock).level("EARLY-1")).onHand).toBe(4)
        expect(yield* restockMovements("EARLY-1")).toEqual([])
        expect(yield* orders.get(draft.id)).toEqual(draft)
      })
    )

    it.scoped("cancel closes an open order; a received or cancelled one cannot move again", () =>
      Effect.gen(function* () {
        const orders = yield* RestockOrders
        const draft = yield* draftOrder("CANCEL-1")
        const cancelled = yield* orders.cancel(draft.id)
        expect(cancelled).toMatchObject({ status: "cancelled" })
        expect(cancelled.closedAt).toBeInstanceOf(Date)
        for (const refused of [
          orders.cancel(draft.id),
          orders.submit(draft.id),
          orders.receive({ orderId: draft.id })
        ]) {
          expect(yield* Effect.flip(refused)).toMatchObject({
            _tag: "RestockOrderClosed",
            orderId: draft.id,
            status: "cancelled"
          })
        }

        // Once nothing is open, the next low write opens a fresh order.
        yield* (yield* Stock).adjust({ sku: "CANCEL-1", delta: -1 })
        const [reopened] = yield* openOrders("CANCEL-1")
        expect(reopened!.id).not.toBe(draft.id)
        yield* orders.submit(reopened!.id)
        yield* orders.receive({ orderId: reopened!.id })
        const afterReceipt = yield* Effect.flip(orders.cancel(reopened!.id))
        expect(afterReceipt).toBeInstanceOf(RestockOrderClosed)
        expect(afterReceipt).toMatchObject({ status: "received", action: "cancelled" })
        expect(yield* orders.get(reopened!.id)).toMatchObject({ status: "received", receivedQuantity: 12 })
        expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
      })
    )
  })
}
