/**
 * An import of adjustments on PostgreSQL while concurrent `stock.adjust` writers hit the same
 * SKUs: afterwards every level is the sum of its movements, none is below zero, and no update is
 * lost (each level is its start plus every adjustment that succeeded, the import's and the
 * writers').
 */
import { Readable } from "node:stream"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import pg from "pg"
import { afterAll, describe, expect, it } from "vitest"
import * as Import from "../src/Import.js"
import { openInventory } from "../src/Inventory.js"
import { localStoreOf } from "../src/internal/localStore.js"
import { expectLedgerConsistent, freshPostgresDatabase, POSTGRES_URL, postgresReachable } from "./utils.js"

const scope = Effect.runSync(Scope.make())
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const SKUS = 5_000
const HOT = 40
const WRITERS = 4
const START = 100
const sku = (n: number) => `C-${String(n).padStart(5, "0")}`

/** mulberry32: the same seed gives the same run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  it("an import of adjustments racing stock.adjust writers on the same SKUs loses no update", async () => {
    const url = await Effect.runPromise(Scope.extend(freshPostgresDatabase, scope))
    const importer = await openInventory({ databaseUrl: url })
    const writer = await openInventory({ databaseUrl: url })
    try {
      const products = ["sku,name", ...Array.from({ length: SKUS }, (_, i) => `${sku(i)},Part ${i}`)]
      await Import.importRows(importer, Readable.from([`${products.join("\n")}\n`]))
      const counts = ["sku,quantity", ...Array.from({ length: SKUS }, (_, i) => `${sku(i)},${START}`)]
      const seeded = await Import.importRows(importer, Readable.from([`${counts.join("\n")}\n`]))
      expect(seeded.applied).toBe(SKUS)

      // Every SKU once; one in seven takes more than it has (rejected unless writers added).
      const next = random(7)
      const deltas = Array.from({ length: SKUS }, (_, i) =>
        i % 7 === 3 ? -(START + 50) : Math.floor(next() * 41) - 20 || 1
      )
      const lines = ["sku,delta", ...deltas.map((delta, i) => `${sku(i)},${delta}`)]
      const expected = new Map(Array.from({ length: SKUS }, (_, i) => [sku(i), START]))

      let importing = true
      const writerApplied: Array<{ sku: string; delta: number }> = []
      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        const pick = random(100 + w)
        let done = 0
        while (importing || done < 30) {
          const target = sku(Math.floor(pick() * HOT) * Math.floor(SKUS / HOT))
          const delta = pick() < 0.5 ? -(1 + Math.floor(pick() * 60)) : 1 + Math.floor(pick() * 20)
          try {
            await writer.stock.adjust(target, delta, { reason: "adjustment" })
            writerApplied.push({ sku: target, delta })
          } catch (error) {
            // Only running short may refuse an adjustment.
            expect((error as { _tag?: string })._tag).toBe("InsufficientStock")
          }
          done += 1
        }
        return done
      })

      const rejectedLines = new Set<number>()
      const result = await Import.importRows(importer, Readable.from([`${lines.join("\n")}\n`]), {
        onRejection: (rejection) => {
          expect(rejection.code).toBe("insufficient-stock")
          rejectedLines.add(rejection.line)
        }
      }).finally(() => {
        importing = false
      })
      const writes = (await Promise.all(writers)).reduce((a, b) => a + b, 0)
      expect(writes).toBeGreaterThanOrEqual(WRITERS * 30)
      expect(result.status).toBe("applied")
      expect(result.applied + result.rejected).toBe(SKUS)
      expect(result.rejected).toBe(rejectedLines.size)

      deltas.forEach((delta, i) => {
        if (!rejectedLines.has(i + 2)) expected.set(sku(i), expected.get(sku(i))! + delta)
      })
      for (const { sku: target, delta } of writerApplied) {
        expected.set(target, expected.get(target)! + delta)
      }
      const levels = new Map<string, number>()
      for await (const row of importer.stock.all({ limit: 1000 })) {
        expect(row.onHand).toBeGreaterThanOrEqual(0)
        levels.set(row.sku, row.onHand)
      }
      expect(levels).toEqual(expected)
      const levelCount = await localStoreOf(importer)!.run(expectLedgerConsistent)
      expect(levelCount).toBe(SKUS)
    } finally {
      await writer.close()
      await importer.close()
    }
  }, 120_000)

  it("a first count whose level another writer creates meanwhile: the import starts over and applies every row", async () => {
    const url = await Effect.runPromise(Scope.extend(freshPostgresDatabase, scope))
    const importer = await openInventory({ databaseUrl: url })
    const writer = await openInventory({ databaseUrl: url })
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    try {
      const count = 2_000
      const products = ["sku,name", ...Array.from({ length: count }, (_, i) => `${sku(i)},Part ${i}`)]
      await Import.importRows(importer, Readable.from([`${products.join("\n")}\n`]))
      // None of the levels exists, so the import inserts them all instead of upserting. One of
      // them is created by a `stock.set` that has written its level but not yet its event (the
      // outbox is held from a third connection), and commits only once the import waits on its key.
      const raced = sku(1234)
      const waiting = async (n: number) => {
        for (;;) {
          const { rows } = await other.query(
            "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
          )
          if (rows[0].n >= n) return
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      await other.query("begin")
      await other.query("lock table outbox in share mode")
      const setting = writer.stock.set(raced, 7)
      await waiting(1)
      const counts = ["sku,quantity", ...Array.from({ length: count }, (_, i) => `${sku(i)},${i % 50}`)]
      const importing = Import.importRows(importer, Readable.from([`${counts.join("\n")}\n`]))
      await waiting(2)
      await other.query("commit")
      expect((await setting).onHand).toBe(7)
      const result = await importing
      expect(result.status).toBe("applied")
      expect(result.applied).toBe(count)
      expect((await importer.stock.level(raced)).onHand).toBe(1234 % 50)
      const levelCount = await localStoreOf(importer)!.run(expectLedgerConsistent)
      expect(levelCount).toBe(count)
    } finally {
      await other.end()
      await writer.close()
      await importer.close()
    }
  }, 60_000)

  it("more imports at once than the store has connections: each checks its rows beside its write, and all finish", async () => {
    const url = await Effect.runPromise(Scope.extend(freshPostgresDatabase, scope))
    const inventory = await openInventory({ databaseUrl: url })
    try {
      // The pool has 10 connections; each import's write holds one while its check holds another.
      // With the check taking its connection after the write (tried), 30 imports at once hung.
      const IMPORTS = 30
      const products = ["sku,name"]
      for (let i = 0; i < IMPORTS; i++) products.push(`M-${i}-a,Part`, `M-${i}-b,Part`)
      await Import.importRows(inventory, Readable.from([`${products.join("\n")}\n`]))
      const results = await Promise.all(
        Array.from({ length: IMPORTS }, (_, i) =>
          Import.importRows(
            inventory,
            Readable.from([`sku,quantity\nM-${i}-a,${i + 1}\nM-${i}-b,${i + 2}\n`])
          )
        )
      )
      expect(results.map((result) => [result.status, result.applied])).toEqual(
        Array.from({ length: IMPORTS }, () => ["applied", 2])
      )
      expect((await inventory.stock.level(`M-${IMPORTS - 1}-b`)).onHand).toBe(IMPORTS + 1)
      await localStoreOf(inventory)!.run(expectLedgerConsistent)
    } finally {
      await inventory.close()
    }
  }, 60_000)
})
