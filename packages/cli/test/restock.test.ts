import { mkdtempSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { QUANTITY_TEXT_RULE } from "@invkit/sdk/rules"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { copyOfTemplateStore, type Store } from "./store.js"
import { csvCatalog } from "./supplierFeeds.js"

let store: Store

/** W-100 comes in packs of 6: an order for the reorder quantity of 10 is rounded up to 12. */
beforeAll(async () => {
  store = await copyOfTemplateStore()
  // A CSV file on disk this time, with another delimiter.
  const feedDir = mkdtempSync(join(inject("scratchDir"), "feed-"))
  writeFileSync(join(feedDir, "catalog.csv"), csvCatalog.replaceAll(",", ";"))
  const added = await store.json(
    "supplier",
    "add",
    "csvco",
    "--name",
    "CSV Co",
    "--csv",
    join(feedDir, "catalog.csv"),
    "--delimiter",
    ";",
    "--map",
    "supplierSku=sku",
    "--map",
    "name=title",
    "--map",
    "availability=qty",
    "--map",
    "unitCost=cost",
    "--map",
    "packSize=pack"
  )
  expect(added.connector).toMatchObject({ type: "csv", delimiter: ";" })
  await store.json(
    "product",
    "add",
    "W-100",
    "--name",
    "Widget",
    "--reorder-point",
    "5",
    "--reorder-quantity",
    "10",
    "--preferred-supplier",
    "csvco"
  )
  await store.syncSupplier("csvco")
  await store.json("stock", "set", "W-100", "8")
})

afterAll(() => store?.close())

const openOrders = async () => (await store.json("restock", "list", "--open")).items

// The steps build on each other, in order: cross the reorder point, explain, submit, receive, cancel.
describe("inv restock and inv reorder", () => {
  let orderId: string

  it("opens a draft order when stock falls to the reorder point, from the preferred supplier", async () => {
    await store.json("stock", "adjust", "W-100", "-4", "--reason", "sale")

    const [order] = await openOrders()
    expect(order).toMatchObject({
      sku: "W-100",
      location: "default",
      supplierId: "csvco",
      supplierSku: "W-100",
      quantity: 12,
      unitCost: 2.5,
      status: "draft"
    })
    orderId = String(order.id)

    const table = await store.inv("restock", "list", "--supplier", "csvco", "--status", "draft")
    expect(table.stdout).toMatch(
      new RegExp(`^${orderId}\\s+W-100\\s+default\\s+csvco \\(W-100\\)\\s+12\\s+0\\s+2.5\\s+draft`, "m")
    )
  })

  it("explains the decision per location, with the supplier chosen and the rounding", async () => {
    const { code, stdout } = await store.inv("reorder", "explain", "W-100")
    expect(code).toBe(0)
    expect(stdout).toContain("W-100 at default")
    expect(stdout).toMatch(/available:\s+4\n/)
    expect(stdout).toMatch(/reorder point:\s+5\n/)
    expect(stdout).toMatch(/supplier:\s+csvco \(item W-100\), the preferred supplier/)
    expect(stdout).toMatch(/rounding:\s+10 rounded up to whole packs of 6: 12/)
    expect(stdout).toMatch(new RegExp(`decision:\\s+no order: restock order ${orderId} is already open`))

    const explained = await store.json("reorder", "explain", "W-100", "--location", "default")
    expect(explained.items).toEqual([
      expect.objectContaining({ location: "default", wanted: 10, quantity: 12, openOrderId: Number(orderId) })
    ])
  })

  // Six `inv` runs: room for a busy machine (21 s in one CI run, past 30 s in another).
  it("submits, then receives part of the order once however often the receipt is repeated", {
    timeout: 90_000
  }, async () => {
    expect(await store.json("restock", "submit", orderId)).toMatchObject({ status: "submitted" })

    const receipt = ["restock", "receive", orderId, "--quantity", "5", "--idempotency-key", "DELIVERY-1"]
    const first = await store.inv(...receipt)
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/received:\s+5\n/)
    expect(first.stderr).toContain(`Restock order ${orderId}: 5 of 12 received, 7 outstanding.`)
    expect(await store.json(...receipt)).toMatchObject({ receivedQuantity: 5, status: "submitted" })

    expect(await store.json("stock", "get", "W-100")).toMatchObject({ onHand: 9 })
    const [movement] = (await store.json("stock", "history", "W-100", "--limit", "1")).items
    expect(movement).toMatchObject({ delta: 5, reason: "restock", reference: `restock-order:${orderId}` })
  })

  it("refuses to remove a supplier with an open order (exit 5)", async () => {
    const { code, stderr } = await store.inv("supplier", "remove", "csvco", "--yes")
    expect(code).toBe(5)
    expect(stderr).toContain('Supplier "csvco" has 1 open restock order(s)')
  })

  it("cancels only when confirmed, and only an open order", async () => {
    const unconfirmed = await store.inv("restock", "cancel", orderId)
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr).toContain("--yes")

    expect(await store.json("restock", "cancel", orderId, "--yes")).toMatchObject({ status: "cancelled" })
    const again = await store.inv("restock", "receive", orderId)
    expect(again.code).toBe(5)
    expect(again.stderr).toContain(`Restock order ${orderId} is cancelled: it cannot be received.`)
  })

  // Nine `inv` runs: room for a busy machine.
  it("refuses more than is outstanding (exit 5) unless --allow-over-delivery, and says what was over", {
    timeout: 120_000
  }, async () => {
    // Stock 9 after the cancelled order's receipt: down to the reorder point opens a new one of 12.
    await store.json("stock", "adjust", "W-100", "-4", "--reason", "sale")
    const [order] = await openOrders()
    const id = String(order.id)
    await store.json("restock", "submit", id)

    const refused = await store.inv("restock", "receive", id, "--quantity", "55")
    expect(refused.code).toBe(5)
    expect(refused.stderr).toContain(
      `Restock order ${id} has 12 unit(s) outstanding, not 55: that is 43 over. Receive at most 12, or accept the extra units with allowOverDelivery. Nothing was changed. (--quantity 12, or --allow-over-delivery to accept the extra units)`
    )
    const refusedJson = await store.inv("--json", "restock", "receive", id, "--quantity", "55")
    expect(JSON.parse(refusedJson.stderr).error).toMatchObject({
      code: "OverDelivery",
      outstanding: 12,
      quantity: 55
    })
    expect(await store.json("stock", "get", "W-100")).toMatchObject({ onHand: 5 })

    const accepted = await store.inv("restock", "receive", id, "--quantity", "55", "--allow-over-delivery")
    expect(accepted.code).toBe(0)
    expect(accepted.stdout).toMatch(/received:\s+55 \(43 over\)\n/)
    expect(accepted.stderr).toContain(
      `Restock order ${id} is received with an over-delivery: 55 of 12, 43 more than ordered.`
    )
    expect(await store.json("restock", "get", id)).toMatchObject({ status: "received", overDelivered: 43 })
    expect(await store.json("stock", "get", "W-100")).toMatchObject({ onHand: 60 })
  })

  it("names an unknown order (exit 3) and a bad order number (exit 2)", async () => {
    const unknown = await store.inv("restock", "get", "999")
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toContain("No restock order 999")
    for (const text of ["x", "1e2", "+1"]) {
      const bad = await store.inv("restock", "get", text)
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain(`error: <id>: ${QUANTITY_TEXT_RULE}`)
    }
  })
})
