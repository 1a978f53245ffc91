/**
 * A stock write's statements go prepared (internal/postgresClient.ts): under a name of their text,
 * so that each connection parses and plans one once, then only binds and runs it. Checked without a
 * clock, at pg's client: the names it is given, and the Parse messages it sends.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Inventory from "../src/Inventory.js"
import { type InventoryClient, openInventory } from "../src/index.js"
import { Stock } from "../src/Stock.js"
import * as Store from "../src/Store.js"
import { createTestDatabase, POSTGRES_URL, postgresReachable } from "./postgres.js"

interface Sent {
  readonly text: string
  readonly name: string | undefined
}

/** Every statement pg is given while `work` runs, with its name, and the texts it sent to be parsed. */
const sentDuring = async (
  work: () => Promise<unknown>
): Promise<{ readonly sent: ReadonlyArray<Sent>; readonly parsed: ReadonlyArray<string> }> => {
  const sent: Array<Sent> = []
  const parsed: Array<string> = []
  const query = pg.Client.prototype.query
  const parse = pg.Connection.prototype.parse
  pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: Array<unknown>) {
    sent.push(
      typeof config === "string"
        ? { text: config.trim(), name: undefined }
        : { text: (config as Sent).text.trim(), name: (config as Sent).name }
    )
    return (query as (...args: Array<unknown>) => unknown).call(this, config, ...rest)
  } as typeof query
  pg.Connection.prototype.parse = function (this: pg.Connection, ...args: Array<unknown>) {
    parsed.push((args[0] as { text: string }).text.trim())
    return (parse as (...args: Array<unknown>) => unknown).call(this, ...args)
  } as typeof parse
  try {
    await work()
  } finally {
    pg.Client.prototype.query = query
    pg.Connection.prototype.parse = parse
  }
  // Sent after some commit by a fiber of its own (Store.ts): not the write's.
  return { sent: sent.filter(({ text }) => !/^notify /i.test(text)), parsed }
}

const isChange = (text: string) => text.startsWith("with level as")

/** Opens an inventory with `INV_DATABASE_PREPARE` set to `value` (unset for undefined) while it opens. */
const openWith = async (url: string, value: string | undefined, options: { groupCommit?: boolean } = {}) => {
  const before = process.env.INV_DATABASE_PREPARE
  if (value === undefined) delete process.env.INV_DATABASE_PREPARE
  else process.env.INV_DATABASE_PREPARE = value
  try {
    return await openInventory({ databaseUrl: url, ...options })
  } finally {
    if (before === undefined) delete process.env.INV_DATABASE_PREPARE
    else process.env.INV_DATABASE_PREPARE = before
  }
}

describe.skipIf(!(await postgresReachable()))(`prepared statements on ${POSTGRES_URL}`, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>
  let inv: InventoryClient
  beforeAll(async () => {
    database = await createTestDatabase("inv_prepared")
    inv = await openWith(database.url, undefined)
    for (const sku of ["PS-1", "PS-2"]) {
      await inv.products.add({ sku, name: "Prepared" })
      await inv.stock.set(sku, 1000)
    }
  })
  afterAll(async () => {
    await inv?.close()
    await database?.drop()
  })

  it("a write's statement goes under a name of its text, the same for every call", async () => {
    const { sent } = await sentDuring(async () => {
      await inv.stock.adjust("PS-1", -1)
      await inv.stock.adjust("PS-2", -5, { reason: "sale", reference: "order-1" })
    })
    expect(sent).toHaveLength(2)
    const [first, second] = sent
    expect(first?.name).toMatch(/^invkit_[0-9a-f]{32}$/)
    expect(second?.name).toBe(first?.name)
    expect(second?.text).toBe(first?.text)
    // Another text, another name: an increase is another statement than a decrease.
    const { sent: increase } = await sentDuring(() => inv.stock.adjust("PS-1", 3))
    expect(increase[0]?.name).toMatch(/^invkit_/)
    expect(increase[0]?.name).not.toBe(first?.name)
    expect((await inv.stock.level("PS-2")).onHand).toBe(995)
  })

  it("a keyed write's statements are prepared too, BEGIN and COMMIT are not", async () => {
    const { sent } = await sentDuring(() => inv.stock.adjust("PS-1", -1, { idempotencyKey: "prepared-1" }))
    const named = sent.filter(({ name }) => name !== undefined)
    expect(sent[0]).toEqual({ text: "BEGIN", name: undefined })
    expect(sent.at(-1)).toEqual({ text: "COMMIT", name: undefined })
    // The key's expiry, its claim, the change, and the answer kept with the key.
    expect(named.map(({ text }) => text.split(/\s+/)[0])).toEqual(["delete", "insert", "with", "update"])
    // Replayed, the same answer, nothing applied twice.
    const again = await inv.stock.adjust("PS-1", -1, { idempotencyKey: "prepared-1" })
    expect(again.onHand).toBe((await inv.stock.level("PS-1")).onHand)
  })

  it("a level read goes prepared too, and answers as before", async () => {
    const { sent } = await sentDuring(async () => {
      expect((await inv.stock.level("PS-2")).onHand).toBe(995)
      expect((await inv.stock.level("PS-2", { location: "default" })).locations).toHaveLength(1)
    })
    expect(sent.map(({ text }) => text.split(/\s+/)[0])).toEqual(["select", "select", "select"])
    // The level's statement, then the location's check and the level's statement filtered by it.
    const [plain, check, filtered] = sent
    expect(plain?.name).toMatch(/^invkit_/)
    expect(check?.name).toBeUndefined()
    expect(filtered?.name).toMatch(/^invkit_/)
    expect(filtered?.name).not.toBe(plain?.name)
    await expect(inv.stock.level("PS-NONE")).rejects.toMatchObject({ _tag: "ProductNotFound" })
  })

  it("each connection parses a statement once: 60 writes, at most one Parse a connection of the pool", async () => {
    const { sent, parsed } = await sentDuring(() =>
      Promise.all(Array.from({ length: 60 }, (_, i) => inv.stock.adjust(i % 2 === 0 ? "PS-1" : "PS-2", -1)))
    )
    expect(sent.filter(({ text }) => isChange(text))).toHaveLength(60)
    // pg's default pool holds 10 connections; earlier tests may have parsed it on some already.
    expect(parsed.filter(isChange).length).toBeLessThanOrEqual(10)
  })

  it("a group's statements on its transaction's connection are prepared", async () => {
    const grouped = await openWith(database.url, undefined, { groupCommit: true })
    try {
      const { sent } = await sentDuring(() =>
        Promise.all(Array.from({ length: 16 }, () => grouped.stock.adjust("PS-2", -1)))
      )
      const statements = sent.filter(({ text }) => !/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/.test(text))
      expect(statements.length).toBeGreaterThan(0)
      expect(
        statements.filter(({ name }) => !name?.startsWith("invkit_")).map(({ text }) => text.slice(0, 80))
      ).toEqual([])
      expect((await grouped.stock.level("PS-2")).onHand).toBe(1000 - 5 - 30 - 16)
    } finally {
      await grouped.close()
    }
  })

  it("a connection whose prepared statements were dropped (DEALLOCATE ALL) prepares them again: no write fails", async () => {
    const runtime = ManagedRuntime.make(
      Inventory.layer(Store.postgres(database.url)).pipe(Layer.provideMerge(Layer.setTracerEnabled(false)))
    )
    // The pg client each statement ran on, and whether it failed.
    const ran: Array<{ readonly client: unknown; readonly text: string; failed: boolean }> = []
    const query = pg.Client.prototype.query
    pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: Array<unknown>) {
      const text = (typeof config === "string" ? config : (config as Sent).text).trim()
      const entry = { client: this, text, failed: false }
      ran.push(entry)
      const callback = rest.at(-1)
      if (typeof callback !== "function")
        return (query as (...args: Array<unknown>) => unknown).call(this, config, ...rest)
      return (query as (...args: Array<unknown>) => unknown).call(
        this,
        config,
        ...rest.slice(0, -1),
        (error: unknown, result: unknown) => {
          entry.failed = error !== null && error !== undefined
          return (callback as (...args: Array<unknown>) => unknown)(error, result)
        }
      )
    } as typeof query
    try {
      const before = (await inv.stock.level("PS-1")).onHand
      await runtime.runPromise(
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          // The change is prepared on the transaction's connection, then dropped there.
          yield* sql.withTransaction(
            Effect.zipRight(stock.adjust({ sku: "PS-1", delta: -1 }), sql`deallocate all`)
          )
          // Alone, the next writes go to the pool's connections, that one first (pg's pool is LIFO).
          for (let i = 0; i < 5; i++) yield* stock.adjust({ sku: "PS-1", delta: -1 })
        })
      )
      const dropped = ran.find(({ text }) => text === "deallocate all")?.client
      const onDropped = ran.filter(({ client, text }) => client === dropped && isChange(text))
      // The transaction's change, then a write whose statement was lost (it failed) and sent again.
      expect(onDropped.length).toBeGreaterThanOrEqual(3)
      expect(onDropped.map(({ failed }) => failed).slice(0, 3)).toEqual([false, true, false])
      expect((await inv.stock.level("PS-1")).onHand).toBe(before - 6)
    } finally {
      pg.Client.prototype.query = query
      await runtime.dispose()
    }
  })

  it("INV_DATABASE_PREPARE=false sends every statement unnamed, as a pooler without prepared statements needs", async () => {
    const unnamed = await openWith(database.url, "false")
    try {
      const { sent, parsed } = await sentDuring(async () => {
        await unnamed.stock.adjust("PS-1", 1)
        await unnamed.stock.adjust("PS-1", 1, { idempotencyKey: "prepared-off-1" })
      })
      expect(sent.length).toBeGreaterThan(2)
      expect(sent.every(({ name }) => name === undefined)).toBe(true)
      // Unnamed, the change's text is parsed on every call.
      expect(parsed.filter(isChange)).toHaveLength(2)
    } finally {
      await unnamed.close()
    }
  })

  it("a value of INV_DATABASE_PREPARE other than true or false refuses to open, naming the variable", async () => {
    await expect(openWith(database.url, "sometimes")).rejects.toMatchObject({
      _tag: "InvalidInput",
      field: "INV_DATABASE_PREPARE"
    })
  })
})
