/**
 * supplier-sync's HTTP handlers: products, locations, suppliers, syncs and restock orders, each
 * mapped onto its SDK service. A sync is queued for the workers (202 with the job id), never run
 * in the request.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api, Idempotency, Location, Product, Restock, Supplier, SupplierSync, SyncJobs } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { type GroupHandlers, withActor } from "../http/groupHandlers.js"
import { invalidateHere } from "../infra/cache.js"
import type * as StoreConnection from "../infra/storeConnection.js"
import { withStore } from "../infra/storeConnection.js"

const products = <A, E>(use: (products: Product.Products) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Product.Products, use))
const locations = <A, E>(use: (locations: Location.Locations) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Location.Locations, use))
const suppliers = <A, E>(use: (suppliers: Supplier.Suppliers) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Supplier.Suppliers, use))
const syncs = <A, E>(use: (sync: SupplierSync.SupplierSync) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(SupplierSync.SupplierSync, use))
const orders = <A, E>(use: (orders: Restock.RestockOrders) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Restock.RestockOrders, use))

/**
 * A write made safe to retry: with an idempotency key, the change and its stored answer commit
 * together, and the same request again gets that answer without applying anything.
 */
const once = <A, I, E>(
  operation: string,
  request: {
    readonly path?: unknown
    readonly payload?: unknown
    readonly headers: { readonly "idempotency-key"?: string | undefined }
  },
  response: Schema.Schema<A, I>,
  work: Effect.Effect<A, E, StoreConnection.Opened>
) =>
  withStore(
    Idempotency.once({
      key: request.headers["idempotency-key"],
      operation,
      // What the request asks for; the handler's argument also holds the raw request, not data.
      request: { path: request.path, payload: request.payload },
      response,
      work
    })
  )

export const catalog = (handlers: GroupHandlers<typeof Api.Catalog>) =>
  handlers
    .handle("addProduct", (request) =>
      once(
        "addProduct",
        request,
        Product.Product,
        Effect.flatMap(Product.Products, (p) => p.add(request.payload))
      )
    )
    .handle("listProducts", ({ urlParams }) => products((p) => p.list(urlParams)))
    .handle("getProduct", ({ path }) => products((p) => p.get(path.sku)))
    .handle("updateProduct", (request) =>
      once(
        "updateProduct",
        request,
        Product.Product,
        Effect.flatMap(Product.Products, (p) => p.update(request.path.sku, request.payload))
      )
    )
    .handle("archiveProduct", (request) =>
      once(
        "archiveProduct",
        request,
        Product.Product,
        // Archiving names no supplier, so the SupplierNotFound of a product update cannot happen here.
        Effect.flatMap(Product.Products, (p) =>
          Effect.catchTag(p.archive(request.path.sku), "SupplierNotFound", Effect.die)
        )
      )
    )
    .handle("addLocation", (request) =>
      once(
        "addLocation",
        request,
        Location.Location,
        Effect.flatMap(Location.Locations, (l) => l.add(request.payload))
      )
    )
    .handle("listLocations", () => locations((l) => Effect.map(l.list(), (items) => ({ items }))))

export const supplierRoutes = (handlers: GroupHandlers<typeof Api.Suppliers>) =>
  handlers
    .handle("add", (request) =>
      once(
        "addSupplier",
        request,
        Supplier.Supplier,
        Effect.flatMap(Supplier.Suppliers, (s) => s.add(request.payload))
      )
    )
    .handle("list", ({ urlParams }) => suppliers((s) => s.list(urlParams)))
    .handle("get", ({ path }) => suppliers((s) => s.get(path.id)))
    .handle("update", (request) =>
      once(
        "updateSupplier",
        request,
        Supplier.Supplier,
        Effect.flatMap(Supplier.Suppliers, (s) => s.update(request.path.id, request.payload))
      )
    )
    .handle("remove", (request) =>
      once(
        "removeSupplier",
        request,
        Schema.Void,
        Effect.flatMap(Supplier.Suppliers, (s) => s.remove(request.path.id))
      )
    )
    .handle("items", ({ path, urlParams }) => suppliers((s) => s.items(path.id, urlParams)))
    .handle("sync", ({ path }) =>
      withStore(
        Effect.gen(function* () {
          const supplier = yield* Effect.flatMap(Supplier.Suppliers, (s) => s.get(path.id))
          const jobId = yield* Effect.flatMap(SyncJobs.SyncJobs, (jobs) => jobs.enqueue(supplier.id))
          return { jobId }
        })
      )
    )
    .handle("syncMany", ({ payload }) =>
      withStore(
        Effect.gen(function* () {
          const ids = yield* Effect.flatMap(SupplierSync.SupplierSync, (s) => s.select(payload))
          const suppliers = yield* Supplier.Suppliers
          const jobs = yield* SyncJobs.SyncJobs
          const results = yield* Effect.forEach(ids, (supplierId) =>
            Effect.flatMap(suppliers.get(supplierId), (supplier) => jobs.enqueue(supplier.id)).pipe(
              Effect.map((jobId): SupplierSync.SyncOutcome => ({ supplierId, outcome: "queued", jobId })),
              Effect.catchTags({
                SupplierNotFound: (error) => Effect.succeed(SupplierSync.failedOutcome(supplierId, error)),
                InvalidInput: (error) => Effect.succeed(SupplierSync.failedOutcome(supplierId, error))
              })
            )
          )
          return SupplierSync.syncManyResult(results)
        })
      )
    )
    .handle("runs", ({ path, urlParams }) => syncs((s) => s.runs(path.id, urlParams)))

export const restock = (handlers: GroupHandlers<typeof Api.Restock>) =>
  handlers
    .handle("list", ({ urlParams }) => orders((o) => o.list(urlParams)))
    .handle("get", ({ path }) => orders((o) => o.get(path.id)))
    .handle("submit", (request) =>
      once(
        "submitOrder",
        request,
        Restock.RestockOrder,
        Effect.flatMap(Restock.RestockOrders, (o) => o.submit(request.path.id))
      )
    )
    .handle("receive", ({ path, payload, headers }) =>
      withActor((actor) =>
        orders((o) =>
          o.receive({ ...payload, orderId: path.id, actor, idempotencyKey: headers["idempotency-key"] }).pipe(
            Effect.tap((order) => invalidateHere([order.sku])),
            // An order's product and location exist (foreign keys) and receiving expects no quantity,
            // so these stock-write errors cannot come from a receipt.
            Effect.catchTags({
              ProductNotFound: Effect.die,
              LocationNotFound: Effect.die,
              StockConflict: Effect.die
            })
          )
        )
      )
    )
    .handle("cancel", (request) =>
      once(
        "cancelOrder",
        request,
        Restock.RestockOrder,
        Effect.flatMap(Restock.RestockOrders, (o) => o.cancel(request.path.id))
      )
    )
    .handle("explain", ({ path, urlParams }) =>
      orders((o) => Effect.map(o.explain(path.sku, urlParams), (items) => ({ items })))
    )

export const layer = Layer.mergeAll(
  HttpApiBuilder.group(Api.SupplierSyncApi, "catalog", catalog),
  HttpApiBuilder.group(Api.SupplierSyncApi, "suppliers", supplierRoutes),
  HttpApiBuilder.group(Api.SupplierSyncApi, "restock", restock)
)
