/**
 * Suppliers and their catalogs. A supplier has a connector (where its catalog is and how to read
 * it) and an optional cron schedule for background syncs. Its catalog items say what it sells,
 * at what cost and pack size, and how many it has: the supplier's availability informs restock
 * orders and is never written into our own stock.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import {
  type InvalidInput,
  type StoreError,
  SupplierAlreadyExists,
  SupplierInUse,
  SupplierNotFound
} from "./InventoryError.js"
import { cronParser } from "./internal/loadedOnUse.js"
import {
  atLeastOneOf,
  BooleanInput,
  decodeInput,
  failOnSqlDefect,
  NameText,
  NumberInput,
  PlainText,
  pgCode,
  storeFailure,
  TextInput
} from "./internal/validation.js"
import { DEFAULT_LIMIT, decodeCursor, Limit, type Page, pageQuery, TextCursor, toPage } from "./Page.js"
import { NAME_MAX_LENGTH, SUPPLIER_ID_MAX_LENGTH, SUPPLIER_ID_PATTERN, SUPPLIER_ID_RULE } from "./Rules.js"

export const SupplierId = TextInput.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(SUPPLIER_ID_MAX_LENGTH, {
    message: () => `must be at most ${SUPPLIER_ID_MAX_LENGTH} characters`
  }),
  Schema.pattern(SUPPLIER_ID_PATTERN, { message: () => SUPPLIER_ID_RULE })
).annotations({ identifier: "SupplierId" })

const FieldName = PlainText.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(200, { message: () => "must be at most 200 characters" })
)

/**
 * Which field (JSON, a dot path inside an item) or column (CSV) holds each value. Only the
 * supplier SKU is required; what is not mapped is left empty or taken from the supplier.
 */
export const FieldMapping = Schema.Struct({
  supplierSku: FieldName,
  name: Schema.optional(FieldName),
  availability: Schema.optional(FieldName),
  unitCost: Schema.optional(FieldName),
  /** Our SKU, when the supplier knows it. */
  sku: Schema.optional(FieldName),
  leadTimeDays: Schema.optional(FieldName),
  minOrderQty: Schema.optional(FieldName),
  packSize: Schema.optional(FieldName)
}).annotations({ identifier: "FieldMapping" })
export type FieldMapping = typeof FieldMapping.Type

export const ApiKey = Schema.Struct({
  /** Sent as a request header (e.g. X-API-Key) or a query parameter (e.g. api_key). */
  in: Schema.Literal("header", "query").annotations({
    message: () => ({ message: "must be header or query", override: true })
  }),
  name: FieldName,
  value: TextInput.pipe(Schema.minLength(1, { message: () => "must not be empty" }))
})
export type ApiKey = typeof ApiKey.Type

const HttpUrl = TextInput.pipe(
  Schema.filter(
    (url) => {
      try {
        return ["http:", "https:"].includes(new URL(url).protocol)
      } catch {
        return false
      }
    },
    { message: () => "must be an http:// or https:// URL" }
  )
)

const Timeout = NumberInput.pipe(
  Schema.int({ message: () => "must be a whole number of milliseconds" }),
  Schema.between(100, 600_000, { message: () => "must be between 100 and 600000 milliseconds" })
)

export const HttpJsonConnector = Schema.Struct({
  type: Schema.Literal("http-json"),
  url: HttpUrl,
  /** Dot path to the item array in the answer (`products`, `data.items`); empty: the answer is the array. */
  itemsPath: Schema.optionalWith(Schema.String, { default: () => "" }),
  fields: FieldMapping,
  apiKey: Schema.optional(ApiKey),
  timeoutMs: Schema.optionalWith(Timeout, { default: () => 10_000 })
}).annotations({ identifier: "HttpJsonConnector" })

export const CsvConnector = Schema.Struct({
  type: Schema.Literal("csv"),
  /** A file path, or an http(s) URL. */
  source: TextInput.pipe(Schema.minLength(1, { message: () => "must not be empty" })),
  columns: FieldMapping,
  delimiter: Schema.optionalWith(
    TextInput.pipe(Schema.length(1, { message: () => "must be one character" })),
    { default: () => "," }
  ),
  apiKey: Schema.optional(ApiKey),
  timeoutMs: Schema.optionalWith(Timeout, { default: () => 10_000 })
}).annotations({ identifier: "CsvConnector" })

export const Connector = Schema.Union(HttpJsonConnector, CsvConnector).annotations({
  identifier: "Connector"
})
export type Connector = typeof Connector.Type

/** A cron expression (five or six fields), checked when saved rather than when it first fires. */
export const Schedule = TextInput.pipe(
  Schema.filter(
    (expression) => {
      try {
        cronParser().parseExpression(expression)
        return expression.trim().split(/\s+/).length >= 5
      } catch {
        return false
      }
    },
    { message: () => "must be a cron expression such as '0 */6 * * *' (every six hours)" }
  )
)

export const Supplier = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  connector: Connector,
  schedule: Schema.NullOr(Schema.String),
  /** Add products that the feed names and our catalog lacks. */
  createMissingProducts: Schema.Boolean,
  /** Lead time of items whose feed does not say. */
  leadTimeDays: Schema.Number,
  active: Schema.Boolean,
  createdAt: Schema.Date,
  updatedAt: Schema.Date
}).annotations({ identifier: "Supplier" })
export type Supplier = typeof Supplier.Type

const Name = NameText(NAME_MAX_LENGTH)
const Days = NumberInput.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.between(0, 3650, { message: () => "must be between 0 and 3650" })
)

export const NewSupplier = Schema.Struct({
  id: SupplierId,
  name: Name,
  connector: Connector,
  schedule: Schema.optionalWith(Schema.NullOr(Schedule), { default: () => null }),
  createMissingProducts: Schema.optionalWith(BooleanInput, { default: () => false }),
  leadTimeDays: Schema.optionalWith(Days, { default: () => 0 })
})
export type NewSupplier = typeof NewSupplier.Encoded

export const SupplierPatch = Schema.Struct({
  name: Schema.optional(Name),
  connector: Schema.optional(Connector),
  schedule: Schema.optional(Schema.NullOr(Schedule)),
  createMissingProducts: Schema.optional(BooleanInput),
  leadTimeDays: Schema.optional(Days),
  active: Schema.optional(BooleanInput)
})
export type SupplierPatch = typeof SupplierPatch.Encoded

/** An update's whole request, the supplier's id with the patch, as `update` checks it. */
const SupplierUpdate = Schema.Struct({ id: SupplierId, ...SupplierPatch.fields })

export const SupplierItem = Schema.Struct({
  supplierId: Schema.String,
  supplierSku: Schema.String,
  sku: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  unitCost: Schema.NullOr(Schema.Number),
  leadTimeDays: Schema.NullOr(Schema.Number),
  minOrderQty: Schema.Number,
  packSize: Schema.Number,
  availability: Schema.NullOr(Schema.Number),
  active: Schema.Boolean,
  updatedAt: Schema.Date
}).annotations({ identifier: "SupplierItem" })
export type SupplierItem = typeof SupplierItem.Type

export const SupplierItemQuery = Schema.Struct({
  active: Schema.optional(BooleanInput),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  cursor: Schema.optional(TextCursor)
})
export type SupplierItemQuery = typeof SupplierItemQuery.Encoded

/** The API key's value never leaves the store in answers: only that one is set. */
/** The suppliers a page at a time, after the last page's supplier id. */
const SupplierPageQuery = pageQuery(TextCursor)

export const redactConnector = (connector: Connector): Connector =>
  connector.apiKey ? { ...connector, apiKey: { ...connector.apiKey, value: REDACTED } } : connector

const REDACTED = "***"

const columns =
  "id, name, connector, schedule, create_missing_products, lead_time_days, active, created_at, updated_at"

export class Suppliers extends Effect.Service<Suppliers>()("@invkit/sdk/Suppliers", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const select = sql.unsafe(columns)

    // Built once: a schema and its decoder cost more to make than the read they check.
    const decodeIdField = decodeInput(Schema.Struct({ id: SupplierId }))
    const decodeId = (id: string) => Effect.map(decodeIdField({ id }), (_) => _.id)

    const add = (
      input: NewSupplier
    ): Effect.Effect<Supplier, InvalidInput | SupplierAlreadyExists | StoreError> =>
      Effect.flatMap(decodeInput(NewSupplier)(input), (supplier) =>
        sql<Supplier>`
          insert into suppliers (id, name, connector, schedule, create_missing_products, lead_time_days)
          values (${supplier.id}, ${supplier.name}, ${JSON.stringify(supplier.connector)}::jsonb, ${supplier.schedule},
                  ${supplier.createMissingProducts}, ${supplier.leadTimeDays})
          returning ${select}`.pipe(
          Effect.map((rows) => rows[0]!),
          Effect.catchTag("SqlError", (error) =>
            Effect.fail(
              pgCode(error) === "23505"
                ? new SupplierAlreadyExists({ supplierId: supplier.id })
                : storeFailure(error)
            )
          )
        )
      )

    const get = (id: string): Effect.Effect<Supplier, InvalidInput | SupplierNotFound | StoreError> =>
      Effect.flatMap(decodeId(id), (id) =>
        sql<Supplier>`select ${select} from suppliers where id = ${id}`.pipe(
          Effect.mapError(storeFailure),
          Effect.flatMap((rows) =>
            rows[0] ? Effect.succeed(rows[0]) : Effect.fail(new SupplierNotFound({ supplierId: id }))
          )
        )
      )

    const update = (
      id: string,
      patch: SupplierPatch
    ): Effect.Effect<Supplier, InvalidInput | SupplierNotFound | StoreError> =>
      Effect.gen(function* () {
        const { id: supplierId, ...patched } = yield* decodeInput(SupplierUpdate)({ ...patch, id })
        const { connector: given, ...rest } = patched
        // "***" is how answers show the stored API key: sent back unchanged, it keeps that key.
        const connector =
          given?.apiKey?.value === REDACTED
            ? yield* Effect.map(get(supplierId), (stored) =>
                stored.connector.apiKey
                  ? { ...given, apiKey: { ...given.apiKey, value: stored.connector.apiKey.value } }
                  : given
              )
            : given
        const changes: Record<string, unknown> = Object.fromEntries(
          Object.entries(rest).filter(([, value]) => value !== undefined)
        )
        if (Object.keys(changes).length === 0 && connector === undefined) {
          return yield* atLeastOneOf(Object.keys(SupplierPatch.fields))
        }
        const rows = yield* sql<Supplier>`
          update suppliers set ${sql.update({ ...changes, updatedAt: new Date() })}
            ${connector === undefined ? sql`` : sql`, connector = ${JSON.stringify(connector)}::jsonb`}
          where id = ${supplierId} returning ${select}`.pipe(Effect.mapError(storeFailure))
        return rows[0] ?? (yield* new SupplierNotFound({ supplierId }))
      })

    const list = (
      query: { readonly limit?: number; readonly cursor?: string } = {}
    ): Effect.Effect<Page<Supplier>, InvalidInput | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeInput(SupplierPageQuery)(query)
        const after = q.cursor === undefined ? undefined : String(decodeCursor(q.cursor)[0])
        const rows = yield* sql<Supplier>`
          select ${select} from suppliers
          ${after === undefined ? sql`` : sql`where id > ${after}`}
          order by id limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.id])
      })

    /** Refused while an open restock order points to the supplier; its items and runs go with it. */
    const remove = (
      id: string
    ): Effect.Effect<void, InvalidInput | SupplierNotFound | SupplierInUse | StoreError> =>
      Effect.gen(function* () {
        const supplierId = yield* decodeId(id)
        const [open] = yield* sql<{ count: number }>`
          select count(*)::int as count from restock_orders
          where supplier_id = ${supplierId} and status in ('draft', 'submitted')`
        if (open && open.count > 0) return yield* new SupplierInUse({ supplierId, openOrders: open.count })
        // Received and cancelled orders keep their history (supplier SKU, cost) but must not hold
        // the supplier: their foreign key would refuse the delete below for ever.
        yield* sql`
          update restock_orders set supplier_id = null
          where supplier_id = ${supplierId} and status not in ('draft', 'submitted')`
        const deleted = yield* sql`delete from suppliers where id = ${supplierId} returning id`
        if (deleted.length === 0) return yield* new SupplierNotFound({ supplierId })
      }).pipe(
        sql.withTransaction,
        failOnSqlDefect,
        Effect.catchTag("SqlError", (error) =>
          Effect.fail(
            // An order opened between the check and the delete still holds a foreign key.
            pgCode(error) === "23503"
              ? new SupplierInUse({ supplierId: id, openOrders: 1 })
              : storeFailure(error)
          )
        )
      )

    const items = (
      id: string,
      query: SupplierItemQuery = {}
    ): Effect.Effect<Page<SupplierItem>, InvalidInput | SupplierNotFound | StoreError> =>
      Effect.gen(function* () {
        const supplier = yield* get(id)
        const q = yield* decodeInput(SupplierItemQuery)(query)
        const after = q.cursor === undefined ? undefined : String(decodeCursor(q.cursor)[0])
        const rows = yield* sql<SupplierItem>`
          select supplier_id, supplier_sku, sku, name, unit_cost::float8 as unit_cost, lead_time_days,
                 min_order_qty, pack_size, availability, active, updated_at
          from supplier_items
          where ${sql.and([
            sql`supplier_id = ${supplier.id}`,
            ...(q.active === undefined ? [] : [sql`active = ${q.active}`]),
            ...(after === undefined ? [] : [sql`supplier_sku > ${after}`])
          ])}
          order by supplier_sku limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.supplierSku])
      })

    const redacted = <E, R>(effect: Effect.Effect<Supplier, E, R>) =>
      Effect.map(effect, (supplier) => ({ ...supplier, connector: redactConnector(supplier.connector) }))

    return {
      add: (input: NewSupplier) => redacted(add(input)),
      get: (id: string) => redacted(get(id)),
      /** With the API key in clear: for the sync, not for display. */
      getWithSecrets: get,
      update: (id: string, patch: SupplierPatch) => redacted(update(id, patch)),
      list: (query?: { readonly limit?: number; readonly cursor?: string }) =>
        Effect.map(list(query), (page) => ({
          ...page,
          items: page.items.map((supplier) => ({
            ...supplier,
            connector: redactConnector(supplier.connector)
          }))
        })),
      remove,
      items
    } as const
  })
}) {}
