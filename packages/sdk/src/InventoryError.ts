/**
 * The domain errors. They are data (tagged classes with a schema) so that they cross HTTP, the
 * CLI's exit codes and the Promise facade unchanged. Each message says what to do next, in the
 * SDK's terms: every face adds its own words (the CLI its commands, see its ui/failure.ts).
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

export class InvalidInput extends Schema.TaggedError<InvalidInput>()(
  "InvalidInput",
  { field: Schema.String, rule: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {
  override get message() {
    return `${this.field}: ${this.rule}`
  }
}

export class ProductNotFound extends Schema.TaggedError<ProductNotFound>()(
  "ProductNotFound",
  { sku: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  override get message() {
    return `No product with SKU "${this.sku}". Add it first, or check the spelling.`
  }
}

export class LocationNotFound extends Schema.TaggedError<LocationNotFound>()(
  "LocationNotFound",
  { location: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  override get message() {
    return `No location "${this.location}". Add it first, or leave the location out to use the default location.`
  }
}

export class ProductAlreadyExists extends Schema.TaggedError<ProductAlreadyExists>()(
  "ProductAlreadyExists",
  { sku: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `A product with SKU "${this.sku}" already exists. Use update to change it.`
  }
}

export class LocationAlreadyExists extends Schema.TaggedError<LocationAlreadyExists>()(
  "LocationAlreadyExists",
  { location: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `A location "${this.location}" already exists.`
  }
}

export class InsufficientStock extends Schema.TaggedError<InsufficientStock>()(
  "InsufficientStock",
  { sku: Schema.String, location: Schema.String, available: Schema.Number, requested: Schema.Number },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `Insufficient stock of ${this.sku} at ${this.location}: ${this.available} available, ${this.requested} requested. Nothing was changed.`
  }
}

export class StockConflict extends Schema.TaggedError<StockConflict>()(
  "StockConflict",
  { sku: Schema.String, location: Schema.String, expected: Schema.Number, actual: Schema.Number },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `Stock of ${this.sku} at ${this.location} is ${this.actual}, not the expected ${this.expected}: someone changed it. Read it again and retry. Nothing was changed.`
  }
}

export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()(
  "IdempotencyKeyReused",
  { key: Schema.String },
  HttpApiSchema.annotations({ status: 422 })
) {
  override get message() {
    return `Idempotency key "${this.key}" was already used for a different request. Use a new key for a new request.`
  }
}

export class SupplierNotFound extends Schema.TaggedError<SupplierNotFound>()(
  "SupplierNotFound",
  { supplierId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  override get message() {
    return `No supplier "${this.supplierId}". Check the id against the list of suppliers, or add it first.`
  }
}

export class SupplierAlreadyExists extends Schema.TaggedError<SupplierAlreadyExists>()(
  "SupplierAlreadyExists",
  { supplierId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `A supplier "${this.supplierId}" already exists. Use update to change it.`
  }
}

export class SupplierInUse extends Schema.TaggedError<SupplierInUse>()(
  "SupplierInUse",
  { supplierId: Schema.String, openOrders: Schema.Number },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `Supplier "${this.supplierId}" has ${this.openOrders} open restock order(s). Receive or cancel them first.`
  }
}

export class RestockOrderNotFound extends Schema.TaggedError<RestockOrderNotFound>()(
  "RestockOrderNotFound",
  { orderId: Schema.Number },
  HttpApiSchema.annotations({ status: 404 })
) {
  override get message() {
    return `No restock order ${this.orderId}. Check the number against the list of restock orders.`
  }
}

export class RestockOrderClosed extends Schema.TaggedError<RestockOrderClosed>()(
  "RestockOrderClosed",
  { orderId: Schema.Number, status: Schema.String, action: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `Restock order ${this.orderId} is ${this.status}: it cannot be ${this.action}.`
  }
}

/** More units received than a restock order still expects, without allowing it. */
export class OverDelivery extends Schema.TaggedError<OverDelivery>()(
  "OverDelivery",
  { orderId: Schema.Number, outstanding: Schema.Number, quantity: Schema.Number },
  HttpApiSchema.annotations({ status: 409 })
) {
  override get message() {
    return `Restock order ${this.orderId} has ${this.outstanding} unit(s) outstanding, not ${this.quantity}: that is ${this.quantity - this.outstanding} over. Receive at most ${this.outstanding}, or accept the extra units with allowOverDelivery. Nothing was changed.`
  }
}

/** A catalog sync failed; the run is recorded with this reason. */
export class SyncFailed extends Schema.TaggedError<SyncFailed>()(
  "SyncFailed",
  {
    supplierId: Schema.String,
    runId: Schema.NullOr(Schema.Number),
    reason: Schema.String,
    /** Worth retrying later (timeout, 5xx, 429); false: fix the supplier's settings first. */
    transient: Schema.Boolean,
    retryAfterMs: Schema.optional(Schema.Number)
  },
  HttpApiSchema.annotations({ status: 502 })
) {
  override get message() {
    const what = this.supplierId === "" ? "Reading the catalog" : `Sync of supplier "${this.supplierId}"`
    return `${what} failed: ${this.reason}${this.transient ? " (temporary: worth trying again later)" : ""}`
  }
}

/** The store could not be reached or failed; not the caller's fault. */
export class StoreError extends Schema.TaggedError<StoreError>()(
  "StoreError",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {
  override get message() {
    return `The inventory store failed: ${this.reason}`
  }
}

/** The inventory handle was used after `close()`; it never crosses HTTP. */
export class InventoryClosed extends Schema.TaggedError<InventoryClosed>()(
  "InventoryClosed",
  {},
  HttpApiSchema.annotations({ status: 500 })
) {
  override get message() {
    return "This inventory was closed. Open it again (openInventory or connect) to keep using it."
  }
}

/** A server asked for a bearer token and got none, or one it does not accept. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {
  override get message() {
    return `Not authenticated: ${this.reason}. Pass a valid bearer token (the token option, or INV_TOKEN); the server's operator mints one.`
  }
}

/** The token is valid, but its role may not do this. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { role: Schema.String, required: Schema.String, action: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {
  override get message() {
    return `Not allowed: ${this.action} needs the ${this.required} role, and this token has ${this.role}. Nothing was changed.`
  }
}

/** The request body is over the server's limit (INV_MAX_BODY_BYTES). */
export class RequestTooLarge extends Schema.TaggedError<RequestTooLarge>()(
  "RequestTooLarge",
  { limitBytes: Schema.Number },
  HttpApiSchema.annotations({ status: 413 })
) {
  override get message() {
    return `The request body is over the server's limit of ${this.limitBytes} bytes. Send it in smaller parts (a batch takes at most 1000 changes).`
  }
}

/** Over the server's per-token rate (INV_RATE_LIMIT); the client waits and retries by itself. */
export class RateLimited extends Schema.TaggedError<RateLimited>()(
  "RateLimited",
  { retryAfterSeconds: Schema.Number },
  HttpApiSchema.annotations({ status: 429 })
) {
  override get message() {
    return `Too many requests with this token: try again in ${this.retryAfterSeconds} s.`
  }
}

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
