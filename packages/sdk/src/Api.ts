/**
 * The HTTP contract, defined once: the server implements it, the remote client is derived from
 * it, and the OpenAPI document is generated from it. Versioned under `/v1`, in one group per
 * service: stock-updater (`stockUpdates`, `reservationWrites`), stock-checker (`stockChecks`,
 * `reservationChecks`), supplier-sync
 * (`catalog`, `suppliers`, `restock`). Domain errors keep their status codes.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import {
  Forbidden,
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  LocationAlreadyExists,
  LocationNotFound,
  OverDelivery,
  ProductAlreadyExists,
  ProductNotFound,
  RateLimited,
  RequestTooLarge,
  ReservationClosed,
  ReservationNotFound,
  RestockOrderClosed,
  RestockOrderNotFound,
  StockConflict,
  StoreError,
  SupplierAlreadyExists,
  SupplierInUse,
  SupplierNotFound,
  Unauthorized
} from "./InventoryError.js"
import { textParsedBy } from "./internal/validation.js"
import { Location, NewLocation } from "./Location.js"
import { pageOf } from "./Page.js"
import { NewProduct, Product, ProductPatch } from "./Product.js"
import { ReorderExplanation } from "./Reorder.js"
import { Reservation, ReservationList, ReservationStatus } from "./Reservation.js"
import { OrderStatus, RestockOrder } from "./Restock.js"
import {
  CODE_CHARACTERS,
  CODE_MAX_LENGTH,
  CODE_PATTERN,
  MAX_QUANTITY,
  parseQuantity,
  QUANTITY_TEXT_RULE
} from "./Rules.js"
import {
  BatchChange,
  BatchResult,
  LowStockItem,
  Movement,
  Overview,
  Reason,
  StockChange,
  StockLevel,
  StockRow,
  TransferResult
} from "./Stock.js"
import { NewSupplier, Supplier, SupplierItem, SupplierPatch } from "./Supplier.js"
import { SyncManyResult, SyncRun, SyncSelection } from "./SupplierSync.js"

/** viewer < operator < admin: each role may do what the ones below it may. */
export const roles = ["viewer", "operator", "admin"] as const
export type Role = (typeof roles)[number]

/** The role an endpoint needs: the server refuses a token below it (403), OpenAPI states it. */
export class RequiredRole extends Context.Tag("@invkit/sdk/Api/RequiredRole")<RequiredRole, Role>() {}

/** Who a request acts as (the token's subject), recorded as the actor of every change it makes. */
export class CurrentActor extends Context.Tag("@invkit/sdk/Api/CurrentActor")<CurrentActor, string>() {}

/**
 * Every `/v1` endpoint needs a bearer token (a JWT with `sub` and a `role` claim) whose role is at
 * least the endpoint's `RequiredRole`, within the per-token rate and the body limit.
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()(
  "@invkit/sdk/Api/Authentication",
  {
    security: {
      bearer: HttpApiSecurity.bearer.pipe(
        HttpApiSecurity.annotate(
          OpenApi.Description,
          "A JWT with `sub` (recorded as the actor of each change) and `role` (viewer, operator or admin); `inv-server token create` mints one."
        )
      )
    },
    provides: CurrentActor,
    failure: Schema.Union(Unauthorized, Forbidden, RateLimited, RequestTooLarge)
  }
) {}

/** What an operation states in the contract: who may call it, and what it does. */
const operation = (role: Role, summary: string, description: string) =>
  Context.make(RequiredRole, role).pipe(
    Context.add(OpenApi.Summary, summary),
    Context.add(OpenApi.Description, `${description} Needs the ${role} role or above.`),
    Context.add(OpenApi.Override, { "x-required-role": role })
  )

/** A number in a path or a query string, written as everywhere else: decimal digits only. */
const Digits = textParsedBy(Schema.Number, parseQuantity, QUANTITY_TEXT_RULE, String)

const sku = HttpApiSchema.param("sku", Schema.String)
const supplierId = HttpApiSchema.param("id", Schema.String)
const orderId = HttpApiSchema.param("id", Digits)
const reservationId = HttpApiSchema.param("id", Digits)

/** Every write may carry one; the remote client adds one itself so its retries are safe. */
const WriteHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(
    Schema.String.annotations({
      description:
        "Same key and same request: the first answer again, nothing applied twice. Same key, other request: 422."
    })
  )
})

/**
 * A request body or query as the contract takes it: a property or query parameter it does not
 * declare is refused, not ignored, so a misspelt `dryrun`, `locaton` or `?limt=10` cannot slip
 * through as a default.
 */
const strictFields = <A, I, R>(schema: Schema.Schema<A, I, R>) =>
  schema.annotations({ parseOptions: { onExcessProperty: "error" } })

const PageParams = { limit: Schema.optional(Digits), cursor: Schema.optional(Schema.String) }

/**
 * A field of a single write's body as the contract states it. The wire takes any number or text
 * there and the SDK decodes it once, by its rule, with an error naming the field; `/openapi.json`
 * states that rule, as the batch's schemas state their own, so a generated client knows it.
 */
const stated = <A, I>(schema: Schema.Schema<A, I>, rule: Record<string, unknown>) =>
  schema.annotations({ jsonSchema: rule })
const CodeField = stated(Schema.String, {
  type: "string",
  minLength: 1,
  maxLength: CODE_MAX_LENGTH,
  pattern: CODE_PATTERN.source,
  description: `A SKU or location code: ${CODE_CHARACTERS}, not . or .. alone`
})
const QuantityField = stated(Schema.Number, {
  type: "integer",
  minimum: 0,
  maximum: MAX_QUANTITY,
  description: "Units on hand"
})
const UnitsField = stated(Schema.Number, {
  type: "integer",
  minimum: 1,
  maximum: MAX_QUANTITY,
  description: "Units, at least one"
})
const DeltaField = stated(Schema.Number, {
  type: "integer",
  minimum: -MAX_QUANTITY,
  maximum: MAX_QUANTITY,
  not: { const: 0 },
  description: "Units to add, or to remove when negative; not 0"
})
const Note = Schema.optional(Schema.String)

/** Asked of a stock write that would take on hand below what reservations hold. */
const ReleaseHolds = {
  releaseHolds: Schema.optional(
    Schema.Boolean.annotations({
      description:
        "Release the level's newest reservations, as many as the change needs, instead of refusing it (409 InsufficientStock with reserved)"
    })
  )
}

// --- stock-updater ------------------------------------------------------------------------------

export class StockUpdates extends HttpApiGroup.make("stockUpdates")
  .add(
    HttpApiEndpoint.post("set")`/v1/stock/${sku}/set`
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(
          Schema.Struct({
            quantity: QuantityField,
            location: Schema.optional(CodeField),
            expected: Schema.optional(QuantityField),
            reason: Schema.optional(Reason),
            reference: Note,
            ...ReleaseHolds
          })
        )
      )
      .addSuccess(StockChange)
      .annotateContext(
        operation(
          "operator",
          "Set the quantity on hand (a count)",
          "Records a count: the level becomes quantity, and the ledger gets the difference. With expected, refuses (409 StockConflict) when the level is not that figure any more. A count below what reservations hold is refused (409 InsufficientStock with reserved) unless releaseHolds or the product allows backorders."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("adjust")`/v1/stock/${sku}/adjust`
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(
          Schema.Struct({
            delta: DeltaField,
            location: Schema.optional(CodeField),
            reason: Schema.optional(Reason),
            reference: Note,
            ...ReleaseHolds
          })
        )
      )
      .addSuccess(StockChange)
      .annotateContext(
        operation(
          "operator",
          "Add or remove units",
          "Adds delta units (negative removes them) in one conditional write; refuses (409 InsufficientStock) a removal past what is available: past what is on hand, or into units reservations hold (then with reserved) unless releaseHolds or the product allows backorders."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("transfer")`/v1/stock/${sku}/transfer`
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(Schema.Struct({ quantity: UnitsField, from: CodeField, to: CodeField, reference: Note }))
      )
      .addSuccess(TransferResult)
      .annotateContext(
        operation(
          "operator",
          "Move units between locations, atomically",
          "Removes quantity from one location and adds it to another in one transaction: both movements are recorded, or neither. Only available units move: units reservations hold stay."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("batch", "/v1/stock/batch")
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(
          Schema.Struct({
            changes: Schema.Array(BatchChange),
            reference: Note,
            ...ReleaseHolds,
            dryRun: Schema.optional(
              Schema.Boolean.annotations({
                description: "Answer what the changes would do, or why not, without writing anything"
              })
            )
          })
        )
      )
      .addSuccess(BatchResult)
      .annotateContext(
        operation(
          "operator",
          "Apply up to 1000 changes, all or nothing (or only check them: dryRun)",
          "Applies every change in one transaction, or none when one is refused (the refusal names the change). With dryRun, answers what would happen without writing."
        )
      )
  )
  .addError(InsufficientStock)
  .addError(StockConflict)
  .addError(IdempotencyKeyReused)
  .addError(ProductNotFound)
  .addError(LocationNotFound)
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Served by stock-updater.") {}

// --- stock-checker ------------------------------------------------------------------------------

export class StockChecks extends HttpApiGroup.make("stockChecks")
  .add(
    HttpApiEndpoint.get("level")`/v1/stock/${sku}`
      .setUrlParams(strictFields(Schema.Struct({ location: Schema.optional(Schema.String) })))
      .addSuccess(StockLevel)
      .addError(ProductNotFound)
      .addError(LocationNotFound)
      .annotateContext(
        operation(
          "viewer",
          "Read a product's stock level",
          "The quantity on hand, reserved and available in total and per location (or at one location), from the cache where the service has one."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/stock")
      .setUrlParams(
        strictFields(
          Schema.Struct({
            location: Schema.optional(Schema.String),
            text: Schema.optional(Schema.String),
            ...PageParams
          })
        )
      )
      .addSuccess(pageOf(StockRow))
      .annotateContext(
        operation(
          "viewer",
          "List stock levels",
          "Every product's level, optionally at one location or matching text, a page at a time (follow nextCursor)."
        )
      )
      .addError(LocationNotFound)
  )
  .add(
    HttpApiEndpoint.get("low", "/v1/low-stock")
      .setUrlParams(strictFields(Schema.Struct({ location: Schema.optional(Schema.String), ...PageParams })))
      .addSuccess(pageOf(LowStockItem))
      .annotateContext(
        operation(
          "viewer",
          "List products at or below their reorder point",
          "Each product and location whose available stock is at or below the reorder point, with its shortfall and reorder quantity, a page at a time."
        )
      )
      .addError(LocationNotFound)
  )
  .add(
    HttpApiEndpoint.get("overview", "/v1/overview")
      .addSuccess(Overview)
      .annotateContext(
        operation(
          "viewer",
          "Totals across the inventory",
          "How many active products, locations and units on hand there are, and how many products are out of stock."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("history")`/v1/stock/${sku}/history`
      .setUrlParams(
        strictFields(
          Schema.Struct({
            location: Schema.optional(Schema.String),
            until: Schema.optional(Schema.String),
            ...PageParams
          })
        )
      )
      .addSuccess(pageOf(Movement))
      .annotateContext(
        operation(
          "viewer",
          "A product's ledger of movements",
          "Every movement of a product's stock, newest first: delta, quantity after, reason, reference, actor and time, a page at a time."
        )
      )
      .addError(ProductNotFound)
      .addError(LocationNotFound)
  )
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Served by stock-checker, from its cache where it can.") {}

// --- reservations: writes on stock-updater, reads on stock-checker --------------------------------

/** A hold's expiry as the wire carries it: a duration (`15m`, or seconds) or a moment (ISO 8601). */
const ExpiryFields = {
  expiresIn: Schema.optional(
    Schema.Union(Schema.Number, Schema.String).annotations({
      description: "How long to hold: 90s, 15m, 2h, 7d, or a number of seconds (at most 30 days)"
    })
  ),
  expiresAt: Schema.optional(
    Schema.String.annotations({ description: "When the hold expires, ISO 8601 (at most 30 days ahead)" })
  )
}

const HoldItemFields = {
  sku: CodeField,
  quantity: UnitsField,
  location: Schema.optional(CodeField)
}

export class ReservationWrites extends HttpApiGroup.make("reservationWrites")
  .add(
    HttpApiEndpoint.post("create", "/v1/reservations")
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(Schema.Struct({ ...HoldItemFields, reference: Schema.String, ...ExpiryFields }))
      )
      .addSuccess(Reservation, { status: 201 })
      .annotateContext(
        operation(
          "operator",
          "Hold units for a cart or an order",
          "Holds quantity units of a SKU at a location for a reference, optionally until an expiry, in one conditional write: reserved rises and available falls, or nothing changes and the answer is 409 InsufficientStock with the available figure."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("createMany", "/v1/reservations/batch")
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(
          Schema.Struct({
            items: Schema.Array(strictFields(Schema.Struct(HoldItemFields))),
            reference: Schema.String,
            ...ExpiryFields
          })
        )
      )
      .addSuccess(ReservationList, { status: 201 })
      .annotateContext(
        operation(
          "operator",
          "Hold several SKUs at once, all or nothing",
          "Holds every item (up to 100) for one reference in one transaction, or none when one does not fit (409 InsufficientStock naming it)."
        )
      )
  )
  .add(
    HttpApiEndpoint.patch("update")`/v1/reservations/${reservationId}`
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(
          Schema.Struct({
            quantity: Schema.optional(UnitsField),
            ...ExpiryFields,
            noExpiry: Schema.optional(
              Schema.Boolean.annotations({ description: "Hold until released or fulfilled" })
            )
          })
        )
      )
      .addSuccess(Reservation)
      .annotateContext(
        operation(
          "operator",
          "Change a hold's quantity or expiry",
          "Sets the units held (more must fit: 409 InsufficientStock) or the expiry of an active hold; refuses (409 ReservationClosed) one that is fulfilled, released or expired."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("release")`/v1/reservations/${reservationId}/release`
      .setHeaders(WriteHeaders)
      .addSuccess(Reservation)
      .annotateContext(
        operation(
          "operator",
          "Release a hold",
          "The held units are available again. Releasing a released or expired hold answers it as it is; a fulfilled one is refused (409 ReservationClosed)."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("fulfil")`/v1/reservations/${reservationId}/fulfil`
      .setHeaders(WriteHeaders)
      .setPayload(strictFields(Schema.Struct({ quantity: Schema.optional(UnitsField) })))
      .addSuccess(Reservation)
      .annotateContext(
        operation(
          "operator",
          "Fulfil a hold: its units leave as a sale",
          "On hand and reserved fall together by the units fulfilled (default: all held), with one ledger movement (reason sale, reference reservation:<id>); the rest stays held. Refuses (409 ReservationClosed) a hold that is not active."
        )
      )
  )
  .addError(InsufficientStock)
  .addError(ProductNotFound)
  .addError(LocationNotFound)
  .addError(ReservationNotFound)
  .addError(ReservationClosed)
  .addError(IdempotencyKeyReused)
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Reservations (holds of stock); served by stock-updater.") {}

export class ReservationChecks extends HttpApiGroup.make("reservationChecks")
  .add(
    HttpApiEndpoint.get("list", "/v1/reservations")
      .setUrlParams(
        strictFields(
          Schema.Struct({
            sku: Schema.optional(Schema.String),
            location: Schema.optional(Schema.String),
            reference: Schema.optional(Schema.String),
            status: Schema.optional(ReservationStatus),
            ...PageParams
          })
        )
      )
      .addSuccess(pageOf(Reservation))
      .annotateContext(
        operation(
          "viewer",
          "List reservations",
          "Reservations newest first, optionally by SKU, location, reference or status (a hold past its expiry lists as expired at once), a page at a time."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/reservations/${reservationId}`
      .addSuccess(Reservation)
      .addError(ReservationNotFound)
      .annotateContext(operation("viewer", "Read a reservation", "One reservation by id, with its status."))
  )
  .middleware(Authentication)
  .annotate(
    OpenApi.Description,
    "Reservations, read; served by stock-checker (from the database, not the cache)."
  ) {}

// --- supplier-sync ------------------------------------------------------------------------------

export class Catalog extends HttpApiGroup.make("catalog")
  .add(
    HttpApiEndpoint.post("addProduct", "/v1/products")
      .setHeaders(WriteHeaders)
      .setPayload(strictFields(NewProduct))
      .addSuccess(Product, { status: 201 })
      .addError(ProductAlreadyExists)
      .addError(SupplierNotFound)
      .annotateContext(
        operation(
          "admin",
          "Add a product",
          "Creates a product with its unit, reorder rule and preferred supplier; refuses (409) a SKU that exists."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("listProducts", "/v1/products")
      .setUrlParams(
        strictFields(
          Schema.Struct({
            text: Schema.optional(Schema.String),
            active: Schema.optional(Schema.BooleanFromString),
            ...PageParams
          })
        )
      )
      .addSuccess(pageOf(Product))
      .annotateContext(
        operation(
          "viewer",
          "List products",
          "Products, optionally matching text or only active or archived ones, a page at a time."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("getProduct")`/v1/products/${sku}`
      .addSuccess(Product)
      .addError(ProductNotFound)
      .annotateContext(operation("viewer", "Read a product", "One product by SKU, archived ones included."))
  )
  .add(
    HttpApiEndpoint.patch("updateProduct")`/v1/products/${sku}`
      .setHeaders(WriteHeaders)
      .setPayload(strictFields(ProductPatch))
      .addSuccess(Product)
      .addError(ProductNotFound)
      .addError(SupplierNotFound)
      .annotateContext(
        operation("admin", "Change a product", "Changes the fields given and leaves the others as they are.")
      )
  )
  .add(
    HttpApiEndpoint.post("archiveProduct")`/v1/products/${sku}/archive`
      .setHeaders(WriteHeaders)
      .addSuccess(Product)
      .addError(ProductNotFound)
      .annotateContext(
        operation(
          "admin",
          "Archive a product",
          "Marks a product inactive: it keeps its history and stock, and no longer counts as low."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("addLocation", "/v1/locations")
      .setHeaders(WriteHeaders)
      .setPayload(strictFields(NewLocation))
      .addSuccess(Location, { status: 201 })
      .addError(LocationAlreadyExists)
      .annotateContext(
        operation(
          "admin",
          "Add a location",
          "Creates a location (a warehouse or shelf) that stock can be kept at; refuses (409) a code that exists."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("listLocations", "/v1/locations")
      .addSuccess(Schema.Struct({ items: Schema.Array(Location) }))
      .annotateContext(operation("viewer", "List locations", "Every location, the default one included."))
  )
  .addError(IdempotencyKeyReused)
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Products and locations; served by supplier-sync.") {}

export class Suppliers extends HttpApiGroup.make("suppliers")
  .add(
    HttpApiEndpoint.post("add", "/v1/suppliers")
      .setHeaders(WriteHeaders)
      .setPayload(strictFields(NewSupplier))
      .addSuccess(Supplier, { status: 201 })
      .addError(SupplierAlreadyExists)
      .annotateContext(
        operation(
          "admin",
          "Add a supplier",
          "Creates a supplier with its catalog connector (HTTP JSON or CSV), schedule and lead time; refuses (409) an id that exists."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/suppliers")
      .setUrlParams(strictFields(Schema.Struct(PageParams)))
      .addSuccess(pageOf(Supplier))
      .annotateContext(operation("viewer", "List suppliers", "Every supplier, a page at a time."))
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/suppliers/${supplierId}`
      .addSuccess(Supplier)
      .annotateContext(
        operation("viewer", "Read a supplier", "One supplier by id, with its connector and schedule.")
      )
  )
  .add(
    HttpApiEndpoint.patch("update")`/v1/suppliers/${supplierId}`
      .setHeaders(WriteHeaders)
      .setPayload(strictFields(SupplierPatch))
      .addSuccess(Supplier)
      .annotateContext(
        operation("admin", "Change a supplier", "Changes the fields given and leaves the others as they are.")
      )
  )
  .add(
    HttpApiEndpoint.del("remove")`/v1/suppliers/${supplierId}`
      .setHeaders(WriteHeaders)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(SupplierInUse)
      .annotateContext(
        operation(
          "admin",
          "Remove a supplier",
          "Deletes a supplier and its catalog; refuses (409 SupplierInUse) while products or restock orders name it."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("items")`/v1/suppliers/${supplierId}/items`
      .setUrlParams(
        strictFields(Schema.Struct({ active: Schema.optional(Schema.BooleanFromString), ...PageParams }))
      )
      .addSuccess(pageOf(SupplierItem))
      .annotateContext(
        operation(
          "viewer",
          "List a supplier's catalog items",
          "The supplier's items as last synced: their SKU, ours, cost, lead time and pack size, a page at a time."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("sync")`/v1/suppliers/${supplierId}/sync`
      .addSuccess(Schema.Struct({ jobId: Schema.String }), { status: 202 })
      .annotateContext(
        operation(
          "operator",
          "Queue a catalog sync for the workers",
          "Queues a sync of the supplier's catalog and answers at once with the job's id; the run is listed under the supplier's runs."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("syncMany", "/v1/suppliers/sync")
      .setPayload(strictFields(SyncSelection))
      .addSuccess(SyncManyResult, { status: 202 })
      .annotateContext(
        operation(
          "operator",
          "Queue catalog syncs of several suppliers, or of every active one",
          "Give `supplierIds` or `all: true`. Each supplier's sync is queued for the workers; an unknown supplier is reported in its outcome and the others are still queued. `failed` counts the suppliers that could not be queued."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("runs")`/v1/suppliers/${supplierId}/runs`
      .setUrlParams(strictFields(Schema.Struct(PageParams)))
      .addSuccess(pageOf(SyncRun))
      .annotateContext(
        operation(
          "viewer",
          "List a supplier's sync runs",
          "Each run of the supplier's catalog sync, newest first: trigger, status, counts, error and timings."
        )
      )
  )
  .addError(SupplierNotFound)
  .addError(IdempotencyKeyReused)
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Suppliers, their catalogs and sync runs; served by supplier-sync.") {}

export class Restock extends HttpApiGroup.make("restock")
  .add(
    HttpApiEndpoint.get("list", "/v1/restock-orders")
      .setUrlParams(
        strictFields(
          Schema.Struct({
            status: Schema.optional(OrderStatus),
            open: Schema.optional(Schema.BooleanFromString),
            sku: Schema.optional(Schema.String),
            supplierId: Schema.optional(Schema.String),
            ...PageParams
          })
        )
      )
      .addSuccess(pageOf(RestockOrder))
      .annotateContext(
        operation(
          "viewer",
          "List restock orders",
          "Restock orders, optionally by status, open or not, SKU or supplier, a page at a time."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/restock-orders/${orderId}`
      .addSuccess(RestockOrder)
      .annotateContext(
        operation("viewer", "Read a restock order", "One restock order by id, with its lifecycle status.")
      )
  )
  .add(
    HttpApiEndpoint.post("submit")`/v1/restock-orders/${orderId}/submit`
      .setHeaders(WriteHeaders)
      .addSuccess(RestockOrder)
      .annotateContext(
        operation(
          "admin",
          "Submit a restock order",
          "Moves a draft order to submitted (sent to the supplier); refuses (409) an order that is closed."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("receive")`/v1/restock-orders/${orderId}/receive`
      .setHeaders(WriteHeaders)
      .setPayload(
        strictFields(
          Schema.Struct({
            quantity: Schema.optional(UnitsField),
            allowOverDelivery: Schema.optional(
              Schema.Boolean.annotations({ description: "Accept more units than are outstanding" })
            )
          })
        )
      )
      .addSuccess(RestockOrder)
      .addError(InsufficientStock)
      .addError(OverDelivery)
      .annotateContext(
        operation(
          "operator",
          "Receive a restock order",
          "Adds the units received (default: all that is outstanding) to stock as one ledger movement; the order is received once nothing is outstanding. More than is outstanding is refused (409 OverDelivery) unless allowOverDelivery."
        )
      )
  )
  .add(
    HttpApiEndpoint.post("cancel")`/v1/restock-orders/${orderId}/cancel`
      .setHeaders(WriteHeaders)
      .addSuccess(RestockOrder)
      .annotateContext(
        operation(
          "admin",
          "Cancel a restock order",
          "Closes an open order without receiving it; stock does not change."
        )
      )
  )
  .add(
    HttpApiEndpoint.get("explain")`/v1/reorder/${sku}/explain`
      .setUrlParams(strictFields(Schema.Struct({ location: Schema.optional(Schema.String) })))
      .addSuccess(Schema.Struct({ items: Schema.Array(ReorderExplanation) }))
      .addError(ProductNotFound)
      .addError(LocationNotFound)
      .annotateContext(
        operation(
          "viewer",
          "Explain the reorder rule for a product",
          "Why the reorder rule would or would not open a restock order for the product at each location: level, reorder point and quantity."
        )
      )
  )
  .addError(RestockOrderNotFound)
  .addError(RestockOrderClosed)
  .addError(IdempotencyKeyReused)
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Restock orders and the reorder rule; served by supplier-sync.") {}

/** The whole contract. Each service serves its groups; `inv-server all` serves every group. */
export class InventoryApi extends HttpApi.make("invkit")
  .add(StockUpdates)
  .add(StockChecks)
  .add(ReservationWrites)
  .add(ReservationChecks)
  .add(Catalog)
  .add(Suppliers)
  .add(Restock)
  .addError(InvalidInput)
  .addError(StoreError)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(RequestTooLarge)
  .addError(RateLimited)
  .annotate(OpenApi.Title, "invkit")
  .annotate(OpenApi.Version, "1") {}

/** What stock-updater serves. */
export class StockUpdaterApi extends HttpApi.make("stock-updater")
  .add(StockUpdates)
  .add(ReservationWrites)
  // Reads too: a reservation's reads and writes share their paths, and an Ingress routes by path.
  .add(ReservationChecks)
  .addError(InvalidInput)
  .addError(StoreError)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(RequestTooLarge)
  .addError(RateLimited) {}

/** What stock-checker serves. */
export class StockCheckerApi extends HttpApi.make("stock-checker")
  .add(StockChecks)
  .add(ReservationChecks)
  .addError(InvalidInput)
  .addError(StoreError)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(RequestTooLarge)
  .addError(RateLimited) {}

/** What supplier-sync serves. */
export class SupplierSyncApi extends HttpApi.make("supplier-sync")
  .add(Catalog)
  .add(Suppliers)
  .add(Restock)
  .addError(InvalidInput)
  .addError(StoreError)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(RequestTooLarge)
  .addError(RateLimited) {}
