import { optionalNumberArgument } from "../../numberArgument.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderLowStock } from "../../ui/stock.js"

export interface LowStockOptions extends GlobalOptions {
  readonly location?: string
  readonly limit?: string
}

export const run = async (options: LowStockOptions): Promise<void> => {
  const query = { location: options.location, limit: optionalNumberArgument(options.limit, "limit") }
  const items = await withInventory(options, (inventory) => inventory.stock.low(query))
  printListing(
    { items, nextCursor: null },
    options.json,
    renderLowStock,
    "Nothing is at or below its reorder point."
  )
}
