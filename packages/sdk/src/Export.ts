/**
 * Bulk export: products, stock levels or ledger movements as CSV, NDJSON or a JSON array,
 * streamed page by page. A products or stock export imports back (`Import.importRows`) to the
 * same state. CSV cells that a spreadsheet would run as a formula are escaped.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { Inventory } from "./Inventory.js"
import { InvalidInput } from "./InventoryError.js"
import { FIELDS } from "./internal/importRows.js"
import { csvStringifySync } from "./internal/loadedOnUse.js"
import { localStoreOf } from "./internal/localStore.js"
import { storeFailure } from "./internal/validation.js"

export type ExportKind = "products" | "stock" | "movements"
export type ExportFormat = "csv" | "ndjson" | "json"

export interface ExportOptions {
  readonly format?: ExportFormat | undefined
  /** Only rows changed (products, levels) or made (movements) at or after this time. */
  readonly since?: Date | string | undefined
}

/**
 * The columns of each export, in order: products and stock start with the import's fields (so an
 * export imports back), then what only an export says.
 */
export const EXPORT_COLUMNS: Readonly<Record<ExportKind, ReadonlyArray<string>>> = {
  products: [...FIELDS.products, "createdAt", "updatedAt"],
  stock: [...FIELDS.stock, "reserved", "version", "updatedAt"],
  movements: ["id", "at", "sku", "location", "delta", "quantityAfter", "reason", "reference", "actor"]
}

type Row = Readonly<Record<string, unknown>>

const PAGE = 1_000

async function* products(inventory: Inventory, since: Date | undefined): AsyncGenerator<Row> {
  for await (const product of inventory.products.all({ limit: PAGE })) {
    if (since === undefined || product.updatedAt >= since) yield product
  }
}

async function* stock(inventory: Inventory, since: Date | undefined): AsyncGenerator<Row> {
  for await (const level of inventory.stock.all({ limit: PAGE })) {
    if (since === undefined || level.updatedAt >= since) {
      yield { ...level, quantity: level.onHand }
    }
  }
}

async function* movements(inventory: Inventory, since: Date | undefined): AsyncGenerator<Row> {
  const local = localStoreOf(inventory)
  if (local !== undefined) {
    // The whole ledger in id order, a page at a time.
    let after = 0
    while (true) {
      const page = await local.run(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<Row & { id: number }>`
            select id, created_at as at, sku, location, delta, quantity_after, reason, reference, actor
            from stock_movements
            where id > ${after} ${since === undefined ? sql`` : sql`and created_at >= ${since}`}
            order by id limit ${PAGE * 5}`.pipe(Effect.mapError(storeFailure))
        )
      )
      yield* page
      if (page.length < PAGE * 5) return
      after = page[page.length - 1]!.id
    }
  }
  // Over a server there is no ledger-wide listing: each product's history, oldest first.
  for await (const product of inventory.products.all({ limit: PAGE })) {
    const own: Array<Row> = []
    let cursor: string | undefined
    do {
      const page = await inventory.stock.history(product.sku, { limit: PAGE, cursor })
      const recent = since === undefined ? page.items : page.items.filter((m) => m.at >= since)
      own.push(...recent)
      cursor = recent.length < page.items.length ? undefined : (page.nextCursor ?? undefined)
    } while (cursor !== undefined)
    yield* own.reverse()
  }
}

/**
 * How every CSV the project writes (exports, an import's errors file) is written: a text cell a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return) gets a leading
 * quote, which the importer takes off again; booleans as true/false, times in ISO 8601.
 */
const CSV_WRITING = {
  escape_formulas: true,
  cast: { boolean: (value: boolean) => String(value), date: (value: Date) => value.toISOString() }
} as const

/** One CSV line (with its line break) of `cells`, written as every CSV of the project is. */
export const csvLine = (cells: ReadonlyArray<unknown>): string =>
  csvStringifySync().stringify([cells], CSV_WRITING)

/**
 * The export as text chunks: write them to a file or stdout as they come. Rejects with
 * InvalidInput for an unknown kind, format or an unreadable `since`.
 */
export async function* exportRows(
  inventory: Inventory,
  kind: ExportKind,
  options: ExportOptions = {}
): AsyncGenerator<string> {
  const format = options.format ?? "csv"
  if (!["products", "stock", "movements"].includes(kind)) {
    throw new InvalidInput({ field: "kind", rule: "must be one of products, stock, movements" })
  }
  if (!["csv", "ndjson", "json"].includes(format)) {
    throw new InvalidInput({ field: "format", rule: "must be one of csv, ndjson, json" })
  }
  const since = options.since === undefined ? undefined : new Date(options.since)
  if (since !== undefined && Number.isNaN(since.getTime())) {
    throw new InvalidInput({ field: "since", rule: "must be a date and time, e.g. 2026-11-25T10:00:00Z" })
  }
  const columns = EXPORT_COLUMNS[kind]
  const rows =
    kind === "products"
      ? products(inventory, since)
      : kind === "stock"
        ? stock(inventory, since)
        : movements(inventory, since)
  const pick = (row: Row) => Object.fromEntries(columns.map((column) => [column, row[column] ?? null]))

  if (format === "csv") yield csvLine(columns)
  if (format === "json") yield "["
  let first = true
  let batch: Array<string> = []
  for await (const row of rows) {
    const picked = pick(row)
    if (format === "csv") batch.push(csvLine(columns.map((column) => picked[column])))
    else if (format === "ndjson") batch.push(`${JSON.stringify(picked)}\n`)
    else {
      batch.push(`${first ? "\n" : ",\n"}${JSON.stringify(picked)}`)
      first = false
    }
    if (batch.length >= 500) {
      yield batch.join("")
      batch = []
    }
  }
  if (batch.length > 0) yield batch.join("")
  if (format === "json") yield first ? "]\n" : "\n]\n"
}
