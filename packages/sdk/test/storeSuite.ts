/**
 * The store suite, written once and run on every store: PGlite (Store.pglite.test.ts) and
 * PostgreSQL (Store.postgres.test.ts). Each block below opens a store of its own.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  LocationNotFound,
  ProductAlreadyExists,
  ProductNotFound,
  StockConflict
} from "../src/InventoryError.js"
import { Locations } from "../src/Location.js"
import { type NewProduct, Products } from "../src/Product.js"
import { MAX_LEVEL, SPACES_RULE } from "../src/Rules.js"
import { type AdjustStock, type BatchChange, MAX_BATCH, Stock } from "../src/Stock.js"
import { wakeOnEventsCommitted } from "../src/Store.js"
import { expectLedgerConsistent, storeTotals, type TestStore } from "./utils.js"

const addProducts = (...products: ReadonlyArray<NewProduct>) =>
  Effect.flatMap(Products, (catalog) => Effect.forEach(products, (product) => catalog.add(product)))

/** Fails the test unless `effect` fails with an InvalidInput naming `field`. */
const expectInvalid = <A, E, R>(effect: Effect.Effect<A, E, R>, field: string) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    expect(error).toBeInstanceOf(InvalidInput)
    expect((error as InvalidInput).field).toBe(field)
    return error as InvalidInput
  })

/** The SQLSTATE a statement fails with (it must fail). */
const codeOf = (statement: Effect.Effect<unknown, unknown>) =>
  Effect.map(Effect.flip(statement), (error) => (error as { cause?: { code?: string } }).cause?.code)

export const storeSuite = (makeStore: () => TestStore) => {
  const options = { excludeTestServices: true, timeout: "60 seconds" } as const

  layer(makeStore(), options)("products", (it) => {
    it.effect("add fills in the defaults and get answers the same product", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const added = yield* products.add({ sku: "P-1", name: "Widget" })
        expect(added).toMatchObject({
          sku: "P-1",
          name: "Widget",
          unit: "each",
          reorderPoint: 0,
          reorderQuantity: 0,
          maxLevel: null,
          preferredSupplier: null,
          active: true
        })
        expect(added.createdAt).toBeInstanceOf(Date)
        expect(yield* products.get("P-1")).toEqual(added)
      })
    )

    it.effect("refuses names and units with spaces around them instead of trimming them", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const locations = yield* Locations
        for (const name of ["  Widget  ", "Widget ", "\u00a0Widget"]) {
          const refused = yield* expectInvalid(products.add({ sku: "SP-1", name }), "name")
          expect(refused.rule).toBe(SPACES_RULE)
        }
        yield* expectInvalid(products.add({ sku: "SP-1", name: "Widget", unit: " box" }), "unit")
        yield* expectInvalid(locations.add({ code: "SP-LOC", name: "Back room " }), "name")
        expect(yield* Effect.flip(products.get("SP-1"))).toBeInstanceOf(ProductNotFound)
        yield* products.add({ sku: "SP-1", name: "Widget" })
        yield* expectInvalid(products.update("SP-1", { name: "Widget " }), "name")
        expect((yield* products.get("SP-1")).name).toBe("Widget")
      })
    )

    it.effect("adding an existing SKU fails with ProductAlreadyExists and keeps the first product", () =>
      Effect.gen(function* () {
        const products = yield* Products
        yield* products.add({ sku: "P-2", name: "First", unit: "box" })
        const error = yield* Effect.flip(products.add({ sku: "P-2", name: "Second" }))
        expect(error).toBeInstanceOf(ProductAlreadyExists)
        expect(error).toMatchObject({ sku: "P-2" })
        expect(yield* products.get("P-2")).toMatchObject({ name: "First", unit: "box" })
      })
    )

    it.effect("get of an unknown SKU fails with ProductNotFound", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip((yield* Products).get("NOPE-1"))
        expect(error).toBeInstanceOf(ProductNotFound)
        expect(error).toMatchObject({ sku: "NOPE-1" })
      })
    )

    it.effect("update changes the given fields only", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const added = yield* products.add({ sku: "P-3", name: "Bolt", unit: "box", reorderQuantity: 7 })
        const updated = yield* products.update("P-3", { name: "Big bolt", reorderPoint: 12 })
        expect(updated).toMatchObject({
          sku: "P-3",
          name: "Big bolt",
          unit: "box",
          reorderPoint: 12,
          reorderQuantity: 7,
          active: true
        })
        expect(updated.createdAt).toEqual(added.createdAt)
        expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(added.updatedAt.getTime())
        expect(yield* products.get("P-3")).toEqual(updated)
      })
    )

    it.effect("update with nothing to change fails with InvalidInput on patch and changes nothing", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const added = yield* products.add({ sku: "P-4", name: "Nut" })
        yield* expectInvalid(products.update("P-4", {}), "patch")
        yield* expectInvalid(products.update("P-4", { name: undefined }), "patch")
        yield* expectInvalid(products.update("P-4", { reorderPoint: -1 }), "reorderPoint")
        expect(yield* products.get("P-4")).toEqual(added)
      })
    )

    it.effect("update of an unknown SKU fails with ProductNotFound", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip((yield* Products).update("NOPE-2", { name: "x" }))
        expect(error).toBeInstanceOf(ProductNotFound)
        expect(error).toMatchObject({ sku: "NOPE-2" })
      })
    )

    it.effect("archive deactivates, and the active filter tells archived from active products", () =>
      Effect.gen(function* () {
        const products = yield* Products
        yield* addProducts({ sku: "ARC-1", name: "Kept" }, { sku: "ARC-2", name: "Archived" })
        const archived = yield* products.archive("ARC-2")
        expect(archived.active).toBe(false)
        const skus = (page: { items: ReadonlyArray<{ sku: string }> }) => page.items.map((p) => p.sku)
        expect(skus(yield* products.list({ text: "ARC-", active: true }))).toEqual(["ARC-1"])
        expect(skus(yield* products.list({ text: "ARC-", active: false }))).toEqual(["ARC-2"])
        expect(skus(yield* products.list({ text: "ARC-" }))).toEqual(["ARC-1", "ARC-2"])
      })
    )

    it.effect("add, update and archive each write their catalog event; a refused change writes none", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const sql = yield* SqlClient.SqlClient
        const events = () =>
          sql<{
            type: string
            subject: string
            data: { sku: string; reorderPoint: number; active: boolean }
          }>`
            select type, subject, data from outbox where subject = 'EVT-1' and type like 'product.%' order by id`
        yield* products.add({ sku: "EVT-1", name: "Evented" })
        yield* products.update("EVT-1", { reorderPoint: 7 })
        yield* products.archive("EVT-1")
        yield* Effect.flip(products.add({ sku: "EVT-1", name: "Again" }))
        yield* Effect.flip(products.update("EVT-1", { preferredSupplier: "no-such-supplier" }))
        expect(yield* events()).toEqual([
          {
            type: "product.created",
            subject: "EVT-1",
            data: expect.objectContaining({ sku: "EVT-1", active: true })
          },
          { type: "product.updated", subject: "EVT-1", data: expect.objectContaining({ reorderPoint: 7 }) },
          { type: "product.archived", subject: "EVT-1", data: expect.objectContaining({ active: false }) }
        ])
      })
    )

    it.effect("list pages through every product in SKU order with the cursor", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const skus = ["PG-7", "PG-3", "PG-5", "PG-1", "PG-6", "PG-2", "PG-4"]
        yield* addProducts(...skus.map((sku) => ({ sku, name: `Paged ${sku}` })))
        const pages: Array<ReadonlyArray<string>> = []
        let cursor: string | undefined
        do {
          const page = yield* products.list({ text: "PG-", limit: 3, cursor })
          pages.push(page.items.map((p) => p.sku))
          cursor = page.nextCursor ?? undefined
        } while (cursor !== undefined)
        expect(pages).toEqual([["PG-1", "PG-2", "PG-3"], ["PG-4", "PG-5", "PG-6"], ["PG-7"]])
        const exact = yield* products.list({ text: "PG-", limit: 7 })
        expect(exact.items).toHaveLength(7)
        expect(exact.nextCursor).toBeNull()
      })
    )

    it.effect("the text filter matches SKU or name, ignores case, and takes % and _ literally", () =>
      Effect.gen(function* () {
        const products = yield* Products
        yield* addProducts(
          { sku: "TXT-1", name: "Blue paint 50%" },
          { sku: "TXT-2", name: "Blue paint 500" },
          { sku: "TXT_3", name: "Red PAINT" },
          { sku: "TXTX3", name: "Brush" }
        )
        const skus = (text: string) =>
          Effect.map(products.list({ text }), (page) => page.items.map((p) => p.sku))
        expect(yield* skus("50%")).toEqual(["TXT-1"])
        expect(yield* skus("paint")).toEqual(["TXT-1", "TXT-2", "TXT_3"])
        expect(yield* skus("txt_")).toEqual(["TXT_3"])
        expect(yield* skus("brush")).toEqual(["TXTX3"])
        expect(yield* skus("no such thing")).toEqual([])
      })
    )

    it.effect("list rejects a cursor it did not write and a limit out of range", () =>
      Effect.gen(function* () {
        const products = yield* Products
        yield* expectInvalid(products.list({ cursor: "not-a-cursor" }), "cursor")
        yield* expectInvalid(products.list({ limit: 0 }), "limit")
        yield* expectInvalid(products.list({ limit: 1001 }), "limit")
      })
    )

    it.effect("add rejects bad input, naming the field, and adds nothing", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const before = yield* products.list({ limit: 1000 })
        yield* expectInvalid(products.add({ sku: "bad sku", name: "x" }), "sku")
        yield* expectInvalid(products.add({ sku: "", name: "x" }), "sku")
        yield* expectInvalid(products.add({ sku: "x".repeat(65), name: "x" }), "sku")
        yield* expectInvalid(products.add({ sku: "OK-1", name: "   " }), "name")
        yield* expectInvalid(products.add({ sku: "OK-1", name: "x", reorderPoint: 1.5 }), "reorderPoint")
        yield* expectInvalid(products.add({ sku: "OK-1", name: 5 as unknown as string }), "name")
        expect(yield* products.list({ limit: 1000 })).toEqual(before)
      })
    )
  })

  layer(makeStore(), options)("stock writes", (it) => {
    it.effect(
      "set and adjust answer the delta, the level after and the version, at the default location",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          yield* addProducts({ sku: "W-1", name: "Widget" })
          const counted = yield* stock.set({ sku: "W-1", quantity: 10 })
          expect(counted).toMatchObject({
            sku: "W-1",
            location: "default",
            delta: 10,
            onHand: 10,
            version: 1,
            reason: "count",
            reference: null,
            actor: null
          })
          expect(counted.at).toBeInstanceOf(Date)
          const recounted = yield* stock.set({
            sku: "W-1",
            quantity: 4,
            reference: "cycle count",
            actor: "ann"
          })
          expect(recounted).toMatchObject({
            delta: -6,
            onHand: 4,
            version: 2,
            reason: "count",
            reference: "cycle count",
            actor: "ann"
          })
          const received = yield* stock.adjust({ sku: "W-1", delta: 5, reason: "receipt", reference: "PO-9" })
          expect(received).toMatchObject({
            delta: 5,
            onHand: 9,
            version: 3,
            reason: "receipt",
            reference: "PO-9"
          })
          const adjusted = yield* stock.adjust({ sku: "W-1", delta: -2 })
          expect(adjusted).toMatchObject({ delta: -2, onHand: 7, version: 4, reason: "adjustment" })
          expect(new Set([counted, recounted, received, adjusted].map((c) => c.movementId)).size).toBe(4)
          const level = yield* stock.level("W-1")
          expect(level).toMatchObject({ sku: "W-1", onHand: 7, available: 7, reserved: 0 })
          expect(level.locations).toMatchObject([{ location: "default", onHand: 7, version: 4 }])
        })
    )

    it.effect("adjust up on a product with no level yet creates the level", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "W-2", name: "Fresh" })
        expect(yield* stock.adjust({ sku: "W-2", delta: 3, reason: "return" })).toMatchObject({
          delta: 3,
          onHand: 3,
          version: 1,
          reason: "return"
        })
      })
    )

    it.effect("set with the expected quantity applies; with another one fails with StockConflict", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "EXP-1", name: "Checked" })
        yield* stock.set({ sku: "EXP-1", quantity: 8 })
        expect(yield* stock.set({ sku: "EXP-1", quantity: 6, expected: 8 })).toMatchObject({
          delta: -2,
          onHand: 6,
          version: 2
        })
        const before = yield* storeTotals
        const conflict = yield* Effect.flip(stock.set({ sku: "EXP-1", quantity: 1, expected: 8 }))
        expect(conflict).toBeInstanceOf(StockConflict)
        expect(conflict).toMatchObject({ sku: "EXP-1", location: "default", expected: 8, actual: 6 })
        expect(yield* storeTotals).toEqual(before)
        expect((yield* stock.level("EXP-1")).onHand).toBe(6)
      })
    )

    it.effect("set expecting 0 creates a missing level, and conflicts once the level is not 0", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "EXP-2", name: "New" })
        expect(yield* stock.set({ sku: "EXP-2", quantity: 7, expected: 0 })).toMatchObject({
          delta: 7,
          onHand: 7,
          version: 1
        })
        const conflict = yield* Effect.flip(stock.set({ sku: "EXP-2", quantity: 9, expected: 0 }))
        expect(conflict).toBeInstanceOf(StockConflict)
        expect(conflict).toMatchObject({ expected: 0, actual: 7 })
        const missing = yield* Effect.flip(stock.set({ sku: "EXP-2", quantity: 9, expected: 3 }))
        expect(missing).toMatchObject({ _tag: "StockConflict", expected: 3, actual: 7 })
        expect((yield* stock.level("EXP-2")).onHand).toBe(7)
      })
    )

    it.effect("adjust below zero fails with InsufficientStock and changes nothing", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "LOWW-1", name: "Scarce" }, { sku: "LOWW-2", name: "Never stocked" })
        yield* stock.set({ sku: "LOWW-1", quantity: 3 })
        const before = yield* storeTotals
        const error = yield* Effect.flip(stock.adjust({ sku: "LOWW-1", delta: -5, reason: "sale" }))
        expect(error).toBeInstanceOf(InsufficientStock)
        expect(error).toMatchObject({ sku: "LOWW-1", location: "default", available: 3, requested: 5 })
        const never = yield* Effect.flip(stock.adjust({ sku: "LOWW-2", delta: -1 }))
        expect(never).toMatchObject({ _tag: "InsufficientStock", available: 0, requested: 1 })
        expect(yield* storeTotals).toEqual(before)
        // Down to exactly zero is allowed.
        expect(yield* stock.adjust({ sku: "LOWW-1", delta: -3 })).toMatchObject({ onHand: 0, version: 2 })
      })
    )

    it.effect("transfer moves units between locations in one change", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Locations).add({ code: "north", name: "North warehouse" })
        yield* addProducts({ sku: "TR-1", name: "Moved" })
        yield* stock.set({ sku: "TR-1", quantity: 10 })
        const moved = yield* stock.transfer({ sku: "TR-1", quantity: 4, from: "default", to: "north" })
        expect(moved.from).toMatchObject({ location: "default", delta: -4, onHand: 6, reason: "transfer" })
        expect(moved.to).toMatchObject({
          location: "north",
          delta: 4,
          onHand: 4,
          version: 1,
          reason: "transfer"
        })
        const level = yield* stock.level("TR-1")
        expect(level.onHand).toBe(10)
        expect(level.locations.map((l) => [l.location, l.onHand])).toEqual([
          ["default", 6],
          ["north", 4]
        ])
      })
    )

    it.effect("a transfer short at its source moves nothing at either location", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        // "aa-dock" sorts before "zz-store": the receiving side is written first, then rolled back.
        yield* (yield* Locations).add({ code: "zz-store" })
        yield* (yield* Locations).add({ code: "aa-dock" })
        yield* addProducts({ sku: "TR-2", name: "Short" })
        yield* stock.set({ sku: "TR-2", quantity: 2, location: "zz-store" })
        yield* stock.set({ sku: "TR-2", quantity: 1, location: "aa-dock" })
        const before = yield* storeTotals
        const error = yield* Effect.flip(
          stock.transfer({ sku: "TR-2", quantity: 3, from: "zz-store", to: "aa-dock" })
        )
        expect(error).toBeInstanceOf(InsufficientStock)
        expect(error).toMatchObject({ location: "zz-store", available: 2, requested: 3 })
        expect(yield* storeTotals).toEqual(before)
        const level = yield* stock.level("TR-2")
        expect(level.locations.map((l) => [l.location, l.onHand, l.version])).toEqual([
          ["aa-dock", 1, 1],
          ["zz-store", 2, 1]
        ])
      })
    )

    it.effect("a transfer to its own source, or to an unknown location, is refused", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "TR-3", name: "Stays" })
        yield* stock.set({ sku: "TR-3", quantity: 5 })
        const before = yield* storeTotals
        const same = yield* expectInvalid(
          stock.transfer({ sku: "TR-3", quantity: 1, from: "default", to: "default" }),
          "to"
        )
        expect(same.rule).toMatch(/another location than the one it moves from/)
        const nowhere = yield* Effect.flip(
          stock.transfer({ sku: "TR-3", quantity: 1, from: "default", to: "atlantis" })
        )
        expect(nowhere).toBeInstanceOf(LocationNotFound)
        expect(nowhere).toMatchObject({ location: "atlantis" })
        yield* expectInvalid(
          stock.transfer({ sku: "TR-3", quantity: 0, from: "default", to: "north" }),
          "quantity"
        )
        expect(yield* storeTotals).toEqual(before)
      })
    )

    it.effect("batch applies every change and answers in the caller's order", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "B-A", name: "A" }, { sku: "B-B", name: "B" })
        const before = yield* storeTotals
        const result = yield* stock.batch({
          changes: [
            { type: "adjust", sku: "B-B", delta: 3, reason: "receipt" },
            { type: "set", sku: "B-A", quantity: 5 },
            { type: "adjust", sku: "B-A", delta: -2, reason: "sale" }
          ],
          reference: "import-1"
        })
        expect(result.changes).toMatchObject([
          { sku: "B-B", location: "default", delta: 3, onHand: 3, reason: "receipt", reference: "import-1" },
          { sku: "B-A", location: "default", delta: 5, onHand: 5, reason: "count", reference: "import-1" },
          { sku: "B-A", location: "default", delta: -2, onHand: 3, version: 2, reason: "sale" }
        ])
        const after = yield* storeTotals
        expect(after.movements - before.movements).toBe(3)
        expect(after.events - before.events).toBe(3)
      })
    )

    it.effect("a batch with one failing change in the middle applies none of them", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "BF-1", name: "1" }, { sku: "BF-2", name: "2" }, { sku: "BF-3", name: "3" })
        yield* stock.set({ sku: "BF-2", quantity: 4 })
        const before = yield* storeTotals
        const changes: ReadonlyArray<BatchChange> = [
          { type: "adjust", sku: "BF-1", delta: 5 },
          { type: "set", sku: "BF-3", quantity: 9 },
          { type: "adjust", sku: "BF-2", delta: -10 },
          { type: "adjust", sku: "BF-3", delta: 1 }
        ]
        const error = yield* Effect.flip(stock.batch({ changes }))
        expect(error).toMatchObject({ _tag: "InsufficientStock", sku: "BF-2", available: 4, requested: 10 })
        expect(yield* storeTotals).toEqual(before)
        expect((yield* stock.level("BF-1")).locations).toEqual([])
        expect((yield* stock.level("BF-3")).locations).toEqual([])

        const unknown = yield* Effect.flip(
          stock.batch({ changes: [changes[0]!, { type: "adjust", sku: "BF-404", delta: 1 }, changes[1]!] })
        )
        expect(unknown).toBeInstanceOf(ProductNotFound)
        expect(unknown).toMatchObject({ sku: "BF-404" })
        expect(yield* storeTotals).toEqual(before)
      })
    )

    it.effect("a batch's change is refused on the level its earlier changes of that level left", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "BE-1", name: "1" }, { sku: "BE-2", name: "2" })
        yield* stock.set({ sku: "BE-1", quantity: 10 })
        const before = yield* storeTotals
        // Each sale fits 10 alone; together they do not. Judged on the level before the batch,
        // the second one would fit, and the request ran again until it answered a store failure.
        const twoSales: ReadonlyArray<BatchChange> = [
          { type: "adjust", sku: "BE-1", delta: -8 },
          { type: "adjust", sku: "BE-1", delta: -5 }
        ]
        for (const request of [
          { changes: twoSales },
          { changes: twoSales, idempotencyKey: "be-keyed" },
          { changes: twoSales, dryRun: true },
          { changes: twoSales, releaseHolds: true }
        ]) {
          const refused = yield* Effect.flip(stock.batch(request))
          expect(refused).toMatchObject({
            _tag: "InsufficientStock",
            sku: "BE-1",
            available: 2,
            requested: 5
          })
        }
        const refusalOf = (...changes: ReadonlyArray<BatchChange>) => Effect.flip(stock.batch({ changes }))
        // The figure is the one the refusal was decided on: 8 left after the first sale.
        expect(
          yield* refusalOf(
            { type: "adjust", sku: "BE-1", delta: -2 },
            { type: "adjust", sku: "BE-1", delta: -11 }
          )
        ).toMatchObject({ _tag: "InsufficientStock", available: 8, requested: 11 })
        // A count, then sales: judged after the count, on a level that was empty before it.
        expect(
          yield* refusalOf(
            { type: "set", sku: "BE-2", quantity: 7 },
            { type: "adjust", sku: "BE-2", delta: -3 },
            { type: "adjust", sku: "BE-2", delta: -5 }
          )
        ).toMatchObject({ _tag: "InsufficientStock", sku: "BE-2", available: 4, requested: 5 })
        // An expected count is compared with the level as the batch's earlier changes left it.
        expect(
          yield* refusalOf(
            { type: "adjust", sku: "BE-1", delta: -1 },
            { type: "set", sku: "BE-1", quantity: 3, expected: 10 }
          )
        ).toMatchObject({ _tag: "StockConflict", expected: 10, actual: 9 })
        // Nothing written but the keyed refusal's key.
        expect(yield* storeTotals).toEqual({ ...before, keys: before.keys + 1 })
        // The keyed refusal was kept with its key: the same request answers it again.
        expect(
          yield* Effect.flip(stock.batch({ changes: twoSales, idempotencyKey: "be-keyed" }))
        ).toMatchObject({ _tag: "InsufficientStock", available: 2, requested: 5 })
        // And a batch that fits, on the same level, applies in the caller's order.
        const applied = yield* stock.batch({
          changes: [
            { type: "adjust", sku: "BE-1", delta: -8 },
            { type: "adjust", sku: "BE-1", delta: -2 }
          ]
        })
        expect(applied.changes.map((c) => c.onHand)).toEqual([2, 0])
      })
    )

    it.effect("a dry-run batch answers what it would do, or why not, and writes nothing", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "DRY-1", name: "1" }, { sku: "DRY-2", name: "2" })
        yield* stock.set({ sku: "DRY-1", quantity: 4 })
        const before = yield* storeTotals
        const changes: ReadonlyArray<BatchChange> = [
          { type: "adjust", sku: "DRY-1", delta: -3 },
          { type: "set", sku: "DRY-2", quantity: 7 }
        ]
        const answer = yield* stock.batch({ changes, dryRun: true, idempotencyKey: "dry-key" })
        expect(answer.changes.map((c) => [c.sku, c.delta, c.onHand, c.version])).toEqual([
          ["DRY-1", -3, 1, 2],
          ["DRY-2", 7, 7, 1]
        ])
        expect(yield* storeTotals).toEqual(before)
        expect((yield* stock.level("DRY-2")).locations).toEqual([])

        const refused = yield* Effect.flip(
          stock.batch({ changes: [{ type: "adjust", sku: "DRY-1", delta: -5 }], dryRun: true })
        )
        expect(refused).toMatchObject({ _tag: "InsufficientStock", available: 4, requested: 5 })
        expect(yield* storeTotals).toEqual(before)

        // The key was not claimed: the same request, for real, applies once.
        const applied = yield* stock.batch({ changes, idempotencyKey: "dry-key" })
        expect(applied.changes.map((c) => c.onHand)).toEqual([1, 7])
      })
    )

    it.effect("a batch must hold between 1 and 1000 changes", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "BIG-1", name: "Big" })
        const before = yield* storeTotals
        const change: BatchChange = { type: "adjust", sku: "BIG-1", delta: 1 }
        const tooMany = yield* expectInvalid(
          stock.batch({ changes: Array.from({ length: MAX_BATCH + 1 }, () => change) }),
          "changes"
        )
        expect(tooMany.rule).toMatch(/at most 1000/)
        yield* expectInvalid(stock.batch({ changes: [] }), "changes")
        expect(yield* storeTotals).toEqual(before)
        const full = yield* stock.batch({ changes: Array.from({ length: MAX_BATCH }, () => change) })
        expect(full.changes).toHaveLength(MAX_BATCH)
        expect(full.changes.at(-1)).toMatchObject({ onHand: MAX_BATCH, version: MAX_BATCH })
      })
    )

    it.effect("each change writes one ledger movement and one stock.updated event", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        yield* addProducts({ sku: "EV-1", name: "Evented" })
        const before = yield* storeTotals
        const change = yield* stock.adjust({ sku: "EV-1", delta: 6, reason: "receipt", actor: "bob" })
        const after = yield* storeTotals
        expect([after.movements - before.movements, after.events - before.events]).toEqual([1, 1])

        const movements = yield* sql`
          select sku, location, delta, quantity_after, reason, actor from stock_movements
          where id = ${change.movementId}`
        expect(movements).toEqual([
          { sku: "EV-1", location: "default", delta: 6, quantityAfter: 6, reason: "receipt", actor: "bob" }
        ])
        const events = yield* sql<{ type: string; subject: string; data: any }>`
          select type, subject, data from outbox where (data ->> 'movementId')::bigint = ${change.movementId}`
        expect(events).toHaveLength(1)
        const [event] = events
        expect(event).toMatchObject({ type: "stock.updated", subject: "EV-1" })
        expect(event!.data).toMatchObject({
          sku: "EV-1",
          location: "default",
          delta: 6,
          onHand: 6,
          version: 1,
          reason: "receipt",
          actor: "bob"
        })
      })
    )

    it.effect("the ledger is append-only: movements cannot be updated or deleted", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        yield* addProducts({ sku: "AO-1", name: "Audited" })
        const change = yield* stock.adjust({ sku: "AO-1", delta: 2 })
        const update = yield* Effect.flip(
          sql`update stock_movements set delta = 100 where id = ${change.movementId}`
        )
        expect(update._tag).toBe("SqlError")
        expect(String((update.cause as Error).message)).toMatch(/append-only/)
        const remove = yield* Effect.flip(sql`delete from stock_movements where id = ${change.movementId}`)
        expect(String((remove.cause as Error).message)).toMatch(/append-only/)
        const rows = yield* sql`select delta from stock_movements where id = ${change.movementId}`
        expect(rows).toEqual([{ delta: 2 }])
      })
    )

    it.effect("every level equals the sum of its movements, and every movement has its event", () =>
      Effect.gen(function* () {
        const levels = yield* expectLedgerConsistent
        expect(levels).toBeGreaterThan(10)
      })
    )
  })

  layer(makeStore(), options)("stock reads", (it) => {
    it.effect("level answers the total and each location; the location option narrows it", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Locations).add({ code: "east" })
        yield* addProducts({ sku: "RL-1", name: "Read me", reorderPoint: 4 }, { sku: "RL-2", name: "Empty" })
        yield* stock.set({ sku: "RL-1", quantity: 7 })
        yield* stock.set({ sku: "RL-1", quantity: 5, location: "east" })
        const level = yield* stock.level("RL-1")
        expect(level).toMatchObject({
          sku: "RL-1",
          name: "Read me",
          onHand: 12,
          reserved: 0,
          available: 12,
          reorderPoint: 4
        })
        expect(
          level.locations.map(({ location, onHand, available }) => ({ location, onHand, available }))
        ).toEqual([
          { location: "default", onHand: 7, available: 7 },
          { location: "east", onHand: 5, available: 5 }
        ])
        const east = yield* stock.level("RL-1", { location: "east" })
        expect(east.onHand).toBe(5)
        expect(east.locations.map((l) => l.location)).toEqual(["east"])
        expect(yield* stock.level("RL-2")).toMatchObject({ onHand: 0, available: 0, locations: [] })
        const nowhere = yield* Effect.flip(stock.level("RL-1", { location: "nowhere-yet" }))
        expect(nowhere).toBeInstanceOf(LocationNotFound)
        expect(nowhere).toMatchObject({ location: "nowhere-yet" })
      })
    )

    it.effect("level of an unknown product fails with ProductNotFound", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip((yield* Stock).level("RL-404"))
        expect(error).toBeInstanceOf(ProductNotFound)
        expect(error).toMatchObject({ sku: "RL-404" })
      })
    )

    it.effect("list pages through the levels, filtered by location or text", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Locations).add({ code: "west" })
        yield* addProducts(
          { sku: "LS-1", name: "Hammer" },
          { sku: "LS-2", name: "Saw" },
          { sku: "LS-3", name: "Claw hammer" }
        )
        yield* stock.batch({
          changes: [
            { type: "set", sku: "LS-1", quantity: 1 },
            { type: "set", sku: "LS-1", quantity: 2, location: "west" },
            { type: "set", sku: "LS-2", quantity: 3 },
            { type: "set", sku: "LS-3", quantity: 4, location: "west" }
          ]
        })
        const rows: Array<[string, string, number]> = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = yield* stock.list({ text: "LS-", limit: 3, cursor })
          rows.push(...page.items.map((r): [string, string, number] => [r.sku, r.location, r.onHand]))
          cursor = page.nextCursor ?? undefined
          pages++
        } while (cursor !== undefined)
        expect(pages).toBe(2)
        expect(rows).toEqual([
          ["LS-1", "default", 1],
          ["LS-1", "west", 2],
          ["LS-2", "default", 3],
          ["LS-3", "west", 4]
        ])
        const west = yield* stock.list({ location: "west" })
        expect(west.items.map((r) => [r.sku, r.onHand])).toEqual([
          ["LS-1", 2],
          ["LS-3", 4]
        ])
        const hammers = yield* stock.list({ text: "HAMMER" })
        expect(hammers.items.map((r) => [r.sku, r.location])).toEqual([
          ["LS-1", "default"],
          ["LS-1", "west"],
          ["LS-3", "west"]
        ])
      })
    )

    it.effect("history answers the ledger newest first, page by page, up to a time", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "HI-1", name: "Historic" })
        const changes = []
        for (const delta of [5, 4, 3, 2, 1]) {
          changes.push(yield* stock.adjust({ sku: "HI-1", delta, reference: `step ${delta}` }))
          yield* Effect.sleep("3 millis") // each change in a millisecond of its own
        }
        const ids: Array<ReadonlyArray<number>> = []
        let cursor: string | undefined
        do {
          const page = yield* stock.history("HI-1", { limit: 2, cursor })
          ids.push(page.items.map((m) => m.id))
          cursor = page.nextCursor ?? undefined
        } while (cursor !== undefined)
        const newestFirst = changes.map((c) => c.movementId).reverse()
        expect(ids).toEqual([newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)])

        const [latest] = (yield* stock.history("HI-1", { limit: 1 })).items
        expect(latest).toMatchObject({ sku: "HI-1", location: "default", delta: 1, quantityAfter: 15 })
        expect(latest!.reference).toBe("step 1")

        // `until` takes a change's own `at`: that change and the ones before it.
        const untilThird = yield* stock.history("HI-1", { until: changes[2]!.at })
        expect(untilThird.items.map((m) => m.delta)).toEqual([3, 4, 5])
        const untilIso = yield* stock.history("HI-1", { until: changes[0]!.at.toISOString() })
        expect(untilIso.items.map((m) => m.delta)).toEqual([5])
        const longAgo = yield* stock.history("HI-1", { until: new Date("2001-01-01T00:00:00Z") })
        expect(longAgo.items).toEqual([])
      })
    )

    it.effect("history of an unknown product fails; a bad time fails on until", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const error = yield* Effect.flip(stock.history("HI-404"))
        expect(error).toBeInstanceOf(ProductNotFound)
        yield* expectInvalid(stock.history("HI-1", { until: "yesterday-ish" }), "until")
      })
    )

    it.effect("every level equals the sum of its movements", () =>
      Effect.map(expectLedgerConsistent, (levels) => expect(levels).toBeGreaterThan(3))
    )
  })

  layer(makeStore(), options)("low stock and overview", (it) => {
    it.effect("low lists what is at or below its own reorder point, out of stock first, active only", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const products = yield* Products
        yield* addProducts(
          { sku: "LO-AT", name: "At its point", reorderPoint: 10, reorderQuantity: 20 },
          { sku: "LO-ABOVE", name: "Above its point", reorderPoint: 10 },
          { sku: "LO-OUT", name: "Out of stock", reorderPoint: 2 },
          { sku: "LO-DEEP", name: "Far below", reorderPoint: 50 },
          { sku: "LO-ARCH", name: "Archived", reorderPoint: 10 },
          { sku: "LO-NONE", name: "No reorder point" }
        )
        yield* stock.batch({
          changes: [
            { type: "set", sku: "LO-AT", quantity: 10 },
            { type: "set", sku: "LO-ABOVE", quantity: 11 },
            { type: "set", sku: "LO-OUT", quantity: 0 },
            { type: "set", sku: "LO-DEEP", quantity: 20 },
            { type: "set", sku: "LO-ARCH", quantity: 1 },
            { type: "set", sku: "LO-NONE", quantity: 5 }
          ]
        })
        yield* products.archive("LO-ARCH")
        const low = (yield* stock.low()).items
        expect(
          low.map(({ sku, onHand, available, reorderPoint, shortfall }) => ({
            sku,
            onHand,
            available,
            reorderPoint,
            shortfall
          }))
        ).toEqual([
          { sku: "LO-OUT", onHand: 0, available: 0, reorderPoint: 2, shortfall: 2 },
          { sku: "LO-DEEP", onHand: 20, available: 20, reorderPoint: 50, shortfall: 30 },
          { sku: "LO-AT", onHand: 10, available: 10, reorderPoint: 10, shortfall: 0 }
        ])
        expect(low.find((item) => item.sku === "LO-AT")).toMatchObject({
          reorderQuantity: 20,
          location: "default"
        })
        expect((yield* stock.low({ location: "default" })).items.map((item) => item.sku)).toEqual([
          "LO-OUT",
          "LO-DEEP",
          "LO-AT"
        ])
        const nowhere = yield* Effect.flip(stock.low({ location: "nowhere-yet" }))
        expect(nowhere).toBeInstanceOf(LocationNotFound)
        expect((yield* stock.low({ limit: 1 })).items).toHaveLength(1)
      })
    )

    it.effect("overview counts active products, units and each stock state", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Locations).add({ code: "annex" })
        yield* addProducts(
          { sku: "OV-EMPTY", name: "Never stocked" },
          { sku: "OV-ZERO", name: "Sold out", reorderPoint: 1 },
          { sku: "OV-LOW", name: "Low", reorderPoint: 5 },
          { sku: "OV-OK", name: "Plenty", reorderPoint: 5 }
        )
        yield* stock.set({ sku: "OV-ZERO", quantity: 0 })
        yield* stock.set({ sku: "OV-LOW", quantity: 3 })
        yield* stock.set({ sku: "OV-OK", quantity: 6 })
        yield* stock.set({ sku: "OV-OK", quantity: 4, location: "annex" })
        // The previous test's products: LO-AT, LO-ABOVE, LO-OUT, LO-DEEP, LO-NONE are active.
        expect(yield* stock.overview()).toEqual({
          products: 9,
          locations: 2,
          units: 10 + 11 + 0 + 20 + 5 + 3 + 6 + 4,
          outOfStock: 3,
          low: 3,
          ok: 3,
          movements: 6 + 4
        })
      })
    )
  })

  layer(makeStore(), options)("low stock beyond one page", (it) => {
    it.effect("pages through 2,500 low levels, each once, worst first, as many as the overview counts", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        // 1,000 never stocked, 1,000 below their point, 500 exactly at it, 300 above it.
        yield* sql`
          insert into products (sku, name, reorder_point)
          select 'LP-' || lpad(n::text, 4, '0'), 'Low ' || n, 10 from generate_series(1, 2800) n`
        yield* sql`
          insert into stock_levels (sku, location, on_hand)
          select 'LP-' || lpad(n::text, 4, '0'), 'default',
                 case when n <= 2000 then n % 10 when n <= 2500 then 10 else 11 end
          from generate_series(1001, 2800) n`
        const overview = yield* stock.overview()
        expect(overview.low + overview.outOfStock).toBe(2500)

        const firstPage = yield* stock.low()
        expect(firstPage.items).toHaveLength(50)
        expect(firstPage.nextCursor).not.toBeNull()

        const items: Array<{ sku: string; available: number; shortfall: number }> = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = yield* stock.low({ limit: 1000, cursor })
          items.push(...page.items)
          cursor = page.nextCursor ?? undefined
          pages += 1
        } while (cursor !== undefined)
        expect(pages).toBe(3)
        expect(items).toHaveLength(2500)
        expect(new Set(items.map((item) => item.sku)).size).toBe(2500)
        const worstFirst = [...items].sort(
          (a, b) =>
            Number(a.available > 0) - Number(b.available > 0) ||
            b.shortfall - a.shortfall ||
            a.sku.localeCompare(b.sku)
        )
        expect(items).toEqual(worstFirst)
        expect(items.filter((item) => item.available === 0)).toHaveLength(overview.outOfStock)

        yield* expectInvalid(stock.low({ cursor: "not-a-cursor" }), "cursor")
      })
    )

    it.effect("a forged cursor is refused as the caller's mistake, before the database sees it", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const products = yield* Products
        const forged = (key: unknown) => Buffer.from(JSON.stringify(key)).toString("base64url")
        // Each of these reached PostgreSQL, whose refusal (`invalid input syntax for type bigint`)
        // answered as a store failure, a 503 over HTTP.
        for (const key of [[1.5], [1e308], ["9223372036854775808"], ["x"], [true], [{ a: 1 }], [], [1, 2]]) {
          yield* expectInvalid(stock.history("SKU-1", { cursor: forged(key) }), "cursor")
        }
        for (const key of [["a\u0000b"], [1], [null], ["a", "b"]]) {
          yield* expectInvalid(products.list({ cursor: forged(key) }), "cursor")
        }
        yield* expectInvalid(stock.list({ cursor: forged(["SKU-1"]) }), "cursor")
        yield* expectInvalid(stock.list({ cursor: forged(["SKU-1", 2]) }), "cursor")
        yield* expectInvalid(stock.low({ cursor: forged([1, 0.5, "SKU-1", "default"]) }), "cursor")
        yield* expectInvalid(stock.low({ cursor: forged(["1", 0, "SKU-1", "default"]) }), "cursor")
        // The cursors the lists write are taken back.
        const page = yield* stock.low({ limit: 1 })
        if (page.nextCursor !== null) yield* stock.low({ limit: 1, cursor: page.nextCursor })
      })
    )
  })

  // One valid product with stock, so that only the part under test is wrong.
  const withValidProduct = Layer.effectDiscard(
    Effect.gen(function* () {
      yield* addProducts({ sku: "IN-1", name: "Valid" })
      yield* (yield* Stock).set({ sku: "IN-1", quantity: 5 })
    })
  ).pipe(Layer.provideMerge(makeStore()))

  layer(withValidProduct, options)("bad input", (it) => {
    const invalid: ReadonlyArray<{
      readonly name: string
      readonly write: (stock: Stock) => Effect.Effect<unknown, unknown>
      readonly field: string
    }> = [
      { name: "a SKU with a space", write: (s) => s.set({ sku: "bad sku", quantity: 1 }), field: "sku" },
      { name: "an empty SKU", write: (s) => s.adjust({ sku: "", delta: 1 }), field: "sku" },
      { name: "a 65-character SKU", write: (s) => s.set({ sku: "S".repeat(65), quantity: 1 }), field: "sku" },
      {
        name: "a fractional quantity",
        write: (s) => s.set({ sku: "IN-1", quantity: 1.5 }),
        field: "quantity"
      },
      {
        name: "a quantity over a billion",
        write: (s) => s.set({ sku: "IN-1", quantity: 2_000_000_000 }),
        field: "quantity"
      },
      { name: "a negative quantity", write: (s) => s.set({ sku: "IN-1", quantity: -1 }), field: "quantity" },
      {
        name: "a quantity given as text",
        write: (s) => s.set({ sku: "IN-1", quantity: "5" as unknown as number }),
        field: "quantity"
      },
      { name: "a zero delta", write: (s) => s.adjust({ sku: "IN-1", delta: 0 }), field: "delta" },
      { name: "a fractional delta", write: (s) => s.adjust({ sku: "IN-1", delta: 1.5 }), field: "delta" },
      {
        name: "a delta over a billion",
        write: (s) => s.adjust({ sku: "IN-1", delta: -2_000_000_000 }),
        field: "delta"
      },
      {
        name: "an unknown reason",
        write: (s) => s.adjust({ sku: "IN-1", delta: 1, reason: "stolen" as AdjustStock["reason"] }),
        field: "reason"
      },
      {
        name: "a location code with a space",
        write: (s) => s.set({ sku: "IN-1", quantity: 1, location: "back room" }),
        field: "location"
      },
      {
        name: "a 201-character reference",
        write: (s) => s.adjust({ sku: "IN-1", delta: 1, reference: "r".repeat(201) }),
        field: "reference"
      },
      {
        name: "an empty idempotency key",
        write: (s) => s.adjust({ sku: "IN-1", delta: 1, idempotencyKey: "" }),
        field: "idempotencyKey"
      },
      {
        name: "a bad SKU inside a batch",
        write: (s) =>
          s.batch({
            changes: [
              { type: "adjust", sku: "IN-1", delta: 1 },
              { type: "adjust", sku: "no good", delta: 1 }
            ]
          }),
        field: "changes[1].sku"
      },
      {
        name: "a fractional transfer",
        write: (s) => s.transfer({ sku: "IN-1", quantity: 0.5, from: "default", to: "elsewhere" }),
        field: "quantity"
      },
      {
        name: "a reference with an escape sequence",
        write: (s) => s.adjust({ sku: "IN-1", delta: 1, reference: "ORDER-1\u001b[2J" }),
        field: "reference"
      },
      {
        name: "an actor with a line break",
        write: (s) => s.set({ sku: "IN-1", quantity: 1, actor: "ann\nroot" }),
        field: "actor"
      },
      {
        name: "an idempotency key with DEL",
        write: (s) => s.adjust({ sku: "IN-1", delta: 1, idempotencyKey: "key\u007f" }),
        field: "idempotencyKey"
      },
      {
        name: "a transfer reference with a C1 control",
        write: (s) =>
          s.transfer({ sku: "IN-1", quantity: 1, from: "default", to: "elsewhere", reference: "\u009b31m" }),
        field: "reference"
      },
      {
        name: "a batch reference with a tab",
        write: (s) => s.batch({ changes: [{ type: "adjust", sku: "IN-1", delta: 1 }], reference: "a\tb" }),
        field: "reference"
      },
      // The ledger would record a change by no one.
      { name: "an empty actor", write: (s) => s.adjust({ sku: "IN-1", delta: 1, actor: "" }), field: "actor" }
    ]

    for (const { name, write, field } of invalid) {
      it.effect(`${name} fails with InvalidInput on ${field} and writes nothing`, () =>
        Effect.gen(function* () {
          const before = yield* storeTotals
          const error = yield* expectInvalid(write(yield* Stock), field)
          expect(error.message).toContain(field)
          expect(yield* storeTotals).toEqual(before)
        })
      )
    }

    it.effect("names with control characters fail with InvalidInput on the field and write nothing", () =>
      Effect.gen(function* () {
        const products = yield* Products
        const locations = yield* Locations
        const before = yield* storeTotals
        const productsBefore = (yield* products.list({ limit: 1000 })).items
        yield* expectInvalid(products.add({ sku: "IN-ESC", name: "Red \u001b[31mwidget" }), "name")
        yield* expectInvalid(products.add({ sku: "IN-ESC", name: "Widget", unit: "b\u0007ox" }), "unit")
        yield* expectInvalid(products.update("IN-1", { name: "Valid\u0085" }), "name")
        yield* expectInvalid(locations.add({ code: "SHELF-9", name: "Shelf\r\n9" }), "name")
        yield* expectInvalid(locations.add({ code: "SHELF\u001b9" }), "code")
        // A right-to-left override makes "Widget\u202Etxt.exe" read as another name in a listing.
        yield* expectInvalid(products.add({ sku: "IN-BIDI", name: "Widget\u202Eexe.txt" }), "name")
        yield* expectInvalid(products.update("IN-1", { name: "\u2067Valid\u2069" }), "name")
        expect((yield* products.list({ limit: 1000 })).items).toEqual(productsBefore)
        expect((yield* locations.list()).map((l) => l.code)).not.toContain("SHELF-9")
        expect(yield* storeTotals).toEqual(before)
      })
    )

    it.effect("unknown products and locations fail with their not-found errors and write nothing", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const before = yield* storeTotals
        const cases = [
          [stock.set({ sku: "IN-404", quantity: 1 }), { _tag: "ProductNotFound", sku: "IN-404" }],
          [stock.adjust({ sku: "IN-404", delta: 1 }), { _tag: "ProductNotFound", sku: "IN-404" }],
          [stock.adjust({ sku: "IN-404", delta: -1 }), { _tag: "ProductNotFound", sku: "IN-404" }],
          [
            stock.set({ sku: "IN-1", quantity: 1, location: "mars" }),
            { _tag: "LocationNotFound", location: "mars" }
          ],
          [
            stock.adjust({ sku: "IN-1", delta: 1, location: "mars" }),
            { _tag: "LocationNotFound", location: "mars" }
          ],
          [
            stock.adjust({ sku: "IN-1", delta: -1, location: "mars" }),
            { _tag: "LocationNotFound", location: "mars" }
          ]
        ] as const
        for (const [write, expected] of cases) {
          const error = yield* Effect.flip(write)
          expect(error).toMatchObject(expected)
          expect(error).toBeInstanceOf(
            expected._tag === "ProductNotFound" ? ProductNotFound : LocationNotFound
          )
        }
        expect(yield* storeTotals).toEqual(before)
        expect((yield* stock.level("IN-1")).onHand).toBe(5)
      })
    )

    it.effect(
      "the database keeps every level's product and location: a level of an unknown one is refused in any statement, and keys are never deleted nor changed",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const before = yield* storeTotals
          // A many-row statement with one orphan among known levels: all of it refused, as by a foreign key.
          expect(
            yield* codeOf(sql`
            insert into stock_levels (sku, location, on_hand)
            values ('IN-1', 'default', 1), ('IN-404', 'default', 1)
            on conflict (sku, location) do update set on_hand = excluded.on_hand`)
          ).toBe("23503")
          expect(
            yield* codeOf(sql`insert into stock_levels (sku, location, on_hand) values ('IN-1', 'mars', 1)`)
          ).toBe("23503")
          // What makes a check per statement sound: nothing a level refers to ever goes away.
          for (const statement of [
            sql`delete from products where sku = 'IN-1'`,
            sql`update products set sku = 'IN-1-RENAMED' where sku = 'IN-1'`,
            sql`delete from locations where code = 'default'`,
            sql`update locations set code = 'elsewhere' where code = 'default'`,
            sql`delete from stock_levels where sku = 'IN-1'`,
            sql`update stock_levels set location = 'elsewhere' where sku = 'IN-1'`,
            sql`truncate products cascade`
          ]) {
            expect(yield* codeOf(statement)).toBe("55000")
          }
          expect(yield* storeTotals).toEqual(before)
          expect((yield* (yield* Stock).level("IN-1")).onHand).toBe(5)
          // The ledger keeps no foreign keys of its own: every movement has its level instead.
          const [orphans] = yield* sql<{ count: number }>`
          select count(*)::int as count from stock_movements m
          where not exists (select 1 from stock_levels l where l.sku = m.sku and l.location = m.location)`
          expect(orphans!.count).toBe(0)
        })
    )

    it.effect(
      "the check of a statement's new levels looks each product up by its key: it never reads the whole products table (0012)",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const before = yield* storeTotals
          // In a transaction rolled back at the end, so the other tests find the store as it was.
          const scans = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`
                  insert into products (sku, name)
                  select 'SCAN-' || lpad(g::text, 5, '0'), 'Scanned ' || g from generate_series(1, 3000) g`
                const productScans = sql<{ scans: number }>`
                  select coalesce(sum(seq_scan), 0)::int as scans from pg_stat_xact_user_tables where relname = 'products'`
                const [start] = yield* productScans
                // As an import's chunk writes them: many new levels in one statement. The old check
                // hashed every product for it (one sequential scan of the table per statement).
                yield* sql`
                  insert into stock_levels (sku, location, on_hand)
                  select 'SCAN-' || lpad(g::text, 5, '0'), 'default', 1 from generate_series(1, 3000) g`
                const [end] = yield* productScans
                return yield* Effect.fail({ scans: end!.scans - start!.scans })
              })
            )
            .pipe(Effect.flip)
          expect(scans).toEqual({ scans: 0 })
          expect(yield* storeTotals).toEqual(before)
        })
    )

    it.effect(
      "skips the check of new levels' references only in a transaction that says its rows were checked, as an import's does (0013)",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const before = yield* storeTotals
          const orphan = sql`insert into stock_levels (sku, location, on_hand) values ('NO-SUCH-SKU', 'default', 1)`
          // Said, and only for the transaction: an import's pass checked its rows before writing.
          const skipped = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql.unsafe("set local invkit.level_references_checked = 'on'")
                yield* orphan
                return yield* Effect.fail("written")
              })
            )
            .pipe(Effect.flip)
          expect(skipped).toBe("written")
          // Rolled back; and the next statement on the connection is checked again.
          expect(yield* codeOf(orphan)).toBe("23503")
          expect(yield* storeTotals).toEqual(before)
        })
    )

    it.effect(
      "compresses a large event's data with lz4 where PostgreSQL has it, and with pglz in PGlite (0014)",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const [{ version }] = (yield* sql`select version()`) as unknown as [{ version: string }]
          const expected = version.includes("PGlite") ? "pglz" : "lz4"
          // An event as large as an import's (1,000 levels), written and read back whole, then undone.
          const levels = Array.from({ length: 1000 }, (_, i) => ({
            sku: `LZ-${i}`,
            location: "default",
            onHand: i
          }))
          const written = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                const [{ id }] = (yield* sql`insert into outbox (type, subject, data)
                values ('stock.imported', 'lz4', ${JSON.stringify({ levels })}::jsonb)
                returning id`) as unknown as [{ id: string }]
                // As stored: RETURNING answers the value before it is compressed.
                const [row] = yield* sql`select pg_column_compression(data) as compression, data
                from outbox where id = ${id}`
                return yield* Effect.fail(row as { compression: string; data: { levels: unknown } })
              })
            )
            .pipe(Effect.flip)
          // Not a SqlError: that would fail both expectations below.
          const { compression, data } = written as { compression?: string; data?: unknown }
          expect(compression).toBe(expected)
          expect(data).toEqual({ levels })
        })
    )

    it.effect("a level has one limit, MAX_LEVEL, whichever write would pass it", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "IN-MAX", name: "Plenty" })
        yield* (yield* Locations).add({ code: "MAX-2" })
        // Up to the limit, every write works: set, adjust, transfer.
        yield* stock.set({ sku: "IN-MAX", quantity: MAX_LEVEL - 10 })
        yield* stock.adjust({ sku: "IN-MAX", delta: 10 })
        yield* stock.set({ sku: "IN-MAX", quantity: MAX_LEVEL, location: "MAX-2" })
        const before = yield* storeTotals
        const adjusted = yield* expectInvalid(stock.adjust({ sku: "IN-MAX", delta: 1 }), "delta")
        expect(adjusted.rule).toContain(`at most ${MAX_LEVEL}`)
        yield* expectInvalid(
          stock.transfer({ sku: "IN-MAX", quantity: 1, from: "default", to: "MAX-2" }),
          "quantity"
        )
        yield* expectInvalid(
          stock.batch({
            changes: [
              { type: "adjust", sku: "IN-1", delta: 1 },
              { type: "adjust", sku: "IN-MAX", delta: 1 }
            ]
          }),
          "changes[1].delta"
        )
        expect(yield* storeTotals).toEqual(before)
        expect((yield* stock.level("IN-MAX")).onHand).toBe(2 * MAX_LEVEL)
        // The database holds the same limit for a writer that skips the SDK.
        const sql = yield* SqlClient.SqlClient
        const direct = yield* Effect.flip(
          sql`update stock_levels set on_hand = on_hand + 1 where sku = 'IN-MAX' and location = 'default'`
        )
        expect(String(direct.cause)).toContain("stock_levels_on_hand_limit")
      })
    )

    it.effect("reads reject a bad SKU or location by name", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* expectInvalid(stock.level("bad sku"), "sku")
        yield* expectInvalid(stock.level("IN-1", { location: "" }), "location")
        yield* expectInvalid(stock.history(""), "sku")
        yield* expectInvalid(stock.list({ location: "a b" }), "location")
        yield* expectInvalid(stock.low({ limit: 0 }), "limit")
      })
    )

    it.effect("an error repeats at most a short prefix of a huge or unprintable value", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const huge = "\u001b[2J".repeat(1_000_000)
        const limit = yield* expectInvalid(stock.list({ limit: huge as never }), "limit")
        expect(limit.rule).toMatch(/^Expected number, not "(\\u001b\[2J)+.*… \(9,000,002 characters\)$/)
        const type = yield* expectInvalid(
          stock.batch({ changes: [{ type: huge, sku: "IN-1" } as never] }),
          "changes[0].type"
        )
        for (const error of [limit, type]) {
          expect(error.message.length).toBeLessThan(200)
          // biome-ignore lint/suspicious/noControlCharactersInRegex: none may get through
          expect(error.message).not.toMatch(/[\u0000-\u001f]/)
        }
      })
    )
  })

  layer(makeStore(), options)("idempotency keys", (it) => {
    it.effect(
      "the same keyed request sent five times, partly at once, applies once and answers the same",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          yield* addProducts({ sku: "ID-1", name: "Once" })
          yield* stock.set({ sku: "ID-1", quantity: 10 })
          const before = yield* storeTotals
          const request = { sku: "ID-1", delta: -4, reason: "sale", idempotencyKey: "order-1001" } as const
          const first = yield* stock.adjust(request)
          const concurrent = yield* Effect.all(
            Array.from({ length: 3 }, () => stock.adjust(request)),
            { concurrency: 3 }
          )
          const last = yield* stock.adjust({ ...request })
          for (const answer of [...concurrent, last]) expect(answer).toEqual(first)
          expect(first).toMatchObject({ delta: -4, onHand: 6 })
          const after = yield* storeTotals
          expect([after.movements - before.movements, after.events - before.events]).toEqual([1, 1])
          expect((yield* stock.level("ID-1")).onHand).toBe(6)
          const keyed = yield* sql`select id from stock_movements where idempotency_key = 'order-1001'`
          expect(keyed).toEqual([{ id: first.movementId }])
        })
    )

    it.effect("concurrent first sends of a keyed transfer and batch apply once", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* (yield* Locations).add({ code: "shop" })
        yield* addProducts({ sku: "ID-2", name: "Twice" })
        yield* stock.set({ sku: "ID-2", quantity: 10 })
        const transfer = { sku: "ID-2", quantity: 3, from: "default", to: "shop", idempotencyKey: "tr-1" }
        const transfers = yield* Effect.all(
          Array.from({ length: 5 }, () => stock.transfer(transfer)),
          { concurrency: 5 }
        )
        for (const answer of transfers) expect(answer).toEqual(transfers[0])
        const batch = {
          changes: [{ type: "adjust", sku: "ID-2", delta: 2, location: "shop" }] as const,
          idempotencyKey: "batch-1"
        }
        const batches = yield* Effect.all(
          Array.from({ length: 5 }, () => stock.batch(batch)),
          { concurrency: 5 }
        )
        for (const answer of batches) expect(answer).toEqual(batches[0])
        const level = yield* stock.level("ID-2")
        expect(level.locations.map((l) => [l.location, l.onHand])).toEqual([
          ["default", 7],
          ["shop", 5]
        ])
      })
    )

    it.effect("the same key with another request fails with IdempotencyKeyReused and applies nothing", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "ID-3", name: "Keyed" })
        yield* stock.adjust({ sku: "ID-3", delta: 5, idempotencyKey: "key-3" })
        const before = yield* storeTotals
        for (const other of [
          stock.adjust({ sku: "ID-3", delta: 6, idempotencyKey: "key-3" }),
          stock.adjust({ sku: "ID-3", delta: 5, reason: "receipt", idempotencyKey: "key-3" }),
          stock.set({ sku: "ID-3", quantity: 5, idempotencyKey: "key-3" })
        ]) {
          const error = yield* Effect.flip(other)
          expect(error).toBeInstanceOf(IdempotencyKeyReused)
          expect(error).toMatchObject({ key: "key-3" })
        }
        expect(yield* storeTotals).toEqual(before)
        expect((yield* stock.level("ID-3")).onHand).toBe(5)
      })
    )

    it.effect("a key is remembered for 24 hours, then free for a new request", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        yield* addProducts({ sku: "ID-5", name: "Expiring" })
        const first = yield* stock.adjust({ sku: "ID-5", delta: 2, idempotencyKey: "daily-5" })
        yield* sql`update idempotency_keys set created_at = now() - interval '23 hours' where key = 'daily-5'`
        expect(yield* stock.adjust({ sku: "ID-5", delta: 2, idempotencyKey: "daily-5" })).toEqual(first)
        yield* sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = 'daily-5'`
        const fresh = yield* stock.adjust({ sku: "ID-5", delta: 3, idempotencyKey: "daily-5" })
        expect(fresh).toMatchObject({ delta: 3, onHand: 5 })
        expect(fresh.movementId).not.toBe(first.movementId)
      })
    )

    it.effect(
      "a keyed refusal is remembered: after stock arrives the same request is refused the same way",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          yield* addProducts({ sku: "ID-4", name: "Refused" })
          yield* stock.set({ sku: "ID-4", quantity: 2 })
          const request = { sku: "ID-4", delta: -5, reason: "sale", idempotencyKey: "refused-4" } as const
          const refused = yield* Effect.flip(stock.adjust(request))
          expect(refused).toBeInstanceOf(InsufficientStock)
          expect(refused).toMatchObject({ available: 2, requested: 5 })
          yield* stock.adjust({ sku: "ID-4", delta: 8, reason: "receipt" })
          const before = yield* storeTotals
          const again = yield* Effect.flip(stock.adjust(request))
          expect(again).toBeInstanceOf(InsufficientStock)
          expect(again).toMatchObject({ available: 2, requested: 5 })
          const other = yield* Effect.flip(stock.adjust({ ...request, delta: -4 }))
          expect(other).toBeInstanceOf(IdempotencyKeyReused)
          expect(yield* storeTotals).toEqual(before)
          expect((yield* stock.level("ID-4")).onHand).toBe(10)
        })
    )

    it.effect("a keyed not-found and a keyed conflict are remembered too", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        yield* addProducts({ sku: "ID-6", name: "Not yet" })
        const elsewhere = { sku: "ID-6", delta: 3, location: "annex", idempotencyKey: "annex-6" } as const
        expect(yield* Effect.flip(stock.adjust(elsewhere))).toBeInstanceOf(LocationNotFound)
        yield* (yield* Locations).add({ code: "annex" })
        expect(yield* Effect.flip(stock.adjust(elsewhere))).toBeInstanceOf(LocationNotFound)
        const counted = { sku: "ID-6", quantity: 4, expected: 1, idempotencyKey: "count-6" } as const
        expect(yield* Effect.flip(stock.set(counted))).toMatchObject({ _tag: "StockConflict", actual: 0 })
        yield* stock.set({ sku: "ID-6", quantity: 1 })
        expect(yield* Effect.flip(stock.set(counted))).toMatchObject({ _tag: "StockConflict", actual: 0 })
        expect((yield* stock.level("ID-6")).onHand).toBe(1)
      })
    )

    // Unkeyed, a refusal is explained in a transaction of its own; keyed, in the transaction that
    // keeps the key with it.
    for (const [sku, keyed] of [
      ["ID-7", false],
      ["ID-8", true]
    ] as const) {
      it.effect(
        `a ${keyed ? "keyed" : "plain"} refusal reports the level it was decided on, under concurrent receipts and sales`,
        () =>
          Effect.gen(function* () {
            const stock = yield* Stock
            yield* addProducts({ sku, name: "Contended" })
            yield* stock.set({ sku, quantity: 0 })
            const writes = Array.from({ length: 60 }, (_, i) =>
              Effect.either(
                stock.adjust({
                  sku,
                  delta: i % 2 === 0 ? 1 : -2,
                  reason: i % 2 === 0 ? "receipt" : "sale",
                  ...(keyed ? { idempotencyKey: `contended-${sku}-${i}` } : {})
                })
              )
            )
            const answers = yield* Effect.all(writes, { concurrency: 12 })
            const refusals = answers.flatMap((answer) => (answer._tag === "Left" ? [answer.left] : []))
            expect(refusals.length).toBeGreaterThan(0)
            for (const refusal of refusals) {
              expect(refusal).toBeInstanceOf(InsufficientStock)
              const { available, requested } = refusal as InsufficientStock
              expect(available).toBeLessThan(requested)
            }
            yield* expectLedgerConsistent
          })
      )
    }

    it.effect("every level equals the sum of its movements", () =>
      Effect.map(expectLedgerConsistent, (levels) => expect(levels).toBeGreaterThan(3))
    )
  })

  layer(makeStore(), options)("trace context of events", (it) => {
    /** The traceparent of each outbox row of `type` about `subject`, oldest first. */
    const traceparents = (type: string, subject: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ traceparent: string | null }>`
          select traceparent from outbox where type = ${type} and subject = ${subject} order by id`.pipe(
          Effect.map((rows) => rows.map((row) => row.traceparent))
        )
      )

    it.effect("every writer's event carries the span of its change, and none with tracing off", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        // A single event (writeEvent) and an event made inside a statement (insertEvents).
        const traced = Effect.gen(function* () {
          yield* addProducts({ sku: "T-1", name: "Traced" })
          yield* stock.adjust({ sku: "T-1", delta: 4 })
          return yield* Effect.currentSpan
        }).pipe(Effect.withSpan("a request"))
        const span = yield* traced
        const expected = new RegExp(`^00-${span.traceId}-[0-9a-f]{16}-01$`)
        for (const [type, subject] of [
          ["product.created", "T-1"],
          ["stock.updated", "T-1"]
        ] as const) {
          const written = yield* traceparents(type, subject)
          expect(written).toHaveLength(1)
          expect(written[0]).toMatch(expected)
        }
        // Tracing off: the no-op spans carry no W3C ids, so the rows carry no context.
        yield* Effect.withTracerEnabled(
          Effect.zipRight(
            addProducts({ sku: "T-2", name: "Untraced" }),
            stock.adjust({ sku: "T-2", delta: 1 })
          ),
          false
        )
        expect(yield* traceparents("product.created", "T-2")).toEqual([null])
        expect(yield* traceparents("stock.updated", "T-2")).toEqual([null])
      })
    )
  })

  // Counts what the store announces (Store.EventsCommitted): the relay's wake in a server process.
  const announced = { commits: 0 }
  const countAnnouncements = wakeOnEventsCommitted(
    Effect.sync(() => {
      announced.commits += 1
    })
  )
  layer(makeStore().pipe(Layer.provide(countAnnouncements)), options)("committed events", (it) => {
    it.effect("the outbox has no trigger: a commit that wrote events takes no notifying lock (0011)", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const triggers = yield* sql<{ name: string }>`
          select tgname as name from pg_trigger where tgrelid = 'outbox'::regclass`
        expect(triggers).toEqual([])
        const functions = yield* sql`select 1 from pg_proc where proname = 'invkit_outbox_notify'`
        expect(functions).toEqual([])
      })
    )

    it.effect(
      "each commit that wrote events is announced once, after it; a refused or eventless one is not",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const announcedNow = () => announced.commits
          const start = announcedNow()
          yield* addProducts({ sku: "ANN-1", name: "Announced" })
          expect(announcedNow() - start).toBe(1)
          yield* stock.adjust({ sku: "ANN-1", delta: 5 })
          expect(announcedNow() - start).toBe(2)
          // Three changes in one transaction: one commit, one announcement.
          yield* stock.batch({
            changes: [
              { type: "adjust", sku: "ANN-1", delta: 1 },
              { type: "adjust", sku: "ANN-1", delta: 1 },
              { type: "adjust", sku: "ANN-1", delta: 1 }
            ]
          })
          expect(announcedNow() - start).toBe(3)
          // Refused: rolled back, nothing to publish.
          yield* Effect.flip(stock.adjust({ sku: "ANN-1", delta: -100 }))
          expect(announcedNow() - start).toBe(3)
          // A read, and a transaction that wrote no event.
          yield* stock.level("ANN-1")
          yield* sql.withTransaction(sql`select 1`)
          expect(announcedNow() - start).toBe(3)
        })
    )
  })
}
