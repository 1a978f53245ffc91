/** The Promise facade of `openInventory()` on an embedded store: the scenarios of inventorySuite.ts. */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { afterAll, describe, expect, inject, it } from "vitest"
import { openInventory } from "../src/index.js"
import { localStoreOf } from "../src/internal/localStore.js"
import { inventorySuite } from "./inventorySuite.js"

const root = mkdtempSync(join(tmpdir(), "invkit-sdk-facade-"))
const dataDir = join(root, "data")
cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true })
afterAll(() => rmSync(root, { recursive: true, force: true }))

inventorySuite("openInventory", {
  kind: "embedded",
  open: () => openInventory({ dataDir }),
  store: () => `embedded store in ${dataDir}`,
  actor: (given) => given,
  syncSupplier: (inventory, id) => inventory.suppliers.sync(id)
})

describe("openInventory's runtime", () => {
  it("makes no spans: the events of writes in a transaction carry no traceparent", async () => {
    const inventory = await openInventory({ inMemory: true })
    try {
      await inventory.locations.add({ code: "back", name: "Back room" })
      await inventory.products.add({ sku: "T-1", name: "Traced" })
      // A keyed adjustment and a transfer run in a transaction, whose @effect/sql span was the
      // parent of the outbox write when the runtime traced.
      await inventory.stock.adjust("T-1", 5, { reason: "receipt", idempotencyKey: "trace-1" })
      await inventory.stock.transfer("T-1", 2, { from: "default", to: "back" })
      const rows = await localStoreOf(inventory)!.run(
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ type: string; traceparent: string | null }>`
          select type, traceparent from outbox order by id`
        )
      )
      expect(rows.filter((row) => row.type === "stock.updated")).toHaveLength(3)
      expect(rows.map((row) => row.traceparent)).toEqual(rows.map(() => null))
    } finally {
      await inventory.close()
    }
  })
})
