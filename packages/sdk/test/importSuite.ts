/**
 * Bulk import and export, on whichever store `open` gives: a generated 10,000-row file with 5 %
 * bad rows of every kind, an abort, a dry run, a second run, and an export imported back.
 */
import { Readable } from "node:stream"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Event from "../src/Event.js"
import * as Export from "../src/Export.js"
import * as Import from "../src/Import.js"
import type { Inventory } from "../src/Inventory.js"
import { openStaging } from "../src/internal/importStore.js"
import { localStoreOf } from "../src/internal/localStore.js"
import { ACTOR_RULE, DELTA_TEXT_RULE, MAX_LEVEL, QUANTITY_TEXT_RULE, SPACES_RULE } from "../src/Rules.js"
import { expectLedgerConsistent } from "./utils.js"

export type OpenStore = () => Promise<Inventory>

const ROWS = 10_000
const sku = (n: number) => `P-${String(n).padStart(5, "0")}`

/** Runs SQL on a local store's own database, for checks the public interface cannot make. */
const query = <A>(inventory: Inventory, effect: Effect.Effect<A, any, SqlClient.SqlClient>) =>
  localStoreOf(inventory)!.run(effect)

const totals = (inventory: Inventory) =>
  query(
    inventory,
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ movements: number; events: number; units: number }>`
        select (select count(*)::int from stock_movements) as movements,
               (select count(*)::int from outbox where type = 'stock.updated')
                 + (select coalesce(sum(jsonb_array_length(data -> 'levels')), 0)::int from outbox
                    where type = 'stock.imported') as events,
               (select coalesce(sum(on_hand), 0)::int from stock_levels) as units`.pipe(
        Effect.map((rows) => rows[0]!)
      )
    )
  )

const levels = async (inventory: Inventory) => {
  const all = new Map<string, number>()
  for await (const row of inventory.stock.all({ limit: 1000 }))
    all.set(`${row.sku}@${row.location}`, row.onHand)
  return all
}

/** Collects the rejections of an import. */
const importCollecting = async (
  inventory: Inventory,
  text: string | ReadonlyArray<string>,
  options: Import.ImportOptions = {}
) => {
  const rejections: Array<Import.Rejection> = []
  const result = await Import.importRows(inventory, Readable.from(typeof text === "string" ? [text] : text), {
    ...options,
    onRejection: (rejection) => void rejections.push(rejection)
  })
  return { result, rejections }
}

interface Generated {
  /** The file, split in chunks at awkward places (inside a quoted value, in a CRLF). */
  readonly chunks: ReadonlyArray<string>
  readonly valid: ReadonlyMap<string, number>
  /** Line → code of every bad row. */
  readonly bad: ReadonlyMap<number, Import.RejectionCode>
}

/**
 * 10,000 stock counts with CRLF line endings, a BOM, empty lines and a quoted value over two
 * lines; one row in twenty is bad, the bad kinds taking turns.
 */
const generateCounts = (): Generated => {
  const lines: Array<string> = ["\uFEFFsku,location,quantity,note"]
  const valid = new Map<string, number>()
  const bad = new Map<number, Import.RejectionCode>()
  const kinds: ReadonlyArray<Import.RejectionCode> = [
    "column-count",
    "invalid-value", // not a number
    "invalid-value", // negative
    "unknown-sku",
    "duplicate",
    "missing-value",
    "unknown-location"
  ]
  let line = 2
  let turn = 0
  for (let i = 0; i < ROWS; i++) {
    if (i % 500 === 250) {
      lines.push("") // empty lines are skipped, and still count as lines
      line += 1
    }
    if (i % 20 === 7) {
      const kind = kinds[turn++ % kinds.length]!
      const row =
        turn % kinds.length === 1
          ? `${sku(i)},default,5,x,extra`
          : turn % kinds.length === 2
            ? `${sku(i)},default,lots,`
            : turn % kinds.length === 3
              ? `${sku(i)},default,-4,`
              : turn % kinds.length === 4
                ? `NOPE-${i},default,3,`
                : turn % kinds.length === 5
                  ? `${sku(i - 7)},default,9,`
                  : turn % kinds.length === 6
                    ? `${sku(i)},default,,`
                    : `${sku(i)},mars,2,`
      lines.push(row)
      bad.set(line, kind)
      line += 1
      continue
    }
    const quantity = (i * 7) % 500
    valid.set(`${sku(i)}@default`, quantity)
    if (i % 1000 === 3) {
      lines.push(`${sku(i)},default,${quantity},"counted twice,\r\nsee note"`)
      line += 2
    } else {
      lines.push(`${sku(i)},default,${quantity},`)
      line += 1
    }
  }
  const text = `${lines.join("\r\n")}\r\n`
  const chunks: Array<string> = []
  for (let at = 0; at < text.length; at += 4093) chunks.push(text.slice(at, at + 4093))
  return { chunks, valid, bad }
}

const productsCsv = () => {
  const lines = ["sku,name,unit,reorderPoint,reorderQuantity"]
  for (let i = 0; i < ROWS; i++) lines.push(`${sku(i)},"Part ${i}, grade ""A""",each,${i % 3},10`)
  return `${lines.join("\n")}\n`
}

const collect = async (chunks: AsyncIterable<string>) => {
  let text = ""
  for await (const chunk of chunks) text += chunk
  return text
}

export const importSuite = (open: OpenStore) => {
  let inventory: Inventory
  let generated: Generated
  beforeAll(async () => {
    inventory = await open()
    generated = generateCounts()
    const { result } = await importCollecting(inventory, productsCsv())
    expect(result).toMatchObject({
      status: "applied",
      kind: "products",
      rows: ROWS,
      applied: ROWS,
      rejected: 0
    })
    expect(result.changes.newProducts).toBe(ROWS)
  })
  afterAll(async () => {
    await inventory?.close()
  })

  describe("the staging table", () => {
    it("has every block range of its line index summarized once the rows are in, so a chunk reads only its own", async () => {
      const store = localStoreOf(inventory)!
      const staging = await openStaging(store.run)
      try {
        // Some 40,000 rows fill several of the index's ranges (128 pages each).
        const rows = Array.from({ length: 40_000 }, (_, index) => index + 2).map((line) => ({
          line,
          row: { sku: sku(line % ROWS), location: "default", quantity: line % 100 }
        }))
        await staging.add(rows)
        await staging.finish()
        const { pages, summarized } = await query(
          inventory,
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql<{ pages: number; summarized: number }>`
              select pg_relation_size(${staging.table}) / 8192 as pages,
                     brin_summarize_new_values(${`${staging.table}_line`}::regclass)::int as summarized`.pipe(
              Effect.map((rows) => rows[0]!)
            )
          )
        )
        expect(Number(pages)).toBeGreaterThan(2 * 128)
        // A range left unsummarized is returned whole by every lookup; here none is left.
        expect(summarized).toBe(0)
      } finally {
        await staging.drop()
      }
    })
  })

  describe("a 10,000-row count with 5 % bad rows", () => {
    it("aborts with --on-error abort, writing nothing", async () => {
      const before = await totals(inventory)
      const { result, rejections } = await importCollecting(inventory, generated.chunks, { onError: "abort" })
      expect(result.status).toBe("aborted")
      expect(result.rejected).toBe(generated.bad.size)
      expect(rejections).toHaveLength(generated.bad.size)
      expect(await totals(inventory)).toEqual(before)
    })

    it("dry run: says what would change, writes nothing", async () => {
      const before = await totals(inventory)
      const { result } = await importCollecting(inventory, generated.chunks, { dryRun: true })
      expect(result.status).toBe("dry-run")
      expect(result.applied).toBe(generated.valid.size)
      expect(result.changes.newLevels).toBe(generated.valid.size)
      const total = [...generated.valid.values()].reduce((a, b) => a + b, 0)
      expect(result.changes.totalDelta).toBe(total)
      expect(await totals(inventory)).toEqual(before)
    })

    it("applies exactly the valid rows and reports every bad one by line", async () => {
      const { result, rejections } = await importCollecting(inventory, generated.chunks, { actor: "tester" })
      expect(result).toMatchObject({
        status: "applied",
        kind: "stock",
        rows: ROWS,
        applied: generated.valid.size,
        rejected: generated.bad.size
      })
      expect(result.ignoredColumns).toEqual(["note"])
      // A first count: the changes the dry run above announced, every level new.
      expect(result.changes).toEqual({
        newProducts: 0,
        changedProducts: 0,
        unchangedProducts: 0,
        newLevels: generated.valid.size,
        changedLevels: 0,
        unchangedLevels: 0,
        totalDelta: [...generated.valid.values()].reduce((a, b) => a + b, 0)
      })
      expect(new Map(rejections.map((r) => [r.line, r.code]))).toEqual(generated.bad)
      for (const rejection of rejections) {
        expect(rejection.message.length).toBeGreaterThan(10)
        if (rejection.code !== "column-count") expect(rejection.column).not.toBeNull()
      }
      expect(await levels(inventory)).toEqual(generated.valid)
      const after = await totals(inventory)
      expect(after.movements).toBe(generated.valid.size)
      expect(after.events).toBe(generated.valid.size)
      await query(inventory, expectLedgerConsistent)
      const [movement] = (await inventory.stock.history(sku(0))).items
      expect(movement).toMatchObject({ reason: "count", reference: result.reference, actor: "tester" })
      expect(result.reference).toBe(`import:${result.importId}`)
    })

    it("opens a restock order for each level it left at or below its reorder point, and for no other", async () => {
      // The products' reorder points are 0, 1 and 2 in turn (productsCsv), each with a quantity of 10.
      const expected = [...generated.valid]
        .filter(([key, quantity]) => quantity <= Number(key.slice(2, 7)) % 3)
        .map(([key]) => key.slice(0, 7))
        .sort()
      expect(expected.length).toBeGreaterThan(10)
      const open = await query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql<{
              sku: string
            }>`select sku from restock_orders where status in ('draft', 'submitted') order by sku`
        )
      )
      expect(open.map((order) => order.sku)).toEqual(expected)
    })

    it("announces the import with one stock.imported event per 1,000 levels, listing each level as it now is", async () => {
      const [stored] = await query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql<{
              importId: string
            }>`select id as import_id from imports where kind = 'stock' order by created_at limit 1`
        )
      )
      const importId = stored!.importId
      const events = await query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ subject: string; data: Event.StockImported }>`
            select subject, data from outbox where type = 'stock.imported' and subject = ${importId} order by id`
        )
      )
      // Each level listed with exactly the fields of Event.ImportedLevel, as stored.
      expect(Object.keys(events[0]!.data.levels[0]!).sort()).toEqual([
        "delta",
        "location",
        "onHand",
        "sku",
        "version"
      ])
      expect(events.map((event) => event.data.chunk)).toEqual(
        Array.from({ length: Math.ceil(generated.valid.size / 1000) }, (_, index) => index + 1)
      )
      const listed = events.flatMap((event) => {
        const data = Schema.decodeUnknownSync(Event.StockImported)(event.data)
        expect(data).toMatchObject({
          importId,
          reference: `import:${importId}`,
          reason: "count",
          actor: "tester"
        })
        expect(data.levels.length).toBeLessThanOrEqual(1000)
        return data.levels
      })
      // Every level once, in (sku, location) order, with the quantity it was set to.
      expect(listed.map((level) => `${level.sku}@${level.location}`)).toEqual(
        [...generated.valid.keys()].sort()
      )
      for (const level of listed) {
        expect(level.onHand).toBe(generated.valid.get(`${level.sku}@${level.location}`))
        expect(level).toMatchObject({ delta: level.onHand, version: 1 })
      }
    })

    it("lists SKUs with every character the code rule allows, as they are", async () => {
      // The events' JSON quotes the import's codes without escaping them (internal/importStore.ts).
      // In byte order, as the events list levels.
      const codes = ["E-1", "E.3", "E:4/x", "E_2"]
      for (const code of codes) await inventory.products.add({ sku: code, name: code })
      const csv = `sku,quantity\n${codes.map((code, i) => `${code},${i + 1}`).join("\n")}\n`
      const { result } = await importCollecting(inventory, csv)
      expect(result).toMatchObject({ status: "applied", applied: codes.length })
      const events = await query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ data: Event.StockImported }>`
            select data from outbox where type = 'stock.imported' and subject = ${result.importId}`
        )
      )
      const listed = events.flatMap(
        (event) => Schema.decodeUnknownSync(Event.StockImported)(event.data).levels
      )
      expect(listed.map((level) => [level.sku, level.location, level.onHand])).toEqual(
        codes.map((code, i) => [code, "default", i + 1])
      )
    })

    it("a second run of the same file adds nothing", async () => {
      const before = await totals(inventory)
      const { result } = await importCollecting(inventory, generated.chunks)
      expect(result.status).toBe("already-imported")
      expect(await totals(inventory)).toEqual(before)
      const named = await importCollecting(inventory, generated.chunks, { importId: "count-1" })
      expect(named.result.status).toBe("applied") // another id is another import
      const again = await importCollecting(inventory, "sku,quantity\n", { importId: "count-1" })
      expect(again.result.status).toBe("already-imported")
    })
  })

  describe("refusals in a file whose keys are all different", () => {
    it("refuses unknown SKUs and locations without any repeated key to look for, and leaves the levels' own check on", async () => {
      const before = await totals(inventory)
      const text = [
        "sku,location,quantity",
        "NOPE-1,default,3",
        `${sku(1)},nowhere,4`,
        "NOPE-2,nowhere,5"
      ].join("\n")
      const { result, rejections } = await importCollecting(inventory, text, { importId: "refused-only" })
      expect(result).toMatchObject({ status: "applied", applied: 0, rejected: 3 })
      expect(rejections.map((r) => [r.line, r.code, r.column])).toEqual([
        [2, "unknown-sku", "sku"],
        [3, "unknown-location", "location"],
        [4, "unknown-sku", "sku"]
      ])
      expect(await totals(inventory)).toEqual(before)
      // The import's transaction said its rows were checked (migration 0013); the store's
      // connections do not go on saying it after it.
      const settings = await query(
        inventory,
        Effect.all(
          Array.from({ length: 8 }, () =>
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql<{ checked: string | null }>`
                select current_setting('invkit.level_references_checked', true) as checked, pg_sleep(0.02)`.pipe(
                Effect.map((rows) => rows[0]!.checked)
              )
            )
          ),
          { concurrency: "unbounded" }
        )
      )
      for (const checked of settings) expect(checked ?? "").not.toBe("on")
      // Nor any of its tables: the staged rows, the refused ones, the levels left low.
      const [left] = await query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ tables: number }>`
            select count(*)::int as tables from pg_class where relname like 'import_rows_%'`
        )
      )
      expect(left).toEqual({ tables: 0 })
    })
  })

  describe("a repeated key that is also unknown", () => {
    it("is told as a duplicate of its first row, which is told as unknown", async () => {
      const text = [
        "sku,location,quantity",
        "NOPE-9,default,1",
        `${sku(2)},default,4`,
        "NOPE-9,default,2",
        `${sku(2)},default,5`
      ].join("\n")
      const { result, rejections } = await importCollecting(inventory, text, { dryRun: true })
      expect(result).toMatchObject({ status: "dry-run", applied: 1, rejected: 3 })
      expect(rejections.map((r) => [r.line, r.code])).toEqual([
        [2, "unknown-sku"],
        [4, "duplicate"],
        [5, "duplicate"]
      ])
      expect(rejections[1]!.message).toContain("already on line 2")
      expect(rejections[2]!.message).toContain("already on line 3")
    })
  })

  // On PostgreSQL the write's transaction runs while the rows are checked on a second connection,
  // as if the check found nothing; these are the rows it finds, which the write must not keep.
  describe("rows the check refuses while the write goes ahead", () => {
    const levelRows = (skus: ReadonlyArray<string>) =>
      query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ sku: string; onHand: number; movements: number }>`
            select l.sku, l.on_hand, (select count(*)::int from stock_movements m where m.sku = l.sku) as movements
            from stock_levels l where l.sku in ${sql.in(skus)} order by l.sku`
        )
      )

    it("a first count with a key given twice and an unknown SKU writes the first row of the key and nothing of the unknown one", async () => {
      await importCollecting(inventory, "sku,name\nQ-1,Twice\nQ-2,Once\n")
      const text = [
        "sku,location,quantity",
        "Q-1,default,4",
        "Q-2,default,5",
        "Q-1,default,6",
        "NOPE-Q,default,1"
      ]
      const { result, rejections } = await importCollecting(inventory, text.join("\n"))
      expect(result).toMatchObject({ status: "applied", applied: 2, rejected: 2 })
      expect(rejections.map((r) => [r.line, r.code])).toEqual([
        [4, "duplicate"],
        [5, "unknown-sku"]
      ])
      // The write's levels are new ones, inserted: the unknown SKU's level would have been
      // inserted without its reference check (the import checks its rows itself).
      expect(await levelRows(["Q-1", "Q-2", "NOPE-Q"])).toEqual([
        { sku: "Q-1", onHand: 4, movements: 1 },
        { sku: "Q-2", onHand: 5, movements: 1 }
      ])
      await query(inventory, expectLedgerConsistent)
    })

    it("a first count with an unknown SKU and no key given twice writes nothing of the unknown one", async () => {
      await importCollecting(inventory, "sku,name\nQ-3,Alone\n")
      const { result, rejections } = await importCollecting(
        inventory,
        "sku,location,quantity\nNOPE-R,default,1\nQ-3,default,7\n"
      )
      expect(result).toMatchObject({ status: "applied", applied: 1, rejected: 1 })
      expect(rejections.map((r) => [r.line, r.code])).toEqual([[2, "unknown-sku"]])
      expect(await levelRows(["NOPE-R", "Q-3"])).toEqual([{ sku: "Q-3", onHand: 7, movements: 1 }])
    })

    it("a count with a key given twice, 50,001 lines apart (in two of the write's statements), sets the level once", async () => {
      // 50,000 lines the reading rejects between the two, so that the key's second row is
      // written by the write's second statement, as an upsert of the level the first one set.
      const lines = ["sku,location,quantity", "Q-1,default,10"]
      for (let i = 0; i < 50_000; i++) lines.push("Q-2,default,x")
      lines.push("Q-1,default,20")
      const { result, rejections } = await importCollecting(inventory, `${lines.join("\n")}\n`)
      expect(result).toMatchObject({ status: "applied", applied: 1, rejected: 50_001 })
      expect(rejections.at(-1)).toMatchObject({ line: 50_003, code: "duplicate" })
      expect(await levelRows(["Q-1"])).toEqual([{ sku: "Q-1", onHand: 10, movements: 2 }])
      await query(inventory, expectLedgerConsistent)
    })
  })

  describe("products", () => {
    it("announces the products it added or changed with product.imported events, not the unchanged ones", async () => {
      const name = (n: number) => `PI-${String(n).padStart(4, "0")}`
      await inventory.products.add({ sku: name(0), name: "unchanged" })
      await inventory.products.add({ sku: name(1), name: "renamed" })
      await inventory.products.add({ sku: name(2), name: "archived" })
      // 1,200 new ones: two events.
      const rows = [`${name(0)},unchanged,`, `${name(1)},renamed now,`, `${name(2)},archived,false`]
      for (let n = 3; n < 1203; n++) rows.push(`${name(n)},new,`)
      const { result } = await importCollecting(inventory, `sku,name,active\n${rows.join("\n")}\n`, {
        kind: "products",
        actor: "catalog-bot"
      })
      expect(result).toMatchObject({ status: "applied", applied: 1203 })
      const events = await query(
        inventory,
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ subject: string; data: unknown }>`
            select subject, data from outbox where type = 'product.imported' and subject = ${result.importId} order by id`
        )
      )
      const decoded = events.map((event) => Schema.decodeUnknownSync(Event.ProductImported)(event.data))
      expect(decoded.map((data) => [data.chunk, data.importId, data.actor, data.products.length])).toEqual([
        [1, result.importId, "catalog-bot", 1000],
        [2, result.importId, "catalog-bot", 202]
      ])
      const listed = decoded.flatMap((data) => data.products)
      expect(listed.slice(0, 3)).toEqual([
        { sku: name(1), change: "updated" },
        { sku: name(2), change: "archived" },
        { sku: name(3), change: "created" }
      ])
      expect(listed.map((product) => product.sku)).toEqual(
        Array.from({ length: 1202 }, (_, index) => name(index + 1))
      )
    })
  })

  describe("adjustments", () => {
    it("applies deltas, refuses to go below zero, and reports NDJSON lines", async () => {
      const text = [
        JSON.stringify({ sku: sku(0), delta: 5 }),
        "",
        JSON.stringify({ sku: sku(1), location: "default", delta: -100000 }),
        "{not json",
        JSON.stringify({ sku: sku(2), delta: 0 }),
        JSON.stringify({ sku: sku(3), delta: "-2" })
      ].join("\n")
      const before = await levels(inventory)
      const { result, rejections } = await importCollecting(inventory, text)
      expect(result).toMatchObject({ kind: "adjustments", status: "applied", applied: 2, rejected: 3 })
      expect(rejections.map((r) => [r.line, r.code])).toEqual([
        [4, "invalid-json"],
        [5, "invalid-value"],
        [3, "insufficient-stock"]
      ])
      const after = await levels(inventory)
      expect(after.get(`${sku(0)}@default`)).toBe(before.get(`${sku(0)}@default`)! + 5)
      expect(after.get(`${sku(3)}@default`)).toBe(before.get(`${sku(3)}@default`)! - 2)
      expect(after.get(`${sku(1)}@default`)).toBe(before.get(`${sku(1)}@default`))
      await query(inventory, expectLedgerConsistent)
    })

    it("a count below what reservations hold is refused naming the held units, unless the product allows backorders", async () => {
      const [held, backordered, free] = [sku(40), sku(41), sku(42)]
      for (const product of [held, backordered, free]) await inventory.stock.set(product, 10)
      await inventory.products.update(backordered, { allowBackorders: true })
      for (const product of [held, backordered]) {
        await inventory.reservations.create({ sku: product, quantity: 6, reference: `cart-${product}` })
      }
      const { result, rejections } = await importCollecting(
        inventory,
        ["sku,quantity", `${held},4`, `${backordered},2`, `${free},3`].join("\n")
      )
      expect(result).toMatchObject({ kind: "stock", status: "applied", applied: 2, rejected: 1 })
      expect(rejections).toHaveLength(1)
      expect(rejections[0]).toMatchObject({ line: 2, code: "held-stock", column: "quantity" })
      expect(rejections[0]!.message).toContain("reservations hold 6 units")
      const after = await levels(inventory)
      expect(after.get(`${held}@default`)).toBe(10)
      expect(after.get(`${backordered}@default`)).toBe(2)
      expect(after.get(`${free}@default`)).toBe(3)
      // Counting exactly what is held is fine.
      const exact = await importCollecting(inventory, ["sku,quantity", `${held},6`].join("\n"))
      expect(exact.result).toMatchObject({ status: "applied", applied: 1, rejected: 0 })
      await query(inventory, expectLedgerConsistent)
    })

    it("maps other headers and refuses a header it cannot read", async () => {
      const { result } = await importCollecting(inventory, "Item,Change\nP-00004,1\n", {
        map: { Item: "sku", Change: "delta" }
      })
      expect(result).toMatchObject({ kind: "adjustments", applied: 1 })
      await expect(Import.importRows(inventory, Readable.from(["foo,bar\n1,2\n"]))).rejects.toMatchObject({
        _tag: "InvalidInput",
        field: "kind"
      })
      await expect(
        Import.importRows(inventory, Readable.from(["sku,name\n"]), { kind: "stock" })
      ).rejects.toMatchObject({ _tag: "InvalidInput", field: "quantity" })
    })
  })

  describe("a file the importer cannot read", () => {
    /** The InvalidInput an import of `source` rejects with, after checking that it wrote nothing. */
    const refusal = async (source: Iterable<string | Uint8Array>, options: Import.ImportOptions = {}) => {
      const before = await totals(inventory)
      const error = await Import.importRows(inventory, Readable.from(source), options).then(
        () => expect.fail("the import should have been refused"),
        (error: unknown) =>
          error as Import.Rejection & { _tag: string; field: string; rule: string; message: string }
      )
      expect(error).toMatchObject({ _tag: "InvalidInput", field: "file" })
      expect(await totals(inventory)).toEqual(before)
      return error
    }

    it("names the line of an unclosed or misplaced quote and says what to fix, writing nothing", async () => {
      const unclosed = await refusal([`sku,quantity\n${sku(0)},1\n${sku(1)},"2\n${sku(2)},3\n`])
      expect(unclosed.rule).toBe(
        'line 3: a quoted value starts on or after it and is never closed; end it with " (a " inside a quoted value is written "")'
      )
      const misplaced = await refusal([`sku,quantity\n${sku(0)},1\n${sku(1)},"2"x\n`])
      expect(misplaced.rule).toMatch(/^line 3: a quote ends a value but the cell goes on after it; /)
      const inside = await refusal([`sku,quantity\n${sku(0)},1\n\n${sku(1)},2"x\n${sku(2)},3\n`])
      expect(inside.rule).toBe(
        'line 4: a quote stands inside a cell that does not start with one; put the whole cell in quotes and write each " inside it as ""'
      )
    })

    it("says a UTF-16 or binary file is not UTF-8 text, without repeating its bytes", async () => {
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("sku,quantity\nA,1\n", "utf16le")])
      const withBom = await refusal([utf16])
      expect(withBom.rule).toBe(
        "is UTF-16 (it starts with a UTF-16 byte order mark), not UTF-8 text: save it as UTF-8 CSV (or NDJSON) and import that"
      )
      const withoutBom = await refusal([Buffer.from("sku,quantity\nA,1\n", "utf16le")])
      expect(withoutBom.rule).toMatch(
        /^is UTF-16 or binary \(byte 2 is a NUL byte\), not UTF-8 text: save it as UTF-8 CSV/
      )
      const binary = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x1b, 0x5b, 0x32, 0x4a, 0x00, 0x9b, 0xff])
      const refused = await refusal([`sku,quantity\n${sku(0)},1\n`, binary])
      // biome-ignore lint/suspicious/noControlCharactersInRegex: none may get through
      expect(refused.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\ufffd]/)
      expect(refused.rule).toContain("(byte 32 is a NUL byte)")
    })

    it("repeats at most a short prefix of a 50 MB cell, in a rejected row and in a header", async () => {
      const huge = "9".repeat(50 * 1024 * 1024)
      const { result, rejections } = await importCollecting(inventory, [
        "sku,quantity\n",
        `${sku(0)},x${huge}\n`
      ])
      expect(result).toMatchObject({ rejected: 1, applied: 0 })
      expect(rejections[0]!.message).toMatch(/^quantity: [^"]+, not "x9{39}"… \(52,428,801 characters\)$/)
      const header = await Import.importRows(inventory, Readable.from([`${huge},other\n1,2\n`])).catch(
        (error: Error) => error
      )
      expect(header).toMatchObject({ _tag: "InvalidInput", field: "kind" })
      expect((header as Error).message.length).toBeLessThan(400)
    })
  })

  describe("delimiters", () => {
    it("recognises a semicolon or a tab from the header, takes | when given, and refuses another", async () => {
      const semicolons = await importCollecting(inventory, `sku;quantity\n${sku(10)};11\n${sku(11)};12\n`)
      expect(semicolons.result).toMatchObject({ kind: "stock", applied: 2, rejected: 0 })
      const tabs = await importCollecting(inventory, `sku\tdelta\n${sku(10)}\t1\n`)
      expect(tabs.result).toMatchObject({ kind: "adjustments", applied: 1, rejected: 0 })
      // Commas win over semicolons that are only inside a name.
      const names = await importCollecting(inventory, `sku,name\n${sku(12)},"Part; grade A"\n`)
      expect(names.result).toMatchObject({ kind: "products", applied: 1, rejected: 0 })
      expect((await inventory.products.get(sku(12))).name).toBe("Part; grade A")
      const pipes = await importCollecting(inventory, `sku|quantity\n${sku(13)}|13\n`, { delimiter: "|" })
      expect(pipes.result).toMatchObject({ kind: "stock", applied: 1, rejected: 0 })
      const levels = await inventory.stock.list({ text: "P-0001", limit: 1000 })
      expect(Object.fromEntries(levels.items.map((row) => [row.sku, row.onHand]))).toMatchObject({
        [sku(10)]: 12,
        [sku(11)]: 12,
        [sku(13)]: 13
      })
      await expect(
        Import.importRows(inventory, Readable.from(["sku:quantity\n"]), { delimiter: ":" as never })
      ).rejects.toMatchObject({ _tag: "InvalidInput", field: "delimiter" })
    })

    it("says a column is missing with an example that maps one of the file's own columns", async () => {
      await expect(
        Import.importRows(inventory, Readable.from(["Item,quantity\nA,1\n"]))
      ).rejects.toMatchObject({
        field: "sku",
        rule: "no column for it in the header (Item, quantity); stock need sku, quantity: rename a column to sku, or map one to it (Item=sku)"
      })
      await expect(
        Import.importRows(inventory, Readable.from(["sku|quantity\nA|1\n"]), { kind: "stock" })
      ).rejects.toMatchObject({ field: "sku", rule: expect.stringContaining("read as one column") })
    })
  })

  describe("a re-run", () => {
    it("reports the kind the import was applied as, with or without reading the file", async () => {
      const files = {
        products: "sku,name\nK-1,Kind check\n",
        stock: "sku,quantity\nK-1,4\n",
        adjustments: "sku,delta\nK-1,1\n"
      } as const
      for (const [kind, text] of Object.entries(files)) {
        expect((await importCollecting(inventory, text)).result).toMatchObject({ kind, status: "applied" })
        // By content (the file is read again) and by a named id (known before reading).
        expect((await importCollecting(inventory, text)).result).toMatchObject({
          kind,
          status: "already-imported"
        })
        expect((await importCollecting(inventory, text, { importId: `kind-${kind}` })).result.status).toBe(
          "applied"
        )
        expect((await importCollecting(inventory, text, { importId: `kind-${kind}` })).result).toMatchObject({
          kind,
          status: "already-imported"
        })
      }
    })
  })

  describe("export", () => {
    it("escapes formula cells in CSV, and round-trips into an empty store", async () => {
      await inventory.products.add({ sku: "F-1", name: "=HYPERLINK(1)", unit: "@box" })
      // A name that is a quoted formula already: it came back as "=x", as F-1's did.
      await inventory.products.add({ sku: "F-2", name: "'=x", unit: "''+1" })
      await inventory.stock.set("F-1", 3)
      const productsCsv = await collect(Export.exportRows(inventory, "products"))
      expect(productsCsv).toContain("F-1,'=HYPERLINK(1),'@box")
      expect(productsCsv).toContain("F-2,''=x,'''+1")
      const stockCsv = await collect(Export.exportRows(inventory, "stock", { format: "csv" }))
      const ndjson = await collect(Export.exportRows(inventory, "stock", { format: "ndjson" }))
      expect(ndjson.trim().split("\n")).toHaveLength((await levels(inventory)).size)
      const json = JSON.parse(await collect(Export.exportRows(inventory, "movements", { format: "json" })))
      expect(json.length).toBe((await totals(inventory)).movements)
      const since = await collect(
        Export.exportRows(inventory, "movements", { since: new Date(Date.now() + 60_000) })
      )
      expect(since.trim().split("\n")).toHaveLength(1) // the header only

      const copy = await open()
      try {
        expect((await importCollecting(copy, productsCsv)).result).toMatchObject({
          status: "applied",
          rejected: 0
        })
        expect((await importCollecting(copy, stockCsv)).result).toMatchObject({
          status: "applied",
          rejected: 0
        })
        const strip = (text: string) =>
          text
            .trim()
            .split("\n")
            .map((line) => line.replace(/,[^,]*,[^,]*$/, "")) // createdAt, updatedAt
        expect(strip(await collect(Export.exportRows(copy, "products")))).toEqual(strip(productsCsv))
        expect(await levels(copy)).toEqual(await levels(inventory))
        expect(await copy.products.get("F-1")).toMatchObject({ name: "=HYPERLINK(1)", unit: "@box" })
        expect(await copy.products.get("F-2")).toMatchObject({ name: "'=x", unit: "''+1" })
        await query(copy, expectLedgerConsistent)
      } finally {
        await copy.close()
      }
    })
  })

  describe("export on a local store", () => {
    it("writes what the public listings would, past a page, and reads only what changed since a time", async () => {
      // The same inventory without its local store: the export goes through the public listings.
      const listed: Inventory = { ...inventory }
      expect(localStoreOf(listed)).toBeUndefined()
      // More levels and products than one page of the local read (5,000 rows).
      const counts = ["sku,location,quantity"]
      for (let i = 0; i < 5_100; i++) counts.push(`${sku(i)},default,${i % 7}`)
      await importCollecting(inventory, `${counts.join("\n")}\n`)
      expect((await levels(inventory)).size).toBeGreaterThan(5_000)
      for (const kind of ["products", "stock"] as const) {
        for (const format of ["csv", "ndjson", "json"] as const) {
          expect(await collect(Export.exportRows(inventory, kind, { format }))).toBe(
            await collect(Export.exportRows(listed, kind, { format }))
          )
        }
      }
      const movements = JSON.parse(
        await collect(Export.exportRows(inventory, "movements", { format: "json" }))
      )
      expect(movements).toHaveLength((await totals(inventory)).movements)
      expect(movements.map((m: { id: number }) => m.id)).toEqual(
        movements.map((m: { id: number }) => m.id).sort((a: number, b: number) => a - b)
      )

      await inventory.products.add({ sku: "SINCE-1", name: "Before" })
      await new Promise((resolve) => setTimeout(resolve, 20))
      const since = new Date()
      await new Promise((resolve) => setTimeout(resolve, 20))
      await inventory.stock.set("SINCE-1", 4)
      await inventory.products.update("SINCE-1", { name: "Changed since" })
      const lines = async (kind: Export.ExportKind) =>
        (await collect(Export.exportRows(inventory, kind, { since }))).trim().split("\n")
      expect(await lines("products")).toEqual([
        expect.stringMatching(/^sku,name,/),
        expect.stringMatching(/^SINCE-1,Changed since,/)
      ])
      expect(await lines("stock")).toEqual([
        "sku,location,quantity,reserved,version,updatedAt",
        expect.stringMatching(/^SINCE-1,default,4,0,1,/)
      ])
      expect(await lines("movements")).toEqual([
        expect.stringMatching(/^id,at,/),
        expect.stringMatching(/^\d+,[^,]+,SINCE-1,default,4,4,/)
      ])
      for (const kind of ["products", "stock"] as const) {
        expect(await collect(Export.exportRows(inventory, kind, { since }))).toBe(
          await collect(Export.exportRows(listed, kind, { since }))
        )
      }
    })
  })

  describe("numbers and the level limit", () => {
    it("takes a number cell only as decimal digits (and a leading minus for a delta)", async () => {
      const before = await levels(inventory)
      const counts = ["1e3", "+5", "5.0", "0x10", "-0", "1,000"].map(
        (cell, i) => `${sku(9000 + i)},"${cell}"`
      )
      const stock = await importCollecting(
        inventory,
        ["sku,quantity", ...counts, `${sku(9010)},007`].join("\n")
      )
      expect(stock.result).toMatchObject({ kind: "stock", applied: 1, rejected: counts.length })
      for (const rejection of stock.rejections) {
        expect(rejection).toMatchObject({ code: "invalid-value", column: "quantity" })
        expect(rejection.message).toContain(`quantity: ${QUANTITY_TEXT_RULE}, not`)
      }
      const deltas = ["+5", "-0", "1e3", "5.0", "- 3"].map((cell, i) => `${sku(9000 + i)},${cell}`)
      const adjustments = await importCollecting(
        inventory,
        ["sku,delta", ...deltas, `${sku(9011)},-3`, `${sku(9012)},12`].join("\n")
      )
      expect(adjustments.result).toMatchObject({ kind: "adjustments", applied: 2, rejected: deltas.length })
      for (const rejection of adjustments.rejections) {
        expect(rejection.message).toContain(`delta: ${DELTA_TEXT_RULE}, not`)
      }
      const after = await levels(inventory)
      expect(after.get(`${sku(9010)}@default`)).toBe(7)
      expect(after.get(`${sku(9012)}@default`)).toBe(before.get(`${sku(9012)}@default`)! + 12)
      expect(after.get(`${sku(9000)}@default`)).toBe(before.get(`${sku(9000)}@default`))
    })

    it("takes each cell as written: spaces around a SKU, a number or a name are refused, never trimmed", async () => {
      const before = await totals(inventory)
      const products = await importCollecting(
        inventory,
        ["sku,name,unit,reorder_point,active", ` SP-1,Spaced,each,1,yes`, `SP-2, Spaced ,each,1,yes`]
          .concat([`SP-3,Spaced,box ,1,yes`, `SP-4,Spaced,each, 1,yes`, `SP-5,Spaced,each,1, yes`])
          .join("\n")
      )
      expect(products.result).toMatchObject({ kind: "products", applied: 0, rejected: 5 })
      expect(products.rejections.map((r) => [r.line, r.column, r.code])).toEqual([
        [2, "sku", "invalid-value"],
        [3, "name", "invalid-value"],
        [4, "unit", "invalid-value"],
        [5, "reorder_point", "invalid-value"],
        [6, "active", "invalid-value"]
      ])
      expect(products.rejections[0]!.message).toContain('not " SP-1"')
      expect(products.rejections[1]!.message).toBe(`name: ${SPACES_RULE}, not " Spaced "`)
      expect(products.rejections[3]!.message).toContain(`${QUANTITY_TEXT_RULE}, not " 1"`)
      const counts = await importCollecting(
        inventory,
        [`{"sku":"${sku(9300)} ","quantity":5}`, `{"sku":"${sku(9301)}","quantity":" 5"}`].join("\n"),
        { format: "ndjson" }
      )
      expect(counts.result).toMatchObject({ kind: "stock", applied: 0, rejected: 2 })
      expect(counts.rejections.map((r) => r.column)).toEqual(["sku", "quantity"])
      expect(await totals(inventory)).toEqual(before)
      expect((await inventory.products.list({ text: "SP-" })).items).toEqual([])
    })

    it("refuses an actor with control characters before reading a row", async () => {
      const before = await totals(inventory)
      await expect(
        Import.importRows(inventory, Readable.from([`sku,delta\n${sku(9200)},1\n`]), {
          actor: "ann\u001b[2J"
        })
      ).rejects.toMatchObject({ _tag: "InvalidInput", field: "actor", rule: ACTOR_RULE })
      // Nor an empty one: the ledger would record a change by no one.
      await expect(
        Import.importRows(inventory, Readable.from([`sku,delta\n${sku(9200)},1\n`]), { actor: "" })
      ).rejects.toMatchObject({ _tag: "InvalidInput", field: "actor" })
      expect(await totals(inventory)).toEqual(before)
    })

    it("imports a level at the limit, refuses an adjustment past it, and exports what imports back", async () => {
      const full = await importCollecting(
        inventory,
        `sku,location,quantity\n${sku(9100)},default,${MAX_LEVEL}\n`
      )
      expect(full.result).toMatchObject({ applied: 1, rejected: 0 })
      const past = await importCollecting(inventory, `sku,delta\n${sku(9100)},1\n${sku(9101)},1\n`)
      expect(past.result).toMatchObject({ applied: 1, rejected: 1 })
      expect(past.rejections).toMatchObject([{ line: 2, code: "too-large", column: "delta" }])
      expect(past.rejections[0]!.message).toContain(`at most ${MAX_LEVEL}`)
      await expect(inventory.stock.adjust(sku(9100), 1)).rejects.toMatchObject({
        _tag: "InvalidInput",
        field: "delta"
      })
      expect((await levels(inventory)).get(`${sku(9100)}@default`)).toBe(MAX_LEVEL)

      const productsCsv = await collect(Export.exportRows(inventory, "products"))
      const stockCsv = await collect(Export.exportRows(inventory, "stock", { format: "csv" }))
      const copy = await open()
      try {
        expect((await importCollecting(copy, productsCsv)).result).toMatchObject({ rejected: 0 })
        expect((await importCollecting(copy, stockCsv)).result).toMatchObject({ rejected: 0 })
        expect(await levels(copy)).toEqual(await levels(inventory))
      } finally {
        await copy.close()
      }
    })
  })
}
