/**
 * The HTTP contract, defined once: the server implements it, the remote client is derived from
 * it, and the OpenAPI document is generated from it. Versioned under `/v1`, in one group per
 * service: stock-updater (`stockUpdates`), stock-checker (`stockChecks`), supplier-sync
 * (`catalog`, `suppliers`, `restock`). Domain errors keep their status codes.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
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
  RestockOrderClosed,
  RestockOrderNotFound,
  StockConflict,
  StoreError,
  SupplierAlreadyExists,
  SupplierInUse,
  SupplierNotFound,
  Unauthorized
} from "./InventoryError.js"
import { Location, NewLocation } from "./Location.js"
import { pageOf } from "./Page.js"
import { NewProduct, Product, ProductPatch } from "./Product.js"
import { ReorderExplanation } from "./Reorder.js"
import { OrderStatus, RestockOrder } from "./Restock.js"
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
import { SyncRun } from "./SupplierSync.js"

const sku = HttpApiSchema.param("sku", Schema.String)
const supplierId = HttpApiSchema.param("id", Schema.String)
const orderId = HttpApiSchema.param("id", Schema.NumberFromString)

/** Every write may carry one; the remote client adds one itself so its retries are safe. */
const WriteHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(
    Schema.String.annotations({
      description:
        "Same key and same request: the first answer again, nothing applied twice. Same key, other request: 422."
    })
  )
})

const Integer = Schema.NumberFromString.pipe(Schema.int())
const PageParams = { limit: Schema.optional(Integer), cursor: Schema.optional(Schema.String) }
const Note = Schema.optional(Schema.String)

// --- stock-updater ------------------------------------------------------------------------------

export class StockUpdates extends HttpApiGroup.make("stockUpdates")
  .add(
    HttpApiEndpoint.post("set")`/v1/stock/${sku}/set`
      .setHeaders(WriteHeaders)
      .setPayload(
        Schema.Struct({
          quantity: Schema.Number,
          location: Schema.optional(Schema.String),
          expected: Schema.optional(Schema.Number),
          reason: Schema.optional(Reason),
          reference: Note
        })
      )
      .addSuccess(StockChange)
      .annotate(OpenApi.Summary, "Set the quantity on hand (a count)")
  )
  .add(
    HttpApiEndpoint.post("adjust")`/v1/stock/${sku}/adjust`
      .setHeaders(WriteHeaders)
      .setPayload(
        Schema.Struct({
          delta: Schema.Number,
          location: Schema.optional(Schema.String),
          reason: Schema.optional(Reason),
          reference: Note
        })
      )
      .addSuccess(StockChange)
      .annotate(OpenApi.Summary, "Add or remove units")
  )
  .add(
    HttpApiEndpoint.post("transfer")`/v1/stock/${sku}/transfer`
      .setHeaders(WriteHeaders)
      .setPayload(
        Schema.Struct({ quantity: Schema.Number, from: Schema.String, to: Schema.String, reference: Note })
      )
      .addSuccess(TransferResult)
      .annotate(OpenApi.Summary, "Move units between locations, atomically")
  )
  .add(
    HttpApiEndpoint.post("batch", "/v1/stock/batch")
      .setHeaders(WriteHeaders)
      .setPayload(
        Schema.Struct({
          changes: Schema.Array(BatchChange),
          reference: Note,
          dryRun: Schema.optional(
            Schema.Boolean.annotations({
              description: "Answer what the changes would do, or why not, without writing anything"
            })
          )
        })
      )
      .addSuccess(BatchResult)
      .annotate(OpenApi.Summary, "Apply up to 1000 changes, all or nothing (or only check them: dryRun)")
  )
  .addError(InsufficientStock)
  .addError(StockConflict)
  .addError(IdempotencyKeyReused)
  .addError(ProductNotFound)
  .addError(LocationNotFound)
  .annotate(OpenApi.Description, "Served by stock-updater.") {}

// --- stock-checker ------------------------------------------------------------------------------

export class StockChecks extends HttpApiGroup.make("stockChecks")
  .add(
    HttpApiEndpoint.get("level")`/v1/stock/${sku}`
      .setUrlParams(Schema.Struct({ location: Schema.optional(Schema.String) }))
      .addSuccess(StockLevel)
      .addError(ProductNotFound)
      .addError(LocationNotFound)
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/stock")
      .setUrlParams(
        Schema.Struct({
          location: Schema.optional(Schema.String),
          text: Schema.optional(Schema.String),
          ...PageParams
        })
      )
      .addSuccess(pageOf(StockRow))
      .addError(LocationNotFound)
  )
  .add(
    HttpApiEndpoint.get("low", "/v1/low-stock")
      .setUrlParams(Schema.Struct({ location: Schema.optional(Schema.String), ...PageParams }))
      .addSuccess(pageOf(LowStockItem))
      .addError(LocationNotFound)
  )
  .add(HttpApiEndpoint.get("overview", "/v1/overview").addSuccess(Overview))
  .add(
    HttpApiEndpoint.get("history")`/v1/stock/${sku}/history`
      .setUrlParams(
        Schema.Struct({
          location: Schema.optional(Schema.String),
          until: Schema.optional(Schema.String),
          ...PageParams
        })
      )
      .addSuccess(pageOf(Movement))
      .addError(ProductNotFound)
      .addError(LocationNotFound)
  )
  .annotate(OpenApi.Description, "Served by stock-checker, from its cache where it can.") {}

// --- supplier-sync ------------------------------------------------------------------------------

export class Catalog extends HttpApiGroup.make("catalog")
  .add(
    HttpApiEndpoint.post("addProduct", "/v1/products")
      .setHeaders(WriteHeaders)
      .setPayload(NewProduct)
      .addSuccess(Product, { status: 201 })
      .addError(ProductAlreadyExists)
      .addError(SupplierNotFound)
  )
  .add(
    HttpApiEndpoint.get("listProducts", "/v1/products")
      .setUrlParams(
        Schema.Struct({
          text: Schema.optional(Schema.String),
          active: Schema.optional(Schema.BooleanFromString),
          ...PageParams
        })
      )
      .addSuccess(pageOf(Product))
  )
  .add(HttpApiEndpoint.get("getProduct")`/v1/products/${sku}`.addSuccess(Product).addError(ProductNotFound))
  .add(
    HttpApiEndpoint.patch("updateProduct")`/v1/products/${sku}`
      .setHeaders(WriteHeaders)
      .setPayload(ProductPatch)
      .addSuccess(Product)
      .addError(ProductNotFound)
      .addError(SupplierNotFound)
  )
  .add(
    HttpApiEndpoint.post("archiveProduct")`/v1/products/${sku}/archive`
      .setHeaders(WriteHeaders)
      .addSuccess(Product)
      .addError(ProductNotFound)
  )
  .add(
    HttpApiEndpoint.post("addLocation", "/v1/locations")
      .setHeaders(WriteHeaders)
      .setPayload(NewLocation)
      .addSuccess(Location, { status: 201 })
      .addError(LocationAlreadyExists)
  )
  .add(
    HttpApiEndpoint.get("listLocations", "/v1/locations").addSuccess(
      Schema.Struct({ items: Schema.Array(Location) })
    )
  )
  .addError(IdempotencyKeyReused)
  .annotate(OpenApi.Description, "Products and locations; served by supplier-sync.") {}

export class Suppliers extends HttpApiGroup.make("suppliers")
  .add(
    HttpApiEndpoint.post("add", "/v1/suppliers")
      .setHeaders(WriteHeaders)
      .setPayload(NewSupplier)
      .addSuccess(Supplier, { status: 201 })
      .addError(SupplierAlreadyExists)
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/suppliers")
      .setUrlParams(Schema.Struct(PageParams))
      .addSuccess(pageOf(Supplier))
  )
  .add(HttpApiEndpoint.get("get")`/v1/suppliers/${supplierId}`.addSuccess(Supplier))
  .add(
    HttpApiEndpoint.patch("update")`/v1/suppliers/${supplierId}`
      .setHeaders(WriteHeaders)
      .setPayload(SupplierPatch)
      .addSuccess(Supplier)
  )
  .add(
    HttpApiEndpoint.del("remove")`/v1/suppliers/${supplierId}`
      .setHeaders(WriteHeaders)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(SupplierInUse)
  )
  .add(
    HttpApiEndpoint.get("items")`/v1/suppliers/${supplierId}/items`
      .setUrlParams(Schema.Struct({ active: Schema.optional(Schema.BooleanFromString), ...PageParams }))
      .addSuccess(pageOf(SupplierItem))
  )
  .add(
    HttpApiEndpoint.post("sync")`/v1/suppliers/${supplierId}/sync`
      .addSuccess(Schema.Struct({ jobId: Schema.String }), { status: 202 })
      .annotate(OpenApi.Summary, "Queue a catalog sync for the workers")
  )
  .add(
    HttpApiEndpoint.get("runs")`/v1/suppliers/${supplierId}/runs`
      .setUrlParams(Schema.Struct(PageParams))
      .addSuccess(pageOf(SyncRun))
  )
  .addError(SupplierNotFound)
  .addError(IdempotencyKeyReused)
  .annotate(OpenApi.Description, "Suppliers, their catalogs and sync runs; served by supplier-sync.") {}

export class Restock extends HttpApiGroup.make("restock")
  .add(
    HttpApiEndpoint.get("list", "/v1/restock-orders")
      .setUrlParams(
        Schema.Struct({
          status: Schema.optional(OrderStatus),
          open: Schema.optional(Schema.BooleanFromString),
          sku: Schema.optional(Schema.String),
          supplierId: Schema.optional(Schema.String),
          ...PageParams
        })
      )
      .addSuccess(pageOf(RestockOrder))
  )
  .add(HttpApiEndpoint.get("get")`/v1/restock-orders/${orderId}`.addSuccess(RestockOrder))
  .add(
    HttpApiEndpoint.post("submit")`/v1/restock-orders/${orderId}/submit`
      .setHeaders(WriteHeaders)
      .addSuccess(RestockOrder)
  )
  .add(
    HttpApiEndpoint.post("receive")`/v1/restock-orders/${orderId}/receive`
      .setHeaders(WriteHeaders)
      .setPayload(
        Schema.Struct({
          quantity: Schema.optional(Schema.Number),
          allowOverDelivery: Schema.optional(
            Schema.Boolean.annotations({ description: "Accept more units than are outstanding" })
          )
        })
      )
      .addSuccess(RestockOrder)
      .addError(InsufficientStock)
      .addError(OverDelivery)
  )
  .add(
    HttpApiEndpoint.post("cancel")`/v1/restock-orders/${orderId}/cancel`
      .setHeaders(WriteHeaders)
      .addSuccess(RestockOrder)
  )
  .add(
    HttpApiEndpoint.get("explain")`/v1/reorder/${sku}/explain`
      .setUrlParams(Schema.Struct({ location: Schema.optional(Schema.String) }))
      .addSuccess(Schema.Struct({ items: Schema.Array(ReorderExplanation) }))
      .addError(ProductNotFound)
      .addError(LocationNotFound)
  )
  .addError(RestockOrderNotFound)
  .addError(RestockOrderClosed)
  .addError(IdempotencyKeyReused)
  .annotate(OpenApi.Description, "Restock orders and the reorder rule; served by supplier-sync.") {}

/** The whole contract. Each service serves its groups; `inv-server all` serves every group. */
export class InventoryApi extends HttpApi.make("invkit")
  .add(StockUpdates)
  .add(StockChecks)
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
  .addError(InvalidInput)
  .addError(StoreError)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(RequestTooLarge)
  .addError(RateLimited) {}

/** What stock-checker serves. */
export class StockCheckerApi extends HttpApi.make("stock-checker")
  .add(StockChecks)
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
