import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store

beforeAll(async () => {
  store = await copyOfTemplateStore()
  await store.json("product", "add", "RED-1", "--name", "Red gadget")
})

afterAll(() => store?.close())

describe("inv product", () => {
  it("adds a product: the product on stdout, the confirmation on stderr", async () => {
    const { code, stdout, stderr } = await store.inv(
      "product",
      "add",
      "SKU-1",
      "--name",
      "Blue widget",
      "--reorder-point",
      "5",
      "--reorder-quantity",
      "20",
      "--unit",
      "box"
    )
    expect(code).toBe(0)
    expect(stdout).toMatch(/name:\s+Blue widget/)
    expect(stderr).toContain("Added product SKU-1.")
    expect(await store.json("product", "get", "SKU-1")).toMatchObject({
      sku: "SKU-1",
      name: "Blue widget",
      unit: "box",
      reorderPoint: 5,
      reorderQuantity: 20,
      active: true
    })
  })

  it("updates only the fields given", async () => {
    const product = await store.json("product", "update", "SKU-1", "--reorder-point", "8")
    expect(product).toMatchObject({ sku: "SKU-1", name: "Blue widget", reorderPoint: 8, reorderQuantity: 20 })
  })

  it("sets and clears the max level and the preferred supplier", async () => {
    const capped = await store.json("product", "update", "SKU-1", "--max-level", "40")
    expect(capped).toMatchObject({ maxLevel: 40, preferredSupplier: null })
    const cleared = await store.json("product", "update", "SKU-1", "--no-max-level")
    expect(cleared).toMatchObject({ maxLevel: null, reorderPoint: 8 })

    const unknown = await store.inv("product", "update", "SKU-1", "--preferred-supplier", "nobody")
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toContain('No supplier "nobody"')
  })

  it("lists by text, a page at a time, or all pages", async () => {
    const blue = await store.json("product", "list", "--text", "blue")
    expect(blue.items.map((p: any) => p.sku)).toEqual(["SKU-1"])

    const first = await store.json("product", "list", "--limit", "1")
    expect(first.items.map((p: any) => p.sku)).toEqual(["RED-1"])
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = await store.json("product", "list", "--limit", "1", "--cursor", first.nextCursor)
    expect(second.items.map((p: any) => p.sku)).toEqual(["SKU-1"])

    const all = await store.json("product", "list", "--limit", "1", "--all")
    expect(all).toMatchObject({ nextCursor: null })
    expect(all.items.map((p: any) => p.sku)).toEqual(["RED-1", "SKU-1"])
  })

  it("archives only when confirmed: without a terminal that takes --yes", async () => {
    const unconfirmed = await store.inv("product", "archive", "RED-1")
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr).toContain("--yes")
    expect(await store.json("product", "get", "RED-1")).toMatchObject({ active: true })

    expect(await store.json("product", "archive", "RED-1", "--yes")).toMatchObject({ active: false })
    const archived = await store.json("product", "list", "--archived")
    expect(archived.items.map((p: any) => p.sku)).toEqual(["RED-1"])
    const active = await store.json("product", "list", "--active")
    expect(active.items.map((p: any) => p.sku)).toEqual(["SKU-1"])
  })

  it("refuses a second product with the same SKU (exit 5) and an unknown SKU (exit 3)", async () => {
    const duplicate = await store.inv("product", "add", "SKU-1", "--name", "Again")
    expect(duplicate.code).toBe(5)
    expect(duplicate.stderr).toContain('error: A product with SKU "SKU-1" already exists')

    const unknown = await store.inv("product", "get", "NOPE-1")
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toContain('No product with SKU "NOPE-1"')
  })
})
