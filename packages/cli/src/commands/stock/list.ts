import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
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
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.stock.list({ ...query, ...request }),
      options.json,
      renderStockRows,
      "No stock recorded."
    )
  )
}
