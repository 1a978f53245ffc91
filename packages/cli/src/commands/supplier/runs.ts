import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { askIfMissing } from "../../ui/prompt.js"
import { renderSyncRuns } from "../../ui/suppliers.js"

export interface SupplierRunsOptions extends GlobalOptions, PagingOptions {}

export const run = async (idText: string | undefined, options: SupplierRunsOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.suppliers.runs(id, request),
      options.json,
      renderSyncRuns,
      `No sync runs of ${id} yet. Run one with inv supplier sync ${id}.`
    )
  )
}
