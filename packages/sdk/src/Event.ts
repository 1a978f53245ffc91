/**
 * Events between the services and with other systems: CloudEvents 1.0 JSON envelopes on the
 * topic exchange `inventory.events`, with the event type as routing key. Stock changes put their
 * event in the `outbox` table in the same transaction; a relay publishes it.
 */
import * as Schema from "effect/Schema"
import { LocationCode } from "./Location.js"
import { Quantity, Sku } from "./Product.js"

export const EXCHANGE = "inventory.events"
export const SOURCE = "invkit"

export const EventType = Schema.Literal(
  "stock.updated",
  "stock.low",
  "supplier.catalog.updated",
  "restock.order.created",
  "restock.order.received",
  // Inbound, from other systems (as the original system had):
  "product.received",
  "product.sold"
)
export type EventType = typeof EventType.Type

/** The CloudEvents 1.0 envelope; `subject` is the SKU (or the supplier id for catalog events). */
export const CloudEvent = Schema.Struct({
  specversion: Schema.Literal("1.0"),
  id: Schema.String.pipe(Schema.minLength(1)),
  source: Schema.String.pipe(Schema.minLength(1)),
  type: Schema.String,
  time: Schema.optional(Schema.String),
  subject: Schema.optional(Schema.String),
  datacontenttype: Schema.optional(Schema.String),
  /** W3C trace context, carried so one trace follows a change across the broker. */
  traceparent: Schema.optional(Schema.String),
  data: Schema.Unknown
}).annotations({ identifier: "CloudEvent" })
export type CloudEvent = typeof CloudEvent.Type

/** `data` of inbound `product.received` and `product.sold`: adds or removes stock. */
export const ProductMovement = Schema.Struct({
  sku: Sku,
  quantity: Quantity.pipe(Schema.greaterThan(0, { message: () => "must be at least 1" })),
  location: Schema.optional(LocationCode),
  reference: Schema.optional(Schema.String)
})
export type ProductMovement = typeof ProductMovement.Type

/** `data` of `stock.updated`, as written to the outbox by every stock change. */
export const StockUpdated = Schema.Struct({
  sku: Schema.String,
  location: Schema.String,
  delta: Schema.Number,
  onHand: Schema.Number,
  version: Schema.Number,
  reason: Schema.String,
  reference: Schema.NullOr(Schema.String),
  actor: Schema.NullOr(Schema.String),
  movementId: Schema.Number,
  at: Schema.String
})
export type StockUpdated = typeof StockUpdated.Type

/** An outbox row as a CloudEvent. */
export const toCloudEvent = (row: {
  readonly eventId: string
  readonly type: string
  readonly subject: string
  readonly data: unknown
  readonly createdAt: Date
}): CloudEvent => ({
  specversion: "1.0",
  id: row.eventId,
  source: SOURCE,
  type: row.type,
  time: row.createdAt.toISOString(),
  subject: row.subject,
  datacontenttype: "application/json",
  data: row.data
})
