/**
 * Reservations: holds of units of a SKU at a location for a reference (a cart, an order), with an
 * optional expiry. A hold raises its level's `reserved` and lowers `available` in one conditional
 * statement, so the sum of active holds never exceeds on hand, however many callers race; one that
 * does not fit is refused with the available quantity, and nothing changes.
 *
 * Lifecycle: active → fulfilled (the units leave: on hand and reserved fall together, one ledger
 * movement `sale` with the reservation as reference), released (by a caller), or expired (past its
 * expiry: it stops counting at once for every read and write, and the sweeper closes it). A partial
 * fulfilment leaves the rest held. Every change writes its event through the outbox.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { currentTraceparent } from "./Event.js"
import {
  type IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  type LocationNotFound,
  type ProductNotFound,
  ReservationClosed,
  ReservationNotFound,
  StoreError
} from "./InventoryError.js"
import { sender, transactionIn } from "./internal/directStatement.js"
import { keyedTransaction, requestHash } from "./internal/idempotency.js"
import { committedAlone, writeEvent } from "./internal/outbox.js"
import {
  expireBatch,
  expireDue,
  expireHold,
  lockedLevel,
  placeHold,
  releaseActiveHold,
  releaseHold,
  reservationColumns
} from "./internal/reservationWrite.js"
import { evaluateReorder, makeStockWriter, requireProductAndLocation } from "./internal/stockWrite.js"
import {
  Actor,
  atLeastOneOf,
  BooleanInput,
  decodeInput,
  failOnSqlDefect,
  isRetryableConflict,
  Moment,
  NumberInput,
  notBoth,
  PlainText,
  storeFailure,
  textParsedBy
} from "./internal/validation.js"
import { DEFAULT_LOCATION, LocationCode } from "./Location.js"
import { DEFAULT_LIMIT, decodeCursor, IdCursor, Limit, type Page, toPage } from "./Page.js"
import { Sku, Units } from "./Product.js"
import { ReorderRule } from "./Reorder.js"
import { EXPIRES_IN_RULE, MAX_HOLD_SECONDS, NOTE_MAX_LENGTH, parseExpiresIn } from "./Rules.js"

// ---------------------------------------------------------------------------------------------
// Schemas

export const ReservationStatus = Schema.Literal("active", "fulfilled", "released", "expired").annotations({
  message: () => ({ message: "must be one of active, fulfilled, released, expired", override: true })
})
export type ReservationStatus = typeof ReservationStatus.Type

export const Reservation = Schema.Struct({
  id: Schema.Number,
  sku: Schema.String,
  location: Schema.String,
  /** Units held now (while active); what was held when it closed otherwise. */
  quantity: Schema.Number,
  /** Units fulfilled so far (they left stock as sales). */
  fulfilled: Schema.Number,
  reference: Schema.String,
  /** `expired` as soon as its expiry has passed, before the sweeper closes it. */
  status: ReservationStatus,
  expiresAt: Schema.NullOr(Schema.Date),
  actor: Schema.NullOr(Schema.String),
  createdAt: Schema.Date,
  updatedAt: Schema.Date,
  closedAt: Schema.NullOr(Schema.Date)
}).annotations({ identifier: "Reservation" })
export type Reservation = typeof Reservation.Type

/** A number of units to hold or fulfil: at least 1. */

/** A hold's duration: `15m`, `2h`, `90s`, `7d`, or a number of seconds. */
export const ExpiresIn = Schema.Union(
  NumberInput.pipe(
    Schema.int({ message: () => EXPIRES_IN_RULE }),
    Schema.between(1, MAX_HOLD_SECONDS, { message: () => EXPIRES_IN_RULE })
  ),
  textParsedBy(Schema.Number, parseExpiresIn, EXPIRES_IN_RULE, (seconds) => `${seconds}s`)
).annotations({ message: () => ({ message: EXPIRES_IN_RULE, override: true }) })

/** A moment a hold expires at: in the future, at most 30 days ahead (checked when it is placed). */
const ExpiresAt = Moment

const Note = PlainText.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(NOTE_MAX_LENGTH, { message: () => `must be at most ${NOTE_MAX_LENGTH} characters` })
)
const IdempotencyKey = PlainText.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(255, { message: () => "must be at most 255 characters" })
)
const Who = { actor: Schema.optional(Actor), idempotencyKey: Schema.optional(IdempotencyKey) }
/** Until when: a duration from now, or a moment; neither: held until released or fulfilled. */
const Expiry = { expiresIn: Schema.optional(ExpiresIn), expiresAt: Schema.optional(ExpiresAt) }
const AtLocation = Schema.optionalWith(LocationCode, { default: () => DEFAULT_LOCATION })

const HoldItem = { sku: Sku, quantity: Units, location: AtLocation }

export const NewReservation = Schema.Struct({
  ...HoldItem,
  /** What the units are held for: a cart, an order. */
  reference: Note,
  ...Expiry,
  ...Who
})
export type NewReservation = typeof NewReservation.Encoded

export const MAX_CART_ITEMS = 100

/** Several SKUs held at once for one reference, all or nothing (a cart). */
export const NewReservations = Schema.Struct({
  items: Schema.Array(Schema.Struct(HoldItem)).pipe(
    Schema.minItems(1, { message: () => "must hold at least one item" }),
    Schema.maxItems(MAX_CART_ITEMS, { message: () => `must hold at most ${MAX_CART_ITEMS} items` })
  ),
  reference: Note,
  ...Expiry,
  ...Who
})
export type NewReservations = typeof NewReservations.Encoded

export const ReservationList = Schema.Struct({ reservations: Schema.Array(Reservation) }).annotations({
  identifier: "ReservationList"
})
export type ReservationList = typeof ReservationList.Type

export const ReservationPatch = Schema.Struct({
  /** Units to hold from now on; more must fit in what is available. */
  quantity: Schema.optional(Units),
  ...Expiry,
  /** Hold until released or fulfilled: drops the expiry. */
  noExpiry: Schema.optional(BooleanInput),
  ...Who
})
export type ReservationPatch = typeof ReservationPatch.Encoded

export const FulfilReservation = Schema.Struct({
  /** Units that leave now; default: all that are held. The rest stay held. */
  quantity: Schema.optional(Units),
  ...Who
})
export type FulfilReservation = typeof FulfilReservation.Encoded

export const ReleaseReservation = Schema.Struct(Who)
export type ReleaseReservation = typeof ReleaseReservation.Encoded

export const ReservationQuery = Schema.Struct({
  sku: Schema.optional(Sku),
  location: Schema.optional(LocationCode),
  reference: Schema.optional(PlainText),
  status: Schema.optional(ReservationStatus),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  cursor: Schema.optional(IdCursor)
})
export type ReservationQuery = typeof ReservationQuery.Encoded

/** A reservation's number, as every face checks it before using it. */
export const ReservationId = NumberInput.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.positive({ message: () => "must be a positive reservation number" })
)

// A change's whole request, the reservation's number with the rest, as each change checks it.
const UpdateRequest = Schema.Struct({ id: ReservationId, ...ReservationPatch.fields })
const ReleaseRequest = Schema.Struct({ id: ReservationId, ...ReleaseReservation.fields })
const FulfilRequest = Schema.Struct({ id: ReservationId, ...FulfilReservation.fields })

/** What a sweep did: holds closed as expired. */
export interface SweepResult {
  readonly expired: number
}

/** How many expired holds one sweep statement closes; a sweep runs batches until none is due. */
export const SWEEP_BATCH = 500

// ---------------------------------------------------------------------------------------------
// Service

type HoldError =
  | InvalidInput
  | ProductNotFound
  | LocationNotFound
  | InsufficientStock
  | IdempotencyKeyReused
  | StoreError
type ChangeError =
  | InvalidInput
  | ProductNotFound
  | LocationNotFound
  | ReservationNotFound
  | ReservationClosed
  | InsufficientStock
  | IdempotencyKeyReused
  | StoreError

export class Reservations extends Effect.Service<Reservations>()("@invkit/sdk/Reservations", {
  dependencies: [ReorderRule.Default],
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const reorder = yield* ReorderRule
    const { applyChange } = makeStockWriter(sql, reorder)
    const columns = reservationColumns(sql, "r")
    const send = sender(sql)

    /** The expiry as SQL, checked: a moment in the past or too far ahead is refused. */
    const expiryOf = (request: {
      readonly expiresIn?: number | undefined
      readonly expiresAt?: Date | undefined
    }): Effect.Effect<Statement.Fragment | undefined, InvalidInput> => {
      if (request.expiresIn !== undefined && request.expiresAt !== undefined) {
        return Effect.fail(notBoth("expiresIn", "expiresAt"))
      }
      if (request.expiresIn !== undefined) {
        return Effect.succeed(sql`now() + ${request.expiresIn} * interval '1 second'`)
      }
      if (request.expiresAt !== undefined) {
        const ahead = request.expiresAt.getTime() - Date.now()
        if (ahead <= 0) {
          return Effect.fail(new InvalidInput({ field: "expiresAt", rule: "must be in the future" }))
        }
        if (ahead > MAX_HOLD_SECONDS * 1000) {
          return Effect.fail(new InvalidInput({ field: "expiresAt", rule: "must be at most 30 days ahead" }))
        }
        return Effect.succeed(sql`${request.expiresAt}::timestamptz`)
      }
      return Effect.succeed(undefined)
    }

    const read = (id: number) =>
      Effect.map(
        sql<Reservation>`select ${columns} from reservations r where r.id = ${id}`,
        (rows) => rows[0]
      )

    /** After the commit: a hold lowers available, so it may open a restock order. */
    const reorderAt = (levels: Iterable<{ readonly sku: string; readonly location: string }>) =>
      evaluateReorder(reorder, levels)

    /** Why a hold did not fit, decided with the level locked; `retry` when expired holds were in the way. */
    const holdRefusal = (item: {
      readonly sku: string
      readonly location: string
      readonly quantity: number
    }) =>
      Effect.gen(function* () {
        const level = yield* lockedLevel(sql, item.sku, item.location)
        if (level === undefined) {
          yield* requireProductAndLocation(sql, item.sku, item.location)
          return yield* new InsufficientStock({ ...item, available: 0, requested: item.quantity })
        }
        const available = level.onHand - level.held
        if (available >= item.quantity) return "retry" as const
        return yield* new InsufficientStock({
          sku: item.sku,
          location: item.location,
          available: Math.max(0, available),
          requested: item.quantity
        })
      })

    /** Holds the items in lock order, in the caller's transaction; answers them in the caller's order. */
    const holdAll = (
      items: ReadonlyArray<{ readonly sku: string; readonly location: string; readonly quantity: number }>,
      reference: string,
      expiresAt: Statement.Fragment | undefined,
      actor: string | undefined,
      low: Map<string, { readonly sku: string; readonly location: string }>
    ) =>
      Effect.gen(function* () {
        const traceparent = yield* currentTraceparent
        const ordered = items
          .map((item, index) => ({ item, index }))
          .sort((a, b) =>
            a.item.sku !== b.item.sku
              ? a.item.sku < b.item.sku
                ? -1
                : 1
              : a.item.location < b.item.location
                ? -1
                : a.item.location > b.item.location
                  ? 1
                  : 0
          )
        const placedHolds: Array<Reservation> = new Array(items.length)
        for (const { item, index } of ordered) {
          const hold = { ...item, reference, expiresAt: expiresAt ?? sql`null`, actor: actor ?? null }
          let [placed] = yield* placeHold(sql, hold, traceparent)
          if (placed === undefined) {
            // Holds past their expiry no longer count: close them, then the hold fits.
            yield* holdRefusal(item)
            yield* expireDue(sql, item.sku, item.location, traceparent)
            ;[placed] = yield* placeHold(sql, hold, traceparent)
            if (placed === undefined) return yield* new StoreError({ reason: "a hold that fits was refused" })
          }
          const { atReorderPoint, ...reservation } = placed
          placedHolds[index] = reservation
          if (atReorderPoint) low.set(`${item.sku}\u0000${item.location}`, item)
        }
        return placedHolds
      })

    /** Runs `work` once per call with the idempotency key's semantics, retrying lost lock races. */
    const keyed = <A, I, E, Q extends { readonly idempotencyKey?: string | undefined }>(
      operation: string,
      request: Q,
      response: Schema.Schema<A, I>,
      work: Effect.Effect<A, E | SqlError>
    ) =>
      keyedTransaction(
        sql,
        request.idempotencyKey,
        () => requestHash(operation, request),
        response,
        work
      ).pipe(
        Effect.retry({ while: isRetryableConflict, times: 5 }),
        Effect.catchIf(
          (error): error is SqlError => (error as { _tag?: string })._tag === "SqlError",
          (error) => Effect.fail(storeFailure(error))
        )
      ) as Effect.Effect<A, Exclude<E, SqlError> | IdempotencyKeyReused | StoreError>

    const holdMany = (
      request: typeof NewReservations.Type,
      operation: string
    ): Effect.Effect<ReservationList, HoldError> =>
      Effect.gen(function* () {
        const expiresAt = yield* expiryOf(request)
        const low = new Map<string, { readonly sku: string; readonly location: string }>()
        const result = yield* keyed(
          operation,
          request,
          ReservationList,
          Effect.gen(function* () {
            low.clear()
            return {
              reservations: yield* holdAll(request.items, request.reference, expiresAt, request.actor, low)
            }
          })
        )
        yield* reorderAt(low.values())
        return result
      })

    /**
     * A change that is one statement, outside any transaction: sent alone, which the database
     * commits on its own, as an unkeyed stock write's is (a BEGIN and a COMMIT around it would cost
     * two round trips and decide nothing more). Answers its rows; none when it lost a race, having
     * written nothing, as when it did not apply: the caller then runs the change in a transaction.
     */
    const sentAlone = <A extends object>(
      statement: (traceparent: string | null) => Statement.Statement<A>
    ): Effect.Effect<ReadonlyArray<A>, StoreError> =>
      Effect.flatMap(currentTraceparent, (traceparent) =>
        committedAlone(sql, send(statement(traceparent)))
      ).pipe(
        Effect.catchIf(isRetryableConflict, () => Effect.succeed([])),
        Effect.mapError(storeFailure)
      )

    /**
     * An unkeyed hold of one item, outside any transaction (`sentAlone`). Answers the hold, or
     * undefined when it did not fit: the caller runs it in a transaction, which explains a refusal
     * with the level locked and expires holds in the way.
     */
    const holdAlone = (
      item: { readonly sku: string; readonly location: string; readonly quantity: number },
      request: { readonly reference: string; readonly actor?: string | undefined },
      expiresAt: Statement.Fragment | undefined
    ): Effect.Effect<Reservation | undefined, StoreError> =>
      Effect.flatMap(
        sentAlone((traceparent) =>
          placeHold(
            sql,
            {
              ...item,
              reference: request.reference,
              expiresAt: expiresAt ?? sql`null`,
              actor: request.actor ?? null
            },
            traceparent
          )
        ),
        ([placed]) => {
          if (placed === undefined) return Effect.succeed(undefined)
          const { atReorderPoint, ...reservation } = placed
          return atReorderPoint ? Effect.as(reorderAt([item]), reservation) : Effect.succeed(reservation)
        }
      )

    /** Whether the caller runs this inside a transaction of its own: then every write is part of it. */
    const inCallersTransaction = Effect.withFiberRuntime<boolean>((fiber) =>
      Effect.succeed(transactionIn(fiber.currentContext) !== undefined)
    )

    /** Holds `quantity` units of a SKU at a location for a reference. */
    const create = (input: NewReservation): Effect.Effect<Reservation, HoldError> =>
      Effect.flatMap(decodeInput(NewReservation)(input), ({ sku, quantity, location, ...rest }) => {
        const item = { sku, quantity, location }
        const inTransaction = Effect.map(
          holdMany({ ...rest, items: [item] }, "reserve"),
          ({ reservations }) => reservations[0]!
        )
        if (rest.idempotencyKey !== undefined) return inTransaction
        return Effect.flatMap(inCallersTransaction, (inOne) =>
          inOne
            ? inTransaction
            : Effect.flatMap(expiryOf(rest), (expiresAt) =>
                Effect.flatMap(holdAlone(item, rest, expiresAt), (placed) =>
                  placed === undefined ? inTransaction : Effect.succeed(placed)
                )
              )
        )
      })

    /** Holds several SKUs for one reference, all or nothing: one that does not fit refuses the lot. */
    const createMany = (input: NewReservations): Effect.Effect<ReservationList, HoldError> =>
      Effect.flatMap(decodeInput(NewReservations)(input), (request) => holdMany(request, "reserve.many"))

    const decodeIdField = decodeInput(Schema.Struct({ id: ReservationId }))
    const decodeId = (id: number) => Effect.map(decodeIdField({ id }), (_) => _.id)

    const get = (id: number): Effect.Effect<Reservation, InvalidInput | ReservationNotFound | StoreError> =>
      Effect.flatMap(decodeId(id), (id) =>
        read(id).pipe(
          Effect.mapError(storeFailure),
          Effect.flatMap((row) =>
            row ? Effect.succeed(row) : Effect.fail(new ReservationNotFound({ reservationId: id }))
          )
        )
      )

    /** Newest first. */
    const list = (
      query: ReservationQuery = {}
    ): Effect.Effect<Page<Reservation>, InvalidInput | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeInput(ReservationQuery)(query)
        const before = q.cursor === undefined ? undefined : Number(decodeCursor(q.cursor)[0])
        const due = sql`(r.status = 'active' and r.expires_at <= now())`
        const rows = yield* sql<Reservation>`
          select ${columns} from reservations r
          where ${sql.and([
            ...(q.sku ? [sql`r.sku = ${q.sku}`] : []),
            ...(q.location ? [sql`r.location = ${q.location}`] : []),
            ...(q.reference ? [sql`r.reference = ${q.reference}`] : []),
            ...(q.status === "active"
              ? [sql`r.status = 'active' and not coalesce(r.expires_at <= now(), false)`]
              : q.status === "expired"
                ? [sql`(r.status = 'expired' or ${due})`]
                : q.status
                  ? [sql`r.status = ${q.status}`]
                  : []),
            ...(before !== undefined && Number.isFinite(before) ? [sql`r.id < ${before}`] : [])
          ])}
          order by r.id desc
          limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.id])
      })

    /**
     * The reservation locked for a change; one past its expiry counts as expired (closed here, so
     * its units are free again, when the change is a release).
     */
    const lockActive = (id: number, action: string) =>
      Effect.gen(function* () {
        const [row] = yield* sql<Reservation & { readonly due: boolean }>`
          select ${columns}, (r.status = 'active' and coalesce(r.expires_at <= now(), false)) as due
          from reservations r where r.id = ${id} for update`
        if (row === undefined) return yield* new ReservationNotFound({ reservationId: id })
        if (row.status !== "active") {
          return yield* new ReservationClosed({ reservationId: id, status: row.status, action })
        }
        return row
      })

    const update = (id: number, patch: ReservationPatch): Effect.Effect<Reservation, ChangeError> =>
      Effect.gen(function* () {
        const { id: reservationId, ...request } = yield* decodeInput(UpdateRequest)({ ...patch, id })
        if (
          request.quantity === undefined &&
          request.expiresIn === undefined &&
          request.expiresAt === undefined &&
          !request.noExpiry
        ) {
          return yield* atLeastOneOf(["quantity", "expiresIn", "expiresAt", "noExpiry"])
        }
        if (request.noExpiry && (request.expiresIn !== undefined || request.expiresAt !== undefined)) {
          return yield* new InvalidInput({
            field: "noExpiry",
            rule: "give noExpiry or a new expiry (expiresIn, expiresAt), not both",
            mentions: ["noExpiry", "expiresIn", "expiresAt"]
          })
        }
        const expiresAt = yield* expiryOf(request)
        const low = new Map<string, { readonly sku: string; readonly location: string }>()
        const result = yield* keyed(
          "reservation.update",
          { ...request, id: reservationId },
          Reservation,
          Effect.gen(function* () {
            low.clear()
            const current = yield* lockActive(reservationId, "changed")
            const more = (request.quantity ?? current.quantity) - current.quantity
            const traceparent = yield* currentTraceparent
            if (more > 0) {
              const fits = sql`
                update stock_levels s set reserved = s.reserved + ${more}, version = s.version + 1, updated_at = now()
                where s.sku = ${current.sku} and s.location = ${current.location} and s.on_hand - s.reserved >= ${more}
                returning s.on_hand - s.reserved <= (select reorder_point from products where sku = s.sku) as at_reorder_point`
              let [level] = yield* fits
              if (level === undefined) {
                yield* holdRefusal({ sku: current.sku, location: current.location, quantity: more })
                yield* expireDue(sql, current.sku, current.location, traceparent)
                ;[level] = yield* fits
              }
              if ((level as { atReorderPoint?: boolean } | undefined)?.atReorderPoint)
                low.set("level", current)
            } else if (more < 0) {
              yield* sql`
                update stock_levels set reserved = reserved + ${more}, version = version + 1, updated_at = now()
                where sku = ${current.sku} and location = ${current.location}`
            }
            const expiry = request.noExpiry ? sql`null` : (expiresAt ?? sql`r.expires_at`)
            yield* sql`
              update reservations r set quantity = ${request.quantity ?? current.quantity}, expires_at = ${expiry},
                     updated_at = now(), actor = coalesce(${request.actor ?? null}, r.actor)
              where r.id = ${reservationId}`
            yield* announce("stock.reservation.updated", reservationId)
            return (yield* read(reservationId))!
          })
        )
        yield* reorderAt(low.values())
        return result
      })

    /** Writes an event for a hold as it now is, with its level's figures. */
    const announce = (
      type: "stock.reservation.updated" | "stock.reservation.fulfilled",
      id: number,
      extra: Record<string, number> = {}
    ) =>
      Effect.gen(function* () {
        const [row] = yield* sql<Record<string, unknown>>`
          select r.id as reservation_id, r.sku, r.location, r.quantity, r.fulfilled, r.reference, r.status,
                 r.expires_at, l.reserved, l.on_hand, l.version, r.actor, r.updated_at as at
          from reservations r join stock_levels l on l.sku = r.sku and l.location = r.location
          where r.id = ${id}`
        const data = { ...row, ...extra } as Record<string, unknown>
        for (const key of ["expiresAt", "at"]) {
          if (data[key] instanceof Date) data[key] = (data[key] as Date).toISOString()
        }
        yield* writeEvent(sql, type, String(data.sku), data)
      })

    /**
     * An unkeyed release of an active hold, outside any transaction (`sentAlone`). Answers undefined
     * when it changed nothing (the hold is not found, closed, or due to expire): the caller decides
     * those in a transaction.
     */
    const releaseAlone = (reservationId: number): Effect.Effect<Reservation | undefined, StoreError> =>
      Effect.map(
        sentAlone((traceparent) => releaseActiveHold<Reservation>(sql, reservationId, traceparent)),
        ([released]) => released
      )

    /** Releases a hold: its units are available again. Releasing a released or expired one answers it as it is. */
    const release = (id: number, options: ReleaseReservation = {}): Effect.Effect<Reservation, ChangeError> =>
      Effect.gen(function* () {
        const { id: reservationId, ...request } = yield* decodeInput(ReleaseRequest)({ ...options, id })
        if (request.idempotencyKey === undefined && !(yield* inCallersTransaction)) {
          const released = yield* releaseAlone(reservationId)
          if (released !== undefined) return released
        }
        return yield* keyed(
          "reservation.release",
          { ...request, id: reservationId },
          Reservation,
          Effect.gen(function* () {
            const [row] = yield* sql<Reservation & { readonly due: boolean }>`
              select ${columns}, (r.status = 'active' and coalesce(r.expires_at <= now(), false)) as due
              from reservations r where r.id = ${reservationId} for update`
            if (row === undefined) return yield* new ReservationNotFound({ reservationId })
            if (row.status === "fulfilled") {
              return yield* new ReservationClosed({ reservationId, status: row.status, action: "released" })
            }
            const traceparent = yield* currentTraceparent
            if (row.due) yield* expireHold(sql, reservationId, traceparent)
            else if (row.status === "active") yield* releaseHold(sql, reservationId, traceparent)
            return (yield* read(reservationId))!
          })
        )
      })

    /**
     * The held units leave stock (all, or `quantity` of them): on hand and reserved fall together,
     * one ledger movement `sale` with `reservation:<id>` as reference, its `stock.updated` event and
     * a `stock.reservation.fulfilled` event. The rest stays held.
     */
    const fulfil = (id: number, options: FulfilReservation = {}): Effect.Effect<Reservation, ChangeError> =>
      Effect.gen(function* () {
        const { id: reservationId, ...request } = yield* decodeInput(FulfilRequest)({ ...options, id })
        const low = new Map<string, { readonly sku: string; readonly location: string }>()
        const result = yield* keyed(
          "reservation.fulfil",
          { ...request, id: reservationId },
          Reservation,
          Effect.gen(function* () {
            low.clear()
            const current = yield* lockActive(reservationId, "fulfilled")
            const units = request.quantity ?? current.quantity
            if (units > current.quantity) {
              return yield* new InvalidInput({
                field: "quantity",
                rule: `must be at most ${current.quantity}, the units reservation ${reservationId} holds`
              })
            }
            const traceparent = yield* currentTraceparent
            const change = yield* applyChange(
              {
                type: "fulfil",
                sku: current.sku,
                location: current.location,
                quantity: units,
                reason: "sale"
              },
              {
                reference: `reservation:${reservationId}`,
                actor: request.actor ?? current.actor ?? undefined
              },
              traceparent
            ).pipe(
              Effect.catchTag("ChangeRejected", () =>
                // Only a level sold past its holds (backorders) has fewer on hand than it holds.
                Effect.flatMap(
                  sql<{
                    onHand: number
                  }>`select on_hand from stock_levels where sku = ${current.sku} and location = ${current.location}`,
                  ([level]) =>
                    Effect.fail(
                      new InsufficientStock({
                        sku: current.sku,
                        location: current.location,
                        available: level?.onHand ?? 0,
                        requested: units
                      })
                    )
                )
              )
            )
            if (change.atReorderPoint) low.set("level", current)
            yield* sql`
              update reservations set fulfilled = fulfilled + ${units},
                     quantity = case when quantity = ${units} then quantity else quantity - ${units} end,
                     status = case when quantity = ${units} then 'fulfilled' else status end,
                     closed_at = case when quantity = ${units} then now() else closed_at end,
                     updated_at = now()
              where id = ${reservationId}`
            yield* announce("stock.reservation.fulfilled", reservationId, {
              fulfilledNow: units,
              movementId: change.movementId
            })
            return (yield* read(reservationId))!
          })
        )
        yield* reorderAt(low.values())
        return result
      })

    /**
     * Closes every hold past its expiry, in batches of `SWEEP_BATCH` (each its own transaction),
     * until none is due. Safe with any number of sweepers at once: each hold is closed once.
     */
    const sweepExpired = (): Effect.Effect<SweepResult, StoreError> =>
      Effect.gen(function* () {
        let expired = 0
        for (;;) {
          const closed = yield* failOnSqlDefect(sql.withTransaction(expireBatch(sql, SWEEP_BATCH))).pipe(
            Effect.retry({ while: isRetryableConflict, times: 5 })
          )
          expired += closed.length
          if (closed.length < SWEEP_BATCH) return { expired }
        }
      }).pipe(Effect.mapError(storeFailure))

    return { create, createMany, get, list, update, release, fulfil, sweepExpired } as const
  })
}) {}
