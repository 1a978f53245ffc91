import { fetchListing, type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderSuppliers } from "../../ui/suppliers.js"

export interface ListSuppliersOptions extends GlobalOptions, PagingOptions {}

export const run = async (options: ListSuppliersOptions): Promise<void> => {
  const paging = pagingOf(options)
  const page = await withInventory(options, (inventory) =>
    fetchListing(paging, (request) => inventory.suppliers.list(request))
  )
  printListing(page, options.json, renderSuppliers, "No suppliers. Add one with inv supplier add.")
}
