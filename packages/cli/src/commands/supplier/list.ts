import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { renderSuppliers } from "../../ui/suppliers.js"

export interface ListSuppliersOptions extends GlobalOptions, PagingOptions {}

export const run = async (options: ListSuppliersOptions): Promise<void> => {
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.suppliers.list(request),
      options.json,
      renderSuppliers,
      "No suppliers. Add one with inv supplier add."
    )
  )
}
