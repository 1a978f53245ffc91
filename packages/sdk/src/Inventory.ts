/**
 * The whole inventory in one place: the Effect layer for Effect users, and `openInventory`, a
 * Promise facade for everyone else. Both run the same services.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type { StoreError } from "./InventoryError.js"
import { type Location, Locations, type NewLocation } from "./Location.js"
import type { Page } from "./Page.js"
import { type NewProduct, type Product, type ProductPatch, type ProductQuery, Products } from "./Product.js"
import {
  type AdjustStock,
  type BatchChange,
  type BatchResult,
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

export type Services = Stock | Products | Locations

/** Every inventory service over one open store. */
export const layer = (store: Store.StoreOptions): Layer.Layer<Services, StoreError> =>
  Layer.mergeAll(Stock.Default, Products.Default, Locations.Default).pipe(Layer.provide(Store.layer(store)))

export interface OpenOptions {
  /** A PostgreSQL URL; when set, the data lives there. Default: `INV_DATABASE_URL`. */
  readonly databaseUrl?: string | undefined
  /** The embedded store's directory. Default: `INV_HOME`, else the XDG data directory. */
  readonly dataDir?: string | undefined
  /** An embedded store in memory, gone on close: for tests and throwaway runs. */
  readonly inMemory?: boolean | undefined
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
    /** All changes or none. */
    batch(changes: ReadonlyArray<BatchChange>, options?: ChangeOptions): Promise<BatchResult>
    level(sku: string, options?: { readonly location?: string }): Promise<StockLevel>
    list(query?: StockQuery): Promise<Page<StockRow>>
    all(query?: Omit<StockQuery, "cursor">): AsyncIterable<StockRow>
    low(query?: LowStockQuery): Promise<ReadonlyArray<LowStockItem>>
    overview(): Promise<Overview>
    history(sku: string, query?: HistoryQuery): Promise<Page<Movement>>
  }
  close(): Promise<void>
}

const storeFor = (options: OpenOptions): Effect.Effect<Store.StoreOptions, StoreError> =>
  options.inMemory
    ? Effect.succeed(Store.embedded(undefined))
    : options.databaseUrl
      ? Effect.succeed(Store.postgres(options.databaseUrl))
      : options.dataDir
        ? Effect.succeed(Store.embedded(options.dataDir))
        : Effect.orDie(Store.fromEnvironment)

/** Rejects with the domain error itself (ProductNotFound, InsufficientStock, …), not a wrapper. */
const runWith =
  <R>(runtime: ManagedRuntime.ManagedRuntime<R, StoreError>) =>
  <A, E>(effect: Effect.Effect<A, E, R>): Promise<A> =>
    runtime.runPromiseExit(effect).then(
      Exit.match({
        onSuccess: (value) => value,
        onFailure: (cause) => {
          throw Cause.squash(cause)
        }
      })
    )

async function* pages<T, Q extends object>(
  fetch: (query: Q & { readonly cursor?: string | undefined }) => Promise<Page<T>>,
  query: Q
): AsyncIterable<T> {
  let cursor: string | undefined
  do {
    const page = await fetch({ ...query, cursor })
    yield* page.items
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
}

/**
 * Opens the inventory: the embedded store by default, PostgreSQL when a database URL is given
 * (or `INV_DATABASE_URL` is set). Migrations run on open. Call `close()` when done.
 */
export const openInventory = async (options: OpenOptions = {}): Promise<Inventory> => {
  const store = await Effect.runPromise(storeFor(options))
  const runtime = ManagedRuntime.make(layer(store))
  const run = runWith(runtime)
  try {
    await runtime.runtime()
  } catch (error) {
    await runtime.dispose()
    throw Cause.isCause((error as any)?.cause) ? Cause.squash((error as any).cause) : error
  }
  const stock = run(Stock)
  const products = run(Products)
  const locations = run(Locations)
  const [s, p, l] = await Promise.all([stock, products, locations])

  const productList = (query?: ProductQuery) => run(p.list(query))
  const stockList = (query?: StockQuery) => run(s.list(query))
  return {
    store: Store.describe(store),
    products: {
      add: (product) => run(p.add(product)),
      get: (sku) => run(p.get(sku)),
      update: (sku, patch) => run(p.update(sku, patch)),
      archive: (sku) => run(p.archive(sku)),
      list: productList,
      all: (query = {}) => pages(productList, query)
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
      all: (query = {}) => pages(stockList, query),
      low: (query) => run(s.low(query)),
      overview: () => run(s.overview()),
      history: (sku, query) => run(s.history(sku, query))
    },
    close: () => runtime.dispose()
  }
}
