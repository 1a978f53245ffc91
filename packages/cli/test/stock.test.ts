import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { copyOfTemplateStore, expectedActor, type Store } from "./store.js"

let store: Store

/** Units on hand and movements over the whole store: one call shows whether anything was written. */
const totals = async (): Promise<{ units: number; movements: number }> => {
  const { units, movements } = await store.json("stock", "overview")
  return { units, movements }
}

beforeAll(async () => {
  store = await copyOfTemplateStore()
  await store.json("product", "add", "W-1", "--name", "Widget", "--reorder-point", "5")
  await store.json("location", "add", "B", "--name", "Back room")
})

afterAll(() => store?.close())

// The steps build on each other, in order: set 40, adjust -3, transfer 5 to B.
describe("inv stock", () => {
  it("sets a level", async () => {
    const change = await store.json("stock", "set", "W-1", "40")
    expect(change).toMatchObject({ sku: "W-1", location: "default", delta: 40, onHand: 40, reason: "count" })
  })

  it("adjusts by a negative number given as a plain argument", async () => {
    const { code, stdout } = await store.inv(
      "stock",
      "adjust",
      "W-1",
      "-3",
      "--reason",
      "sale",
      "--reference",
      "ORDER-9",
      "--actor",
      "till-2"
    )
    expect(code).toBe(0)
    expect(stdout.trim()).toBe("W-1 at default: 37 on hand (-3, sale)")
    const [latest] = (await store.json("stock", "history", "W-1", "--limit", "1")).items
    expect(latest).toMatchObject({
      delta: -3,
      quantityAfter: 37,
      reason: "sale",
      reference: "ORDER-9",
      // A server records its token's subject, whatever --actor says.
      actor: expectedActor("till-2")
    })
  })

  it("transfers between locations", async () => {
    const transfer = await store.json("stock", "transfer", "W-1", "5", "--from", "default", "--to", "B")
    expect(transfer.from).toMatchObject({ location: "default", delta: -5, onHand: 32, reason: "transfer" })
    expect(transfer.to).toMatchObject({ location: "B", delta: 5, onHand: 5, reason: "transfer" })
  })

  it("reads a level in total and per location", async () => {
    const level = await store.json("stock", "get", "W-1")
    expect(level).toMatchObject({ sku: "W-1", onHand: 37, available: 37, reorderPoint: 5 })
    expect(level.locations.map((l: any) => [l.location, l.onHand])).toEqual([
      ["B", 5],
      ["default", 32]
    ])
    const atB = await store.json("stock", "get", "W-1", "--location", "B")
    expect(atB.locations).toHaveLength(1)
    expect(atB.onHand).toBe(5)
  })

  it("lists levels, low stock and the overview", async () => {
    const list = await store.json("stock", "list")
    expect(list.items.map((r: any) => [r.sku, r.location, r.onHand])).toEqual([
      ["W-1", "B", 5],
      ["W-1", "default", 32]
    ])

    // B holds exactly the reorder point: low, with no shortfall.
    const low = await store.json("stock", "low")
    expect(low.items).toEqual([expect.objectContaining({ sku: "W-1", location: "B", shortfall: 0 })])
    expect((await store.json("stock", "low", "--location", "default")).items).toEqual([])

    expect(await store.json("stock", "overview")).toMatchObject({
      products: 1,
      locations: 2,
      units: 37,
      movements: 4
    })
  })

  it("shows the history newest first, page by page, and until a time", async () => {
    const history = await store.json("stock", "history", "W-1")
    const ids = history.items.map((m: any) => m.id)
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
    // The transfer's two movements share a time; their order is the SDK's lock order.
    expect(history.items).toHaveLength(4)
    expect(history.items.map((m: any) => m.delta)).toEqual(expect.arrayContaining([-5, 5, -3, 40]))
    expect(history.items.at(-1)).toMatchObject({ delta: 40, reason: "count" })

    const firstPage = await store.json("stock", "history", "W-1", "--limit", "2")
    expect(firstPage.items).toHaveLength(2)
    expect(firstPage.nextCursor).toEqual(expect.any(String))

    // The database keeps microseconds and JSON milliseconds: 1 ms later still precedes the next change.
    const justAfterTheCount = new Date(Date.parse(history.items.at(-1).at) + 1).toISOString()
    const untilTheCount = await store.json("stock", "history", "W-1", "--until", justAfterTheCount)
    expect(untilTheCount.items.map((m: any) => m.delta)).toEqual([40])
  })

  it("answers a repeated idempotency key with the first change, and refuses it for another change", async () => {
    const first = await store.json("stock", "adjust", "W-1", "2", "--idempotency-key", "K-1")
    const again = await store.json("stock", "adjust", "W-1", "2", "--idempotency-key", "K-1")
    expect(again.movementId).toBe(first.movementId)
    expect(again.onHand).toBe(34)

    const other = await store.inv("stock", "adjust", "W-1", "3", "--idempotency-key", "K-1")
    expect(other.code).toBe(5)
    expect(other.stderr).toContain('Idempotency key "K-1" was already used')
  })

  it("refuses to take more than is available (exit 4) and changes nothing", async () => {
    const { code, stdout, stderr } = await store.inv("stock", "adjust", "W-1", "-1000", "--reason", "sale")
    expect(code).toBe(4)
    expect(stdout).toBe("")
    expect(stderr).toContain("error: Insufficient stock of W-1 at default: 34 available, 1000 requested.")
    expect(await totals()).toEqual({ units: 39, movements: 5 })
  })

  it("refuses a set whose --expected no longer holds (exit 5), with the details as JSON", async () => {
    const { code, stdout, stderr } = await store.inv("--json", "stock", "set", "W-1", "10", "--expected", "1")
    expect(code).toBe(5)
    expect(stdout).toBe("")
    expect(JSON.parse(stderr)).toEqual({
      error: expect.objectContaining({ code: "StockConflict", sku: "W-1", expected: 1, actual: 34 })
    })
    expect(await totals()).toEqual({ units: 39, movements: 5 })
  })
})

describe("inv stock low past one page", () => {
  let many: Store
  const dir = mkdtempSync(join(tmpdir(), "invkit-cli-low-"))
  afterAll(async () => {
    await many?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("pages 2,500 low products by --limit and --cursor, and --all gives every one", {
    timeout: 300_000
  }, async () => {
    many = await copyOfTemplateStore()
    const file = join(dir, "products.csv")
    const lines = ["sku,name,reorderPoint"]
    for (let n = 0; n < 2500; n++) lines.push(`LOW-${String(n).padStart(4, "0")},Low ${n},5`)
    writeFileSync(file, `${lines.join("\n")}\n`)
    expect(await many.json("import", file)).toMatchObject({ kind: "products", applied: 2500 })

    const first = await many.inv("stock", "low")
    expect(first.code).toBe(0)
    expect(first.stdout.match(/LOW-\d{4}/g)).toHaveLength(50)
    expect(first.stderr).toContain("More: pass --cursor ")
    const page = await many.json("stock", "low", "--limit", "1000")
    expect(page.items).toHaveLength(1000)
    const second = await many.json("stock", "low", "--limit", "1000", "--cursor", page.nextCursor)
    expect(second.items[0].sku).not.toBe(page.items.at(-1).sku)

    const all = await many.json("stock", "low", "--all", "--limit", "1000")
    expect(all.nextCursor).toBeNull()
    const skus = all.items.map((item: any) => item.sku)
    expect(skus).toHaveLength(2500)
    expect(new Set(skus).size).toBe(2500)
    expect(skus.slice(0, 2000)).toEqual([...page.items, ...second.items].map((item: any) => item.sku))
  })
})
