/**
 * Catalog synchronisation: fetch a supplier's catalog, validate every item (a bad one is
 * reported and skipped), upsert the supplier's items, deactivate those that vanished, and record
 * the run. The change and its `supplier.catalog.updated` outbox event commit together. One run
 * at a time per supplier: the database refuses a second running run.
 */

import { createHash } from "node:crypto"
import * as HttpClient from "@effect/platform/HttpClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { InvalidInput, type StoreError, type SupplierNotFound, SyncFailed } from "./InventoryError.js"
import { type Feed, type FeedItem, fetchCatalog, readEntries } from "./internal/catalogFeed.js"
import { type FeedRules, publicOnlyAgent, unrestricted } from "./internal/feedAccess.js"
import { writeEvent, writeEvents } from "./internal/outbox.js"
import * as UndiciHttpClient from "./internal/undiciHttpClient.js"
import { decodeInput, failOnSqlDefect, pgCode, storeFailure } from "./internal/validation.js"
import { decodeCursor, IdCursor, type Page, pageQuery, toPage } from "./Page.js"
import { Product, columns as productColumns } from "./Product.js"
import { isCode } from "./Rules.js"
import { Connector, type Supplier, SupplierId, Suppliers } from "./Supplier.js"

type ConnectorInput = typeof Connector.Encoded

export interface CatalogPreview {
  /** Entries in the feed. */
  readonly total: number
  /** The first valid items, as they would be saved. */
  readonly items: ReadonlyArray<FeedItem>
  readonly rejected: number
  /** The first rejections. */
  readonly rejections: ReadonlyArray<typeof Rejection.Type>
}

export const Trigger = Schema.Literal("manual", "scheduled")
export type Trigger = typeof Trigger.Type

export const SyncStatus = Schema.Literal("running", "succeeded", "partial", "failed")
export type SyncStatus = typeof SyncStatus.Type

export const Rejection = Schema.Struct({
  /** The item's 1-based index in a JSON feed, or its line in a CSV file. */
  position: Schema.Number,
  supplierSku: Schema.NullOr(Schema.String),
  field: Schema.String,
  message: Schema.String
})

export const SyncRun = Schema.Struct({
  id: Schema.Number,
  supplierId: Schema.String,
  trigger: Trigger,
  status: SyncStatus,
  attempt: Schema.Number,
  added: Schema.Number,
  updated: Schema.Number,
  unchanged: Schema.Number,
  deactivated: Schema.Number,
  rejected: Schema.Number,
  rejections: Schema.Array(Rejection),
  error: Schema.NullOr(Schema.String),
  startedAt: Schema.Date,
  finishedAt: Schema.NullOr(Schema.Date)
}).annotations({ identifier: "SyncRun" })
export type SyncRun = typeof SyncRun.Type

export interface SyncProgress {
  readonly phase: "fetching" | "validating" | "saving" | "done"
  /** Items read from the feed, once known. */
  readonly items?: number
  readonly rejected?: number
}

export interface SyncOptions {
  readonly trigger?: Trigger
  /** Which attempt of a retried job this is (1 for the first). */
  readonly attempt?: number
  readonly onProgress?: (progress: SyncProgress) => void
}

/** Which suppliers to sync at once: the ones named, or every active one. */
export const SyncSelection = Schema.Struct({
  supplierIds: Schema.optional(
    Schema.Array(SupplierId).pipe(
      Schema.minItems(1, { message: () => "must name at least one supplier" }),
      Schema.maxItems(1000, { message: () => "must name at most 1000 suppliers" })
    )
  ),
  all: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "SyncSelection" })
export type SyncSelection = typeof SyncSelection.Encoded

/** One supplier's part of a sync of several: its run, its queued job, or why it failed. */
export const SyncOutcome = Schema.Union(
  Schema.Struct({ supplierId: Schema.String, outcome: Schema.Literal("synced"), run: SyncRun }),
  Schema.Struct({ supplierId: Schema.String, outcome: Schema.Literal("queued"), jobId: Schema.String }),
  Schema.Struct({
    supplierId: Schema.String,
    outcome: Schema.Literal("failed"),
    /** The error's code, e.g. SyncFailed or SupplierNotFound. */
    error: Schema.String,
    message: Schema.String,
    /** The failed run, when one was recorded. */
    runId: Schema.NullOr(Schema.Number)
  })
).annotations({ identifier: "SyncOutcome" })
export type SyncOutcome = typeof SyncOutcome.Type

export const SyncManyResult = Schema.Struct({
  /** One per supplier, in the order asked (by id for `all`). */
  results: Schema.Array(SyncOutcome),
  /** How many of them failed. */
  failed: Schema.Number
}).annotations({ identifier: "SyncManyResult" })
export type SyncManyResult = typeof SyncManyResult.Type

/** A supplier's failure as its outcome, so the others go on. */
export const failedOutcome = (
  supplierId: string,
  error: SyncFailed | SupplierNotFound | InvalidInput
): SyncOutcome => ({
  supplierId,
  outcome: "failed",
  error: error._tag,
  message: error._tag === "SyncFailed" ? error.reason : error.message,
  runId: error._tag === "SyncFailed" ? error.runId : null
})

export const syncManyResult = (results: ReadonlyArray<SyncOutcome>): SyncManyResult => ({
  results,
  failed: results.filter((result) => result.outcome === "failed").length
})

/** A run still marked running after this long was abandoned by a crashed process. */
/** A supplier's sync runs a page at a time, newest first, before the last page's run id. */
const RunPageQuery = pageQuery(IdCursor)

const encodeProduct = Schema.encodeSync(Product)

const ABANDONED_AFTER = "30 minutes"

const runColumns =
  "id, supplier_id, trigger, status, attempt, added, updated, unchanged, deactivated, rejected, rejections, error, started_at, finished_at"

/** What the saving statement gets per item: the feed's values, our product's SKU and a fingerprint. */
const feedRows = (feed: Feed) =>
  feed.items.map((item) => ({
    supplier_sku: item.supplierSku,
    product_sku: item.sku ?? (isCode(item.supplierSku) ? item.supplierSku : null),
    name: item.name,
    unit_cost: item.unitCost,
    lead_time_days: item.leadTimeDays,
    min_order_qty: item.minOrderQty ?? 1,
    pack_size: item.packSize ?? 1,
    availability: item.availability,
    content_hash: createHash("sha1").update(JSON.stringify(item)).digest("base64url")
  }))

/**
 * What connectors may reach: by default anything (the operator's own machine); a server narrows
 * it (INV_FEED_DIR, INV_FEED_ALLOW_PRIVATE) by providing this to the store's layer.
 */
export class FeedAccess extends Context.Reference<FeedAccess>()("@invkit/sdk/SupplierSync/FeedAccess", {
  defaultValue: (): FeedRules => unrestricted
}) {}
export type { FeedRules }

export class SupplierSync extends Effect.Service<SupplierSync>()("@invkit/sdk/SupplierSync", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const suppliers = yield* Suppliers
    const feedRules = yield* FeedAccess
    // Built on the first fetch: most commands never talk to a supplier, and undici costs a start-up.
    const scope = yield* Effect.scope
    const httpClient = yield* Effect.cached(
      Effect.promise(() =>
        feedRules.privateAddresses ? Promise.resolve(undefined) : publicOnlyAgent()
      ).pipe(
        Effect.flatMap((agent) => Layer.buildWithScope(UndiciHttpClient.layer(agent), scope)),
        Effect.map((context) => Context.get(context, HttpClient.HttpClient))
      )
    )
    const withHttp = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(httpClient, (http) => Effect.provideService(effect, HttpClient.HttpClient, http))

    const startRun = (supplierId: string, trigger: Trigger, attempt: number) =>
      Effect.gen(function* () {
        yield* sql`
          update sync_runs set status = 'failed', error = 'abandoned: the process running it stopped', finished_at = now()
          where supplier_id = ${supplierId} and status = 'running'
            and started_at < now() - interval '${sql.unsafe(ABANDONED_AFTER)}'`
        const rows = yield* sql<{ id: number }>`
          insert into sync_runs (supplier_id, trigger, status, attempt)
          values (${supplierId}, ${trigger}, 'running', ${attempt})
          returning id`
        return rows[0]!.id
      }).pipe(
        Effect.catchTag(
          "SqlError",
          (error): Effect.Effect<never, SyncFailed | StoreError> =>
            pgCode(error) === "23505"
              ? Effect.fail(
                  new SyncFailed({
                    supplierId,
                    runId: null,
                    reason: "another sync of this supplier is running; one runs at a time",
                    transient: true
                  })
                )
              : Effect.fail(storeFailure(error))
        )
      )

    const failRun = (runId: number, reason: string) =>
      sql`
        update sync_runs set status = 'failed', error = ${reason}, finished_at = now()
        where id = ${runId} and status = 'running'`.pipe(Effect.mapError(storeFailure))

    const getRun = (runId: number) =>
      sql<SyncRun>`select ${sql.unsafe(runColumns)} from sync_runs where id = ${runId}`.pipe(
        Effect.map((rows) => rows[0]!),
        Effect.mapError(storeFailure)
      )

    /** Upsert, deactivate, record and announce, in one transaction. */
    const save = (supplierId: string, createMissingProducts: boolean, runId: number, feed: Feed) =>
      Effect.gen(function* () {
        const rows = JSON.stringify(feedRows(feed))
        const present = JSON.stringify([
          ...feed.items.map((item) => item.supplierSku),
          // A rejected item did not vanish: it keeps its last good values.
          ...feed.rejections.flatMap((rejection) =>
            rejection.supplierSku === null ? [] : [rejection.supplierSku]
          )
        ])
        const feedTable = sql`
          jsonb_to_recordset(${rows}::jsonb) as f(
            supplier_sku text, product_sku text, name text, unit_cost numeric, lead_time_days int,
            min_order_qty int, pack_size int, availability int, content_hash text)`
        if (createMissingProducts) {
          // Each product added is announced as `products.add` announces it, so stock readers
          // (stock-checker's cache: low stock, the overview) see it at once.
          const created = yield* sql<Product>`
            insert into products (sku, name)
            select distinct on (f.product_sku) f.product_sku, coalesce(f.name, f.product_sku)
            from ${feedTable}
            where f.product_sku is not null
            order by f.product_sku
            on conflict (sku) do nothing
            returning ${sql.unsafe(productColumns)}`
          if (created.length > 0) {
            yield* writeEvents(
              sql,
              "product.created",
              created.map((product) => ({ subject: product.sku, data: encodeProduct(product) }))
            )
          }
        }
        const [counts] = yield* sql<{ added: number; updated: number; deactivated: number }>`
          with upserted as (
            insert into supplier_items as si (supplier_id, supplier_sku, sku, name, unit_cost, lead_time_days,
                                              min_order_qty, pack_size, availability, content_hash)
            select ${supplierId}, f.supplier_sku, p.sku, f.name, f.unit_cost, f.lead_time_days,
                   f.min_order_qty, f.pack_size, f.availability, f.content_hash
            from ${feedTable}
            left join products p on p.sku = f.product_sku
            on conflict (supplier_id, supplier_sku) do update
              set sku = excluded.sku, name = excluded.name, unit_cost = excluded.unit_cost,
                  lead_time_days = excluded.lead_time_days, min_order_qty = excluded.min_order_qty,
                  pack_size = excluded.pack_size, availability = excluded.availability,
                  content_hash = excluded.content_hash, active = true, deactivated_at = null, updated_at = now()
              where si.content_hash <> excluded.content_hash or not si.active or si.sku is distinct from excluded.sku
            returning (xmax = 0) as inserted
          ),
          deactivated as (
            update supplier_items set active = false, deactivated_at = now(), updated_at = now()
            where supplier_id = ${supplierId} and active
              and supplier_sku not in (select jsonb_array_elements_text(${present}::jsonb))
            returning 1
          )
          select (select count(*) from upserted where inserted)::int as added,
                 (select count(*) from upserted where not inserted)::int as updated,
                 (select count(*) from deactivated)::int as deactivated`
        const added = counts?.added ?? 0
        const updated = counts?.updated ?? 0
        const deactivated = counts?.deactivated ?? 0
        const unchanged = feed.items.length - added - updated
        const status: SyncStatus = feed.rejections.length > 0 ? "partial" : "succeeded"
        yield* sql`
          update sync_runs set status = ${status}, added = ${added}, updated = ${updated}, unchanged = ${unchanged},
            deactivated = ${deactivated}, rejected = ${feed.rejections.length},
            rejections = ${JSON.stringify(feed.rejections)}::jsonb, finished_at = now()
          where id = ${runId}`
        yield* writeEvent(sql, "supplier.catalog.updated", supplierId, {
          supplierId,
          runId,
          status,
          added,
          updated,
          unchanged,
          deactivated,
          rejected: feed.rejections.length
        })
      }).pipe(sql.withTransaction, failOnSqlDefect, Effect.mapError(storeFailure))

    const sync = (
      supplierId: string,
      options: SyncOptions = {}
    ): Effect.Effect<SyncRun, InvalidInput | SupplierNotFound | SyncFailed | StoreError> =>
      Effect.gen(function* () {
        const progress = (update: SyncProgress) => Effect.sync(() => options.onProgress?.(update))
        const supplier = yield* suppliers.getWithSecrets(supplierId)
        // Once its run is recorded, a sync that is interrupted (a caller's timeout, Ctrl-C) ends
        // that run: left `running`, it would refuse every sync of the supplier until abandoned.
        return yield* Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(startRun(supplier.id, options.trigger ?? "manual", options.attempt ?? 1), (runId) =>
            restore(runSync(supplier, runId, progress)).pipe(
              Effect.onInterrupt(() =>
                Effect.ignore(failRun(runId, "interrupted: the sync was stopped before it finished"))
              )
            )
          )
        )
      }).pipe(withHttp)

    const runSync = (
      supplier: Supplier,
      runId: number,
      progress: (update: SyncProgress) => Effect.Effect<void>
    ) =>
      Effect.gen(function* () {
        const fail = (reason: string, transient: boolean, retryAfterMs?: number) =>
          Effect.zipRight(
            failRun(runId, reason),
            Effect.fail(new SyncFailed({ supplierId: supplier.id, runId, reason, transient, retryAfterMs }))
          )
        yield* progress({ phase: "fetching" })
        const entries = yield* fetchCatalog(supplier.connector, feedRules).pipe(
          Effect.catchAll((failure) => fail(failure.reason, failure.transient, failure.retryAfterMs))
        )
        yield* progress({ phase: "validating", items: entries.length })
        const columns =
          supplier.connector.type === "http-json" ? supplier.connector.fields : supplier.connector.columns
        const feed = yield* readEntries(entries, columns).pipe(
          Effect.catchAll((failure) => fail(failure.reason, failure.transient))
        )
        yield* progress({ phase: "saving", items: entries.length, rejected: feed.rejections.length })
        yield* save(supplier.id, supplier.createMissingProducts, runId, feed).pipe(
          Effect.tapError((error) => Effect.ignore(failRun(runId, error.reason)))
        )
        yield* progress({ phase: "done", items: entries.length, rejected: feed.rejections.length })
        return yield* getRun(runId)
      })

    const runs = (
      supplierId: string,
      query: { readonly limit?: number; readonly cursor?: string } = {}
    ): Effect.Effect<Page<SyncRun>, InvalidInput | SupplierNotFound | StoreError> =>
      Effect.gen(function* () {
        const supplier = yield* suppliers.get(supplierId)
        const q = yield* decodeInput(RunPageQuery)(query)
        const before = q.cursor === undefined ? undefined : Number(decodeCursor(q.cursor)[0])
        const rows = yield* sql<SyncRun>`
          select ${sql.unsafe(runColumns)} from sync_runs
          where supplier_id = ${supplier.id} ${before === undefined ? sql`` : sql`and id < ${before}`}
          order by id desc limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.id])
      })

    /**
     * Fetches and reads a catalog with a connector, saving nothing: to try a mapping against the
     * live feed before saving the supplier.
     */
    const preview = (
      input: Connector | ConnectorInput
    ): Effect.Effect<CatalogPreview, InvalidInput | SyncFailed> =>
      Effect.gen(function* () {
        const connector = yield* decodeInput(Connector)(input)
        const failed = (failure: { reason: string; transient: boolean }) =>
          Effect.fail(
            new SyncFailed({
              supplierId: "",
              runId: null,
              reason: failure.reason,
              transient: failure.transient
            })
          )
        const entries = yield* fetchCatalog(connector, feedRules).pipe(Effect.catchAll(failed))
        const columns = connector.type === "http-json" ? connector.fields : connector.columns
        const feed = yield* readEntries(entries, columns).pipe(Effect.catchAll(failed))
        return {
          total: entries.length,
          items: feed.items.slice(0, 10),
          rejections: feed.rejections.slice(0, 10),
          rejected: feed.rejections.length
        }
      }).pipe(withHttp)

    /** The suppliers a selection names, without repeats; every active one for `all`. */
    const select = (
      selection: SyncSelection
    ): Effect.Effect<ReadonlyArray<string>, InvalidInput | StoreError> =>
      Effect.gen(function* () {
        const { supplierIds, all } = yield* decodeInput(SyncSelection)(selection)
        if ((supplierIds === undefined) === (all !== true)) {
          return yield* new InvalidInput({
            field: "supplierIds",
            rule: "name the suppliers to sync, or set all: true for every active one (not both)"
          })
        }
        if (supplierIds !== undefined) return [...new Set(supplierIds)]
        const rows = yield* sql<{ id: string }>`select id from suppliers where active order by id`.pipe(
          Effect.mapError(storeFailure)
        )
        return rows.map((row) => row.id)
      })

    /**
     * Syncs each selected supplier now, one after another; a supplier that fails is reported in
     * its outcome (its run recorded as failed, as with `sync`) and the rest still sync.
     */
    const syncMany = (
      selection: SyncSelection,
      options: SyncOptions = {}
    ): Effect.Effect<SyncManyResult, InvalidInput | StoreError> =>
      Effect.flatMap(select(selection), (ids) =>
        Effect.map(
          Effect.forEach(ids, (supplierId) =>
            sync(supplierId, options).pipe(
              Effect.map((run): SyncOutcome => ({ supplierId, outcome: "synced", run })),
              Effect.catchTags({
                SyncFailed: (error) => Effect.succeed(failedOutcome(supplierId, error)),
                SupplierNotFound: (error) => Effect.succeed(failedOutcome(supplierId, error)),
                InvalidInput: (error) => Effect.succeed(failedOutcome(supplierId, error))
              })
            )
          ),
          syncManyResult
        )
      )

    return { sync, syncMany, select, runs, preview } as const
  })
}) {}
