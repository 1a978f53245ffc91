import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import { CODE_RULE, isCode, isPlainText, MAX_QUANTITY, showControlCharacters, TEXT_RULE } from "../Rules.js"
import type { Connector, FieldMapping } from "../Supplier.js"
import { checkHost, type FeedRules, readFeedFile } from "./feedAccess.js"
import { csvParseSync } from "./loadedOnUse.js"

/** Why fetching a catalog failed, and whether trying again later can help. */
export interface FeedFailure {
  readonly _tag: "FeedFailure"
  readonly reason: string
  readonly transient: boolean
  readonly retryAfterMs?: number | undefined
}
const permanent = (reason: string): FeedFailure => ({ _tag: "FeedFailure", reason, transient: false })
const transient = (reason: string, retryAfterMs?: number): FeedFailure => ({
  _tag: "FeedFailure",
  reason,
  transient: true,
  retryAfterMs
})

/** One catalog entry as read from the feed, validated. */
export interface FeedItem {
  readonly supplierSku: string
  readonly sku: string | null
  readonly name: string | null
  readonly availability: number | null
  readonly unitCost: number | null
  readonly leadTimeDays: number | null
  readonly minOrderQty: number | null
  readonly packSize: number | null
}

/** An entry that was skipped: `position` is the item's 1-based index (JSON) or line (CSV). */
export interface Rejection {
  readonly position: number
  readonly supplierSku: string | null
  readonly field: string
  readonly message: string
}

export interface Feed {
  readonly items: ReadonlyArray<FeedItem>
  readonly rejections: ReadonlyArray<Rejection>
}

interface RawEntry {
  readonly position: number
  readonly record: unknown
}

/** `Retry-After` is seconds or an HTTP date. */
const retryAfterMs = (header: string | undefined): number | undefined => {
  if (header === undefined) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

const fetchText = (url: string, connector: Connector, rules: FeedRules) =>
  Effect.gen(function* () {
    yield* Effect.mapError(checkHost(url, rules), (refused) => permanent(refused.message))
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.get(url)
    if (connector.apiKey?.in === "header") {
      request = HttpClientRequest.setHeader(request, connector.apiKey.name, connector.apiKey.value)
    } else if (connector.apiKey?.in === "query") {
      request = HttpClientRequest.setUrlParam(request, connector.apiKey.name, connector.apiKey.value)
    }
    const response = yield* client
      .execute(request)
      .pipe(Effect.mapError((error) => transient(`cannot reach ${new URL(url).host}: ${error.message}`)))
    const status = response.status
    if (status === 429 || status === 408 || status >= 500) {
      return yield* Effect.fail(
        transient(`the supplier answered ${status}`, retryAfterMs(response.headers["retry-after"]))
      )
    }
    if (status === 401 || status === 403) {
      return yield* Effect.fail(
        permanent(`the supplier answered ${status}: check the API key in the connector`)
      )
    }
    if (status >= 400) {
      return yield* Effect.fail(permanent(`the supplier answered ${status}: check the connector's URL`))
    }
    return yield* response.text.pipe(
      Effect.mapError((error) => transient(`the answer was cut off: ${error.message}`))
    )
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: connector.timeoutMs,
      onTimeout: () => transient(`no complete answer within ${connector.timeoutMs} ms`)
    })
  )

const at = (value: unknown, path: string): unknown =>
  path === ""
    ? value
    : path
        .split(".")
        .reduce<unknown>(
          (node, key) =>
            node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined,
          value
        )

const describeShape = (value: unknown) =>
  Array.isArray(value)
    ? "an array"
    : value !== null && typeof value === "object"
      ? `an object with ${Object.keys(value).slice(0, 8).join(", ") || "no keys"}`
      : typeof value

const readJson = (connector: Extract<Connector, { type: "http-json" }>, rules: FeedRules) =>
  Effect.flatMap(fetchText(connector.url, connector, rules), (text) => {
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      // The parser's message quotes the answer, which may be anything the URL serves.
      return Effect.fail(
        permanent(`the answer is not valid JSON (${text.length} characters): check the connector's URL`)
      )
    }
    const items = at(body, connector.itemsPath)
    if (!Array.isArray(items)) {
      return Effect.fail(
        permanent(
          `itemsPath "${connector.itemsPath}" does not lead to an array; the answer is ${describeShape(body)}`
        )
      )
    }
    return Effect.succeed(items.map((record, index): RawEntry => ({ position: index + 1, record })))
  })

const readCsv = (connector: Extract<Connector, { type: "csv" }>, rules: FeedRules) =>
  Effect.gen(function* () {
    const text = /^https?:\/\//.test(connector.source)
      ? yield* fetchText(connector.source, connector, rules)
      : yield* Effect.mapError(readFeedFile(connector.source, rules), (refused) => permanent(refused.message))
    const rows = yield* Effect.try({
      try: () =>
        csvParseSync().parse(text, {
          columns: true,
          bom: true,
          delimiter: connector.delimiter,
          skip_empty_lines: true,
          trim: true,
          info: true
        }) as Array<{ record: Record<string, string>; info: { lines: number } }>,
      // The parser's code and line, not its message: that may quote the file.
      catch: (error) => {
        const { code, lines } = error as { code?: string; lines?: number }
        return permanent(`the CSV cannot be read: ${code ?? "malformed"}${lines ? ` at line ${lines}` : ""}`)
      }
    })
    return rows.map(({ record, info }): RawEntry => ({ position: info.lines, record }))
  })

/** Fetches the supplier's catalog as raw entries, classifying failures as transient or permanent. */
export const fetchCatalog = (connector: Connector, rules: FeedRules) =>
  connector.type === "http-json" ? readJson(connector, rules) : readCsv(connector, rules)

class ItemRejected {
  constructor(
    readonly field: string,
    readonly message: string
  ) {}
}

const text = (value: unknown): string | null =>
  value === undefined || value === null || value === ""
    ? null
    : typeof value === "string"
      ? value.trim() || null
      : typeof value === "number"
        ? String(value)
        : null

/** Text the catalog stores and prints: an item carrying control characters is rejected, not cleaned. */
const plainText = (field: string, value: unknown): string | null => {
  const result = text(value)
  if (result !== null && !isPlainText(result)) throw new ItemRejected(field, TEXT_RULE)
  return result
}

const wholeNumber = (field: string, value: unknown, minimum: number): number | null => {
  if (value === undefined || value === null || value === "") return null
  const number = typeof value === "number" ? value : Number(String(value).trim())
  if (!Number.isInteger(number) || number < minimum || number > MAX_QUANTITY) {
    throw new ItemRejected(
      field,
      `must be a whole number of at least ${minimum}, got ${JSON.stringify(value)}`
    )
  }
  return number
}

const amount = (field: string, value: unknown): number | null => {
  if (value === undefined || value === null || value === "") return null
  const number = typeof value === "number" ? value : Number(String(value).trim())
  if (!Number.isFinite(number) || number < 0 || number > 1e10) {
    throw new ItemRejected(field, `must be a non-negative amount, got ${JSON.stringify(value)}`)
  }
  return Math.round(number * 10_000) / 10_000
}

const mapEntry = (record: unknown, fields: FieldMapping): FeedItem => {
  if (record === null || typeof record !== "object") throw new ItemRejected("item", "is not an object")
  const field = (name: string | undefined) => (name === undefined ? undefined : at(record, name))
  const supplierSku = plainText(fields.supplierSku, field(fields.supplierSku))
  if (supplierSku === null)
    throw new ItemRejected(fields.supplierSku, "is missing: every item needs a supplier SKU")
  const sku = text(field(fields.sku))
  if (sku !== null && !isCode(sku)) {
    throw new ItemRejected(fields.sku!, `is not a valid SKU: ${CODE_RULE}, 1-64 characters`)
  }
  return {
    supplierSku,
    sku,
    name: plainText(fields.name ?? "name", field(fields.name))?.slice(0, 200) ?? null,
    availability: wholeNumber(fields.availability ?? "availability", field(fields.availability), 0),
    unitCost: amount(fields.unitCost ?? "unitCost", field(fields.unitCost)),
    leadTimeDays: wholeNumber(fields.leadTimeDays ?? "leadTimeDays", field(fields.leadTimeDays), 0),
    minOrderQty: wholeNumber(fields.minOrderQty ?? "minOrderQty", field(fields.minOrderQty), 1),
    packSize: wholeNumber(fields.packSize ?? "packSize", field(fields.packSize), 1)
  }
}

/**
 * Validates every entry: a bad one is rejected with its position and reason, the rest go on. A
 * feed in which no entry has the supplier-SKU field is a mapping that matches nothing: that is a
 * permanent failure, not a feed of rejects.
 */
export const readEntries = (entries: ReadonlyArray<RawEntry>, fields: FieldMapping) =>
  Effect.suspend(() => {
    const items: Array<FeedItem> = []
    const rejections: Array<Rejection> = []
    const seen = new Set<string>()
    for (const { position, record } of entries) {
      try {
        const item = mapEntry(record, fields)
        if (seen.has(item.supplierSku)) {
          throw new ItemRejected(
            fields.supplierSku,
            `repeats ${item.supplierSku}, already earlier in the feed`
          )
        }
        seen.add(item.supplierSku)
        items.push(item)
      } catch (error) {
        if (!(error instanceof ItemRejected)) throw error
        const value =
          record !== null && typeof record === "object" ? text(at(record, fields.supplierSku)) : null
        // The run keeps the refused item's SKU as readable text, never the control characters.
        const supplierSku = value === null ? null : showControlCharacters(value)
        rejections.push({ position, supplierSku, field: error.field, message: error.message })
      }
    }
    if (entries.length > 0 && items.length === 0 && rejections.every((r) => r.field === fields.supplierSku)) {
      return Effect.fail(
        permanent(
          `the mapping matches nothing: no item has the field "${fields.supplierSku}"; the first item is ${describeShape(entries[0]?.record)}`
        )
      )
    }
    return Effect.succeed<Feed>({ items, rejections })
  })
