/** The Promise facade, as a non-Effect user sees it: plain Promises, domain error classes, pages. */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, inject, it } from "vitest"
import { InsufficientStock, InvalidInput, openInventory, ProductNotFound } from "../src/index.js"

describe("openInventory", () => {
  const root = mkdtempSync(join(tmpdir(), "invkit-sdk-facade-"))
  const dataDir = join(root, "data")
  cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true })
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it("rejects with the domain errors, pages through products and keeps the data after close", async () => {
    const inventory = await openInventory({ dataDir })
    expect(inventory.store).toBe(`embedded store in ${dataDir}`)

    const missing = await inventory.products.get("NOPE-1").catch((error: unknown) => error)
    expect(missing).toBeInstanceOf(ProductNotFound)
    expect(missing).toMatchObject({ _tag: "ProductNotFound", sku: "NOPE-1" })
    expect((missing as Error).message).toContain("NOPE-1")

    const invalid = await inventory.stock.set("bad sku", 1).catch((error: unknown) => error)
    expect(invalid).toBeInstanceOf(InvalidInput)
    expect(invalid).toMatchObject({ field: "sku" })

    const skus = ["F-5", "F-1", "F-4", "F-2", "F-3"]
    for (const sku of skus) await inventory.products.add({ sku, name: `Facade ${sku}` })
    const firstPage = await inventory.products.list({ limit: 2 })
    expect(firstPage.items.map((p) => p.sku)).toEqual(["F-1", "F-2"])
    expect(firstPage.nextCursor).not.toBeNull()
    const all: Array<string> = []
    for await (const product of inventory.products.all({ limit: 2 })) all.push(product.sku)
    expect(all).toEqual(["F-1", "F-2", "F-3", "F-4", "F-5"])

    expect(await inventory.stock.adjust("F-1", 5, { reason: "receipt" })).toMatchObject({
      delta: 5,
      onHand: 5
    })
    const short = await inventory.stock.adjust("F-1", -9).catch((error: unknown) => error)
    expect(short).toBeInstanceOf(InsufficientStock)
    expect(short).toMatchObject({ available: 5, requested: 9 })

    await inventory.close()

    // Closed means released: the same directory opens again, with everything in it.
    const reopened = await openInventory({ dataDir })
    try {
      expect((await reopened.stock.level("F-1")).onHand).toBe(5)
      expect((await reopened.stock.history("F-1")).items).toHaveLength(1)
    } finally {
      await reopened.close()
    }
  })
})
