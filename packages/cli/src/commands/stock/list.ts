import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../paging.js"
import { type GlobalOptions, requireKnownLocation, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderStockRows } from "../../ui/stock.js"

export interface ListStockOptions extends GlobalOptions, PagingOptions {
  readonly location?: string
  readonly text?: string
}

export const run = async (options: ListStockOptions): Promise<void> => {
  const query = {
    location: options.location,
    text: options.text,
    limit: optionalNumberArgument(options.limit, "limit")
  }
  const page = await withInventory(options, async (inventory) => {
    const page = await fetchListing(options, (cursor) => inventory.stock.list({ ...query, cursor }))
    if (page.items.length === 0) await requireKnownLocation(inventory, options.location)
    return page
  })
  printListing(page, options.json, renderStockRows, "No stock recorded.")
}
