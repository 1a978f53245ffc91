/**
 * The Promise facade of `openInventory({ databaseUrl })`: the scenarios of inventorySuite.ts on
 * PostgreSQL, with and without group commit, which must give the same results.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { InsufficientStock, openInventory } from "../src/index.js"
import { groupSize } from "../src/internal/groupCommit.js"
import { safeUrl } from "../src/Store.js"
import { inventorySuite } from "./inventorySuite.js"
import { createTestDatabase, postgresReachable } from "./postgres.js"

const reachable = await postgresReachable()

/** Groups committed so far in this process, and the requests in them. */
const groupTotals = () =>
  Effect.runPromise(Metric.value(groupSize)).then((state) => ({ groups: state.count, requests: state.sum }))

describe.skipIf(!reachable)("openInventory on PostgreSQL", () => {
  const drops: Array<() => Promise<void>> = []
  afterAll(async () => {
    for (const drop of drops) await drop()
  })
  /** A database of its own: the suite expects the products it adds to be the only ones. */
  const freshUrl = async () => {
    const database = await createTestDatabase("inv_facade")
    drops.push(database.drop)
    return database.url
  }

  for (const groupCommit of [false, true]) {
    describe(groupCommit ? "with group commit" : "without group commit", () => {
      let url = ""
      beforeAll(async () => {
        url = await freshUrl()
      })
      inventorySuite("openInventory", {
        kind: "embedded",
        open: () => openInventory({ databaseUrl: url, groupCommit }),
        store: () => `PostgreSQL at ${safeUrl(url)}`,
        actor: (given) => given,
        syncSupplier: (inventory, id) => inventory.suppliers.sync(id)
      })
    })
  }

  it("two grouped inventories on one database, writing the same hot levels: each applied change once, levels equal to their ledgers", async () => {
    const url = await freshUrl()
    const [a, b] = [
      await openInventory({ databaseUrl: url, groupCommit: true }),
      await openInventory({ databaseUrl: url, groupCommit: true })
    ]
    try {
      const skus = ["TWICE-1", "TWICE-2", "TWICE-3"]
      for (const sku of skus) {
        await a.products.add({ sku, name: sku })
        await a.stock.set(sku, 20)
      }
      const deltas = [-3, -2, -1, 1, 2, 4, -5]
      let applied = 0
      let refused = 0
      // 2 × 16 writers, 40 writes each, on three levels: groups of both processes meet on each level.
      await Promise.all(
        [a, b].flatMap((inventory, side) =>
          Array.from({ length: 16 }, async (_, writer) => {
            for (let n = 0; n < 40; n++) {
              const sku = skus[(writer + n + side) % skus.length]!
              const delta = deltas[(writer * 3 + n) % deltas.length]!
              try {
                await inventory.stock.adjust(sku, delta, { reason: delta < 0 ? "sale" : "receipt" })
                applied++
              } catch (error) {
                if (!(error instanceof InsufficientStock)) throw error
                refused++
              }
            }
          })
        )
      )
      expect(applied + refused).toBe(2 * 16 * 40)
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const { rows } = await client.query<{ drift: number; movements: number; events: number }>(`
          select
            (select count(*)::int from stock_levels l where l.on_hand <> (select coalesce(sum(delta), 0)
              from stock_movements m where m.sku = l.sku and m.location = l.location)) as drift,
            (select count(*)::int from stock_movements where reason <> 'count') as movements,
            (select count(*)::int from outbox where type = 'stock.updated' and data->>'reason' <> 'count') as events`)
        expect(rows[0]).toEqual({ drift: 0, movements: applied, events: applied })
      } finally {
        await client.end()
      }
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("groups concurrent stock writes with groupCommit: true, and not by default", async () => {
    const url = await freshUrl()
    for (const groupCommit of [undefined, true]) {
      const inventory = await openInventory({ databaseUrl: url, ...(groupCommit ? { groupCommit } : {}) })
      try {
        const skus = Array.from({ length: 8 }, (_, i) => `GROUPED-${groupCommit}-${i}`)
        for (const sku of skus) await inventory.products.add({ sku, name: sku })
        const before = await groupTotals()
        const levels = await Promise.all(
          skus.map((sku) => inventory.stock.adjust(sku, 3, { reason: "receipt" }))
        )
        expect(levels.map((level) => level.onHand)).toEqual(skus.map(() => 3))
        const after = await groupTotals()
        const grouped = { groups: after.groups - before.groups, requests: after.requests - before.requests }
        // Grouped, the burst goes in one group, led by its first write.
        expect(grouped).toEqual(groupCommit ? { groups: 1, requests: 8 } : { groups: 0, requests: 0 })
      } finally {
        await inventory.close()
      }
    }
  })
})
