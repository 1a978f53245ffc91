import type { Product } from "@invkit/sdk"
import { printJson, printLine, timestamp } from "./output.js"
import { columns, renderRecord } from "./table.js"

export const printProduct = (product: Product.Product, json: boolean | undefined): void => {
  if (json) {
    printJson(product)
    return
  }
  printLine(
    renderRecord([
      ["SKU", product.sku],
      ["name", product.name],
      ["unit", product.unit],
      ["reorder point", product.reorderPoint],
      ["reorder quantity", product.reorderQuantity],
      ["max level", product.maxLevel ?? "none"],
      ["preferred supplier", product.preferredSupplier ?? "none"],
      ["backorders", product.allowBackorders ? "allowed" : "not allowed"],
      ["status", product.active ? "active" : "archived"],
      ["updated", timestamp(product.updatedAt)]
    ])
  )
}

export const renderProducts = columns<Product.Product>(
  ["SKU", "name", "unit", "reorder point", "reorder qty", "status"],
  (p) => [p.sku, p.name, p.unit, p.reorderPoint, p.reorderQuantity, p.active ? "active" : "archived"]
)
