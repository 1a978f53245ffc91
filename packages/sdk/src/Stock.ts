/**
 * Stock: levels per product and location, every change recorded in the append-only ledger
 * (`stock_movements`) and announced by a `stock.updated` event in the outbox, all in one
 * transaction. Each level write is a single conditional statement: the database, not the
 * application, decides whether the change fits, so concurrent writers never lose an update and
 * never drive stock below zero.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import { currentTraceparent } from "./Event.js"
import {
  type IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  LocationNotFound,
  ProductNotFound,
  StockConflict,
  StoreError
} from "./InventoryError.js"
import { keyedTransaction, requestHash } from "./internal/idempotency.js"
import {
  containsPattern,
  decodeInput,
  failOnSqlDefect,
  isRetryableConflict,
  NumberInput,
  PlainText,
  pgCode,
  pgConstraint,
  storeFailure,
  TextInput
} from "./internal/validation.js"
import { DEFAULT_LOCATION, LocationCode } from "./Location.js"
import { Cursor, DEFAULT_LIMIT, decodeCursor, Limit, type Page, toPage } from "./Page.js"
import { Quantity, Sku } from "./Product.js"
import { ReorderRule } from "./Reorder.js"
import { DELTA_RULE, LEVEL_RULE, MAX_QUANTITY, REASON_RULE, REASONS } from "./Rules.js"

export { Quantity, Sku } from "./Product.js"

/**
 * Committed stock changes by reason, for server mode's `/metrics` (a replayed idempotent request
 * changes nothing and counts nothing).
 */
const stockChanges = Metric.counter("inv_stock_changes_total", {
  description: "Stock changes committed (ledger movements), by reason",
  incremental: true
})

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

const Note = PlainText.pipe(Schema.maxLength(200, { message: () => "must be at most 200 characters" }))
const IdempotencyKey = PlainText.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(255, { message: () => "must be at most 255 characters" })
)

/** Who and why, common to every change. */
const Context = {
  reference: Schema.optional(Note),
  actor: Schema.optional(Note),
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

export const SetStock = Schema.Struct({ ...SetFields, ...Context })
export type SetStock = typeof SetStock.Encoded

export const AdjustStock = Schema.Struct({ ...AdjustFields, ...Context })
export type AdjustStock = typeof AdjustStock.Encoded

export const TransferStock = Schema.Struct({
  sku: Sku,
  quantity: Quantity.pipe(Schema.greaterThan(0, { message: () => "must be at least 1" })),
  from: LocationCode,
  to: LocationCode,
  ...Context
}).pipe(Schema.filter((t) => t.from !== t.to || { path: ["to"], message: "must differ from from" }))
export type TransferStock = typeof TransferStock.Encoded

export const BatchChange = Schema.Union(
  Schema.Struct({ type: Schema.Literal("set"), ...SetFields }),
  Schema.Struct({ type: Schema.Literal("adjust"), ...AdjustFields })
)
export type BatchChange = typeof BatchChange.Encoded

export const MAX_BATCH = 1000

/** A dry run's answer, carried out of the transaction as a failure so that it rolls back. */
class RolledBack extends Data.TaggedError("RolledBack")<{ readonly result: unknown }> {}

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
  ...Context
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
  cursor: Schema.optional(Cursor)
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
  cursor: Schema.optional(Cursor)
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
  until: Schema.optional(
    Schema.Union(Schema.DateFromSelf, Schema.Date).annotations({
      message: () => ({ message: "must be a date and time, e.g. 2026-11-25T10:00:00Z", override: true })
    })
  ),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  cursor: Schema.optional(Cursor)
})
export type HistoryQuery = typeof HistoryQuery.Encoded

// ---------------------------------------------------------------------------------------------
// Writing

/** One level change as the write path sees it. */
type Change =
  | {
      readonly type: "set"
      readonly sku: string
      readonly location: string
      readonly quantity: number
      readonly expected?: number | undefined
      readonly reason: Reason
    }
  | {
      readonly type: "adjust"
      readonly sku: string
      readonly location: string
      readonly delta: number
      readonly reason: Reason
    }

interface ChangeContext {
  readonly reference?: string | undefined
  readonly actor?: string | undefined
  readonly idempotencyKey?: string | undefined
}

/** A change the database declined (no row matched its condition, or a foreign key failed). */
class ChangeRejected extends Data.TaggedError("ChangeRejected")<{ readonly change: Change }> {}

/** A declined change that fits the level read next: the level moved on in between, so run it again. */
class StockMovedOn extends Data.TaggedError("StockMovedOn") {}

const levelOverflow = (operation: string, change: Change, index: number) => {
  const amount = change.type === "set" || operation === "transfer" ? "quantity" : "delta"
  return new InvalidInput({
    field: operation === "batch" ? `changes[${index}].${amount}` : amount,
    rule: `would take the stock of ${change.sku} at ${change.location} past its limit: one location ${LEVEL_RULE}`
  })
}

/**
 * The level's limit, checked by the database (migration 0006), or the integer column's own end
 * for a level stored above the limit before it existed.
 */
const isLevelOverflow = (error: unknown) =>
  error instanceof SqlError &&
  (pgConstraint(error) === "stock_levels_on_hand_limit" || pgCode(error) === "22003")

/** Lock rows in one global order, so concurrent batches and transfers cannot deadlock. */
const byLockOrder = (a: Change, b: Change) =>
  a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : a.location < b.location ? -1 : a.location > b.location ? 1 : 0

export class Stock extends Effect.Service<Stock>()("@invkit/sdk/Stock", {
  dependencies: [ReorderRule.Default],
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const reorder = yield* ReorderRule

    const returning = sql`returning sku, location, on_hand, reserved, last_delta, version`

    /** The single conditional statement that changes a level; it returns no row when it may not. */
    const levelWrite = (change: Change): Statement.Fragment => {
      const { sku, location } = change
      if (change.type === "adjust" && change.delta > 0) {
        return sql`
          insert into stock_levels as s (sku, location, on_hand, last_delta)
          values (${sku}, ${location}, ${change.delta}, ${change.delta})
          on conflict (sku, location) do update
            set on_hand = s.on_hand + excluded.on_hand, last_delta = excluded.on_hand,
                version = s.version + 1, updated_at = now()
          ${returning}`
      }
      if (change.type === "adjust") {
        return sql`
          update stock_levels s
            set on_hand = s.on_hand + ${change.delta}, last_delta = ${change.delta},
                version = s.version + 1, updated_at = now()
          where s.sku = ${sku} and s.location = ${location}
            and s.on_hand - s.reserved + ${change.delta} >= 0
          ${returning}`
      }
      if (change.expected !== undefined && change.expected > 0) {
        return sql`
          update stock_levels s
            set on_hand = ${change.quantity}, last_delta = ${change.quantity} - s.on_hand,
                version = s.version + 1, updated_at = now()
          where s.sku = ${sku} and s.location = ${location} and s.on_hand = ${change.expected}
          ${returning}`
      }
      // A missing row counts as zero, so "expected 0" may create it.
      return sql`
        insert into stock_levels as s (sku, location, on_hand, last_delta)
        values (${sku}, ${location}, ${change.quantity}, ${change.quantity})
        on conflict (sku, location) do update
          set on_hand = excluded.on_hand, last_delta = excluded.on_hand - s.on_hand,
              version = s.version + 1, updated_at = now()
          ${change.expected === undefined ? sql`` : sql`where s.on_hand = 0`}
        ${returning}`
    }

    /**
     * Level, ledger movement and outbox event in one statement: all happen, or none. The event
     * keeps the trace context of the change, so a trace follows it through the broker.
     */
    const applyChange = (change: Change, context: ChangeContext, traceparent: string | null) =>
      sql<StockChange & { readonly atReorderPoint: boolean }>`
        with level as (${levelWrite(change)}),
        movement as (
          insert into stock_movements (sku, location, delta, quantity_after, reason, reference, actor, idempotency_key)
          select sku, location, last_delta, on_hand, ${change.reason}, ${context.reference ?? null},
                 ${context.actor ?? null}, ${context.idempotencyKey ?? null}
          from level
          returning id, sku, location, delta, quantity_after, reason, reference, actor, created_at
        ),
        event as (
          insert into outbox (type, subject, data, traceparent)
          select 'stock.updated', m.sku, jsonb_build_object(
            'sku', m.sku, 'location', m.location, 'delta', m.delta, 'onHand', m.quantity_after,
            'version', l.version, 'reason', m.reason, 'reference', m.reference, 'actor', m.actor,
            'movementId', m.id, 'at', m.created_at), ${traceparent}
          from movement m cross join level l
          returning event_id
        )
        select m.id as movement_id, m.sku, m.location, m.delta, m.quantity_after as on_hand, l.version,
               m.reason, m.reference, m.actor, m.created_at as at,
               m.quantity_after - l.reserved <= (select reorder_point from products where sku = m.sku) as at_reorder_point
        from movement m cross join level l`.pipe(
        Effect.catchTag(
          "SqlError",
          (error): Effect.Effect<never, ChangeRejected | SqlError> =>
            // 23503: the product or the location does not exist; told apart after the rollback.
            pgCode(error) === "23503" ? Effect.fail(new ChangeRejected({ change })) : Effect.fail(error)
        ),
        Effect.flatMap((rows) =>
          rows[0] ? Effect.succeed(rows[0]) : Effect.fail(new ChangeRejected({ change }))
        )
      )

    /**
     * Why a change was declined, decided in its transaction once the changes are undone. The level
     * is locked, so the figure a refusal reports is the one it was decided on, and stays so until
     * the refusal commits (with its idempotency key).
     */
    const refusalOf = (
      change: Change
    ): Effect.Effect<
      never,
      ProductNotFound | LocationNotFound | InsufficientStock | StockConflict | StockMovedOn | SqlError
    > =>
      Effect.gen(function* () {
        const [level] = yield* sql<{ onHand: number; available: number }>`
          select on_hand, on_hand - reserved as available from stock_levels
          where sku = ${change.sku} and location = ${change.location}
          for update`
        if (level === undefined) {
          const [row] = yield* sql<{ product: boolean; location: boolean }>`
            select exists (select 1 from products where sku = ${change.sku}) as product,
                   exists (select 1 from locations where code = ${change.location}) as location`
          if (!row?.product) return yield* new ProductNotFound({ sku: change.sku })
          if (!row.location) return yield* new LocationNotFound({ location: change.location })
        }
        const onHand = level?.onHand ?? 0
        const available = level?.available ?? 0
        if (change.type === "adjust") {
          if (available + change.delta >= 0) return yield* new StockMovedOn()
          return yield* new InsufficientStock({
            sku: change.sku,
            location: change.location,
            available,
            requested: -change.delta
          })
        }
        if (onHand === (change.expected ?? 0)) return yield* new StockMovedOn()
        return yield* new StockConflict({
          sku: change.sku,
          location: change.location,
          expected: change.expected ?? 0,
          actual: onHand
        })
      })

    /**
     * Applies changes all-or-nothing, in lock order, answering in the caller's order. A lost
     * deadlock or serialization race is retried: the transaction is idempotent until it commits.
     */
    const applyAll = <A, I>(
      operation: string,
      request: unknown,
      changes: ReadonlyArray<Change>,
      context: ChangeContext,
      response: Schema.Schema<A, I>,
      answer: (applied: ReadonlyArray<StockChange>) => A,
      dryRun = false
    ): Effect.Effect<
      A,
      | InvalidInput
      | ProductNotFound
      | LocationNotFound
      | InsufficientStock
      | StockConflict
      | IdempotencyKeyReused
      | StoreError
    > => {
      const ordered = changes
        .map((change, index) => ({ change, index }))
        .sort((a, b) => byLockOrder(a.change, b.change))
      const atReorderPoint = new Map<string, { readonly sku: string; readonly location: string }>()
      const committedReasons: Array<string> = []
      const work = Effect.gen(function* () {
        atReorderPoint.clear() // a retried transaction starts over
        committedReasons.length = 0
        const traceparent = yield* currentTraceparent
        const applied: Array<StockChange> = new Array(changes.length)
        for (const { change, index } of ordered) {
          const { atReorderPoint: low, ...result } = yield* applyChange(change, context, traceparent).pipe(
            Effect.catchIf(isLevelOverflow, () => Effect.fail(levelOverflow(operation, change, index)))
          )
          applied[index] = result
          committedReasons.push(change.reason)
          if (low) atReorderPoint.set(`${result.sku}\u0000${result.location}`, result)
        }
        return answer(applied)
      })
      // Keyed, a declined change is explained in the transaction that keeps the key with the refusal,
      // once the changes are undone (a savepoint). Unkeyed, it is explained in a transaction of its
      // own after the rollback: no savepoint's round trip on every write, and the level is locked
      // there too (a level that has moved on since runs the change again).
      const decided: Effect.Effect<
        A,
        Effect.Effect.Error<typeof work> | Effect.Effect.Error<ReturnType<typeof refusalOf>>
      > =
        context.idempotencyKey === undefined
          ? work
          : sql
              .withTransaction(work)
              .pipe(Effect.catchTag("ChangeRejected", ({ change }) => refusalOf(change)))
      // A dry run does the work and then fails on purpose, so that the transaction rolls back.
      const transaction: Effect.Effect<
        A,
        Effect.Effect.Error<typeof decided> | IdempotencyKeyReused | RolledBack
      > = dryRun
        ? failOnSqlDefect(
            sql.withTransaction(Effect.flatMap(decided, (result) => Effect.fail(new RolledBack({ result }))))
          )
        : keyedTransaction(
            sql,
            context.idempotencyKey,
            () => requestHash(operation, request),
            response,
            decided,
            true
          )
      return transaction.pipe(
        Effect.catchTag("ChangeRejected", ({ change }) =>
          failOnSqlDefect(sql.withTransaction(refusalOf(change)))
        ),
        Effect.catchTag("RolledBack", ({ result }) => Effect.succeed(result as A)),
        Effect.retry({
          while: (error) => isRetryableConflict(error) || error instanceof StockMovedOn,
          times: 5
        }),
        Effect.tap(() =>
          Effect.forEach(dryRun ? [] : committedReasons, (reason) =>
            Metric.increment(Metric.tagged(stockChanges, "reason", reason))
          )
        ),
        // After the commit: the change stands whatever the rule's evaluation does.
        Effect.tap(() =>
          Effect.forEach(
            dryRun ? [] : atReorderPoint.values(),
            ({ sku, location }) =>
              reorder
                .evaluate(sku, location)
                .pipe(
                  Effect.catchAllCause((cause) =>
                    Effect.logWarning(`reorder rule for ${sku} at ${location} failed`, cause)
                  )
                ),
            { discard: true }
          )
        ),
        Effect.catchTag("StockMovedOn", () =>
          Effect.fail(new StoreError({ reason: "the stock kept changing under this request; try it again" }))
        ),
        Effect.catchIf(
          (error): error is SqlError => error instanceof SqlError,
          (error) => Effect.fail(storeFailure(error))
        )
      ) as Effect.Effect<A, never>
    }

    const set = (input: SetStock): Effect.Effect<StockChange, InvalidInput | WriteError> =>
      Effect.flatMap(decodeInput(SetStock)(input), (request) =>
        applyAll("set", request, [{ type: "set", ...request }], request, StockChange, ([change]) => change!)
      )

    const adjust = (input: AdjustStock): Effect.Effect<StockChange, InvalidInput | WriteError> =>
      Effect.flatMap(decodeInput(AdjustStock)(input), (request) =>
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
      Effect.flatMap(decodeInput(TransferStock)(input), (request) =>
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
      Effect.flatMap(decodeInput(StockBatch)(input), (request) =>
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
        const q = yield* decodeInput(Schema.Struct({ sku: Sku, location: Schema.optional(LocationCode) }))({
          sku,
          ...options
        })
        yield* requireLocation(q.location)
        const rows = yield* sql<{ name: string; reorderPoint: number } & Partial<LocationLevel>>`
          select p.name, p.reorder_point, l.location, l.on_hand, l.reserved, l.on_hand - l.reserved as available,
                 l.version, l.updated_at
          from products p
          left join stock_levels l on l.sku = p.sku ${q.location ? sql`and l.location = ${q.location}` : sql``}
          where p.sku = ${q.sku}
          order by l.location`.pipe(Effect.mapError(storeFailure))
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
          select l.sku, p.name, l.location, l.on_hand, l.reserved, l.on_hand - l.reserved as available,
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
                   coalesce(l.on_hand, 0) as on_hand, coalesce(l.on_hand - l.reserved, 0) as available,
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
                 coalesce(sum(l.on_hand - l.reserved), 0) as available
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
        const { sku: product, ...q } = yield* decodeInput(
          Schema.Struct({ sku: Sku, ...HistoryQuery.fields })
        )({
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

    return { set, adjust, transfer, batch, level, list, low, overview, history } as const
  })
}) {}

/** What a stock write can fail with once its input is valid. */
export type WriteError =
  | ProductNotFound
  | LocationNotFound
  | InsufficientStock
  | StockConflict
  | IdempotencyKeyReused
  | StoreError
