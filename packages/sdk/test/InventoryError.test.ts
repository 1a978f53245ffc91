import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import {
  Forbidden,
  httpStatus,
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  InventoryClosed,
  InventoryError,
  LocationAlreadyExists,
  LocationNotFound,
  OverDelivery,
  ProductAlreadyExists,
  ProductNotFound,
  RateLimited,
  RequestTooLarge,
  ReservationClosed,
  ReservationNotFound,
  RestockOrderClosed,
  RestockOrderNotFound,
  StockConflict,
  StoreError,
  SupplierAlreadyExists,
  SupplierInUse,
  SupplierNotFound,
  SyncFailed,
  Unauthorized
} from "../src/InventoryError.js"

describe("httpStatus", () => {
  it("answers the status each error crosses HTTP with", () => {
    expect(httpStatus(new InvalidInput({ field: "sku", rule: "must not be empty" }))).toBe(400)
    expect(httpStatus(new Unauthorized({ reason: "the token has expired" }))).toBe(401)
    expect(
      httpStatus(new Forbidden({ role: "viewer", required: "operator", action: "POST /v1/stock/A/adjust" }))
    ).toBe(403)
    expect(httpStatus(new ProductNotFound({ sku: "A" }))).toBe(404)
    expect(
      httpStatus(new InsufficientStock({ sku: "A", location: "default", available: 1, requested: 2 }))
    ).toBe(409)
    expect(
      httpStatus(
        new InsufficientStock({ sku: "A", location: "default", available: 1, requested: 2, reserved: 5 })
      )
    ).toBe(409)
    expect(httpStatus(new ReservationNotFound({ reservationId: 1 }))).toBe(404)
    expect(
      httpStatus(new ReservationClosed({ reservationId: 1, status: "released", action: "fulfilled" }))
    ).toBe(409)
    expect(httpStatus(new RateLimited({ retryAfterSeconds: 1 }))).toBe(429)
    expect(httpStatus(new StoreError({ reason: "down" }))).toBe(503)
  })
})

/** One of each error: the compiler keeps the list complete. */
const oneOfEach: { readonly [Tag in InventoryError["_tag"]]: Extract<InventoryError, { _tag: Tag }> } = {
  InvalidInput: new InvalidInput({ field: "sku", rule: "must not be empty" }),
  ProductNotFound: new ProductNotFound({ sku: "A-1" }),
  LocationNotFound: new LocationNotFound({ location: "back" }),
  ProductAlreadyExists: new ProductAlreadyExists({ sku: "A-1" }),
  LocationAlreadyExists: new LocationAlreadyExists({ location: "back" }),
  InsufficientStock: new InsufficientStock({ sku: "A-1", location: "default", available: 1, requested: 2 }),
  StockConflict: new StockConflict({ sku: "A-1", location: "default", expected: 1, actual: 2 }),
  IdempotencyKeyReused: new IdempotencyKeyReused({ key: "k-1" }),
  SupplierNotFound: new SupplierNotFound({ supplierId: "acme" }),
  SupplierAlreadyExists: new SupplierAlreadyExists({ supplierId: "acme" }),
  SupplierInUse: new SupplierInUse({ supplierId: "acme", openOrders: 2 }),
  RestockOrderNotFound: new RestockOrderNotFound({ orderId: 7 }),
  RestockOrderClosed: new RestockOrderClosed({ orderId: 7, status: "received", action: "cancelled" }),
  OverDelivery: new OverDelivery({ orderId: 7, outstanding: 12, quantity: 55 }),
  ReservationNotFound: new ReservationNotFound({ reservationId: 9 }),
  ReservationClosed: new ReservationClosed({ reservationId: 9, status: "fulfilled", action: "released" }),
  SyncFailed: new SyncFailed({ supplierId: "acme", runId: 3, reason: "status 500", transient: true }),
  StoreError: new StoreError({ reason: "down" }),
  InventoryClosed: new InventoryClosed(),
  Unauthorized: new Unauthorized({ reason: "the token has expired" }),
  Forbidden: new Forbidden({ role: "viewer", required: "operator", action: "POST /v1/stock/A/adjust" }),
  RequestTooLarge: new RequestTooLarge({ limitBytes: 1000 }),
  RateLimited: new RateLimited({ retryAfterSeconds: 1 })
}

describe("error messages", () => {
  it.each(Object.values(oneOfEach))("$_tag gives SDK advice, not CLI commands or flags", (error) => {
    expect(error.message).not.toMatch(/\binv(-server)? [a-z]/)
    expect(error.message).not.toMatch(/(^|\s)--[a-z]/)
  })

  it.each(Object.values(oneOfEach))(
    "$_tag crosses the wire with its _tag, a message and its fields",
    (error) => {
      const encoded = Schema.encodeSync(InventoryError)(error) as Record<string, unknown>
      expect(encoded._tag).toBe(error._tag)
      expect(encoded.message).toBe(error.message)
      expect(String(encoded.message).trim()).not.toBe("")
      const decoded = Schema.decodeUnknownSync(InventoryError)(JSON.parse(JSON.stringify(encoded)))
      expect(decoded).toBeInstanceOf(error.constructor)
      expect(Schema.encodeSync(InventoryError)(decoded)).toEqual(encoded)
    }
  )

  it("a closed inventory is an InventoryError with its own tag", () => {
    const closed = new InventoryClosed()
    expect(closed).toBeInstanceOf(Error)
    expect(closed._tag).toBe("InventoryClosed")
    expect(closed.message).toMatch(/closed.*open/i)
  })
})
