/**
 * The stock write path: each level change is one conditional statement that writes the level, its
 * ledger movement and its `stock.updated` outbox row together; a set of changes is applied
 * all-or-nothing in one transaction, in lock order, with its idempotency key; a declined change is
 * explained (insufficient stock, conflict, unknown product or location) once the changes are undone.
 * `Stock` (the service) decodes requests into changes and answers with what this returns.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import type * as Schema from "effect/Schema"
import {
  type IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  LocationNotFound,
  ProductNotFound,
  StockConflict,
  StoreError
} from "../InventoryError.js"
import type { ReorderRule } from "../Reorder.js"
import { LEVEL_RULE, MAX_LEVEL } from "../Rules.js"
import type { Reason, StockChange } from "../Stock.js"
import { sender, transactionIn } from "./directStatement.js"
import type { GroupCommitter } from "./groupCommit.js"
import { keyedTransaction, requestHash } from "./idempotency.js"
import { committedAlone, insertEvents } from "./outbox.js"
import { expireDue, lockedLevel, releaseNewest } from "./reservationWrite.js"
import { traceparentIn } from "./traceContext.js"
import { failOnSqlDefect, isRetryableConflict, pgCode, pgConstraint, storeFailure } from "./validation.js"

/**
 * `use` with what a write reads of its caller's context, in the same step: the trace context its
 * events carry, and whether it runs inside a transaction of the caller's.
 */
const withCallerContext = <A, E, R>(
  use: (caller: {
    readonly traceparent: string | null
    readonly inTransaction: boolean
  }) => Effect.Effect<A, E, R>
) =>
  Effect.withFiberRuntime<A, E, R>((fiber) => {
    const context = fiber.currentContext
    return use({
      traceparent: traceparentIn(context),
      inTransaction: transactionIn(context) !== undefined
    })
  })

/**
 * Committed stock changes by reason, for server mode's `/metrics` (a replayed idempotent request
 * changes nothing and counts nothing).
 */
const stockChanges = MetricKey.counter("inv_stock_changes_total", {
  description: "Stock changes committed (ledger movements), by reason",
  incremental: true
})

/**
 * The counter of one reason, its tag in the key, made once per reason: `Metric.tagged` builds and
 * hashes a new key on every update, that is on every write. Reasons are a closed set.
 */
const stockChangesOf = (() => {
  const byReason = new Map<string, Metric.Metric.Counter<number>>()
  return (reason: string) => {
    let counter = byReason.get(reason)
    if (counter === undefined) {
      counter = Metric.fromMetricKey(MetricKey.tagged(stockChanges, "reason", reason))
      byReason.set(reason, counter)
    }
    return counter
  }
})()

/**
 * Counts committed changes by their reasons, with `fiber`'s metric labels, as `Metric.increment`
 * would one effect per change (two operations each, and a loop's).
 */
const countChanges = (fiber: Fiber.RuntimeFiber<unknown, unknown>, reasons: ReadonlyArray<string>) => {
  if (reasons.length === 0) return
  const labels = fiber.getFiberRef(FiberRef.currentMetricLabels)
  for (const reason of reasons) stockChangesOf(reason).unsafeUpdate(1, labels)
}

/** A dry run's answer, carried out of the transaction as a failure so that it rolls back. */
class RolledBack extends Data.TaggedError("RolledBack")<{ readonly result: unknown }> {}

/** One level change as the write path sees it. */
export type Change =
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
  /** Held units leave: on hand and reserved fall together (Reservation.ts; never in a batch). */
  | {
      readonly type: "fulfil"
      readonly sku: string
      readonly location: string
      readonly quantity: number
      readonly reason: Reason
    }

export interface ChangeContext {
  readonly reference?: string | undefined
  readonly actor?: string | undefined
  readonly idempotencyKey?: string | undefined
  /** Release the level's newest holds as far as the change needs, instead of refusing it. */
  readonly releaseHolds?: boolean | undefined
}

/** Whether a change may take on hand below what is held (so holds may be in its way). */
const removesUnits = (change: Change) =>
  change.type === "set" || (change.type === "adjust" && change.delta < 0)

/** Where a level's on hand ends after `change`, from `onHand` (as `onHandAfter` writes it). */
const onHandAfterChange = (onHand: number, change: Change) =>
  change.type === "set"
    ? change.quantity
    : change.type === "adjust"
      ? onHand + change.delta
      : onHand - change.quantity

/** Where a level's on hand ends after `change`, as an expression over the level row `l`. */
const onHandAfter = (sql: SqlClient.SqlClient, change: Change): Statement.Fragment =>
  change.type === "set"
    ? sql`${change.quantity}::int`
    : change.type === "adjust"
      ? sql`l.on_hand + ${change.delta}::int`
      : sql`l.on_hand - ${change.quantity}::int`

/**
 * What the refusals learnt about holds in a change's way, for its next run: levels whose expired
 * holds to close first, and levels whose holds a product allowing backorders may be sold past.
 */
interface HoldsPlan {
  readonly sweepFirst: Set<string>
  readonly ignoreHolds: Set<string>
}

/** A change the database declined (no row matched its condition, or a foreign key failed). */
export class ChangeRejected extends Data.TaggedError("ChangeRejected")<{ readonly change: Change }> {}

/** A declined change that fits the level read next: the level moved on in between, so run it again. */
class StockMovedOn extends Data.TaggedError("StockMovedOn") {}

const levelKey = (change: Change) => `${change.sku}\u0000${change.location}`

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

/**
 * The reorder rule for the levels a committed change left at their reorder point, after the
 * commit: the change stands whatever the rule's evaluation does.
 */
export const evaluateReorder = (
  reorder: ReorderRule,
  levels: Iterable<{ readonly sku: string; readonly location: string }>
) =>
  Effect.forEach(
    levels,
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

/** For a level that is not there: fails naming the product or the location that does not exist. */
export const requireProductAndLocation = (sql: SqlClient.SqlClient, sku: string, location: string) =>
  Effect.gen(function* () {
    const [row] = yield* sql<{ product: boolean; location: boolean }>`
      select exists (select 1 from products where sku = ${sku}) as product,
             exists (select 1 from locations where code = ${location}) as location`
    if (!row?.product) return yield* new ProductNotFound({ sku })
    if (!row.location) return yield* new LocationNotFound({ location })
  })

/** A change declined on a level that moved on meanwhile runs again, a few times. */
const untilDecided = { while: (error: unknown) => error instanceof StockMovedOn, times: 5 }

/**
 * `Effect.retry({ while, times })` for the write path, where nearly every attempt succeeds:
 * nothing is built for a retry (a schedule, its driver) until an attempt fails.
 */
const retryWhile = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  retryable: (error: E) => boolean,
  times: number
): Effect.Effect<A, E, R> =>
  Effect.catchIf(effect, retryable, (error) =>
    times > 0 ? retryWhile(effect, retryable, times - 1) : Effect.fail(error)
  )

/** The refusals of a group's unit without a savepoint that leave its transaction usable. */
const isFastRefusal = (error: unknown) => error instanceof InsufficientStock || error instanceof StockConflict

/** What a stock write can fail with once its input is valid. */
export type WriteError =
  | ProductNotFound
  | LocationNotFound
  | InsufficientStock
  | StockConflict
  | IdempotencyKeyReused
  | StoreError

/**
 * The `stock.updated` payload of a change, over its movement `m`, level `l` and product `p`:
 * one definition for the statement of one change and the set-based one of a group.
 */
const stockUpdatedData = (sql: SqlClient.SqlClient) =>
  sql`jsonb_build_object(
    'sku', m.sku, 'location', m.location, 'delta', m.delta, 'onHand', m.quantity_after,
    'version', l.version, 'reason', m.reason, 'reference', m.reference, 'actor', m.actor,
    'movementId', m.id, 'at', m.created_at,
    'available', m.quantity_after - l.reserved, 'reorderPoint', p.reorder_point)`

/** A change's answer (a `StockChange` and whether it left the level at its reorder point), likewise. */
const appliedColumns = (sql: SqlClient.SqlClient) =>
  sql`m.id as movement_id, m.sku, m.location, m.delta, m.quantity_after as on_hand, l.version,
      m.reason, m.reference, m.actor, m.created_at as at,
      m.quantity_after - l.reserved <= p.reorder_point as at_reorder_point`

type Applied = StockChange & { readonly atReorderPoint: boolean }

/** An adjustment without a key or a hold to release, with its request's context: a group may set-base it. */
export interface PlainAdjustment {
  readonly sku: string
  readonly location: string
  readonly delta: number
  readonly reason: Reason
  readonly reference: string | null
  readonly actor: string | null
  readonly traceparent: string | null
}

/**
 * The plain adjustments of a group in ONE statement (internal/groupCommit.ts): the changes as
 * arrays, in the order given (a level's in arrival order, the levels in lock order); levels,
 * movements and outbox events written by one CTE, with each change's own reason, reference, actor
 * and trace context. A level may have several changes: each sees the ones before it (its movement
 * records the running total, its event the level's version after it), as one statement per change
 * would. A level's changes apply all together or not at all: together when, applied one by one,
 * each would have passed the condition of its lone statement (`levelWrite`: a removal only down to
 * what is on hand and not held, on a level that exists; no level above `MAX_LEVEL`). Answers a
 * row per change, undefined for each change of a level that did not apply (it wrote nothing; one
 * by one, some of them may apply: the caller runs them so).
 */
export const applyPlainAdjustments = (sql: SqlClient.SqlClient) => {
  const send = sender(sql)
  return (
    changes: ReadonlyArray<PlainAdjustment>
  ): Effect.Effect<ReadonlyArray<Applied | undefined>, SqlError> =>
    Effect.suspend(() => {
      const column = <K extends keyof PlainAdjustment>(key: K) => changes.map((change) => change[key])
      // Each applied change's movement `m`, with its level `l` as that change left it, and its product.
      const changed = sql`from moved m join applied l using (sku, location, step) join products p on p.sku = m.sku`
      return send(sql<Applied & { readonly ord: number }>`
      with input as (
        select * from unnest(${column("sku")}::text[], ${column("location")}::text[], ${column("delta")}::int[],
          ${column("reason")}::text[], ${column("reference")}::text[], ${column("actor")}::text[],
          ${column("traceparent")}::text[])
          with ordinality as i(sku, location, delta, reason, reference, actor, traceparent, ord)
      ),
      change as (
        -- Each change with its level's running total through it, and its place among the level's.
        select i.*, sum(i.delta) over arrival as through, row_number() over arrival as step,
          count(*) over (partition by i.sku, i.location) as changes
        from input i
        window arrival as (partition by i.sku, i.location order by i.ord)
      ),
      per_level as (
        -- The lowest running total after a removal and the highest after any change: what the
        -- level must allow for every change to pass its own condition in turn.
        select sku, location, sum(delta)::int as total, count(*)::int as changes, min(ord) as first,
          min(through) filter (where delta < 0) as lowest, max(through) as highest
        from change group by sku, location
      ),
      level as (
        -- A level whose running total goes below zero goes in only if it is there (levels are
        -- never deleted, so it meets its row as a conflict), and proposes no negative row: the
        -- CHECK on on_hand is tested before the conflict is. A new level starts at version 1,
        -- one more per change.
        insert into stock_levels as s (sku, location, on_hand, last_delta, version)
        select v.sku, v.location, greatest(v.total, 0), v.total, v.changes from per_level v
        where (coalesce(v.lowest, 0) >= 0 and v.highest <= ${MAX_LEVEL})
           or exists (select 1 from stock_levels x where x.sku = v.sku and x.location = v.location)
        order by v.first
        on conflict (sku, location) do update
          set on_hand = s.on_hand + excluded.last_delta, last_delta = excluded.last_delta,
              version = s.version + excluded.version, updated_at = now()
          where exists (
            select 1 from per_level v
            where v.sku = excluded.sku and v.location = excluded.location
              and (v.lowest is null or s.on_hand - s.reserved + v.lowest >= 0)
              and s.on_hand + v.highest <= ${MAX_LEVEL})
        returning sku, location, on_hand, reserved, last_delta, version
      ),
      applied as (
        -- Each change of an applied level, with the level as that change left it.
        select c.ord, c.sku, c.location, c.step, c.delta, c.reason, c.reference, c.actor, c.traceparent,
          l.on_hand - l.last_delta + c.through as on_hand, l.reserved, l.version - c.changes + c.step as version
        from level l join change c using (sku, location)
      ),
      movement as (
        insert into stock_movements (sku, location, delta, quantity_after, reason, reference, actor)
        select sku, location, delta, on_hand, reason, reference, actor from applied
        order by ord
        returning id, sku, location, delta, quantity_after, reason, reference, actor, created_at
      ),
      moved as (
        -- A level's movements were numbered in its changes' order, so the n-th is its n-th change's.
        select m.*, row_number() over (partition by m.sku, m.location order by m.id) as step from movement m
      ),
      event as (${insertEvents(
        sql,
        sql`select 'stock.updated' as type, m.sku as subject, ${stockUpdatedData(sql)} as data,
              l.traceparent
            ${changed}
            order by l.ord`,
        sql`e.traceparent`
      )})
      select l.ord, ${appliedColumns(sql)}
      ${changed}`).pipe(
        Effect.map((rows) => {
          const byIndex = new Array<Applied | undefined>(changes.length)
          for (const { ord, ...row } of rows) byIndex[Number(ord) - 1] = row
          return byIndex
        })
      )
    })
}

/**
 * The write path over one SQL client; the reorder rule runs for each level left at its point. With
 * a committer, concurrent requests share transactions (group commit).
 */
export const makeStockWriter = (
  sql: SqlClient.SqlClient,
  reorder: ReorderRule,
  committer?: GroupCommitter<PlainAdjustment, Applied> | undefined
) => {
  // The statements' fixed parts, built once rather than on every write.
  const returning = sql`returning sku, location, on_hand, reserved, last_delta, version`
  const eventData = stockUpdatedData(sql)
  const answerColumns = appliedColumns(sql)
  const send = sender(sql)

  /** The single conditional statement that changes a level; it returns no row when it may not. */
  const levelWrite = (change: Change, ignoreHolds: boolean): Statement.Fragment => {
    const { sku, location } = change
    if (change.type === "fulfil") {
      return sql`
        update stock_levels s
          set on_hand = s.on_hand - ${change.quantity}, reserved = s.reserved - ${change.quantity},
              last_delta = -${change.quantity}::int, version = s.version + 1, updated_at = now()
        where s.sku = ${sku} and s.location = ${location}
          and s.on_hand >= ${change.quantity} and s.reserved >= ${change.quantity}
        ${returning}`
    }
    // Held units stay unless the change may ignore holds (a product that allows backorders).
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
          and ${ignoreHolds ? sql`s.on_hand` : sql`s.on_hand - s.reserved`} + ${change.delta} >= 0
        ${returning}`
    }
    if (change.expected !== undefined && change.expected > 0) {
      return sql`
        update stock_levels s
          set on_hand = ${change.quantity}, last_delta = ${change.quantity} - s.on_hand,
              version = s.version + 1, updated_at = now()
        where s.sku = ${sku} and s.location = ${location} and s.on_hand = ${change.expected}
          ${ignoreHolds ? sql`` : sql`and ${change.quantity} >= s.reserved`}
        ${returning}`
    }
    // A missing row counts as zero, so "expected 0" may create it.
    return sql`
      insert into stock_levels as s (sku, location, on_hand, last_delta)
      values (${sku}, ${location}, ${change.quantity}, ${change.quantity})
      on conflict (sku, location) do update
        set on_hand = excluded.on_hand, last_delta = excluded.on_hand - s.on_hand,
            version = s.version + 1, updated_at = now()
        where ${change.expected === undefined ? sql`true` : sql`s.on_hand = 0`}
          ${ignoreHolds ? sql`` : sql`and excluded.on_hand >= s.reserved`}
      ${returning}`
  }

  /**
   * Level, ledger movement and outbox event in one statement: all happen, or none. The event
   * keeps the trace context of the change, so a trace follows it through the broker.
   */
  const applyChange = (
    change: Change,
    context: ChangeContext,
    traceparent: string | null,
    ignoreHolds = false
  ) =>
    send(sql<Applied>`
      with level as (${levelWrite(change, ignoreHolds)}),
      movement as (
        insert into stock_movements (sku, location, delta, quantity_after, reason, reference, actor, idempotency_key)
        select sku, location, last_delta, on_hand, ${change.reason}, ${context.reference ?? null},
               ${context.actor ?? null}, ${context.idempotencyKey ?? null}
        from level
        returning id, sku, location, delta, quantity_after, reason, reference, actor, created_at
      ),
      point as (select reorder_point from products where sku = ${change.sku}),
      event as (${insertEvents(
        sql,
        sql`select 'stock.updated' as type, m.sku as subject, ${eventData} as data
            from movement m cross join level l cross join point p`,
        traceparent
      )})
      select ${answerColumns}
      from movement m cross join level l cross join point p`).pipe(
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
   * the refusal commits (with its idempotency key). Holds in the way that have expired, or that a
   * product allowing backorders may be sold past, are noted in `plan` and the change runs again.
   *
   * `earlier`: the request's changes of the same level that ran before this one (a batch's), undone
   * with it. The change was declined on the level as they left it, so it is judged there: judged
   * on the level as it is, a sale of 5 after a sale of 8 from 10 would fit, and run again forever.
   */
  const refusalOf = (
    change: Change,
    earlier: ReadonlyArray<Change>,
    operation: string,
    plan: HoldsPlan
  ): Effect.Effect<
    never,
    ProductNotFound | LocationNotFound | InsufficientStock | StockConflict | StockMovedOn | SqlError
  > =>
    Effect.gen(function* () {
      const level = yield* lockedLevel(sql, change.sku, change.location)
      if (level === undefined) yield* requireProductAndLocation(sql, change.sku, change.location)
      let onHand = level?.onHand ?? 0
      for (const before of earlier) {
        const next = onHandAfterChange(onHand, before)
        // An earlier change no longer fits the level as it is now: it moved on since the attempt,
        // which runs again and declines (and explains) that change instead.
        if (next < 0 || (before.type === "set" && onHand !== (before.expected ?? onHand))) {
          return yield* new StockMovedOn()
        }
        onHand = next
      }
      const reserved = level?.reserved ?? 0
      const held = level?.held ?? 0
      const available = onHand - held
      if (change.type === "set" && onHand !== (change.expected ?? onHand)) {
        return yield* new StockConflict({
          sku: change.sku,
          location: change.location,
          expected: change.expected ?? 0,
          actual: onHand
        })
      }
      const after = onHandAfterChange(onHand, change)
      const removed = onHand - after
      if (after < 0) {
        return yield* new InsufficientStock({
          sku: change.sku,
          location: change.location,
          available,
          requested: removed
        })
      }
      if (after >= reserved && (change.type !== "fulfil" || reserved >= change.quantity)) {
        return yield* new StockMovedOn()
      }
      const key = levelKey(change)
      if (after >= held && held < reserved && !plan.sweepFirst.has(key)) {
        plan.sweepFirst.add(key)
        return yield* new StockMovedOn()
      }
      if (
        level?.backorders &&
        operation !== "transfer" &&
        change.type !== "fulfil" &&
        !plan.ignoreHolds.has(key)
      ) {
        plan.ignoreHolds.add(key)
        return yield* new StockMovedOn()
      }
      return yield* new InsufficientStock({
        sku: change.sku,
        location: change.location,
        available,
        requested: removed,
        reserved: held
      })
    })

  /**
   * Applies changes all-or-nothing, in lock order, answering in the caller's order. A lost
   * deadlock or serialization race is retried: the transaction is idempotent until it commits.
   * With a group committer, the transaction is the committer's, shared with other requests (see
   * internal/groupCommit.ts), unless the caller is inside a transaction of its own already.
   */
  const applyAll = <A, I>(
    operation: string,
    request: unknown,
    changes: ReadonlyArray<Change>,
    context: ChangeContext,
    response: Schema.Schema<A, I>,
    answer: (applied: ReadonlyArray<StockChange>) => A,
    dryRun = false
  ): Effect.Effect<A, InvalidInput | WriteError> => {
    const ordered = changes
      .map((change, index) => ({ change, index }))
      .sort((a, b) => byLockOrder(a.change, b.change))
    /** The changes of `change`'s level that run before it (in lock order, a level's in the caller's). */
    const earlierOf = (change: Change): ReadonlyArray<Change> => {
      const key = levelKey(change)
      const at = ordered.findIndex((entry) => entry.change === change)
      return ordered
        .slice(0, Math.max(at, 0))
        .map((entry) => entry.change)
        .filter((before) => levelKey(before) === key)
    }
    const atReorderPoint = new Map<string, { readonly sku: string; readonly location: string }>()
    const plan: HoldsPlan = { sweepFirst: new Set(), ignoreHolds: new Set() }
    const committedReasons: Array<string> = []
    let applied: Array<StockChange> = []
    const startOver = () => {
      // a retried transaction starts over
      atReorderPoint.clear()
      committedReasons.length = 0
      applied = new Array(changes.length)
    }
    const record = (change: Change, index: number, { atReorderPoint: low, ...result }: Applied) => {
      applied[index] = result
      committedReasons.push(change.reason)
      if (low) atReorderPoint.set(levelKey(change), result)
    }
    /** One change of an attempt, its result: holds released or expired ones swept first where the plan says. */
    const step = (traceparent: string | null, { change, index }: (typeof ordered)[number]) => {
      const key = levelKey(change)
      const first =
        removesUnits(change) && context.releaseHolds
          ? releaseNewest(sql, change.sku, change.location, onHandAfter(sql, change), traceparent)
          : plan.sweepFirst.has(key)
            ? expireDue(sql, change.sku, change.location, traceparent)
            : undefined
      const write = applyChange(change, context, traceparent, plan.ignoreHolds.has(key)).pipe(
        Effect.catchIf(isLevelOverflow, () => Effect.fail(levelOverflow(operation, change, index)))
      )
      return first === undefined ? write : Effect.zipRight(first, write)
    }
    // Combinators rather than a generator, and one step for the usual single change: this runs on
    // every write, and each step or generator resumption costs more than the work it sequences.
    const work = (traceparent: string | null) =>
      Effect.suspend(() => {
        startOver()
        const [only] = ordered
        if (ordered.length === 1 && only !== undefined) {
          return Effect.map(step(traceparent, only), (result) => {
            record(only.change, only.index, result)
            return answer(applied)
          })
        }
        return Effect.map(
          Effect.forEach(
            ordered,
            (entry) =>
              Effect.map(step(traceparent, entry), (result) => record(entry.change, entry.index, result)),
            { discard: true }
          ),
          () => answer(applied)
        )
      })
    /**
     * Whether this attempt is one statement: a single change that releases no holds and sweeps
     * none (a retry may sweep first). Such a write needs no BEGIN and COMMIT around it.
     */
    const isOneStatement = () => {
      const [only] = ordered
      return (
        ordered.length === 1 &&
        only !== undefined &&
        !(removesUnits(only.change) && context.releaseHolds) &&
        !plan.sweepFirst.has(levelKey(only.change))
      )
    }
    /**
     * A declined change, explained under its level's lock. If the change fits by then (the level
     * moved on, or holds in the way turned out to be expired or passable), a single change is run
     * again right there, under that lock, and so is decided; sent round again instead, a sale
     * among concurrent receipts could find the level moved on every time. With several levels the
     * lock was taken out of order, and could deadlock: they go round again (`StockMovedOn`). A
     * dry run explained outside its transaction goes round again too: run here, it would commit.
     */
    const explained = (change: Change, traceparent: string | null, runAgainHere: boolean) =>
      refusalOf(change, earlierOf(change), operation, plan).pipe(
        Effect.catchTag("StockMovedOn", (movedOn) =>
          runAgainHere && ordered.length === 1
            ? work(traceparent).pipe(Effect.catchTag("ChangeRejected", () => Effect.fail(movedOn)))
            : Effect.fail(movedOn)
        )
      )
    /**
     * The request's transaction, or its savepoint inside a group's (or a caller's) transaction.
     * `outsideTransactions`: none is open, so an unkeyed write of one statement is sent alone.
     */
    const transaction = (traceparent: string | null, outsideTransactions = false) => {
      // Keyed, a declined change is explained in the transaction that keeps the key with the
      // refusal, once the changes are undone (a savepoint). Unkeyed, it is explained in a
      // transaction of its own after the rollback: no savepoint's round trip on every write, and
      // the level is locked there too (a level that has moved on since runs the change again).
      const decided: Effect.Effect<
        A,
        Effect.Effect.Error<ReturnType<typeof work>> | Effect.Effect.Error<ReturnType<typeof refusalOf>>
      > =
        context.idempotencyKey === undefined
          ? work(traceparent)
          : sql
              .withTransaction(work(traceparent))
              .pipe(Effect.catchTag("ChangeRejected", ({ change }) => explained(change, traceparent, true)))
      // A dry run does the work and then fails on purpose, so that the transaction rolls back.
      const decidedOnce: Effect.Effect<
        A,
        Effect.Effect.Error<typeof decided> | IdempotencyKeyReused | RolledBack
      > = dryRun
        ? failOnSqlDefect(
            sql.withTransaction(Effect.flatMap(decided, (result) => Effect.fail(new RolledBack({ result }))))
          )
        : outsideTransactions && context.idempotencyKey === undefined
          ? Effect.suspend(() =>
              isOneStatement() ? committedAlone(sql, decided) : failOnSqlDefect(sql.withTransaction(decided))
            )
          : keyedTransaction(
              sql,
              context.idempotencyKey,
              () => requestHash(operation, request),
              response,
              decided,
              true
            )
      // One handler for both: each is a frame on every write's way.
      return Effect.catchIf(
        decidedOnce,
        (error): error is ChangeRejected | RolledBack =>
          error instanceof ChangeRejected || error instanceof RolledBack,
        (error) =>
          error instanceof RolledBack
            ? Effect.succeed(error.result as A)
            : failOnSqlDefect(sql.withTransaction(explained(error.change, traceparent, !dryRun)))
      )
    }
    const decide: Effect.Effect<A, Effect.Effect.Error<ReturnType<typeof transaction>> | StoreError> =
      // Read here, in the caller's fiber: a group's transaction runs in the committer's.
      withCallerContext(({ traceparent, inTransaction }) => {
        /** The request on its own: its own transaction, or none for a single statement. */
        const onItsOwn = () =>
          retryWhile(
            transaction(traceparent, !inTransaction),
            (error) => isRetryableConflict(error) || error instanceof StockMovedOn,
            5
          )
        if (committer === undefined || dryRun || inTransaction) return onItsOwn()
        // One unkeyed change needs no savepoint: declined, it wrote nothing.
        const [single] = changes
        // The ways to run it are built only when run: most requests run one of them, or none.
        const fast =
          changes.length === 1 && single !== undefined && context.idempotencyKey === undefined
            ? Effect.suspend(() =>
                work(traceparent).pipe(
                  Effect.catchTag("ChangeRejected", ({ change }) => explained(change, traceparent, true)),
                  Effect.retry(untilDecided)
                )
              )
            : undefined
        // An adjustment without a key or a hold to release may go in the group's set-based statement.
        const plain =
          fast !== undefined && single?.type === "adjust" && !context.releaseHolds
            ? {
                change: {
                  sku: single.sku,
                  location: single.location,
                  delta: single.delta,
                  reason: single.reason,
                  reference: context.reference ?? null,
                  actor: context.actor ?? null,
                  traceparent
                },
                answer: (row: Applied) =>
                  Effect.sync(() => {
                    startOver()
                    record(single, 0, row)
                    return answer(applied)
                  })
              }
            : undefined
        return committer.run({
          safe: Effect.suspend(() => transaction(traceparent).pipe(Effect.retry(untilDecided))),
          fast,
          fastRefusal: isFastRefusal,
          levels: changes.map(levelKey),
          setBased: plain,
          // Alone in its group, the request runs as it would without group commit.
          alone: Effect.suspend(onItsOwn)
        })
      })
    return decide.pipe(
      Effect.flatMap((result) =>
        dryRun
          ? Effect.succeed(result)
          : Effect.withFiberRuntime<A>((fiber) => {
              countChanges(fiber, committedReasons)
              // Most changes leave their level above its reorder point: nothing to evaluate.
              return atReorderPoint.size === 0
                ? Effect.succeed(result)
                : Effect.as(evaluateReorder(reorder, atReorderPoint.values()), result)
            })
      ),
      Effect.catchIf(
        (error): error is StockMovedOn | SqlError =>
          error instanceof StockMovedOn || error instanceof SqlError,
        (error) =>
          Effect.fail(
            error instanceof StockMovedOn
              ? new StoreError({ reason: "the stock kept changing under this request; try it again" })
              : storeFailure(error)
          )
      )
    ) as Effect.Effect<A, never>
  }

  return { applyAll, applyChange } as const
}
