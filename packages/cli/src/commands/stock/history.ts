import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { askIfMissing } from "../../ui/prompt.js"
import { renderMovements } from "../../ui/stock.js"

export interface StockHistoryOptions extends GlobalOptions, PagingOptions {
  readonly location?: string
  readonly until?: string
}

export const run = async (skuText: string | undefined, options: StockHistoryOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const query = {
    location: options.location,
    until: options.until
  }
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.stock.history(sku, { ...query, ...request }),
      options.json,
      renderMovements,
      `No movements of ${sku}.`
    )
  )
}
