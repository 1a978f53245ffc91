import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { askIfMissing } from "../../ui/prompt.js"
import { renderSupplierItems } from "../../ui/suppliers.js"

export interface SupplierItemsOptions extends GlobalOptions, PagingOptions {
  readonly active?: boolean
}

export const run = async (idText: string | undefined, options: SupplierItemsOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  const query = {
    active: options.active ? true : undefined
  }
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.suppliers.items(id, { ...query, ...request }),
      options.json,
      renderSupplierItems,
      `No catalog items of ${id}. Sync it with inv supplier sync ${id}.`
    )
  )
}
