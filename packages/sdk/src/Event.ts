import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { InvalidInput } from "./InventoryError.js"
import { requestHash } from "./internal/idempotency.js"
import { decodeInput, invalidInputAt, PlainText, TextInput } from "./internal/validation.js"
import { LocationCode } from "./Location.js"
import { Product, Sku, Units } from "./Product.js"
import { NESTING_RULE, nestsTooDeep } from "./Rules.js"

export const EXCHANGE = "inventory.events"
export const SOURCE = "invkit"

/** The only types other systems may publish to us: they add and remove stock. */
export const inboundTypes = ["product.received", "product.sold"] as const
export type InboundType = (typeof inboundTypes)[number]

/** A product added, changed or archived: readers of stock drop what they cached about it. */
export const catalogTypes = ["product.created", "product.updated", "product.archived"] as const
export type CatalogType = (typeof catalogTypes)[number]

/**
 * A hold placed, changed, released (by a caller or by expiry) or fulfilled: `reserved` and
 * `available` of its level changed. A fulfilment also writes `stock.updated` (on hand fell).
 */
export const reservationTypes = [
  "stock.reserved",
  "stock.reservation.updated",
  "stock.reservation.released",
  "stock.reservation.fulfilled"
] as const
export type ReservationType = (typeof reservationTypes)[number]

export const EventType = Schema.Literal(
  "stock.updated",
  "stock.imported",
  ...reservationTypes,
  "stock.low",
  "supplier.catalog.updated",
  "restock.order.created",
  "restock.order.received",
  ...catalogTypes,
  "product.imported",
  // Inbound, from other systems (as the original system had):
  ...inboundTypes
)
export type EventType = typeof EventType.Type

/** The CloudEvents 1.0 envelope; `subject` is the SKU (or the supplier id for catalog events). */
export const CloudEvent = Schema.Struct({
  specversion: Schema.Literal("1.0").annotations({ message: () => 'must be "1.0"' }),
  /** What consumers de-duplicate on, and the idempotency key of an inbound stock change. */
  // Plain text: both are stored (the inbox, the ledger's key and actor), and PostgreSQL cannot
  // store a NUL, so one would fail the store on every retry instead of being refused once.
  id: PlainText.pipe(
    Schema.minLength(1, { message: () => "must not be empty" }),
    Schema.maxLength(255, { message: () => "must be at most 255 characters" })
  ),
  source: PlainText.pipe(Schema.minLength(1, { message: () => "must not be empty" })),
  type: TextInput.pipe(Schema.minLength(1, { message: () => "must not be empty" })),
  time: Schema.optional(Schema.String),
  subject: Schema.optional(Schema.String),
  datacontenttype: Schema.optional(Schema.String),
  /** W3C trace context, carried so one trace follows a change across the broker. */
  traceparent: Schema.optional(Schema.String),
  data: Schema.Unknown
}).annotations({ identifier: "CloudEvent" })
export type CloudEvent = typeof CloudEvent.Type

const decodeCloudEvent = decodeInput(Schema.parseJson(CloudEvent))

/**
 * A message body as an envelope; the first problem as an InvalidInput naming the field. A body
 * nested past MAX_NESTING is refused before it is parsed (hashing or describing it would recurse
 * past the stack, a failure that would be retried rather than refused).
 */
export const decodeEnvelope = (body: string): Effect.Effect<CloudEvent, InvalidInput> =>
  nestsTooDeep(body) ? Effect.fail(invalidInputAt([], NESTING_RULE)) : decodeCloudEvent(body)

/** An event's `data` decoded with `schema`; a problem names the field under `data`. */
export const decodeData = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = decodeInput(Schema.Struct({ data: schema }))
  return (event: CloudEvent): Effect.Effect<A, InvalidInput> =>
    Effect.map(decode({ data: event.data }), ({ data }) => data)
}

/**
 * What makes two deliveries of one id the same event: its type and its data (not its time, which
 * a sender may set anew on a retry). Another event under a used id is refused, not skipped.
 */
export const fingerprint = (event: Pick<CloudEvent, "type" | "data">): string =>
  requestHash("cloudevent", [event.type, event.data])

/** How an event's `data` reads when it is not an object at all: a rule, not a schema dump. */
const anObjectWith = (fields: string) => ({ message: () => `must be an object with ${fields}` })

/** `data` of inbound `product.received` and `product.sold`: adds or removes stock. */
export const ProductMovement = Schema.Struct({
  sku: Sku,
  quantity: Units,
  location: Schema.optional(LocationCode),
  reference: Schema.optional(Schema.String)
}).annotations(anObjectWith("sku and quantity"))
export type ProductMovement = typeof ProductMovement.Type

/** `data` of `stock.updated`, as written to the outbox by every stock change. */
export const StockUpdated = Schema.Struct({
  sku: Sku,
  location: LocationCode,
  delta: Schema.Number,
  onHand: Schema.Number,
  version: Schema.Number,
  reason: Schema.String,
  reference: Schema.NullOr(Schema.String),
  actor: Schema.NullOr(Schema.String),
  movementId: Schema.Number,
  at: Schema.String,
  /**
   * Available units (on hand less reserved) after the change, and the product's reorder point
   * then: a consumer of the reorder rule skips a change that leaves the level above its point.
   * Absent in events written before they were added.
   */
  available: Schema.optional(Schema.Number),
  reorderPoint: Schema.optional(Schema.Number)
}).annotations(anObjectWith("sku, location, delta, onHand and version"))
export type StockUpdated = typeof StockUpdated.Type

/**
 * Whether a `stock.updated` says its change left the level above its reorder point: the reorder
 * rule has nothing to do for it. One that does not say (written before the fields existed) may.
 */
export const leftAboveReorderPoint = (data: {
  readonly available?: unknown
  readonly reorderPoint?: unknown
}): boolean =>
  typeof data.available === "number" &&
  typeof data.reorderPoint === "number" &&
  data.available > data.reorderPoint

/**
 * A second routing key for the `stock.updated` events the reorder rule may have to act on (those
 * not left above their reorder point), sent as the message's `BCC`: a queue bound to it gets only
 * those. The message's own routing key stays its type, so a queue bound to `stock.updated` still
 * gets every one, once.
 */
export const REORDER_ROUTE = "stock.updated.reorder"

/** The routing keys an event is published under besides its type (RabbitMQ's `BCC`). */
export const extraRoutes = (event: CloudEvent): ReadonlyArray<string> =>
  event.type === "stock.updated" &&
  typeof event.data === "object" &&
  event.data !== null &&
  !leftAboveReorderPoint(event.data)
    ? [REORDER_ROUTE]
    : []

/** One level an import changed, as listed by `stock.imported`. */
export const ImportedLevel = Schema.Struct({
  sku: Sku,
  location: LocationCode,
  delta: Schema.Number,
  onHand: Schema.Number,
  version: Schema.Number
})
export type ImportedLevel = typeof ImportedLevel.Type

/**
 * `data` of `stock.imported`: a bulk import changed these levels (up to 1,000 per event, in (sku,
 * location) order; a large import writes one event per chunk, numbered from 1). Each level also
 * has its ledger movement, with the import's `reference`. Consumers treat each level as they treat
 * a `stock.updated` for it.
 */
export const StockImported = Schema.Struct({
  importId: Schema.String,
  reference: Schema.String,
  reason: Schema.String,
  actor: Schema.NullOr(Schema.String),
  at: Schema.String,
  chunk: Schema.Number,
  levels: Schema.Array(ImportedLevel)
}).annotations(anObjectWith("importId, reference and levels"))
export type StockImported = typeof StockImported.Type

/**
 * `data` of every reservation event: the hold as it now is and its level's figures after the
 * change. `cause` (released or expired) only on `stock.reservation.released`; `fulfilledNow` and
 * `movementId` only on `stock.reservation.fulfilled`.
 */
export const ReservationChanged = Schema.Struct({
  reservationId: Schema.Number,
  sku: Sku,
  location: LocationCode,
  quantity: Schema.Number,
  fulfilled: Schema.Number,
  reference: Schema.String,
  status: Schema.String,
  expiresAt: Schema.NullOr(Schema.String),
  reserved: Schema.Number,
  onHand: Schema.Number,
  version: Schema.Number,
  actor: Schema.NullOr(Schema.String),
  cause: Schema.optional(Schema.Literal("released", "expired")),
  fulfilledNow: Schema.optional(Schema.Number),
  movementId: Schema.optional(Schema.Number),
  at: Schema.String
}).annotations(anObjectWith("reservationId, sku and location"))
export type ReservationChanged = typeof ReservationChanged.Type

/** `data` of `product.created`, `product.updated` and `product.archived`: the product as it now is. */
export const ProductChanged = Product.annotations(anObjectWith("sku"))
export type ProductChanged = typeof ProductChanged.Type

/** One product a bulk import added or changed, as listed by `product.imported`. */
export const ImportedProduct = Schema.Struct({
  sku: Sku,
  change: Schema.Literal("created", "updated", "archived")
})
export type ImportedProduct = typeof ImportedProduct.Type

/**
 * `data` of `product.imported`: a bulk import of products added or changed these (up to 1,000 per
 * event, in SKU order, numbered from 1); unchanged rows are not listed. Consumers treat each as
 * they treat a `product.created`, `product.updated` or `product.archived` of it; the product as
 * it now is, is one read away.
 */
export const ProductImported = Schema.Struct({
  importId: Schema.String,
  actor: Schema.NullOr(Schema.String),
  at: Schema.String,
  chunk: Schema.Number,
  products: Schema.Array(ImportedProduct)
}).annotations(anObjectWith("importId and products"))
export type ProductImported = typeof ProductImported.Type

/** An outbox row as a CloudEvent. */
export const toCloudEvent = (row: {
  readonly eventId: string
  readonly type: string
  readonly subject: string
  readonly data: unknown
  readonly createdAt: Date
  readonly traceparent?: string | null | undefined
}): CloudEvent => ({
  specversion: "1.0",
  id: row.eventId,
  source: SOURCE,
  type: row.type,
  time: row.createdAt.toISOString(),
  subject: row.subject,
  datacontenttype: "application/json",
  ...(row.traceparent ? { traceparent: row.traceparent } : {}),
  data: row.data
})

// The W3C trace context an event carries: defined beside the outbox, which writes it.
export { currentTraceparent, parentSpanOf, traceparentOf } from "./internal/traceContext.js"
