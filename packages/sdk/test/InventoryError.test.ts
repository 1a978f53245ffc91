import { describe, expect, it } from "vitest"
import {
  Forbidden,
  httpStatus,
  InsufficientStock,
  InvalidInput,
  ProductNotFound,
  RateLimited,
  StoreError,
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
    expect(httpStatus(new RateLimited({ retryAfterSeconds: 1 }))).toBe(429)
    expect(httpStatus(new StoreError({ reason: "down" }))).toBe(503)
  })
})
