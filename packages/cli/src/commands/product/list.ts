import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { renderProducts } from "../../ui/products.js"
import { UsageError } from "../../usageError.js"

export interface ListProductsOptions extends GlobalOptions, PagingOptions {
  readonly text?: string
  readonly active?: boolean
  readonly archived?: boolean
}

export const run = async (options: ListProductsOptions): Promise<void> => {
  if (options.active && options.archived) throw new UsageError("pass either --active or --archived, not both")
  const query = {
    text: options.text,
    active: options.active ? true : options.archived ? false : undefined
  }
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.products.list({ ...query, ...request }),
      options.json,
      renderProducts,
      "No products."
    )
  )
}
