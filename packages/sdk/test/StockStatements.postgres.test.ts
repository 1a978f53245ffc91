/**
 * What a stock write or a hold sends to PostgreSQL, statement by statement (recorded at pg's
 * client): an unkeyed write of one statement goes alone, since the database commits one statement
 * on its own; whatever needs more than one statement keeps its transaction.
 */
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type InventoryClient, openInventory } from "../src/index.js"
import { createTestDatabase, POSTGRES_URL, postgresReachable } from "./postgres.js"

/** Every statement pg sends while `work` runs, trimmed, without the relays' standalone NOTIFY. */
const sentDuring = async (work: () => Promise<unknown>): Promise<ReadonlyArray<string>> => {
  const sent: Array<string> = []
  const query = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: Array<unknown>) {
    sent.push((typeof config === "string" ? config : (config as { text: string }).text).trim())
    return (query as (...args: Array<unknown>) => unknown).call(this, config, ...rest)
  } as typeof query
  try {
    await work()
  } finally {
    pg.Client.prototype.query = query
  }
  // Sent after some commit, by a fiber of its own, at most one per 50 ms (Store.ts): not the write's.
  return sent.filter((text) => !/^notify /i.test(text))
}

/** A statement's first words, enough to tell them apart. */
const heads = (texts: ReadonlyArray<string>) => texts.map((text) => text.split(/\s+/).slice(0, 3).join(" "))

describe.skipIf(!(await postgresReachable()))(`stock writes' statements on ${POSTGRES_URL}`, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>
  let inv: InventoryClient
  beforeAll(async () => {
    database = await createTestDatabase("inv_statements")
    inv = await openInventory({ databaseUrl: database.url })
    await inv.products.add({ sku: "ST-1", name: "Statements" })
    await inv.locations.add({ code: "back", name: "Back room" })
  })
  afterAll(async () => {
    await inv?.close()
    await database?.drop()
  })

  it("an unkeyed adjustment or set is its one statement, without BEGIN and COMMIT", async () => {
    expect(heads(await sentDuring(() => inv.stock.adjust("ST-1", 10)))).toEqual(["with level as"])
    expect(heads(await sentDuring(() => inv.stock.adjust("ST-1", -3, { reason: "sale" })))).toEqual([
      "with level as"
    ])
    expect(heads(await sentDuring(() => inv.stock.set("ST-1", 20)))).toEqual(["with level as"])
    expect((await inv.stock.level("ST-1")).onHand).toBe(20)
    const history = await inv.stock.history("ST-1")
    expect(history.items.map((movement) => movement.delta)).toEqual([13, -3, 10])
  })

  it("a refused one explains itself in a transaction of its own and writes nothing", async () => {
    const sent = await sentDuring(() =>
      expect(inv.stock.adjust("ST-1", -1000)).rejects.toMatchObject({ _tag: "InsufficientStock" })
    )
    // The level locked, then read (a read that waited for the lock could count expired holds twice).
    expect(heads(sent)).toEqual([
      "with level as",
      "BEGIN",
      "select 1 from",
      "select l.on_hand, l.reserved,",
      "ROLLBACK"
    ])
    expect((await inv.stock.level("ST-1")).onHand).toBe(20)
  })

  it("a keyed write, and one of two changes, keep their transaction", async () => {
    const keyed = await sentDuring(() => inv.stock.adjust("ST-1", 1, { idempotencyKey: "statements-1" }))
    expect(keyed[0]).toBe("BEGIN")
    expect(keyed.at(-1)).toBe("COMMIT")
    expect(keyed.filter((text) => text.startsWith("with level as"))).toHaveLength(1)
    const transfer = await sentDuring(() => inv.stock.transfer("ST-1", 2, { from: "default", to: "back" }))
    expect(heads(transfer)).toEqual(["BEGIN", "with level as", "with level as", "COMMIT"])
    expect((await inv.stock.level("ST-1")).onHand).toBe(21)
  })

  it("an unkeyed hold is its one statement, without BEGIN and COMMIT", async () => {
    const sent = await sentDuring(() =>
      inv.reservations.create({ sku: "ST-1", quantity: 2, reference: "cart-statements", expiresIn: "15m" })
    )
    expect(heads(sent)).toEqual(["with l as"])
    expect(await inv.stock.level("ST-1")).toMatchObject({ onHand: 21, reserved: 2, available: 19 })
  })

  it("a hold that does not fit explains itself in a transaction and holds nothing", async () => {
    const sent = await sentDuring(() =>
      expect(
        inv.reservations.create({ sku: "ST-1", quantity: 100, reference: "cart-too-big" })
      ).rejects.toMatchObject({ _tag: "InsufficientStock", available: 17, requested: 100 })
    )
    expect(heads(sent).slice(0, 2)).toEqual(["with l as", "BEGIN"])
    expect(sent.at(-1)).toBe("ROLLBACK")
    expect(await inv.stock.level("ST-1")).toMatchObject({ onHand: 21, reserved: 2 })
  })

  it("a keyed hold keeps its transaction", async () => {
    const sent = await sentDuring(() =>
      inv.reservations.create({ sku: "ST-1", quantity: 1, reference: "cart-keyed", idempotencyKey: "hold-1" })
    )
    expect(sent[0]).toBe("BEGIN")
    expect(sent.at(-1)).toBe("COMMIT")
    expect(heads(sent).filter((head) => head === "with l as")).toHaveLength(1)
    expect((await inv.stock.level("ST-1")).reserved).toBe(3)
  })

  it("an unkeyed release of an active hold is its one statement; one already released is answered in a transaction", async () => {
    const hold = await inv.reservations.create({ sku: "ST-1", quantity: 1, reference: "cart-release" })
    const sent = await sentDuring(async () => {
      expect(await inv.reservations.release(hold.id)).toMatchObject({ id: hold.id, status: "released" })
    })
    expect(heads(sent)).toEqual(["with chosen as"])
    expect((await inv.stock.level("ST-1")).reserved).toBe(3)
    const again = await sentDuring(async () => {
      expect(await inv.reservations.release(hold.id)).toMatchObject({ id: hold.id, status: "released" })
    })
    expect(heads(again).slice(0, 2)).toEqual(["with chosen as", "BEGIN"])
    expect(again.at(-1)).toBe("COMMIT")
    expect((await inv.stock.level("ST-1")).reserved).toBe(3)
  })
})
