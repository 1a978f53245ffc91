/**
 * Stock: levels per product and location, every change recorded in the append-only ledger
 * (`stock_movements`) and announced by a `stock.updated` event in the outbox, all in one
 * transaction. Each level write is a single conditional statement: the database, not the
 * application, decides whether the change fits, so concurrent writers never lose an update and
 * never drive stock below zero. This module holds the requests' and answers' schemas and the
 * service; the write path itself is `internal/stockWrite.ts`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as EffectContext from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { type InvalidInput, LocationNotFound, ProductNotFound, type StoreError } from "./InventoryError.js"
import { sender } from "./internal/directStatement.js"
import * as GroupCommitter from "./internal/groupCommit.js"
import { heldAt } from "./internal/reservationWrite.js"
import { applyPlainAdjustments, makeStockWriter, type WriteError } from "./internal/stockWrite.js"
import {
  Actor,
  BooleanInput,
  containsPattern,
  decodeInput,
  Moment,
  NumberInput,
  PlainText,
  storeFailure,
  TextInput
} from "./internal/validation.js"
import { DEFAULT_LOCATION, LocationCode } from "./Location.js"
import { cursorOf, DEFAULT_LIMIT, decodeCursor, IdCursor, Limit, type Page, toPage } from "./Page.js"
import { Quantity, Sku, Units } from "./Product.js"
import { ReorderRule } from "./Reorder.js"
import { DELTA_RULE, MAX_QUANTITY, NOTE_MAX_LENGTH, REASON_RULE, REASONS } from "./Rules.js"

export { Quantity, Sku } from "./Product.js"

// ---------------------------------------------------------------------------------------------
// Schemas

export const Reason = Schema.Literal(...REASONS).annotations({
  identifier: "Reason",
  message: () => ({ message: REASON_RULE, override: true })
})
export type Reason = typeof Reason.Type

/** A change in units: whole, not zero, at most MAX_QUANTITY either way. */
export const Delta = NumberInput.pipe(
  Schema.int({ message: () => DELTA_RULE }),
  Schema.between(-MAX_QUANTITY, MAX_QUANTITY, { message: () => DELTA_RULE }),
  Schema.filter((delta) => delta !== 0, { message: () => DELTA_RULE })
).annotations({ identifier: "Delta" })

const Note = PlainText.pipe(
  Schema.maxLength(NOTE_MAX_LENGTH, { message: () => `must be at most ${NOTE_MAX_LENGTH} characters` })
)
const IdempotencyKey = PlainText.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(255, { message: () => "must be at most 255 characters" })
)

/** Who and why, common to every change. */
const Context = {
  reference: Schema.optional(Note),
  actor: Schema.optional(Actor),
  /** Same key and same request: the first answer again. Same key, other request: an error. */
  idempotencyKey: Schema.optional(IdempotencyKey)
}
const AtLocation = Schema.optionalWith(LocationCode, { default: () => DEFAULT_LOCATION })

/** What one absolute change says; alone (`SetStock`) or in a batch. */
const SetFields = {
  sku: Sku,
  quantity: Quantity,
  location: AtLocation,
  /** Optimistic check: fail with StockConflict unless the current quantity is this. */
  expected: Schema.optional(Quantity),
  reason: Schema.optionalWith(Reason, { default: () => "count" as const })
}

/** What one relative change says; alone (`AdjustStock`) or in a batch. */
const AdjustFields = {
  sku: Sku,
  delta: Delta,
  location: AtLocation,
  reason: Schema.optionalWith(Reason, { default: () => "adjustment" as const })
}

/**
 * Make room by releasing the level's newest holds, as many as the change needs, instead of
 * refusing a change that would take on hand below what is held.
 */
const ReleaseHolds = { releaseHolds: Schema.optional(BooleanInput) }

export const SetStock = Schema.Struct({ ...SetFields, ...Context, ...ReleaseHolds })
export type SetStock = typeof SetStock.Encoded

export const AdjustStock = Schema.Struct({ ...AdjustFields, ...Context, ...ReleaseHolds })
export type AdjustStock = typeof AdjustStock.Encoded

export const TransferStock = Schema.Struct({
  sku: Sku,
  quantity: Units,
  from: LocationCode,
  to: LocationCode,
  ...Context
}).pipe(
  Schema.filter(
    (t) => t.from !== t.to || { path: ["to"], message: "must be another location than the one it moves from" }
  )
)
export type TransferStock = typeof TransferStock.Encoded

export const BatchChange = Schema.Union(
  Schema.Struct({ type: Schema.Literal("set"), ...SetFields }),
  Schema.Struct({ type: Schema.Literal("adjust"), ...AdjustFields })
)
export type BatchChange = typeof BatchChange.Encoded

export const MAX_BATCH = 1000

export const StockBatch = Schema.Struct({
  changes: Schema.Array(BatchChange).pipe(
    Schema.minItems(1, { message: () => "must hold at least one change" }),
    Schema.maxItems(MAX_BATCH, { message: () => `must hold at most ${MAX_BATCH} changes; split the batch` })
  ),
  /**
   * Check the changes against the store and answer what they would do, without writing anything
   * (the transaction is rolled back; no key is claimed, no event sent, no restock order opened).
   */
  dryRun: Schema.optional(Schema.Boolean),
  ...Context,
  ...ReleaseHolds
})
export type StockBatch = typeof StockBatch.Encoded

/** What one applied change did: its ledger movement and the level after it. */
export const StockChange = Schema.Struct({
  movementId: Schema.Number,
  sku: Schema.String,
  location: Schema.String,
  delta: Schema.Number,
  onHand: Schema.Number,
  version: Schema.Number,
  reason: Reason,
  reference: Schema.NullOr(Schema.String),
  actor: Schema.NullOr(Schema.String),
  at: Schema.Date
}).annotations({ identifier: "StockChange" })
export type StockChange = typeof StockChange.Type

export const TransferResult = Schema.Struct({ from: StockChange, to: StockChange })
export type TransferResult = typeof TransferResult.Type

export const BatchResult = Schema.Struct({ changes: Schema.Array(StockChange) })
export type BatchResult = typeof BatchResult.Type

export const LocationLevel = Schema.Struct({
  location: Schema.String,
  onHand: Schema.Number,
  reserved: Schema.Number,
  available: Schema.Number,
  version: Schema.Number,
  updatedAt: Schema.Date
})
export type LocationLevel = typeof LocationLevel.Type

/** Which level to read: a product's, at one location or all of them. */
export const LevelQuery = Schema.Struct({ sku: Sku, location: Schema.optional(LocationCode) })

/** One product's stock: the total over its locations, and each location. */
export const StockLevel = Schema.Struct({
  sku: Schema.String,
  name: Schema.String,
  onHand: Schema.Number,
  reserved: Schema.Number,
  available: Schema.Number,
  reorderPoint: Schema.Number,
  locations: Schema.Array(LocationLevel)
}).annotations({ identifier: "StockLevel" })
export type StockLevel = typeof StockLevel.Type

export const StockRow = Schema.Struct({
  sku: Schema.String,
  name: Schema.String,
  location: Schema.String,
  onHand: Schema.Number,
  reserved: Schema.Number,
  available: Schema.Number,
  reorderPoint: Schema.Number,
  version: Schema.Number,
  updatedAt: Schema.Date
}).annotations({ identifier: "StockRow" })
export type StockRow = typeof StockRow.Type

export const StockQuery = Schema.Struct({
  location: Schema.optional(LocationCode),
  /** Matches SKU or product name, case-insensitively. */
  text: Schema.optional(TextInput),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  // The last row's SKU and location.
  cursor: Schema.optional(cursorOf("text", "text"))
})
export type StockQuery = typeof StockQuery.Encoded

export const LowStockItem = Schema.Struct({
  sku: Schema.String,
  name: Schema.String,
  location: Schema.String,
  onHand: Schema.Number,
  available: Schema.Number,
  reorderPoint: Schema.Number,
  reorderQuantity: Schema.Number,
  /** How far below the reorder point (0 when exactly at it). */
  shortfall: Schema.Number
}).annotations({ identifier: "LowStockItem" })
export type LowStockItem = typeof LowStockItem.Type

export const LowStockQuery = Schema.Struct({
  location: Schema.optional(LocationCode),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  // The last row's whole sort key: in stock (0 or 1), available less the reorder point, SKU, location.
  cursor: Schema.optional(cursorOf("int", "int", "text", "text"))
})
export type LowStockQuery = typeof LowStockQuery.Encoded

export const Overview = Schema.Struct({
  /** Active products. */
  products: Schema.Number,
  locations: Schema.Number,
  /** Units on hand over all active products and locations. */
  units: Schema.Number,
  /** Active products with nothing available anywhere. */
  outOfStock: Schema.Number,
  /** Active products with some stock, but at or below their reorder point. */
  low: Schema.Number,
  /** Active products above their reorder point. */
  ok: Schema.Number,
  movements: Schema.Number
}).annotations({ identifier: "Overview" })
export type Overview = typeof Overview.Type

export const Movement = Schema.Struct({
  id: Schema.Number,
  sku: Schema.String,
  location: Schema.String,
  delta: Schema.Number,
  quantityAfter: Schema.Number,
  reason: Reason,
  reference: Schema.NullOr(Schema.String),
  actor: Schema.NullOr(Schema.String),
  at: Schema.Date
}).annotations({ identifier: "Movement" })
export type Movement = typeof Movement.Type

export const HistoryQuery = Schema.Struct({
  location: Schema.optional(LocationCode),
  /** Only movements at or before this time. */
  until: Schema.optional(Moment),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  cursor: Schema.optional(IdCursor)
})
export type HistoryQuery = typeof HistoryQuery.Encoded

/** A history's whole request, the SKU with the query, as `history` checks it. */
const HistoryRequest = Schema.Struct({ sku: Sku, ...HistoryQuery.fields })

/**
 * Group commit for a store written by many fibers at once, such as a server's: concurrent writes
 * share one transaction, each answered once it has committed (see docs/server.md). Off by
 * default: one caller (the CLI, an embedded app) gains nothing from it. `maxGroup` bounds the
 * requests in one transaction; 0 turns grouping off.
 */
export class GroupCommit extends EffectContext.Reference<GroupCommit>()("@invkit/sdk/Stock/GroupCommit", {
  defaultValue: (): { readonly maxGroup: number } => ({ maxGroup: 0 })
}) {}

/** Turns group commit on for the `Stock` built under this layer. */
export const groupCommit = (maxGroup: number = GroupCommitter.MAX_GROUP): Layer.Layer<never> =>
  Layer.succeedContext(EffectContext.make(GroupCommit, { maxGroup }))

export class Stock extends Effect.Service<Stock>()("@invkit/sdk/Stock", {
  dependencies: [ReorderRule.Default],
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const reorder = yield* ReorderRule
    const { maxGroup } = yield* GroupCommit

    const committer =
      maxGroup > 0 ? yield* GroupCommitter.make(maxGroup, applyPlainAdjustments(sql)) : undefined
    const { applyAll } = makeStockWriter(sql, reorder, committer)
    /** What a level holds for reservations that have not expired: reads compute expiry. */
    const held = heldAt(sql, "l")
    // The requests' decoders, built once: a schema and its decoder cost more to make than the
    // read or write they check.
    const decodeLevelQuery = decodeInput(LevelQuery)
    const decodeSetStock = decodeInput(SetStock)
    const decodeAdjustStock = decodeInput(AdjustStock)
    const decodeTransferStock = decodeInput(TransferStock)
    const decodeStockBatch = decodeInput(StockBatch)
    // A level read is the most frequent read (stock-checker's cache misses, an app's checks): its
    // statement goes as a stock write's does, straight to the pool and prepared (directStatement.ts).
    const send = sender(sql)

    /**
     * Runs `unit`, stock writes together with what must commit with them (a consumer's inbox row,
     * say), as one request of the next group: its own savepoint in the group's transaction,
     * answered after that commits. With group commit off, `unit` runs as it is (it opens its own
     * transaction).
     */
    const inGroup = <A, E>(unit: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
      committer === undefined
        ? unit
        : Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
            committer.run({
              // The unit runs in the committer's fiber: it keeps the caller's trace.
              safe: span._tag === "Some" ? Effect.withParentSpan(unit, span.value) : unit
            })
          )

    const set = (input: SetStock): Effect.Effect<StockChange, InvalidInput | WriteError> =>
      Effect.flatMap(decodeSetStock(input), (request) =>
        applyAll("set", request, [{ type: "set", ...request }], request, StockChange, ([change]) => change!)
      )

    const adjust = (input: AdjustStock): Effect.Effect<StockChange, InvalidInput | WriteError> =>
      Effect.flatMap(decodeAdjustStock(input), (request) =>
        applyAll(
          "adjust",
          request,
          [{ type: "adjust", ...request }],
          request,
          StockChange,
          ([change]) => change!
        )
      )

    const transfer = (input: TransferStock): Effect.Effect<TransferResult, InvalidInput | WriteError> =>
      Effect.flatMap(decodeTransferStock(input), (request) =>
        applyAll(
          "transfer",
          request,
          [
            {
              type: "adjust",
              sku: request.sku,
              location: request.from,
              delta: -request.quantity,
              reason: "transfer"
            },
            {
              type: "adjust",
              sku: request.sku,
              location: request.to,
              delta: request.quantity,
              reason: "transfer"
            }
          ],
          request,
          TransferResult,
          ([from, to]) => ({ from: from!, to: to! })
        )
      )

    const batch = (input: StockBatch): Effect.Effect<BatchResult, InvalidInput | WriteError> =>
      Effect.flatMap(decodeStockBatch(input), (request) =>
        applyAll(
          "batch",
          request,
          request.changes,
          request,
          BatchResult,
          (changes) => ({ changes }),
          request.dryRun === true
        )
      )

    // -------------------------------------------------------------------------------------------
    // Reading

    /** A read filtered by a location that does not exist is a mistake, not an empty answer. */
    const requireLocation = (location: string | undefined) =>
      location === undefined
        ? Effect.void
        : sql`select 1 from locations where code = ${location}`.pipe(
            Effect.mapError(storeFailure),
            Effect.flatMap((rows) =>
              rows.length > 0 ? Effect.void : Effect.fail(new LocationNotFound({ location }))
            )
          )

    const level = (
      sku: string,
      options: { readonly location?: string } = {}
    ): Effect.Effect<StockLevel, InvalidInput | ProductNotFound | LocationNotFound | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeLevelQuery({ sku, ...options })
        yield* requireLocation(q.location)
        const rows = yield* send(sql<{ name: string; reorderPoint: number } & Partial<LocationLevel>>`
          select p.name, p.reorder_point, l.location, l.on_hand, ${held} as reserved,
                 l.on_hand - ${held} as available, l.version, l.updated_at
          from products p
          left join stock_levels l on l.sku = p.sku ${q.location ? sql`and l.location = ${q.location}` : sql``}
          where p.sku = ${q.sku}
          order by l.location`).pipe(Effect.mapError(storeFailure))
        const [first] = rows
        if (!first) return yield* new ProductNotFound({ sku: q.sku })
        const locations = rows.filter((row) => row.location != null) as ReadonlyArray<LocationLevel>
        const sum = (pick: (l: LocationLevel) => number) => locations.reduce((total, l) => total + pick(l), 0)
        return {
          sku: q.sku,
          name: first.name,
          onHand: sum((l) => l.onHand),
          reserved: sum((l) => l.reserved),
          available: sum((l) => l.available),
          reorderPoint: first.reorderPoint,
          locations: locations.map(({ location, onHand, reserved, available, version, updatedAt }) => ({
            location,
            onHand,
            reserved,
            available,
            version,
            updatedAt
          }))
        }
      })

    const list = (
      query: StockQuery = {}
    ): Effect.Effect<Page<StockRow>, InvalidInput | LocationNotFound | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeInput(StockQuery)(query)
        yield* requireLocation(q.location)
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor).map(String)
        const rows = yield* sql<StockRow>`
          select l.sku, p.name, l.location, l.on_hand, ${held} as reserved, l.on_hand - ${held} as available,
                 p.reorder_point, l.version, l.updated_at
          from stock_levels l join products p on p.sku = l.sku
          where ${sql.and([
            ...(q.location ? [sql`l.location = ${q.location}`] : []),
            ...(q.text
              ? [sql`(l.sku ilike ${containsPattern(q.text)} or p.name ilike ${containsPattern(q.text)})`]
              : []),
            ...(after ? [sql`(l.sku, l.location) > (${after[0] ?? ""}, ${after[1] ?? ""})`] : [])
          ])}
          order by l.sku, l.location
          limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.sku, last.location])
      })

    /** At or below the product's own reorder point, out of stock first. */
    const low = (
      query: LowStockQuery = {}
    ): Effect.Effect<Page<LowStockItem>, InvalidInput | LocationNotFound | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeInput(LowStockQuery)(query)
        yield* requireLocation(q.location)
        // The cursor is the whole sort key, so a page starts exactly where the last one ended.
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
        const rows = yield* sql<LowStockItem>`
          select sku, name, location, on_hand, available, reorder_point, reorder_quantity,
                 reorder_point - available as shortfall
          from (
            select p.sku, p.name, coalesce(l.location, ${DEFAULT_LOCATION}) as location,
                   coalesce(l.on_hand, 0) as on_hand, coalesce(l.on_hand - ${held}, 0) as available,
                   p.reorder_point, p.reorder_quantity
            from products p
            left join stock_levels l on l.sku = p.sku
            where p.active
          ) levels
          where available <= reorder_point
            ${q.location ? sql`and location = ${q.location}` : sql``}
            ${
              after
                ? sql`and (available > 0, available - reorder_point, sku, location)
                        > (${after[0] === 1}, ${Number(after[1]) || 0}::int, ${String(after[2])}, ${String(after[3])})`
                : sql``
            }
          order by available > 0, available - reorder_point, sku, location
          limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [
          last.available > 0 ? 1 : 0,
          last.available - last.reorderPoint,
          last.sku,
          last.location
        ])
      })

    const overview = (): Effect.Effect<Overview, StoreError> =>
      sql<Overview>`
        with totals as (
          select p.sku, p.reorder_point,
                 coalesce(sum(l.on_hand), 0) as on_hand,
                 coalesce(sum(l.on_hand - ${held}), 0) as available
          from products p left join stock_levels l on l.sku = p.sku
          where p.active
          group by p.sku, p.reorder_point
        )
        select count(*)::int as products,
               (select count(*)::int from locations) as locations,
               coalesce(sum(on_hand), 0)::int8 as units,
               count(*) filter (where available = 0)::int as out_of_stock,
               count(*) filter (where available > 0 and available <= reorder_point)::int as low,
               count(*) filter (where available > reorder_point)::int as ok,
               (select count(*)::int8 from stock_movements) as movements
        from totals`.pipe(
        Effect.map((rows) => rows[0]!),
        Effect.mapError(storeFailure)
      )

    /** The ledger of one product, newest first. */
    const history = (
      sku: string,
      query: HistoryQuery = {}
    ): Effect.Effect<Page<Movement>, InvalidInput | ProductNotFound | LocationNotFound | StoreError> =>
      Effect.gen(function* () {
        const { sku: product, ...q } = yield* decodeInput(HistoryRequest)({
          ...query,
          sku
        })
        const before = q.cursor === undefined ? undefined : Number(decodeCursor(q.cursor)[0])
        const [exists] = yield* sql`select 1 from products where sku = ${product}`.pipe(
          Effect.mapError(storeFailure)
        )
        if (!exists) return yield* new ProductNotFound({ sku: product })
        yield* requireLocation(q.location)
        const rows = yield* sql<Movement>`
          select id, sku, location, delta, quantity_after, reason, reference, actor, created_at as at
          from stock_movements
          where ${sql.and([
            sql`sku = ${product}`,
            ...(q.location ? [sql`location = ${q.location}`] : []),
            // At the millisecond a Date carries: a change's own `at` includes that change.
            ...(q.until ? [sql`date_trunc('milliseconds', created_at) <= ${q.until}`] : []),
            ...(before !== undefined && Number.isFinite(before) ? [sql`id < ${before}`] : [])
          ])}
          order by id desc
          limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.id])
      })

    return { set, adjust, transfer, batch, inGroup, level, list, low, overview, history } as const
  })
}) {}

export type { WriteError } from "./internal/stockWrite.js"
