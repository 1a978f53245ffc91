import { fetchListing, type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderLowStock } from "../../ui/stock.js"

export interface LowStockOptions extends GlobalOptions, PagingOptions {
  readonly location?: string
}

export const run = async (options: LowStockOptions): Promise<void> => {
  const query = { location: options.location }
  const paging = pagingOf(options)
  const page = await withInventory(options, (inventory) =>
    fetchListing(paging, (request) => inventory.stock.low({ ...query, ...request }))
  )
  printListing(page, options.json, renderLowStock, "Nothing is at or below its reorder point.")
}
