import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { renderLowStock } from "../../ui/stock.js"

export interface LowStockOptions extends GlobalOptions, PagingOptions {
  readonly location?: string
}

export const run = async (options: LowStockOptions): Promise<void> => {
  const query = { location: options.location }
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.stock.low({ ...query, ...request }),
      options.json,
      renderLowStock,
      "Nothing is at or below its reorder point."
    )
  )
}
