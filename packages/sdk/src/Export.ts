/**
 * Bulk export: products, stock levels or ledger movements as CSV, NDJSON or a JSON array,
 * streamed page by page. A products or stock export imports back (`Import.importRows`) to the
 * same state. CSV cells that a spreadsheet would run as a formula are escaped.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import type { Inventory } from "./Inventory.js"
import { InvalidInput } from "./InventoryError.js"
import { FIELDS, QUOTED_FORMULA } from "./internal/importRows.js"
import { csvStringifySync } from "./internal/loadedOnUse.js"
import { type LocalStore, localStoreOf } from "./internal/localStore.js"
import { heldAt } from "./internal/reservationWrite.js"
import { storeFailure } from "./internal/validation.js"
import { columns as productColumns } from "./Product.js"
import { MOMENT_RULE, parseMoment } from "./Rules.js"

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

/** Rows per query on a local store: each query is a round trip, and its page is about 0.5–1 MB. */
const LOCAL_PAGE = 5_000

/**
 * On a local store, every row of a table in key order, a page at a time, read with the columns the
 * export writes and nothing else: the public listings' join with products, and their pages of
 * 1,000, were most of a stock export's time. `page(after)` answers the rows after the last key.
 */
async function* localRows<K>(
  local: LocalStore,
  page: (sql: SqlClient.SqlClient, after: K | undefined) => Statement.Statement<Row>,
  keyOf: (row: Row) => K
): AsyncGenerator<Row> {
  let after: K | undefined
  while (true) {
    const rows = await local.run(
      Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.mapError(page(sql, after), storeFailure))
    )
    yield* rows
    if (rows.length < LOCAL_PAGE) return
    after = keyOf(rows[rows.length - 1]!)
  }
}

/** `since` as a condition on `column`, or none. */
const changedSince = (sql: SqlClient.SqlClient, column: string, since: Date | undefined) =>
  since === undefined ? [] : [sql`${sql.unsafe(column)} >= ${since}`]

async function* products(inventory: Inventory, since: Date | undefined): AsyncGenerator<Row> {
  const local = localStoreOf(inventory)
  if (local !== undefined) {
    yield* localRows<string>(
      local,
      (sql, after) => sql<Row>`
        select ${sql.unsafe(productColumns)} from products
        where ${sql.and([...changedSince(sql, "updated_at", since), ...(after === undefined ? [] : [sql`sku > ${after}`])])}
        order by sku limit ${LOCAL_PAGE}`,
      (row) => row.sku as string
    )
    return
  }
  for await (const product of inventory.products.all({ limit: PAGE })) {
    if (since === undefined || product.updatedAt >= since) yield product
  }
}

async function* stock(inventory: Inventory, since: Date | undefined): AsyncGenerator<Row> {
  const local = localStoreOf(inventory)
  if (local !== undefined) {
    yield* localRows<readonly [string, string]>(
      local,
      (sql, after) => sql<Row>`
        select l.sku, l.location, l.on_hand as quantity, ${heldAt(sql, "l")} as reserved, l.version, l.updated_at
        from stock_levels l
        where ${sql.and([
          ...changedSince(sql, "l.updated_at", since),
          ...(after === undefined ? [] : [sql`(l.sku, l.location) > (${after[0]}, ${after[1]})`])
        ])}
        order by l.sku, l.location limit ${LOCAL_PAGE}`,
      (row) => [row.sku as string, row.location as string] as const
    )
    return
  }
  for await (const level of inventory.stock.all({ limit: PAGE })) {
    if (since === undefined || level.updatedAt >= since) {
      yield { ...level, quantity: level.onHand }
    }
  }
}

async function* movements(inventory: Inventory, since: Date | undefined): AsyncGenerator<Row> {
  const local = localStoreOf(inventory)
  if (local !== undefined) {
    // The whole ledger in id order.
    yield* localRows<number>(
      local,
      (sql, after) => sql<Row>`
        select id, created_at as at, sku, location, delta, quantity_after, reason, reference, actor
        from stock_movements
        where ${sql.and([...changedSince(sql, "created_at", since), sql`id > ${after ?? 0}`])}
        order by id limit ${LOCAL_PAGE}`,
      (row) => row.id as number
    )
    return
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
  cast: {
    boolean: (value: boolean) => String(value),
    date: (value: Date) => value.toISOString(),
    // A formula behind quotes already gets one more, which the importer takes off (QUOTED_FORMULA).
    string: (value: string) => (QUOTED_FORMULA.test(value) ? `'${value}` : value)
  }
} as const

/** CSV lines (each with its line break) of `records`, written as every CSV of the project is. */
const csvLines = (records: ReadonlyArray<ReadonlyArray<unknown>>): string =>
  csvStringifySync().stringify(records as Array<Array<unknown>>, CSV_WRITING)

/** One CSV line (with its line break) of `cells`. */
export const csvLine = (cells: ReadonlyArray<unknown>): string => csvLines([cells])

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
  const since =
    options.since === undefined || options.since instanceof Date ? options.since : parseMoment(options.since)
  if (options.since !== undefined && (since === undefined || Number.isNaN(since.getTime()))) {
    throw new InvalidInput({ field: "since", rule: MOMENT_RULE })
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
  // Written 500 rows at a time: one call of the CSV writer for the batch, not one per row.
  let batch: Array<Row> = []
  const written = (page: ReadonlyArray<Row>): string => {
    if (format === "csv") return csvLines(page.map((row) => columns.map((column) => row[column] ?? null)))
    if (format === "ndjson") return page.map((row) => `${JSON.stringify(pick(row))}\n`).join("")
    const text = page
      .map((row, i) => `${first && i === 0 ? "\n" : ",\n"}${JSON.stringify(pick(row))}`)
      .join("")
    first = false
    return text
  }
  for await (const row of rows) {
    batch.push(row)
    if (batch.length >= 500) {
      yield written(batch)
      batch = []
    }
  }
  if (batch.length > 0) yield written(batch)
  if (format === "json") yield first ? "]\n" : "\n]\n"
}
