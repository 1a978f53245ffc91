import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../options/paging.js"
import { skuArgument } from "../../options/promptedValues.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
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
    until: options.until,
    limit: optionalNumberArgument(options.limit, "limit")
  }
  const page = await withInventory(options, (inventory) =>
    fetchListing(options, (cursor) => inventory.stock.history(sku, { ...query, cursor }))
  )
  printListing(page, options.json, renderMovements, `No movements of ${sku}.`)
}
