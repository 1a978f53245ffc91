import type { Restock } from "@invkit/sdk"
import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { renderOrders } from "../../ui/restock.js"

export interface ListOrdersOptions extends GlobalOptions, PagingOptions {
  readonly status?: string
  readonly open?: boolean
  readonly sku?: string
  readonly supplier?: string
}

export const run = async (options: ListOrdersOptions): Promise<void> => {
  const query = {
    // Any text: the SDK checks it against the statuses it knows and says which those are.
    status: options.status as Restock.OrderStatus | undefined,
    open: options.open ? true : undefined,
    sku: options.sku,
    supplierId: options.supplier
  }
  const paging = pagingOf(options)
  await withInventory(options, (inventory) =>
    showListing(
      paging,
      (request) => inventory.restock.list({ ...query, ...request }),
      options.json,
      renderOrders,
      "No restock orders."
    )
  )
}
