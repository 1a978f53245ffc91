import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderLowStock } from "../../ui/stock.js"

export interface LowStockOptions extends GlobalOptions, PagingOptions {
  readonly location?: string
}

export const run = async (options: LowStockOptions): Promise<void> => {
  const query = { location: options.location, limit: optionalNumberArgument(options.limit, "limit") }
  const page = await withInventory(options, (inventory) =>
    fetchListing(options, (cursor) => inventory.stock.low({ ...query, cursor }))
  )
  printListing(page, options.json, renderLowStock, "Nothing is at or below its reorder point.")
}
