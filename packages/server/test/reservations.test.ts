/**
 * Reservations over HTTP: `inv-server all` in this process on a fresh PostgreSQL database, through
 * the remote SDK client (`connect`) and raw requests: the race of 32 holds on 10 units, the roles,
 * strict bodies, idempotency keys, and cached levels that show holds at once.
 */
import {
  connect,
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  type InventoryClient,
  Remote,
  ReservationClosed,
  ReservationNotFound
} from "@invkit/sdk"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { send } from "./serviceProcesses.js"
import { jwtAuth, postgresReachable, startAllOnFreshDatabase, testToken } from "./utils.js"

const reachable = await postgresReachable()
const CALLERS = 32

describe.skipIf(!reachable)("reservations over HTTP", () => {
  let baseUrl = ""
  let inv: InventoryClient
  let operator = ""
  let viewer = ""
  const cleanups: Array<() => Promise<void>> = []

  beforeAll(async () => {
    const server = await startAllOnFreshDatabase({ auth: jwtAuth })
    cleanups.push(server.stop)
    baseUrl = server.baseUrl
    operator = await testToken("operator", "till-3")
    viewer = await testToken("viewer")
    const admin = connect({ url: baseUrl, token: await testToken("admin") })
    await admin.products.add({ sku: "HTTP-H", name: "Held over HTTP" })
    await admin.products.add({ sku: "HTTP-B", name: "Backordered", allowBackorders: true })
    await admin.stock.set("HTTP-H", 10)
    await admin.stock.set("HTTP-B", 4)
    await admin.close()
    inv = connect({ url: baseUrl, token: operator })
    cleanups.push(() => inv.close())
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it(`${CALLERS} concurrent holds on 10 available: exactly 10 succeed, the rest are refused`, async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: CALLERS }, (_, i) =>
        inv.reservations.create({ sku: "HTTP-H", quantity: 1, reference: `cart-${i}`, expiresIn: "15m" })
      )
    )
    const held = outcomes.filter((o) => o.status === "fulfilled")
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []))
    expect(held).toHaveLength(10)
    expect(refused).toHaveLength(CALLERS - 10)
    expect(refused.every((e) => e instanceof InsufficientStock && e.available === 0)).toBe(true)
    // Read through stock-checker's cache: the holds show at once.
    expect(await inv.stock.level("HTTP-H")).toMatchObject({ onHand: 10, reserved: 10, available: 0 })
    const page = await inv.reservations.list({ sku: "HTTP-H", status: "active", limit: 100 })
    expect(page.items).toHaveLength(10)
    expect(page.items.every((r) => r.actor === "till-3")).toBe(true)
    for (const hold of page.items) await inv.reservations.release(hold.id)
    expect(await inv.stock.level("HTTP-H")).toMatchObject({ reserved: 0, available: 10 })
  }, 60_000)

  it("the lifecycle through connect(): create, update, fulfil, release, a cart", async () => {
    const hold = await inv.reservations.create({ sku: "HTTP-H", quantity: 3, reference: "order-1" })
    expect(hold).toMatchObject({ status: "active", quantity: 3, expiresAt: null })
    expect(await inv.reservations.get(hold.id)).toEqual(hold)
    const later = new Date(Date.now() + 3_600_000)
    const updated = await inv.reservations.update(hold.id, { quantity: 4, expiresAt: later })
    expect(updated.quantity).toBe(4)
    expect(updated.expiresAt?.getTime()).toBe(later.getTime())
    const partly = await inv.reservations.fulfil(hold.id, { quantity: 1, idempotencyKey: "ship-h1" })
    expect(partly).toMatchObject({ quantity: 3, fulfilled: 1, status: "active" })
    expect(await inv.reservations.fulfil(hold.id, { quantity: 1, idempotencyKey: "ship-h1" })).toEqual(partly)
    await expect(
      inv.reservations.fulfil(hold.id, { quantity: 2, idempotencyKey: "ship-h1" })
    ).rejects.toBeInstanceOf(IdempotencyKeyReused)
    expect(await inv.stock.level("HTTP-H")).toMatchObject({ onHand: 9, reserved: 3 })
    const done = await inv.reservations.fulfil(hold.id)
    expect(done.status).toBe("fulfilled")
    await expect(inv.reservations.release(hold.id)).rejects.toBeInstanceOf(ReservationClosed)
    await expect(inv.reservations.get(123_456)).rejects.toBeInstanceOf(ReservationNotFound)
    const history = await inv.stock.history("HTTP-H", { limit: 2 })
    expect(history.items.map((m) => [m.reason, m.delta, m.reference, m.actor])).toEqual([
      ["sale", -3, `reservation:${hold.id}`, "till-3"],
      ["sale", -1, `reservation:${hold.id}`, "till-3"]
    ])

    const cart = await inv.reservations.createMany({
      reference: "cart-x",
      expiresIn: 900,
      items: [
        { sku: "HTTP-H", quantity: 2 },
        { sku: "HTTP-B", quantity: 1 }
      ]
    })
    expect(cart.reservations.map((r) => r.sku)).toEqual(["HTTP-H", "HTTP-B"])
    await expect(
      inv.reservations.createMany({ reference: "cart-y", items: [{ sku: "HTTP-H", quantity: 99 }] })
    ).rejects.toMatchObject({ _tag: "InsufficientStock", sku: "HTTP-H" })
    await expect(
      inv.reservations.create({ sku: "HTTP-H", quantity: 0, reference: "r" })
    ).rejects.toMatchObject({
      _tag: "InvalidInput",
      field: "quantity"
    })
    await expect(
      inv.reservations.create({ sku: "HTTP-H", quantity: 1, reference: "r", expiresIn: "later" })
    ).rejects.toMatchObject({ _tag: "InvalidInput", field: "expiresIn" })
    await expect(inv.reservations.sweepExpired()).rejects.toBeInstanceOf(Remote.NotAvailableRemotely)
  }, 60_000)

  it("stock writes respect holds over HTTP: refused with reserved, releaseHolds, backorders", async () => {
    const hold = await inv.reservations.create({ sku: "HTTP-B", quantity: 2, reference: "pre-order" })
    // HTTP-B allows backorders: a sale may eat into its holds.
    expect((await inv.stock.adjust("HTTP-B", -2, { reason: "sale" })).onHand).toBe(2)
    await inv.reservations.release(hold.id)
    const level = await inv.stock.level("HTTP-H")
    const mine = await inv.reservations.create({ sku: "HTTP-H", quantity: level.available, reference: "all" })
    const refused = await inv.stock.adjust("HTTP-H", -1).catch((error) => error)
    expect(refused).toBeInstanceOf(InsufficientStock)
    expect(refused.reserved).toBe(level.reserved + level.available)
    expect(refused.message).toContain("held by reservations")
    const sold = await inv.stock.adjust("HTTP-H", -1, { releaseHolds: true })
    expect(sold.onHand).toBe(level.onHand - 1)
    expect((await inv.reservations.get(mine.id)).status).toBe("released")
  }, 60_000)

  it("roles, strict bodies and keys at the wire", async () => {
    const auth = (token: string) => ({ authorization: `Bearer ${token}` })
    const denied = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 1, reference: "r" },
      auth(viewer)
    )
    expect(denied.status).toBe(403)
    expect((await send(baseUrl, "GET", "/v1/reservations?limit=1", undefined, auth(viewer))).status).toBe(200)

    const unknown = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 1, reference: "r", expiresin: "5m" },
      auth(operator)
    )
    expect(unknown.status).toBe(400)
    expect(unknown.body.message).toContain("expiresin")
    const past = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 1, reference: "r", expiresAt: "2001-01-01T00:00:00Z" },
      auth(operator)
    )
    expect(past.status).toBe(400)
    expect(past.body).toMatchObject({ _tag: "InvalidInput", field: "expiresAt" })
    const huge = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 1e12, reference: "r" },
      auth(operator)
    )
    expect(huge.body).toMatchObject({ _tag: "InvalidInput", field: "quantity" })
    const badId = await send(baseUrl, "POST", "/v1/reservations/-1/release", undefined, auth(operator))
    expect(badId.status).toBe(400)

    const key = { ...auth(operator), "idempotency-key": "hold-key-1" }
    const first = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 1, reference: "k" },
      key
    )
    expect(first.status).toBe(201)
    const again = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 1, reference: "k" },
      key
    )
    expect(again.body.id).toBe(first.body.id)
    const other = await send(
      baseUrl,
      "POST",
      "/v1/reservations",
      { sku: "HTTP-H", quantity: 2, reference: "k" },
      key
    )
    expect(other.status).toBe(422)
    expect((await inv.reservations.list({ reference: "k" })).items).toHaveLength(1)
    await expect(inv.reservations.list({ status: "nonsense" as never })).rejects.toBeInstanceOf(InvalidInput)
  }, 60_000)
})
