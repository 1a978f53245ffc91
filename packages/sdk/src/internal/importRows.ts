/**
 * Reading an import: CSV (csv-parse) or NDJSON, streamed, each row mapped to the kind's fields and
 * validated with the core's schemas. Rows pass from step to step a chunk of the input at a time
 * (an array each), not one by one: a promise per row per step cost more than reading the row.
 * Holds one chunk at a time, whatever the size of the input.
 */
import { createHash } from "node:crypto"
import { createInterface } from "node:readline"
import { pipeline, Readable } from "node:stream"
import type { Options as CsvOptions } from "csv-parse"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidInput } from "../InventoryError.js"
import { DEFAULT_LOCATION, LocationCode } from "../Location.js"
import { NewProduct, ProductPatch } from "../Product.js"
import {
  DELTA_TEXT_RULE,
  isCode,
  isDelta,
  isQuantity,
  parseDelta,
  parseQuantity,
  QUANTITY_TEXT_RULE,
  quoteInput,
  shortenInput
} from "../Rules.js"
import { Delta, Quantity, Sku } from "../Stock.js"
import { csvParse } from "./loadedOnUse.js"
import { ruleOf } from "./validation.js"

export type ImportKind = "products" | "stock" | "adjustments"
export const IMPORT_KINDS: ReadonlyArray<ImportKind> = ["products", "stock", "adjustments"]
export type ImportFormat = "csv" | "ndjson"
/** What may separate a CSV file's columns; without one given, the header line says which it is. */
export const DELIMITERS = [",", ";", "\t", "|"] as const
export type Delimiter = (typeof DELIMITERS)[number]

export type RejectionCode =
  | "column-count"
  | "invalid-json"
  | "missing-value"
  | "invalid-value"
  | "duplicate"
  | "unknown-sku"
  | "unknown-location"
  | "unknown-supplier"
  | "insufficient-stock"
  | "held-stock"
  | "too-large"

/** A row that was not imported: where it is, which column, why, and the row itself (to fix it). */
export interface Rejection {
  /** The line of the file the row starts on (1 is the CSV header); the position for an iterable of objects. */
  readonly line: number
  /** The column as the file names it, or null when the whole row is at fault. */
  readonly column: string | null
  readonly code: RejectionCode
  readonly message: string
  /** The row's values by the kind's field names, as read. */
  readonly row: Readonly<Record<string, unknown>>
}

/** Each kind's fields, in the order exports and error files write them. */
export const FIELDS: Readonly<Record<ImportKind, ReadonlyArray<string>>> = {
  products: [
    "sku",
    "name",
    "unit",
    "reorderPoint",
    "reorderQuantity",
    "maxLevel",
    "preferredSupplier",
    "active"
  ],
  stock: ["sku", "location", "quantity"],
  adjustments: ["sku", "location", "delta"]
}

const REQUIRED: Readonly<Record<ImportKind, ReadonlyArray<string>>> = {
  products: ["sku", "name"],
  stock: ["sku", "quantity"],
  adjustments: ["sku", "delta"]
}

const NUMERIC = new Set(["quantity", "delta", "reorderPoint", "reorderQuantity", "maxLevel"])

/** Header names as spreadsheets spell them: any case, with or without `_`, `-` or spaces. */
const SYNONYMS: Readonly<Record<string, string>> = {
  sku: "sku",
  name: "name",
  unit: "unit",
  reorderpoint: "reorderPoint",
  reorderquantity: "reorderQuantity",
  maxlevel: "maxLevel",
  preferredsupplier: "preferredSupplier",
  active: "active",
  location: "location",
  quantity: "quantity",
  onhand: "quantity",
  delta: "delta"
}

/** Columns that exports write for reading, not for importing: left out without a notice. */
const EXPORT_ONLY = new Set(["createdat", "updatedat", "reserved", "available", "version"])

const squash = (name: string) => name.toLowerCase().replace(/[\s_-]/g, "")

/**
 * A record's own entry only: a column named `constructor`, `toString` or `__proto__` is a name
 * like any other, not the way to `Object.prototype` (which crashed the import).
 */
const own = (record: Readonly<Record<string, string>>, key: string): string | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined

/** The field a column feeds, or undefined when the importer has no use for it. */
export const fieldOf = (column: string, map: Readonly<Record<string, string>>): string | undefined => {
  const mapped = own(map, column) ?? own(map, column.trim())
  return mapped !== undefined ? (own(SYNONYMS, squash(mapped)) ?? mapped) : own(SYNONYMS, squash(column))
}

/** The kind a header says: a delta column means adjustments, a quantity stock, a name products. */
export const kindOfFields = (fields: ReadonlySet<string>): ImportKind | undefined =>
  fields.has("delta")
    ? "adjustments"
    : fields.has("quantity")
      ? "stock"
      : fields.has("name")
        ? "products"
        : undefined

// ---------------------------------------------------------------------------------------------
// Validation: the core's schemas, fed from text cells

const ProductRow = Schema.Struct({
  ...ProductPatch.fields,
  sku: Sku,
  name: NewProduct.fields.name
})
const Location = Schema.optionalWith(LocationCode, { default: () => DEFAULT_LOCATION })
const CountRow = Schema.Struct({ sku: Sku, location: Location, quantity: Quantity })
const AdjustmentRow = Schema.Struct({ sku: Sku, location: Location, delta: Delta })

export type ProductRow = typeof ProductRow.Type
export type CountRow = typeof CountRow.Type
export type AdjustmentRow = typeof AdjustmentRow.Type
export type ValidRow = ProductRow | CountRow | AdjustmentRow

/**
 * Every CSV the project writes prefixes a text cell that a spreadsheet would run as a formula with
 * a quote (csv-stringify's `escape_formulas`: `=`, `+`, `-`, `@`, tab, carriage return and their
 * full-width forms), and one more quote to a cell that is such a formula behind quotes already
 * (`'=x`, `QUOTED_FORMULA`); reading it back takes one quote off, so an export imports as is:
 * `=x` and `'=x` both came back as `=x` when only the first was quoted.
 */
export const QUOTED_FORMULA = /^'+[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/
const unescapeCell = (text: string) => (QUOTED_FORMULA.test(text) ? text.slice(1) : text)

const TRUE = new Set(["true", "yes", "1"])
const FALSE = new Set(["false", "no", "0"])

/** A number cell's text: a delta by its rule, every other number (a count) by the quantity's. */
const parseNumberCell = (field: string, text: string) =>
  field === "delta" ? parseDelta(text) : parseQuantity(text)

/**
 * A cell as the schema wants it: empty is absent, numbers and booleans parsed when they read as
 * such. A number cell not written by the rule is left as text, for `numberCellProblem` to name.
 * Nothing is trimmed: a cell is taken as written or refused by its field's rule (" 5", " A-1" and
 * " Widget" are refused), so what is stored is what the file says.
 */
const cellValue = (field: string, text: unknown): unknown => {
  if (typeof text !== "string") return text ?? undefined
  // Unescaped once already, as the row was read (`rowOf`): a second time took `''=x` to `=x`.
  if (text === "") return undefined
  if (NUMERIC.has(field)) return parseNumberCell(field, text) ?? text
  if (field === "active") {
    const lower = text.toLowerCase()
    return TRUE.has(lower) ? true : FALSE.has(lower) ? false : text
  }
  return text
}

const decoders: Record<ImportKind, (input: unknown) => Either.Either<ValidRow, ParseResult.ParseError>> = {
  products: Schema.decodeUnknownEither(ProductRow, { errors: "first", onExcessProperty: "ignore" }),
  stock: Schema.decodeUnknownEither(CountRow, { errors: "first", onExcessProperty: "ignore" }),
  adjustments: Schema.decodeUnknownEither(AdjustmentRow, { errors: "first", onExcessProperty: "ignore" })
}

/**
 * A stock or adjustment row the schemas would take, decoded without them: the same checks as
 * `Sku`, `LocationCode`, `Quantity` and `Delta`, as plain code, for the million-row case. Any row
 * it does not vouch for (undefined) goes through the schema, which words the rejection.
 */
const plainStockRow = (
  kind: "stock" | "adjustments",
  sku: unknown,
  location: unknown,
  amount: unknown
): ValidRow | undefined => {
  if (typeof sku !== "string" || !isCode(sku)) return undefined
  if (location !== undefined && (typeof location !== "string" || !isCode(location))) return undefined
  const place = (location as string | undefined) ?? DEFAULT_LOCATION
  if (typeof amount !== "number") return undefined
  if (kind === "stock") return isQuantity(amount) ? { sku, location: place, quantity: amount } : undefined
  return isDelta(amount) ? { sku, location: place, delta: amount } : undefined
}

/** The field holding a stock or adjustment row's number. */
const amountField = (kind: "stock" | "adjustments") => (kind === "stock" ? "quantity" : "delta")

/** Where a CSV record's stock fields are: the cells of the sku, the location (if any) and the amount. */
interface StockCells {
  readonly sku: number
  readonly location: number | undefined
  readonly amount: number
}

/**
 * `plainStockRow` straight from a CSV record's cells, for the million-row file: no row of fields
 * is built first. The cells are taken as written (a code has no `'`, so there is no formula
 * escape to undo; an empty location is the default one, as `cellValue` reads it); any row it
 * does not vouch for goes the general way.
 */
const plainCsvStockRow = (
  kind: "stock" | "adjustments",
  at: StockCells,
  cells: ReadonlyArray<string>
): ValidRow | undefined => {
  const location = at.location === undefined ? undefined : cells[at.location]
  const text = cells[at.amount]
  return plainStockRow(
    kind,
    cells[at.sku],
    location === "" ? undefined : location,
    text === undefined ? undefined : parseNumberCell(amountField(kind), text)
  )
}

// ---------------------------------------------------------------------------------------------
// Reading

export type ImportSource = AsyncIterable<string | Uint8Array | Readonly<Record<string, unknown>>>

export interface ReadOptions {
  readonly format?: ImportFormat | undefined
  readonly kind?: ImportKind | undefined
  /** Column name in the file → field name (`{ count: "quantity" }`). */
  readonly map?: Readonly<Record<string, string>> | undefined
  /** CSV only; default: a semicolon or a tab when the header line has more of them than commas. */
  readonly delimiter?: Delimiter | undefined
}

export type ReadEvent =
  | {
      readonly type: "start"
      readonly kind: ImportKind
      readonly format: ImportFormat | "objects"
      /** Columns the importer has no field for; `error_*` columns of an errors file are left out. */
      readonly ignoredColumns: ReadonlyArray<string>
    }
  | { readonly type: "row"; readonly line: number; readonly row: ValidRow }
  | { readonly type: "rejected"; readonly rejection: Rejection }

/** How far the reading got: for progress and the content hash. */
export interface ReadProgress {
  bytes: number
  rows: number
  readonly hash: ReturnType<typeof createHash>
}

/**
 * One record of the input: a CSV line's values in the header's order (the header's names, for
 * the header), or an NDJSON line's or an iterable's object, by the file's own column names.
 */
interface RawRecord {
  readonly line: number
  readonly cells: ReadonlyArray<string> | Readonly<Record<string, unknown>>
  readonly problem?: { readonly code: RejectionCode; readonly message: string }
}

const isChunk = (value: unknown): value is string | Uint8Array =>
  typeof value === "string" || value instanceof Uint8Array

const notText = (what: string) =>
  new InvalidInput({
    field: "file",
    rule: `is ${what}, not UTF-8 text: save it as UTF-8 CSV (or NDJSON) and import that`
  })

const startsWithUtf16Bom = (bytes: Uint8Array) =>
  (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)

/** Counts and hashes the bytes as they pass; refuses bytes that are not UTF-8 text. */
async function* metered(
  first: string | Uint8Array,
  rest: AsyncIterator<unknown>,
  progress: ReadProgress
): AsyncGenerator<Uint8Array> {
  let chunk: unknown = first
  while (true) {
    if (!isChunk(chunk)) throw new InvalidInput({ field: "source", rule: "mixes text chunks and objects" })
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
    if (progress.bytes === 0 && startsWithUtf16Bom(bytes)) {
      throw notText("UTF-16 (it starts with a UTF-16 byte order mark)")
    }
    // No text holds a NUL byte; UTF-16 and binary files are full of them.
    const nul = bytes.indexOf(0)
    if (nul >= 0) throw notText(`UTF-16 or binary (byte ${progress.bytes + nul + 1} is a NUL byte)`)
    progress.bytes += bytes.byteLength
    progress.hash.update(bytes)
    yield bytes
    const next = await rest.next()
    if (next.done) return
    chunk = next.value
  }
}

const LINE_BREAK = /\r\n|\r|\n/g

/** The delimiter a header line uses: a semicolon or a tab where it has more of them than commas. */
export const delimiterOf = (headerLine: string): Delimiter => {
  const count = (delimiter: Delimiter) => headerLine.split(delimiter).length - 1
  return ([",", ";", "\t"] as const).reduce((best, next) => (count(next) > count(best) ? next : best))
}

/** The first line (up to 64 KiB of it), and all the bytes again. */
const peekFirstLine = async (bytes: AsyncIterable<Uint8Array>) => {
  const iterator = bytes[Symbol.asyncIterator]()
  const head: Array<Uint8Array> = []
  let size = 0
  while (size < 65_536) {
    const next = await iterator.next()
    if (next.done) break
    head.push(next.value)
    size += next.value.byteLength
    if (next.value.includes(0x0a) || next.value.includes(0x0d)) break
  }
  const start = Buffer.concat(head)
  async function* all() {
    yield start
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value
  }
  return { firstLine: start.toString("utf8").split(/\r|\n/, 1)[0] ?? "", bytes: all() }
}

const QUOTE_INSIDE = `put the whole cell in quotes and write each " inside it as ""`

/**
 * What csv-parse could not read, as a rule about the file: the line and what to fix. An unclosed
 * quote is found only at the end of the file, so it is placed after the last row read whole.
 * csv-parse counts from where it started, after `linesBefore` lines read without it.
 */
const unreadable = (error: unknown, linesBefore: number, afterLastRow: number): InvalidInput => {
  const { code, lines } = (error ?? {}) as { code?: unknown; lines?: unknown }
  const at = linesBefore + (typeof lines === "number" ? lines : afterLastRow)
  const [line, problem] =
    code === "CSV_QUOTE_NOT_CLOSED"
      ? [
          linesBefore + afterLastRow,
          `a quoted value starts on or after it and is never closed; end it with " (a " inside a quoted value is written "")`
        ]
      : // csv-parse 7 names this one without its CSV_ prefix.
        code === "INVALID_OPENING_QUOTE"
        ? [at, `a quote stands inside a cell that does not start with one; ${QUOTE_INSIDE}`]
        : code === "CSV_INVALID_CLOSING_QUOTE" || code === "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE"
          ? [at, `a quote ends a value but the cell goes on after it; ${QUOTE_INSIDE}`]
          : [at, "cannot be read as CSV; check its quotes, and that the delimiter is the header's"]
  return new InvalidInput({ field: "file", rule: `line ${line}: ${problem}` })
}

type ParsedRecord = { record: Array<string>; emptyLines: number }

const QUOTE = 0x22
const LF = 0x0a
const CR = 0x0d
const UTF8_BOM = [0xef, 0xbb, 0xbf]

/** Where the lines of `bytes` before `end` last break (-1: nowhere): after a CR or an LF. */
const lastBreakBefore = (bytes: Buffer, end: number) =>
  // A negative offset would count from the end of the bytes.
  end <= 0 ? -1 : Math.max(bytes.lastIndexOf(LF, end - 1), bytes.lastIndexOf(CR, end - 1))

/**
 * The records of a CSV file for as long as its lines hold no quote, split by hand: on such lines
 * csv-parse reads what a split reads, at about fifteen times its cost (two thirds of reading a
 * plain file). Line breaks, quotes and the delimiters are ASCII, which UTF-8 never uses inside a
 * character, so the bytes are cut at line breaks before they are decoded. At the first line with
 * a quote, returns that line and all that follows, for csv-parse, with the lines read before it.
 */
async function* plainRecords(
  bytes: AsyncIterable<Uint8Array>,
  delimiter: Delimiter,
  toRecord: (line: number, record: Array<string>) => RawRecord
): AsyncGenerator<Array<RawRecord>, { lines: number; rest: AsyncIterable<Uint8Array> }> {
  const iterator = bytes[Symbol.asyncIterator]()
  // The bytes of a line not yet ended, in pieces: joined once its end arrives, not per chunk.
  let pending: Array<Buffer> = []
  let pendingBytes = 0
  let line = 0
  let first = true
  const lines = (text: string) => {
    const all = text.split(/\r\n|\r|\n/)
    // A text of whole lines ends with a break: the last piece is empty, not a line.
    if (all[all.length - 1] === "") all.pop()
    const records: Array<RawRecord> = []
    for (const value of all) {
      line += 1
      if (value !== "") records.push(toRecord(line, value.split(delimiter)))
    }
    return records
  }
  while (true) {
    const next = await iterator.next()
    if (next.done) {
      const last = lines(Buffer.concat(pending).toString("utf8"))
      if (last.length > 0) yield last
      return { lines: line, rest: (async function* () {})() }
    }
    let chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
    if (first) {
      first = false
      if (UTF8_BOM.every((byte, index) => chunk[index] === byte)) chunk = chunk.subarray(3)
    }
    const quote = chunk.indexOf(QUOTE)
    const breaks = chunk.indexOf(LF) >= 0 || chunk.indexOf(CR) >= 0
    if (quote < 0 && !breaks) {
      pending.push(chunk)
      pendingBytes += chunk.length
      continue
    }
    const text = pending.length === 0 ? chunk : Buffer.concat([...pending, chunk])
    if (quote >= 0) {
      // csv-parse reads on from the start of the line that holds the quote.
      const start = lastBreakBefore(text, pendingBytes + quote) + 1
      const before = lines(text.toString("utf8", 0, start))
      if (before.length > 0) yield before
      const rest = text.subarray(start)
      return {
        lines: line,
        rest: (async function* () {
          yield rest
          for (let more = await iterator.next(); !more.done; more = await iterator.next()) yield more.value
        })()
      }
    }
    // A CR at the very end may be the first half of a CRLF: it waits for the next bytes.
    const end = text[text.length - 1] === CR ? text.length - 1 : text.length
    const whole = lastBreakBefore(text, end) + 1
    const records = lines(text.toString("utf8", 0, whole))
    if (records.length > 0) yield records
    pending = [text.subarray(whole)]
    pendingBytes = text.length - whole
  }
}

async function* csvRecords(
  source: AsyncIterable<Uint8Array>,
  given: Delimiter | undefined
): AsyncGenerator<Array<RawRecord>> {
  const { firstLine, bytes } = await peekFirstLine(source)
  const delimiter = given ?? delimiterOf(firstLine)
  let header: ReadonlyArray<string> | undefined
  const toRecord = (line: number, record: Array<string>): RawRecord => {
    if (header === undefined) {
      header = record.map((name) => name.trim())
      return { line, cells: header }
    }
    return record.length === header.length
      ? { line, cells: record }
      : {
          line,
          cells: record,
          problem: {
            code: "column-count",
            message: `has ${record.length} values but the header has ${header.length} columns; check for a missing or extra comma, or quote values that contain one`
          }
        }
  }

  const plain = plainRecords(bytes, delimiter, toRecord)
  let step = await plain.next()
  for (; !step.done; step = await plain.next()) yield step.value
  const { lines: linesBefore, rest } = step.value

  // The parser's own count, kept as it parses: its error can overtake the rows still queued.
  let parsedLines = 0
  const options: CsvOptions<ParsedRecord, Array<string>> = {
    // The context csv-parse builds for each record (an object spread per row) is built once,
    // here: its `info: true` option would build it a second time.
    on_record: (record, context): ParsedRecord => {
      parsedLines = context.lines
      return { record, emptyLines: context.empty_lines }
    },
    bom: true,
    delimiter,
    // Named, not discovered: the discovery costs allocations per byte of the first line (a 50 MB
    // header took 26 s), and any of these ends a line.
    record_delimiter: ["\r\n", "\n", "\r"],
    relax_column_count: true,
    skip_empty_lines: true
  }
  // The typings tie what on_record answers to the columns option; the parser passes it on as it is.
  const parser = csvParse().parse(options as unknown as CsvOptions)
  // The reading's own failure (bytes that are not text) reaches the parser, and so the loop below.
  pipeline(Readable.from(rest), parser, () => {})
  const records = (parser as AsyncIterable<ParsedRecord>)[Symbol.asyncIterator]()
  let lastLine = linesBefore
  let emptyLines = 0
  while (true) {
    let next: IteratorResult<ParsedRecord>
    try {
      next = await records.next()
    } catch (error) {
      // Ours (the bytes are not text) as it is; the parser's, with the line the row starts on.
      if (error instanceof InvalidInput) throw error
      throw unreadable(error, linesBefore, parsedLines + 1)
    }
    if (next.done) return
    const { record, emptyLines: emptyLinesSoFar } = next.value
    // A row is reported by the line it starts on. Counted here, from the line breaks inside
    // quoted values: csv-parse's own count takes a CRLF inside quotes for two lines.
    const line = lastLine + 1 + (emptyLinesSoFar - emptyLines)
    let breaks = 0
    for (const value of record) {
      if (value.includes("\n") || value.includes("\r")) breaks += value.match(LINE_BREAK)?.length ?? 0
    }
    lastLine = line + breaks
    emptyLines = emptyLinesSoFar
    // One at a time: quoted files are rare, and csv-parse costs far more than the promise.
    yield [toRecord(line, record)]
  }
}

async function* ndjsonRecords(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<Array<RawRecord>> {
  const lines = createInterface({ input: Readable.from(bytes), crlfDelay: Number.POSITIVE_INFINITY })
  let line = 0
  for await (const raw of lines) {
    line += 1
    const text = (line === 1 ? raw.replace(/^\uFEFF/, "") : raw).trim()
    if (text === "") continue
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      yield [
        {
          line,
          cells: {},
          problem: {
            code: "invalid-json",
            message: `is not JSON: ${quoteInput(text)}; write one object per line`
          }
        }
      ]
      continue
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      yield [
        {
          line,
          cells: {},
          problem: { code: "invalid-json", message: "is not a JSON object; write one object per line" }
        }
      ]
      continue
    }
    yield [{ line, cells: value as Record<string, unknown> }]
  }
}

async function* objectRecords(
  first: unknown,
  rest: AsyncIterator<unknown>,
  progress: ReadProgress
): AsyncGenerator<Array<RawRecord>> {
  let value = first
  let line = 0
  while (true) {
    line += 1
    if (value === null || typeof value !== "object" || isChunk(value)) {
      throw new InvalidInput({
        field: "source",
        rule: "must yield text chunks, bytes, or row objects, not a mix"
      })
    }
    progress.hash.update(JSON.stringify(value))
    yield [{ line, cells: value as Record<string, unknown> }]
    const next = await rest.next()
    if (next.done) return
    value = next.value
  }
}

const sniffFormat = (first: string | Uint8Array): ImportFormat => {
  const text = (typeof first === "string" ? first : Buffer.from(first.subarray(0, 64)).toString("utf8"))
    .replace(/^\uFEFF/, "")
    .trimStart()
  return text.startsWith("{") ? "ndjson" : "csv"
}

const LISTED_COLUMNS = 10

/**
 * A header as errors repeat it: its first columns, each cut short; with one column, a hint that
 * the file may use another delimiter.
 */
const listColumns = (columns: ReadonlyArray<string>, format: ImportFormat | "objects"): string => {
  const listed = columns.slice(0, LISTED_COLUMNS).map(shortenInput).join(", ")
  const more = columns.length > LISTED_COLUMNS ? `, … ${columns.length} columns in all` : ""
  const single =
    columns.length === 1 && format === "csv"
      ? `, read as one column: if another character separates the columns, give it as the delimiter`
      : ""
  return `${listed}${more}${single}`
}

/**
 * The rows of an import, validated, in file order, a chunk of the input at a time. The kind comes
 * from `options.kind` or from the header (the first object, for NDJSON). A header that lacks a
 * required column fails the whole import with InvalidInput: no row could be read.
 */
export async function* readImport(
  source: ImportSource,
  options: ReadOptions,
  progress: ReadProgress
): AsyncGenerator<ReadonlyArray<ReadEvent>> {
  const iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
  const head = await iterator.next()
  if (head.done)
    throw new InvalidInput({ field: "file", rule: "is empty; give a header and at least one row" })
  const format = isChunk(head.value) ? (options.format ?? sniffFormat(head.value)) : "objects"
  const batches = isChunk(head.value)
    ? format === "csv"
      ? csvRecords(metered(head.value, iterator, progress), options.delimiter)
      : ndjsonRecords(metered(head.value, iterator, progress))
    : objectRecords(head.value, iterator, progress)
  const map = options.map ?? {}

  let kind: ImportKind | undefined
  const fieldByColumn = new Map<string, string | undefined>()
  const fieldOfColumn = (column: string) => {
    if (!fieldByColumn.has(column)) fieldByColumn.set(column, fieldOf(column, map))
    return fieldByColumn.get(column)
  }
  const columnOfField = (field: string) =>
    [...fieldByColumn.entries()].find(([, f]) => f === field)?.[0] ?? field

  const start = (columns: ReadonlyArray<string>): ReadEvent => {
    const fields = new Set(columns.map(fieldOfColumn).filter((field) => field !== undefined))
    const header = listColumns(columns, format)
    kind = options.kind ?? kindOfFields(fields)
    if (kind === undefined) {
      throw new InvalidInput({
        field: "kind",
        rule: `cannot tell from the columns (${header}) whether these are products, stock levels or adjustments; set the kind to products, stock or adjustments, or name the columns as in docs/import.md`
      })
    }
    const missing = REQUIRED[kind].filter((field) => !fields.has(field))
    if (missing.length > 0 && format === "csv") {
      const field = missing[0]!
      // The example maps a column the importer has no use for: the likeliest to hold the field.
      const unused = columns.find((column) => fieldOfColumn(column) === undefined)
      const column = unused === undefined || /[\s="']/.test(unused) ? "COLUMN" : shortenInput(unused)
      throw new InvalidInput({
        field,
        rule: `no column for it in the header (${header}); ${kind} need ${REQUIRED[kind].join(", ")}: rename a column to ${field}, or map one to it (${column}=${field})`
      })
    }
    const known = new Set(FIELDS[kind])
    return {
      type: "start",
      kind,
      format,
      ignoredColumns: columns.filter((column) => {
        const field = fieldOfColumn(column)
        return (
          (field === undefined || !known.has(field)) &&
          !column.startsWith("error_") &&
          !EXPORT_ONLY.has(squash(column))
        )
      })
    }
  }

  /** (index, field) of the columns a CSV record feeds, in the order the header's names go. */
  let csvFields: ReadonlyArray<readonly [number, string]> = []
  /** A record's values by the kind's field names, as read: the row a rejection shows. */
  const rowOf = (cells: RawRecord["cells"]) => {
    const row: Record<string, unknown> = {}
    if (format === "csv") {
      for (const [index, field] of csvFields) {
        const value = (cells as ReadonlyArray<string>)[index]
        row[field] = value === undefined ? value : unescapeCell(value)
      }
      return row
    }
    for (const [column, value] of Object.entries(cells)) {
      const field = fieldOfColumn(column)
      // JSON has no formulas to escape: its text is taken as written.
      if (field !== undefined) row[field] = value
    }
    return row
  }

  /** The cells of the stock fields, for `plainCsvStockRow`; set with the header of a CSV file. */
  let stockCells: StockCells | undefined
  const eventOf = (kind: ImportKind, record: RawRecord): ReadEvent => {
    if (stockCells !== undefined && kind !== "products" && record.problem === undefined) {
      const plain = plainCsvStockRow(kind, stockCells, record.cells as ReadonlyArray<string>)
      if (plain !== undefined) return { type: "row", line: record.line, row: plain }
    }
    const row = rowOf(record.cells)
    if (record.problem) {
      return { type: "rejected", rejection: { line: record.line, column: null, ...record.problem, row } }
    }
    const input: Record<string, unknown> = {}
    for (const field of FIELDS[kind]) {
      // A blank cell is a missing value, not a wrong one.
      const value = cellValue(field, row[field])
      if (value !== undefined) input[field] = value
    }
    const fast =
      kind === "products"
        ? undefined
        : plainStockRow(kind, input.sku, input.location, input[amountField(kind)])
    if (fast !== undefined) return { type: "row", line: record.line, row: fast }
    const notDigits = FIELDS[kind].find((field) => NUMERIC.has(field) && typeof input[field] === "string")
    const decoded = notDigits === undefined ? decoders[kind](input) : undefined
    if (decoded !== undefined && Either.isRight(decoded)) {
      return { type: "row", line: record.line, row: decoded.right }
    }
    const issue =
      decoded === undefined
        ? {
            path: [notDigits!],
            _tag: "Type",
            message: notDigits === "delta" ? DELTA_TEXT_RULE : QUANTITY_TEXT_RULE
          }
        : ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
    const field = String(issue?.path[0] ?? "row")
    const column = columnOfField(field)
    const missing = issue?._tag === "Missing"
    return {
      type: "rejected",
      rejection: {
        line: record.line,
        column,
        code: missing ? "missing-value" : "invalid-value",
        message: missing
          ? `${column}: is required; fill it in`
          : `${column}: ${ruleOf(issue?.message ?? "is invalid")}, not ${quoteInput(row[field])}`,
        row
      }
    }
  }

  for await (const records of batches) {
    const events: Array<ReadEvent> = []
    for (const record of records) {
      if (kind === undefined) {
        if (format === "csv") {
          // The header: a name given twice is one column, whose value is the last cell of that name.
          const header = record.cells as ReadonlyArray<string>
          const columns = Object.keys(Object.fromEntries(header.map((name) => [name, name])))
          events.push(start(columns))
          csvFields = columns.flatMap((column) => {
            const field = fieldOfColumn(column)
            return field === undefined ? [] : [[header.lastIndexOf(column), field] as const]
          })
          // As in `rowOf`, the last column of a field is its value.
          const cellOf = (field: string) => csvFields.filter(([, f]) => f === field).at(-1)?.[0]
          const sku = cellOf("sku")
          const fileKind = kind!
          const amount = fileKind === "products" ? undefined : cellOf(amountField(fileKind))
          if (sku !== undefined && amount !== undefined)
            stockCells = { sku, location: cellOf("location"), amount }
          continue
        }
        events.push(start(Object.keys(record.cells)))
        // The first object is a row too.
      }
      progress.rows += 1
      events.push(eventOf(kind!, record))
    }
    if (events.length > 0) yield events
  }
  if (kind === undefined) throw new InvalidInput({ field: "file", rule: "has no rows" })
}

export const newProgress = (): ReadProgress => ({ bytes: 0, rows: 0, hash: createHash("sha256") })
