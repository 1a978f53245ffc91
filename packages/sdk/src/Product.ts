/**
 * The product catalog: what can be stocked, and each product's reorder rule.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { CatalogType } from "./Event.js"
import {
  type InvalidInput,
  ProductAlreadyExists,
  ProductNotFound,
  type StoreError,
  SupplierNotFound
} from "./InventoryError.js"
import { writeEvent } from "./internal/outbox.js"
import {
  atLeastOneOf,
  BooleanInput,
  Code,
  containsPattern,
  decodeInput,
  failOnSqlDefect,
  NameText,
  NumberInput,
  PlainText,
  pgCode,
  storeFailure,
  TextInput
} from "./internal/validation.js"
import { DEFAULT_LIMIT, decodeCursor, Limit, type Page, TextCursor, toPage } from "./Page.js"
import { MAX_QUANTITY, NAME_MAX_LENGTH, QUANTITY_RULE, UNIT_MAX_LENGTH, UNITS_RULE } from "./Rules.js"

/** A stock-keeping unit: the product's natural key. */
export const Sku = Code.annotations({ identifier: "Sku" })

/** A count of units: whole, never negative, at most MAX_QUANTITY. */
export const Quantity = NumberInput.pipe(
  Schema.int({ message: () => QUANTITY_RULE }),
  Schema.between(0, MAX_QUANTITY, { message: () => QUANTITY_RULE })
).annotations({ identifier: "Quantity" })

/** Units that move (a transfer's, a hold's, a fulfilment's): at least one. */
export const Units = NumberInput.pipe(
  Schema.int({ message: () => UNITS_RULE }),
  Schema.between(1, MAX_QUANTITY, { message: () => UNITS_RULE })
).annotations({ identifier: "Units" })

const Name = NameText(NAME_MAX_LENGTH)
const Unit = NameText(UNIT_MAX_LENGTH)

export const Product = Schema.Struct({
  sku: Sku,
  name: Schema.String,
  unit: Schema.String,
  /** Stock at or below this is low, and (with suppliers) triggers a restock order. */
  reorderPoint: Quantity,
  /** How many to order when the reorder point is reached. */
  reorderQuantity: Quantity,
  /** When set, orders fill up to this level instead of adding the reorder quantity. */
  maxLevel: Schema.NullOr(Quantity),
  /** The supplier to order from first; else the cheapest supplier that has stock. */
  preferredSupplier: Schema.NullOr(Schema.String),
  /** Stock writes may sell units that reservations hold (on hand below reserved, never below 0). */
  allowBackorders: Schema.Boolean,
  active: Schema.Boolean,
  createdAt: Schema.Date,
  updatedAt: Schema.Date
}).annotations({ identifier: "Product" })
export type Product = typeof Product.Type

export const NewProduct = Schema.Struct({
  sku: Sku,
  name: Name,
  unit: Schema.optionalWith(Unit, { default: () => "each" }),
  reorderPoint: Schema.optionalWith(Quantity, { default: () => 0 }),
  reorderQuantity: Schema.optionalWith(Quantity, { default: () => 0 }),
  maxLevel: Schema.optionalWith(Schema.NullOr(Quantity), { default: () => null }),
  preferredSupplier: Schema.optionalWith(Schema.NullOr(PlainText), { default: () => null }),
  allowBackorders: Schema.optionalWith(BooleanInput, { default: () => false })
})
export type NewProduct = typeof NewProduct.Encoded

export const ProductPatch = Schema.Struct({
  name: Schema.optional(Name),
  unit: Schema.optional(Unit),
  reorderPoint: Schema.optional(Quantity),
  reorderQuantity: Schema.optional(Quantity),
  maxLevel: Schema.optional(Schema.NullOr(Quantity)),
  preferredSupplier: Schema.optional(Schema.NullOr(PlainText)),
  allowBackorders: Schema.optional(BooleanInput),
  active: Schema.optional(BooleanInput)
})
export type ProductPatch = typeof ProductPatch.Encoded

/** An update's whole request, the SKU with the patch, as `update` checks it. */
const ProductUpdate = Schema.Struct({ sku: Sku, ...ProductPatch.fields })

export const ProductQuery = Schema.Struct({
  /** Matches SKU or name, case-insensitively. */
  text: Schema.optional(TextInput),
  active: Schema.optional(BooleanInput),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  cursor: Schema.optional(TextCursor)
})
export type ProductQuery = typeof ProductQuery.Encoded

/** A product row's columns, as the `Product` schema reads them; also for the catalog sync's writes. */
export const columns =
  "sku, name, unit, reorder_point, reorder_quantity, max_level, preferred_supplier, allow_backorders, active, created_at, updated_at"

/** 23503 on a product write: the preferred supplier does not exist. */
const writeFailure = (preferredSupplier: string | null | undefined) => (error: SqlError) =>
  pgCode(error) === "23503" && preferredSupplier
    ? new SupplierNotFound({ supplierId: preferredSupplier })
    : storeFailure(error)

const encodeProduct = Schema.encodeSync(Product)

export class Products extends Effect.Service<Products>()("@invkit/sdk/Products", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** The catalog change and its event commit together, so stock readers hear of every change. */
    const announced = <E, R>(type: CatalogType, write: Effect.Effect<Product, E, R>) =>
      failOnSqlDefect(
        sql.withTransaction(
          Effect.tap(write, (product) =>
            Effect.mapError(writeEvent(sql, type, product.sku, encodeProduct(product)), storeFailure)
          )
        )
      )

    const add = (
      input: NewProduct
    ): Effect.Effect<Product, InvalidInput | ProductAlreadyExists | SupplierNotFound | StoreError> =>
      Effect.flatMap(decodeInput(NewProduct)(input), (product) =>
        announced(
          "product.created",
          sql<Product>`
          insert into products (sku, name, unit, reorder_point, reorder_quantity, max_level, preferred_supplier, allow_backorders)
          values (${product.sku}, ${product.name}, ${product.unit}, ${product.reorderPoint}, ${product.reorderQuantity},
                  ${product.maxLevel}, ${product.preferredSupplier}, ${product.allowBackorders})
          returning ${sql.unsafe(columns)}`.pipe(
            Effect.map((rows) => rows[0]!),
            Effect.catchTag("SqlError", (error) =>
              Effect.fail(
                pgCode(error) === "23505"
                  ? new ProductAlreadyExists({ sku: product.sku })
                  : writeFailure(product.preferredSupplier)(error)
              )
            )
          )
        ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeFailure(error))))
      )

    // Built once: a schema and its decoder cost more to make than the read they check.
    const decodeProductKey = decodeInput(Schema.Struct({ sku: Sku }))
    const get = (sku: string): Effect.Effect<Product, InvalidInput | ProductNotFound | StoreError> =>
      Effect.flatMap(decodeProductKey({ sku }), ({ sku }) =>
        sql<Product>`select ${sql.unsafe(columns)} from products where sku = ${sku}`.pipe(
          Effect.mapError(storeFailure),
          Effect.flatMap((rows) =>
            rows[0] ? Effect.succeed(rows[0]) : Effect.fail(new ProductNotFound({ sku }))
          )
        )
      )

    const update = (
      sku: string,
      patch: ProductPatch
    ): Effect.Effect<Product, InvalidInput | ProductNotFound | SupplierNotFound | StoreError> =>
      Effect.gen(function* () {
        const { sku: product, ...patched } = yield* decodeInput(ProductUpdate)({ ...patch, sku })
        const changes = Object.fromEntries(Object.entries(patched).filter(([, value]) => value !== undefined))
        if (Object.keys(changes).length === 0) {
          return yield* atLeastOneOf(Object.keys(ProductPatch.fields))
        }
        return yield* announced(
          changes.active === false ? "product.archived" : "product.updated",
          sql<Product>`
            update products set ${sql.update(changes)}, updated_at = now()
            where sku = ${product}
            returning ${sql.unsafe(columns)}`.pipe(
            Effect.mapError(writeFailure(patched.preferredSupplier)),
            Effect.flatMap((rows) =>
              rows[0] ? Effect.succeed(rows[0]) : Effect.fail(new ProductNotFound({ sku: product }))
            )
          )
        ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeFailure(error))))
      })

    /** Archived products keep their history and stock, but leave the low-stock list and overview. */
    const archive = (sku: string) => update(sku, { active: false })

    const list = (query: ProductQuery = {}): Effect.Effect<Page<Product>, InvalidInput | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeInput(ProductQuery)(query)
        const after = q.cursor === undefined ? undefined : String(decodeCursor(q.cursor)[0])
        const rows = yield* sql<Product>`
          select ${sql.unsafe(columns)} from products
          where ${sql.and([
            ...(q.text
              ? [sql`(sku ilike ${containsPattern(q.text)} or name ilike ${containsPattern(q.text)})`]
              : []),
            ...(q.active === undefined ? [] : [sql`active = ${q.active}`]),
            ...(after === undefined ? [] : [sql`sku > ${after}`])
          ])}
          order by sku
          limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.sku])
      })

    return { add, get, update, archive, list } as const
  })
}) {}
