/**
 * The whole inventory in one place: the Effect layer for Effect users, and `openInventory`, a
 * Promise facade for everyone else. Both run the same services.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { type InvalidInput, InventoryClosed, type StoreError } from "./InventoryError.js"
import type { JobsDatabase } from "./internal/jobsDatabase.js"
import { registerLocalStore } from "./internal/localStore.js"
import { type Location, Locations, type NewLocation } from "./Location.js"
import { allItems, type Page } from "./Page.js"
import { type NewProduct, type Product, type ProductPatch, type ProductQuery, Products } from "./Product.js"
import { type ReorderExplanation, ReorderRule } from "./Reorder.js"
import {
  type FulfilReservation,
  type NewReservation,
  type NewReservations,
  type ReleaseReservation,
  type Reservation,
  type ReservationList,
  type ReservationPatch,
  type ReservationQuery,
  Reservations,
  type SweepResult
} from "./Reservation.js"
import { type OrderQuery, type ReceiveOrder, type RestockOrder, RestockOrders } from "./Restock.js"
import {
  type AdjustStock,
  type BatchChange,
  type BatchResult,
  groupCommit,
  type HistoryQuery,
  type LowStockItem,
  type LowStockQuery,
  type Movement,
  type Overview,
  type SetStock,
  Stock,
  type StockChange,
  type StockLevel,
  type StockQuery,
  type StockRow,
  type TransferResult
} from "./Stock.js"
import * as Store from "./Store.js"
import {
  type NewSupplier,
  type Supplier,
  type SupplierItem,
  type SupplierItemQuery,
  type SupplierPatch,
  Suppliers
} from "./Supplier.js"
import {
  type CatalogPreview,
  SupplierSync,
  type SyncManyResult,
  type SyncOptions,
  type SyncRun,
  type SyncSelection
} from "./SupplierSync.js"
import { SyncJobs, type WorkerOptions } from "./SyncJobs.js"
import {
  type OptionNames,
  TARGET_VARIABLES,
  type Target as TargetOf,
  resolveTarget as targetOf
} from "./Target.js"

export type Services = Stock | Products | Locations | Suppliers | SupplierSync | RestockOrders | Reservations

/** Every inventory service over one open store; the store's SqlClient too, to build on. */
export const layer = (
  store: Store.StoreOptions
): Layer.Layer<Services | SqlClient.SqlClient | JobsDatabase, StoreError | InvalidInput> =>
  Layer.mergeAll(RestockOrders.Default, SupplierSync.Default).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Stock.Default,
        Reservations.Default,
        Products.Default,
        Locations.Default,
        Suppliers.Default,
        ReorderRule.Default
      )
    ),
    Layer.provideMerge(Store.layer(store))
  )

/**
 * The background-job service (pg-boss) over a store: for workers and for queueing syncs. Kept
 * out of `layer` because starting the queue costs a moment that most commands do not need.
 */
export const jobsLayer = SyncJobs.Default

export interface OpenOptions {
  /** A PostgreSQL URL; when set, the data lives there. Default: `INV_DATABASE_URL`. */
  readonly databaseUrl?: string | undefined
  /** The embedded store's directory. Default: `INV_HOME`, else the XDG data directory. */
  readonly dataDir?: string | undefined
  /** An embedded store in memory, gone on close: for tests and throwaway runs. */
  readonly inMemory?: boolean | undefined
  /** An invkit server (`inv-server`): the same interface, remotely. Default: `INV_URL`. */
  readonly url?: string | undefined
  /** Bearer token for the server. Default: `INV_TOKEN`. */
  readonly token?: string | undefined
  /** A CA (PEM file) to trust for the server's HTTPS certificate. Default: `INV_CA_FILE`. */
  readonly caFile?: string | undefined
  /**
   * Who opens the embedded store, recorded in its lock: another process that finds it held says
   * who it waits for. `longLived: true` for a process that keeps it open (a worker, a service):
   * others then fail at once, naming it, instead of waiting. Default: `node <script>`, short-lived.
   */
  readonly holder?: Store.DataDirOptions["holder"]
  /**
   * How long (milliseconds, or an Effect duration) to wait while a short-lived process holds the
   * embedded store. Default: `INV_LOCK_WAIT` seconds, else 10 s.
   */
  readonly lockWait?: Store.DataDirOptions["lockWait"]
  /**
   * Notices about the embedded store that need no action: waiting for another holder, permissions
   * tightened. Default: `process.emitWarning`.
   */
  readonly onNotice?: Store.DataDirOptions["onNotice"]
  /**
   * Group commit on a PostgreSQL store written from many places at once (concurrent requests of
   * a web server, say): stock writes made at the same time share one transaction, each answered
   * once it has committed; a lone write runs at once, as without it (docs/sdk.md). Default: off
   * (keyed writes, transfers and batches in a group run one after another on its one connection);
   * it has no effect on another store.
   */
  readonly groupCommit?: boolean | undefined
}

/** Who, why and which key, for any write. */
export interface ChangeOptions {
  readonly reference?: string
  readonly actor?: string
  readonly idempotencyKey?: string
}

export interface Inventory {
  /** Which store this is, for messages: "embedded store in …" or "PostgreSQL at …". */
  readonly store: string
  readonly products: {
    add(product: NewProduct): Promise<Product>
    get(sku: string): Promise<Product>
    update(sku: string, patch: ProductPatch): Promise<Product>
    archive(sku: string): Promise<Product>
    list(query?: ProductQuery): Promise<Page<Product>>
    /** Every matching product, fetching page after page. */
    all(query?: Omit<ProductQuery, "cursor">): AsyncIterable<Product>
  }
  readonly locations: {
    add(location: NewLocation): Promise<Location>
    list(): Promise<ReadonlyArray<Location>>
  }
  readonly stock: {
    set(
      sku: string,
      quantity: number,
      options?: Omit<SetStock, "sku" | "quantity"> & ChangeOptions
    ): Promise<StockChange>
    adjust(
      sku: string,
      delta: number,
      options?: Omit<AdjustStock, "sku" | "delta"> & ChangeOptions
    ): Promise<StockChange>
    transfer(
      sku: string,
      quantity: number,
      options: { readonly from: string; readonly to: string } & ChangeOptions
    ): Promise<TransferResult>
    /** All or nothing; with `dryRun`, only what the changes would do (or why not), nothing written. */
    batch(
      changes: ReadonlyArray<BatchChange>,
      options?: ChangeOptions & { readonly dryRun?: boolean }
    ): Promise<BatchResult>
    level(sku: string, options?: { readonly location?: string }): Promise<StockLevel>
    list(query?: StockQuery): Promise<Page<StockRow>>
    all(query?: Omit<StockQuery, "cursor">): AsyncIterable<StockRow>
    low(query?: LowStockQuery): Promise<Page<LowStockItem>>
    /** Every low or out-of-stock level, fetching page after page. */
    allLow(query?: Omit<LowStockQuery, "cursor">): AsyncIterable<LowStockItem>
    overview(): Promise<Overview>
    history(sku: string, query?: HistoryQuery): Promise<Page<Movement>>
  }
  readonly reservations: {
    /** Holds units for a reference; rejects with InsufficientStock (the available figure) when they do not fit. */
    create(reservation: NewReservation): Promise<Reservation>
    /** Holds several SKUs for one reference, all or nothing (a cart). */
    createMany(reservations: NewReservations): Promise<ReservationList>
    get(id: number): Promise<Reservation>
    /** Newest first, a page at a time. */
    list(query?: ReservationQuery): Promise<Page<Reservation>>
    all(query?: Omit<ReservationQuery, "cursor">): AsyncIterable<Reservation>
    /** Changes the units held or the expiry; more units must fit. */
    update(id: number, patch: ReservationPatch): Promise<Reservation>
    /** The units are available again; releasing a released or expired hold answers it as it is. */
    release(id: number, options?: ReleaseReservation): Promise<Reservation>
    /** The held units (all, or `quantity`) leave stock as a sale; the rest stays held. */
    fulfil(id: number, options?: FulfilReservation): Promise<Reservation>
    /**
     * Closes the holds past their expiry now (the sync worker does it in the background).
     * Local stores only.
     */
    sweepExpired(): Promise<SweepResult>
  }
  readonly suppliers: {
    add(supplier: NewSupplier): Promise<Supplier>
    get(id: string): Promise<Supplier>
    update(id: string, patch: SupplierPatch): Promise<Supplier>
    list(query?: { readonly limit?: number; readonly cursor?: string }): Promise<Page<Supplier>>
    /** Refused while open restock orders point to the supplier. */
    remove(id: string): Promise<void>
    items(id: string, query?: SupplierItemQuery): Promise<Page<SupplierItem>>
    /** Runs one sync now, in this process; rejects with SyncFailed when the run fails. */
    sync(id: string, options?: SyncOptions): Promise<SyncRun>
    /**
     * Syncs several suppliers (`{ supplierIds }`) or every active one (`{ all: true }`); one
     * supplier's failure is reported in its outcome and the others go on. On a local store each
     * runs now, in this process; through `connect()` each is queued for the server's workers.
     */
    syncMany(selection: SyncSelection, options?: SyncOptions): Promise<SyncManyResult>
    runs(id: string, query?: { readonly limit?: number; readonly cursor?: string }): Promise<Page<SyncRun>>
    /** Reads a catalog with a connector without saving anything: to try a mapping. */
    preview(connector: Parameters<SupplierSync["preview"]>[0]): Promise<CatalogPreview>
    /** Queues a sync for a worker; answers the job id. */
    enqueue(id: string): Promise<string>
    /** Runs a sync worker (and the schedules) in this process until `stop()`. */
    worker(options?: WorkerOptions): Promise<{ stop(): Promise<void> }>
  }
  readonly restock: {
    list(query?: OrderQuery): Promise<Page<RestockOrder>>
    get(orderId: number): Promise<RestockOrder>
    submit(orderId: number): Promise<RestockOrder>
    /** Receives all outstanding units, or `quantity` of them; with a key, a repeat adds nothing. */
    receive(orderId: number, options?: Omit<ReceiveOrder, "orderId">): Promise<RestockOrder>
    cancel(orderId: number): Promise<RestockOrder>
    /** Why an order was or was not opened, per location. */
    explain(sku: string, options?: { readonly location?: string }): Promise<ReadonlyArray<ReorderExplanation>>
  }
  close(): Promise<void>
}

export type { OptionNames, Setting, Target } from "./Target.js"

/**
 * Where `openInventory(options)` works (the rule of `Target.resolveTarget`), with the variables
 * read through `Config`.
 */
export const resolveTarget = (options: OpenOptions = {}, names: OptionNames = {}): Effect.Effect<TargetOf> =>
  Effect.map(
    Config.all(
      Object.fromEntries(
        TARGET_VARIABLES.map((name) => [name, Config.option(Config.string(name))] as const)
      ) as Record<(typeof TARGET_VARIABLES)[number], Config.Config<Option.Option<string>>>
    ),
    (found) =>
      targetOf(
        options,
        names,
        Object.fromEntries(Object.entries(found).map(([name, value]) => [name, Option.getOrUndefined(value)]))
      )
  ).pipe(Effect.orDie)

/**
 * Rejects with the domain error itself (ProductNotFound, InsufficientStock, …), not a wrapper;
 * once closed, with InventoryClosed.
 */
const runWith =
  <R>(runtime: ManagedRuntime.ManagedRuntime<R, StoreError | InvalidInput>, isClosed: () => boolean) =>
  <A, E>(effect: Effect.Effect<A, E, R>): Promise<A> =>
    isClosed()
      ? Promise.reject(new InventoryClosed())
      : runtime.runPromiseExit(effect).then(
          Exit.match({
            onSuccess: (value) => value,
            onFailure: (cause) => {
              throw Cause.squash(cause)
            }
          })
        )

/**
 * Opens the inventory: the embedded store by default, PostgreSQL when a database URL is given
 * (or `INV_DATABASE_URL` is set). Migrations run on open. Call `close()` when done.
 */
export const openInventory = async (options: OpenOptions = {}): Promise<Inventory> => {
  const target = await Effect.runPromise(resolveTarget(options))
  if (target._tag === "Remote") {
    // The remote client (the HTTP contract, its client) loads only for a server: a local open needs none of it.
    const { connect } = await import("./Remote.js")
    return connect({ url: target.url.value, token: target.token?.value, caFile: target.caFile?.value })
  }
  const store =
    target._tag === "Postgres"
      ? Store.postgres(target.url.value)
      : target.dataDir === undefined
        ? Store.embedded(undefined)
        : Store.embedded(target.dataDir.value, {
            holder: options.holder,
            lockWait: options.lockWait,
            onNotice: options.onNotice
          })
  const runtime = ManagedRuntime.make(
    (options.groupCommit === true && store._tag === "Postgres"
      ? layer(store).pipe(Layer.provide(groupCommit()))
      : layer(store)
    ).pipe(
      // Set before the store's layer builds, not beside it: the fibers forked as it builds (the
      // group committer's) run untraced too, and so send their statements directly.
      Layer.provideMerge(Layer.setTracerEnabled(false))
    )
  )
  let closed = false
  const run = runWith(runtime, () => closed)
  try {
    await runtime.runtime()
  } catch (error) {
    await runtime.dispose()
    // Reject with the StoreError itself, not the runtime's wrapper around it.
    throw Runtime.isFiberFailure(error) ? Cause.squash(error[Runtime.FiberFailureCauseId]) : error
  }
  const [s, p, l, sup, sync, orders, holds] = await Promise.all([
    run(Stock),
    run(Products),
    run(Locations),
    run(Suppliers),
    run(SupplierSync),
    run(RestockOrders),
    run(Reservations)
  ])

  // The job queue starts on first use, in the same runtime so it shares the store.
  let jobs: Promise<SyncJobs> | undefined
  const jobsScope = await run(Scope.make())
  const syncJobs = () => {
    jobs ??= run(
      Effect.map(Layer.buildWithScope(jobsLayer, jobsScope), (context) => Context.get(context, SyncJobs))
    )
    return jobs
  }
  const close = async () => {
    if (closed) return
    await run(Scope.close(jobsScope, Exit.void))
    closed = true
    await runtime.dispose()
  }

  const productList = (query?: ProductQuery) => run(p.list(query))
  const stockList = (query?: StockQuery) => run(s.list(query))
  const lowStock = (query?: LowStockQuery) => run(s.low(query))
  const reservationList = (query?: ReservationQuery) => run(holds.list(query))
  return registerLocalStore(
    {
      store: Store.describe(store),
      products: {
        add: (product) => run(p.add(product)),
        get: (sku) => run(p.get(sku)),
        update: (sku, patch) => run(p.update(sku, patch)),
        archive: (sku) => run(p.archive(sku)),
        list: productList,
        all: (query = {}) => allItems(productList, query)
      },
      locations: {
        add: (location) => run(l.add(location)),
        list: () => run(l.list())
      },
      stock: {
        set: (sku, quantity, options) => run(s.set({ ...options, sku, quantity })),
        adjust: (sku, delta, options) => run(s.adjust({ ...options, sku, delta })),
        transfer: (sku, quantity, options) => run(s.transfer({ ...options, sku, quantity })),
        batch: (changes, options) => run(s.batch({ ...options, changes })),
        level: (sku, options) => run(s.level(sku, options)),
        list: stockList,
        all: (query = {}) => allItems(stockList, query),
        low: lowStock,
        allLow: (query = {}) => allItems(lowStock, query),
        overview: () => run(s.overview()),
        history: (sku, query) => run(s.history(sku, query))
      },
      reservations: {
        create: (reservation) => run(holds.create(reservation)),
        createMany: (reservations) => run(holds.createMany(reservations)),
        get: (id) => run(holds.get(id)),
        list: reservationList,
        all: (query = {}) => allItems(reservationList, query),
        update: (id, patch) => run(holds.update(id, patch)),
        release: (id, options) => run(holds.release(id, options)),
        fulfil: (id, options) => run(holds.fulfil(id, options)),
        sweepExpired: () => run(holds.sweepExpired())
      },
      suppliers: {
        add: (supplier) => run(sup.add(supplier)),
        get: (id) => run(sup.get(id)),
        update: (id, patch) => run(sup.update(id, patch)),
        list: (query) => run(sup.list(query)),
        remove: (id) => run(sup.remove(id)),
        items: (id, query) => run(sup.items(id, query)),
        sync: (id, options) => run(sync.sync(id, options)),
        syncMany: (selection, options) => run(sync.syncMany(selection, options)),
        runs: (id, query) => run(sync.runs(id, query)),
        preview: (connector) => run(sync.preview(connector)),
        enqueue: async (id) => run((await syncJobs()).enqueue((await run(sup.get(id))).id)),
        worker: async (options) => {
          const fiber = runtime.runFork((await syncJobs()).work(options))
          return { stop: () => run(Fiber.interrupt(fiber)).then(() => undefined) }
        }
      },
      restock: {
        list: (query) => run(orders.list(query)),
        get: (orderId) => run(orders.get(orderId)),
        submit: (orderId) => run(orders.submit(orderId)),
        receive: (orderId, options) => run(orders.receive({ ...options, orderId })),
        cancel: (orderId) => run(orders.cancel(orderId)),
        explain: (sku, options) => run(orders.explain(sku, options))
      },
      close
    },
    { run }
  )
}
