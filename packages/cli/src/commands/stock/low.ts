import { optionalNumberArgument } from "../../numberArgument.js"
import { type GlobalOptions, requireKnownLocation, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderLowStock } from "../../ui/stock.js"

export interface LowStockOptions extends GlobalOptions {
  readonly location?: string
  readonly limit?: string
}

export const run = async (options: LowStockOptions): Promise<void> => {
  const query = { location: options.location, limit: optionalNumberArgument(options.limit, "limit") }
  const items = await withInventory(options, async (inventory) => {
    const items = await inventory.stock.low(query)
    if (items.length === 0) await requireKnownLocation(inventory, options.location)
    return items
  })
  printListing(
    { items, nextCursor: null },
    options.json,
    renderLowStock,
    "Nothing is at or below its reorder point."
  )
}
