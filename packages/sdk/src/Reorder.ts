/**
 * The reorder rule: when available stock of a product at a location is at or below its reorder
 * point and no restock order for it is open, open a `draft` order for the reorder quantity (or
 * up to the max level), rounded up to the supplier's minimum order and pack size, from the
 * preferred supplier or else the cheapest active supplier item that has stock. A unique index
 * allows one open order per product and location, however many writers cross the threshold at
 * once. Stock writes call it right after they commit.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { writeEvent } from "./internal/outbox.js"
import { heldAt } from "./internal/reservationWrite.js"
import { failOnSqlDefect } from "./internal/validation.js"

export const SupplierChoice = Schema.Struct({
  supplierId: Schema.String,
  supplierSku: Schema.String,
  unitCost: Schema.NullOr(Schema.Number),
  availability: Schema.NullOr(Schema.Number),
  minOrderQty: Schema.Number,
  packSize: Schema.Number,
  /** `preferred`: the product's preferred supplier; `cheapest`: the lowest cost among those with stock. */
  why: Schema.Literal("preferred", "cheapest")
})
export type SupplierChoice = typeof SupplierChoice.Type

/** Everything the rule looked at, and what it decided. */
export const ReorderExplanation = Schema.Struct({
  sku: Schema.String,
  location: Schema.String,
  onHand: Schema.Number,
  reserved: Schema.Number,
  available: Schema.Number,
  reorderPoint: Schema.Number,
  reorderQuantity: Schema.Number,
  maxLevel: Schema.NullOr(Schema.Number),
  openOrderId: Schema.NullOr(Schema.Number),
  supplier: Schema.NullOr(SupplierChoice),
  /** Before rounding: the reorder quantity, or max level minus available. */
  wanted: Schema.Number,
  quantity: Schema.Number,
  rounding: Schema.String,
  decision: Schema.Literal(
    "order",
    "above-reorder-point",
    "order-open",
    "nothing-to-order",
    "product-archived"
  ),
  summary: Schema.String
}).annotations({ identifier: "ReorderExplanation" })
export type ReorderExplanation = typeof ReorderExplanation.Type

const roundUp = (wanted: number, choice: SupplierChoice | null) => {
  if (choice === null) return { quantity: wanted, rounding: "no supplier item: not rounded" }
  const atLeastMinimum = Math.max(wanted, choice.minOrderQty)
  const quantity = Math.ceil(atLeastMinimum / choice.packSize) * choice.packSize
  const steps = [
    atLeastMinimum > wanted ? `raised to the minimum order of ${choice.minOrderQty}` : null,
    quantity > atLeastMinimum ? `rounded up to whole packs of ${choice.packSize}` : null
  ].filter((step) => step !== null)
  return { quantity, rounding: steps.length > 0 ? `${wanted} ${steps.join(", then ")}: ${quantity}` : "none" }
}

/** Evaluates the reorder rule; depends only on the database, so stock writes can call it. */
export class ReorderRule extends Effect.Service<ReorderRule>()("@invkit/sdk/ReorderRule", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const explainAt = (sku: string, location: string) =>
      Effect.gen(function* () {
        const [state] = yield* sql<{
          active: boolean
          reorderPoint: number
          reorderQuantity: number
          maxLevel: number | null
          preferredSupplier: string | null
          onHand: number
          reserved: number
          openOrderId: number | null
        }>`
          select p.active, p.reorder_point, p.reorder_quantity, p.max_level, p.preferred_supplier,
                 coalesce(l.on_hand, 0) as on_hand, coalesce(${heldAt(sql, "l")}, 0) as reserved,
                 (select id from restock_orders o
                  where o.sku = p.sku and o.location = ${location} and o.status in ('draft', 'submitted')) as open_order_id
          from products p left join stock_levels l on l.sku = p.sku and l.location = ${location}
          where p.sku = ${sku}`
        if (state === undefined) return undefined
        const choices = yield* sql<Omit<SupplierChoice, "why"> & { preferred: boolean }>`
          select i.supplier_id, i.supplier_sku, i.unit_cost::float8 as unit_cost, i.availability,
                 i.min_order_qty, i.pack_size, i.supplier_id = ${state.preferredSupplier} as preferred
          from supplier_items i join suppliers s on s.id = i.supplier_id
          where i.sku = ${sku} and i.active and s.active
            and (i.supplier_id = ${state.preferredSupplier} or coalesce(i.availability, 0) > 0)
          order by (i.supplier_id = ${state.preferredSupplier}) desc nulls last, i.unit_cost asc nulls last,
                   coalesce(i.lead_time_days, s.lead_time_days), i.supplier_id
          limit 1`
        const supplier: SupplierChoice | null = choices[0]
          ? {
              supplierId: choices[0].supplierId,
              supplierSku: choices[0].supplierSku,
              unitCost: choices[0].unitCost,
              availability: choices[0].availability,
              minOrderQty: choices[0].minOrderQty,
              packSize: choices[0].packSize,
              why: choices[0].preferred ? "preferred" : "cheapest"
            }
          : null
        const available = state.onHand - state.reserved
        const wanted = Math.max(
          0,
          state.maxLevel === null ? state.reorderQuantity : state.maxLevel - available
        )
        const { quantity, rounding } = roundUp(wanted, supplier)
        const decision: ReorderExplanation["decision"] = !state.active
          ? "product-archived"
          : available > state.reorderPoint
            ? "above-reorder-point"
            : state.openOrderId !== null
              ? "order-open"
              : wanted === 0
                ? "nothing-to-order"
                : "order"
        const summary = {
          "product-archived": "no order: the product is archived",
          "above-reorder-point": `no order: ${available} available is above the reorder point of ${state.reorderPoint}`,
          "order-open": `no order: restock order ${state.openOrderId} is already open`,
          "nothing-to-order":
            state.maxLevel === null
              ? "no order: the reorder quantity is 0 (give the product a reorder quantity)"
              : `no order: ${available} available already reaches the max level of ${state.maxLevel}`,
          order: `order ${quantity} from ${supplier ? `${supplier.supplierId} (${supplier.why})` : "no supplier yet: none offers it with stock"}: ${available} available is at or below the reorder point of ${state.reorderPoint}`
        }[decision]
        return {
          sku,
          location,
          onHand: state.onHand,
          reserved: state.reserved,
          available,
          reorderPoint: state.reorderPoint,
          reorderQuantity: state.reorderQuantity,
          maxLevel: state.maxLevel,
          openOrderId: state.openOrderId,
          supplier,
          wanted,
          quantity,
          rounding,
          decision,
          summary
        } satisfies ReorderExplanation
      })

    /**
     * Opens a draft order when the rule says so. Safe under any number of concurrent callers:
     * the unique index on open orders lets exactly one insert through.
     */
    const evaluate = (sku: string, location: string) =>
      Effect.gen(function* () {
        const explanation = yield* explainAt(sku, location)
        if (explanation === undefined || explanation.decision !== "order") return explanation
        const opened = yield* sql<{ id: number }>`
          insert into restock_orders (sku, location, supplier_id, supplier_sku, quantity, unit_cost, status, explanation)
          values (${sku}, ${location}, ${explanation.supplier?.supplierId ?? null}, ${explanation.supplier?.supplierSku ?? null},
                  ${explanation.quantity}, ${explanation.supplier?.unitCost ?? null}, 'draft', ${JSON.stringify(explanation)}::jsonb)
          on conflict (sku, location) where status in ('draft', 'submitted') do nothing
          returning id`
        const order = opened[0]
        if (order === undefined) return explanation
        yield* writeEvent(sql, "restock.order.created", sku, {
          orderId: order.id,
          sku,
          location,
          quantity: explanation.quantity,
          supplierId: explanation.supplier?.supplierId ?? null
        })
        return explanation
      }).pipe(sql.withTransaction, failOnSqlDefect)

    /**
     * The rule after a stock write committed: the change stands whatever the rule does, so a
     * failure is logged, not returned.
     */
    const evaluateAfterWrite = (sku: string, location: string) =>
      evaluate(sku, location).pipe(
        Effect.asVoid,
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`reorder rule for ${sku} at ${location} failed`, cause)
        )
      )

    /**
     * Of many levels (a bulk import's), the ones whose decision may be `order`, in one query. The
     * others are decided here, set-based, without a supplier lookup, as `explainAt` would decide
     * them: archived, above the reorder point, an order already open, or nothing to order (no
     * reorder quantity, or at the max level). Counted with the level's whole `reserved` (holds
     * that expired are still in it), so a level is never passed over that `explainAt` would order.
     */
    const mayOrder = (levels: ReadonlyArray<{ readonly sku: string; readonly location: string }>) =>
      sql<{ sku: string; location: string }>`
        select l.sku, l.location
        from unnest(${levels.map((level) => level.sku)}::text[], ${levels.map((level) => level.location)}::text[])
          as listed (sku, location)
        join stock_levels l on l.sku = listed.sku and l.location = listed.location
        join products p on p.sku = l.sku
        where p.active
          and l.on_hand - l.reserved <= p.reorder_point
          and case when p.max_level is null then p.reorder_quantity > 0
                   else p.max_level > l.on_hand - l.reserved end
          and not exists (
            select 1 from restock_orders o
            where o.sku = l.sku and o.location = l.location and o.status in ('draft', 'submitted'))
        order by l.sku, l.location`

    /** The rule for many levels at once; answers how many were evaluated one by one. */
    const evaluateAll = (levels: ReadonlyArray<{ readonly sku: string; readonly location: string }>) =>
      Effect.gen(function* () {
        if (levels.length === 0) return 0
        const candidates = yield* mayOrder(levels)
        for (const { sku, location } of candidates) yield* evaluate(sku, location)
        return candidates.length
      }).pipe(failOnSqlDefect)

    /**
     * `evaluateAll` after a write committed (a bulk import's): a few levels at once, each its own
     * short transaction mostly waiting on round trips; a failure is logged, not returned.
     */
    const evaluateAllAfterWrite = (
      levels: ReadonlyArray<{ readonly sku: string; readonly location: string }>
    ) =>
      mayOrder(levels).pipe(
        Effect.flatMap((candidates) =>
          Effect.forEach(candidates, ({ sku, location }) => evaluateAfterWrite(sku, location), {
            concurrency: 4,
            discard: true
          })
        ),
        Effect.catchAllCause((cause) => Effect.logWarning("reorder rule for imported levels failed", cause))
      )

    return { explainAt, evaluate, evaluateAfterWrite, evaluateAll, evaluateAllAfterWrite } as const
  })
}) {}
