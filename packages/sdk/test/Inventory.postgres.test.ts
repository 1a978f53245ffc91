/**
 * The Promise facade of `openInventory({ databaseUrl })`: the scenarios of inventorySuite.ts on
 * PostgreSQL, with and without group commit, which must give the same results.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openInventory } from "../src/index.js"
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
