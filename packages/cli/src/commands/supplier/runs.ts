import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../options/paging.js"
import { supplierIdArgument } from "../../options/promptedValues.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { askIfMissing } from "../../ui/prompt.js"
import { renderSyncRuns } from "../../ui/suppliers.js"

export interface SupplierRunsOptions extends GlobalOptions, PagingOptions {}

export const run = async (idText: string | undefined, options: SupplierRunsOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  const limit = optionalNumberArgument(options.limit, "limit")
  const page = await withInventory(options, (inventory) =>
    fetchListing(options, (cursor) => inventory.suppliers.runs(id, { limit, cursor }))
  )
  printListing(
    page,
    options.json,
    renderSyncRuns,
    `No sync runs of ${id} yet. Run one with inv supplier sync ${id}.`
  )
}
