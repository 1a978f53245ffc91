/**
 * The Promise facade, as a non-Effect user sees it: plain Promises, domain error classes, pages.
 * One suite for every way to open an inventory: `openInventory()` on an embedded store
 * (Inventory.test.ts) and `connect()` to a live `inv-server all` (packages/server/test/
 * sdkScenarios.test.ts) must give the same results.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { afterAll, describe, expect, it } from "vitest"
import {
  IdempotencyKeyReused,
  Import,
  InsufficientStock,
  InvalidInput,
  type InventoryClient,
  LocationAlreadyExists,
  LocationNotFound,
  OverDelivery,
  ProductNotFound,
  RestockOrderClosed,
  RestockOrderNotFound,
  StockConflict,
  SupplierAlreadyExists,
  SupplierInUse,
  SupplierNotFound
} from "../src/index.js"

export interface SuiteTarget {
  /** `remote`: a client of `connect()`, which rejects the in-process parts (sync, preview, worker). */
  readonly kind: "embedded" | "remote"
  /** A new client on the same data each time it is called. */
  readonly open: () => Promise<InventoryClient>
  /** What `inventory.store` says. */
  readonly store: () => string
  /** The actor a change is recorded with: as given locally; a server records its token's subject. */
  readonly actor: (given: string) => string
  /** A supplier's catalog synced and its run: in this process locally, by the server's workers remotely. */
  readonly syncSupplier: (inventory: InventoryClient, id: string) => Promise<{ readonly status: string }>
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
    },
    (error: unknown) => error
  )

export const inventorySuite = (name: string, target: SuiteTarget) =>
  describe(name, () => {
    const feedDir = mkdtempSync(join(tmpdir(), "invkit-sdk-suite-feed-"))
    const catalog = join(feedDir, "catalog.csv")
    writeFileSync(catalog, "sku,title,qty,cost,pack\nR-1,Reordered,50,2.50,6\n")
    afterAll(() => rmSync(feedDir, { recursive: true, force: true }))

    // First: it expects the products it adds to be the only ones.
    it("rejects with the domain errors, pages through products and keeps the data after close", async () => {
      const inventory = await target.open()
      expect(inventory.store).toBe(target.store())

      const missing = await inventory.products.get("NOPE-1").catch((error: unknown) => error)
      expect(missing).toBeInstanceOf(ProductNotFound)
      expect(missing).toMatchObject({ _tag: "ProductNotFound", sku: "NOPE-1" })
      expect((missing as Error).message).toContain("NOPE-1")

      const invalid = await inventory.stock.set("bad sku", 1).catch((error: unknown) => error)
      expect(invalid).toBeInstanceOf(InvalidInput)
      expect(invalid).toMatchObject({ field: "sku" })

      const skus = ["F-5", "F-1", "F-4", "F-2", "F-3"]
      for (const sku of skus) await inventory.products.add({ sku, name: `Facade ${sku}` })
      const firstPage = await inventory.products.list({ limit: 2 })
      expect(firstPage.items.map((p) => p.sku)).toEqual(["F-1", "F-2"])
      expect(firstPage.nextCursor).not.toBeNull()
      const all: Array<string> = []
      for await (const product of inventory.products.all({ limit: 2 })) all.push(product.sku)
      expect(all).toEqual(["F-1", "F-2", "F-3", "F-4", "F-5"])

      expect(await inventory.stock.adjust("F-1", 5, { reason: "receipt" })).toMatchObject({
        delta: 5,
        onHand: 5
      })
      const short = await inventory.stock.adjust("F-1", -9).catch((error: unknown) => error)
      expect(short).toBeInstanceOf(InsufficientStock)
      expect(short).toMatchObject({ available: 5, requested: 9 })

      await inventory.close()
      // A closed handle rejects with an SDK error, like any other failure; closing again is harmless.
      const closed = await inventory.products.get("F-1").catch((error: unknown) => error)
      expect(closed).toMatchObject({ _tag: "InventoryClosed" })
      expect((closed as Error).message).toContain("closed")
      await inventory.close()

      // Closed means released: the same store opens again, with everything in it.
      const reopened = await target.open()
      try {
        expect((await reopened.stock.level("F-1")).onHand).toBe(5)
        expect((await reopened.stock.history("F-1")).items).toHaveLength(1)
      } finally {
        await reopened.close()
      }
    })

    it("moves stock between locations, in batches, once per idempotency key, and reads it back", async () => {
      const inventory = await target.open()
      try {
        await inventory.products.add({ sku: "S-1", name: "Stocked", reorderPoint: 5 })
        expect(await inventory.locations.add({ code: "B", name: "Back room" })).toMatchObject({
          code: "B",
          name: "Back room"
        })
        expect(await rejection(inventory.locations.add({ code: "B" }))).toBeInstanceOf(LocationAlreadyExists)
        expect((await inventory.locations.list()).map((l) => l.code)).toEqual(["B", "default"])

        const count = { reference: "COUNT-1", actor: "alice", idempotencyKey: "S-1-count" }
        const set = await inventory.stock.set("S-1", 20, count)
        expect(set).toMatchObject({ sku: "S-1", location: "default", delta: 20, onHand: 20, reason: "count" })
        const again = await inventory.stock.set("S-1", 20, count)
        expect(again.movementId).toBe(set.movementId)
        expect(await rejection(inventory.stock.set("S-1", 21, count))).toBeInstanceOf(IdempotencyKeyReused)
        const conflict = await rejection(inventory.stock.set("S-1", 1, { expected: 3 }))
        expect(conflict).toBeInstanceOf(StockConflict)
        expect(conflict).toMatchObject({ sku: "S-1", expected: 3, actual: 20 })

        const transfer = await inventory.stock.transfer("S-1", 5, { from: "default", to: "B" })
        expect(transfer.from).toMatchObject({ location: "default", delta: -5, onHand: 15 })
        expect(transfer.to).toMatchObject({ location: "B", delta: 5, onHand: 5 })
        expect(await rejection(inventory.stock.adjust("S-1", 1, { location: "NOWHERE" }))).toBeInstanceOf(
          LocationNotFound
        )

        // All or none: the second change cannot be made, so neither is.
        const refused = await rejection(
          inventory.stock.batch([
            { type: "adjust", sku: "S-1", delta: -1, location: "B", reason: "sale" },
            { type: "adjust", sku: "S-1", delta: -100, reason: "sale" }
          ])
        )
        expect(refused).toBeInstanceOf(InsufficientStock)
        expect((await inventory.stock.level("S-1")).onHand).toBe(20)
        const batch = await inventory.stock.batch([
          { type: "adjust", sku: "S-1", delta: -1, location: "B", reason: "sale" },
          { type: "set", sku: "S-1", quantity: 12 }
        ])
        expect(batch.changes.map((change) => [change.location, change.delta, change.onHand])).toEqual([
          ["B", -1, 4],
          ["default", -3, 12]
        ])

        const level = await inventory.stock.level("S-1")
        expect(level).toMatchObject({ sku: "S-1", onHand: 16, available: 16, reorderPoint: 5 })
        expect(level.locations.map((l) => [l.location, l.onHand])).toEqual([
          ["B", 4],
          ["default", 12]
        ])
        expect((await inventory.stock.level("S-1", { location: "B" })).onHand).toBe(4)
        const rows: Array<[string, string, number]> = []
        for await (const row of inventory.stock.all({ text: "S-1", limit: 1 })) {
          rows.push([row.sku, row.location, row.onHand])
        }
        expect(rows).toEqual([
          ["S-1", "B", 4],
          ["S-1", "default", 12]
        ])
        expect((await inventory.stock.low({ location: "B" })).items).toEqual([
          expect.objectContaining({ sku: "S-1", location: "B", shortfall: 1 })
        ])
        expect(await rejection(inventory.stock.low({ location: "NOWHERE" }))).toBeInstanceOf(LocationNotFound)
        expect(await inventory.stock.overview()).toMatchObject({ products: 6, locations: 2, units: 21 })

        const history = await inventory.stock.history("S-1")
        expect(history.items.map((m) => m.delta)).toEqual(expect.arrayContaining([20, -5, 5, -1, -3]))
        expect(history.items).toHaveLength(5)
        expect(history.items.at(-1)).toMatchObject({
          delta: 20,
          reason: "count",
          reference: "COUNT-1",
          actor: target.actor("alice")
        })
        // The database keeps microseconds and a Date milliseconds: 1 ms later still precedes the next change.
        const until = new Date(new Date(history.items.at(-1)!.at).getTime() + 1)
        expect((await inventory.stock.history("S-1", { until })).items.map((m) => m.delta)).toEqual([20])
      } finally {
        await inventory.close()
      }
    })

    it("keeps suppliers: add, get, update, list, items, runs and remove", async () => {
      const inventory = await target.open()
      try {
        const connector = {
          type: "csv" as const,
          source: catalog,
          columns: { supplierSku: "sku", name: "title" },
          apiKey: { in: "header" as const, name: "X-Key", value: "secret-key" }
        }
        const added = await inventory.suppliers.add({ id: "acme", name: "Acme", connector })
        expect(added).toMatchObject({
          id: "acme",
          name: "Acme",
          schedule: null,
          connector: { type: "csv", delimiter: ",", apiKey: { value: "***" } }
        })
        expect(JSON.stringify(await inventory.suppliers.get("acme"))).not.toContain("secret-key")
        expect(
          await rejection(inventory.suppliers.add({ id: "acme", name: "Again", connector }))
        ).toBeInstanceOf(SupplierAlreadyExists)
        expect(await rejection(inventory.suppliers.get("nobody"))).toBeInstanceOf(SupplierNotFound)
        const invalid = await rejection(inventory.suppliers.update("acme", { schedule: "nope" }))
        expect(invalid).toBeInstanceOf(InvalidInput)
        expect(invalid).toMatchObject({ field: "schedule" })

        expect(
          await inventory.suppliers.update("acme", { name: "Acme Ltd", schedule: "0 6 * * *" })
        ).toMatchObject({
          name: "Acme Ltd",
          schedule: "0 6 * * *"
        })
        expect((await inventory.suppliers.list()).items.map((s) => s.id)).toEqual(["acme"])
        expect(await inventory.suppliers.items("acme")).toEqual({ items: [], nextCursor: null })
        expect(await inventory.suppliers.runs("acme")).toEqual({ items: [], nextCursor: null })
        await inventory.suppliers.remove("acme")
        expect(await rejection(inventory.suppliers.get("acme"))).toBeInstanceOf(SupplierNotFound)
      } finally {
        await inventory.close()
      }
    })

    it("opens a restock order at the reorder point, submits, receives once per key, refuses an over-delivery unless allowed, cancels", async () => {
      const inventory = await target.open()
      try {
        await inventory.suppliers.add({
          id: "csvco",
          name: "CSV Co",
          connector: {
            type: "csv",
            source: catalog,
            columns: {
              supplierSku: "sku",
              name: "title",
              availability: "qty",
              unitCost: "cost",
              packSize: "pack"
            }
          }
        })
        await inventory.products.add({
          sku: "R-1",
          name: "Reordered",
          reorderPoint: 5,
          reorderQuantity: 10,
          preferredSupplier: "csvco"
        })
        expect(await target.syncSupplier(inventory, "csvco")).toMatchObject({ status: "succeeded", added: 1 })
        expect((await inventory.suppliers.items("csvco")).items).toEqual([
          expect.objectContaining({ supplierSku: "R-1", packSize: 6, unitCost: 2.5, availability: 50 })
        ])
        await inventory.stock.set("R-1", 8)
        await inventory.stock.adjust("R-1", -4, { reason: "sale" })

        const { items: open } = await inventory.restock.list({ open: true })
        expect(open).toEqual([
          expect.objectContaining({
            sku: "R-1",
            supplierId: "csvco",
            quantity: 12,
            unitCost: 2.5,
            status: "draft"
          })
        ])
        const orderId = open[0]!.id
        expect((await inventory.restock.list({ status: "submitted" })).items).toEqual([])
        expect(await inventory.restock.explain("R-1")).toEqual([
          expect.objectContaining({ location: "default", wanted: 10, quantity: 12, openOrderId: orderId })
        ])
        expect(await rejection(inventory.suppliers.remove("csvco"))).toBeInstanceOf(SupplierInUse)

        expect(await inventory.restock.submit(orderId)).toMatchObject({ status: "submitted" })
        const receipt = { quantity: 5, idempotencyKey: "DELIVERY-1" }
        expect(await inventory.restock.receive(orderId, receipt)).toMatchObject({ receivedQuantity: 5 })
        expect(await inventory.restock.receive(orderId, receipt)).toMatchObject({ receivedQuantity: 5 })
        expect((await inventory.stock.level("R-1")).onHand).toBe(9)
        const over = await rejection(inventory.restock.receive(orderId, { quantity: 50 }))
        expect(over).toBeInstanceOf(OverDelivery)
        expect(over).toMatchObject({ orderId, outstanding: 7, quantity: 50 })
        expect((await inventory.stock.level("R-1")).onHand).toBe(9)

        expect(await inventory.restock.cancel(orderId)).toMatchObject({ status: "cancelled" })
        expect(await rejection(inventory.restock.receive(orderId))).toBeInstanceOf(RestockOrderClosed)
        expect(await rejection(inventory.restock.get(999_999))).toBeInstanceOf(RestockOrderNotFound)

        await inventory.stock.adjust("R-1", -5, { reason: "sale" })
        const [next] = (await inventory.restock.list({ open: true, sku: "R-1" })).items
        await inventory.restock.submit(next!.id)
        expect(
          await inventory.restock.receive(next!.id, { quantity: next!.quantity + 8, allowOverDelivery: true })
        ).toMatchObject({ status: "received", receivedQuantity: next!.quantity + 8, overDelivered: 8 })
        expect((await inventory.stock.level("R-1")).onHand).toBe(4 + next!.quantity + 8)
      } finally {
        await inventory.close()
      }
    })

    // Over a server the products go in one request each: a minute is room for a busy machine.
    it("pages low stock past 1,000 levels, and every page sees a change", { timeout: 90_000 }, async () => {
      const inventory = await target.open()
      try {
        const lines = ["sku,name,reorderPoint"]
        for (let n = 0; n < 1500; n++) lines.push(`LOW-${String(n).padStart(4, "0")},Low ${n},5`)
        const imported = await Import.importRows(inventory, Readable.from([`${lines.join("\n")}\n`]))
        expect(imported).toMatchObject({ kind: "products", applied: 1500 })

        const lowSkus = async () => {
          const skus: Array<string> = []
          for await (const item of inventory.stock.allLow({ limit: 500 })) {
            if (item.sku.startsWith("LOW-")) skus.push(item.sku)
          }
          return skus
        }
        const first = await lowSkus()
        expect(first).toHaveLength(1500)
        expect(new Set(first).size).toBe(1500)
        expect(await lowSkus()).toEqual(first) // a server answers this walk from its cache
        const page = await inventory.stock.low()
        expect(page.items).toHaveLength(50)
        expect(page.nextCursor).not.toBeNull()

        await inventory.stock.set("LOW-1499", 6)
        expect(await lowSkus()).toEqual(first.filter((sku) => sku !== "LOW-1499"))
      } finally {
        await inventory.close()
      }
    })

    it("an import that breaks off after 1,200 good rows changes nothing", async () => {
      const inventory = await target.open()
      try {
        const rows = Array.from({ length: 1200 }, (_, n) => `LOW-${String(n).padStart(4, "0")},1`)
        const broken = `sku,quantity\n${rows.join("\n")}\nLOW-1200,"2\n`
        await expect(Import.importRows(inventory, Readable.from([broken]))).rejects.toMatchObject({
          _tag: "InvalidInput",
          field: "file",
          rule: expect.stringMatching(/^line 1202: a quoted value starts on or after it and is never closed/)
        })
        expect((await inventory.stock.level("LOW-0000")).onHand).toBe(0)
      } finally {
        await inventory.close()
      }
    })

    // In-process by design: connect() rejects them with NotAvailableRemotely (asserted in the remote run).
    it.skipIf(target.kind === "remote")(
      "previews a catalog without saving, and runs a sync in process",
      async () => {
        const inventory = await target.open()
        try {
          const preview = await inventory.suppliers.preview({
            type: "csv",
            source: catalog,
            columns: { supplierSku: "sku", name: "title" }
          })
          expect(preview).toMatchObject({ total: 1, rejected: 0 })
          expect(await inventory.suppliers.sync("csvco")).toMatchObject({ status: "succeeded", unchanged: 1 })
          const worker = await inventory.suppliers.worker()
          await worker.stop()
        } finally {
          await inventory.close()
        }
      }
    )

    it.runIf(target.kind === "remote")(
      "rejects sync, preview and worker: they run where the store is",
      async () => {
        const inventory = await target.open()
        try {
          for (const call of [
            () => inventory.suppliers.sync("csvco"),
            () =>
              inventory.suppliers.preview({
                type: "csv",
                source: catalog,
                columns: { supplierSku: "sku" }
              } as any),
            () => inventory.suppliers.worker()
          ]) {
            expect(await rejection(call())).toMatchObject({ _tag: "NotAvailableRemotely" })
          }
        } finally {
          await inventory.close()
        }
      }
    )
  })
