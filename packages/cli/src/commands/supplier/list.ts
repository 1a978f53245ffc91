import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderSuppliers } from "../../ui/suppliers.js"

export interface ListSuppliersOptions extends GlobalOptions, PagingOptions {}

export const run = async (options: ListSuppliersOptions): Promise<void> => {
  const limit = optionalNumberArgument(options.limit, "limit")
  const page = await withInventory(options, (inventory) =>
    fetchListing(options, (cursor) => inventory.suppliers.list({ limit, cursor }))
  )
  printListing(page, options.json, renderSuppliers, "No suppliers. Add one with inv supplier add.")
}
