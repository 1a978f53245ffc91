/**
 * The domain errors. They are data (tagged classes with a schema) so that they cross HTTP, the
 * CLI's exit codes and the Promise facade unchanged. Each message says what to do next, in the
 * SDK's terms: every face adds its own words (the CLI its commands, see its ui/failure.ts).
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

/**
 * The human sentence, in the encoded form too, so that every error body a server answers has a
 * `message` beside its fields. Optional on the way in: an instance always writes its own.
 */
const Message = Schema.optional(Schema.String)

/**
 * Gives each instance its message as an own field, written from its other fields: the schema's
 * encoding reads own fields only, and a decoded error says it in this SDK's words again.
 */
const explained = <Base extends new (...args: Array<any>) => Error>(
  base: Base,
  describe: (error: InstanceType<Base>) => string
) =>
  class extends base {
    constructor(...args: Array<any>) {
      super(...args)
      Object.defineProperty(this, "message", {
        value: describe(this as InstanceType<Base>),
        enumerable: true,
        configurable: true
      })
    }
  }

export class InvalidInput extends explained(
  Schema.TaggedError<InvalidInput>()(
    "InvalidInput",
    {
      field: Schema.String,
      rule: Schema.String,
      /**
       * Other input fields the rule names ("give at least one of name, unit, …"), so that a face
       * which spells fields its own way (the CLI's flags) can say them as its user typed them.
       */
      mentions: Schema.optional(Schema.Array(Schema.String)),
      message: Message
    },
    HttpApiSchema.annotations({ status: 400 })
  ),
  (error) => `${error.field}: ${error.rule}`
) {}

export class ProductNotFound extends explained(
  Schema.TaggedError<ProductNotFound>()(
    "ProductNotFound",
    { sku: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 404 })
  ),
  (error) => `No product with SKU "${error.sku}". Add it first, or check the spelling.`
) {}

export class LocationNotFound extends explained(
  Schema.TaggedError<LocationNotFound>()(
    "LocationNotFound",
    { location: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 404 })
  ),
  (error) =>
    `No location "${error.location}". Add it first, or leave the location out to use the default location.`
) {}

export class ProductAlreadyExists extends explained(
  Schema.TaggedError<ProductAlreadyExists>()(
    "ProductAlreadyExists",
    { sku: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) => `A product with SKU "${error.sku}" already exists. Use update to change it.`
) {}

export class LocationAlreadyExists extends explained(
  Schema.TaggedError<LocationAlreadyExists>()(
    "LocationAlreadyExists",
    { location: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) => `A location "${error.location}" already exists.`
) {}

export class InsufficientStock extends explained(
  Schema.TaggedError<InsufficientStock>()(
    "InsufficientStock",
    {
      sku: Schema.String,
      location: Schema.String,
      available: Schema.Number,
      requested: Schema.Number,
      /**
       * Units held by active reservations at the level, when holds are what is in the way: the
       * units are on hand, but promised. Absent when there are not enough on hand at all.
       */
      reserved: Schema.optional(Schema.Number),
      message: Message
    },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) =>
    error.reserved === undefined
      ? `Insufficient stock of ${error.sku} at ${error.location}: ${error.available} available, ${error.requested} requested. Nothing was changed.`
      : `Insufficient stock of ${error.sku} at ${error.location}: ${error.available} available (${error.reserved} more on hand are held by reservations), ${error.requested} requested. Release or fulfil holds, ask to release them (releaseHolds), or allow backorders on the product. Nothing was changed.`
) {}

export class StockConflict extends explained(
  Schema.TaggedError<StockConflict>()(
    "StockConflict",
    {
      sku: Schema.String,
      location: Schema.String,
      expected: Schema.Number,
      actual: Schema.Number,
      message: Message
    },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) =>
    `Stock of ${error.sku} at ${error.location} is ${error.actual}, not the expected ${error.expected}: someone changed it. Read it again and retry. Nothing was changed.`
) {}

export class IdempotencyKeyReused extends explained(
  Schema.TaggedError<IdempotencyKeyReused>()(
    "IdempotencyKeyReused",
    { key: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 422 })
  ),
  (error) =>
    `Idempotency key "${error.key}" was already used for a different request. Use a new key for a new request.`
) {}

export class SupplierNotFound extends explained(
  Schema.TaggedError<SupplierNotFound>()(
    "SupplierNotFound",
    { supplierId: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 404 })
  ),
  (error) => `No supplier "${error.supplierId}". Check the id against the list of suppliers, or add it first.`
) {}

export class SupplierAlreadyExists extends explained(
  Schema.TaggedError<SupplierAlreadyExists>()(
    "SupplierAlreadyExists",
    { supplierId: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) => `A supplier "${error.supplierId}" already exists. Use update to change it.`
) {}

export class SupplierInUse extends explained(
  Schema.TaggedError<SupplierInUse>()(
    "SupplierInUse",
    { supplierId: Schema.String, openOrders: Schema.Number, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) =>
    `Supplier "${error.supplierId}" has ${error.openOrders} open restock order(s). Receive or cancel them first.`
) {}

export class RestockOrderNotFound extends explained(
  Schema.TaggedError<RestockOrderNotFound>()(
    "RestockOrderNotFound",
    { orderId: Schema.Number, message: Message },
    HttpApiSchema.annotations({ status: 404 })
  ),
  (error) => `No restock order ${error.orderId}. Check the number against the list of restock orders.`
) {}

export class RestockOrderClosed extends explained(
  Schema.TaggedError<RestockOrderClosed>()(
    "RestockOrderClosed",
    { orderId: Schema.Number, status: Schema.String, action: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) => `Restock order ${error.orderId} is ${error.status}: it cannot be ${error.action}.`
) {}

export class ReservationNotFound extends explained(
  Schema.TaggedError<ReservationNotFound>()(
    "ReservationNotFound",
    { reservationId: Schema.Number, message: Message },
    HttpApiSchema.annotations({ status: 404 })
  ),
  (error) => `No reservation ${error.reservationId}. Check the number against the list of reservations.`
) {}

/** A reservation that is no longer active (fulfilled, released or expired) cannot change. */
export class ReservationClosed extends explained(
  Schema.TaggedError<ReservationClosed>()(
    "ReservationClosed",
    { reservationId: Schema.Number, status: Schema.String, action: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) =>
    `Reservation ${error.reservationId} is ${error.status}: it cannot be ${error.action}. Nothing was changed.`
) {}

/** More units received than a restock order still expects, without allowing it. */
export class OverDelivery extends explained(
  Schema.TaggedError<OverDelivery>()(
    "OverDelivery",
    { orderId: Schema.Number, outstanding: Schema.Number, quantity: Schema.Number, message: Message },
    HttpApiSchema.annotations({ status: 409 })
  ),
  (error) =>
    `Restock order ${error.orderId} has ${error.outstanding} unit(s) outstanding, not ${error.quantity}: that is ${error.quantity - error.outstanding} over. Receive at most ${error.outstanding}, or accept the extra units with allowOverDelivery. Nothing was changed.`
) {}

/** A catalog sync failed; the run is recorded with this reason. */
export class SyncFailed extends explained(
  Schema.TaggedError<SyncFailed>()(
    "SyncFailed",
    {
      supplierId: Schema.String,
      runId: Schema.NullOr(Schema.Number),
      reason: Schema.String,
      /** Worth retrying later (timeout, 5xx, 429); false: fix the supplier's settings first. */
      transient: Schema.Boolean,
      retryAfterMs: Schema.optional(Schema.Number),
      message: Message
    },
    HttpApiSchema.annotations({ status: 502 })
  ),
  (error) => {
    const what = error.supplierId === "" ? "Reading the catalog" : `Sync of supplier "${error.supplierId}"`
    return `${what} failed: ${error.reason}${error.transient ? " (temporary: worth trying again later)" : ""}`
  }
) {}

/** The store could not be reached or failed; not the caller's fault. */
export class StoreError extends explained(
  Schema.TaggedError<StoreError>()(
    "StoreError",
    { reason: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 503 })
  ),
  (error) => `The inventory store failed: ${error.reason}`
) {}

/** The inventory handle was used after `close()`; it never crosses HTTP. */
export class InventoryClosed extends explained(
  Schema.TaggedError<InventoryClosed>()(
    "InventoryClosed",
    { message: Message },
    HttpApiSchema.annotations({ status: 500 })
  ),
  () => "This inventory was closed. Open it again (openInventory or connect) to keep using it."
) {}

/** A server asked for a bearer token and got none, or one it does not accept. */
export class Unauthorized extends explained(
  Schema.TaggedError<Unauthorized>()(
    "Unauthorized",
    { reason: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 401 })
  ),
  (error) =>
    `Not authenticated: ${error.reason}. Pass a valid bearer token (the token option, or INV_TOKEN); the server's operator mints one.`
) {}

/** The token is valid, but its role may not do this. */
export class Forbidden extends explained(
  Schema.TaggedError<Forbidden>()(
    "Forbidden",
    { role: Schema.String, required: Schema.String, action: Schema.String, message: Message },
    HttpApiSchema.annotations({ status: 403 })
  ),
  (error) =>
    `Not allowed: ${error.action} needs the ${error.required} role, and this token has ${error.role}. Nothing was changed.`
) {}

/** The request body is over the server's limit (INV_MAX_BODY_BYTES). */
export class RequestTooLarge extends explained(
  Schema.TaggedError<RequestTooLarge>()(
    "RequestTooLarge",
    { limitBytes: Schema.Number, message: Message },
    HttpApiSchema.annotations({ status: 413 })
  ),
  (error) =>
    `The request body is over the server's limit of ${error.limitBytes} bytes. Send it in smaller parts (a batch takes at most 1000 changes).`
) {}

/** Over the server's per-token rate (INV_RATE_LIMIT); the client waits and retries by itself. */
export class RateLimited extends explained(
  Schema.TaggedError<RateLimited>()(
    "RateLimited",
    { retryAfterSeconds: Schema.Number, message: Message },
    HttpApiSchema.annotations({ status: 429 })
  ),
  (error) => `Too many requests with this token: try again in ${error.retryAfterSeconds} s.`
) {}

export type InventoryError =
  | InvalidInput
  | ProductNotFound
  | LocationNotFound
  | ProductAlreadyExists
  | LocationAlreadyExists
  | InsufficientStock
  | StockConflict
  | IdempotencyKeyReused
  | SupplierNotFound
  | SupplierAlreadyExists
  | SupplierInUse
  | RestockOrderNotFound
  | RestockOrderClosed
  | OverDelivery
  | ReservationNotFound
  | ReservationClosed
  | SyncFailed
  | StoreError
  | InventoryClosed
  | Unauthorized
  | Forbidden
  | RequestTooLarge
  | RateLimited

export const InventoryError = Schema.Union(
  InvalidInput,
  ProductNotFound,
  LocationNotFound,
  ProductAlreadyExists,
  LocationAlreadyExists,
  InsufficientStock,
  StockConflict,
  IdempotencyKeyReused,
  SupplierNotFound,
  SupplierAlreadyExists,
  SupplierInUse,
  RestockOrderNotFound,
  RestockOrderClosed,
  OverDelivery,
  ReservationNotFound,
  ReservationClosed,
  SyncFailed,
  StoreError,
  InventoryClosed,
  Unauthorized,
  Forbidden,
  RequestTooLarge,
  RateLimited
)

/**
 * The HTTP status a server answers an error with (and the remote client received it with):
 * 400 InvalidInput, 404 …NotFound, 409 conflicts, 401, 403, 413, 429, 502 SyncFailed, 503
 * StoreError. The error's `_tag` is its code.
 */
export const httpStatus = (error: InventoryError): number => {
  const schema = InventoryError.members.find((member) => member.identifier === error._tag)
  return schema === undefined ? 500 : HttpApiSchema.getStatusError(schema)
}

/**
 * Which failures an idempotency key remembers: refusals the data decided (Stripe keeps every
 * answer of a request that ran). Not the failures of the store or of the request's passage, which
 * leave the key free so that the same request may be retried with it.
 */
const remembered: Record<InventoryError["_tag"], boolean> = {
  InvalidInput: true,
  ProductNotFound: true,
  LocationNotFound: true,
  ProductAlreadyExists: true,
  LocationAlreadyExists: true,
  InsufficientStock: true,
  StockConflict: true,
  SupplierNotFound: true,
  SupplierAlreadyExists: true,
  SupplierInUse: true,
  RestockOrderNotFound: true,
  RestockOrderClosed: true,
  OverDelivery: true,
  ReservationNotFound: true,
  ReservationClosed: true,
  IdempotencyKeyReused: false,
  SyncFailed: false,
  StoreError: false,
  InventoryClosed: false,
  Unauthorized: false,
  Forbidden: false,
  RequestTooLarge: false,
  RateLimited: false
}

export const rememberedRefusal = (error: unknown): error is InventoryError =>
  Schema.is(InventoryError)(error) && remembered[error._tag]
