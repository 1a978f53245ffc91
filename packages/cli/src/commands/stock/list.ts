import { fetchListing, type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderStockRows } from "../../ui/stock.js"

export interface ListStockOptions extends GlobalOptions, PagingOptions {
  readonly location?: string
  readonly text?: string
}

export const run = async (options: ListStockOptions): Promise<void> => {
  const query = {
    location: options.location,
    text: options.text
  }
  const paging = pagingOf(options)
  const page = await withInventory(options, (inventory) =>
    fetchListing(paging, (request) => inventory.stock.list({ ...query, ...request }))
  )
  printListing(page, options.json, renderStockRows, "No stock recorded.")
}
