import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../options/paging.js"
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
    text: options.text,
    limit: optionalNumberArgument(options.limit, "limit")
  }
  const page = await withInventory(options, (inventory) =>
    fetchListing(options, (cursor) => inventory.stock.list({ ...query, cursor }))
  )
  printListing(page, options.json, renderStockRows, "No stock recorded.")
}
