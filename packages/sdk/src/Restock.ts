/**
 * Restock orders, opened by the reorder rule (Reorder.ts). They go draft → submitted → received
 * (in one or more receipts) or cancelled; receiving adds stock through the ledger with reason
 * `restock` and the order as reference.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import {
  type IdempotencyKeyReused,
  InvalidInput,
  type LocationNotFound,
  OverDelivery,
  type ProductNotFound,
  RestockOrderClosed,
  RestockOrderNotFound,
  type StoreError
} from "./InventoryError.js"
import { keyedTransaction, requestHash } from "./internal/idempotency.js"
import { writeEvent } from "./internal/outbox.js"
import { Actor, decodeInput, NumberInput, PlainText, storeFailure, TextInput } from "./internal/validation.js"
import { DEFAULT_LOCATION } from "./Location.js"
import { DEFAULT_LIMIT, decodeCursor, IdCursor, Limit, type Page, toPage } from "./Page.js"
import { Sku, Units } from "./Product.js"
import { ReorderExplanation, ReorderRule } from "./Reorder.js"
import { LevelQuery, Stock, type WriteError } from "./Stock.js"

export const OrderStatus = Schema.Literal("draft", "submitted", "received", "cancelled").annotations({
  message: () => ({ message: "must be one of draft, submitted, received, cancelled", override: true })
})
export type OrderStatus = typeof OrderStatus.Type

export const RestockOrder = Schema.Struct({
  id: Schema.Number,
  sku: Schema.String,
  location: Schema.String,
  supplierId: Schema.NullOr(Schema.String),
  supplierSku: Schema.NullOr(Schema.String),
  quantity: Schema.Number,
  receivedQuantity: Schema.Number,
  /** Units received beyond `quantity` (only with `allowOverDelivery`); 0 otherwise. */
  overDelivered: Schema.Number,
  unitCost: Schema.NullOr(Schema.Number),
  status: OrderStatus,
  explanation: ReorderExplanation,
  createdAt: Schema.Date,
  updatedAt: Schema.Date,
  submittedAt: Schema.NullOr(Schema.Date),
  closedAt: Schema.NullOr(Schema.Date)
}).annotations({ identifier: "RestockOrder" })
export type RestockOrder = typeof RestockOrder.Type

export const OrderQuery = Schema.Struct({
  status: Schema.optional(OrderStatus),
  /** Only draft and submitted orders. */
  open: Schema.optional(Schema.Boolean),
  sku: Schema.optional(Sku),
  supplierId: Schema.optional(TextInput),
  limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
  cursor: Schema.optional(IdCursor)
})
export type OrderQuery = typeof OrderQuery.Encoded

/** A restock order's number, as every face checks it before using it. */
export const OrderId = NumberInput.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.positive({ message: () => "must be a positive order number" })
)

export const ReceiveOrder = Schema.Struct({
  orderId: OrderId,
  /** Units received now; default: all that is still outstanding. */
  quantity: Schema.optional(Units),
  /** Accept more units than are outstanding (a supplier's over-delivery); refused otherwise. */
  allowOverDelivery: Schema.optional(Schema.Boolean),
  actor: Schema.optional(Actor),
  idempotencyKey: Schema.optional(PlainText.pipe(Schema.minLength(1), Schema.maxLength(255)))
})
export type ReceiveOrder = typeof ReceiveOrder.Encoded

const orderColumns = `id, sku, location, supplier_id, supplier_sku, quantity, received_quantity,
  greatest(received_quantity - quantity, 0) as over_delivered,
  unit_cost::float8 as unit_cost, status, explanation, created_at, updated_at, submitted_at, closed_at`

export class RestockOrders extends Effect.Service<RestockOrders>()("@invkit/sdk/RestockOrders", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const stock = yield* Stock
    const rule = yield* ReorderRule

    // Built once: a schema and its decoder cost more to make than the reads they check.
    const decodeOrderIdField = decodeInput(Schema.Struct({ orderId: OrderId }))
    const decodeExplainQuery = decodeInput(LevelQuery)
    const decodeOrderId = (orderId: number) => Effect.map(decodeOrderIdField({ orderId }), (_) => _.orderId)

    const get = (
      orderId: number
    ): Effect.Effect<RestockOrder, InvalidInput | RestockOrderNotFound | StoreError> =>
      Effect.flatMap(decodeOrderId(orderId), (id) =>
        sql<RestockOrder>`select ${sql.unsafe(orderColumns)} from restock_orders where id = ${id}`.pipe(
          Effect.mapError(storeFailure),
          Effect.flatMap((rows) =>
            rows[0] ? Effect.succeed(rows[0]) : Effect.fail(new RestockOrderNotFound({ orderId: id }))
          )
        )
      )

    const list = (query: OrderQuery = {}): Effect.Effect<Page<RestockOrder>, InvalidInput | StoreError> =>
      Effect.gen(function* () {
        const q = yield* decodeInput(OrderQuery)(query)
        const before = q.cursor === undefined ? undefined : Number(decodeCursor(q.cursor)[0])
        const rows = yield* sql<RestockOrder>`
          select ${sql.unsafe(orderColumns)} from restock_orders
          where ${sql.and([
            ...(q.status ? [sql`status = ${q.status}`] : []),
            ...(q.open ? [sql`status in ('draft', 'submitted')`] : []),
            ...(q.sku ? [sql`sku = ${q.sku}`] : []),
            ...(q.supplierId ? [sql`supplier_id = ${q.supplierId}`] : []),
            ...(before === undefined ? [] : [sql`id < ${before}`])
          ])}
          order by id desc limit ${q.limit + 1}`.pipe(Effect.mapError(storeFailure))
        return toPage(rows, q.limit, (last) => [last.id])
      })

    /** Moves an order on, if its status allows: one conditional update, so two callers cannot both win. */
    const transition = (orderId: number, from: ReadonlyArray<OrderStatus>, to: OrderStatus, action: string) =>
      Effect.gen(function* () {
        const current = yield* get(orderId)
        const rows = yield* sql<RestockOrder>`
          update restock_orders
          set status = ${to}, updated_at = now(),
              submitted_at = ${to === "submitted" ? sql`now()` : sql`submitted_at`},
              closed_at = ${to === "cancelled" || to === "received" ? sql`now()` : sql`closed_at`}
          where id = ${current.id} and status in ${sql.in(from)}
          returning ${sql.unsafe(orderColumns)}`.pipe(Effect.mapError(storeFailure))
        return (
          rows[0] ?? (yield* new RestockOrderClosed({ orderId: current.id, status: current.status, action }))
        )
      })

    const submit = (orderId: number) => transition(orderId, ["draft"], "submitted", "submitted")
    const cancel = (orderId: number) => transition(orderId, ["draft", "submitted"], "cancelled", "cancelled")

    /**
     * Receives units of a submitted order: one ledger movement (reason `restock`, the order as
     * reference) and the order's progress, in one transaction. With an idempotency key, receiving
     * the same units again answers the first receipt and adds nothing. More than is outstanding
     * is refused (OverDelivery) unless `allowOverDelivery`; the order then shows `overDelivered`.
     */
    const receive = (
      input: ReceiveOrder
    ): Effect.Effect<
      RestockOrder,
      | InvalidInput
      | RestockOrderNotFound
      | RestockOrderClosed
      | OverDelivery
      | IdempotencyKeyReused
      | WriteError
      | StoreError
    > =>
      Effect.gen(function* () {
        const request = yield* decodeInput(ReceiveOrder)(input)
        const work = Effect.gen(function* () {
          const [order] = yield* sql<RestockOrder>`
            select ${sql.unsafe(orderColumns)} from restock_orders where id = ${request.orderId} for update`
          if (order === undefined) return yield* new RestockOrderNotFound({ orderId: request.orderId })
          if (order.status !== "submitted") {
            return yield* new RestockOrderClosed({
              orderId: order.id,
              status: order.status,
              action: order.status === "draft" ? "received before it is submitted" : "received"
            })
          }
          const outstanding = order.quantity - order.receivedQuantity
          const units = request.quantity ?? outstanding
          if (units > outstanding && !request.allowOverDelivery) {
            return yield* new OverDelivery({ orderId: order.id, outstanding, quantity: units })
          }
          yield* stock
            .adjust({
              sku: order.sku,
              location: order.location,
              delta: units,
              reason: "restock",
              reference: `restock-order:${order.id}`,
              actor: request.actor
            })
            .pipe(
              // The receipt's units are its quantity: a level taken past its limit names that field.
              Effect.mapError((error) =>
                error._tag === "InvalidInput" && error.field === "delta"
                  ? new InvalidInput({ field: "quantity", rule: error.rule })
                  : error
              )
            )
          const [updated] = yield* sql<RestockOrder>`
            update restock_orders
            set received_quantity = received_quantity + ${units}, updated_at = now(),
                status = case when received_quantity + ${units} >= quantity then 'received' else status end,
                closed_at = case when received_quantity + ${units} >= quantity then now() else closed_at end
            where id = ${order.id}
            returning ${sql.unsafe(orderColumns)}`
          yield* writeEvent(sql, "restock.order.received", order.sku, {
            orderId: order.id,
            sku: order.sku,
            location: order.location,
            received: units,
            receivedQuantity: updated!.receivedQuantity,
            overDelivered: updated!.overDelivered,
            status: updated!.status
          })
          return updated!
        })
        return yield* keyedTransaction(
          sql,
          request.idempotencyKey,
          () => requestHash("restock.receive", request),
          RestockOrder,
          work
        )
      }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeFailure(error)))) as Effect.Effect<
        RestockOrder,
        never
      >

    /** Why an order was or was not opened for a product, at one location or at each it is stocked in. */
    const explain = (
      sku: string,
      options: { readonly location?: string } = {}
    ): Effect.Effect<
      ReadonlyArray<ReorderExplanation>,
      InvalidInput | ProductNotFound | LocationNotFound | StoreError
    > =>
      Effect.gen(function* () {
        const q = yield* decodeExplainQuery({ sku, ...options })
        const level = yield* stock.level(q.sku, q.location ? { location: q.location } : {})
        const locations = q.location
          ? [q.location]
          : level.locations.length > 0
            ? level.locations.map((l) => l.location)
            : [DEFAULT_LOCATION]
        return yield* Effect.forEach(locations, (location) =>
          Effect.map(rule.explainAt(q.sku, location), (explanation) => explanation!)
        ).pipe(Effect.mapError(storeFailure))
      })

    return { get, list, submit, cancel, receive, explain } as const
  })
}) {}
