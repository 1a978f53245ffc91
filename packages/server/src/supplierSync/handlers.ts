/**
 * supplier-sync's HTTP handlers: products, locations, suppliers, syncs and restock orders, each
 * mapped onto its SDK service. A sync is queued for the workers (202 with the job id), never run
 * in the request.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api, Location, Product, Restock, Supplier, SupplierSync, SyncJobs } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type GroupHandlers, withActor } from "../http/groupHandlers.js"
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

export const catalog = (handlers: GroupHandlers<typeof Api.Catalog>) =>
  handlers
    .handle("addProduct", ({ payload }) => products((p) => p.add(payload)))
    .handle("listProducts", ({ urlParams }) => products((p) => p.list(urlParams)))
    .handle("getProduct", ({ path }) => products((p) => p.get(path.sku)))
    .handle("updateProduct", ({ path, payload }) => products((p) => p.update(path.sku, payload)))
    .handle("archiveProduct", ({ path }) =>
      // Archiving names no supplier, so the SupplierNotFound of a product update cannot happen here.
      products((p) => Effect.catchTag(p.archive(path.sku), "SupplierNotFound", Effect.die))
    )
    .handle("addLocation", ({ payload }) => locations((l) => l.add(payload)))
    .handle("listLocations", () => locations((l) => Effect.map(l.list(), (items) => ({ items }))))

export const supplierRoutes = (handlers: GroupHandlers<typeof Api.Suppliers>) =>
  handlers
    .handle("add", ({ payload }) => suppliers((s) => s.add(payload)))
    .handle("list", ({ urlParams }) => suppliers((s) => s.list(urlParams)))
    .handle("get", ({ path }) => suppliers((s) => s.get(path.id)))
    .handle("update", ({ path, payload }) => suppliers((s) => s.update(path.id, payload)))
    .handle("remove", ({ path }) => suppliers((s) => s.remove(path.id)))
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
    .handle("runs", ({ path, urlParams }) => syncs((s) => s.runs(path.id, urlParams)))

export const restock = (handlers: GroupHandlers<typeof Api.Restock>) =>
  handlers
    .handle("list", ({ urlParams }) => orders((o) => o.list(urlParams)))
    .handle("get", ({ path }) => orders((o) => o.get(path.id)))
    .handle("submit", ({ path }) => orders((o) => o.submit(path.id)))
    .handle("receive", ({ path, payload, headers }) =>
      withActor((actor) =>
        orders((o) =>
          o.receive({ ...payload, orderId: path.id, actor, idempotencyKey: headers["idempotency-key"] }).pipe(
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
    .handle("cancel", ({ path }) => orders((o) => o.cancel(path.id)))
    .handle("explain", ({ path, urlParams }) =>
      orders((o) => Effect.map(o.explain(path.sku, urlParams), (items) => ({ items })))
    )

export const layer = Layer.mergeAll(
  HttpApiBuilder.group(Api.SupplierSyncApi, "catalog", catalog),
  HttpApiBuilder.group(Api.SupplierSyncApi, "suppliers", supplierRoutes),
  HttpApiBuilder.group(Api.SupplierSyncApi, "restock", restock)
)
