/**
 * Suppliers and catalog syncs, written once and run on every store: PGlite
 * (SupplierSync.pglite.test.ts) and PostgreSQL (SupplierSync.postgres.test.ts). The catalogs come
 * from a real HTTP server on loopback (supplierServer.ts) or a real CSV file.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Event from "../src/Event.js"
import { InvalidInput, SupplierInUse, SupplierNotFound, SyncFailed } from "../src/InventoryError.js"
import { Products } from "../src/Product.js"
import { RestockOrders } from "../src/Restock.js"
import { TEXT_RULE } from "../src/Rules.js"
import { Stock } from "../src/Stock.js"
import { type NewSupplier, Suppliers } from "../src/Supplier.js"
import { SupplierSync } from "../src/SupplierSync.js"
import {
  API_KEY,
  type CatalogEntry,
  csvColumns,
  itemsConnector,
  productsConnector,
  refusingUrl,
  renderCsv,
  supplierServer
} from "./supplierServer.js"
import { storeTotals, type TestStore } from "./utils.js"

const CATALOG: ReadonlyArray<CatalogEntry> = [
  { sku: "BOLT-M6", name: "Hex bolt M6", availability: 120, price: 0.25 },
  { sku: "WASHER-6", name: 'Washer, 6 mm "flat"', availability: 0, price: 0.05 },
  { sku: "NUT-M6", name: "Nut M6", availability: 40, price: 0.1 }
]

/** The catalog as `items()` should answer it for a supplier, sorted by supplier SKU. */
const expectedItems = (supplierId: string, catalog: ReadonlyArray<CatalogEntry>) =>
  [...catalog]
    .sort((a, b) => (a.sku < b.sku ? -1 : 1))
    .map((e) => ({
      supplierId,
      supplierSku: e.sku,
      name: e.name ?? null,
      availability: e.availability ?? null,
      unitCost: e.price ?? null,
      active: true
    }))

const addSupplier = (supplier: NewSupplier) => Effect.flatMap(Suppliers, (s) => s.add(supplier))
const syncOf = (id: string) => Effect.flatMap(SupplierSync, (s) => s.sync(id))
const itemsOf = (id: string, active?: boolean) =>
  Effect.map(
    Effect.flatMap(Suppliers, (s) => s.items(id, active === undefined ? {} : { active })),
    (page) => page.items
  )
const latestRun = (id: string) =>
  Effect.map(
    Effect.flatMap(SupplierSync, (s) => s.runs(id, { limit: 1 })),
    (page) => page.items[0]!
  )

const outboxCount = (supplierId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ count: number }>`
        select count(*)::int as count from outbox
        where type = 'supplier.catalog.updated' and subject = ${supplierId}`,
      (rows) => rows[0]!.count
    )
  )

/** Fails the test unless `effect` fails with a SyncFailed; answers it. */
const expectSyncFailed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(SyncFailed)
    return error as SyncFailed
  })

/** Fails the test unless `effect` fails with an InvalidInput naming `field`. */
const expectInvalid = <A, E, R>(effect: Effect.Effect<A, E, R>, field: string) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(InvalidInput)
    expect((error as InvalidInput).field).toBe(field)
    return error as InvalidInput
  })

export const supplierSyncSuite = (makeStore: () => TestStore) => {
  const options = { excludeTestServices: true, timeout: "60 seconds" } as const

  layer(makeStore(), options)("catalog sync", (it) => {
    it.scoped("reads the {products} shape with an X-API-Key header, then a repeat changes nothing", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* addSupplier({ id: "acme", name: "Acme", connector: productsConnector(server) })
        const phases: Array<string> = []
        const first = yield* Effect.flatMap(SupplierSync, (s) =>
          s.sync("acme", { onProgress: (p) => phases.push(p.phase) })
        )
        expect(first).toMatchObject({
          supplierId: "acme",
          trigger: "manual",
          status: "succeeded",
          attempt: 1,
          added: 3,
          updated: 0,
          unchanged: 0,
          deactivated: 0,
          rejected: 0,
          rejections: [],
          error: null
        })
        expect(first.finishedAt).toBeInstanceOf(Date)
        expect(phases).toEqual(["fetching", "validating", "saving", "done"])
        expect(yield* itemsOf("acme")).toMatchObject(expectedItems("acme", CATALOG))

        const second = yield* syncOf("acme")
        expect(second).toMatchObject({ status: "succeeded", added: 0, updated: 0, unchanged: 3 })
        expect(server.requests.map((r) => [r.path, r.status])).toEqual([
          ["/products", 200],
          ["/products", 200]
        ])
        // Newest first, each run its own row.
        const runs = yield* Effect.flatMap(SupplierSync, (s) => s.runs("acme"))
        expect(runs.items.map((r) => r.id)).toEqual([second.id, first.id])
      })
    )

    it.scoped("reads the {items} shape with an api_key query parameter", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* addSupplier({ id: "bolt", name: "Bolt & Co", connector: itemsConnector(server) })
        expect(yield* syncOf("bolt")).toMatchObject({ status: "succeeded", added: 3 })
        expect(yield* itemsOf("bolt")).toMatchObject(expectedItems("bolt", CATALOG))
      })
    )

    it.scoped("reads a CSV over HTTP, reporting a bad row by its line", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer([
          ...CATALOG,
          { sku: "BAD-QTY", name: "Broken", availability: -1, price: 1 },
          { sku: "PACKED", name: "Sold in packs", availability: 7, price: 2.5, minOrderQty: 3, packSize: 12 }
        ])
        yield* addSupplier({
          id: "csvco",
          name: "CSV Co",
          connector: {
            type: "csv",
            source: `${server.url}/catalog.csv`,
            columns: csvColumns,
            apiKey: { in: "header", name: "X-API-Key", value: API_KEY }
          }
        })
        const run = yield* syncOf("csvco")
        expect(run).toMatchObject({ status: "partial", added: 4, rejected: 1 })
        // Line 1 is the header: the fourth entry is on line 5.
        expect(run.rejections).toEqual([
          {
            position: 5,
            supplierSku: "BAD-QTY",
            field: "qty",
            message: 'must be a whole number of at least 0, got "-1"'
          }
        ])
        const items = yield* itemsOf("csvco")
        expect(items.find((i) => i.supplierSku === "WASHER-6")).toMatchObject({
          name: 'Washer, 6 mm "flat"',
          availability: 0,
          unitCost: 0.05
        })
        expect(items.find((i) => i.supplierSku === "PACKED")).toMatchObject({ minOrderQty: 3, packSize: 12 })
      })
    )

    it.scoped("rejects an item whose SKU or name holds control characters, recording why in the run", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer([
          ...CATALOG,
          { sku: "ESC-NAME", name: "Bolt \u001b]0;pwned\u0007", availability: 1, price: 1 },
          { sku: "ESC\u001b[2J", name: "Clear screen", availability: 1, price: 1 },
          { sku: "C1-NAME", name: "Nut \u009b31m", availability: 1, price: 1 }
        ])
        yield* addSupplier({ id: "esc", name: "Esc", connector: productsConnector(server) })
        const run = yield* syncOf("esc")
        expect(run).toMatchObject({ status: "partial", added: CATALOG.length, rejected: 3 })
        expect(run.rejections).toEqual([
          { position: CATALOG.length + 1, supplierSku: "ESC-NAME", field: "name", message: TEXT_RULE },
          { position: CATALOG.length + 2, supplierSku: "ESC\\u001b[2J", field: "id", message: TEXT_RULE },
          { position: CATALOG.length + 3, supplierSku: "C1-NAME", field: "name", message: TEXT_RULE }
        ])
        expect((yield* itemsOf("esc")).map((item) => item.supplierSku).sort()).toEqual(
          CATALOG.map((entry) => entry.sku).sort()
        )
        // A supplier's own name is refused the same way when it is added.
        const refused = yield* Effect.flip(
          addSupplier({ id: "esc2", name: "Esc\u001b[31m", connector: productsConnector(server) })
        )
        expect(refused).toMatchObject({ _tag: "InvalidInput", field: "name", rule: TEXT_RULE })
      })
    )

    it.effect("reads a CSV file with a BOM, CRLF line ends and quoted fields", () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "invkit-csv-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const file = join(dir, "feed.csv")
        const text = renderCsv([
          { sku: "FILE-1", name: 'Bracket, "L" shaped', availability: 3, price: "1.50" },
          { sku: "FILE-2", name: "Plain", availability: 0, price: 2 }
        ])
        // The fixture must really hold what the test claims to read.
        expect(text.startsWith("\uFEFFsku,")).toBe(true)
        expect(text).toContain('\r\nFILE-1,"Bracket, ""L"" shaped",3,1.50,,\r\n')
        writeFileSync(file, text)
        yield* addSupplier({
          id: "filer",
          name: "Filer",
          connector: { type: "csv", source: file, columns: csvColumns }
        })
        expect(yield* syncOf("filer")).toMatchObject({ status: "succeeded", added: 2, rejected: 0 })
        expect(yield* itemsOf("filer")).toMatchObject([
          // The BOM did not end up in the first column's name: the SKU column was found.
          { supplierSku: "FILE-1", name: 'Bracket, "L" shaped', availability: 3, unitCost: 1.5 },
          { supplierSku: "FILE-2", name: "Plain", availability: 0, unitCost: 2 }
        ])
      }).pipe(Effect.scoped)
    )

    it.scoped("an item that vanishes is deactivated, and reactivated when it comes back", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* addSupplier({ id: "vanish", name: "Vanish", connector: productsConnector(server) })
        yield* syncOf("vanish")

        server.catalog = CATALOG.filter((e) => e.sku !== "WASHER-6")
        expect(yield* syncOf("vanish")).toMatchObject({
          status: "succeeded",
          added: 0,
          updated: 0,
          unchanged: 2,
          deactivated: 1
        })
        const items = yield* itemsOf("vanish")
        expect(items.map((i) => [i.supplierSku, i.active])).toEqual([
          ["BOLT-M6", true],
          ["NUT-M6", true],
          ["WASHER-6", false]
        ])
        expect((yield* itemsOf("vanish", true)).map((i) => i.supplierSku)).toEqual(["BOLT-M6", "NUT-M6"])

        server.catalog = CATALOG
        expect(yield* syncOf("vanish")).toMatchObject({
          added: 0,
          updated: 1,
          unchanged: 2,
          deactivated: 0
        })
        expect((yield* itemsOf("vanish")).every((i) => i.active)).toBe(true)
      })
    )

    it.scoped("a feed with bad items is partial: each rejection is named, the rest are saved", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer()
        server.rawJson = {
          products: [
            { id: "OK-1", name: "Good", inventory: 5, price: 1.5 },
            { name: "No id", inventory: 1, price: 1 },
            { id: "NEG-1", inventory: -2, price: 1 },
            { id: "NAN-1", inventory: "lots", price: 1 },
            { id: "PRICE-1", inventory: 3, price: "abc" },
            { id: "OK-1", name: "Again", inventory: 9, price: 2 },
            { id: "OK-2", name: "Also good", inventory: 0, price: 3 }
          ]
        }
        yield* addSupplier({ id: "partial", name: "Partial", connector: productsConnector(server) })
        const run = yield* syncOf("partial")
        expect(run).toMatchObject({ status: "partial", added: 2, rejected: 5, error: null })
        expect(run.rejections).toEqual([
          {
            position: 2,
            supplierSku: null,
            field: "id",
            message: "is missing: every item needs a supplier SKU"
          },
          {
            position: 3,
            supplierSku: "NEG-1",
            field: "inventory",
            message: "must be a whole number of at least 0, got -2"
          },
          {
            position: 4,
            supplierSku: "NAN-1",
            field: "inventory",
            message: 'must be a whole number of at least 0, got "lots"'
          },
          {
            position: 5,
            supplierSku: "PRICE-1",
            field: "price",
            message: 'must be a non-negative amount, got "abc"'
          },
          {
            position: 6,
            supplierSku: "OK-1",
            field: "id",
            message: "repeats OK-1, already earlier in the feed"
          }
        ])
        expect(yield* latestRun("partial")).toEqual(run)
        // The first OK-1 wins; the repeat is not saved over it.
        expect(yield* itemsOf("partial")).toMatchObject([
          { supplierSku: "OK-1", name: "Good", availability: 5, unitCost: 1.5 },
          { supplierSku: "OK-2", name: "Also good", availability: 0, unitCost: 3 }
        ])
        expect(yield* outboxCount("partial")).toBe(1)

        // A rejected item did not vanish: it keeps its last good values and stays active.
        server.rawJson = {
          products: [
            { id: "OK-1", name: "Good", inventory: 5, price: 1.5 },
            { id: "OK-2", name: "Also good", inventory: 0, price: -3 }
          ]
        }
        expect(yield* syncOf("partial")).toMatchObject({ status: "partial", rejected: 1, deactivated: 0 })
        expect((yield* itemsOf("partial"))[1]).toMatchObject({
          supplierSku: "OK-2",
          unitCost: 3,
          active: true
        })
      })
    )

    it.scoped("createMissingProducts adds the products the feed names and the catalog lacks", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer([
          { sku: "NEW-1", name: "Brand new", availability: 1, price: 1 },
          { sku: "NEW-2", availability: 2, price: 2 }
        ])
        yield* addSupplier({
          id: "creator",
          name: "Creator",
          connector: productsConnector(server),
          createMissingProducts: true
        })
        yield* syncOf("creator")
        const products = yield* Products
        expect(yield* products.get("NEW-1")).toMatchObject({ name: "Brand new", active: true })
        // Without a name in the feed, the SKU stands in for it.
        expect(yield* products.get("NEW-2")).toMatchObject({ name: "NEW-2" })
        expect((yield* itemsOf("creator")).map((i) => [i.supplierSku, i.sku])).toEqual([
          ["NEW-1", "NEW-1"],
          ["NEW-2", "NEW-2"]
        ])
        // Each product added is announced as products.add announces one; a second sync adds none.
        yield* syncOf("creator")
        const sql = yield* SqlClient.SqlClient
        const created = yield* sql<{ subject: string; data: unknown }>`
          select subject, data from outbox where type = 'product.created' and subject like 'NEW-%' order by id`
        expect(created.map((event) => event.subject)).toEqual(["NEW-1", "NEW-2"])
        expect(Schema.decodeUnknownSync(Event.ProductChanged)(created[0]!.data)).toMatchObject({
          sku: "NEW-1",
          name: "Brand new",
          active: true
        })
      })
    )

    it.scoped("without createMissingProducts, items link to our product by supplier SKU or mapped sku", () =>
      Effect.gen(function* () {
        const products = yield* Products
        yield* products.add({ sku: "LINK-1", name: "Known by the supplier's SKU" })
        yield* products.add({ sku: "LINK-2", name: "Known by the mapped sku" })
        const server = yield* supplierServer()
        server.rawJson = {
          products: [
            { id: "LINK-1", name: "Same SKU" },
            { id: "V-77", our_sku: "LINK-2", name: "Mapped" },
            { id: "ORPHAN-1", name: "Nobody stocks it" }
          ]
        }
        const connector = productsConnector(server)
        yield* addSupplier({
          id: "linker",
          name: "Linker",
          connector: { ...connector, fields: { ...connector.fields, sku: "our_sku" } }
        })
        expect(yield* syncOf("linker")).toMatchObject({ status: "succeeded", added: 3 })
        expect((yield* itemsOf("linker")).map((i) => [i.supplierSku, i.sku])).toEqual([
          ["LINK-1", "LINK-1"],
          ["ORPHAN-1", null],
          ["V-77", "LINK-2"]
        ])
        const orphan = yield* Effect.flip(products.get("ORPHAN-1"))
        expect(orphan._tag).toBe("ProductNotFound")
      })
    )

    it.scoped("the supplier's availability never changes our own stock", () =>
      Effect.gen(function* () {
        yield* (yield* Products).add({ sku: "OWN-1", name: "Our own" })
        yield* (yield* Stock).set({ sku: "OWN-1", quantity: 5 })
        const server = yield* supplierServer([{ sku: "OWN-1", availability: 999, price: 1 }])
        yield* addSupplier({ id: "owner", name: "Owner", connector: productsConnector(server) })
        const before = yield* storeTotals
        yield* syncOf("owner")
        const after = yield* storeTotals
        expect({ ...after, events: before.events }).toEqual(before)
        const sql = yield* SqlClient.SqlClient
        expect(yield* sql`select sku, location, on_hand from stock_levels where sku = 'OWN-1'`).toEqual([
          { sku: "OWN-1", location: "default", onHand: 5 }
        ])
        expect((yield* itemsOf("owner"))[0]).toMatchObject({ sku: "OWN-1", availability: 999 })
      })
    )

    it.scoped("permanent failures fail the run with a clear reason and change nothing", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        const suppliers = yield* Suppliers
        yield* addSupplier({ id: "perm", name: "Perm", connector: productsConnector(server) })
        yield* syncOf("perm")
        const itemsBefore = yield* itemsOf("perm")

        const cases: ReadonlyArray<{
          readonly what: string
          readonly connector: NewSupplier["connector"]
          readonly before?: () => void
          readonly reason: RegExp
        }> = [
          {
            what: "a wrong API key (401)",
            connector: productsConnector(server, {
              apiKey: { in: "header", name: "X-API-Key", value: "wrong" }
            }),
            reason: /^the supplier answered 401: check the API key/
          },
          {
            what: "a wrong URL (404)",
            connector: productsConnector(server, { url: `${server.url}/nope` }),
            reason: /^the supplier answered 404: check the connector's URL/
          },
          {
            what: "an answer that is not JSON",
            connector: productsConnector(server),
            before: () => server.failNext(1, { malformed: true }),
            reason: /^the answer is not valid JSON/
          },
          {
            what: "an itemsPath that does not lead to an array",
            connector: productsConnector(server, { itemsPath: "data.products" }),
            reason:
              /^itemsPath "data.products" does not lead to an array; the answer is an object with products/
          },
          {
            what: "a mapping whose supplier-SKU field no item has",
            connector: productsConnector(server, { fields: { supplierSku: "sku", name: "name" } }),
            reason: /^the mapping matches nothing: no item has the field "sku"/
          }
        ]
        for (const failure of cases) {
          yield* suppliers.update("perm", { connector: failure.connector })
          failure.before?.()
          const error = yield* expectSyncFailed(syncOf("perm"))
          expect(error, failure.what).toMatchObject({ supplierId: "perm", transient: false })
          expect(error.reason, failure.what).toMatch(failure.reason)
          expect(yield* latestRun("perm"), failure.what).toMatchObject({
            id: error.runId,
            status: "failed",
            error: error.reason
          })
        }
        expect(yield* itemsOf("perm")).toEqual(itemsBefore)
        expect(yield* outboxCount("perm")).toBe(1) // the first, good sync only
      })
    )

    it.scoped("transient failures (503, 429, timeout, connection refused) say so", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        const suppliers = yield* Suppliers
        yield* addSupplier({
          id: "flaky",
          name: "Flaky",
          connector: productsConnector(server, { timeoutMs: 300 })
        })

        server.failNext(1, { status: 503 })
        const unavailable = yield* expectSyncFailed(syncOf("flaky"))
        expect(unavailable).toMatchObject({ transient: true, reason: "the supplier answered 503" })
        expect(unavailable.retryAfterMs).toBeUndefined()

        server.failNext(1, { status: 429, retryAfter: "7" })
        const limited = yield* expectSyncFailed(syncOf("flaky"))
        expect(limited).toMatchObject({
          transient: true,
          reason: "the supplier answered 429",
          retryAfterMs: 7000
        })

        server.failNext(1, { hang: true })
        const started = Date.now()
        const timedOut = yield* expectSyncFailed(syncOf("flaky"))
        const waited = Date.now() - started
        expect(timedOut).toMatchObject({ transient: true, reason: "no complete answer within 300 ms" })
        expect(waited).toBeGreaterThanOrEqual(290)
        expect(waited).toBeLessThan(5_000)

        yield* suppliers.update("flaky", {
          connector: productsConnector(server, { url: yield* Effect.promise(refusingUrl) })
        })
        const refused = yield* expectSyncFailed(syncOf("flaky"))
        expect(refused.transient).toBe(true)
        expect(refused.reason).toMatch(/^cannot reach 127\.0\.0\.1:\d+/)

        const runs = (yield* Effect.flatMap(SupplierSync, (s) => s.runs("flaky"))).items
        expect(runs.map((r) => [r.status, r.error])).toEqual(
          [unavailable, limited, timedOut, refused].reverse().map((e) => ["failed", e.reason])
        )
        expect(yield* outboxCount("flaky")).toBe(0)
      })
    )

    it.scoped("a second sync while one is running fails at once; the database holds one running run", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* addSupplier({
          id: "busy",
          name: "Busy",
          connector: productsConnector(server, { timeoutMs: 1_500 })
        })
        server.failNext(1, { hang: true })
        const arrived = server.nextRequest()
        const first = yield* Effect.fork(Effect.either(syncOf("busy")))
        yield* Effect.promise(() => arrived) // the first run is recorded and fetching

        const started = Date.now()
        const second = yield* expectSyncFailed(syncOf("busy"))
        expect(Date.now() - started).toBeLessThan(1_000)
        expect(second).toMatchObject({
          supplierId: "busy",
          runId: null,
          transient: true,
          reason: "another sync of this supplier is running; one runs at a time"
        })
        // Not the code's check but the database's: a second running row is refused outright.
        const sql = yield* SqlClient.SqlClient
        const duplicate = yield* Effect.flip(
          sql`insert into sync_runs (supplier_id, trigger, status) values ('busy', 'manual', 'running')`
        )
        expect(duplicate._tag).toBe("SqlError")

        const firstOutcome = yield* Fiber.join(first)
        expect(firstOutcome._tag).toBe("Left")
        // Once it ended, the supplier syncs again.
        expect(yield* syncOf("busy")).toMatchObject({ status: "succeeded", added: 3 })
        expect(server.requests).toHaveLength(2)
      })
    )

    it.scoped("a sync its caller interrupts ends its run, so the supplier can sync again at once", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* addSupplier({
          id: "stopped",
          name: "Stopped",
          connector: productsConnector(server, { timeoutMs: 10_000 })
        })
        server.failNext(1, { hang: true })
        // The caller gives up (a timeout, Ctrl-C) while the supplier is still answering.
        const gaveUp = yield* syncOf("stopped").pipe(Effect.timeout("300 millis"), Effect.flip)
        expect(gaveUp._tag).toBe("TimeoutException")
        expect(yield* latestRun("stopped")).toMatchObject({
          status: "failed",
          error: "interrupted: the sync was stopped before it finished"
        })
        expect(yield* syncOf("stopped")).toMatchObject({ status: "succeeded", added: 3 })
      })
    )

    it.scoped("each successful sync writes one supplier.catalog.updated event with its counts", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        yield* addSupplier({ id: "events", name: "Events", connector: productsConnector(server) })
        const first = yield* syncOf("events")
        server.catalog = CATALOG.slice(1)
        const second = yield* syncOf("events")
        server.failNext(1, { status: 500 })
        yield* expectSyncFailed(syncOf("events"))

        const sql = yield* SqlClient.SqlClient
        const events = yield* sql<{ data: unknown }>`
          select data from outbox where type = 'supplier.catalog.updated' and subject = 'events' order by id`
        expect(events.map((e) => e.data)).toEqual([
          {
            supplierId: "events",
            runId: first.id,
            status: "succeeded",
            added: 3,
            updated: 0,
            unchanged: 0,
            deactivated: 0,
            rejected: 0
          },
          {
            supplierId: "events",
            runId: second.id,
            status: "succeeded",
            added: 0,
            updated: 0,
            unchanged: 2,
            deactivated: 1,
            rejected: 0
          }
        ])
      })
    )

    it.scoped("preview reads a feed with a connector and saves nothing", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        const sql = yield* SqlClient.SqlClient
        const count = sql<{ items: number; runs: number }>`
          select (select count(*)::int from supplier_items) as items, (select count(*)::int from sync_runs) as runs`
        const before = yield* count
        const preview = yield* Effect.flatMap(SupplierSync, (s) => s.preview(itemsConnector(server)))
        expect(preview).toMatchObject({ total: 3, rejected: 0, rejections: [] })
        expect(preview.items.map((i) => i.supplierSku)).toEqual(["BOLT-M6", "WASHER-6", "NUT-M6"])
        expect(yield* count).toEqual(before)
      })
    )
  })

  layer(makeStore(), options)("suppliers", (it) => {
    it.scoped("the API key is never answered in clear, and is kept for the sync", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        const suppliers = yield* Suppliers
        const added = yield* suppliers.add({
          id: "secret",
          name: "Secret",
          connector: productsConnector(server)
        })
        const got = yield* suppliers.get("secret")
        const listed = (yield* suppliers.list()).items.find((s) => s.id === "secret")!
        const updated = yield* suppliers.update("secret", { name: "Still secret" })
        for (const answer of [added, got, listed, updated]) {
          expect(answer.connector.apiKey).toEqual({ in: "header", name: "X-API-Key", value: "***" })
          expect(JSON.stringify(answer)).not.toContain(API_KEY)
        }
        // The stored key is the real one: the sync still authenticates.
        expect(yield* syncOf("secret")).toMatchObject({ status: "succeeded" })
      })
    )

    it.scoped("remove is refused while an open restock order points to the supplier", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer([{ sku: "RM-1", availability: 10, price: 1 }])
        const suppliers = yield* Suppliers
        yield* suppliers.add({ id: "inuse", name: "In use", connector: productsConnector(server) })
        yield* (yield* Products).add({ sku: "RM-1", name: "Removable", reorderPoint: 5, reorderQuantity: 10 })
        yield* syncOf("inuse")
        yield* (yield* Stock).set({ sku: "RM-1", quantity: 2 }) // at the reorder point: an order opens
        const orders = yield* RestockOrders
        const [order] = (yield* orders.list({ open: true, sku: "RM-1" })).items
        expect(order).toMatchObject({ supplierId: "inuse", status: "draft" })

        const refused = yield* Effect.flip(suppliers.remove("inuse"))
        expect(refused).toBeInstanceOf(SupplierInUse)
        expect(refused).toMatchObject({ supplierId: "inuse", openOrders: 1 })
        expect((yield* suppliers.get("inuse")).id).toBe("inuse")

        // A closed order no longer holds the supplier; it stays, with what was ordered.
        yield* orders.cancel(order!.id)
        yield* suppliers.remove("inuse")
        expect(yield* Effect.flip(suppliers.get("inuse"))).toBeInstanceOf(SupplierNotFound)
        expect(yield* orders.get(order!.id)).toMatchObject({
          status: "cancelled",
          supplierId: null,
          supplierSku: "RM-1"
        })
        const sql = yield* SqlClient.SqlClient
        expect(
          yield* sql`select 1 from supplier_items where supplier_id = 'inuse'
                     union all select 1 from sync_runs where supplier_id = 'inuse'`
        ).toEqual([])
      })
    )

    it.effect("bad input fails with InvalidInput naming the field, and saves nothing", () =>
      Effect.gen(function* () {
        const suppliers = yield* Suppliers
        const connector: NewSupplier["connector"] = {
          type: "http-json",
          url: "https://supplier.invalid/catalog",
          fields: { supplierSku: "id" }
        }
        const bad = yield* expectInvalid(suppliers.add({ id: "Acme Inc!", name: "Acme", connector }), "id")
        expect(bad.rule).toContain("lower-case letters")
        const cron = yield* expectInvalid(
          suppliers.add({ id: "cron", name: "Cron", connector, schedule: "every day" }),
          "schedule"
        )
        expect(cron.rule).toContain("cron expression")
        yield* expectInvalid(
          suppliers.add({ id: "cron", name: "Cron", connector, schedule: "* * *" }),
          "schedule"
        )
        const url = yield* expectInvalid(
          suppliers.add({
            id: "url",
            name: "Url",
            connector: { ...connector, url: "ftp://supplier.invalid/x" }
          }),
          "connector.url"
        )
        expect(url.rule).toBe("must be an http:// or https:// URL")
        yield* expectInvalid(
          suppliers.add({
            id: "map",
            name: "Map",
            connector: { ...connector, fields: { name: "name" } as any }
          }),
          "connector.fields.supplierSku"
        )
        yield* expectInvalid(
          suppliers.add({
            id: "csvmap",
            name: "Csv map",
            connector: { type: "csv", source: "feed.csv", columns: { name: "title" } as any }
          }),
          "connector.columns.supplierSku"
        )
        yield* expectInvalid(
          Effect.flatMap(SupplierSync, (s) => s.sync("Not An Id")),
          "id"
        )
        expect((yield* suppliers.list()).items.map((s) => s.id)).not.toContain("cron")
        expect(yield* Effect.flip(Effect.flatMap(SupplierSync, (s) => s.sync("nobody")))).toBeInstanceOf(
          SupplierNotFound
        )
      })
    )
  })

  layer(makeStore(), options)("sync of several suppliers", (it) => {
    it.scoped("syncs each supplier named or every active one; a failure is reported and the rest go on", () =>
      Effect.gen(function* () {
        const server = yield* supplierServer(CATALOG)
        const down = yield* Effect.promise(refusingUrl)
        yield* addSupplier({ id: "many-a", name: "A", connector: productsConnector(server) })
        yield* addSupplier({
          id: "many-down",
          name: "Down",
          connector: productsConnector(server, { url: down })
        })
        yield* addSupplier({ id: "many-b", name: "B", connector: itemsConnector(server) })
        const sync = yield* SupplierSync

        const named = yield* sync.syncMany({
          supplierIds: ["many-a", "many-down", "many-b", "nobody", "many-a"]
        })
        expect(named.failed).toBe(2)
        expect(named.results.map((result) => [result.supplierId, result.outcome])).toEqual([
          ["many-a", "synced"],
          ["many-down", "failed"],
          ["many-b", "synced"],
          ["nobody", "failed"]
        ])
        expect(named.results[0]).toMatchObject({ run: { status: "succeeded", added: 3 } })
        expect(named.results[2]).toMatchObject({ run: { status: "succeeded", added: 3 } })
        // The failed supplier's run is recorded as a single sync records it.
        const failedRun = yield* latestRun("many-down")
        expect(failedRun).toMatchObject({ status: "failed", error: expect.stringContaining("cannot reach") })
        expect(named.results[1]).toEqual({
          supplierId: "many-down",
          outcome: "failed",
          error: "SyncFailed",
          message: failedRun.error,
          runId: failedRun.id
        })
        expect(named.results[3]).toMatchObject({ error: "SupplierNotFound", runId: null })

        yield* Effect.flatMap(Suppliers, (s) => s.update("many-down", { active: false }))
        const all = yield* sync.syncMany({ all: true })
        expect(all.failed).toBe(0)
        expect(all.results.map((result) => [result.supplierId, result.outcome])).toEqual([
          ["many-a", "synced"],
          ["many-b", "synced"]
        ])
        expect(all.results[0]).toMatchObject({ run: { status: "succeeded", unchanged: 3 } })

        yield* expectInvalid(sync.syncMany({}), "supplierIds")
        yield* expectInvalid(sync.syncMany({ supplierIds: ["many-a"], all: true }), "supplierIds")
        yield* expectInvalid(sync.syncMany({ supplierIds: [] }), "supplierIds")
        yield* expectInvalid(sync.syncMany({ supplierIds: ["Not An Id"] }), "supplierIds[0]")
      })
    )
  })
}
