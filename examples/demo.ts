/**
 * The quickstart: a small shop on the embedded store. Adds products, records a delivery and a
 * few sales, and prints what has fallen to its reorder point.
 *
 *   pnpm demo                       # a fresh store in a temporary directory
 *   INV_HOME=./my-shop pnpm demo    # or in a directory you keep
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { InsufficientStock, openInventory } from "@invkit/sdk"

const dataDir = process.env.INV_HOME ?? mkdtempSync(join(tmpdir(), "inv-demo-"))
const inv = await openInventory({ dataDir })
console.error(`Using the ${inv.store}`)

try {
  const catalog = [
    { sku: "MUG-BLUE", name: "Blue mug", reorderPoint: 10, reorderQuantity: 48 },
    { sku: "MUG-RED", name: "Red mug", reorderPoint: 10, reorderQuantity: 48 },
    { sku: "TEA-EARL", name: "Earl Grey, 100 g", unit: "tin", reorderPoint: 5, reorderQuantity: 24 },
    { sku: "TEA-MINT", name: "Mint tea, 50 g", unit: "tin", reorderPoint: 5, reorderQuantity: 24 }
  ]
  for (const product of catalog) {
    await inv.products.get(product.sku).catch(() => inv.products.add(product))
  }

  // A delivery arrives, counted into stock as one all-or-nothing batch.
  await inv.stock.batch(
    [
      { type: "set", sku: "MUG-BLUE", quantity: 40 },
      { type: "set", sku: "MUG-RED", quantity: 12 },
      { type: "set", sku: "TEA-EARL", quantity: 30 },
      { type: "set", sku: "TEA-MINT", quantity: 3 }
    ],
    { reference: "DELIVERY-1", actor: "demo" }
  )

  // A morning of sales. The last one asks for more mint tea than there is: refused, nothing changes.
  await inv.stock.adjust("MUG-RED", -4, { reason: "sale", reference: "ORDER-1001" })
  await inv.stock.adjust("TEA-EARL", -26, { reason: "sale", reference: "ORDER-1002" })
  try {
    await inv.stock.adjust("TEA-MINT", -5, { reason: "sale", reference: "ORDER-1003" })
  } catch (error) {
    if (!(error instanceof InsufficientStock)) throw error
    console.error(`Refused: ${error.message}`)
  }

  console.log("\nLow stock (at or below each product's reorder point):")
  console.table(
    (await inv.stock.low()).items.map(({ sku, name, available, reorderPoint, reorderQuantity }) => ({
      sku,
      name,
      available,
      "reorder point": reorderPoint,
      "order qty": reorderQuantity
    }))
  )
  const overview = await inv.stock.overview()
  console.log(
    `${overview.products} products, ${overview.units} units on hand: ${overview.ok} ok, ${overview.low} low, ${overview.outOfStock} out of stock.`
  )
} finally {
  await inv.close()
}
