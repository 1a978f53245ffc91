import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import * as SqlClient from "@effect/sql/SqlClient"
import { it as itEffect } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { afterAll, describe, expect, inject, it, vi } from "vitest"
import * as Export from "../src/Export.js"
import * as Import from "../src/Import.js"
import { type Inventory, openInventory } from "../src/Inventory.js"
import { localStoreOf } from "../src/internal/localStore.js"
import * as PgliteClient from "../src/internal/pgliteClient.js"
import { importSuite } from "./importSuite.js"

// Bulk import and export on PGlite, the embedded store: each store a copy of the template.
const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

importSuite(() => {
  const root = mkdtempSync(join(tmpdir(), "invkit-sdk-import-"))
  roots.push(root)
  cpSync(inject("pgliteTemplateDir"), join(root, "data"), { recursive: true })
  return openInventory({ dataDir: join(root, "data") })
})

// PostgreSQL in single-user mode (PGlite) never starts a checkpoint on its own: without one the
// WAL of every row an import writes stays in the data directory, which for an in-memory store is
// the process's memory, and grows with the rows.
describe("an import on the embedded store", () => {
  const wal = (inventory: Inventory) =>
    localStoreOf(inventory)!.run(
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ at: string; behindCheckpoint: number; kept: number }>`
          select pg_current_wal_lsn()::text as at,
                 (pg_current_wal_lsn() - (select redo_lsn from pg_control_checkpoint()))::int8 as behind_checkpoint,
                 (select sum(size) from pg_ls_waldir())::int8 as kept`.pipe(Effect.map((rows) => rows[0]!))
      )
    )

  /** A store of its own (a copy of the template) with `rows` products `<prefix>-1` and on. */
  const withParts = async (prefix: string, rows: number) => {
    const root = mkdtempSync(join(tmpdir(), "invkit-sdk-import-"))
    roots.push(root)
    cpSync(inject("pgliteTemplateDir"), join(root, "data"), { recursive: true })
    const inventory = await openInventory({ dataDir: join(root, "data") })
    await localStoreOf(inventory)!.run(
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) =>
          sql`insert into products (sku, name) select ${prefix} || '-' || g, 'Part ' || g from generate_series(1, ${rows}) g`
      )
    )
    return inventory
  }

  it("writes counts 25,000 lines a statement (its WebAssembly heap keeps the most one took), each reported", async () => {
    const rows = 60_000
    const inventory = await withParts("C", rows)
    try {
      const applied: Array<number> = []
      const lines = Array.from({ length: rows }, (_, i) => `C-${i + 1},default,${i % 50}\n`)
      const result = await Import.importRows(
        inventory,
        Readable.from(["sku,location,quantity\n", lines.join("")]),
        {
          onProgress: (progress) => {
            if (progress.phase === "applying" && progress.applied !== undefined)
              applied.push(progress.applied)
          }
        }
      )
      expect(result.applied).toBe(rows)
      expect(applied).toEqual([0, 25_000, 50_000, 60_000])
    } finally {
      await inventory.close()
    }
  }, 120_000)

  it("leaves no WAL behind its last checkpoint, and keeps at most max_wal_size of it", async () => {
    const rows = 20_000
    const inventory = await withParts("W", rows)
    try {
      const before = await wal(inventory)
      const lines = Array.from({ length: rows }, (_, i) => `W-${i + 1},default,${i % 50}\n`)
      const result = await Import.importRows(
        inventory,
        Readable.from(["sku,location,quantity\n", lines.join("")])
      )
      expect(result.applied).toBe(rows)
      const after = await wal(inventory)
      const written = await localStoreOf(inventory)!.run(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<{ bytes: number }>`select (pg_current_wal_lsn() - ${before.at}::pg_lsn)::int8 as bytes`.pipe(
            Effect.map((rows) => rows[0]!.bytes)
          )
        )
      )
      // The import wrote several megabytes of WAL; a checkpoint after it leaves next to none behind.
      expect(Number(written)).toBeGreaterThan(4 * 2 ** 20)
      expect(Number(after.behindCheckpoint)).toBeLessThan(Number(written) / 10)
      // Recycled segments kept for reuse: at most max_wal_size (64 MB) and the segment in use.
      expect(Number(after.kept)).toBeLessThanOrEqual(80 * 2 ** 20)
    } finally {
      await inventory.close()
    }
  })
})

// The same for every write: a store that stays open checkpoints on its own once enough WAL piled
// up, at its next look (CHECKPOINT_LOOK, moved on by the test clock rather than waited for).
describe("an embedded store that stays open", () => {
  itEffect.scoped("checkpoints once 32 MB of WAL were written since the last checkpoint", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const behind = Effect.map(
        sql<{ bytes: number }>`
          select (pg_current_wal_lsn() - (select redo_lsn from pg_control_checkpoint()))::int8 as bytes`,
        (rows) => Number(rows[0]!.bytes)
      )
      yield* sql`create table filler as select g, repeat('x', 200) as text from generate_series(1, 200000) g`
      const written = yield* behind
      expect(written).toBeGreaterThan(32 * 1024 * 1024)
      // Not yet time to look: nothing happens.
      yield* TestClock.adjust(Duration.subtract(PgliteClient.CHECKPOINT_LOOK, "1 second"))
      expect(yield* behind).toBeGreaterThanOrEqual(written)
      yield* TestClock.adjust("1 second")
      // The look runs on its own fiber; it takes the store's permit like any statement.
      let left = yield* behind
      for (let i = 0; i < 200 && left > 1024 * 1024; i++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 25)))
        left = yield* behind
      }
      expect(left).toBeLessThan(1024 * 1024)
    }).pipe(Effect.provide(PgliteClient.layer({ dataDir: undefined })))
  )
})

// PGlite's start touches its whole buffer pool: at PostgreSQL's default of 128 MB an open took
// about 290 MB of memory, against about 185 MB at 32 MB (docs/benchmarks-log.md); the pool is 16 MB.
describe("the embedded store's buffer pool", () => {
  const pool = (dataDir: string | undefined) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ setting: string }>`select current_setting('shared_buffers') as setting`
      return row!.setting
    }).pipe(Effect.provide(PgliteClient.layer({ dataDir })))

  itEffect.scoped("is 16 MB in a data directory, and PostgreSQL's default in memory", () =>
    Effect.gen(function* () {
      const root = mkdtempSync(join(tmpdir(), "invkit-sdk-pool-"))
      roots.push(root)
      expect(yield* pool(join(root, "data"))).toBe("16MB")
      expect(yield* pool(undefined)).toBe("128MB")
    })
  )
})

// An export on a local store reads the table itself, 5,000 rows a query, with `since` as a
// condition of the query: through the public listings it was a query per 1,000 rows, and every row
// was read, whatever `since` said.
describe("an export on the embedded store", () => {
  it("reads 5,000 rows a query, and with `since` only the rows changed since", async () => {
    const inventory = await openInventory({ inMemory: true })
    try {
      const products = ["sku,name"]
      const counts = ["sku,quantity"]
      for (let i = 0; i < 6_000; i++) {
        products.push(`E-${i},Exported ${i}`)
        counts.push(`E-${i},${i % 9}`)
      }
      for (const file of [products, counts]) {
        const result = await Import.importRows(inventory, Readable.from([`${file.join("\n")}\n`]))
        expect(result).toMatchObject({ status: "applied", applied: 6_000 })
      }
      // Every statement of the store goes through PGlite's `query`.
      const { PGlite } = await import("@electric-sql/pglite")
      const queries = vi.spyOn(Object.getPrototypeOf(PGlite.prototype), "query")
      const exported = async (kind: Export.ExportKind, since?: Date) => {
        queries.mockClear()
        let lines = 0
        for await (const chunk of Export.exportRows(inventory, kind, { since }))
          lines += chunk.split("\n").length - 1
        return { lines, queries: queries.mock.calls.length }
      }
      const later = new Date(Date.now() + 60_000)
      for (const kind of ["products", "stock", "movements"] as const) {
        expect(await exported(kind)).toEqual({ lines: 6_001, queries: 2 })
        expect(await exported(kind, later)).toEqual({ lines: 1, queries: 1 })
      }
      queries.mockRestore()
    } finally {
      await inventory.close()
    }
  })
})
